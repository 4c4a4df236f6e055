//! `cargo xtask bench --server`: `embed serve` against llama.cpp's `llama-server` (same
//! sources as the rest of the bench, same GGUF, same threads, `--embeddings`), one server
//! at a time on loopback, alternating, medians of several runs. Throughput comes from
//! `hey` (Debian's HTTP load generator, installed when missing); latencies come from a
//! sequential client here, which times each request from its first byte out to its last
//! byte in. The table goes to `docs/server.md`.
//!
//! Workloads, each on a server that has answered a few warm-up requests:
//! - idle: one short query at a time, nothing else running (p50);
//! - throughput: 16 concurrent clients, each sending 8 short texts per request (texts/s);
//! - bulk: one request of 2000 texts, and one short query at a time while it runs (p99
//!   of the queries answered while the bulk one was still running);
//! - peak RSS of the server process over all of the above (`VmHWM`).
//!
//! The idle query is also set against the floor of reading the weights a pass touches
//! once from memory: every tensor but the token-embedding table (a pass reads only its
//! texts' rows of it), divided by the read bandwidth `read-bandwidth` measures.

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::model_paths;

/// Texts per throughput request and concurrent clients.
const TEXTS_PER_REQUEST: usize = 8;
const CLIENTS: usize = 16;
/// Texts in the bulk request.
const BULK_TEXTS: usize = 2000;
/// Sequential idle queries per run (after warm-up).
const IDLE_QUERIES: usize = 40;
/// Seconds of load per throughput run.
const THROUGHPUT_SECONDS: u64 = 20;

/// One server under test: how to start it and where it says it is ready.
struct Peer {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    ready_path: &'static str,
}

/// What one peer measured over all runs.
#[derive(Default)]
struct Figures {
    idle_p50_ms: Vec<f64>,
    texts_per_sec: Vec<f64>,
    bulk_query_ms: Vec<f64>,
    bulk_secs: f64,
    queries_during_bulk: usize,
    peak_rss_mib: f64,
}

/// Runs the server bench and writes its section of `out` (docs/server.md).
pub fn bench_server(runs: usize, threads: usize, out: &Path) -> Result<()> {
    let crate::SideBySide { root, llama, embed } = crate::side_by_side()?;
    let hey = ensure_hey()?;
    let model = model_paths::cache_dir().join("embeddinggemma-300m-q8_0.gguf");
    let m = model.display().to_string();
    let t = threads.to_string();
    let texts = short_texts(&root.join("testdata/bench-prose.txt"))?;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let peers = [
        Peer {
            name: "embed serve",
            program: embed,
            args: s(&["serve", "--model", &m, "--threads", &t]),
            ready_path: "/readyz",
        },
        Peer {
            name: "llama-server",
            program: llama.tool("llama-server"),
            // 16 slots so all 16 clients are served at once; 512 tokens of context each
            // (far more than a short text); an encoder needs each text in one
            // micro-batch, and 2048 lets one decode pack many texts.
            args: s(&[
                "--model",
                &m,
                "--embeddings",
                "--threads",
                &t,
                "--threads-batch",
                &t,
                "--parallel",
                "16",
                "--ctx-size",
                "8192",
                "--batch-size",
                "2048",
                "--ubatch-size",
                "2048",
                "--flash-attn",
                "off",
            ]),
            ready_path: "/health",
        },
    ];
    let query = body(&texts[..1]);
    let eight = body(&texts[1..1 + TEXTS_PER_REQUEST]);
    let bulk_texts: Vec<String> = texts.iter().cycle().take(BULK_TEXTS).cloned().collect();
    let bulk = body(&bulk_texts);
    let eight_file = std::env::temp_dir().join(format!("xtask-bench-eight-{}", std::process::id()));
    std::fs::write(&eight_file, &eight)?;

    let mut figures: Vec<Figures> = peers.iter().map(|_| Figures::default()).collect();
    let runs = runs.max(1);
    for run in 0..runs {
        for (peer, fig) in peers.iter().zip(figures.iter_mut()) {
            eprintln!("bench --server: {} run {}/{runs}", peer.name, run + 1);
            let server = Running::start(peer)?;
            let url = server.url("/v1/embeddings");
            for _ in 0..3 {
                post(&url, &query)?;
            }
            let idle = sequential(&url, &query, IDLE_QUERIES)?;
            fig.idle_p50_ms.push(percentile(idle, 0.5));
            fig.texts_per_sec
                .push(throughput(&hey, &url, &eight_file)? * TEXTS_PER_REQUEST as f64);
            // The bulk workload is long: once per peer, in the last run.
            if run + 1 == runs {
                let (latencies, secs) = during_bulk(&url, &bulk, &query)?;
                fig.queries_during_bulk = latencies.len();
                fig.bulk_query_ms = latencies;
                fig.bulk_secs = secs;
            }
            fig.peak_rss_mib = fig.peak_rss_mib.max(server.peak_rss_mib().unwrap_or(0.0));
        }
    }
    let _ = std::fs::remove_file(&eight_file);
    let floor_ms = crate::bench::weight_read_floor_ms(&root, &model, threads)?;
    let md = markdown(
        &peers.map(|p| p.name),
        &figures,
        floor_ms,
        &llama.version,
        runs,
        threads,
    );
    print!("{md}");
    crate::write_generated(out, "bench-server", &md)
}

