//! What a conversion writes: the output type or recipe ([`OutType`]) and its options
//! ([`Options`]).

use std::fmt;

use gguf_format::GgmlType;

/// The tensor types a conversion writes: one type for every matrix (F32 ... Q8_0, as
/// llama.cpp's converter makes them), or one of `llama-quantize`'s recipes (Q4_0 ...
/// Q6_K), which picks a type per tensor by its rules.
#[allow(non_camel_case_types, missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
}

impl OutType {
    /// Every type, in the order `embed convert --type` lists them.
    pub const ALL: [OutType; 13] = [
        OutType::F32,
        OutType::F16,
        OutType::BF16,
        OutType::Q8_0,
        OutType::Q4_0,
        OutType::Q4_1,
        OutType::Q5_0,
        OutType::Q5_1,
        OutType::Q4_K_S,
        OutType::Q4_K_M,
        OutType::Q5_K_S,
        OutType::Q5_K_M,
        OutType::Q6_K,
    ];

    /// The lowercase name (`q8_0`), as in file names and `--type`.
    pub fn name(self) -> &'static str {
        match self {
            OutType::F32 => "f32",
            OutType::F16 => "f16",
            OutType::BF16 => "bf16",
            OutType::Q8_0 => "q8_0",
            OutType::Q4_0 => "q4_0",
            OutType::Q4_1 => "q4_1",
            OutType::Q5_0 => "q5_0",
            OutType::Q5_1 => "q5_1",
            OutType::Q4_K_S => "q4_k_s",
            OutType::Q4_K_M => "q4_k_m",
            OutType::Q5_K_S => "q5_k_s",
            OutType::Q5_K_M => "q5_k_m",
            OutType::Q6_K => "q6_k",
        }
    }

    /// The type called `name` (case-insensitive); `q4_k` and `q5_k` are `q4_k_m` and
    /// `q5_k_m`, as in `llama-quantize`.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = match name.as_str() {
            "q4_k" => "q4_k_m",
            "q5_k" => "q5_k_m",
            n => n,
        };
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The type of the matrices no rule singles out.
    pub fn base_type(self) -> GgmlType {
        match self {
            OutType::F32 => GgmlType::F32,
            OutType::F16 => GgmlType::F16,
            OutType::BF16 => GgmlType::BF16,
            OutType::Q8_0 => GgmlType::Q8_0,
            OutType::Q4_0 => GgmlType::Q4_0,
            OutType::Q4_1 => GgmlType::Q4_1,
            OutType::Q5_0 => GgmlType::Q5_0,
            OutType::Q5_1 => GgmlType::Q5_1,
            OutType::Q4_K_S | OutType::Q4_K_M => GgmlType::Q4_K,
            OutType::Q5_K_S | OutType::Q5_K_M => GgmlType::Q5_K,
            OutType::Q6_K => GgmlType::Q6_K,
        }
    }

    /// Whether llama.cpp makes this type with `llama-quantize` (from the F32 file) rather
    /// than with its converter: then the tensor types follow `llama-quantize`'s rules and
    /// the file its layout.
    pub fn by_llama_quantize(self) -> bool {
        !matches!(
            self,
            OutType::F32 | OutType::F16 | OutType::BF16 | OutType::Q8_0
        )
    }

    /// llama.cpp's `llama_ftype` for a file of this type (`general.file_type`).
    pub fn file_type(self) -> u32 {
        match self {
            OutType::F32 => 0,
            OutType::F16 => 1,
            OutType::Q4_0 => 2,
            OutType::Q4_1 => 3,
            OutType::Q8_0 => 7,
            OutType::Q5_0 => 8,
            OutType::Q5_1 => 9,
            OutType::Q4_K_S => 14,
            OutType::Q4_K_M => 15,
            OutType::Q5_K_S => 16,
            OutType::Q5_K_M => 17,
            OutType::Q6_K => 18,
            OutType::BF16 => 32,
        }
    }
}

impl fmt::Display for OutType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to convert: the output type, and whether to apply it to every matrix.
///
/// ```
/// use gemma_convert::{Options, OutType};
///
/// let opts = Options::new(OutType::Q4_K_M).pure(true);
/// assert_eq!((opts.out_type, opts.pure), (OutType::Q4_K_M, true));
/// assert_eq!(Options::from(OutType::Q8_0), Options::new(OutType::Q8_0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The output type or recipe.
    pub out_type: OutType,
    /// Every matrix in the recipe's base type, `token_embd` included (as
    /// `llama-quantize --pure`); a row that is not whole blocks still falls back.
    pub pure: bool,
}

impl Options {
    /// `out_type` with its recipe's rules (not pure).
    pub fn new(out_type: OutType) -> Self {
        Options {
            out_type,
            pure: false,
        }
    }

    /// Sets [`Options::pure`].
    pub fn pure(mut self, pure: bool) -> Self {
        self.pure = pure;
        self
    }
}

impl From<OutType> for Options {
    fn from(out_type: OutType) -> Self {
        Options::new(out_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases() {
        for t in OutType::ALL {
            assert_eq!(OutType::from_name(t.name()), Some(t));
            assert_eq!(OutType::from_name(&t.name().to_uppercase()), Some(t));
        }
        assert_eq!(OutType::from_name("q4_k"), Some(OutType::Q4_K_M));
        assert_eq!(OutType::from_name("Q5_K"), Some(OutType::Q5_K_M));
        assert_eq!(OutType::from_name("q3_k"), None);
    }

    #[test]
    fn converter_types_and_recipes() {
        let by_converter: Vec<_> = OutType::ALL
            .into_iter()
            .filter(|t| !t.by_llama_quantize())
            .collect();
        assert_eq!(
            by_converter,
            [OutType::F32, OutType::F16, OutType::BF16, OutType::Q8_0]
        );
        assert_eq!(OutType::Q4_K_S.base_type(), GgmlType::Q4_K);
        assert_eq!(OutType::Q8_0.file_type(), 7);
    }
}
