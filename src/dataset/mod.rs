//! The versioned dataset: `data/evaluation/NAME.csv`, one CSV per experiment.
//!
//! With `history: newest` (the default) the file holds one row per key (and metric, in the long
//! layout): a newer run's row replaces the older one, an older run merged late replaces
//! nothing. With `history: all` every run's rows stay and reports pick the newest run per key.
//! Either way the rows of a (cell, run) replace that cell's earlier rows from the same run, so
//! merging the same run twice changes nothing. Every row carries its provenance. The file is
//! kept sorted, so diffs stay small and a merge is one streaming pass (see `order` and
//! `merge`), and is replaced atomically (temp file, fsync, rename) while an exclusive lock (in
//! `.outrun/locks/`) is held, so concurrent merges never lose rows and a kill at any moment
//! leaves the old file or the new one. The dataset and its ledger (`NAME.runs.csv`) are
//! replaced together through a roll-forward journal (`fsutil::Pair`, [`journal_path`]): a
//! signal or a kill leaves both old or both new, never one of each, once [`settle`] (which
//! every reader and the next writer run first) has finished an interrupted pair.

mod absorb;
mod file;
pub mod ledger;
mod merge;
mod newest;
mod order;
mod prefix;
pub mod write;

pub use crate::outputs::Row;
pub use absorb::absorb;
pub use merge::{MergeRequest, Mode, key_clashes};
pub use newest::{Newest, for_each_newest, newest_in_memory};

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::experiment::Plan;

/// Provenance columns, always last and in this order.
pub const PROVENANCE: &[&str] = &[
    "outrun_experiment",
    "outrun_cell",
    "outrun_source",
    "outrun_run_id",
    "outrun_attempt",
    "outrun_commit",
    "outrun_run_started_at",
    "outrun_started_at",
    "outrun_finished_at",
];
pub const RUN_ID: &str = "outrun_run_id";
pub const CELL: &str = "outrun_cell";
pub const FINISHED: &str = "outrun_finished_at";
pub const STARTED: &str = "outrun_started_at";
pub const ATTEMPT: &str = "outrun_attempt";
/// When the run the row came from started (as the run's side says): orders runs.
pub const RUN_STARTED: &str = "outrun_run_started_at";
pub const METRIC: &str = "metric";
pub const VALUE: &str = "value";

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{}: the file lacks the column `{column}`; was it written by outrun for this experiment?", path.display())]
    Foreign { path: PathBuf, column: String },
    #[error("{}{}: {reason}; fix or remove that line (nothing was written)", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Malformed {
        path: PathBuf,
        line: Option<u64>,
        reason: String,
    },
    #[error("{}, line 1: the column `{column}` appears twice (columns {first} and {second}); one would hide the other's values: rename or remove one (nothing was written)", path.display())]
    DuplicateColumn {
        path: PathBuf,
        column: String,
        first: usize,
        second: usize,
    },
    #[error("{}: the dataset was written in the {was} layout and the experiment now declares `layout: {now}`; move the file aside (or set `dataset.path` to a new file) rather than mix both layouts' columns in one file", path.display())]
    LayoutChanged {
        path: PathBuf,
        was: String,
        now: String,
    },
    #[error(
        "cells `{a}` and `{b}` of one run both produce the key ({key}): one row would hide the other; add the parameter that tells them apart to `results.keys`"
    )]
    KeyClash { a: String, b: String, key: String },
    #[error("{}: the rows are not in the dataset's order", path.display())]
    Unsorted { path: PathBuf },
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
}

/// A dataset in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// What one merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeSummary {
    pub path: String,
    pub cells_merged: usize,
    pub cells_skipped: usize,
    pub rows_added: usize,
    pub rows_replaced: usize,
    /// Incoming rows of an older run than the dataset's row for their key (`history: newest`):
    /// not merged, as an older run merged late never replaces a newer one.
    pub rows_older_ignored: usize,
    pub rows_total: usize,
    /// The dataset keeps several runs' rows of some key although `history` is `newest` (it was
    /// written before that was the rule): `merge --migrate` keeps only the newest.
    pub several_runs_per_key: bool,
    /// Rows whose key (and run) an earlier line of the dataset already has — a hand edit, as
    /// outrun never writes them: the later line counts, in reports and for `merge --migrate`.
    pub rows_duplicated: usize,
    pub changed: bool,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The journal of a dataset and its ledger replaced together: `.outrun-STEM.pair` beside them
/// (`data/evaluation/NAME.csv` → `data/evaluation/.outrun-NAME.pair`).
fn journal_path(dataset: &Path) -> PathBuf {
    let stem = dataset
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("dataset");
    dataset.with_file_name(format!("{}{stem}.pair", crate::fsutil::TMP_PREFIX))
}

/// The journal of the pair a ledger (`NAME.runs.csv`) belongs to, and the stem they share.
fn journal_of_ledger(ledger: &Path) -> Option<PathBuf> {
    let name = ledger.file_name()?.to_str()?;
    let stem = name.strip_suffix(".runs.csv")?;
    Some(ledger.with_file_name(format!("{}{stem}.pair", crate::fsutil::TMP_PREFIX)))
}

/// Finishes the replacement of a dataset and its ledger that a killed writer left half done
/// (its journal names both; see `fsutil::Pair`). `journal` is [`journal_path`]; with `remove`
/// the caller holds the dataset's lock and the journal goes too.
fn roll_forward(journal: &Path, remove: bool) -> Result<bool, crate::fsutil::FsError> {
    let name = journal
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name
        .strip_prefix(crate::fsutil::TMP_PREFIX)
        .and_then(|n| n.strip_suffix(".pair"))
        .unwrap_or_default()
        .to_string();
    let ledger = format!("{stem}.runs.csv");
    crate::fsutil::roll_forward(
        journal,
        |target| {
            target == ledger
                || Path::new(target).file_stem().and_then(|s| s.to_str()) == Some(stem.as_str())
        },
        remove,
    )
}

