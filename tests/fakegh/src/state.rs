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
use super::git::{Commit, GitStore};
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
    /// The wave (the workflow's `wave` input, 1 when not given) whose runs have this job;
    /// `None`: every run has it.
    pub wave: Option<u32>,
}

impl CellSpec {
    pub fn new(shard: &str, conclusion: Conclusion) -> CellSpec {
        CellSpec {
            shard: shard.to_string(),
            cells: Vec::new(),
            conclusion,
            wave: None,
        }
    }
    /// Only runs of this wave have the job, as the generated workflow's plan job decides.
    pub fn in_wave(mut self, wave: u32) -> CellSpec {
        self.wave = Some(wave);
        self
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

/// A job's planned life, fixed when its run (or a re-run of it) is created. `shard` is `None` for
/// the `plan` job.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: u64,
    pub name: String,
    pub shard: Option<usize>,
    /// The run attempt this execution belongs to (1 for the first).
    pub attempt: u32,
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
    /// Index into the run's workflow shards; the artifact appears when that shard's job of the
    /// same attempt completes.
    pub shard: usize,
    pub attempt: u32,
    pub name: String,
    /// Set by `Fault::ArtifactGone` or `State::expire_artifact`.
    pub force_expired: bool,
    pub hostile: Option<Hostile>,
    /// Built on first use and kept, so size, digest and bytes always agree.
    pub zip: Option<Arc<Vec<u8>>>,
}

/// One attempt of a run: when it started, who started it, and (once a later attempt exists) the
/// forced ending it had, if any.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub started_ms: u64,
    pub triggering_actor: String,
    pub triggering_kind: IdentityKind,
    /// Only for attempts before the latest; the latest attempt's is `Run::forced_end`.
    pub forced_end: Option<(Conclusion, u64)>,
}

#[derive(Clone, Debug)]
pub struct Run {
    pub id: u64,
    /// `owner/repo`.
    pub repo: String,
    pub workflow_id: u64,
    pub name: String,
    pub run_number: u64,
    /// The latest attempt (= `attempts.len()`).
    pub run_attempt: u32,
    pub event: String,
    pub head_branch: String,
    pub head_sha: String,
    pub display_title: String,
    pub inputs: Value,
    pub check_suite_id: u64,
    pub created_ms: u64,
    /// Who created the run (GitHub's `actor`); each attempt records who triggered it.
    pub actor: String,
    pub actor_kind: IdentityKind,
    pub attempts: Vec<Attempt>,
    /// A forced ending (cancelled / timed out) of the latest attempt and the simulated instant it
    /// happens.
    pub forced_end: Option<(Conclusion, u64)>,
    /// Every execution of every job, all attempts.
    pub jobs: Vec<Job>,
    pub artifacts: Vec<Artifact>,
}

impl Run {
    fn forced_of(&self, attempt: u32) -> Option<(Conclusion, u64)> {
        if attempt >= self.run_attempt {
            self.forced_end
        } else {
            self.attempts
                .get(attempt as usize - 1)
                .and_then(|a| a.forced_end)
        }
    }

