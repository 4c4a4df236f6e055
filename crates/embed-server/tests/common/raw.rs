//! HTTP by hand over a `TcpStream`, for what a well-behaved client library will not do:
//! send half a request, dribble bytes, send bytes that are not UTF-8, hang up early.
//! Also the process's memory and open-file limit from `/proc` (Linux).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// Opens a connection to a test server's `http://addr` URL.
pub fn connect(url: &str) -> TcpStream {
    let addr = url.strip_prefix("http://").expect("an http:// URL");
    let stream = TcpStream::connect(addr).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("a read timeout");
    stream
}

/// A POST's head for a body of `len` bytes (no Content-Type: bodies are JSON whatever
/// it says).
pub fn head(path: &str, len: usize) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

/// A whole POST of `body` to `path`.
pub fn request(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = head(path, body.len());
    r.extend_from_slice(body);
    r
}

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one answer (a Content-Length body, as the server always sends).
pub fn read_reply(stream: &mut TcpStream) -> io::Result<RawReply> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before an answer",
        ));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("status {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(RawReply {
        status,
        headers,
        body,
    })
}

/// Sends a whole request on a new connection and reads the answer.
pub fn exchange(url: &str, bytes: &[u8]) -> RawReply {
    try_exchange(url, bytes).expect("an answer")
}

/// [`exchange`], with the failure for the caller to report.
pub fn try_exchange(url: &str, bytes: &[u8]) -> io::Result<RawReply> {
    let mut s = connect(url);
    s.write_all(bytes)?;
    read_reply(&mut s)
}

/// Whether the server has closed `stream`: a read gives end-of-file or a reset within
/// `wait` (anything it sent first, like a 408, is skipped).
pub fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("a read timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits`.
pub fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("a soft limit on open files")
}
