//! The CPU's own limit for each kernel's multiply instruction, measured: a loop of that
//! instruction alone, on registers only, with enough independent accumulators to hide
//! its latency. No product of the kernels can go faster on this CPU, so a product's
//! multiply-adds per second divided by this figure says how much of the machine it uses
//! (the rest goes to loads, packing, quantization and everything else a kernel does).
//!
//! Each [`Arithmetic`] measures the instruction the path in force runs for it
//! ([`crate::simd_path`]): for int16, `vpdpwssd` (AVX-512 VNNI), `vpmaddwd` + `vpaddd`
//! on 512 bits (AVX-512BW) or on 256 (AVX2); for int8, `vpdpbusd` on 512 bits (AVX-512
//! VNNI) or the VEX-coded 256-bit one (AVX-VNNI); for f32, `vfmadd231ps` on 512 or 256
//! bits. A path whose kernel is the portable one has no loop here ([`measure`] gives
//! `None`), nor does aarch64 yet.
//!
//! ```
//! use std::time::Duration;
//! use ggml_quant::peak::{Arithmetic, measure};
//!
//! if let Some(p) = measure(Arithmetic::Int16, Duration::from_millis(20)) {
//!     assert!(p.macs_per_second > 0.0);
//!     println!("{}: {:.1} GMAC/s on one thread", p.instruction, p.macs_per_second / 1e9);
//! }
//! ```

use std::time::{Duration, Instant};

use crate::arch;

/// Which of the kernels' arithmetics to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arithmetic {
    /// int16 pairs summed into int32 (the int16 kernels).
    Int16,
    /// unsigned by signed bytes, quads summed into int32 (the int8 kernels).
    Int8,
    /// f32 fused multiply-add (the f32 kernels).
    F32,
}

impl Arithmetic {
    /// All three.
    pub const ALL: [Arithmetic; 3] = [Arithmetic::Int16, Arithmetic::Int8, Arithmetic::F32];

    /// `int16`, `int8` or `f32`.
    pub fn name(self) -> &'static str {
        match self {
            Arithmetic::Int16 => "int16",
            Arithmetic::Int8 => "int8",
            Arithmetic::F32 => "f32",
        }
    }
}

/// One measurement on the calling thread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// The instruction timed, as the kernels name their paths (`avx512-vnni`,
    /// `avx512bw`, `avx2`, `avx-vnni`).
    pub instruction: &'static str,
    /// Multiply-adds per second on this thread.
    pub macs_per_second: f64,
}

/// A register-only loop: runs `iterations` rounds and returns the multiply-adds one
/// round does.
pub(crate) struct Spin {
    pub(crate) name: &'static str,
    pub(crate) macs_per_round: u64,
    pub(crate) run: fn(u64),
}

/// Times the loop of `arith`'s instruction for the path in force on this thread for
/// about `duration` (at least a few milliseconds), and returns its best rate over a few
/// tries; `None` where the path runs the portable kernel for `arith`. Run it on as many
/// threads at once as the product uses, one per core, and add the rates: that is the
/// limit of a product on those threads.
pub fn measure(arith: Arithmetic, duration: Duration) -> Option<Peak> {
    let spin = arch::spin(arith)?;
    // Calibrate the rounds to a slice of the time, then keep the best of the slices.
    let mut rounds = 1u64 << 12;
    loop {
        let t = Instant::now();
        (spin.run)(rounds);
        if t.elapsed() >= Duration::from_millis(2) || rounds >= 1 << 40 {
            break;
        }
        rounds *= 4;
    }
    let slices = 5u32;
    let slice = (duration / slices).max(Duration::from_millis(1));
    let mut best = 0f64;
    for _ in 0..slices {
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < slice {
            (spin.run)(rounds);
            done += rounds;
        }
        let rate = (done * spin.macs_per_round) as f64 / start.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    Some(Peak {
        instruction: spin.name,
        macs_per_second: best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimdPath, with_path};

    #[test]
    fn each_path_names_the_instruction_its_kernel_uses() {
        for path in crate::available_paths() {
            with_path(path, || {
                let i16 = measure(Arithmetic::Int16, Duration::from_millis(5));
                let i8 = measure(Arithmetic::Int8, Duration::from_millis(5));
                let f32 = measure(Arithmetic::F32, Duration::from_millis(5));
                if path == SimdPath::Scalar {
                    assert!(i16.is_none() && i8.is_none() && f32.is_none());
                }
                if let Some(p) = i16 {
                    assert_eq!(p.instruction, crate::kernel_i16_name());
                    assert!(p.macs_per_second > 1e6, "{p:?}");
                }
                if let Some(p) = i8 {
                    assert_eq!(p.instruction, crate::kernel_i8_name());
                    assert!(p.macs_per_second > 1e6, "{p:?}");
                }
                if let Some(p) = f32 {
                    assert!(p.macs_per_second > 1e6, "{p:?}");
                }
            });
        }
    }
}
