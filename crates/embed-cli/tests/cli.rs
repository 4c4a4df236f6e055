//! The `embed` binary's arguments, errors and outputs that need no model: its help, bad
//! input, `inspect` on a small GGUF written here, and `convert`'s errors. The tests that
//! run the real model or read the workspace's testdata/ are in cli_model.rs and
//! convert_manifests.rs (not shipped in the package).

mod support;

use support::{embed, scratch, stderr};

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
    let o = embed(&["encode", "-m", "/nonexistent/model.gguf", "hello"], None);
    assert!(
        stderr(&o).contains("cargo xtask fetch-model"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn convert_errors_name_the_file_and_the_cause_once() {
    let dir = scratch("convert-missing");
    let out = dir.join("out.gguf");
    let release = dir.join("nope");
    let o = embed(
        &[
            "convert",
            release.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--type",
            "q4_k",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let config = release.join("config.json");
    let want = format!(
        "embed: converting {}: {}: ",
        release.display(),
        config.display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "something was written"
    );
    let o = embed(&["convert", "x", "-o", "y", "--type", "q3_k"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown type \"q3_k\"; one of f32, f16, bf16, q8_0, q4_0"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn inspect_describes_any_gguf_and_warns_about_what_embed_cannot_run() {
    use gguf_format::{GgmlType, MetadataValue, TensorSpec, write_to_vec};
    let dir = scratch("inspect");
    let path = dir.join("other.gguf");
    let weights: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let md = [
        (
            "general.architecture".to_string(),
            MetadataValue::from("llama"),
        ),
        ("general.name".to_string(), MetadataValue::from("tiny")),
        ("llama.rope.freq_base".to_string(), MetadataValue::F32(0.95)),
        ("custom.key".to_string(), MetadataValue::U32(7)),
        (
            "tokenizer.ggml.tokens".to_string(),
            MetadataValue::from(vec!["a".to_string(), "b".to_string()]),
        ),
    ];
    let bytes = write_to_vec(
        &md,
        &[(TensorSpec::new("w", GgmlType::F32, &[2, 2]), &weights[..])],
    )
    .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let p = path.to_str().unwrap();

    let o = embed(&["inspect", p, "--json"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "file",
            "gguf_version",
            "architecture",
            "metadata",
            "tokenizer",
            "tensors",
            "tensor_bytes",
            "warnings"
        ]
    );
    assert_eq!(v["architecture"], "llama");
    // An f32 is printed as the f64 it widens to.
    assert_eq!(
        serde_json::to_string(&v["metadata"]).unwrap(),
        r#"{"general.architecture":"llama","general.name":"tiny","llama.rope.freq_base":0.949999988079071}"#
    );
    assert_eq!(
        serde_json::to_string(&v["tokenizer"]).unwrap(),
        r#"{"model":"(none)","vocab_size":2,"bos":null,"eos":null,"add_bos":null,"add_eos":null}"#
    );
    assert_eq!(
        v["tensors"],
        serde_json::json!([{"name": "w", "type": "f32", "shape": [2, 2], "bytes": 16}])
    );
    assert_eq!(v["tensor_bytes"], 16);
    assert_eq!(
        v["warnings"],
        serde_json::json!([
            "architecture \"llama\" is not \"gemma-embedding\": `embed` cannot run it",
            "unknown key custom.key"
        ])
    );

    let o = embed(&["inspect", p], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let want = format!(
        "{p}: GGUF v3, architecture llama\n\nmetadata:\n  general.architecture = \"llama\"\n  \
         general.name = \"tiny\"\n  llama.rope.freq_base = 0.949999988079071\n\ntokenizer: \
         {{\"model\":\"(none)\",\"vocab_size\":2,\"bos\":null,\"eos\":null,\"add_bos\":null,\
         \"add_eos\":null}}\n\n1 tensors, 16 bytes:\n  w{:35} f32    [2, 2]           {:>12}\n\
         warning: architecture \"llama\" is not \"gemma-embedding\": `embed` cannot run it\n\
         warning: unknown key custom.key\n",
        "", 16
    );
    assert_eq!(text, want);
    std::fs::remove_dir_all(&dir).unwrap();
}
