//! The experiment's one comment.

use crate::contract::Source;
use crate::experiment::Plan;
use crate::github_api::{Client, GithubError, Run};
use crate::names;
use crate::report::CommentStamp;

use super::RemoteError;

/// What became of a comment update.
#[derive(Debug, Clone, Default)]
pub struct Posted {
    /// The comment's URL, when it shows what was posted.
    pub url: Option<String>,
    /// Why it was left as it is, e.g. "a newer run's comment is there: RUN".
    pub skipped: Option<String>,
}

/// The run as the experiment's comment describes it, from GitHub's run object: its start
/// (`run_started_at`, which orders the comments of overlapping runs) is GitHub's, never the
/// clock of the job that writes.
pub fn run_info(run: &Run) -> crate::report::RunInfo {
    crate::report::RunInfo {
        id: run.id.to_string(),
        source: Source::Github,
        url: Some(run.html_url.clone()),
        attempt: run.attempt(),
        started_at: run.started_at().to_string(),
        event: Some(run.event.clone()),
        git_ref: run.head_branch.clone(),
        conclusion: None,
        wave: None,
    }
}

/// The login workflows' `GITHUB_TOKEN` writes as.
pub(crate) const ACTIONS_BOT: &str = "github-actions[bot]";

/// Whether a comment can be outrun's: its author is the token's own user, the repository's
/// workflows (`github-actions[bot]`, which only this repository's workflows write as), or a
/// person with write access (owner, member, collaborator). Anyone else — another app's bot, a
/// passer-by — may paste the marker, and their comment is never touched.
fn trusted_author(c: &crate::github_api::Comment, me: Option<&str>) -> bool {
    let Some(u) = &c.user else { return false };
    me == Some(u.login.as_str())
        || (u.login == ACTIONS_BOT && u.kind == "Bot")
        || (u.kind == "User"
            && matches!(
                c.author_association.as_str(),
                "OWNER" | "MEMBER" | "COLLABORATOR"
            ))
}

/// Puts `body` on `issue` as the experiment's one comment, and returns its URL — or, when the
/// comment shows a newer run (or a later phase of this one) and was left as it is, why.
///
/// Across machines: any number of clients (and the workflow's own jobs) may do this at once.
/// Each creates only when it sees no comment of outrun's, then lists again; whenever outrun's
/// comments number more than one, every client keeps the oldest and deletes the others. All of
/// them agree on which is oldest, deleting is idempotent, and a comment is only ever replaced
/// by one about the same or a newer run, so however the requests interleave they end with one
/// comment showing the newest run.
pub(crate) async fn upsert_comment(
    client: &Client,
    issue: u64,
    experiment: &str,
    body: &str,
) -> Result<Posted, RemoteError> {
    upsert(client, issue, experiment, body)
        .await
        .map_err(|e| match e {
            RemoteError::Github(source) => RemoteError::Comment { issue, source },
            e => e,
        })
}

async fn upsert(
    client: &Client,
    issue: u64,
    experiment: &str,
    body: &str,
) -> Result<Posted, RemoteError> {
    let marker = names::comment_marker(experiment);
    let me = client.viewer_login().await?;
    let ours = CommentStamp::parse(body);
    let list = |cs: Vec<crate::github_api::Comment>| {
        let mut v: Vec<crate::github_api::Comment> = cs
            .into_iter()
            .filter(|c| {
                trusted_author(c, me.as_deref())
                    && c.body.as_deref().is_some_and(|b| b.starts_with(&marker))
            })
            .collect();
        v.sort_by_key(|c| c.id);
        v
    };
    let mut found = list(client.comments(issue).await?);
    if found.is_empty() {
        match client.create_comment(issue, body).await {
            Ok(_) | Err(GithubError::Ambiguous { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        found = list(client.comments(issue).await?);
    }
    let Some(keep) = found.first().cloned() else {
        // Created, yet not listed (or not as ours): nothing more to do safely.
        return Ok(Posted::default());
    };
    for extra in &found[1..] {
        // A comment another machine created at the same moment; if it is not ours to delete
        // (another person's), GitHub says no and it stays.
        match client.delete_comment(extra.id).await {
            Ok(()) | Err(GithubError::Http { status: 403, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let shown = keep.body.as_deref().and_then(CommentStamp::parse);
    let may = match (&ours, &shown) {
        (Some(o), Some(s)) => o.may_replace(s),
        _ => true,
    };
    if !may {
        let shown = shown.expect("a refusal compares with a stamp");
        let ours = ours.expect("a refusal compares with a stamp");
        let why = if (&shown.run_id, shown.attempt) == (&ours.run_id, ours.attempt) {
            format!(
                "the comment shows a later phase of this run: {:?}",
                shown.phase
            )
            .to_lowercase()
        } else {
            format!("a newer run's comment is there: {}", shown.run_id)
        };
        return Ok(Posted {
            url: None,
            skipped: Some(why),
        });
    }
    let url = if keep.body.as_deref() == Some(body) {
        keep.html_url
    } else {
        client.update_comment(keep.id, body).await?.html_url
    };
    Ok(Posted {
        url: Some(url),
        skipped: None,
    })
}

/// The comment while a run goes on: "started" (who started it, which cells, where to follow
/// it; posted by the workflow's status job), or with `done` = (cells finished, cells failed)
/// "k of n cells done" (`watch --comment`). The report replaces it when the run ends; a comment
/// is never moved back to an earlier phase or an older run.
pub async fn announce(
    client: &Client,
    plan: &Plan,
    info: &crate::report::RunInfo,
    issue: u64,
    actor: &str,
    cells: usize,
    done: Option<(usize, usize)>,
) -> Result<Posted, RemoteError> {
    let phase = if done.is_some() {
        crate::report::Phase::Running
    } else {
        crate::report::Phase::Started
    };
    let body = crate::report::status_comment(plan, info, actor, cells, phase, done);
    upsert_comment(client, issue, plan.name(), &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(login: &str, kind: &str, assoc: &str) -> crate::github_api::Comment {
        crate::github_api::Comment {
            id: 1,
            body: Some(names::comment_marker("x")),
            html_url: String::new(),
            user: Some(crate::github_api::models::User {
                login: login.into(),
                kind: kind.into(),
            }),
            author_association: assoc.into(),
        }
    }

    #[test]
    fn only_trusted_authors_own_the_marker() {
        assert!(trusted_author(
            &comment("alice", "User", "NONE"),
            Some("alice")
        ));
        assert!(trusted_author(&comment(ACTIONS_BOT, "Bot", "NONE"), None));
        assert!(trusted_author(
            &comment("bob", "User", "COLLABORATOR"),
            None
        ));
        assert!(!trusted_author(
            &comment("mallory", "User", "NONE"),
            Some("alice")
        ));
        assert!(!trusted_author(
            &comment("evil-app[bot]", "Bot", "NONE"),
            None
        ));
        assert!(!trusted_author(
            &comment("evil-app[bot]", "Bot", "MEMBER"),
            None
        ));
        // A user who calls themselves like the bot is still a user.
        assert!(!trusted_author(&comment(ACTIONS_BOT, "User", "NONE"), None));
    }
}
