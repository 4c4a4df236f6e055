//! ggml block formats and the kernels that compute with them.
//!
//! Work in progress: the kernels land with their own issue.
