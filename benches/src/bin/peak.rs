//! This CPU's limit for each of the kernels' multiply instructions, the denominator of
//! the "linear layers against the peak" figure in `docs/performance.md`.
//!
//! `peak [--threads N] [--millis M]` runs `ggml_quant::peak::measure` for every
//! arithmetic (int16, int8, f32) on N threads at once (default: every CPU the process
//! may use), each for about M ms (default 500), and prints one line each:
//! `peak: int16 avx512-vnni 212.40 GMAC/s (2 threads)`, the threads' rates added. An
//! arithmetic whose kernel is the portable one on this CPU prints `none`.

use std::io::Write;
use std::sync::Barrier;
use std::time::Duration;

use ggml_quant::peak::{Arithmetic, measure};

fn main() {
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut millis = 500u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| fail(&format!("{a} needs a number")))
        };
        match a.as_str() {
            "--threads" => threads = value().max(1) as usize,
            "--millis" => millis = value().max(1),
            other => fail(&format!("unknown option {other}")),
        }
    }
    let duration = Duration::from_millis(millis);
    let mut out = std::io::stdout().lock();
    for arith in Arithmetic::ALL {
        // All threads start together, so each core runs one loop for the whole time.
        let start = Barrier::new(threads);
        let peaks: Vec<_> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        measure(arith, duration)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().ok().flatten())
                .collect()
        });
        let line = match peaks.first().copied().flatten() {
            Some(first) => {
                let total: f64 = peaks.iter().flatten().map(|p| p.macs_per_second).sum();
                format!(
                    "peak: {} {} {:.2} GMAC/s ({threads} threads)",
                    arith.name(),
                    first.instruction,
                    total / 1e9
                )
            }
            None => format!("peak: {} none ({threads} threads)", arith.name()),
        };
        // A reader that stops reading (`| head -1`) ends the program, not a panic.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("peak: {msg}");
    std::process::exit(2)
}
