//! [`Error`]: why a command did nothing, in one line for stderr.

use std::{fmt, io, path::Path};

/// A command's failure, said in one line (`main` prints it after `error: `).
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// A failed file operation, naming the path.
    pub(crate) fn io(path: &Path, error: &io::Error) -> Self {
        Self(format!("{}: {error}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
