//! `POST /v1/embeddings`, `POST /embeddings`, `GET /v1/models`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Body, answer, body, family::Family};
use crate::app::{App, EmbedCall, Inputs, prompt_from_model};
use crate::error::Error;
use crate::schema::openai::{
    EmbeddingsRequest, EmbeddingsResponse, EncodingFormat, TOKEN_IDS_REFUSED,
};
use crate::schema::{dimension, texts};

pub(crate) async fn embeddings(State(app): State<Arc<App>>, raw: Body) -> Response {
    let arrived = Instant::now();
    answer(Family::OpenAi, embed(&app, raw, arrived).await)
}

async fn embed(
    app: &App,
    raw: Body,
    arrived: Instant,
) -> Result<(EmbeddingsResponse, crate::app::RequestStats), Error> {
    let req: EmbeddingsRequest = body::json(raw)?;
    let format = EncodingFormat::parse(req.encoding_format.as_deref())?;
    let inputs = texts(&req.input, "input", TOKEN_IDS_REFUSED)?;
    let mut call = EmbedCall::new(Inputs::Texts(inputs));
    call.prompt = req
        .prompt_name
        .or_else(|| prompt_from_model(req.model.as_deref()));
    call.truncate = req.truncate.unwrap_or(true);
    call.normalize = req.normalize.unwrap_or(true);
    call.dim = dimension(req.dimensions);
    let out = app.embed(call, arrived).await?;
    let model = req.model.unwrap_or_else(|| app.config.model_name.clone());
    let tokens = out.stats.tokens;
    Ok((
        EmbeddingsResponse::new(out.vectors, format, model, tokens),
        out.stats,
    ))
}

/// The served model, and one name per common prompt for clients that cannot send
/// `prompt_name`.
pub(crate) async fn models(State(app): State<Arc<App>>) -> Response {
    let name = &app.config.model_name;
    let data: Vec<_> = [
        name.clone(),
        format!("{name}:query"),
        format!("{name}:document"),
    ]
    .into_iter()
    .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "embeddinggemma-rs"}))
    .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}
