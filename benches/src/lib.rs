//! Shared helpers for the workspace's end-to-end benches.
