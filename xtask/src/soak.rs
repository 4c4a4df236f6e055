//! `cargo xtask soak`: mixed valid and invalid load against `embed serve` on loopback.

use std::path::Path;

use anyhow::{Result, bail};

/// This command's lines in `cargo xtask --help`.
pub(crate) const USAGE: &str = "\
  soak [--minutes N]
        Mixed valid and invalid load against `embed serve` on loopback.
";

/// Runs `cargo xtask soak ARGS`.
pub(crate) fn command(_root: &Path, _args: &[String]) -> Result<()> {
    bail!("soak: not built yet")
}
