//! The fake's world: workflows, runs, jobs, artifacts, comments, the simulated clock, the request
//! log and the rate-limit counter.
//!
//! Runs are not stepped by a background task. Each run stores, when it is created, the simulated
//! instants at which each of its jobs is created, starts and completes; every status, conclusion,
//! `updated_at` and artifact is derived from those instants and the current simulated time when a
//! request reads it. `advance()` only moves the clock, so a test is fully deterministic.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::FakeConfig;
use super::artifacts::{CellFiles, build_zip};
use super::faults::{Fault, Hostile};
use super::util::{iso8601, sha256_hex};

/// How a job or run ended (GitHub's `conclusion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    Cancelled,
    TimedOut,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Cancelled => "cancelled",
            Conclusion::TimedOut => "timed_out",
        }
    }
    /// Only jobs that ran to their end upload artifacts (outrun's upload step runs `if: always()`,
    /// so a failed shard still uploads its cells' `cell.json`).
    fn uploads(self) -> bool {
        matches!(self, Conclusion::Success | Conclusion::Failure)
    }
}

/// One matrix job of a workflow: its shard name, the cells it runs with the files each cell leaves
/// in its output folder (they become the artifact), and how the job ends.
#[derive(Clone, Debug)]
pub struct CellSpec {
    pub shard: String,
    pub cells: Vec<CellFiles>,
    pub conclusion: Conclusion,
}

impl CellSpec {
    pub fn new(shard: &str, conclusion: Conclusion) -> CellSpec {
        CellSpec {
            shard: shard.to_string(),
            cells: Vec::new(),
            conclusion,
        }
    }
    /// Adds a cell with its files, e.g. `.cell("c1", &[("cell.json", b"{}"), ("results.csv", b"a\n1\n")])`.
    pub fn cell(mut self, id: &str, files: &[(&str, &[u8])]) -> CellSpec {
        let files = files
            .iter()
            .map(|(p, b)| (p.to_string(), b.to_vec()))
            .collect();
        self.cells.push((id.to_string(), files));
        self
    }
}

#[derive(Clone, Debug)]
pub struct Workflow {
    pub id: u64,
    /// e.g. `outrun-demo.yml`; the API accepts it wherever it accepts the numeric id.
    pub file_name: String,
    pub name: String,
    pub experiment: String,
    pub shards: Vec<CellSpec>,
    pub created_at_ms: u64,
}

/// A job's planned life, fixed when its run is created. `shard` is `None` for the `plan` job.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: u64,
    pub name: String,
    pub shard: Option<usize>,
    pub created_ms: u64,
    pub started_ms: u64,
    pub completed_ms: u64,
    pub conclusion: Conclusion,
    pub runner_id: u64,
}

/// A job as it looks at a given simulated instant (after any forced ending is applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobView {
    pub status: &'static str,
    pub conclusion: Option<Conclusion>,
    pub created_ms: u64,
    pub started_ms: u64,
    pub completed_ms: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Artifact {
    pub id: u64,
    /// Index into the run's workflow shards; the artifact appears when that shard's job completes.
    pub shard: usize,
    pub name: String,
    /// Set by `Fault::ArtifactGone` or `State::expire_artifact`.
    pub force_expired: bool,
    pub hostile: Option<Hostile>,
    /// Built on first use and kept, so size, digest and bytes always agree.
    pub zip: Option<Arc<Vec<u8>>>,
}

#[derive(Clone, Debug)]
pub struct Run {
    pub id: u64,
    /// `owner/repo`.
    pub repo: String,
    pub workflow_id: u64,
    pub name: String,
    pub run_number: u64,
    pub run_attempt: u32,
    pub event: String,
    pub head_branch: String,
    pub head_sha: String,
    pub display_title: String,
    pub inputs: Value,
    pub check_suite_id: u64,
    pub created_ms: u64,
    /// A forced ending (cancelled / timed out) and the simulated instant it happens.
    pub forced_end: Option<(Conclusion, u64)>,
    pub jobs: Vec<Job>,
    pub artifacts: Vec<Artifact>,
}

