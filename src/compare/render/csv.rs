//! The CSV outputs, for the paper: full precision, so every figure can be recomputed.

use super::{Cells, ratio_row};
use crate::compare::CompareError;
use crate::compare::cross::CrossComparison;

/// As the CSV writes a shared row's values: text as it is, numbers in full precision.
const CSV: Cells = Cells {
    text: str::to_string,
    ratio: of,
    rho: of,
};

/// Full precision, so the paper's numbers can be recomputed from the file.
fn f(x: f64) -> String {
    format!("{x}")
}

fn of(x: Option<f64>) -> String {
    x.map(f).unwrap_or_default()
}

fn csv_bytes(header: Vec<String>, rows: Vec<Vec<String>>) -> Result<Vec<u8>, CompareError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| CompareError::Output(e.to_string());
    w.write_record(&header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| CompareError::Output(e.to_string()))
}

/// One row per series and joined key: the value as declared, predicted and reference in the
/// reference's unit, and the signed error.
pub fn comparison_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let mut header = vec!["series".to_string()];
    header.extend(c.keys.iter().cloned());
    header.extend(
        [
            "value",
            "value_unit",
            "predicted",
            "reference",
            "unit",
            "error_pct",
        ]
        .map(String::from),
    );
    let unit_of = |label: &str| {
        c.series
            .iter()
            .find(|s| s.label == label)
            .map(|s| s.unit.clone())
            .unwrap_or_default()
    };
    let rows = c
        .rows
        .iter()
        .map(|r| {
            let mut v = vec![r.series.clone()];
            v.extend(r.key.iter().cloned());
            v.extend([
                f(r.value),
                unit_of(&r.series),
                f(r.predicted),
                f(r.reference),
                c.unit.clone(),
                of(r.error_pct),
            ]);
            v
        })
        .collect();
    csv_bytes(header, rows)
}

/// One row per series and group (`all` last): the statistics, and the counts on the `all` row.
pub fn summary_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let header = [
        "series",
        "group",
        "rows",
        "mape_pct",
        "median_ape_pct",
        "max_ape_pct",
        "mean_error_pct",
        "spearman",
        "unmatched",
        "missing",
        "non_numeric",
        "error_undefined",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for s in &c.series {
        for g in &s.stats {
            let all = g.group == "all";
            let count = |n: usize| if all { n.to_string() } else { String::new() };
            rows.push(vec![
                s.label.clone(),
                g.group.clone(),
                g.rows.to_string(),
                of(g.mape_pct),
                of(g.median_ape_pct),
                of(g.max_ape_pct),
                of(g.mean_error_pct),
                of(g.spearman),
                count(s.unmatched),
                count(s.missing),
                count(s.non_numeric),
                count(s.error_undefined),
            ]);
        }
    }
    csv_bytes(header, rows)
}

/// One row per agreement and comparison (series vs floor, then series vs series).
pub fn agreement_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let header = [
        "agreement",
        "kind",
        "a",
        "b",
        "rows",
        "geomean_ratio",
        "median_ratio",
        "min_ratio",
        "max_ratio",
        "below",
        "spearman",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for a in &c.agreement {
        let kinds =
            (a.vs_floor.iter().map(|r| ("floor", r))).chain(a.pairs.iter().map(|r| ("pair", r)));
        for (kind, r) in kinds {
            let mut row = ratio_row(&CSV, &a.label, r);
            row.insert(1, kind.into());
            rows.push(row);
        }
    }
    csv_bytes(header, rows)
}

/// Per agreement, key and series: its value, the floor, and their ratio.
pub fn agreement_rows_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let mut header = vec!["agreement".to_string()];
    header.extend(c.keys.iter().cloned());
    header.extend(["series", "value", "floor", "ratio_to_floor", "unit"].map(String::from));
    let mut rows = Vec::new();
    for a in &c.agreement {
        for r in &a.rows {
            for (label, v) in a.series.iter().zip(&r.values) {
                let mut row = vec![a.label.clone()];
                row.extend(r.key.iter().cloned());
                let ratio = match (v, r.floor) {
                    (Some(v), Some(fl)) if fl != 0.0 => Some(v / fl),
                    _ => None,
                };
                row.extend([
                    label.clone(),
                    of(*v),
                    of(r.floor),
                    of(ratio),
                    a.unit.clone(),
                ]);
                rows.push(row);
            }
        }
    }
    csv_bytes(header, rows)
}
