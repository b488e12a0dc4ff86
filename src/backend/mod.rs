//! Where cells run. Both backends leave the same thing behind: one directory per cell holding
//! `cell.json`, the logs and the results file (see `crate::contract`).

pub mod github;
pub mod local;

use std::path::{Path, PathBuf};

/// Local runs keep their cell outputs under `.outrun/runs/NAME/RUN_ID/` (git-ignored scratch;
/// the dataset is what gets committed).
pub const RUNS_DIR: &str = ".outrun/runs";

pub fn runs_dir(root: &Path, experiment: &str) -> PathBuf {
    root.join(RUNS_DIR).join(experiment)
}

/// The newest local run directory of `experiment`, if any (run ids sort by time).
pub fn latest_run_dir(root: &Path, experiment: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs_dir(root, experiment))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.pop()
}
