//! Project automation, run as `cargo xtask <command>` (the alias is in `.cargo/config.toml`).
//!
//! - `fetch-model`: fill the model cache (the `embeddinggemma-cache` crate says where it is).
//! - `test`: fetch the model when needed, then run the whole test suite with it, and
//!   ggml-quant's tests for aarch64 under qemu.
//! - `test-aarch64`: just the aarch64 part.
//! - `demo`: the main job, end to end.
//! - `check-arrows`: the one-way dependency rule.

mod aarch64;
mod apt;
mod arrows;
mod bench;
mod bench_criterion;
mod bench_peers;
mod bench_python;
mod bench_server;
mod download;
mod fetch;
mod fuzz;
mod llama;
mod package;
mod parity;
mod progress;
mod pypi;
mod python;
mod soak;
#[cfg(test)]
mod tidy;

// The cache rule (embeddinggemma-cache, through testkit) and the manifest comparison are
// the tests' own, so xtask and the tests agree on both.
pub(crate) use testkit::{manifest_check, model_paths};

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  fetch-model [--verify] [--no-hub]
        Fill the model cache and print where it is. The cache is $EMBEDDINGGEMMA_CACHE,
        else $XDG_CACHE_HOME/embeddinggemma-rs, else ~/.cache/embeddinggemma-rs.
        --verify   re-hash every cached file instead of trusting the stamp
        --no-hub   do not try the Hugging Face hub first
  demo
        The main job: fetch the model when needed, embed a few example texts and
        print their cosine similarity matrix.
  bench [--runs N] [--threads N] [--quick] [--kernels] [--peers] [--server] [--python]
        Ours against llama.cpp (built from the llama-cpp-python source package when not
        cached) on the Q8_0 model: a short text (wall, peak RSS), docs256 (tokens/s at
        llama.cpp's best batch setting), one 2048-token text, 1 vs N threads, and the
        layers' multiply-adds per second on docs256 against the CPU's int16 peak
        (embed-benches' `peak` binary). Medians
        of N runs (default 5), alternating; writes docs/performance.md. --quick skips
        the search over llama.cpp's batch settings (uses -c 256 -b 256 -ub 256).
        Then the kernel benches' headline (ggml-quant's matmul bench at 768x768, 128
        tokens, every path) in its own section; --kernels runs only that.
        Then the peers: ours, llama.cpp, sentence-transformers on torch and ONNX
        Runtime (f32, int8) on docs256 and a mixed-length corpus, with each one's
        cosines to sentence-transformers, in a venv the xtask makes (at most 3
        runs); --peers runs only that.
        Then `embed serve` against llama-server (throughput with 16 clients, idle and
        under-load query latency, peak RSS; at most 3 runs) into docs/server.md;
        --server runs only that. Then the Python package's docs256 rate against the
        CLI's and the Ray pipeline's into docs/scale-out.md; --python runs only that.
  parity [--threads N] [--refresh-golden]
        llama.cpp and ours on the corpus plus generated texts, for F32, Q8_0 and our
        converter's F16, BF16, Q4_0, Q4_K_M, Q5_K_M, Q6_K: token ids must be equal;
        cosines per text and type; every llama-quantize recipe (q4_0 ... q6_k) must give
        the file our converter gives. Writes docs/parity.md. --refresh-golden rewrites
        the llama.cpp fields of testdata/public-corpus.json (ids, llama_f32,
        llama_q8_0) from this llama.cpp.
  build-llama
        Build (or find cached) llama.cpp's tools and print where they are.
  check-arrows
        Check that workspace dependencies point one way (also a test of xtask).
  test [ARGS...]
        Fetch the model when it is not cached, check formatting and clippy, run
        `cargo test --workspace ARGS...` with the model present, then package and
        test-aarch64 (what CI runs).
  package
        Package every published crate (cargo package), unpack each .crate outside the
        workspace and build its tests there against the other unpacked packages, then
        cargo doc --workspace --no-deps with warnings denied (part of test).
  test-aarch64
        ggml-quant's tests cross-built for aarch64 with Debian's Rust packages and run
        under qemu (NEON and NEON dot-product kernels against the scalar ones); installs
        the packages with apt when missing and running as root.
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fetch-model") => {
            let opts = fetch::Options {
                verify: args.iter().any(|a| a == "--verify"),
                hub: !args.iter().any(|a| a == "--no-hub"),
            };
            if let Some(bad) = args[1..]
                .iter()
                .find(|a| !matches!(a.as_str(), "--verify" | "--no-hub"))
            {
                bail!("fetch-model: unknown option {bad}\n\n{USAGE}");
            }
            fetch::fetch_model(&opts)?;
            println!("{}", model_paths::cache_dir().display());
            Ok(())
        }
        Some("test") => test(&args[1..]),
        Some("python-test") => python::command(&root(), &args[1..]),
        Some("fuzz") => fuzz::command(&root(), &args[1..]),
        Some("soak") => soak::command(&root(), &args[1..]),
        Some("test-aarch64") => aarch64::test_aarch64(&root()),
        Some("package") => package::package(&root()),
        Some("bench") => {
            let mut opts = bench::Options {
                runs: 5,
                threads: 2,
                out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/performance.md"),
                quick: false,
                kernels_only: false,
                server_only: false,
                python_only: false,
                peers_only: false,
            };
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                let mut num = || -> Result<usize> {
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .with_context(|| format!("{a} needs a number"))
                };
                match a.as_str() {
                    "--runs" => opts.runs = num()?,
                    "--threads" => opts.threads = num()?,
                    "--quick" => opts.quick = true,
                    "--kernels" => opts.kernels_only = true,
                    "--server" => opts.server_only = true,
                    "--python" => opts.python_only = true,
                    "--peers" => opts.peers_only = true,
                    other => bail!("bench: unknown option {other}\n\n{USAGE}"),
                }
            }
            bench::bench(&opts)
        }
        Some("parity") => {
            let (mut threads, mut refresh) = (2, false);
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--threads" => {
                        threads = it
                            .next()
                            .and_then(|v| v.parse().ok())
                            .context("--threads needs a number")?
                    }
                    "--refresh-golden" => refresh = true,
                    other => bail!("parity: unknown option {other}\n\n{USAGE}"),
                }
            }
            parity::parity(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/parity.md"),
                threads,
                refresh,
            )
        }
        Some("build-llama") => {
            let l = llama::ensure()?;
            println!("{} ({})", l.tool("").display(), l.version);
            Ok(())
        }
        Some("demo") => demo(),
        Some("check-arrows") => {
            let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .output()?;
            let bad = arrows::violations(&serde_json::from_slice(&out.stdout)?)?;
            if !bad.is_empty() {
                bail!("dependency arrows that break docs/ARCHITECTURE.md: {bad:?}");
            }
            println!("dependency arrows: ok");
            Ok(())
        }
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}{}{}{}", python::USAGE, fuzz::USAGE, soak::USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

