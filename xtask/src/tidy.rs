//! Tidy checks over the repository's files (rust-analyzer's `tidy` test): the rules that
//! no compiler enforces but a reader relies on.

use std::path::{Path, PathBuf};

use crate::arrows::ALLOWED;

/// About a screen per function and one job per file: no Rust file outside an `arch/`
/// folder (one kernel module per instruction set) is longer than this.
const MAX_LINES: usize = 700;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` whose name ends with `ext`, skipping build output and
/// fuzzing state.
fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(&*name, "target" | ".git" | "corpus" | "artifacts") {
                files(&path, ext, out);
            }
        } else if name.ends_with(ext) {
            out.push(path);
        }
    }
}

fn repo_files(ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["crates", "testkit", "xtask", "benches", "docs", "bindings"] {
        files(&root().join(dir), ext, &mut out);
    }
    if "README.md".ends_with(ext) {
        out.push(root().join("README.md"));
    }
    out
}

#[test]
fn rust_files_are_short() {
    let long: Vec<String> = repo_files(".rs")
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "arch"))
        .filter_map(|p| {
            let n = std::fs::read_to_string(&p).ok()?.lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn docs_and_comments_are_references_not_diaries() {
    // Built, so that this file does not trip its own check (or the stop hook's grep).
    let diary: Vec<String> = ["this", "last", "next", "earlier"]
        .iter()
        .map(|w| format!("{w} {}", "session"))
        .collect();
    let mut found = Vec::new();
    for path in repo_files(".md").into_iter().chain(repo_files(".rs")) {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .to_lowercase();
        for (i, line) in text.lines().enumerate() {
            if diary.iter().any(|d| line.contains(d.as_str())) {
                found.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    assert!(found.is_empty(), "docs that narrate sessions: {found:?}");
}

#[test]
fn every_published_crate_is_ready_to_publish() {
    let mut missing = Vec::new();
    for (name, _) in ALLOWED {
        let dir = root().join("crates").join(name);
        for file in ["LICENSE-MIT", "LICENSE-APACHE", "README.md"] {
            if !dir.join(file).exists() {
                missing.push(format!("{name}: {file}"));
            }
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        for key in [
            "description",
            "keywords",
            "categories",
            "readme",
            "include",
            "rust-version",
            "license",
        ] {
            if !manifest.lines().any(|l| l.trim_start().starts_with(key)) {
                missing.push(format!("{name}: Cargo.toml {key}"));
            }
        }
    }
    assert!(missing.is_empty(), "not ready to publish: {missing:?}");
}

#[test]
fn the_architecture_doc_names_only_files_that_exist() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let mut gone = Vec::new();
    for quoted in doc.split('`').skip(1).step_by(2) {
        let tops = [
            "crates/",
            "testkit/",
            "xtask/",
            "benches/",
            "docs/",
            "testdata/",
            "bindings/",
        ];
        let endings = [".rs", "/", ".md", ".py", ".pyi", ".toml", ".json"];
        let looks_like_path = tops.iter().any(|t| quoted.starts_with(t))
            && !quoted.contains(' ')
            && !quoted.contains("::")
            && endings.iter().any(|e| quoted.ends_with(e));
        if looks_like_path && !root().join(quoted).exists() {
            gone.push(quoted.to_string());
        }
    }
    assert!(
        gone.is_empty(),
        "docs/ARCHITECTURE.md names missing files: {gone:?}"
    );
}
