//! A well-behaved client that runs beside an abusive one: it sends a well-formed request
//! to each family in turn until it is stopped, and checks every answer is a 200 with the
//! vector the server gave that family's request alone. Also the metrics as a test reads
//! them, and a bounded wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::families::Route;
use super::{bits, get, post_raw};

/// The text the prober embeds.
pub const PROBE_TEXT: &str = "A well-formed request keeps getting the right answer.";

/// The well-behaved client, running on its own thread.
pub struct Prober {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

/// Each family's vector for [`PROBE_TEXT`], asked alone.
pub fn reference_vectors(url: &str) -> Vec<(Route, Vec<u32>)> {
    Route::ALL.iter().map(|&r| (r, ask(url, r))).collect()
}

/// One well-formed request; panics unless it is a 200 with a vector.
fn ask(url: &str, route: Route) -> Vec<u32> {
    let reply = post_raw(
        &format!("{url}{}", route.path()),
        &route.request(PROBE_TEXT),
        &[],
    );
    assert_eq!(
        reply.status, 200,
        "{route:?}: a well-formed request: {}",
        reply.body
    );
    bits(&route.vector(&reply.json()))
}

impl Prober {
    /// Takes the reference vectors (alone, before any abuse), then starts probing.
    pub fn start(url: &str) -> Prober {
        let want = reference_vectors(url);
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let (url, flag, count) = (url.to_string(), stop.clone(), answered.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: a test that forgets to stop its prober still ends.
            for i in 0..100_000 {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let (route, want) = &want[i % want.len()];
                assert_eq!(&ask(&url, *route), want, "{route:?}: the vector changed");
                count.fetch_add(1, Ordering::Relaxed);
                // Leave the cores to the abuse it runs beside.
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Prober {
            stop,
            answered,
            thread,
        }
    }

    /// Waits until the prober has checked `n` answers in all (bounded: 300 s); panics
    /// if it failed meanwhile.
    pub fn wait_for(&self, n: usize) {
        for _ in 0..3000 {
            if self.answered.load(Ordering::Relaxed) >= n || self.thread.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            !self.thread.is_finished() || self.answered.load(Ordering::Relaxed) >= n,
            "the prober stopped early"
        );
        assert!(
            self.answered.load(Ordering::Relaxed) >= n,
            "the prober checked fewer than {n} answers in 300 s"
        );
    }

    /// Waits for one answer from each family, stops probing and returns the answers
    /// checked (a prober that checked nothing proves nothing).
    pub fn finish(self) -> usize {
        if !self.thread.is_finished() {
            self.wait_for(Route::ALL.len());
        }
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        self.answered.load(Ordering::Relaxed)
    }
}

/// A Prometheus sample's value (the first line starting with `name`; 0 if none).
pub fn metric(url: &str, name: &str) -> f64 {
    let (_, body) = get(&format!("{url}/metrics"));
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Polls until `cond` holds (bounded: 60 s).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}
