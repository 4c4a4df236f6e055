//! The writer: GGUF v3 with any metadata and tensors, data aligned and padded.
//!
//! [`GgufWriter`] streams: it writes the header when created, then takes each tensor's
//! data in order, in as many pieces as the caller likes, so a converter never needs a
//! whole model in memory. [`write_to_vec`] does it all at once for small files.

use std::collections::HashSet;
use std::io::Write;

use crate::error::{Error, ErrorKind, Result};
use crate::read::tensor_bytes;
use crate::value::{MetadataArray, MetadataValue};
use crate::{DEFAULT_ALIGNMENT, GgmlType, MAX_DIMS};

/// A tensor to be written: its name, type and shape (ggml order, row length first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub ggml_type: GgmlType,
    /// Its shape in ggml order; at most 4 dimensions.
    pub dims: Vec<u64>,
}

impl TensorSpec {
    /// A spec from its parts.
    pub fn new(name: impl Into<String>, ggml_type: GgmlType, dims: &[u64]) -> Self {
        TensorSpec {
            name: name.into(),
            ggml_type,
            dims: dims.to_vec(),
        }
    }

    /// The byte size of its data, or an error naming the tensor when the shape is not
    /// valid for its type.
    pub fn n_bytes(&self) -> Result<u64> {
        if self.dims.len() > MAX_DIMS {
            return Err(Error::new(ErrorKind::TooManyDims(self.dims.len() as u32))
                .with_context(format!("tensor {:?}", self.name)));
        }
        tensor_bytes(self.ggml_type, &self.dims)
            .map_err(|k| Error::new(k).with_context(format!("tensor {:?}", self.name)))
    }
}

/// Streams a GGUF v3 file to `W`: header first, then each tensor's data in order.
#[derive(Debug)]
pub struct GgufWriter<W: Write> {
    out: W,
    alignment: u64,
    sizes: Vec<(String, u64)>,
    current: usize,
    left_in_current: u64,
    written: u64,
}

impl<W: Write> GgufWriter<W> {
    /// Writes the header (metadata and tensor infos) and the padding before the data.
    ///
    /// The alignment is `general.alignment` when `metadata` has it (a power-of-two
    /// `u32`), else 32. Keys and tensor names must be unique.
    pub fn new(
        mut out: W,
        metadata: &[(String, MetadataValue)],
        tensors: &[TensorSpec],
    ) -> Result<Self> {
        let mut alignment = DEFAULT_ALIGNMENT;
        let mut keys = HashSet::new();
        for (k, v) in metadata {
            if !keys.insert(k.as_str()) {
                return Err(Error::new(ErrorKind::DuplicateKey(k.clone())));
            }
            if k == "general.alignment" {
                match v {
                    MetadataValue::U32(a) if a.is_power_of_two() => alignment = u64::from(*a),
                    _ => {
                        return Err(Error::new(ErrorKind::BadAlignment(
                            "must be a power-of-two UINT32".into(),
                        )));
                    }
                }
            }
        }
        let mut names = HashSet::new();
        let mut sizes = Vec::with_capacity(tensors.len());
        for t in tensors {
            if !names.insert(t.name.as_str()) {
                return Err(Error::new(ErrorKind::DuplicateTensor(t.name.clone())));
            }
            sizes.push((t.name.clone(), t.n_bytes()?));
        }

        let mut header = Vec::new();
        header.extend_from_slice(b"GGUF");
        header.extend_from_slice(&3u32.to_le_bytes());
        header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
        for (k, v) in metadata {
            put_str(&mut header, k);
            header.extend_from_slice(&v.value_type().id().to_le_bytes());
            put_value(&mut header, v);
        }
        let mut offset = 0u64;
        for (t, (_, n_bytes)) in tensors.iter().zip(&sizes) {
            put_str(&mut header, &t.name);
            header.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                header.extend_from_slice(&d.to_le_bytes());
            }
            header.extend_from_slice(&t.ggml_type.id().to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            offset = offset
                .checked_add(*n_bytes)
                .and_then(|o| pad_len(o, alignment).checked_add(o))
                .ok_or(Error::new(ErrorKind::Overflow))?;
        }
        let pad = pad_len(header.len() as u64, alignment);
        header.resize(header.len() + pad as usize, 0);
        out.write_all(&header)?;
        let mut w = GgufWriter {
            out,
            alignment,
            sizes,
            current: 0,
            left_in_current: 0,
            written: 0,
        };
        w.left_in_current = w.sizes.first().map_or(0, |s| s.1);
        Ok(w)
    }