    /// The job at `now`, or `None` if it does not exist yet (shard jobs are created only when
    /// the `plan` job has finished, as with a matrix computed by an earlier job). A forced ending
    /// only touches the jobs of the attempt it belongs to.
    pub fn job_view(&self, job: &Job, now: u64) -> Option<JobView> {
        let (mut started, mut completed, mut conclusion) =
            (job.started_ms, job.completed_ms, job.conclusion);
        if let Some((forced, at)) = self.forced_of(job.attempt) {
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

    /// The jobs as of attempt `n`: per job name, its most recent execution in attempts <= n (a
    /// re-run of failed jobs leaves the successful ones as they were), in first-seen order.
    pub fn jobs_of(&self, n: u32) -> Vec<&Job> {
        let mut out: Vec<&Job> = Vec::new();
        for job in self.jobs.iter().filter(|j| j.attempt <= n) {
            match out.iter_mut().find(|j| j.name == job.name) {
                Some(slot) if slot.attempt < job.attempt => *slot = job,
                Some(_) => {}
                None => out.push(job),
            }
        }
        out
    }

    fn start_of(&self, n: u32) -> u64 {
        self.jobs
            .iter()
            .filter(|j| j.attempt == n)
            .map(|j| j.started_ms)
            .min()
            .unwrap_or(self.attempt_started_ms(n))
    }

    /// When attempt `n` ends (forced endings applied): its jobs' last completion.
    fn end_of(&self, n: u32) -> u64 {
        self.jobs_of(n)
            .into_iter()
            .filter_map(|j| self.job_view(j, u64::MAX)?.completed_ms)
            .max()
            .unwrap_or(self.attempt_started_ms(n))
    }

    /// (`status`, `conclusion`) at `now`, of the latest attempt.
    pub fn status_at(&self, now: u64) -> (&'static str, Option<Conclusion>) {
        self.status_of(self.run_attempt, now)
    }

    /// (`status`, `conclusion`) of attempt `n` at `now`. The conclusion is computed from the
    /// latest execution of each job as of that attempt.
    pub fn status_of(&self, n: u32, now: u64) -> (&'static str, Option<Conclusion>) {
        let end = self.end_of(n);
        if now >= end {
            let conclusion = match self.forced_of(n) {
                Some((c, at)) if at <= now => c,
                _ if self.jobs_of(n).into_iter().all(|j| {
                    self.job_view(j, u64::MAX)
                        .is_none_or(|v| v.conclusion == Some(Conclusion::Success))
                }) =>
                {
                    Conclusion::Success
                }
                _ => Conclusion::Failure,
            };
            ("completed", Some(conclusion))
        } else if now >= self.start_of(n).min(end) {
            ("in_progress", None)
        } else {
            ("queued", None)
        }
    }

    /// The last instant <= now at which anything about the run changed (its `updated_at`).
    pub fn updated_ms(&self, now: u64) -> u64 {
        let n = self.run_attempt;
        let mut instants = vec![self.start_of(n), self.end_of(n)];
        instants.extend(self.attempts.iter().map(|a| a.started_ms));
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

    /// Start of the latest attempt (GitHub's `run_started_at`).
    pub fn run_started_ms(&self) -> u64 {
        self.attempt_started_ms(self.run_attempt)
    }

    pub fn attempt_started_ms(&self, n: u32) -> u64 {
        self.attempts
            .get((n as usize).saturating_sub(1))
            .map_or(self.created_ms, |a| a.started_ms)
    }

    /// The artifact's creation instant if it exists at `now` (its shard job of the same attempt
    /// has completed and uploaded).
    pub fn artifact_created_ms(&self, artifact: &Artifact, now: u64) -> Option<u64> {
        let job = self
            .jobs
            .iter()
            .find(|j| j.shard == Some(artifact.shard) && j.attempt == artifact.attempt)?;
        let view = self.job_view(job, now)?;
        match (view.conclusion, view.completed_ms) {
            (Some(c), Some(t)) if c.uploads() => Some(t),
            _ => None,
        }
    }
}

/// Whether a login is a person or an app's bot account (GitHub's `user.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityKind {
    User,
    Bot,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::User => "User",
            IdentityKind::Bot => "Bot",
        }
    }
    /// GitHub names app bot accounts `something[bot]`.
    pub fn of_login(login: &str) -> IdentityKind {
        if login.ends_with("[bot]") {
            IdentityKind::Bot
        } else {
            IdentityKind::User
        }
    }
}

/// Who a token belongs to. Whatever it creates (comments, runs, pull requests) is recorded under
/// this login, kind and `author_association`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub token: String,
    pub login: String,
    pub kind: IdentityKind,
    /// `author_association` of what this identity writes: "OWNER", "COLLABORATOR", "NONE", ...
    pub association: String,
    /// An installation token (a GitHub App's, or a workflow's `GITHUB_TOKEN`): it cannot read
    /// `/user`, and may be barred from creating pull requests.
    pub installation: bool,
}

