//! Request bodies of every route family, parsed as the handlers parse them: the body's
//! JSON into the family's request shape (`schema/`, with `serde_json::from_slice` as
//! `http/body.rs` calls it once the body has arrived) and the field readers, in the
//! order each handler calls them, up to where the handler would hand the inputs to the
//! model. The first byte picks the route. Any body must give inputs or an
//! `InvalidRequest` error whose message renders, never a panic. (How bodies arrive,
//! slowly, too large or cut off, is the abuse tests' part.)
#![no_main]
// The included modules hold response shapes and helpers this target does not use.
#![allow(dead_code)]

#[path = "../../src/error.rs"]
mod error;
#[path = "../../src/schema/mod.rs"]
mod schema;

use serde::de::DeserializeOwned;
use serde_json::Value;

use error::{Error, ErrorKind};
use schema::{TextsOrIds, dimension, llamacpp, ollama, openai, tei, texts, texts_or_ids};

/// What a handler would hand on: a count of inputs (texts or id sequences).
type Parsed = Result<usize, Error>;

/// The body as `http/body.rs` reads it once it has arrived: a JSON object.
fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes)
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, "bad JSON").with_source(e)),
        _ => Err(Error::new(ErrorKind::InvalidRequest, "not an object")),
    }
}

fn count(t: &TextsOrIds) -> usize {
    match t {
        TextsOrIds::Texts(t) => t.len(),
        TextsOrIds::Ids(i) => i.len(),
    }
}

/// `POST /v1/embeddings`.
fn openai(b: &[u8]) -> Parsed {
    let req: openai::EmbeddingsRequest = json(b)?;
    openai::EncodingFormat::parse(req.encoding_format.as_deref())?;
    let inputs = texts(&req.input, "input", openai::TOKEN_IDS_REFUSED)?;
    let _ = dimension(req.dimensions);
    Ok(inputs.len())
}

/// TEI `POST /embed`, `/tokenize`, `/decode`.
fn tei_embed(b: &[u8]) -> Parsed {
    let req: tei::EmbedRequest = json(b)?;
    let inputs = texts_or_ids(&req.inputs, "inputs")?;
    tei::truncate_left(req.truncation_direction.as_deref())?;
    let _ = dimension(req.dimensions);
    Ok(count(&inputs))
}

fn tei_tokenize(b: &[u8]) -> Parsed {
    let req: tei::TokenizeRequest = json(b)?;
    Ok(texts(&req.inputs, "inputs", "`inputs` must be texts to tokenize")?.len())
}

fn tei_decode(b: &[u8]) -> Parsed {
    let req: tei::DecodeRequest = json(b)?;
    match texts_or_ids(&req.ids, "ids")? {
        TextsOrIds::Ids(seqs) => Ok(seqs.len()),
        TextsOrIds::Texts(_) => Err(Error::new(ErrorKind::InvalidRequest, "texts")),
    }
}

/// Ollama `POST /api/embed` and the legacy `/api/embeddings`.
fn ollama_embed(b: &[u8]) -> Parsed {
    let req: ollama::EmbedRequest = json(b)?;
    let _ = dimension(req.dimensions);
    Ok(texts(&req.input, "input", "ids")?.len())
}

fn ollama_embeddings(b: &[u8]) -> Parsed {
    let req: ollama::EmbeddingsRequest = json(b)?;
    match &req.prompt {
        Value::String(s) => Ok(usize::from(!s.is_empty())),
        Value::Null => Ok(0),
        _ => Err(Error::new(
            ErrorKind::InvalidRequest,
            "`prompt` must be a string",
        )),
    }
}

/// llama.cpp `POST /embedding`.
fn llamacpp(b: &[u8]) -> Parsed {
    let req: llamacpp::EmbeddingRequest = json(b)?;
    let inputs = texts_or_ids(&req.content, "content")?;
    Ok(count(&inputs))
}

const ROUTES: [fn(&[u8]) -> Parsed; 7] = [
    openai,
    tei_embed,
    tei_tokenize,
    tei_decode,
    ollama_embed,
    ollama_embeddings,
    llamacpp,
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let route = ROUTES[usize::from(pick) % ROUTES.len()];
    match route(body) {
        // At most one input per byte of the body.
        Ok(n) => assert!(n <= body.len(), "{n} inputs from {} bytes", body.len()),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
});
