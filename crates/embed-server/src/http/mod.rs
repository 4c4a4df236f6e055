//! The router: every family's routes, and the layers around them (API key, request id,
//! body limit and deadline, CORS, one log line and the metrics of each request), and
//! the connections they are served on (`conn`).

mod body;
mod conn;
pub(crate) mod family;
mod llamacpp;
mod ollama;
mod openai;
mod ops;
mod tei;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use subtle::ConstantTimeEq;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::app::{App, RequestStats};
use crate::error::{Error, ErrorKind};
use crate::metrics;
pub(crate) use conn::serve;
use family::{ErrorNote, Family};

/// A body as axum read it, within the size limit or not.
pub(crate) type Body = Result<Bytes, BytesRejection>;

/// The application: all routes with their layers, bound to `app`.
pub(crate) fn router(app: Arc<App>) -> Router {
    let limit = app.config.limits.max_body_bytes;
    let body_rules = body::BodyRules {
        timeout: app.config.limits.body_read_timeout,
        max_bytes: limit,
    };
    let mut router = Router::new()
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/embed", post(tei::embed))
        .route("/", post(tei::embed).get(ollama::root))
        .route("/info", get(tei::info))
        .route("/tokenize", post(tei::tokenize))
        .route("/decode", post(tei::decode))
        .route("/api/embed", post(ollama::embed))
        .route("/api/embeddings", post(ollama::embeddings))
        .route("/api/tags", get(ollama::tags))
        .route("/api/version", get(ollama::version))
        .route("/embedding", post(llamacpp::embedding))
        .route("/health", get(ops::health))
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::prometheus))
        .route("/openapi.json", get(ops::openapi))
        .route_layer(middleware::from_fn_with_state(app.clone(), authorize))
        .route_layer(middleware::from_fn(log_request))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(body_rules, body::guard))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), Counter));
    if app.config.cors {
        router = router.layer(CorsLayer::permissive());
    }
    router.with_state(app)
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids for requests that bring none: a process-wide counter.
#[derive(Clone, Copy, Default)]
struct Counter;

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&n.to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// A handler's result as a response: the JSON body with the timing headers, or the
/// family's error.
pub(crate) fn answer<T: Serialize>(
    family: Family,
    result: Result<(T, RequestStats), Error>,
) -> Response {
    match result {
        Ok((body, stats)) => {
            let mut response = axum::Json(body).into_response();
            let h = response.headers_mut();
            let ms = |d: Duration| HeaderValue::from(d.as_millis() as u64);
            // TEI's names, on every family: milliseconds, and the tokens computed.
            h.insert("x-total-time", ms(stats.total));
            h.insert("x-queue-time", ms(stats.queue));
            h.insert("x-inference-time", ms(stats.inference));
            h.insert("x-compute-tokens", HeaderValue::from(stats.tokens));
            response.extensions_mut().insert(stats);
            response
        }
        Err(e) => family.error(&e),
    }
}

/// Routes anyone may call even when an API key is set.
fn is_public(method: &Method, path: &str) -> bool {
    method == Method::GET
        && matches!(
            path,
            "/" | "/health" | "/livez" | "/readyz" | "/metrics" | "/openapi.json" | "/api/version"
        )
}

/// Checks `Authorization: Bearer <key>` in constant time (the key's length aside).
async fn authorize(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(key) = app.config.api_key.as_deref() else {
        return next.run(req).await;
    };
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    if bool::from(given.ct_eq(key.as_bytes())) {
        return next.run(req).await;
    }
    metrics::rejected("unauthorized");
    let family = Family::of_path(req.uri().path());
    family.error(&Error::new(
        ErrorKind::Unauthorized,
        "a valid API key is needed: send `Authorization: Bearer <key>`",
    ))
}

/// One log line and the metrics of each request.
async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let response = next.run(req).await;
    let took = start.elapsed();
    let status = response.status().as_u16();
    metrics::answered(&route, status, took);
    let stats = response
        .extensions()
        .get::<RequestStats>()
        .copied()
        .unwrap_or_default();
    let error = response
        .extensions()
        .get::<ErrorNote>()
        .map(|n| n.0.as_str())
        .unwrap_or("");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(target: "embed_server::request", request_id = %id, %method, %route, status,
            inputs = stats.inputs, tokens = stats.tokens, queue_ms = ms(stats.queue),
            compute_ms = ms(stats.inference), total_ms = ms(took), error, "request failed");
    } else {
        tracing::info!(target: "embed_server::request", request_id = %id, %method, %route, status,
            inputs = stats.inputs, tokens = stats.tokens, queue_ms = ms(stats.queue),
            compute_ms = ms(stats.inference), total_ms = ms(took), error, "request");
    }
    response
}

async fn wrong_method(req: Request) -> Response {
    let path = req.uri().path().to_string();
    let e = Error::new(
        ErrorKind::MethodNotAllowed,
        format!("{path} does not answer {}", req.method()),
    );
    let response = Family::of_path(&path).error(&e);
    metrics::answered("unmatched", response.status().as_u16(), Duration::ZERO);
    response
}

async fn not_found(req: Request) -> Response {
    let path = req.uri().path().to_string();
    let e = Error::new(
        ErrorKind::NotFound,
        format!("no route {} {path}", req.method()),
    );
    let response = Family::of_path(&path).error(&e);
    metrics::answered("unmatched", response.status().as_u16(), Duration::ZERO);
    response
}
