//! The library's errors as Python exceptions: bad input or options are `ValueError`, a
//! file that cannot be read or is not the model is `OSError` (with its errno when an
//! i/o error is behind it, so a missing file is `FileNotFoundError`).

use std::error::Error as _;

use gemma_encoder::{Error, ErrorKind};
use pyo3::PyErr;
use pyo3::exceptions::{PyOSError, PyValueError};

/// `e` as the exception Python code expects, with the library's message and its causes.
pub(crate) fn to_py(e: &Error) -> PyErr {
    let message = chain(e);
    match e.kind() {
        ErrorKind::Input => PyValueError::new_err(message),
        _ => match errno(e) {
            Some(errno) => PyOSError::new_err((errno, message)),
            None => PyOSError::new_err(message),
        },
    }
}

/// The message and every cause's, joined by `": "` (each level states only its own part).
fn chain(e: &Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

/// The OS error number of the first i/o error among the causes.
fn errno(e: &Error) -> Option<i32> {
    let mut cause = e.source();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io.raw_os_error();
        }
        cause = c.source();
    }
    None
}
