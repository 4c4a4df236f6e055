//! The queue between the HTTP handlers and the engine: token-weighted admission, and the
//! deficit round robin that decides which inputs go into the next forward pass.
//!
//! A request is admitted whole (all its inputs, tokenized) or refused: larger than the
//! whole queue is a 413, larger than the room left a 429. The engine asks for a batch
//! when it finishes a pass and gets whatever is queued, packed up to the token budget.
//! Every request with waiting inputs earns a quantum of tokens per round and spends it
//! on its inputs in order, so a short query admitted behind a bulk request goes into the
//! very next pass instead of waiting for the bulk to drain. A request whose client went
//! away, or that waited past its deadline before its first input ran, is dropped when
//! the next batch is built.
//!
//! Requests are split into two [`Lane`]s, each served by its own engine: a request that
//! fits in one round's quantum is interactive, a larger one is bulk. An interactive pass
//! starts while a bulk pass runs (seconds at 2048 tokens) instead of after it, and the
//! compute threads finish it first (the engine module says how).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::{Error, ErrorKind};
use crate::metrics;

/// What a request gets back: one raw vector per input (the Dense layers' output, not
/// cut or normalized), and where its time went.
#[derive(Debug)]
pub(crate) struct JobOutput {
    pub vectors: Vec<Vec<f32>>,
    /// From admission to the first pass that held one of its inputs.
    pub queue_time: Duration,
    /// From that pass's start to the end of the last pass that held one.
    pub inference_time: Duration,
}

/// The handler's side of an admitted request. Dropping it (the client went away)
/// cancels the inputs still queued.
pub(crate) type Ticket = oneshot::Receiver<Result<JobOutput, Error>>;

/// The inputs of one forward pass, and whose they are.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Token sequences, BOS and EOS included.
    pub sequences: Vec<Vec<u32>>,
    /// `(job id, input index)` of each sequence.
    slots: Vec<(u64, usize)>,
    /// Tokens in the pass.
    pub tokens: usize,
}

/// Which engine serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Requests of at most one quantum of tokens: queries.
    Interactive,
    /// Everything larger.
    Bulk,
}

impl Lane {
    /// The lane's name in thread names and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Bulk => "bulk",
        }
    }
}

struct Job {
    id: u64,
    lane: Lane,
    /// Inputs not yet scheduled; scheduled ones are taken out (left empty).
    items: Vec<Vec<u32>>,
    next: usize,
    results: Vec<Vec<f32>>,
    remaining: usize,
    queued_tokens: usize,
    deficit: i64,
    admitted: Instant,
    started: Option<Instant>,
    reply: Option<oneshot::Sender<Result<JobOutput, Error>>>,
}

impl Job {
    fn pending(&self) -> bool {
        self.next < self.items.len()
    }

    fn pending_in(&self, lane: Lane) -> bool {
        self.lane == lane && self.pending()
    }