    /// The name of the tensor whose data comes next, if any.
    pub fn next_tensor(&self) -> Option<&str> {
        self.sizes.get(self.current).map(|s| s.0.as_str())
    }

    /// Appends `chunk` to the data of the tensor being written. A chunk may not run past
    /// the end of that tensor; when a tensor is complete, its padding is written and the
    /// next tensor begins. Tensors of zero bytes are passed over.
    pub fn write_data(&mut self, chunk: &[u8]) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.skip_empty()?;
        let Some((name, _)) = self.sizes.get(self.current) else {
            return Err(Error::new(ErrorKind::InvalidInput(
                "data written after the last tensor".into(),
            )));
        };
        if chunk.len() as u64 > self.left_in_current {
            return Err(Error::new(ErrorKind::InvalidInput(format!(
                "{} bytes given, {} left in the tensor",
                chunk.len(),
                self.left_in_current
            )))
            .with_context(format!("tensor {name:?}")));
        }
        self.out.write_all(chunk)?;
        self.left_in_current -= chunk.len() as u64;
        self.written += chunk.len() as u64;
        if self.left_in_current == 0 {
            self.advance()?;
        }
        Ok(())
    }

    /// Writes the next tensor's data whole; `data` must be exactly its size and no part
    /// of it may have been written yet.
    pub fn write_tensor(&mut self, data: &[u8]) -> Result<()> {
        let Some((name, size)) = self.sizes.get(self.current) else {
            return Err(Error::new(ErrorKind::InvalidInput(
                "data written after the last tensor".into(),
            )));
        };
        if self.left_in_current != *size || data.len() as u64 != *size {
            return Err(Error::new(ErrorKind::InvalidInput(format!(
                "tensor data is {} bytes, expected {size}",
                data.len()
            )))
            .with_context(format!("tensor {name:?}")));
        }
        if data.is_empty() {
            return self.advance();
        }
        self.write_data(data)
    }

    /// Pads the finished tensor and moves to the next one.
    fn advance(&mut self) -> Result<()> {
        let pad = pad_len(self.written, self.alignment);
        self.out.write_all(&vec![0u8; pad as usize])?;
        self.written += pad;
        self.current += 1;
        self.left_in_current = self.sizes.get(self.current).map_or(0, |s| s.1);
        Ok(())
    }

    /// Passes over tensors of zero bytes.
    fn skip_empty(&mut self) -> Result<()> {
        while self.current < self.sizes.len() && self.sizes[self.current].1 == 0 {
            self.advance()?;
        }
        Ok(())
    }

    /// Checks that every tensor was written, flushes, and returns the output.
    pub fn finish(mut self) -> Result<W> {
        self.skip_empty()?;
        if let Some((name, _)) = self.sizes.get(self.current) {
            return Err(Error::new(ErrorKind::InvalidInput(format!(
                "finished with {} bytes of tensor data missing",
                self.left_in_current
            )))
            .with_context(format!("tensor {name:?}")));
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A whole GGUF v3 file in memory.
pub fn write_to_vec(
    metadata: &[(String, MetadataValue)],
    tensors: &[(TensorSpec, &[u8])],
) -> Result<Vec<u8>> {
    let specs: Vec<TensorSpec> = tensors.iter().map(|(s, _)| s.clone()).collect();
    let mut w = GgufWriter::new(Vec::new(), metadata, &specs)?;
    for (_, data) in tensors {
        w.write_tensor(data)?;
    }
    w.finish()
}

fn pad_len(x: u64, a: u64) -> u64 {
    (a - x % a) % a
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &MetadataValue) {
    use MetadataValue as V;
    match v {
        V::U8(x) => out.push(*x),
        V::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::Bool(x) => out.push(u8::from(*x)),
        V::String(s) => put_str(out, s),
        V::Array(a) => put_array(out, a),
        V::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

fn put_array(out: &mut Vec<u8>, a: &MetadataArray) {
    use MetadataArray as A;
    out.extend_from_slice(&a.elem_type().id().to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    macro_rules! le {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match a {
        A::U8(v) => out.extend_from_slice(v),
        A::I8(v) => le!(v),
        A::U16(v) => le!(v),
        A::I16(v) => le!(v),
        A::U32(v) => le!(v),
        A::I32(v) => le!(v),
        A::F32(v) => le!(v),
        A::U64(v) => le!(v),
        A::I64(v) => le!(v),
        A::F64(v) => le!(v),
        A::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        A::String(v) => v.iter().for_each(|s| put_str(out, s)),
        A::Array(v) => v.iter().for_each(|inner| put_array(out, inner)),
    }
}
