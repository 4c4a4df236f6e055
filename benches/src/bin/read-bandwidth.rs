//! This machine's memory read bandwidth, the denominator of the "read the weights once"
//! floors in `docs/server.md` and `docs/performance.md`.
//!
//! `read-bandwidth [--threads N] [--mib M]` sums a buffer of M MiB (default 1024, far
//! larger than any cache) split evenly over N threads (default: every CPU the process
//! may use), seven times, and prints the best pass's rate in GB/s (10^9 bytes per
//! second) as `read-bandwidth: <GB/s> GB/s (<N> threads, <M> MiB)`. Each thread sums
//! its share with four independent accumulators, so the loop waits on memory, not on
//! one add chain; the sum is printed so the reads cannot be optimized away.

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut mib = 1024usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| fail(&format!("{a} needs a number")))
        };
        match a.as_str() {
            "--threads" => threads = value().max(1),
            "--mib" => mib = value().max(1),
            other => fail(&format!("unknown option {other}")),
        }
    }
    let words = mib * (1 << 20) / 8;
    // Distinct values, written once, so every page is really mapped before timing.
    let buffer: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(threads);
    let mut best = f64::INFINITY;
    let mut checksum = 0u64;
    for _ in 0..7 {
        let start = Instant::now();
        let sums: Vec<u64> = std::thread::scope(|s| {
            let workers: Vec<_> = buffer
                .chunks(chunk)
                .map(|part| s.spawn(move || sum(black_box(part))))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).collect()
        });
        best = best.min(start.elapsed().as_secs_f64());
        checksum = checksum.wrapping_add(sums.iter().fold(0, |a, &b| a.wrapping_add(b)));
    }
    let gbs = (words * 8) as f64 / best / 1e9;
    println!("read-bandwidth: {gbs:.2} GB/s ({threads} threads, {mib} MiB)");
    eprintln!("checksum {checksum}");
}

fn sum(words: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let mut quads = words.chunks_exact(4);
    for q in &mut quads {
        for (a, w) in acc.iter_mut().zip(q) {
            *a = a.wrapping_add(*w);
        }
    }
    let tail = quads
        .remainder()
        .iter()
        .fold(0u64, |a, &w| a.wrapping_add(w));
    acc.iter().fold(tail, |a, &b| a.wrapping_add(b))
}

fn fail(message: &str) -> ! {
    eprintln!("read-bandwidth: {message}");
    std::process::exit(2);
}
