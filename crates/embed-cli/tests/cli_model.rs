//! The `embed` binary on the real model (needs `cargo xtask fetch-model`; under CI=true
//! its absence is a failure) and on the workspace's testdata/. Not shipped in the
//! package: it needs the workspace's testkit.

mod support;

use support::{embed, scratch, stderr};
use testkit::{model_paths, testdata};

fn q8() -> Option<String> {
    model_paths::require(model_paths::gguf("q8_0"), "embed CLI tests")
        .map(|p| p.display().to_string())
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
fn a_gguf_of_another_architecture_is_refused() {
    let qv = testdata("quant-vectors.gguf");
    let o = embed(&["encode", "-m", qv.to_str().unwrap(), "hello"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("general.architecture is \"quant-vectors\""),
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