/// `hey` from Debian's packages.
fn ensure_hey() -> Result<PathBuf> {
    let found = |p: &Path| p.exists();
    let hey = PathBuf::from("/usr/bin/hey");
    if !found(&hey) {
        crate::apt::install("bench --server", &["hey"], None)?;
    }
    if !found(&hey) {
        bail!("hey is still missing after installing it");
    }
    Ok(hey)
}

/// Short texts: the corpus's sentences of 5 to 16 words, in order.
fn short_texts(corpus: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(corpus)
        .with_context(|| format!("cannot read {}", corpus.display()))?;
    let texts: Vec<String> = text
        .split_inclusive(['.', '?', '!'])
        .map(str::trim)
        .filter(|s| (5..=16).contains(&s.split_whitespace().count()))
        .map(String::from)
        .collect();
    if texts.len() < 1 + TEXTS_PER_REQUEST {
        bail!("{} has too few short sentences", corpus.display());
    }
    Ok(texts)
}

/// An OpenAI embeddings request body (both servers take it as is).
fn body(texts: &[String]) -> String {
    serde_json::json!({ "input": texts, "model": "embeddinggemma" }).to_string()
}

/// A started server, killed when dropped.
struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn start(peer: &Peer) -> Result<Running> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(&peer.program)
            .args(&peer.args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", peer.program.display()))?;
        let mut server = Running { child, port };
        let ready = server.url(peer.ready_path);
        let start = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("{} exited before it was ready ({status})", peer.name);
            }
            if agent(Duration::from_secs(2))
                .get(&ready)
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return Ok(server);
            }
            if start.elapsed() > Duration::from_secs(300) {
                bail!("{} was not ready after 300 s", peer.name);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process's peak resident set so far, from `/proc/<pid>/status`.
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// POSTs `body` and reads the whole answer; an answer other than 200 is an error.
fn post(url: &str, body: &str) -> Result<()> {
    let mut reply = agent(Duration::from_secs(3600))
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .with_context(|| format!("POST {url}"))?;
    let mut sink = Vec::new();
    reply
        .body_mut()
        .as_reader()
        .read_to_end(&mut sink)
        .with_context(|| format!("reading the answer of {url}"))?;
    if reply.status() != 200 {
        bail!(
            "{url} answered {}: {}",
            reply.status(),
            String::from_utf8_lossy(&sink)
        );
    }
    Ok(())
}

/// `n` requests one after another; each one's milliseconds.
fn sequential(url: &str, body: &str, n: usize) -> Result<Vec<f64>> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            post(url, body)?;
            Ok(start.elapsed().as_secs_f64() * 1e3)
        })
        .collect()
}

/// Requests per second from `hey` with [`CLIENTS`] clients for [`THROUGHPUT_SECONDS`];
/// every answer must be a 200.
fn throughput(hey: &Path, url: &str, body_file: &Path) -> Result<f64> {
    let out = Command::new(hey)
        .args([
            "-z",
            &format!("{THROUGHPUT_SECONDS}s"),
            "-c",
            &CLIENTS.to_string(),
        ])
        .args(["-t", "600", "-m", "POST", "-T", "application/json", "-D"])
        .arg(body_file)
        .arg(url)
        .output()
        .context("cannot run hey")?;
    let report = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("hey failed ({}): {report}", out.status);
    }
    parse_hey(&report)
}

/// Requests/s from a `hey` report whose status codes are all 200.
fn parse_hey(report: &str) -> Result<f64> {
    let rps = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in hey's report:\n{report}"))?;
    let codes: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('[') && l.contains("responses"))
        .collect();
    if codes.is_empty() || codes.iter().any(|l| !l.starts_with("[200]")) {
        bail!("hey saw answers other than 200 (or none):\n{report}");
    }
    if report.contains("Error distribution:") {
        bail!("hey saw errors:\n{report}");
    }
    Ok(rps)
}

