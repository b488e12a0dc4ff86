//! Issue comment endpoints, and the token's user (whose comments outrun trusts).

use http::{Method, StatusCode};

use super::transport::{api_error, decode};
use super::{Client, Comment, GithubError, models};

impl Client {
    pub async fn comments(&self, issue: u64) -> Result<Vec<Comment>, GithubError> {
        self.get_pages(
            &self.repo_path(&format!("issues/{issue}/comments?per_page=100")),
            "",
        )
        .await
    }

    /// Deletes a comment; one already gone counts as deleted (a second machine may have been first).
    pub(crate) async fn delete_comment(&self, id: u64) -> Result<(), GithubError> {
        let path = self.repo_path(&format!("issues/comments/{id}"));
        let resp = self.request(Method::DELETE, &path, None, true).await?;
        match resp.status.as_u16() {
            204 | 404 => Ok(()),
            _ => Err(api_error(&Method::DELETE, &path, resp.status, &resp.body)),
        }
    }

    /// The token's user (`GET /user`, asked once); `None` where the token may not ask, as a
    /// workflow's `GITHUB_TOKEN` may not.
    pub(crate) async fn viewer_login(&self) -> Result<Option<String>, GithubError> {
        let v = self
            .viewer
            .get_or_try_init(|| async {
                let resp = self.request(Method::GET, "/user", None, true).await?;
                match resp.status.as_u16() {
                    200 => Ok(serde_json::from_slice::<models::User>(&resp.body)
                        .ok()
                        .map(|u| u.login)),
                    401 => Err(api_error(&Method::GET, "/user", resp.status, &resp.body)),
                    _ => Ok(None),
                }
            })
            .await?;
        Ok(v.clone())
    }

    /// Creates a comment. Never resent: on an ambiguous failure the caller re-lists.
    pub(crate) async fn create_comment(
        &self,
        issue: u64,
        body: &str,
    ) -> Result<Comment, GithubError> {
        let path = self.repo_path(&format!("issues/{issue}/comments"));
        let resp = self
            .request(
                Method::POST,
                &path,
                Some(&serde_json::json!({"body": body})),
                false,
            )
            .await?;
        if resp.status != StatusCode::CREATED {
            return Err(api_error(&Method::POST, &path, resp.status, &resp.body));
        }
        decode(&path, &resp)
    }

    /// Replaces a comment's body (PATCH, as the API says; octocrab 0.54 sends POST here).
    /// The same body twice is harmless, so this one is retried.
    pub(crate) async fn update_comment(&self, id: u64, body: &str) -> Result<Comment, GithubError> {
        let path = self.repo_path(&format!("issues/comments/{id}"));
        let resp = self
            .request(
                Method::PATCH,
                &path,
                Some(&serde_json::json!({"body": body})),
                true,
            )
            .await?;
        if resp.status != StatusCode::OK {
            return Err(api_error(&Method::PATCH, &path, resp.status, &resp.body));
        }
        decode(&path, &resp)
    }
}
