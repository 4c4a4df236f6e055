//! Bad input of every kind is a 4xx in the route family's own error shape, never a 500:
//! malformed JSON, wrong types, empty lists, unknown prompts, bad dimensions and
//! formats, oversize bodies, too many inputs, too many tokens, token ids outside the
//! vocabulary. Also the API key (401 in each shape, constant-time compared), 404s and
//! CORS.

mod common;

use common::{Reply, TestServer, post_raw};
use embed_server::ServerConfig;
use serde_json::{Value, json};

/// The route families, each with its embedding path and input field.
#[derive(Clone, Copy, Debug)]
enum Family {
    OpenAi,
    Tei,
    Ollama,
    LlamaCpp,
}

impl Family {
    const ALL: [Family; 4] = [
        Family::OpenAi,
        Family::Tei,
        Family::Ollama,
        Family::LlamaCpp,
    ];

    fn path(self) -> &'static str {
        match self {
            Family::OpenAi => "/v1/embeddings",
            Family::Tei => "/embed",
            Family::Ollama => "/api/embed",
            Family::LlamaCpp => "/embedding",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Family::OpenAi | Family::Ollama => "input",
            Family::Tei => "inputs",
            Family::LlamaCpp => "content",
        }
    }

    fn body(self, input: Value, extra: Value) -> String {
        let mut m = serde_json::Map::new();
        m.insert(self.field().into(), input);
        m.extend(extra.as_object().cloned().unwrap_or_default());
        Value::Object(m).to_string()
    }

    /// Checks the error shape and returns the message.
    fn message(self, r: &Reply) -> String {
        let j = r.json();
        match self {
            Family::OpenAi => {
                assert!(j["error"]["type"].is_string(), "{}", r.body);
                j["error"]["message"]
                    .as_str()
                    .expect("an OpenAI error message")
                    .to_string()
            }
            Family::LlamaCpp => {
                assert_eq!(j["error"]["code"], r.status, "{}", r.body);
                j["error"]["message"]
                    .as_str()
                    .expect("a llama.cpp error message")
                    .to_string()
            }
            Family::Tei => {
                assert!(j["error_type"].is_string(), "{}", r.body);
                j["error"]
                    .as_str()
                    .expect("a TEI error message")
                    .to_string()
            }
            Family::Ollama => j["error"]
                .as_str()
                .expect("an Ollama error message")
                .to_string(),
        }
    }
}

fn small_limits() -> ServerConfig {
    ServerConfig::default()
        .with_max_inputs(4)
        .with_max_input_tokens(16)
        .with_max_body_bytes(4096)
        .with_max_request_tokens(40)
}

