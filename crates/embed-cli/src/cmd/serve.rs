//! `embed serve`: the HTTP embedding server (OpenAI, Hugging Face TEI, Ollama and
//! llama.cpp routes) of the `embed-server` crate, with its limits as flags.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use embed_server::{Limits, ServerConfig, serve_blocking};

use crate::args::{ModelArg, PrecisionArg};
use crate::model::model_path;

/// The arguments of `embed serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to bind: loopback unless asked (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind; 11434 makes it an Ollama drop-in, 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Require `Authorization: Bearer KEY` on every embedding route.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Answer cross-origin (CORS) requests from any origin.
    #[arg(long)]
    cors: bool,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Most inputs in one request.
    #[arg(long, default_value_t = Limits::default().max_inputs)]
    max_inputs: usize,
    /// Most tokens in one request, all inputs together.
    #[arg(long, default_value_t = Limits::default().max_request_tokens)]
    max_request_tokens: usize,
    /// Most tokens of one input (default: the model's 2048); longer ones are cut, or
    /// refused when the request says `truncate: false`.
    #[arg(long)]
    max_input_tokens: Option<usize>,
    /// Tokens the queue holds; a request that does not fit is answered 429.
    #[arg(long, default_value_t = Limits::default().queue_tokens)]
    queue_tokens: usize,
    /// Seconds a request may wait in the queue before it is answered 503.
    #[arg(long, default_value_t = Limits::default().queue_deadline.as_secs_f64())]
    queue_deadline: f64,
    /// Connections open at once; past it new ones wait in the listen backlog. Keep the
    /// open-file limit (`ulimit -n`) above it.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Seconds a client may take to send a request's headers; an idle keep-alive
    /// connection is closed after as long.
    #[arg(long, default_value_t = Limits::default().header_read_timeout.as_secs_f64())]
    header_read_timeout: f64,
    /// Seconds a client may take to send a request's body once its headers are in;
    /// past it the request is answered 408.
    #[arg(long, default_value_t = Limits::default().body_read_timeout.as_secs_f64())]
    body_read_timeout: f64,
    /// Tokens per forward pass.
    #[arg(long, default_value_t = ServerConfig::default().batch_tokens)]
    batch_tokens: usize,
    /// The model name the server reports (`/v1/models`, `/api/tags`, `/info`).
    #[arg(long, default_value = "embeddinggemma")]
    model_name: String,
    /// Arithmetic on quantized weights.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Int16)]
    precision: PrecisionArg,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for in-flight requests.
    #[arg(long, default_value_t = 30.0)]
    shutdown_timeout: f64,
    /// Log one JSON object per line instead of text.
    #[arg(long)]
    json_logs: bool,
    #[command(flatten)]
    model: ModelArg,
}

/// Runs the server until SIGTERM or Ctrl-C, then drains.
pub fn run(a: ServeArgs) -> Result<()> {
    init_logs(a.json_logs);
    let path = model_path(&a.model)?;
    let seconds = |s: f64, what: &str| {
        Duration::try_from_secs_f64(s).with_context(|| format!("--{what} {s} is not a duration"))
    };
    let mut config = ServerConfig::default()
        .with_host(a.host)
        .with_port(a.port)
        .with_max_body_bytes(a.max_body_bytes)
        .with_max_inputs(a.max_inputs)
        .with_max_request_tokens(a.max_request_tokens)
        .with_queue_tokens(a.queue_tokens)
        .with_queue_deadline(seconds(a.queue_deadline, "queue-deadline")?)
        .with_max_connections(a.max_connections)
        .with_header_read_timeout(seconds(a.header_read_timeout, "header-read-timeout")?)
        .with_body_read_timeout(seconds(a.body_read_timeout, "body-read-timeout")?)
        .with_api_key(a.api_key)
        .with_cors(a.cors)
        .with_batch_tokens(a.batch_tokens)
        .with_model_name(a.model_name)
        .with_precision(a.precision.into())
        .with_shutdown_timeout(seconds(a.shutdown_timeout, "shutdown-timeout")?);
    if let Some(n) = a.max_input_tokens {
        config = config.with_max_input_tokens(n);
    }
    if let Some(n) = a.model.threads {
        config = config.with_threads(n.max(1));
    }
    serve_blocking(config, &path, |addr| {
        // The one line a script waits for before it sends requests (/readyz says when
        // the model is loaded).
        eprintln!(
            "embed: listening on http://{addr} (loading {})",
            path.display()
        );
    })
    .context("the server stopped")
}

fn init_logs(json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second subscriber (there is none in this binary) is the only way this fails.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
