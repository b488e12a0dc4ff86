//! Collect: the one flow every way of collecting a GitHub run goes through — `collect`,
//! `dispatch --wait`, `sync` and the workflow's final job (`collect --land`):
//! plan → lock → dispatch record → trust → what the run landed, or its outputs fetched → merge
//! (and land) → comment; then the dispatch record marked. Either way the run ends in
//! `pipeline::finish`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::contract::{CellRecord, CellStatus, RunProvenance, Summary};
use crate::dataset::ledger::LedgerEntry;
use crate::dataset::{self, MergeSummary};
use crate::experiment::{self, Plan};
use crate::github_api::{Client, Run};
use crate::names::{self};
use crate::pipeline;

use super::RemoteError;
use super::collected::landing_base;
use super::comment::{Posted, upsert_comment};
use super::dispatch::{DispatchRecord, lock, plan_of};
use super::fetch::{fetch, run_provenance};
use super::land::{Landed, in_ledger, land, ledger_at, merge_here};
use super::trust::untrusted;
use super::types::{CollectArgs, Collected};

/// Collects a finished run (or the caller's own, from its final job): the one flow. Refuses a
/// run outrun does not merge ([`untrusted`]); reads what the run landed when it landed
/// ([`collect_landed`]), else fetches and merges (or lands) its outputs ([`collect_fetched`]);
/// notes the run as collected in this machine's dispatch record at the end.
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
    let opts = with_record(&plan, opts, rec.as_ref())?;
    // A client collecting a run its final job has landed reads what landed (a few requests,
    // however many jobs the run had) instead of downloading every artifact again.
    let found = if !opts.land && !opts.in_run && opts.artifacts_dir.is_none() {
        read_landed(client, &plan, run).await?
    } else {
        None
    };
    let done = match found {
        Some(found) => {
            let collected = collect_landed(root, &plan, run, opts.issue.is_some(), found).await?;
            (collected, None)
        }
        None => collect_fetched(root, client, &plan, run, &opts).await?,
    };
    DispatchRecord::mark_collected(root, &plan, run, rec)?;
    Ok(done)
}

/// The flags completed from the run's dispatch record (its cells, wave and issue, where the
/// flags say nothing); the issue the report goes on, when a comment is asked for.
fn with_record(
    plan: &Plan,
    opts: &CollectArgs,
    rec: Option<&DispatchRecord>,
) -> Result<CollectArgs, RemoteError> {
    let issue = if opts.comment {
        let issue = pipeline::comment_issue(plan, opts.issue.or(rec.and_then(|r| r.issue)));
        if issue.is_none() {
            return Err(RemoteError::NoIssue);
        }
        issue
    } else {
        None
    };
    Ok(CollectArgs {
        cells: (opts.cells.clone()).or_else(|| rec.and_then(|r| r.cells.clone())),
        wave: opts.wave.or(rec.and_then(|r| r.wave)),
        issue,
        ..opts.clone()
    })
}

/// Collects a run from its outputs: fetched, merged here or landed, the report posted on
/// `opts.issue` when there is one.
async fn collect_fetched(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run: &Run,
    opts: &CollectArgs,
) -> Result<(Collected, Option<Landed>), RemoteError> {
    let jobs = client.jobs(run.id).await?;
    let fetched = fetch(root, client, plan, run, &jobs, opts).await?;
    let (finished, landed, markdown) = if opts.land {
        let (finished, landed, markdown) = land(root, client, plan, run, &fetched, opts).await?;
        (finished, Some(landed), markdown)
    } else {
        let finished = merge_here(root, plan, run, &fetched, true).await?;
        let markdown = finished.markdown.clone();
        (finished, None, markdown)
    };
    let posted = match opts.issue {
        Some(issue) => upsert_comment(client, issue, plan.name(), &markdown).await?,
        None => Posted::default(),
    };
    let mut collected = Collected::of(plan, run, fetched, finished, markdown, posted.url);
    collected.comment_skipped = posted.skipped;
    Ok((collected, landed))
}

/// A run's landed copy: where its final job (or a `sync`) put its rows and ledger entry.
pub(super) struct LandedCopy {
    /// The branch read: the run's landing branch, or the branch results land on.
    pub git_ref: String,
    /// The ledger entries of this run there.
    pub entries: Vec<LedgerEntry>,
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
    let ours = |entries: Vec<LedgerEntry>| -> Option<Vec<LedgerEntry>> {
        in_ledger(&entries, run).then(|| entries.into_iter().filter(|e| e.run_id == id).collect())
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
/// the landed dataset) are taken into this checkout by the one merge, and the run ends in the
/// one collect path as any other, its cells from the ledger entry and the rows (which ran,
/// which failed). The comment is the run's final job's: it is left as that job posted it.
async fn collect_landed(
    root: &Path,
    plan: &Plan,
    run: &Run,
    comment_asked: bool,
    found: LandedCopy,
) -> Result<Collected, RemoteError> {
    let id = run.id.to_string();
    let (rows_added, rows_total, changed) =
        dataset::write::take_landed(root, plan, &found.entries, found.dataset.as_deref(), &id)?;
    let entry = found
        .entries
        .iter()
        .max_by_key(|e| e.attempt)
        .cloned()
        .unwrap_or_else(|| LedgerEntry::new(&RunProvenance::default(), &Summary::default()));
    let prov = landed_provenance(run, &entry);
    let cells = landed_cells(plan, &found, &entry, &prov);
    let finished = pipeline::finish(pipeline::Finish {
        root,
        plan,
        outputs: Vec::new(),
        provenance: &prov,
        missing: cells,
        refused: Vec::new(),
        merge: false,
        report_file: None,
    })
    .await?;
    let outcomes = finished.outcomes;
    let note = format!(
        "📥 Read from what the run landed on `{}` (no artifact downloaded).",
        found.git_ref
    );
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
            rows_total,
            changed,
            ..MergeSummary::default()
        },
        comment_url: None,
        comment_skipped: comment_asked
            .then(|| "the run's own final job posted its report when it landed the run".into()),
        report: Some(finished.report),
        markdown: crate::report::with_note(&finished.markdown, &note),
        outcomes,
    })
}

/// A landed run's provenance: the run as GitHub reports it, at the newest attempt its ledger
/// entry or the run names.
fn landed_provenance(run: &Run, entry: &LedgerEntry) -> RunProvenance {
    RunProvenance {
        attempt: entry.attempt.max(run.attempt()),
        ..run_provenance(run)
    }
}

/// The run's cells, each as the record of a cell that left no output here: those with rows of
/// this run in the landed dataset, and those its ledger entry names as not ok.
fn landed_cells(
    plan: &Plan,
    found: &LandedCopy,
    entry: &LedgerEntry,
    prov: &RunProvenance,
) -> Vec<CellRecord> {
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
            let status = if ok {
                CellStatus::Ok
            } else {
                CellStatus::Failed
            };
            let why = format!("did not succeed in run {id} (its report on GitHub says why)");
            let mut record = CellRecord::missing(plan.name(), c, status, why, prov);
            if ok {
                record.error = None;
            }
            record
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
