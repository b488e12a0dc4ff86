//! The types every stage of a collect shares, at the bottom of the chain: how to collect a run
//! ([`CollectOptions`]), what fetching it gave ([`Fetched`]) and what collecting it did
//! ([`Collected`]). Nothing here calls GitHub or writes a file.

use std::path::Path;

use serde::Serialize;

use crate::contract::{CellRecord, RunProvenance};
use crate::dataset::MergeSummary;
use crate::experiment::Plan;
use crate::github_api::{Conclusion, Run};
use crate::outputs::CellOutcome;
use crate::pipeline;
use crate::report::{Refused, Report};

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
    /// Land the dataset change the way the experiment asks (see `land::land`) instead of merging
    /// it into this checkout.
    pub land: bool,
    /// The caller holds `dispatch::lock` already (`sync`, for its whole pass).
    pub locked: bool,
}

/// A run's outputs as fetched, ready for [`pipeline::finish`].
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// The cell folders to read, each with the cell its position gives it (artifact name → job
    /// → the cells the plan gave that job → folder name), from the newest attempt of each job.
    pub outputs: Vec<crate::outputs::Positioned>,
    pub provenance: RunProvenance,
    /// Cells whose job left nothing usable, with the reason.
    pub missing: Vec<CellRecord>,
    pub refused: Vec<Refused>,
    /// Artifact names that had expired.
    pub expired: Vec<String>,
    pub artifacts: usize,
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
