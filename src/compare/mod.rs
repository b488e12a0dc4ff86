//! Predicted vs measured: join the experiment's rows to a measured dataset and compute errors
//! (the experiment's `compare` block, for the report); and the cross-tool comparison of any
//! number of datasets against one reference (`outrun compare`: [`decl`] → [`cross`] →
//! [`render`]). Both use the same [`stats`].
//!
//! "The tool predicted X, we measured Y": per row the signed percentage error
//! (X − Y) / Y, and per group the mean, median and maximum absolute percentage error.
//!
//! The measured side is small (a file of measurements) and is held; result rows stream through
//! [`Joiner::feed`] one at a time, so only joined rows are kept — at most as many as the
//! measurements they match. A measured value of 0 has no percentage error: such a row is
//! reported as joined with its error undefined, not as unmatched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::experiment::Compare;
use crate::outputs::Row;

pub mod cross;
pub mod decl;
pub mod render;
pub mod stats;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot read the measured file {}: {source}", path.display())]
    Read { path: PathBuf, source: csv::Error },
    // The io error is part of the message, not a `source`: miette would print it twice.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A comparison declaration with every problem found in it, each with its position.
    #[error(transparent)]
    Invalid(Box<crate::experiment::InvalidFile>),
    #[error("writing the comparison: {0}")]
    Output(String),
    #[error(transparent)]
    Write(#[from] crate::fsutil::FsError),
}

