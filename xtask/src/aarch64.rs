//! `cargo xtask test-aarch64`: ggml-quant's tests cross-built for aarch64 and run under
//! qemu, so the NEON kernels are tested against the scalar ones as the x86 kernels are.
//!
//! rustup cannot fetch another target here, but Debian's packages can: its Rust
//! toolchain (`rustc-web`, `cargo-web`) with the aarch64 standard library, the aarch64
//! cross linker and qemu's user-mode emulator, installed with apt when missing (as root;
//! otherwise the error says what to install). The test binaries are linked statically:
//! this qemu (7.2) hangs on a dynamically linked glibc's first thread join.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

const TARGET: &str = "aarch64-unknown-linux-gnu";
/// Debian's Rust toolchain, which has the aarch64 standard library as a package.
const CARGO: &str = "/usr/bin/cargo";
const RUSTC: &str = "/usr/bin/rustc";
const RUSTDOC: &str = "/usr/bin/rustdoc";
const STD: &str = "/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib";
const LINKER: &str = "aarch64-linux-gnu-gcc";
const QEMU: &str = "qemu-aarch64";
const PACKAGES: [&str; 6] = [
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev:arm64",
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "qemu-user",
];

/// Installs the tools when missing, then runs the tests under qemu. `PROPTEST_CASES`
/// is honoured (the default here is 64 cases per property: emulation is slow).
pub fn test_aarch64(root: &Path) -> Result<()> {
    if !tools_present() {
        install()?;
        if !tools_present() {
            bail!("the aarch64 tools are still missing after installing {PACKAGES:?}");
        }
    }
    let cases = std::env::var("PROPTEST_CASES").unwrap_or_else(|_| "64".into());
    eprintln!("test-aarch64: cargo test -p ggml-quant --target {TARGET} under {QEMU}");
    let status = Command::new(CARGO)
        .current_dir(root)
        .args(["test", "-p", "ggml-quant", "--target", TARGET])
        .arg("--target-dir")
        .arg(root.join("target/aarch64"))
        .env("RUSTC", RUSTC)
        .env("RUSTDOC", RUSTDOC)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", LINKER)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
            "-C target-feature=+crt-static",
        )
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER", QEMU)
        .env("PROPTEST_CASES", cases)
        // qemu reports NEON and the dot-product extension: both NEON paths must be there
        // to be compared with the scalar one (tests/kernel_paths.rs checks this).
        .env("GGML_QUANT_EXPECT_PATHS", "neon-dotprod,neon,scalar")
        .status()
        .with_context(|| format!("cannot run {CARGO}"))?;
    if !status.success() {
        bail!("aarch64 tests failed under qemu ({status})");
    }
    Ok(())
}

fn tools_present() -> bool {
    let runs = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    Path::new(STD).is_dir() && runs(CARGO) && runs(RUSTC) && runs(LINKER) && runs(QEMU)
}

fn install() -> Result<()> {
    crate::apt::install("test-aarch64", &PACKAGES, Some("arm64"))
}
