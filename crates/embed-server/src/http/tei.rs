//! TEI's routes: `POST /embed` and `POST /`, `GET /info`, `POST /tokenize`, `POST /decode`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gemma_encoder::Embedder;
use spm_tokenizer::PieceType;

use super::{Body, answer, body, family::Family};
use crate::app::{App, EmbedCall, Inputs, RequestStats, prompt_options};
use crate::error::{Error, ErrorKind};
use crate::schema::tei::{
    DecodeRequest, EmbedRequest, Info, SimpleToken, TokenizeRequest, truncate_left,
};
use crate::schema::{TextsOrIds, dimension, texts, texts_or_ids};

pub(crate) async fn embed(State(app): State<Arc<App>>, raw: Body) -> Response {
    let arrived = Instant::now();
    answer(Family::Tei, embed_inner(&app, raw, arrived).await)
}

async fn embed_inner(
    app: &App,
    raw: Body,
    arrived: Instant,
) -> Result<(Vec<Vec<f32>>, RequestStats), Error> {
    let req: EmbedRequest = body::json(raw)?;
    let inputs = match texts_or_ids(&req.inputs, "inputs")? {
        TextsOrIds::Texts(t) => Inputs::Texts(t),
        TextsOrIds::Ids(ids) => Inputs::Tokens(ids),
    };
    let mut call = EmbedCall::new(inputs);
    call.prompt = req.prompt_name;
    call.truncate = req.truncate.unwrap_or(true);
    call.truncate_left = truncate_left(req.truncation_direction.as_deref())?;
    call.normalize = req.normalize.unwrap_or(true);
    call.dim = dimension(req.dimensions);
    let out = app.embed(call, arrived).await?;
    Ok((out.vectors, out.stats))
}

pub(crate) async fn info(State(app): State<Arc<App>>) -> Response {
    let Some(model) = app.loaded() else {
        return Family::Tei.error(&Error::new(ErrorKind::Unavailable, "the model is loading"));
    };
    let c = &app.config;
    axum::Json(Info {
        model_id: c.model_name.clone(),
        model_sha: None,
        model_dtype: model_dtype(&model),
        model_type: serde_json::json!({"embedding": {"pooling": "mean"}}),
        max_concurrent_requests: c.limits.max_inputs,
        max_input_length: app.max_input_tokens(&model),
        max_batch_tokens: c.batch_tokens,
        max_batch_requests: None,
        max_client_batch_size: c.limits.max_inputs,
        auto_truncate: true,
        tokenization_workers: 1,
        version: env!("CARGO_PKG_VERSION"),
        sha: None,
        docker_label: None,
        prompts: gemma_encoder::Prompt::KNOWN
            .iter()
            .filter_map(gemma_encoder::Prompt::name)
            .collect(),
    })
    .into_response()
}

/// The GGUF's weight type as a name (`general.file_type`).
pub(crate) fn model_dtype(model: &Embedder) -> String {
    match model.file_type() {
        Some(0) => "float32".into(),
        Some(1) => "float16".into(),
        Some(7) => "q8_0".into(),
        Some(32) => "bfloat16".into(),
        Some(n) => format!("gguf file type {n}"),
        None => "unknown".into(),
    }
}

pub(crate) async fn tokenize(State(app): State<Arc<App>>, raw: Body) -> Response {
    answer(
        Family::Tei,
        tokenize_inner(&app, raw)
            .await
            .map(|t| (t, RequestStats::default())),
    )
}

async fn tokenize_inner(app: &App, raw: Body) -> Result<Vec<Vec<SimpleToken>>, Error> {
    let req: TokenizeRequest = body::json(raw)?;
    let inputs = texts(&req.inputs, "inputs", "`inputs` must be texts to tokenize")?;
    if inputs.is_empty() {
        return Err(Error::new(
            ErrorKind::EmptyInput,
            "`inputs` cannot be empty",
        ));
    }
    if inputs.len() > app.config.limits.max_inputs {
        return Err(Error::new(ErrorKind::TooManyInputs, "too many inputs"));
    }
    let model = app.model().await?;
    let opts = prompt_options(req.prompt_name.as_deref())?;
    let tok = model.tokenizer();
    let enc = spm_tokenizer::EncodeOptions::default().with_add_special(req.add_special_tokens);
    inputs
        .iter()
        .map(|text| {
            let text = model.prompted(text, &opts);
            Ok(tok
                .encode(&text, enc)
                .into_iter()
                .map(|id| {
                    let special = tok.piece_type(id) == Some(PieceType::Control);
                    let text = if special {
                        tok.piece(id).unwrap_or_default().to_string()
                    } else {
                        tok.decode(&[id]).unwrap_or_default()
                    };
                    SimpleToken {
                        id,
                        text,
                        special,
                        start: None,
                        stop: None,
                    }
                })
                .collect())
        })
        .collect()
}

pub(crate) async fn decode(State(app): State<Arc<App>>, raw: Body) -> Response {
    answer(
        Family::Tei,
        decode_inner(&app, raw)
            .await
            .map(|t| (t, RequestStats::default())),
    )
}

async fn decode_inner(app: &App, raw: Body) -> Result<Vec<String>, Error> {
    let req: DecodeRequest = body::json(raw)?;
    let TextsOrIds::Ids(seqs) = texts_or_ids(&req.ids, "ids")? else {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "`ids` must be a list of token ids or a list of such lists",
        ));
    };
    let model = app.model().await?;
    let tok = model.tokenizer();
    seqs.iter()
        .map(|ids| decode_ids(tok, ids, req.skip_special_tokens))
        .collect()
}

/// The text of `ids`; with `skip_special` false, control tokens (BOS, EOS...), which the
/// tokenizer's decode leaves out, are put back as their piece text.
fn decode_ids(
    tok: &spm_tokenizer::Tokenizer,
    ids: &[u32],
    skip_special: bool,
) -> Result<String, Error> {
    let decode = |run: &[u32]| {
        tok.decode(run)
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, "cannot decode").with_source(e))
    };
    if skip_special {
        return decode(ids);
    }
    let mut out = String::new();
    let mut start = 0;
    for (i, &id) in ids.iter().enumerate() {
        if tok.piece_type(id) == Some(PieceType::Control) {
            out += &decode(&ids[start..i])?;
            out += tok.piece(id).unwrap_or_default();
            start = i + 1;
        }
    }
    out += &decode(&ids[start..])?;
    Ok(out)
}
