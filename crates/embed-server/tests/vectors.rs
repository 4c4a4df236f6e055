//! Every embedding route, float and base64, at every Matryoshka dimension, answers the
//! library's `Embedder::embed` vectors bit for bit, with exact token counts.

mod common;

use base64::Engine as _;
use common::{TestServer, bits, floats, library_vector, post, post_raw};
use embed_server::ServerConfig;
use gemma_encoder::MATRYOSHKA_DIMS;
use serde_json::{Value, json};

const TEXTS: [&str; 3] = [
    "Which planet is known as the Red Planet?",
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Der schnelle braune Fuchs springt über den faulen Hund. 🦊",
];

fn base64_floats(v: &Value) -> Vec<f32> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("a base64 string"))
        .expect("valid base64");
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

/// The library's vectors of [`TEXTS`] (as bits), embedded together.
fn library_vectors(
    model: &gemma_encoder::Embedder,
    prompt: Option<&str>,
    dim: usize,
) -> Vec<Vec<u32>> {
    let opts = common::options(prompt).dim(dim);
    model
        .embed(&TEXTS, &opts)
        .expect("embeds")
        .iter()
        .map(|e| bits(&e.vector))
        .collect()
}

fn token_count(model: &gemma_encoder::Embedder, prompt: Option<&str>) -> usize {
    let opts = common::options(prompt);
    model
        .embed(&TEXTS, &opts)
        .expect("embeds")
        .iter()
        .map(|e| e.n_tokens)
        .sum()
}

