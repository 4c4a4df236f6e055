//! Shared by the integration tests: the cached model, an in-process server on
//! 127.0.0.1:0, and small HTTP helpers (blocking `ureq`, loopback only).

#![allow(dead_code)]

pub mod families;
pub mod probe;
pub mod raw;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use embed_server::{Server, ServerConfig};
use gemma_encoder::{EmbedOptions, Embedder};
use serde_json::Value;

/// The cached Q8_0 GGUF; `None` (with a note) when absent, a panic when absent under
/// `CI=true`, where a missing model must fail rather than skip.
pub fn model_path(test: &str) -> Option<PathBuf> {
    let path = embeddinggemma_cache::gguf("q8_0");
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: the model {} is missing under CI=true",
            path.display()
        );
    }
    eprintln!(
        "{test}: skipped, no model at {} (fetch it with `cargo xtask fetch-model`)",
        path.display()
    );
    None
}

/// The library's model, opened once per test binary.
pub fn embedder(test: &str) -> Option<Arc<Embedder>> {
    static MODEL: OnceLock<Option<Arc<Embedder>>> = OnceLock::new();
    let path = model_path(test)?;
    MODEL
        .get_or_init(|| {
            Some(Arc::new(
                Embedder::open(&path).expect("the cached model opens"),
            ))
        })
        .clone()
}

/// A server running on its own thread and runtime; stopped (and waited for) on drop.
pub struct TestServer {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), embed_server::Error>>>,
}

impl TestServer {
    /// Starts a server with `config` (its host and port are replaced by 127.0.0.1:0) and
    /// waits until `/readyz` says ready.
    pub fn start(config: ServerConfig, model: Arc<Embedder>) -> TestServer {
        let config = config.with_host("127.0.0.1").with_port(0);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let server = Server::bind(config).await?;
                addr_tx
                    .send(server.local_addr())
                    .expect("the test waits for the address");
                server
                    .run_with_model(model, async move {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server binds");
        let server = TestServer {
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        for _ in 0..600 {
            if get(&format!("{}/readyz", self.url)).0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not become ready in 30 s");
    }

    /// Stops the server and returns what `run` returned.
    pub fn stop(mut self) -> Result<(), embed_server::Error> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), embed_server::Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().expect("the server thread does not panic"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

/// A response: status, headers (lower-case names) and body text.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("the server answers");
    let headers = r
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().expect("a text body");
    Reply {
        status,
        headers,
        body,
    }
}

/// POSTs `body` as given, with the given headers (none by default: no Content-Type,
/// as `curl -d` would not send JSON's).
pub fn post_raw(url: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().post(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    reply(req.send(body))
}

/// POSTs JSON.
pub fn post(url: &str, body: &Value) -> Reply {
    post_raw(
        url,
        &body.to_string(),
        &[("content-type", "application/json")],
    )
}

/// GETs `url`: status and body.
pub fn get(url: &str) -> (u16, String) {
    let r = reply(agent().get(url).call());
    (r.status, r.body)
}

/// The library's vector for `text` under a prompt, dimension and normalization.
pub fn library_vector(
    model: &Embedder,
    text: &str,
    prompt: Option<&str>,
    dim: usize,
    normalize: bool,
) -> Vec<f32> {
    let opts = options(prompt).dim(dim).normalize(normalize);
    model
        .embed(&[text], &opts)
        .expect("the library embeds")
        .remove(0)
        .vector
}

/// The library's options with a prompt by name.
pub fn options(prompt: Option<&str>) -> EmbedOptions {
    let opts = EmbedOptions::new();
    match prompt {
        Some(p) => opts.prompt(p.parse().expect("a known prompt")),
        None => opts,
    }
}

/// f32s from a JSON array, exactly (serde_json parses the shortest representation back
/// to the same f32).
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

/// Bit patterns, for exact comparison.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
