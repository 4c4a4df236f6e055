//! `cargo xtask parity`: llama.cpp and ours on the same texts and GGUFs. Token ids must be
//! equal; embedding cosines are reported per text and per GGUF type; llama.cpp must load
//! our converted GGUFs and give the vectors it gives for its own (the reference vectors
//! in the corpus were made with llama.cpp's own files). Writes the generated part of
//! `docs/parity.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use gemma_convert::OutType;
use serde_json::Value;

use crate::{llama, model_paths};

/// Texts beyond the public corpus: what tokenizers and tools get wrong.
const GENERATED: &[(&str, &str)] = &[
    (
        "gen_mixed_scripts",
        "Привет, мир! 你好，世界。 مرحبا بالعالم. नमस्ते दुनिया। Γειά σου κόσμε. こんにちは世界",
    ),
    (
        "gen_emoji",
        "👩‍👩‍👧‍👦 a family, 🇯🇵 a flag, 🏳️‍🌈 a sequence, 1️⃣ a keycap, 🙂🙃 faces",
    ),
    ("gen_whitespace", "a  b   c\t\td\n\ne     f \u{3000} g\r\nh"),
    (
        "gen_special_text",
        "<start_of_turn>user\nWhat is <b>bold</b>?<end_of_turn>\n<start_of_turn>model\n<unused0>",
    ),
    (
        "gen_bos_eos_text",
        "<bos>already a bos <eos> and <pad> <mask>",
    ),
    (
        "gen_backslashes",
        r"C:\new\table \n is not a newline, \t not a tab, \\ two",
    ),
    ("gen_trailing_newline", "ends with a newline\n"),
    ("gen_padded", "   padded on both sides   "),
    (
        "gen_code",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{v:?}\");\n}",
    ),
    (
        "gen_numbers",
        "3.14159 2,718 1e-9 $100.00 50% #hash @user 0x1F 2026-11-28T22:11:08Z",
    ),
];

/// One text: id, text, and (for corpus texts) the reference vectors.
struct Text {
    id: String,
    text: String,
    st: Option<Vec<f32>>,
    llama_ref: [Option<Vec<f32>>; 2],
}

fn vector(v: &Value) -> Option<Vec<f32>> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect())
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

fn texts(root: &Path) -> Result<Vec<Text>> {
    let corpus: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(
        root.join("testdata/public-corpus.json"),
    )?)?;
    let mut out: Vec<Text> = corpus
        .iter()
        .map(|e| Text {
            id: e["id"].as_str().unwrap_or("?").to_string(),
            text: e["text"].as_str().unwrap_or("").to_string(),
            st: vector(&e["st"]),
            llama_ref: [vector(&e["llama_f32"]), vector(&e["llama_q8_0"])],
        })
        .collect();
    for (id, text) in GENERATED {
        out.push(Text {
            id: id.to_string(),
            text: text.to_string(),
            st: None,
            llama_ref: [None, None],
        });
    }
    // A long document just under the context: the first paragraphs of the bench text.
    let prose = std::fs::read_to_string(root.join("testdata/bench-prose.txt"))?;
    let long: Vec<&str> = prose.lines().take(20).collect();
    out.push(Text {
        id: "gen_long_document".into(),
        text: long.join("\n"),
        st: None,
        llama_ref: [None, None],
    });
    Ok(out)
}

/// Writes `text` so that llama.cpp's `-f` reads exactly it: the tools drop one trailing
/// newline, so a text ending in one gets one more.
fn write_for_llama(path: &Path, text: &str) -> Result<()> {
    let mut t = text.to_string();
    if t.ends_with('\n') {
        t.push('\n');
    }
    std::fs::write(path, t)?;
    Ok(())
}

