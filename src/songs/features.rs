//! Song vectors from official track features (`tf_*.csv`): every feature scaled to [0, 1] by a
//! rule fitted on the training split's tracks and saved with the run.
//!
//! The rules: a continuous feature (and each acoustic-vector dimension) maps its training 1st..99th
//! percentile range onto [0, 1], clipped, so a few extreme tracks (30-minute recordings, −60 dB)
//! do not squeeze everyone else into a corner; `mode` is 1 for major, 0 for minor; `key` (a pitch
//! class on a circle, where B is next to C) becomes two coordinates, (1 + cos)/2 and (1 + sin)/2
//! of 2π·key/12; `time_signature` uses the percentile rule like any number.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::csv::for_each_record;
use crate::data::error::{DataError, Result, excerpt};

/// How one input column becomes output dimensions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// `(x − lo) / (hi − lo)` clipped to [0, 1]; `lo`, `hi` are the training 1st and 99th
    /// percentiles (a constant column maps to 0.5).
    Percentile { column: String, lo: f64, hi: f64 },
    /// 1 for `major`, 0 otherwise.
    Mode { column: String },
    /// Two dimensions: (1 + cos 2πk/12)/2 and (1 + sin 2πk/12)/2.
    Circular { column: String, period: f64 },
}

/// The fitted scaling of a track-feature schema.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scaling {
    pub rules: Vec<Rule>,
}

impl Scaling {
    /// Output dimension names.
    pub fn names(&self) -> Vec<String> {
        self.rules
            .iter()
            .flat_map(|r| match r {
                Rule::Percentile { column, .. } | Rule::Mode { column } => vec![column.clone()],
                Rule::Circular { column, .. } => {
                    vec![format!("{column}_cos"), format!("{column}_sin")]
                }
            })
            .collect()
    }

    pub fn dim(&self) -> usize {
        self.names().len()
    }

    /// Scales one raw row (the values of the rules' columns, in rule order).
    pub fn apply(&self, raw: &[RawValue], out: &mut Vec<f32>) {
        for (r, v) in self.rules.iter().zip(raw) {
            match (r, v) {
                (Rule::Percentile { lo, hi, .. }, RawValue::Num(x)) => {
                    let s = if hi > lo {
                        ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
                    } else {
                        0.5
                    };
                    out.push(s as f32);
                }
                (Rule::Mode { .. }, RawValue::Major(m)) => out.push(if *m { 1.0 } else { 0.0 }),
                (Rule::Circular { period, .. }, RawValue::Num(k)) => {
                    let a = std::f64::consts::TAU * k / period;
                    out.push(((1.0 + a.cos()) / 2.0) as f32);
                    out.push(((1.0 + a.sin()) / 2.0) as f32);
                }
                _ => out.push(0.5),
            }
        }
    }
}

/// A track-features table: the column names and one row of raw values per track.
pub type TrackTable = (Vec<String>, Vec<Vec<RawValue>>);

/// A parsed feature value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RawValue {
    Num(f64),
    Major(bool),
}

/// The track-feature table: for each track id, its raw values in the order of `columns`.
pub struct RawFeatures {
    pub columns: Vec<String>,
    pub rows: HashMap<String, Vec<RawValue>>,
}

/// Reads track-feature CSV files (any column order; every column but `track_id` is a feature).
pub fn read(files: &[std::path::PathBuf]) -> Result<RawFeatures> {
    let mut columns: Vec<String> = Vec::new();
    let mut rows = HashMap::new();
    for path in files {
        let mut order: Vec<usize> = Vec::new();
        let mut id_col = 0;
        let mut width = 0;
        for_each_record(path, None, |line, rec| {
            if order.is_empty() && width == 0 {
                let (names, id) = crate::data::tracks::read_header(path, rec)?;
                id_col = id;
                if columns.is_empty() {
                    columns = names.iter().filter(|n| *n != "track_id").cloned().collect();
                }
                order = columns
                    .iter()
                    .map(|c| names.iter().position(|n| n == c))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| DataError::NotCsv {
                        path: path.clone(),
                        why: "its columns differ from the first track-feature file's".into(),
                    })?;
                width = names.len();
                return Ok(());
            }
            if rec.len() != width {
                return Err(DataError::BadRow {
                    path: path.clone(),
                    line,
                    problem: format!("expected {width} fields, found {}", rec.len()),
                });
            }
            let mut vals = Vec::with_capacity(order.len());
            for (k, &i) in order.iter().enumerate() {
                let f = rec.get(i);
                let v = if columns[k] == "mode" {
                    RawValue::Major(f.eq_ignore_ascii_case(b"major") || f == b"1")
                } else {
                    let s = std::str::from_utf8(f).unwrap_or("");
                    match s.trim().parse::<f64>() {
                        Ok(x) if x.is_finite() => RawValue::Num(x),
                        _ => {
                            return Err(DataError::BadField {
                                path: path.clone(),
                                line,
                                column: columns[k].clone(),
                                problem: format!("not a finite number ({})", excerpt(f)),
                            });
                        }
                    }
                };
                vals.push(v);
            }
            rows.insert(String::from_utf8_lossy(rec.get(id_col)).into_owned(), vals);
            Ok(())
        })?;
    }
    if columns.is_empty() {
        return Err(DataError::NoInput("no track-feature rows".into()));
    }
    Ok(RawFeatures { columns, rows })
}

