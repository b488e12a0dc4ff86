//! The types every stage of a collect shares, at the bottom of the chain: how to collect a run
//! ([`CollectArgs`]), what fetching it gave ([`Fetched`]), what collecting it did
//! ([`Collected`]). Nothing here calls GitHub or writes a file.

use std::path::PathBuf;

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

/// How to collect a run: `outrun collect`'s flags, derived from this one struct by clap and
/// handed to the backend as they are, and what the other callers (`sync`, `dispatch --wait`,
/// the workflow's final job) set.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CollectArgs {
    /// Post the report on the issue, updating outrun's earlier comment there.
    #[arg(long)]
    pub comment: bool,
    /// The issue to comment on (default: from the dispatch record, else the experiment's `issue`).
    #[arg(long, value_name = "N")]
    pub issue: Option<u64>,
    /// Read the artifacts from this folder (one sub-folder per artifact, as
    /// actions/download-artifact leaves them) instead of downloading them: the workflow's
    /// final job.
    #[arg(long = "artifacts", value_name = "DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// The cells the run was asked for (its `cells` input), so cells it never started are
    /// reported too.
    #[arg(long, value_name = "FILTER")]
    pub cells: Option<String>,
    /// The wave the run was asked for (its `wave` input; empty or 1 for the first), so only
    /// that wave's cells are accounted for.
    // The full path keeps clap from reading the `Option` as "flag optional": the parser reads
    // an absent or empty `--wave` as no wave.
    #[arg(long, value_name = "N", value_parser = parse_wave, default_value = "", hide_default_value = true)]
    pub wave: std::option::Option<usize>,
    /// Land the dataset change as the experiment's `github.land` says (a pull request by
    /// default), merged on top of what already waits to land: the workflow's final job.
    #[arg(long)]
    pub land: bool,
    /// The run is the caller's own and still going (its final job): its conclusion comes from
    /// the cells' jobs.
    #[arg(skip)]
    pub in_run: bool,
    /// The caller holds `dispatch::lock` already (`sync`, for its whole pass).
    #[arg(skip)]
    pub locked: bool,
}

/// A run's wave as the workflow passes it: empty for the first, else a number from 1.
pub fn parse_wave(wave: &str) -> Result<Option<usize>, String> {
    match wave.trim() {
        "" => Ok(None),
        w => w
            .parse::<usize>()
            .ok()
            .filter(|w| *w >= 1)
            .map(Some)
            .ok_or_else(|| "a wave is a number from 1".to_string()),
    }
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
