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
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
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
        while exchange(&server.addr, &get_bytes("/readyz"))
            .map(|r| r.status)
            .ok()
            != Some(200)
        {
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

/// A route family: its embedding path, input field, where an answer's vectors are
/// (the list, then each vector within an item), and its validation-error status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Route {
    path: &'static str,
    field: &'static str,
    list: &'static str,
    item: &'static str,
    invalid: u16,
    /// Whether the route reads `dimensions` and `truncate` (llama.cpp's does not).
    options: bool,
}

impl Route {
    const ALL: [Route; 4] = [
        Route::new("/v1/embeddings", "input", "/data", "/embedding", 400, true),
        Route::new("/embed", "inputs", "", "", 422, true),
        Route::new("/api/embed", "input", "/embeddings", "", 400, true),
        Route::new("/embedding", "content", "", "/embedding/0", 400, false),
    ];

    const fn new(
        path: &'static str,
        field: &'static str,
        list: &'static str,
        item: &'static str,
        invalid: u16,
        options: bool,
    ) -> Route {
        Route {
            path,
            field,
            list,
            item,
            invalid,
            options,
        }
    }

    fn body(self, input: Value, extra: Value) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert(self.field.into(), input);
        m.extend(extra.as_object().cloned().unwrap_or_default());
        Value::Object(m).to_string().into_bytes()
    }

    /// Every vector of an answer, as bits.
    fn vectors(self, answer: &Value) -> Vec<Vec<u32>> {
        let bits = |v: &Value| -> Option<Vec<u32>> {
            let xs = v.as_array()?.iter();
            Some(
                xs.map(|x| (x.as_f64().unwrap_or(f64::NAN) as f32).to_bits())
                    .collect(),
            )
        };
        let items = answer.pointer(self.list).and_then(Value::as_array);
        let items = items.map(Vec::as_slice).unwrap_or_default();
        items
            .iter()
            .filter_map(|i| bits(i.pointer(self.item)?))
            .collect()
    }
}

/// An answer read off a raw connection.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

/// One request on a new connection: `bytes` as given (always `Connection: close`), then
/// the answer, read to the end.
fn exchange(addr: &str, bytes: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.write_all(bytes)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n");
    let head = String::from_utf8_lossy(&answer[..split.unwrap_or(0)]);
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| std::io::Error::other(format!("no status: {head:?}")))?;
    let body = answer.split_off(split.map_or(0, |i| i + 4));
    Ok(Reply { status, body })
}

/// A request's bytes: `POST path` with `body`, or with `len` announced and no body.
fn post_bytes(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = announce(path, body.len());
    r.extend_from_slice(body);
    r
}