impl Run {
    /// The job at `now`, or `None` if it does not exist yet (shard jobs are created only when
    /// the `plan` job has finished, as with a matrix computed by an earlier job).
    pub fn job_view(&self, job: &Job, now: u64) -> Option<JobView> {
        let (mut started, mut completed, mut conclusion) =
            (job.started_ms, job.completed_ms, job.conclusion);
        if let Some((forced, at)) = self.forced_end {
            if job.created_ms >= at {
                return None;
            }
            if completed > at {
                started = started.min(at);
                completed = at;
                conclusion = forced;
            }
        }
        if now < job.created_ms {
            return None;
        }
        let (status, conclusion, completed_ms) = if now >= completed {
            ("completed", Some(conclusion), Some(completed))
        } else if now >= started {
            ("in_progress", None, None)
        } else {
            ("queued", None, None)
        };
        // GitHub reports started_at even for a queued job (it equals created_at then).
        let started_ms = if status == "queued" {
            job.created_ms
        } else {
            started
        };
        Some(JobView {
            status,
            conclusion,
            created_ms: job.created_ms,
            started_ms,
            completed_ms,
        })
    }

    fn start_ms(&self) -> u64 {
        self.jobs
            .iter()
            .map(|j| j.started_ms)
            .min()
            .unwrap_or(self.created_ms)
    }

    fn end_ms(&self) -> u64 {
        let natural = self
            .jobs
            .iter()
            .map(|j| j.completed_ms)
            .max()
            .unwrap_or(self.created_ms);
        self.forced_end.map_or(natural, |(_, at)| at.min(natural))
    }

    /// (`status`, `conclusion`) at `now`.
    pub fn status_at(&self, now: u64) -> (&'static str, Option<Conclusion>) {
        if now >= self.end_ms() {
            let conclusion = match self.forced_end {
                Some((c, at)) if at <= now => c,
                _ if self
                    .jobs
                    .iter()
                    .all(|j| j.conclusion == Conclusion::Success) =>
                {
                    Conclusion::Success
                }
                _ => Conclusion::Failure,
            };
            ("completed", Some(conclusion))
        } else if now >= self.start_ms().min(self.end_ms()) {
            ("in_progress", None)
        } else {
            ("queued", None)
        }
    }

    /// The last instant <= now at which anything about the run changed (its `updated_at`).
    pub fn updated_ms(&self, now: u64) -> u64 {
        let mut instants = vec![self.start_ms(), self.end_ms()];
        for job in &self.jobs {
            if let Some(v) = self.job_view(job, now) {
                instants.push(v.created_ms);
                if v.status != "queued" {
                    instants.push(v.started_ms);
                }
                instants.extend(v.completed_ms);
            }
        }
        instants
            .into_iter()
            .filter(|&t| t <= now)
            .fold(self.created_ms, u64::max)
    }

    pub fn run_started_ms(&self) -> u64 {
        self.created_ms
    }

