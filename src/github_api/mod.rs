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
//!
//! Layout: this file holds the client, its configuration and its errors; `transport` holds the
//! rules above (every request goes through its `request`); the endpoints are grouped by API
//! area: `actions` (runs, jobs, artifacts, dispatch), `git` (refs, blobs, trees, commits,
//! contents), `pulls`, and `issues` (comments and the token's user).

pub mod auth;
pub mod models;

mod actions;
mod git;
mod issues;
mod pulls;
mod transport;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderValue, header};
use octocrab::Octocrab;

pub use auth::{Repo, Token};
pub use models::{
    Artifact, Comment, Conclusion, Job, LandingBranch, LandingPull, PullRequest, Run, RunStatus,
};

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
}
