//! A server's life: bind the port first (so `/livez` answers and `/readyz` says 503 while
//! the model loads), load and warm up the model, serve, and on the shutdown signal drain:
//! readiness goes to 503, in-flight requests finish, and the server returns within the
//! shutdown timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use gemma_encoder::Embedder;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{App, ModelFile, ModelSlot, Phase};
use crate::config::ServerConfig;
use crate::engine;
use crate::error::{Error, ErrorKind};
use crate::http;
use crate::metrics;

/// A bound server, not yet serving. [`Server::bind`] it, read [`Server::local_addr`],
/// then [`Server::run`] it.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    config: ServerConfig,
}

enum ModelSource {
    Path(PathBuf),
    Loaded(Arc<Embedder>),
}

impl Server {
    /// Checks the configuration and binds its address (port 0: a free port).
    pub async fn bind(config: ServerConfig) -> Result<Server, Error> {
        config.validate()?;
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Bind,
                    format!("cannot bind {}:{}", config.host, config.port),
                )
                .with_source(e)
            })?;
        let addr = listener.local_addr().map_err(|e| {
            Error::new(ErrorKind::Bind, "the bound address is unknown").with_source(e)
        })?;
        Ok(Server {
            listener,
            addr,
            config,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves: answers `/livez` at once, loads and warms up the GGUF at `model_path`,
    /// then answers every route until `shutdown` completes, and drains. Returns an
    /// error if the model cannot be loaded (after answering 503 meanwhile).
    pub async fn run(
        self,
        model_path: impl AsRef<Path>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let source = ModelSource::Path(model_path.as_ref().to_path_buf());
        self.run_source(source, shutdown).await
    }

    /// Like [`Server::run`] with a model already open (it is still warmed up).
    pub async fn run_with_model(
        self,
        model: Arc<Embedder>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        self.run_source(ModelSource::Loaded(model), shutdown).await
    }

    async fn run_source(
        self,
        source: ModelSource,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Server {
            listener,
            addr,
            config,
        } = self;
        let model_file = match &source {
            ModelSource::Path(p) => model_file(p),
            ModelSource::Loaded(_) => ModelFile::default(),
        };
        let timeout = config.shutdown_timeout;
        let (threads, batch_tokens, precision) =
            (config.threads, config.batch_tokens, config.precision);
        metrics::handle();
        let (app, model_tx) = App::new(config, model_file);
        let app = Arc::new(app);
        app.set_phase(Phase::Loading);

        // The HTTP side runs from now on; it stops accepting when `stop` turns true.
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let router = http::router(app.clone());
        let limits = app.config.limits.clone();
        let mut http = tokio::spawn(async move {
            http::serve(listener, router, &limits, async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
        });
        let (signal_tx, mut signal_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = signal_tx.send(true);
        });
        tracing::info!(target: "embed_server", %addr, "listening; loading the model");

        let start = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || {
            let model = match source {
                ModelSource::Path(p) => Arc::new(Embedder::open(&p).map_err(|e| {
                    Error::new(ErrorKind::Model, format!("cannot open {}", p.display()))
                        .with_source(e)
                })?),
                ModelSource::Loaded(m) => m,
            };
            let pool = engine::compute_pool(threads)?;
            engine::warm_up(&pool, &model, precision)?;
            Ok::<_, Error>((model, pool))
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Model, "loading the model panicked").with_source(e))
        .and_then(|r| r);
        let (model, pool) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                app.set_phase(Phase::Failed);
                let _ = model_tx.send(ModelSlot::Failed(e.detail()));
                let _ = stop_tx.send(true);
                let _ = tokio::time::timeout(timeout, http).await;
                return Err(e);
            }
        };
        for warning in model.warnings() {
            tracing::warn!(target: "embed_server", "{warning}");
        }
        let engine = engine::spawn(
            app.queue.clone(),
            model.clone(),
            pool,
            batch_tokens,
            precision,
        )?;
        let _ = model_tx.send(ModelSlot::Ready(model));
        app.set_phase(Phase::Ready);
        tracing::info!(target: "embed_server", %addr, load_ms = start.elapsed().as_millis() as u64, "ready");

        let failed = tokio::select! {
            _ = signal_rx.wait_for(|s| *s) => None,
            served = &mut http => Some(served),
        };
        app.set_phase(Phase::Draining);
        tracing::info!(target: "embed_server", "draining");
        let _ = stop_tx.send(true);
        let deadline = tokio::time::Instant::now() + timeout;
        let drained = match failed {
            Some(_) => true,
            None => tokio::time::timeout_at(deadline, &mut http).await.is_ok(),
        };
        // Requests still in the queue after the timeout are answered 503.
        if drained {
            app.queue.close();
        } else {
            tracing::warn!(target: "embed_server", "shutdown timeout: dropping unfinished requests");
            app.queue.abort();
        }
        let joined = tokio::task::spawn_blocking(move || engine.join());
        let _ = tokio::time::timeout_at(deadline + std::time::Duration::from_secs(1), joined).await;
        match failed {
            Some(Err(e)) => {
                Err(Error::new(ErrorKind::Runtime, "the HTTP task failed").with_source(e))
            }
            _ => Ok(()),
        }
    }
}

fn model_file(path: &Path) -> ModelFile {
    let meta = std::fs::metadata(path).ok();
    ModelFile {
        size: meta.as_ref().map_or(0, |m| m.len()),
        modified: meta.and_then(|m| m.modified().ok()),
    }
}

/// Binds, loads `model_path` and serves until `shutdown` completes.
pub async fn serve(
    config: ServerConfig,
    model_path: impl AsRef<Path>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    Server::bind(config).await?.run(model_path, shutdown).await
}

/// Completes on Ctrl-C, or on SIGTERM on Unix: the usual shutdown signal for
/// [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// [`serve`] on a runtime of its own until Ctrl-C or SIGTERM: what a binary calls.
/// `on_bound` is told the address once the port is bound (before the model loads).
pub fn serve_blocking(
    config: ServerConfig,
    model_path: impl AsRef<Path>,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    // HTTP and JSON are light next to the forward passes, which run on the engine's own
    // threads: two async workers are plenty.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("embed-http")
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(ErrorKind::Runtime, "cannot start the async runtime").with_source(e)
        })?;
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        on_bound(server.local_addr());
        server.run(model_path, shutdown_signal()).await
    })
}
