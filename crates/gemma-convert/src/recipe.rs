//! The type of each tensor: llama.cpp's converter's rule for F32 ... Q8_0, and
//! `llama-quantize`'s rules and tensor order for its recipes (Q4_0 ... Q6_K).

use gemma_encoder::keys::tensor;
use gguf_format::GgmlType;

use crate::names::block_tensor;
use crate::out_type::{Options, OutType};
use crate::plan::TensorPlan;

/// Whether rows of `cols` values are whole blocks of `t`.
fn whole_blocks(cols: usize, t: GgmlType) -> bool {
    cols.is_multiple_of(t.block_size() as usize)
}

/// The type llama.cpp's converter writes a tensor in: 1-D tensors and norms in F32, a
/// matrix whose rows are not whole blocks in F16, any other matrix in the base type.
pub(crate) fn converter_type(gguf_name: &str, shape: &[usize], out_type: OutType) -> GgmlType {
    let base = out_type.base_type();
    let cols = shape.last().copied().unwrap_or(1);
    if shape.len() < 2 || gguf_name.ends_with("_norm.weight") {
        GgmlType::F32
    } else if !whole_blocks(cols, base) {
        GgmlType::F16
    } else {
        base
    }
}

/// Puts `tensors` in `llama-quantize`'s order and gives each the type it chooses, as it
/// does from llama.cpp's F32 file.
pub(crate) fn apply_llama_quantize(tensors: &mut [TensorPlan], opts: Options, layers: usize) {
    llama_quantize_order(tensors);
    llama_quantize_types(tensors, opts, layers);
}

/// `llama-quantize`'s tensor order (`weight_name_comparer`): tensors outside the
/// layers first, then layer by layer, by name within each.
fn llama_quantize_order(tensors: &mut [TensorPlan]) {
    let layer = |name: &str| -> i64 { block_tensor(name).map_or(-1, |(il, _)| il as i64) };
    tensors.sort_by(|a, b| {
        (layer(&a.gguf_name), &a.gguf_name).cmp(&(layer(&b.gguf_name), &b.gguf_name))
    });
}