fn run_stdout(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses the first JSON array of integers in `s` (`llama-tokenize --ids` prints one).
fn ids(s: &str) -> Result<Vec<u64>> {
    let a = s.find('[').context("no id list")?;
    let b = s[a..].find(']').context("no id list")? + a;
    Ok(serde_json::from_str(&s[a..=b])?)
}

/// The GGUFs compared: (label, file, index of the corpus reference made from
/// llama.cpp's own file of that type, if any).
fn ggufs(embed: &Path) -> Result<Vec<(String, PathBuf, Option<usize>)>> {
    let cache = model_paths::cache_dir();
    let hf = cache.join("embeddinggemma-300m");
    let mut v = vec![
        (
            "F32".to_string(),
            cache.join("embeddinggemma-300m-f32.gguf"),
            Some(0),
        ),
        (
            "Q8_0".to_string(),
            cache.join("embeddinggemma-300m-q8_0.gguf"),
            Some(1),
        ),
    ];
    for ty in ["f16", "bf16", "q4_0", "q4_k_m", "q5_k_m", "q6_k"] {
        v.push((ty.to_uppercase(), ours(embed, &hf, ty)?, None));
    }
    Ok(v)
}

/// Our converter's GGUF of type `ty` (cached under `<cache>/parity/`).
fn ours(embed: &Path, hf: &Path, ty: &str) -> Result<PathBuf> {
    let path = model_paths::cache_dir().join(format!("parity/embeddinggemma-300m-{ty}.gguf"));
    if !path.exists() {
        std::fs::create_dir_all(path.parent().context("cache dir")?)?;
        eprintln!("parity: converting {ty} with our converter");
        run_stdout(
            Command::new(embed)
                .arg("convert")
                .arg(hf)
                .arg("-o")
                .arg(&path)
                .args(["--type", ty]),
        )?;
    }
    Ok(path)
}

/// `llama-quantize`'s recipes, which our converter reproduces (by name: `q4_0` ...).
fn recipe_names() -> impl Iterator<Item = &'static str> {
    OutType::ALL
        .into_iter()
        .filter(|t| t.by_llama_quantize())
        .map(OutType::name)
}

/// For each recipe: `llama-quantize` on llama.cpp's F32 GGUF (ours is byte-identical
/// with it) and our converter on the release; (recipe, bytes, sha256 equal).
fn recipes(
    llama: &llama::Llama,
    embed: &Path,
    work: &Path,
    threads: &str,
) -> Result<Vec<(String, u64, bool)>> {
    let cache = model_paths::cache_dir();
    let f32_gguf = cache.join("embeddinggemma-300m-f32.gguf");
    let mut rows = Vec::new();
    for ty in recipe_names() {
        let theirs = work.join(format!("llama-quantize-{ty}.gguf"));
        eprintln!("parity: llama-quantize {ty}");
        run_stdout(
            Command::new(llama.tool("llama-quantize"))
                .arg(&f32_gguf)
                .arg(&theirs)
                .args([ty.to_uppercase().as_str(), threads]),
        )?;
        let ours = ours(embed, &cache.join("embeddinggemma-300m"), ty)?;
        let same = crate::sha256_file(&theirs)? == crate::sha256_file(&ours)?;
        rows.push((ty.to_string(), std::fs::metadata(&theirs)?.len(), same));
        std::fs::remove_file(&theirs)?;
    }
    Ok(rows)
}

