//! Git data endpoints: the default branch, files at a ref, branches, and the blob → tree →
//! commit → ref steps that land rows on a branch.

use http::{Method, StatusCode};

use super::transport::{api_error, decode, urlencode};
use super::{Client, GithubError, LandingBranch, models};
use crate::names;

impl Client {
    /// The repository's default branch (asked once).
    pub(crate) async fn default_branch(&self) -> Result<String, GithubError> {
        let b = self
            .default_branch
            .get_or_try_init(|| async {
                let r: models::Repository = self
                    .get_json(&format!("/repos/{}/{}", self.repo.owner, self.repo.name))
                    .await?;
                Ok::<_, GithubError>(r.default_branch)
            })
            .await?;
        Ok(b.clone())
    }

    /// A file's bytes at `git_ref`, or `None` if it is not there.
    pub async fn file_at(&self, file: &str, git_ref: &str) -> Result<Option<Vec<u8>>, GithubError> {
        use base64::Engine as _;
        let path = self.repo_path(&format!(
            "contents/{}?ref={}",
            urlencode(file),
            urlencode(git_ref)
        ));
        let resp = self.request(Method::GET, &path, None, true).await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status.is_success() {
            return Err(api_error(&Method::GET, &path, resp.status, &resp.body));
        }
        let c: models::Contents = decode(&path, &resp)?;
        let b64 = if c.encoding == "base64" && !c.content.is_empty() {
            c.content
        } else {
            // Over 1 MB the contents API leaves the content out; the blob API has it.
            let blob: models::Contents = self
                .get_json(&self.repo_path(&format!("git/blobs/{}", c.sha)))
                .await?;
            blob.content
        };
        let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| GithubError::Decode {
                path,
                message: e.to_string(),
            })
    }

    /// The branches whose names start with `prefix` (`GET …/git/matching-refs/heads/PREFIX`),
    /// each with its head commit.
    pub(crate) async fn branches_starting(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, GithubError> {
        let path = self.repo_path(&format!("git/matching-refs/heads/{}", urlencode(prefix)));
        let resp = self.request(Method::GET, &path, None, true).await?;
        // An empty repository (or a proxy that cannot route a ref with slashes) has none.
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !resp.status.is_success() {
            return Err(api_error(&Method::GET, &path, resp.status, &resp.body));
        }
        let refs: Vec<models::GitRefFull> = decode(&path, &resp)?;
        Ok(refs
            .into_iter()
            .filter_map(|r| {
                let name = r.name.strip_prefix("refs/heads/")?.to_string();
                Some((name, r.object.sha))
            })
            .collect())
    }

    /// The experiment's landing branches (`outrun/NAME/RUN_ID`), each read as the run it
    /// carries: parsed here, where they come in, so the backend only ever holds typed ones. A
    /// branch under the prefix whose name ends in no run id is none of them.
    pub(crate) async fn landing_branches(
        &self,
        experiment: &str,
    ) -> Result<Vec<LandingBranch>, GithubError> {
        Ok(self
            .branches_starting(&names::landing_prefix(experiment))
            .await?
            .into_iter()
            .filter_map(|(name, head)| {
                let run_id = names::parse_landing_branch(experiment, &name)?;
                Some(LandingBranch { run_id, name, head })
            })
            .collect())
    }

    /// The commit a branch points at, or `None` if there is no such branch.
    pub(crate) async fn branch_sha(&self, branch: &str) -> Result<Option<String>, GithubError> {
        let path = self.repo_path(&format!("git/ref/heads/{}", urlencode(branch)));
        let resp = self.request(Method::GET, &path, None, true).await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status.is_success() {
            return Err(api_error(&Method::GET, &path, resp.status, &resp.body));
        }
        let r: models::GitRef = decode(&path, &resp)?;
        Ok(Some(r.object.sha))
    }

    /// A commit's tree.
    pub(crate) async fn commit_tree(&self, sha: &str) -> Result<String, GithubError> {
        let c: models::GitCommit = self
            .get_json(&self.repo_path(&format!("git/commits/{sha}")))
            .await?;
        Ok(c.tree.sha)
    }

    /// A commit's parents, first parent first.
    pub(crate) async fn commit_parents(&self, sha: &str) -> Result<Vec<String>, GithubError> {
        let c: models::GitCommit = self
            .get_json(&self.repo_path(&format!("git/commits/{sha}")))
            .await?;
        Ok(c.parents.into_iter().map(|p| p.sha).collect())
    }

    /// POSTs that create a git object: creating the same content twice makes the same object,
    /// so these may be retried.
    async fn create_object(
        &self,
        rest: &str,
        body: serde_json::Value,
    ) -> Result<String, GithubError> {
        let path = self.repo_path(rest);
        let resp = self.request(Method::POST, &path, Some(&body), true).await?;
        if resp.status != StatusCode::CREATED {
            return Err(api_error(&Method::POST, &path, resp.status, &resp.body));
        }
        let c: models::Created = decode(&path, &resp)?;
        Ok(c.sha)
    }

    pub(crate) async fn create_blob(&self, bytes: &[u8]) -> Result<String, GithubError> {
        use base64::Engine as _;
        self.create_object("git/blobs", serde_json::json!({"content": base64::engine::general_purpose::STANDARD.encode(bytes), "encoding": "base64"})).await
    }

    /// A tree: `base` with `files` (path → blob sha) put in.
    pub(crate) async fn create_tree(
        &self,
        base: &str,
        files: &[(String, String)],
    ) -> Result<String, GithubError> {
        let tree: Vec<serde_json::Value> = files.iter().map(|(p, sha)| serde_json::json!({"path": p, "mode": "100644", "type": "blob", "sha": sha})).collect();
        self.create_object(
            "git/trees",
            serde_json::json!({"base_tree": base, "tree": tree}),
        )
        .await
    }

    pub(crate) async fn create_commit(
        &self,
        message: &str,
        tree: &str,
        parents: &[String],
    ) -> Result<String, GithubError> {
        self.create_object(
            "git/commits",
            serde_json::json!({"message": message, "tree": tree, "parents": parents}),
        )
        .await
    }

    /// Creates `refs/heads/BRANCH` at `sha`; `Ok(false)` if the branch exists already.
    pub(crate) async fn create_branch(&self, branch: &str, sha: &str) -> Result<bool, GithubError> {
        let path = self.repo_path("git/refs");
        let body = serde_json::json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
        let resp = self
            .request(Method::POST, &path, Some(&body), false)
            .await?;
        match resp.status.as_u16() {
            201 => Ok(true),
            422 => Ok(false),
            _ => Err(api_error(&Method::POST, &path, resp.status, &resp.body)),
        }
    }

    /// Moves a branch to `sha` if that is a fast-forward; `Ok(false)` if it is not (someone
    /// else moved the branch first: start again from its new head).
    pub(crate) async fn fast_forward(&self, branch: &str, sha: &str) -> Result<bool, GithubError> {
        let path = self.repo_path(&format!("git/refs/heads/{}", urlencode(branch)));
        let resp = self
            .request(
                Method::PATCH,
                &path,
                Some(&serde_json::json!({"sha": sha, "force": false})),
                true,
            )
            .await?;
        match resp.status.as_u16() {
            200 => Ok(true),
            422 => Ok(false),
            _ => Err(api_error(&Method::PATCH, &path, resp.status, &resp.body)),
        }
    }
}
