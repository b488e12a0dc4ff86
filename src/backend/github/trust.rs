//! Trust: which runs outrun merges.

use crate::experiment::{self, Plan};
use crate::github_api::{Client, Run};

use super::RemoteError;

/// Why `run` is not one outrun merges, or `None` if it is: a `workflow_dispatch` run (or one
/// this machine dispatched and recorded) from a branch the experiment allows — its
/// `github.refs`, by default the repository's default branch. A `pull_request` or `push` run,
/// or one from another branch, ran code outrun's users have not vouched for.
pub async fn untrusted(
    client: &Client,
    plan: &Plan,
    run: &Run,
    recorded: bool,
) -> Result<Option<String>, RemoteError> {
    if run.event != "workflow_dispatch" && !recorded {
        return Ok(Some(format!(
            "started by `{}`; only `workflow_dispatch` runs are merged",
            run.event
        )));
    }
    let branch = run.head_branch.clone().unwrap_or_default();
    let allowed = if plan.file.github.refs.is_empty() {
        vec![client.default_branch().await?]
    } else {
        plan.file.github.refs.clone()
    };
    if !allowed
        .iter()
        .any(|pattern| experiment::filter::glob(pattern, &branch))
    {
        return Ok(Some(format!(
            "ran on branch `{branch}`; the experiment merges runs of {} (its `github.refs`)",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(None)
}
