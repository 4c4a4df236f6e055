//! Memory-mapped files: open once, parse as often as needed, no copy of tensor data.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, ErrorKind, Result};
use crate::read::{Gguf, Limits};

/// A GGUF file mapped into memory, read-only.
///
/// Tensor data handed out by [`MappedGguf::parse`] points into the map: pages are read
/// from disk only when touched, and processes that map the same file share one copy of
/// it in the page cache.
///
/// # The file must not change while it is mapped
///
/// A memory map is a view of the file itself, not a copy, and the operating system does
/// not stop anyone, this process included, from changing the file under it. While a
/// `MappedGguf` (or anything parsed from it) is alive, the file must be neither truncated
/// nor modified:
///
/// - if it is truncated, touching a page past its new end raises `SIGBUS` on Unix, which
///   kills the process;
/// - if its bytes are modified, the tensor data and metadata read from the map change
///   too: wrong values, and strings that were checked to be UTF-8 may no longer be.
///
/// Replacing the file by renaming a new one over its path is fine: the map keeps the old
/// file. This contract cannot be checked by this crate. [`MappedGguf::open`] is a safe
/// function so that loading a model needs no `unsafe`, as in llama.cpp and most model
/// loaders; where the contract cannot be kept, read the file into memory with
/// [`std::fs::read`] and use [`Gguf::parse`] instead.
#[derive(Debug)]
pub struct MappedGguf {
    map: Mmap,
    path: PathBuf,
}

impl MappedGguf {
    /// Maps the file at `path`, read-only.
    ///
    /// Errors name the path: an I/O error when the file cannot be opened or mapped (its
    /// [`std::error::Error::source`] is the [`std::io::Error`]), and an error before any
    /// parsing when the file is empty or its size changed while it was being mapped.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let in_path = |e: Error| e.with_context(path.display().to_string());
        let file = File::open(&path).map_err(|e| in_path(Error::io(e)))?;
        let len = file.metadata().map_err(|e| in_path(Error::io(e)))?.len();
        if len == 0 {
            let empty = ErrorKind::UnexpectedEof {
                needed: 4,
                available: 0,
            };
            return Err(in_path(Error::at(empty, 0)));
        }
        // SAFETY: `Mmap::map` is unsafe because the mapped bytes are only as stable as the
        // file: mapping is sound as long as nobody truncates or modifies the file while
        // the map lives. That is the caller's contract, documented on `MappedGguf`: no OS
        // offers a lock that keeps others from writing a file mapped read-only. Within
        // it, the map is `len` bytes of read-only memory owned by `self`, and this crate
        // reads it only through bounds-checked `&[u8]` slices.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| in_path(Error::io(e)))?;
        if map.len() as u64 != len {
            return Err(in_path(Error::new(ErrorKind::Io(format!(
                "the file changed size while being mapped ({len} bytes, then {})",
                map.len()
            )))));
        }
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