fn announce(path: &str, len: usize) -> Vec<u8> {
    let head = "HTTP/1.1\r\nHost: soak\r\nConnection: close";
    format!("POST {path} {head}\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

fn get_bytes(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Each family's vector of each text, asked alone: `[route][text]`.
fn references(addr: &str) -> Result<Vec<Vec<Vec<u32>>>> {
    let one = |route: Route, text: &str| -> Result<Vec<u32>> {
        let r = exchange(
            addr,
            &post_bytes(route.path, &route.body(json!([text]), json!({}))),
        )?;
        if r.status != 200 {
            bail!("soak: {} reference: status {}", route.path, r.status);
        }
        let answer: Value = serde_json::from_slice(&r.body)?;
        route
            .vectors(&answer)
            .into_iter()
            .next()
            .context("no vector")
    };
    let per_route = |route| TEXTS.iter().map(|t| one(route, t)).collect();
    Route::ALL.into_iter().map(per_route).collect()
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
    /// Complete requests whose connection failed (reset, closed) before an answer.
    connection_errors: BTreeMap<String, u64>,
    /// Complete requests still unanswered after the client's read timeout.
    client_timeouts: BTreeMap<String, u64>,
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
            (&mut self.client_timeouts, o.client_timeouts),
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
                let timed_out = matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
                let class = if timed_out {
                    &mut self.client_timeouts
                } else {
                    &mut self.connection_errors
                };
                *class.entry(format!("{kind}: {:?}", e.kind())).or_default() += 1;
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
        let r = rng.below(4) as usize;
        let route = Route::ALL[r];
        match rng.below(100) {
            0..55 => {
                let i = rng.below(TEXTS.len() as u64) as usize;
                let bytes = post_bytes(route.path, &route.body(json!([TEXTS[i]]), json!({})));
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
                let bytes = post_bytes(route.path, &route.body(json!(texts), json!({})));
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
                if t.expect(addr, path, &get_bytes(path), 200).is_some() {
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

/// One bad request of a random kind, which must get its 4xx: (kind, bytes, status).
fn bad_request(t: &mut Tally, rng: &mut Rng, addr: &str, route: Route) {
    let post = |body: &[u8]| post_bytes(route.path, body);
    let (f, invalid) = (route.field, route.invalid);
    let nothing = json!({});
    let (kind, bytes, want) = match rng.below(12) {
        0 => ("malformed JSON", post(b"{\"input\": "), invalid),
        1 => (
            "wrong input type",
            post(&route.body(json!(5), nothing)),
            invalid,
        ),
        2 => (
            "empty input list",
            post(&route.body(json!([]), nothing)),
            400,
        ),
        3 => (
            "too many inputs",
            post(&route.body(json!(vec!["a"; 2049]), nothing)),
            invalid,
        ),
        // A head announcing more than the 16 MiB limit: refused before any body.
        4 => ("oversize body", announce(route.path, (16 << 20) + 1), 413),
        5 => {
            let body = [format!("{{\"{f}\": \"a").as_bytes(), b"\xff\xfe", b"\"}"].concat();
            ("invalid UTF-8", post(&body), invalid)
        }
        6 => {
            let deep = format!("{{\"{f}\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
            ("deep nesting", post(deep.as_bytes()), invalid)
        }
        7 if route.options => {
            let body = route.body(json!("a"), json!({"dimensions": 100}));
            ("bad dimension", post(&body), invalid)
        }
        8 if route.options => {
            let long = vec!["word"; 3000].join(" ");
            let body = route.body(json!(long), json!({"truncate": false}));
            ("too long, truncation off", post(&body), invalid)
        }
        9 => ("unknown route", post_bytes("/v2/nothing", b"{}"), 404),
        10 => ("wrong method", get_bytes(route.path), 405),
        _ => ("not an object", post(b"[1, 2]"), invalid),
    };
    t.refused(addr, kind, &bytes, want);
}

/// A client that leaves early: mid-head, mid-body, or after a whole (large) request,
/// before its answer.
fn hang_up(t: &mut Tally, rng: &mut Rng, addr: &str, route: Route) {
    let texts: Vec<String> = (0..8)
        .map(|i| format!("{} {i}", vec!["word"; 100].join(" ")))
        .collect();
    let request = post_bytes(route.path, &route.body(json!(texts), json!({})));
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
        let kib = v.trim_start_matches(':').trim().trim_end_matches("kB");
        let kib: f64 = kib.trim().parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS")?, field("VmHWM")?))
}

/// The whole run's result.
struct Report {
    tally: Tally,
    seconds: f64,
    /// Server RSS in MiB: loaded, at the end, peak sampled, and the kernel's VmHWM.
    rss: [f64; 4],
    cpu: String,
}

fn soak(server: &EmbedServer, minutes: f64, clients: usize) -> Result<Report> {
    let addr = server.addr.clone();
    let refs = Arc::new(references(&addr)?);
    let pid = server.child.id();
    let (rss_start, _) = rss_mib(pid).context("soak: cannot read the server's /proc status")?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(minutes * 60.0);
    eprintln!("soak: {clients} clients for {minutes} minutes against {addr}");
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (addr, refs) = (addr.clone(), refs.clone());
            std::thread::spawn(move || client(&addr, &refs, i as u64 + 1, deadline))
        })
        .collect();
    // Sample the server's memory while the clients run.
    let mut peak: f64 = 0.0;
    while !threads.iter().all(|t| t.is_finished()) {
        peak = peak.max(rss_mib(pid).map_or(0.0, |(rss, _)| rss));
        std::thread::sleep(Duration::from_millis(250));
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut tally = Tally::default();
    for th in threads {
        let t = th
            .join()
            .map_err(|_| anyhow::anyhow!("a soak client panicked"))?;
        tally.merge(t);
    }
    let (rss_end, rss_hwm) = rss_mib(pid).context("soak: the server is gone")?;
    // After the load, still serving: one more reference check.
    let after = references(&addr)?;
    if after != *refs {
        tally.wrong_vectors += 1;
    }
    Ok(Report {
        tally,
        seconds,
        rss: [rss_start, rss_end, peak, rss_hwm],
        cpu: crate::bench::cpu_name(),
    })
}

impl Report {
    fn failures(&self) -> u64 {
        let t = &self.tally;
        t.wrong_vectors
            + t.unexpected.values().sum::<u64>()
            + t.connection_errors.values().sum::<u64>()
            + t.client_timeouts.values().sum::<u64>()
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
        let sum = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
        let served = t.valid + t.bulk + t.other_ok + sum(&t.expected) + sum(&t.overload);
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut s = format!(
            "Soak: {minutes} min ({:.0} s), {clients} client threads, `embed serve` (release, Q8_0, \
             default limits) on {} ({cores} cores).\n\n| measure | value |\n|---|---|\n",
            self.seconds, self.cpu
        );
        macro_rules! row {
            ($what:expr, $($value:tt)*) => {
                let _ = writeln!(s, "| {} | {} |", $what, format_args!($($value)*));
            };
        }
        let per_s = served as f64 / self.seconds;
        let (valid, bulk) = (t.valid, t.bulk);
        let (p50, p99) = (pct(0.5), pct(0.99));
        row!("requests answered", "{served} ({per_s:.1}/s)");
        row!(
            "valid requests, vectors right",
            "{valid} single + {bulk} bulk of 60"
        );
        row!("operations and `/tokenize`, 200", "{}", t.other_ok);
        row!("bad requests, expected 4xx", "{}", sum(&t.expected));
        row!("clients that hung up on purpose", "{}", sum(&t.hangups));
        row!(
            "overload by design (429; 503 past the deadline)",
            "{}",
            sum(&t.overload)
        );
        row!("wrong vectors", "{}", t.wrong_vectors);
        row!(
            "unexpected statuses (5xx or other)",
            "{}",
            sum(&t.unexpected)
        );
        row!(
            "connection failed before an answer",
            "{}",
            sum(&t.connection_errors)
        );
        row!(
            "no answer within the client's 120 s",
            "{}",
            sum(&t.client_timeouts)
        );
        row!(
            "valid single-text latency p50 / p99",
            "{p50:.1} ms / {p99:.1} ms"
        );
        let [a, b, c, d] = self.rss;
        row!(
            "server RSS: loaded / end / peak / VmHWM",
            "{a:.0} / {b:.0} / {c:.0} / {d:.0} MiB"
        );
        row!("server exit after SIGTERM", "{exit}");
        for (title, map) in [
            ("Expected refusals by kind", &t.expected),
            ("Hang-ups by kind", &t.hangups),
            ("Overload answers", &t.overload),
            ("Unexpected statuses", &t.unexpected),
            ("Connection errors", &t.connection_errors),
            ("Client timeouts", &t.client_timeouts),
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
