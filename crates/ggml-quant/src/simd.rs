//! The kernel paths ([`SimdPath`]) and the one place that chooses between them.
//!
//! Every kernel of the crate exists once per path: the portable code compiled by `pulp`
//! for the path's instruction set (the row quantizers, the dot products and the model
//! math in [`crate::kernels`]), and the matrix kernels of `arch/` written out per
//! instruction set. Which path runs is decided once per process: the best the CPU has,
//! or the one [`SIMD_ENV`] names when the CPU has it (else the best below it).
//! [`with_path`] forces another path on one thread, which is how the tests and benches
//! compare paths.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use pulp::{Arch, WithSimd};

use crate::error::{Error, ErrorKind};

/// The environment variable that forces a kernel path (`GGML_QUANT_SIMD=avx2`); its
/// value is parsed as a [`SimdPath`].
pub const SIMD_ENV: &str = "GGML_QUANT_SIMD";

/// An instruction set the kernels are compiled for. Every path gives the same bits as
/// [`SimdPath::Scalar`], the portable definition of the arithmetic.
///
/// ```
/// use ggml_quant::SimdPath;
///
/// let path: SimdPath = "avx2".parse().unwrap();
/// assert_eq!(path.to_string(), "avx2");
/// assert!(SimdPath::Scalar.is_available());
/// assert!("avx-2".parse::<SimdPath>().is_err());
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimdPath {
    /// x86-64 AVX-512 (`pulp`'s x86-64-v4). The int16 kernel uses AVX-512 VNNI's
    /// `vpdpwssd` where the CPU has it, AVX-512BW's `vpmaddwd` otherwise; the int8
    /// kernel uses AVX-512 VNNI's `vpdpbusd`, else AVX-VNNI's 256-bit one, else the
    /// portable kernel.
    Avx512,
    /// x86-64 AVX2 with FMA (x86-64-v3); the int8 kernel uses AVX-VNNI where the CPU
    /// has it, the portable kernel otherwise.
    Avx2,
    /// aarch64 NEON with the dot-product extension (`sdot`) for the int8 kernel.
    NeonDotprod,
    /// aarch64 NEON (`smull` + `sadalp` for the int8 kernel).
    Neon,
    /// Portable code only: the definition every other path reproduces bit for bit.
    Scalar,
}

/// This architecture's paths, best first; asking for one of them gets the best
/// available path at or below it.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
const LADDER: &[SimdPath] = &[SimdPath::Avx512, SimdPath::Avx2, SimdPath::Scalar];
#[cfg(target_arch = "aarch64")]
const LADDER: &[SimdPath] = &[SimdPath::NeonDotprod, SimdPath::Neon, SimdPath::Scalar];
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
const LADDER: &[SimdPath] = &[SimdPath::Scalar];

impl SimdPath {
    /// Every path, best first.
    pub const ALL: [SimdPath; 5] = [
        SimdPath::Avx512,
        SimdPath::Avx2,
        SimdPath::NeonDotprod,
        SimdPath::Neon,
        SimdPath::Scalar,
    ];

    /// The path's name: `avx512`, `avx2`, `neon-dotprod`, `neon` or `scalar` (what
    /// [`SIMD_ENV`] takes, and what `Display` prints).
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Avx512 => "avx512",
            SimdPath::Avx2 => "avx2",
            SimdPath::NeonDotprod => "neon-dotprod",
            SimdPath::Neon => "neon",
            SimdPath::Scalar => "scalar",
        }
    }

    /// Whether this CPU can run the path (always true for [`SimdPath::Scalar`]).
    pub fn is_available(self) -> bool {
        self.arch().is_some()
    }

    /// The best path this CPU can run.
    pub fn best() -> SimdPath {
        at_or_below(LADDER).1
    }

    /// The path [`SIMD_ENV`] names: `None` when it is unset or empty, an error when it
    /// names no path.
    pub fn from_env() -> Result<Option<SimdPath>, Error> {
        match std::env::var(SIMD_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => {
                let kind = ErrorKind::UnknownSimdPath(v.to_string_lossy().into_owned());
                let cause = std::env::VarError::NotUnicode(v);
                Err(Error::new(kind).with_context(SIMD_ENV).with_source(cause))
            }
            Ok(s) if s.is_empty() => Ok(None),
            Ok(s) => s
                .parse()
                .map(Some)
                .map_err(|e: Error| e.with_context(SIMD_ENV)),
        }
    }

    /// `pulp`'s dispatch token for the path, when the CPU has it.
    fn arch(self) -> Option<Arch> {
        match self {
            SimdPath::Scalar => Some(Arch::Scalar),
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            SimdPath::Avx512 => pulp::x86::V4::try_new().map(Arch::V4),
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            SimdPath::Avx2 => pulp::x86::V3::try_new().map(Arch::V3),
            #[cfg(target_arch = "aarch64")]
            SimdPath::NeonDotprod => (std::arch::is_aarch64_feature_detected!("neon")
                && std::arch::is_aarch64_feature_detected!("dotprod"))
            .then(Arch::new),
            #[cfg(target_arch = "aarch64")]
            SimdPath::Neon => std::arch::is_aarch64_feature_detected!("neon").then(Arch::new),
            _ => None,
        }
    }

    /// What asking for this path gets: the best available path at or below it on this
    /// architecture, or the best path when it belongs to another architecture.
    fn at_most(self) -> (Arch, SimdPath) {
        match LADDER.iter().position(|p| *p == self) {
            Some(i) => at_or_below(&LADDER[i..]),
            None => at_or_below(LADDER),
        }
    }
}

