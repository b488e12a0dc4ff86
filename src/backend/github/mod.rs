//! The GitHub backend: dispatch a generated workflow, follow its run, decide whether it is one
//! outrun should merge, fetch its artifacts into cell-output folders with the run's own
//! provenance, and hand them to the one collect path (`crate::pipeline`).
//!
//! Nothing here needs the machine that dispatched: a run is found again from GitHub by its
//! name (`outrun NAME ID`, see the workflow template), and "already collected" is read from the
//! repository — the run ledger beside the dataset, on this checkout and on the default branch —
//! and from GitHub (an open outrun pull request for the run), never from one machine's `.outrun/`.
//!
//! # A one-way chain, bottom to top
//!
//! Each file imports only the files above it in this list (and this file's [`RemoteError`]):
//! 1. `types.rs` — what the stages hand each other: [`CollectArgs`], `Fetched`, [`Collected`]
//!    (the landing branches and pull requests come typed from the client,
//!    `Client::landing_branches`);
//! 2. `trust.rs` — which runs outrun merges;
//! 3. `dispatch.rs` — dispatch a run, find it again, watch it; the dispatch record, which also
//!    notes a run as collected (`DispatchRecord::mark_collected`);
//! 4. `fetch.rs` — artifacts → cell folders with the run's provenance (`run_provenance`: the
//!    one `RunProvenance` of a GitHub run);
//! 5. `land.rs` — the merge into this checkout (`merge_here`) or the landing the experiment asks
//!    for, and reading a branch's ledger (`ledger_at`, `in_ledger`);
//! 6. `collected.rs` — which runs the repository's ledgers already hold;
//! 7. `comment.rs` — the one comment on the issue;
//! 8. `progress.rs` — `watch --comment` and a run's failed cells;
//! 9. on top, `collect.rs` — the one flow (trust → what landed, or fetch → merge or land →
//!    comment → mark) — and
//!    `sync.rs`, which takes every waiting run through it.
//!
//! `tests/it/architecture.rs` checks the order.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dataset;
use crate::experiment;
use crate::github_api::GithubError;
use crate::pipeline;

mod collect;
mod collected;
mod comment;
mod dispatch;
mod fetch;
mod land;
mod progress;
mod sync;
mod trust;
mod types;

pub use collect::collect;
pub use collected::{CollectedRuns, recent_runs};
pub use comment::{Posted, announce, run_info};
pub use dispatch::{
    DispatchRecord, POLL, Watched, Wave, dispatch_waves, lock, plan_of, watch, waves_of,
};
pub use fetch::wave_before_jobs;
pub use land::{Landed, LandedHow};
pub use progress::{FailedCells, failed_cells, watch_comment};
pub use sync::{Held, SyncItem, SyncState, Synced, sync};
pub use trust::untrusted;
pub use types::{CollectArgs, Collected, parse_wave};

pub(crate) const RECORD_SCHEMA: &str = "outrun.dispatch/v1";
/// A dispatch whose run has not appeared this long after it was sent is lost for good.
pub(crate) const LOST_AFTER: Duration = Duration::from_secs(15 * 60);

/// Largest artifact zip outrun downloads (GitHub's own limit per artifact is far higher; a cell's
/// outputs are results and logs).
pub(crate) const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Spec(#[from] experiment::ExperimentError),
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    #[error(transparent)]
    Unzip(#[from] crate::outputs::unzip::UnzipError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("run {0} is not an outrun run (its name is not `outrun NAME ID`)")]
    NotOutrun(u64),
    #[error(
        "the dispatch of {experiment} ({id}) got no clear answer and no run named `outrun {experiment} {id}` appeared; check the Actions tab, then dispatch again if it is not there"
    )]
    LostDispatch { experiment: String, id: String },
    #[error(
        "{workflow} is not committed here: run `outrun generate {experiment}`, commit and push it first"
    )]
    NoWorkflow {
        experiment: String,
        workflow: String,
    },
    #[error("--comment: no issue to comment on; pass --issue N or set `issue:` in the experiment")]
    NoIssue,
    #[error("run {run} is not one outrun merges: {reason}")]
    Untrusted { run: u64, reason: String },
    /// Posting the experiment's comment failed (the rows, if any, are merged already).
    #[error("the report was not posted on issue #{issue}")]
    Comment {
        issue: u64,
        #[source]
        source: GithubError,
    },
}

impl RemoteError {
    pub fn is_auth(&self) -> bool {
        match self {
            RemoteError::Github(g) | RemoteError::Comment { source: g, .. } => g.is_auth(),
            RemoteError::Spec(_)
            | RemoteError::Pipeline(_)
            | RemoteError::Dataset(_)
            | RemoteError::Fs(_)
            | RemoteError::Unzip(_)
            | RemoteError::Io { .. }
            | RemoteError::NotOutrun(_)
            | RemoteError::LostDispatch { .. }
            | RemoteError::NoWorkflow { .. }
            | RemoteError::NoIssue
            | RemoteError::Untrusted { .. } => false,
        }
    }
}

impl From<crate::contract::ContractError> for RemoteError {
    fn from(e: crate::contract::ContractError) -> Self {
        RemoteError::Pipeline(pipeline::PipelineError::Outputs(e.into()))
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Io {
        path: path.to_path_buf(),
        source,
    }
}
