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
    /// Input that reads well but cannot serve its purpose (logs without a complete session).
    #[error("{path}: {problem}")]
    Unusable { path: PathBuf, problem: String },
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

/// How many characters of an offending value an error message quotes.
pub const EXCERPT_CHARS: usize = 60;

/// An offending value as an error message quotes it: lossily decoded, cut after
/// [`EXCERPT_CHARS`] characters (on a character boundary, so a multi-byte character is never
/// split), and, when cut, followed by the value's full length in bytes. Values of any size
/// (a corrupt file can hold a field of many MiB) thus give a message of bounded length.
pub fn excerpt(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes in all)", &text[..cut], value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_on_character_boundaries() {
        // The reported panic: byte 60 falls inside a two-byte `é`; 41 characters are quoted
        // whole.
        let v = format!("x{}", "é".repeat(40));
        assert_eq!(v.len(), 81);
        assert_eq!(excerpt(v.as_bytes()), format!("{v:?}"));
        // Past 60 characters: the first 60, then the length.
        let v = format!("x{}", "é".repeat(100));
        let e = excerpt(v.as_bytes());
        assert_eq!(
            e,
            format!("{:?}… (201 bytes in all)", format!("x{}", "é".repeat(59)))
        );
        // Short values are quoted whole, with nothing appended.
        assert_eq!(excerpt(b"tru"), "\"tru\"");
        assert_eq!(excerpt(&[b'a'; 60]), format!("{:?}", "a".repeat(60)));
        // Invalid UTF-8 of 8 MiB gives a message of bounded size naming the length.
        let big = vec![0xFFu8; 8 << 20];
        let e = excerpt(&big);
        assert!(e.len() < 300, "{}", e.len());
        assert!(e.ends_with("(8388608 bytes in all)"), "{e}");
    }
}
