//! Weight packing: a matrix's rows, unpacked by blocks of 32, laid out in groups of 16
//! rows for the kernels ([`PackedI16`], [`PackedI8`], [`PackedF32`]), and
//! [`IntPacking`], what differs between the int16 and the int8 paths.

use std::cell::Cell;
use std::thread::LocalKey;

use rayon::prelude::*;

use super::activations::{Act, ActQuant, quantize_act_i16, quantize_act_u8};
use super::unpack::WeightRows;
use super::{BLOCK_I8, BLOCK_I16, GROUP, Kernel, Panel, PanelF32, n_groups};
use crate::QuantType;
use crate::arch;
use crate::blocks::QK8_0;

/// An integer weight lane: `i8` for the int8 kernels, `i16` for the int16 ones.
pub(crate) trait Lane: Copy + Default + Send + Sync {
    /// `v`, which the unpacker keeps within the lane's range.
    fn from_i16(v: i16) -> Self;
}

impl Lane for i8 {
    #[inline(always)]
    fn from_i16(v: i16) -> i8 {
        debug_assert!(i8::try_from(v).is_ok(), "{v} is not an int8 quant");
        v as i8
    }
}

impl Lane for i16 {
    #[inline(always)]
    fn from_i16(v: i16) -> i16 {
        v
    }
}

/// Weights widened to int16 and packed: for group `g`, block `b`, pair `p`, row `i`:
/// `w[((g * blocks + b) * 16 + p) * 32 + 2 * i + e] = q[16 g + i][32 b + 2 p + e]`, and
/// `d[(g * blocks + b) * 16 + i]` the row's block scale. Rows past the matrix are zero.
/// `m`: the block minimums (see the [module docs](super)), for the types that have them.
pub(crate) struct PackedI16 {
    pub(crate) w: Vec<i16>,
    pub(crate) d: Vec<f32>,
    pub(crate) m: Option<PackedF32>,
    pub(crate) blocks: usize,
    pub(crate) act: ActQuant,
}

/// Weights kept in int8 and packed for `vpdpbusd` (4 products of unsigned x signed bytes
/// per lane): for group `g`, block `b`, quad `q`, row `i`:
/// `w[((g * blocks + b) * 8 + q) * 64 + 4 * i + e] = q[16 g + i][32 b + 4 q + e]`,
/// `d[(g * blocks + b) * 16 + i]` the row's block scale and `c[..]` (same index)
/// `-128 * sum(q)` over the row's block: the activations enter as `x + 128` (unsigned),
/// and starting each block's sum at `c` takes the 128s back out, exactly. `m` as in
/// [`PackedI16`].
pub(crate) struct PackedI8 {
    pub(crate) w: Vec<i8>,
    pub(crate) c: Vec<i32>,
    pub(crate) d: Vec<f32>,
    pub(crate) m: Option<PackedF32>,
    pub(crate) blocks: usize,
    pub(crate) act: ActQuant,
}

/// Weights widened to f32 and packed: `w[(g * cols + k) * 16 + i] = W[16 g + i][k]`.
pub(crate) struct PackedF32 {
    pub(crate) w: Vec<f32>,
    pub(crate) cols: usize,
}

impl PackedF32 {
    /// Packs `rows` rows given by `row(r, out)`, which writes row `r` as f32.
    pub(crate) fn pack<E: Send>(
        rows: usize,
        cols: usize,
        row: impl Fn(usize, &mut [f32]) -> Result<(), E> + Sync,
    ) -> Result<Self, E> {
        let mut p = PackedF32::zeroed(rows, cols);
        p.w.par_chunks_mut(cols * GROUP)
            .enumerate()
            .try_for_each(|(g, wg)| {
                let mut buf = vec![0f32; cols];
                for i in 0..GROUP {
                    let r = g * GROUP + i;
                    if r >= rows {
                        break;
                    }
                    row(r, &mut buf)?;
                    scatter_row(wg, i, &buf);
                }
                Ok(())
            })?;
        Ok(p)
    }

