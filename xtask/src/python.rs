//! `cargo xtask python-test`: build the Python package's wheel, install it into a venv the
//! xtask makes, and run its tests there.

use std::path::Path;

use anyhow::{Result, bail};

/// This command's lines in `cargo xtask --help`.
pub(crate) const USAGE: &str = "\
  python-test
        Build the Python package (bindings/python) and run its tests in a fresh venv.
";

/// Runs `cargo xtask python-test ARGS`.
pub(crate) fn command(_root: &Path, _args: &[String]) -> Result<()> {
    bail!("python-test: the Python package is not built yet")
}
