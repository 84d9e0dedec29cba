//! The MSSD session-log schema: the 21 official columns, the typed row, and the parsers of each
//! field (booleans in any case or as 0/1, ISO dates, bounded integers).

use super::error::excerpt;

/// The official columns of an MSSD `log_*.csv` file, in the official order.
pub const COLUMNS: [&str; 21] = [
    "session_id",
    "session_position",
    "session_length",
    "track_id_clean",
    "skip_1",
    "skip_2",
    "skip_3",
    "not_skipped",
    "context_switch",
    "no_pause_before_play",
    "short_pause_before_play",
    "long_pause_before_play",
    "hist_user_behavior_n_seekfwd",
    "hist_user_behavior_n_seekback",
    "hist_user_behavior_is_shuffle",
    "hour_of_day",
    "date",
    "premium",
    "context_type",
    "hist_user_behavior_reason_start",
    "hist_user_behavior_reason_end",
];

/// Index of each official column in [`COLUMNS`].
pub mod col {
    pub const SESSION_ID: usize = 0;
    pub const POSITION: usize = 1;
    pub const LENGTH: usize = 2;
    pub const TRACK_ID: usize = 3;
    /// skip_1 .. long_pause_before_play are the eight flag columns 4..=11.
    pub const FIRST_FLAG: usize = 4;
    pub const SEEKFWD: usize = 12;
    pub const SEEKBACK: usize = 13;
    pub const SHUFFLE: usize = 14;
    pub const HOUR: usize = 15;
    pub const DATE: usize = 16;
    pub const PREMIUM: usize = 17;
    pub const CONTEXT_TYPE: usize = 18;
    pub const REASON_START: usize = 19;
    pub const REASON_END: usize = 20;
}

/// Bit flags of one playback: the four skip levels, context switch, pauses, shuffle and premium.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u16);

impl Flags {
    pub const SKIP_1: u16 = 1 << 0;
    pub const SKIP_2: u16 = 1 << 1;
    pub const SKIP_3: u16 = 1 << 2;
    pub const NOT_SKIPPED: u16 = 1 << 3;
    pub const CONTEXT_SWITCH: u16 = 1 << 4;
    pub const NO_PAUSE: u16 = 1 << 5;
    pub const SHORT_PAUSE: u16 = 1 << 6;
    pub const LONG_PAUSE: u16 = 1 << 7;
    pub const SHUFFLE: u16 = 1 << 8;
    pub const PREMIUM: u16 = 1 << 9;

    /// The flag bit of official column `c` (a boolean column), in [`COLUMNS`] order.
    pub fn bit_of_column(c: usize) -> u16 {
        match c {
            4..=11 => 1 << (c - col::FIRST_FLAG),
            col::SHUFFLE => Self::SHUFFLE,
            col::PREMIUM => Self::PREMIUM,
            _ => 0,
        }
    }

    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }

    /// skip_1 ⇒ skip_2 ⇒ skip_3, and not_skipped excludes skip_3. A row with no flag at all
    /// (about 2% of the real logs: played past the skip_3 mark but not to the end) is consistent.
    pub fn skips_consistent(self) -> bool {
        let (s1, s2, s3, ns) = (
            self.has(Self::SKIP_1),
            self.has(Self::SKIP_2),
            self.has(Self::SKIP_3),
            self.has(Self::NOT_SKIPPED),
        );
        (!s1 || s2) && (!s2 || s3) && !(ns && s3)
    }

    /// The four-level response: 0 = skip_1 (very brief), 1 = skip_2 (brief), 2 = skip_3 (mostly
    /// played), 3 = not_skipped (played in full). The earliest skip flag set decides.
    pub fn response_level(self) -> u8 {
        if self.has(Self::SKIP_1) {
            0
        } else if self.has(Self::SKIP_2) {
            1
        } else if self.has(Self::SKIP_3) {
            2
        } else {
            3
        }
    }
}

/// One playback of a sample, with its strings interned in the owning [`super::Sample`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Index into the sample's track table.
    pub track: u32,
    pub position: u16,
    pub length: u16,
    pub flags: Flags,
    pub n_seekfwd: u16,
    pub n_seekback: u16,
    pub hour: u8,
    /// Days since 1970-01-01.
    pub date: i32,
    /// Indexes into the sample's dictionaries.
    pub context_type: u16,
    pub reason_start: u16,
    pub reason_end: u16,
}

/// A row as parsed from a line, borrowing its strings from the line.
#[derive(Clone, Copy, Debug)]
pub struct RawRow<'a> {
    pub session_id: &'a [u8],
    pub position: u16,
    pub length: u16,
    pub track_id: &'a [u8],
    pub flags: Flags,
    pub n_seekfwd: u16,
    pub n_seekback: u16,
    pub hour: u8,
    pub date: i32,
    pub context_type: &'a [u8],
    pub reason_start: &'a [u8],
    pub reason_end: &'a [u8],
}

/// Why a field could not be parsed: the column, a human description and the value as an error
/// quotes it ([`excerpt`]: bounded, cut on a character boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub column: usize,
    pub problem: &'static str,
    pub value: String,
}

impl FieldError {
    pub fn new(column: usize, problem: &'static str, value: &[u8]) -> Self {
        FieldError {
            column,
            problem,
            value: excerpt(value),
        }
    }

    /// The counting key of `--skip-bad-rows`: column and problem, without the value.
    pub fn reason(&self) -> String {
        format!("{}: {}", COLUMNS[self.column], self.problem)
    }
}

