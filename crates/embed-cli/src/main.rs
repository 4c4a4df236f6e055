//! The `embed` command.
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    anyhow::bail!("embed: not built yet; see the embed-cli issue")
}