    /// The artifact's creation instant if it exists at `now` (its shard job has completed and
    /// uploaded).
    pub fn artifact_created_ms(&self, artifact: &Artifact, now: u64) -> Option<u64> {
        let job = self.jobs.iter().find(|j| j.shard == Some(artifact.shard))?;
        let view = self.job_view(job, now)?;
        match (view.conclusion, view.completed_ms) {
            (Some(c), Some(t)) if c.uploads() => Some(t),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    /// `owner/repo`.
    pub repo: String,
    pub issue: u64,
    pub user_login: String,
    pub body: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Api,
    Storage,
}

/// One request as the fake saw it, for counting and assertions.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub host: Host,
    pub method: String,
    /// Full request path as sent (including the API prefix, if any), without the query.
    pub path: String,
    /// Raw query string, "" if none.
    pub query: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The request carried `If-None-Match`.
    pub conditional: bool,
    /// Status sent; 0 when the connection was dropped without a response.
    pub status: u16,
    /// Counted against the core rate limit (API host, authenticated, not 304, not /rate_limit).
    pub counted: bool,
}

impl RecordedRequest {
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The core rate-limit window. It is kept in wall-clock time because clients compare
/// `x-ratelimit-reset` with their own clock.
#[derive(Clone, Debug)]
pub(crate) struct Rate {
    pub used: u64,
    pub reset_wall: u64,
}

pub struct State {
    pub(crate) cfg: FakeConfig,
    pub(crate) now_ms: u64,
    /// `http://127.0.0.1:PORT`, and the same plus `api_prefix` (the base of every API URL).
    pub(crate) api_origin: String,
    pub(crate) api_url: String,
    pub(crate) storage_url: String,
    pub(crate) secret: String,
    pub(crate) faults: Vec<Fault>,
    /// `ArtifactGone` / `HostileZip` faults waiting for their shard's next artifact.
    pub(crate) artifact_faults: Vec<Fault>,
    /// `EndRun { run: None }` faults waiting for the next dispatch.
    pub(crate) next_run_endings: Vec<Conclusion>,
    pub(crate) rate: Rate,
    next_id: u64,
    pub workflows: Vec<Workflow>,
    pub runs: Vec<Run>,
    pub comments: Vec<Comment>,
    pub requests: Vec<RecordedRequest>,
}

// Realistic id ranges: run, job and check-suite ids on github.com are past 2^32 now, which is
// exactly what breaks clients that parse them into 32-bit integers.
const RUN_ID_BASE: u64 = 21_000_000_000;
const JOB_ID_BASE: u64 = 58_000_000_000;
const SUITE_ID_BASE: u64 = 43_000_000_000;
const ARTIFACT_ID_BASE: u64 = 4_100_000_000;
const COMMENT_ID_BASE: u64 = 3_300_000_000;
const WORKFLOW_ID_BASE: u64 = 160_000_000;

impl State {
    pub(crate) fn new(cfg: FakeConfig, epoch_secs: u64, secret: String) -> State {
        State {
            cfg,
            now_ms: epoch_secs * 1000,
            api_origin: String::new(),
            api_url: String::new(),
            storage_url: String::new(),
            secret,
            faults: Vec::new(),
            artifact_faults: Vec::new(),
            next_run_endings: Vec::new(),
            rate: Rate {
                used: 0,
                reset_wall: 0,
            },
            next_id: 0,
            workflows: Vec::new(),
            runs: Vec::new(),
            comments: Vec::new(),
            requests: Vec::new(),
        }
    }

    fn fresh(&mut self, base: u64) -> u64 {
        self.next_id += 1;
        base + self.next_id
    }

    /// Registers a workflow. The experiment name is the file name less an `outrun-` prefix and
    /// the `.yml`/`.yaml` suffix (outrun renders `outrun-NAME.yml`). Returns the workflow id.
    pub fn add_workflow(&mut self, file_name: &str, shards: Vec<CellSpec>) -> u64 {
        let stem = file_name.trim_end_matches(".yml").trim_end_matches(".yaml");
        let experiment = stem.strip_prefix("outrun-").unwrap_or(stem).to_string();
        self.add_workflow_for(file_name, &experiment, shards)
    }

    /// Registers a workflow for a named experiment (artifact names and run titles use it).
    pub fn add_workflow_for(
        &mut self,
        file_name: &str,
        experiment: &str,
        shards: Vec<CellSpec>,
    ) -> u64 {
        let id = self.fresh(WORKFLOW_ID_BASE);
        self.workflows.push(Workflow {
            id,
            file_name: file_name.to_string(),
            name: format!("outrun {experiment}"),
            experiment: experiment.to_string(),
            shards,
            created_at_ms: self.now_ms.saturating_sub(86_400_000),
        });
        id
    }

    /// Simulated time, Unix seconds.
    pub fn now(&self) -> u64 {
        self.now_ms / 1000
    }
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
    pub fn now_iso(&self) -> String {
        iso8601(self.now())
    }
    pub fn advance(&mut self, d: Duration) {
        self.now_ms += d.as_millis() as u64;
    }

