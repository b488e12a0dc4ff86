//! Progress: `watch --comment` keeps the experiment's comment at "k of n cells done".

#[allow(unused_imports)]
use super::*;

/// The cells of `plan` a run was asked for (its `cells` input; none = all).
pub(crate) fn selected(
    plan: &Plan,
    filter: Option<&str>,
) -> Result<Vec<experiment::Cell>, RemoteError> {
    Ok(match filter.filter(|f| !f.trim().is_empty()) {
        Some(f) => {
            experiment::filter::Filter::parse(f)?.select(&plan.cells, &plan.param_names())?
        }
        None => plan.cells.clone(),
    })
}

/// Keeps the experiment's comment at "k of n cells done" until run `run_id` ends (or `timeout`
/// passes); the run's report replaces it when the run is collected. `on_change` hears each new
/// (cells done, cells selected).
pub async fn watch_comment(
    root: &Path,
    client: &Client,
    clock: &dyn Clock,
    run_id: u64,
    issue: Option<u64>,
    timeout: Option<Duration>,
    mut on_change: impl FnMut(usize, usize),
) -> Result<(), RemoteError> {
    let run = client.run(run_id).await?;
    let plan = plan_of(root, &run)?;
    let rec = DispatchRecord::for_run(root, run_id);
    let issue = pipeline::comment_issue(&plan, issue.or(rec.as_ref().and_then(|r| r.issue)))
        .ok_or(RemoteError::NoIssue)?;
    let selected = selected(&plan, rec.as_ref().and_then(|r| r.cells.as_deref()))?;
    let ids: BTreeSet<&str> = selected.iter().map(|c| c.id.as_str()).collect();
    let info = run_info(&run);
    let actor = run
        .triggering_actor
        .as_ref()
        .map(|u| u.login.clone())
        .unwrap_or_default();
    let start = std::time::Instant::now();
    let mut shown = None;
    loop {
        let run = client.run(run_id).await?;
        if run.completed() {
            return Ok(());
        }
        let jobs = client.jobs(run_id).await?;
        let done: Vec<&Job> = jobs
            .iter()
            .filter(|j| ids.contains(j.name.as_str()) && j.completed())
            .collect();
        let failed = done.iter().filter(|j| !j.succeeded()).count();
        let now = (done.len(), failed);
        if shown != Some(now) {
            announce(
                client,
                &plan,
                &info,
                issue,
                &actor,
                selected.len(),
                Some(now),
            )
            .await?;
            on_change(now.0, selected.len());
            shown = Some(now);
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return Ok(());
        }
        clock.sleep(POLL).await;
    }
}

/// The cells of run `run_id` of `plan` to run again: those the run ledger lists as not
/// succeeded in its newest collected attempt, else the cells whose jobs did not succeed.
pub async fn failed_cells(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run_id: u64,
) -> Result<Vec<String>, RemoteError> {
    let entries = ledger::read(&ledger::path_for(&root.join(plan.dataset_path())))?;
    let from_ledger = entries
        .iter()
        .filter(|e| e.run_id == run_id.to_string())
        .max_by_key(|e| e.attempt)
        .map(|e| e.failed_cells.clone());
    Ok(match from_ledger {
        Some(cells) => cells.split_whitespace().map(str::to_string).collect(),
        None => {
            let ids: BTreeSet<&str> = plan.cells.iter().map(|c| c.id.as_str()).collect();
            client
                .jobs(run_id)
                .await?
                .into_iter()
                .filter(|j| ids.contains(j.name.as_str()) && j.completed() && !j.succeeded())
                .map(|j| j.name)
                .collect()
        }
    })
}
