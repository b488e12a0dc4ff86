//! Every name outrun gives things, in one place: the workflow file, the artifacts its jobs
//! upload, the run title a dispatch is found by, the hidden comment marker, the landing branch,
//! and the folders under `.outrun/`. Whatever writes one of these names and whatever reads it
//! back (the template, the GitHub backend, the tests) goes through here, so they cannot drift.

use std::path::{Path, PathBuf};

/// The dispatch id of a run a maintainer started with "Run workflow" (the input's default).
pub(crate) const MANUAL_ID: &str = "manual";

/// Local scratch (git-ignored): local runs' cell outputs, downloads, dispatch records, locks.
pub(crate) const STATE_DIR: &str = ".outrun";
/// Local runs keep their cell outputs under `.outrun/runs/NAME/RUN_ID/`.
pub(crate) const RUNS_DIR: &str = ".outrun/runs";
/// What `outrun dispatch` leaves for a later session on this machine.
pub(crate) const RECORDS_DIR: &str = ".outrun/dispatches";
/// Downloaded and unpacked artifacts, per run.
pub(crate) const DOWNLOADS_DIR: &str = ".outrun/github";

/// `outrun-NAME.yml`, the generated workflow's file name (GitHub accepts it as the workflow id).
pub fn workflow_file(experiment: &str) -> String {
    format!("outrun-{experiment}.yml")
}

/// `.github/workflows/outrun-NAME.yml`, relative to the project root.
pub fn workflow_path(experiment: &str) -> PathBuf {
    Path::new(".github/workflows").join(workflow_file(experiment))
}

/// `outrun-NAME.cells.json`: the cells and the command the workflow's jobs read from the
/// checkout, beside the workflow (GitHub reads only `.yml`/`.yaml` there as workflows).
pub fn cells_file(experiment: &str) -> String {
    format!("outrun-{experiment}.cells.json")
}

/// `.github/workflows/outrun-NAME.cells.json`, relative to the project root.
pub fn cells_path(experiment: &str) -> PathBuf {
    Path::new(".github/workflows").join(cells_file(experiment))
}

/// The experiment a generated file (`outrun-NAME.yml` or `outrun-NAME.cells.json`) belongs to.
pub fn experiment_of_generated(path: &str) -> Option<&str> {
    let file = path.rsplit('/').next()?;
    experiment_of_workflow(file).or_else(|| {
        file.strip_prefix("outrun-")?
            .strip_suffix(".cells.json")
            .filter(|n| crate::experiment::is_safe_name(n))
    })
}

/// The experiment a workflow path (`.github/workflows/outrun-NAME.yml`) belongs to.
pub fn experiment_of_workflow(path: &str) -> Option<&str> {
    let file = path.rsplit('/').next()?;
    file.strip_prefix("outrun-")?
        .strip_suffix(".yml")
        .filter(|n| crate::experiment::is_safe_name(n))
}

/// The prefix of every artifact a run of `experiment` uploads: `outrun-NAME-`.
pub(crate) fn artifact_prefix(experiment: &str) -> String {
    format!("outrun-{experiment}-")
}

/// `outrun-NAME-SHARD-aATTEMPT`: one artifact per matrix job and attempt (names are unique per
/// run, and a re-run's jobs upload beside the first attempt's).
pub(crate) fn artifact_name(experiment: &str, shard: &str, attempt: u32) -> String {
    format!("{}{shard}-a{attempt}", artifact_prefix(experiment))
}

/// `outrun-NAME-SHARD-aN` → (SHARD, N). Only names of `[A-Za-z0-9._-]` qualify: the name
/// becomes a directory here, so nothing from the API may steer a path.
pub(crate) fn parse_artifact<'a>(experiment: &str, name: &'a str) -> Option<(&'a str, u32)> {
    if name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return None;
    }
    let rest = name.strip_prefix(&artifact_prefix(experiment))?;
    let (shard, attempt) = rest.rsplit_once("-a")?;
    if shard.is_empty() {
        return None;
    }
    Some((shard, attempt.parse().ok()?))
}

