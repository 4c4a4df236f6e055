//! embed-cli integration tests: the converter against llama.cpp's manifests on the real
//! model (needs `cargo xtask fetch-model`; under CI=true its absence is a failure).

use std::path::{Path, PathBuf};

use embed_cli::convert::{ErrorKind, OutType, convert};
use gemma_encoder::gguf_format::{self, MappedGguf};

#[path = "../../../testdata/manifest_check.rs"]
mod manifest_check;
#[path = "../../../testdata/model_paths.rs"]
mod model_paths;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("embed-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn converter_matches_llama_cpp_manifests() {
    let Some(release) = model_paths::require(
        model_paths::release_dir(),
        "converter_matches_llama_cpp_manifests",
    ) else {
        return;
    };
    let dir = scratch("manifests");
    // F32 ... Q8_0 as llama.cpp's converter makes them; Q4_0 and Q4_K_M as llama-quantize
    // makes them from its F32 file (per-tensor types, Q6_K token_embd, the K-quants).
    for ty in [
        OutType::F32,
        OutType::F16,
        OutType::BF16,
        OutType::Q8_0,
        OutType::Q4_0,
        OutType::Q4_K_M,
    ] {
        let out = dir.join(format!("embeddinggemma-300m-{ty}.gguf"));
        convert(&release, &out, ty, &mut |_| {}).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(testdata(&format!("manifest-embeddinggemma-300m-{ty}.json")))
                .unwrap(),
        )
        .unwrap();
        let file = MappedGguf::open(&out).unwrap();
        let g = file.parse().unwrap();
        let diffs = manifest_check::differences(&g, &manifest);
        assert!(
            diffs.is_empty(),
            "{ty}: {} differences:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
        drop(g);
        drop(file);
        std::fs::remove_file(&out).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn python_float_repr() {
    use manifest_check::py_float;
    assert_eq!(py_float(-1000.0), "-1000.0");
    assert_eq!(py_float(0.949999988079071), "0.949999988079071");
    assert_eq!(py_float(1e-5), "1e-05");
    assert_eq!(py_float(-2.5e-7), "-2.5e-07");
    assert_eq!(py_float(1e16), "1e+16");
    assert_eq!(py_float(123456789012345.0), "123456789012345.0");
    assert_eq!(py_float(0.0001), "0.0001");
    assert_eq!(py_float(-0.0), "-0.0");
}

#[test]
fn missing_release_is_a_clear_error_and_leaves_nothing() {
    let dir = scratch("missing");
    let out = dir.join("out.gguf");
    let e = convert(&dir.join("nope"), &out, OutType::Q8_0, &mut |_| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.to_string().contains("nope/config.json"), "{e}");
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing written"
    );
}

// ---- the `embed` binary ----

use std::process::{Command, Output};

fn embed(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_embed"));
    cmd.args(args)
        .env_remove("EMBED_MODEL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn q8() -> Option<String> {
    model_paths::require(model_paths::gguf("q8_0"), "embed CLI tests")
        .map(|p| p.display().to_string())
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in [
        "encode",
        "similarity",
        "rank",
        "tokenize",
        "inspect",
        "convert",
    ] {
        let o = embed(&[sub, "--help"], None);
        assert!(o.status.success(), "{sub}");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("Example"),
            "{sub} --help has no example:\n{text}"
        );
    }
}

#[test]
fn tokenize_prints_llama_cpp_ids() {
    let Some(m) = q8() else { return };
    let o = embed(&["tokenize", "-m", &m, "Hello world"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[2,9259,1902,1]");
    let o = embed(
        &["tokenize", "-m", &m, "--pieces", "--no-special", "<eos>"],
        None,
    );
    let v: Vec<(u32, String)> = serde_json::from_slice(&o.stdout).unwrap();
    // "<eos>" spelled out is plain text: only the added BOS and EOS are special.
    let ids: Vec<u32> = v.iter().map(|p| p.0).collect();
    assert_eq!((ids[0], *ids.last().unwrap()), (2, 1));
    assert!(
        ids.len() > 3 && !ids[1..ids.len() - 1].contains(&1),
        "{ids:?}"
    );
    assert_eq!(v[0].1, "<bos>");
}

#[test]
fn one_short_text_peaks_below_300_mib() {
    let Some(m) = q8() else { return };
    let o = embed(&["encode", "--timings", "-m", &m, "Hello world"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let Some(mib) = err
        .lines()
        .find_map(|l| l.strip_prefix("peak memory "))
        .and_then(|l| l.trim_end_matches(" MiB").parse::<f64>().ok())
    else {
        panic!("no peak memory line in:\n{err}");
    };
    // llama.cpp peaks at about 631 MiB on the same file (testdata/README.md).
    assert!(mib > 10.0 && mib < 300.0, "peak {mib} MiB");
}

#[test]
fn encode_writes_one_object_per_text_in_order() {
    let Some(m) = q8() else { return };
    let o = embed(&["encode", "-m", &m, "first text", "second"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["embedding"].as_array().unwrap().len(), 768);
    assert_eq!(lines[1]["n_tokens"], 3);
    assert_eq!(lines[0]["truncated"], 0);

    // From stdin, one text per line, with a Matryoshka dimension.
    let o = embed(&["encode", "-m", &m, "--dim", "128"], Some(b"a\nb\nc\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["embedding"].as_array().unwrap().len(), 128);
}

#[test]
fn encode_jsonl_file_to_npy_and_jsonl_outputs() {
    let Some(m) = q8() else { return };
    let dir = scratch("encode-files");
    let input = dir.join("docs.jsonl");
    std::fs::write(&input, "{\"id\": 7, \"text\": \"alpha\"}\n\n{\"id\": \"b\", \"text\": \"beta\", \"title\": \"T\"}\n").unwrap();
    let out = dir.join("v.npy");
    let o = embed(
        &[
            "encode",
            "-m",
            &m,
            "--input",
            input.to_str().unwrap(),
            "--format",
            "npy",
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let npy = std::fs::read(&out).unwrap();
    assert!(npy.starts_with(b"\x93NUMPY\x01\x00"));
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    assert!(String::from_utf8_lossy(&npy[10..10 + header_len]).contains("'shape': (2, 768)"));
    assert_eq!(npy.len(), 10 + header_len + 2 * 768 * 4);
    let out = dir.join("v.jsonl");
    let o = embed(
        &[
            "encode",
            "-m",
            &m,
            "--input",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        (rows[0]["id"].clone(), rows[1]["id"].clone()),
        (serde_json::json!(7), serde_json::json!("b"))
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn bad_input_is_a_clear_error_with_no_output_file() {
    let dir = scratch("bad-input");
    let out = dir.join("out.jsonl");
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "bad.txt",
            b"fine\nbad \xff byte\n",
            "line 2: not valid UTF-8",
        ),
        (
            "bad.jsonl",
            b"{\"text\": \"ok\"}\n[1, 2]\n",
            "line 2: not a JSON object",
        ),
        (
            "notext.jsonl",
            b"{\"id\": 1}\n",
            "line 1: no \"text\" string",
        ),
        ("empty.txt", b"", "no texts to embed"),
    ];
    for (name, content, want) in cases {
        let input = dir.join(name);
        std::fs::write(&input, content).unwrap();
        let o = embed(
            &[
                "encode",
                "-m",
                "unused.gguf",
                "--input",
                input.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert!(stderr(&o).contains(want), "{name}: {}", stderr(&o));
        assert!(!out.exists(), "{name}: output written");
    }
    let o = embed(
        &[
            "encode",
            "--input",
            "/nonexistent/texts.txt",
            "-m",
            "x.gguf",
        ],
        None,
    );
    assert!(
        stderr(&o).contains("cannot read /nonexistent/texts.txt"),
        "{}",
        stderr(&o)
    );
    let qv = testdata("quant-vectors.gguf");
    let o = embed(&["encode", "-m", qv.to_str().unwrap(), "hello"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("general.architecture is \"quant-vectors\""),
        "{}",
        stderr(&o)
    );
    let o = embed(&["encode", "-m", "/nonexistent/model.gguf", "hello"], None);
    assert!(
        stderr(&o).contains("cargo xtask fetch-model"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn similarity_rank_and_inspect() {
    let Some(m) = q8() else { return };
    let o = embed(
        &[
            "similarity",
            "-m",
            &m,
            "The cat sat.",
            "A kitten rested.",
            "Stocks fell.",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(" 1.0000"), "{text}");

    let dir = scratch("rank");
    let docs = dir.join("docs.txt");
    std::fs::write(&docs, "The Eiffel Tower is in Paris.\nPhotosynthesis converts light into chemical energy.\nMars is called the Red Planet.\n").unwrap();
    let o = embed(
        &[
            "rank",
            "-m",
            &m,
            "Which planet is red?",
            "--input",
            docs.to_str().unwrap(),
            "--top",
            "1",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("line 3") && text.contains("Red Planet"),
        "{text}"
    );

    let o = embed(&["inspect", &m, "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tensors"].as_array().unwrap().len(), 316);
    assert_eq!(v["architecture"], "gemma-embedding");
    assert_eq!(v["tokenizer"]["vocab_size"], 262144);
    assert!(
        v["warnings"].as_array().unwrap().is_empty(),
        "{}",
        v["warnings"]
    );
}