    fn finish(&mut self, result: Result<JobOutput, Error>) {
        if let Some(reply) = self.reply.take() {
            // The receiver may be gone: then nobody is waiting and nothing is lost.
            let _ = reply.send(result);
        }
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    queued_tokens: usize,
    next_id: u64,
    /// No new work is coming: the engine stops once the queue is empty.
    closed: bool,
    /// Stop now: every queued request has been failed.
    aborted: bool,
    /// The engine's recent tokens per second, for `Retry-After`.
    tokens_per_sec: f64,
}

/// The shared queue. One engine thread consumes it; any number of handlers feed it.
pub(crate) struct Queue {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
    batch_tokens: usize,
    quantum: i64,
    deadline: Duration,
}

impl Queue {
    /// A queue holding up to `capacity` tokens, building passes of `batch_tokens`.
    pub fn new(capacity: usize, batch_tokens: usize, deadline: Duration) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            capacity,
            batch_tokens,
            // A quarter of a pass per round: several requests share every pass, and a
            // request's share does not depend on how many inputs it sent.
            quantum: (batch_tokens / 4).max(1) as i64,
            deadline,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent bookkeeping (every update is
        // a single assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a request of token sequences (each non-empty), or says why not.
    pub fn submit(&self, items: Vec<Vec<u32>>) -> Result<Ticket, Error> {
        let tokens: usize = items.iter().map(Vec::len).sum();
        if tokens > self.capacity {
            metrics::rejected("too_large");
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "the request has {tokens} tokens, more than the whole queue holds ({})",
                    self.capacity
                ),
            ));
        }
        let mut st = self.lock();
        if st.aborted || st.closed {
            metrics::rejected("draining");
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the server is shutting down",
            ));
        }
        if st.queued_tokens + tokens > self.capacity {
            let excess = (st.queued_tokens + tokens - self.capacity) as f64;
            let secs = if st.tokens_per_sec > 0.0 {
                (excess / st.tokens_per_sec).ceil() as u64
            } else {
                1
            };
            metrics::rejected("queue_full");
            return Err(Error::overloaded(
                format!(
                    "the queue is full ({} of {} tokens waiting); retry later",
                    st.queued_tokens, self.capacity
                ),
                secs.clamp(1, 60),
            ));
        }
        let (reply, ticket) = oneshot::channel();
        let id = st.next_id;
        st.next_id += 1;
        let n = items.len();
        let lane = if tokens as i64 <= self.quantum {
            Lane::Interactive
        } else {
            Lane::Bulk
        };
        st.jobs.push_back(Job {
            id,
            lane,
            results: vec![Vec::new(); n],
            remaining: n,
            items,
            next: 0,
            queued_tokens: tokens,
            deficit: 0,
            admitted: Instant::now(),
            started: None,
            reply: Some(reply),
        });
        st.queued_tokens += tokens;
        metrics::queue_depth(st.queued_tokens, st.jobs.len());
        drop(st);
        // Both engines wait on the one condition variable, each for its own lane.
        self.wake.notify_all();
        Ok(ticket)
    }

    /// Waits for work in `lane` and returns its next pass; `None` once the queue is
    /// closed and the lane empty, or aborted.
    pub fn next_batch(&self, lane: Lane) -> Option<Batch> {
        let mut st = self.lock();
        loop {
            if st.aborted {
                return None;
            }
            self.prune(&mut st);
            if st.jobs.iter().any(|j| j.pending_in(lane)) {
                break;
            }
            if st.closed {
                return None;
            }
            st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let batch = self.pack(&mut st, lane);
        metrics::queue_depth(st.queued_tokens, st.jobs.len());
        Some(batch)
    }

    /// Drops requests whose client is gone, and fails those past their deadline.
    fn prune(&self, st: &mut State) {
        let now = Instant::now();
        let mut i = 0;
        while i < st.jobs.len() {
            let job = &mut st.jobs[i];
            let gone = job.reply.as_ref().is_none_or(|r| r.is_closed());
            let late = job.started.is_none() && now.duration_since(job.admitted) > self.deadline;
            if gone || late {
                if late && !gone {
                    metrics::rejected("deadline");
                    job.finish(Err(Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "the request waited more than {:?} in the queue; retry later",
                            self.deadline
                        ),
                    )));
                } else {
                    metrics::rejected("disconnected");
                }
                st.queued_tokens -= job.queued_tokens;
                st.jobs.remove(i);
            } else {
                i += 1;
            }
        }
        metrics::queue_depth(st.queued_tokens, st.jobs.len());
    }

    /// Deficit round robin over the lane's requests with waiting inputs, up to the
    /// budget. The first input of a pass is always taken, so an input longer than the
    /// budget runs alone.
    fn pack(&self, st: &mut State, lane: Lane) -> Batch {
        let now = Instant::now();
        let mut batch = Batch {
            sequences: Vec::new(),
            slots: Vec::new(),
            tokens: 0,
        };
        let mut room = self.batch_tokens;
        // A request cannot bank more than a pass: a long wait earns no later burst.
        let cap = (self.batch_tokens as i64) + self.quantum;
        let State {
            jobs,
            queued_tokens,
            ..
        } = st;
        loop {
            let mut any_fits = false;
            for job in jobs.iter_mut() {
                let head_fits = |job: &Job, room: usize, empty: bool| {
                    job.pending_in(lane) && (empty || job.items[job.next].len() <= room)
                };
                if !head_fits(job, room, batch.sequences.is_empty()) {
                    continue;
                }
                any_fits = true;
                job.deficit = (job.deficit + self.quantum).min(cap);
                while head_fits(job, room, batch.sequences.is_empty()) {
                    let t = job.items[job.next].len();
                    if t as i64 > job.deficit && !batch.sequences.is_empty() {
                        break;
                    }
                    batch
                        .sequences
                        .push(std::mem::take(&mut job.items[job.next]));
                    batch.slots.push((job.id, job.next));
                    batch.tokens += t;
                    job.next += 1;
                    job.deficit -= t as i64;
                    job.queued_tokens -= t;
                    *queued_tokens -= t;
                    job.started.get_or_insert(now);
                    room = room.saturating_sub(t);
                }
                if !job.pending() {
                    job.deficit = 0;
                }
                if room == 0 {
                    break;
                }
            }
            if !any_fits || room == 0 {
                break;
            }
        }
        // The next pass starts its rounds one request further on.
        if jobs.len() > 1 {
            jobs.rotate_left(1);
        }
        batch
    }

    /// Hands a pass's vectors (or its failure) to the requests it served; those with
    /// every input done get their answer.
    pub fn complete(&self, batch: Batch, result: Result<Vec<Vec<f32>>, Error>, took: Duration) {
        let mut st = self.lock();
        if took > Duration::ZERO && batch.tokens > 0 {
            let tps = batch.tokens as f64 / took.as_secs_f64();
            st.tokens_per_sec = if st.tokens_per_sec == 0.0 {
                tps
            } else {
                0.8 * st.tokens_per_sec + 0.2 * tps
            };
        }
        let now = Instant::now();
        match result {
            Ok(vectors) => {
                for ((id, index), vector) in batch.slots.into_iter().zip(vectors) {
                    if let Some(job) = st.jobs.iter_mut().find(|j| j.id == id) {
                        job.results[index] = vector;
                        job.remaining -= 1;
                    }
                }
            }
            Err(e) => {
                let message = e.detail();
                for (id, _) in batch.slots {
                    if let Some(job) = st.jobs.iter_mut().find(|j| j.id == id) {
                        job.finish(Err(Error::new(ErrorKind::Internal, message.clone())));
                        job.remaining = 0;
                    }
                }
            }
        }
        let mut i = 0;
        while i < st.jobs.len() {
            if st.jobs[i].remaining > 0 {
                i += 1;
                continue;
            }
            let mut job = st.jobs.remove(i).expect("index in range");
            st.queued_tokens -= job.queued_tokens;
            let started = job.started.unwrap_or(now);
            let output = JobOutput {
                vectors: std::mem::take(&mut job.results),
                queue_time: started.duration_since(job.admitted),
                inference_time: now.duration_since(started),
            };
            job.finish(Ok(output));
        }
        metrics::queue_depth(st.queued_tokens, st.jobs.len());
    }

    /// No more requests: the engine finishes what is queued, then stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// Stops now: every queued request is answered 503.
    pub fn abort(&self) {
        let mut st = self.lock();
        st.aborted = true;
        st.closed = true;
        for mut job in st.jobs.drain(..) {
            job.finish(Err(Error::new(
                ErrorKind::Unavailable,
                "the server stopped before this request was computed",
            )));
        }
        st.queued_tokens = 0;
        drop(st);
        self.wake.notify_all();
    }

    /// Whether `lane` has inputs waiting.
    #[cfg(test)]
    fn has_pending(&self, lane: Lane) -> bool {
        self.lock().jobs.iter().any(|j| j.pending_in(lane))
    }

    /// Tokens and requests waiting.
    #[cfg(test)]
    fn depth(&self) -> (usize, usize) {
        let st = self.lock();
        (st.queued_tokens, st.jobs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(lens: &[usize]) -> Vec<Vec<u32>> {
        lens.iter().map(|&n| vec![7; n]).collect()
    }

    fn owners(b: &Batch) -> Vec<u64> {
        b.slots.iter().map(|s| s.0).collect()
    }

    #[test]
    fn a_short_request_does_not_wait_for_the_bulk_pass_in_flight() {
        let q = Queue::new(100_000, 400, Duration::from_secs(60));
        let _bulk = q.submit(seqs(&[100; 40])).unwrap();
        let first = q.next_batch(Lane::Bulk).unwrap();
        assert_eq!(owners(&first), vec![0; 4]);
        // The bulk pass is still running when the query arrives.
        let _query = q.submit(seqs(&[12])).unwrap();
        let second = q.next_batch(Lane::Interactive).unwrap();
        assert_eq!(owners(&second), vec![1]);
        q.complete(first, Ok(vec![vec![0.0]; 4]), Duration::from_millis(1));
        q.complete(second, Ok(vec![vec![0.0]]), Duration::from_millis(1));
        assert!(!q.has_pending(Lane::Interactive));
        assert!(q.has_pending(Lane::Bulk));
    }

    #[test]
    fn bulk_requests_share_every_pass() {
        let q = Queue::new(100_000, 400, Duration::from_secs(60));
        let _a = q.submit(seqs(&[100; 40])).unwrap();
        let _b = q.submit(seqs(&[50; 8])).unwrap();
        let pass = q.next_batch(Lane::Bulk).unwrap();
        let owners = owners(&pass);
        assert!(owners.contains(&0) && owners.contains(&1), "{owners:?}");
        assert!(pass.tokens <= 400);
    }

    #[test]
    fn a_request_within_one_quantum_is_interactive() {
        let q = Queue::new(100_000, 400, Duration::from_secs(60));
        let _a = q.submit(seqs(&[60, 40])).unwrap();
        let _b = q.submit(seqs(&[60, 41])).unwrap();
        assert_eq!(
            owners(&q.next_batch(Lane::Interactive).unwrap()),
            vec![0, 0]
        );
        assert_eq!(owners(&q.next_batch(Lane::Bulk).unwrap()), vec![1, 1]);
    }

    #[test]
    fn admission_is_token_weighted() {
        let q = Queue::new(1000, 256, Duration::from_secs(60));
        let e = q.submit(seqs(&[600, 401])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
        let _a = q.submit(seqs(&[600])).unwrap();
        let e = q.submit(seqs(&[401])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Overloaded);
        assert!(e.retry_after().unwrap() >= 1);
        let _b = q.submit(seqs(&[400])).unwrap();
        assert_eq!(q.depth(), (1000, 2));
    }

    #[test]
    fn an_input_longer_than_the_budget_runs_alone() {
        let q = Queue::new(10_000, 256, Duration::from_secs(60));
        let _a = q.submit(seqs(&[2000, 10])).unwrap();
        let b = q.next_batch(Lane::Bulk).unwrap();
        assert_eq!(b.tokens, 2000);
    }

    #[test]
    fn every_input_is_scheduled_once_in_order_per_request() {
        let q = Queue::new(1 << 20, 300, Duration::from_secs(60));
        let lens: Vec<Vec<usize>> = (0..5)
            .map(|r| {
                (0..(3 + 7 * r))
                    .map(|i| 5 + (i * 37 + r * 11) % 200)
                    .collect()
            })
            .collect();
        let mut tickets: Vec<Ticket> = lens.iter().map(|l| q.submit(seqs(l)).unwrap()).collect();
        let mut seen: Vec<Vec<usize>> = vec![Vec::new(); 5];
        for _ in 0..1000 {
            if q.depth().1 == 0 {
                break;
            }
            let lane = if q.has_pending(Lane::Interactive) {
                Lane::Interactive
            } else {
                Lane::Bulk
            };
            let b = q.next_batch(lane).unwrap();
            assert!(b.tokens <= 300 || b.sequences.len() == 1);
            for (id, idx) in &b.slots {
                seen[*id as usize].push(*idx);
            }
            let n = b.sequences.len();
            let vectors = b.sequences.iter().map(|s| vec![s.len() as f32]).collect();
            assert_eq!(n, b.slots.len());
            q.complete(b, Ok(vectors), Duration::from_millis(1));
        }
        for (r, s) in seen.iter().enumerate() {
            assert_eq!(*s, (0..lens[r].len()).collect::<Vec<_>>());
            let out = tickets[r].try_recv().unwrap().unwrap();
            let got: Vec<usize> = out.vectors.iter().map(|v| v[0] as usize).collect();
            assert_eq!(got, lens[r]);
        }
    }

    #[test]
    fn a_dropped_ticket_frees_its_tokens() {
        let q = Queue::new(1000, 100, Duration::from_secs(60));
        let a = q.submit(seqs(&[50; 10])).unwrap();
        let _b = q.submit(seqs(&[20])).unwrap();
        drop(a);
        let batch = q.next_batch(Lane::Interactive).unwrap();
        assert_eq!(owners(&batch), vec![1]);
        assert_eq!(q.depth(), (0, 1));
    }

    #[test]
    fn a_request_past_its_deadline_is_refused() {
        let q = Queue::new(1000, 100, Duration::ZERO);
        let mut late = q.submit(seqs(&[5])).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        q.close();
        assert!(q.next_batch(Lane::Interactive).is_none());
        let e = late.try_recv().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }
}
