//! Progress: `watch --comment` keeps the experiment's comment at "k of n cells done".

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::dataset::ledger;
use crate::experiment::{self, Plan};
use crate::github_api::{Client, Clock, Job};
use crate::pipeline;

use super::RemoteError;
use super::comment::{announce, run_info};
use super::dispatch::{DispatchRecord, POLL, plan_of};

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
    let mut info = run_info(&run);
    // A wave's progress comment is stamped with its dispatch, so it never hides the results of
    // the dispatch's other waves already on the issue (see `CommentStamp::may_replace`).
    let cells = rec.as_ref().and_then(|r| r.cells.as_deref());
    info.wave =
        super::fetch::wave_before_jobs(&plan, &run, cells, rec.as_ref().and_then(|r| r.wave));
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

/// What `dispatch --failed-from RUN` runs again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedCells {
    /// Cell ids, in plan order.
    pub cells: Vec<String>,
    /// When RUN is one wave of a dispatch: the whole dispatch's failed cells were taken, and
    /// this says from which waves (and which are not collected yet).
    pub note: Option<String>,
}

/// The cells of run `run_id` of `plan` to run again: those the run ledger lists as not
/// succeeded in its newest collected attempt, else the cells whose jobs did not succeed.
///
/// A run that is one wave of a dispatch stands for the whole dispatch (the waves are one
/// logical run): the failed cells of every collected wave's newest attempt are taken, and the
/// waves not collected yet are named.
pub async fn failed_cells(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run_id: u64,
) -> Result<FailedCells, RemoteError> {
    let entries = ledger::read(&ledger::path_for(&root.join(plan.dataset_path())))?;
    let newest = |run: &str| {
        entries
            .iter()
            .filter(|e| e.run_id == run)
            .max_by_key(|e| e.attempt)
    };
    let Some(entry) = newest(&run_id.to_string()) else {
        let jobs = client.jobs(run_id).await?;
        let failed: BTreeSet<&str> = jobs
            .iter()
            .filter(|j| j.completed() && !j.succeeded())
            .map(|j| j.name.as_str())
            .collect();
        let cells = of_plan(&plan.cells, &failed);
        return Ok(FailedCells { cells, note: None });
    };
    if entry.group.is_empty() {
        let failed: BTreeSet<&str> = entry.failed_cells.split_whitespace().collect();
        let cells = of_plan(&plan.cells, &failed);
        return Ok(FailedCells { cells, note: None });
    }
    // Every wave's newest collected attempt (a wave re-run by `outrun rerun` keeps its run).
    let waves = entry.waves.unwrap_or(0).max(entry.wave.unwrap_or(0));
    let mut failed = BTreeSet::new();
    let mut collected = Vec::new();
    for w in 1..=waves {
        let of_wave = entries
            .iter()
            .rev()
            .find(|e| e.group == entry.group && e.wave == Some(w));
        if let Some(e) = of_wave.and_then(|e| newest(&e.run_id)) {
            failed.extend(e.failed_cells.split_whitespace());
            collected.push(w);
        }
    }
    let cells = of_plan(&plan.cells, &failed);
    let list = |ws: &[usize]| {
        ws.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missing: Vec<usize> = (1..=waves).filter(|w| !collected.contains(w)).collect();
    let mut note = format!(
        "run {run_id} is wave {} of {waves} of dispatch {}: taking the cells that did not succeed in all of its collected waves ({})",
        entry.wave.unwrap_or(0),
        entry.group,
        list(&collected)
    );
    if !missing.is_empty() {
        note.push_str(&format!(
            "; not collected yet, so not included: wave {} (`outrun sync` collects them)",
            list(&missing)
        ));
    }
    Ok(FailedCells {
        cells,
        note: Some(note),
    })
}

/// The ids (as the plan gives them now) of the plan's `cells` named in `ids`, which a ledger
/// or a run's job names wrote — perhaps before ids carried 64 bits: a cell is also known by its
/// older 32-bit id ([`experiment::legacy_cell_id`]), so `--failed-from` an older run still
/// finds its cells.
fn of_plan(cells: &[experiment::Cell], ids: &BTreeSet<&str>) -> Vec<String> {
    cells
        .iter()
        .filter(|c| {
            ids.contains(c.id.as_str())
                || ids.contains(experiment::legacy_cell_id(&c.params).as_str())
        })
        .map(|c| c.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_cells_are_found_by_their_current_or_their_older_id() {
        let cell = |v: &str| experiment::Cell::new(vec![("x".into(), v.into())]);
        let cells = [cell("1"), cell("2"), cell("3")];
        let old = experiment::legacy_cell_id(&cells[0].params);
        assert_ne!(old, cells[0].id);
        let ids: BTreeSet<&str> = [old.as_str(), cells[2].id.as_str(), "gone-0123abcd"].into();
        assert_eq!(
            of_plan(&cells, &ids),
            vec![cells[0].id.clone(), cells[2].id.clone()]
        );
    }
}
