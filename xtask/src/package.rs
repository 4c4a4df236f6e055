//! `cargo xtask package`: every published crate builds as crates.io would build it.
//!
//! 1. `cargo package` makes each published crate's `.crate` (the workspace crates it
//!    depends on are overlaid from the workspace, as cargo does for unpublished ones).
//! 2. Each `.crate` is unpacked outside the workspace, and its tests are built there
//!    (`cargo test --no-run`) against the other unpacked packages, with the workspace's
//!    `Cargo.lock`: what a package ships must build and test without the repository
//!    (no `../../testdata`, no `#[path]` into other crates, no stripped dev-dependency).
//! 3. `cargo doc --workspace --no-deps` with warnings denied.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::arrows::ALLOWED;

/// Packages, unpacks and test-builds every published crate, then builds the docs.
pub fn package(root: &Path) -> Result<()> {
    let crates: Vec<&str> = ALLOWED.iter().map(|(name, _)| *name).collect();
    let version = workspace_version(root)?;
    let mut args = vec!["package", "--no-verify", "--allow-dirty", "--quiet"];
    for name in &crates {
        args.extend(["-p", name]);
    }
    run(cargo().args(&args).current_dir(root), "cargo package")?;

    // Outside the repository, so that cargo does not take the unpacked crates for
    // members of this workspace.
    let unpacked = std::env::temp_dir().join("embeddinggemma-rs-packages");
    if unpacked.exists() {
        std::fs::remove_dir_all(&unpacked)
            .with_context(|| format!("cannot clear {}", unpacked.display()))?;
    }
    std::fs::create_dir_all(&unpacked)?;
    let dir_of = |name: &str| unpacked.join(format!("{name}-{version}"));
    for name in &crates {
        let file = root.join(format!("target/package/{name}-{version}.crate"));
        run(
            Command::new("tar")
                .arg("xzf")
                .arg(&file)
                .arg("-C")
                .arg(&unpacked),
            &format!("tar xzf {}", file.display()),
        )?;
        std::fs::copy(root.join("Cargo.lock"), dir_of(name).join("Cargo.lock"))?;
    }

    let target = root.join("target/package-check");
    for name in &crates {
        let mut test = cargo();
        test.args(["test", "--no-run", "--quiet", "--all-targets"])
            .current_dir(dir_of(name))
            .env("CARGO_TARGET_DIR", &target);
        for dep in &crates {
            let path = dir_of(dep);
            test.arg("--config").arg(format!(
                "patch.crates-io.{dep}.path={:?}",
                path.to_str().context("a non-UTF-8 temporary folder")?
            ));
        }
        run(
            &mut test,
            &format!("cargo test --no-run in the {name} package"),
        )?;
        eprintln!("package: {name} builds and its tests compile from its .crate");
    }

    run(
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--quiet"])
            .env("RUSTDOCFLAGS", "-D warnings")
            .current_dir(root),
        "cargo doc --workspace --no-deps",
    )?;
    eprintln!(
        "package: {} crates, docs build without warnings",
        crates.len()
    );
    Ok(())
}

/// `[workspace.package] version` of the root manifest.
fn workspace_version(root: &Path) -> Result<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let in_section = manifest
        .split("[workspace.package]")
        .nth(1)
        .context("no [workspace.package] in Cargo.toml")?;
    let line = in_section
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .context("no version in [workspace.package]")?;
    let version = line
        .split('"')
        .nth(1)
        .context("[workspace.package] version is not a string")?;
    Ok(version.to_string())
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
