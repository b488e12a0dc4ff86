//! The parts of GitHub's responses outrun reads, typed by hand: octocrab 0.54's models lack
//! `display_title`, `run_attempt`, the `requested` job status and the artifact `digest`.
//! Unknown fields are ignored, so GitHub adding fields never breaks a poll.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Run {
    pub id: u64,
    #[serde(default)]
    pub display_title: String,
    /// queued, in_progress, completed, requested, waiting, pending.
    #[serde(default)]
    pub status: Option<String>,
    /// success, failure, cancelled, timed_out, … once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
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
}

impl Run {
    pub fn completed(&self) -> bool {
        self.status.as_deref() == Some("completed")
    }

    /// The experiment and dispatch id from a run name `outrun NAME ID` (see the template). The
    /// id is anyone's free text (a workflow input), so one that is not a safe name reads as "".
    pub fn outrun_title(&self) -> Option<(&str, &str)> {
        let rest = self.display_title.strip_prefix("outrun ")?;
        let (name, id) = rest.split_once(' ').unwrap_or((rest, ""));
        let id = if crate::spec::is_safe_name(id) { id } else { "" };
        crate::spec::is_safe_name(name).then_some((name, id))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunList {
    #[serde(default)]
    pub total_count: u64,
    pub workflow_runs: Vec<Run>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Job {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobList {
    #[serde(default)]
    pub total_count: u64,
    pub jobs: Vec<Job>,
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

#[derive(Debug, Clone, Deserialize)]
pub struct ArtifactList {
    #[serde(default)]
    pub total_count: u64,
    pub artifacts: Vec<Artifact>,
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
pub struct DispatchDetails {
    pub workflow_run_id: u64,
    #[serde(default)]
    pub html_url: String,
}
