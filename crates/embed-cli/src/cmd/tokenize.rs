//! `embed tokenize`: the token ids of a text (or `[id, piece]` pairs) as JSON.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use spm_tokenizer::EncodeOptions;

use crate::args::ModelArg;
use crate::model::open;

/// The arguments of `embed tokenize`.
// The field docs are clap's help, printed as written: `<bos>` there is text, not HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Args)]
pub struct TokenizeArgs {
    /// The text (exact bytes; no escapes are processed).
    text: Option<String>,
    /// Read the text from this file (its exact bytes) instead.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Print [id, piece] pairs.
    #[arg(long)]
    pieces: bool,
    /// Treat special-token text (<bos>, <eos>...) as plain text.
    #[arg(long)]
    no_special: bool,
    #[command(flatten)]
    model: ModelArg,
}

pub fn run(a: TokenizeArgs) -> Result<()> {
    let bytes = match (a.text, &a.file) {
        (Some(t), None) => t.into_bytes(),
        (None, Some(f)) => fs::read(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b)?;
            b
        }
        (Some(_), Some(_)) => bail!("give the text or --file, not both"),
    };
    let m = open(&a.model)?;
    let tok = m.tokenizer();
    // BOS and EOS added as the vocabulary says; special-token text parsed unless told.
    let opts = EncodeOptions::default().with_parse_special(!a.no_special);
    let ids = tok.encode_bytes(&bytes, opts)?;
    let json = if a.pieces {
        let pairs: Vec<(u32, &str)> = ids
            .iter()
            .map(|&i| (i, tok.piece(i).unwrap_or("")))
            .collect();
        serde_json::to_string(&pairs)?
    } else {
        serde_json::to_string(&ids)?
    };
    outln!("{json}");
    Ok(())
}
