//! Debian packages the xtask needs (qemu and a cross toolchain, a load generator),
//! installed with apt when missing: as root directly, otherwise through sudo when it
//! needs no password.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Installs `packages` (after `dpkg --add-architecture` when `foreign_arch` is given);
/// `what` names the command that needs them in messages.
pub(crate) fn install(what: &str, packages: &[&str], foreign_arch: Option<&str>) -> Result<()> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let sudo = !root;
    let sudo_works = Command::new("sudo")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if sudo && !sudo_works {
        bail!(
            "{what} needs Debian's packages {packages:?}; run as root or with password-less \
             sudo to have them installed, or install them"
        );
    }
    eprintln!("{what}: installing {packages:?} with apt");
    let run = |args: &[&str]| -> Result<()> {
        let mut cmd = if sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive"])
                .args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]).env("DEBIAN_FRONTEND", "noninteractive");
            c
        };
        let status = cmd
            .status()
            .with_context(|| format!("cannot run {}", args[0]))?;
        if !status.success() {
            bail!("{} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    if let Some(arch) = foreign_arch {
        run(&["dpkg", "--add-architecture", arch])?;
    }
    run(&["apt-get", "update", "-q"])?;
    let mut install = vec!["apt-get", "install", "-y", "-q"];
    install.extend(packages);
    run(&install)
}
