//! The GitHub backend: dispatch a generated workflow, follow its run, collect its artifacts
//! into the same cell-output layout a local run leaves, merge, report, comment.
//!
//! Nothing here needs the machine that dispatched: a run is found again from GitHub by its
//! name (`outrun NAME ID`, see the workflow template), and "already collected" is read from the
//! dataset in the repository (its `outrun_run_id` column) as well as from the local record.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::collect::CellOutcome;
use crate::contract::{CellRecord, CellStatus, Source, CELL_SCHEMA};
use crate::dataset::{self, MergeSummary};
use crate::github::{Artifact, Client, Clock, GithubError, Job, Run};
use crate::report::{self, Report, RunInfo};
use crate::spec::{self, Plan};
use crate::{ops, workflow};

pub const RECORDS_DIR: &str = ".outrun/dispatches";
pub const DOWNLOADS_DIR: &str = ".outrun/github";
pub const RECORD_SCHEMA: &str = "outrun.dispatch/v1";

/// Largest artifact zip outrun downloads (GitHub's own limit per artifact is far higher; a cell's
/// outputs are results and logs).
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Ops(#[from] ops::OpsError),
    #[error(transparent)]
    Unzip(#[from] crate::collect::unzip::UnzipError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("run {0} is not an outrun run (its name is not `outrun NAME ID`)")]
    NotOutrun(u64),
    #[error("the dispatch of {experiment} ({id}) got no clear answer and no run named `outrun {experiment} {id}` appeared; check the Actions tab, then dispatch again if it is not there")]
    LostDispatch { experiment: String, id: String },
    #[error("{workflow} is not committed here: run `outrun generate {experiment}`, commit and push it first")]
    NoWorkflow { experiment: String, workflow: String },
}

impl RemoteError {
    pub fn is_auth(&self) -> bool {
        matches!(self, RemoteError::Github(g) if g.is_auth())
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Io { path: path.to_path_buf(), source }
}

/// What a dispatch leaves on disk (`.outrun/dispatches/ID.json`), so a later session on this
/// machine knows what it started; sync works without it too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DispatchRecord {
    pub schema: String,
    pub outrun_id: String,
    pub experiment: String,
    pub repo: String,
    pub git_ref: String,
    pub cells: Option<String>,
    pub issue: Option<u64>,
    pub run_id: Option<u64>,
    pub html_url: Option<String>,
    pub dispatched_at: String,
    pub collected_at: Option<String>,
}

impl DispatchRecord {
    fn path(root: &Path, id: &str) -> PathBuf {
        root.join(RECORDS_DIR).join(format!("{id}.json"))
    }

    pub fn save(&self, root: &Path) -> Result<(), RemoteError> {
        let path = Self::path(root, &self.outrun_id);
        let text = serde_json::to_string_pretty(self).expect("record serialises") + "\n";
        dataset::write_text_atomic(&path, &text).map_err(|e| RemoteError::Io { path, source: std::io::Error::other(e.to_string()) })
    }

    pub fn all(root: &Path) -> Vec<DispatchRecord> {
        let Ok(entries) = std::fs::read_dir(root.join(RECORDS_DIR)) else { return Vec::new() };
        let mut v: Vec<DispatchRecord> = entries
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect();
        v.sort_by(|a, b| a.dispatched_at.cmp(&b.dispatched_at));
        v
    }

    pub fn for_run(root: &Path, run: u64) -> Option<DispatchRecord> {
        Self::all(root).into_iter().find(|r| r.run_id == Some(run))
    }
}

/// A distinct, sortable dispatch id: `20261126t010203z-1a2b3c` (lower case: it travels in a run name).
pub fn new_dispatch_id() -> String {
    crate::backend::local::new_run_id().trim_start_matches("local-").to_ascii_lowercase()
}

/// The run name the template gives: `outrun NAME ID`.
pub fn run_title(experiment: &str, id: &str) -> String {
    format!("outrun {experiment} {id}")
}

pub fn workflow_file(experiment: &str) -> String {
    format!("outrun-{experiment}.yml")
}

/// Dispatches `plan`'s workflow. The record is written before the request, so that even a
/// crash in between leaves a trace `sync` can resolve by the run's name.
pub async fn dispatch(
    root: &Path,
    client: &Client,
    clock: &dyn Clock,
    plan: &Plan,
    cells: Option<&str>,
    issue: Option<u64>,
    git_ref: &str,
) -> Result<DispatchRecord, RemoteError> {
    let wf = workflow::workflow_path(plan.name());
    if !root.join(&wf).is_file() {
        return Err(RemoteError::NoWorkflow { experiment: plan.name().into(), workflow: wf.display().to_string() });
    }
    let id = new_dispatch_id();
    let issue = issue.or(plan.file.issue);
    let mut rec = DispatchRecord {
        schema: RECORD_SCHEMA.into(),
        outrun_id: id.clone(),
        experiment: plan.name().into(),
        repo: client.repo().to_string(),
        git_ref: git_ref.into(),
        cells: cells.map(str::to_string),
        issue,
        run_id: None,
        html_url: None,
        dispatched_at: crate::contract::now_rfc3339(),
        collected_at: None,
    };
    rec.save(root)?;
    let mut inputs = serde_json::Map::new();
    inputs.insert("outrun_id".into(), id.clone().into());
    inputs.insert("cells".into(), cells.unwrap_or("").into());
    inputs.insert("issue".into(), issue.map(|i| i.to_string()).unwrap_or_default().into());
    let file = workflow_file(plan.name());
    match client.dispatch(&file, git_ref, &inputs).await {
        Ok(Some((run_id, url))) => {
            rec.run_id = Some(run_id);
            rec.html_url = Some(url);
        }
        // Accepted without details (older Enterprise Server), or no clear answer: never send
        // again — look for the run by its distinct name instead.
        Ok(None) | Err(GithubError::Ambiguous { .. }) => {
            let title = run_title(plan.name(), &id);
            match find_run(client, clock, &file, git_ref, &title).await? {
                Some(run) => {
                    rec.run_id = Some(run.id);
                    rec.html_url = Some(run.html_url);
                }
                None => return Err(RemoteError::LostDispatch { experiment: plan.name().into(), id }),
            }
        }
        Err(e) => {
            // A definite refusal (no such workflow on GitHub, no permission): nothing was
            // started, so no record is left for sync to look for.
            let _ = std::fs::remove_file(DispatchRecord::path(root, &rec.outrun_id));
            return Err(e.into());
        }
    }
    rec.save(root)?;
    Ok(rec)
}

/// Serialises everything that downloads and merges GitHub runs in one checkout (`collect`,
/// `dispatch --wait`, `sync`): two of them on the same run would fight over its files and
/// could both create the comment. Held until the returned file is dropped.
pub fn lock(root: &Path) -> Result<File, RemoteError> {
    let lock_path = root.join(".outrun/github.lock");
    std::fs::create_dir_all(lock_path.parent().expect("has parent")).map_err(io(&lock_path))?;
    let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    Ok(lock)
}

/// Finds the run named `title` among the newest dispatches of `workflow` on `git_ref`,
/// waiting a while: a new run takes a few seconds to be listed.
pub async fn find_run(client: &Client, clock: &dyn Clock, workflow: &str, git_ref: &str, title: &str) -> Result<Option<Run>, RemoteError> {
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    let mut wait = Duration::from_secs(2);
    for _ in 0..8 {
        let runs = client.runs(workflow, Some(branch), 30).await?;
        if let Some(r) = runs.into_iter().find(|r| r.display_title == title) {
            return Ok(Some(r));
        }
        clock.sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
    Ok(None)
}

/// How `watch` ended.
#[derive(Debug, Clone)]
pub enum Watched {
    Completed(Run),
    StillRunning(Run),
}

/// Follows run `id` until it completes or `timeout` (of waiting) passes, spending requests on
/// what happens rather than on how long it takes. Every poll is conditional (unchanged → 304,
/// free) and the interval doubles with the time waited, from 10 s to 5 min:
/// - while the run is queued, the run itself is polled: it does not change until it starts;
/// - once it runs, its jobs change it every few minutes, so instead the workflow's list of
///   *completed* runs for the run's commit is polled (newest 20: an older run of the same
///   commit finishing meanwhile costs one request, the run fetch stays exact): that list stays the same — 304 — until
///   the run finishes, whatever its length or number of jobs; then the run is fetched once.
pub async fn watch(client: &Client, clock: &dyn Clock, id: u64, timeout: Option<Duration>, mut on_change: impl FnMut(&Run)) -> Result<Watched, RemoteError> {
    const MIN: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(300);
    let mut waited = Duration::ZERO;
    let mut run = client.run(id).await?;
    on_change(&run);
    let workflow = run.path.rsplit('/').next().unwrap_or("").to_string();
    let mut last_ids: Option<Vec<u64>> = None;
    loop {
        if run.completed() {
            return Ok(Watched::Completed(run));
        }
        let mut interval = waited.clamp(MIN, MAX);
        if let Some(t) = timeout {
            if waited >= t {
                return Ok(Watched::StillRunning(run));
            }
            interval = interval.min(t - waited);
        }
        clock.sleep(interval).await;
        waited += interval;
        let queued = run.status.as_deref() != Some("in_progress");
        let changed = if queued || workflow.is_empty() || run.head_sha.is_empty() {
            true
        } else {
            // Any change to the list (ours finished, or another run of the commit did and may
            // have pushed ours off the page) is worth one look at the run itself.
            let ids: Vec<u64> = client.completed_runs(&workflow, &run.head_sha).await?.iter().map(|r| r.id).collect();
            let changed = ids.contains(&id) || last_ids.as_ref().is_some_and(|l| *l != ids);
            last_ids = Some(ids);
            changed
        };
        if changed {
            let now = client.run(id).await?;
            if now.status != run.status || now.conclusion != run.conclusion {
                on_change(&now);
            }
            run = now;
        }
    }
}

/// What `collect` did.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    pub experiment: String,
    pub run_id: u64,
    pub html_url: String,
    pub conclusion: Option<String>,
    pub artifacts: usize,
    pub expired: Vec<String>,
    pub merge: MergeSummary,
    pub comment_url: Option<String>,
    #[serde(skip)]
    pub report: Option<Report>,
    #[serde(skip)]
    pub outcomes: Vec<CellOutcome>,
}

/// The plan of the experiment a run belongs to (by its name, else by its workflow file).
pub fn plan_of(root: &Path, run: &Run) -> Result<Plan, RemoteError> {
    if let Some((name, _)) = run.outrun_title() {
        return Ok(spec::load_named(root, name)?);
    }
    let file = run.path.rsplit('/').next().unwrap_or("");
    match file.strip_prefix("outrun-").and_then(|f| f.strip_suffix(".yml")) {
        Some(name) => Ok(spec::load_named(root, name)?),
        None => Err(RemoteError::NotOutrun(run.id)),
    }
}

/// `outrun-NAME-SHARD-aN` → (SHARD, N). Only names of `[A-Za-z0-9._-]` qualify: the name
/// becomes a directory and a file name here, so nothing from the API may steer a path.
fn artifact_shard<'a>(experiment: &str, name: &'a str) -> Option<(&'a str, u32)> {
    if name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return None;
    }
    let rest = name.strip_prefix("outrun-")?.strip_prefix(experiment)?.strip_prefix('-')?;
    let (shard, attempt) = rest.rsplit_once("-a")?;
    Some((shard, attempt.parse().ok()?))
}