/// The first available path of `ladder` (which ends with the always available scalar).
fn at_or_below(ladder: &[SimdPath]) -> (Arch, SimdPath) {
    ladder
        .iter()
        .find_map(|p| p.arch().map(|a| (a, *p)))
        .unwrap_or((Arch::Scalar, SimdPath::Scalar))
}

impl fmt::Display for SimdPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SimdPath {
    type Err = Error;

    /// A path by its [`name`](SimdPath::name), ignoring ASCII case; `v3` and `v4` (the
    /// x86-64 levels) name [`SimdPath::Avx2`] and [`SimdPath::Avx512`].
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("v3") {
            return Ok(SimdPath::Avx2);
        }
        if s.eq_ignore_ascii_case("v4") {
            return Ok(SimdPath::Avx512);
        }
        SimdPath::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::new(ErrorKind::UnknownSimdPath(s.to_string())))
    }
}

/// The process-wide path, chosen on first use: [`SIMD_ENV`]'s when set (the best
/// available at or below it), else the best. A value that names no path is reported
/// on stderr once and the best path used.
fn chosen() -> (Arch, SimdPath) {
    static CHOSEN: OnceLock<(Arch, SimdPath)> = OnceLock::new();
    *CHOSEN.get_or_init(|| match SimdPath::from_env() {
        Ok(Some(want)) => want.at_most(),
        Ok(None) => at_or_below(LADDER),
        Err(e) => {
            let best = at_or_below(LADDER);
            eprintln!("ggml-quant: {e}; using {}", best.1);
            best
        }
    })
}

/// The kernel path in use in this process (see [`SIMD_ENV`]).
pub fn simd_path() -> SimdPath {
    chosen().1
}

/// Every kernel path this CPU can run, best first (always ending with
/// [`SimdPath::Scalar`]).
pub fn available_paths() -> Vec<SimdPath> {
    SimdPath::ALL
        .into_iter()
        .filter(|p| p.is_available())
        .collect()
}

thread_local! {
    /// A path forced on this thread by [`with_path`].
    static FORCED: Cell<Option<(Arch, SimdPath)>> = const { Cell::new(None) };
}

/// Runs `f` with the kernels of `path` on the calling thread (work that `f` hands to
/// other threads uses the process-wide choice, except inside a product, which carries
/// the path to its threads). Returns `None` when the CPU lacks `path`.
pub fn with_path<R>(path: SimdPath, f: impl FnOnce() -> R) -> Option<R> {
    let arch = path.arch()?;
    Some(forcing(Some((arch, path)), f))
}

/// Runs `f` with `forced` as this thread's forced path, then puts the previous one back.
fn forcing<R>(forced: Option<(Arch, SimdPath)>, f: impl FnOnce() -> R) -> R {
    let prev = FORCED.with(|c| c.replace(forced));
    let r = f();
    FORCED.with(|c| c.set(prev));
    r
}

/// The path and dispatch token in force on the calling thread: the one [`with_path`]
/// forced, else the process-wide choice.
fn in_force() -> (Arch, SimdPath) {
    FORCED.with(|f| f.get()).unwrap_or_else(chosen)
}

/// The path in force on the calling thread.
pub(crate) fn path() -> SimdPath {
    in_force().1
}

/// Runs `op` compiled for the path in force on the calling thread.
pub(crate) fn dispatch<Op: WithSimd>(op: Op) -> Op::Output {
    in_force().0.dispatch(op)
}

/// Runs `f` on a thread of rayon's pool (in place when this is one), with this thread's
/// kernel path in force there. A product has several parallel steps (activation
/// quantization, packing, the tiles); from a thread outside the pool each of them would
/// be handed over and waited for (a futex wake and wait each), a large part of a
/// product of a hundred tokens. A caller running many products in a row (a model's
/// forward pass) calls this once around all of them, for the same reason.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let forced = FORCED.with(|c| c.get());
    rayon::scope(|_| forcing(forced, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for p in SimdPath::ALL {
            assert_eq!(p.to_string().parse::<SimdPath>().unwrap(), p);
            assert_eq!(p.name().to_uppercase().parse::<SimdPath>().unwrap(), p);
        }
        assert_eq!("v3".parse::<SimdPath>().unwrap(), SimdPath::Avx2);
        assert_eq!("V4".parse::<SimdPath>().unwrap(), SimdPath::Avx512);
        let e = "avx-2".parse::<SimdPath>().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::UnknownSimdPath("avx-2".into()));
        assert!(
            e.to_string()
                .contains("avx512, avx2, neon-dotprod, neon, scalar")
        );
    }

    #[test]
    fn a_path_is_chosen_and_available() {
        assert!(simd_path().is_available());
        assert_eq!(available_paths()[0], SimdPath::best());
        assert_eq!(available_paths().last(), Some(&SimdPath::Scalar));
        assert!(available_paths().contains(&simd_path()));
        // Asking for a path never gets one above it, and gets it when available.
        for p in SimdPath::ALL {
            let got = p.at_most().1;
            assert!(got.is_available());
            if p.is_available() {
                assert_eq!(got, p);
            }
        }
        assert_eq!(SimdPath::Scalar.at_most().1, SimdPath::Scalar);
    }

    #[test]
    fn with_path_forces_a_path_on_this_thread_only() {
        for p in available_paths() {
            assert_eq!(with_path(p, path), Some(p));
        }
        assert_eq!(path(), simd_path());
        for p in SimdPath::ALL.into_iter().filter(|p| !p.is_available()) {
            assert_eq!(with_path(p, path), None);
        }
    }
}