/// What a reader of the dataset at `path` runs first: the renames of an interrupted pair
/// (see [`roll_forward`]), so it never reads the new dataset beside the old ledger. Best
/// effort: a reader that cannot rename (a read-only checkout) reads what is there.
pub(crate) fn settle(path: &Path) {
    let _ = roll_forward(&journal_path(path), false);
}

/// [`settle`] for a reader of the ledger at `path`.
pub(crate) fn settle_ledger(path: &Path) {
    if let Some(j) = journal_of_ledger(path) {
        let _ = roll_forward(&j, false);
    }
}

/// Reads a dataset; a missing file is an empty dataset.
pub fn read(path: &Path) -> Result<Dataset, DatasetError> {
    settle(path);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Dataset::default()),
        Err(e) => return Err(io(path)(e)),
    };
    let csv_err = |source| DatasetError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut r = csv::Reader::from_reader(std::io::BufReader::new(file));
    let columns: Vec<String> = r
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_string)
        .collect();
    for c in [RUN_ID, CELL] {
        if !columns.iter().any(|h| h == c) && !columns.is_empty() {
            return Err(DatasetError::Foreign {
                path: path.to_path_buf(),
                column: c.into(),
            });
        }
    }
    let mut rows = Vec::new();
    // Datasets written before rows carried their run's start: the cell's start stands in.
    let backfill = !columns.is_empty() && !columns.iter().any(|c| c == RUN_STARTED);
    for rec in r.records() {
        let rec = rec.map_err(csv_err)?;
        let mut row: Row = columns
            .iter()
            .cloned()
            .zip(rec.iter().map(str::to_string))
            .collect();
        if backfill {
            let started = row.get(STARTED).cloned().unwrap_or_default();
            row.insert(RUN_STARTED.into(), started);
        }
        rows.push(row);
    }
    Ok(Dataset { columns, rows })
}

/// The lock every writer of `plan`'s dataset (and its ledger) holds. It lives in `.outrun/locks/`
/// (git-ignored), not beside the dataset, so it never shows up as an untracked file. Once held,
/// an interrupted replacement of the dataset and ledger is finished ([`roll_forward`]) and the
/// temporary files of writers that were killed mid-write are removed.
pub fn lock(root: &Path, plan: &Plan) -> Result<File, DatasetError> {
    let rel = plan.dataset_path();
    let name: String = rel
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '%'
            }
        })
        .collect();
    let file = crate::fsutil::lock(
        &crate::fsutil::state_dir(root)?
            .join("locks")
            .join(format!("{name}.lock")),
    )?;
    // An interrupted pair first: its temporary files are named by its journal, and may be
    // older than the stale ones removed next.
    roll_forward(&journal_path(&root.join(&rel)), true)?;
    if let Some(dir) = root.join(&rel).parent() {
        crate::fsutil::remove_stale_temps(dir, std::time::Duration::from_secs(60));
    }
    Ok(file)
}

/// Merges the successful cells of `req.outcomes` into the dataset at
/// `root/plan.dataset_path()`, in one streaming pass (see the `merge` module). The caller
/// holds [`lock`].
pub fn merge(req: MergeRequest<'_>) -> Result<MergeSummary, DatasetError> {
    merge::merge(req, None, None).map(|(summary, _)| summary)
}

/// [`merge()`], handing `watch` the newest row per key of the merged dataset as the merge
/// writes it, so a report needs no second pass over the file. Returns the dataset's columns
/// with the summary — or `None` for them when what `watch` saw must be discarded and the file
/// read (see [`for_each_newest`]) instead.
pub fn merge_watching(
    req: MergeRequest<'_>,
    watch: &mut dyn FnMut(Newest<'_>),
) -> Result<(MergeSummary, Option<Vec<String>>), DatasetError> {
    merge::merge(req, Some(watch), None)
}

/// Numbers compare as numbers (so batch 8 sorts before 32) and before text, text as text: a
/// total order, the one the dataset file is sorted by.
pub fn compare_values(a: &str, b: &str) -> Ordering {
    order::compare_str(a, b)
}

/// Dataset files named by more than one experiment, with the experiments' names: their rows
/// would replace each other's (same keys) or mix two layouts in one file. For `validate` (and
/// anything else that loads all experiments) to refuse.
pub fn shared_paths(plans: &[Plan]) -> Vec<(PathBuf, Vec<String>)> {
    let mut by_path: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for p in plans {
        by_path
            .entry(p.dataset_path())
            .or_default()
            .push(p.name().to_string());
    }
    by_path
        .into_iter()
        .filter(|(_, names)| names.len() > 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_experiments_naming_one_dataset_are_found() {
        let plan = |name: &str, path: &str| {
            let yaml = format!(
                "name: {name}\nmatrix:\n  n: [1]\ncommand: 'true'\nresults:\n  keys: [n]\n{path}"
            );
            crate::experiment::parse(
                Path::new("."),
                Path::new(&format!("experiments/{name}.yaml")),
                yaml,
            )
            .unwrap()
        };
        let plans = [
            plan("a", "dataset:\n  path: data/shared.csv\n"),
            plan("b", "dataset:\n  path: data/shared.csv\n"),
            plan("c", ""),
        ];
        assert_eq!(
            shared_paths(&plans),
            [(
                PathBuf::from("data/shared.csv"),
                vec!["a".to_string(), "b".to_string()]
            )]
        );
    }
}
