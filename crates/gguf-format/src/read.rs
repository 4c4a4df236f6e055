//! The parser: borrowed bytes in, a validated [`Gguf`] view out.
//!
//! Every length read from the file is checked against [`Limits`] and against the bytes
//! that remain before anything is allocated or sliced, and every size and offset is
//! computed with checked arithmetic.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::error::{Error, ErrorKind, Result};
use crate::value::{Array, Value, ValueType};
use crate::{DEFAULT_ALIGNMENT, GgmlType, MAX_DIMS};

/// Caps on what a file may declare. The defaults accept every real model seen so far and
/// keep a hostile file from making the reader allocate or loop without bound.
///
/// More caps may be added; start from the defaults and change what you need:
///
/// ```
/// let limits = gguf_format::Limits::default().with_max_string_len(1 << 20);
/// assert_eq!(limits.max_string_len, 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest string, in bytes (keys, values, tensor names).
    pub max_string_len: u64,
    /// Most elements in one array.
    pub max_array_len: u64,
    /// Deepest nesting of arrays of arrays.
    pub max_array_depth: u32,
    /// Most metadata key-value pairs.
    pub max_kv_count: u64,
    /// Most tensors.
    pub max_tensor_count: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string_len: 64 << 20,
            max_array_len: 1 << 28,
            max_array_depth: 8,
            max_kv_count: 1 << 20,
            max_tensor_count: 1 << 20,
        }
    }
}

impl Limits {
    /// No cap at all: for bytes the parser has already validated.
    const NONE: Limits = Limits {
        max_string_len: u64::MAX,
        max_array_len: u64::MAX,
        max_array_depth: u32::MAX,
        max_kv_count: u64::MAX,
        max_tensor_count: u64::MAX,
    };

    /// These limits with the longest string set to `bytes`.
    pub fn with_max_string_len(mut self, bytes: u64) -> Self {
        self.max_string_len = bytes;
        self
    }

    /// These limits with the longest array set to `elements`.
    pub fn with_max_array_len(mut self, elements: u64) -> Self {
        self.max_array_len = elements;
        self
    }

    /// These limits with the deepest nesting of arrays set to `depth`.
    pub fn with_max_array_depth(mut self, depth: u32) -> Self {
        self.max_array_depth = depth;
        self
    }

    /// These limits with the most metadata pairs set to `count`.
    pub fn with_max_kv_count(mut self, count: u64) -> Self {
        self.max_kv_count = count;
        self
    }

    /// These limits with the most tensors set to `count`.
    pub fn with_max_tensor_count(mut self, count: u64) -> Self {
        self.max_tensor_count = count;
        self
    }
}

/// A little-endian reader over borrowed bytes that never reads out of bounds.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    limits: Limits,
}

