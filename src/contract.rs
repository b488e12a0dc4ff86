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
/// wrappers: the local backend, and `outrun_cell.py` through the cells file).
pub const KILL_GRACE_S: u64 = 3;

pub use crate::limits::MAX_JOBS;
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
    /// Its output was not taken: the folder where this cell's output belongs held a `cell.json`
    /// naming another cell, experiment or parameters, or the cell had two outputs in one
    /// attempt. Only outrun decides this: no `cell.json` can claim it.
    #[serde(skip_deserializing)]
    Refused,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Failed => "failed",
            CellStatus::TimedOut => "timed out",
            CellStatus::Cancelled => "cancelled",
            CellStatus::Refused => "refused",
        }
    }
}

/// How many cells of a run ended each way: the one count the report shows and the run ledger
/// records.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub cells: usize,
    pub ok: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    /// Cells whose output was not taken (see `CellStatus::Refused`): ok + failed + timed out +
    /// cancelled + refused = cells.
    pub refused: usize,
}

impl Summary {
    /// Counts the cells' statuses.
    pub fn of(statuses: impl IntoIterator<Item = CellStatus>) -> Summary {
        let mut summary = Summary::default();
        for status in statuses {
            summary.cells += 1;
            match status {
                CellStatus::Ok => summary.ok += 1,
                CellStatus::Failed => summary.failed += 1,
                CellStatus::TimedOut => summary.timed_out += 1,
                CellStatus::Cancelled => summary.cancelled += 1,
                CellStatus::Refused => summary.refused += 1,
            }
        }
        summary
    }

    pub fn all_ok(&self) -> bool {
        self.cells > 0 && self.ok == self.cells
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

/// As in the dataset's `source` column (the report's header says it too).
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
        // Neither a link the cell planted in place of its record nor one in place of its
        // folder is followed (either could point at any file the user can read): reading
        // fails, and so does the cell.
        let mut text = String::new();
        crate::fsutil::open_cell_dir(dir)
            .and_then(|d| {
                crate::fsutil::open_beneath(
                    std::os::fd::AsFd::as_fd(&d),
                    Path::new(CELL_JSON),
                    false,
                )
            })
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
        // What is known of how long it ran: its job's time (issue 24 §2).
        if let Some(j) = prov.cells.get(&cell.id).and_then(|j| j.job_s) {
            rec.duration_s = j;
        }
        rec
    }

    pub fn write(&self, dir: &Path) -> Result<(), ContractError> {
        let path = dir.join(CELL_JSON);
        let mut text = serde_json::to_string_pretty(self).expect("record serialises");
        text.push('\n');
        // Never through a link: the cell's command could have planted `cell.json` as a link to
        // any file the user can write (`~/.bashrc`), or its whole folder as a link to any
        // folder, and outrun writes after the command ends. The folder is opened without
        // following a link, and `cell.json` beneath it likewise.
        crate::fsutil::open_cell_dir(dir)
            .and_then(|d| {
                crate::fsutil::open_beneath(
                    std::os::fd::AsFd::as_fd(&d),
                    Path::new(CELL_JSON),
                    true,
                )
            })
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(|source| ContractError::Write { path, source })
    }
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
    /// Which wave of a dispatch this run is, when the cells needed several runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WaveOf>,
}

/// One run of a dispatch split into waves (more than 256 jobs): its wave (1-based), how many
/// waves the dispatch has, and the dispatch id the waves share (each wave's run is named
/// `outrun NAME GROUP.wN`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WaveOf {
    pub wave: usize,
    pub waves: usize,
    pub group: String,
    /// How many cells each wave runs, wave 1 first (the same packing as the workflow's), so a
    /// report can count the waves it has no results of yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells_per_wave: Vec<usize>,
}

impl WaveOf {
    /// The cells of wave `wave` (1-based), when known.
    pub fn cells_of(&self, wave: usize) -> Option<usize> {
        self.cells_per_wave.get(wave.checked_sub(1)?).copied()
    }
}

