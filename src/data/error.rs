//! Errors of the data stage, each naming the file (and where it applies the line and column) it
//! comes from, the way `ignore::Error::WithPath` / `WithLineNumber` do in ripgrep.

use std::path::PathBuf;

/// Everything that can go wrong while reading logs, sampling them or writing a sample.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: gzip stream is truncated or corrupt ({source})")]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty (no header line)")]
    Empty { path: PathBuf },
    #[error("{path}: not a CSV file: {why}")]
    NotCsv { path: PathBuf, why: String },
    #[error("{path}: missing required column(s) {}; header was: {header}", .columns.join(", "))]
    MissingColumns {
        path: PathBuf,
        columns: Vec<&'static str>,
        header: String,
    },
    #[error(
        "{path}:{line}: column `{column}`: {problem} (use --skip-bad-rows to skip and count such rows)"
    )]
    BadField {
        path: PathBuf,
        line: u64,
        column: String,
        problem: String,
    },
    #[error("{path}:{line}: {problem} (use --skip-bad-rows to skip and count such rows)")]
    BadRow {
        path: PathBuf,
        line: u64,
        problem: String,
    },
    #[error("{path}: {problem}")]
    BadCache { path: PathBuf, problem: String },
    #[error("{path}: {problem}")]
    BadOutput { path: PathBuf, problem: String },
    #[error("no input files: {0}")]
    NoInput(String),
    #[error("invalid sampling configuration: {0}")]
    Config(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
