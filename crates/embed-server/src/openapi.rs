//! The OpenAPI 3.1 description served at `/openapi.json`: every route, its family and
//! its request fields.

use serde_json::{Value, json};

fn post(summary: &str, tag: &str, required: &[&str], fields: Value) -> Value {
    json!({"post": {
        "summary": summary,
        "tags": [tag],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": required, "properties": fields,
        }}}},
        "responses": {
            "200": {"description": "the answer"},
            "4XX": {"description": "a bad request, in this family's error shape"},
            "429": {"description": "the queue is full; see Retry-After"},
            "503": {"description": "loading, draining, or past the queue deadline"},
        },
    }})
}

fn get(summary: &str, tag: &str) -> Value {
    json!({"get": {"summary": summary, "tags": [tag], "responses": {"200": {"description": "the answer"}}}})
}

/// The document, naming the served model.
pub(crate) fn document(model: &str) -> Value {
    let text_or_list = json!({"oneOf": [
        {"type": "string"}, {"type": "array", "items": {"type": "string"}},
    ]});
    let text_or_ids = json!({"oneOf": [
        {"type": "string"}, {"type": "array", "items": {"type": "string"}},
        {"type": "array", "items": {"type": "integer"}},
        {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    ]});
    let dims = json!({"type": "integer", "enum": [768, 512, 256, 128]});
    let prompt = json!({"type": "string", "description": "a sentence-transformers prompt: query, document, STS, ..."});
    let openai = post(
        "OpenAI embeddings",
        "OpenAI",
        &["input"],
        json!({
            "input": text_or_list, "model": {"type": "string", "description": format!("any; {model}:<prompt> selects a prompt")},
            "encoding_format": {"type": "string", "enum": ["float", "base64"]}, "dimensions": dims,
            "prompt_name": prompt, "truncate": {"type": "boolean"}, "normalize": {"type": "boolean"},
        }),
    );
    let tei = post(
        "TEI embed",
        "TEI",
        &["inputs"],
        json!({
            "inputs": text_or_ids, "truncate": {"type": "boolean"},
            "truncation_direction": {"type": "string", "enum": ["right", "left"]},
            "prompt_name": prompt, "normalize": {"type": "boolean"}, "dimensions": dims,
        }),
    );
    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, item: Value| {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        if let (Some(e), Some(i)) = (entry.as_object_mut(), item.as_object()) {
            e.extend(i.clone());
        }
    };
    add("/v1/embeddings", openai.clone());
    add("/embeddings", openai);
    add("/v1/models", get("the served model", "OpenAI"));
    add("/embed", tei.clone());
    add("/", tei);
    add("/", get("Ollama's liveness answer", "Ollama"));
    add("/info", get("model and limits", "TEI"));
    add(
        "/tokenize",
        post(
            "token ids and pieces",
            "TEI",
            &["inputs"],
            json!({
                "inputs": text_or_list, "add_special_tokens": {"type": "boolean"}, "prompt_name": prompt,
            }),
        ),
    );
    add(
        "/decode",
        post(
            "text of token ids",
            "TEI",
            &["ids"],
            json!({
                "ids": {"type": "array"}, "skip_special_tokens": {"type": "boolean"},
            }),
        ),
    );
    add(
        "/api/embed",
        post(
            "Ollama embed",
            "Ollama",
            &["input"],
            json!({
                "model": {"type": "string"}, "input": text_or_list, "truncate": {"type": "boolean"}, "dimensions": dims,
            }),
        ),
    );
    add(
        "/api/embeddings",
        post(
            "Ollama legacy embeddings",
            "Ollama",
            &["prompt"],
            json!({
                "model": {"type": "string"}, "prompt": {"type": "string"},
            }),
        ),
    );
    add("/api/tags", get("the served model", "Ollama"));
    add("/api/version", get("the Ollama API level served", "Ollama"));
    add(
        "/embedding",
        post(
            "llama.cpp embedding",
            "llama.cpp",
            &["content"],
            json!({
                "content": text_or_ids, "embd_normalize": {"type": "integer", "enum": [2, -1]},
            }),
        ),
    );
    for (path, what) in [
        ("/health", "ready or not"),
        ("/livez", "the process runs"),
        ("/readyz", "ready or not (503 while loading or draining)"),
        ("/metrics", "Prometheus metrics"),
        ("/openapi.json", "this document"),
    ] {
        add(path, get(what, "Operations"));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "embed-server", "version": env!("CARGO_PKG_VERSION"),
                 "description": format!("Embeddings from {model} for OpenAI, TEI, Ollama and llama.cpp clients")},
        "paths": paths,
    })
}