#[test]
fn openai_route_equals_the_library_in_float_and_base64_at_every_dimension() {
    let Some(model) = common::embedder("openai_route_equals_the_library") else {
        return;
    };
    let server = TestServer::start(ServerConfig::default(), model.clone());
    // (request fields selecting the prompt, the prompt they select)
    let prompt_cases: [(Value, Option<&str>); 3] = [
        (json!({}), None),
        (json!({"model": "embeddinggemma:query"}), Some("query")),
        (
            json!({"model": "whatever", "prompt_name": "document"}),
            Some("document"),
        ),
    ];
    for (fields, prompt) in &prompt_cases {
        let expected_tokens = token_count(&model, *prompt);
        // Every dimension unprompted; the prompts at two (the cut is the same code).
        let dims: &[usize] = if prompt.is_none() {
            &MATRYOSHKA_DIMS
        } else {
            &[768, 128]
        };
        for &dim in dims {
            let want = library_vectors(&model, *prompt, dim);
            for format in ["float", "base64"] {
                // Both paths once; the rest on the main one (same handler).
                let paths: &[&str] = if dim == 768 && prompt.is_none() {
                    &["/v1/embeddings", "/embeddings"]
                } else {
                    &["/v1/embeddings"]
                };
                let mut body =
                    json!({"input": TEXTS, "encoding_format": format, "dimensions": dim});
                body.as_object_mut()
                    .unwrap()
                    .extend(fields.as_object().unwrap().clone());
                for path in paths {
                    let r = post(&format!("{}{path}", server.url), &body);
                    assert_eq!(r.status, 200, "{path} {body}: {}", r.body);
                    let j = r.json();
                    assert_eq!(j["object"], "list");
                    assert_eq!(j["usage"]["prompt_tokens"], expected_tokens);
                    assert_eq!(j["usage"]["total_tokens"], expected_tokens);
                    for (i, want) in want.iter().enumerate() {
                        let item = &j["data"][i];
                        assert_eq!(item["index"], i);
                        assert_eq!(item["object"], "embedding");
                        let got = match format {
                            "float" => floats(&item["embedding"]),
                            _ => base64_floats(&item["embedding"]),
                        };
                        assert_eq!(bits(&got), *want, "{path} {body} text {i}");
                    }
                }
            }
        }
    }
    // Unnormalized vectors, and a body with no Content-Type (as `curl -d` sends).
    let r = post_raw(
        &format!("{}/v1/embeddings", server.url),
        &json!({"input": TEXTS[0], "normalize": false, "dimensions": 256}).to_string(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got = floats(&r.json()["data"][0]["embedding"]);
    assert_eq!(
        bits(&got),
        bits(&library_vector(&model, TEXTS[0], None, 256, false))
    );
}

#[test]
fn tei_ollama_and_llamacpp_routes_equal_the_library() {
    let Some(model) = common::embedder("tei_ollama_and_llamacpp_routes_equal_the_library") else {
        return;
    };
    let server = TestServer::start(ServerConfig::default(), model.clone());
    let url = |p: &str| format!("{}{p}", server.url);
    for dim in MATRYOSHKA_DIMS {
        let want = library_vectors(&model, Some("query"), dim);
        let body = json!({"inputs": TEXTS, "prompt_name": "query", "dimensions": dim});
        for path in ["/embed", "/"] {
            let r = post(&url(path), &body);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            let got: Vec<Vec<u32>> = r
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|v| bits(&floats(v)))
                .collect();
            assert_eq!(got, want, "{path} at {dim}");
            for h in [
                "x-total-time",
                "x-queue-time",
                "x-inference-time",
                "x-compute-tokens",
            ] {
                assert!(r.header(h).is_some(), "{path} lacks {h}");
            }
            assert_eq!(
                r.header("x-compute-tokens").unwrap(),
                token_count(&model, Some("query")).to_string()
            );
        }
        let r = post(
            &url("/api/embed"),
            &json!({"model": "embeddinggemma:query", "input": TEXTS, "dimensions": dim}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        let got: Vec<Vec<u32>> = j["embeddings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| bits(&floats(v)))
            .collect();
        assert_eq!(got, want, "/api/embed at {dim}");
        assert_eq!(j["prompt_eval_count"], token_count(&model, Some("query")));
        assert!(j["total_duration"].as_u64().unwrap() > 0);
        assert_eq!(j["model"], "embeddinggemma:query");
    }
    // Unprompted single inputs on the Ollama legacy and llama.cpp routes.
    let want = bits(&library_vector(&model, TEXTS[1], None, 768, true));
    let r = post(
        &url("/api/embeddings"),
        &json!({"model": "embeddinggemma", "prompt": TEXTS[1]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(bits(&floats(&r.json()["embedding"])), want);
    let r = post(&url("/embedding"), &json!({"content": TEXTS[1]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j[0]["index"], 0);
    assert_eq!(bits(&floats(&j[0]["embedding"][0])), want);
    // A string input on TEI equals the same text in a list.
    let r = post(&url("/embed"), &json!({"inputs": TEXTS[1]}));
    assert_eq!(bits(&floats(&r.json()[0])), want);
    // Token ids on TEI and llama.cpp: the library's ids give the library's vector.
    let ids = model.tokenizer().encode_truncated(TEXTS[1], true, 2048).ids;
    for (path, field) in [("/embed", "inputs"), ("/embedding", "content")] {
        let mut body = serde_json::Map::new();
        body.insert(field.to_string(), json!([ids.clone()]));
        let r = post(&url(path), &Value::Object(body));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let j = r.json();
        let v = if path == "/embed" {
            &j[0]
        } else {
            &j[0]["embedding"][0]
        };
        assert_eq!(bits(&floats(v)), want, "{path} with token ids");
    }
}

#[test]
fn tokenize_decode_info_and_model_lists() {
    let Some(model) = common::embedder("tokenize_decode_info_and_model_lists") else {
        return;
    };
    let server = TestServer::start(ServerConfig::default(), model.clone());
    let url = |p: &str| format!("{}{p}", server.url);
    let ids = model.tokenizer().encode_truncated(TEXTS[0], true, 2048).ids;
    let r = post(&url("/tokenize"), &json!({"inputs": TEXTS[0]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let got: Vec<u64> = r.json()[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, ids.iter().map(|&i| u64::from(i)).collect::<Vec<_>>());
    assert_eq!(r.json()[0][0]["special"], true);
    let r = post(&url("/decode"), &json!({"ids": ids}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()[0], TEXTS[0]);
    let r = post(
        &url("/decode"),
        &json!({"ids": ids, "skip_special_tokens": false}),
    );
    let text = r.json()[0].as_str().unwrap().to_string();
    assert!(
        text.starts_with("<bos>") && text.contains(TEXTS[0]),
        "{text}"
    );
    let (status, body) = common::get(&url("/info"));
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["max_input_length"], 2048);
    assert_eq!(info["model_id"], "embeddinggemma");
    let (status, body) = common::get(&url("/v1/models"));
    assert_eq!(status, 200);
    assert!(body.contains("embeddinggemma:query"));
    let (status, body) = common::get(&url("/api/tags"));
    assert_eq!(status, 200);
    assert!(body.contains("embeddinggemma:latest"), "{body}");
    assert_eq!(common::get(&url("/api/version")).0, 200);
    assert_eq!(
        common::get(&url("/")),
        (200, "Ollama is running".to_string())
    );
    let (status, body) = common::get(&url("/openapi.json"));
    assert_eq!(status, 200);
    assert!(body.contains("/v1/embeddings") && body.contains("/api/embed"));
    let (status, body) = common::get(&url("/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("embed_server_requests_total"), "{body}");
    assert!(body.contains("embed_server_build_info"), "{body}");
}
