//! The cell contract: what a cell's output directory holds, whichever backend ran it.
//!
//! `cell.json` is written by the wrapper (outrun locally, `outrun_cell.py` on GitHub), never by
//! the experiment's command, and exists for failed cells too. Its fields are part of outrun's
//! stable interface (`schema: outrun.cell/v1`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const CELL_JSON: &str = "cell.json";
pub const STDOUT_LOG: &str = "stdout.log";
pub const STDERR_LOG: &str = "stderr.log";
pub const CELL_SCHEMA: &str = "outrun.cell/v1";

/// Time a cell gets between SIGTERM and SIGKILL, at its timeout or on an interrupt (both
/// wrappers: the local backend, and `outrun_cell.py` through `OUTRUN_CONFIG`).
pub const KILL_GRACE_S: u64 = 3;

/// How many matrix jobs a run may have (GitHub's limit); more cells are packed several to a job.
pub const MAX_JOBS: usize = 256;
/// Columns one results file may have. Merge and report are linear in the columns, but every
/// row of the dataset carries every column: a cell that writes millions would stall the final
/// job and bloat the dataset, so its results are refused with the count.
pub const MAX_RESULT_COLUMNS: usize = 100_000;

/// The `error` of a cell killed at its timeout (both wrappers word it alike).
pub fn timeout_error(timeout_s: u64) -> String {
    format!("killed after the {timeout_s} s timeout")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Ok,
    Failed,
    TimedOut,
    Cancelled,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Failed => "failed",
            CellStatus::TimedOut => "timed out",
            CellStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Local,
    Github,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Github => "github",
        }
    }
}

/// `cell.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub schema: String,
    pub experiment: String,
    pub cell: String,
    pub params: BTreeMap<String, String>,
    pub status: CellStatus,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub source: Source,
    pub runner: String,
    pub commit: Option<String>,
    pub run_id: String,
    pub attempt: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid cell.json: {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl CellRecord {
    pub fn read(dir: &Path) -> Result<CellRecord, ContractError> {
        use std::io::Read as _;
        let path = dir.join(CELL_JSON);
        let read_err = |source| ContractError::Read {
            path: path.clone(),
            source,
        };
        // A link the cell planted in place of its record is not followed (it could point at
        // any file the user can read): reading it fails, and so does the cell.
        let mut text = String::new();
        no_follow(std::fs::OpenOptions::new().read(true))
            .open(&path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(read_err)?;
        serde_json::from_str(&text).map_err(|source| ContractError::Parse { path, source })
    }

    /// The record of a cell that wrote none itself: it timed out or was cancelled before its
    /// wrapper could, its job uploaded nothing, its artifact expired or was refused. The only
    /// constructor of such records, so every backend reports them alike.
    pub fn missing(
        experiment: &str,
        cell: &crate::experiment::Cell,
        status: CellStatus,
        error: String,
        prov: &RunProvenance,
    ) -> CellRecord {
        let mut rec = CellRecord {
            schema: CELL_SCHEMA.into(),
            experiment: experiment.into(),
            cell: cell.id.clone(),
            params: cell.params.iter().cloned().collect(),
            status,
            exit_code: None,
            error: Some(error),
            started_at: String::new(),
            finished_at: String::new(),
            duration_s: 0.0,
            source: prov.source,
            runner: String::new(),
            commit: None,
            run_id: String::new(),
            attempt: 0,
        };
        prov.stamp(&mut rec);
        rec
    }

    pub fn write(&self, dir: &Path) -> Result<(), ContractError> {
        let path = dir.join(CELL_JSON);
        let mut text = serde_json::to_string_pretty(self).expect("record serialises");
        text.push('\n');
        // Never through a link: the cell's command could have planted `cell.json` as a link to
        // any file the user can write (`~/.bashrc`), and outrun writes after the command ends.
        no_follow(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true),
        )
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|source| ContractError::Write { path, source })
    }
}

/// `O_NOFOLLOW`: opening a symbolic link fails (ELOOP) instead of opening what it points at.
fn no_follow(o: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    std::os::unix::fs::OpenOptionsExt::custom_flags(o, libc::O_NOFOLLOW)
}

/// Where a run came from and when it ran, as told by the party that ran it — outrun itself for
/// a local run, GitHub's run and jobs for a workflow run — and never by a cell's own files,
/// which the cell's command could have written. It overrides what a `cell.json` says about
/// these fields, and orders runs: the newer run's rows are the ones reports show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunProvenance {
    pub source: Source,
    pub run_id: String,
    pub url: Option<String>,
    /// When the run (its latest attempt) started, RFC 3339: runs are ordered by this.
    pub run_started_at: String,
    /// The run's attempt (GitHub's `run_attempt`; 1 locally).
    pub attempt: u32,
    pub commit: Option<String>,
    /// What started it (`workflow_dispatch`, …; `local`), and on which branch.
    pub event: Option<String>,
    pub git_ref: Option<String>,
    /// `success`, `failure`, `cancelled`, … when it has ended.
    pub conclusion: Option<String>,
    /// Per cell id: the attempt, runner and times of the job that ran it.
    pub cells: BTreeMap<String, JobProvenance>,
}

/// One cell's job, as the runner's side saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobProvenance {
    pub attempt: u32,
    pub started_at: String,
    pub finished_at: String,
    pub runner: String,
}

impl RunProvenance {
    /// Overwrites what `rec` says about where and when it ran with what the run says.
    pub fn stamp(&self, rec: &mut CellRecord) {
        rec.source = self.source;
        rec.run_id = self.run_id.clone();
        rec.commit = self.commit.clone();
        match self.cells.get(&rec.cell) {
            Some(job) => {
                rec.attempt = job.attempt;
                rec.started_at = job.started_at.clone();
                rec.finished_at = job.finished_at.clone();
                rec.runner = job.runner.clone();
            }
            None => {
                rec.attempt = self.attempt;
                if self.source == Source::Github {
                    // Nothing trusted is known of this cell's times: claim none.
                    rec.started_at.clear();
                    rec.finished_at.clear();
                }
            }
        }
    }

    /// The provenance the records themselves give: right for a local run (outrun wrote every
    /// record itself), and for cell outputs a user merges by hand (`outrun merge --from`),
    /// whose origin only the user can vouch for.
    pub fn from_records(records: &[CellRecord]) -> RunProvenance {
        let started = records
            .iter()
            .map(|r| r.started_at.as_str())
            .filter(|s| !s.is_empty())
            .min()
            .unwrap_or("")
            .to_string();
        let first = records.iter().find(|r| !r.run_id.is_empty());
        let source = first.map(|r| r.source).unwrap_or_default();
        RunProvenance {
            source,
            run_id: first.map(|r| r.run_id.clone()).unwrap_or_default(),
            url: None,
            run_started_at: started,
            attempt: records.iter().map(|r| r.attempt).max().unwrap_or(1).max(1),
            commit: records.iter().find_map(|r| r.commit.clone()),
            event: (source == Source::Local).then(|| "local".into()),
            git_ref: None,
            conclusion: None,
            cells: records
                .iter()
                .map(|r| {
                    (
                        r.cell.clone(),
                        JobProvenance {
                            attempt: r.attempt,
                            started_at: r.started_at.clone(),
                            finished_at: r.finished_at.clone(),
                            runner: r.runner.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Now, as RFC 3339 UTC with microseconds: sortable as text, like GitHub's timestamps.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}