/// `cargo xtask test`: the README's test command and exactly what `.ci/run` runs.
/// Formatting and lints first (cheap, and a failure there is a failure of the change),
/// then the whole suite with the model present.
fn test(extra: &[String]) -> Result<()> {
    fetch::fetch_model(&fetch::Options {
        verify: false,
        hub: true,
    })?;
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(&["test", "--workspace"], extra)?;
    python::command(&root(), &[])?;
    fuzz::command(&root(), &fuzz::CI_ARGS.map(String::from))?;
    package::package(&root())?;
    aarch64::test_aarch64(&root())
}

/// The repository root.
fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The main job: embed a few texts and print their similarity matrix.
fn demo() -> Result<()> {
    fetch::fetch_model(&fetch::Options {
        verify: false,
        hub: true,
    })?;
    cargo(
        &[
            "run",
            "--release",
            "--quiet",
            "--package",
            "embed-cli",
            "--",
            "similarity",
        ],
        &DEMO_TEXTS.map(String::from),
    )
}

const DEMO_TEXTS: [&str; 4] = [
    "The cat sat on the mat.",
    "A kitten is resting on a rug.",
    "Stock markets fell sharply on Monday.",
    "Equities dropped at the start of the week.",
];

fn cargo(args: &[&str], extra: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .args(extra)
        .env(model_paths::CACHE_ENV, model_paths::cache_dir())
        .status()
        .with_context(|| format!("cannot run cargo {}", args[0]))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// What `bench` and `parity` run: the repository root, llama.cpp, and our release `embed`.
pub(crate) struct SideBySide {
    root: std::path::PathBuf,
    llama: llama::Llama,
    embed: std::path::PathBuf,
}

/// Fetches the model, builds llama.cpp when not cached and our `embed` in release.
pub(crate) fn side_by_side() -> Result<SideBySide> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    fetch::fetch_model(&fetch::Options {
        verify: false,
        hub: true,
    })?;
    let llama = llama::ensure()?;
    cargo(
        &["build", "--release", "--quiet", "--package", "embed-cli"],
        &[],
    )?;
    let embed = root.join("target/release/embed");
    Ok(SideBySide { root, llama, embed })
}

/// Puts `md` between the markers `<!-- cargo xtask {tool}: begin/end -->` of the doc at
/// `path` (appending them when missing); the rest of the doc is prose kept as it is.
pub(crate) fn write_generated(path: &Path, tool: &str, md: &str) -> Result<()> {
    let (begin, end) = (
        format!("<!-- cargo xtask {tool}: begin -->"),
        format!("<!-- cargo xtask {tool}: end -->"),
    );
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{begin}\n{md}{}", &old[..a], &old[b..]),
        _ => format!("{old}\n{begin}\n{md}{end}\n"),
    };
    std::fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("{tool}: wrote {}", path.display());
    Ok(())
}

/// The lowercase hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
