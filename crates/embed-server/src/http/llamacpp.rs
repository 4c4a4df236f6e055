//! llama.cpp's `POST /embedding` (`content`: text, texts or token ids; no prompt).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;

use super::{Body, answer, body, family::Family};
use crate::app::{App, EmbedCall, Inputs, RequestStats};
use crate::error::{Error, ErrorKind};
use crate::schema::llamacpp::{EmbeddingRequest, EmbeddingResult};
use crate::schema::{TextsOrIds, texts_or_ids};

pub(crate) async fn embedding(State(app): State<Arc<App>>, raw: Body) -> Response {
    let arrived = Instant::now();
    answer(Family::LlamaCpp, embedding_inner(&app, raw, arrived).await)
}

async fn embedding_inner(
    app: &App,
    raw: Body,
    arrived: Instant,
) -> Result<(Vec<EmbeddingResult>, RequestStats), Error> {
    let req: EmbeddingRequest = body::json(raw)?;
    let inputs = match texts_or_ids(&req.content, "content")? {
        TextsOrIds::Texts(t) => Inputs::Texts(t),
        TextsOrIds::Ids(ids) => Inputs::Tokens(ids),
    };
    let mut call = EmbedCall::new(inputs);
    call.normalize = match req.embd_normalize {
        None | Some(2) => true,
        Some(-1) => false,
        Some(n) => {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("embd_normalize {n} is not supported: use 2 (L2) or -1 (none)"),
            ));
        }
    };
    let out = app.embed(call, arrived).await?;
    let results = out
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| EmbeddingResult {
            index,
            embedding: vec![v],
        })
        .collect();
    Ok((results, out.stats))
}