/// Sends the bulk request, then short queries one at a time until it is answered: the
/// milliseconds of every query that started while the bulk request ran, and the bulk
/// request's seconds.
fn during_bulk(url: &str, bulk: &str, query: &str) -> Result<(Vec<f64>, f64)> {
    let done = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        let bulk_thread = s.spawn(|| {
            let r = post(url, bulk);
            done.store(true, Ordering::SeqCst);
            r.map(|()| start.elapsed().as_secs_f64())
        });
        // Let the bulk request be admitted and its first pass start.
        std::thread::sleep(Duration::from_millis(500));
        let mut latencies = Vec::new();
        while !done.load(Ordering::SeqCst) {
            let t = Instant::now();
            post(url, query)?;
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(50));
        }
        let secs = bulk_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the bulk client panicked"))??;
        Ok((latencies, secs))
    })
}

/// The `q` quantile (nearest rank) of `v`.
fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn median(v: &[f64]) -> f64 {
    percentile(v.to_vec(), 0.5)
}

fn markdown(
    names: &[&str; 2],
    f: &[Figures],
    (floor_ms, weight_mb, gbs): (f64, f64, f64),
    llama_version: &str,
    runs: usize,
    threads: usize,
) -> String {
    let (ours, llama) = (&f[0], &f[1]);
    let mut s = String::new();
    let yes = |b: bool| if b { "yes" } else { "no" };
    let _ = writeln!(
        s,
        "| workload | {} | {} | ratio | target | met |\n|---|---|---|---|---|---|",
        names[1], names[0]
    );
    let (lt, ot) = (median(&llama.texts_per_sec), median(&ours.texts_per_sec));
    let _ = writeln!(
        s,
        "| throughput, {CLIENTS} clients x {TEXTS_PER_REQUEST} short texts (texts/s) | {lt:.0} | {ot:.0} | {:.2}x | >= 2.5x | {} |",
        ot / lt,
        yes(ot >= 2.5 * lt)
    );
    let (li, oi) = (median(&llama.idle_p50_ms), median(&ours.idle_p50_ms));
    let _ = writeln!(
        s,
        "| one short query, idle, p50 (ms) | {li:.1} | {oi:.1} | {:.2}x | <= llama-server's and <= 1.5x the floor ({floor_ms:.1} ms) | {} |",
        oi / li,
        yes(oi <= li && oi <= 1.5 * floor_ms)
    );
    let (lb, ob) = (
        percentile(llama.bulk_query_ms.clone(), 0.99),
        percentile(ours.bulk_query_ms.clone(), 0.99),
    );
    let _ = writeln!(
        s,
        "| short query during a {BULK_TEXTS}-text request, p99 (ms) | {lb:.1} ({:.1}x its idle p50) | {ob:.1} ({:.1}x its idle p50) | {:.2}x | <= 3x our idle p50 | {} |",
        lb / li,
        ob / oi,
        ob / lb,
        yes(ob <= 3.0 * oi)
    );
    let (lr, or) = (llama.peak_rss_mib, ours.peak_rss_mib);
    let _ = writeln!(
        s,
        "| peak RSS over all of the above (MiB) | {lr:.0} | {or:.0} | {:.2}x | <= llama-server's | {} |",
        or / lr,
        yes(or <= lr)
    );
    let _ = writeln!(
        s,
        "\nThe {BULK_TEXTS}-text request took {:.1} s on {} and {:.1} s on {}; {} and {} short \
         queries were answered while it ran. Floor: {weight_mb:.0} MB of weights a pass reads \
         whole, at {gbs:.2} GB/s (`read-bandwidth --threads {threads}`).",
        llama.bulk_secs,
        names[1],
        ours.bulk_secs,
        names[0],
        llama.queries_during_bulk,
        ours.queries_during_bulk
    );
    let _ = writeln!(
        s,
        "\nMeasured by `cargo xtask bench --server` on {} ({} CPUs, {threads} threads each), \
         medians of {runs} runs alternating the servers; {llama_version}.",
        crate::bench::cpu_name(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hey_reports_parse() {
        let ok = "Summary:\n  Requests/sec:\t12.5000\n\nStatus code distribution:\n  [200]\t250 responses\n";
        assert_eq!(parse_hey(ok).unwrap(), 12.5);
        let bad = "Summary:\n  Requests/sec:\t12.5\n\nStatus code distribution:\n  [200]\t2 responses\n  [429]\t1 responses\n";
        assert!(parse_hey(bad).is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(v.clone(), 0.5), 50.0);
        assert_eq!(percentile(v, 0.99), 99.0);
        assert!(percentile(vec![], 0.5).is_nan());
    }
}
