//! SentencePiece's `tokenizer.model` (a `ModelProto` protobuf), read without a protobuf
//! library: only the fields a tokenizer or converter needs are decoded, the rest skipped.
//! Hostile input gives an [`Error`] naming the byte offset, never a panic.

/// The context of every error from this module.
const CONTEXT: &str = "tokenizer.model";

use crate::error::{Error, ErrorKind};

/// A piece's type, as SentencePiece defines it (`ModelProto.SentencePiece.Type`).
/// The numbers equal llama.cpp's token types, which the GGUF `token_type` array stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum PieceType {
    /// An ordinary piece, reached by merges.
    Normal = 1,
    /// The unknown piece.
    Unknown = 2,
    /// A control piece (`<bos>`, `<eos>`, ...).
    Control = 3,
    /// A piece always matched whole in the input.
    UserDefined = 4,
    /// A reserved, unused piece.
    Unused = 5,
    /// A byte-fallback piece `<0xXX>`.
    Byte = 6,
}

impl PieceType {
    /// The type with this number, if there is one.
    pub fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

/// The segmentation algorithm a model was trained for (`TrainerSpec.model_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelType {
    /// Unigram language model (Viterbi over log-probabilities).
    Unigram,
    /// Byte-pair encoding (greedy merges by score); Gemma's kind.
    Bpe,
    /// Whitespace-delimited words.
    Word,
    /// Characters.
    Char,
}

/// One vocabulary entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// Its text, with `▁` (U+2581) for a space.
    pub text: String,
    /// Its score (for BPE models, the merge priority).
    pub score: f32,
    /// Its type.
    pub kind: PieceType,
}

/// The parts of a SentencePiece model a tokenizer needs, from
/// [`SentencePieceModel::parse`]. More fields may be decoded in the future.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SentencePieceModel {
    /// The vocabulary, in id order.
    pub pieces: Vec<Piece>,
    /// The trainer's model type, when the file says.
    pub model_type: Option<ModelType>,
    /// `NormalizerSpec.add_dummy_prefix`, when the file says.
    pub add_dummy_prefix: Option<bool>,
}

/// At most this many pieces (SentencePiece's own vocabularies stay far below it).
const MAX_PIECES: usize = 1 << 24;

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, at: usize, why: &str) -> Error {
        Error::new(ErrorKind::InvalidModel(format!(
            "{why} at byte {}",
            self.base + at
        )))
        .with_context(CONTEXT)
    }

    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let start = self.pos;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.err(start, "truncated varint"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err(start, "varint longer than 10 bytes"))
    }

    fn take(&mut self, n: u64) -> Result<(usize, &'a [u8]), Error> {
        let start = self.pos;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(self.err(start, &format!("field of {n} bytes with {left} left")));
        }
        self.pos += n as usize;
        Ok((self.base + start, &self.bytes[start..self.pos]))
    }

    /// The next field: its number, wire type, and for length-delimited fields the bytes
    /// (with their file offset); for scalars the raw value.
    fn field(&mut self) -> Result<(u64, Field<'a>), Error> {
        let at = self.pos;
        let key = self.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(u64::from_le_bytes(
                self.take(8)?.1.try_into().unwrap_or([0; 8]),
            )),
            2 => {
                let n = self.varint()?;
                let (off, b) = self.take(n)?;
                Field::Bytes(off, b)
            }
            5 => Field::Fixed32(u32::from_le_bytes(
                self.take(4)?.1.try_into().unwrap_or([0; 4]),
            )),
            w => return Err(self.err(at, &format!("unsupported wire type {w}"))),
        };
        Ok((num, f))
    }
}

enum Field<'a> {
    Varint(u64),
    Fixed64(#[allow(dead_code)] u64),
    Bytes(usize, &'a [u8]),
    Fixed32(u32),
}

impl SentencePieceModel {
    /// Parses the bytes of a `tokenizer.model` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader {
            bytes,
            pos: 0,
            base: 0,
        };
        let mut pieces = Vec::new();
        let mut model_type = None;
        let mut add_dummy_prefix = None;
        while !r.done() {
            let at = r.pos;
            match r.field()? {
                (1, Field::Bytes(off, b)) => {
                    if pieces.len() >= MAX_PIECES {
                        return Err(r.err(at, "too many pieces"));
                    }
                    pieces.push(parse_piece(b, off)?);
                }
                (2, Field::Bytes(off, b)) => {
                    model_type = trainer_model_type(b, off)?;
                }
                (3, Field::Bytes(off, b)) => {
                    add_dummy_prefix = normalizer_dummy_prefix(b, off)?;
                }
                (1..=3, _) => return Err(r.err(at, "field has the wrong wire type")),
                _ => {}
            }
        }
        if pieces.is_empty() {
            return Err(
                Error::new(ErrorKind::InvalidModel("no pieces".into())).with_context(CONTEXT)
            );
        }
        Ok(SentencePieceModel {
            pieces,
            model_type,
            add_dummy_prefix,
        })
    }
}

