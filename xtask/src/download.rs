//! HTTPS download with resume and sha256 verification.
//!
//! Bytes go to `DEST.part`; an interrupted transfer is resumed with a `Range` request,
//! and only a file whose sha256 matches is renamed to `DEST`. A mismatch deletes the
//! partial file, so nothing unverified is ever left under the final name.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::progress::Progress;
use crate::sha256_file;

/// How many attempts a download gets, as long as each attempt makes progress.
const MAX_ATTEMPTS: u32 = 8;

/// What the file must hash to.
#[derive(Clone, Debug)]
pub enum Expected {
    /// A sha256 known in advance (lowercase hex).
    Sha256(String),
    /// Take the sha256 the server announces for the file (the Hugging Face hub sends it
    /// as `X-Linked-ETag` for LFS files); a server that announces none is an error.
    FromServer,
}

fn part_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// The sha256 in an ETag-like header value, if it is one.
fn sha_from_etag(v: &str) -> Option<String> {
    let v = v
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase();
    (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then_some(v)
}

/// Downloads `url` to `dest`, resuming and retrying while attempts make progress, and
/// verifies the sha256 before the file appears under `dest`.
pub fn download(url: &str, dest: &Path, expected: &Expected) -> Result<()> {
    let part = part_path(dest);
    let agent = agent();
    let mut announced: Option<String> = None;
    let mut total: Option<u64> = None;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let mut req = agent.get(url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            // No answer at all (no network, refused, DNS): fail fast, nothing to resume.
            Err(e) => return Err(e).with_context(|| format!("cannot reach {url}")),
        };
        let status = resp.status().as_u16();
        for name in ["x-linked-etag", "etag"] {
            if announced.is_none() {
                announced = resp
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(sha_from_etag);
            }
        }
        let append = match status {
            206 => true,
            200 => false,
            // The part file already holds everything.
            416 if have > 0 => break,
            _ => bail!("{url}: the server answered HTTP {status}"),
        };
        let len = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let start = if append { have } else { 0 };
        if let Some(len) = len {
            total = Some(start + len);
        }
        let mut file = if append {
            OpenOptions::new().append(true).open(&part)
        } else {
            File::create(&part)
        }
        .with_context(|| format!("cannot write {}", part.display()))?;
        let mut body = resp.into_body();
        let mut reader = body.as_reader();
        let mut progress = Progress::new(&format!("downloading {}", file_name(dest)), total);
        let mut got = start;
        progress.set(got);
        let mut buf = vec![0u8; 1 << 20];
        let result: Result<()> = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    file.write_all(&buf[..n])?;
                    got += n as u64;
                    progress.set(got);
                }
                Err(e) => break Err(e.into()),
            }
        };
        file.flush()?;
        drop(file);
        progress.finish();
        let complete = total.is_none_or(|t| got >= t);
        match result {
            Ok(()) if complete => break,
            outcome => {
                let why = outcome
                    .err()
                    .map_or("connection closed early".to_string(), |e| e.to_string());
                if got > have && attempt < MAX_ATTEMPTS {
                    eprintln!("  transfer interrupted at {got} bytes ({why}); resuming");
                    continue;
                }
                bail!("{url}: download failed after {attempt} attempts: {why}");
            }
        }
    }

    let want = match expected {
        Expected::Sha256(s) => s.to_ascii_lowercase(),
        Expected::FromServer => match announced {
            Some(s) => s,
            None => {
                let _ = fs::remove_file(&part);
                bail!("{url}: the server announced no sha256 to verify the file against");
            }
        },
    };
    let got = sha256_file(&part)?;
    if got != want {
        let _ = fs::remove_file(&part);
        bail!("{url}: sha256 mismatch: got {got}, expected {want}; the download was deleted");
    }
    fs::rename(&part, dest).with_context(|| format!("cannot rename to {}", dest.display()))?;
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    //! A loopback HTTP server that serves a file, drops a connection halfway, honours
    //! `Range`, and can serve a corrupted copy.
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Copy)]
    enum Mode {
        Whole,
        DropFirstHalfway,
        Corrupt,
    }

    /// Serves `body` at `http://127.0.0.1:PORT/f` with its sha256 as `X-Linked-ETag`.
    fn serve(body: Vec<u8>, mode: Mode) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/f", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let sha = hex(&Sha256::digest(&body));
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate().take(16) {
                let Ok(mut stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut range_start = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(r) = lower.strip_prefix("range: bytes=") {
                        range_start = r.trim().trim_end_matches('-').parse().unwrap();
                    }
                }
                let mut data = body[range_start..].to_vec();
                if let Mode::Corrupt = mode {
                    data[0] ^= 0xff;
                }
                let status = if range_start > 0 {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nX-Linked-ETag: \"{sha}\"\r\nConnection: close\r\n\r\n",
                    data.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let cut = matches!(mode, Mode::DropFirstHalfway) && i == 0;
                let n = if cut { data.len() / 2 } else { data.len() };
                let _ = stream.write_all(&data[..n]);
                let _ = stream.flush();
            }
        });
        (url, hits)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn body() -> Vec<u8> {
        (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-dl-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d.join("file.bin")
    }

    #[test]
    fn whole_file_with_known_sha() {
        let body = body();
        let (url, _) = serve(body.clone(), Mode::Whole);
        let dest = tmp("whole");
        download(&url, &dest, &Expected::Sha256(hex(&Sha256::digest(&body)))).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), body);
        assert!(!part_path(&dest).exists());
    }

    #[test]
    fn dropped_connection_is_resumed() {
        let body = body();
        let (url, hits) = serve(body.clone(), Mode::DropFirstHalfway);
        let dest = tmp("resume");
        download(&url, &dest, &Expected::FromServer).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), body);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "one cut transfer, one ranged resume"
        );
    }

    #[test]
    fn corrupted_copy_is_an_error_and_nothing_is_cached() {
        let (url, _) = serve(body(), Mode::Corrupt);
        let dest = tmp("corrupt");
        let e = download(&url, &dest, &Expected::FromServer).unwrap_err();
        assert!(e.to_string().contains("sha256 mismatch"), "{e}");
        assert!(!dest.exists());
        assert!(!part_path(&dest).exists());
    }

    #[test]
    fn unreachable_host_fails_fast() {
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let dest = tmp("unreachable");
        let t = std::time::Instant::now();
        assert!(download("http://127.0.0.1:9/f", &dest, &Expected::FromServer).is_err());
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(!dest.exists());
    }

    #[test]
    fn etag_parsing() {
        let s = "a".repeat(64);
        assert_eq!(sha_from_etag(&format!("\"{s}\"")), Some(s.clone()));
        assert_eq!(
            sha_from_etag(&format!("W/\"{}\"", s.to_uppercase())),
            Some(s)
        );
        assert_eq!(sha_from_etag("\"abc\""), None);
    }
}
