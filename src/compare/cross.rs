//! The cross-tool comparison (`outrun compare`): every series joined to the reference on the
//! declared keys, in the reference's unit, with per-tool statistics; and the agreement of
//! series that model the same array with each other and with their floor.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::decl::{Loaded, Source, Table, Unit, factor};
use super::stats::{self, ape_summary};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CrossComparison {
    /// The declaration's file stem.
    pub name: String,
    pub declaration: String,
    pub description: String,
    pub keys: Vec<String>,
    pub group_by: Vec<String>,
    /// The unit every predicted and reference value is given in.
    pub unit: String,
    pub reference: ReferenceInfo,
    pub series: Vec<SeriesResult>,
    /// One row per series and joined key, sorted by series then key.
    pub rows: Vec<JoinedRow>,
    pub agreement: Vec<AgreementResult>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReferenceInfo {
    pub label: String,
    pub path: String,
    pub value: String,
    pub unit: String,
    #[serde(rename = "where")]
    pub filter: BTreeMap<String, String>,
    /// How repeated rows of one key were combined (`mean`, `median`, `min`, `max`), if asked.
    pub aggregate: Option<super::decl::Aggregate>,
    /// Keys the filter selects.
    pub rows: usize,
    /// Of those, keys whose value is not a number (they match nothing).
    pub non_numeric: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesResult {
    pub label: String,
    pub path: String,
    pub value: String,
    /// The unit as declared, before conversion.
    pub unit: String,
    pub clock_ghz: Option<f64>,
    pub scale: Option<f64>,
    /// The floor under the converted value (`at-least`), if declared.
    pub at_least: Option<f64>,
    /// What a declared value is multiplied by to be in the reference's unit.
    pub factor: f64,
    #[serde(rename = "where")]
    pub filter: BTreeMap<String, String>,
    /// How repeated rows of one key were combined, if asked.
    pub aggregate: Option<super::decl::Aggregate>,
    /// Keys the filter selects (one per key: repeated rows are combined or refused).
    pub rows: usize,
    /// Rows with a number on both sides (including those whose error is undefined).
    pub joined: usize,
    /// Numeric rows with no numeric reference of the same key.
    pub unmatched: usize,
    /// Numeric reference rows this series has no row for.
    pub missing: usize,
    /// Rows whose value is not a number.
    pub non_numeric: usize,
    /// Joined rows whose reference is 0: no percentage error (shown, not in MAPE).
    pub error_undefined: usize,
    /// Per group (when `group-by` is declared), then `all`.
    pub stats: Vec<SeriesStats>,
    /// What was left out and why, e.g. a value that is not a number.
    pub notes: Vec<String>,
    /// With `example: true`: per group (or once), the joined row of median absolute error.
    pub examples: Vec<JoinedRow>,
    /// As declared: what produced the values (tool and version, settings).
    pub provenance: Option<String>,
    /// The runs the selected rows come from, "RUN at COMMIT" with their row count, when the
    /// file is a dataset outrun wrote (empty otherwise).
    pub runs: Vec<RunRows>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRows {
    /// "RUN_ID at COMMIT" (the commit's first 7 characters).
    pub run: String,
    pub rows: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesStats {
    /// `N=1`, or `all`.
    pub group: String,
    /// Joined rows in the group.
    pub rows: usize,
    /// The absolute percentage error statistics are over the rows whose error is defined;
    /// each is null when there is none.
    pub mape_pct: Option<f64>,
    pub median_ape_pct: Option<f64>,
    pub max_ape_pct: Option<f64>,
    /// Mean signed error: negative = the tool is optimistic (predicts less than the reference).
    pub mean_error_pct: Option<f64>,
    /// Spearman's rank correlation of predicted with reference (null with fewer than two rows or
    /// a constant side).
    pub spearman: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JoinedRow {
    pub series: String,
    pub key: Vec<String>,
    /// As in the series' file, in its own unit.
    pub value: f64,
    /// In the reference's unit.
    pub predicted: f64,
    pub reference: f64,
    /// (predicted − reference) / reference × 100; null when the reference is 0.
    pub error_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgreementResult {
    pub label: String,
    pub unit: String,
    pub floor: Option<String>,
    pub series: Vec<String>,
    /// Each series against the floor: ratio = series / floor (≥ 1 unless the tool beats its
    /// own lower bound).
    pub vs_floor: Vec<RatioStats>,
    /// Each pair of series: ratio = a / b.
    pub pairs: Vec<RatioStats>,
    /// Per key: the floor and each series' value (null where a side has none).
    pub rows: Vec<AgreementRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RatioStats {
    pub a: String,
    pub b: String,
    /// Keys where both have a number and b is not 0.
    pub rows: usize,
    pub geomean_ratio: Option<f64>,
    pub median_ratio: Option<f64>,
    pub min_ratio: Option<f64>,
    pub max_ratio: Option<f64>,
    /// Rows where a < b (for the floor: the tool is below its own lower bound).
    pub below: usize,
    pub spearman: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgreementRow {
    pub key: Vec<String>,
    pub floor: Option<f64>,
    pub values: Vec<Option<f64>>,
}

fn filter_text(s: &Source) -> BTreeMap<String, String> {
    s.filter
        .iter()
        .map(|(k, v)| {
            let t = match v {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            (k.clone(), t)
        })
        .collect()
}

/// Orders keys as the dataset does: numbers as numbers, column by column.
pub fn cmp_keys(a: &[String], b: &[String]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = crate::dataset::compare_values(x, y);
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Computes the comparison from a loaded declaration.
pub fn compute(l: &Loaded) -> CrossComparison {
    let d = &l.decl;
    let r = &d.reference;
    let group_idx: Vec<usize> = (d.group_by.iter())
        .filter_map(|g| d.keys.iter().position(|k| k == g))
        .collect();
    let reference_numeric: Vec<(&Vec<String>, f64)> = (l.reference.rows.iter())
        .filter_map(|(k, v)| v.as_ref().ok().map(|v| (k, *v)))
        .collect();
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for (s, t) in d.series.iter().zip(&l.series) {
        let (result, mine) = series_result(l, s, t, &group_idx, &reference_numeric);
        series.push(result);
        rows.extend(mine);
    }
    let agreement = (d.agreement.iter().zip(&l.agreement))
        .map(|(a, (floor, tables))| agreement(&d.keys, a, floor.as_ref(), tables))
        .collect();
    CrossComparison {
        name: l.name.clone(),
        declaration: l.path.display().to_string(),
        description: d.description.clone(),
        keys: d.keys.clone(),
        group_by: d.group_by.clone(),
        unit: r.unit.name().into(),
        reference: ReferenceInfo {
            label: r.label.clone(),
            path: r.path.clone(),
            value: r.value.clone(),
            unit: r.unit.name().into(),
            filter: filter_text(r),
            aggregate: r.aggregate,
            rows: l.reference.rows.len(),
            non_numeric: l.reference.rows.len() - reference_numeric.len(),
        },
        series,
        rows,
        agreement,
    }
}

/// One series `s` (its table `t`) joined to the reference: its result, and its joined rows
/// sorted by key. `group_idx`: the positions of the group-by keys; `reference_numeric`: the
/// reference's rows that are numbers.
fn series_result(
    l: &Loaded,
    s: &Source,
    t: &Table,
    group_idx: &[usize],
    reference_numeric: &[(&Vec<String>, f64)],
) -> (SeriesResult, Vec<JoinedRow>) {
    let r = &l.decl.reference;
    // Checked when the declaration was loaded.
    let f = factor(s, r.unit, r.clock_ghz).unwrap_or(f64::NAN);
    let mut notes = Vec::new();
    let (mine, unmatched, non_numeric) = join(l, s, t, f, &mut notes);
    let missing = reference_numeric
        .iter()
        .filter(|(k, _)| !matches!(t.get(k), Some(Ok(_))))
        .count();
    let error_undefined = mine.iter().filter(|r| r.error_pct.is_none()).count();
    if error_undefined > 0 {
        notes.push(format!(
            "{error_undefined} joined rows have a reference of 0: their percentage error is undefined, so they are left out of MAPE, median and max (but not of Spearman)"
        ));
    }
    notes.extend(unit_note(s, &mine));
    let (stats_rows, examples) = group_stats(l, s, &mine, group_idx);
    let result = SeriesResult {
        label: s.label.clone(),
        path: s.path.clone(),
        value: s.value.clone(),
        unit: s.unit.name().into(),
        clock_ghz: s.clock_ghz,
        scale: s.scale,
        at_least: s.at_least,
        factor: f,
        filter: filter_text(s),
        aggregate: s.aggregate,
        rows: t.rows.len(),
        joined: mine.len(),
        unmatched,
        missing,
        non_numeric,
        error_undefined,
        stats: stats_rows,
        notes,
        examples,
        provenance: s.provenance.clone(),
        runs: (t.runs.iter())
            .map(|(run, &rows)| RunRows {
                run: run.clone(),
                rows,
            })
            .collect(),
    };
    (result, mine)
}

/// The rows of series `s` (table `t`, converted by `f`) that the reference has, sorted by key;
/// how many it has no reference for, and how many are no number (each said in `notes`).
fn join(
    l: &Loaded,
    s: &Source,
    t: &Table,
    f: f64,
    notes: &mut Vec<String>,
) -> (Vec<JoinedRow>, usize, usize) {
    let (mut unmatched, mut non_numeric) = (0, 0);
    let mut mine: Vec<JoinedRow> = Vec::new();
    for (k, v) in &t.rows {
        let v = match v {
            Ok(v) => *v,
            Err(raw) => {
                non_numeric += 1;
                notes.push(format!(
                    "{}: '{}' is not a number",
                    show_key(&l.decl.keys, k),
                    raw.escape_debug()
                ));
                continue;
            }
        };
        match l.reference.get(k) {
            Some(Ok(refv)) => {
                let predicted = (v * f).max(s.at_least.unwrap_or(f64::NEG_INFINITY));
                let error_pct = (*refv != 0.0).then(|| (predicted - refv) / refv * 100.0);
                mine.push(JoinedRow {
                    series: s.label.clone(),
                    key: k.clone(),
                    value: v,
                    predicted,
                    reference: *refv,
                    error_pct,
                });
            }
            _ => unmatched += 1,
        }
    }
    mine.sort_by(|a, b| cmp_keys(&a.key, &b.key));
    (mine, unmatched, non_numeric)
}

/// A series whose typical value is a power of ten or more away from the reference's is most
/// often declared in the wrong unit (µs read as ms); say so rather than print a MAPE of
/// 56,000 % without a word.
fn unit_note(s: &Source, mine: &[JoinedRow]) -> Option<String> {
    let ratios: Vec<f64> = (mine.iter())
        .filter(|r| r.reference > 0.0 && r.predicted > 0.0)
        .map(|r| r.predicted / r.reference)
        .collect();
    let m = stats::median(&ratios)?;
    if (0.1..10.0).contains(&m) {
        return None;
    }
    Some(format!(
        "its median ratio to the reference is {}×, a power of ten or more: check the unit{} (fine if the series models something else on purpose)",
        if m >= 10.0 {
            format!("{m:.0}")
        } else {
            format!("{m:.3}")
        },
        if s.unit == Unit::Cycles {
            " and the clock"
        } else {
            ""
        }
    ))
}

/// The statistics of a series' joined rows per group (when grouped) then over all of them, and
/// its worked examples (the median row per group, or of all) when the series asks for them.
fn group_stats(
    l: &Loaded,
    s: &Source,
    mine: &[JoinedRow],
    group_idx: &[usize],
) -> (Vec<SeriesStats>, Vec<JoinedRow>) {
    let keys = &l.decl.keys;
    let group_of = |key: &[String]| -> String {
        group_idx
            .iter()
            .map(|&i| format!("{}={}", keys[i], key[i]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut examples = Vec::new();
    let mut stats_rows = Vec::new();
    if !group_idx.is_empty() {
        let mut groups: Vec<Vec<String>> = mine
            .iter()
            .map(|r| group_idx.iter().map(|&i| r.key[i].clone()).collect())
            .collect::<BTreeSet<Vec<String>>>()
            .into_iter()
            .collect();
        groups.sort_by(|a, b| cmp_keys(a, b));
        for g in groups {
            let in_g: Vec<&JoinedRow> = mine
                .iter()
                .filter(|r| group_idx.iter().zip(&g).all(|(&i, v)| &r.key[i] == v))
                .collect();
            let name = group_of(&in_g[0].key);
            stats_rows.push(series_stats(name, &in_g));
            if s.example {
                examples.extend(median_row(&in_g));
            }
        }
    }
    stats_rows.push(series_stats("all".into(), &mine.iter().collect::<Vec<_>>()));
    if s.example && group_idx.is_empty() {
        examples.extend(median_row(&mine.iter().collect::<Vec<_>>()));
    }
    (stats_rows, examples)
}

/// `layer=conv1, N=1`.
pub fn show_key(keys: &[String], k: &[String]) -> String {
    keys.iter()
        .zip(k)
        .map(|(a, b)| format!("{a}={b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row of median absolute error (the lower one of an even count; ties by key order): a
/// typical case, neither the best nor the worst.
fn median_row(rows: &[&JoinedRow]) -> Option<JoinedRow> {
    let mut with_err: Vec<&&JoinedRow> = rows.iter().filter(|r| r.error_pct.is_some()).collect();
    with_err.sort_by(|a, b| {
        let (x, y) = (
            a.error_pct.unwrap_or(0.0).abs(),
            b.error_pct.unwrap_or(0.0).abs(),
        );
        x.total_cmp(&y).then_with(|| cmp_keys(&a.key, &b.key))
    });
    let n = with_err.len();
    (n > 0).then(|| (*with_err[(n - 1) / 2]).clone())
}

fn series_stats(group: String, rows: &[&JoinedRow]) -> SeriesStats {
    let errs: Vec<f64> = rows.iter().filter_map(|r| r.error_pct).collect();
    let ape: Vec<f64> = errs.iter().map(|e| e.abs()).collect();
    let s = ape_summary(&ape);
    let defined = !ape.is_empty();
    let pred: Vec<f64> = rows.iter().map(|r| r.predicted).collect();
    let refv: Vec<f64> = rows.iter().map(|r| r.reference).collect();
    SeriesStats {
        group,
        rows: rows.len(),
        mape_pct: defined.then_some(s.mape_pct),
        median_ape_pct: defined.then_some(s.median_ape_pct),
        max_ape_pct: defined.then_some(s.max_ape_pct),
        mean_error_pct: stats::mean(&errs),
        spearman: stats::spearman(&pred, &refv),
    }
}

fn agreement(
    keys: &[String],
    a: &super::decl::Agreement,
    floor: Option<&Table>,
    tables: &[Table],
) -> AgreementResult {
    let num = |t: &Table, k: &Vec<String>| t.get(k).and_then(|v| v.as_ref().ok().copied());
    let mut all: Vec<Vec<String>> = floor
        .into_iter()
        .chain(tables)
        .flat_map(|t| t.rows.iter().map(|(k, _)| k.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    all.sort_by(|x, y| cmp_keys(x, y));
    let _ = keys;
    // One unit throughout (checked on load); a declared scale still applies.
    let scale = |s: Option<&Source>| s.and_then(|s| s.scale).unwrap_or(1.0);
    let rows: Vec<AgreementRow> = all
        .iter()
        .map(|k| AgreementRow {
            key: k.clone(),
            floor: floor
                .and_then(|t| num(t, k))
                .map(|v| v * scale(a.floor.as_ref())),
            values: (tables.iter().zip(&a.series))
                .map(|(t, s)| num(t, k).map(|v| v * scale(Some(s))))
                .collect(),
        })
        .collect();
    let ratio = |an: &str, bn: &str, pairs: Vec<(f64, f64)>| {
        let usable: Vec<(f64, f64)> = pairs.into_iter().filter(|(_, b)| *b != 0.0).collect();
        let ratios: Vec<f64> = usable.iter().map(|(x, y)| x / y).collect();
        let xs: Vec<f64> = usable.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = usable.iter().map(|p| p.1).collect();
        RatioStats {
            a: an.into(),
            b: bn.into(),
            rows: usable.len(),
            geomean_ratio: stats::geomean(&ratios),
            median_ratio: stats::median(&ratios),
            min_ratio: ratios.iter().copied().reduce(f64::min),
            max_ratio: ratios.iter().copied().reduce(f64::max),
            below: ratios.iter().filter(|r| **r < 1.0).count(),
            spearman: stats::spearman(&xs, &ys),
        }
    };
    let vs_floor = match &a.floor {
        Some(f) => (a.series.iter().enumerate())
            .map(|(i, s)| {
                let pairs = rows
                    .iter()
                    .filter_map(|r| Some((r.values[i]?, r.floor?)))
                    .collect();
                ratio(&s.label, &f.label, pairs)
            })
            .collect(),
        None => Vec::new(),
    };
    let mut pairs = Vec::new();
    for i in 0..a.series.len() {
        for j in i + 1..a.series.len() {
            let p = rows
                .iter()
                .filter_map(|r| Some((r.values[i]?, r.values[j]?)))
                .collect();
            pairs.push(ratio(&a.series[i].label, &a.series[j].label, p));
        }
    }
    AgreementResult {
        label: a.label.clone(),
        unit: a
            .series
            .first()
            .map(|s| s.unit.name().to_string())
            .unwrap_or_default(),
        floor: a.floor.as_ref().map(|f| f.label.clone()),
        series: a.series.iter().map(|s| s.label.clone()).collect(),
        vs_floor,
        pairs,
        rows,
    }
}
