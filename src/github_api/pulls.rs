//! Pull request endpoints.

use http::{Method, StatusCode};

use super::transport::{api_error, decode};
use super::{Client, GithubError, LandingPull, PullRequest};
use crate::names;

impl Client {
    /// Open pull requests (every page).
    pub(crate) async fn open_pulls(&self) -> Result<Vec<PullRequest>, GithubError> {
        self.get_pages(&self.repo_path("pulls?state=open&per_page=100"), "")
            .await
    }

    /// The open pull requests from the experiment's landing branches, each with the run its
    /// branch carries (read as [`Client::landing_branches`] reads branches).
    pub(crate) async fn landing_pulls(
        &self,
        experiment: &str,
    ) -> Result<Vec<LandingPull>, GithubError> {
        Ok(self
            .open_pulls()
            .await?
            .into_iter()
            .filter_map(|pull| {
                let run_id = names::parse_landing_branch(experiment, &pull.head.name)?;
                Some(LandingPull { run_id, pull })
            })
            .collect())
    }

    /// Opens a pull request. Never resent: on an ambiguous failure the caller re-lists.
    pub(crate) async fn create_pull(
        &self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> Result<PullRequest, GithubError> {
        let path = self.repo_path("pulls");
        let req = serde_json::json!({"title": title, "head": head, "base": base, "body": body});
        let resp = self.request(Method::POST, &path, Some(&req), false).await?;
        if resp.status != StatusCode::CREATED {
            return Err(api_error(&Method::POST, &path, resp.status, &resp.body));
        }
        decode(&path, &resp)
    }

    /// Closes a pull request (one superseded by a newer one that holds its rows too).
    pub(crate) async fn close_pull(&self, number: u64) -> Result<(), GithubError> {
        let path = self.repo_path(&format!("pulls/{number}"));
        let resp = self
            .request(
                Method::PATCH,
                &path,
                Some(&serde_json::json!({"state": "closed"})),
                true,
            )
            .await?;
        if !resp.status.is_success() {
            return Err(api_error(&Method::PATCH, &path, resp.status, &resp.body));
        }
        Ok(())
    }
}