    /// Room for `rows` rows of `cols`, all zero.
    pub(crate) fn zeroed(rows: usize, cols: usize) -> Self {
        PackedF32 {
            w: vec![0f32; n_groups(rows) * cols * GROUP],
            cols,
        }
    }

    /// Panel `panel` (groups `2 panel` and `2 panel + 1`).
    pub(crate) fn panel(&self, panel: usize) -> PanelF32<'_> {
        let gw = self.cols * GROUP;
        PanelF32 {
            w: &self.w[2 * panel * gw..(2 * panel + 2) * gw],
            cols: self.cols,
        }
    }
}

/// Puts `row` as row `i` of the packed group `wg` (every 16th value).
pub(crate) fn scatter_row(wg: &mut [f32], i: usize, row: &[f32]) {
    for (k, v) in row.iter().enumerate() {
        wg[k * GROUP + i] = *v;
    }
}

/// The block minimums of a packing under way: one f32 per row and block, laid out as a
/// [`PackedF32`] of `blocks` columns.
struct Minimums(Option<Vec<f32>>, usize);

impl Minimums {
    fn new(keep: bool, groups: usize, blocks: usize) -> Self {
        Minimums(keep.then(|| vec![0f32; groups * blocks * GROUP]), groups)
    }

    /// Each group's share, or `None`s when there are none to keep.
    fn groups(&mut self) -> rayon::vec::IntoIter<Option<&mut [f32]>> {
        let groups = self.1;
        match &mut self.0 {
            Some(m) => {
                let per_group = (m.len() / groups.max(1)).max(1);
                m.chunks_mut(per_group).map(Some).collect()
            }
            None => (0..groups).map(|_| None).collect::<Vec<_>>(),
        }
        .into_par_iter()
    }

    fn finish(self, blocks: usize) -> Option<PackedF32> {
        self.0.map(|w| PackedF32 { w, cols: blocks })
    }
}

/// `len` values for a packing of `rows` rows: `old`'s buffer when it has that length and
/// the packing writes every value of it (no row of its groups past the matrix), else
/// zeros. A product of few tokens packs each panel as it goes; zeroing the buffer first
/// would cost a fifth as much as packing it.
fn room<T: Copy + Default>(old: Option<Vec<T>>, len: usize, rows: usize) -> Vec<T> {
    match old {
        Some(v) if v.len() == len && rows == n_groups(rows) * GROUP => v,
        _ => vec![T::default(); len],
    }
}

/// For each row `i` of group `g` (rows past `rows` skipped) and each of its `blocks`
/// blocks `b`: `put(i, b, quants, scale, minimum)`, the row unpacked from `src`.
fn group_blocks<T: Lane>(
    g: usize,
    rows: usize,
    blocks: usize,
    src: WeightRows<'_>,
    mut put: impl FnMut(usize, usize, &[T; QK8_0], f32, f32),
) {
    let mut q = vec![[T::default(); QK8_0]; blocks];
    let mut s = vec![0f32; blocks];
    let mut m = vec![0f32; blocks];
    for i in 0..GROUP.min(rows.saturating_sub(g * GROUP)) {
        src.unpack(g * GROUP + i, &mut q, &mut s, &mut m);
        for (b, ((qb, sb), mb)) in q.iter().zip(&s).zip(&m).enumerate() {
            put(i, b, qb, *sb, *mb);
        }
    }
}

/// Panel `panel` of an integer packing of `blocks` blocks per row with `bw` values per
/// packed block of a group.
fn panel_of<'a, W>(
    panel: usize,
    blocks: usize,
    bw: usize,
    (w, c, d, m): (&'a [W], &'a [i32], &'a [f32], Option<&'a PackedF32>),
) -> Panel<'a, W> {
    let (gw, gd) = (blocks * bw, blocks * GROUP);
    let g0 = 2 * panel;
    let part = |v: &'a [f32]| &v[g0 * gd..(g0 + 2) * gd];
    Panel {
        w: &w[g0 * gw..(g0 + 2) * gw],
        c: if c.is_empty() {
            c
        } else {
            &c[g0 * gd..(g0 + 2) * gd]
        },
        d: part(d),
        blocks,
        mins: m.map(|m| PanelF32 {
            w: part(&m.w),
            cols: blocks,
        }),
    }
}