    /// Finds a workflow by numeric id or file name, as the API's `{workflow_id}` does.
    pub fn workflow(&self, id_or_file: &str) -> Option<&Workflow> {
        self.workflows
            .iter()
            .find(|w| w.file_name == id_or_file || w.id.to_string() == id_or_file)
    }

    pub fn run(&self, id: u64) -> Option<&Run> {
        self.runs.iter().find(|r| r.id == id)
    }

    /// (`status`, `conclusion`) of a run now, as strings.
    pub fn run_status(&self, id: u64) -> Option<(String, Option<String>)> {
        let (s, c) = self.run(id)?.status_at(self.now_ms);
        Some((s.to_string(), c.map(|c| c.as_str().to_string())))
    }

    pub fn comments_on(&self, repo: &str, issue: u64) -> Vec<&Comment> {
        self.comments
            .iter()
            .filter(|c| c.repo == repo && c.issue == issue)
            .collect()
    }

    /// Adds a comment written by someone (e.g. a human, or an earlier outrun) before the test.
    pub fn seed_comment(&mut self, repo: &str, issue: u64, login: &str, body: &str) -> u64 {
        self.create_comment(repo, issue, login, body)
    }

    pub(crate) fn create_comment(
        &mut self,
        repo: &str,
        issue: u64,
        login: &str,
        body: &str,
    ) -> u64 {
        let id = self.fresh(COMMENT_ID_BASE);
        self.comments.push(Comment {
            id,
            repo: repo.to_string(),
            issue,
            user_login: login.to_string(),
            body: body.to_string(),
            created_ms: self.now_ms,
            updated_ms: self.now_ms,
        });
        id
    }

    /// Marks an artifact expired (as retention would): listed `expired: true`, `/zip` → 410.
    pub fn expire_artifact(&mut self, artifact_id: u64) -> bool {
        let hit = self
            .runs
            .iter_mut()
            .flat_map(|r| r.artifacts.iter_mut())
            .find(|a| a.id == artifact_id);
        hit.map(|a| a.force_expired = true).is_some()
    }

    /// Creates a run for a dispatch and lays out its jobs' timeline (see the module comment).
    ///
    /// Timeline with queue time Q and run time R from dispatch at t0: the `plan` job waits Q, then
    /// runs R/10; shard jobs are created when it ends, wait a short queue (min(Q, R/20)) and
    /// finish one after another, the last at t0 + Q + R, so artifacts appear job by job.
    pub(crate) fn create_run(
        &mut self,
        repo: &str,
        wf_id: u64,
        head_branch: &str,
        inputs: Value,
    ) -> u64 {
        let wf = self
            .workflows
            .iter()
            .find(|w| w.id == wf_id)
            .expect("workflow exists")
            .clone();
        let run_id = self.fresh(RUN_ID_BASE);
        let check_suite_id = self.fresh(SUITE_ID_BASE);
        let run_number = 1 + self
            .runs
            .iter()
            .filter(|r| r.workflow_id == wf_id && r.repo == repo)
            .count() as u64;
        let (q, r) = (
            self.cfg.queue_time.as_millis() as u64,
            self.cfg.run_time.as_millis() as u64,
        );
        let t0 = self.now_ms;
        let plan_end = t0 + q + r / 10;
        let mut jobs = vec![Job {
            id: self.fresh(JOB_ID_BASE),
            name: "plan".into(),
            shard: None,
            created_ms: t0,
            started_ms: t0 + q,
            completed_ms: plan_end,
            conclusion: Conclusion::Success,
            runner_id: 1000 + self.next_id,
        }];
        let n = wf.shards.len() as u64;
        let shard_start = plan_end + q.min(r / 20);
        let span = (t0 + q + r).saturating_sub(shard_start);
        for (i, shard) in wf.shards.iter().enumerate() {
            jobs.push(Job {
                id: self.fresh(JOB_ID_BASE),
                name: format!("run ({})", shard.shard),
                shard: Some(i),
                created_ms: plan_end,
                started_ms: shard_start,
                completed_ms: shard_start + span * (i as u64 + 1) / n.max(1),
                conclusion: shard.conclusion,
                runner_id: 1000 + self.next_id,
            });
        }
        let mut artifacts = Vec::new();
        for (i, shard) in wf.shards.iter().enumerate() {
            let mut artifact = Artifact {
                id: self.fresh(ARTIFACT_ID_BASE),
                shard: i,
                name: format!("outrun-{}-{}-a1", wf.experiment, shard.shard),
                force_expired: false,
                hostile: None,
                zip: None,
            };
            // Artifact faults wait for the next artifact of their shard, then are used up.
            self.artifact_faults.retain(|f| match f {
                Fault::ArtifactGone { shard: s }
                    if *s == shard.shard && !artifact.force_expired =>
                {
                    artifact.force_expired = true;
                    false
                }
                Fault::HostileZip { shard: s, entry }
                    if *s == shard.shard && artifact.hostile.is_none() =>
                {
                    artifact.hostile = Some(*entry);
                    false
                }
                _ => true,
            });
            artifacts.push(artifact);
        }
        let outrun_id = match inputs.get("outrun_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        let mut run = Run {
            id: run_id,
            repo: repo.to_string(),
            workflow_id: wf_id,
            name: wf.name.clone(),
            run_number,
            run_attempt: 1,
            event: "workflow_dispatch".into(),
            head_branch: head_branch.to_string(),
            head_sha: sha256_hex(format!("{repo}@{head_branch}").as_bytes())[..40].to_string(),
            display_title: format!("outrun {} {outrun_id}", wf.experiment)
                .trim_end()
                .to_string(),
            inputs,
            check_suite_id,
            created_ms: t0,
            forced_end: None,
            jobs,
            artifacts,
        };
        if !self.next_run_endings.is_empty() {
            let c = self.next_run_endings.remove(0);
            run.forced_end = Some((c, Self::midpoint_of_shards(&run)));
        }
        self.runs.push(run);
        run_id
    }