/// One cell's job, as the runner's side saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobProvenance {
    pub attempt: u32,
    pub started_at: String,
    pub finished_at: String,
    pub runner: String,
    /// How long the cell ran, as the runner's side measured it: a GitHub job that ran this cell
    /// alone (its start to its end), outrun's own clock locally. `None` when only the cell's
    /// own `cell.json` says (a job that ran several cells): the report marks that figure.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// The job's own start-to-end time, whether or not it ran this cell alone (`None` when
    /// unknown, or when the output is of another attempt than the job's): a cell's claim is
    /// never more than this, and the claims of one job's cells never add up to more.
    #[serde(default)]
    pub job_s: Option<f64>,
    /// The job's name (its matrix shard): which cells shared a job.
    #[serde(default)]
    pub job: String,
}

impl RunProvenance {
    /// Overwrites what `rec` says about where, when and how long it ran with what the run
    /// says. Returns whether the duration left in `rec` is only the cell's own claim (a GitHub
    /// cell whose job's times are not its own), which the report marks as such.
    pub fn stamp(&self, rec: &mut CellRecord) -> bool {
        rec.source = self.source;
        rec.run_id = self.run_id.clone();
        rec.commit = self.commit.clone();
        let measured = match self.cells.get(&rec.cell) {
            Some(job) => {
                rec.attempt = job.attempt;
                rec.started_at = job.started_at.clone();
                rec.finished_at = job.finished_at.clone();
                rec.runner = job.runner.clone();
                job.duration_s
            }
            None => {
                rec.attempt = self.attempt;
                if self.source == Source::Github {
                    // Nothing trusted is known of this cell's times: claim none.
                    rec.started_at.clear();
                    rec.finished_at.clear();
                }
                None
            }
        };
        match measured {
            Some(d) => {
                rec.duration_s = d;
                false
            }
            None => {
                // A claim is never more than the job that ran it took.
                if let Some(j) = self.cells.get(&rec.cell).and_then(|j| j.job_s) {
                    rec.duration_s = rec.duration_s.clamp(0.0, j);
                }
                self.source == Source::Github
            }
        }
    }

    /// Caps the claimed durations of the cells that shared a job so that together they never
    /// exceed the job's own time: each job's claims, where they add up to more, are scaled
    /// down to it (issue 24 §2). `claims` holds (cell, duration) of the claimed figures.
    pub fn cap_shared(&self, claims: &mut [(&str, &mut f64)]) {
        let mut per_job: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for (cell, d) in claims.iter() {
            if let Some(j) = self.cells.get(*cell)
                && let Some(job_s) = j.job_s
            {
                per_job.entry(j.job.as_str()).or_insert((0.0, job_s)).0 += **d;
            }
        }
        for (cell, d) in claims.iter_mut() {
            if let Some(j) = self.cells.get(*cell)
                && let Some((sum, job_s)) = per_job.get(j.job.as_str())
                && *sum > *job_s
                && *sum > 0.0
            {
                **d *= job_s / sum;
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
                            // What the files say is theirs to vouch for (see above).
                            duration_s: (r.source == Source::Local).then_some(r.duration_s),
                            ..JobProvenance::default()
                        },
                    )
                })
                .collect(),
            wave: None,
        }
    }
}

/// Seconds from `start` to `end` (RFC 3339 both), when both parse and `end` is not earlier.
pub fn seconds_between(start: &str, end: &str) -> Option<f64> {
    let start = humantime::parse_rfc3339_weak(start).ok()?;
    let end = humantime::parse_rfc3339_weak(end).ok()?;
    end.duration_since(start).ok().map(|d| d.as_secs_f64())
}

