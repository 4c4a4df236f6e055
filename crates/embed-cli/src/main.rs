//! The `embed` command.
#![forbid(unsafe_code)]

use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use gemma_convert::OutType;
use gemma_encoder::{EmbedOptions, Embedder, Pooling, Precision, cosine};
use gguf_format::{MappedGguf, Value};
use spm_tokenizer::EncodeOptions;

/// EmbeddingGemma text embeddings from GGUF files, in pure Rust.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ModelArg {
    /// The GGUF model. Default: $EMBED_MODEL, else the Q8_0 model `cargo xtask
    /// fetch-model` cached.
    #[arg(short, long, global = true)]
    model: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Print to stderr how long opening the model and embedding took, and the peak
    /// resident memory (Linux).
    #[arg(long, global = true)]
    timings: bool,
}

#[derive(Args, Clone)]
struct EmbedArgs {
    /// A sentence-transformers prompt by name: query, document, STS, Clustering,
    /// Classification, Retrieval, ... (the model's exact strings).
    #[arg(long)]
    prompt: Option<String>,
    /// Document title for the document prompt (`title: {title} | text: `).
    #[arg(long)]
    title: Option<String>,
    /// Matryoshka dimension: 768, 512, 256 or 128.
    #[arg(long, default_value_t = 768)]
    dim: usize,
    /// Cut texts to this many tokens (BOS and EOS included; default: the model's 2048).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Texts longer than the limit are an error instead of being cut.
    #[arg(long)]
    no_truncate: bool,
    /// Do not L2-normalize the vectors.
    #[arg(long)]
    no_normalize: bool,
    /// Mean pooling (the model's) or none (one vector per token).
    #[arg(long, value_enum, default_value_t = PoolingArg::Mean)]
    pooling: PoolingArg,
    /// Arithmetic on quantized weights: int16 activations (the default: as close to
    /// sentence-transformers as f32 activations, about twice as fast), f32 activations,
    /// or int8 activations (ggml's scheme).
    #[arg(long, value_enum, default_value_t = PrecisionArg::Int16)]
    precision: PrecisionArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolingArg {
    Mean,
    None,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    Int16,
    F32,
    Int8,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// One JSON object per line: embedding, n_tokens, truncated (and id when given).
    Jsonl,
    /// One JSON array of those objects.
    Json,
    /// A NumPy .npy file of float32, shape [texts, dim].
    Npy,
    /// Raw little-endian float32, texts one after another.
    F32,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts.
    ///
    /// Texts come from the arguments, else from --input (one text per line, or JSONL
    /// objects with "text" and optional "id" and "title" when the file ends in .jsonl),
    /// else from standard input, one per line. All texts are embedded in large batches.
    ///
    /// Examples:
    ///   embed encode "A cat sat on the mat." "Dogs bark."
    ///   embed encode --input docs.jsonl --prompt document --output vectors.jsonl
    ///   cat queries.txt | embed encode --prompt query --dim 256 --format npy -o q.npy
    Encode {
        /// Texts to embed.
        texts: Vec<String>,
        /// Read texts from this file.
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Write here (via a temporary file renamed when complete) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        embed: EmbedArgs,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Embed texts and print their cosine similarity matrix.
    ///
    /// Example: embed similarity "The cat sat." "A kitten rested." "Markets fell."
    Similarity {
        /// Texts to compare (at least two).
        #[arg(required = true, num_args = 2..)]
        texts: Vec<String>,
        #[command(flatten)]
        embed: EmbedArgs,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Rank the documents of a file against a query (query and document prompts).
    ///
    /// Example: embed rank "how do I reset my password" --input faq.txt --top 3
    Rank {
        /// The query.
        query: String,
        /// Documents, one per line (or JSONL with "text", "id", "title" for .jsonl).
        #[arg(short, long)]
        input: PathBuf,
        /// How many matches to print.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Print the token ids of a text (BOS and EOS added, special tokens parsed) as JSON.
    ///
    /// Example: embed tokenize --pieces "Hello world"
    Tokenize {
        /// The text (exact bytes; no escapes are processed).
        text: Option<String>,
        /// Read the text from this file (its exact bytes) instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print [id, piece] pairs.
        #[arg(long)]
        pieces: bool,
        /// Treat special-token text (<bos>, <eos>...) as plain text.
        #[arg(long)]
        no_special: bool,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Describe a GGUF file: architecture, hyperparameters, tensors, tokenizer, warnings.
    ///
    /// Example: embed inspect embeddinggemma-300m-q8_0.gguf --json
    Inspect {
        /// The GGUF file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Convert a Hugging Face sentence-transformers release to GGUF.
    ///
    /// Reads config.json, modules.json, 1_Pooling/, 2_Dense/, 3_Dense/,
    /// model.safetensors, tokenizer.model and the tokenizer configs; writes a
    /// `gemma-embedding` GGUF with the Dense layers, as llama.cpp's converter with
    /// --sentence-transformers-dense-modules does.
    ///
    /// Example: embed convert ./embeddinggemma-300m -o embeddinggemma-300m-q8_0.gguf --type q8_0
    Convert {
        /// The release folder.
        hf_dir: PathBuf,
        /// The GGUF to write (written to a temporary name, renamed when complete).
        #[arg(short, long)]
        output: PathBuf,
        /// Tensor type: f32, f16, bf16, q8_0 (every matrix in that type, as llama.cpp's
        /// converter), or a llama-quantize recipe: q4_0, q4_1, q5_0, q5_1, q4_k_s,
        /// q4_k_m (alias q4_k), q5_k_s, q5_k_m (alias q5_k), q6_k.
        #[arg(long = "type", default_value = "q8_0", value_parser = parse_type)]
        out_type: OutType,
        /// Every matrix in the recipe's base type, token_embd included (llama-quantize --pure).
        #[arg(long)]
        pure: bool,
    },
}

fn parse_type(s: &str) -> Result<OutType, String> {
    OutType::from_name(s).ok_or_else(|| {
        let all: Vec<&str> = OutType::ALL.iter().map(|t| t.name()).collect();
        format!("unknown type {s:?}; one of {}", all.join(", "))
    })
}

/// `println!` that returns write errors (a closed pipe ends the program quietly).
macro_rules! outln {
    ($($t:tt)*) => {
        writeln!(io::stdout().lock(), $($t)*).context("cannot write to standard output")?
    };
}

/// The temporary output file to delete if the user interrupts.
static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

fn main() {
    let _ = ctrlc::set_handler(|| {
        if let Some(p) = PENDING.lock().ok().and_then(|mut p| p.take()) {
            let _ = fs::remove_file(p);
        }
        eprintln!("embed: interrupted");
        std::process::exit(130);
    });
    if let Err(e) = run(Cli::parse()) {
        // A reader that closed the pipe (`embed ... | head`) is not an error.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            std::process::exit(0);
        }
        eprintln!("embed: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Encode {
            texts,
            input,
            format,
            output,
            embed,
            model,
        } => encode(texts, input, format, output, &embed, &model),
        Command::Similarity {
            texts,
            embed,
            model,
        } => similarity(&texts, &embed, &model),
        Command::Rank {
            query,
            input,
            top,
            model,
        } => rank(&query, &input, top, &model),
        Command::Tokenize {
            text,
            file,
            pieces,
            no_special,
            model,
        } => tokenize(text, file, pieces, no_special, &model),
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Convert {
            hf_dir,
            output,
            out_type,
            pure,
        } => run_convert(
            &hf_dir,
            &output,
            gemma_convert::Options::new(out_type).pure(pure),
        ),
    }
}

fn model_path(arg: &ModelArg) -> Result<PathBuf> {
    if let Some(p) = &arg.model {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("EMBED_MODEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let cached = embeddinggemma_cache::gguf("q8_0");
    if cached.is_file() {
        return Ok(cached);
    }
    bail!(
        "no model: pass --model FILE.gguf, set EMBED_MODEL, or run `cargo xtask fetch-model` \
         to cache one (looked for {})",
        cached.display()
    )
}

fn open(arg: &ModelArg) -> Result<Embedder> {
    if let Some(n) = arg.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("cannot set the thread count")?;
    }
    let path = model_path(arg)?;
    let started = std::time::Instant::now();
    let m = Embedder::open(&path).with_context(|| {
        format!(
            "cannot load {} (a gemma-embedding GGUF is needed; `cargo xtask fetch-model` makes one)",
            path.display()
        )
    })?;
    if arg.timings {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        eprintln!("opened {} in {ms:.1} ms", path.display());
    }
    for w in m.warnings() {
        eprintln!("embed: warning: {w}");
    }
    Ok(m)
}

fn options(a: &EmbedArgs) -> EmbedOptions {
    EmbedOptions {
        prompt: a.prompt.clone(),
        title: a.title.clone(),
        dim: a.dim,
        normalize: !a.no_normalize,
        pooling: match a.pooling {
            PoolingArg::Mean => Pooling::Mean,
            PoolingArg::None => Pooling::None,
        },
        truncate: !a.no_truncate,
        max_tokens: a.max_tokens,
        precision: match a.precision {
            PrecisionArg::Int16 => Precision::Int16Activations,
            PrecisionArg::F32 => Precision::F32Activations,
            PrecisionArg::Int8 => Precision::Int8Activations,
        },
    }
}

/// One input: its text, and from JSONL an id and a title.
struct Item {
    text: String,
    id: Option<serde_json::Value>,
    title: Option<String>,
}

/// Items from a file: JSONL objects when it ends in `.jsonl`, else one text per line.
fn read_items(path: Option<&Path>) -> Result<Vec<Item>> {
    let (name, reader): (String, Box<dyn Read>) = match path {
        Some(p) => (
            p.display().to_string(),
            Box::new(File::open(p).with_context(|| format!("cannot read {}", p.display()))?),
        ),
        None => ("standard input".into(), Box::new(io::stdin())),
    };
    let jsonl = path.is_some_and(|p| p.extension().is_some_and(|e| e == "jsonl"));
    let mut items = Vec::new();
    let mut reader = io::BufReader::new(reader);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {name}"))?
            == 0
        {
            break;
        }
        n += 1;
        if line.ends_with(b"\n") {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
        }
        let text = String::from_utf8(line.clone()).map_err(|e| {
            anyhow::anyhow!(
                "{name}, line {n}: not valid UTF-8 (byte {} of the line)",
                e.utf8_error().valid_up_to()
            )
        })?;
        if !jsonl {
            items.push(Item {
                text,
                id: None,
                title: None,
            });
            continue;
        }
        if text.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{name}, line {n}: not JSON"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("{name}, line {n}: not a JSON object"))?;
        let text = obj
            .get("text")
            .and_then(|t| t.as_str())
            .ok_or_else(|| anyhow::anyhow!("{name}, line {n}: no \"text\" string"))?;
        items.push(Item {
            text: text.to_string(),
            id: obj.get("id").cloned(),
            title: obj.get("title").and_then(|t| t.as_str()).map(String::from),
        });
    }
    if items.is_empty() {
        bail!("{name}: no texts to embed");
    }
    Ok(items)
}

/// Embeds items; texts with their own titles are embedded with the document prompt and
/// that title.
fn embed_items(
    m: &Embedder,
    items: &[Item],
    opts: &EmbedOptions,
    timings: bool,
) -> Result<Vec<gemma_encoder::Embedding>> {
    let bar = (items.len() > 64 && io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(items.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} texts, {per_sec} ({eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut out: Vec<gemma_encoder::Embedding> = Vec::with_capacity(items.len());
    let started = std::time::Instant::now();
    // Chunks keep the progress bar moving; each chunk is still one packed batch.
    for chunk in items.chunks(256) {
        let mut i = 0;
        while i < chunk.len() {
            let title = &chunk[i].title;
            let j = i + chunk[i..]
                .iter()
                .take_while(|it| &it.title == title)
                .count();
            let mut o = opts.clone();
            if title.is_some() {
                o.title = title.clone();
                o.prompt.get_or_insert_with(|| "document".into());
            }
            let texts: Vec<&str> = chunk[i..j].iter().map(|it| it.text.as_str()).collect();
            out.extend(m.embed(&texts, &o)?);
            i = j;
        }
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
            let tokens: usize = out.iter().map(|e| e.n_tokens).sum();
            b.set_message(format!(
                "{:.0} tokens/s",
                tokens as f64 / started.elapsed().as_secs_f64().max(1e-3)
            ));
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if timings {
        let secs = started.elapsed().as_secs_f64();
        let tokens: usize = out.iter().map(|e| e.n_tokens).sum();
        eprintln!(
            "embedded {} texts, {tokens} tokens in {secs:.3} s ({:.1} tokens/s, {} threads)",
            out.len(),
            tokens as f64 / secs.max(1e-9),
            rayon::current_num_threads()
        );
        if let Some(kib) = peak_rss_kib() {
            eprintln!("peak memory {:.1} MiB", kib as f64 / 1024.0);
        }
    }
    Ok(out)
}

/// The process's peak resident memory so far (`VmHWM`), where the OS reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes through `f` to `path` via a temporary file renamed when complete, or to stdout.
fn write_output(path: Option<&Path>, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let Some(path) = path else {
        let stdout = io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        f(&mut w)?;
        return w.flush().context("cannot write to standard output");
    };
    let tmp = gemma_convert::temp_path(path);
    if let Ok(mut p) = PENDING.lock() {
        *p = Some(tmp.clone());
    }
    let result = (|| {
        let mut w = BufWriter::new(
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
        );
        f(&mut w)?;
        w.flush()?;
        fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    })();
    if let Ok(mut p) = PENDING.lock() {
        *p = None;
    }
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn encode(
    texts: Vec<String>,
    input: Option<PathBuf>,
    format: Format,
    output: Option<PathBuf>,
    args: &EmbedArgs,
    model: &ModelArg,
) -> Result<()> {
    let items = if !texts.is_empty() {
        if input.is_some() {
            bail!("give texts as arguments or with --input, not both");
        }
        texts
            .into_iter()
            .map(|text| Item {
                text,
                id: None,
                title: None,
            })
            .collect()
    } else {
        read_items(input.as_deref())?
    };
    let opts = options(args);
    if matches!(format, Format::Npy) && opts.pooling == Pooling::None {
        bail!(
            "--format npy needs pooled vectors (one row per text); use jsonl or f32 with --pooling none"
        );
    }
    let m = open(model)?;
    let out = embed_items(&m, &items, &opts, model.timings)?;
    write_output(output.as_deref(), |w| {
        match format {
            Format::Jsonl | Format::Json => {
                if format == Format::Json {
                    w.write_all(b"[")?;
                }
                for (i, (item, e)) in items.iter().zip(&out).enumerate() {
                    let mut obj = serde_json::json!({
                        "embedding": e.vector,
                        "n_tokens": e.n_tokens,
                        "truncated": e.truncated,
                    });
                    if let Some(id) = &item.id {
                        obj["id"] = id.clone();
                    }
                    if format == Format::Json && i > 0 {
                        w.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *w, &obj)?;
                    if format == Format::Jsonl {
                        w.write_all(b"\n")?;
                    }
                }
                if format == Format::Json {
                    w.write_all(b"]\n")?;
                }
            }
            Format::Npy => {
                let dim = out.first().map_or(0, |e| e.vector.len());
                let header = format!(
                    "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}",
                    out.len()
                );
                let mut h = header.into_bytes();
                let pad = 64 - (10 + h.len() + 1) % 64;
                h.extend(std::iter::repeat_n(b' ', pad % 64));
                h.push(b'\n');
                w.write_all(b"\x93NUMPY\x01\x00")?;
                w.write_all(&(h.len() as u16).to_le_bytes())?;
                w.write_all(&h)?;
                for e in &out {
                    for v in &e.vector {
                        w.write_all(&v.to_le_bytes())?;
                    }
                }
            }
            Format::F32 => {
                for e in &out {
                    for v in &e.vector {
                        w.write_all(&v.to_le_bytes())?;
                    }
                }
            }
        }
        Ok(())
    })
}

fn similarity(texts: &[String], args: &EmbedArgs, model: &ModelArg) -> Result<()> {
    let m = open(model)?;
    let opts = options(args);
    if opts.pooling == Pooling::None {
        bail!("similarity compares pooled vectors; --pooling none does not apply");
    }
    let out = m.embed(texts, &opts)?;
    let width = texts.len().to_string().len();
    let mut s = String::new();
    for (i, t) in texts.iter().enumerate() {
        let short: String = t.chars().take(60).collect();
        s += &format!("[{:>width$}] {short}\n", i + 1);
    }
    s += &format!("\n{:>w$}", "", w = width + 2);
    for j in 0..texts.len() {
        s += &format!(" {:>7}", format!("[{}]", j + 1));
    }
    s.push('\n');
    for (i, a) in out.iter().enumerate() {
        s += &format!("{:>w$}", format!("[{}]", i + 1), w = width + 2);
        for b in &out {
            s += &format!(" {:>7.4}", cosine(&a.vector, &b.vector));
        }
        s.push('\n');
    }
    io::stdout()
        .lock()
        .write_all(s.as_bytes())
        .context("cannot write to standard output")?;
    Ok(())
}

fn rank(query: &str, input: &Path, top: usize, model: &ModelArg) -> Result<()> {
    let m = open(model)?;
    let docs = read_items(Some(input))?;
    let q = EmbedOptions {
        prompt: Some("query".into()),
        ..EmbedOptions::default()
    };
    let d = EmbedOptions {
        prompt: Some("document".into()),
        ..EmbedOptions::default()
    };
    let qv = m.embed(&[query], &q)?.remove(0).vector;
    let dv = embed_items(&m, &docs, &d, false)?;
    let mut scored: Vec<(f64, usize)> = dv
        .iter()
        .enumerate()
        .map(|(i, e)| (cosine(&qv, &e.vector), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (score, i) in scored.into_iter().take(top) {
        let doc = &docs[i];
        let label = doc
            .id
            .as_ref()
            .map_or_else(|| format!("line {}", i + 1), |id| id.to_string());
        let short: String = doc.text.chars().take(100).collect();
        outln!("{score:.4}  {label}  {short}");
    }
    Ok(())
}

fn tokenize(
    text: Option<String>,
    file: Option<PathBuf>,
    pieces: bool,
    no_special: bool,
    model: &ModelArg,
) -> Result<()> {
    let bytes = match (text, file) {
        (Some(t), None) => t.into_bytes(),
        (None, Some(f)) => fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => {
            let mut b = Vec::new();
            io::stdin().read_to_end(&mut b)?;
            b
        }
        (Some(_), Some(_)) => bail!("give the text or --file, not both"),
    };
    let m = open(model)?;
    let tok = m.tokenizer();
    let ids = tok.encode_bytes(
        &bytes,
        EncodeOptions {
            add_special: true,
            parse_special: !no_special,
        },
    )?;
    let json = if pieces {
        serde_json::to_string(
            &ids.iter()
                .map(|&i| (i, tok.piece(i).unwrap_or("")))
                .collect::<Vec<_>>(),
        )?
    } else {
        serde_json::to_string(&ids)?
    };
    outln!("{json}");
    Ok(())
}

fn inspect(file: &Path, json: bool) -> Result<()> {
    let map = MappedGguf::open(file)?;
    let g = map.parse()?;
    let arch = g.get_str("general.architecture").unwrap_or("(none)");
    let mut warnings = Vec::new();
    if arch != gemma_encoder::ARCHITECTURE {
        warnings.push(format!(
            "architecture {arch:?} is not {:?}: `embed` cannot run it",
            gemma_encoder::ARCHITECTURE
        ));
    } else if g.tensor("dense_2.weight").is_none() || g.tensor("dense_3.weight").is_none() {
        warnings.push(
            "no dense_2/dense_3 tensors: vectors will not match sentence-transformers'".into(),
        );
    }
    let known = |k: &str| {
        k.starts_with("general.")
            || k.starts_with("tokenizer.")
            || k.starts_with(&format!("{arch}."))
    };
    for (k, _) in g.metadata() {
        if !known(k) {
            warnings.push(format!("unknown key {k}"));
        }
    }
    let scalar = |v: &Value<'_>| -> serde_json::Value {
        match v {
            Value::String(s) => serde_json::json!(s),
            Value::Bool(b) => serde_json::json!(b),
            Value::F32(x) => serde_json::json!(x),
            Value::F64(x) => serde_json::json!(x),
            Value::Array(a) => serde_json::json!(format!("[{} x {}]", a.len(), a.elem_type())),
            v => v
                .as_i64()
                .map_or(serde_json::Value::Null, |i| serde_json::json!(i)),
        }
    };
    let hparams: serde_json::Map<String, serde_json::Value> = g
        .metadata()
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{arch}.")) || k.starts_with("general."))
        .map(|(k, v)| (k.to_string(), scalar(v)))
        .collect();
    let tensors: Vec<serde_json::Value> = g
        .tensors()
        .iter()
        .map(|t| serde_json::json!({"name": t.name(), "type": t.ggml_type().name(), "shape": t.dims(), "bytes": t.n_bytes()}))
        .collect();
    let vocab = g
        .get_array("tokenizer.ggml.tokens")
        .map(|a| a.len())
        .unwrap_or(0);
    let tokenizer = serde_json::json!({
        "model": g.get_str("tokenizer.ggml.model").unwrap_or("(none)"),
        "vocab_size": vocab,
        "bos": g.get_u32("tokenizer.ggml.bos_token_id").ok(),
        "eos": g.get_u32("tokenizer.ggml.eos_token_id").ok(),
        "add_bos": g.get_bool("tokenizer.ggml.add_bos_token").ok(),
        "add_eos": g.get_bool("tokenizer.ggml.add_eos_token").ok(),
    });
    let total: u64 = g.tensors().iter().map(|t| t.n_bytes()).sum();
    if json {
        let doc = serde_json::json!({
            "file": file.display().to_string(),
            "gguf_version": g.version(),
            "architecture": arch,
            "metadata": hparams,
            "tokenizer": tokenizer,
            "tensors": tensors,
            "tensor_bytes": total,
            "warnings": warnings,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    outln!(
        "{}: GGUF v{}, architecture {arch}",
        file.display(),
        g.version()
    );
    outln!("\nmetadata:");
    for (k, v) in &hparams {
        outln!("  {k} = {v}");
    }
    outln!("\ntokenizer: {tokenizer}");
    outln!("\n{} tensors, {} bytes:", tensors.len(), total);
    for t in g.tensors() {
        outln!(
            "  {:<36} {:<6} {:<16} {:>12}",
            t.name(),
            t.ggml_type().name(),
            format!("{:?}", t.dims()),
            t.n_bytes()
        );
    }
    for w in &warnings {
        outln!("warning: {w}");
    }
    Ok(())
}

fn run_convert(hf_dir: &Path, output: &Path, opts: gemma_convert::Options) -> Result<()> {
    let bar = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} converting [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    if let Ok(mut p) = PENDING.lock() {
        *p = Some(gemma_convert::temp_path(output));
    }
    let report = gemma_convert::convert(hf_dir, output, opts, &mut |p| {
        if let Some(bar) = &bar {
            bar.set_length(p.total);
            bar.set_position(p.done);
            bar.set_message(p.tensor.to_string());
        }
    })
    .with_context(|| format!("converting {}", hf_dir.display()))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    eprintln!(
        "wrote {} ({} tensors, {} keys, {} bytes)",
        output.display(),
        report.n_tensors,
        report.n_keys,
        report.file_bytes
    );
    Ok(())
}
