//! Reading TOML run configs with errors a person can act on: the file, the line, the table and
//! the key, and for a misspelt key the closest one the table knows (`did you mean …?`). Every
//! config struct refuses unknown keys (`deny_unknown_fields`), so a typo never passes silently.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Parse {
        path: PathBuf,
        /// 1-based line of the offending key or table (0 when the parser gave no place).
        line: usize,
        problem: String,
    },
}

/// Reads and parses the TOML file at `path`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses `text` (read from `path`, which errors name).
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let start = e.span().map(|s| s.start.min(text.len()));
        let line = start.map_or(0, |s| text[..s].matches('\n').count() + 1);
        let message = e.message().trim().to_string();
        let problem = match (unknown_field(&message), start) {
            (Some((key, expected)), Some(s)) => {
                let hint = closest(&key, &expected)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                let known = expected.join(", ");
                let line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
                if text[line_start..].trim_start().starts_with('[') {
                    format!("unknown table [{key}]{hint}; the tables are {known}")
                } else {
                    let table = table_at(text, s)
                        .map(|t| format!("[{t}]"))
                        .unwrap_or_else(|| "the top level".into());
                    format!("unknown key `{key}` in {table}{hint}; its keys are {known}")
                }
            }
            _ => message,
        };
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            problem,
        }
    })
}

/// The key and the expected keys of serde's "unknown field `x`, expected one of `a`, `b`".
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((key.to_owned(), expected))
}

/// The name of the `[table]` whose body holds byte `at` of `text`.
fn table_at(text: &str, at: usize) -> Option<String> {
    text[..at].lines().rev().find_map(|l| {
        let l = l.trim();
        let name = l.strip_prefix('[')?.trim_start_matches('[');
        let end = name.find(']')?;
        Some(name[..end].trim().to_owned())
    })
}

/// The candidate closest to `key` by edit distance, if it is close enough to be a misspelling
/// (at most a third of the key's length, and at least one edit allowed).
fn closest<'a>(key: &str, candidates: &'a [String]) -> Option<&'a str> {
    let limit = (key.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(key, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c.as_str())
}

/// Edit distance over characters counting insertions, deletions, substitutions and swaps of
/// two neighbours as one edit each (optimal string alignment), since swapped letters are the
/// commonest typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = (a[i - 1] != b[j - 1]) as usize;
            let mut best = (d[i - 1][j - 1] + cost)
                .min(d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Agent {
        rounds: usize,
        batch: usize,
    }

    #[derive(Debug, serde::Deserialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Run {
        agent: Agent,
        sample: Agent,
    }

    fn error(text: &str) -> String {
        parse::<Run>(Path::new("run.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn edit_distances_by_hand() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("rounds", "rounds"), 0);
        // kitten → sitting: two substitutions and an insertion.
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        // A swap of neighbours is one edit.
        assert_eq!(edit_distance("ronuds", "rounds"), 1);
        assert_eq!(edit_distance("bacth", "batch"), 1);
        assert_eq!(edit_distance("agnet", ""), 5);
    }

    #[test]
    fn unknown_keys_and_tables_are_named_with_a_suggestion() {
        let ok: Run = parse(Path::new("run.toml"), "[agent]\nrounds = 3\n").unwrap();
        assert_eq!(ok.agent.rounds, 3);
        assert_eq!(
            error("[sample]\nbatch = 1\n\n[agent]\nrounds = 3\nbacth = 64\n"),
            "run.toml:6: unknown key `bacth` in [agent] (did you mean `batch`?); its keys are rounds, batch"
        );
        assert_eq!(
            error("[agnet]\nrounds = 3\n"),
            "run.toml:1: unknown table [agnet] (did you mean `agent`?); the tables are agent, sample"
        );
        // Nothing close: no suggestion.
        assert_eq!(
            error("[agent]\nlearning_rate = 0.1\n"),
            "run.toml:2: unknown key `learning_rate` in [agent]; its keys are rounds, batch"
        );
        // Other errors keep the parser's message, with the place.
        let e = error("[agent]\nrounds = \"three\"\n");
        assert!(e.starts_with("run.toml:2: "), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }
}
