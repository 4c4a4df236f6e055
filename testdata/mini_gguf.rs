//! A minimal GGUF reader for the tests of crates that may not depend on gguf-format
//! (the dependency rule of DEVELOPERS.md): `#[path = ".../testdata/mini_gguf.rs"] mod mini_gguf;`.
//! It trusts its input (the project's own test files) and panics on anything odd.
#![allow(dead_code)]

use std::collections::HashMap;

/// A metadata value; arrays of numbers are widened.
#[derive(Debug, Clone)]
pub enum Meta {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

/// A tensor's type id, dims and data.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub ggml_type: u32,
    pub dims: Vec<u64>,
    pub data: Vec<u8>,
}

pub struct MiniGguf {
    pub meta: HashMap<String, Meta>,
    pub tensors: Vec<(String, Tensor)>,
}

struct R<'a> {
    b: &'a [u8],
    p: usize,
}

impl R<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        self.p += n;
        &self.b[self.p - n..self.p]
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
    fn scalar(&mut self, t: u32) -> Meta {
        match t {
            0 => Meta::Int(self.take(1)[0] as i64),
            1 => Meta::Int(self.take(1)[0] as i8 as i64),
            2 => Meta::Int(u16::from_le_bytes(self.take(2).try_into().unwrap()) as i64),
            3 => Meta::Int(i16::from_le_bytes(self.take(2).try_into().unwrap()) as i64),
            4 => Meta::Int(self.u32() as i64),
            5 => Meta::Int(self.u32() as i32 as i64),
            6 => Meta::Float(f32::from_bits(self.u32()) as f64),
            7 => Meta::Bool(self.take(1)[0] != 0),
            8 => Meta::Str(self.string()),
            10 => Meta::Int(self.u64() as i64),
            11 => Meta::Int(self.u64() as i64),
            12 => Meta::Float(f64::from_bits(self.u64())),
            t => panic!("mini_gguf: unsupported value type {t}"),
        }
    }
}

/// Reads the file at `path`: metadata, and the tensors when `with_tensors`.
pub fn read(path: &std::path::Path, with_tensors: bool) -> MiniGguf {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = R { b: &b, p: 0 };
    assert_eq!(r.take(4), b"GGUF");
    r.u32();
    let n_tensors = r.u64();
    let n_kv = r.u64();
    let mut meta = HashMap::new();
    for _ in 0..n_kv {
        let key = r.string();
        let t = r.u32();
        let v = if t == 9 {
            let et = r.u32();
            let n = r.u64() as usize;
            let items: Vec<Meta> = (0..n).map(|_| r.scalar(et)).collect();
            match et {
                8 => Meta::Strs(
                    items
                        .into_iter()
                        .map(|m| {
                            if let Meta::Str(s) = m {
                                s
                            } else {
                                unreachable!()
                            }
                        })
                        .collect(),
                ),
                6 | 12 => Meta::Floats(
                    items
                        .into_iter()
                        .map(|m| {
                            if let Meta::Float(f) = m {
                                f
                            } else {
                                unreachable!()
                            }
                        })
                        .collect(),
                ),
                _ => Meta::Ints(
                    items
                        .into_iter()
                        .map(|m| match m {
                            Meta::Int(i) => i,
                            Meta::Bool(b) => b as i64,
                            _ => unreachable!(),
                        })
                        .collect(),
                ),
            }
        } else {
            r.scalar(t)
        };
        meta.insert(key, v);
    }
    let align = match meta.get("general.alignment") {
        Some(Meta::Int(a)) => *a as usize,
        _ => 32,
    };
    let mut infos = Vec::new();
    for _ in 0..n_tensors {
        let name = r.string();
        let n_dims = r.u32();
        let dims: Vec<u64> = (0..n_dims).map(|_| r.u64()).collect();
        let ty = r.u32();
        let off = r.u64() as usize;
        infos.push((name, ty, dims, off));
    }
    if !with_tensors {
        return MiniGguf {
            meta,
            tensors: Vec::new(),
        };
    }
    let data = r.p.next_multiple_of(align);
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    let mut ends: Vec<usize> = infos.iter().map(|i| i.3).skip(1).collect();
    ends.push(b.len() - data);
    for ((name, ty, dims, off), end) in infos.into_iter().zip(ends) {
        // Data runs to the next tensor's offset (padding included): trim by type size.
        let n: u64 = dims.iter().product();
        let len = match ty {
            0 => 4 * n as usize,
            1 | 30 => 2 * n as usize,
            8 => n as usize / 32 * 34,
            2 => n as usize / 32 * 18,
            3 => n as usize / 32 * 20,
            6 => n as usize / 32 * 22,
            7 => n as usize / 32 * 24,
            12 => n as usize / 256 * 144,
            13 => n as usize / 256 * 176,
            14 => n as usize / 256 * 210,
            _ => end - off,
        };
        tensors.push((
            name,
            Tensor {
                ggml_type: ty,
                dims,
                data: b[data + off..data + off + len].to_vec(),
            },
        ));
    }
    MiniGguf { meta, tensors }
}
