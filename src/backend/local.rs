//! The local backend: cells as child processes under the cell contract.
//!
//! Each cell runs `bash -c COMMAND` in its own process group, so that a timeout or Ctrl-C can
//! kill everything it started (a simulator the script forked included), not just the shell.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::contract::{
    CELL_JSON, CELL_SCHEMA, CellRecord, CellStatus, RunProvenance, STDERR_LOG, STDOUT_LOG, Source,
    now_rfc3339,
};
use crate::experiment::{Cell, Plan};
use crate::outputs::{self, OutputsError, Positioned};
use crate::pipeline::{self, Finish, Finished, PipelineError};

/// Time a cell gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(crate::contract::KILL_GRACE_S);

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot create {}: {source}", path.display())]
    Prepare {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start `bash` for cell {cell}: {source}")]
    Spawn {
        cell: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] crate::contract::ContractError),
}

pub struct LocalOptions {
    /// The project root: the command's working directory.
    pub root: PathBuf,
    /// The run's directory; each cell gets `run_dir/CELL_ID/`.
    pub run_dir: PathBuf,
    pub run_id: String,
    /// How many cells run at once.
    pub jobs: usize,
}

/// What happened to one cell, as it happens (for progress display).
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        cell: String,
    },
    Finished {
        record: Box<CellRecord>,
    },
    /// A cell shown `ok` turned out to produce a key another cell of the run produces too:
    /// the merge fails both, so progress says so as well (the record says why).
    Revised {
        record: Box<CellRecord>,
    },
}

#[derive(Debug)]
pub struct LocalRun {
    /// One record per selected cell, in plan order.
    pub records: Vec<CellRecord>,
    /// Ctrl-C arrived: the records of cells that had not finished say `cancelled`.
    pub interrupted: bool,
}

impl LocalRun {
    /// Ends this run (in `run_dir`) the way every backend ends: one [`Finish`] for the collect
    /// path. Each cell's output is the folder this run made for it, and nothing else in the
    /// run folder (a cell may leave folders of its own inside its output); the provenance is
    /// the records outrun wrote itself; a cell whose folder is gone or whose record could not
    /// be written (it deleted its own `$OUTRUN_OUT`, the disk is full) is reported from
    /// outrun's own account of it. The report is kept as `run_dir/report.md`.
    pub async fn finish(
        &self,
        root: &Path,
        plan: &Plan,
        run_dir: &Path,
        merge: bool,
    ) -> Result<Finished, PipelineError> {
        pipeline::finish(Finish {
            root,
            plan,
            outputs: self
                .records
                .iter()
                .map(|r| Positioned {
                    cell: r.cell.clone(),
                    dir: run_dir.join(&r.cell),
                    attempt: 1,
                })
                .filter(|o| o.dir.join(CELL_JSON).is_file())
                .collect(),
            provenance: &RunProvenance::from_records(&self.records),
            missing: self.records.clone(),
            refused: Vec::new(),
            merge,
            report_file: Some(run_dir.join("report.md")),
        })
        .await
    }
}

/// Cell folders merged by hand (`outrun merge`): each folder holds the cell it is named for (at
/// depth 2, under an artifact's folder), with the records the folders hold.
pub struct HandMerge {
    pub outputs: Vec<Positioned>,
    pub records: Vec<CellRecord>,
}

impl HandMerge {
    /// Reads the cell folders under `dir`; `records` is empty when there are none.
    pub fn read(plan: &Plan, dir: &Path) -> Result<HandMerge, OutputsError> {
        let outputs = outputs::positioned(&outputs::cell_dirs(dir)?, plan);
        let records = outputs::read_cells(&outputs, plan)
            .into_iter()
            .map(|o| o.record)
            .collect();
        Ok(HandMerge { outputs, records })
    }

    /// Merges them through the collect path. Cell outputs merged by hand carry the provenance
    /// their own records give: only the user can vouch for where they came from.
    pub async fn finish(self, root: &Path, plan: &Plan) -> Result<Finished, PipelineError> {
        pipeline::finish(Finish {
            root,
            plan,
            outputs: self.outputs,
            provenance: &RunProvenance::from_records(&self.records),
            missing: Vec::new(),
            refused: Vec::new(),
            merge: true,
            report_file: None,
        })
        .await
    }
}

