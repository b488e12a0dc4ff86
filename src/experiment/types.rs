//! The experiment file as written (`experiments/NAME.yaml`).
//!
//! Field names are kebab-case, unknown fields are errors (a misspelt `timout` must not be
//! silently ignored), and everything optional has a default a new user would expect.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExperimentFile {
    /// Used in file names, workflow names, artifact names: `[a-z0-9][a-z0-9._-]*`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The issue the results are reported on.
    #[serde(default)]
    pub issue: Option<u64>,
    #[serde(default)]
    pub runner: Runner,
    #[serde(default)]
    pub setup: Setup,
    /// Parameter lists plus GitHub's `include` / `exclude`; kept raw so that every problem in it
    /// can be reported with its own position.
    pub matrix: serde_yaml::Mapping,
    /// Run by `bash -c` from the repository root, with the parameters in the environment.
    pub command: String,
    /// Per-cell time limit, e.g. `90s`, `30m`, `6h`.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    pub results: Results,
    #[serde(default)]
    pub dataset: DatasetSpec,
    #[serde(default)]
    pub compare: Option<Compare>,
    #[serde(default)]
    pub github: GithubSpec,
}

fn default_timeout() -> String {
    "30m".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Runner {
    /// `runs-on` labels, e.g. `[self-hosted, gpu]`.
    #[serde(default = "default_labels", deserialize_with = "one_or_many")]
    pub labels: Vec<String>,
    /// A job container image, e.g. `timeloopaccelergy/accelergy-timeloop-infrastructure:latest`.
    #[serde(default)]
    pub container: Option<String>,
    /// How long one job may run on these runners, e.g. `5d` for a self-hosted runner
    /// (GitHub's own limit there); default and at most 6 h on GitHub-hosted labels.
    #[serde(default)]
    pub job_timeout: Option<String>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner {
            labels: default_labels(),
            container: None,
            job_timeout: None,
        }
    }
}

fn default_labels() -> Vec<String> {
    vec!["ubuntu-latest".into()]
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Setup {
    /// A Python version for `actions/setup-python`, e.g. `"3.11"`.
    #[serde(default)]
    pub python: Option<String>,
    /// Shell commands run once per job before the cells (on GitHub; locally the machine is
    /// assumed to be set up already).
    #[serde(default)]
    pub steps: Vec<String>,
    /// A folder GitHub keeps between runs (`actions/cache`), restored before the steps: a tool
    /// the steps build from source is built once per key. Locally unused.
    #[serde(default)]
    pub cache: Option<SetupCache>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SetupCache {
    /// The folder, e.g. `~/timeloop` (`~` is the runner's home).
    pub path: String,
    /// Names the folder's contents: change it when they must be rebuilt (e.g. a commit).
    pub key: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Results {
    /// `results.csv` or `results.jsonl`, relative to `$OUTRUN_OUT`.
    #[serde(default = "default_results_file")]
    pub file: String,
    /// Columns that identify a row; parameters count as columns.
    pub keys: Vec<String>,
    /// The most bytes a cell's results file may have (`1GiB`, `500MB`, `4096`); larger, the
    /// cell fails alone. Default [`DEFAULT_RESULTS_MAX_SIZE`].
    #[serde(default)]
    pub max_size: Option<String>,
}

/// A cell's results file may have 1 GiB unless `results.max-size` says otherwise.
pub(crate) const DEFAULT_RESULTS_MAX_SIZE: u64 = 1 << 30;
/// The most `results.max-size` may say: 64 GiB (the rows are held in memory for the merge).
pub(crate) const MAX_RESULTS_MAX_SIZE: u64 = 64 << 30;

/// A size: bytes, or a number with a unit `B`, `KB`/`MB`/`GB` (powers of 1000) or
/// `KiB`/`MiB`/`GiB` (powers of 1024), a space allowed between (units case-insensitive).
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

impl Results {
    /// The limit on a cell's results file, in bytes (validated: a bad value never gets here).
    pub fn max_size(&self) -> u64 {
        self.max_size
            .as_deref()
            .and_then(parse_size)
            .unwrap_or(DEFAULT_RESULTS_MAX_SIZE)
    }
}

fn default_results_file() -> String {
    "results.csv".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One row per result row, one column per value.
    #[default]
    Wide,
    /// One row per (key, metric): columns `metric` and `value`.
    Long,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DatasetSpec {
    /// Defaults to `data/evaluation/NAME.csv`.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub layout: Layout,
    /// Whether a newer run's rows replace the older ones with the same key.
    #[serde(default)]
    pub history: History,
}

/// What the dataset keeps of earlier runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum History {
    /// One row per key (and metric): the newest run's.
    #[default]
    Newest,
    /// Every run's rows; reports use the newest per key.
    All,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Compare {
    /// A CSV of measurements, relative to the repository root.
    pub measured: String,
    /// Columns present in both the results and the measurements.
    pub on: Vec<String>,
    /// The results column holding the prediction.
    pub predicted: String,
    /// The measured column it is compared with.
    pub actual: String,
    /// Error statistics are given per group of these columns (and over all rows).
    #[serde(default)]
    pub group_by: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// How runs on GitHub are trusted and how the workflow lands its results.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GithubSpec {
    /// Branches (globs) whose `workflow_dispatch` runs are merged; default: the repository's
    /// default branch. Runs of other events or branches are never merged.
    #[serde(default)]
    pub refs: Vec<String>,
    /// How the workflow's final job lands the dataset change.
    #[serde(default)]
    pub land: Land,
    /// The branch `land: branch` commits to.
    #[serde(default)]
    pub branch: Option<String>,
    /// A shell command that puts `outrun` on the final job's PATH (into `$OUTRUN_BIN`), instead
    /// of `cargo install --locked outrun@VERSION` — for Enterprise runners without a public
    /// network, or for tests.
    #[serde(default)]
    pub install: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Land {
    /// A pull request from `outrun/NAME/RUN_ID` to the default branch.
    #[default]
    PullRequest,
    /// A commit on `github.branch`.
    Branch,
    /// Nothing committed: the merged dataset and report are uploaded as an artifact.
    Artifact,
}
