//! Prometheus metrics: their names, and the one recorder `/metrics` renders.
//!
//! The `metrics` facade has one global recorder per process. The first server to start
//! installs a Prometheus recorder there and every later server in the process shares it;
//! if the process already had another recorder, `/metrics` says so with a 503.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests answered, by `route` and `status`.
pub const REQUESTS: &str = "embed_server_requests_total";
/// Requests refused before or in the queue, by `reason`.
pub const REJECTIONS: &str = "embed_server_rejections_total";
/// Tokens of admitted inputs (BOS and EOS included).
pub const INPUT_TOKENS: &str = "embed_server_input_tokens_total";
/// Inputs admitted.
pub const INPUTS: &str = "embed_server_inputs_total";
/// Inputs cut to the per-input limit.
pub const TRUNCATED_INPUTS: &str = "embed_server_truncated_inputs_total";
/// Seconds from admission to a request's first pass.
pub const QUEUE_SECONDS: &str = "embed_server_queue_seconds";
/// Seconds from a request's first pass to its last.
pub const INFERENCE_SECONDS: &str = "embed_server_inference_seconds";
/// Seconds from a request's arrival to its answer.
pub const REQUEST_SECONDS: &str = "embed_server_request_seconds";
/// Seconds of one forward pass.
pub const PASS_SECONDS: &str = "embed_server_pass_seconds";
/// Tokens in one forward pass.
pub const BATCH_TOKENS: &str = "embed_server_batch_tokens";
/// A pass's tokens over the budget (1: full).
pub const BATCH_FILL: &str = "embed_server_batch_fill";
/// Tokens waiting in the queue.
pub const QUEUE_TOKENS: &str = "embed_server_queue_tokens";
/// Requests in the queue (waiting or being computed).
pub const QUEUE_REQUESTS: &str = "embed_server_queue_requests";
/// Connections open now.
pub const CONNECTIONS: &str = "embed_server_connections";
/// 1 when the server answers embedding requests, 0 while loading or draining.
pub const READY: &str = "embed_server_ready";
/// Always 1, labelled with the crate `version`.
pub const BUILD_INFO: &str = "embed_server_build_info";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use; `None` when
/// another recorder was installed first.
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ];
            let tokens = [
                16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
            ];
            let fill = [0.1, 0.25, 0.5, 0.75, 0.9, 1.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_TOKENS.into()), &tokens))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_FILL.into()), &fill))
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        })
        .as_ref()
}

pub(crate) fn rejected(reason: &'static str) {
    counter!(REJECTIONS, "reason" => reason).increment(1);
}

pub(crate) fn connections(change: i8) {
    gauge!(CONNECTIONS).increment(f64::from(change));
}

pub(crate) fn queue_depth(tokens: usize, requests: usize) {
    gauge!(QUEUE_TOKENS).set(tokens as f64);
    gauge!(QUEUE_REQUESTS).set(requests as f64);
}

pub(crate) fn ready(on: bool) {
    gauge!(READY).set(if on { 1.0 } else { 0.0 });
}

pub(crate) fn pass(lane: &'static str, tokens: usize, budget: usize, took: Duration) {
    histogram!(BATCH_TOKENS, "lane" => lane).record(tokens as f64);
    histogram!(BATCH_FILL, "lane" => lane).record(tokens as f64 / budget.max(1) as f64);
    histogram!(PASS_SECONDS, "lane" => lane).record(took.as_secs_f64());
}

pub(crate) fn admitted(inputs: usize, tokens: usize, truncated: usize) {
    counter!(INPUTS).increment(inputs as u64);
    counter!(INPUT_TOKENS).increment(tokens as u64);
    counter!(TRUNCATED_INPUTS).increment(truncated as u64);
}

pub(crate) fn computed(queue: Duration, inference: Duration) {
    histogram!(QUEUE_SECONDS).record(queue.as_secs_f64());
    histogram!(INFERENCE_SECONDS).record(inference.as_secs_f64());
}

pub(crate) fn answered(route: &str, status: u16, took: Duration) {
    counter!(REQUESTS, "route" => route.to_string(), "status" => status.to_string()).increment(1);
    histogram!(REQUEST_SECONDS, "route" => route.to_string()).record(took.as_secs_f64());
}
