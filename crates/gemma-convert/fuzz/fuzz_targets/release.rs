//! The converter on a made-up release: the input is the release's files one after
//! another, separated by [`SEPARATOR`], in the order of [`FILES`] (a missing part is a
//! missing file); the first byte picks the output type. Every input must convert or be
//! refused with an error, never a panic; a GGUF written must parse, leave no temporary
//! file behind, and open as a model (or be refused) without a panic.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gemma_convert::{OutType, convert};

/// Between two files of the release.
const SEPARATOR: &[u8] = b"@@FILE@@";

/// The release's files, in input order.
const FILES: [&str; 12] = [
    "config.json",
    "modules.json",
    "1_Pooling/config.json",
    "2_Dense/config.json",
    "2_Dense/model.safetensors",
    "3_Dense/config.json",
    "3_Dense/model.safetensors",
    "model.safetensors",
    "tokenizer.model",
    "tokenizer_config.json",
    "added_tokens.json",
    "generation_config.json",
];

/// A scratch folder of this process under `TMPDIR` (`cargo xtask fuzz` points it into
/// `target/fuzz/tmp`), rewritten for every input.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
        std::env::temp_dir().join(format!("convert-fuzz-{}", std::process::id()))
    })
}

/// Splits `data` at each separator.
fn parts(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some(at) = data.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        out.push(&data[..at]);
        data = &data[at + SEPARATOR.len()..];
    }
    out.push(data);
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let out_type = OutType::ALL[usize::from(pick) % OutType::ALL.len()];
    let root = scratch();
    let _ = fs::remove_dir_all(root);
    let release = root.join("release");
    for sub in ["1_Pooling", "2_Dense", "3_Dense"] {
        fs::create_dir_all(release.join(sub)).expect("scratch folder");
    }
    for (name, bytes) in FILES.iter().zip(parts(rest)) {
        fs::write(release.join(name), bytes).expect("scratch file");
    }
    let out = root.join("out.gguf");
    let result = convert(&release, &out, out_type, &mut |_| {});
    assert!(
        !gemma_convert::temp_path(&out).exists(),
        "temporary file left"
    );
    match result {
        Ok(report) => {
            let bytes = fs::read(&out).expect("the output");
            assert_eq!(bytes.len() as u64, report.file_bytes);
            let g = gguf_format::Gguf::parse(&bytes).expect("the converter's GGUF parses");
            assert_eq!(g.tensors().len(), report.n_tensors);
            assert_eq!(g.metadata().len(), report.n_keys);
            if let Ok(model) = gemma_encoder::Embedder::open(&out) {
                let opts = gemma_encoder::EmbedOptions::new().dim(model.hparams().n_out);
                let _ = model.embed(&["a b"], &opts);
            }
        }
        Err(_) => assert!(!out.exists(), "output left after an error"),
    }
});
