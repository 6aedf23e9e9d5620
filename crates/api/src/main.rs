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
            tracing::error!(error = %e, "start-up failed");
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
