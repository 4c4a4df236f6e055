//! Texts to embed from a file or standard input: one text per line, or for a `.jsonl`
//! file one JSON object per line with `"text"` and optional `"id"` and `"title"`.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

/// One input: its text, and from JSONL an id and a title.
pub struct Item {
    pub text: String,
    /// The JSONL `"id"`, any JSON value, echoed in the output.
    pub id: Option<serde_json::Value>,
    /// The JSONL `"title"`: the text is embedded with the document prompt and this title.
    pub title: Option<String>,
}

impl Item {
    /// A text given on the command line.
    pub fn text(text: String) -> Item {
        Item {
            text,
            id: None,
            title: None,
        }
    }
}

/// Items from a file (`None`: standard input): JSONL objects when it ends in `.jsonl`,
/// else one text per line. Blank JSONL lines are skipped; no item at all is an error.
pub fn read_items(path: Option<&Path>) -> Result<Vec<Item>> {
    let (name, reader): (String, Box<dyn Read>) = match path {
        Some(p) => (
            p.display().to_string(),
            Box::new(File::open(p).with_context(|| format!("cannot read {}", p.display()))?),
        ),
        None => ("standard input".into(), Box::new(io::stdin())),
    };
    let jsonl = path.is_some_and(|p| p.extension().is_some_and(|e| e == "jsonl"));
    let mut items = Vec::new();
    let mut reader = io::BufReader::new(reader);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {name}"))?
            == 0
        {
            break;
        }
        n += 1;
        if line.ends_with(b"\n") {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
        }
        let text = String::from_utf8(line.clone()).map_err(|e| {
            anyhow!(
                "{name}, line {n}: not valid UTF-8 (byte {} of the line)",
                e.utf8_error().valid_up_to()
            )
        })?;
        if !jsonl {
            items.push(Item::text(text));
        } else if !text.trim().is_empty() {
            items.push(jsonl_item(&text, &name, n)?);
        }
    }
    if items.is_empty() {
        bail!("{name}: no texts to embed");
    }
    Ok(items)
}

/// The item of JSONL line `n` of `name`.
fn jsonl_item(line: &str, name: &str, n: usize) -> Result<Item> {
    let v: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("{name}, line {n}: not JSON"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| anyhow!("{name}, line {n}: not a JSON object"))?;
    let text = obj
        .get("text")
        .and_then(|t| t.as_str())
        .ok_or_else(|| anyhow!("{name}, line {n}: no \"text\" string"))?;
    Ok(Item {
        text: text.to_string(),
        id: obj.get("id").cloned(),
        title: obj.get("title").and_then(|t| t.as_str()).map(String::from),
    })
}