/// Where a local run of `experiment` keeps its cell outputs: `.outrun/runs/NAME/`.
pub fn runs_dir(root: &Path, experiment: &str) -> PathBuf {
    root.join(crate::names::RUNS_DIR).join(experiment)
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

/// A fresh, time-sortable local run id: `local-20261126T010203Z-1a2b3c`.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace([':', '-'], "");
    let nanos = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "local-{stamp}-{:06x}",
        (nanos ^ std::process::id().rotate_left(16)) & 0xff_ffff
    )
}

/// Runs `cells` of `plan` with at most `opts.jobs` at once. `cancel` turning true (Ctrl-C)
/// kills every running cell and starts no more. `events` receives progress.
pub async fn run(
    plan: &Plan,
    cells: &[Cell],
    opts: &LocalOptions,
    cancel: watch::Receiver<bool>,
    events: mpsc::UnboundedSender<Event>,
) -> Result<LocalRun, LocalError> {
    crate::fsutil::state_dir(&opts.root).map_err(|e| LocalError::Prepare {
        path: e.path,
        source: e.source,
    })?;
    std::fs::create_dir_all(&opts.run_dir).map_err(|source| LocalError::Prepare {
        path: opts.run_dir.clone(),
        source,
    })?;
    // Whatever a cell starts and then abandons — even a process that left the cell's process
    // group with `setsid` — becomes outrun's child rather than init's, so it can be stopped
    // when the run ends (see `stop_adopted`).
    become_subreaper();
    let commit = git_head(&opts.root).await;
    let runner = hostname();
    let sem = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let shared_plan = Arc::new(plan.clone());
    // The checked outputs of the cells that succeeded, to find key clashes once all are done.
    let succeeded = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, cell) in cells.iter().cloned().enumerate() {
        let ctx = CellCtx {
            experiment: plan.name().to_string(),
            command: plan.file.command.clone(),
            timeout: plan.timeout,
            root: opts.root.clone(),
            dir: opts.run_dir.join(&cell.id),
            run_id: opts.run_id.clone(),
            commit: commit.clone(),
            runner: runner.clone(),
        };
        let sem = sem.clone();
        let cancel = cancel.clone();
        let events = events.clone();
        let plan = shared_plan.clone();
        let succeeded = succeeded.clone();
        tasks.spawn(async move {
            let result = run_in_slot(&ctx, &cell, sem, cancel, &events).await;
            if let Some(o) = checked_output(&ctx, &cell, &result, &plan, &events) {
                succeeded.lock().expect("not poisoned").push(o);
            }
            (index, result)
        });
    }
    let mut records: Vec<Option<CellRecord>> = vec![None; cells.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.expect("cell task panicked");
        records[index] = Some(result);
    }
    stop_adopted();
    let interrupted = *cancel.borrow();
    if !interrupted {
        let mut succeeded = std::mem::take(&mut *succeeded.lock().expect("not poisoned"));
        crate::dataset::write::fail_key_clashes(plan, &mut succeeded);
        for o in succeeded.into_iter().filter(|o| !o.ok()) {
            let _ = events.send(Event::Revised {
                record: Box::new(o.record),
            });
        }
    }
    Ok(LocalRun {
        records: records
            .into_iter()
            .map(|r| r.expect("every cell reported"))
            .collect(),
        interrupted,
    })
}

