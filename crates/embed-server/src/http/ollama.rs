//! Ollama's routes: `POST /api/embed`, legacy `POST /api/embeddings`, `GET /api/tags`,
//! `GET /api/version`, and `GET /` (Ollama's liveness answer).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Body, answer, body, family::Family, tei::model_dtype};
use crate::app::{App, EmbedCall, Inputs, RequestStats, prompt_from_model};
use crate::error::Error;
use crate::schema::ollama::{
    API_VERSION, EmbedRequest, EmbedResponse, EmbeddingsRequest, EmbeddingsResponse,
};
use crate::schema::{dimension, texts};

const IDS_REFUSED: &str = "`input` must be text: this route does not take token ids";

pub(crate) async fn embed(State(app): State<Arc<App>>, raw: Body) -> Response {
    let arrived = Instant::now();
    answer(Family::Ollama, embed_inner(&app, raw, arrived).await)
}

async fn embed_inner(
    app: &App,
    raw: Body,
    arrived: Instant,
) -> Result<(EmbedResponse, RequestStats), Error> {
    let req: EmbedRequest = body::json(raw)?;
    let inputs = texts(&req.input, "input", IDS_REFUSED)?;
    let mut call = EmbedCall::new(Inputs::Texts(inputs));
    call.prompt = prompt_from_model(req.model.as_deref());
    call.truncate = req.truncate.unwrap_or(true);
    call.dim = dimension(req.dimensions);
    let out = app.embed(call, arrived).await?;
    let s = out.stats;
    let response = EmbedResponse {
        model: req.model.unwrap_or_else(|| app.config.model_name.clone()),
        embeddings: out.vectors,
        total_duration: s.total.as_nanos() as u64,
        load_duration: s.load_wait.as_nanos() as u64,
        prompt_eval_count: s.tokens,
    };
    Ok((response, s))
}

/// The legacy route: one `prompt`, one `embedding`. An empty prompt gets an empty
/// embedding, as Ollama answers it.
pub(crate) async fn embeddings(State(app): State<Arc<App>>, raw: Body) -> Response {
    let arrived = Instant::now();
    answer(Family::Ollama, embeddings_inner(&app, raw, arrived).await)
}

async fn embeddings_inner(
    app: &App,
    raw: Body,
    arrived: Instant,
) -> Result<(EmbeddingsResponse, RequestStats), Error> {
    let req: EmbeddingsRequest = body::json(raw)?;
    let prompt = match &req.prompt {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        _ => {
            return Err(Error::new(
                crate::error::ErrorKind::InvalidRequest,
                "`prompt` must be a string",
            ));
        }
    };
    if prompt.is_empty() {
        return Ok((
            EmbeddingsResponse {
                embedding: Vec::new(),
            },
            RequestStats::default(),
        ));
    }
    let mut call = EmbedCall::new(Inputs::Texts(vec![prompt]));
    call.prompt = prompt_from_model(req.model.as_deref());
    let mut out = app.embed(call, arrived).await?;
    let embedding = out.vectors.pop().unwrap_or_default();
    Ok((EmbeddingsResponse { embedding }, out.stats))
}

pub(crate) async fn tags(State(app): State<Arc<App>>) -> Response {
    let name = format!("{}:latest", app.config.model_name);
    let file = &app.model_file;
    let quantization = app
        .loaded()
        .map(|m| model_dtype(&m).to_uppercase())
        .unwrap_or_default();
    let modified = file
        .modified
        .map(rfc3339)
        .unwrap_or_else(|| rfc3339(SystemTime::UNIX_EPOCH));
    let model = json!({
        "name": name,
        "model": name,
        "modified_at": modified,
        "size": file.size,
        "digest": "",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "gemma3",
            "families": ["gemma3"],
            "parameter_size": "300M",
            "quantization_level": quantization,
        },
    });
    axum::Json(json!({"models": [model]})).into_response()
}

pub(crate) async fn version() -> Response {
    axum::Json(json!({"version": API_VERSION})).into_response()
}

pub(crate) async fn root() -> &'static str {
    "Ollama is running"
}

/// `t` as RFC 3339 in UTC (`2025-01-02T03:04:05Z`).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_in_rfc3339() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
    }
}
