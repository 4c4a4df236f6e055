//! What a server is started with: address, limits, key, CORS, threads, batching.
//! Every field has a default a user can change with the `with_*` methods.

use std::time::Duration;

use gemma_encoder::Precision;

use crate::error::{Error, ErrorKind};

/// The limits every request is checked against before it reaches the engine.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body in bytes (16 MiB); larger is a 413.
    pub max_body_bytes: usize,
    /// Most inputs in one request (2048).
    pub max_inputs: usize,
    /// Most tokens in one request, all inputs together (a million); more is a 413.
    pub max_request_tokens: usize,
    /// Most tokens of one input, BOS and EOS included: `None` for the model's context
    /// (2048). A longer input is cut as sentence-transformers does unless the request
    /// turns truncation off, which makes it a 4xx.
    pub max_input_tokens: Option<usize>,
    /// Tokens the queue holds, waiting for the engine (a million). A request that does
    /// not fit now is a 429 with `Retry-After`; one larger than the whole queue a 413.
    pub queue_tokens: usize,
    /// How long a request may wait in the queue before its first input is computed (30 s);
    /// past it the request is a 503.
    pub queue_deadline: Duration,
    /// Connections open at once (1024). At the cap the server stops accepting: a new
    /// connection waits in the kernel's listen backlog until one closes. Each connection
    /// is a file descriptor, so the process's open-file limit must be above this.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (30 s), counted from the
    /// connection's start or the end of its previous answer: a client that dribbles its
    /// headers, or keeps an idle connection open, is disconnected after it.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's whole body once its headers are in
    /// (60 s); past it the request is a 408. The largest body (16 MiB) needs about
    /// 2.2 Mbit/s to arrive in time.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_inputs: 2048,
            max_request_tokens: 1 << 20,
            max_input_tokens: None,
            queue_tokens: 1 << 20,
            queue_deadline: Duration::from_secs(30),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
        }
    }
}

