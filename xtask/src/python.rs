//! `cargo xtask python-test`: build the Python package's wheel, install it into a venv the
//! xtask makes, and run its tests there.
//!
//! 1. The venv, `target/tmp/python-venv`: maturin, and the pinned packages of
//!    `bindings/python/tests/requirements.txt` (and `requirements-scale.txt`, for the Ray
//!    and Spark tests). It is kept while its stamp (the Python version and those files)
//!    matches, and made again when it does not.
//! 2. ruff: `ruff check` and `ruff format --check` over `bindings/python` and
//!    `xtask/peers`.
//! 3. The wheel: `maturin build --release` into `target/wheels/python-test`, then a plain
//!    `pip install` of it, as a user installs it.
//! 4. The `embed` binary the tests compare vectors with: the one `cargo test --workspace`
//!    builds for the CLI's tests (`target/debug/embed`, in the optimized test profile),
//!    fresh at once after `cargo test --workspace` and not built a second time for
//!    release. (`cargo build -p embed-cli` would not do: built alone, its dependencies
//!    get other features than in the workspace's test build and are compiled again.)
//! 5. pytest over `bindings/python/tests`, given the model's paths. Any failure fails the
//!    command, and so does pytest's "no tests collected" (exit code 5).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::model_paths;

/// This command's lines in `cargo xtask --help`.
pub(crate) const USAGE: &str = "\
  python-test [PYTEST ARGS...]
        Build the Python package (bindings/python) with maturin in a venv under
        target/tmp (made once, remade when its pinned requirements change), pip install
        the wheel, check the Python code with ruff, and run pytest over
        bindings/python/tests with the cached model. Arguments go to pytest (-k, -x...).
";

/// The build backend, pinned: `pyproject.toml` accepts the 1.16 series.
const MATURIN: &str = "maturin==1.16.0";
/// The package's name on the package index (and so for pip).
const DIST_NAME: &str = "embeddinggemma-rs";
/// pytest's exit code when it collected no tests.
const NO_TESTS_COLLECTED: i32 = 5;

/// Runs `cargo xtask python-test ARGS`.
pub(crate) fn command(root: &Path, args: &[String]) -> Result<()> {
    let started = Instant::now();
    let package = root.join("bindings/python");
    let venv = Venv::ensure(root, &package.join("tests"))?;
    step("ruff", started, || {
        // The package, and the bench's Python peers (`xtask/peers`, same rules).
        for dir in [package.clone(), root.join("xtask/peers")] {
            run(venv.tool("ruff").args(["check", "."]).current_dir(&dir))?;
            run(venv
                .tool("ruff")
                .args(["format", "--check", "."])
                .current_dir(&dir))?;
        }
        Ok(())
    })?;
    let wheel = step("wheel", started, || build_wheel(root, &venv))?;
    step("install", started, || {
        run(venv
            .python()
            .args(["-m", "pip", "uninstall", "--yes", "--quiet", DIST_NAME]))?;
        let spec = format!("{}[langchain]", wheel.display());
        run(venv
            .python()
            .args(["-m", "pip", "install", "--quiet", &spec]))
    })?;
    step("embed binary", started, || {
        crate::cargo(&["test", "--workspace", "--no-run", "--quiet"], &[])
    })?;
    step("pytest", started, || pytest(root, &venv, args))
}

/// The interpreter of the peers' venv (`target/tmp/peers-venv`, from
/// `xtask/peers/requirements.txt`: torch, sentence-transformers, ONNX Runtime).
pub(crate) fn peers_python(root: &Path) -> Result<PathBuf> {
    let requirements = root.join("xtask/peers/requirements.txt");
    let venv = Venv::ensure_at(&root.join("target/tmp/peers-venv"), &[], &[requirements])?;
    Ok(venv.dir.join("bin/python"))
}

/// The interpreter of the test venv with the package's wheel freshly built and
/// installed (what `cargo xtask bench --python` runs its Python side with).
pub(crate) fn installed_python(root: &Path) -> Result<PathBuf> {
    let venv = Venv::ensure(root, &root.join("bindings/python/tests"))?;
    let wheel = build_wheel(root, &venv)?;
    run(venv
        .python()
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--force-reinstall",
            "--no-deps",
        ])
        .arg(&wheel))?;
    Ok(venv.dir.join("bin/python"))
}