/// Now, as RFC 3339 UTC with microseconds: sortable as text, like GitHub's timestamps.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CellRecord {
        CellRecord {
            schema: CELL_SCHEMA.into(),
            experiment: "e".into(),
            cell: "c".into(),
            params: BTreeMap::new(),
            status: CellStatus::Ok,
            exit_code: Some(0),
            error: None,
            started_at: "2026-11-26T00:00:00Z".into(),
            finished_at: "2099-01-01T02:21:24Z".into(),
            duration_s: 8484.0,
            source: Source::Github,
            runner: "forged".into(),
            commit: Some("forged".into()),
            run_id: "0".into(),
            attempt: 9,
        }
    }

    #[test]
    fn seconds_between_reads_githubs_timestamps() {
        assert_eq!(
            seconds_between("2026-11-26T00:00:00Z", "2026-11-26T00:01:30Z"),
            Some(90.0)
        );
        assert_eq!(
            seconds_between("2026-11-26T00:00:00.250Z", "2026-11-26T00:00:01Z"),
            Some(0.75)
        );
        assert_eq!(
            seconds_between("2026-11-26T00:01:00Z", "2026-11-26T00:00:00Z"),
            None
        );
        assert_eq!(seconds_between("", "2026-11-26T00:00:00Z"), None);
    }

    #[test]
    fn the_jobs_duration_replaces_the_cells_claim_and_a_claim_is_marked() {
        let job = JobProvenance {
            attempt: 1,
            started_at: "2026-11-26T00:00:00Z".into(),
            finished_at: "2026-11-26T00:02:00Z".into(),
            runner: "GitHub Actions 2".into(),
            duration_s: Some(120.0),
            job_s: Some(120.0),
            job: "shard-0".into(),
        };
        let mut prov = RunProvenance {
            source: Source::Github,
            run_id: "42".into(),
            attempt: 1,
            cells: [("c".to_string(), job.clone())].into(),
            ..RunProvenance::default()
        };
        let mut rec = record();
        assert!(!prov.stamp(&mut rec), "a measured duration is not a claim");
        assert_eq!(
            (
                rec.duration_s,
                rec.finished_at.as_str(),
                rec.attempt,
                rec.run_id.as_str()
            ),
            (120.0, "2026-11-26T00:02:00Z", 1, "42")
        );
        // A job that ran several cells: its times are not this cell's duration (and where the
        // job's time is unknown, nothing caps the claim).
        prov.cells.get_mut("c").unwrap().duration_s = None;
        prov.cells.get_mut("c").unwrap().job_s = None;
        let mut rec = record();
        assert!(prov.stamp(&mut rec), "the cell's own figure is marked");
        assert_eq!(rec.duration_s, 8484.0);
        // Locally, outrun measured it itself: nothing to mark.
        prov.source = Source::Local;
        assert!(!prov.stamp(&mut record()));
    }

    /// Issue 24 §2: cells that shared a 47 s job, one claiming 4,242 s: each claim is capped at
    /// the job's time and together they never exceed it; a refused cell of the job shows the
    /// job's time, not 0.
    #[test]
    fn claims_never_exceed_their_jobs_time_and_a_refused_cell_shows_it() {
        let shared = JobProvenance {
            attempt: 1,
            started_at: "2026-11-26T00:00:00Z".into(),
            finished_at: "2026-11-26T00:00:47Z".into(),
            runner: "GitHub Actions 2".into(),
            duration_s: None,
            job_s: Some(47.0),
            job: "shard-0".into(),
        };
        let prov = RunProvenance {
            source: Source::Github,
            run_id: "42".into(),
            attempt: 1,
            cells: [
                ("c".to_string(), shared.clone()),
                ("d".to_string(), shared.clone()),
            ]
            .into(),
            ..RunProvenance::default()
        };
        let mut c = record();
        c.duration_s = 4242.0;
        assert!(prov.stamp(&mut c));
        assert_eq!(c.duration_s, 47.0, "capped at the job's time");
        let mut d = record();
        d.cell = "d".into();
        d.duration_s = 10.0;
        assert!(prov.stamp(&mut d));
        assert_eq!(d.duration_s, 10.0, "a claim within the job's time stays");
        let (mut x, mut y) = (c.duration_s, d.duration_s);
        prov.cap_shared(&mut [("c", &mut x), ("d", &mut y)]);
        assert!((x + y - 47.0).abs() < 1e-9, "{x} + {y}");
        assert!(x > y, "in proportion to the claims: {x} {y}");
        let within = (5.0, 6.0);
        let (mut x, mut y) = within;
        prov.cap_shared(&mut [("c", &mut x), ("d", &mut y)]);
        assert_eq!(
            (x, y),
            within,
            "claims within the job's time are left alone"
        );
        let cell = crate::experiment::Cell {
            id: "d".into(),
            params: Vec::new(),
        };
        let refused = CellRecord::missing("e", &cell, CellStatus::Failed, "refused".into(), &prov);
        assert_eq!(refused.duration_s, 47.0);
    }
}
