//! Hugging Face tensor names to GGUF ones (llama.cpp's `TensorNameMap` for Gemma3), with
//! the shape each must have.

use gemma_encoder::keys::tensor;

use crate::config::Hparams;

/// A model tensor as the GGUF holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mapped {
    /// Its GGUF name.
    pub gguf_name: String,
    /// The shape it must have, in Hugging Face order (rows first).
    pub shape: Vec<usize>,
    /// Gemma3RMSNorm computes `x * (1 + w)`: llama.cpp stores `1 + w` for every norm.
    pub add_one: bool,
}

/// The GGUF tensor of the model tensor `name` (of `model.safetensors`), or `None` when
/// the model has no such tensor.
pub(crate) fn map_name(name: &str, hp: &Hparams) -> Option<Mapped> {
    let (h, f, hd) = (hp.hidden, hp.ffn, hp.head_dim);
    let mapped = |gguf_name: String, shape: Vec<usize>| Mapped {
        gguf_name,
        shape,
        add_one: name.ends_with("norm.weight"),
    };
    match name {
        "embed_tokens.weight" => return Some(mapped(tensor::TOKEN_EMBD.into(), vec![hp.vocab, h])),
        "norm.weight" => return Some(mapped(tensor::OUTPUT_NORM.into(), vec![h])),
        _ => {}
    }
    let rest = name.strip_prefix("layers.")?;
    let (idx, field) = rest.split_once('.')?;
    let layer: usize = idx.parse().ok()?;
    if layer >= hp.layers || idx != layer.to_string() {
        return None;
    }
    let (gguf, shape) = match field {
        "input_layernorm.weight" => ("attn_norm", vec![h]),
        "self_attn.q_proj.weight" => ("attn_q", vec![hp.heads * hd, h]),
        "self_attn.k_proj.weight" => ("attn_k", vec![hp.kv_heads * hd, h]),
        "self_attn.v_proj.weight" => ("attn_v", vec![hp.kv_heads * hd, h]),
        "self_attn.o_proj.weight" => ("attn_output", vec![h, hp.heads * hd]),
        "self_attn.q_norm.weight" => ("attn_q_norm", vec![hd]),
        "self_attn.k_norm.weight" => ("attn_k_norm", vec![hd]),
        "post_attention_layernorm.weight" => ("post_attention_norm", vec![h]),
        "pre_feedforward_layernorm.weight" => ("ffn_norm", vec![h]),
        "post_feedforward_layernorm.weight" => ("post_ffw_norm", vec![h]),
        "mlp.gate_proj.weight" => ("ffn_gate", vec![f, h]),
        "mlp.up_proj.weight" => ("ffn_up", vec![f, h]),
        "mlp.down_proj.weight" => ("ffn_down", vec![h, f]),
        _ => return None,
    };
    Some(mapped(tensor::block(layer, gguf), shape))
}

/// The model tensors a release of `layers` layers has: two outside the layers
/// (`token_embd`, `output_norm`) and every [`tensor::BLOCK_TENSORS`] in each layer.
pub(crate) fn model_tensor_count(layers: usize) -> usize {
    2 + tensor::BLOCK_TENSORS.len() * layers
}

/// The GGUF names of the Dense layers, in the order of the release's modules.
pub(crate) const DENSE: [&str; 2] = [tensor::DENSE_2, tensor::DENSE_3];

/// The layer and per-layer name of a `blk.{il}.{name}.weight` tensor.
pub(crate) fn block_tensor(gguf_name: &str) -> Option<(usize, &str)> {
    let rest = gguf_name.strip_prefix("blk.")?.strip_suffix(".weight")?;
    let (il, name) = rest.split_once('.')?;
    Some((il.parse().ok()?, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp() -> Hparams {
        Hparams {
            hidden: 768,
            layers: 24,
            ffn: 1152,
            heads: 3,
            kv_heads: 1,
            head_dim: 256,
            vocab: 262144,
        }
    }

    fn gguf(name: &str) -> Option<(String, Vec<usize>)> {
        map_name(name, &hp()).map(|m| (m.gguf_name, m.shape))
    }

    #[test]
    fn names_map_as_llama_cpp() {
        assert_eq!(
            gguf("layers.10.mlp.down_proj.weight"),
            Some(("blk.10.ffn_down.weight".into(), vec![768, 1152]))
        );
        assert_eq!(
            gguf("layers.0.self_attn.k_norm.weight"),
            Some(("blk.0.attn_k_norm.weight".into(), vec![256]))
        );
        assert_eq!(
            gguf("embed_tokens.weight"),
            Some(("token_embd.weight".into(), vec![262144, 768]))
        );
        assert_eq!(gguf("layers.24.mlp.up_proj.weight"), None);
        assert_eq!(gguf("layers.01.mlp.up_proj.weight"), None);
        assert_eq!(gguf("lm_head.weight"), None);
    }

    #[test]
    fn every_layer_tensor_the_encoder_reads_is_mapped_once() {
        const HF_FIELDS: [&str; 13] = [
            "input_layernorm",
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "self_attn.q_norm",
            "self_attn.k_norm",
            "post_attention_layernorm",
            "pre_feedforward_layernorm",
            "post_feedforward_layernorm",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ];
        let mut names: Vec<String> = HF_FIELDS
            .iter()
            .map(|f| {
                map_name(&format!("layers.3.{f}.weight"), &hp())
                    .unwrap()
                    .gguf_name
            })
            .collect();
        names.sort();
        let mut want: Vec<String> = tensor::BLOCK_TENSORS
            .iter()
            .map(|t| tensor::block(3, t))
            .collect();
        want.sort();
        assert_eq!(names, want);
        assert_eq!(model_tensor_count(24), 314);
    }

    #[test]
    fn norms_get_plus_one_and_matrices_do_not() {
        let m = |n: &str| map_name(n, &hp()).unwrap().add_one;
        assert!(m("norm.weight"));
        assert!(m("layers.2.self_attn.q_norm.weight"));
        assert!(m("layers.2.post_feedforward_layernorm.weight"));
        assert!(!m("layers.2.mlp.up_proj.weight"));
        assert!(!m("embed_tokens.weight"));
    }

    #[test]
    fn block_names_parse() {
        assert_eq!(block_tensor("blk.12.attn_v.weight"), Some((12, "attn_v")));
        assert_eq!(block_tensor("token_embd.weight"), None);
        assert_eq!(block_tensor("blk.x.attn_v.weight"), None);
    }
}
