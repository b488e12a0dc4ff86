//! The GitHub backend's HTTP side: octocrab for auth, base URI and the connection, with outrun's
//! own typed models, conditional polling, retries and rate-limit handling on top.
//!
//! Rules that matter here (see shared DESIGN.md, "GitHub, as it really behaves"):
//! - Conditional GETs: every GET is sent with the last `ETag`; a 304 costs no rate limit.
//! - 403/429 with `retry-after` or an exhausted `x-ratelimit-remaining`: wait, then retry.
//! - 5xx and broken connections: retried with backoff — but only for requests whose repetition
//!   is harmless. A dispatch or a comment creation is never sent twice: an ambiguous failure is
//!   returned as [`GithubError::Ambiguous`] and the caller checks what happened instead.
//! - Artifact downloads follow the 302 themselves, without the `Authorization` header (GitHub's
//!   storage refuses it), and stream to disk.

pub mod auth;
pub mod models;

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

pub use auth::{Repo, Token};
pub use models::{Artifact, Comment, Conclusion, Job, PullRequest, Run, RunStatus};

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{}", no_token_message(host))]
    NoToken { host: String },
    #[error("GitHub refused the token ({status}): {message}")]
    Auth { status: u16, message: String },
    #[error("cannot tell the repository: pass -R OWNER/REPO (no git remote found)")]
    NoRepo,
    #[error("`{0}` is not OWNER/REPO (GitHub's owner and repository name rules)")]
    BadRepo(String),
    #[error("--api-url {url}: {why}")]
    BadApiUrl { url: String, why: String },
    #[error("{method} {path}: the answer is larger than {limit} bytes; refusing to read more")]
    TooLarge {
        method: String,
        path: String,
        limit: usize,
    },
    #[error("{0}: refusing to send a token over plain http to another machine; use https")]
    Insecure(String),
    #[error("{method} {path}: {status} {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
    /// The request may or may not have taken effect (timeout, reset, 5xx after sending).
    #[error("{method} {path}: no answer ({message}); it may or may not have been carried out")]
    Ambiguous {
        method: String,
        path: String,
        message: String,
    },
    #[error("{path}: unexpected response: {message}")]
    Decode { path: String, message: String },
    #[error("artifact {name} has expired (GitHub answered 410)")]
    Expired { name: String },
    #[error("artifact {name}: {source}")]
    Download {
        name: String,
        #[source]
        source: StorageError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

fn no_token_message(host: &str) -> String {
    if host == "github.com" {
        "no GitHub token for github.com: set GH_TOKEN (or GITHUB_TOKEN), or log in with `gh auth login`".into()
    } else {
        format!(
            "no GitHub token for {host}: set GH_ENTERPRISE_TOKEN (or GITHUB_ENTERPRISE_TOKEN), or log in with `gh auth login --hostname {host}`; a GH_TOKEN is for github.com and is not sent to another host unless you name it with --api-url"
        )
    }
}

/// Why an artifact's download from GitHub's storage failed; [`StorageError::retryable`] decides
/// whether asking for a fresh storage URL and trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("redirect without a Location")]
    NoLocation,
    #[error("bad storage URL: {0}")]
    BadUrl(String),
    #[error("storage client: {0}")]
    Client(String),
    /// A broken connection or a reset: the next attempt may get through.
    #[error("{0}")]
    Transport(String),
    #[error("storage stalled")]
    Stalled,
    #[error("storage answered {0}")]
    Status(http::StatusCode),
    #[error("larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A transfer cut short or corrupted on the way arrives whole on the next attempt.
    #[error("digest mismatch: expected sha256:{want}, got sha256:{got}")]
    Digest { want: String, got: String },
}

impl StorageError {
    /// Failures of the transfer (and storage's own 5xx) are retried; an answer that will not
    /// change (a 4xx, a URL or size refused, the local disk) is not.
    pub fn retryable(&self) -> bool {
        match self {
            StorageError::Transport(_) | StorageError::Stalled | StorageError::Digest { .. } => {
                true
            }
            StorageError::Status(s) => s.is_server_error(),
            StorageError::NoLocation
            | StorageError::BadUrl(_)
            | StorageError::Client(_)
            | StorageError::TooLarge { .. }
            | StorageError::Io { .. } => false,
        }
    }
}

impl GithubError {
    pub fn is_auth(&self) -> bool {
        matches!(self, GithubError::NoToken { .. } | GithubError::Auth { .. })
    }
}