fn parse_piece(bytes: &[u8], base: usize) -> Result<Piece, Error> {
    let mut r = Reader {
        bytes,
        pos: 0,
        base,
    };
    let mut piece = Piece {
        text: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    while !r.done() {
        let at = r.pos;
        match r.field()? {
            (1, Field::Bytes(off, b)) => {
                piece.text = String::from_utf8(b.to_vec()).map_err(|e| {
                    let e = e.utf8_error();
                    Error::new(ErrorKind::InvalidModel(format!(
                        "piece is not UTF-8 at byte {}",
                        off + e.valid_up_to()
                    )))
                    .with_context(CONTEXT)
                    .with_source(e)
                })?;
            }
            (2, Field::Fixed32(v)) => piece.score = f32::from_bits(v),
            (3, Field::Varint(v)) => {
                piece.kind = i32::try_from(v)
                    .ok()
                    .and_then(PieceType::from_i32)
                    .ok_or_else(|| r.err(at, &format!("unknown piece type {v}")))?;
            }
            (1..=3, _) => return Err(r.err(at, "piece field has the wrong wire type")),
            _ => {}
        }
    }
    Ok(piece)
}

fn trainer_model_type(bytes: &[u8], base: usize) -> Result<Option<ModelType>, Error> {
    let mut r = Reader {
        bytes,
        pos: 0,
        base,
    };
    let mut t = None;
    while !r.done() {
        if let (3, Field::Varint(v)) = r.field()? {
            t = match v {
                1 => Some(ModelType::Unigram),
                2 => Some(ModelType::Bpe),
                3 => Some(ModelType::Word),
                4 => Some(ModelType::Char),
                _ => None,
            };
        }
    }
    Ok(t)
}

fn normalizer_dummy_prefix(bytes: &[u8], base: usize) -> Result<Option<bool>, Error> {
    let mut r = Reader {
        bytes,
        pos: 0,
        base,
    };
    let mut v = None;
    while !r.done() {
        if let (3, Field::Varint(x)) = r.field()? {
            v = Some(x != 0);
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes_field(num: u64, b: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn piece(text: &str, score: f32, kind: Option<i32>) -> Vec<u8> {
        let mut p = Vec::new();
        bytes_field(1, text.as_bytes(), &mut p);
        varint(2 << 3 | 5, &mut p);
        p.extend_from_slice(&score.to_le_bytes());
        if let Some(k) = kind {
            varint(3 << 3, &mut p);
            varint(k as u64, &mut p);
        }
        p
    }

    fn model() -> Vec<u8> {
        let mut m = Vec::new();
        bytes_field(1, &piece("<unk>", 0.0, Some(2)), &mut m);
        bytes_field(1, &piece("▁a", -1.5, None), &mut m);
        let mut trainer = Vec::new();
        varint(3 << 3, &mut trainer);
        varint(2, &mut trainer);
        bytes_field(2, &trainer, &mut m);
        let mut norm = Vec::new();
        varint(3 << 3, &mut norm);
        varint(0, &mut norm);
        bytes_field(3, &norm, &mut m);
        bytes_field(9, b"ignored", &mut m);
        m
    }

    #[test]
    fn parses_pieces_types_and_specs() {
        let m = SentencePieceModel::parse(&model()).unwrap();
        assert_eq!(m.pieces.len(), 2);
        assert_eq!(m.pieces[0].kind, PieceType::Unknown);
        assert_eq!(
            m.pieces[1],
            Piece {
                text: "▁a".into(),
                score: -1.5,
                kind: PieceType::Normal
            }
        );
        assert_eq!(m.model_type, Some(ModelType::Bpe));
        assert_eq!(m.add_dummy_prefix, Some(false));
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_model() {
        let full = model();
        for n in 0..full.len() {
            // Never a panic; a cut inside a field is an error.
            let _ = SentencePieceModel::parse(&full[..n]);
        }
        let e = SentencePieceModel::parse(&full[..5]).unwrap_err();
        assert_eq!(e.context(), Some("tokenizer.model"));
        assert!(e.to_string().starts_with("tokenizer.model: "), "{e}");
        assert!(e.to_string().contains("at byte"), "{e}");
    }

    #[test]
    fn hostile_lengths_and_types() {
        let mut m = Vec::new();
        varint(1 << 3 | 2, &mut m);
        varint(u64::MAX >> 1, &mut m);
        assert!(SentencePieceModel::parse(&m).is_err());
        let mut m = Vec::new();
        bytes_field(1, &piece("x", 0.0, Some(9)), &mut m);
        let e = SentencePieceModel::parse(&m).unwrap_err();
        assert!(e.to_string().contains("unknown piece type 9"), "{e}");
        assert!(SentencePieceModel::parse(&[0xff; 11]).is_err());
        let e = SentencePieceModel::parse(&[]).unwrap_err();
        assert_eq!(e.to_string(), "tokenizer.model: no pieces");
    }

    #[test]
    fn a_piece_that_is_not_utf8_keeps_the_utf8_error() {
        use std::error::Error as _;
        let mut p = Vec::new();
        bytes_field(1, b"a\xffb", &mut p);
        let mut m = Vec::new();
        bytes_field(1, &p, &mut m);
        let e = SentencePieceModel::parse(&m).unwrap_err();
        // The piece's text starts at byte 4 (two tags, two lengths); its byte 1 is bad.
        assert_eq!(
            e.to_string(),
            "tokenizer.model: piece is not UTF-8 at byte 5"
        );
        let utf8 = e
            .source()
            .and_then(|s| s.downcast_ref::<std::str::Utf8Error>());
        assert_eq!(utf8.map(|u| u.valid_up_to()), Some(1));
    }
}
