//! Memory-mapped files: open once, parse as often as needed, no copy of tensor data.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, ErrorKind, Result};
use crate::read::{Gguf, Limits};

/// A GGUF file mapped into memory, read-only.
///
/// Tensor data handed out by [`MappedGguf::parse`] points into the map: pages are read
/// from disk only when touched.
#[derive(Debug)]
pub struct MappedGguf {
    map: Mmap,
    path: PathBuf,
}

impl MappedGguf {
    /// Maps the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io_err = |e: std::io::Error| {
            Error::new(ErrorKind::Io(e.to_string())).with_context(path.display().to_string())
        };
        let file = File::open(&path).map_err(io_err)?;
        // SAFETY: the map is read-only and private to this value. The one hazard is
        // another process truncating or rewriting the file while it is mapped, which
        // the OS cannot prevent for read-only maps; like every mmap-based model loader
        // (llama.cpp included) we document that model files must not be modified while
        // in use. Nothing here relies on the bytes staying stable for memory safety of
        // Rust values: all reads are bounds-checked slices of `u8`.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err)?;
        Ok(MappedGguf { map, path })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses the mapped bytes with the default limits.
    pub fn parse(&self) -> Result<Gguf<'_>> {
        Gguf::parse(&self.map)
    }

    /// Parses the mapped bytes with the given limits.
    pub fn parse_with_limits(&self, limits: Limits) -> Result<Gguf<'_>> {
        Gguf::parse_with_limits(&self.map, limits)
    }
}