/// How the client waits. The real one sleeps; the benchmark's advances a fake clock, so a ten
/// minute run is simulated in milliseconds with the same request pattern.
pub trait Clock: Send + Sync {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

pub struct RealClock {
    /// Scales every wait (1.0 in real use; tests shrink waits with `OUTRUN_POLL_SCALE`).
    pub scale: f64,
}

impl Clock for RealClock {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d.mul_f64(self.scale)))
    }
}

/// Requests sent, as rate limits see them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Requests to the API that count against the rate limit (everything but 304s).
    pub counted: u64,
    /// Conditional requests answered 304 (free).
    pub not_modified: u64,
    /// Requests repeated after a 5xx, a broken connection or a rate-limit wait.
    pub retries: u64,
}

pub struct Config {
    pub api_url: String,
    pub token: Token,
    pub repo: Repo,
    pub clock: Arc<dyn Clock>,
    /// Per-request time limit.
    pub timeout: Duration,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: bytes::Bytes,
}

pub struct Client {
    api: Octocrab,
    /// `scheme://host[:port]` of the API: the only place the token is sent.
    origin: String,
    repo: Repo,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    etags: Mutex<HashMap<String, (HeaderValue, bytes::Bytes)>>,
    stats: Mutex<Stats>,
    viewer: tokio::sync::OnceCell<Option<String>>,
    default_branch: tokio::sync::OnceCell<String>,
}

/// The largest API answer outrun reads (a page of 100 runs is well under 1 MB; a ledger file
/// through the contents API is the largest thing it fetches).
const MAX_BODY: usize = 64 << 20;
const TOO_LARGE: &str = "answer larger than ";

/// The most pages of one list outrun follows (100 items a page).
const MAX_PAGES: usize = 100;
/// Attempts for a request whose repetition is harmless.
const MAX_ATTEMPTS: u32 = 6;
/// The longest single wait for a rate limit before giving up (GitHub resets hourly).
const MAX_RATE_WAIT: Duration = Duration::from_secs(3600);

fn api_error(method: &Method, path: &str, status: StatusCode, body: &[u8]) -> GithubError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    if status == StatusCode::UNAUTHORIZED {
        return GithubError::Auth {
            status: status.as_u16(),
            message,
        };
    }
    GithubError::Http {
        method: method.to_string(),
        path: path.into(),
        status: status.as_u16(),
        message,
    }
}

impl Client {
    pub fn new(cfg: Config) -> Result<Client, GithubError> {
        let api = Octocrab::builder()
            .base_uri(cfg.api_url.as_str())
            .map_err(|e| GithubError::Transport {
                method: "configure".into(),
                path: cfg.api_url.clone(),
                message: e.to_string(),
            })?
            .personal_token(cfg.token.expose().to_string())
            // Built without octocrab's `retry` feature: its retry layer would resend POSTs, and
            // outrun decides per request what may be repeated.
            .set_connect_timeout(Some(cfg.timeout))
            .set_read_timeout(Some(cfg.timeout))
            .add_header(header::ACCEPT, "application/vnd.github+json".into())
            .add_header(
                http::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".into(),
            )
            .build()
            .map_err(|e| GithubError::Transport {
                method: "configure".into(),
                path: cfg.api_url.clone(),
                message: e.to_string(),
            })?;
        let origin = cfg
            .api_url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
            .unwrap_or_default();
        Ok(Client {
            api,
            origin,
            repo: cfg.repo,
            clock: cfg.clock,
            timeout: cfg.timeout,
            etags: Mutex::default(),
            stats: Mutex::default(),
            viewer: tokio::sync::OnceCell::new(),
            default_branch: tokio::sync::OnceCell::new(),
        })
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Inside a workflow the token is the workflow's own, which `GET /user` always refuses
    /// (403): its comments are `github-actions[bot]`'s, which outrun trusts by that name. Saying
    /// so up front saves that counted request in every job.
    pub fn in_workflow(&self) {
        let _ = self.viewer.set(None);
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().expect("stats lock").clone()
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.repo.owner, self.repo.name)
    }

