//! The GitHub backend: dispatch a generated workflow, follow its run, decide whether it is one
//! outrun should merge, fetch its artifacts into cell-output folders with the run's own
//! provenance, and hand them to the one collect path (`crate::pipeline`).
//!
//! Nothing here needs the machine that dispatched: a run is found again from GitHub by its
//! name (`outrun NAME ID`, see the workflow template), and "already collected" is read from the
//! repository — the run ledger beside the dataset, on this checkout and on the default branch —
//! and from GitHub (an open outrun pull request for the run), never from one machine's `.outrun/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::contract::{CellRecord, CellStatus, JobProvenance, RunProvenance, Source};
use crate::dataset::{self, MergeSummary, ledger};
use crate::experiment::{self, Plan};
use crate::github_api::{Artifact, Client, Clock, Conclusion, GithubError, Job, Run, RunStatus};
use crate::names::{self, DOWNLOADS_DIR, RECORDS_DIR};
use crate::outputs::CellOutcome;
use crate::pipeline::{self, Commenter};
use crate::report::{CommentStamp, Refused, Report};

pub(crate) const RECORD_SCHEMA: &str = "outrun.dispatch/v1";
/// A dispatch whose run has not appeared this long after it was sent is lost for good.
pub(crate) const LOST_AFTER: Duration = Duration::from_secs(15 * 60);

/// Largest artifact zip outrun downloads (GitHub's own limit per artifact is far higher; a cell's
/// outputs are results and logs).
pub(crate) const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Spec(#[from] experiment::ExperimentError),
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    #[error(transparent)]
    Unzip(#[from] crate::outputs::unzip::UnzipError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("run {0} is not an outrun run (its name is not `outrun NAME ID`)")]
    NotOutrun(u64),
    #[error(
        "the dispatch of {experiment} ({id}) got no clear answer and no run named `outrun {experiment} {id}` appeared; check the Actions tab, then dispatch again if it is not there"
    )]
    LostDispatch { experiment: String, id: String },
    #[error(
        "{workflow} is not committed here: run `outrun generate {experiment}`, commit and push it first"
    )]
    NoWorkflow {
        experiment: String,
        workflow: String,
    },
    #[error("run {run} is not one outrun merges: {reason}")]
    Untrusted { run: u64, reason: String },
}

impl RemoteError {
    pub fn is_auth(&self) -> bool {
        match self {
            RemoteError::Github(g) => g.is_auth(),
            RemoteError::Pipeline(p) => p.is_auth(),
            _ => false,
        }
    }
}

impl From<crate::contract::ContractError> for RemoteError {
    fn from(e: crate::contract::ContractError) -> Self {
        RemoteError::Pipeline(pipeline::PipelineError::Outputs(e.into()))
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Io {
        path: path.to_path_buf(),
        source,
    }
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
    /// Set once `sync` has given up looking for the run (see [`LOST_AFTER`]).
    #[serde(default)]
    pub lost_at: Option<String>,
}

impl DispatchRecord {
    fn path(root: &Path, id: &str) -> PathBuf {
        root.join(RECORDS_DIR).join(format!("{id}.json"))
    }

    pub(crate) fn save(&self, root: &Path) -> Result<(), RemoteError> {
        crate::fsutil::state_dir(root)?;
        let text = serde_json::to_string_pretty(self).expect("record serialises") + "\n";
        Ok(crate::fsutil::write_atomic(
            &Self::path(root, &self.outrun_id),
            text.as_bytes(),
        )?)
    }

