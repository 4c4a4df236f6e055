//! `cargo xtask soak`: mixed valid and invalid load against `embed serve` on loopback.
//!
//! Starts the release `embed serve` with the cached Q8_0 model on a free loopback port,
//! takes a reference vector for each text and route family alone, then drives several
//! client threads for N minutes: well-formed requests to the four families (every vector
//! checked against its reference, bit for bit), operations routes, bad bodies of many
//! kinds (each must be its expected 4xx), and clients that hang up mid-head, mid-body or
//! before their answer. A sampler reads the server's resident memory from `/proc`. The
//! report: requests served, errors by class, latency of valid requests, peak RSS. Any
//! wrong vector, unexpected status or dropped complete request fails the command.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use testkit::model_paths;

/// This command's lines in `cargo xtask --help`.
pub(crate) const USAGE: &str = "\
  soak [--minutes N] [--clients N]
        Mixed valid and invalid load against `embed serve` on loopback for N minutes
        (10), from N client threads (6); prints requests served, errors by class,
        latency and peak RSS, and fails on any wrong answer.
";

/// Runs `cargo xtask soak ARGS`.
pub(crate) fn command(root: &Path, args: &[String]) -> Result<()> {
    let (minutes, clients) = options(args)?;
    let model = model_paths::gguf("q8_0");
    if !model.is_file() {
        bail!(
            "soak: no model at {} (run `cargo xtask fetch-model`)",
            model.display()
        );
    }
    crate::cargo(&["build", "--release", "-p", "embed-cli"], &[])?;
    let server = EmbedServer::start(root, &model)?;
    let result = soak(&server, minutes, clients);
    let exit = server.stop();
    let report = result?;
    let exit = exit?;
    let md = report.markdown(minutes, clients, &exit);
    print!("{md}");
    let out = root.join("target/soak-report.md");
    std::fs::write(&out, &md).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("soak: report written to {}", out.display());
    if report.failures() > 0 || !exit.starts_with("exit status: 0") {
        bail!(
            "soak: {} failures, server {exit} (see above)",
            report.failures()
        );
    }
    Ok(())
}

fn options(args: &[String]) -> Result<(f64, usize)> {
    let (mut minutes, mut clients): (f64, usize) = (10.0, 6);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("soak: {a} needs a value"))
        };
        match a.as_str() {
            "--minutes" => minutes = value()?.parse().context("soak: --minutes N")?,
            "--clients" => clients = value()?.parse().context("soak: --clients N")?,
            _ => bail!("soak: unknown argument {a}\n{USAGE}"),
        }
    }
    if minutes.is_nan() || minutes <= 0.0 || clients == 0 {
        bail!("soak: --minutes and --clients must be above zero");
    }
    Ok((minutes, clients))
}

/// The `embed serve` child, its address, and its log file.
struct EmbedServer {
    child: Child,
    addr: String,
}

impl EmbedServer {
    fn start(root: &Path, model: &Path) -> Result<EmbedServer> {
        let embed = root.join("target/release/embed");
        let log = root.join("target/tmp/soak-server.log");
        std::fs::create_dir_all(root.join("target/tmp"))?;
        // The server logs a line per request: a file, not a pipe nobody drains.
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(&embed)
            .args(["serve", "--port", "0", "-m"])
            .arg(model)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", embed.display()))?;
        let mut server = EmbedServer {
            child,
            addr: String::new(),
        };
        let started = Instant::now();
        while server.addr.is_empty() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                server.addr = rest.split_whitespace().next().unwrap_or("").to_string();
            } else if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "soak: the server did not bind in 60 s; see {}",
                    log.display()
                );
            } else if let Some(status) = server.child.try_wait()? {
                bail!("soak: the server exited ({status}); see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        while get(&server.addr, "/readyz").map(|r| r.status).ok() != Some(200) {
            if started.elapsed() > Duration::from_secs(300) {
                bail!("soak: the server was not ready in 300 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!(
            "soak: embed serve (pid {}) ready on {} after {:.1} s; log in {}",
            server.child.id(),
            server.addr,
            started.elapsed().as_secs_f64(),
            log.display()
        );
        Ok(server)
    }

    /// SIGTERM, then the exit status (as text) once it exits; a kill after 60 s.
    fn stop(mut self) -> Result<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill()?;
        Ok(format!(
            "killed: no exit 60 s after SIGTERM ({})",
            self.child.wait()?
        ))
    }
}

