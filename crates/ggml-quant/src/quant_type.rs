//! [`QuantType`]: the ggml types this crate computes with, sized by gguf-format's table.

use gguf_format::GgmlType;

use crate::error::{Error, ErrorKind};

/// A ggml type this crate quantizes, dequantizes and multiplies: the subset of
/// [`GgmlType`] it has code for. Block and byte sizes come from [`GgmlType`]'s table,
/// the one table of them.
///
/// ```
/// use ggml_quant::QuantType;
/// use gguf_format::GgmlType;
///
/// let q = QuantType::try_from(GgmlType::Q4_K).unwrap();
/// assert_eq!((q.block_size(), q.type_size()), (256, 144));
/// assert_eq!(q.ggml_type(), GgmlType::Q4_K);
/// assert!(QuantType::try_from(GgmlType::IQ2_XS).is_err());
/// ```
#[allow(non_camel_case_types, missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuantType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
}

impl QuantType {
    /// Every type.
    pub const ALL: [QuantType; 12] = [
        QuantType::F32,
        QuantType::F16,
        QuantType::BF16,
        QuantType::Q8_0,
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
        QuantType::Q8_K,
    ];

    /// The ggml type (and so the GGUF type id) this is.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            QuantType::F32 => GgmlType::F32,
            QuantType::F16 => GgmlType::F16,
            QuantType::BF16 => GgmlType::BF16,
            QuantType::Q8_0 => GgmlType::Q8_0,
            QuantType::Q4_0 => GgmlType::Q4_0,
            QuantType::Q4_1 => GgmlType::Q4_1,
            QuantType::Q5_0 => GgmlType::Q5_0,
            QuantType::Q5_1 => GgmlType::Q5_1,
            QuantType::Q4_K => GgmlType::Q4_K,
            QuantType::Q5_K => GgmlType::Q5_K,
            QuantType::Q6_K => GgmlType::Q6_K,
            QuantType::Q8_K => GgmlType::Q8_K,
        }
    }

    /// Values per block ([`GgmlType::block_size`]).
    pub fn block_size(self) -> usize {
        self.ggml_type().block_size() as usize
    }

    /// Bytes per block ([`GgmlType::type_size`]).
    pub fn type_size(self) -> usize {
        self.ggml_type().type_size() as usize
    }

    /// Bytes taken by `n` values, or an error when `n` is not a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Result<usize, Error> {
        let block = self.block_size();
        if !n.is_multiple_of(block) {
            return Err(Error::new(ErrorKind::NotBlockMultiple {
                quant: self,
                n,
                block,
            }));
        }
        Ok(n / block * self.type_size())
    }
}

impl From<QuantType> for GgmlType {
    fn from(q: QuantType) -> GgmlType {
        q.ggml_type()
    }
}

impl TryFrom<GgmlType> for QuantType {
    type Error = Error;

    /// The [`QuantType`] of `t`, or [`ErrorKind::UnsupportedType`].
    fn try_from(t: GgmlType) -> Result<Self, Error> {
        QuantType::ALL
            .into_iter()
            .find(|q| q.ggml_type() == t)
            .ok_or_else(|| Error::new(ErrorKind::UnsupportedType(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::*;

    #[test]
    fn ggml_types_round_trip() {
        for q in QuantType::ALL {
            assert_eq!(QuantType::try_from(q.ggml_type()), Ok(q));
            assert_eq!(GgmlType::from(q), q.ggml_type());
        }
        let supported = GgmlType::ALL
            .iter()
            .filter(|&&t| QuantType::try_from(t).is_ok())
            .count();
        assert_eq!(supported, QuantType::ALL.len());
        let e = QuantType::try_from(GgmlType::Q2_K).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::UnsupportedType(GgmlType::Q2_K));
    }

    /// The block structs are the table's sizes (and `blocks.rs` checks ggml's own
    /// `static_assert`s at compile time).
    #[test]
    fn block_structs_have_the_tables_sizes() {
        for (q, size, values) in [
            (QuantType::Q8_0, size_of::<BlockQ8_0>(), QK8_0),
            (QuantType::Q4_0, size_of::<BlockQ4_0>(), QK4_0),
            (QuantType::Q4_1, size_of::<BlockQ4_1>(), QK4_0),
            (QuantType::Q5_0, size_of::<BlockQ5_0>(), QK4_0),
            (QuantType::Q5_1, size_of::<BlockQ5_1>(), QK4_0),
            (QuantType::Q4_K, size_of::<BlockQ4K>(), QK_K),
            (QuantType::Q5_K, size_of::<BlockQ5K>(), QK_K),
            (QuantType::Q6_K, size_of::<BlockQ6K>(), QK_K),
            (QuantType::Q8_K, size_of::<BlockQ8K>(), QK_K),
            (QuantType::F32, size_of::<f32>(), 1),
            (QuantType::F16, size_of::<u16>(), 1),
            (QuantType::BF16, size_of::<u16>(), 1),
        ] {
            assert_eq!((q.type_size(), q.block_size()), (size, values), "{q:?}");
        }
    }
}
