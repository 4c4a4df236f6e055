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
