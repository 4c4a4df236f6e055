//! `cargo xtask bench`'s Python section: the package's `Embedder.embed` on docs256
//! against `embed encode`'s in-process rate (target: within 3%), and a Ray Data pipeline
//! (Parquet in, `embed_dataset` on one single-thread actor per CPU, Parquet out) against
//! the same CLI rate (target: within 20%), with Ray's own overhead measured by the same
//! pipeline around a no-op model.
//!
//! Each run starts fresh processes: the CLI, then a Python process for the package, then
//! one for Ray (its `ray.init` not timed), alternating; the report gives medians.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The measurement script, run by the venv's interpreter: `package` or `ray` mode, one
/// JSON line of seconds on stdout.
const SCRIPT: &str = r#"
import json, sys, tempfile, time

mode, model, docs, threads, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
texts = open(docs, encoding="utf-8").read().splitlines()

if mode == "package":
    from embeddinggemma_rs import Embedder

    embedder = Embedder(model, num_threads=threads)
    start = time.perf_counter()
    embedder.embed(texts)
    print(json.dumps({"secs": time.perf_counter() - start}))
    sys.exit(0)

import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
from embeddinggemma_rs.ray import embed_dataset


class NoOp:
    """The embedding actor's shape without the model: a zero vector column per batch."""

    def __call__(self, batch):
        zeros = pa.array([0.0] * (batch.num_rows * 768), pa.float32())
        return batch.append_column("embedding", pa.FixedSizeListArray.from_arrays(zeros, 768))


# One logical CPU more than the actors take, for the read and write tasks.
ray.init(num_cpus=threads + 1, include_dashboard=False, log_to_driver=False)
ray.data.DataContext.get_current().enable_progress_bars = False
tmp = tempfile.mkdtemp()
pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), f"{tmp}/in.parquet")


def pipeline(embed, out):
    start = time.perf_counter()
    # One small file is one block: split it so that every actor gets batches.
    ds = ray.data.read_parquet(f"{tmp}/in.parquet").repartition(-(-len(texts) // batch))
    if embed:
        ds = embed_dataset(
            ds, model, batch_size=batch, cpus_per_actor=1, min_actors=threads, max_actors=threads
        )
    else:
        ds = ds.map_batches(
            NoOp, batch_size=batch, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=threads), num_cpus=1,
        )
    ds.write_parquet(f"{tmp}/{out}")
    return time.perf_counter() - start


noop = pipeline(False, "noop")
secs = pipeline(True, "embed")
ray.shutdown()
print(json.dumps({"secs": secs, "noop_secs": noop}))
"#;

/// Rows per Ray batch: docs256 in eight, so the two actors end close together.
const RAY_BATCH: usize = 32;

/// The paths the Python bench needs.
pub(crate) struct PythonBench<'a> {
    /// An interpreter with the package's wheel and `requirements-scale.txt` installed.
    pub python: &'a Path,
    /// The release `embed` binary.
    pub embed: &'a Path,
    /// The Q8_0 GGUF.
    pub model: &'a Path,
    /// docs256 (`testdata/bench-prose.txt`): one text per line.
    pub docs: &'a Path,
}

/// Medians of `runs` alternating runs on `threads` threads, as a markdown section.
pub(crate) fn bench_python(b: &PythonBench<'_>, threads: usize, runs: usize) -> Result<String> {
    let script = std::env::temp_dir().join(format!("xtask-bench-python-{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT)?;
    let result = measure_all(b, &script, threads, runs.max(1));
    let _ = std::fs::remove_file(&script);
    Ok(result?.markdown(threads))
}

/// Seconds per run of each side.
#[derive(Default)]
struct Samples {
    texts: usize,
    tokens: usize,
    cli: Vec<f64>,
    package: Vec<f64>,
    ray: Vec<f64>,
    ray_noop: Vec<f64>,
    runs: usize,
}

fn measure_all(b: &PythonBench<'_>, script: &Path, threads: usize, runs: usize) -> Result<Samples> {
    let mut s = Samples {
        runs,
        ..Samples::default()
    };
    for run in 1..=runs {
        eprintln!("bench: python, run {run} of {runs} (CLI, package, Ray)");
        let (texts, tokens, secs) = cli_in_process(b, threads)?;
        (s.texts, s.tokens) = (texts, tokens);
        s.cli.push(secs);
        let p = python(b, script, "package", threads)?;
        s.package.push(field(&p, "secs")?);
        let r = python(b, script, "ray", threads)?;
        s.ray.push(field(&r, "secs")?);
        s.ray_noop.push(field(&r, "noop_secs")?);
    }
    Ok(s)
}

/// `embed encode --timings` on docs256: (texts, tokens, seconds embedding).
fn cli_in_process(b: &PythonBench<'_>, threads: usize) -> Result<(usize, usize, f64)> {
    let out = Command::new(b.embed)
        .args(["encode", "--format", "f32", "--timings", "--threads"])
        .arg(threads.to_string())
        .arg("--model")
        .arg(b.model)
        .arg("--input")
        .arg(b.docs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {}", b.embed.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("embed encode failed ({}):\n{stderr}", out.status);
    }
    timings(&stderr)
}

/// `embedded N texts, T tokens in S s (...)` from the CLI's `--timings`.
fn timings(stderr: &str) -> Result<(usize, usize, f64)> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("embedded "))
        .context("embed printed no timings")?;
    let w: Vec<&str> = line.split_whitespace().collect();
    match (
        w.get(1).and_then(|s| s.parse().ok()),
        w.get(3).and_then(|s| s.parse().ok()),
        w.get(6).and_then(|s| s.parse().ok()),
    ) {
        (Some(n), Some(t), Some(secs)) => Ok((n, t, secs)),
        _ => bail!("cannot read embed's timings: {line}"),
    }
}

