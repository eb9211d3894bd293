//! The metrics endpoint's HTTP side, bounded in every dimension a client
//! controls: a fixed pool of worker threads (a connection beyond it is
//! answered 503 and closed, never given a thread), a deadline on reading
//! the request head and on writing the answer, a cap on the head's size,
//! one request per connection (a pipelining client that never reads holds
//! one worker until the write deadline, no one else), GET and HEAD only.
//! The request head is parsed by `httparse` (hyper's parser).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections served at once; one more waits in the queue.
pub const WORKERS: usize = 4;
/// The longest request head read (request line and headers).
pub const MAX_HEAD: usize = 8 << 10;
/// How long a client has to send its request head, and to take the answer.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// What a request asks for, once its head is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    Metrics {
        head_only: bool,
    },
    NotFound,
    MethodNotAllowed,
    /// The head is malformed or over `MAX_HEAD`.
    Bad(u16),
}

/// Serves `answer()` at `/metrics` on `listener` until the process ends.
pub fn serve(
    listener: TcpListener,
    answer: Arc<dyn Fn() -> String + Send + Sync>,
) -> std::io::Result<()> {
    let (tx, rx) = crossbeam_channel::bounded::<TcpStream>(1);
    for i in 0..WORKERS {
        let rx = rx.clone();
        let answer = answer.clone();
        std::thread::Builder::new()
            .name(format!("metrics-{i}"))
            .spawn(move || {
                for stream in rx {
                    if let Err(e) = respond(stream, answer.as_ref()) {
                        tracing::debug!(error = %e, "metrics connection ended early");
                    }
                }
            })?;
    }
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if let Err(crossbeam_channel::TrySendError::Full(mut stream)) = tx.try_send(stream)
                {
                    // Every worker busy: say so now rather than queue.
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                    let _ = stream.write_all(&status_only(503, "busy, ask again\n"));
                }
            }
        })?;
    Ok(())
}

fn respond(mut stream: TcpStream, answer: &dyn Fn() -> String) -> std::io::Result<()> {
    stream.set_write_timeout(Some(DEADLINE))?;
    let asked = read_head(&mut stream, Instant::now() + DEADLINE)?;
    let reply = match asked {
        Asked::Metrics { head_only } => {
            let body = answer();
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            if !head_only {
                out.extend_from_slice(body.as_bytes());
            }
            out
        }
        Asked::NotFound => status_only(404, "see /metrics\n"),
        Asked::MethodNotAllowed => status_only(405, "GET /metrics only\n"),
        Asked::Bad(code) => status_only(code, "bad request\n"),
    };
    stream.write_all(&reply)?;
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

fn status_only(code: u16, body: &str) -> Vec<u8> {
    let reason = match code {
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Bad Request",
    };
    let allow = if code == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {code} {reason}\r\n{allow}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads the request head, at most `MAX_HEAD` bytes, by `deadline`.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> std::io::Result<Asked> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk[..n]);
        match parse(&head) {
            Some(asked) => return Ok(asked),
            None if head.len() >= MAX_HEAD => return Ok(Asked::Bad(431)),
            None => {}
        }
    }
}

/// What a complete head asks for; None while it is incomplete.
pub fn parse(head: &[u8]) -> Option<Asked> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => Some(Asked::Bad(431)),
        Err(_) => Some(Asked::Bad(400)),
        Ok(httparse::Status::Complete(_)) => {
            let head_only = match request.method {
                Some("GET") => false,
                Some("HEAD") => true,
                _ => return Some(Asked::MethodNotAllowed),
            };
            let path = request.path.unwrap_or("");
            let path = path.split('?').next().unwrap_or("");
            Some(if path == "/metrics" {
                Asked::Metrics { head_only }
            } else {
                Asked::NotFound
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Asked::Metrics { head_only: false })
        );
        assert_eq!(
            parse(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Some(Asked::Metrics { head_only: true })
        );
        for method in ["PUT", "DELETE", "POST", "FOO"] {
            assert_eq!(
                parse(format!("{method} /metrics HTTP/1.1\r\n\r\n").as_bytes()),
                Some(Asked::MethodNotAllowed),
                "{method}"
            );
        }
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Some(Asked::NotFound));
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost"), None, "incomplete");
        assert_eq!(parse(b"\x00\x01garbage\r\n\r\n"), Some(Asked::Bad(400)));
    }
}
