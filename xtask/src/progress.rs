//! A one-line progress report on stderr, redrawn at most a few times a second.

use std::io::Write;
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: Option<u64>,
    last: Option<Instant>,
    started: Instant,
    done: u64,
}

impl Progress {
    pub fn new(label: &str, total: Option<u64>) -> Self {
        Progress {
            label: label.to_string(),
            total,
            last: None,
            started: Instant::now(),
            done: 0,
        }
    }

    pub fn set(&mut self, done: u64) {
        self.done = done;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now - t < Duration::from_millis(500))
        {
            return;
        }
        self.last = Some(now);
        self.draw('\r');
    }

    fn draw(&self, end: char) {
        let mib = self.done as f64 / (1 << 20) as f64;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let line = match self.total {
            Some(t) if t > 0 => format!(
                "{}: {:.0}/{:.0} MiB ({:.0}%, {:.0} MiB/s)",
                self.label,
                mib,
                t as f64 / (1 << 20) as f64,
                100.0 * self.done as f64 / t as f64,
                mib / secs
            ),
            _ => format!("{}: {mib:.0} MiB ({:.0} MiB/s)", self.label, mib / secs),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r  {line}\x1b[K{end}");
        let _ = err.flush();
    }

    pub fn finish(&self) {
        self.draw('\n');
    }
}