    /// The instant a forced ending hits: halfway through the shard jobs' running phase.
    pub(crate) fn midpoint_of_shards(run: &Run) -> u64 {
        let shards = run.jobs.iter().filter(|j| j.shard.is_some());
        let start = shards.clone().map(|j| j.started_ms).min();
        let end = shards.map(|j| j.completed_ms).max();
        match (start, end) {
            (Some(s), Some(e)) => s + (e - s) / 2,
            _ => run
                .jobs
                .iter()
                .map(|j| j.completed_ms)
                .max()
                .unwrap_or(run.created_ms),
        }
    }

    /// The artifact's zip, built on first use.
    pub(crate) fn artifact_zip(&mut self, run_idx: usize, art_idx: usize) -> Arc<Vec<u8>> {
        let run = &self.runs[run_idx];
        let artifact = &run.artifacts[art_idx];
        if let Some(zip) = &artifact.zip {
            return zip.clone();
        }
        let wf = self
            .workflows
            .iter()
            .find(|w| w.id == run.workflow_id)
            .expect("workflow");
        let zip = Arc::new(build_zip(
            &wf.shards[artifact.shard].cells,
            artifact.hostile,
        ));
        self.runs[run_idx].artifacts[art_idx].zip = Some(zip.clone());
        zip
    }

    /// Locates an artifact by id: (run index, artifact index).
    pub(crate) fn find_artifact(&self, id: u64) -> Option<(usize, usize)> {
        self.runs.iter().enumerate().find_map(|(ri, r)| {
            r.artifacts
                .iter()
                .position(|a| a.id == id)
                .map(|ai| (ri, ai))
        })
    }

    /// Is the artifact expired at `now`? Retention counts from its creation in simulated time.
    pub(crate) fn artifact_expired(&self, run: &Run, artifact: &Artifact) -> bool {
        let retention = self.cfg.artifact_retention.as_millis() as u64;
        artifact.force_expired
            || run
                .artifact_created_ms(artifact, self.now_ms)
                .is_some_and(|t| self.now_ms >= t + retention)
    }
}