/// Runs the parity suite and writes `out`; with `refresh_golden`, also rewrites the
/// llama.cpp fields of `testdata/public-corpus.json` (ids, `llama_f32`, `llama_q8_0`)
/// from this llama.cpp.
pub fn parity(out: &Path, threads: usize, refresh_golden: bool) -> Result<()> {
    let crate::SideBySide { root, llama, embed } = crate::side_by_side()?;
    let texts = texts(&root)?;
    let ggufs = ggufs(&embed)?;
    let work = std::env::temp_dir().join(format!("xtask-parity-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let t = threads.to_string();
    let q8 = &ggufs[1].1;
    let recipe_rows = recipes(&llama, &embed, &work, &t)?;

    // Token ids, on the Q8_0 file (the vocabulary is the same in every file).
    let mut id_rows = Vec::new();
    let mut id_mismatch = 0;
    let mut n_tokens = Vec::new();
    let mut llama_ids = Vec::new();
    for (i, x) in texts.iter().enumerate() {
        // llama-embedding reads -f through common's handler (one trailing newline
        // dropped); llama-tokenize reads its file verbatim.
        write_for_llama(&work.join(format!("t{i}.txt")), &x.text)?;
        let exact = work.join(format!("e{i}.txt"));
        std::fs::write(&exact, &x.text)?;
        let theirs = ids(&run_stdout(
            Command::new(llama.tool("llama-tokenize"))
                .arg("-m")
                .arg(q8)
                .arg("-f")
                .arg(&exact)
                .args(["--ids", "--no-escape"]),
        )?)?;
        let ours = ids(&run_stdout(
            Command::new(&embed)
                .args(["tokenize", "--model"])
                .arg(q8)
                .arg("--file")
                .arg(&exact),
        )?)?;
        if ours != theirs {
            id_mismatch += 1;
            id_rows.push(format!(
                "| {} | {} | {} | differ at {} |",
                x.id,
                theirs.len(),
                ours.len(),
                ours.iter()
                    .zip(&theirs)
                    .position(|(a, b)| a != b)
                    .unwrap_or(ours.len().min(theirs.len()))
            ));
        }
        n_tokens.push(theirs.len());
        llama_ids.push(theirs);
    }
    eprintln!(
        "parity: token ids equal on {}/{} texts",
        texts.len() - id_mismatch,
        texts.len()
    );

    // Embeddings per GGUF type.
    let jsonl = work.join("texts.jsonl");
    let mut lines = String::new();
    for (i, x) in texts.iter().enumerate() {
        lines += &serde_json::json!({"id": i, "text": x.text}).to_string();
        lines.push('\n');
    }
    std::fs::write(&jsonl, lines)?;
    let mut per_type = Vec::new();
    for (label, path, ref_idx) in &ggufs {
        eprintln!("parity: {label}: ours");
        let out = run_stdout(
            Command::new(&embed)
                .args(["encode", "--threads", &t, "--model"])
                .arg(path)
                .arg("--input")
                .arg(&jsonl),
        )?;
        let ours: Vec<Vec<f32>> = out
            .lines()
            .map(|l| -> Result<Vec<f32>> {
                let v: Value = serde_json::from_str(l)?;
                vector(&v["embedding"]).context("no embedding")
            })
            .collect::<Result<_>>()?;
        eprintln!("parity: {label}: llama.cpp, one text a run");
        let mut theirs = Vec::new();
        for (i, n) in n_tokens.iter().enumerate() {
            if *n > 2048 {
                theirs.push(None); // llama.cpp refuses inputs over its context
                continue;
            }
            let f = work.join(format!("t{i}.txt"));
            let o = run_stdout(
                Command::new(llama.tool("llama-embedding"))
                    .arg("-m")
                    .arg(path)
                    .arg("-f")
                    .arg(&f)
                    .args(["-t", &t, "-fa", "off", "--no-escape"])
                    .args([
                        "--embd-output-format",
                        "json",
                        "--embd-separator",
                        "<#no-split#>",
                    ]),
            )?;
            let v: Value = serde_json::from_str(&o[o.find('{').unwrap_or(0)..])
                .with_context(|| format!("llama-embedding json for {}", texts[i].id))?;
            theirs.push(vector(&v["data"][0]["embedding"]));
        }
        per_type.push((label.clone(), *ref_idx, ours, theirs));
    }
    let _ = std::fs::remove_dir_all(&work);
    if refresh_golden {
        refresh(
            &root.join("testdata/public-corpus.json"),
            &llama_ids,
            &per_type,
        )?;
    }

    let mut md = markdown(
        &llama.version,
        &texts,
        &n_tokens,
        id_mismatch,
        &id_rows,
        &per_type,
        threads,
    );
    let _ = writeln!(
        md,
        "\n**llama-quantize recipes**: `llama-quantize <F32 GGUF> OUT TYPE` against `embed convert \
         --type TYPE` on the release, whole files compared by sha256.\n\n| recipe | bytes | identical |\n|---|---|---|"
    );
    for (ty, bytes, same) in &recipe_rows {
        let _ = writeln!(
            md,
            "| {ty} | {bytes} | {} |",
            if *same { "yes" } else { "**no**" }
        );
    }
    print!("{md}");
    crate::write_generated(out, "parity", &md)?;
    if id_mismatch > 0 {
        bail!("token ids differ from llama.cpp's on {id_mismatch} texts");
    }
    if let Some((ty, ..)) = recipe_rows.iter().find(|r| !r.2) {
        bail!("our {ty} file differs from llama-quantize's");
    }
    Ok(())
}

/// Rewrites the llama.cpp fields of the corpus from this run: `ids` and `n_tokens` from
/// `llama-tokenize`, `llama_f32` and `llama_q8_0` from `llama-embedding` on the F32 and
/// Q8_0 files (byte-identical with llama.cpp's converter's), null above 2048 tokens.
fn refresh(path: &Path, ids: &[Vec<u64>], per_type: &[PerType]) -> Result<()> {
    let mut corpus: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let vectors = |label: &str, i: usize| -> Value {
        per_type
            .iter()
            .find(|p| p.0 == label)
            .and_then(|p| p.3[i].as_ref())
            .map_or(Value::Null, |v| {
                serde_json::json!(v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>())
            })
    };
    for (i, e) in corpus.iter_mut().enumerate() {
        let Some(obj) = e.as_object_mut() else {
            bail!("{}: entry {i} is not an object", path.display());
        };
        obj.insert("ids".into(), serde_json::json!(ids[i]));
        obj.insert("n_tokens".into(), serde_json::json!(ids[i].len()));
        obj.insert("llama_f32".into(), vectors("F32", i));
        obj.insert("llama_q8_0".into(), vectors("Q8_0", i));
    }
    std::fs::write(path, python_json(&corpus)?)?;
    eprintln!("parity: refreshed {}", path.display());
    Ok(())
}

/// JSON as Python's `json.dumps` writes it (`", "`, `": "`, `repr` floats), the
/// corpus's own format, so a refresh only changes what changed.
struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        w.write_all(crate::manifest_check::py_float(v).as_bytes())
    }
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.write_f64(w, f64::from(v))
    }
}

