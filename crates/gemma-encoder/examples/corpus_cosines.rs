//! Prints, for each reference text, the cosine of our vector with sentence-transformers'
//! and llama.cpp's: `cargo run --release -p gemma-encoder --example corpus_cosines -- MODEL.gguf [N]`.

use gemma_encoder::{EmbedOptions, Embedder, cosine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model = Embedder::open(&args[1])?;
    let limit: usize = args
        .get(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/public-corpus.json"
    );
    let corpus: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let vec = |v: &serde_json::Value| -> Option<Vec<f32>> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect())
    };
    let t = std::time::Instant::now();
    let texts: Vec<&str> = corpus
        .iter()
        .take(limit)
        .map(|e| e["text"].as_str().unwrap_or(""))
        .collect();
    let out = model.embed(&texts, &EmbedOptions::default())?;
    let secs = t.elapsed().as_secs_f64();
    let tokens: usize = out.iter().map(|e| e.n_tokens).sum();
    for (e, emb) in corpus.iter().zip(&out) {
        let st = vec(&e["st"]).map(|s| cosine(&emb.vector, &s));
        let l32 = vec(&e["llama_f32"]).map(|s| cosine(&emb.vector, &s));
        let l8 = vec(&e["llama_q8_0"]).map(|s| cosine(&emb.vector, &s));
        println!(
            "{:<28} {:>5} tok  st {:.6}  llama_f32 {:?}  llama_q8_0 {:?}",
            e["id"].as_str().unwrap_or("?"),
            emb.n_tokens,
            st.unwrap_or(0.0),
            l32.map(|c| (c * 1e6).round() / 1e6),
            l8.map(|c| (c * 1e6).round() / 1e6)
        );
    }
    println!(
        "{} texts, {tokens} tokens in {secs:.2} s ({:.0} tokens/s)",
        out.len(),
        tokens as f64 / secs
    );
    Ok(())
}