/// What differs between the int16 and the int8 paths: the packing, the activations'
/// type and the kernel. [`super::schedule::gemm_int`] and
/// [`super::schedule::gemm_int_unpacked`] run either.
pub(crate) trait IntPacking: Sized + Sync + 'static {
    /// The packed weights' type.
    type Lane: Lane;
    /// The quantized activations' type.
    type X: Copy + Default + Send + Sync;
    /// Blocks per k-chunk (16 KiB of a panel's weights, which stay in L1 while the
    /// tokens of a task pass over them).
    const K_BLOCKS: usize;
    /// Packs the first `rows` rows of `src` (minimums kept when `mins`), for activations
    /// quantized by `act`, in parallel over groups of at least `min_len` (`usize::MAX`:
    /// on the calling thread).
    fn pack(
        rows: usize,
        cols: usize,
        act: ActQuant,
        mins: bool,
        src: WeightRows<'_>,
        min_len: usize,
    ) -> Self {
        Self::pack_reusing(None, rows, cols, act, mins, src, min_len)
    }
    /// [`pack`](IntPacking::pack) into `old`'s buffers where they fit (see [`room`]).
    fn pack_reusing(
        old: Option<Self>,
        rows: usize,
        cols: usize,
        act: ActQuant,
        mins: bool,
        src: WeightRows<'_>,
        min_len: usize,
    ) -> Self;
    /// A packing of nothing, which allocates nothing.
    fn empty() -> Self;
    /// This thread's spare packing, for [`pack_reusing`](IntPacking::pack_reusing).
    fn scratch() -> &'static LocalKey<Cell<Option<Self>>>;
    /// Blocks of 32 per row.
    fn blocks(&self) -> usize;
    /// The activations' quantization, and whether there are minimums.
    fn scheme(&self) -> (ActQuant, bool);
    /// Panel `panel`.
    fn panel(&self, panel: usize) -> Panel<'_, Self::Lane>;
    /// The activation quantizer ([`quantize_act_i16`], [`quantize_act_u8`]).
    fn quantize(x: &[f32], act: ActQuant, sums: bool) -> Act<Self::X>;
    /// The kernel for the path in force on this thread.
    fn kernel() -> Kernel<Self::Lane, Self::X>;
}

impl IntPacking for PackedI16 {
    type Lane = i16;
    type X = i16;
    /// 2 groups x 8 blocks x 1 KiB.
    const K_BLOCKS: usize = 8;

    fn pack_reusing(
        old: Option<Self>,
        rows: usize,
        cols: usize,
        act: ActQuant,
        mins: bool,
        src: WeightRows<'_>,
        min_len: usize,
    ) -> Self {
        let blocks = cols / QK8_0;
        let groups = n_groups(rows);
        let (old_w, old_d) = old.map(|p| (p.w, p.d)).unzip();
        let mut w = room(old_w, groups * blocks * BLOCK_I16, rows);
        let mut d = room(old_d, groups * blocks * GROUP, rows);
        let mut m = Minimums::new(mins, groups, blocks);
        w.par_chunks_mut(blocks * BLOCK_I16)
            .zip(d.par_chunks_mut(blocks * GROUP))
            .zip(m.groups())
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(g, ((wg, dg), mut mg))| {
                if let (QuantType::Q8_0, Some(fast)) = (src.quant(), arch::pack_q8_0_i16()) {
                    let n = GROUP.min(rows.saturating_sub(g * GROUP));
                    let mut group: [&[u8]; GROUP] = [&[]; GROUP];
                    for (i, row) in group.iter_mut().enumerate().take(n) {
                        *row = src.row(g * GROUP + i);
                    }
                    let ahead = src.rows_bytes((g + 1) * GROUP, GROUP);
                    fast(&group[..n], ahead, blocks, wg, dg);
                    return;
                }
                group_blocks(g, rows, blocks, src, |i, b, qb, sb, mb| {
                    let wb = &mut wg[b * BLOCK_I16..(b + 1) * BLOCK_I16];
                    for p in 0..QK8_0 / 2 {
                        wb[p * 2 * GROUP + 2 * i] = qb[2 * p];
                        wb[p * 2 * GROUP + 2 * i + 1] = qb[2 * p + 1];
                    }
                    dg[b * GROUP + i] = sb;
                    if let Some(mg) = mg.as_deref_mut() {
                        mg[b * GROUP + i] = mb;
                    }
                })
            });
        PackedI16 {
            w,
            d,
            m: m.finish(blocks),
            blocks,
            act,
        }
    }

    fn blocks(&self) -> usize {
        self.blocks
    }

    fn scheme(&self) -> (ActQuant, bool) {
        (self.act, self.m.is_some())
    }

    fn empty() -> Self {
        PackedI16 {
            w: Vec::new(),
            d: Vec::new(),
            m: None,
            blocks: 0,
            act: ActQuant::Int16,
        }
    }

    fn scratch() -> &'static LocalKey<Cell<Option<Self>>> {
        thread_local!(static SPARE: Cell<Option<PackedI16>> = const { Cell::new(None) });
        &SPARE
    }

    fn panel(&self, panel: usize) -> Panel<'_, i16> {
        let parts = (&self.w[..], &[][..], &self.d[..], self.m.as_ref());
        panel_of(panel, self.blocks, BLOCK_I16, parts)
    }

    fn quantize(x: &[f32], act: ActQuant, sums: bool) -> Act<i16> {
        quantize_act_i16(x, act, sums)
    }

    fn kernel() -> Kernel<i16, i16> {
        arch::kernel_i16()
    }
}

