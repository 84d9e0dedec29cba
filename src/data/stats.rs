//! The statistics of a log set or a sample: the before/after table of the reference study
//! (records, sessions, distinct songs, bytes) plus skip rates, session lengths and context types.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::ingest::Counts;
use super::schema::format_date;

/// Shares of records with each skip flag set.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SkipRates {
    pub skip_1: f64,
    pub skip_2: f64,
    pub skip_3: f64,
    pub not_skipped: f64,
}

/// Statistics of one set of logs (all the input, or a sample).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LogStats {
    pub files: usize,
    /// Bytes of the files as stored (compressed where they are gzip).
    pub bytes_on_disk: u64,
    /// Bytes of CSV text after decompression.
    pub bytes_uncompressed: u64,
    pub records: u64,
    /// Distinct session ids.
    pub sessions: u64,
    /// Distinct track ids.
    pub tracks: u64,
    pub skip_rates: SkipRates,
    /// skip_2 rate at session positions 1..=20 (position 20 also counts later ones).
    pub skip_2_by_position: Vec<f64>,
    /// Records whose skip flags contradict each other (kept, only counted).
    pub inconsistent_skips: u64,
    /// Sessions by number of rows.
    pub session_lengths: BTreeMap<u32, u64>,
    /// Records by context type.
    pub context_types: BTreeMap<String, u64>,
    /// Sessions by date (YYYY-MM-DD).
    pub session_dates: BTreeMap<String, u64>,
    /// Rows skipped by `--skip-bad-rows`, by reason.
    pub bad_rows: BTreeMap<String, u64>,
    /// Sessions not eligible for sampling, by reason, and their records.
    pub incomplete_sessions: BTreeMap<String, u64>,
    pub incomplete_records: u64,
    pub blank_lines: u64,
}