    pub fn all(root: &Path) -> Vec<DispatchRecord> {
        let Ok(entries) = std::fs::read_dir(root.join(RECORDS_DIR)) else {
            return Vec::new();
        };
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
pub(crate) fn new_dispatch_id() -> String {
    crate::backend::local::new_run_id()
        .trim_start_matches("local-")
        .to_ascii_lowercase()
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
    let wf = names::workflow_path(plan.name());
    if !root.join(&wf).is_file() {
        return Err(RemoteError::NoWorkflow {
            experiment: plan.name().into(),
            workflow: wf.display().to_string(),
        });
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
        lost_at: None,
    };
    rec.save(root)?;
    let mut inputs = serde_json::Map::new();
    inputs.insert("outrun_id".into(), id.clone().into());
    inputs.insert("cells".into(), cells.unwrap_or("").into());
    inputs.insert(
        "issue".into(),
        issue.map(|i| i.to_string()).unwrap_or_default().into(),
    );
    let file = names::workflow_file(plan.name());
    match client.dispatch(&file, git_ref, &inputs).await {
        Ok(Some((run_id, url))) => {
            rec.run_id = Some(run_id);
            rec.html_url = Some(url);
        }
        // Accepted without details (older Enterprise Server), or no clear answer: never send
        // again — look for the run by its distinct name instead.
        Ok(None) | Err(GithubError::Ambiguous { .. }) => {
            let title = names::run_title(plan.name(), &id);
            match find_run(client, clock, &file, git_ref, &title).await? {
                Some(run) => {
                    rec.run_id = Some(run.id);
                    rec.html_url = Some(run.html_url);
                }
                None => {
                    return Err(RemoteError::LostDispatch {
                        experiment: plan.name().into(),
                        id,
                    });
                }
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
    Ok(crate::fsutil::lock(
        &crate::fsutil::state_dir(root)?.join("github.lock"),
    )?)
}

/// Finds the run named `title` among the newest dispatches of `workflow` on `git_ref`,
/// waiting a while: a new run takes a few seconds to be listed.
pub(crate) async fn find_run(
    client: &Client,
    clock: &dyn Clock,
    workflow: &str,
    git_ref: &str,
    title: &str,
) -> Result<Option<Run>, RemoteError> {
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

/// How often `watch` looks: GitHub answers an unchanged resource with a free 304.
pub const POLL: Duration = Duration::from_secs(12);

/// How `watch` ended.
#[derive(Debug, Clone)]
pub enum Watched {
    Completed(Run),
    StillRunning(Run),
}

/// Follows run `id` until it completes or `timeout` (of waiting) passes, spending requests on
/// what happens rather than on how long it takes. Every poll is conditional (unchanged → 304,
/// which GitHub does not count against the rate limit), so it can afford to look every
/// [`POLL`] and notice the end within that:
/// - while the run is queued, the run itself is polled: it does not change until it starts;
/// - once it runs, its jobs change it every few minutes, so instead the workflow's list of
///   *completed* runs for the run's commit is polled (newest 20: an older run of the same
///   commit finishing meanwhile costs one request, the run fetch stays exact): that list stays the same — 304 — until
///   the run finishes, whatever its length or number of jobs; then the run is fetched once.
pub async fn watch(
    client: &Client,
    clock: &dyn Clock,
    id: u64,
    timeout: Option<Duration>,
    mut on_change: impl FnMut(&Run),
) -> Result<Watched, RemoteError> {
    let mut waited = Duration::ZERO;
    let mut run = client.run(id).await?;
    on_change(&run);
    let workflow = run.path.rsplit('/').next().unwrap_or("").to_string();
    let mut last_ids: Option<Vec<u64>> = None;
    loop {
        if run.completed() {
            return Ok(Watched::Completed(run));
        }
        let mut interval = POLL;
        if let Some(t) = timeout {
            if waited >= t {
                return Ok(Watched::StillRunning(run));
            }
            interval = interval.min(t - waited);
        }
        clock.sleep(interval).await;
        waited += interval;
        let queued = run.status != Some(RunStatus::InProgress);
        let changed = if queued || workflow.is_empty() || run.head_sha.is_empty() {
            true
        } else {
            // Any change to the list (ours finished, or another run of the commit did and may
            // have pushed ours off the page) is worth one look at the run itself.
            let ids: Vec<u64> = client
                .completed_runs(&workflow, &run.head_sha)
                .await?
                .iter()
                .map(|r| r.id)
                .collect();
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

/// The plan of the experiment a run belongs to (by its name, else by its workflow file).
pub fn plan_of(root: &Path, run: &Run) -> Result<Plan, RemoteError> {
    if let Some((name, _)) = run.outrun_title() {
        return Ok(experiment::load_named(root, name)?);
    }
    match names::experiment_of_workflow(&run.path) {
        Some(name) => Ok(experiment::load_named(root, name)?),
        None => Err(RemoteError::NotOutrun(run.id)),
    }
}

// ---------------------------------------------------------------------------------------------
// Trust: which runs outrun merges.

/// Why `run` is not one outrun merges, or `None` if it is: a `workflow_dispatch` run (or one
/// this machine dispatched and recorded) from a branch the experiment allows — its
/// `github.refs`, by default the repository's default branch. A `pull_request` or `push` run,
/// or one from another branch, ran code outrun's users have not vouched for.
pub async fn untrusted(
    client: &Client,
    plan: &Plan,
    run: &Run,
    recorded: bool,
) -> Result<Option<String>, RemoteError> {
    if run.event != "workflow_dispatch" && !recorded {
        return Ok(Some(format!(
            "started by `{}`; only `workflow_dispatch` runs are merged",
            run.event
        )));
    }
    let branch = run.head_branch.clone().unwrap_or_default();
    let allowed = if plan.file.github.refs.is_empty() {
        vec![client.default_branch().await?]
    } else {
        plan.file.github.refs.clone()
    };
    if !allowed
        .iter()
        .any(|pattern| experiment::filter::glob(pattern, &branch))
    {
        return Ok(Some(format!(
            "ran on branch `{branch}`; the experiment merges runs of {} (its `github.refs`)",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Fetch: artifacts → cell output folders, with the run's provenance.

/// A run's outputs as fetched, ready for [`pipeline::finish`].
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// The cell folders to read, one per cell, from the newest attempt of each job.
    pub cell_dirs: Vec<PathBuf>,
    pub provenance: RunProvenance,
    /// Cells whose job left nothing usable, with the reason.
    pub missing: Vec<CellRecord>,
    pub refused: Vec<Refused>,
    /// Artifact names that had expired.
    pub expired: Vec<String>,
    pub artifacts: usize,
}

/// The run's conclusion while its final job is still running: from the cells' jobs.
fn conclusion_from_jobs(jobs: &[Job]) -> Conclusion {
    if jobs
        .iter()
        .any(|j| j.conclusion == Some(Conclusion::Cancelled))
    {
        Conclusion::Cancelled
    } else if jobs.iter().any(|j| {
        !matches!(
            j.conclusion,
            None | Some(Conclusion::Success | Conclusion::Skipped)
        )
    }) {
        Conclusion::Failure
    } else {
        Conclusion::Success
    }
}

/// Where the run came from and when it ran, from GitHub's run and jobs: the commit, the
/// attempt and the times no artifact can change. Jobs are matched to cells by their name (the
/// matrix shard, which is the cell id when a job runs one cell).
fn provenance(
    run: &Run,
    jobs: &[Job],
    in_run: bool,
) -> (RunProvenance, BTreeMap<String, JobProvenance>) {
    let by_shard = jobs
        .iter()
        .map(|j| {
            let p = JobProvenance {
                attempt: j.run_attempt.unwrap_or(run.attempt()),
                started_at: j.started_at.clone().unwrap_or_default(),
                finished_at: j.completed_at.clone().unwrap_or_default(),
                runner: j.runner_name.clone().unwrap_or_default(),
            };
            (j.name.clone(), p)
        })
        .collect();
    let prov = RunProvenance {
        source: Source::Github,
        run_id: run.id.to_string(),
        url: Some(run.html_url.clone()).filter(|u| !u.is_empty()),
        run_started_at: run.started_at().to_string(),
        attempt: run.attempt(),
        commit: Some(run.head_sha.clone()).filter(|s| !s.is_empty()),
        event: Some(run.event.clone()),
        git_ref: run.head_branch.clone(),
        conclusion: if in_run {
            Some(conclusion_from_jobs(jobs).to_string())
        } else {
            run.conclusion.as_ref().map(Conclusion::to_string)
        },
        cells: BTreeMap::new(),
    };
    (prov, by_shard)
}

/// Cell folders (with a `cell.json`) directly inside an unpacked artifact.
fn cells_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.path().join(crate::contract::CELL_JSON).is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

/// Fetches the outputs of `run`: the newest attempt's artifact of each job, downloaded and
/// unpacked safely (or, in the workflow's final job, already downloaded into `artifacts_dir`).
/// A hostile or broken artifact is refused with its reason and the others go on; an artifact
/// may only hold the cells of its own job.
pub(crate) async fn fetch(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run: &Run,
    jobs: &[Job],
    opts: &CollectOptions<'_>,
) -> Result<Fetched, RemoteError> {
    let (cells, artifacts_dir) = (opts.cells, opts.artifacts_dir);
    let (mut prov, job_prov) = provenance(run, jobs, opts.in_run);
    let name = plan.name();
    let base = root.join(DOWNLOADS_DIR).join(run.id.to_string());
    let unpacked = base.join("artifacts");

    // The newest attempt's artifact per shard (a re-run uploads `-a2` beside `-a1`).
    let mut newest: BTreeMap<String, (u32, Option<Artifact>)> = BTreeMap::new();
    match artifacts_dir {
        Some(dir) => {
            for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some((shard, attempt)) = names::parse_artifact(name, &file)
                    && newest.get(shard).is_none_or(|(a, _)| attempt > *a)
                {
                    newest.insert(shard.into(), (attempt, None));
                }
            }
        }
        None => {
            for a in client.artifacts(run.id).await? {
                if let Some((shard, attempt)) = names::parse_artifact(name, &a.name)
                    && newest.get(shard).is_none_or(|(old, _)| attempt > *old)
                {
                    newest.insert(shard.to_string(), (attempt, Some(a.clone())));
                }
            }
        }
    }

    let mut out = Fetched {
        artifacts: newest.len(),
        ..Fetched::default()
    };
    let cell_ids: BTreeMap<&str, &experiment::Cell> =
        plan.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    // Shard → why its artifact gave nothing (expired, refused).
    let mut lost: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for (shard, (attempt, artifact)) in &newest {
        let artifact_name = names::artifact_name(name, shard, *attempt);
        let dir = match (artifacts_dir, artifact) {
            (Some(d), _) => d.join(&artifact_name),
            (None, Some(a)) => {
                let dest = unpacked.join(&a.name);
                if !dest.is_dir()
                    && let Some(why) = download(client, a, &base, &dest).await?
                {
                    if why == EXPIRED {
                        out.expired.push(a.name.clone());
                    }
                    out.refused.push(Refused {
                        artifact: a.name.clone(),
                        reason: why.clone(),
                    });
                    lost.insert(shard.clone(), why);
                    continue;
                }
                dest
            }
            (None, None) => continue,
        };
        // Only the cells this job ran: its own cell, or — for a job that runs several — cells
        // of the plan no other job has delivered. Anything else is a forgery.
        let found = cells_in(&dir);
        let own_cell = cell_ids.contains_key(shard.as_str());
        let strangers: Vec<&str> = found
            .iter()
            .map(|(c, _)| c.as_str())
            .filter(|c| {
                if own_cell {
                    *c != shard
                } else {
                    !cell_ids.contains_key(c) || taken.contains(*c)
                }
            })
            .collect();
        if !strangers.is_empty() {
            let why = format!(
                "holds outputs of cells its job did not run ({})",
                strangers.join(", ")
            );
            out.refused.push(Refused {
                artifact: artifact_name,
                reason: why.clone(),
            });
            lost.insert(shard.clone(), why);
            continue;
        }
        for (cell, path) in found {
            if let Some(j) = job_prov.get(shard) {
                prov.cells.insert(
                    cell.clone(),
                    JobProvenance {
                        attempt: j.attempt.max(*attempt),
                        ..j.clone()
                    },
                );
            }
            taken.insert(cell);
            out.cell_dirs.push(path);
        }
    }

    // Cells whose job ended without output that could be used (cancelled, timed out, runner
    // lost, artifact expired or refused) are reported, not left out.
    let status_of = |conclusion: Option<&str>| match conclusion {
        Some("cancelled") | Some("skipped") => CellStatus::Cancelled,
        Some("timed_out") => CellStatus::TimedOut,
        _ => CellStatus::Failed,
    };
    for job in jobs {
        let Some(cell) = cell_ids.get(job.name.as_str()) else {
            continue;
        };
        if taken.contains(&cell.id) || !job.completed() {
            continue;
        }
        let why = match lost.get(&job.name) {
            Some(w) if w == EXPIRED => {
                "artifact expired: GitHub no longer keeps its outputs".to_string()
            }
            Some(w) => format!("artifact refused: {w}"),
            None => format!(
                "no output uploaded: job {}",
                job.conclusion.as_ref().map_or("ended", Conclusion::as_str)
            ),
        };
        let mut p = prov.clone();
        if let Some(j) = job_prov.get(&job.name) {
            p.cells.insert(cell.id.clone(), j.clone());
        }
        out.missing.push(CellRecord::missing(
            name,
            cell,
            status_of(job.conclusion.as_ref().map(Conclusion::as_str)),
            why,
            &p,
        ));
    }
    // A run that ended early may never have created some cells' jobs: those cells are reported
    // too (the cells the dispatch selected when known, else all).
    let ended_badly = prov.conclusion.as_deref().is_some_and(|c| c != "success");
    if ended_badly {
        let selected: Vec<experiment::Cell> = match cells {
            Some(f) if !f.trim().is_empty() => experiment::filter::Filter::parse(f)
                .and_then(|f| f.select(&plan.cells, &plan.param_names()))
                .unwrap_or_else(|_| plan.cells.clone()),
            _ => plan.cells.clone(),
        };
        for c in &selected {
            let seen = jobs.iter().any(|j| j.name == c.id)
                || taken.contains(&c.id)
                || out.missing.iter().any(|m| m.cell == c.id);
            if !seen {
                let why = format!(
                    "not run: the run ended {}",
                    prov.conclusion.as_deref().unwrap_or("early")
                );
                out.missing.push(CellRecord::missing(
                    name,
                    c,
                    status_of(prov.conclusion.as_deref()),
                    why,
                    &prov,
                ));
            }
        }
    }
    out.provenance = prov;
    Ok(out)
}

/// The reason an artifact gave nothing because GitHub no longer has it.
const EXPIRED: &str = "expired";

/// Downloads and unpacks one artifact into `dest`. `Ok(Some(reason))`: the artifact is refused
/// (or expired), and that is the artifact's fault, not the collection's.
async fn download(
    client: &Client,
    a: &Artifact,
    base: &Path,
    dest: &Path,
) -> Result<Option<String>, RemoteError> {
    if a.expired {
        return Ok(Some(EXPIRED.into()));
    }
    let downloads = base.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(io(&downloads))?;
    let zip = downloads.join(format!("{}.zip", a.name));
    let result = match client.download_artifact(a, &zip, MAX_ARTIFACT_BYTES).await {
        Ok(_) => match crate::outputs::unzip::extract(
            &zip,
            dest,
            &crate::outputs::unzip::Limits::default(),
        ) {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        },
        Err(GithubError::Expired { .. }) => Some(EXPIRED.into()),
        Err(GithubError::Download { source, .. }) => Some(source.to_string()),
        Err(e) => return Err(e.into()),
    };
    let _ = std::fs::remove_file(&zip);
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Collect: fetch + the one collect path.

/// What `collect` did.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    pub experiment: String,
    pub run_id: u64,
    pub attempt: u32,
    pub html_url: String,
    pub conclusion: Option<Conclusion>,
    pub artifacts: usize,
    pub expired: Vec<String>,
    pub refused: Vec<Refused>,
    pub merge: MergeSummary,
    pub comment_url: Option<String>,
    #[serde(skip)]
    pub report: Option<Report>,
    #[serde(skip)]
    pub markdown: String,
    #[serde(skip)]
    pub outcomes: Vec<CellOutcome>,
}

/// How to collect a run.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions<'a> {
    /// The cells the run was asked to run (its `cells` input), when known.
    pub cells: Option<&'a str>,
    /// The issue to put the report on.
    pub issue: Option<u64>,
    /// Artifacts already downloaded and unpacked here (the workflow's final job).
    pub artifacts_dir: Option<&'a Path>,
    /// The run is the caller's own and still going (its final job): its conclusion comes from
    /// the cells' jobs.
    pub in_run: bool,
}

/// Fetches a run's outputs and puts them through the one collect path.
pub async fn collect(
    root: &Path,
    client: &Client,
    run: &Run,
    opts: &CollectOptions<'_>,
) -> Result<Collected, RemoteError> {
    let plan = plan_of(root, run)?;
    let jobs = client.jobs(run.id).await?;
    let fetched = fetch(root, client, &plan, run, &jobs, opts).await?;
    let commenter = IssueComments { client };
    let done = pipeline::finish(pipeline::Finish {
        root,
        plan: &plan,
        outputs: fetched.cell_dirs.clone(),
        provenance: &fetched.provenance,
        missing: fetched.missing.clone(),
        refused: fetched.refused.clone(),
        merge: true,
        report_file: Some(
            root.join(DOWNLOADS_DIR)
                .join(run.id.to_string())
                .join("report.md"),
        ),
        comment: opts.issue.map(|i| (&commenter as &dyn Commenter, i)),
    })
    .await?;
    let (markdown, comment_url) = (done.markdown.clone(), done.comment_url.clone());
    Ok(Collected::of(
        &plan,
        run,
        fetched,
        done,
        markdown,
        comment_url,
    ))
}

impl Collected {
    /// What was collected of `run`: what was fetched, what the collect path made of it, and the
    /// comment as posted (`markdown`, which landing may have added a note to).
    fn of(
        plan: &Plan,
        run: &Run,
        fetched: Fetched,
        done: pipeline::Finished,
        markdown: String,
        comment_url: Option<String>,
    ) -> Collected {
        Collected {
            experiment: plan.name().into(),
            run_id: run.id,
            attempt: run.attempt(),
            html_url: run.html_url.clone(),
            conclusion: fetched.provenance.conclusion.map(Conclusion::from),
            artifacts: fetched.artifacts,
            expired: fetched.expired,
            refused: fetched.refused,
            merge: done.merge.unwrap_or_default(),
            comment_url,
            report: Some(done.report),
            markdown,
            outcomes: done.outcomes,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Landing: the workflow's final job puts the dataset change where the experiment asks.

/// How the dataset change landed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LandedHow {
    PullRequest,
    Branch,
    Artifact,
    /// Nothing new to land.
    #[default]
    None,
}

impl LandedHow {
    pub fn as_str(self) -> &'static str {
        match self {
            LandedHow::PullRequest => "pull_request",
            LandedHow::Branch => "branch",
            LandedHow::Artifact => "artifact",
            LandedHow::None => "none",
        }
    }
}

/// What landing did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Landed {
    pub how: LandedHow,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub pull_url: Option<String>,
    /// Earlier outrun pull requests of the experiment whose rows this one carries too, closed.
    pub superseded: Vec<u64>,
    /// What a maintainer must do, when GitHub would not let the job finish (e.g. open the
    /// pull request by hand).
    pub action_needed: Option<String>,
}

/// GitHub's answer when the repository does not let Actions open pull requests.
const NO_PRS_FOR_ACTIONS: &str = "not permitted to create or approve pull requests";

/// The files a landing commits: the dataset and its ledger, relative to the root.
fn landed_files(plan: &Plan) -> Vec<PathBuf> {
    let data = plan.dataset_path();
    vec![ledger::path_for(&data), data]
}

/// Collects the caller's own run (the workflow's final job) and lands the dataset change the
/// way the experiment asks: a pull request from `outrun/NAME/RUN_ID` (default), a commit on
/// `github.branch`, or nothing committed (`artifact`: the workflow uploads the files).
///
/// The change is merged on top of what is already waiting to land, not on top of the run's
/// own commit: for a pull request, on the run's landing branch if an earlier attempt made one,
/// else on the newest open outrun pull request of the experiment (which the new one then
/// supersedes, so no waiting rows are lost), else on the default branch; for `branch`, on the
/// branch's head. The new commit only ever fast-forwards: when someone moved the branch in
/// between, the merge is redone on the new head (rebase and retry).
pub async fn collect_and_land(
    root: &Path,
    client: &Client,
    run: &Run,
    opts: &CollectOptions<'_>,
) -> Result<(Collected, Landed), RemoteError> {
    let plan = plan_of(root, run)?;
    let jobs = client.jobs(run.id).await?;
    let fetched = fetch(root, client, &plan, run, &jobs, opts).await?;
    let files = landed_files(&plan);
    let default = client.default_branch().await?;
    let mut landed = Landed::default();
    let mut done = None;
    for _ in 0..5 {
        // Where to build on, and whether the branch is new.
        let (branch, base, stacked_on) = match plan.file.github.land {
            experiment::Land::Artifact => (None, None, None),
            experiment::Land::Branch => {
                let b = plan
                    .file
                    .github
                    .branch
                    .clone()
                    .unwrap_or_else(|| default.clone());
                let head = client.branch_sha(&b).await?;
                (Some(b), head.map(|h| (h, false)), None)
            }
            experiment::Land::PullRequest => {
                let own = names::landing_branch(plan.name(), run.id);
                match client.branch_sha(&own).await? {
                    Some(h) => (Some(own), Some((h, false)), None),
                    None => {
                        let open: Vec<crate::github_api::PullRequest> = client
                            .open_pulls()
                            .await?
                            .into_iter()
                            .filter(|p| {
                                names::parse_landing_branch(plan.name(), &p.head.name)
                                    .is_some_and(|id| id != run.id)
                            })
                            .collect();
                        let newest = open
                            .into_iter()
                            .max_by_key(|p| names::parse_landing_branch(plan.name(), &p.head.name));
                        match newest {
                            Some(p) => (Some(own), Some((p.head.sha.clone(), true)), Some(p)),
                            None => (
                                Some(own),
                                client.branch_sha(&default).await?.map(|h| (h, true)),
                                None,
                            ),
                        }
                    }
                }
            }
        };
        // For `branch`, a branch that does not exist yet starts from the default branch.
        let (base_sha, create) = match (&base, &branch) {
            (Some((sha, create)), _) => (Some(sha.clone()), *create),
            (None, Some(_)) => (client.branch_sha(&default).await?, true),
            (None, None) => (None, false),
        };
        // The files as they are on the base: the merge goes on top of them.
        if let Some(sha) = &base_sha {
            for f in &files {
                let local = root.join(f);
                match client.file_at(&f.to_string_lossy(), sha).await? {
                    Some(bytes) => crate::fsutil::write_atomic(&local, &bytes)?,
                    None => match std::fs::remove_file(&local) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io(&local)(e)),
                    },
                }
            }
        }
        let finished = pipeline::finish(pipeline::Finish {
            root,
            plan: &plan,
            outputs: fetched.cell_dirs.clone(),
            provenance: &fetched.provenance,
            missing: fetched.missing.clone(),
            refused: fetched.refused.clone(),
            merge: true,
            report_file: None,
            comment: None,
        })
        .await?;
        let changed = finished.merge.as_ref().is_some_and(|m| m.changed) || finished.ledger_changed;
        let (Some(branch), Some(base_sha)) = (branch, base_sha) else {
            landed.how = if plan.file.github.land == experiment::Land::Artifact {
                LandedHow::Artifact
            } else {
                LandedHow::None
            };
            done = Some(finished);
            break;
        };
        if !changed {
            landed.how = LandedHow::None;
            landed.branch = Some(branch);
            done = Some(finished);
            break;
        }
        let mut tree_files = Vec::new();
        for f in &files {
            let bytes = std::fs::read(root.join(f)).map_err(io(&root.join(f)))?;
            tree_files.push((
                f.to_string_lossy().into_owned(),
                client.create_blob(&bytes).await?,
            ));
        }
        let tree = client
            .create_tree(&client.commit_tree(&base_sha).await?, &tree_files)
            .await?;
        let message = format!(
            "outrun: {} run {} ({} of {} cells ok)\n\n{}",
            plan.name(),
            run.id,
            finished.report.summary.ok,
            finished.report.summary.cells,
            run.html_url
        );
        let commit = client.create_commit(&message, &tree, &base_sha).await?;
        let pushed = if create {
            client.create_branch(&branch, &commit).await?
        } else {
            client.fast_forward(&branch, &commit).await?
        };
        if !pushed {
            continue; // the branch moved (or appeared) meanwhile: merge again on its new head
        }
        landed.branch = Some(branch.clone());
        landed.commit = Some(commit);
        landed.how = if plan.file.github.land == experiment::Land::Branch {
            LandedHow::Branch
        } else {
            LandedHow::PullRequest
        };
        if plan.file.github.land == experiment::Land::PullRequest {
            let stacked: Vec<u64> = stacked_on.iter().map(|p| p.number).collect();
            open_pull(
                client,
                &plan,
                run,
                &branch,
                &default,
                &finished.report,
                opts.issue,
                &stacked,
                &mut landed,
            )
            .await?;
            for n in stacked {
                client.close_pull(n).await?;
                landed.superseded.push(n);
            }
        }
        done = Some(finished);
        break;
    }
    let Some(finished) = done else {
        return Err(RemoteError::Github(GithubError::Decode {
            path: format!("branch of run {}", run.id),
            message: "it kept moving while the results were being landed (5 tries)".into(),
        }));
    };
    let mut markdown = finished.markdown.clone();
    if let Some(note) = landing_note(&landed) {
        markdown = crate::report::with_note(&markdown, &note);
    }
    let comment_url = match opts.issue {
        Some(issue) => upsert_comment(client, issue, plan.name(), &markdown).await?,
        None => None,
    };
    Ok((
        Collected::of(&plan, run, fetched, finished, markdown, comment_url),
        landed,
    ))
}

/// Opens the pull request for a landed branch (unless one is open already).
#[allow(clippy::too_many_arguments)]
async fn open_pull(
    client: &Client,
    plan: &Plan,
    run: &Run,
    branch: &str,
    base: &str,
    report: &Report,
    issue: Option<u64>,
    stacked: &[u64],
    landed: &mut Landed,
) -> Result<(), RemoteError> {
    if let Some(p) = client
        .open_pulls()
        .await?
        .into_iter()
        .find(|p| p.head.name == branch)
    {
        landed.pull_url = Some(p.html_url);
        return Ok(());
    }
    let s = &report.summary;
    let title = format!(
        "outrun: {} results of run {} ({} of {} cells ok)",
        plan.name(),
        run.id,
        s.ok,
        s.cells
    );
    let mut body = format!(
        "Results of [run {}]({}) of `{}`, merged into `{}` by outrun.\n\n",
        run.id,
        run.html_url,
        plan.name(),
        plan.dataset_path().display()
    );
    if let Some(i) = issue {
        body.push_str(&format!("For #{i}.\n\n"));
    }
    if !stacked.is_empty() {
        let list: Vec<String> = stacked.iter().map(|n| format!("#{n}")).collect();
        body.push_str(&format!(
            "Also holds the rows of {}, which it supersedes (closed).\n\n",
            list.join(", ")
        ));
    }
    body.push_str(&crate::report::markdown_with_limit(report, 60_000));
    match client.create_pull(&title, branch, base, &body).await {
        Ok(p) => landed.pull_url = Some(p.html_url),
        Err(GithubError::Http {
            status: 403,
            message,
            ..
        }) if message.contains(NO_PRS_FOR_ACTIONS) => {
            landed.action_needed = Some(format!(
                "GitHub does not let this repository's workflows open pull requests. The results are on branch `{branch}`: open its pull request by hand, or allow it once for all runs in Settings → Actions → General → Workflow permissions → \"Allow GitHub Actions to create and approve pull requests\"."
            ));
        }
        Err(GithubError::Ambiguous { .. }) => {
            landed.pull_url = client
                .open_pulls()
                .await?
                .into_iter()
                .find(|p| p.head.name == branch)
                .map(|p| p.html_url);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The line the comment gets about where the results went.
fn landing_note(l: &Landed) -> Option<String> {
    let branch = l.branch.as_deref().unwrap_or("");
    Some(match l.how {
        LandedHow::PullRequest => match (&l.pull_url, &l.action_needed) {
            (Some(u), _) => format!(
                "📥 The dataset change waits in [this pull request]({u}) (branch `{branch}`)."
            ),
            (None, Some(a)) => format!("⚠️ {a}"),
            _ => format!("📥 The dataset change is on branch `{branch}`."),
        },
        LandedHow::Branch => format!("📥 The dataset change was committed to branch `{branch}`."),
        LandedHow::Artifact => {
            "📦 The merged dataset is uploaded as this run's `outrun-dataset` artifact.".into()
        }
        LandedHow::None => return None,
    })
}

/// The comment while a run goes on: "started" (who started it, which cells, where to follow
/// it; posted by the workflow's status job), or with `done` = (cells finished, cells failed)
/// "k of n cells done" (`watch --comment`). The report replaces it when the run ends; a comment
/// is never moved back to an earlier phase or an older run.
pub async fn announce(
    client: &Client,
    plan: &Plan,
    info: &crate::report::RunInfo,
    issue: u64,
    actor: &str,
    cells: usize,
    done: Option<(usize, usize)>,
) -> Result<Option<String>, RemoteError> {
    let phase = if done.is_some() {
        crate::report::Phase::Running
    } else {
        crate::report::Phase::Started
    };
    let body = crate::report::status_comment(plan, info, actor, cells, phase, done);
    upsert_comment(client, issue, plan.name(), &body).await
}

// ---------------------------------------------------------------------------------------------
// The experiment's one comment.

/// [`Commenter`] over the issue-comment API.
pub(crate) struct IssueComments<'a> {
    pub client: &'a Client,
}

impl Commenter for IssueComments<'_> {
    fn upsert<'a>(
        &'a self,
        issue: u64,
        experiment: &'a str,
        body: &'a str,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Option<String>, pipeline::CommentError>>
                + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            upsert_comment(self.client, issue, experiment, body)
                .await
                .map_err(|e| pipeline::CommentError {
                    needs_auth: e.is_auth(),
                    source: Box::new(e),
                })
        })
    }
}

/// The login workflows' `GITHUB_TOKEN` writes as.
pub(crate) const ACTIONS_BOT: &str = "github-actions[bot]";

/// Whether a comment can be outrun's: its author is the token's own user, the repository's
/// workflows (`github-actions[bot]`, which only this repository's workflows write as), or a
/// person with write access (owner, member, collaborator). Anyone else — another app's bot, a
/// passer-by — may paste the marker, and their comment is never touched.
fn trusted_author(c: &crate::github_api::Comment, me: Option<&str>) -> bool {
    let Some(u) = &c.user else { return false };
    me == Some(u.login.as_str())
        || (u.login == ACTIONS_BOT && u.kind == "Bot")
        || (u.kind == "User"
            && matches!(
                c.author_association.as_str(),
                "OWNER" | "MEMBER" | "COLLABORATOR"
            ))
}

/// Puts `body` on `issue` as the experiment's one comment, and returns its URL — or `None` when
/// the comment shows a newer run (or a later phase of this one) and was left as it is.
///
/// Across machines: any number of clients (and the workflow's own jobs) may do this at once.
/// Each creates only when it sees no comment of outrun's, then lists again; whenever outrun's
/// comments number more than one, every client keeps the oldest and deletes the others. All of
/// them agree on which is oldest, deleting is idempotent, and a comment is only ever replaced
/// by one about the same or a newer run, so however the requests interleave they end with one
/// comment showing the newest run.
pub(crate) async fn upsert_comment(
    client: &Client,
    issue: u64,
    experiment: &str,
    body: &str,
) -> Result<Option<String>, RemoteError> {
    let marker = names::comment_marker(experiment);
    let me = client.viewer_login().await?;
    let ours = CommentStamp::parse(body);
    let list = |cs: Vec<crate::github_api::Comment>| {
        let mut v: Vec<crate::github_api::Comment> = cs
            .into_iter()
            .filter(|c| {
                trusted_author(c, me.as_deref())
                    && c.body.as_deref().is_some_and(|b| b.starts_with(&marker))
            })
            .collect();
        v.sort_by_key(|c| c.id);
        v
    };
    let mut found = list(client.comments(issue).await?);
    if found.is_empty() {
        match client.create_comment(issue, body).await {
            Ok(_) | Err(GithubError::Ambiguous { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        found = list(client.comments(issue).await?);
    }
    let Some(keep) = found.first().cloned() else {
        // Created, yet not listed (or not as ours): nothing more to do safely.
        return Ok(None);
    };
    for extra in &found[1..] {
        // A comment another machine created at the same moment; if it is not ours to delete
        // (another person's), GitHub says no and it stays.
        match client.delete_comment(extra.id).await {
            Ok(()) | Err(GithubError::Http { status: 403, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let shown = keep.body.as_deref().and_then(CommentStamp::parse);
    let may = match (&ours, &shown) {
        (Some(o), Some(s)) => o.may_replace(s),
        _ => true,
    };
    if !may {
        return Ok(None);
    }
    if keep.body.as_deref() == Some(body) {
        return Ok(Some(keep.html_url));
    }
    Ok(Some(client.update_comment(keep.id, body).await?.html_url))
}

// ---------------------------------------------------------------------------------------------
// Collected: read from the repository and GitHub.

/// Which runs of an experiment are collected: those in its ledger — in this checkout, and on
/// the branch results land on — and those whose results wait on their landing branch
/// `outrun/NAME/RUN_ID` (the branch of the run's open pull request, or of one that GitHub would
/// not let Actions open). Whoever collects a run first, the workflow's final job or a `sync`
/// on any machine, the others see it here.
#[derive(Debug, Default)]
pub struct CollectedRuns {
    ledger: Vec<ledger::LedgerEntry>,
    landing: BTreeSet<u64>,
}

impl CollectedRuns {
    pub async fn load(
        root: &Path,
        client: &Client,
        plan: &Plan,
    ) -> Result<CollectedRuns, RemoteError> {
        let rel = ledger::path_for(&plan.dataset_path());
        let mut entries = ledger::read(&root.join(&rel))?;
        if let Some(bytes) = client
            .file_at(&rel.to_string_lossy(), &landing_base(client, plan).await?)
            .await?
        {
            entries.extend(ledger::parse(bytes.as_slice(), &rel)?);
        }
        let prefix = format!("outrun/{}/", plan.name());
        let landing = client
            .branches_starting(&prefix)
            .await?
            .iter()
            .filter_map(|b| names::parse_landing_branch(plan.name(), b))
            .collect();
        Ok(CollectedRuns {
            ledger: entries,
            landing,
        })
    }

    pub fn contains(&self, run: &Run) -> bool {
        ledger::has(&self.ledger, &run.id.to_string(), run.attempt())
            || self.landing.contains(&run.id)
    }
}

/// The branch an experiment's results land on: its `github.branch` for `land: branch`, else
/// the repository's default branch.
pub(crate) async fn landing_base(client: &Client, plan: &Plan) -> Result<String, RemoteError> {
    Ok(match (plan.file.github.land, &plan.file.github.branch) {
        (experiment::Land::Branch, Some(b)) => b.clone(),
        _ => client.default_branch().await?,
    })
}

// ---------------------------------------------------------------------------------------------
// Sync.

/// What `sync` found for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Collected,
    Running,
    Skipped,
    Lost,
    Failed,
}

/// One run `sync` looked at.
#[derive(Debug, Clone, Serialize)]
pub struct SyncItem {
    pub experiment: String,
    pub run_id: Option<u64>,
    pub outrun_id: Option<String>,
    pub html_url: Option<String>,
    pub state: SyncState,
    /// GitHub's status of the run, or what outrun knows of a run not listed yet.
    pub status: Option<String>,
    pub conclusion: Option<Conclusion>,
    pub cells_ok: Option<usize>,
    pub cells_failed: Option<usize>,
    pub rows_added: Option<usize>,
    pub comment_url: Option<String>,
    pub error: Option<String>,
}

impl SyncItem {
    fn new(experiment: &str, state: SyncState) -> SyncItem {
        SyncItem {
            experiment: experiment.into(),
            run_id: None,
            outrun_id: None,
            html_url: None,
            state,
            status: None,
            conclusion: None,
            cells_ok: None,
            cells_failed: None,
            rows_added: None,
            comment_url: None,
            error: None,
        }
    }

    fn of_run(experiment: &str, run: &Run, state: SyncState) -> SyncItem {
        SyncItem {
            run_id: Some(run.id),
            outrun_id: run.outrun_title().map(|(_, id)| id.to_string()),
            html_url: Some(run.html_url.clone()),
            status: run.status.as_ref().map(RunStatus::to_string),
            conclusion: run.conclusion.clone(),
            ..SyncItem::new(experiment, state)
        }
    }
}

fn age(rfc3339: &str) -> Option<Duration> {
    let t = humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z')).ok()?;
    std::time::SystemTime::now().duration_since(t).ok()
}

/// Finds every outrun run not collected yet, collects those that finished and that outrun
/// merges, and says where the rest stand (running, skipped and why, lost). Idempotent: the
/// dataset and ledger upserts and the comment upsert make a second pass change nothing.
pub async fn sync(
    root: &Path,
    client: &Client,
    comment: bool,
) -> Result<Vec<SyncItem>, RemoteError> {
    let _lock = lock(root)?;
    let mut records = DispatchRecord::all(root);
    let mut items = Vec::new();
    for path in experiment::experiment_files(root)? {
        let Ok(plan) = experiment::load(root, &path) else {
            continue;
        };
        let name = plan.name().to_string();
        if !root.join(names::workflow_path(&name)).is_file() {
            continue;
        }
        let wf = names::workflow_file(&name);
        // Dispatches that never got a run id: look once more, without waiting; give up for good
        // after LOST_AFTER, and say so once.
        for rec in records
            .iter_mut()
            .filter(|r| r.experiment == name && r.run_id.is_none() && r.lost_at.is_none())
        {
            let branch = rec
                .git_ref
                .strip_prefix("refs/heads/")
                .unwrap_or(&rec.git_ref)
                .to_string();
            let title = names::run_title(&rec.experiment, &rec.outrun_id);
            let found = match client.runs(&wf, Some(&branch), 30).await {
                Ok(runs) => runs.into_iter().find(|r| r.display_title == title),
                Err(GithubError::Http { status: 404, .. }) => None,
                Err(e) => return Err(e.into()),
            };
            if let Some(run) = found {
                rec.run_id = Some(run.id);
                rec.html_url = Some(run.html_url.clone());
                rec.save(root)?;
                continue;
            }
            let mut item = SyncItem::new(&name, SyncState::Running);
            item.outrun_id = Some(rec.outrun_id.clone());
            if age(&rec.dispatched_at).is_none_or(|a| a > LOST_AFTER) {
                rec.lost_at = Some(crate::contract::now_rfc3339());
                rec.save(root)?;
                item.state = SyncState::Lost;
                item.error = Some(format!(
                    "no run named `{title}` appeared within {}; it was never started (this is the last time it is reported)",
                    humantime::format_duration(LOST_AFTER)
                ));
            } else {
                item.status = Some("dispatched, not listed yet".into());
            }
            items.push(item);
        }
        let mut runs = match client.runs(&wf, None, 30).await {
            Ok(r) => r,
            Err(GithubError::Http { status: 404, .. }) => {
                let mut item = SyncItem::new(&name, SyncState::Failed);
                item.error = Some(format!(
                    "{wf} is not on GitHub yet: commit and push it (`outrun generate {name}`)"
                ));
                items.push(item);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // Recorded runs that have dropped off that page are still to be collected.
        for rec in records
            .iter()
            .filter(|r| r.experiment == name && r.collected_at.is_none())
        {
            if let Some(id) = rec.run_id.filter(|id| !runs.iter().any(|r| r.id == *id)) {
                runs.push(client.run(id).await?);
            }
        }
        let collected = CollectedRuns::load(root, client, &plan).await?;
        // Oldest first, so that the comment ends up showing the newest run.
        runs.sort_by(|a, b| a.started_at().cmp(b.started_at()).then(a.id.cmp(&b.id)));
        let mut seen = BTreeSet::new();
        for run in runs {
            if !seen.insert(run.id) || collected.contains(&run) {
                continue;
            }
            let rec = records.iter().find(|r| r.run_id == Some(run.id)).cloned();
            if let Some(reason) = untrusted(client, &plan, &run, rec.is_some()).await? {
                let mut item = SyncItem::of_run(&name, &run, SyncState::Skipped);
                item.error = Some(reason);
                items.push(item);
                continue;
            }
            if !run.completed() {
                items.push(SyncItem::of_run(&name, &run, SyncState::Running));
                continue;
            }
            let issue = if comment {
                pipeline::comment_issue(&plan, rec.as_ref().and_then(|r| r.issue))
            } else {
                None
            };
            let opts = CollectOptions {
                cells: rec.as_ref().and_then(|r| r.cells.as_deref()),
                issue,
                ..CollectOptions::default()
            };
            let mut item = SyncItem::of_run(&name, &run, SyncState::Collected);
            match collect(root, client, &run, &opts).await {
                Ok(c) => {
                    item.cells_ok = Some(c.outcomes.iter().filter(|o| o.ok()).count());
                    item.cells_failed = Some(c.outcomes.iter().filter(|o| !o.ok()).count());
                    item.rows_added = Some(c.merge.rows_added);
                    item.comment_url = c.comment_url;
                    mark_collected(root, &plan, &run, rec)?;
                }
                Err(e) => {
                    item.state = SyncState::Failed;
                    item.error = Some(e.to_string());
                }
            }
            items.push(item);
        }
    }
    Ok(items)
}

/// Notes a collected run in this machine's dispatch record (creating one for runs it did not
/// dispatch). The record is a convenience for this machine; what counts as collected is the
/// ledger in the repository.
pub fn mark_collected(
    root: &Path,
    plan: &Plan,
    run: &Run,
    rec: Option<DispatchRecord>,
) -> Result<(), RemoteError> {
    let mut rec = rec.unwrap_or_else(|| DispatchRecord {
        schema: RECORD_SCHEMA.into(),
        outrun_id: run
            .outrun_title()
            .map(|(_, id)| id.to_string())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("run-{}", run.id)),
        experiment: plan.name().into(),
        repo: String::new(),
        git_ref: run.head_branch.clone().unwrap_or_default(),
        cells: None,
        issue: plan.file.issue,
        run_id: Some(run.id),
        html_url: Some(run.html_url.clone()),
        dispatched_at: run.created_at.clone(),
        collected_at: None,
        lost_at: None,
    });
    // Two dispatch ids could collide only by name; keep records apart by run id.
    if rec.outrun_id == names::MANUAL_ID {
        rec.outrun_id = format!("{}-{}", names::MANUAL_ID, run.id);
    }
    rec.collected_at = Some(crate::contract::now_rfc3339());
    rec.save(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(login: &str, kind: &str, assoc: &str) -> crate::github_api::Comment {
        crate::github_api::Comment {
            id: 1,
            body: Some(names::comment_marker("x")),
            html_url: String::new(),
            user: Some(crate::github_api::models::User {
                login: login.into(),
                kind: kind.into(),
            }),
            author_association: assoc.into(),
        }
    }

    #[test]
    fn only_trusted_authors_own_the_marker() {
        assert!(trusted_author(
            &comment("alice", "User", "NONE"),
            Some("alice")
        ));
        assert!(trusted_author(&comment(ACTIONS_BOT, "Bot", "NONE"), None));
        assert!(trusted_author(
            &comment("bob", "User", "COLLABORATOR"),
            None
        ));
        assert!(!trusted_author(
            &comment("mallory", "User", "NONE"),
            Some("alice")
        ));
        assert!(!trusted_author(
            &comment("evil-app[bot]", "Bot", "NONE"),
            None
        ));
        assert!(!trusted_author(
            &comment("evil-app[bot]", "Bot", "MEMBER"),
            None
        ));
        // A user who calls themselves like the bot is still a user.
        assert!(!trusted_author(&comment(ACTIONS_BOT, "User", "NONE"), None));
    }
}