/// How to run a server. Build it from [`ServerConfig::default`] with the `with_*`
/// methods.
///
/// ```
/// use embed_server::ServerConfig;
///
/// let config = ServerConfig::default().with_port(11434).with_threads(2);
/// assert_eq!(config.port, 11434);
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address to bind (`127.0.0.1`: loopback unless asked).
    pub host: String,
    /// Port to bind (8080); 0 picks a free one (see [`Server::local_addr`](crate::Server::local_addr)).
    pub port: u16,
    /// Request limits.
    pub limits: Limits,
    /// When set, every route but the operations ones (`/health`, `/livez`, `/readyz`,
    /// `/metrics`, `GET /`, `/api/version`) needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Answer cross-origin requests from any origin (off by default).
    pub cors: bool,
    /// Compute threads of the engine: by default what this process may use
    /// (`std::thread::available_parallelism`, which follows cgroup quotas and CPU
    /// affinity).
    pub threads: usize,
    /// Tokens per forward pass: the engine packs queued inputs up to this many (2048). An
    /// input longer than the budget runs in a pass of its own.
    pub batch_tokens: usize,
    /// The name `/v1/models`, `/api/tags` and `/info` report (`embeddinggemma`).
    pub model_name: String,
    /// Arithmetic on quantized weights (the library's default).
    pub precision: Precision,
    /// How long a shutdown waits for in-flight requests before it gives up (30 s).
    pub shutdown_timeout: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key is a secret: say whether there is one, never what it is.
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("limits", &self.limits)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("cors", &self.cors)
            .field("threads", &self.threads)
            .field("batch_tokens", &self.batch_tokens)
            .field("model_name", &self.model_name)
            .field("precision", &self.precision)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            limits: Limits::default(),
            api_key: None,
            cors: false,
            threads: default_threads(),
            batch_tokens: 2048,
            model_name: "embeddinggemma".into(),
            precision: Precision::default(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// The threads this process may run on (cgroup- and affinity-aware), at least 1.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl ServerConfig {
    /// Sets the address to bind.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Sets the port (0: any free port).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets all the limits at once.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the largest body in bytes.
    pub fn with_max_body_bytes(mut self, n: usize) -> Self {
        self.limits.max_body_bytes = n;
        self
    }

    /// Sets the most inputs per request.
    pub fn with_max_inputs(mut self, n: usize) -> Self {
        self.limits.max_inputs = n;
        self
    }

    /// Sets the most tokens per request.
    pub fn with_max_request_tokens(mut self, n: usize) -> Self {
        self.limits.max_request_tokens = n;
        self
    }

    /// Sets the most tokens per input (2 up to the model's context).
    pub fn with_max_input_tokens(mut self, n: usize) -> Self {
        self.limits.max_input_tokens = Some(n);
        self
    }

    /// Sets the queue's capacity in tokens.
    pub fn with_queue_tokens(mut self, n: usize) -> Self {
        self.limits.queue_tokens = n;
        self
    }

    /// Sets how long a request may wait for the engine.
    pub fn with_queue_deadline(mut self, d: Duration) -> Self {
        self.limits.queue_deadline = d;
        self
    }

    /// Sets the most connections open at once.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// Sets how long a client may take to send a request's headers (and how long an idle
    /// connection stays open).
    pub fn with_header_read_timeout(mut self, d: Duration) -> Self {
        self.limits.header_read_timeout = d;
        self
    }

    /// Sets how long a client may take to send a request's body.
    pub fn with_body_read_timeout(mut self, d: Duration) -> Self {
        self.limits.body_read_timeout = d;
        self
    }

    /// Requires `Authorization: Bearer <key>` (`None`: no key).
    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key;
        self
    }

    /// Answers cross-origin requests.
    pub fn with_cors(mut self, on: bool) -> Self {
        self.cors = on;
        self
    }

    /// Sets the engine's compute threads.
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Sets the tokens per forward pass.
    pub fn with_batch_tokens(mut self, n: usize) -> Self {
        self.batch_tokens = n;
        self
    }

    /// Sets the model name the server reports.
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model_name = name.into();
        self
    }

    /// Sets the arithmetic on quantized weights.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Sets how long a shutdown waits for in-flight requests.
    pub fn with_shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), Error> {
        let l = &self.limits;
        let zero = [
            ("max_body_bytes", l.max_body_bytes),
            ("max_inputs", l.max_inputs),
            ("max_request_tokens", l.max_request_tokens),
            ("queue_tokens", l.queue_tokens),
            ("max_connections", l.max_connections),
            ("threads", self.threads),
            ("batch_tokens", self.batch_tokens),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, v)| *v == 0) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{name} must be at least 1"),
            ));
        }
        if let Some(n) = l.max_input_tokens.filter(|&n| n < 2) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("max_input_tokens {n} leaves no room for BOS and EOS (at least 2)"),
            ));
        }
        let timeouts = [
            ("header_read_timeout", l.header_read_timeout),
            ("body_read_timeout", l.body_read_timeout),
        ];
        if let Some((name, _)) = timeouts.iter().find(|(_, d)| d.is_zero()) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{name} must be longer than zero"),
            ));
        }
        if self.api_key.as_deref() == Some("") {
            return Err(Error::new(ErrorKind::Config, "the API key is empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_and_empty_keys_are_refused() {
        assert!(ServerConfig::default().validate().is_ok());
        for bad in [
            ServerConfig::default().with_threads(0),
            ServerConfig::default().with_batch_tokens(0),
            ServerConfig::default().with_queue_tokens(0),
            ServerConfig::default().with_max_input_tokens(1),
            ServerConfig::default().with_max_connections(0),
            ServerConfig::default().with_header_read_timeout(Duration::ZERO),
            ServerConfig::default().with_body_read_timeout(Duration::ZERO),
            ServerConfig::default().with_api_key(Some(String::new())),
        ] {
            assert_eq!(
                bad.validate().unwrap_err().kind(),
                ErrorKind::Config,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_api_key() {
        let c = ServerConfig::default().with_api_key(Some("hunter2".into()));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<set>"),
            "{shown}"
        );
    }
}
