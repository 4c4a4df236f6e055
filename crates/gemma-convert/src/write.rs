//! The GGUF writing driver: tensors are streamed a batch of rows at a time from the
//! safetensors files, quantized in parallel with rayon, and written in plan order.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use ggml_quant::{QuantType, quantize_row_into};
use gguf_format::{GgmlType, GgufWriter, TensorSpec};
use rayon::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Plan, TensorPlan};
use crate::{Progress, Report};

/// About 16 MiB of f32 per batch: bounded memory, enough work to share out.
const BATCH_VALUES: usize = 4 << 20;
/// Rows per parallel task within a batch.
const ROWS_PER_TASK: usize = 64;

/// The quantizer for a GGUF tensor type (ggml-quant's, through the one type table).
fn quant_type(t: GgmlType) -> Option<QuantType> {
    QuantType::try_from(t).ok()
}

impl Plan {
    /// Writes the GGUF to `tmp`, flushed and synced; `progress` is called after every
    /// batch of rows.
    pub fn write(mut self, tmp: &Path, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Report> {
        let specs: Vec<TensorSpec> = self.tensors.iter().map(TensorPlan::spec).collect();
        let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let write_err = |e: gguf_format::Error| Error::caused_by(ErrorKind::Write, e).at(tmp);
        let mut w = GgufWriter::new(
            BufWriter::with_capacity(1 << 22, file),
            &self.metadata,
            &specs,
        )
        .map_err(write_err)?;
        let total: u64 = self.tensors.iter().map(|t| t.n_values() as u64 * 4).sum();
        let mut done = 0u64;
        let mut src = Vec::new();
        let mut out = Vec::new();
        for t in &self.tensors {
            let quant = quant_type(t.ggml_type).ok_or_else(|| {
                Error::new(
                    ErrorKind::Write,
                    format!("no quantizer for type {}", t.ggml_type),
                )
                .in_tensor(&t.gguf_name)
            })?;
            let row = t.row_len();
            let n = t.n_values();
            let rows_per_batch = (BATCH_VALUES / row).max(1);
            let mut first = 0;
            while first < n {
                let count = (rows_per_batch * row).min(n - first);
                self.files[t.file].read_f32(&t.src_name, first, count, &mut src)?;
                if t.add_one {
                    src.iter_mut().for_each(|v| *v += 1.0);
                }
                quantize_rows(quant, &src, row, &mut out)
                    .map_err(|e| Error::caused_by(ErrorKind::Write, e).in_tensor(&t.gguf_name))?;
                w.write_data(&out).map_err(write_err)?;
                first += count;
                done += count as u64 * 4;
                progress(Progress {
                    tensor: &t.gguf_name,
                    done,
                    total,
                });
            }
        }
        let mut buf = w.finish().map_err(write_err)?;
        buf.flush().map_err(|e| Error::io(tmp, e))?;
        let file = buf
            .into_inner()
            .map_err(|e| Error::io(tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(tmp, e))?;
        let file_bytes = fs::metadata(tmp).map_err(|e| Error::io(tmp, e))?.len();
        Ok(Report {
            n_tensors: self.tensors.len(),
            n_keys: self.metadata.len(),
            file_bytes,
        })
    }
}

/// Quantizes `src`, rows of `row` values, to `quant` into `out` (replacing what it
/// held), rows in order, [`ROWS_PER_TASK`] rows per parallel task.
fn quantize_rows(
    quant: QuantType,
    src: &[f32],
    row: usize,
    out: &mut Vec<u8>,
) -> Result<(), ggml_quant::Error> {
    let parts: Vec<Vec<u8>> = src
        .par_chunks(row * ROWS_PER_TASK)
        .map(|rows| {
            let mut buf = Vec::new();
            for r in rows.chunks(row) {
                quantize_row_into(quant, r, &mut buf)?;
            }
            Ok(buf)
        })
        .collect::<Result<_, _>>()?;
    out.clear();
    parts.iter().for_each(|p| out.extend_from_slice(p));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_a_recipe_chooses_has_a_quantizer() {
        use crate::OutType;
        let chosen = OutType::ALL.iter().map(|t| t.base_type()).chain([
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::Q8_0,
            GgmlType::Q6_K,
        ]);
        for t in chosen {
            let q = quant_type(t).unwrap();
            // The two tables agree on the geometry.
            assert_eq!(
                (q.block_size(), q.type_size()),
                (t.block_size() as usize, t.type_size() as usize),
                "{t}"
            );
        }
        assert_eq!(quant_type(GgmlType::IQ2_XS), None);
    }

    #[test]
    fn rows_are_quantized_in_order() {
        let src: Vec<f32> = (0..32 * 200).map(|i| (i % 97) as f32 - 48.0).collect();
        let mut out = Vec::new();
        quantize_rows(QuantType::Q8_0, &src, 32, &mut out).unwrap();
        let mut want = Vec::new();
        for r in src.chunks(32) {
            quantize_row_into(QuantType::Q8_0, r, &mut want).unwrap();
        }
        assert_eq!(out, want);
        assert!(quantize_rows(QuantType::Q8_0, &src[..40], 40, &mut out).is_err());
    }
}
