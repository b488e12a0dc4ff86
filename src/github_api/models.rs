//! The parts of GitHub's responses outrun reads, typed by hand: octocrab 0.54's models lack
//! `display_title`, `run_attempt`, the `requested` job status and the artifact `digest`.
//! Unknown fields are ignored, so GitHub adding fields never breaks a poll.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Run {
    pub id: u64,
    #[serde(default)]
    pub display_title: String,
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// Set once completed.
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub run_attempt: Option<u32>,
    #[serde(default)]
    pub head_branch: Option<String>,
    #[serde(default)]
    pub head_sha: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    /// When the latest attempt started.
    #[serde(default)]
    pub run_started_at: Option<String>,
    #[serde(default)]
    pub triggering_actor: Option<User>,
}

impl Run {
    pub fn completed(&self) -> bool {
        self.status == Some(RunStatus::Completed)
    }

    /// The experiment and dispatch id from a run name `outrun NAME ID` (see the template).
    pub(crate) fn outrun_title(&self) -> Option<(&str, &str)> {
        crate::names::parse_run_title(&self.display_title)
    }

    /// The experiment this run is of: the `NAME` of its run name, else of its workflow file
    /// (`.github/workflows/outrun-NAME.yml`); `None` for a run that is not outrun's.
    pub(crate) fn experiment(&self) -> Option<&str> {
        match self.outrun_title() {
            Some((name, _)) => Some(name),
            None => crate::names::experiment_of_workflow(&self.path),
        }
    }

    pub fn attempt(&self) -> u32 {
        self.run_attempt.unwrap_or(1).max(1)
    }

    /// When this attempt started: `run_started_at`, or the run's creation on servers without it.
    pub fn started_at(&self) -> &str {
        self.run_started_at
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.created_at)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RunList {
    pub workflow_runs: Vec<Run>,
}

impl Job {
    pub fn completed(&self) -> bool {
        self.status == Some(RunStatus::Completed)
    }

    pub fn succeeded(&self) -> bool {
        self.conclusion == Some(Conclusion::Success)
    }
}

/// Declares a string enum of GitHub's with an `Unknown` fallback that keeps the text: a value
/// GitHub adds later is carried through (and printed) as GitHub wrote it, never refused.
macro_rules! github_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($variant,)*
            Unknown(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Unknown(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => $name::$variant,)*
                    _ => $name::Unknown(s),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::from(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $name::Unknown(s) => s,
                    known => known.as_str().to_string(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

github_enum! {
    /// A run's or a job's `status`.
    RunStatus {
        Queued = "queued",
        InProgress = "in_progress",
        Completed = "completed",
        Requested = "requested",
        Waiting = "waiting",
        Pending = "pending",
    }
}

github_enum! {
    /// A completed run's or job's `conclusion`.
    Conclusion {
        Success = "success",
        Failure = "failure",
        Cancelled = "cancelled",
        TimedOut = "timed_out",
        Skipped = "skipped",
        Neutral = "neutral",
        ActionRequired = "action_required",
        Stale = "stale",
        StartupFailure = "startup_failure",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Job {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub status: Option<RunStatus>,
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
    #[serde(default)]
    pub run_attempt: Option<u32>,
    #[serde(default)]
    pub runner_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub size_in_bytes: u64,
    #[serde(default)]
    pub expired: bool,
    /// `sha256:HEX` on current GitHub; absent on older servers.
    #[serde(default)]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub user: Option<User>,
    /// OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, …
    #[serde(default)]
    pub author_association: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) struct Repository {
    #[serde(default)]
    pub default_branch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub state: String,
    pub head: GitRefName,
    #[serde(default)]
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct GitRefName {
    #[serde(rename = "ref")]
    pub name: String,
    #[serde(default)]
    pub sha: String,
}

/// `GET /repos/{o}/{r}/git/ref/…`
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitRef {
    pub object: GitObject,
}

/// A ref with its name (`GET …/git/matching-refs/…`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitRefFull {
    #[serde(rename = "ref")]
    pub name: String,
    pub object: GitObject,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitObject {
    pub sha: String,
}

/// A created blob, tree or commit.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Created {
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitCommit {
    pub tree: GitObject,
    #[serde(default)]
    pub parents: Vec<GitObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct User {
    pub login: String,
    /// `User` or `Bot`.
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// `POST …/dispatches` with `return_run_details: true` (github.com since 2026-02).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DispatchDetails {
    pub workflow_run_id: u64,
    #[serde(default)]
    pub html_url: String,
}

/// `GET …/contents/{path}` (and `GET …/git/blobs/{sha}`, which has the same fields).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Contents {
    #[serde(default)]
    pub sha: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub encoding: String,
}

/// A landing branch of the experiment, `outrun/NAME/RUN_ID`, read once as it comes from GitHub ([`Client::landing_branches`](super::Client::landing_branches)): the
/// run whose rows it carries, its name and its head commit (ordered by run id first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LandingBranch {
    pub run_id: u64,
    pub name: String,
    pub head: String,
}

/// An open pull request from a landing branch of the experiment, with the run its branch
/// carries ([`Client::landing_pulls`](super::Client::landing_pulls)).
#[derive(Debug, Clone)]
pub struct LandingPull {
    pub run_id: u64,
    pub pull: PullRequest,
}