impl<'a> Cursor<'a> {
    /// A cursor over bytes that were already validated by the parser, so no cap applies.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor {
            bytes,
            pos: 0,
            limits: Limits::NONE,
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn pos(&self) -> u64 {
        self.pos as u64
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let available = self.remaining() as u64;
        if n > available {
            return Err(Error::at(
                ErrorKind::UnexpectedEof {
                    needed: n,
                    available,
                },
                self.pos(),
            ));
        }
        let start = self.pos;
        // n <= remaining, which fits in usize.
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count that must not exceed `limit`, nor promise more elements of at least
    /// `min_elem_size` bytes than the remaining bytes can hold.
    fn count(&mut self, what: &'static str, limit: u64, min_elem_size: u64) -> Result<u64> {
        let at = self.pos();
        let n = self.u64()?;
        if n > limit {
            return Err(Error::at(
                ErrorKind::TooLarge {
                    what,
                    value: n,
                    limit,
                },
                at,
            ));
        }
        let fits = self.remaining() as u64 / min_elem_size.max(1);
        if n > fits {
            return Err(Error::at(
                ErrorKind::TooLarge {
                    what,
                    value: n,
                    limit: fits,
                },
                at,
            ));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<&'a str> {
        let at = self.pos();
        let len = self.count("string length", self.limits.max_string_len, 1)?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|e| {
            Error::at(ErrorKind::InvalidUtf8, at + 8 + e.valid_up_to() as u64).with_source(e)
        })
    }

    fn value_type(&mut self) -> Result<ValueType> {
        let at = self.pos();
        let id = self.u32()?;
        ValueType::from_id(id).ok_or_else(|| Error::at(ErrorKind::UnknownValueType(id), at))
    }

    /// One value of type `ty`; `depth` counts enclosing arrays.
    pub(crate) fn read_value(&mut self, ty: ValueType, depth: u32) -> Result<Value<'a>> {
        let v = match ty {
            ValueType::U8 => Value::U8(self.u8()?),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array()?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array()?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array()?)),
            ValueType::U32 => Value::U32(self.u32()?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array()?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array()?)),
            ValueType::U64 => Value::U64(self.u64()?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array()?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array()?)),
            ValueType::Bool => {
                let at = self.pos();
                match self.u8()? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    b => return Err(Error::at(ErrorKind::InvalidBool(b), at)),
                }
            }
            ValueType::String => Value::String(self.string()?),
            ValueType::Array => Value::Array(self.read_array(depth)?),
        };
        Ok(v)
    }

    fn read_array(&mut self, depth: u32) -> Result<Array<'a>> {
        if depth >= self.limits.max_array_depth {
            return Err(Error::at(
                ErrorKind::NestingTooDeep(self.limits.max_array_depth),
                self.pos(),
            ));
        }
        let elem = self.value_type()?;
        let min_size = match elem {
            ValueType::String => 8,
            ValueType::Array => 12,
            t => t.fixed_size().unwrap_or(1) as u64,
        };
        let len = self.count("array length", self.limits.max_array_len, min_size)?;
        let start = self.pos;
        match elem.fixed_size() {
            Some(size) => {
                // len * size <= remaining, checked by `count`.
                let bytes = self.take(len * size as u64)?;
                if elem == ValueType::Bool
                    && let Some(i) = bytes.iter().position(|&b| b > 1)
                {
                    return Err(Error::at(
                        ErrorKind::InvalidBool(bytes[i]),
                        (start + i) as u64,
                    ));
                }
            }
            None => {
                for _ in 0..len {
                    self.read_value(elem, depth + 1)?;
                }
            }
        }
        Ok(Array {
            elem,
            len,
            bytes: &self.bytes[start..self.pos],
        })
    }
}

/// One tensor's header entry and its data, borrowed from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo<'a> {
    name: &'a str,
    dims: [u64; MAX_DIMS],
    n_dims: usize,
    ggml_type: GgmlType,
    offset: u64,
    file_offset: u64,
    data: &'a [u8],
}

impl<'a> TensorInfo<'a> {
    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Its shape in ggml order: `dims()[0]` is the row length (contiguous).
    pub fn dims(&self) -> &[u64] {
        &self.dims[..self.n_dims]
    }

    /// Its element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }

    /// The product of the dimensions.
    pub fn n_elements(&self) -> u64 {
        // Checked against overflow at parse time.
        self.dims().iter().product()
    }

    /// The offset of its data, relative to the data section (as stored in the file).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The offset of its data from the start of the file.
    pub fn file_offset(&self) -> u64 {
        self.file_offset
    }

    /// Its data, exactly `n_bytes()` long.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The size of its data in bytes.
    pub fn n_bytes(&self) -> u64 {
        self.data.len() as u64
    }
}

/// A parsed GGUF file: metadata and tensor infos, borrowing the file's bytes.
#[derive(Clone, Debug)]
pub struct Gguf<'a> {
    version: u32,
    alignment: u64,
    metadata: Vec<(&'a str, Value<'a>)>,
    key_index: HashMap<&'a str, usize>,
    tensors: Vec<TensorInfo<'a>>,
    tensor_index: HashMap<&'a str, usize>,
    data_offset: u64,
}

