//! The compute threads of one `Embedder`: a rayon pool of its own, so the Python process's
//! other rayon users (and other embedders) keep theirs.
//!
//! Size: the `num_threads` the caller gave, else `RAYON_NUM_THREADS`, else
//! `OMP_NUM_THREADS` (Ray and Spark set it to a worker's CPU share), else the CPUs this
//! process may run on (`std::thread::available_parallelism`: affinity and cgroup quota,
//! the rule `embed-server` uses).
//!
//! Fork safety: no thread starts before the first embedding, and the pool remembers the
//! process that built it. A forked child (PySpark forks its workers) has the parent's
//! pool object but none of its threads, so it builds its own.

use std::sync::{Arc, Mutex, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuildError, ThreadPoolBuilder};

/// A pool built on first use, rebuilt in a forked child.
pub(crate) struct ComputePool {
    requested: Option<usize>,
    built: Mutex<Option<Built>>,
}

/// The pool and the process whose threads it has.
struct Built {
    pid: u32,
    pool: Arc<ThreadPool>,
}

impl ComputePool {
    /// A pool of `requested` threads (`None`: from the environment when first used).
    pub(crate) fn new(requested: Option<usize>) -> ComputePool {
        ComputePool {
            requested,
            built: Mutex::new(None),
        }
    }

    /// The threads the pool has, or will have when built now.
    pub(crate) fn threads(&self) -> usize {
        let built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        match &*built {
            Some(b) if b.pid == std::process::id() => b.pool.current_num_threads(),
            _ => thread_count(self.requested),
        }
    }

    /// This process's pool, built when there is none yet.
    pub(crate) fn get(&self) -> Result<Arc<ThreadPool>, ThreadPoolBuildError> {
        let pid = std::process::id();
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        match built.take() {
            Some(b) if b.pid == pid => {
                let pool = Arc::clone(&b.pool);
                *built = Some(b);
                return Ok(pool);
            }
            // Built before a fork: its threads exist only in the parent, and dropping it
            // would signal them through state copied mid-use. Leak it instead.
            Some(stale) => std::mem::forget(stale),
            None => {}
        }
        let pool = Arc::new(
            ThreadPoolBuilder::new()
                .num_threads(thread_count(self.requested))
                .thread_name(|i| format!("embeddinggemma-{i}"))
                .build()?,
        );
        *built = Some(Built {
            pid,
            pool: Arc::clone(&pool),
        });
        Ok(pool)
    }
}

/// `requested`, else the first of `RAYON_NUM_THREADS` and `OMP_NUM_THREADS` that is a
/// positive number, else the CPUs this process may use; at least 1.
pub(crate) fn thread_count(requested: Option<usize>) -> usize {
    requested
        .or_else(|| env_threads("RAYON_NUM_THREADS"))
        .or_else(|| env_threads("OMP_NUM_THREADS"))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// A positive thread count from `var`. OpenMP allows a list per nesting level
/// (`"4,2"`): the first applies.
fn env_threads(var: &str) -> Option<usize> {
    let value = std::env::var(var).ok()?;
    let first = value.split(',').next()?.trim();
    first.parse().ok().filter(|&n| n > 0)
}
