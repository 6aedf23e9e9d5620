//! `hall-registry`: the server binary.

use std::process::ExitCode;

use api::config::{Cli, Command};
use api::runtime::{init_logging, Registry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Openapi) => match api::openapi::document_json() {
            Ok(json) => {
                print!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("hall-registry: cannot render the OpenAPI document: {e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Healthcheck) => healthcheck(cli.config.listen),
        Some(Command::Serve) | None => serve(cli.config).await,
    }
}

async fn serve(config: api::config::Config) -> ExitCode {
    if let Err(e) = init_logging(config.log_format, &config.log_level) {
        eprintln!("hall-registry: {e}");
        return ExitCode::FAILURE;
    }
    let registry = match Registry::start(&config).await {
        Ok(r) => r,
        Err(e) => {
            // One line for people; JSON log readers get theirs as well.
            if config.log_format == api::config::LogFormat::Json {
                tracing::error!(error = %e, "start-up failed");
            }
            eprintln!("hall-registry: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", registry.banner());
    tracing::info!(addr = %registry.addr(), "serving");
    match registry.run().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hall-registry: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A plain HTTP/1.0 `GET /readyz` against our own listener.
fn healthcheck(listen: std::net::SocketAddr) -> ExitCode {
    use std::io::{Read, Write};
    use std::time::Duration;

    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let check = || -> std::io::Result<bool> {
        let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match check() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("hall-registry healthcheck: {addr} is not ready");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hall-registry healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