impl<'a> Gguf<'a> {
    /// Parses `bytes` with the default [`Limits`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_with_limits(bytes, Limits::default())
    }

    /// Parses `bytes`, rejecting anything beyond `limits`.
    pub fn parse_with_limits(bytes: &'a [u8], limits: Limits) -> Result<Self> {
        let mut c = Cursor {
            bytes,
            pos: 0,
            limits,
        };
        let magic: [u8; 4] = c.array()?;
        if &magic != b"GGUF" {
            return Err(Error::at(ErrorKind::BadMagic(magic), 0));
        }
        let version = c.u32()?;
        if version != 2 && version != 3 {
            let swapped = version.swap_bytes();
            let kind = if version > 0xffff && (1..=3).contains(&swapped) {
                ErrorKind::BigEndian
            } else {
                ErrorKind::UnsupportedVersion(version)
            };
            return Err(Error::at(kind, 4));
        }
        // A tensor info takes at least 8 (name length) + 4 + 4 + 8 bytes; a key-value
        // pair at least 8 (key length) + 4 (type) + 1.
        let n_tensors = c.count("tensor count", limits.max_tensor_count, 24)?;
        let n_kv = c.count("metadata key count", limits.max_kv_count, 13)?;

        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut key_index = HashMap::with_capacity(n_kv as usize);
        for _ in 0..n_kv {
            let at = c.pos();
            let key = c.string()?;
            let ty = c.value_type().map_err(|e| e.with_context(key_ctx(key)))?;
            let value = c
                .read_value(ty, 0)
                .map_err(|e| e.with_context(key_ctx(key)))?;
            match key_index.entry(key) {
                Entry::Occupied(_) => {
                    return Err(Error::at(ErrorKind::DuplicateKey(key.to_owned()), at));
                }
                Entry::Vacant(slot) => {
                    slot.insert(metadata.len());
                }
            }
            metadata.push((key, value));
        }

        let alignment = match key_index.get("general.alignment").map(|&i| metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) if a.is_power_of_two() => u64::from(a),
            Some(Value::U32(a)) => {
                return Err(Error::new(ErrorKind::BadAlignment(format!(
                    "{a} is not a power of two"
                ))));
            }
            Some(v) => {
                return Err(Error::new(ErrorKind::BadAlignment(format!(
                    "type {} instead of UINT32",
                    v.value_type()
                ))));
            }
        };

        struct Raw<'a> {
            name: &'a str,
            dims: [u64; MAX_DIMS],
            n_dims: usize,
            ggml_type: GgmlType,
            offset: u64,
            n_bytes: u64,
            at: u64,
        }
        let mut raws = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let at = c.pos();
            let name = c.string()?;
            let ctx = || tensor_ctx(name);
            let dims_at = c.pos();
            let n_dims = c.u32().map_err(|e| e.with_context(ctx()))?;
            if n_dims as usize > MAX_DIMS {
                return Err(Error::at(ErrorKind::TooManyDims(n_dims), dims_at).with_context(ctx()));
            }
            let mut dims = [1u64; MAX_DIMS];
            for d in dims.iter_mut().take(n_dims as usize) {
                *d = c.u64().map_err(|e| e.with_context(ctx()))?;
            }
            let type_at = c.pos();
            let type_id = c.u32().map_err(|e| e.with_context(ctx()))?;
            let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| {
                Error::at(ErrorKind::UnknownGgmlType(type_id), type_at).with_context(ctx())
            })?;
            let offset = c.u64().map_err(|e| e.with_context(ctx()))?;
            let n_bytes = tensor_bytes(ggml_type, &dims)
                .map_err(|k| Error::at(k, dims_at).with_context(ctx()))?;
            if tensor_index.insert(name, i as usize).is_some() {
                return Err(Error::at(ErrorKind::DuplicateTensor(name.to_owned()), at));
            }
            raws.push(Raw {
                name,
                dims,
                n_dims: n_dims as usize,
                ggml_type,
                offset,
                n_bytes,
                at,
            });
        }

        let info_end = c.pos();
        let data_offset =
            align_up(info_end, alignment).ok_or(Error::at(ErrorKind::Overflow, info_end))?;
        let data_len = (bytes.len() as u64).saturating_sub(data_offset);
        if !raws.is_empty() && data_offset > bytes.len() as u64 {
            return Err(Error::at(
                ErrorKind::UnexpectedEof {
                    needed: data_offset - info_end,
                    available: bytes.len() as u64 - info_end,
                },
                info_end,
            ));
        }

        let mut tensors = Vec::with_capacity(raws.len());
        for r in &raws {
            let err = |k| Error::at(k, r.at).with_context(tensor_ctx(r.name));
            if r.offset % alignment != 0 {
                return Err(err(ErrorKind::MisalignedTensor {
                    offset: r.offset,
                    alignment,
                }));
            }
            let end = r
                .offset
                .checked_add(r.n_bytes)
                .ok_or_else(|| err(ErrorKind::Overflow))?;
            if end > data_len {
                return Err(err(ErrorKind::TensorOutOfBounds { end, data_len }));
            }
            // data_offset + end <= bytes.len(), so both fit in usize.
            let start = (data_offset + r.offset) as usize;
            tensors.push(TensorInfo {
                name: r.name,
                dims: r.dims,
                n_dims: r.n_dims,
                ggml_type: r.ggml_type,
                offset: r.offset,
                file_offset: data_offset + r.offset,
                data: &bytes[start..start + r.n_bytes as usize],
            });
        }

        let mut order: Vec<usize> = (0..raws.len()).filter(|&i| raws[i].n_bytes > 0).collect();
        order.sort_by_key(|&i| raws[i].offset);
        for w in order.windows(2) {
            let (a, b) = (&raws[w[0]], &raws[w[1]]);
            if a.offset + a.n_bytes > b.offset {
                return Err(
                    Error::at(ErrorKind::TensorsOverlap(a.name.to_owned()), b.at)
                        .with_context(tensor_ctx(b.name)),
                );
            }
        }

        Ok(Gguf {
            version,
            alignment,
            metadata,
            key_index,
            tensors,
            tensor_index,
            data_offset,
        })
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The data alignment in force (`general.alignment`, else 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Where the data section starts in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Every metadata pair, in file order.
    pub fn metadata(&self) -> &[(&'a str, Value<'a>)] {
        &self.metadata
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> &[TensorInfo<'a>] {
        &self.tensors
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.key_index.get(key).map(|&i| self.metadata[i].1)
    }

    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo<'a>> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    fn require(&self, key: &str) -> Result<Value<'a>> {
        self.get(key)
            .ok_or_else(|| Error::new(ErrorKind::Metadata(format!("missing metadata key {key:?}"))))
    }

    fn typed<T>(
        &self,
        key: &str,
        want: &str,
        f: impl FnOnce(&Value<'a>) -> Option<T>,
    ) -> Result<T> {
        let v = self.require(key)?;
        f(&v).ok_or_else(|| {
            Error::new(ErrorKind::Metadata(format!(
                "metadata key {key:?} is {}, expected {want}",
                v.value_type()
            )))
        })
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&'a str> {
        self.typed(key, "a string", Value::as_str)
    }

    /// An integer value of any width, as `u64` (negative values are an error).
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// An integer value of any width that fits a `u32`.
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.typed(key, "an integer that fits u32", |v| {
            v.as_u64().and_then(|x| u32::try_from(x).ok())
        })
    }

    /// An integer value of any width, as `i64`.
    pub fn get_i64(&self, key: &str) -> Result<i64> {
        self.typed(key, "an integer", Value::as_i64)
    }

    /// An `f32` (or `f64`, rounded) value.
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.typed(key, "a float", Value::as_f32)
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        self.typed(key, "a bool", Value::as_bool)
    }

    /// An array value.
    pub fn get_array(&self, key: &str) -> Result<Array<'a>> {
        self.typed(key, "an array", Value::as_array)
    }
}

fn key_ctx(key: &str) -> String {
    format!("key {key:?}")
}

fn tensor_ctx(name: &str) -> String {
    format!("tensor {name:?}")
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    Some(x.checked_add(a - 1)? / a * a)
}

/// The byte size of a tensor of type `t` and shape `dims`, checked.
pub(crate) fn tensor_bytes(t: GgmlType, dims: &[u64]) -> std::result::Result<u64, ErrorKind> {
    let mut n: u64 = 1;
    for &d in dims {
        n = n.checked_mul(d).ok_or(ErrorKind::Overflow)?;
    }
    // ggml keeps element counts in int64.
    if n > i64::MAX as u64 {
        return Err(ErrorKind::Overflow);
    }
    let ne0 = dims.first().copied().unwrap_or(1);
    if ne0 % u64::from(t.block_size()) != 0 {
        return Err(ErrorKind::NotBlockMultiple { ggml_type: t, ne0 });
    }
    (n / u64::from(t.block_size()))
        .checked_mul(u64::from(t.type_size()))
        .ok_or(ErrorKind::Overflow)
}
