//! Sync: collect every finished run not collected yet.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::experiment::{self, Plan};
use crate::github_api::{Client, Conclusion, GithubError, LandingPull, Run, RunStatus};
use crate::names;
use crate::pipeline;

use super::collect::collect;
use super::collected::CollectedRuns;
use super::dispatch::{DispatchRecord, lock};
use super::land::{Landed, ledger_at, waiting_branches};
use super::trust::untrusted;
use super::types::CollectArgs;
use super::{LOST_AFTER, RemoteError};

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
    /// Why the report was not put on the issue (see `Collected::comment_skipped`).
    pub comment_skipped: Option<String>,
    /// How the collected run landed (`sync` lands unless `--no-land`).
    pub landed: Option<Landed>,
}

/// A run whose rows wait on a landing branch, not on the default branch yet (landed by the
/// workflow's final job, another machine's `sync` or this one): where they are, as they are
/// once this `sync` has landed what it collected.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub experiment: String,
    pub run_id: u64,
    /// The branch that holds the run's rows: the open landing pull request's branch that
    /// carries them, else the run's own landing branch.
    pub branch: String,
    /// Its open pull request, if it has one.
    pub pull_url: Option<String>,
}

/// What `sync` did: the runs it looked at, and those collected already that wait to land.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Synced {
    pub runs: Vec<SyncItem>,
    pub held: Vec<Held>,
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
            comment_skipped: None,
            landed: None,
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
/// merges, and says where the rest stand (running, skipped and why, lost). With `land`, each
/// collected run lands exactly as the workflow's final job would have landed it (its landing
/// branch, pull request and ledger, with this token), so the next `sync` — on any clone —
/// finds it collected and says which branch holds it. Idempotent: the dataset and ledger
/// upserts and the comment upsert make a second pass change nothing.
pub async fn sync(
    root: &Path,
    client: &Client,
    comment: bool,
    land: bool,
) -> Result<Synced, RemoteError> {
    let _lock = lock(root)?;
    let mut records = DispatchRecord::all(root);
    let mut items = Vec::new();
    let mut held = Vec::new();
    for path in experiment::experiment_files(root)? {
        let Ok(plan) = experiment::load(root, &path) else {
            continue;
        };
        let name = plan.name().to_string();
        if !root.join(names::workflow_path(&name)).is_file() {
            continue;
        }
        let wf = names::workflow_file(&name);
        items.extend(look_again(root, client, &mut records, &name).await?);
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
            if !seen.insert(run.id) {
                continue;
            }
            if collected.contains(&run) {
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
            let item = collect_one(root, client, (&plan, &run), rec, comment, land).await;
            items.push(item);
        }
        held.extend(held_where(client, &plan).await?);
    }
    Ok(Synced { runs: items, held })
}

/// Dispatches of `name` that never got a run id: looks once more, without waiting; gives up
/// for good after [`LOST_AFTER`], and says so once.
async fn look_again(
    root: &Path,
    client: &Client,
    records: &mut [DispatchRecord],
    name: &str,
) -> Result<Vec<SyncItem>, RemoteError> {
    let wf = names::workflow_file(name);
    let mut items = Vec::new();
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
        let mut item = SyncItem::new(name, SyncState::Running);
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
    Ok(items)
}

/// Collects one finished, trusted run for `sync` (commenting and landing as asked), and says
/// how it went.
async fn collect_one(
    root: &Path,
    client: &Client,
    (plan, run): (&Plan, &Run),
    rec: Option<DispatchRecord>,
    comment: bool,
    land: bool,
) -> SyncItem {
    let issue = if comment {
        pipeline::comment_issue(plan, rec.as_ref().and_then(|r| r.issue))
    } else {
        None
    };
    let opts = CollectArgs {
        cells: rec.as_ref().and_then(|r| r.cells.clone()),
        wave: rec.as_ref().and_then(|r| r.wave),
        comment: issue.is_some(),
        issue,
        land,
        locked: true,
        ..CollectArgs::default()
    };
    let mut item = SyncItem::of_run(plan.name(), run, SyncState::Collected);
    match collect(root, client, run, &opts).await {
        Ok((c, landed)) => {
            item.cells_ok = Some(c.outcomes.iter().filter(|o| o.ok()).count());
            item.cells_failed = Some(c.outcomes.iter().filter(|o| !o.ok()).count());
            item.rows_added = Some(c.merge.rows_added);
            item.comment_url = c.comment_url;
            item.comment_skipped = c.comment_skipped;
            item.landed = landed;
        }
        Err(e) => {
            item.state = SyncState::Failed;
            item.error = Some(e.to_string());
        }
    }
    item
}

/// Where the rows of the runs that wait to land are, read after this pass has landed what it
/// collected (issue 24 §4): every landing branch whose run is not in the default branch's
/// ledger; a run is held by the open landing pull request whose branch's ledger carries it
/// (the newest such), else by its own branch.
async fn held_where(client: &Client, plan: &Plan) -> Result<Vec<Held>, RemoteError> {
    let default = client.default_branch().await?;
    let on_default: BTreeSet<String> = ledger_at(client, plan, &default)
        .await?
        .into_iter()
        .map(|e| e.run_id)
        .collect();
    let mut waiting = waiting_branches(client, plan, &on_default).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    waiting.sort();
    let mut open = client.landing_pulls(plan.name()).await?;
    open.sort_by_key(|p| std::cmp::Reverse(p.pull.number));
    let mut carried: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for LandingPull { pull, .. } in open {
        let runs = ledger_at(client, plan, &pull.head.name)
            .await?
            .into_iter()
            .map(|e| e.run_id)
            .collect();
        carried.push((pull.head.name, pull.html_url, runs));
    }
    Ok(waiting
        .into_iter()
        .map(|w| {
            let (branch, pull_url) = carried
                .iter()
                .find(|(_, _, runs)| runs.contains(&w.run_id.to_string()))
                .map_or((w.name, None), |(b, u, _)| (b.clone(), Some(u.clone())));
            Held {
                experiment: plan.name().into(),
                run_id: w.run_id,
                pull_url,
                branch,
            }
        })
        .collect())
}
