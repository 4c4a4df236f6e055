//! `cargo xtask bench --peers`: ours against llama.cpp, sentence-transformers on torch
//! and ONNX Runtime (f32 and int8) on docs256 and a mixed-length corpus, in one run,
//! the programs taking turns; each peer's vectors against sentence-transformers'.
//!
//! The Python peers run in `xtask/peers/bench_peers.py` in a venv of their own
//! (`target/tmp/peers-venv`); llama.cpp is timed as a whole process at the one batch
//! setting that holds the corpus' longest text, ours in-process (`--timings`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench::{measure, median, our_timings};
use crate::model_paths;

/// Words per text of the mixed corpus' parts (about 1.17 tokens a word on docs256).
const QUERIES: usize = 64;
const PARAGRAPHS: usize = 64;
const PASSAGES: usize = 24;
const LONG: usize = 3;
/// Passages grow from this many words to [`PASSAGE_MAX_WORDS`] (about 512 tokens).
const PASSAGE_MIN_WORDS: usize = 120;
const PASSAGE_MAX_WORDS: usize = 430;
/// The long texts: about 1,900 tokens, near the model's 2048.
const LONG_WORDS: usize = 1600;

/// The mixed-length corpus made from docs256's paragraphs, one text a line: 64 short
/// queries (4 to 12 words), 64 paragraphs as they are, 24 passages of consecutive
/// paragraphs from 120 to 430 words (up to about 512 tokens), 3 texts of 1,600 words
/// (about 1,900 tokens).
pub(crate) fn mixed_corpus(prose: &str) -> String {
    let paras: Vec<Vec<&str>> = prose
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| !w.is_empty())
        .collect();
    let n = paras.len();
    let mut texts = Vec::new();
    for i in 0..QUERIES {
        let w = &paras[i % n];
        texts.push(w[..w.len().min(4 + i % 9)].join(" "));
    }
    for i in 0..PARAGRAPHS {
        texts.push(paras[(QUERIES + i) % n].join(" "));
    }
    let mut next = QUERIES + PARAGRAPHS;
    let mut run_of = |words: usize| {
        let mut out: Vec<&str> = Vec::new();
        while out.len() < words {
            out.extend(&paras[next % n]);
            next += 1;
        }
        out.truncate(words);
        out.join(" ")
    };
    for j in 0..PASSAGES {
        let span = PASSAGE_MAX_WORDS - PASSAGE_MIN_WORDS;
        texts.push(run_of(PASSAGE_MIN_WORDS + j * span / (PASSAGES - 1)));
    }
    for _ in 0..LONG {
        texts.push(run_of(LONG_WORDS));
    }
    texts.join("\n") + "\n"
}

/// One corpus' figures: seconds per run of each program, and cosines with st.
struct CorpusResult {
    name: &'static str,
    texts: usize,
    tokens: usize,
    /// The tokens sentence-transformers' tokenizer counts (ours, when they agree).
    st_tokens: usize,
    llama_setting: &'static str,
    ours: Vec<f64>,
    llama: Vec<f64>,
    /// (peer, seconds per run, mean and min cosine with sentence-transformers).
    peers: Vec<(String, Vec<f64>, f64, f64)>,
    ours_cos: (f64, f64),
    versions: String,
}