impl IntPacking for PackedI8 {
    type Lane = i8;
    type X = u8;
    /// 2 groups x 16 blocks x 512 B.
    const K_BLOCKS: usize = 16;

    fn pack_reusing(
        old: Option<Self>,
        rows: usize,
        cols: usize,
        act: ActQuant,
        mins: bool,
        src: WeightRows<'_>,
        min_len: usize,
    ) -> Self {
        let blocks = cols / QK8_0;
        let groups = n_groups(rows);
        let (old_w, old_c, old_d) = match old {
            Some(p) => (Some(p.w), Some(p.c), Some(p.d)),
            None => (None, None, None),
        };
        let mut w = room(old_w, groups * blocks * BLOCK_I8, rows);
        let mut c = room(old_c, groups * blocks * GROUP, rows);
        let mut d = room(old_d, groups * blocks * GROUP, rows);
        let mut m = Minimums::new(mins, groups, blocks);
        w.par_chunks_mut(blocks * BLOCK_I8)
            .zip(c.par_chunks_mut(blocks * GROUP))
            .zip(d.par_chunks_mut(blocks * GROUP))
            .zip(m.groups())
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(g, (((wg, cg), dg), mut mg))| {
                group_blocks(g, rows, blocks, src, |i, b, qb, sb, mb| {
                    let wb = &mut wg[b * BLOCK_I8..(b + 1) * BLOCK_I8];
                    for (quad, v) in qb.chunks_exact(4).enumerate() {
                        wb[quad * 4 * GROUP + 4 * i..][..4].copy_from_slice(v);
                    }
                    // sum(q) as the sum of the bytes q + 128, less 32 * 128 (a sum of
                    // unsigned bytes compiles to `psadbw`).
                    let biased: u32 = qb.iter().map(|&v| u32::from(v as u8 ^ 0x80)).sum();
                    cg[b * GROUP + i] = -128 * (biased as i32 - 32 * 128);
                    dg[b * GROUP + i] = sb;
                    if let Some(mg) = mg.as_deref_mut() {
                        mg[b * GROUP + i] = mb;
                    }
                })
            });
        PackedI8 {
            w,
            c,
            d,
            m: m.finish(blocks),
            blocks,
            act,
        }
    }

    fn blocks(&self) -> usize {
        self.blocks
    }

    fn scheme(&self) -> (ActQuant, bool) {
        (self.act, self.m.is_some())
    }

    fn empty() -> Self {
        PackedI8 {
            w: Vec::new(),
            c: Vec::new(),
            d: Vec::new(),
            m: None,
            blocks: 0,
            act: ActQuant::Q8_0,
        }
    }

    fn scratch() -> &'static LocalKey<Cell<Option<Self>>> {
        thread_local!(static SPARE: Cell<Option<PackedI8>> = const { Cell::new(None) });
        &SPARE
    }

    fn panel(&self, panel: usize) -> Panel<'_, i8> {
        let parts = (&self.w[..], &self.c[..], &self.d[..], self.m.as_ref());
        panel_of(panel, self.blocks, BLOCK_I8, parts)
    }

    fn quantize(x: &[f32], act: ActQuant, sums: bool) -> Act<u8> {
        quantize_act_u8(x, act, sums)
    }

    fn kernel() -> Kernel<i8, u8> {
        arch::kernel_i8()
    }
}

