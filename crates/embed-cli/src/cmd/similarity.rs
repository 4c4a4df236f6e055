//! `embed similarity`: the cosine similarity matrix of a few texts.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Args;
use gemma_encoder::{Pooling, cosine};

use crate::args::{EmbedArgs, ModelArg};
use crate::model::open;

/// Characters of each text shown above the matrix.
const SHOWN_CHARS: usize = 60;

/// The arguments of `embed similarity`.
#[derive(Args)]
pub struct SimilarityArgs {
    /// Texts to compare (at least two).
    #[arg(required = true, num_args = 2..)]
    texts: Vec<String>,
    #[command(flatten)]
    embed: EmbedArgs,
    #[command(flatten)]
    model: ModelArg,
}

pub fn run(a: &SimilarityArgs) -> Result<()> {
    let m = open(&a.model)?;
    let opts = a.embed.options()?;
    if opts.pooling == Pooling::None {
        bail!("similarity compares pooled vectors; --pooling none does not apply");
    }
    let out = m.embed(&a.texts, &opts)?;
    let vectors: Vec<&[f32]> = out.iter().map(|e| e.vector.as_slice()).collect();
    std::io::stdout()
        .lock()
        .write_all(matrix(&a.texts, &vectors).as_bytes())
        .context("cannot write to standard output")
}

/// The numbered texts, then the matrix of cosines with numbered rows and columns.
fn matrix(texts: &[String], vectors: &[&[f32]]) -> String {
    let width = texts.len().to_string().len();
    let mut s = String::new();
    for (i, t) in texts.iter().enumerate() {
        let short: String = t.chars().take(SHOWN_CHARS).collect();
        let _ = writeln!(s, "[{:>width$}] {short}", i + 1);
    }
    let _ = write!(s, "\n{:>w$}", "", w = width + 2);
    for j in 0..texts.len() {
        let _ = write!(s, " {:>7}", format!("[{}]", j + 1));
    }
    s.push('\n');
    for (i, a) in vectors.iter().enumerate() {
        let _ = write!(s, "{:>w$}", format!("[{}]", i + 1), w = width + 2);
        for b in vectors {
            let _ = write!(s, " {:>7.4}", cosine(a, b));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_is_numbered_and_aligned() {
        let texts = ["a".to_string(), "b".to_string()];
        let (x, y): (&[f32], &[f32]) = (&[1.0, 0.0], &[0.0, 1.0]);
        assert_eq!(
            matrix(&texts, &[x, y]),
            "[1] a\n[2] b\n\n        [1]     [2]\n[1]  1.0000  0.0000\n[2]  0.0000  1.0000\n"
        );
    }
}