pub(crate) fn bench_peers(runs: usize, threads: usize, out: &Path) -> Result<()> {
    let crate::SideBySide { root, llama, embed } = crate::side_by_side()?;
    let python = crate::python::peers_python(&root)?;
    let model = model_paths::cache_dir().join("embeddinggemma-300m-q8_0.gguf");
    let release = model_paths::cache_dir().join("embeddinggemma-300m");
    let script = root.join("xtask/peers/bench_peers.py");
    let work = root.join("target/tmp/bench-peers");
    std::fs::create_dir_all(&work)?;
    let docs = root.join("testdata/bench-prose.txt");
    let mixed = work.join("mixed.txt");
    std::fs::write(&mixed, mixed_corpus(&std::fs::read_to_string(&docs)?))?;
    let corpora: [(&'static str, PathBuf, &'static str); 2] = [
        ("docs256", docs, "-c 256 -b 256 -ub 256"),
        ("mixed", mixed, "-c 2048 -b 2048 -ub 2048"),
    ];
    let t = threads.to_string();
    let m = model.display().to_string();
    let mut results = Vec::new();
    for (name, path, setting) in corpora {
        eprintln!("bench --peers: {name} ({runs} runs, the programs taking turns)");
        let p = path.display().to_string();
        let npy = work.join(format!("ours-{name}.npy"));
        let (mut ours, mut lw, mut py) = (vec![], vec![], vec![]);
        let mut tokens = 0;
        for _ in 0..runs {
            let a: Vec<String> = ["encode", "--model", &m, "--threads", &t, "--timings"]
                .into_iter()
                .chain(["--input", &p, "--format", "npy", "-o"])
                .map(String::from)
                .chain([npy.display().to_string()])
                .collect();
            let r = measure(&embed, &a)?;
            let (_, n, secs) = our_timings(&r.stderr)?;
            tokens = n;
            ours.push(secs);
            let mut a: Vec<String> = ["-m", &m, "-t", &t, "-fa", "off", "--no-escape", "-f", &p]
                .map(String::from)
                .to_vec();
            a.extend(setting.split(' ').map(String::from));
            lw.push(measure(&llama.tool("llama-embedding"), &a)?.wall);
            py.push(run_python(
                &python, &script, &release, &path, &npy, &work, threads,
            )?);
        }
        results.push(corpus_result(name, setting, tokens, ours, lw, &py)?);
    }
    let md = markdown(&results, &llama.version, threads, runs);
    print!("{md}");
    crate::write_generated(out, "bench-peers", &md)
}

/// One run of the Python peers; their JSON report.
fn run_python(
    python: &Path,
    script: &Path,
    release: &Path,
    corpus: &Path,
    ours: &Path,
    work: &Path,
    threads: usize,
) -> Result<Value> {
    let out = Command::new(python)
        .arg(script)
        .arg("--release")
        .arg(release)
        .arg("--corpus")
        .arg(corpus)
        .args(["--threads", &threads.to_string(), "--runs", "1"])
        .arg("--cache")
        .arg(work.join("onnx"))
        .arg("--ours")
        .arg(ours)
        .output()
        .context("cannot run the peers' Python")?;
    if !out.status.success() {
        bail!(
            "bench_peers.py failed ({}):\n{}",
            out.status,
            crate::bench::tail(&String::from_utf8_lossy(&out.stderr), 30)
        );
    }
    serde_json::from_slice(&out.stdout).context("bench_peers.py printed no JSON report")
}

fn corpus_result(
    name: &'static str,
    llama_setting: &'static str,
    tokens: usize,
    ours: Vec<f64>,
    llama: Vec<f64>,
    runs: &[Value],
) -> Result<CorpusResult> {
    let first = runs.first().context("no Python run")?;
    let f = |v: &Value, k: &str| v[k].as_f64().with_context(|| format!("no {k} in report"));
    let mut peers = Vec::new();
    let names = first["peers"].as_object().context("no peers in report")?;
    for (peer, v) in names {
        let secs: Vec<f64> = runs
            .iter()
            .map(|r| {
                r["peers"][peer]["seconds"][0]
                    .as_f64()
                    .context("no seconds")
            })
            .collect::<Result<_>>()?;
        let cos = &v["cos_st"];
        peers.push((peer.clone(), secs, f(cos, "mean")?, f(cos, "min")?));
    }
    let oc = &first["ours_cos_st"];
    let v = &first["versions"];
    Ok(CorpusResult {
        name,
        texts: first["texts"].as_u64().context("no texts")? as usize,
        tokens,
        st_tokens: first["tokens"].as_u64().context("no tokens")? as usize,
        llama_setting,
        ours,
        llama,
        peers,
        ours_cos: (f(oc, "mean")?, f(oc, "min")?),
        versions: format!(
            "torch {}, sentence-transformers {}, ONNX Runtime {}",
            v["torch"].as_str().unwrap_or("?"),
            v["sentence_transformers"].as_str().unwrap_or("?"),
            v["onnxruntime"].as_str().unwrap_or("?")
        ),
    })
}

