//! Dispatch a generated workflow, find its run again, follow it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::experiment::{self, Plan};
use crate::github_api::{Client, Clock, GithubError, Run, RunStatus};
use crate::names::{self, RECORDS_DIR};

use super::{RECORD_SCHEMA, RemoteError};

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
    /// For an experiment that needs several runs (more than 256 jobs): this run's wave
    /// (1-based, the workflow's `wave` input), how many waves the dispatch started, and the
    /// dispatch id they share (the logical run; each wave's own id is `GROUP.wN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waves: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
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

/// How many runs (waves) the `cells` of `plan` need: a run holds at most 256 jobs. (A filter
/// the workflow would refuse counts as all cells: the caller checks filters first.)
pub fn waves_of(plan: &Plan, cells: Option<&str>) -> usize {
    let n = match cells.filter(|c| !c.trim().is_empty()) {
        Some(f) => experiment::filter::Filter::parse(f)
            .and_then(|f| f.select(&plan.cells, &plan.param_names()))
            .map_or(plan.cells.len(), |c| c.len()),
        None => plan.cells.len(),
    };
    crate::workflow::pack::pack(n, crate::workflow::max_cells_per_job(plan)).waves
}

/// Dispatches `plan`'s workflow: one run, or — when the selected cells need more than 256
/// jobs — one run per wave, each asked for its wave through the `wave` input and recorded
/// with the dispatch id they share. A wave's failure to start stops the ones after it (the
/// records of those started stay, for `sync`).
pub async fn dispatch_waves(
    root: &Path,
    client: &Client,
    clock: &dyn Clock,
    plan: &Plan,
    cells: Option<&str>,
    issue: Option<u64>,
    git_ref: &str,
) -> Result<Vec<DispatchRecord>, RemoteError> {
    let target = Target {
        plan,
        cells,
        issue,
        git_ref,
    };
    let waves = waves_of(plan, cells);
    if waves == 1 {
        return Ok(vec![
            dispatch_one(root, client, clock, &target, None).await?,
        ]);
    }
    let group = new_dispatch_id();
    let mut out = Vec::new();
    for wave in 1..=waves {
        let w = Wave {
            group: &group,
            wave,
            waves,
        };
        out.push(dispatch_one(root, client, clock, &target, Some(w)).await?);
    }
    Ok(out)
}

/// One wave of a dispatch that needs several runs.
#[derive(Debug, Clone, Copy)]
pub struct Wave<'a> {
    pub group: &'a str,
    pub wave: usize,
    pub waves: usize,
}

/// What a dispatch asks for: the experiment, its selected cells, the issue and the ref.
struct Target<'a> {
    plan: &'a Plan,
    cells: Option<&'a str>,
    issue: Option<u64>,
    git_ref: &'a str,
}

/// Dispatches one run of `plan`'s workflow: the whole of it, or the wave `wave` says. The
/// record is written before the request, so that even a crash in between leaves a trace
/// `sync` can resolve by the run's name.
async fn dispatch_one(
    root: &Path,
    client: &Client,
    clock: &dyn Clock,
    target: &Target<'_>,
    wave: Option<Wave<'_>>,
) -> Result<DispatchRecord, RemoteError> {
    let Target {
        plan,
        cells,
        issue,
        git_ref,
    } = *target;
    let wf = names::workflow_path(plan.name());
    if !root.join(&wf).is_file() {
        return Err(RemoteError::NoWorkflow {
            experiment: plan.name().into(),
            workflow: wf.display().to_string(),
        });
    }
    let id = match wave {
        Some(w) => format!("{}.w{}", w.group, w.wave),
        None => new_dispatch_id(),
    };
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
        wave: wave.map(|w| w.wave),
        waves: wave.map(|w| w.waves),
        group: wave.map(|w| w.group.to_string()),
    };
    rec.save(root)?;
    let mut inputs = serde_json::Map::new();
    inputs.insert("outrun_id".into(), id.clone().into());
    if let Some(w) = wave {
        // Only when there are waves: a workflow generated before waves has no such input.
        inputs.insert("wave".into(), w.wave.to_string().into());
    }
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
    let name = run.experiment().ok_or(RemoteError::NotOutrun(run.id))?;
    Ok(experiment::load_named(root, name)?)
}

impl DispatchRecord {
    /// Notes a collected run in this machine's dispatch record (creating one for runs it did not
    /// dispatch). The record is a convenience for this machine; what counts as collected is the
    /// ledger in the repository.
    pub(super) fn mark_collected(
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
            wave: None,
            waves: None,
            group: None,
        });
        // Two dispatch ids could collide only by name; keep records apart by run id.
        if rec.outrun_id == names::MANUAL_ID {
            rec.outrun_id = format!("{}-{}", names::MANUAL_ID, run.id);
        }
        rec.collected_at = Some(crate::contract::now_rfc3339());
        rec.save(root)
    }
}
