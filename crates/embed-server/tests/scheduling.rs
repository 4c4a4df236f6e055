//! Batching, fairness and backpressure against the real model: concurrent clients get
//! the vectors they get alone; a short query sent while a bulk request runs completes
//! first (checked by order of completion, not by timing); a full queue is a 429 with
//! `Retry-After`, a request larger than the queue a 413; a client that disconnects has
//! its queued work dropped; shutdown finishes in-flight requests, even those that
//! arrived while the model was loading.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::{TestServer, bits, floats, get, post};
use embed_server::{Server, ServerConfig};
use serde_json::json;

/// The metrics are one registry per process: these tests read them, so they run one at
/// a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Prometheus sample's value (the first line starting with `name`).
fn metric(url: &str, name: &str) -> f64 {
    let (_, body) = get(&format!("{url}/metrics"));
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Polls until `cond` holds (bounded: 60 s).
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

/// A text of about `words` tokens (common words are one token each), different for
/// each `i`.
fn text(i: usize, words: usize) -> String {
    const WORDS: [&str; 10] = [
        "the", "cat", "sat", "on", "mat", "and", "dog", "ran", "far", "away",
    ];
    (0..words)
        .map(|w| WORDS[(i * 7 + w * (i % 3 + 1)) % 10])
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn concurrent_clients_get_the_vectors_they_get_alone() {
    let _serial = serial();
    let Some(model) = common::embedder("concurrent_clients_get_the_vectors_they_get_alone") else {
        return;
    };
    let server = TestServer::start(
        // One compute thread against the library's pool: the bits do not depend on it.
        ServerConfig::default()
            .with_batch_tokens(256)
            .with_threads(1),
        model.clone(),
    );
    let texts: Vec<String> = (0..16).map(|i| text(i, 3 + i % 7)).collect();
    let want: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| bits(&common::library_vector(&model, t, None, 256, true)))
        .collect();
    let start = Arc::new(Barrier::new(texts.len()));
    let threads: Vec<_> = texts
        .iter()
        .cloned()
        .map(|t| {
            let (url, start) = (server.url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let r = post(
                    &format!("{url}/v1/embeddings"),
                    &json!({"input": [t], "dimensions": 256}),
                );
                assert_eq!(r.status, 200, "{}", r.body);
                bits(&floats(&r.json()["data"][0]["embedding"]))
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), want[i], "client {i}");
    }
}

#[test]
fn a_short_query_completes_before_a_running_bulk_request() {
    let _serial = serial();
    let Some(model) = common::embedder("a_short_query_completes_before_a_running_bulk_request")
    else {
        return;
    };
    let server = TestServer::start(ServerConfig::default().with_batch_tokens(64), model.clone());
    let bulk: Vec<String> = (0..24).map(|i| text(i, 30)).collect();
    let finished = Arc::new(AtomicUsize::new(0));
    let bulk_thread = {
        let (url, bulk, finished) = (server.url.clone(), bulk.clone(), finished.clone());
        std::thread::spawn(move || {
            let r = post(&format!("{url}/embed"), &json!({"inputs": bulk}));
            (finished.fetch_add(1, Ordering::SeqCst), r)
        })
    };
    // The bulk request is admitted and still has inputs waiting.
    wait_until("the bulk request is queued", || {
        metric(&server.url, "embed_server_queue_tokens") > 0.0
    });
    let query = "Which planet is known as the Red Planet?";
    let r = post(&format!("{}/embed", server.url), &json!({"inputs": query}));
    let query_order = finished.fetch_add(1, Ordering::SeqCst);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        metric(&server.url, "embed_server_queue_tokens") > 0.0,
        "the bulk request drained before the query was answered: the test proves nothing"
    );
    let (bulk_order, bulk_reply) = bulk_thread.join().unwrap();
    assert_eq!(bulk_reply.status, 200, "{}", bulk_reply.body);
    assert!(
        query_order < bulk_order,
        "the query waited for the bulk request"
    );
    // Sharing passes changed no bits.
    let want = bits(&common::library_vector(&model, query, None, 768, true));
    assert_eq!(bits(&floats(&r.json()[0])), want);
    let got_last = bits(&floats(&bulk_reply.json()[23]));
    assert_eq!(
        got_last,
        bits(&common::library_vector(&model, &bulk[23], None, 768, true))
    );
}