/// The run name the template gives (`run-name`): `outrun NAME ID`.
pub(crate) fn run_title(experiment: &str, id: &str) -> String {
    format!("outrun {experiment} {id}")
}

/// The experiment and dispatch id from a run name `outrun NAME ID`. The id is anyone's free
/// text (a workflow input), so one that is not a safe name reads as "".
pub(crate) fn parse_run_title(title: &str) -> Option<(&str, &str)> {
    let rest = title.strip_prefix("outrun ")?;
    let (name, id) = rest.split_once(' ').unwrap_or((rest, ""));
    let id = if crate::experiment::is_safe_name(id) {
        id
    } else {
        ""
    };
    crate::experiment::is_safe_name(name).then_some((name, id))
}

/// The hidden first line of an experiment's one comment on its issue.
pub(crate) fn comment_marker(experiment: &str) -> String {
    format!("<!-- outrun:report:{experiment} -->")
}

/// The branch a run's dataset change is proposed on: `outrun/NAME/RUN_ID`.
pub(crate) fn landing_branch(experiment: &str, run_id: u64) -> String {
    format!("{}{run_id}", landing_prefix(experiment))
}

/// What every landing branch of `experiment` starts with.
pub(crate) fn landing_prefix(experiment: &str) -> String {
    format!("outrun/{experiment}/")
}

/// The run id of a landing branch of `experiment`, if `branch` is one.
pub(crate) fn parse_landing_branch(experiment: &str, branch: &str) -> Option<u64> {
    branch
        .strip_prefix("outrun/")?
        .strip_prefix(experiment)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

/// The run ledger beside a dataset: `data/evaluation/NAME.csv` → `data/evaluation/NAME.runs.csv`
/// (the workflow names it in its upload step, the dataset writes it).
pub fn ledger_path(dataset: &Path) -> PathBuf {
    let stem = dataset
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("dataset");
    dataset.with_file_name(format!("{stem}.runs.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_hostile_ones_are_refused() {
        assert_eq!(
            parse_artifact("sweep", &artifact_name("sweep", "1-a-0f3e2a1b", 2)),
            Some(("1-a-0f3e2a1b", 2))
        );
        assert_eq!(
            parse_artifact("sweep", "outrun-sweep-shard-003-a1"),
            Some(("shard-003", 1))
        );
        assert_eq!(parse_artifact("sweep", "outrun-other-x-a1"), None);
        assert_eq!(parse_artifact("sweep", "outrun-sweep-../../evil-a1"), None);
        assert_eq!(parse_artifact("sweep", "outrun-sweep-x/y-a1"), None);
        assert_eq!(parse_artifact("sweep", "outrun-sweep-x-a"), None);
        assert_eq!(parse_artifact("sweep", "outrun-sweep--a1"), None);
        assert_eq!(
            parse_run_title(&run_title("sweep", "20261126t010203z-1a2b3c")),
            Some(("sweep", "20261126t010203z-1a2b3c"))
        );
        assert_eq!(parse_run_title("outrun sweep ../../x"), Some(("sweep", "")));
        assert_eq!(parse_run_title("CI"), None);
        assert_eq!(
            experiment_of_workflow(".github/workflows/outrun-sweep.yml"),
            Some("sweep")
        );
        assert_eq!(experiment_of_workflow(".github/workflows/ci.yml"), None);
        assert_eq!(
            experiment_of_generated(&cells_path("sweep").display().to_string()),
            Some("sweep")
        );
        assert_eq!(experiment_of_generated("outrun-sweep.yml"), Some("sweep"));
        assert_eq!(experiment_of_generated("outrun-../x.cells.json"), None);
        assert_eq!(
            parse_landing_branch("sweep", &landing_branch("sweep", 42)),
            Some(42)
        );
        assert_eq!(parse_landing_branch("sweep", "outrun/sweeper/42"), None);
    }
}