/// Runs one step, printing how long it took and the time since the command started.
fn step<T>(name: &str, started: Instant, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f().with_context(|| format!("python-test: {name} failed"))?;
    eprintln!(
        "python-test: {name} done in {:.1} s ({:.1} s in all)",
        t.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// The venv the tests run in.
struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// The venv at `target/tmp/python-venv` with maturin and the requirements in `tests`.
    fn ensure(root: &Path, tests: &Path) -> Result<Venv> {
        let requirements: Vec<PathBuf> = ["requirements.txt", "requirements-scale.txt"]
            .iter()
            .map(|f| tests.join(f))
            .filter(|p| p.is_file())
            .collect();
        Venv::ensure_at(
            &root.join("target/tmp/python-venv"),
            &[MATURIN],
            &requirements,
        )
    }

    /// The venv at `dir` with `packages` and the `requirements` files installed: reused
    /// when its stamp matches, else made anew.
    fn ensure_at(dir: &Path, packages: &[&str], requirements: &[PathBuf]) -> Result<Venv> {
        let stamp = stamp(packages, requirements)?;
        let stamp_file = dir.join("xtask-requirements.sha256");
        let venv = Venv {
            dir: dir.to_path_buf(),
        };
        if std::fs::read_to_string(&stamp_file).is_ok_and(|s| s.trim() == stamp) {
            return Ok(venv);
        }
        eprintln!("python: making the venv {}", venv.dir.display());
        if venv.dir.exists() {
            std::fs::remove_dir_all(&venv.dir)
                .with_context(|| format!("cannot remove {}", venv.dir.display()))?;
        }
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv.dir))
            .context("python3 -m venv failed (Debian: `apt-get install python3-venv`)")?;
        let mut pip = venv.python();
        pip.args(["-m", "pip", "install", "--quiet"]).args(packages);
        for r in requirements {
            pip.arg("-r").arg(r);
        }
        run(&mut pip).context("pip install failed (is the package index reachable?)")?;
        std::fs::write(&stamp_file, format!("{stamp}\n"))
            .with_context(|| format!("cannot write {}", stamp_file.display()))?;
        Ok(venv)
    }

    fn python(&self) -> Command {
        self.tool("python")
    }

    fn tool(&self, name: &str) -> Command {
        Command::new(self.dir.join("bin").join(name))
    }
}

/// The sha256 of what the venv is made from: python3's version, the packages named and
/// each requirements file's name and contents.
fn stamp(packages: &[&str], requirements: &[PathBuf]) -> Result<String> {
    let version = Command::new("python3")
        .arg("--version")
        .output()
        .context("python3 is not installed")?;
    let mut h = Sha256::new();
    h.update(&version.stdout);
    for p in packages {
        h.update(p);
    }
    for r in requirements {
        h.update(r.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(std::fs::read(r).with_context(|| format!("cannot read {}", r.display()))?);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `maturin build --release` into an emptied `target/wheels/python-test`; the wheel made.
fn build_wheel(root: &Path, venv: &Venv) -> Result<PathBuf> {
    let out = root.join("target/wheels/python-test");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    run(venv
        .tool("maturin")
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("bindings/python/Cargo.toml"))
        .arg("--out")
        .arg(&out)
        .arg("--interpreter")
        .arg(venv.dir.join("bin/python")))?;
    let wheels: Vec<PathBuf> = std::fs::read_dir(&out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    match wheels.as_slice() {
        [wheel] => Ok(wheel.clone()),
        _ => bail!("expected one wheel in {}, found {wheels:?}", out.display()),
    }
}

/// pytest over the package's tests with the model's paths and the `embed` binary.
fn pytest(root: &Path, venv: &Venv, args: &[String]) -> Result<()> {
    let package = root.join("bindings/python");
    let status = venv
        .python()
        .args(["-m", "pytest", "tests", "-p", "no:cacheprovider", "-ra"])
        .args(args)
        .current_dir(&package)
        .env(model_paths::CACHE_ENV, model_paths::cache_dir())
        .env("EMBEDDINGGEMMA_Q8_0_MODEL", model_paths::gguf("q8_0"))
        .env("EMBEDDINGGEMMA_F32_MODEL", model_paths::gguf("f32"))
        .env("EMBEDDINGGEMMA_EMBED_CLI", root.join("target/debug/embed"))
        .status()
        .context("cannot run pytest")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(NO_TESTS_COLLECTED) => bail!("pytest collected no tests"),
        _ => bail!("pytest failed ({status})"),
    }
}

/// Runs `cmd`; a failure names the command.
fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd);
    }
    Ok(())
}
