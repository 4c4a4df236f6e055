//! A safetensors file read a batch of values at a time: the header is parsed and
//! checked against the file's length when it is opened, the data read (not mapped) as it
//! is needed, so resident memory stays bounded.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ggml_quant::{bf16_to_f32, f16_to_f32};
use safetensors::tensor::{Dtype, Metadata, TensorInfo};

use crate::error::{Error, ErrorKind, Result};

/// The largest safetensors header accepted (the format's own cap).
const MAX_HEADER: u64 = 100_000_000;

/// A safetensors file: its validated header and the open file to read data from.
pub(crate) struct SafetensorsFile {
    path: PathBuf,
    file: File,
    data_start: u64,
    meta: Metadata,
}

impl SafetensorsFile {
    /// Opens `path` and checks its header: within the size cap, valid, and describing
    /// exactly the bytes that follow it.
    pub fn open(path: &Path) -> Result<Self> {
        let st_err = |m: String| Error::new(ErrorKind::Safetensors, m).at(path);
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut n = [0u8; 8];
        file.read_exact(&mut n)
            .map_err(|_| st_err("too short for a safetensors header".into()))?;
        let n = u64::from_le_bytes(n);
        if n > MAX_HEADER || 8 + n > file_len {
            return Err(st_err(format!(
                "header of {n} bytes does not fit the {file_len}-byte file"
            )));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header)
            .map_err(|e| Error::io(path, e))?;
        let meta: Metadata = serde_json::from_slice(&header)
            .map_err(|e| st_err("invalid header".into()).because(e))?;
        let need = 8 + n + meta.data_len() as u64;
        if file_len != need {
            return Err(st_err(format!(
                "file is {file_len} bytes but its header describes {need} (truncated or padded)"
            )));
        }
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            file,
            data_start: 8 + n,
            meta,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v = self.meta.offset_keys();
        v.sort();
        v
    }

    /// The header entry of tensor `name`.
    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.meta.info(name).ok_or_else(|| {
            Error::new(ErrorKind::Tensor, format!("missing tensor {name}"))
                .at(&self.path)
                .in_tensor(name)
        })
    }

    /// Reads `n_values` values starting at value `first` of `name`, as f32, into `out`
    /// (replacing what it held).
    pub fn read_f32(
        &mut self,
        name: &str,
        first: usize,
        n_values: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let info = self.info(name)?;
        let dtype = info.dtype;
        let width = match dtype {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            other => {
                return Err(Error::new(
                    ErrorKind::Tensor,
                    format!("tensor {name} has unsupported dtype {other:?}"),
                )
                .at(&self.path)
                .in_tensor(name));
            }
        };
        let at = self.data_start + (info.data_offsets.0 + first * width) as u64;
        let mut raw = vec![0u8; n_values * width];
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.read_exact(&mut raw))
            .map_err(|e| Error::io(&self.path, e))?;
        out.clear();
        let half = |c: &[u8]| u16::from_le_bytes([c[0], c[1]]);
        match dtype {
            Dtype::F32 => out.extend(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            Dtype::F16 => out.extend(raw.chunks_exact(2).map(|c| f16_to_f32(half(c)))),
            _ => out.extend(raw.chunks_exact(2).map(|c| bf16_to_f32(half(c)))),
        }
        Ok(())
    }
}
