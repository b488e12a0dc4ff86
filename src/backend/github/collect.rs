//! Collect: the one flow every way of collecting a GitHub run goes through — `collect`,
//! `dispatch --wait`, `sync` and the workflow's final job (`collect --land`):
//! lock → plan → dispatch record → trust → fetch → merge (and land) → comment → mark.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::contract::{CellRecord, CellStatus, RunProvenance, Source};
use crate::dataset::{self, MergeSummary, ledger};
use crate::experiment::{self, Plan};
use crate::github_api::{Client, Conclusion, Run};
use crate::names::{self};
use crate::pipeline;

use super::RemoteError;
use super::collected::landing_base;
use super::comment::{Posted, upsert_comment};
use super::dispatch::{DispatchRecord, lock, plan_of};
use super::fetch::fetch;
use super::land::{Landed, land, ledger_at, merge_here};
use super::trust::untrusted;
use super::types::{CollectArgs, Collected};

/// Collects a finished run (or the caller's own, from its final job): the one flow. Refuses a
/// run outrun does not merge ([`untrusted`]); notes the run as collected in this machine's
/// dispatch record at the end.
pub async fn collect(
    root: &Path,
    client: &Client,
    run: &Run,
    opts: &CollectArgs,
) -> Result<(Collected, Option<Landed>), RemoteError> {
    let plan = plan_of(root, run)?;
    let _lock = if opts.locked { None } else { Some(lock(root)?) };
    let rec = DispatchRecord::for_run(root, run.id);
    if let Some(reason) = untrusted(client, &plan, run, rec.is_some()).await? {
        return Err(RemoteError::Untrusted {
            run: run.id,
            reason,
        });
    }
    let issue = if opts.comment {
        let issue =
            pipeline::comment_issue(&plan, opts.issue.or(rec.as_ref().and_then(|r| r.issue)));
        if issue.is_none() {
            return Err(RemoteError::NoIssue);
        }
        issue
    } else {
        None
    };
    let opts = CollectArgs {
        cells: (opts.cells.clone()).or_else(|| rec.as_ref().and_then(|r| r.cells.clone())),
        wave: opts.wave.or(rec.as_ref().and_then(|r| r.wave)),
        issue,
        ..opts.clone()
    };
    // A client collecting a run its final job has landed reads what landed (a few requests,
    // however many jobs the run had) instead of downloading every artifact again.
    if !opts.land
        && !opts.in_run
        && opts.artifacts_dir.is_none()
        && let Some(found) = read_landed(client, &plan, run).await?
    {
        let collected = collect_landed(root, &plan, run, issue.is_some(), found)?;
        DispatchRecord::mark_collected(root, &plan, run, rec)?;
        return Ok((collected, None));
    }
    let jobs = client.jobs(run.id).await?;
    let fetched = fetch(root, client, &plan, run, &jobs, &opts).await?;
    let (finished, landed, markdown) = if opts.land {
        let (finished, landed, markdown) = land(root, client, &plan, run, &fetched, &opts).await?;
        (finished, Some(landed), markdown)
    } else {
        let finished = merge_here(root, &plan, run, &fetched, true).await?;
        let markdown = finished.markdown.clone();
        (finished, None, markdown)
    };
    let posted = match issue {
        Some(issue) => upsert_comment(client, issue, plan.name(), &markdown).await?,
        None => Posted::default(),
    };
    DispatchRecord::mark_collected(root, &plan, run, rec)?;
    let mut collected = Collected::of(&plan, run, fetched, finished, markdown, posted.url);
    collected.comment_skipped = posted.skipped;
    Ok((collected, landed))
}

/// A run's landed copy: where its final job (or a `sync`) put its rows and ledger entry.
pub(super) struct LandedCopy {
    /// The branch read: the run's landing branch, or the branch results land on.
    pub git_ref: String,
    /// The ledger entries of this run there.
    pub entries: Vec<ledger::LedgerEntry>,
    /// The dataset there.
    pub dataset: Option<Vec<u8>>,
}

/// Where `run` (this attempt or a later one) has landed, read from the repository: its
/// landing branch `outrun/NAME/RUN_ID` when that branch's ledger has it, else the branch
/// results land on (the default branch) when its ledger has it; `None` when nothing landed
/// (the final job did not run, was cancelled, or landed nothing yet). Two to four requests,
/// whatever the number of jobs.
pub(super) async fn read_landed(
    client: &Client,
    plan: &Plan,
    run: &Run,
) -> Result<Option<LandedCopy>, RemoteError> {
    let id = run.id.to_string();
    let ours = |entries: Vec<ledger::LedgerEntry>| -> Option<Vec<ledger::LedgerEntry>> {
        ledger::has(&entries, &id, run.attempt())
            .then(|| entries.into_iter().filter(|e| e.run_id == id).collect())
    };
    let mut found = None;
    if plan.file.github.land != experiment::Land::Artifact {
        let own = names::landing_branch(plan.name(), run.id);
        // Read by the branch's name: a branch that does not exist has no ledger (404), so one
        // request says both.
        if plan.file.github.land == experiment::Land::PullRequest
            && let Some(e) = ours(ledger_at(client, plan, &own).await?)
        {
            found = Some((own.clone(), own, e));
        }
        if found.is_none() {
            let base = landing_base(client, plan).await?;
            if let Some(e) = ours(ledger_at(client, plan, &base).await?) {
                found = Some((base.clone(), base, e));
            }
        }
    }
    let Some((git_ref, at, entries)) = found else {
        return Ok(None);
    };
    let dataset = client
        .file_at(&plan.dataset_path().to_string_lossy(), &at)
        .await?;
    Ok(Some(LandedCopy {
        git_ref,
        entries,
        dataset,
    }))
}