type PerType = (String, Option<usize>, Vec<Vec<f32>>, Vec<Option<Vec<f32>>>);

fn markdown(
    version: &str,
    texts: &[Text],
    n_tokens: &[usize],
    id_mismatch: usize,
    id_rows: &[String],
    per_type: &[PerType],
    threads: usize,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Generated by `cargo xtask parity` against llama.cpp {version} (built from the llama-cpp-python \
         {} source package, GGML_NATIVE=ON, AMX off; `llama-embedding -fa off`, one text a run, {threads} threads). \
         Texts: the {} of `testdata/public-corpus.json` plus {} generated ones.\n",
        llama::LLAMA_CPP_PYTHON,
        texts.iter().filter(|t| t.st.is_some()).count(),
        texts.iter().filter(|t| t.st.is_none()).count()
    );
    let _ = writeln!(
        s,
        "**Token ids** (`llama-tokenize --ids --no-escape` vs `embed tokenize`): equal on {}/{} texts.\n",
        texts.len() - id_mismatch,
        texts.len()
    );
    if !id_rows.is_empty() {
        let _ = writeln!(s, "| text | llama.cpp tokens | ours | |\n|---|---|---|---|");
        for r in id_rows {
            let _ = writeln!(s, "{r}");
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "**Per GGUF type** (our converter's files; ours with the default int16 activations). \
         `llama.cpp on ours vs its own` compares llama.cpp's vectors for our file with the corpus \
         reference llama.cpp made from its own converter's file (7 printed decimals).\n"
    );
    let _ = writeln!(
        s,
        "| GGUF | cos(ours, llama.cpp) min / mean | cos(ours, st) min / mean | cos(llama.cpp, st) min / mean | llama.cpp on ours vs its own, min |\n|---|---|---|---|---|"
    );
    let stats = |v: &[f64]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            format!("{min:.6} / {:.6}", v.iter().sum::<f64>() / v.len() as f64)
        }
    };
    for (label, ref_idx, ours, theirs) in per_type {
        let mut ol = vec![];
        let mut os = vec![];
        let mut ls = vec![];
        let mut own = vec![];
        for (i, x) in texts.iter().enumerate() {
            if let Some(l) = &theirs[i] {
                ol.push(cosine(&ours[i], l));
                if let Some(st) = &x.st {
                    ls.push(cosine(l, st));
                }
                if let Some(r) = ref_idx.and_then(|k| x.llama_ref[k].as_ref()) {
                    own.push(cosine(l, r));
                }
            }
            if let Some(st) = &x.st {
                os.push(cosine(&ours[i], st));
            }
        }
        let own_s = if own.is_empty() {
            "—".to_string()
        } else {
            format!("{:.7}", own.iter().copied().fold(f64::INFINITY, f64::min))
        };
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {} | {own_s} |",
            stats(&ol),
            stats(&os),
            stats(&ls)
        );
    }
    let _ = writeln!(s, "\n**Per text**, cos(ours, llama.cpp) per GGUF type:\n");
    let _ = write!(s, "| text | tokens |");
    for (label, ..) in per_type {
        let _ = write!(s, " {label} |");
    }
    let _ = write!(s, "\n|---|---|");
    for _ in per_type {
        let _ = write!(s, "---|");
    }
    s.push('\n');
    for (i, x) in texts.iter().enumerate() {
        let _ = write!(s, "| {} | {} |", x.id, n_tokens[i]);
        for (_, _, ours, theirs) in per_type {
            match &theirs[i] {
                Some(l) => {
                    let _ = write!(s, " {:.6} |", cosine(&ours[i], l));
                }
                None => {
                    let _ = write!(s, " — |");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// `value` as Python's `json.dumps` writes it.
fn python_json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    let mut text = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut text, PyFormatter);
    value.serialize(&mut ser)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn corpus_round_trips_byte_for_byte() {
        // A refresh that changes nothing rewrites the corpus as it is.
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/public-corpus.json");
        let text = std::fs::read(&path).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let again = super::python_json(&v).unwrap();
        let at = text.iter().zip(&again).position(|(a, b)| a != b);
        assert!(
            text == again,
            "differs at byte {at:?} (lengths {} and {})",
            text.len(),
            again.len()
        );
    }
}
