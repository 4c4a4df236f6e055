//! What a conversion will write, read from the release before any byte is written: the
//! metadata and, for each tensor, where it comes from, its shape and its type.

use std::path::Path;

use gguf_format::{GgmlType, MetadataValue, TensorSpec};

use crate::config::Release;
use crate::error::{Error, ErrorKind, Result};
use crate::metadata::metadata;
use crate::names::{DENSE, map_name, model_tensor_count};
use crate::out_type::Options;
use crate::recipe::{apply_llama_quantize, converter_type};
use crate::safetensors_file::SafetensorsFile;

/// One tensor to write: where it comes from and how it is transformed.
pub(crate) struct TensorPlan {
    pub gguf_name: String,
    /// Its file, an index into [`Plan::files`].
    pub file: usize,
    /// Its name in that file.
    pub src_name: String,
    /// Shape in Hugging Face order (rows first).
    pub shape: Vec<usize>,
    pub ggml_type: GgmlType,
    /// Whether 1 is added to every value (Gemma's norms; see `names::Mapped`).
    pub add_one: bool,
}

impl TensorPlan {
    pub fn row_len(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    pub fn n_values(&self) -> usize {
        self.shape.iter().product()
    }

    /// The GGUF tensor-info entry: GGUF lists dimensions innermost first.
    pub fn spec(&self) -> TensorSpec {
        let dims: Vec<u64> = self.shape.iter().rev().map(|&d| d as u64).collect();
        TensorSpec::new(&self.gguf_name, self.ggml_type, &dims)
    }
}

/// Everything read from the release: metadata to write and tensors to stream.
pub(crate) struct Plan {
    pub metadata: Vec<(String, MetadataValue)>,
    pub files: Vec<SafetensorsFile>,
    pub tensors: Vec<TensorPlan>,
}

impl Plan {
    /// Reads the release in `dir` and checks every tensor against its config.
    pub fn read(dir: &Path, opts: Options) -> Result<Plan> {
        let out_type = opts.out_type;
        let release = Release::read(dir)?;
        let hp = &release.hp;

        // Tensors: the Dense layers first, then the model's in name order, as llama.cpp.
        let mut files = Vec::new();
        let mut tensors = Vec::new();
        for (dense, gguf_name) in release.dense.iter().zip(DENSE) {
            let f = SafetensorsFile::open(&dense.dir.join("model.safetensors"))?;
            let shape = [dense.out_features, dense.in_features];
            tensors.push(tensor(
                &f,
                files.len(),
                "linear.weight",
                gguf_name.into(),
                &shape,
                false,
            )?);
            files.push(f);
        }
        let model = SafetensorsFile::open(&dir.join("model.safetensors"))?;
        let model_idx = files.len();
        let mut seen = 0;
        for name in model.names() {
            let m = map_name(&name, hp).ok_or_else(|| {
                Error::new(ErrorKind::Tensor, format!("unexpected tensor {name}"))
                    .at(model.path())
                    .in_tensor(&name)
            })?;
            tensors.push(tensor(
                &model,
                model_idx,
                &name,
                m.gguf_name,
                &m.shape,
                m.add_one,
            )?);
            seen += 1;
        }
        let expected = model_tensor_count(hp.layers);
        if seen != expected {
            return Err(Error::new(
                ErrorKind::Tensor,
                format!(
                    "{seen} tensors, expected {expected} for {} layers",
                    hp.layers
                ),
            )
            .at(model.path()));
        }
        files.push(model);
        for t in &mut tensors {
            t.ggml_type = converter_type(&t.gguf_name, &t.shape, out_type);
        }
        if out_type.by_llama_quantize() {
            apply_llama_quantize(&mut tensors, opts, hp.layers);
        }
        Ok(Plan {
            metadata: metadata(dir, &release, out_type)?,
            files,
            tensors,
        })
    }
}

/// The plan of tensor `src_name` of `f` (file `file` of the plan), checked against the
/// shape `expect`; its type is chosen once every tensor is known.
fn tensor(
    f: &SafetensorsFile,
    file: usize,
    src_name: &str,
    gguf_name: String,
    expect: &[usize],
    add_one: bool,
) -> Result<TensorPlan> {
    let info = f.info(src_name)?;
    if info.shape != expect {
        return Err(Error::new(
            ErrorKind::Tensor,
            format!(
                "tensor {src_name} has shape {:?}, the config implies {expect:?}",
                info.shape
            ),
        )
        .at(f.path())
        .in_tensor(src_name));
    }
    Ok(TensorPlan {
        gguf_name,
        file,
        src_name: src_name.to_string(),
        shape: expect.to_vec(),
        ggml_type: GgmlType::F32,
        add_one,
    })
}
