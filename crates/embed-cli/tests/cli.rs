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
    for ty in [OutType::F32, OutType::F16, OutType::BF16, OutType::Q8_0] {
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
