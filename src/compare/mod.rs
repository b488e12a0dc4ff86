//! Predicted vs measured: join the experiment's rows to a measured dataset and compute errors.
//!
//! "The tool predicted X, we measured Y": per row the signed percentage error
//! (X − Y) / Y, and per group the mean, median and maximum absolute percentage error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::collect::Row;
use crate::spec::Compare;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot read the measured file {}: {source}", path.display())]
    Read { path: PathBuf, source: csv::Error },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CompareRow {
    /// The join columns' values, in `on` order.
    pub key: Vec<String>,
    pub group: String,
    pub predicted: f64,
    pub measured: f64,
    /// (predicted − measured) / measured × 100.
    pub error_pct: f64,
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
}

/// `8`, `8.0` and ` 8` join as the same value.
fn norm(v: &str) -> String {
    let t = v.trim();
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        _ => t.to_string(),
    }
}

pub fn compare(root: &Path, spec: &Compare, rows: &[Row]) -> Result<Comparison, CompareError> {
    let path = root.join(&spec.measured);
    let err = |source| CompareError::Read { path: path.clone(), source };
    let mut r = csv::Reader::from_path(&path).map_err(err)?;
    let header: Vec<String> = r.headers().map_err(err)?.iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let on_idx: Vec<Option<usize>> = spec.on.iter().map(|c| col(c)).collect();
    let actual_idx = col(&spec.actual);
    let mut measured: HashMap<Vec<String>, f64> = HashMap::new();
    for rec in r.records() {
        let rec = rec.map_err(err)?;
        let key: Option<Vec<String>> = on_idx.iter().map(|i| i.and_then(|i| rec.get(i)).map(norm)).collect();
        let val = actual_idx.and_then(|i| rec.get(i)).and_then(|v| v.trim().parse::<f64>().ok());
        if let (Some(k), Some(v)) = (key, val) {
            measured.entry(k).or_insert(v);
        }
    }

    let mut out = Vec::new();
    let mut unmatched = 0;
    for row in rows {
        let key: Vec<String> = spec.on.iter().map(|c| norm(row.get(c).map(String::as_str).unwrap_or(""))).collect();
        let pred = row.get(&spec.predicted).and_then(|v| v.trim().parse::<f64>().ok());
        match (pred, measured.get(&key)) {
            (Some(p), Some(&m)) if m != 0.0 && p.is_finite() => {
                let group = spec
                    .group_by
                    .iter()
                    .map(|g| format!("{g}={}", row.get(g).map(String::as_str).unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(CompareRow { key, group, predicted: p, measured: m, error_pct: (p - m) / m * 100.0 });
            }
            _ => unmatched += 1,
        }
    }
    let mut groups = Vec::new();
    if !spec.group_by.is_empty() {
        let mut names: Vec<String> = out.iter().map(|r| r.group.clone()).collect();
        names.sort_by(|a, b| crate::dataset::compare_values(a, b));
        names.dedup();
        for g in names {
            let errs: Vec<f64> = out.iter().filter(|r| r.group == g).map(|r| r.error_pct.abs()).collect();
            groups.push(stats(g, errs));
        }
    }
    if !out.is_empty() {
        groups.push(stats("all".into(), out.iter().map(|r| r.error_pct.abs()).collect()));
    }
    Ok(Comparison {
        measured: spec.measured.clone(),
        on: spec.on.clone(),
        predicted_column: spec.predicted.clone(),
        actual_column: spec.actual.clone(),
        rows: out,
        groups,
        unmatched,
    })
}

fn stats(group: String, mut ape: Vec<f64>) -> GroupStats {
    ape.sort_by(|a, b| a.total_cmp(b));
    let n = ape.len();
    let median = if n == 0 {
        0.0
    } else if n % 2 == 1 {
        ape[n / 2]
    } else {
        (ape[n / 2 - 1] + ape[n / 2]) / 2.0
    };
    GroupStats {
        group,
        rows: n,
        mape_pct: if n == 0 { 0.0 } else { ape.iter().sum::<f64>() / n as f64 },
        median_ape_pct: median,
        max_ape_pct: ape.last().copied().unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_by_hand() {
        let s = stats("g".into(), vec![10.0, 30.0, 20.0, 40.0]);
        assert_eq!((s.rows, s.mape_pct, s.median_ape_pct, s.max_ape_pct), (4, 25.0, 25.0, 40.0));
        let s = stats("g".into(), vec![5.0, 1.0, 3.0]);
        assert_eq!((s.mape_pct, s.median_ape_pct, s.max_ape_pct), (3.0, 3.0, 5.0));
        assert_eq!(norm(" 8.0"), "8");
        assert_eq!(norm("float16"), "float16");
    }
}