#[cfg(test)]
mod tests {
    use super::{ActQuant, IntPacking, PackedI8, PackedI16, WeightRows};
    use crate::simd::{SimdPath, available_paths, with_path};
    use crate::{QuantType, quantize_row};

    /// The Q8_0 packers of `arch/` (which read the blocks as they are) give the portable
    /// packer's layout and scales, on row counts that leave a group part empty.
    #[test]
    fn q8_0_packers_equal_the_portable_packing() {
        for (rows, blocks) in [(1, 1), (16, 3), (37, 24), (64, 36)] {
            let cols = blocks * 32;
            let values = crate::gemm::test_values(rows * cols, rows as u64 * 7 + 1);
            let data: Vec<u8> = values
                .chunks(cols)
                .flat_map(|r| quantize_row(QuantType::Q8_0, r).unwrap())
                .collect();
            let src = WeightRows::new(QuantType::Q8_0, &data, rows);
            let pack = |path| {
                with_path(path, || {
                    PackedI16::pack(rows, cols, ActQuant::Int16, false, src, 1)
                })
                .unwrap()
            };
            let want = pack(SimdPath::Scalar);
            for path in available_paths() {
                let got = pack(path);
                assert_eq!(got.w, want.w, "{path} {rows}x{cols}: weights");
                let bits = |d: &[f32]| d.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got.d), bits(&want.d), "{path} {rows}x{cols}: scales");
                assert_eq!(got.blocks(), blocks);
            }
        }
    }

    /// A packing into another's buffers equals a fresh one, whole panels or not (rows a
    /// fresh packing leaves zero stay zero), for both integer packings.
    #[test]
    fn packing_into_used_buffers_equals_a_fresh_packing() {
        let q8 = |rows: usize, cols: usize, seed: u64| -> Vec<u8> {
            crate::gemm::test_values(rows * cols, seed)
                .chunks(cols)
                .flat_map(|r| quantize_row(QuantType::Q8_0, r).unwrap())
                .collect()
        };
        let cols = 96;
        let used = q8(32, cols, 5);
        let used_src = WeightRows::new(QuantType::Q8_0, &used, 32);
        for rows in [32, 16, 7] {
            let data = q8(rows, cols, 11);
            let src = WeightRows::new(QuantType::Q8_0, &data, rows);
            let (act, max) = (ActQuant::Int16, usize::MAX);
            let old = PackedI16::pack(32, cols, act, false, used_src, max);
            let fresh = PackedI16::pack(rows, cols, act, false, src, max);
            let again = PackedI16::pack_reusing(Some(old), rows, cols, act, false, src, max);
            assert_eq!(again.w, fresh.w, "int16, {rows} rows: weights");
            assert_eq!(again.d, fresh.d, "int16, {rows} rows: scales");
            let act = ActQuant::Q8_0;
            let old = PackedI8::pack(32, cols, act, false, used_src, max);
            let fresh = PackedI8::pack(rows, cols, act, false, src, max);
            let again = PackedI8::pack_reusing(Some(old), rows, cols, act, false, src, max);
            assert_eq!(again.w, fresh.w, "int8, {rows} rows: weights");
            assert_eq!(again.c, fresh.c, "int8, {rows} rows: sums");
            assert_eq!(again.d, fresh.d, "int8, {rows} rows: scales");
        }
    }
}
