//! Collect: fetch + the one collect path.

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
    /// The cells the run was asked to run (its `cells` input), when known.
    pub cells: Option<&'a str>,
    /// The run's wave (its `wave` input), when the cells need several runs: only that wave's
    /// cells belong to it.
    pub wave: Option<usize>,
    /// The issue to put the report on.
    pub issue: Option<u64>,
    /// Artifacts already downloaded and unpacked here (the workflow's final job).
    pub artifacts_dir: Option<&'a Path>,
    /// The run is the caller's own and still going (its final job): its conclusion comes from
    /// the cells' jobs.
    pub in_run: bool,
}

/// Fetches a run's outputs and puts them through the one collect path.
pub async fn collect(
    root: &Path,
    client: &Client,
    run: &Run,
    opts: &CollectOptions<'_>,
) -> Result<Collected, RemoteError> {
    let plan = plan_of(root, run)?;
    let jobs = client.jobs(run.id).await?;
    let fetched = fetch(root, client, &plan, run, &jobs, opts).await?;
    let commenter = IssueComments { client };
    let done = pipeline::finish(pipeline::Finish {
        root,
        plan: &plan,
        outputs: fetched.outputs.clone(),
        provenance: &fetched.provenance,
        missing: fetched.missing.clone(),
        refused: fetched.refused.clone(),
        merge: true,
        report_file: Some(
            root.join(DOWNLOADS_DIR)
                .join(run.id.to_string())
                .join("report.md"),
        ),
        comment: opts.issue.map(|i| (&commenter as &dyn Commenter, i)),
    })
    .await?;
    let (markdown, comment_url) = (done.markdown.clone(), done.comment_url.clone());
    Ok(Collected::of(
        &plan,
        run,
        fetched,
        done,
        markdown,
        comment_url,
    ))
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
            report: Some(done.report),
            markdown,
            outcomes: done.outcomes,
        }
    }
}
