//! An HTTP embedding server for EmbeddingGemma that OpenAI, Hugging Face TEI, Ollama and
//! llama.cpp clients use unchanged.
//!
//! This crate is the server as a library: routes, request and response shapes, the
//! batching scheduler and the engine. It knows no command line; the `embed serve`
//! subcommand of `embed-cli` is a thin layer over [`serve_blocking`].
//!
//! - [`ServerConfig`]: address, [`Limits`], API key, CORS, compute threads, the token
//!   budget of a forward pass.
//! - [`Server`]: [`Server::bind`] binds the port first (so `/livez` answers and `/readyz`
//!   says 503 while the model loads), [`Server::run`] loads and warms up the model, serves
//!   until a shutdown future completes, then drains. [`serve`] does both;
//!   [`serve_blocking`] runs it on its own runtime until Ctrl-C or SIGTERM.
//! - [`Error`]: the crate's one error type; its [`ErrorKind`] decides the HTTP status, and
//!   each route family renders it in its own shape.
//!
//! Inside: connections are capped ([`Limits::max_connections`]) and each must send its
//! headers within [`Limits::header_read_timeout`] and its body within
//! [`Limits::body_read_timeout`], so slow or idle clients cannot hold the server. Every
//! family's handler parses its body (whatever the `Content-Type`) into one
//! embedding call; the call is tokenized and admitted into a token-weighted queue; one
//! engine thread packs whatever is queued, by deficit round robin over requests, into a
//! forward pass up to the token budget, and hands each request its vectors, which it then
//! cuts to its Matryoshka dimension and normalizes. Vectors are the library's bit for bit,
//! whatever else shares the pass.
//!
//! Routes: OpenAI `POST /v1/embeddings`, `POST /embeddings`, `GET /v1/models`; TEI
//! `POST /embed`, `POST /`, `GET /info`, `POST /tokenize`, `POST /decode`; Ollama
//! `POST /api/embed`, `POST /api/embeddings`, `GET /api/tags`, `GET /api/version`,
//! `GET /`; llama.cpp `POST /embedding`; operations `GET /health`, `/livez`, `/readyz`,
//! `/metrics` (Prometheus), `/openapi.json`.
//!
//! Logs go through `tracing` (one line per request, target `embed_server::request`);
//! installing a subscriber is the binary's business.
//!
//! # Example
//!
//! ```no_run
//! use embed_server::{Server, ServerConfig};
//!
//! # async fn run() -> Result<(), embed_server::Error> {
//! let config = ServerConfig::default().with_port(0);
//! let server = Server::bind(config).await?;
//! println!("listening on http://{}", server.local_addr());
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! # drop(stop);
//! server
//!     .run("embeddinggemma-300m-q8_0.gguf", async move {
//!         let _ = stopped.await;
//!     })
//!     .await
//! # }
//! ```
#![forbid(unsafe_code)]

mod app;
mod config;
mod engine;
mod error;
mod http;
pub mod metrics;
mod openapi;
mod queue;
mod schema;
mod server;

pub use config::{Limits, ServerConfig, default_threads};
pub use error::{Error, ErrorKind};
pub use server::{Server, serve, serve_blocking, shutdown_signal};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
