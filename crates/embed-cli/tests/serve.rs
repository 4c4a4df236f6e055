//! `embed serve` as a process on the real model: it answers once ready, its vectors are
//! `embed encode`'s, and a SIGTERM while requests are in flight loses none of them.
//! Loopback only, bounded loops. Not shipped in the package: it needs the workspace's
//! testkit.

#[allow(dead_code)] // each test binary uses a part of the shared helpers
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::embed;
use testkit::model_paths;

/// A running `embed serve --port 0` and the address it printed.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(model: &str) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_embed"))
        .args(["serve", "--port", "0", "--threads", "2", "-m", model])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the embed binary runs");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("embed serve prints its address once the port is bound");
    let served = Served { child, addr };
    let deadline = Instant::now() + Duration::from_secs(120);
    while http(&served.addr, "GET", "/readyz", "").0 != 200 {
        assert!(Instant::now() < deadline, "/readyz never said 200");
        std::thread::sleep(Duration::from_millis(100));
    }
    served
}

/// One HTTP/1.1 request with `Connection: close`: (status, body). Status 0: the
/// connection failed or closed without an answer.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

fn vectors(json: &str) -> Vec<Vec<f32>> {
    let v: serde_json::Value = serde_json::from_str(json).expect("a JSON body");
    v["data"]
        .as_array()
        .expect("an OpenAI embeddings response")
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

#[test]
fn served_vectors_are_the_clis_and_sigterm_loses_no_request() {
    let Some(model) = model_paths::require(model_paths::gguf("q8_0"), "embed serve tests") else {
        return;
    };
    let model = model.display().to_string();
    let texts = ["The cat sat on the mat.", "Stocks fell sharply on Monday."];

    let cli = embed(
        &[
            "encode", "--format", "json", "-m", &model, texts[0], texts[1],
        ],
        None,
    );
    assert!(cli.status.success());
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let cli: Vec<Vec<f32>> = cli
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();

    let served = start(&model);
    let body = serde_json::json!({ "input": texts }).to_string();
    let (status, resp) = http(&served.addr, "POST", "/v1/embeddings", &body);
    assert_eq!(status, 200, "{resp}");
    assert_eq!(vectors(&resp), cli, "the server's vectors are the CLI's");

    // Eight clients, each with 32 texts, in flight when SIGTERM arrives: every request
    // the server accepted is answered in full; none is cut off or reset.
    let bulk: Vec<String> = (0..32).map(|i| format!("{} {i}", texts[i % 2])).collect();
    let bulk = serde_json::json!({ "input": bulk }).to_string();
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..8 {
        let (addr, body, done) = (served.addr.clone(), bulk.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let _ = done.send(http(&addr, "POST", "/v1/embeddings", &body));
        });
    }
    drop(done_tx);
    // The first answer proves the requests are being served; then the signal.
    let first = done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("a bulk request is answered");
    let pid = served.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    let mut answers = vec![first];
    answers.extend(done_rx.iter());
    assert_eq!(answers.len(), 8);
    for (status, body) in &answers {
        assert_eq!(
            *status, 200,
            "an accepted request was lost in the drain: {body}"
        );
        assert_eq!(vectors(body).len(), 32);
    }

    let mut served = served;
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(code) = served.child.try_wait().expect("the server's status") {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        code.success(),
        "embed serve exits cleanly on SIGTERM: {code:?}"
    );
}
