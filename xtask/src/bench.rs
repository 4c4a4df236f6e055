//! `cargo xtask bench`: ours against llama.cpp on the same machine, GGUF and thread
//! count, in one run, alternating, medians of several runs, ratios reported; the result
//! is written to `docs/performance.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::model_paths;

/// Options of `cargo xtask bench`.
pub struct Options {
    /// Runs per measurement (medians are reported).
    pub runs: usize,
    /// Threads for both programs.
    pub threads: usize,
    /// Where the report goes.
    pub out: PathBuf,
    /// Skip the search over llama.cpp's batch settings on docs256 and use the one the
    /// full search picks on this machine (`-c 256 -b 256 -ub 256`).
    pub quick: bool,
    /// Run only the kernel benches (their own section of the doc).
    pub kernels_only: bool,
    /// Run only the server bench (its section of `docs/server.md`).
    pub server_only: bool,
    /// Run only the Python package and Ray bench (its section of `docs/scale-out.md`).
    pub python_only: bool,
    /// Run only the peers' bench (torch, ONNX Runtime; its section of the doc).
    pub peers_only: bool,
}

/// Milliseconds to read, once, every tensor a pass reads whole (all but the token
/// embeddings, of which a pass reads a row a token), at the read bandwidth measured now
/// with `threads` threads: (ms, MB read, GB/s).
pub(crate) fn weight_read_floor_ms(
    root: &Path,
    model: &Path,
    threads: usize,
) -> Result<(f64, f64, f64)> {
    let line = run_bench_binary(root, "read-bandwidth", threads)?;
    let gbs: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("read-bandwidth printed {line:?}"))?;
    let mapped = gguf_format::MappedGguf::open(model)?;
    let weights: u64 = mapped
        .parse()?
        .tensors()
        .iter()
        .filter(|t| t.name() != "token_embd.weight")
        .map(|t| t.n_bytes())
        .sum();
    Ok((
        weights as f64 / (gbs * 1e9) * 1e3,
        weights as f64 / 1e6,
        gbs,
    ))
}

/// One process run: wall seconds, peak RSS, stderr.
pub(crate) struct Run {
    pub(crate) wall: f64,
    pub(crate) rss_mib: Option<f64>,
    pub(crate) stderr: String,
}

/// Runs `program args` with stdout discarded, under `/usr/bin/time` when present (for
/// the peak RSS).
pub(crate) fn measure(program: &Path, args: &[String]) -> Result<Run> {
    let time = Path::new("/usr/bin/time");
    let rss_file = std::env::temp_dir().join(format!("xtask-bench-rss-{}", std::process::id()));
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.args(["-f", "%M", "-o"]).arg(&rss_file).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let wall = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!(
            "{} {} failed ({}):\n{}",
            program.display(),
            args.join(" "),
            out.status,
            tail(&stderr, 20)
        );
    }
    let rss_mib = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last()?.trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0);
    let _ = std::fs::remove_file(&rss_file);
    Ok(Run {
        wall,
        rss_mib,
        stderr,
    })
}

pub(crate) fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Our `--timings` line: (texts, tokens, seconds).
pub(crate) fn our_timings(stderr: &str) -> Result<(usize, usize, f64)> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("embedded "))
        .context("embed printed no timings")?;
    let w: Vec<&str> = line.split_whitespace().collect();
    // embedded N texts, T tokens in S s (...)
    let texts = w.get(1).and_then(|s| s.parse().ok());
    let tokens = w.get(3).and_then(|s| s.parse().ok());
    let secs = w.get(6).and_then(|s| s.parse().ok());
    match (texts, tokens, secs) {
        (Some(a), Some(b), Some(c)) => Ok((a, b, c)),
        _ => bail!("cannot read embed's timings: {line}"),
    }
}

/// Our `--timings` line for the model: milliseconds to open it.
fn open_ms(stderr: &str) -> Option<f64> {
    let line = stderr.lines().find(|l| l.starts_with("opened "))?;
    line.split_whitespace().rev().nth(1)?.parse().ok()
}