/// Collects a run from its landed copy: its ledger entries and its rows (those of the run in
/// the landed dataset) are merged into this checkout by the one merge, and the report is built
/// from them — which cells ran and which failed from the ledger entry and the rows. The
/// comment is the run's final job's: it is left as that job posted it.
fn collect_landed(
    root: &Path,
    plan: &Plan,
    run: &Run,
    comment_asked: bool,
    found: LandedCopy,
) -> Result<Collected, RemoteError> {
    let data = root.join(plan.dataset_path());
    let ledger_path = ledger::path_for(&data);
    let id = run.id.to_string();
    let (rows_added, total, changed) = {
        let _lock = dataset::lock(root, plan)?;
        let mut changed = false;
        for e in &found.entries {
            changed |= ledger::record(&ledger_path, e.clone())?;
        }
        let (taken, total) = match &found.dataset {
            Some(bytes) => dataset::absorb(root, plan, bytes, &[id.clone()].into())?,
            None => (0, 0),
        };
        (taken, total, changed || taken > 0)
    };
    let entry = found
        .entries
        .iter()
        .max_by_key(|e| e.attempt)
        .cloned()
        .unwrap_or_else(|| {
            ledger::LedgerEntry::new(
                &RunProvenance::default(),
                &crate::contract::Summary::default(),
            )
        });
    let prov = landed_provenance(run, &entry);
    let outcomes = landed_outcomes(plan, &found, &entry, &prov);
    let report = pipeline::build_report(
        root,
        plan,
        &outcomes,
        Some(crate::report::RunInfo::of(&prov)),
        Vec::new(),
    )?;
    let note = format!(
        "📥 Read from what the run landed on `{}` (no artifact downloaded).",
        found.git_ref
    );
    let markdown = crate::report::with_note(&crate::report::markdown(&report), &note);
    Ok(Collected {
        experiment: plan.name().into(),
        run_id: run.id,
        attempt: prov.attempt,
        html_url: run.html_url.clone(),
        conclusion: run.conclusion.clone(),
        artifacts: 0,
        expired: Vec::new(),
        refused: Vec::new(),
        merge: MergeSummary {
            path: plan.dataset_path().display().to_string(),
            cells_merged: outcomes.iter().filter(|o| o.ok()).count(),
            cells_skipped: outcomes.iter().filter(|o| !o.ok()).count(),
            rows_added,
            rows_total: total,
            changed,
            ..MergeSummary::default()
        },
        comment_url: None,
        comment_skipped: comment_asked
            .then(|| "the run's own final job posted its report when it landed the run".into()),
        report: Some(report),
        markdown,
        outcomes,
    })
}

/// A landed run's provenance: the run as GitHub reports it, at the newest attempt its ledger
/// entry or the run names.
fn landed_provenance(run: &Run, entry: &ledger::LedgerEntry) -> RunProvenance {
    RunProvenance {
        source: Source::Github,
        run_id: run.id.to_string(),
        url: Some(run.html_url.clone()).filter(|u| !u.is_empty()),
        run_started_at: run.started_at().to_string(),
        attempt: entry.attempt.max(run.attempt()),
        commit: Some(run.head_sha.clone()).filter(|s| !s.is_empty()),
        event: Some(run.event.clone()),
        git_ref: run.head_branch.clone(),
        conclusion: run.conclusion.as_ref().map(Conclusion::to_string),
        cells: BTreeMap::new(),
        wave: None,
    }
}

/// The run's cells: those with rows of this run in the landed dataset, and those its ledger
/// entry names as not ok.
fn landed_outcomes(
    plan: &Plan,
    found: &LandedCopy,
    entry: &ledger::LedgerEntry,
    prov: &RunProvenance,
) -> Vec<crate::outputs::CellOutcome> {
    let id = prov.run_id.as_str();
    let failed: BTreeSet<&str> = entry.failed_cells.split_whitespace().collect();
    let with_rows = found
        .dataset
        .as_deref()
        .map(|b| cells_of_run(b, id))
        .unwrap_or_default();
    plan.cells
        .iter()
        .filter(|c| failed.contains(c.id.as_str()) || with_rows.contains(&c.id))
        .map(|c| {
            let ok = !failed.contains(c.id.as_str());
            let mut record = CellRecord::missing(
                plan.name(),
                c,
                if ok {
                    CellStatus::Ok
                } else {
                    CellStatus::Failed
                },
                format!("did not succeed in run {id} (its report on GitHub says why)"),
                prov,
            );
            if ok {
                record.error = None;
            }
            crate::outputs::CellOutcome {
                record,
                dir: PathBuf::new(),
                rows: crate::outputs::Rows::default(),
                columns: Vec::new(),
                duration_claimed: false,
            }
        })
        .collect()
}

/// The cells with rows of run `id` in a dataset's bytes.
fn cells_of_run(bytes: &[u8], id: &str) -> BTreeSet<String> {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let Ok(h) = r.headers() else {
        return BTreeSet::new();
    };
    let (Some(ci), Some(ri)) = (
        h.iter().position(|c| c == dataset::CELL),
        h.iter().position(|c| c == dataset::RUN_ID),
    ) else {
        return BTreeSet::new();
    };
    r.records()
        .flatten()
        .filter(|rec| rec.get(ri) == Some(id))
        .filter_map(|rec| rec.get(ci).map(str::to_string))
        .collect()
}