/// Fits the scaling on the raw rows of the training tracks.
pub fn fit(columns: &[String], training: &[&[RawValue]]) -> Scaling {
    let rules = columns
        .iter()
        .enumerate()
        .map(|(k, c)| match c.as_str() {
            "mode" => Rule::Mode { column: c.clone() },
            "key" => Rule::Circular {
                column: c.clone(),
                period: 12.0,
            },
            _ => {
                let mut xs: Vec<f64> = training
                    .iter()
                    .filter_map(|r| match r.get(k) {
                        Some(RawValue::Num(x)) if x.is_finite() => Some(*x),
                        _ => None,
                    })
                    .collect();
                xs.sort_by(f64::total_cmp);
                let q = |p: f64| {
                    if xs.is_empty() {
                        0.0
                    } else {
                        xs[((xs.len() - 1) as f64 * p).round() as usize]
                    }
                };
                Rule::Percentile {
                    column: c.clone(),
                    lo: q(0.01),
                    hi: q(0.99),
                }
            }
        })
        .collect();
    Scaling { rules }
}

/// Whether `dir` holds the sample's track features.
pub fn sample_features(dir: &Path) -> Option<std::path::PathBuf> {
    let p = dir.join(crate::data::run::files::TRACK_FEATURES);
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_hand() {
        let s = Scaling {
            rules: vec![
                Rule::Percentile {
                    column: "energy".into(),
                    lo: 0.2,
                    hi: 0.6,
                },
                Rule::Mode {
                    column: "mode".into(),
                },
                Rule::Circular {
                    column: "key".into(),
                    period: 12.0,
                },
            ],
        };
        assert_eq!(s.names(), ["energy", "mode", "key_cos", "key_sin"]);
        let mut out = Vec::new();
        s.apply(
            &[
                RawValue::Num(0.5),
                RawValue::Major(true),
                RawValue::Num(3.0),
            ],
            &mut out,
        );
        // (0.5 − 0.2)/0.4 = 0.75; key 3 is a quarter turn: cos 0 → 0.5, sin 1 → 1.
        assert!((out[0] - 0.75).abs() < 1e-6);
        assert_eq!(out[1], 1.0);
        assert!((out[2] - 0.5).abs() < 1e-6 && (out[3] - 1.0).abs() < 1e-6);
        out.clear();
        // Clipped, and key 11 sits next to key 0.
        s.apply(
            &[
                RawValue::Num(9.0),
                RawValue::Major(false),
                RawValue::Num(11.0),
            ],
            &mut out,
        );
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 0.0);
        let mut k0 = Vec::new();
        s.apply(
            &[
                RawValue::Num(0.0),
                RawValue::Major(false),
                RawValue::Num(0.0),
            ],
            &mut k0,
        );
        let d11_0 = (out[2] - k0[2]).powi(2) + (out[3] - k0[3]).powi(2);
        let mut k6 = Vec::new();
        s.apply(
            &[
                RawValue::Num(0.0),
                RawValue::Major(false),
                RawValue::Num(6.0),
            ],
            &mut k6,
        );
        let d6_0 = (k6[2] - k0[2]).powi(2) + (k6[3] - k0[3]).powi(2);
        assert!(d11_0 < d6_0 / 10.0);
    }

    #[test]
    fn fitted_on_percentiles() {
        let cols = vec!["x".to_string(), "mode".to_string()];
        let rows: Vec<Vec<RawValue>> = (0..=100)
            .map(|i| vec![RawValue::Num(i as f64), RawValue::Major(i % 2 == 0)])
            .collect();
        let refs: Vec<&[RawValue]> = rows.iter().map(|r| r.as_slice()).collect();
        let s = fit(&cols, &refs);
        assert_eq!(
            s.rules[0],
            Rule::Percentile {
                column: "x".into(),
                lo: 1.0,
                hi: 99.0
            }
        );
        assert_eq!(
            s.rules[1],
            Rule::Mode {
                column: "mode".into()
            }
        );
    }
}