/// Runs `cell` once a slot of `sem` is free, unless `cancel` comes first (then it is
/// cancelled, never started); returns its record.
async fn run_in_slot(
    ctx: &CellCtx,
    cell: &Cell,
    sem: Arc<Semaphore>,
    mut cancel: watch::Receiver<bool>,
    events: &mpsc::UnboundedSender<Event>,
) -> CellRecord {
    // Wait for a slot, unless Ctrl-C comes first.
    let permit = tokio::select! {
        p = sem.acquire_owned() => Some(p.expect("semaphore is never closed")),
        _ = cancel.wait_for(|c| *c) => None,
    };
    match permit {
        Some(_permit) => {
            let _ = events.send(Event::Started {
                cell: cell.id.clone(),
            });
            let t0 = Instant::now();
            let started_at = now_rfc3339();
            // One cell's I/O error (it deleted its own folder, its environment is too
            // large to start, the disk is full) fails that cell with the reason; the
            // others run on and are merged.
            run_cell(ctx, cell, cancel).await.unwrap_or_else(|e| {
                let rec = ctx.record(
                    cell,
                    CellStatus::Failed,
                    None,
                    Some(e.to_string()),
                    started_at,
                    t0.elapsed(),
                );
                // Kept when the folder still takes it; the run's records carry it anyway.
                let _ = rec.write(&ctx.dir);
                rec
            })
        }
        None => ctx.record(
            cell,
            CellStatus::Cancelled,
            None,
            Some("not started: interrupted".into()),
            now_rfc3339(),
            Duration::ZERO,
        ),
    }
}

/// Shows that `cell` finished (`result`, as checked against its output), and returns its
/// checked output when the cell succeeded.
fn checked_output(
    ctx: &CellCtx,
    cell: &Cell,
    result: &CellRecord,
    plan: &Plan,
    events: &mpsc::UnboundedSender<Event>,
) -> Option<crate::outputs::CellOutcome> {
    // Progress shows what the merge will see: a cell whose command succeeded but whose
    // results are missing or malformed is failed there, so it is shown failed here.
    let checked = if result.status == CellStatus::Ok {
        let at = crate::outputs::Positioned {
            cell: cell.id.clone(),
            dir: ctx.dir.clone(),
            attempt: 1,
        };
        crate::outputs::read_cells(&[at], plan).pop()
    } else {
        None
    };
    let _ = events.send(Event::Finished {
        record: Box::new(
            checked
                .as_ref()
                .map_or_else(|| result.clone(), |o| o.record.clone()),
        ),
    });
    checked.filter(|o| o.ok())
}

struct CellCtx {
    experiment: String,
    command: String,
    timeout: Duration,
    root: PathBuf,
    dir: PathBuf,
    run_id: String,
    commit: Option<String>,
    runner: String,
}

impl CellCtx {
    fn record(
        &self,
        cell: &Cell,
        status: CellStatus,
        exit_code: Option<i32>,
        error: Option<String>,
        started_at: String,
        took: Duration,
    ) -> CellRecord {
        CellRecord {
            schema: CELL_SCHEMA.into(),
            experiment: self.experiment.clone(),
            cell: cell.id.clone(),
            params: cell.params.iter().cloned().collect(),
            status,
            exit_code,
            error,
            started_at,
            finished_at: now_rfc3339(),
            duration_s: (took.as_secs_f64() * 1000.0).round() / 1000.0,
            source: Source::Local,
            runner: self.runner.clone(),
            commit: self.commit.clone(),
            run_id: self.run_id.clone(),
            attempt: 1,
        }
    }
}

