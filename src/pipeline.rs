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
use crate::dataset::{self, MergeSummary};
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

/// Reads the run's outcomes (`outputs::of_run`), writes the run into the dataset and the
/// ledger together (`dataset::write::write_run`; unless `f.merge` is off), and builds its
/// report.
pub async fn finish(mut f: Finish<'_>) -> Result<Finished, PipelineError> {
    let (missing, refused) = (
        std::mem::take(&mut f.missing),
        std::mem::take(&mut f.refused),
    );
    let mut outcomes = outputs::of_run(f.plan, &f.outputs, f.provenance, missing);
    // What the report keeps of the dataset's newest rows, gathered as the merge writes them. A
    // comparison that cannot start (its measured file unreadable) must not keep the rows out
    // of the dataset: merge them, and let the report say what is wrong after.
    let mut watched = if f.merge {
        Results::new(f.root, f.plan).ok()
    } else {
        None
    };
    let written = if f.merge {
        let run = dataset::write::RunWrite {
            root: f.root,
            plan: f.plan,
            provenance: f.provenance,
            refused: refused.len(),
        };
        let mut feed = watched
            .as_mut()
            .map(|acc| move |row: dataset::Newest<'_>| acc.feed(row));
        let watch = feed
            .as_mut()
            .map(|feed| feed as &mut dyn FnMut(dataset::Newest<'_>));
        Some(dataset::write::write_run(run, &mut outcomes, watch)?)
    } else {
        dataset::write::fail_key_clashes(f.plan, &mut outcomes);
        None
    };
    let report = written_report(&f, &outcomes, refused, watched, written.as_ref())?;
    let markdown = report::markdown(&report);
    if let Some(path) = &f.report_file {
        crate::fsutil::write_atomic(path, markdown.as_bytes())?;
    }
    let (merge, ledger_changed) = match written {
        Some(w) => (Some(w.merge), w.ledger_changed),
        None => (None, false),
    };
    Ok(Finished {
        outcomes,
        merge,
        ledger_changed,
        report,
        markdown,
    })
}

/// The report of a run [`finish`] has written: its results from the rows `watched` saw as the
/// merge wrote them, else read from the dataset. One wave of a dispatch reports the whole
/// dispatch: every wave the ledger has collected (this one just recorded), the others as still
/// to come — a wave is always merged (only `run --no-merge` is not, and it has no waves).
fn written_report(
    f: &Finish<'_>,
    outcomes: &[CellOutcome],
    refused: Vec<Refused>,
    watched: Option<Results<'_>>,
    written: Option<&dataset::write::Written>,
) -> Result<Report, PipelineError> {
    let (acc, columns) = match (watched, written.and_then(|w| w.columns.clone())) {
        (Some(acc), Some(columns)) => (acc, columns),
        _ => Results::read(f.root, f.plan)?,
    };
    let run = Some(RunInfo::of(f.provenance));
    let mut report = acc.into_report(f.plan, outcomes, run, &columns, refused);
    if let (Some(wave), Some(written)) = (&f.provenance.wave, written) {
        report.group = Some(report::GroupReport::of(wave, &written.ledger));
    }
    Ok(report)
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
    let (acc, columns) = Results::read(root, plan)?;
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

    /// The newest rows of the dataset as they are, read in one pass, and its columns.
    fn read(root: &Path, plan: &'a Plan) -> Result<(Results<'a>, Vec<String>), PipelineError> {
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
        Ok((acc, columns))
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