#[test]
fn a_full_queue_is_429_with_retry_after_and_an_oversize_request_413() {
    let _serial = serial();
    let Some(model) = common::embedder("a_full_queue_is_429_with_retry_after") else {
        return;
    };
    let config = ServerConfig::default()
        .with_queue_tokens(1000)
        .with_batch_tokens(64);
    let server = TestServer::start(config, model);
    // About 1100 tokens: more than the whole queue.
    let huge: Vec<String> = (0..22).map(|i| text(i, 48)).collect();
    let r = post(
        &format!("{}/v1/embeddings", server.url),
        &json!({"input": huge}),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("whole queue"), "{}", r.body);
    // Eight requests of about 400 tokens at once into a 1000-token queue.
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|k| {
            let (url, start) = (server.url.clone(), start.clone());
            let inputs: Vec<String> = (0..8).map(|i| text(k * 8 + i, 48)).collect();
            std::thread::spawn(move || {
                start.wait();
                post(&format!("{url}/v1/embeddings"), &json!({"input": inputs}))
            })
        })
        .collect();
    let replies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let full: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(!full.is_empty(), "no request was refused");
    for r in &replies {
        assert!(
            r.status == 200 || r.status == 429,
            "{}: {}",
            r.status,
            r.body
        );
    }
    for r in full {
        let secs: u64 = r
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=60).contains(&secs));
        assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    }
    assert!(
        metric(
            &server.url,
            "embed_server_rejections_total{reason=\"queue_full\"}"
        ) >= 1.0
    );
}

#[test]
fn a_client_that_disconnects_has_its_queued_work_dropped() {
    use std::io::Write;
    let _serial = serial();
    let Some(model) = common::embedder("a_client_that_disconnects_has_its_queued_work_dropped")
    else {
        return;
    };
    let server = TestServer::start(ServerConfig::default().with_batch_tokens(64), model);
    let dropped = |url: &str| {
        metric(
            url,
            "embed_server_rejections_total{reason=\"disconnected\"}",
        )
    };
    let before = dropped(&server.url);
    let inputs: Vec<String> = (0..60).map(|i| text(i, 40)).collect();
    let body = json!({"input": inputs}).to_string();
    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/embeddings HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    wait_until("the request is queued", || {
        metric(&server.url, "embed_server_queue_tokens") > 0.0
    });
    drop(stream);
    // About 2500 tokens in 64-token passes: far from done when the queue empties.
    wait_until("the queued work is dropped", || {
        dropped(&server.url) > before && metric(&server.url, "embed_server_queue_tokens") == 0.0
    });
}

#[test]
fn shutdown_during_load_answers_the_requests_already_accepted() {
    use std::io::{Read, Write};
    let _serial = serial();
    let Some(path) =
        common::model_path("shutdown_during_load_answers_the_requests_already_accepted")
    else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(Server::bind(
            ServerConfig::default().with_host("127.0.0.1").with_port(0),
        ))
        .unwrap();
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = rt.spawn(server.run(path, async move {
        let _ = stopped.await;
    }));
    // The port answers at once; readiness is 503 until the model is up.
    let (status, body) = get(&format!("{url}/livez"));
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&format!("{url}/readyz"));
    assert!(status == 503 || status == 200, "{status} {body}");
    let loading = status == 503;
    // The request is sent, then the signal comes (most likely while the model loads).
    let body = r#"{"input": "hello"}"#;
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/embed HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stop.send(()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"embeddings\":[["), "{reply}");
    rt.block_on(running).unwrap().unwrap();
    eprintln!(
        "shutdown test: the signal came {} the model was ready",
        if loading { "before" } else { "after" }
    );
}

#[test]
fn a_model_that_cannot_be_opened_is_an_error_from_run() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let config = ServerConfig::default().with_host("127.0.0.1").with_port(0);
        let server = Server::bind(config).await?;
        server
            .run("/nonexistent/model.gguf", std::future::pending())
            .await
    });
    let e = result.unwrap_err();
    assert_eq!(e.kind(), embed_server::ErrorKind::Model);
    assert!(e.to_string().contains("/nonexistent/model.gguf"), "{e}");
    assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
}
