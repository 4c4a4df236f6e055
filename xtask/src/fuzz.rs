//! `cargo xtask fuzz`: every crate's cargo-fuzz targets, each for a bounded time.

use std::path::Path;

use anyhow::{Result, bail};

/// This command's lines in `cargo xtask --help`.
pub(crate) const USAGE: &str = "\
  fuzz [--seconds N]
        Run every fuzz target for N seconds each.
";

/// What `cargo xtask test` (and so CI) runs: every target briefly.
pub(crate) const CI_ARGS: [&str; 2] = ["--seconds", "30"];

/// Runs `cargo xtask fuzz ARGS`.
pub(crate) fn command(_root: &Path, _args: &[String]) -> Result<()> {
    bail!("fuzz: no targets yet")
}
