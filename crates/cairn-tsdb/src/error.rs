//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the store. Messages name the file, label or value
/// at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's contents are not what the store wrote (bad checksum, bad structure).
    #[error("corrupt data in {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, or a name appears twice.
    #[error("invalid label {name:?}: {reason}")]
    InvalidLabel { name: String, reason: String },
    /// A matcher's regular expression does not compile.
    #[error("invalid matcher for label {name:?} with value {value:?}: {reason}")]
    InvalidMatcher {
        name: String,
        value: String,
        reason: String,
    },
    /// Another process or another open [`crate::Tsdb`] holds the directory.
    #[error("database directory {0} is locked by another process or open instance")]
    Locked(PathBuf),
    /// A configured limit (such as `max_head_series`) would be exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A [`crate::queue::DiskQueue`] holds more unsent bytes than it may.
    #[error("the queue is full: {pending} bytes wait, the limit is {limit}")]
    QueueFull { pending: u64, limit: u64 },
    /// An [`crate::Options`] field is out of range.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Attaches a path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, Error>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, Error> {
        self.map_err(|e| Error::io(path, e))
    }
}