/// `llama-quantize`'s choice of type for each matrix (`llama_tensor_get_type` in
/// `src/llama-quant.cpp`, the parts that apply to this architecture), over `tensors` in
/// its tensor order.
fn llama_quantize_types(tensors: &mut [TensorPlan], opts: Options, layers: usize) {
    use OutType::*;
    let base = opts.out_type.base_type();
    // `use_more_bits`: the first and last eighth of the layers and every third between.
    let more_bits = |i: usize, n: usize| i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    let mut i_attn_v = 0;
    let mut i_ffn_down = 0;
    for t in tensors.iter_mut() {
        if t.shape.len() < 2 {
            t.ggml_type = GgmlType::F32;
            continue;
        }
        let cols = t.row_len();
        let mut q = base;
        if !opts.pure {
            let in_block = block_tensor(&t.gguf_name).map(|(_, name)| name);
            if t.gguf_name == tensor::TOKEN_EMBD {
                // Gemma ties the output to the token embeddings: the output's rule.
                q = if !whole_blocks(cols, base) {
                    GgmlType::Q8_0
                } else if base != GgmlType::Q8_0 {
                    GgmlType::Q6_K
                } else {
                    base
                };
            } else if in_block == Some("attn_v") {
                match opts.out_type {
                    Q4_K_M | Q5_K_M if more_bits(i_attn_v, layers) => q = GgmlType::Q6_K,
                    Q4_K_S if i_attn_v < 4 => q = GgmlType::Q5_K,
                    _ => {}
                }
                i_attn_v += 1;
            } else if in_block == Some("ffn_down") {
                match opts.out_type {
                    Q4_K_M | Q5_K_M if more_bits(i_ffn_down, layers) => q = GgmlType::Q6_K,
                    Q4_K_S if i_ffn_down < layers / 8 => q = GgmlType::Q5_K,
                    _ => {}
                }
                i_ffn_down += 1;
            }
        }
        // `tensor_type_fallback`: rows that are not whole super-blocks.
        if !whole_blocks(cols, q) {
            q = match q {
                GgmlType::Q4_K => GgmlType::Q5_0,
                GgmlType::Q5_K => GgmlType::Q5_1,
                GgmlType::Q6_K => GgmlType::Q8_0,
                other => other,
            };
            if !whole_blocks(cols, q) {
                q = GgmlType::F16;
            }
        }
        t.ggml_type = q;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(gguf_name: String, shape: &[usize]) -> TensorPlan {
        TensorPlan {
            gguf_name,
            file: 0,
            src_name: String::new(),
            shape: shape.to_vec(),
            ggml_type: GgmlType::F32,
            add_one: false,
        }
    }

    /// The tensors of a model of `layers` layers with the real widths, in the
    /// converter's order (Dense layers, then the model's names sorted).
    fn model(layers: usize) -> Vec<TensorPlan> {
        let mut v = vec![
            tensor("dense_2.weight".into(), &[3072, 768]),
            tensor("dense_3.weight".into(), &[768, 3072]),
        ];
        let mut names = vec![
            ("token_embd.weight".to_string(), vec![262144, 768]),
            ("output_norm.weight".to_string(), vec![768]),
        ];
        for il in 0..layers {
            for (name, shape) in [
                ("attn_norm", vec![768]),
                ("attn_v", vec![256, 768]),
                ("ffn_down", vec![768, 1152]),
                ("ffn_up", vec![1152, 768]),
            ] {
                names.push((tensor::block(il, name), shape));
            }
        }
        names.sort();
        v.extend(names.into_iter().map(|(n, s)| tensor(n, &s)));
        v
    }

    fn types_of(tensors: &[TensorPlan], suffix: &str) -> Vec<GgmlType> {
        tensors
            .iter()
            .filter(|t| t.gguf_name.ends_with(suffix))
            .map(|t| t.ggml_type)
            .collect()
    }

    #[test]
    fn converter_keeps_norms_and_vectors_in_f32() {
        assert_eq!(
            converter_type("blk.0.attn_norm.weight", &[768], OutType::Q8_0),
            GgmlType::F32
        );
        assert_eq!(
            converter_type("blk.0.ffn_up.weight", &[1152, 768], OutType::Q8_0),
            GgmlType::Q8_0
        );
        // 1152 is not whole super-blocks of 256.
        assert_eq!(
            converter_type("blk.0.ffn_down.weight", &[768, 1152], OutType::Q4_K_M),
            GgmlType::F16
        );
    }

    #[test]
    fn layers_come_in_numeric_order_after_the_rest() {
        let mut t = model(12);
        apply_llama_quantize(&mut t, Options::new(OutType::Q4_0), 12);
        let names: Vec<&str> = t.iter().map(|t| t.gguf_name.as_str()).collect();
        assert_eq!(
            names[..5],
            [
                "dense_2.weight",
                "dense_3.weight",
                "output_norm.weight",
                "token_embd.weight",
                "blk.0.attn_norm.weight"
            ]
        );
        let i2 = names.iter().position(|n| n.starts_with("blk.2.")).unwrap();
        let i10 = names.iter().position(|n| n.starts_with("blk.10.")).unwrap();
        assert!(i2 < i10);
    }

    #[test]
    fn q4_k_m_gives_more_bits_where_llama_quantize_does() {
        let mut t = model(24);
        apply_llama_quantize(&mut t, Options::new(OutType::Q4_K_M), 24);
        assert_eq!(types_of(&t, "token_embd.weight"), [GgmlType::Q6_K]);
        assert_eq!(types_of(&t, "output_norm.weight"), [GgmlType::F32]);
        // attn_v: Q6_K in layers 0-2, 21-23 and every third between (5, 8, ...).
        let v = types_of(&t, ".attn_v.weight");
        let q6: Vec<usize> = (0..24).filter(|&i| v[i] == GgmlType::Q6_K).collect();
        assert_eq!(q6, [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23]);
        assert!(
            v.iter()
                .all(|&q| q == GgmlType::Q6_K || q == GgmlType::Q4_K)
        );
        // ffn_down's rows of 1152 are not whole super-blocks: Q6_K falls back to Q8_0,
        // Q4_K to Q5_0.
        let d = types_of(&t, ".ffn_down.weight");
        assert_eq!((d[0], d[3]), (GgmlType::Q8_0, GgmlType::Q5_0));
    }

    #[test]
    fn pure_puts_every_matrix_in_the_base_type() {
        let mut t = model(4);
        apply_llama_quantize(&mut t, Options::new(OutType::Q5_K_S).pure(true), 4);
        assert_eq!(types_of(&t, "token_embd.weight"), [GgmlType::Q5_K]);
        assert!(
            types_of(&t, ".attn_v.weight")
                .iter()
                .all(|&q| q == GgmlType::Q5_K)
        );
        // Still the fallback for rows that are not whole super-blocks.
        assert!(
            types_of(&t, ".ffn_down.weight")
                .iter()
                .all(|&q| q == GgmlType::Q5_1)
        );
    }

    #[test]
    fn q4_k_s_raises_the_first_attn_v_and_ffn_down() {
        let mut t = model(24);
        apply_llama_quantize(&mut t, Options::new(OutType::Q4_K_S), 24);
        let v = types_of(&t, ".attn_v.weight");
        assert_eq!((v[3], v[4]), (GgmlType::Q5_K, GgmlType::Q4_K));
        // Q5_K on the first eighth of ffn_down, which falls back to Q5_1 at 1152.
        let d = types_of(&t, ".ffn_down.weight");
        assert_eq!((d[2], d[3]), (GgmlType::Q5_1, GgmlType::Q5_0));
    }
}