/// `llama-bench -o csv`: the `avg_ts` column of the last row.
fn llama_bench_ts(stdout: &str) -> Result<f64> {
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("llama-bench printed nothing")?
        .split(',')
        .collect();
    let col = header
        .iter()
        .position(|h| h.trim_matches('"') == "avg_ts")
        .context("llama-bench csv has no avg_ts")?;
    let row = lines.next_back().context("llama-bench printed no row")?;
    let v: Vec<&str> = row.split(',').collect();
    v.get(col)
        .and_then(|s| s.trim_matches('"').parse().ok())
        .context("cannot read avg_ts")
}

/// The workloads, measured; writes the report.
pub fn bench(opts: &Options) -> Result<()> {
    if opts.kernels_only {
        return crate::bench_criterion::kernels(&opts.out);
    }
    if opts.server_only {
        return server(opts);
    }
    if opts.python_only {
        return python(opts);
    }
    if opts.peers_only {
        return peers(opts);
    }
    let crate::SideBySide { root, llama, embed } = crate::side_by_side()?;
    let model = model_paths::cache_dir().join("embeddinggemma-300m-q8_0.gguf");
    let docs = root.join("testdata/bench-prose.txt");
    let long = std::env::temp_dir().join(format!("xtask-bench-long-{}.txt", std::process::id()));
    // One text of all paragraphs: cut to the model's 2048 tokens by us, and as long
    // as llama-bench's pp2048.
    let text = std::fs::read_to_string(&docs)?;
    std::fs::write(&long, text.lines().collect::<Vec<_>>().join(" ") + "\n")?;
    let t = opts.threads.to_string();
    let m = model.display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let ours = |extra: &[&str], threads: &str| {
        let mut a = s(&["encode", "--model", &m, "--threads", threads, "--timings"]);
        a.extend(s(extra));
        a
    };
    let llama_embed = |extra: &[&str]| {
        let mut a = s(&["-m", &m, "-t", &t, "-fa", "off", "--no-escape"]);
        a.extend(s(extra));
        a
    };
    let runs = opts.runs.max(1);
    let mut report = Report::default();

    // 1. One short text, whole process.
    eprintln!("bench: short text, whole process ({runs} runs each, alternating)");
    let (mut ow, mut or, mut lw, mut lr, mut open) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let r = measure(&embed, &ours(&["Hello world"], &t))?;
        ow.push(r.wall);
        or.extend(r.rss_mib);
        open.extend(open_ms(&r.stderr));
        let r = measure(
            &llama.tool("llama-embedding"),
            &llama_embed(&["-p", "Hello world"]),
        )?;
        lw.push(r.wall);
        lr.extend(r.rss_mib);
    }
    report.short = Some((median(lw), median(ow), median(lr), median(or), median(open)));

    // 2. docs256: llama.cpp's batch settings, one run each, then the best one.
    let docs_s = docs.display().to_string();
    let settings: [(&str, &[&str]); 4] = [
        ("default (-c 2048)", &[]),
        (
            "-c 1024 -b 1024 -ub 1024",
            &["-c", "1024", "-b", "1024", "-ub", "1024"],
        ),
        (
            "-c 512 -b 512 -ub 512",
            &["-c", "512", "-b", "512", "-ub", "512"],
        ),
        (
            "-c 256 -b 256 -ub 256",
            &["-c", "256", "-b", "256", "-ub", "256"],
        ),
    ];
    let mut best: Option<(usize, f64)> = None;
    let mut tried = Vec::new();
    for (i, (name, extra)) in settings.iter().enumerate() {
        if opts.quick {
            best = Some((settings.len() - 1, 0.0));
            tried.push("search skipped (--quick)".into());
            break;
        }
        eprintln!("bench: docs256, llama.cpp {name} (one run to choose the setting)");
        let mut a = llama_embed(&["-f", &docs_s]);
        a.extend(s(extra));
        match measure(&llama.tool("llama-embedding"), &a) {
            Ok(r) => {
                tried.push(format!("{name}: {:.1} s", r.wall));
                if best.is_none_or(|(_, w)| r.wall < w) {
                    best = Some((i, r.wall));
                }
            }
            Err(e) => tried.push(format!("{name}: failed ({})", first_line(&e.to_string()))),
        }
    }
    let (bi, _) = best.context("no llama.cpp setting ran docs256")?;
    let (best_name, best_extra) = settings[bi];
    eprintln!("bench: docs256 ({runs} runs each, llama.cpp {best_name})");
    let (mut ot, mut lt, mut ow, mut lw) = (vec![], vec![], vec![], vec![]);
    let mut tokens = 0;
    for _ in 0..runs {
        let r = measure(&embed, &ours(&["--input", &docs_s, "--format", "f32"], &t))?;
        let (_, n, secs) = our_timings(&r.stderr)?;
        tokens = n;
        ot.push(n as f64 / secs);
        ow.push(r.wall);
        let mut a = llama_embed(&["-f", &docs_s]);
        a.extend(s(best_extra));
        let r = measure(&llama.tool("llama-embedding"), &a)?;
        lw.push(r.wall);
    }
    for w in &lw {
        lt.push(tokens as f64 / w);
    }
    let ours_wall_tps: Vec<f64> = ow.iter().map(|w| tokens as f64 / w).collect();
    report.docs = Some(Docs {
        tokens,
        llama_setting: best_name.to_string(),
        tried,
        llama_tps: median(lt),
        ours_tps_wall: median(ours_wall_tps),
        ours_tps_embed: median(ot.clone()),
    });

    // 3. Threads: ours on docs256 with one thread.
    eprintln!("bench: docs256 on 1 thread vs {t}");
    let mut one = vec![];
    for _ in 0..if opts.quick { 1 } else { runs.min(3) } {
        let r = measure(&embed, &ours(&["--input", &docs_s, "--format", "f32"], "1"))?;
        let (_, n, secs) = our_timings(&r.stderr)?;
        one.push(n as f64 / secs);
    }
    report.threads = Some((median(one), median(ot)));
    let docs_tps = report
        .docs
        .as_ref()
        .context("docs256 did not run")?
        .ours_tps_embed;
    report.linear = Some(linear_against_peak(&root, &model, opts.threads, docs_tps)?);

    // 4. One 2048-token text.
    eprintln!("bench: one 2048-token text ({runs} runs each)");
    let long_s = long.display().to_string();
    let (mut o2, mut l2) = (vec![], vec![]);
    for _ in 0..runs {
        let r = measure(&embed, &ours(&["--input", &long_s, "--format", "f32"], &t))?;
        let (_, n, secs) = our_timings(&r.stderr)?;
        o2.push(n as f64 / secs);
        let out = Command::new(llama.tool("llama-bench"))
            .args([
                "-m", &m, "-embd", "1", "-fa", "0", "-t", &t, "-p", "2048", "-n", "0",
            ])
            // An encoder needs the whole sequence in one micro-batch.
            .args(["-b", "2048", "-ub", "2048", "-r", "1", "-o", "csv"])
            .output()?;
        l2.push(llama_bench_ts(&String::from_utf8_lossy(&out.stdout))?);
    }
    let _ = std::fs::remove_file(&long);
    report.long = Some((median(l2), median(o2)));

    // 5. One 10-token query, warm, against the floor of reading the weights once.
    let query = crate::bench_criterion::query_ms(opts.threads)?;
    report.query = Some((query, weight_read_floor_ms(&root, &model, opts.threads)?));

    let md = report.markdown(&llama.version, opts, runs);
    print!("{md}");
    crate::write_generated(&opts.out, "bench", &md)?;
    crate::bench_criterion::kernels(&opts.out)?;
    peers(opts)?;
    server(opts)?;
    python(opts)
}

