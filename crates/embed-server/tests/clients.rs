//! Real clients nobody here wrote, unchanged, against in-process servers: the `openai`,
//! `ollama` and `huggingface_hub` Python packages, installed from the package index into
//! a venv under the target directory (reused while its stamp matches
//! `clients/requirements.txt`), running the pytest files in `tests/clients/`. The
//! expected vectors are the library's, written to a JSON file the tests read.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::TestServer;
use embed_server::ServerConfig;
use serde_json::{Value, json};

const TEXTS: [&str; 2] = [
    "Which planet is known as the Red Planet?",
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
];

const API_KEY: &str = "client-test-key";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs `cmd`, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// The venv with the clients installed, made (or remade) when its stamp differs from the
/// requirements; `None` (with a note) when there is no Python, a failure under CI.
fn venv() -> Option<PathBuf> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let version = Command::new(&python).arg("--version").output();
    let Ok(version) = version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()) else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "no {python} under CI=true"
        );
        eprintln!("client tests skipped: no {python}");
        return None;
    };
    let requirements =
        std::fs::read_to_string(clients_dir().join("requirements.txt")).expect("requirements.txt");
    let stamp_text = format!("{version}\n{requirements}");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("embed-server-venv");
    let stamp = dir.join("installed.stamp");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_text) {
        return Some(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&dir),
        "python3 -m venv",
    );
    run(
        Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(clients_dir().join("requirements.txt")),
        "pip install",
    );
    std::fs::write(&stamp, stamp_text).expect("the stamp is written");
    Some(dir)
}

/// The library's vectors for the cases the Python tests compare against.
fn expected(model: &gemma_encoder::Embedder) -> Value {
    let mut cases = serde_json::Map::new();
    for (name, prompt, dim) in [
        ("none-768", None, 768),
        ("none-256", None, 256),
        ("query-768", Some("query"), 768),
        ("document-512", Some("document"), 512),
    ] {
        let out = model
            .embed(&TEXTS, &common::options(prompt).dim(dim))
            .expect("embeds");
        let b64 = |v: &[f32]| {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        cases.insert(
            name.into(),
            json!({
                "vectors": out.iter().map(|e| b64(&e.vector)).collect::<Vec<_>>(),
                "tokens": out.iter().map(|e| e.n_tokens).sum::<usize>(),
            }),
        );
    }
    json!({"texts": TEXTS, "cases": cases})
}

#[test]
fn openai_ollama_and_huggingface_clients_work_unchanged() {
    let Some(model) = common::embedder("openai_ollama_and_huggingface_clients_work_unchanged")
    else {
        return;
    };
    let Some(venv) = venv() else { return };
    let dir = clients_dir();
    run(
        Command::new(venv.join("bin/ruff"))
            .args(["check", "--no-cache"])
            .arg(&dir),
        "ruff check",
    );
    run(
        Command::new(venv.join("bin/ruff"))
            .args(["format", "--check", "--no-cache"])
            .arg(&dir),
        "ruff format --check",
    );
    let expected_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("embed-server-expected.json");
    std::fs::write(&expected_path, expected(&model).to_string())
        .expect("writes the expected vectors");
    let plain = TestServer::start(ServerConfig::default(), model.clone());
    let auth = TestServer::start(
        ServerConfig::default().with_api_key(Some(API_KEY.into())),
        model.clone(),
    );
    let tiny = TestServer::start(
        ServerConfig::default()
            .with_queue_tokens(1000)
            .with_batch_tokens(64),
        model,
    );
    let out = Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"])
        .arg(&dir)
        .env("EMBED_URL", &plain.url)
        .env("EMBED_AUTH_URL", &auth.url)
        .env("EMBED_API_KEY", API_KEY)
        .env("EMBED_TINY_URL", &tiny.url)
        .env("EMBED_EXPECTED", &expected_path)
        // The clients must reach the in-process servers, never a proxy.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("HF_HUB_OFFLINE", "0")
        .output()
        .expect("pytest starts");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // pytest exits 5 when it collects no test: that is a failure here, like any non-zero.
    assert!(
        out.status.success(),
        "pytest failed ({}):\n{text}",
        out.status
    );
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
    eprintln!("{text}");
}