/// Rendered by miette at the edge, as experiment files are: the text with the problems
/// underlined.
impl miette::Diagnostic for CompareError {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self {
            CompareError::Invalid(f) => f.source_code(),
            _ => None,
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        match self {
            CompareError::Invalid(f) => f.labels(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CompareRow {
    /// The join columns' values, in `on` order.
    pub key: Vec<String>,
    pub group: String,
    pub predicted: f64,
    pub measured: f64,
    /// (predicted − measured) / measured × 100; `None` when the measured value is 0.
    pub error_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupStats {
    /// `dtype=float16`, or `all`.
    pub group: String,
    pub rows: usize,
    pub mape_pct: f64,
    pub median_ape_pct: f64,
    pub max_ape_pct: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub measured: String,
    pub on: Vec<String>,
    pub predicted_column: String,
    pub actual_column: String,
    pub rows: Vec<CompareRow>,
    pub groups: Vec<GroupStats>,
    /// Result rows with no measurement to compare with (or a non-numeric value).
    pub unmatched: usize,
    /// Joined rows whose measured value is 0: the percentage error is undefined (not in the
    /// statistics, shown per row).
    pub error_undefined: usize,
}

/// `8`, `8.0` and ` 8` join as the same value.
pub(crate) fn norm(v: &str) -> String {
    let t = v.trim();
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        _ => t.to_string(),
    }
}

/// Joins result rows to the measurements as they stream by.
pub struct Joiner<'a> {
    spec: &'a Compare,
    measured: HashMap<Vec<String>, f64>,
    rows: Vec<CompareRow>,
    unmatched: usize,
}

impl<'a> Joiner<'a> {
    /// Reads the measured file (the small side of the join).
    pub fn new(root: &Path, spec: &'a Compare) -> Result<Joiner<'a>, CompareError> {
        let path = root.join(&spec.measured);
        let err = |source| CompareError::Read {
            path: path.clone(),
            source,
        };
        let mut r = csv::Reader::from_path(&path).map_err(err)?;
        let header: Vec<String> = r
            .headers()
            .map_err(err)?
            .iter()
            .map(str::to_string)
            .collect();
        let col = |name: &str| header.iter().position(|h| h == name);
        let on_idx: Vec<Option<usize>> = spec.on.iter().map(|c| col(c)).collect();
        let actual_idx = col(&spec.actual);
        let mut measured: HashMap<Vec<String>, f64> = HashMap::new();
        for rec in r.records() {
            let rec = rec.map_err(err)?;
            let key: Option<Vec<String>> = on_idx
                .iter()
                .map(|i| i.and_then(|i| rec.get(i)).map(norm))
                .collect();
            let val = actual_idx
                .and_then(|i| rec.get(i))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite());
            if let (Some(k), Some(v)) = (key, val) {
                measured.entry(k).or_insert(v);
            }
        }
        Ok(Joiner {
            spec,
            measured,
            rows: Vec::new(),
            unmatched: 0,
        })
    }

    /// One result row (the newest of its key).
    pub fn feed(&mut self, row: &Row) {
        self.feed_with(|c| row.get(c).map(String::as_str));
    }

    /// One result row, read through `get` (so a streamed row need not become a map).
    pub fn feed_with<'r>(&mut self, get: impl Fn(&str) -> Option<&'r str>) {
        let spec = self.spec;
        let key: Vec<String> = spec.on.iter().map(|c| norm(get(c).unwrap_or(""))).collect();
        let pred = get(&spec.predicted)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|p| p.is_finite());
        match (pred, self.measured.get(&key)) {
            (Some(p), Some(&m)) => {
                let group = spec
                    .group_by
                    .iter()
                    .map(|g| format!("{g}={}", get(g).unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ");
                let error_pct = (m != 0.0).then(|| (p - m) / m * 100.0);
                self.rows.push(CompareRow {
                    key,
                    group,
                    predicted: p,
                    measured: m,
                    error_pct,
                });
            }
            _ => self.unmatched += 1,
        }
    }

    pub fn finish(self) -> Comparison {
        let spec = self.spec;
        let out = self.rows;
        let mut groups = Vec::new();
        if !spec.group_by.is_empty() {
            let mut by: std::collections::BTreeMap<&str, Vec<f64>> =
                std::collections::BTreeMap::new();
            for r in &out {
                let e = by.entry(r.group.as_str()).or_default();
                if let Some(x) = r.error_pct {
                    e.push(x.abs());
                }
            }
            let mut names: Vec<(&str, Vec<f64>)> = by.into_iter().collect();
            names.sort_by(|a, b| crate::dataset::compare_values(a.0, b.0));
            for (g, errs) in names {
                groups.push(stats(g.to_string(), errs));
            }
        }
        if !out.is_empty() {
            groups.push(stats(
                "all".into(),
                out.iter()
                    .filter_map(|r| r.error_pct)
                    .map(f64::abs)
                    .collect(),
            ));
        }
        Comparison {
            measured: spec.measured.clone(),
            on: spec.on.clone(),
            predicted_column: spec.predicted.clone(),
            actual_column: spec.actual.clone(),
            error_undefined: out.iter().filter(|r| r.error_pct.is_none()).count(),
            rows: out,
            groups,
            unmatched: self.unmatched,
        }
    }
}

/// The comparison of `rows` (all in memory) with the measurements.
pub fn compare(root: &Path, spec: &Compare, rows: &[Row]) -> Result<Comparison, CompareError> {
    let mut j = Joiner::new(root, spec)?;
    for r in rows {
        j.feed(r);
    }
    Ok(j.finish())
}

fn stats(group: String, ape: Vec<f64>) -> GroupStats {
    let s = stats::ape_summary(&ape);
    GroupStats {
        group,
        rows: s.rows,
        mape_pct: s.mape_pct,
        median_ape_pct: s.median_ape_pct,
        max_ape_pct: s.max_ape_pct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_by_hand() {
        let s = stats("g".into(), vec![10.0, 30.0, 20.0, 40.0]);
        assert_eq!(
            (s.rows, s.mape_pct, s.median_ape_pct, s.max_ape_pct),
            (4, 25.0, 25.0, 40.0)
        );
        let s = stats("g".into(), vec![5.0, 1.0, 3.0]);
        assert_eq!(
            (s.mape_pct, s.median_ape_pct, s.max_ape_pct),
            (3.0, 3.0, 5.0)
        );
        assert_eq!(norm(" 8.0"), "8");
        assert_eq!(norm("float16"), "float16");
    }

    #[test]
    fn a_measured_zero_is_an_undefined_error_not_unmatched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.csv"), "n,t\n1,0\n2,10\n").unwrap();
        let spec = Compare {
            measured: "m.csv".into(),
            on: vec!["n".into()],
            predicted: "p".into(),
            actual: "t".into(),
            group_by: Vec::new(),
        };
        let row = |n: &str, p: &str| -> Row {
            [
                ("n".to_string(), n.to_string()),
                ("p".to_string(), p.to_string()),
            ]
            .into_iter()
            .collect()
        };
        let c = compare(
            dir.path(),
            &spec,
            &[row("1", "3"), row("2", "12"), row("3", "1")],
        )
        .unwrap();
        assert_eq!((c.rows.len(), c.error_undefined, c.unmatched), (2, 1, 1));
        assert_eq!(c.rows[0].error_pct, None);
        assert_eq!(c.rows[1].error_pct, Some(20.0));
        // The statistics are over the defined errors only.
        assert_eq!((c.groups[0].rows, c.groups[0].mape_pct), (1, 20.0));
    }
}
