//! ggml's block layouts (`ggml/src/ggml-common.h`), byte for byte.
//!
//! Each block is `#[repr(C)]`, has no padding, and its size is checked at compile time
//! against ggml's `static_assert`s. Half-precision scales are stored as raw IEEE binary16
//! bits (`u16`, little-endian in the file), so a block can be read from GGUF bytes with
//! `bytemuck` without a copy.

use bytemuck::{Pod, Zeroable};
use gguf_format::GgmlType;

/// Values per block of Q8_0.
pub const QK8_0: usize = 32;
/// Values per block of Q4_0, Q4_1, Q5_0 and Q5_1.
pub const QK4_0: usize = 32;

/// `block_q8_0`: `y = d * qs[j]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    /// Scale, f16 bits.
    pub d: u16,
    /// Quants.
    pub qs: [i8; QK8_0],
}

/// `block_q4_0`: `y = d * (nibble - 8)`; low nibbles hold values 0..16, high nibbles 16..32.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    /// Scale, f16 bits.
    pub d: u16,
    /// Nibbles.
    pub qs: [u8; QK4_0 / 2],
}

/// `block_q4_1`: `y = d * nibble + m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    /// Scale, f16 bits.
    pub d: u16,
    /// Minimum, f16 bits.
    pub m: u16,
    /// Nibbles.
    pub qs: [u8; QK4_0 / 2],
}

/// `block_q5_0`: `y = d * (nibble | fifth_bit << 4) - 16 * d`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale, f16 bits.
    pub d: u16,
    /// The fifth bit of each of the 32 values.
    pub qh: [u8; 4],
    /// Low four bits.
    pub qs: [u8; QK4_0 / 2],
}

/// `block_q5_1`: `y = d * (nibble | fifth_bit << 4) + m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    /// Scale, f16 bits.
    pub d: u16,
    /// Minimum, f16 bits.
    pub m: u16,
    /// The fifth bit of each of the 32 values.
    pub qh: [u8; 4],
    /// Low four bits.
    pub qs: [u8; QK4_0 / 2],
}

/// A block layout has exactly the bytes gguf-format's type table gives its type.
macro_rules! sized_as {
    ($block:ty, $ty:ident) => {
        const _: () = assert!(size_of::<$block>() == GgmlType::$ty.type_size() as usize);
    };
}

sized_as!(BlockQ8_0, Q8_0);
sized_as!(BlockQ4_0, Q4_0);
sized_as!(BlockQ4_1, Q4_1);
sized_as!(BlockQ5_0, Q5_0);
sized_as!(BlockQ5_1, Q5_1);

/// Values per super-block of the K-quants (`QK_K`).
pub const QK_K: usize = 256;
/// Bytes of packed 6-bit scales and mins in Q4_K and Q5_K (`K_SCALE_SIZE`).
pub const K_SCALE_SIZE: usize = 12;

/// `block_q4_K`: eight sub-blocks of 32, `y = d * sc * nibble - dmin * m` with 6-bit
/// `sc` and `m` packed in `scales` (see `get_scale_min_k4`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4K {
    /// Super-block scale of the scales, f16 bits.
    pub d: u16,
    /// Super-block scale of the mins, f16 bits.
    pub dmin: u16,
    /// Scales and mins, 6 bits each.
    pub scales: [u8; K_SCALE_SIZE],
    /// Nibbles: byte `l` of chunk `c` holds values `64 c + l` (low) and `64 c + 32 + l` (high).
    pub qs: [u8; QK_K / 2],
}

/// `block_q5_K`: as [`BlockQ4K`] with a fifth bit per value in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5K {
    /// Super-block scale of the scales, f16 bits.
    pub d: u16,
    /// Super-block scale of the mins, f16 bits.
    pub dmin: u16,
    /// Scales and mins, 6 bits each.
    pub scales: [u8; K_SCALE_SIZE],
    /// Fifth bits.
    pub qh: [u8; QK_K / 8],
    /// Low four bits.
    pub qs: [u8; QK_K / 2],
}

/// `block_q6_K`: sixteen sub-blocks of 16, `y = d * scales[s] * (q - 32)` with 6-bit `q`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ6K {
    /// Low four bits.
    pub ql: [u8; QK_K / 2],
    /// High two bits.
    pub qh: [u8; QK_K / 4],
    /// Sub-block scales.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale, f16 bits.
    pub d: u16,
}

/// `block_q8_K`: the K-quants' activation format, `y = d * qs[j]`, with the sums of
/// each 16 quants.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ8K {
    /// Scale (f32, not f16).
    pub d: f32,
    /// Quants.
    pub qs: [i8; QK_K],
    /// Sums of each 16 quants.
    pub bsums: [i16; QK_K / 16],
}

sized_as!(BlockQ4K, Q4_K);
sized_as!(BlockQ5K, Q5_K);
sized_as!(BlockQ6K, Q6_K);
sized_as!(BlockQ8K, Q8_K);
