//! The converter against llama.cpp's manifests on the real model (needs `cargo xtask
//! fetch-model`; under CI=true its absence is a failure): every tensor and key of its F32,
//! F16, BF16 and Q8_0 files, and of `llama-quantize`'s Q4_0 and Q4_K_M. Not shipped in the
//! package: it needs the workspace's testkit and testdata/.

use gemma_convert::{OutType, convert};
use gguf_format::MappedGguf;
use testkit::{manifest_check, model_paths, testdata};

fn scratch(name: &str) -> std::path::PathBuf {
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