/// The peers' bench (llama.cpp, torch, ONNX Runtime on docs256 and a mixed corpus), in
/// its own section of `opts.out`; at most 3 runs (a Python run is minutes).
fn peers(opts: &Options) -> Result<()> {
    crate::bench_peers::bench_peers(opts.runs.clamp(1, 3), opts.threads, &opts.out)
}

/// The Python package and Ray bench, written to `docs/scale-out.md` beside `opts.out`.
fn python(opts: &Options) -> Result<()> {
    let crate::SideBySide { root, embed, .. } = crate::side_by_side()?;
    let python = crate::python::installed_python(&root)?;
    let model = model_paths::cache_dir().join("embeddinggemma-300m-q8_0.gguf");
    let docs = root.join("testdata/bench-prose.txt");
    let bench = crate::bench_python::PythonBench {
        python: &python,
        embed: &embed,
        model: &model,
        docs: &docs,
    };
    let md = crate::bench_python::bench_python(&bench, opts.threads, opts.runs.clamp(1, 3))?;
    print!("{md}");
    crate::write_generated(
        &opts.out.with_file_name("scale-out.md"),
        "bench-python",
        &md,
    )
}

/// The server bench, written to `docs/server.md` beside `opts.out`.
fn server(opts: &Options) -> Result<()> {
    let doc = opts.out.with_file_name("server.md");
    crate::bench_server::bench_server(opts.runs.clamp(1, 3), opts.threads, &doc)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

struct Docs {
    tokens: usize,
    llama_setting: String,
    tried: Vec<String>,
    llama_tps: f64,
    ours_tps_wall: f64,
    ours_tps_embed: f64,
}

#[derive(Default)]
struct Report {
    /// llama wall, ours wall, llama RSS, ours RSS, our open ms.
    short: Option<(f64, f64, f64, f64, f64)>,
    docs: Option<Docs>,
    /// ours tokens/s on 1 thread, on N.
    threads: Option<(f64, f64)>,
    /// llama tokens/s, ours.
    long: Option<(f64, f64)>,
    linear: Option<LinearPeak>,
    /// One 10-token query (ms), and the weight-read floor (ms, MB, GB/s).
    query: Option<(f64, (f64, f64, f64))>,
}

/// The linear layers' multiply-adds per second on docs256 against the CPU's peak.
struct LinearPeak {
    /// Multiply-adds of the layers' weight matrices per token.
    macs_per_token: u64,
    /// What docs256 in-process did, in GMAC/s.
    achieved: f64,
    /// `peak --threads N`'s int16 figure, in GMAC/s, and the instruction it timed.
    peak: f64,
    instruction: String,
}

/// Builds embed-benches' binary `name` (release) and runs it with `--threads N`; its
/// standard output.
pub(crate) fn run_bench_binary(root: &Path, name: &str, threads: usize) -> Result<String> {
    crate::cargo(
        &[
            "build",
            "--release",
            "--quiet",
            "-p",
            "embed-benches",
            "--bin",
            name,
        ],
        &[],
    )?;
    let out = Command::new(root.join("target/release").join(name))
        .args(["--threads", &threads.to_string()])
        .output()
        .with_context(|| format!("cannot run {name}"))?;
    if !out.status.success() {
        bail!(
            "{name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The default precision's (int16) peak from `peak --threads N`, and the multiply-adds of
/// the model's layer matrices (every 2-D `blk.*` tensor) done at `tokens_per_s`. All of
/// the in-process time is counted as the layers' time, so the share is a lower bound.
fn linear_against_peak(
    root: &Path,
    model: &Path,
    threads: usize,
    tokens_per_s: f64,
) -> Result<LinearPeak> {
    // Another tenant of the machine can only lower a register-only rate: the best of
    // three runs is the CPU's.
    let mut best: Option<(String, f64)> = None;
    for _ in 0..3 {
        let stdout = run_bench_binary(root, "peak", threads)?;
        // `peak: int16 <instruction> <GMAC/s> GMAC/s (<N> threads)`
        let run = stdout
            .lines()
            .find_map(|l| {
                let mut w = l.strip_prefix("peak: int16 ")?.split_whitespace();
                let name = w.next()?.to_string();
                Some((name, w.next()?.parse::<f64>().ok()?))
            })
            .with_context(|| format!("peak printed no int16 figure: {stdout:?}"))?;
        if best.as_ref().is_none_or(|(_, b)| run.1 > *b) {
            best = Some(run);
        }
    }
    let (instruction, peak) = best.context("peak did not run")?;
    let mapped = gguf_format::MappedGguf::open(model)?;
    let macs_per_token: u64 = mapped
        .parse()?
        .tensors()
        .iter()
        .filter(|t| t.name().starts_with("blk.") && t.dims().len() == 2)
        .map(|t| t.n_elements())
        .sum();
    Ok(LinearPeak {
        macs_per_token,
        achieved: tokens_per_s * macs_per_token as f64 / 1e9,
        peak,
        instruction,
    })
}

pub(crate) fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

impl Report {
    fn markdown(&self, llama_version: &str, opts: &Options, runs: usize) -> String {
        let mut s = String::new();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let _ = writeln!(s, "| workload | llama.cpp | ours | ratio | target | met |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        let yes = |b: bool| if b { "yes" } else { "no" };
        if let Some(d) = &self.docs {
            let r = d.ours_tps_wall / d.llama_tps;
            let _ = writeln!(
                s,
                "| docs256.txt ({} tokens, 256 texts), tokens/s, whole process | {:.0} ({}) | {:.0} | {r:.2}x | >= 3x and >= 1000 | {} |",
                d.tokens,
                d.llama_tps,
                d.llama_setting,
                d.ours_tps_wall,
                yes(r >= 3.0 && d.ours_tps_wall >= 1000.0)
            );
        }
        if let Some((l, o)) = self.long {
            let _ = writeln!(
                s,
                "| one 2048-token text, tokens/s (llama-bench pp2048; ours in-process) | {l:.0} | {o:.0} | {:.2}x | >= 2x | {} |",
                o / l,
                yes(o / l >= 2.0)
            );
        }
        if let Some((lw, ow, lr, or, open)) = self.short {
            let _ = writeln!(
                s,
                "| one short text, whole process: wall | {lw:.3} s | {ow:.3} s | {:.2} of llama's | <= 0.20 | {} |",
                ow / lw,
                yes(ow / lw <= 0.2)
            );
            let _ = writeln!(
                s,
                "| one short text, whole process: peak RSS | {lr:.0} MiB | {or:.0} MiB | {:.2} of llama's | <= 0.50 | {} |",
                or / lr,
                yes(or / lr <= 0.5)
            );
            let _ = writeln!(
                s,
                "| open a model (mmap + tokenizer ready) | | {open:.1} ms | | <= 100 ms | {} |",
                yes(open <= 100.0)
            );
        }
        if let Some((one, n)) = self.threads {
            let _ = writeln!(
                s,
                "| docs256 in-process tokens/s, 1 -> {} threads | | {one:.0} -> {n:.0} | {:.2}x | >= 1.8x | {} |",
                opts.threads,
                n / one,
                yes(n / one >= 1.8)
            );
        }
        if let Some(lp) = &self.linear {
            let share = lp.achieved / lp.peak;
            let _ = writeln!(
                s,
                "| linear layers on docs256 in-process ({:.1} M multiply-adds a token), against the int16 peak (`peak --threads {}`: {}) | | {:.1} of {:.1} GMAC/s | {:.0}% | >= 60% | {} |",
                lp.macs_per_token as f64 / 1e6,
                opts.threads,
                lp.instruction,
                lp.achieved,
                lp.peak,
                100.0 * share,
                yes(share >= 0.6)
            );
        }
        if let Some((ms, (floor, mb, gbs))) = self.query {
            let _ = writeln!(
                s,
                "| one 10-token query, warm `Embedder` (criterion `query`), against reading the {mb:.0} MB of weights once at {gbs:.1} GB/s (`read-bandwidth --threads {}`) | | {ms:.1} ms (floor {floor:.1} ms) | {:.1}x the floor | <= 1.5x | {} |",
                opts.threads,
                ms / floor,
                yes(ms <= 1.5 * floor)
            );
        }
        let mut head = String::new();
        let _ = writeln!(
            head,
            "Machine: {} ({cores} cores). llama.cpp: {llama_version}, built by `cargo xtask bench` (GGML_NATIVE=ON, AMX off). \
             Model: the Q8_0 GGUF from `cargo xtask fetch-model`. Threads: {} for both. Medians of {runs} runs, the two programs alternating.\n",
            cpu_name(),
            opts.threads
        );
        if let Some(d) = &self.docs {
            let _ = writeln!(
                head,
                "docs256: llama.cpp's batch settings tried once each: {}; the fastest ({}) was then run {runs} times. \
                 Ours in-process (model loading and output excluded): {:.0} tokens/s.\n",
                d.tried.join("; "),
                d.llama_setting,
                d.ours_tps_embed
            );
        }
        head + &s
    }
}