#[test]
fn bad_input_is_a_4xx_in_each_familys_shape() {
    let Some(model) = common::embedder("bad_input_is_a_4xx_in_each_familys_shape") else {
        return;
    };
    let server = TestServer::start(small_limits(), model);
    let long = "word ".repeat(40);
    for f in Family::ALL {
        let url = format!("{}{}", server.url, f.path());
        // (case, body, the status wanted, a word the message must contain)
        let validation = if matches!(f, Family::Tei) { 422 } else { 400 };
        let mut cases: Vec<(&str, String, u16, &str)> = vec![
            ("malformed JSON", "{\"input\": ".into(), validation, "JSON"),
            ("empty body", String::new(), validation, "empty"),
            ("not an object", "[1, 2]".into(), validation, "object"),
            (
                "wrong input type",
                f.body(json!(5), json!({})),
                validation,
                "string",
            ),
            (
                "mixed list",
                f.body(json!(["a", 5]), json!({})),
                validation,
                "string",
            ),
            ("missing input", "{}".into(), validation, "missing"),
            ("empty list", f.body(json!([]), json!({})), 400, "empty"),
            (
                "too many inputs",
                f.body(json!(["a", "b", "c", "d", "e"]), json!({})),
                validation,
                "5 inputs",
            ),
            (
                "oversize body",
                f.body(json!("x".repeat(5000)), json!({})),
                413,
                "larger",
            ),
            (
                "too many tokens",
                f.body(json!([long.clone(), long.clone(), long.clone()]), json!({})),
                413,
                "tokens",
            ),
        ];
        if !matches!(f, Family::LlamaCpp) {
            cases.push((
                "too long, truncation off",
                f.body(json!(long.clone()), json!({"truncate": false})),
                validation,
                "truncation",
            ));
            cases.push((
                "bad dimension",
                f.body(json!("a"), json!({"dimensions": 100})),
                validation,
                "100",
            ));
            cases.push((
                "dimension of a wrong type",
                f.body(json!("a"), json!({"dimensions": "big"})),
                validation,
                "wrong field",
            ));
        }
        match f {
            Family::OpenAi => {
                cases.push((
                    "token ids",
                    f.body(json!([[1, 2, 3]]), json!({})),
                    400,
                    "check_embedding_ctx_length=False",
                ));
                cases.push((
                    "one token-id list",
                    f.body(json!([1, 2, 3]), json!({})),
                    400,
                    "tiktoken",
                ));
                cases.push((
                    "bad encoding_format",
                    f.body(json!("a"), json!({"encoding_format": "hex"})),
                    400,
                    "encoding_format",
                ));
                cases.push((
                    "unknown prompt",
                    f.body(json!("a"), json!({"prompt_name": "nope"})),
                    400,
                    "unknown prompt",
                ));
                cases.push((
                    "truncate of a wrong type",
                    f.body(json!("a"), json!({"truncate": "yes"})),
                    400,
                    "wrong field",
                ));
            }
            Family::Tei => {
                cases.push((
                    "unknown prompt",
                    f.body(json!("a"), json!({"prompt_name": "nope"})),
                    422,
                    "unknown prompt",
                ));
                cases.push((
                    "id outside the vocabulary",
                    f.body(json!([[2, 999_999_999, 1]]), json!({})),
                    422,
                    "vocabulary",
                ));
                cases.push((
                    "bad truncation_direction",
                    f.body(json!("a"), json!({"truncation_direction": "up"})),
                    422,
                    "truncation_direction",
                ));
            }
            Family::Ollama => {
                cases.push((
                    "token ids",
                    f.body(json!([[1, 2]]), json!({})),
                    400,
                    "token ids",
                ));
            }
            Family::LlamaCpp => {
                cases.push((
                    "id outside the vocabulary",
                    f.body(json!([5, 999_999_999]), json!({})),
                    400,
                    "vocabulary",
                ));
                cases.push((
                    "unsupported embd_normalize",
                    f.body(json!("a"), json!({"embd_normalize": 1})),
                    400,
                    "embd_normalize",
                ));
            }
        }
        for (case, body, status, word) in cases {
            // No Content-Type: bodies are JSON whatever the header says.
            let r = post_raw(&url, &body, &[]);
            assert_eq!(r.status, status, "{f:?} {case}: {}", r.body);
            let message = f.message(&r);
            assert!(
                message.contains(word),
                "{f:?} {case}: {message:?} lacks {word:?}"
            );
        }
    }
    // The other TEI routes, and the legacy Ollama one.
    let tei = |path: &str, body: Value| {
        post_raw(&format!("{}{path}", server.url), &body.to_string(), &[])
    };
    let r = tei("/decode", json!({"ids": [2, 999_999_999]}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(Family::Tei.message(&r).contains("999999999"));
    assert_eq!(tei("/decode", json!({"ids": "abc"})).status, 422);
    assert_eq!(tei("/tokenize", json!({"inputs": []})).status, 400);
    assert_eq!(
        tei("/tokenize", json!({"inputs": "a", "prompt_name": "nope"})).status,
        422
    );
    let r = tei("/api/embeddings", json!({"prompt": 5}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(Family::Ollama.message(&r).contains("prompt"));
    // Truncation on (the default) cuts and answers.
    let r = post_raw(
        &format!("{}/v1/embeddings", server.url),
        &json!({"input": long}).to_string(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["usage"]["prompt_tokens"], 16);
}

#[test]
fn an_api_key_guards_every_route_but_operations() {
    let Some(model) = common::embedder("an_api_key_guards_every_route_but_operations") else {
        return;
    };
    let config = ServerConfig::default().with_api_key(Some("s3cret".into()));
    let server = TestServer::start(config, model);
    for f in Family::ALL {
        let url = format!("{}{}", server.url, f.path());
        let body = f.body(json!("hi"), json!({}));
        for headers in [
            vec![],
            vec![("authorization", "Bearer wrong")],
            vec![("authorization", "s3cret")],
        ] {
            let r = post_raw(&url, &body, &headers);
            assert_eq!(r.status, 401, "{f:?} {headers:?}: {}", r.body);
            assert!(f.message(&r).contains("API key"));
        }
        let r = post_raw(&url, &body, &[("authorization", "Bearer s3cret")]);
        assert_eq!(r.status, 200, "{f:?}: {}", r.body);
    }
    for path in [
        "/livez",
        "/readyz",
        "/health",
        "/metrics",
        "/",
        "/api/version",
        "/openapi.json",
    ] {
        assert_eq!(
            common::get(&format!("{}{path}", server.url)).0,
            200,
            "{path}"
        );
    }
    for path in ["/v1/models", "/api/tags", "/info"] {
        assert_eq!(
            common::get(&format!("{}{path}", server.url)).0,
            401,
            "{path}"
        );
    }
}

#[test]
fn unknown_routes_are_404_and_cors_is_off_unless_asked() {
    let Some(model) = common::embedder("unknown_routes_are_404_and_cors_is_off_unless_asked")
    else {
        return;
    };
    let plain = TestServer::start(ServerConfig::default(), model.clone());
    let r = post_raw(&format!("{}/v1/nothing", plain.url), "{}", &[]);
    assert_eq!(r.status, 404);
    assert!(
        r.header("x-request-id").is_some(),
        "every answer carries a request id"
    );
    assert!(Family::OpenAi.message(&r).contains("/v1/nothing"));
    let origin = [("origin", "http://example.test")];
    let r = post_raw(
        &format!("{}/v1/embeddings", plain.url),
        r#"{"input": "hi"}"#,
        &origin,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = post_raw(
        &format!("{}/livez", plain.url),
        "",
        &[("x-request-id", "abc-123")],
    );
    assert_eq!(
        r.header("x-request-id"),
        Some("abc-123"),
        "a client's request id is kept"
    );
    assert_eq!(r.status, 405);
    let (status, body) = common::get(&format!("{}/api/embed", plain.url));
    assert_eq!(status, 405);
    assert!(body.contains("does not answer GET"), "{body}");
    let cors = TestServer::start(ServerConfig::default().with_cors(true), model);
    let r = post_raw(
        &format!("{}/v1/embeddings", cors.url),
        r#"{"input": "hi"}"#,
        &origin,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}
