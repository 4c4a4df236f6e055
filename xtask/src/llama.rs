//! llama.cpp, the yardstick: built from the copy vendored in the llama-cpp-python source
//! package (`vendor/llama.cpp`), with CMake and Ninja from the package index, for the CPU
//! at hand (`GGML_NATIVE=ON`) with AMX off (a VM's CPU can list AMX and fault on it). The
//! build is cached beside the model (`<cache>/llama.cpp-<version>/`), stamped with the
//! CPU it was built for, and rebuilt when the machine's CPU changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::model_paths;

/// The llama-cpp-python release whose vendored llama.cpp is the reference
/// (commit 0c1e57098, the one `../shared/reference` was made with).
pub const LLAMA_CPP_PYTHON: &str = "0.3.36";
const CMAKE: &str = "cmake==4.4.5";
const NINJA: &str = "ninja==1.13.2";
/// The tools built.
pub const TOOLS: [&str; 5] = [
    "llama-tokenize",
    "llama-embedding",
    "llama-bench",
    "llama-quantize",
    "llama-server",
];

/// A built llama.cpp.
pub struct Llama {
    bin: PathBuf,
    /// `llama-embedding --version`'s first line, e.g. `version: 0.5.0-dev (build 1, commit 0c1e570)`.
    pub version: String,
}

impl Llama {
    /// The path of one of [`TOOLS`].
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// Builds llama.cpp unless the cached build is complete; returns it.
pub fn ensure() -> Result<Llama> {
    let dir = model_paths::cache_dir().join(format!("llama.cpp-{LLAMA_CPP_PYTHON}"));
    let bin = dir.join("build/bin");
    let stamp = dir.join("build.ok");
    let cpu = cpu_signature();
    let built_for = fs::read_to_string(&stamp).unwrap_or_default();
    let complete = built_for == cpu && TOOLS.iter().all(|t| bin.join(t).exists());
    if !complete {
        if !built_for.is_empty() && built_for != cpu {
            eprintln!("llama.cpp: the cached build is for another CPU; rebuilding");
            let _ = fs::remove_dir_all(dir.join("build"));
        }
        build(&dir).with_context(|| format!("building llama.cpp in {}", dir.display()))?;
        fs::write(&stamp, &cpu)?;
    }
    let out = Command::new(bin.join("llama-embedding"))
        .arg("--version")
        .output()
        .context("cannot run llama-embedding --version")?;
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find(|l| l.starts_with("version:"))
        .unwrap_or("version: unknown")
        .trim()
        .to_string();
    Ok(Llama { bin, version })
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

fn build(dir: &Path) -> Result<()> {
    let dl = dir.join("downloads");
    fs::create_dir_all(&dl)?;
    eprintln!("llama.cpp: fetching llama-cpp-python {LLAMA_CPP_PYTHON} (source), {CMAKE}, {NINJA}");
    crate::pypi::check_pip()?;
    crate::pypi::pip_download(
        &dl,
        &[
            "--no-binary",
            "llama-cpp-python",
            &format!("llama-cpp-python=={LLAMA_CPP_PYTHON}"),
        ],
    )?;
    crate::pypi::pip_download(&dl, &["--only-binary", ":all:", CMAKE, NINJA])?;
    // The wheels are zip files holding the cmake and ninja executables.
    let tools = dir.join("tools");
    let mut cmake = None;
    let mut ninja = None;
    for entry in fs::read_dir(&dl)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".whl") {
            let files = unzip(&path, &tools)?;
            for f in files {
                let n = f
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                let s = f.to_string_lossy();
                if n == "cmake" && s.contains("/bin/") {
                    cmake = Some(f.clone());
                }
                if n == "ninja" && (s.contains("/scripts/") || s.contains("/bin/")) {
                    ninja = Some(f.clone());
                }
            }
        } else if name.ends_with(".tar.gz") {
            run(Command::new("tar").arg("xzf").arg(&path).arg("-C").arg(dir))?;
        }
    }
    let (Some(cmake), Some(ninja)) = (cmake, ninja) else {
        bail!("the cmake or ninja wheel did not hold its executable");
    };
    // Every file under the cmake wheel's bin/ must be executable (cmake runs ctest etc.).
    for exe in [&cmake, &ninja] {
        for e in fs::read_dir(exe.parent().unwrap_or(Path::new(".")))? {
            set_executable(&e?.path())?;
        }
    }
    let src = dir
        .join(format!("llama_cpp_python-{LLAMA_CPP_PYTHON}"))
        .join("vendor/llama.cpp");
    if !src.join("CMakeLists.txt").exists() {
        bail!("{} has no CMakeLists.txt", src.display());
    }
    let build = dir.join("build");
    let path = format!(
        "{}:{}",
        ninja.parent().unwrap_or(Path::new(".")).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    eprintln!("llama.cpp: configuring (GGML_NATIVE=ON, AMX off)");
    run(Command::new(&cmake)
        .env("PATH", &path)
        .arg("-S")
        .arg(&src)
        .arg("-B")
        .arg(&build)
        .args(["-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"])
        .arg(format!("-DCMAKE_MAKE_PROGRAM={}", ninja.display()))
        .args(CMAKE_FLAGS))?;
    eprintln!(
        "llama.cpp: building {} (several minutes on 2 cores)",
        TOOLS.join(", ")
    );
    run(Command::new(&cmake)
        .env("PATH", &path)
        .arg("--build")
        .arg(&build)
        .arg("--target")
        .args(TOOLS))?;
    Ok(())
}

/// Release build for the CPU at hand (`-march=native`), AMX off: explicit `-mno-amx-*`
/// flags win over `-march=native` whatever their order, so a CPU that lists AMX but
/// faults on it still runs the tools. No network code; static, so the tools need nothing
/// beside them; `llama-server` for the server benchmark.
const CMAKE_FLAGS: &[&str] = &[
    "-DGGML_NATIVE=ON",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
    "-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
    "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
];

/// The CPU a build is for: its model name and instruction-set flags.
pub fn cpu_signature() -> String {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map_or("", |(_, v)| v.trim())
            .to_string()
    };
    format!("{}\n{}\n", field("model name"), field("flags"))
}

/// Extracts every file of a zip (a wheel) under `dest`; returns the files written.
fn unzip(zip_path: &Path, dest: &Path) -> Result<Vec<PathBuf>> {
    let mut archive = zip::ZipArchive::new(fs::File::open(zip_path)?)
        .with_context(|| format!("{} is not a zip archive", zip_path.display()))?;
    let mut written = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(name) = entry.enclosed_name() else {
            bail!("unsafe path in {}: {:?}", zip_path.display(), entry.name());
        };
        if entry.is_dir() {
            continue;
        }
        let path = dest.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        std::io::copy(&mut entry, &mut fs::File::create(&path)?)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(unix)]
fn set_executable(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if p.is_file() {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}
