//! `embed rank`: the documents of a file ordered by similarity to a query, with the
//! model's query and document prompts.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use gemma_encoder::{EmbedOptions, Prompt, cosine};

use crate::args::ModelArg;
use crate::input::read_items;
use crate::model::{embed_items, open};

/// Characters of each document printed.
const SHOWN_CHARS: usize = 100;

/// The arguments of `embed rank`.
#[derive(Args)]
pub struct RankArgs {
    /// The query.
    query: String,
    /// Documents, one per line (or JSONL with "text", "id", "title" for .jsonl).
    #[arg(short, long)]
    input: PathBuf,
    /// How many matches to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    model: ModelArg,
}

pub fn run(a: &RankArgs) -> Result<()> {
    let m = open(&a.model)?;
    let docs = read_items(Some(&a.input))?;
    let q = EmbedOptions::new().prompt(Prompt::Query);
    let d = EmbedOptions::new().prompt(Prompt::Document);
    let qv = m.embed(&[a.query.as_str()], &q)?.remove(0).vector;
    let dv = embed_items(&m, &docs, &d, false)?;
    let mut scored: Vec<(f64, usize)> = dv
        .iter()
        .enumerate()
        .map(|(i, e)| (cosine(&qv, &e.vector), i))
        .collect();
    // Best first; equal scores in file order.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (score, i) in scored.into_iter().take(a.top) {
        let doc = &docs[i];
        let label = doc
            .id
            .as_ref()
            .map_or_else(|| format!("line {}", i + 1), |id| id.to_string());
        let short: String = doc.text.chars().take(SHOWN_CHARS).collect();
        outln!("{score:.4}  {label}  {short}");
    }
    Ok(())
}
