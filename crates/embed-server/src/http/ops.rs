//! Operations: `/health`, `/livez`, `/readyz`, `/metrics`, `/openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{App, Phase};
use crate::metrics;

/// 200 while the process runs, whatever the model's state.
pub(crate) async fn livez() -> Response {
    axum::Json(json!({"status": "alive"})).into_response()
}

/// 200 when embedding requests are answered; 503 while the model loads, after it
/// failed, and while the server drains for shutdown.
pub(crate) async fn readyz(State(app): State<Arc<App>>) -> Response {
    let phase = app.phase();
    let (status, word) = match phase {
        Phase::Ready => (StatusCode::OK, "ready"),
        Phase::Loading => (StatusCode::SERVICE_UNAVAILABLE, "loading"),
        Phase::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
        Phase::Failed => (StatusCode::SERVICE_UNAVAILABLE, "failed"),
    };
    (status, axum::Json(json!({"status": word}))).into_response()
}

/// TEI's and llama.cpp's health route: the same answer as `/readyz`.
pub(crate) async fn health(state: State<Arc<App>>) -> Response {
    readyz(state).await
}

/// Prometheus text format.
pub(crate) async fn prometheus() -> Response {
    match metrics::handle() {
        Some(handle) => {
            handle.run_upkeep();
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
                .into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder was installed in this process before the server's\n",
        )
            .into_response(),
    }
}

pub(crate) async fn openapi(State(app): State<Arc<App>>) -> Response {
    axum::Json(crate::openapi::document(&app.config.model_name)).into_response()
}