/// The target against each peer (the table).
fn target(peer: &str) -> f64 {
    match peer {
        "onnx-int8" => 1.5,
        "onnx-f32" => 2.0,
        _ => 3.0,
    }
}

fn markdown(results: &[CorpusResult], llama_version: &str, threads: usize, runs: usize) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Measured by `cargo xtask bench --peers` on {} ({threads} threads, medians of \
         {runs} runs, the programs taking turns). Ours: `embed encode` on the Q8_0 GGUF, \
         in-process time (`--timings`); llama.cpp {llama_version} (`llama-embedding`, \
         Q8_0, whole process, at the smallest batch setting that holds the corpus' \
         longest text); the Python peers in-process with the model loaded: \
         sentence-transformers on torch (f32, `encode`), ONNX Runtime on \
         the pipeline exported with `torch.onnx.export(dynamo=True)`, f32 and after \
         `quantize_dynamic` to int8; the Python peers get the same length-sorted \
         batches (at most 32 texts and 16384 padded tokens, as TEI forms them). \
         Cosines are with sentence-transformers' vectors, text by text. {}.\n",
        crate::bench::cpu_name(),
        results.first().map_or("", |r| r.versions.as_str()),
    );
    for r in results.iter().filter(|r| r.st_tokens != r.tokens) {
        let _ = writeln!(
            md,
            "{}: sentence-transformers' tokenizer counts {} tokens, ours {}.\n",
            r.name, r.st_tokens, r.tokens
        );
    }
    md.push_str(
        "| corpus | program | seconds | tokens/s | ours is | target | met | cos with st: mean / min |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let ours = median(r.ours.clone());
        let tps = |s: f64| r.tokens as f64 / s;
        let _ = writeln!(
            md,
            "| {} ({} texts, {} tokens) | ours | {ours:.1} | {:.0} | | | | {:.6} / {:.6} |",
            r.name,
            r.texts,
            r.tokens,
            tps(ours),
            r.ours_cos.0,
            r.ours_cos.1
        );
        let mut row = |name: &str, s: f64, want: f64, cos: String| {
            let ratio = s / ours;
            let _ = writeln!(
                md,
                "| | {name} | {s:.1} | {:.0} | {ratio:.2}x | >= {want}x | {} | {cos} |",
                tps(s),
                if ratio >= want { "yes" } else { "no" }
            );
        };
        let llama = format!("llama.cpp `{}`", r.llama_setting);
        row(&llama, median(r.llama.clone()), 3.0, String::new());
        for (peer, secs, mean, min) in &r.peers {
            row(
                peer,
                median(secs.clone()),
                target(peer),
                format!("{mean:.6} / {min:.6}"),
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_corpus_spans_queries_to_long_texts() {
        let prose: String = (0..300)
            .map(|i| format!("{}\n", vec![format!("w{i}"); 80].join(" ")))
            .collect();
        let c = mixed_corpus(&prose);
        let words: Vec<usize> = c.lines().map(|l| l.split(' ').count()).collect();
        assert_eq!(words.len(), QUERIES + PARAGRAPHS + PASSAGES + LONG);
        assert_eq!(words[0], 4);
        assert_eq!(words[8], 12);
        assert_eq!(words[QUERIES], 80);
        let passages = &words[QUERIES + PARAGRAPHS..][..PASSAGES];
        assert_eq!(passages[0], PASSAGE_MIN_WORDS);
        assert_eq!(passages[PASSAGES - 1], PASSAGE_MAX_WORDS);
        assert!(words[words.len() - LONG..].iter().all(|&w| w == LONG_WORDS));
    }
}
