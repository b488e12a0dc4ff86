//! Collect: the one flow every way of collecting a GitHub run goes through — `collect`,
//! `dispatch --wait`, `sync` and the workflow's final job (`collect --land`):
//! lock → plan → dispatch record → trust → fetch → merge (and land) → comment → mark.

#[allow(unused_imports)]
use super::*;

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
    /// Why the report was not put on the issue although asked, e.g. "a newer run's comment is
    /// there: RUN".
    pub comment_skipped: Option<String>,
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
    /// The cells the run was asked to run (its `cells` input), when known; else the dispatch
    /// record's.
    pub cells: Option<&'a str>,
    /// The run's wave (its `wave` input), when the cells need several runs: only that wave's
    /// cells belong to it; else the dispatch record's.
    pub wave: Option<usize>,
    /// Put the report on an issue: the one given here, else the dispatch record's, else the
    /// experiment's `issue` (none at all is an error).
    pub comment: bool,
    pub issue: Option<u64>,
    /// Artifacts already downloaded and unpacked here (the workflow's final job).
    pub artifacts_dir: Option<&'a Path>,
    /// The run is the caller's own and still going (its final job): its conclusion comes from
    /// the cells' jobs.
    pub in_run: bool,
    /// Land the dataset change the way the experiment asks (see [`land`]) instead of merging
    /// it into this checkout.
    pub land: bool,
    /// The caller holds [`lock`] already (`sync`, for its whole pass).
    pub locked: bool,
}

/// Collects a finished run (or the caller's own, from its final job): the one flow. Refuses a
/// run outrun does not merge ([`untrusted`]); notes the run as collected in this machine's
/// dispatch record at the end.
pub async fn collect(
    root: &Path,
    client: &Client,
    run: &Run,
    opts: &CollectOptions<'_>,
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
    let opts = CollectOptions {
        cells: opts.cells.or(rec.as_ref().and_then(|r| r.cells.as_deref())),
        wave: opts.wave.or(rec.as_ref().and_then(|r| r.wave)),
        issue,
        ..opts.clone()
    };
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
    mark_collected(root, &plan, run, rec)?;
    let mut collected = Collected::of(&plan, run, fetched, finished, markdown, posted.url);
    collected.comment_skipped = posted.skipped;
    Ok((collected, landed))
}

/// Merges the fetched outputs into the dataset and ledger in `root` (the one collect path,
/// without its comment: [`collect`] posts it once landing has added its note).
pub(super) async fn merge_here(
    root: &Path,
    plan: &Plan,
    run: &Run,
    fetched: &Fetched,
    keep_report: bool,
) -> Result<pipeline::Finished, RemoteError> {
    Ok(pipeline::finish(pipeline::Finish {
        root,
        plan,
        outputs: fetched.outputs.clone(),
        provenance: &fetched.provenance,
        missing: fetched.missing.clone(),
        refused: fetched.refused.clone(),
        merge: true,
        report_file: keep_report.then(|| {
            root.join(DOWNLOADS_DIR)
                .join(run.id.to_string())
                .join("report.md")
        }),
    })
    .await?)
}

impl Collected {
    /// What was collected of `run`: what was fetched, what the collect path made of it, and the
    /// comment as posted (`markdown`, which landing may have added a note to).
    pub(super) fn of(
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
            comment_skipped: None,
            report: Some(done.report),
            markdown,
            outcomes: done.outcomes,
        }
    }
}
