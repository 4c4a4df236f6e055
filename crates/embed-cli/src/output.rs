//! Where results go: standard output, or a file written under a temporary name and
//! renamed when complete. An interrupt (Ctrl-C) removes the temporary file, so no
//! half-written output is ever left under its final name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// `println!` that returns write errors (a closed pipe ends the program quietly).
macro_rules! outln {
    ($($t:tt)*) => {
        writeln!(::std::io::stdout().lock(), $($t)*)
            .context("cannot write to standard output")?
    };
}

/// The temporary output file to delete if the user interrupts.
static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Makes Ctrl-C delete the pending temporary file (if any) and exit with status 130.
pub fn remove_pending_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        if let Some(p) = PENDING.lock().ok().and_then(|mut p| p.take()) {
            let _ = fs::remove_file(p);
        }
        eprintln!("embed: interrupted");
        std::process::exit(130);
    });
}

/// Records the temporary file an interrupt must delete (`None`: nothing to delete).
pub fn set_pending(tmp: Option<PathBuf>) {
    if let Ok(mut p) = PENDING.lock() {
        *p = tmp;
    }
}

/// Writes through `f` to `path` via a temporary file renamed when complete, or to stdout.
pub fn write_output(
    path: Option<&Path>,
    f: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let Some(path) = path else {
        let stdout = io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        f(&mut w)?;
        return w.flush().context("cannot write to standard output");
    };
    let tmp = gemma_convert::temp_path(path);
    set_pending(Some(tmp.clone()));
    let result = (|| {
        let mut w = BufWriter::new(
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
        );
        f(&mut w)?;
        w.flush()?;
        fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    })();
    set_pending(None);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
