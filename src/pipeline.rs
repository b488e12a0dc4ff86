//! The one collect path: a folder of cell outputs plus the provenance of the run that made them
//! → checked outcomes → merged rows and a ledger entry → a report → the experiment's one comment.
//!
//! Every way a run ends goes through [`finish`]: `run --local`, `merge`, `collect`,
//! `dispatch --wait`, `sync` and the workflow's own final job. Fetching the outputs is the
//! backend's business (a local run leaves them on disk, the GitHub backend downloads and
//! unpacks artifacts); so is posting the comment (`backend::github::upsert_comment`), which
//! the caller does with the returned Markdown.

use std::path::{Path, PathBuf};

use crate::compare;
use crate::contract::{CellRecord, RunProvenance};
use crate::dataset::{self, MergeSummary, ledger};
use crate::experiment::Plan;
use crate::outputs::{self, CellOutcome};
use crate::report::{self, Refused, Report, RunInfo};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Outputs(#[from] outputs::OutputsError),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error(transparent)]
    Compare(#[from] compare::CompareError),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
}

/// The issue a run's report belongs on: the one named for this run (a `--issue` flag, the
/// workflow's `issue` input, or the dispatch's record), else the experiment's own `issue`.
pub fn comment_issue(plan: &Plan, for_this_run: Option<u64>) -> Option<u64> {
    for_this_run.or(plan.file.issue)
}

/// What [`finish`] is given.
pub struct Finish<'a> {
    pub root: &'a Path,
    pub plan: &'a Plan,
    /// The cell outputs to read, each with the cell its position says it holds (decided by the
    /// backend, see `outputs::Positioned`); none when nothing came back.
    pub outputs: Vec<outputs::Positioned>,
    pub provenance: &'a RunProvenance,
    /// Cells that left no output, from the backend's own account of the run.
    pub missing: Vec<CellRecord>,
    pub refused: Vec<Refused>,
    /// Merge into the dataset and the ledger (`false`: report only, e.g. `run --no-merge`).
    pub merge: bool,
    /// Where to keep the Markdown report as a file, besides returning it.
    pub report_file: Option<PathBuf>,
}

/// What [`finish`] did.
#[derive(Debug)]
pub struct Finished {
    pub outcomes: Vec<CellOutcome>,
    pub merge: Option<MergeSummary>,
    pub ledger_changed: bool,
    pub report: Report,
    pub markdown: String,
}

pub async fn finish(f: Finish<'_>) -> Result<Finished, PipelineError> {
    let mut outcomes = gather_outcomes(f.plan, &f.outputs, f.provenance, f.missing);
    if !f.merge {
        fail_key_clashes(f.plan, &mut outcomes);
    }

    // What the report keeps of the dataset's newest rows, gathered as the merge writes them.
    let mut watched: Option<(Results, Vec<String>)> = None;
    let (merge, ledger_changed) = if f.merge {
        let _lock = dataset::lock(f.root, f.plan)?;
        // The new dataset and the new ledger are put in place together or not at all.
        let data_path = f.root.join(f.plan.dataset_path());
        let mut pair = crate::fsutil::Pair::new(dataset::journal_path(&data_path));
        let mut merge = |outcomes: &[CellOutcome]| -> Result<_, PipelineError> {
            // A comparison that cannot start (its measured file unreadable) must not keep the
            // rows out of the dataset: merge them, and let the report say what is wrong after.
            let req =
                dataset::MergeRequest::new(f.root, f.plan, outcomes, &f.provenance.run_started_at);
            let Ok(mut acc) = Results::new(f.root, f.plan) else {
                return Ok(dataset::merge_into_pair(req, None, &mut pair)?.0);
            };
            let (summary, columns) =
                dataset::merge_into_pair(req, Some(&mut |row| acc.feed(row)), &mut pair)?;
            watched = columns.map(|c| (acc, c));
            Ok(summary)
        };
        // The merge finds cells whose keys clash as it sorts; only then are they looked for.
        let summary = match merge(&outcomes) {
            Err(PipelineError::Dataset(dataset::DatasetError::KeyClash { .. })) => {
                fail_key_clashes(f.plan, &mut outcomes);
                merge(&outcomes)?
            }
            other => other?,
        };
        let entry = ledger_entry(f.provenance, &outcomes, f.refused.len());
        let changed = ledger::record_into(&ledger::path_for(&data_path), entry, &mut pair)?;
        pair.commit()?;
        (Some(summary), changed)
    } else {
        (None, false)
    };

    let run = Some(RunInfo::of(f.provenance));
    let mut report = match watched {
        Some((acc, columns)) => acc.into_report(f.plan, &outcomes, run, &columns, f.refused),
        None => build_report(f.root, f.plan, &outcomes, run, f.refused)?,
    };
    // One wave of a dispatch reports the whole dispatch: every wave this ledger has collected
    // (this one just recorded), the others as still to come.
    if let Some(wave) = &f.provenance.wave {
        let entries = ledger::read(&ledger::path_for(&f.root.join(f.plan.dataset_path())))?;
        report.group = Some(report::GroupReport::of(wave, &entries));
    }
    let markdown = report::markdown(&report);
    if let Some(path) = &f.report_file {
        crate::fsutil::write_atomic(path, markdown.as_bytes())?;
    }
    Ok(Finished {
        outcomes,
        merge,
        ledger_changed,
        report,
        markdown,
    })
}

