//! Connections: the accept loop, the cap on connections open at once, the header-read
//! timeout, and graceful shutdown.
//!
//! A client that opens connections and sends nothing, or dribbles its headers, holds a
//! task, a read buffer and a file descriptor. The header-read timeout closes such a
//! connection (and an idle keep-alive one) after `header_read_timeout`; the cap keeps
//! their number bounded: at `max_connections` the loop stops accepting, so a new
//! connection waits in the kernel's listen backlog, unrefused, until one closes.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::config::Limits;
use crate::metrics;

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets
/// every connection finish its request in flight, and returns once all are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let header_timeout = limits.header_read_timeout;
    // Every connection holds a receiver of `stop` (told to shut down gracefully when it
    // changes) and a clone of `open` (so `closed()` says when the last one is gone).
    let (stop_tx, stop_rx) = watch::channel(false);
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let conn = Connection {
            stream,
            router: router.clone(),
            header_timeout,
            _slot: slot,
            stop: stop_rx.clone(),
            _open: open_rx.clone(),
        };
        tokio::spawn(conn.run());
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
}

/// One accepted connection and what it holds until it closes.
struct Connection {
    stream: TcpStream,
    router: Router,
    header_timeout: Duration,
    _slot: OwnedSemaphorePermit,
    stop: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
}

impl Connection {
    async fn run(self) {
        metrics::connections(1);
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        let service = TowerToHyperService::new(self.router);
        let mut conn = pin!(builder.serve_connection(TokioIo::new(self.stream), service));
        let mut stop = self.stop;
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let served = tokio::select! {
            served = conn.as_mut() => served,
            () = stopped => {
                // Finish the request in flight, then close; an idle connection closes now.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = served {
            if e.is_timeout() {
                metrics::rejected("header_timeout");
            }
            tracing::debug!(target: "embed_server", "connection ended: {e}");
        }
        metrics::connections(-1);
    }
}

/// After a failed accept: a client's own failure is nothing to wait for; anything else
/// (most often EMFILE, the open-file limit) is logged and retried shortly, when a
/// connection may have closed.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(target: "embed_server", "accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
