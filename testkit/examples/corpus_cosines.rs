//! Cosines of our vectors with sentence-transformers' and llama.cpp's on the reference
//! corpus, as a Markdown table (the source of `docs/parity.md`):
//!
//! `cargo run --release -p testkit --example corpus_cosines -- MODEL.gguf [--int8|--f32] [--summary]`

use gemma_encoder::{EmbedOptions, Embedder, Precision, cosine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        return Err("usage: corpus_cosines MODEL.gguf [--int8|--f32] [--summary]".into());
    };
    let model = Embedder::open(path)?;
    let (precision, label) = if args.iter().any(|a| a == "--int8") {
        (Precision::Int8Activations, " (int8 activations)")
    } else if args.iter().any(|a| a == "--f32") {
        (Precision::F32Activations, " (f32 activations)")
    } else {
        (Precision::Int16Activations, "")
    };
    let summary = args.iter().any(|a| a == "--summary");
    let opts = EmbedOptions::new().precision(precision);
    let corpus_path = testkit::testdata("public-corpus.json");
    let corpus: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus_path)?)?;
    let vec = |v: &serde_json::Value| -> Option<Vec<f32>> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect())
    };
    let texts: Vec<&str> = corpus
        .iter()
        .map(|e| e["text"].as_str().unwrap_or(""))
        .collect();
    let t = std::time::Instant::now();
    let out = model.embed(&texts, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    let tokens: usize = out.iter().map(|e| e.n_tokens).sum();
    let mut st_all = Vec::new();
    let mut rows = Vec::new();
    for (e, emb) in corpus.iter().zip(&out) {
        let st = vec(&e["st"]).map_or(0.0, |s| cosine(&emb.vector, &s));
        let l32 = vec(&e["llama_f32"]).map(|s| cosine(&emb.vector, &s));
        let l8 = vec(&e["llama_q8_0"]).map(|s| cosine(&emb.vector, &s));
        st_all.push(st);
        let f = |c: Option<f64>| c.map_or("—".to_string(), |c| format!("{c:.6}"));
        rows.push(format!(
            "| {} | {} | {st:.6} | {} | {} |",
            e["id"].as_str().unwrap_or("?"),
            emb.n_tokens,
            f(l32),
            f(l8)
        ));
    }
    let min = st_all.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = st_all.iter().sum::<f64>() / st_all.len() as f64;
    println!(
        "{}{}: cosine with sentence-transformers min {min:.6}, mean {mean:.6} ({} texts, {tokens} tokens, {:.0} tokens/s)",
        path.rsplit('/').next().unwrap_or(path),
        label,
        out.len(),
        tokens as f64 / secs
    );
    if !summary {
        println!(
            "\n| text | tokens | cos(ours, st) | cos(ours, llama f32) | cos(ours, llama q8_0) |\n|---|---|---|---|---|"
        );
        for r in rows {
            println!("{r}");
        }
    }
    Ok(())
}
