//! `cargo xtask fuzz`: every crate's libFuzzer targets, each for a bounded time.
//!
//! Each fuzzed crate has a `fuzz/` crate of its own (its own `[workspace]`, so the root
//! workspace never builds it) laid out as cargo-fuzz expects. This command does what
//! `cargo fuzz run` does without needing cargo-fuzz or a nightly toolchain: it builds the
//! targets with the sanitizer-coverage passes as plain `-C` flags (stable rustc takes
//! them), `--cfg fuzzing`, debug assertions and overflow checks, into one shared target
//! directory, then runs each binary (libfuzzer-sys links libFuzzer in) on its committed
//! seeds plus the corpus kept under `target/fuzz/corpus/`. No address sanitizer: the
//! fuzzed crates are safe Rust, so a memory bug shows as a panic, which libFuzzer
//! reports as a crash.
//!
//! The binaries live under `target/fuzz/target/`, so `pkill -INT -f /fuzz/target/` ends
//! every campaign with its figures printed; a target run again goes on from its corpus.
//! Never pause one with `SIGSTOP`: libFuzzer's per-input timeout counts wall time, so
//! the input running at the pause is reported as a hang on `SIGCONT`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::model_paths;

/// This command's lines in `cargo xtask --help`.
pub(crate) const USAGE: &str = "\
  fuzz [--seconds N | --cpu-seconds N] [--target NAME] [--jobs N] [--rss-limit-mb N]
       [--timeout N]
        Build the fuzz targets (crates/*/fuzz, stable toolchain, no cargo-fuzz needed)
        and run each for N seconds (default 60), N targets at a time (--jobs, default
        2), from its seeds (crates/*/fuzz/seeds/NAME) and the corpus kept in
        target/fuzz/corpus/NAME. --cpu-seconds N runs each until its process has used
        N seconds of CPU time instead (a campaign on a shared machine), then stops it
        with SIGINT. Each input may use --rss-limit-mb (default 512) and
        --timeout seconds (default 10). A crash, hang or memory blow-up fails the
        command and names the input saved in target/fuzz/artifacts/NAME/. Logs go to
        target/fuzz/logs/NAME.log. spm_encode needs the cached model's GGUF.
";

/// What `cargo xtask test` (and so CI) runs: every target briefly, so a target that
/// stops building or crashes at once fails CI.
pub(crate) const CI_ARGS: [&str; 2] = ["--seconds", "20"];

/// One fuzz target: the crate whose `fuzz/` holds it and the binary's name.
struct Target {
    krate: &'static str,
    name: &'static str,
    /// libFuzzer's `-max_len`: the largest input worth trying.
    max_len: usize,
}

/// Every target, in the order they run.
const TARGETS: &[Target] = &[
    Target {
        krate: "gguf-format",
        name: "gguf_parse",
        max_len: 1 << 16,
    },
    Target {
        krate: "spm-tokenizer",
        name: "spm_encode",
        max_len: 1024,
    },
    Target {
        krate: "spm-tokenizer",
        name: "spm_model_proto",
        max_len: 1 << 16,
    },
    Target {
        krate: "gemma-convert",
        name: "convert_release",
        max_len: 1 << 16,
    },
    Target {
        krate: "embed-server",
        name: "server_request",
        max_len: 1 << 14,
    },
    Target {
        krate: "embed-cli",
        name: "cli_input",
        max_len: 1 << 14,
    },
];

/// The coverage instrumentation cargo-fuzz adds (its `-s none` build), as stable flags.
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers";

/// The options of one run.
struct Options {
    seconds: u64,
    /// Stop each target at this much CPU time instead of after `seconds`.
    cpu_seconds: Option<u64>,
    only: Option<String>,
    jobs: usize,
    rss_limit_mb: u64,
    timeout: u64,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        seconds: 60,
        cpu_seconds: None,
        only: None,
        jobs: 2,
        rss_limit_mb: 512,
        timeout: 10,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("fuzz: {a} needs a value\n\n{USAGE}"))
        };
        let number = |v: &String| -> Result<u64> {
            v.parse()
                .with_context(|| format!("fuzz: {a} takes a number, not {v:?}"))
        };
        match a.as_str() {
            "--seconds" => o.seconds = number(value()?)?,
            "--cpu-seconds" => o.cpu_seconds = Some(number(value()?)?),
            "--target" => o.only = Some(value()?.clone()),
            "--jobs" => o.jobs = number(value()?)?.max(1) as usize,
            "--rss-limit-mb" => o.rss_limit_mb = number(value()?)?,
            "--timeout" => o.timeout = number(value()?)?,
            other => bail!("fuzz: unknown option {other}\n\n{USAGE}"),
        }
    }
    if let Some(name) = &o.only
        && !TARGETS.iter().any(|t| t.name == name)
    {
        let names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
        bail!(
            "fuzz: no target {name}; the targets are {}",
            names.join(", ")
        );
    }
    Ok(o)
}

