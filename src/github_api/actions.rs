//! GitHub Actions endpoints: dispatching a workflow, its runs, jobs and artifacts (the download
//! follows the storage redirect itself, without the token), and re-running failed jobs.

use std::io::Write as _;
use std::path::Path;

use http::{Method, StatusCode, header};
use http_body_util::BodyExt as _;
use octocrab::Octocrab;
use sha2::{Digest as _, Sha256};

use super::transport::{MAX_ATTEMPTS, api_error, backoff, decode, transport_message, urlencode};
use super::{Artifact, Client, GithubError, Job, Run, StorageError, models};

impl Client {
    /// Triggers `workflow` on `git_ref`. Returns the run's id and URL when the server says
    /// (`return_run_details`); `Ok(None)` when it accepted the dispatch without saying (older
    /// GitHub Enterprise Server: the caller finds the run by its distinct id).
    pub async fn dispatch(
        &self,
        workflow: &str,
        git_ref: &str,
        inputs: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<(u64, String)>, GithubError> {
        let path = self.repo_path(&format!("actions/workflows/{workflow}/dispatches"));
        let mut body =
            serde_json::json!({"ref": git_ref, "inputs": inputs, "return_run_details": true});
        let resp = self
            .request(Method::POST, &path, Some(&body), false)
            .await?;
        let resp = if matches!(resp.status.as_u16(), 400 | 422)
            && String::from_utf8_lossy(&resp.body).contains("return_run_details")
        {
            // The server refused the field, so no run was created: sending again without it is
            // not a second dispatch.
            body.as_object_mut()
                .expect("object")
                .remove("return_run_details");
            self.request(Method::POST, &path, Some(&body), false)
                .await?
        } else {
            resp
        };
        match resp.status.as_u16() {
            200 => {
                let d: models::DispatchDetails = decode(&path, &resp)?;
                Ok(Some((d.workflow_run_id, d.html_url)))
            }
            204 => Ok(None),
            _ => Err(api_error(&Method::POST, &path, resp.status, &resp.body)),
        }
    }

    pub async fn run(&self, id: u64) -> Result<Run, GithubError> {
        self.get_json(&self.repo_path(&format!("actions/runs/{id}")))
            .await
    }

    /// The newest runs of `workflow` (one page: outrun looks for recent runs only).
    pub async fn runs(
        &self,
        workflow: &str,
        branch: Option<&str>,
        per_page: u32,
    ) -> Result<Vec<Run>, GithubError> {
        let mut q = format!("actions/workflows/{workflow}/runs?per_page={per_page}");
        if let Some(b) = branch {
            q.push_str(&format!("&event=workflow_dispatch&branch={}", urlencode(b)));
        }
        let list: models::RunList = self.get_json(&self.repo_path(&q)).await?;
        Ok(list.workflow_runs)
    }

    /// Completed runs of `workflow` for one commit, newest first. While a run of that commit
    /// goes on this list stays the same, so polling it conditionally is free. (GitHub also takes
    /// a `created` range here, but its published description types that as a single date-time.)
    pub(crate) async fn completed_runs(
        &self,
        workflow: &str,
        head_sha: &str,
    ) -> Result<Vec<Run>, GithubError> {
        let q = format!(
            "actions/workflows/{workflow}/runs?status=completed&head_sha={}&per_page=20",
            urlencode(head_sha)
        );
        let list: models::RunList = self.get_json(&self.repo_path(&q)).await?;
        Ok(list.workflow_runs)
    }

    pub async fn jobs(&self, run: u64) -> Result<Vec<Job>, GithubError> {
        self.get_pages(
            &self.repo_path(&format!(
                "actions/runs/{run}/jobs?filter=latest&per_page=100"
            )),
            "jobs",
        )
        .await
    }

    pub async fn artifacts(&self, run: u64) -> Result<Vec<Artifact>, GithubError> {
        self.get_pages(
            &self.repo_path(&format!("actions/runs/{run}/artifacts?per_page=100")),
            "artifacts",
        )
        .await
    }

    /// Streams an artifact's zip to `dest`, checking its digest when GitHub gives one.
    /// Returns the number of bytes written.
    pub(crate) async fn download_artifact(
        &self,
        artifact: &Artifact,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, GithubError> {
        let path = self.repo_path(&format!("actions/artifacts/{}/zip", artifact.id));
        let dl = |source: StorageError| GithubError::Download {
            name: artifact.name.clone(),
            source,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The signed URL lives about a minute: ask for a fresh one on every attempt.
            let resp = self.request(Method::GET, &path, None, true).await?;
            let location = match resp.status.as_u16() {
                302 | 301 | 307 => resp
                    .headers
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| dl(StorageError::NoLocation))?,
                410 => {
                    return Err(GithubError::Expired {
                        name: artifact.name.clone(),
                    });
                }
                _ => return Err(api_error(&Method::GET, &path, resp.status, &resp.body)),
            };
            match self
                .fetch_storage(&location, dest, max_bytes, artifact.digest.as_deref())
                .await
            {
                Ok(n) => return Ok(n),
                Err(e) if attempt < MAX_ATTEMPTS && e.retryable() => {
                    self.note_retry();
                    self.clock.sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(dl(e)),
            }
        }
    }

    /// GETs a storage URL with no credentials and streams it to `dest`.
    async fn fetch_storage(
        &self,
        url: &str,
        dest: &Path,
        max_bytes: u64,
        digest: Option<&str>,
    ) -> Result<u64, StorageError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| StorageError::BadUrl(e.to_string()))?;
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        );
        // A client of its own, without the token: storage refuses `Authorization`, and the token
        // must never travel to another host.
        let storage = Octocrab::builder()
            .base_uri(origin.as_str())
            .map_err(|e| StorageError::Client(transport_message(&e)))?
            .set_connect_timeout(Some(self.timeout))
            .set_read_timeout(Some(self.timeout))
            .build()
            .map_err(|e| StorageError::Client(transport_message(&e)))?;
        let res = storage
            ._get(uri)
            .await
            .map_err(|e| StorageError::Transport(transport_message(&e)))?;
        if !res.status().is_success() {
            return Err(StorageError::Status(res.status()));
        }
        let io = |source| StorageError::Io {
            path: dest.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::create(dest).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut written: u64 = 0;
        let mut body = res.into_body();
        loop {
            let frame = match tokio::time::timeout(self.timeout, body.frame()).await {
                Err(_) => return Err(StorageError::Stalled),
                Ok(None) => break,
                Ok(Some(f)) => f.map_err(|e| StorageError::Transport(transport_message(&e)))?,
            };
            if let Ok(data) = frame.into_data() {
                written += data.len() as u64;
                if written > max_bytes {
                    return Err(StorageError::TooLarge { limit: max_bytes });
                }
                hasher.update(&data);
                file.write_all(&data).map_err(io)?;
            }
        }
        file.sync_all().map_err(io)?;
        if let Some(want) = digest.and_then(|d| d.strip_prefix("sha256:")) {
            let got: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !got.eq_ignore_ascii_case(want) {
                return Err(StorageError::Digest {
                    want: want.to_string(),
                    got,
                });
            }
        }
        Ok(written)
    }

    /// GitHub's "Re-run failed jobs": a new attempt of `run` for its failed and cancelled jobs
    /// (and the jobs that depend on them).
    pub async fn rerun_failed_jobs(&self, run: u64) -> Result<(), GithubError> {
        let path = self.repo_path(&format!("actions/runs/{run}/rerun-failed-jobs"));
        let resp = self
            .request(Method::POST, &path, Some(&serde_json::json!({})), false)
            .await?;
        if resp.status != StatusCode::CREATED {
            return Err(api_error(&Method::POST, &path, resp.status, &resp.body));
        }
        Ok(())
    }
}
