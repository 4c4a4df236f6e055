//! The measurement patches in `testkit/experiments/` (each one's header says what it
//! measures and how) still apply to the sources, so the numbers `docs/performance.md`
//! quotes from them can be made again.

use std::path::Path;
use std::process::Command;

#[test]
fn experiment_patches_apply_to_the_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("testkit/experiments");
    let mut patches: Vec<_> = std::fs::read_dir(&dir)
        .expect("testkit/experiments")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    patches.sort();
    assert!(!patches.is_empty(), "no patches in {}", dir.display());
    for patch in patches {
        let out = Command::new("git")
            .arg("apply")
            .arg("--check")
            .arg(&patch)
            .current_dir(&root)
            .output()
            .expect("run git apply");
        assert!(
            out.status.success(),
            "{} no longer applies: {}",
            patch.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