/// Every cell's outcome, in the plan's order: the outputs read back, stamped with what the
/// run's side knows of their times, and the cells that left no output.
fn gather_outcomes(
    plan: &Plan,
    positioned: &[outputs::Positioned],
    provenance: &RunProvenance,
    missing: Vec<CellRecord>,
) -> Vec<CellOutcome> {
    let mut outcomes = outputs::read_cells(positioned, plan);
    // What the run's side says about where and when each cell ran overrides the cell's files.
    for o in &mut outcomes {
        o.duration_claimed = provenance.stamp(&mut o.record);
        // A refused cell's own figures are not believed: what is known is its job's time.
        if o.record.status == crate::contract::CellStatus::Refused
            && let Some(j) = provenance.cells.get(&o.record.cell).and_then(|j| j.job_s)
        {
            o.record.duration_s = j;
            o.duration_claimed = false;
        }
    }
    // Cells that shared a job never claim more than the job's time between them.
    let mut claims: Vec<(&str, &mut f64)> = outcomes
        .iter_mut()
        .filter(|o| o.duration_claimed)
        .map(|o| (o.record.cell.as_str(), &mut o.record.duration_s))
        .collect();
    provenance.cap_shared(&mut claims);
    for rec in missing {
        if !outcomes.iter().any(|o| o.record.cell == rec.cell) {
            outcomes.push(CellOutcome {
                record: rec,
                dir: PathBuf::new(),
                rows: outputs::Rows::default(),
                columns: Vec::new(),
                duration_claimed: false,
            });
        }
    }
    outputs::sort_by_plan(&mut outcomes, plan);
    outcomes
}

/// The ledger's line for this run: its provenance, the cells' statuses, the refused cells
/// and the rows, the failed cells by name.
fn ledger_entry(
    provenance: &RunProvenance,
    outcomes: &[CellOutcome],
    refused: usize,
) -> ledger::LedgerEntry {
    let counts = crate::contract::Summary::of(outcomes.iter().map(|o| o.record.status));
    let mut entry = ledger::LedgerEntry::new(provenance, &counts);
    entry.refused = refused;
    entry.rows = outcomes.iter().map(|o| o.rows.len()).sum();
    entry.failed_cells = outcomes
        .iter()
        .filter(|o| !o.ok())
        .map(|o| o.record.cell.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    entry.collected_at = crate::contract::now_rfc3339();
    entry
}

/// Cells of one run that produce the same key would hide each other in the dataset: both fail,
/// each naming the other, rather than one silently winning.
pub(crate) fn fail_key_clashes(plan: &Plan, outcomes: &mut [CellOutcome]) {
    for (a, b, key) in dataset::key_clashes(plan, outcomes) {
        for o in outcomes.iter_mut() {
            let other = if o.record.cell == a {
                &b
            } else if o.record.cell == b {
                &a
            } else {
                continue;
            };
            o.record.status = crate::contract::CellStatus::Failed;
            o.record.error = Some(format!(
                "produces the key ({key}) that cell `{other}` of the same run produces too: add the parameter that tells them apart to `results.keys`"
            ));
        }
    }
}

/// The report: cell statuses from `outcomes` (may be empty), results from the dataset — read
/// in one pass (see `dataset::for_each_newest`): the count, the comparison's join and the
/// first rows that can fit a comment, never the whole file in memory.
pub fn build_report(
    root: &Path,
    plan: &Plan,
    outcomes: &[CellOutcome],
    run: Option<RunInfo>,
    refused: Vec<Refused>,
) -> Result<Report, PipelineError> {
    let path = root.join(plan.dataset_path());
    let mut acc = Results::new(root, plan)?;
    let columns = match dataset::for_each_newest(&path, plan, |row| acc.feed(row)) {
        Ok(columns) => columns,
        // A file out of order (edited by hand): start over, reading it whole once.
        Err(dataset::DatasetError::Unsorted { .. }) => {
            acc = Results::new(root, plan)?;
            dataset::newest_in_memory(&path, plan, |row| acc.feed(row))?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(acc.into_report(plan, outcomes, run, &columns, refused))
}

/// What a report keeps of the newest rows as they stream by.
struct Results<'a> {
    joiner: Option<compare::Joiner<'a>>,
    first: Vec<dataset::Row>,
    total: usize,
}

impl<'a> Results<'a> {
    fn new(root: &Path, plan: &'a Plan) -> Result<Results<'a>, PipelineError> {
        let joiner = plan
            .file
            .compare
            .as_ref()
            .map(|spec| compare::Joiner::new(root, spec))
            .transpose()?;
        Ok(Results {
            joiner,
            first: Vec::new(),
            total: 0,
        })
    }

    fn into_report(
        self,
        plan: &Plan,
        outcomes: &[CellOutcome],
        run: Option<RunInfo>,
        columns: &[String],
        refused: Vec<Refused>,
    ) -> Report {
        let comparison = self.joiner.map(compare::Joiner::finish);
        report::build(report::ReportInput {
            plan,
            outcomes,
            run,
            dataset_columns: columns,
            results: self.first,
            results_total: self.total,
            comparison,
            refused,
        })
    }

    fn feed(&mut self, row: dataset::Newest<'_>) {
        self.total += 1;
        if let Some(j) = &mut self.joiner {
            j.feed_with(|c| row.get(c));
        }
        if self.first.len() < report::RESULT_ROWS {
            self.first.push(row.into_row());
        }
    }
}
