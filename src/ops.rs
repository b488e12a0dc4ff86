//! The stages strung together, for the command line and for the GitHub backend alike: both
//! call [`merge_outputs`] and [`build_report`] on a folder of cell outputs.

use std::path::{Path, PathBuf};

use crate::collect::{self, CellOutcome};
use crate::compare;
use crate::dataset::{self, MergeSummary};
use crate::report::{self, Report, RunInfo};
use crate::spec::Plan;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Collect(#[from] collect::CollectError),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error(transparent)]
    Compare(#[from] compare::CompareError),
    #[error("no local run of `{0}` yet: run `outrun run {0} --local` first, or name a folder with --run")]
    NoRun(String),
}

/// Reads the cell outputs under `dir` and merges the successful ones into the dataset.
pub fn merge_outputs(root: &Path, plan: &Plan, dir: &Path) -> Result<(Vec<CellOutcome>, MergeSummary), OpsError> {
    let outcomes = collect::read_outputs(dir, plan)?;
    let summary = dataset::merge(root, plan, &outcomes)?;
    Ok((outcomes, summary))
}

/// The folder of the run to report on: the one named, or the newest local run.
pub fn run_dir_or_latest(root: &Path, plan: &Plan, named: Option<&Path>) -> Result<PathBuf, OpsError> {
    match named {
        Some(p) => Ok(p.to_path_buf()),
        None => crate::backend::latest_run_dir(root, plan.name()).ok_or_else(|| OpsError::NoRun(plan.name().into())),
    }
}

/// The run's id and source, from its cells' records.
pub fn run_info(outcomes: &[CellOutcome]) -> Option<RunInfo> {
    let first = outcomes.iter().find(|o| !o.record.run_id.is_empty())?;
    Some(RunInfo { id: first.record.run_id.clone(), source: first.record.source.as_str().into(), url: None })
}

/// The report: cell statuses from `outcomes` (may be empty), results from the dataset.
pub fn build_report(root: &Path, plan: &Plan, outcomes: &[CellOutcome], run: Option<RunInfo>) -> Result<Report, OpsError> {
    let data = dataset::read(&root.join(plan.dataset_path()))?;
    let newest = dataset::widen(plan, &dataset::newest_per_key(plan, &data));
    let comparison = match &plan.file.compare {
        Some(spec) => Some(compare::compare(root, spec, &newest)?),
        None => None,
    };
    Ok(report::build(plan, outcomes, run, &data.columns, newest, comparison))
}
