//! Writing a run: the one write every collect path ends in. Under the dataset's lock, the run's
//! rows are merged (cells whose keys clash failed first, when the merge finds such a clash) and
//! its ledger entry recorded; the new dataset and the new ledger are put in place together
//! (see `fsutil::Pair`), or not at all. A run another copy holds already (what a run's final
//! job landed) is taken in whole instead ([`take_landed`]).

use std::path::Path;

use super::absorb::absorb;
use super::ledger::{self, LedgerEntry};
use super::merge::{self, MergeRequest, key_clashes};
use super::{DatasetError, MergeSummary, Newest, journal_path, lock};
use crate::contract::{CellStatus, RunProvenance};
use crate::experiment::Plan;
use crate::outputs::CellOutcome;

/// A run to write into its experiment's dataset and ledger.
pub struct RunWrite<'a> {
    /// The project root; the dataset is at `root/plan.dataset_path()`.
    pub root: &'a Path,
    pub plan: &'a Plan,
    pub provenance: &'a RunProvenance,
    /// How many of the run's artifacts were refused (the ledger counts them).
    pub refused: usize,
}

/// What writing a run did.
#[derive(Debug)]
pub struct Written {
    pub merge: MergeSummary,
    /// The dataset's columns when the merge handed `watch` every newest row; `None` when what
    /// it saw must be thrown away and the file read instead (see [`super::merge_watching`]).
    pub columns: Option<Vec<String>>,
    pub ledger_changed: bool,
    /// The ledger's entries as they are now, this run's among them, oldest run first.
    pub ledger: Vec<LedgerEntry>,
}

/// Merges `outcomes` (the run's cells, checked) into the dataset and records the run in the
/// ledger, both put in place together. A cell whose key clashes with another cell's of the
/// run fails, in `outcomes` too (see [`fail_key_clashes`]). `watch`, when given, sees the
/// newest row per key of the merged dataset as it is written.
pub fn write_run(
    run: RunWrite<'_>,
    outcomes: &mut [CellOutcome],
    mut watch: Option<&mut dyn FnMut(Newest<'_>)>,
) -> Result<Written, DatasetError> {
    let RunWrite {
        root,
        plan,
        provenance,
        refused,
    } = run;
    let _lock = lock(root, plan)?;
    let data_path = root.join(plan.dataset_path());
    // The new dataset and the new ledger are put in place together or not at all.
    let mut pair = crate::fsutil::Pair::new(journal_path(&data_path));
    let started = provenance.run_started_at.as_str();
    // The merge finds cells whose keys clash as it sorts (before it writes or hands `watch` a
    // row); only then are they looked for.
    let first = MergeRequest::new(root, plan, outcomes, started);
    let watching = watch
        .as_mut()
        .map(|w| &mut **w as &mut dyn FnMut(Newest<'_>));
    let (summary, columns) = match merge::merge(first, watching, Some(&mut pair)) {
        Err(DatasetError::KeyClash { .. }) => {
            fail_key_clashes(plan, outcomes);
            let again = MergeRequest::new(root, plan, outcomes, started);
            merge::merge(again, watch, Some(&mut pair))?
        }
        other => other?,
    };
    let entry = LedgerEntry::of_run(provenance, outcomes, refused);
    let (ledger_changed, ledger) =
        ledger::record_into(&ledger::path_for(&data_path), entry, &mut pair)?;
    pair.commit()?;
    Ok(Written {
        merge: summary,
        columns,
        ledger_changed,
        ledger,
    })
}

/// Takes in a run as another copy of the dataset holds it (what the run's final job landed),
/// under the dataset's lock: its ledger `entries` are recorded and its rows (those of `run_id`
/// in `dataset`, that copy's bytes) absorbed by the one merge. Returns the rows taken, the
/// rows the dataset holds now, and whether the dataset or the ledger changed.
pub fn take_landed(
    root: &Path,
    plan: &Plan,
    entries: &[LedgerEntry],
    dataset: Option<&[u8]>,
    run_id: &str,
) -> Result<(usize, usize, bool), DatasetError> {
    let _lock = lock(root, plan)?;
    let ledger_path = ledger::path_for(&root.join(plan.dataset_path()));
    let mut changed = false;
    for e in entries {
        changed |= ledger::record(&ledger_path, e.clone())?;
    }
    let (taken, total) = match dataset {
        Some(bytes) => absorb(root, plan, bytes, &[run_id.to_string()].into())?,
        None => (0, 0),
    };
    Ok((taken, total, changed || taken > 0))
}

/// Cells of one run that produce the same key would hide each other in the dataset: both fail,
/// each naming the other, rather than one silently winning.
pub fn fail_key_clashes(plan: &Plan, outcomes: &mut [CellOutcome]) {
    for (a, b, key) in key_clashes(plan, outcomes) {
        for o in outcomes.iter_mut() {
            let other = if o.record.cell == a {
                &b
            } else if o.record.cell == b {
                &a
            } else {
                continue;
            };
            o.record.status = CellStatus::Failed;
            o.record.error = Some(format!(
                "produces the key ({key}) that cell `{other}` of the same run produces too: add the parameter that tells them apart to `results.keys`"
            ));
        }
    }
}
