//! The run ledger: `NAME.runs.csv` beside the dataset, one line per collected run attempt.
//!
//! "Collected" has to be readable by any clone — and by the workflow's own final job — for runs
//! that added no rows too (every cell failed, the run was cancelled, its artifacts expired or
//! were refused), so it lives in the repository beside the data, not in one machine's
//! `.outrun/`. The ledger also keeps which cells failed in each attempt, which is what
//! `outrun dispatch --failed-from RUN` re-runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DatasetError;
use crate::contract::{RunProvenance, Summary, now_rfc3339};
use crate::outputs::CellOutcome;

/// One collected run attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub run_id: String,
    pub attempt: u32,
    pub source: String,
    pub event: String,
    pub git_ref: String,
    pub commit: String,
    pub run_started_at: String,
    pub conclusion: String,
    pub cells: usize,
    pub ok: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    /// Artifacts refused when unpacking (hostile or broken): their cells were not merged.
    pub refused: usize,
    pub rows: usize,
    /// Cells that did not succeed in this attempt, space-separated.
    pub failed_cells: String,
    pub url: String,
    pub collected_at: String,
    /// The dispatch this run is one wave of (`outrun NAME GROUP.wN`), empty for a run that
    /// needed no waves. Added after the first release: older ledgers read without it.
    #[serde(default)]
    pub group: String,
    /// Which wave of `group` (1-based).
    #[serde(default)]
    pub wave: Option<usize>,
    /// How many waves `group` has.
    #[serde(default)]
    pub waves: Option<usize>,
}

impl LedgerEntry {
    /// The entry of the run `prov` whose cells ended as `counts` says. The ledger's columns
    /// stay as they are: a refused cell is a failed one there (and is run again by
    /// `--failed-from`); its `refused` counts artifacts, set by the caller.
    pub fn new(prov: &RunProvenance, counts: &Summary) -> LedgerEntry {
        LedgerEntry {
            run_id: prov.run_id.clone(),
            attempt: prov.attempt,
            source: prov.source.as_str().into(),
            event: prov.event.clone().unwrap_or_default(),
            git_ref: prov.git_ref.clone().unwrap_or_default(),
            commit: prov.commit.clone().unwrap_or_default(),
            run_started_at: prov.run_started_at.clone(),
            conclusion: prov.conclusion.clone().unwrap_or_default(),
            cells: counts.cells,
            ok: counts.ok,
            failed: counts.failed + counts.refused,
            timed_out: counts.timed_out,
            cancelled: counts.cancelled,
            refused: 0,
            rows: 0,
            failed_cells: String::new(),
            url: prov.url.clone().unwrap_or_default(),
            collected_at: String::new(),
            group: prov
                .wave
                .as_ref()
                .map(|w| w.group.clone())
                .unwrap_or_default(),
            wave: prov.wave.as_ref().map(|w| w.wave),
            waves: prov.wave.as_ref().map(|w| w.waves),
        }
    }

    /// The ledger's line for a run: its provenance, the cells' statuses, the refused artifacts
    /// and the rows, the failed cells by name, and when it was collected (now).
    pub fn of_run(prov: &RunProvenance, outcomes: &[CellOutcome], refused: usize) -> LedgerEntry {
        let counts = Summary::of(outcomes.iter().map(|o| o.record.status));
        let mut entry = LedgerEntry::new(prov, &counts);
        entry.refused = refused;
        entry.rows = outcomes.iter().map(|o| o.rows.len()).sum();
        entry.failed_cells = outcomes
            .iter()
            .filter(|o| !o.ok())
            .map(|o| o.record.cell.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        entry.collected_at = now_rfc3339();
        entry
    }

    /// The cells' count as the ledger keeps it (refused cells among the failed ones).
    pub fn summary(&self) -> Summary {
        Summary {
            cells: self.cells,
            ok: self.ok,
            failed: self.failed,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            refused: 0,
        }
    }

    /// Everything but the time it was written: two collections of one attempt that found the
    /// same thing are the same entry.
    fn same_as(&self, other: &LedgerEntry) -> bool {
        LedgerEntry {
            collected_at: String::new(),
            ..self.clone()
        } == LedgerEntry {
            collected_at: String::new(),
            ..other.clone()
        }
    }
}

/// `data/evaluation/NAME.csv` → `data/evaluation/NAME.runs.csv`.
pub fn path_for(dataset: &Path) -> PathBuf {
    crate::names::ledger_path(dataset)
}

/// The ledger's entries, oldest run first; a missing file is an empty ledger.
pub fn read(path: &Path) -> Result<Vec<LedgerEntry>, DatasetError> {
    super::settle_ledger(path);
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(DatasetError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(std::io::BufReader::new(file), path)
}

/// Parses ledger text (from a file, or from another branch through the API).
pub fn parse(r: impl std::io::Read, path: &Path) -> Result<Vec<LedgerEntry>, DatasetError> {
    let mut rdr = csv::Reader::from_reader(r);
    rdr.deserialize()
        .collect::<Result<Vec<LedgerEntry>, _>>()
        .map_err(|source| DatasetError::Csv {
            path: path.to_path_buf(),
            source,
        })
}

/// Adds or replaces the entry for (run, attempt), under the dataset's lock (the caller holds
/// it). Returns whether the file changed: collecting the same attempt twice with the same
/// result leaves the file byte for byte as it was.
pub fn record(path: &Path, entry: LedgerEntry) -> Result<bool, DatasetError> {
    let (_, Some(text)) = with_entry(path, entry)? else {
        return Ok(false);
    };
    crate::fsutil::write_atomic(path, &text)?;
    Ok(true)
}

/// [`record`], staging the new ledger in `pair` (written and synced, not yet renamed) for the
/// caller to put in place together with the dataset. Returns whether the file changes, and
/// its entries with `entry` among them.
pub(super) fn record_into(
    path: &Path,
    entry: LedgerEntry,
    pair: &mut crate::fsutil::Pair,
) -> Result<(bool, Vec<LedgerEntry>), DatasetError> {
    let (entries, text) = with_entry(path, entry)?;
    let Some(text) = text else {
        return Ok((false, entries));
    };
    pair.add(crate::fsutil::stage_with(path, |w| w.write_all(&text))?);
    Ok((true, entries))
}

/// The ledger's entries with `entry` added or replacing its (run, attempt), and their text;
/// no text when that would not change the file.
fn with_entry(
    path: &Path,
    mut entry: LedgerEntry,
) -> Result<(Vec<LedgerEntry>, Option<Vec<u8>>), DatasetError> {
    let mut entries = read(path)?;
    match entries
        .iter_mut()
        .find(|e| e.run_id == entry.run_id && e.attempt == entry.attempt)
    {
        Some(e) if e.same_as(&entry) => return Ok((entries, None)),
        Some(e) => {
            entry.collected_at = e.collected_at.clone();
            *e = entry;
        }
        None => entries.push(entry),
    }
    entries.sort_by(|a, b| {
        (a.run_started_at.as_str(), a.source.as_str())
            .cmp(&(b.run_started_at.as_str(), b.source.as_str()))
            .then_with(|| super::compare_values(&a.run_id, &b.run_id))
            .then(a.attempt.cmp(&b.attempt))
    });
    let mut out = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        for e in &entries {
            w.serialize(e).map_err(|source| DatasetError::Csv {
                path: path.to_path_buf(),
                source,
            })?;
        }
        w.flush().map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok((entries, Some(out)))
}
