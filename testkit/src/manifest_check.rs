//! Compares a parsed GGUF with a llama.cpp manifest (`testdata/manifest-*.json`): every
//! metadata key, type and value (arrays by length and the sha256 of their compact JSON,
//! as Python's `json.dumps(v, separators=(",", ":"))` writes it), and every tensor's
//! name, type, dims, offset, size and sha256, in order.

use gguf_format::{Array, Gguf, Value};
use sha2::{Digest, Sha256};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Python's `repr(float)`: shortest round-trip digits, scientific below 1e-4 and from 1e16.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{x:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let mut digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() == 17 {
        // Two 17-digit strings can be equally near: Python takes the even one, Rust
        // rounds the tie up. Redo the rounding from the exact expansion.
        let exact = format!("{:.60e}", x.abs());
        let all: String = exact
            .split('e')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        let (head, tail) = all.split_at(17.min(all.len()));
        let tie = tail.starts_with('5') && tail[1..].bytes().all(|b| b == b'0');
        if tie && head.len() == 17 && (head.as_bytes()[16] - b'0').is_multiple_of(2) {
            digits = head.to_string();
        }
    }
    let sign = if neg { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

fn py_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ascii && !c.is_ascii()) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The compact JSON of an array, with or without `ensure_ascii`.
pub fn py_json(a: &Array<'_>, ascii: bool) -> String {
    let mut s = String::from("[");
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match v {
            Value::String(t) => py_str(t, ascii, &mut s),
            Value::F32(x) => s.push_str(&py_float(f64::from(x))),
            Value::F64(x) => s.push_str(&py_float(x)),
            Value::Bool(b) => s.push_str(if b { "true" } else { "false" }),
            Value::Array(inner) => s.push_str(&py_json(&inner, ascii)),
            other => s.push_str(
                &other
                    .as_i64()
                    .map_or_else(|| format!("{other:?}"), |i| i.to_string()),
            ),
        }
    }
    s.push(']');
    s
}

fn type_name(v: &Value<'_>) -> String {
    match v {
        Value::Array(a) => format!("array[{}]", a.elem_type().name()),
        v => v.value_type().name().to_string(),
    }
}

/// Every difference between `g` and `manifest`, as readable lines; empty when equal.
pub fn differences(g: &Gguf<'_>, manifest: &serde_json::Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let Some(keys) = manifest["metadata"].as_object() else {
        return vec!["manifest has no metadata".into()];
    };
    let ours: Vec<&str> = g.metadata().iter().map(|(k, _)| *k).collect();
    let theirs: Vec<&str> = keys.keys().map(String::as_str).collect();
    if ours != theirs {
        diffs.push(format!(
            "metadata keys differ:\n  ours   {ours:?}\n  theirs {theirs:?}"
        ));
    }
    for (k, want) in keys {
        let Some(v) = g.get(k) else { continue };
        let ty = type_name(&v);
        if want["type"] != ty.as_str() {
            diffs.push(format!("{k}: type {ty}, manifest {}", want["type"]));
            continue;
        }
        let same = match v {
            Value::Array(a) => {
                let sha = |ascii| hex(&Sha256::digest(py_json(&a, ascii).as_bytes()));
                want["len"] == a.len()
                    && (want["sha256_json"] == sha(true) || want["sha256_json"] == sha(false))
            }
            Value::String(s) => want["value"] == s,
            Value::Bool(b) => want["value"] == b,
            Value::F32(x) => want["value"].as_f64() == Some(f64::from(x)),
            Value::F64(x) => want["value"].as_f64() == Some(x),
            v => want["value"].as_i64() == v.as_i64(),
        };
        if !same {
            let shown = match v {
                Value::Array(a) => format!("array of {} {}", a.len(), a.elem_type()),
                v => format!("{v:?}"),
            };
            diffs.push(format!("{k}: ours {shown}, manifest {want}"));
        }
    }
    let tensors = manifest["tensors"].as_array().cloned().unwrap_or_default();
    if tensors.len() != g.tensors().len() {
        diffs.push(format!(
            "{} tensors, manifest {}",
            g.tensors().len(),
            tensors.len()
        ));
    }
    for (t, want) in g.tensors().iter().zip(&tensors) {
        let sha = hex(&Sha256::digest(t.data()));
        let ours = serde_json::json!({
            "name": t.name(),
            "type": t.ggml_type().name().to_uppercase(),
            "dims": t.dims(),
            "n_bytes": t.n_bytes(),
            "offset": t.file_offset(),
            "sha256": sha,
        });
        if &ours != want {
            diffs.push(format!("tensor: ours {ours}\n      manifest {want}"));
        }
    }
    diffs
}
