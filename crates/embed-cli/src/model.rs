//! Opening the model (`--model`, else `$EMBED_MODEL`, else the cached Q8_0 file) and
//! embedding many texts with a progress bar and, with `--timings`, the times and peak
//! memory on stderr.

use std::fs;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use gemma_encoder::{EmbedOptions, Embedder, Embedding, Prompt};

use crate::args::ModelArg;
use crate::input::Item;

/// Texts per call to the encoder: keeps the progress bar moving (each call is still
/// packed into large batches).
const TEXTS_PER_CALL: usize = 256;

/// The model file: `--model`, else `$EMBED_MODEL`, else the Q8_0 GGUF in the cache.
pub fn model_path(arg: &ModelArg) -> Result<PathBuf> {
    if let Some(p) = &arg.model {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("EMBED_MODEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let cached = embeddinggemma_cache::gguf("q8_0");
    if cached.is_file() {
        return Ok(cached);
    }
    bail!(
        "no model: pass --model FILE.gguf, set EMBED_MODEL, or run `cargo xtask fetch-model` \
         to cache one (looked for {})",
        cached.display()
    )
}

/// Sets the thread count and opens the model, printing its warnings.
pub fn open(arg: &ModelArg) -> Result<Embedder> {
    if let Some(n) = arg.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("cannot set the thread count")?;
    }
    let path = model_path(arg)?;
    let started = Instant::now();
    let m = Embedder::open(&path).with_context(|| {
        format!(
            "cannot load {} (a gemma-embedding GGUF is needed; `cargo xtask fetch-model` makes one)",
            path.display()
        )
    })?;
    if arg.timings {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        eprintln!("opened {} in {ms:.1} ms", path.display());
    }
    for w in m.warnings() {
        eprintln!("embed: warning: {w}");
    }
    Ok(m)
}

/// Embeds items in order; texts with their own titles are embedded with the document
/// prompt (unless another is given) and that title.
pub fn embed_items(
    m: &Embedder,
    items: &[Item],
    opts: &EmbedOptions,
    timings: bool,
) -> Result<Vec<Embedding>> {
    let bar = (items.len() > 64 && io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(items.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} texts, {per_sec} ({eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut out: Vec<Embedding> = Vec::with_capacity(items.len());
    let started = Instant::now();
    for chunk in items.chunks(TEXTS_PER_CALL) {
        // Runs of items with the same title share one call.
        let mut i = 0;
        while i < chunk.len() {
            let title = &chunk[i].title;
            let j = i + chunk[i..]
                .iter()
                .take_while(|it| &it.title == title)
                .count();
            let mut o = opts.clone();
            if title.is_some() {
                o.title = title.clone();
                o.prompt.get_or_insert(Prompt::Document);
            }
            let texts: Vec<&str> = chunk[i..j].iter().map(|it| it.text.as_str()).collect();
            out.extend(m.embed(&texts, &o)?);
            i = j;
        }
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
            let tokens: usize = out.iter().map(|e| e.n_tokens).sum();
            b.set_message(format!(
                "{:.0} tokens/s",
                tokens as f64 / started.elapsed().as_secs_f64().max(1e-3)
            ));
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if timings {
        let secs = started.elapsed().as_secs_f64();
        let tokens: usize = out.iter().map(|e| e.n_tokens).sum();
        eprintln!(
            "embedded {} texts, {tokens} tokens in {secs:.3} s ({:.1} tokens/s, {} threads)",
            out.len(),
            tokens as f64 / secs.max(1e-9),
            rayon::current_num_threads()
        );
        if let Some(kib) = peak_rss_kib() {
            eprintln!("peak memory {:.1} MiB", kib as f64 / 1024.0);
        }
    }
    Ok(out)
}

/// The process's peak resident memory so far (`VmHWM`), where the OS reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
