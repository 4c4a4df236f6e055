//! ggml's block layouts (`ggml/src/ggml-common.h`), byte for byte.
//!
//! Each block is `#[repr(C)]`, has no padding, and its size is checked at compile time
//! against ggml's `static_assert`s. Half-precision scales are stored as raw IEEE binary16
//! bits (`u16`, little-endian in the file), so a block can be read from GGUF bytes with
//! `bytemuck` without a copy.

use bytemuck::{Pod, Zeroable};

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

const _: () = assert!(size_of::<BlockQ8_0>() == 34);
const _: () = assert!(size_of::<BlockQ4_0>() == 18);
const _: () = assert!(size_of::<BlockQ4_1>() == 20);
const _: () = assert!(size_of::<BlockQ5_0>() == 22);
const _: () = assert!(size_of::<BlockQ5_1>() == 24);
