//! Collected: which runs are, read from the repository and GitHub.

use std::collections::BTreeSet;
use std::path::Path;

use crate::dataset::ledger;
use crate::experiment::{self, Plan};
use crate::github_api::{Client, Run};
use crate::names;

use super::RemoteError;
use super::land::{in_ledger, ledger_at};

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
        entries.extend(ledger_at(client, plan, &landing_base(client, plan).await?).await?);
        let landing = client
            .landing_branches(plan.name())
            .await?
            .iter()
            .map(|b| b.run_id)
            .collect();
        Ok(CollectedRuns {
            ledger: entries,
            landing,
        })
    }

    pub fn contains(&self, run: &Run) -> bool {
        in_ledger(&self.ledger, run) || self.landing.contains(&run.id)
    }
}

/// The newest `limit` runs of `plan`'s workflow on GitHub, newest first, each with whether it
/// is collected (`outrun status`).
pub async fn recent_runs(
    root: &Path,
    client: &Client,
    plan: &Plan,
    limit: u32,
) -> Result<Vec<(Run, bool)>, RemoteError> {
    let collected = CollectedRuns::load(root, client, plan).await?;
    let runs = client
        .runs(&names::workflow_file(plan.name()), None, limit)
        .await?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let is_collected = collected.contains(&run);
            (run, is_collected)
        })
        .collect())
}

/// The branch an experiment's results land on: its `github.branch` for `land: branch`, else
/// the repository's default branch.
pub(crate) async fn landing_base(client: &Client, plan: &Plan) -> Result<String, RemoteError> {
    Ok(match (plan.file.github.land, &plan.file.github.branch) {
        (experiment::Land::Branch, Some(b)) => b.clone(),
        _ => client.default_branch().await?,
    })
}