impl Identity {
    /// A person's token.
    pub fn user(token: &str, login: &str, association: &str) -> Identity {
        Identity {
            token: token.to_string(),
            login: login.to_string(),
            kind: IdentityKind::User,
            association: association.to_string(),
            installation: false,
        }
    }
    /// A workflow's `GITHUB_TOKEN`: it acts as `github-actions[bot]`, whose comments GitHub
    /// shows with association "NONE".
    pub fn github_actions(token: &str) -> Identity {
        Identity {
            token: token.to_string(),
            login: "github-actions[bot]".to_string(),
            kind: IdentityKind::Bot,
            association: "NONE".to_string(),
            installation: true,
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
    pub user_kind: IdentityKind,
    pub association: String,
    pub body: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// A pull request. `head_sha` is read from the head branch while the PR is open.
#[derive(Clone, Debug)]
pub struct Pull {
    pub number: u64,
    /// `owner/repo`.
    pub repo: String,
    pub title: String,
    pub body: Option<String>,
    /// Branch names (without `owner:`).
    pub head: String,
    pub base: String,
    pub head_sha: String,
    pub base_sha: String,
    /// "open" or "closed".
    pub state: String,
    pub draft: bool,
    pub user_login: String,
    pub user_kind: IdentityKind,
    pub association: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub closed_ms: Option<u64>,
    /// The merge commit, once merged (by [`State::merge_pull`] or `PUT …/merge`).
    pub merge_sha: Option<String>,
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
    /// When it was answered (wall clock), for latency measurements.
    pub at: std::time::SystemTime,
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
    /// The id the next created run gets (then cleared), so a test can make the fake's run id
    /// match one recorded elsewhere.
    pub next_run_id: Option<u64>,
    /// How each shard's job ends when re-run (by shard name; default success).
    pub rerun_conclusions: Vec<(String, Conclusion)>,
    pub workflows: Vec<Workflow>,
    /// Per repository (`owner/repo`): its git objects and refs.
    pub(crate) git: Vec<(String, GitStore)>,
    pub pulls: Vec<Pull>,
    pub runs: Vec<Run>,
    pub comments: Vec<Comment>,
    pub requests: Vec<RecordedRequest>,
    /// Release assets by path (`OWNER/REPO/releases/download/TAG/NAME`), served by the storage
    /// host, which stands in for github.com's release downloads too.
    pub release_assets: Vec<(String, Vec<u8>)>,
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
            next_run_id: None,
            rerun_conclusions: Vec::new(),
            workflows: Vec::new(),
            git: Vec::new(),
            pulls: Vec::new(),
            runs: Vec::new(),
            comments: Vec::new(),
            requests: Vec::new(),
            release_assets: Vec::new(),
        }
    }

    /// Attaches `bytes` as asset `name` to release `tag` of `repo` (`owner/name`). Returns the
    /// path its download URL has on the storage host.
    pub fn add_release_asset(
        &mut self,
        repo: &str,
        tag: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> String {
        let path = format!("{repo}/releases/download/{tag}/{name}");
        self.release_assets.retain(|(p, _)| *p != path);
        self.release_assets.push((path.clone(), bytes));
        path
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
    /// Its kind follows the login (`…[bot]` is a Bot); its association is "OWNER" for the
    /// default user and "CONTRIBUTOR" otherwise.
    pub fn seed_comment(&mut self, repo: &str, issue: u64, login: &str, body: &str) -> u64 {
        let association = if login == self.cfg.user {
            "OWNER"
        } else {
            "CONTRIBUTOR"
        };
        let kind = IdentityKind::of_login(login);
        self.create_comment(repo, issue, login, kind, association, body)
    }

    /// Adds a comment by an author of a given kind and association, e.g. a bot's comment that
    /// looks like outrun's own, to test that a client tells them apart.
    pub fn seed_comment_as(
        &mut self,
        repo: &str,
        issue: u64,
        login: &str,
        kind: IdentityKind,
        association: &str,
        body: &str,
    ) -> u64 {
        self.create_comment(repo, issue, login, kind, association, body)
    }

    /// The identity a token authenticates as: the default `token`/`user` pair first, then
    /// `FakeConfig::identities`.
    pub fn identity_for_token(&self, token: &str) -> Option<Identity> {
        if token == self.cfg.token {
            return Some(self.default_identity());
        }
        self.cfg
            .identities
            .iter()
            .find(|i| i.token == token)
            .cloned()
    }

    /// The default identity: `FakeConfig::token` as `FakeConfig::user`, the repository's owner.
    pub fn default_identity(&self) -> Identity {
        Identity::user(&self.cfg.token, &self.cfg.user, "OWNER")
    }

    pub(crate) fn create_comment(
        &mut self,
        repo: &str,
        issue: u64,
        login: &str,
        kind: IdentityKind,
        association: &str,
        body: &str,
    ) -> u64 {
        let id = self.fresh(COMMENT_ID_BASE);
        self.comments.push(Comment {
            id,
            repo: repo.to_string(),
            issue,
            user_login: login.to_string(),
            user_kind: kind,
            association: association.to_string(),
            body: body.to_string(),
            created_ms: self.now_ms,
            updated_ms: self.now_ms,
        });
        id
    }

    /// The sha of `branch`'s head commit in `repo`'s git store, if the branch exists.
    pub fn branch_head(&self, repo: &str, branch: &str) -> Option<String> {
        self.git_of(repo)?
            .refs
            .get(&format!("refs/heads/{branch}"))
            .cloned()
    }

    pub(crate) fn git_of(&self, repo: &str) -> Option<&GitStore> {
        self.git
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(repo))
            .map(|(_, g)| g)
    }

    /// The repository's git store, created on first use with one commit (a README) on the
    /// default branch, as a new GitHub repository initialised with a README has.
    pub(crate) fn git_mut(&mut self, repo: &str) -> &mut GitStore {
        let i = match self
            .git
            .iter()
            .position(|(r, _)| r.eq_ignore_ascii_case(repo))
        {
            Some(i) => i,
            None => {
                let mut g = GitStore::default();
                let name = repo.rsplit('/').next().unwrap_or(repo);
                let readme = g.put_blob(format!("# {name}\n").into_bytes());
                let tree = g.put_tree([("README.md".to_string(), readme)].into());
                let commit = g.put_commit(Commit {
                    tree,
                    parents: Vec::new(),
                    message: "Initial commit".into(),
                    author: (
                        self.cfg.user.clone(),
                        format!("{}@users.noreply.github.com", self.cfg.user),
                    ),
                    date_ms: self.now_ms.saturating_sub(86_400_000),
                });
                g.refs
                    .insert(format!("refs/heads/{}", self.cfg.default_branch), commit);
                self.git.push((repo.to_string(), g));
                self.git.len() - 1
            }
        };
        &mut self.git[i].1
    }

    /// Commits `files` (added or replaced) on top of `branch`, creating the branch from the
    /// default branch if it does not exist. Returns the new commit's sha.
    pub fn seed_files(&mut self, repo: &str, branch: &str, files: &[(&str, &[u8])]) -> String {
        let (user, now) = (self.cfg.user.clone(), self.now_ms);
        let default = self.cfg.default_branch.clone();
        let g = self.git_mut(repo);
        let parent = g
            .resolve(branch)
            .or_else(|| g.resolve(&default))
            .expect("default branch exists");
        let mut flat = g.flat_of_commit(&parent).cloned().unwrap_or_default();
        for (path, bytes) in files {
            let sha = g.put_blob(bytes.to_vec());
            flat.insert(path.trim_start_matches('/').to_string(), sha);
        }
        let tree = g.put_tree(flat);
        let commit = g.put_commit(Commit {
            tree,
            parents: vec![parent],
            message: format!("Seed {} file(s)", files.len()),
            author: (user.clone(), format!("{user}@users.noreply.github.com")),
            date_ms: now,
        });
        g.refs
            .insert(format!("refs/heads/{branch}"), commit.clone());
        commit
    }

    /// A file's bytes at a branch, `refs/heads/…` or commit sha; `None` if absent.
    pub fn file_at(&self, repo: &str, git_ref: &str, path: &str) -> Option<Vec<u8>> {
        let g = self.git_of(repo)?;
        let sha = g
            .flat_of_commit(&g.resolve(git_ref)?)?
            .get(path.trim_start_matches('/'))?;
        g.blobs.get(sha).cloned()
    }

    /// Turns the repository setting "Allow GitHub Actions to create and approve pull requests"
    /// on or off, as a maintainer would between runs.
    pub fn set_actions_can_create_prs(&mut self, on: bool) {
        self.cfg.actions_can_create_prs = on;
    }

    /// The pull requests of `repo`, oldest first.
    pub fn pulls_of(&self, repo: &str) -> Vec<&Pull> {
        self.pulls
            .iter()
            .filter(|p| p.repo.eq_ignore_ascii_case(repo))
            .collect()
    }

    /// Whether open pull request `number` of `repo` merges cleanly into its base as the
    /// branches are now (see [`GitStore::three_way`]); `Err` names the conflicting files.
    pub fn pull_mergeable(&self, repo: &str, number: u64) -> Result<(), Vec<String>> {
        let p = self
            .pulls_of(repo)
            .into_iter()
            .find(|p| p.number == number)
            .ok_or_else(|| vec!["no such pull request".to_string()])?;
        let (Some(g), Some(base), Some(head)) = (
            self.git_of(repo),
            self.branch_head(repo, &p.base),
            self.branch_head(repo, &p.head),
        ) else {
            return Err(vec!["a branch is gone".into()]);
        };
        g.three_way(&base, &head).map(|_| ())
    }

    /// Merges open pull request `number` of `repo` as a maintainer's "Merge pull request" button
    /// does: a merge commit on the base branch, the pull request closed and marked merged.
    /// `Err` when it is not open or conflicts (naming the files).
    pub fn merge_pull(&mut self, repo: &str, number: u64) -> Result<String, String> {
        let now = self.now_ms;
        let user = self.cfg.user.clone();
        let Some(i) = self
            .pulls
            .iter()
            .position(|p| p.number == number && p.repo.eq_ignore_ascii_case(repo))
        else {
            return Err("Not Found".into());
        };
        if self.pulls[i].state != "open" {
            return Err("Pull Request is not mergeable".into());
        }
        let (head_b, base_b) = (self.pulls[i].head.clone(), self.pulls[i].base.clone());
        let (Some(head), Some(base)) = (
            self.branch_head(repo, &head_b),
            self.branch_head(repo, &base_b),
        ) else {
            return Err("Head branch was modified".into());
        };
        let g = self.git_mut(repo);
        let flat = g
            .three_way(&base, &head)
            .map_err(|c| format!("Merge conflict in {}", c.join(", ")))?;
        let tree = g.put_tree(flat);
        let sha = g.put_commit(Commit {
            tree,
            parents: vec![base, head.clone()],
            message: format!("Merge pull request #{number} from {head_b}"),
            author: (user.clone(), format!("{user}@users.noreply.github.com")),
            date_ms: now,
        });
        g.refs.insert(format!("refs/heads/{base_b}"), sha.clone());
        let p = &mut self.pulls[i];
        p.head_sha = head;
        p.state = "closed".into();
        p.closed_ms = Some(now);
        p.updated_ms = now;
        p.merge_sha = Some(sha.clone());
        Ok(sha)
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
        who: &Identity,
    ) -> u64 {
        let outrun_id = match inputs.get("outrun_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        let experiment = self.workflow_by_id(wf_id).experiment.clone();
        let title = format!("outrun {experiment} {outrun_id}")
            .trim_end()
            .to_string();
        let run_id = self.new_run(
            repo,
            wf_id,
            "workflow_dispatch",
            head_branch,
            &title,
            inputs,
            who,
        );
        if !self.next_run_endings.is_empty() {
            let c = self.next_run_endings.remove(0);
            let run = self.runs.last_mut().expect("run");
            run.forced_end = Some((c, Self::midpoint_of_shards(run)));
        }
        run_id
    }

    /// Adds a run of `workflow_file` that outrun did not dispatch (e.g. event "pull_request" or
    /// "push" on `head_branch`), by the default user. It has the same jobs, timeline and
    /// artifacts as a dispatched run. Returns the run id.
    pub fn add_run(
        &mut self,
        repo: &str,
        workflow_file: &str,
        event: &str,
        head_branch: &str,
        display_title: &str,
    ) -> u64 {
        let wf_id = self
            .workflow(workflow_file)
            .unwrap_or_else(|| panic!("no workflow {workflow_file}"))
            .id;
        let who = self.default_identity();
        self.new_run(
            repo,
            wf_id,
            event,
            head_branch,
            display_title,
            serde_json::json!({}),
            &who,
        )
    }

    /// Overrides a run's `head_sha`. Returns false if there is no such run.
    pub fn set_head_sha(&mut self, run_id: u64, sha: &str) -> bool {
        let run = self.runs.iter_mut().find(|r| r.id == run_id);
        run.map(|r| r.head_sha = sha.to_string()).is_some()
    }

    /// How `shard`'s job ends when it is re-run (until changed again; default success).
    pub fn set_rerun_conclusion(&mut self, shard: &str, conclusion: Conclusion) {
        self.rerun_conclusions.retain(|(s, _)| s != shard);
        self.rerun_conclusions.push((shard.to_string(), conclusion));
    }

    fn workflow_by_id(&self, wf_id: u64) -> &Workflow {
        self.workflows
            .iter()
            .find(|w| w.id == wf_id)
            .expect("workflow exists")
    }

    /// The commit a run of `branch` would check out: the branch head in the repository's git
    /// store if the branch exists there, else a stable made-up sha.
    fn head_sha_for(&self, repo: &str, branch: &str) -> String {
        self.branch_head(repo, branch)
            .unwrap_or_else(|| sha256_hex(format!("{repo}@{branch}").as_bytes())[..40].to_string())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_run(
        &mut self,
        repo: &str,
        wf_id: u64,
        event: &str,
        head_branch: &str,
        display_title: &str,
        inputs: Value,
        who: &Identity,
    ) -> u64 {
        let wf = self.workflow_by_id(wf_id).clone();
        let run_id = match self.next_run_id.take() {
            Some(id) => id,
            None => self.fresh(RUN_ID_BASE),
        };
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
        // The run's jobs: the shards of its wave (the `wave` input; 1 when absent).
        let wave: u32 = match inputs.get("wave") {
            Some(Value::String(s)) => s.trim().parse().unwrap_or(1),
            _ => 1,
        };
        let all: Vec<usize> = (0..wf.shards.len())
            .filter(|&i| wf.shards[i].wave.is_none_or(|w| w == wave))
            .collect();
        let shard_conclusions: Vec<Conclusion> = wf.shards.iter().map(|s| s.conclusion).collect();
        let jobs = self.lay_out_jobs(&wf, 1, t0, q, r, true, &all, &shard_conclusions);
        let artifacts = all.iter().map(|&i| self.new_artifact(&wf, i, 1)).collect();
        // The repository has a git store (and its default branch) once a run exists in it.
        self.git_mut(repo);
        let head_sha = self.head_sha_for(repo, head_branch);
        self.runs.push(Run {
            id: run_id,
            repo: repo.to_string(),
            workflow_id: wf_id,
            name: wf.name.clone(),
            run_number,
            run_attempt: 1,
            event: event.to_string(),
            head_branch: head_branch.to_string(),
            head_sha,
            display_title: display_title.to_string(),
            inputs,
            check_suite_id,
            created_ms: t0,
            actor: who.login.clone(),
            actor_kind: who.kind,
            attempts: vec![Attempt {
                started_ms: t0,
                triggering_actor: who.login.clone(),
                triggering_kind: who.kind,
                forced_end: None,
            }],
            forced_end: None,
            jobs,
            artifacts,
        });
        run_id
    }

    /// Jobs of one attempt starting at `t0`: the `plan` job (if `with_plan`; it waits `q`, runs
    /// r/10) then the `shards` given, created when plan ends (or at t0), each after a short queue
    /// (min(q, r/20)), finishing one after another at the end of span r·9/10 (r/2 without plan).
    #[allow(clippy::too_many_arguments)]
    fn lay_out_jobs(
        &mut self,
        wf: &Workflow,
        attempt: u32,
        t0: u64,
        q: u64,
        r: u64,
        with_plan: bool,
        shards: &[usize],
        conclusions: &[Conclusion],
    ) -> Vec<Job> {
        let mut jobs = Vec::new();
        let (shards_created, shards_end) = if with_plan {
            let plan_end = t0 + q + r / 10;
            jobs.push(Job {
                id: self.fresh(JOB_ID_BASE),
                name: "plan".into(),
                shard: None,
                attempt,
                created_ms: t0,
                started_ms: t0 + q,
                completed_ms: plan_end,
                conclusion: Conclusion::Success,
                runner_id: 1000 + self.next_id,
            });
            (plan_end, t0 + q + r)
        } else {
            (t0, t0 + r / 2)
        };
        let n = shards.len() as u64;
        let shard_start = shards_created + q.min(r / 20);
        let span = shards_end.saturating_sub(shard_start);
        for (k, &i) in shards.iter().enumerate() {
            jobs.push(Job {
                id: self.fresh(JOB_ID_BASE),
                // outrun's template names each matrix job `${{ matrix.shard }}`.
                name: wf.shards[i].shard.clone(),
                shard: Some(i),
                attempt,
                created_ms: shards_created,
                started_ms: shard_start,
                completed_ms: shard_start + span * (k as u64 + 1) / n.max(1),
                conclusion: conclusions[i],
                runner_id: 1000 + self.next_id,
            });
        }
        jobs
    }

    /// The artifact a shard's job of `attempt` uploads, named `outrun-EXP-SHARD-a{attempt}`.
    fn new_artifact(&mut self, wf: &Workflow, i: usize, attempt: u32) -> Artifact {
        let shard = &wf.shards[i];
        let mut artifact = Artifact {
            id: self.fresh(ARTIFACT_ID_BASE),
            shard: i,
            attempt,
            name: format!("outrun-{}-{}-a{attempt}", wf.experiment, shard.shard),
            force_expired: false,
            hostile: None,
            zip: None,
        };
        // Artifact faults wait for the next artifact of their shard, then are used up.
        self.artifact_faults.retain(|f| match f {
            Fault::ArtifactGone { shard: s } if *s == shard.shard && !artifact.force_expired => {
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
        artifact
    }

    /// `rerun-failed-jobs`: starts attempt N+1 now, re-running the shard jobs of attempt N that
    /// did not succeed (all jobs, plan included, if the plan job did not succeed). Returns
    /// `Ok(false)` when nothing failed (no new attempt), `Err` if the run is not completed.
    pub fn rerun_failed_jobs(&mut self, run_id: u64, who: &Identity) -> Result<bool, &'static str> {
        let now = self.now_ms;
        let ri = self
            .runs
            .iter()
            .position(|r| r.id == run_id)
            .ok_or("no such run")?;
        let run = &self.runs[ri];
        if run.status_at(now).0 != "completed" {
            return Err("This workflow is already running");
        }
        let wf = self.workflow_by_id(run.workflow_id).clone();
        let n = run.run_attempt;
        let latest = run.jobs_of(n);
        let ok = |shard: Option<usize>| {
            latest.iter().any(|j| {
                j.shard == shard
                    && run.job_view(j, u64::MAX).and_then(|v| v.conclusion)
                        == Some(Conclusion::Success)
            })
        };
        // A failed plan job means its dependents (every shard) never ran: re-run them all. A
        // shard job that never came to exist (cut off before it was created) is re-run too.
        let plan_ok = ok(None);
        let shards: Vec<usize> = (0..wf.shards.len())
            .filter(|&i| !plan_ok || !ok(Some(i)))
            .collect();
        if plan_ok && shards.is_empty() {
            return Ok(false);
        }
        let conclusions: Vec<Conclusion> = wf
            .shards
            .iter()
            .map(|s| {
                self.rerun_conclusions
                    .iter()
                    .find(|(name, _)| *name == s.shard)
                    .map_or(Conclusion::Success, |(_, c)| *c)
            })
            .collect();
        let (q, r) = (
            self.cfg.queue_time.as_millis() as u64,
            self.cfg.run_time.as_millis() as u64,
        );
        let jobs = self.lay_out_jobs(&wf, n + 1, now, q, r, !plan_ok, &shards, &conclusions);
        let artifacts: Vec<Artifact> = shards
            .iter()
            .map(|&i| self.new_artifact(&wf, i, n + 1))
            .collect();
        let run = &mut self.runs[ri];
        // The finished attempt keeps its forced ending; the new one starts without.
        let forced = run.forced_end.take();
        if let Some(last) = run.attempts.last_mut() {
            last.forced_end = forced;
        }
        run.attempts.push(Attempt {
            started_ms: now,
            triggering_actor: who.login.clone(),
            triggering_kind: who.kind,
            forced_end: None,
        });
        run.run_attempt = n + 1;
        run.jobs.extend(jobs);
        run.artifacts.extend(artifacts);
        Ok(true)
    }

    /// The instant a forced ending hits: halfway through the shard jobs' running phase.
    pub(crate) fn midpoint_of_shards(run: &Run) -> u64 {
        let shards = run
            .jobs
            .iter()
            .filter(|j| j.shard.is_some() && j.attempt == run.run_attempt);
        let start = shards.clone().map(|j| j.started_ms).min();
        let end = shards.map(|j| j.completed_ms).max();
        match (start, end) {
            (Some(s), Some(e)) => s + (e - s) / 2,
            _ => run
                .jobs
                .iter()
                .filter(|j| j.attempt == run.run_attempt)
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