/// Parses a boolean spelled `true/false` in any case, or `1/0`.
pub fn parse_bool(v: &[u8]) -> Option<bool> {
    match v {
        b"1" => Some(true),
        b"0" => Some(false),
        _ if v.eq_ignore_ascii_case(b"true") => Some(true),
        _ if v.eq_ignore_ascii_case(b"false") => Some(false),
        _ => None,
    }
}

/// Parses an unsigned decimal integer (no sign, no spaces) that fits in `max`.
pub fn parse_uint(v: &[u8], max: u64) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + d as u64;
    }
    (n <= max).then_some(n)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe as u32 * 365 + yoe as u32 / 4 - yoe as u32 / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe as i32 + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01, checking the calendar.
pub fn parse_date(v: &[u8]) -> Option<i32> {
    if v.len() != 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let y = parse_uint(&v[0..4], 9999)? as i32;
    let m = parse_uint(&v[5..7], 12)? as u32;
    let d = parse_uint(&v[8..10], 31)? as u32;
    if m == 0 || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Formats days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses one record whose fields are given in official column order.
pub fn parse_row<'a>(f: &[&'a [u8]; 21]) -> Result<RawRow<'a>, FieldError> {
    let uint = |c: usize, max: u64| {
        parse_uint(f[c], max).ok_or_else(|| {
            FieldError::new(
                c,
                if max == u16::MAX as u64 {
                    "not a non-negative integer below 65536"
                } else {
                    "not an integer in range"
                },
                f[c],
            )
        })
    };
    let nonempty = |c: usize| {
        if f[c].is_empty() {
            Err(FieldError::new(c, "empty", f[c]))
        } else {
            Ok(f[c])
        }
    };
    let mut flags = 0u16;
    for c in (col::FIRST_FLAG..=11).chain([col::SHUFFLE, col::PREMIUM]) {
        match parse_bool(f[c]) {
            Some(true) => flags |= Flags::bit_of_column(c),
            Some(false) => {}
            None => return Err(FieldError::new(c, "not a boolean", f[c])),
        }
    }
    let position = uint(col::POSITION, u16::MAX as u64)? as u16;
    let length = uint(col::LENGTH, u16::MAX as u64)? as u16;
    if position == 0 {
        return Err(FieldError::new(
            col::POSITION,
            "positions start at 1",
            f[col::POSITION],
        ));
    }
    Ok(RawRow {
        session_id: nonempty(col::SESSION_ID)?,
        position,
        length,
        track_id: nonempty(col::TRACK_ID)?,
        flags: Flags(flags),
        n_seekfwd: uint(col::SEEKFWD, u16::MAX as u64)? as u16,
        n_seekback: uint(col::SEEKBACK, u16::MAX as u64)? as u16,
        hour: uint(col::HOUR, 23)? as u8,
        date: parse_date(f[col::DATE])
            .ok_or_else(|| FieldError::new(col::DATE, "not a YYYY-MM-DD date", f[col::DATE]))?,
        context_type: f[col::CONTEXT_TYPE],
        reason_start: f[col::REASON_START],
        reason_end: f[col::REASON_END],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_every_spelling() {
        for (s, v) in [("true", true), ("True", true), ("TRUE", true), ("1", true)] {
            assert_eq!(parse_bool(s.as_bytes()), Some(v), "{s}");
        }
        for (s, v) in [("false", false), ("False", false), ("0", false)] {
            assert_eq!(parse_bool(s.as_bytes()), Some(v), "{s}");
        }
        for s in ["", "yes", "t", "2", "truee"] {
            assert_eq!(parse_bool(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn integers_are_bounded() {
        assert_eq!(parse_uint(b"0", 10), Some(0));
        assert_eq!(parse_uint(b"23", 23), Some(23));
        assert_eq!(parse_uint(b"24", 23), None);
        assert_eq!(parse_uint(b"-1", 23), None);
        assert_eq!(parse_uint(b"1.5", 23), None);
        assert_eq!(parse_uint(b"", 23), None);
        assert_eq!(parse_uint(b"99999999999999999999", u64::MAX), None);
    }

    #[test]
    fn dates_round_trip_and_are_checked() {
        // 2018-07-15 is day 17,727 after the Unix epoch (date -d 2018-07-15 +%s / 86400).
        assert_eq!(parse_date(b"2018-07-15"), Some(17_727));
        assert_eq!(parse_date(b"1970-01-01"), Some(0));
        assert_eq!(parse_date(b"2000-02-29"), Some(11_016));
        assert_eq!(parse_date(b"2018-02-29"), None);
        assert_eq!(parse_date(b"2018-13-01"), None);
        assert_eq!(parse_date(b"2018/07/15"), None);
        for d in [-200_000, -1, 0, 17_727, 60_000] {
            let s = format_date(d);
            assert_eq!(parse_date(s.as_bytes()), Some(d), "{s}");
        }
    }

    #[test]
    fn response_levels_and_consistency() {
        let f = |bits| Flags(bits);
        assert_eq!(f(Flags::NOT_SKIPPED).response_level(), 3);
        assert!(f(Flags::NOT_SKIPPED).skips_consistent());
        let s1 = Flags::SKIP_1 | Flags::SKIP_2 | Flags::SKIP_3;
        assert_eq!(f(s1).response_level(), 0);
        assert!(f(s1).skips_consistent());
        assert_eq!(f(Flags::SKIP_2 | Flags::SKIP_3).response_level(), 1);
        assert_eq!(f(Flags::SKIP_3).response_level(), 2);
        assert!(!f(Flags::SKIP_1).skips_consistent());
        assert!(!f(Flags::SKIP_3 | Flags::NOT_SKIPPED).skips_consistent());
        assert!(f(0).skips_consistent());
        assert_eq!(f(0).response_level(), 3);
    }
}