impl LogStats {
    /// Builds the statistics from merged counters and distinct-id counts.
    pub fn from_counts(
        c: &Counts,
        files: usize,
        bytes_on_disk: u64,
        bytes_uncompressed: u64,
        sessions: u64,
        tracks: u64,
    ) -> Self {
        let rate = |n: u64| {
            if c.records == 0 {
                0.0
            } else {
                n as f64 / c.records as f64
            }
        };
        LogStats {
            files,
            bytes_on_disk,
            bytes_uncompressed,
            records: c.records,
            sessions,
            tracks,
            skip_rates: SkipRates {
                skip_1: rate(c.skips[0]),
                skip_2: rate(c.skips[1]),
                skip_3: rate(c.skips[2]),
                not_skipped: rate(c.skips[3]),
            },
            skip_2_by_position: c
                .by_position
                .iter()
                .map(|[n, s2]| if *n == 0 { 0.0 } else { *s2 as f64 / *n as f64 })
                .collect(),
            inconsistent_skips: c.inconsistent_skips,
            session_lengths: c.session_rows.clone(),
            context_types: c.context_types.clone(),
            session_dates: c
                .session_dates
                .iter()
                .map(|(&d, &n)| (format_date(d), n))
                .collect(),
            bad_rows: c.bad_rows.clone(),
            incomplete_sessions: c.incomplete_sessions.clone(),
            incomplete_records: c.incomplete_records,
            blank_lines: c.blank_lines,
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A byte count in decimal units (MB = 10^6 bytes).
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// The before/after table: one line per named set of logs.
pub fn table(rows: &[(&str, &LogStats)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>6} {:>13} {:>11} {:>11} {:>12} {:>12}",
        "", "files", "records", "sessions", "songs", "bytes", "csv bytes"
    );
    for (name, s) in rows {
        let _ = writeln!(
            out,
            "{:<10} {:>6} {:>13} {:>11} {:>11} {:>12} {:>12}",
            name,
            s.files,
            thousands(s.records),
            thousands(s.sessions),
            thousands(s.tracks),
            human_bytes(s.bytes_on_disk),
            human_bytes(s.bytes_uncompressed)
        );
    }
    out
}

/// The full report of `segue stats`: the table, then rates, lengths, contexts and problems.
pub fn report(name: &str, s: &LogStats) -> String {
    let mut out = table(&[(name, s)]);
    let r = &s.skip_rates;
    let _ = writeln!(
        out,
        "\nskip rates   skip_1 {:.4}   skip_2 {:.4}   skip_3 {:.4}   not_skipped {:.4}",
        r.skip_1, r.skip_2, r.skip_3, r.not_skipped
    );
    if s.records > 0 {
        let by_pos: Vec<String> = s
            .skip_2_by_position
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect();
        let _ = writeln!(out, "skip_2 by position 1-20: {}", by_pos.join(" "));
    }
    if s.inconsistent_skips > 0 {
        let _ = writeln!(
            out,
            "             {} records with contradictory skip flags (kept)",
            thousands(s.inconsistent_skips)
        );
    }
    let total: u64 = s.session_lengths.values().sum();
    if total > 0 {
        let mean = s
            .session_lengths
            .iter()
            .map(|(&l, &n)| l as f64 * n as f64)
            .sum::<f64>()
            / total as f64;
        let _ = writeln!(out, "\nsession length (rows)   mean {mean:.2}");
        for (l, n) in &s.session_lengths {
            let share = *n as f64 / total as f64;
            let bar = "#".repeat((share * 100.0).round() as usize);
            let _ = writeln!(
                out,
                "  {l:>3}  {:>10}  {:>5.1}%  {bar}",
                thousands(*n),
                100.0 * share
            );
        }
    }
    if !s.context_types.is_empty() {
        let _ = writeln!(out, "\ncontext types (records)");
        let mut ctx: Vec<_> = s.context_types.iter().collect();
        ctx.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (c, n) in ctx {
            let _ = writeln!(
                out,
                "  {c:<24} {:>12}  {:>5.1}%",
                thousands(*n),
                100.0 * *n as f64 / s.records.max(1) as f64
            );
        }
    }
    if s.session_dates.len() > 1 {
        let (first, last) = (
            s.session_dates.keys().next(),
            s.session_dates.keys().next_back(),
        );
        if let (Some(f), Some(l)) = (first, last) {
            let _ = writeln!(out, "\ndates: {} days, {f} .. {l}", s.session_dates.len());
        }
    } else if let Some(d) = s.session_dates.keys().next() {
        let _ = writeln!(out, "\ndates: all sessions on {d}");
    }
    problems(&mut out, s);
    out
}

fn problems(out: &mut String, s: &LogStats) {
    if !s.incomplete_sessions.is_empty() {
        let n: u64 = s.incomplete_sessions.values().sum();
        let _ = writeln!(
            out,
            "\nincomplete sessions (never sampled): {} sessions, {} records",
            thousands(n),
            thousands(s.incomplete_records)
        );
        for (why, n) in &s.incomplete_sessions {
            let _ = writeln!(out, "  {:>10}  {why}", thousands(*n));
        }
    }
    if !s.bad_rows.is_empty() {
        let n: u64 = s.bad_rows.values().sum();
        let _ = writeln!(out, "\nbad rows skipped: {}", thousands(n));
        for (why, n) in &s.bad_rows {
            let _ = writeln!(out, "  {:>10}  {why}", thousands(*n));
        }
    }
    if s.blank_lines > 0 {
        let _ = writeln!(out, "\nblank lines skipped: {}", thousands(s.blank_lines));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(80_019), "80,019");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(2_207_064), "2.2 MB");
    }

    #[test]
    fn rates_of_empty_and_known_counts() {
        let empty = LogStats::from_counts(&Counts::default(), 0, 0, 0, 0, 0);
        assert_eq!(empty.skip_rates, SkipRates::default());
        let c = Counts {
            records: 4,
            skips: [1, 2, 3, 1],
            ..Default::default()
        };
        let s = LogStats::from_counts(&c, 1, 10, 20, 1, 3);
        assert_eq!(s.skip_rates.skip_2, 0.5);
        assert_eq!(s.skip_rates.not_skipped, 0.25);
    }
}