/// One run of the script in `mode`: its JSON line.
fn python(
    b: &PythonBench<'_>,
    script: &Path,
    mode: &str,
    threads: usize,
) -> Result<serde_json::Value> {
    let out = Command::new(b.python)
        .arg(script)
        .arg(mode)
        .arg(b.model)
        .arg(b.docs)
        .arg(threads.to_string())
        .arg(RAY_BATCH.to_string())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {}", b.python.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        bail!("python bench ({mode}) failed ({}):\n{tail}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("python bench ({mode}) printed no result"))?;
    serde_json::from_str(line).with_context(|| format!("python bench ({mode}): {line}"))
}

fn field(v: &serde_json::Value, name: &str) -> Result<f64> {
    v.get(name)
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("python bench result has no {name}: {v}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split(':').nth(1)?.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

impl Samples {
    fn markdown(&self, threads: usize) -> String {
        let (cli, package) = (median(self.cli.clone()), median(self.package.clone()));
        let (ray, noop) = (median(self.ray.clone()), median(self.ray_noop.clone()));
        let rows = self.texts as f64;
        let tokens = self.tokens as f64;
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Machine: {} ({threads} threads). Model: the Q8_0 GGUF. docs256: {} texts, {} tokens. \
             Medians of {} runs, alternating CLI, package, Ray; each a fresh process. The CLI's \
             rate is its in-process one (`embed encode --timings`: model loading and output \
             excluded); the package's is one `Embedder.embed` call over the same texts.\n",
            cpu_name(),
            self.texts,
            self.tokens,
            self.runs
        );
        let _ = writeln!(s, "| workload | CLI | Python | ratio | target | met |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        let r = cli / package;
        let _ = writeln!(
            s,
            "| docs256 tokens/s: `Embedder.embed` ({threads} threads) vs `embed encode` | {:.0} | {:.0} | {r:.3}x | >= 0.97x | {} |",
            tokens / cli,
            tokens / package,
            yes(r >= 0.97)
        );
        let r = cli / ray;
        let _ = writeln!(
            s,
            "| docs256 rows/s: Ray Data pipeline ({threads} actors x 1 CPU, Parquet in and out) vs `embed encode` | {:.1} | {:.1} | {r:.3}x | >= 0.80x | {} |",
            rows / cli,
            rows / ray,
            yes(r >= 0.8)
        );
        let _ = writeln!(
            s,
            "\nRay's overhead: the pipeline took {ray:.1} s against the CLI's {cli:.1} s of embedding. \
             The same pipeline around a no-op model (read, repartition into batches of {RAY_BATCH}, \
             {threads} actors started, batches scheduled and their vectors moved, Parquet written) \
             takes {noop:.1} s; the other {:.1} s are the actors' own: opening the model in each, \
             {threads} single-thread processes instead of one {threads}-thread pool, and the tail \
             where one actor has finished and the other has not. `ray.init` ({threads} + 1 logical \
             CPUs: the extra one runs the read and write tasks) is not timed.",
            (ray - cli - noop).max(0.0)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_timings_line_parses() {
        let err = "opened m in 1.0 ms\nembedded 256 texts, 21875 tokens in 20.500 s (1067.1 tokens/s, 2 threads)\n";
        assert_eq!(timings(err).unwrap(), (256, 21875, 20.5));
        assert!(timings("opened m in 1.0 ms\n").is_err());
    }

    #[test]
    fn the_report_compares_medians() {
        let s = Samples {
            texts: 256,
            tokens: 21875,
            cli: vec![20.0, 21.0, 30.0],
            package: vec![20.2, 20.4, 20.6],
            ray: vec![24.0, 25.0, 26.0],
            ray_noop: vec![2.0, 3.0, 4.0],
            runs: 3,
        };
        let md = s.markdown(2);
        assert!(
            md.contains("| 1042 | 1072 | 1.029x | >= 0.97x | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| 12.2 | 10.2 | 0.840x | >= 0.80x | yes |"),
            "{md}"
        );
        assert!(md.contains("takes 3.0 s; the other 1.0 s"), "{md}");
    }
}
