//! The load loop's HTTP/1.1 client: keep-alive connections over plain TCP,
//! each request written in one `write` from bytes made ahead, each answer
//! read by its `Content-Length`. The load generator shares the machine with
//! the server and PostgreSQL, so what it spends per request is taken from
//! them: a general client (reqwest: a pool, a request builder, header maps,
//! a body stream per request) cost 27 µs per verify here, more than the
//! server's 22 µs. Only what the registry answers is read: a status line,
//! headers, and a body whose length is given (never chunked); anything else
//! is an error, never a guess.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest header block read before the answer is called malformed.
const MAX_HEAD: usize = 16 * 1024;

/// An answer: its status code and its body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Idle keep-alive connections to one server, reused in turn; one is
/// opened whenever none is idle.
pub struct Pool {
    addr: SocketAddr,
    host: String,
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Pool {
    /// A pool for `base` (`http://host:port`, no path).
    pub fn new(base: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(base).map_err(|e| format!("--registry {base}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "--registry {base}: the load loop speaks plain HTTP/1.1 only (run it next to the server)"
            ));
        }
        let addr = url
            .socket_addrs(|| Some(80))
            .map_err(|e| format!("--registry {base}: {e}"))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("--registry {base}: no address"))?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        Ok(Self {
            addr,
            host,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The request head for `method path` with `headers` (each `Name: value`),
    /// up to and without `Content-Length` and the blank line.
    pub fn head(&self, method: &str, path: &str, headers: &[String]) -> Vec<u8> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.into_bytes()
    }

    /// Sends `head` (from [`Pool::head`]) with `body` and reads the answer.
    pub async fn send(&self, head: &[u8], body: &[u8]) -> Result<Answer, String> {
        let mut request = Vec::with_capacity(head.len() + body.len() + 32);
        request.extend_from_slice(head);
        request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match idle {
            Some(c) => c,
            None => {
                let stream = TcpStream::connect(self.addr)
                    .await
                    .map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                Conn {
                    stream,
                    buf: Vec::with_capacity(8192),
                }
            }
        };
        let (answer, keep) = conn.exchange(&request).await?;
        if keep {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
        Ok(answer)
    }
}

impl Conn {
    /// One request and its answer; whether the connection may be reused.
    async fn exchange(&mut self, request: &[u8]) -> Result<(Answer, bool), String> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| e.to_string())?;
        self.buf.clear();
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err("answer head too long".into());
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| "answer head is not UTF-8".to_string())?;
        let (status, length, close) = parse_head(head)?;
        let total = head_end + length;
        while self.buf.len() < total {
            self.fill().await?;
        }
        if self.buf.len() > total {
            return Err("more bytes than the answer's Content-Length".into());
        }
        let body = self.buf[head_end..].to_vec();
        Ok((Answer { status, body }, !close))
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the answer ended".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status, the body's length and whether the server closes the
/// connection, from an answer's head (status line and headers).
fn parse_head(head: &str) -> Result<(u16, usize, bool), String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut length = None;
    let mut close = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "Transfer-Encoding {value} is not read by the load loop"
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok((status, length.ok_or("no Content-Length")?, close))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_head_gives_its_status_length_and_keep_alive() {
        let head =
            "HTTP/1.1 200 OK\r\ncontent-length: 42\r\ncontent-type: application/json\r\n\r\n";
        assert_eq!(parse_head(head), Ok((200, 42, false)));
        let closing =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        assert_eq!(parse_head(closing), Ok((503, 0, true)));
    }

    #[test]
    fn answers_the_loop_cannot_read_exactly_are_errors() {
        assert!(parse_head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head("HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_head("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").is_err());
        assert!(parse_head("HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n").is_err());
    }
}