async fn run_cell(
    ctx: &CellCtx,
    cell: &Cell,
    mut cancel: watch::Receiver<bool>,
) -> Result<CellRecord, LocalError> {
    let prepare = |source| LocalError::Prepare {
        path: ctx.dir.clone(),
        source,
    };
    // The contract promises an empty directory: a leftover from an earlier attempt is removed.
    if ctx.dir.exists() {
        std::fs::remove_dir_all(&ctx.dir).map_err(prepare)?;
    }
    std::fs::create_dir_all(&ctx.dir).map_err(prepare)?;
    let stdout = std::fs::File::create(ctx.dir.join(STDOUT_LOG)).map_err(prepare)?;
    let stderr = std::fs::File::create(ctx.dir.join(STDERR_LOG)).map_err(prepare)?;
    let abs_out = std::path::absolute(&ctx.dir).map_err(prepare)?;

    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(&ctx.command)
        .current_dir(&ctx.root)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // The experiment's command is not outrun: it gets no GitHub credentials of the caller's.
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_ENTERPRISE_TOKEN")
        .env_remove("GITHUB_ENTERPRISE_TOKEN")
        .envs(cell.env())
        .env("OUTRUN_EXPERIMENT", &ctx.experiment)
        .env("OUTRUN_CELL", &cell.id)
        .env("OUTRUN_OUT", &abs_out)
        // Its own process group: the terminal's Ctrl-C reaches outrun only, and outrun decides.
        .process_group(0);
    let started_at = now_rfc3339();
    let t0 = Instant::now();
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| LocalError::Spawn {
            cell: cell.id.clone(),
            source,
        })?;
    let pgid = child.id().map(|p| p as i32);

    enum End {
        Exited(std::process::ExitStatus),
        TimedOut,
        Cancelled,
    }
    let end = tokio::select! {
        s = child.wait() => End::Exited(s.map_err(|source| LocalError::Spawn { cell: cell.id.clone(), source })?),
        _ = tokio::time::sleep(ctx.timeout) => End::TimedOut,
        _ = cancel.wait_for(|c| *c) => End::Cancelled,
    };
    let took = t0.elapsed();
    let (status, code, error) = match end {
        End::Exited(s) => {
            // Whatever the command left running in the background goes with it.
            kill_group(pgid, libc::SIGKILL);
            match s.code() {
                Some(0) => (CellStatus::Ok, Some(0), None),
                Some(c) => (
                    CellStatus::Failed,
                    Some(c),
                    Some(format!("exit status {c}")),
                ),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    let sig = s.signal().unwrap_or(0);
                    (
                        CellStatus::Failed,
                        None,
                        Some(format!("killed by signal {sig}")),
                    )
                }
            }
        }
        End::TimedOut => {
            terminate(&mut child, pgid).await;
            (
                CellStatus::TimedOut,
                None,
                Some(crate::contract::timeout_error(ctx.timeout.as_secs())),
            )
        }
        End::Cancelled => {
            terminate(&mut child, pgid).await;
            (CellStatus::Cancelled, None, Some("interrupted".into()))
        }
    };
    let rec = ctx.record(cell, status, code, error, started_at, took);
    rec.write(&ctx.dir)?;
    Ok(rec)
}

/// SIGTERM to the whole group, SIGKILL after a grace period.
async fn terminate(child: &mut tokio::process::Child, pgid: Option<i32>) {
    kill_group(pgid, libc::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    // The shell may be gone while its children ignore SIGTERM.
    kill_group(pgid, libc::SIGKILL);
}

#[allow(unsafe_code)] // kill(2): see the SAFETY note
fn kill_group(pgid: Option<i32>, sig: i32) {
    if let Some(p) = pgid.filter(|p| *p > 0) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
        unsafe {
            libc::kill(-p, sig);
        }
    }
}

/// Makes this process the reaper of its orphaned descendants (Linux; elsewhere a no-op, and a
/// process that leaves its cell's group with `setsid` is out of outrun's reach there).
#[allow(unsafe_code)] // prctl(2): see the SAFETY note
fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Kills every process still parented to outrun once all cells have ended: descendants the
/// cells abandoned (a `setsid` daemon, a double fork), adopted thanks to [`become_subreaper`].
/// Their own children are adopted in turn when they die, so this repeats until none is left.
#[allow(unsafe_code)] // kill(2), waitpid(2): see the SAFETY note
fn stop_adopted() {
    #[cfg(target_os = "linux")]
    {
        let me = std::process::id() as i32;
        for _ in 0..20 {
            let adopted = children_of(me);
            if adopted.is_empty() {
                return;
            }
            for pid in &adopted {
                // SAFETY: kill(2) and waitpid(2) on a pid that is our own child; no memory shared.
                unsafe {
                    libc::kill(*pid, libc::SIGKILL);
                    libc::waitpid(*pid, std::ptr::null_mut(), 0);
                }
            }
        }
    }
}

/// The pids whose parent is `parent`, from /proc.
#[cfg(target_os = "linux")]
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
                })
                == Some(parent)
        })
        .collect()
}

async fn git_head(root: &Path) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

#[allow(unsafe_code)] // gethostname(2): see the SAFETY note
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname NUL-terminates within it.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = if ok {
        String::from_utf8_lossy(buf.split(|b| *b == 0).next().unwrap_or(&[])).into_owned()
    } else {
        String::new()
    };
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}