/// Runs `cargo xtask fuzz ARGS`.
pub(crate) fn command(root: &Path, args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    let root = &root.canonicalize()?;
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| opts.only.as_deref().is_none_or(|n| n == t.name))
        .collect();
    let fuzz_dir = root.join("target/fuzz");
    let host = host_triple()?;
    let mut crates: Vec<&str> = targets.iter().map(|t| t.krate).collect();
    crates.dedup();
    for krate in crates {
        build(root, krate, &fuzz_dir, &host)?;
    }
    let bin_dir = fuzz_dir.join("target").join(&host).join("release");
    let tmp = scratch_dir(&fuzz_dir)?;
    let mut failures = Vec::new();
    for batch in targets.chunks(opts.jobs) {
        let mut running = Vec::new();
        for t in batch {
            match start(root, t, &bin_dir, &fuzz_dir, &tmp, &opts)? {
                Some(child) => running.push((*t, child)),
                None => continue,
            }
        }
        for (t, end) in wait_all(running, opts.cpu_seconds)? {
            if let Err(e) = report(t, end, &fuzz_dir, &bin_dir) {
                eprintln!("fuzz: {e:#}");
                failures.push(t.name);
            }
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    if !failures.is_empty() {
        bail!("fuzz: {} failed", failures.join(", "));
    }
    Ok(())
}

/// Where the targets that write files (the converter's release, the CLI's input file)
/// write them, once per input: in memory (`/dev/shm`) where the system has it, since on
/// a disk the converter waited on its writes for half its time and the CLI's target ran
/// eight times slower; else under `target/fuzz/tmp`. One directory per run of this
/// command, removed at its end.
fn scratch_dir(fuzz_dir: &Path) -> Result<PathBuf> {
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        fuzz_dir.join("tmp")
    };
    let dir = parent.join(format!("embeddinggemma-fuzz-{}", std::process::id()));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The host's target triple: targets are built for it explicitly so the coverage flags
/// reach the fuzzed code and not build scripts or proc macros.
fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV names no host")
}

/// Builds every target of `krate`'s fuzz crate into the shared target directory.
fn build(root: &Path, krate: &str, fuzz_dir: &Path, host: &str) -> Result<()> {
    let manifest = root.join("crates").join(krate).join("fuzz/Cargo.toml");
    eprintln!("fuzz: building {}", manifest.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bins", "--target", host])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", fuzz_dir.join("target"))
        .env("RUSTFLAGS", RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("building {} failed ({status})", manifest.display());
    }
    Ok(())
}

