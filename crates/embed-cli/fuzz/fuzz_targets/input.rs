//! The `embed` CLI's input files: the first byte picks a text file (one text per line)
//! or a `.jsonl` file (one object per line), the rest is the file, read by the CLI's own
//! `read_items`. Any file must give items or an error whose message renders, never a
//! panic; a text file gives one item per line, without its line ending, and a JSONL file
//! at most one item per line.
#![no_main]

#[path = "../../src/input.rs"]
#[allow(dead_code)]
mod input;

use std::path::PathBuf;
use std::sync::OnceLock;

/// This process's scratch files under `TMPDIR` (`cargo xtask fuzz` points it into
/// `target/fuzz/tmp`).
fn scratch(jsonl: bool) -> &'static PathBuf {
    static PATHS: OnceLock<[PathBuf; 2]> = OnceLock::new();
    let [txt, jsonl_path] = PATHS.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("cli-input-fuzz-{}", std::process::id()));
        [base.with_extension("txt"), base.with_extension("jsonl")]
    });
    if jsonl { jsonl_path } else { txt }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let jsonl = pick % 2 == 1;
    let path = scratch(jsonl);
    std::fs::write(path, file).expect("scratch file");
    let lines = file.split(|&b| b == b'\n').count() - usize::from(file.ends_with(b"\n"));
    match input::read_items(Some(path)) {
        Ok(items) => {
            assert!(!items.is_empty());
            if jsonl {
                assert!(items.len() <= lines);
            } else {
                assert_eq!(items.len(), lines);
                for item in &items {
                    assert!(!item.text.contains('\n'));
                    assert!(item.id.is_none() && item.title.is_none());
                }
            }
        }
        Err(e) => assert!(!format!("{e:#}").is_empty()),
    }
});