/// Downloads, unpacks, merges and reports a completed run; `comment_on` upserts the report as
/// the experiment's one comment on that issue.
/// `cells` is the dispatch's cell filter when known (from the local record): cells it selected
/// that left no output at all are reported as not run.
pub async fn collect(root: &Path, client: &Client, run: &Run, cells: Option<&str>, comment_on: Option<u64>) -> Result<Collected, RemoteError> {
    let plan = plan_of(root, run)?;
    let base = root.join(DOWNLOADS_DIR).join(run.id.to_string());
    let unpacked = base.join("artifacts");
    let downloads = base.join("downloads");
    std::fs::create_dir_all(&unpacked).map_err(io(&unpacked))?;
    std::fs::create_dir_all(&downloads).map_err(io(&downloads))?;

    // The newest attempt's artifact per shard (a re-run uploads `-a2` beside `-a1`).
    let mut newest: BTreeMap<String, Artifact> = BTreeMap::new();
    for a in client.artifacts(run.id).await? {
        if let Some((shard, attempt)) = artifact_shard(plan.name(), &a.name) {
            let better = newest.get(shard).and_then(|b| artifact_shard(plan.name(), &b.name)).is_none_or(|(_, old)| attempt > old);
            if better {
                newest.insert(shard.to_string(), a);
            }
        }
    }
    let mut expired = Vec::new();
    for a in newest.values() {
        let dest = unpacked.join(&a.name);
        if dest.is_dir() {
            continue; // unpacked by an earlier, interrupted collect
        }
        if a.expired {
            expired.push(a.name.clone());
            continue;
        }
        let zip = downloads.join(format!("{}.zip", a.name));
        match client.download_artifact(a, &zip, MAX_ARTIFACT_BYTES).await {
            Ok(_) => {}
            Err(GithubError::Expired { .. }) => {
                expired.push(a.name.clone());
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        crate::collect::unzip::extract(&zip, &dest, &crate::collect::unzip::Limits::default())?;
        let _ = std::fs::remove_file(&zip);
    }

    // Cells whose job ended without uploading anything (cancelled, timed out, runner lost) are
    // reported from the job list, so they show as such instead of vanishing.
    let shards_with_output: BTreeSet<String> = newest.keys().filter(|s| unpacked.join(&newest[*s].name).is_dir()).cloned().collect();
    let cell_ids: BTreeMap<&str, &spec::Cell> = plan.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let missing_dir = unpacked.join("_missing");
    let jobs: Vec<Job> = if shards_with_output.len() < newest.len().max(1) || run.conclusion.as_deref() != Some("success") {
        client.jobs(run.id).await?
    } else {
        Vec::new()
    };
    let status_of = |conclusion: Option<&str>| match conclusion {
        Some("cancelled") | Some("skipped") => CellStatus::Cancelled,
        Some("timed_out") => CellStatus::TimedOut,
        _ => CellStatus::Failed,
    };
    let mut missing: Vec<(&spec::Cell, CellStatus, String, Option<&Job>)> = Vec::new();
    for job in &jobs {
        let Some(cell) = cell_ids.get(job.name.as_str()) else { continue };
        if shards_with_output.contains(&job.name) || job.status != "completed" {
            continue;
        }
        missing.push((cell, status_of(job.conclusion.as_deref()), format!("no output uploaded: job {}", job.conclusion.as_deref().unwrap_or("ended")), Some(job)));
    }
    // A run that ended early may never have created some cells' jobs: those cells are reported
    // too (all cells the dispatch selected; all cells when this machine did not dispatch it).
    if run.completed() && run.conclusion.as_deref() != Some("success") {
        let selected: Vec<spec::Cell> = match cells {
            Some(f) => spec::filter::Filter::parse(f).and_then(|f| f.select(&plan.cells, &plan.param_names())).unwrap_or_else(|_| plan.cells.clone()),
            None => plan.cells.clone(),
        };
        // Cell ids with an output under any unpacked artifact, read once.
        let with_output: BTreeSet<String> = std::fs::read_dir(&unpacked)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|a| std::fs::read_dir(a.path()).into_iter().flatten().flatten())
            .filter(|c| c.path().join(crate::contract::CELL_JSON).is_file())
            .map(|c| c.file_name().to_string_lossy().into_owned())
            .collect();
        for c in &selected {
            let seen = jobs.iter().any(|j| j.name == c.id) || with_output.contains(&c.id);
            if !seen {
                let why = format!("not run: the run ended {}", run.conclusion.as_deref().unwrap_or("early"));
                missing.push((cell_ids[c.id.as_str()], status_of(run.conclusion.as_deref()), why, None));
            }
        }
    }
    for (cell, status, error, job) in missing {
        let dir = missing_dir.join(&cell.id);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let rec = CellRecord {
            schema: CELL_SCHEMA.into(),
            experiment: plan.name().into(),
            cell: cell.id.clone(),
            params: cell.params.iter().cloned().collect(),
            status,
            exit_code: None,
            error: Some(error),
            started_at: job.and_then(|j| j.started_at.clone()).unwrap_or_default(),
            finished_at: job.and_then(|j| j.completed_at.clone()).unwrap_or_default(),
            duration_s: 0.0,
            source: Source::Github,
            runner: String::new(),
            commit: Some(run.head_sha.clone()),
            run_id: run.id.to_string(),
            attempt: run.run_attempt.unwrap_or(1),
        };
        rec.write(&dir).map_err(|e| RemoteError::Io { path: dir.clone(), source: std::io::Error::other(e.to_string()) })?;
    }

    let mut outcomes = match crate::collect::read_outputs(&unpacked, &plan) {
        Ok(o) => o,
        // Nothing at all came back (every artifact expired, or the run died before any job).
        Err(crate::collect::CollectError::Empty(_)) => Vec::new(),
        Err(e) => return Err(ops::OpsError::from(e).into()),
    };
    // GitHub's run is the authority on provenance: the rows carry this run's id whatever the
    // wrapper wrote, so "already collected" can be read back from the dataset.
    for o in &mut outcomes {
        o.record.run_id = run.id.to_string();
        o.record.source = Source::Github;
    }
    let merge = dataset::merge(root, &plan, &outcomes).map_err(ops::OpsError::from)?;
    let info = RunInfo { id: run.id.to_string(), source: "github".into(), url: Some(run.html_url.clone()).filter(|u| !u.is_empty()) };
    let report = ops::build_report(root, &plan, &outcomes, Some(info))?;
    let md = report::markdown(&report);
    dataset::write_text_atomic(&base.join("report.md"), &md).map_err(|e| RemoteError::Io { path: base.join("report.md"), source: std::io::Error::other(e.to_string()) })?;
    let comment_url = match comment_on {
        Some(issue) => Some(upsert_comment(client, issue, plan.name(), &md).await?),
        None => None,
    };
    Ok(Collected {
        experiment: plan.name().into(),
        run_id: run.id,
        html_url: run.html_url.clone(),
        conclusion: run.conclusion.clone(),
        artifacts: newest.len(),
        expired,
        merge,
        comment_url,
        report: Some(report),
        outcomes,
    })
}

/// Updates the experiment's report comment on `issue` (found by its hidden marker), or creates
/// it. A create that got no clear answer is checked by listing again, never blindly resent.
///
/// Only a comment outrun's own user wrote is updated: anyone can paste the marker into a
/// comment. Where the token may not ask who it is (a workflow's `GITHUB_TOKEN`), a bot's comment
/// with the marker counts as ours.
pub async fn upsert_comment(client: &Client, issue: u64, experiment: &str, body: &str) -> Result<String, RemoteError> {
    let marker = report::marker(experiment);
    let me = client.viewer_login().await?;
    let ours = |c: &crate::github::Comment| match (&me, &c.user) {
        (Some(me), Some(u)) => &u.login == me,
        (None, Some(u)) => u.kind == "Bot",
        _ => false,
    };
    let find = |cs: Vec<crate::github::Comment>| cs.into_iter().find(|c| ours(c) && c.body.as_deref().is_some_and(|b| b.starts_with(&marker)));
    if let Some(c) = find(client.comments(issue).await?) {
        if c.body.as_deref() == Some(body) {
            return Ok(c.html_url);
        }
        return Ok(client.update_comment(c.id, body).await?.html_url);
    }
    match client.create_comment(issue, body).await {
        Ok(c) => Ok(c.html_url),
        Err(GithubError::Ambiguous { .. }) => match find(client.comments(issue).await?) {
            Some(c) => Ok(c.html_url),
            None => Ok(client.create_comment(issue, body).await?.html_url),
        },
        Err(e) => Err(e.into()),
    }
}

/// One run `sync` looked at.
#[derive(Debug, Clone, Serialize)]
pub struct SyncItem {
    pub experiment: String,
    pub run_id: Option<u64>,
    pub outrun_id: Option<String>,
    pub html_url: Option<String>,
    /// collected, running, lost, failed
    pub state: String,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub cells_ok: Option<usize>,
    pub cells_failed: Option<usize>,
    pub rows_added: Option<usize>,
    pub comment_url: Option<String>,
    pub error: Option<String>,
}

/// Finds every outrun run not collected yet — from local records and from GitHub — collects
/// those that have finished and says where the rest stand. Serialised by a lock, and
/// idempotent: the dataset upsert and the comment upsert make a second pass change nothing.
pub async fn sync(root: &Path, client: &Client, clock: &dyn Clock, comment: bool) -> Result<Vec<SyncItem>, RemoteError> {
    let _lock = lock(root)?;

    let mut records = DispatchRecord::all(root);
    let mut items = Vec::new();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    for path in spec::experiment_files(root)? {
        let Ok(plan) = spec::load(root, &path) else { continue };
        if !root.join(workflow::workflow_path(plan.name())).is_file() {
            continue;
        }
        let data = dataset::read(&root.join(plan.dataset_path())).map_err(ops::OpsError::from)?;
        let in_dataset = dataset::run_ids(&data);
        // Records whose dispatch got no run id: look for the run by its name once more.
        for rec in records.iter_mut().filter(|r| r.experiment == plan.name() && r.run_id.is_none()) {
            let title = run_title(&rec.experiment, &rec.outrun_id);
            if let Some(run) = find_run(client, clock, &workflow_file(&rec.experiment), &rec.git_ref, &title).await? {
                rec.run_id = Some(run.id);
                rec.html_url = Some(run.html_url.clone());
                rec.save(root)?;
            } else {
                items.push(SyncItem { experiment: rec.experiment.clone(), run_id: None, outrun_id: Some(rec.outrun_id.clone()), html_url: None, state: "lost".into(), status: None, conclusion: None, cells_ok: None, cells_failed: None, rows_added: None, comment_url: None, error: Some("no run with this dispatch id was found".into()) });
            }
        }
        let mut runs = client.runs(&workflow_file(plan.name()), None, 30).await?;
        // Recorded runs that have dropped off that page are still this machine's to collect.
        for rec in records.iter().filter(|r| r.experiment == plan.name() && r.collected_at.is_none()) {
            if let Some(id) = rec.run_id.filter(|id| !runs.iter().any(|r| r.id == *id)) {
                runs.push(client.run(id).await?);
            }
        }
        // Oldest first, so that the comment ends up showing the newest run.
        runs.sort_by_key(|r| (r.created_at.clone(), r.id));
        for run in runs {
            if !seen.insert(run.id) {
                continue;
            }
            let rec = records.iter().find(|r| r.run_id == Some(run.id)).cloned();
            if is_collected(rec.as_ref(), &in_dataset, run.id) {
                continue;
            }
            let mut item = SyncItem {
                experiment: plan.name().into(),
                run_id: Some(run.id),
                outrun_id: run.outrun_title().map(|(_, id)| id.to_string()),
                html_url: Some(run.html_url.clone()),
                state: "running".into(),
                status: run.status.clone(),
                conclusion: run.conclusion.clone(),
                cells_ok: None,
                cells_failed: None,
                rows_added: None,
                comment_url: None,
                error: None,
            };
            if run.completed() {
                let issue = rec.as_ref().and_then(|r| r.issue).or(plan.file.issue).filter(|_| comment);
                match collect(root, client, &run, rec.as_ref().and_then(|r| r.cells.as_deref()), issue).await {
                    Ok(c) => {
                        item.state = "collected".into();
                        item.cells_ok = Some(c.outcomes.iter().filter(|o| o.ok()).count());
                        item.cells_failed = Some(c.outcomes.iter().filter(|o| !o.ok()).count());
                        item.rows_added = Some(c.merge.rows_added);
                        item.comment_url = c.comment_url;
                        mark_collected(root, &plan, &run, rec)?;
                    }
                    Err(e) => {
                        item.state = "failed".into();
                        item.error = Some(e.to_string());
                    }
                }
            }
            items.push(item);
        }
    }
    Ok(items)
}

/// Whether run `run` is done with. A record knows whether the comment went out too; without
/// one (a fresh clone), the dataset's run ids are the memory.
pub fn is_collected(rec: Option<&DispatchRecord>, in_dataset: &BTreeSet<String>, run: u64) -> bool {
    match rec {
        Some(r) => r.collected_at.is_some(),
        None => in_dataset.contains(&run.to_string()),
    }
}

/// Notes a collected run in its record (creating one for runs this machine did not dispatch),
/// so that a run with no successful cell — which adds nothing to the dataset — is not collected
/// again by every sync.
pub fn mark_collected(root: &Path, plan: &Plan, run: &Run, rec: Option<DispatchRecord>) -> Result<(), RemoteError> {
    let mut rec = rec.unwrap_or_else(|| DispatchRecord {
        schema: RECORD_SCHEMA.into(),
        outrun_id: run.outrun_title().map(|(_, id)| id.to_string()).filter(|id| !id.is_empty()).unwrap_or_else(|| format!("run-{}", run.id)),
        experiment: plan.name().into(),
        repo: String::new(),
        git_ref: run.head_branch.clone().unwrap_or_default(),
        cells: None,
        issue: plan.file.issue,
        run_id: Some(run.id),
        html_url: Some(run.html_url.clone()),
        dispatched_at: run.created_at.clone(),
        collected_at: None,
    });
    // Two dispatch ids could collide only by name; keep records apart by run id.
    if rec.outrun_id == "manual" {
        rec.outrun_id = format!("manual-{}", run.id);
    }
    rec.collected_at = Some(crate::contract::now_rfc3339());
    rec.save(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_are_parsed_and_hostile_ones_ignored() {
        assert_eq!(artifact_shard("sweep", "outrun-sweep-1-a-0f3e2a1b-a2"), Some(("1-a-0f3e2a1b", 2)));
        assert_eq!(artifact_shard("sweep", "outrun-sweep-shard-003-a1"), Some(("shard-003", 1)));
        assert_eq!(artifact_shard("sweep", "outrun-other-x-a1"), None);
        assert_eq!(artifact_shard("sweep", "outrun-sweep-../../evil-a1"), None);
        assert_eq!(artifact_shard("sweep", "outrun-sweep-x/y-a1"), None);
        assert_eq!(artifact_shard("sweep", "outrun-sweep-x-a"), None);
    }
}