/// Starts target `t` in the background, or says why it is skipped (`None`).
fn start(
    root: &Path,
    t: &Target,
    bin_dir: &Path,
    fuzz_dir: &Path,
    tmp: &Path,
    opts: &Options,
) -> Result<Option<Child>> {
    let corpus = fuzz_dir.join("corpus").join(t.name);
    let artifacts = fuzz_dir.join("artifacts").join(t.name);
    let logs = fuzz_dir.join("logs");
    for d in [&corpus, &artifacts, &logs] {
        fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut cmd = Command::new(bin_dir.join(t.name));
    cmd.env("TMPDIR", tmp);
    if t.name == "spm_encode" {
        let model = model_paths::gguf("q8_0");
        if model_paths::require(model.clone(), "fuzz target spm_encode").is_none() {
            return Ok(None);
        }
        cmd.env("SPM_FUZZ_GGUF", model);
    }
    let seeds = root
        .join("crates")
        .join(t.krate)
        .join("fuzz/seeds")
        .join(t.name);
    let mut prefix = artifacts.into_os_string();
    prefix.push("/");
    // Under a CPU budget the run has no time limit: `wait_all` stops it.
    let max_total_time = if opts.cpu_seconds.is_some() {
        0
    } else {
        opts.seconds
    };
    cmd.arg(format!("-max_total_time={max_total_time}"))
        .arg(format!("-rss_limit_mb={}", opts.rss_limit_mb))
        .arg(format!("-timeout={}", opts.timeout))
        .arg(format!("-max_len={}", t.max_len))
        .arg("-print_final_stats=1")
        .arg({
            let mut a = std::ffi::OsString::from("-artifact_prefix=");
            a.push(prefix);
            a
        })
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    if t.name == "gguf_parse" {
        cmd.arg(gguf_heads(root, fuzz_dir)?);
    }
    let log = logs.join(format!("{}.log", t.name));
    let file =
        fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let budget = match opts.cpu_seconds {
        Some(cpu) => format!("{cpu} s of CPU time"),
        None => format!("{} s", opts.seconds),
    };
    eprintln!("fuzz: {} for {budget} (log: {})", t.name, log.display());
    let child = cmd
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .spawn()
        .with_context(|| format!("cannot run {}", t.name))?;
    Ok(Some(child))
}

/// More seeds for `gguf_parse`, in `target/fuzz/seeds-extra/gguf_parse`: the first 64 KB
/// (the fuzzer's largest input) of the cached Q8_0 model, when there is one, and of
/// `testdata/quant-vectors.gguf`: real headers, metadata and tensor tables.
fn gguf_heads(root: &Path, fuzz_dir: &Path) -> Result<PathBuf> {
    let dir = fuzz_dir.join("seeds-extra/gguf_parse");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let sources = [
        ("q8_0-head.gguf", model_paths::gguf("q8_0")),
        (
            "quant-vectors-head.gguf",
            root.join("testdata/quant-vectors.gguf"),
        ),
    ];
    for (name, src) in sources {
        let Ok(file) = fs::File::open(&src) else {
            continue;
        };
        let mut head = Vec::new();
        file.take(1 << 16)
            .read_to_end(&mut head)
            .with_context(|| format!("cannot read {}", src.display()))?;
        fs::write(dir.join(name), head)?;
    }
    Ok(dir)
}

/// libFuzzer's exit code after a SIGINT, its figures printed.
const INTERRUPTED: i32 = 72;

/// How a target's run ended: its status, and whether [`wait_all`] stopped it.
struct End {
    status: ExitStatus,
    stopped: bool,
}

/// Waits for every running target. With a CPU budget, each is sent SIGINT once its
/// process has used that much CPU time (polled every second).
fn wait_all(
    mut running: Vec<(&'static Target, Child)>,
    cpu_budget: Option<u64>,
) -> Result<Vec<(&'static Target, End)>> {
    let ticks = clock_ticks()?;
    let mut done = Vec::new();
    let mut interrupted = Vec::new();
    while !running.is_empty() {
        let mut still = Vec::new();
        for (t, mut child) in running {
            if let Some(status) = child.try_wait()? {
                let stopped = interrupted.contains(&child.id());
                done.push((t, End { status, stopped }));
                continue;
            }
            if let Some(budget) = cpu_budget
                && !interrupted.contains(&child.id())
                && cpu_seconds(child.id(), ticks).is_some_and(|s| s >= budget as f64)
            {
                Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status()
                    .context("cannot run kill")?;
                interrupted.push(child.id());
            }
            still.push((t, child));
        }
        running = still;
        if !running.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    Ok(done)
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s CPU times.
fn clock_ticks() -> Result<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("getconf CLK_TCK printed no number")
}

/// User plus system CPU seconds of process `pid` so far (`None` once it is gone).
fn cpu_seconds(pid: u32, ticks: f64) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is the first, utime
    // and stime the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// Reports how target `t` ended; a failure names the input libFuzzer saved.
fn report(t: &Target, end: End, fuzz_dir: &Path, bin_dir: &Path) -> Result<()> {
    let status = end.status;
    let log_path = fuzz_dir.join("logs").join(format!("{}.log", t.name));
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    let figures = log
        .lines()
        .rev()
        .find(|l| l.contains(" DONE ") || l.contains(" cov: "))
        .unwrap_or("no figures")
        .to_string();
    if status.success() || (end.stopped && status.code() == Some(INTERRUPTED)) {
        eprintln!("fuzz: {} ok: {figures}", t.name);
        return Ok(());
    }
    let artifact = log
        .lines()
        .find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim()))
        .map(PathBuf::from);
    match artifact {
        Some(a) => bail!(
            "{} failed ({status}): input saved to {}; reproduce with {} {}; log {}",
            t.name,
            a.display(),
            bin_dir.join(t.name).display(),
            a.display(),
            log_path.display()
        ),
        None => bail!("{} failed ({status}); see {}", t.name, log_path.display()),
    }
}