/// The texts valid requests embed, and the route families.
const TEXTS: [&str; 6] = [
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "A quick brown fox jumps over the lazy dog.",
    "Stock markets fell sharply on Monday.",
    "Rust guarantees memory safety without a garbage collector.",
    "The mitochondria is the powerhouse of the cell.",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    OpenAi,
    Tei,
    Ollama,
    LlamaCpp,
}

impl Route {
    const ALL: [Route; 4] = [Route::OpenAi, Route::Tei, Route::Ollama, Route::LlamaCpp];

    fn path(self) -> &'static str {
        match self {
            Route::OpenAi => "/v1/embeddings",
            Route::Tei => "/embed",
            Route::Ollama => "/api/embed",
            Route::LlamaCpp => "/embedding",
        }
    }

    fn body(self, input: Value, extra: Value) -> Vec<u8> {
        let field = match self {
            Route::OpenAi | Route::Ollama => "input",
            Route::Tei => "inputs",
            Route::LlamaCpp => "content",
        };
        let mut m = serde_json::Map::new();
        m.insert(field.into(), input);
        m.extend(extra.as_object().cloned().unwrap_or_default());
        Value::Object(m).to_string().into_bytes()
    }

    /// Every vector of an answer, as bits.
    fn vectors(self, answer: &Value) -> Vec<Vec<u32>> {
        let list: Vec<&Value> = match self {
            Route::OpenAi => answer["data"]
                .as_array()
                .map(|d| d.iter().map(|i| &i["embedding"]).collect())
                .unwrap_or_default(),
            Route::Tei => answer
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            Route::Ollama => answer["embeddings"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            Route::LlamaCpp => answer
                .as_array()
                .map(|a| a.iter().map(|i| &i["embedding"][0]).collect())
                .unwrap_or_default(),
        };
        list.iter()
            .map(|v| {
                v.as_array()
                    .map(|xs| {
                        xs.iter()
                            .map(|x| (x.as_f64().unwrap_or(f64::NAN) as f32).to_bits())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The status of a validation error in this family (TEI says 422).
    fn invalid(self) -> u16 {
        if self == Route::Tei { 422 } else { 400 }
    }
}

/// An answer read off a raw connection.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

/// One request on a new connection: `bytes` as given, then the answer.
fn exchange(addr: &str, bytes: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.write_all(bytes)?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {line:?}")))?;
    let mut len = 0;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':')
            && n.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Reply { status, body })
}

fn post_bytes(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn get(addr: &str, path: &str) -> std::io::Result<Reply> {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Each family's vector of each text, asked alone: `[route][text]`.
fn references(addr: &str) -> Result<Vec<Vec<Vec<u32>>>> {
    Route::ALL
        .iter()
        .map(|&route| {
            TEXTS
                .iter()
                .map(|t| {
                    let r = exchange(
                        addr,
                        &post_bytes(route.path(), &route.body(json!([t]), json!({}))),
                    )?;
                    if r.status != 200 {
                        bail!("soak: {route:?} reference: status {}", r.status);
                    }
                    let answer: Value = serde_json::from_slice(&r.body)?;
                    route
                        .vectors(&answer)
                        .into_iter()
                        .next()
                        .context("no vector")
                })
                .collect()
        })
        .collect()
}

/// What one client thread saw.
#[derive(Default)]
struct Tally {
    /// Well-formed embedding requests answered with the right vectors, and their times.
    valid: u64,
    latencies_ms: Vec<f64>,
    /// Bulk requests (60 inputs) answered right.
    bulk: u64,
    /// Operations routes and `/tokenize` answered 200.
    other_ok: u64,
    /// Bad requests answered with their expected status, by kind.
    expected: BTreeMap<String, u64>,
    /// Backpressure by design (429 queue full, 503 past the queue deadline), by kind.
    overload: BTreeMap<String, u64>,
    /// Answers with a status other than the one expected, by kind and status.
    unexpected: BTreeMap<String, u64>,
    /// A 200 with a vector other than the reference.
    wrong_vectors: u64,
    /// Complete requests that got no answer, by kind.
    connection_errors: BTreeMap<String, u64>,
    /// Clients that hung up on purpose, by how.
    hangups: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.valid += o.valid;
        self.latencies_ms.extend(o.latencies_ms);
        self.bulk += o.bulk;
        self.other_ok += o.other_ok;
        self.wrong_vectors += o.wrong_vectors;
        for (mine, theirs) in [
            (&mut self.expected, o.expected),
            (&mut self.overload, o.overload),
            (&mut self.unexpected, o.unexpected),
            (&mut self.connection_errors, o.connection_errors),
            (&mut self.hangups, o.hangups),
        ] {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
        }
    }

    /// Sends a request that must be answered `want`; returns the answer if it was.
    fn expect(&mut self, addr: &str, kind: &str, bytes: &[u8], want: u16) -> Option<Reply> {
        match exchange(addr, bytes) {
            Ok(r) if r.status == want => Some(r),
            Ok(r) if want == 200 && matches!(r.status, 429 | 503) => {
                *self
                    .overload
                    .entry(format!("{kind}: {}", r.status))
                    .or_default() += 1;
                None
            }
            Ok(r) => {
                *self
                    .unexpected
                    .entry(format!("{kind}: {}", r.status))
                    .or_default() += 1;
                None
            }
            Err(e) => {
                *self
                    .connection_errors
                    .entry(format!("{kind}: {:?}", e.kind()))
                    .or_default() += 1;
                None
            }
        }
    }

    fn refused(&mut self, addr: &str, kind: &str, bytes: &[u8], want: u16) {
        if self.expect(addr, kind, bytes, want).is_some() {
            *self.expected.entry(format!("{kind} ({want})")).or_default() += 1;
        }
    }
}

/// A small deterministic generator (xorshift64*), one per client thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }
}

/// One client thread: until `deadline`, a mix of valid, invalid and hang-up traffic.
fn client(addr: &str, refs: &[Vec<Vec<u32>>], seed: u64, deadline: Instant) -> Tally {
    let mut t = Tally::default();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    while Instant::now() < deadline {
        let route = Route::ALL[rng.below(4) as usize];
        let r = route as usize;
        match rng.below(100) {
            0..55 => {
                let i = rng.below(TEXTS.len() as u64) as usize;
                let bytes = post_bytes(route.path(), &route.body(json!([TEXTS[i]]), json!({})));
                let start = Instant::now();
                if let Some(reply) = t.expect(addr, "valid", &bytes, 200) {
                    let ms = start.elapsed().as_secs_f64() * 1000.0;
                    let got = serde_json::from_slice(&reply.body).map(|a| route.vectors(&a));
                    if got.is_ok_and(|v| v.len() == 1 && v[0] == refs[r][i]) {
                        t.valid += 1;
                        t.latencies_ms.push(ms);
                    } else {
                        t.wrong_vectors += 1;
                    }
                }
            }
            55..58 => {
                let texts: Vec<&str> = TEXTS.iter().cycle().take(60).copied().collect();
                let bytes = post_bytes(route.path(), &route.body(json!(texts), json!({})));
                if let Some(reply) = t.expect(addr, "bulk", &bytes, 200) {
                    let got = serde_json::from_slice(&reply.body).map(|a| route.vectors(&a));
                    let right = got.is_ok_and(|v| {
                        v.len() == 60
                            && v.iter()
                                .enumerate()
                                .all(|(j, x)| *x == refs[r][j % TEXTS.len()])
                    });
                    if right {
                        t.bulk += 1;
                    } else {
                        t.wrong_vectors += 1;
                    }
                }
            }
            58..64 => {
                const OPS: [&str; 8] = [
                    "/health",
                    "/livez",
                    "/readyz",
                    "/v1/models",
                    "/api/tags",
                    "/info",
                    "/api/version",
                    "/metrics",
                ];
                let path = OPS[rng.below(OPS.len() as u64) as usize];
                let bytes =
                    format!("GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n");
                if t.expect(addr, path, bytes.as_bytes(), 200).is_some() {
                    t.other_ok += 1;
                }
                let tokenize = post_bytes(
                    "/tokenize",
                    &json!({"inputs": TEXTS[0]}).to_string().into_bytes(),
                );
                if t.expect(addr, "/tokenize", &tokenize, 200).is_some() {
                    t.other_ok += 1;
                }
            }
            64..90 => bad_request(&mut t, &mut rng, addr, route),
            _ => hang_up(&mut t, &mut rng, addr, route),
        }
    }
    t
}

/// One bad request of a random kind, which must get its 4xx.
fn bad_request(t: &mut Tally, rng: &mut Rng, addr: &str, route: Route) {
    let post = |body: &[u8]| post_bytes(route.path(), body);
    let invalid = route.invalid();
    match rng.below(12) {
        0 => t.refused(addr, "malformed JSON", &post(b"{\"input\": "), invalid),
        1 => t.refused(
            addr,
            "wrong input type",
            &post(&route.body(json!(5), json!({}))),
            invalid,
        ),
        2 => t.refused(
            addr,
            "empty input list",
            &post(&route.body(json!([]), json!({}))),
            400,
        ),
        3 => {
            let many = route.body(json!(vec!["a"; 2049]), json!({}));
            t.refused(addr, "too many inputs", &post(&many), invalid);
        }
        4 => {
            // A head announcing more than the 16 MiB limit: refused before any body.
            let head = format!(
                "POST {} HTTP/1.1\r\nHost: soak\r\nContent-Length: {}\r\n\r\n",
                route.path(),
                (16 << 20) + 1
            );
            t.refused(addr, "oversize body", head.as_bytes(), 413);
        }
        5 => {
            let body = [b"{\"input\": \"a".as_slice(), b"\xff\xfe", b"\"}"].concat();
            let body = if route == Route::OpenAi || route == Route::Ollama {
                body
            } else {
                // The family's own field, with the same bad bytes.
                let field = if route == Route::Tei {
                    "inputs"
                } else {
                    "content"
                };
                [
                    format!("{{\"{field}\": \"a").as_bytes(),
                    b"\xff\xfe",
                    b"\"}",
                ]
                .concat()
            };
            t.refused(addr, "invalid UTF-8", &post(&body), invalid);
        }
        6 => {
            let deep = format!(
                "{{\"input\": {}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            );
            let deep = deep.replace("\"input\"", field(route));
            t.refused(addr, "deep nesting", &post(deep.as_bytes()), invalid);
        }
        7 if route != Route::LlamaCpp => {
            let body = route.body(json!("a"), json!({"dimensions": 100}));
            t.refused(addr, "bad dimension", &post(&body), invalid);
        }
        8 if route != Route::LlamaCpp => {
            let long = vec!["word"; 3000].join(" ");
            let body = route.body(json!(long), json!({"truncate": false}));
            t.refused(addr, "too long, truncation off", &post(&body), invalid);
        }
        9 => t.refused(
            addr,
            "unknown route",
            &post_bytes("/v2/nothing", b"{}"),
            404,
        ),
        10 => {
            let bytes = format!(
                "GET {} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n",
                route.path()
            );
            t.refused(addr, "wrong method", bytes.as_bytes(), 405);
        }
        _ => t.refused(addr, "not an object", &post(b"[1, 2]"), invalid),
    }
}

fn field(route: Route) -> &'static str {
    match route {
        Route::OpenAi | Route::Ollama => "\"input\"",
        Route::Tei => "\"inputs\"",
        Route::LlamaCpp => "\"content\"",
    }
}

/// A client that leaves early: mid-head, mid-body, or after a whole (large) request,
/// before its answer.
fn hang_up(t: &mut Tally, rng: &mut Rng, addr: &str, route: Route) {
    let texts: Vec<String> = (0..8)
        .map(|i| format!("{} {i}", vec!["word"; 100].join(" ")))
        .collect();
    let request = post_bytes(route.path(), &route.body(json!(texts), json!({})));
    let (how, bytes) = match rng.below(3) {
        0 => ("mid-head", &request[..20]),
        1 => ("mid-body", &request[..request.len() / 2]),
        _ => ("before the answer", &request[..]),
    };
    match TcpStream::connect(addr).and_then(|mut s| s.write_all(bytes)) {
        Ok(()) => *t.hangups.entry(how.to_string()).or_default() += 1,
        Err(e) => {
            *t.connection_errors
                .entry(format!("hang-up {how}: {:?}", e.kind()))
                .or_default() += 1
        }
    }
}

/// Resident memory of `pid` (VmRSS, VmHWM) in MiB, from `/proc/<pid>/status`.
fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let v = status.lines().find_map(|l| l.strip_prefix(name))?;
        let kib: f64 = v
            .trim_start_matches(':')
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS")?, field("VmHWM")?))
}

/// The whole run's result.
struct Report {
    tally: Tally,
    seconds: f64,
    rss_start: f64,
    rss_end: f64,
    rss_peak_sampled: f64,
    rss_hwm: f64,
    cpu: String,
}

fn soak(server: &EmbedServer, minutes: f64, clients: usize) -> Result<Report> {
    let addr = server.addr.clone();
    let refs = Arc::new(references(&addr)?);
    let pid = server.child.id();
    let (rss_start, _) = rss_mib(pid).context("soak: cannot read the server's /proc status")?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !done.load(Ordering::Relaxed) {
                if let Some((rss, _)) = rss_mib(pid) {
                    peak = peak.max(rss);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            peak
        })
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(minutes * 60.0);
    eprintln!("soak: {clients} clients for {minutes} minutes against {addr}");
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (addr, refs) = (addr.clone(), refs.clone());
            std::thread::spawn(move || client(&addr, &refs, i as u64 + 1, deadline))
        })
        .collect();
    let mut tally = Tally::default();
    for th in threads {
        tally.merge(
            th.join()
                .map_err(|_| anyhow::anyhow!("a soak client panicked"))?,
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let rss_peak_sampled = sampler.join().unwrap_or(0.0);
    let (rss_end, rss_hwm) = rss_mib(pid).context("soak: the server is gone")?;
    // After the load, still serving: one more reference check.
    let after = references(&addr)?;
    if after != *refs {
        tally.wrong_vectors += 1;
    }
    Ok(Report {
        tally,
        seconds,
        rss_start,
        rss_end,
        rss_peak_sampled,
        rss_hwm,
        cpu: crate::bench::cpu_name(),
    })
}

impl Report {
    fn failures(&self) -> u64 {
        let t = &self.tally;
        t.wrong_vectors
            + t.unexpected.values().sum::<u64>()
            + t.connection_errors.values().sum::<u64>()
    }

    fn markdown(&self, minutes: f64, clients: usize, exit: &str) -> String {
        let t = &self.tally;
        let mut lat = t.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let expected: u64 = t.expected.values().sum();
        let hangups: u64 = t.hangups.values().sum();
        let served = t.valid + t.bulk + t.other_ok + expected + t.overload.values().sum::<u64>();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Soak: {minutes} min ({:.0} s), {clients} client threads, `embed serve` (release, Q8_0, default limits) on {} ({cores} cores).\n",
            self.seconds, self.cpu
        );
        let _ = writeln!(s, "| measure | value |\n|---|---|");
        let _ = writeln!(
            s,
            "| requests answered | {served} ({:.1}/s) |",
            served as f64 / self.seconds
        );
        let _ = writeln!(
            s,
            "| valid embedding requests, vectors right | {} single + {} bulk of 60 |",
            t.valid, t.bulk
        );
        let _ = writeln!(s, "| operations and `/tokenize`, 200 | {} |", t.other_ok);
        let _ = writeln!(s, "| bad requests, expected 4xx | {expected} |");
        let _ = writeln!(s, "| clients that hung up on purpose | {hangups} |");
        let _ = writeln!(
            s,
            "| overload answers by design (429, 503 past the queue deadline) | {} |",
            t.overload.values().sum::<u64>()
        );
        let _ = writeln!(s, "| wrong vectors | {} |", t.wrong_vectors);
        let _ = writeln!(
            s,
            "| unexpected statuses (5xx or other) | {} |",
            t.unexpected.values().sum::<u64>()
        );
        let _ = writeln!(
            s,
            "| complete requests without an answer | {} |",
            t.connection_errors.values().sum::<u64>()
        );
        let _ = writeln!(
            s,
            "| valid single-text latency p50 / p99 | {:.1} ms / {:.1} ms |",
            pct(0.5),
            pct(0.99)
        );
        let _ = writeln!(
            s,
            "| server RSS: after load-up / end / peak sampled / VmHWM | {:.0} / {:.0} / {:.0} / {:.0} MiB |",
            self.rss_start, self.rss_end, self.rss_peak_sampled, self.rss_hwm
        );
        let _ = writeln!(s, "| server exit after SIGTERM | {exit} |");
        let _ = writeln!(s, "\nExpected refusals by kind:\n");
        for (k, v) in &t.expected {
            let _ = writeln!(s, "- {k}: {v}");
        }
        let _ = writeln!(s, "\nHang-ups by kind:\n");
        for (k, v) in &t.hangups {
            let _ = writeln!(s, "- {k}: {v}");
        }
        for (title, map) in [
            ("Overload answers", &t.overload),
            ("Unexpected statuses", &t.unexpected),
            ("Connection errors", &t.connection_errors),
        ] {
            if !map.is_empty() {
                let _ = writeln!(s, "\n{title}:\n");
                for (k, v) in map {
                    let _ = writeln!(s, "- {k}: {v}");
                }
            }
        }
        s
    }
}
