//! Absorbing another copy's rows: what a landing does with the runs that wait on other
//! branches. The rows of the named runs in another copy of the dataset (as outrun wrote them
//! there) are added to this one and the whole is merged again by the one merge (sorted, each
//! key's newest run kept where `history: newest`), so the result depends on which runs it holds,
//! never on the order they came in.

use std::collections::BTreeSet;

use super::{DatasetError, MergeRequest, Mode, PROVENANCE, RUN_ID};
use crate::experiment::{History, Plan};

fn csv_err(path: &std::path::Path) -> impl Fn(csv::Error) -> DatasetError + '_ {
    move |source| DatasetError::Csv {
        path: path.to_path_buf(),
        source,
    }
}

/// Adds to the dataset in `root` the rows of `runs` found in `other` (another copy's bytes),
/// unless this copy has rows of that run already, then merges it (sorted, `history` applied).
/// The caller holds the dataset's lock. Returns how many rows were taken, and how many the
/// dataset holds now.
pub fn absorb(
    root: &std::path::Path,
    plan: &Plan,
    other: &[u8],
    runs: &BTreeSet<String>,
) -> Result<(usize, usize), DatasetError> {
    let path = root.join(plan.dataset_path());
    let read = |bytes: &[u8]| -> Result<(Vec<String>, Vec<csv::StringRecord>), DatasetError> {
        let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let header: Vec<String> = r
            .headers()
            .map_err(csv_err(&path))?
            .iter()
            .map(str::to_string)
            .collect();
        let rows = r
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(csv_err(&path))?;
        Ok((header, rows))
    };
    let (o_cols, o_rows) = read(other)?;
    let o_run = o_cols.iter().position(|c| c == RUN_ID);
    let mine = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(DatasetError::Io { path, source }),
    };
    let (m_cols, m_rows) = if mine.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        read(&mine)?
    };
    // A run whose rows this copy has already keeps them: the same run's rows are the same
    // wherever outrun put them.
    let have: BTreeSet<&str> = match m_cols.iter().position(|c| c == RUN_ID) {
        Some(i) => m_rows.iter().filter_map(|r| r.get(i)).collect(),
        None => BTreeSet::new(),
    };
    let taken: Vec<&csv::StringRecord> = o_rows
        .iter()
        .filter(|r| {
            o_run
                .and_then(|i| r.get(i))
                .is_some_and(|id| runs.contains(id) && !have.contains(id))
        })
        .collect();
    if taken.is_empty() {
        return Ok((0, m_rows.len()));
    }
    // The union of both copies' columns: results first, provenance last.
    let mut columns: Vec<String> = Vec::new();
    for c in m_cols.iter().chain(o_cols.iter()) {
        if !PROVENANCE.contains(&c.as_str()) && !columns.contains(c) {
            columns.push(c.clone());
        }
    }
    columns.extend(PROVENANCE.iter().map(|s| s.to_string()));
    let at = |cols: &[String]| -> Vec<Option<usize>> {
        columns
            .iter()
            .map(|c| cols.iter().position(|h| h == c))
            .collect()
    };
    let (m_at, o_at) = (at(&m_cols), at(&o_cols));
    let mut out = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(&columns).map_err(csv_err(&path))?;
        let mut put = |r: &csv::StringRecord, idx: &[Option<usize>]| {
            w.write_record(idx.iter().map(|i| i.and_then(|i| r.get(i)).unwrap_or("")))
        };
        for r in &m_rows {
            put(r, &m_at).map_err(csv_err(&path))?;
        }
        for r in &taken {
            put(r, &o_at).map_err(csv_err(&path))?;
        }
        w.flush().map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
    }
    crate::fsutil::write_atomic(&path, &out)?;
    // The one merge puts the rows in order (and keeps each key's newest run, where asked).
    let mode = if plan.file.dataset.history == History::Newest {
        Mode::Migrate
    } else {
        Mode::Merge
    };
    let summary = super::merge(MergeRequest {
        mode,
        ..MergeRequest::new(root, plan, &[], "")
    })?;
    Ok((taken.len(), summary.rows_total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn plan(history: &str) -> Plan {
        let yaml = format!(
            "name: e\nmatrix:\n  n: [1, 2]\ncommand: 'true'\nresults:\n  keys: [n]\ndataset: {{history: {history}}}\n"
        );
        crate::experiment::parse(Path::new("."), Path::new("experiments/e.yaml"), yaml).unwrap()
    }

    /// A dataset holding `runs` (id, start hour), one row per cell, sorted by the one merge.
    fn copy(root: &Path, plan: &Plan, runs: &[(u32, u32)]) -> Vec<u8> {
        let mut text = format!("n,value,{}\n", PROVENANCE.join(","));
        for (run, hour) in runs {
            for n in [1, 2] {
                text.push_str(&format!(
                    "{n},{},e,c{n},github,{run},1,,2026-12-01T{hour:02}:00:00Z,,\n",
                    run * 10 + n
                ));
            }
        }
        let path = root.join(plan.dataset_path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        super::super::merge(MergeRequest {
            mode: Mode::Migrate,
            ..MergeRequest::new(root, plan, &[], "")
        })
        .unwrap();
        std::fs::read(&path).unwrap()
    }

    /// Two waiting branches (runs 3 and 2 on top of run 1) taken in in either order give the
    /// same file: with `history: all` every run's rows, with `newest` the newest run's (3,
    /// which started later), whatever came first; a run this copy has is not taken twice.
    #[test]
    fn absorbing_waiting_runs_does_not_depend_on_their_order() {
        for (history, want_rows) in [("all", 6), ("newest", 2)] {
            let plan = plan(history);
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            let a = copy(root, &plan, &[(1, 1), (3, 5)]);
            let b = copy(root, &plan, &[(1, 1), (2, 3)]);
            let mut results = Vec::new();
            for order in [[&a, &b], [&b, &a]] {
                copy(root, &plan, &[(1, 1)]);
                let runs: BTreeSet<String> = ["2".to_string(), "3".to_string()].into();
                for other in order {
                    absorb(root, &plan, other, &runs).unwrap();
                }
                // Again: nothing more is taken.
                assert_eq!(absorb(root, &plan, &a, &runs).unwrap().0, 0);
                results.push(std::fs::read_to_string(root.join(plan.dataset_path())).unwrap());
            }
            assert_eq!(results[0], results[1], "{history}");
            let text = &results[0];
            assert_eq!(text.lines().count(), 1 + want_rows, "{history}: {text}");
            assert!(text.contains(",github,3,"), "{history}: {text}");
            if history == "newest" {
                assert!(!text.contains(",github,2,") && !text.contains(",github,1,"));
            }
        }
    }
}