    /// One HTTP exchange through octocrab, body collected.
    async fn exchange(
        &self,
        method: &Method,
        path: &str,
        body: Option<&serde_json::Value>,
        etag: Option<&HeaderValue>,
    ) -> Result<Resp, String> {
        let mut headers = HeaderMap::new();
        if let Some(e) = etag {
            headers.insert(header::IF_NONE_MATCH, e.clone());
        }
        let res = match *method {
            Method::GET => self.api._get_with_headers(path, Some(headers)).await,
            Method::POST => self.api._post(path, body).await,
            Method::PATCH => self.api._patch(path, body).await,
            Method::PUT => self.api._put(path, body).await,
            Method::DELETE => self.api._delete(path, body).await,
            _ => return Err(format!("outrun does not send {method} requests")),
        };
        let res = res.map_err(|e| transport_message(&e))?;
        let (parts, mut b) = res.into_parts();
        // Read at most MAX_BODY bytes: a runaway or hostile answer must not fill the memory.
        let mut body = bytes::BytesMut::new();
        loop {
            let frame = match tokio::time::timeout(self.timeout, b.frame()).await {
                Err(_) => return Err("timed out reading the response".into()),
                Ok(None) => break,
                Ok(Some(f)) => f.map_err(|e| transport_message(&e))?,
            };
            if let Ok(data) = frame.into_data() {
                if body.len() + data.len() > MAX_BODY {
                    return Err(format!("{TOO_LARGE}{MAX_BODY}"));
                }
                body.extend_from_slice(&data);
            }
        }
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.freeze(),
        })
    }

    /// Sends a request with outrun's rules: conditional GETs, rate-limit waits, and retries
    /// only when `repeatable`.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        repeatable: bool,
    ) -> Result<Resp, GithubError> {
        let mut attempt = 0;
        let mut rate_waits = 0;
        loop {
            attempt += 1;
            let etag = if method == Method::GET {
                self.etags
                    .lock()
                    .expect("etag lock")
                    .get(path)
                    .map(|(e, _)| e.clone())
            } else {
                None
            };
            let outcome = self.exchange(&method, path, body, etag.as_ref()).await;
            let resp = match outcome {
                Ok(r) => r,
                Err(message) if message.starts_with(TOO_LARGE) => {
                    return Err(GithubError::TooLarge {
                        method: method.to_string(),
                        path: path.into(),
                        limit: MAX_BODY,
                    });
                }
                Err(message) => {
                    if repeatable && attempt < MAX_ATTEMPTS {
                        self.note_retry();
                        self.clock.sleep(backoff(attempt)).await;
                        continue;
                    }
                    let (m, p) = (method.to_string(), path.to_string());
                    return Err(if repeatable {
                        GithubError::Transport {
                            method: m,
                            path: p,
                            message,
                        }
                    } else {
                        GithubError::Ambiguous {
                            method: m,
                            path: p,
                            message,
                        }
                    });
                }
            };
            if resp.status == StatusCode::NOT_MODIFIED {
                self.stats.lock().expect("stats lock").not_modified += 1;
                let cached = self
                    .etags
                    .lock()
                    .expect("etag lock")
                    .get(path)
                    .map(|(_, b)| b.clone());
                if let Some(body) = cached {
                    return Ok(Resp {
                        status: StatusCode::OK,
                        headers: resp.headers,
                        body,
                    });
                }
                // A 304 without a cached body cannot happen unless the cache was lost; ask again plainly.
                self.etags.lock().expect("etag lock").remove(path);
                continue;
            }
            self.stats.lock().expect("stats lock").counted += 1;
            if let Some(wait) = rate_limit_wait(&resp)
                && wait <= MAX_RATE_WAIT
                && rate_waits < MAX_ATTEMPTS
            {
                // A rate-limited request was not carried out, so even a POST may be resent;
                // waiting is not a failure, so it does not use up an attempt.
                rate_waits += 1;
                attempt -= 1;
                self.note_retry();
                self.clock.sleep(wait).await;
                continue;
            }
            if resp.status.is_server_error() {
                if repeatable && attempt < MAX_ATTEMPTS {
                    self.note_retry();
                    self.clock.sleep(backoff(attempt)).await;
                    continue;
                }
                if !repeatable {
                    return Err(GithubError::Ambiguous {
                        method: method.to_string(),
                        path: path.into(),
                        message: format!("HTTP {}", resp.status.as_u16()),
                    });
                }
            }
            if method == Method::GET
                && resp.status == StatusCode::OK
                && let Some(e) = resp.headers.get(header::ETAG)
            {
                self.etags
                    .lock()
                    .expect("etag lock")
                    .insert(path.to_string(), (e.clone(), resp.body.clone()));
            }
            return Ok(resp);
        }
    }

    fn note_retry(&self) {
        self.stats.lock().expect("stats lock").retries += 1;
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let resp = self.request(Method::GET, path, None, true).await?;
        if !resp.status.is_success() {
            return Err(api_error(&Method::GET, path, resp.status, &resp.body));
        }
        decode(path, &resp)
    }

    /// Every page of a list endpoint (`per_page=100`), following `Link: rel="next"` — at most
    /// [`MAX_PAGES`] of them: a `Link` that loops must not keep outrun busy forever.
    async fn get_pages<T: DeserializeOwned>(
        &self,
        first: &str,
        field: &str,
    ) -> Result<Vec<T>, GithubError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(GithubError::Decode {
                    path: first.into(),
                    message: format!("more than {MAX_PAGES} pages"),
                });
            }
            let resp = self.request(Method::GET, &path, None, true).await?;
            if !resp.status.is_success() {
                return Err(api_error(&Method::GET, &path, resp.status, &resp.body));
            }
            let mut v: serde_json::Value = decode(&path, &resp)?;
            // Most lists come wrapped (`{"total_count", "jobs": […]}`); issue comments come bare.
            let list = if field.is_empty() {
                v.take()
            } else {
                v.get_mut(field)
                    .map(serde_json::Value::take)
                    .unwrap_or_default()
            };
            let items: Vec<T> = serde_json::from_value(list).map_err(|e| GithubError::Decode {
                path: path.clone(),
                message: e.to_string(),
            })?;
            out.extend(items);
            next = next_link(&resp.headers);
            // A `Link` elsewhere would take the token with it.
            if let Some(n) = &next
                && n.contains("://")
                && !n.starts_with(&format!("{}/", self.origin))
            {
                return Err(GithubError::Decode {
                    path,
                    message: format!(
                        "the next page's link leaves the API host ({n}); not followed"
                    ),
                });
            }
        }
        Ok(out)
    }

    // ---- runs ----

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

    // ---- comments ----

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

    /// Open pull requests (every page).
    pub(crate) async fn open_pulls(&self) -> Result<Vec<PullRequest>, GithubError> {
        self.get_pages(&self.repo_path("pulls?state=open&per_page=100"), "")
            .await
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
        parent: &str,
    ) -> Result<String, GithubError> {
        self.create_object(
            "git/commits",
            serde_json::json!({"message": message, "tree": tree, "parents": [parent]}),
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

/// A JSON answer as `T`, or an error that names the request and says what came instead (an
/// HTML page from a proxy, a truncated body, another shape).
fn decode<T: DeserializeOwned>(path: &str, resp: &Resp) -> Result<T, GithubError> {
    serde_json::from_slice(&resp.body).map_err(|e| {
        let kind = resp
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type");
        let start: String = String::from_utf8_lossy(&resp.body[..resp.body.len().min(80)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        GithubError::Decode {
            path: path.into(),
            message: format!(
                "{e} (a {}-byte {kind} answer starting `{start}`)",
                resp.body.len()
            ),
        }
    })
}

/// 1, 2, 4, 8, 16 s … capped at 60 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.saturating_sub(1).min(6)).min(60))
}

/// How long GitHub asks us to wait, from `retry-after` or an exhausted rate limit's reset time.
fn rate_limit_wait(resp: &Resp) -> Option<Duration> {
    if !matches!(resp.status.as_u16(), 403 | 429) {
        return None;
    }
    let h = |k: &str| {
        resp.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(s) = h("retry-after").and_then(|s| s.parse::<u64>().ok()) {
        return Some(Duration::from_secs(s.max(1)));
    }
    if h("x-ratelimit-remaining") == Some("0") {
        let reset = h("x-ratelimit-reset").and_then(|s| s.parse::<u64>().ok())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    if resp.status.as_u16() == 429 {
        return Some(Duration::from_secs(60));
    }
    // A secondary rate limit: a 403 whose message says so, without headers.
    String::from_utf8_lossy(&resp.body)
        .contains("secondary rate limit")
        .then_some(Duration::from_secs(60))
}

/// The `rel="next"` URL of a `Link` header, as a path (the client adds the base).
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',')
        .find(|p| p.contains("rel=\"next\""))
        .and_then(|p| {
            let url = p
                .split(';')
                .next()?
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>');
            Some(url.to_string())
        })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A transport error's message, without anything from the request (headers hold the token).
fn transport_message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
