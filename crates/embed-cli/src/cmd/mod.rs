//! One module per command: its arguments (clap) and `run`.

pub mod convert;
pub mod encode;
pub mod inspect;
pub mod rank;
pub mod serve;
pub mod similarity;
pub mod tokenize;
