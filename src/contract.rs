//! The cell contract: what a cell's output directory holds, whichever backend ran it.
//!
//! `cell.json` is written by the wrapper (outrun locally, `outrun_cell.py` on GitHub), never by
//! the experiment's command, and exists for failed cells too. Its fields are part of outrun's
//! stable interface (`schema: outrun.cell/v1`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const CELL_JSON: &str = "cell.json";
pub const STDOUT_LOG: &str = "stdout.log";
pub const STDERR_LOG: &str = "stderr.log";
pub const CELL_SCHEMA: &str = "outrun.cell/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Ok,
    Failed,
    TimedOut,
    Cancelled,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Failed => "failed",
            CellStatus::TimedOut => "timed out",
            CellStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Local,
    Github,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Github => "github",
        }
    }
}

/// `cell.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub schema: String,
    pub experiment: String,
    pub cell: String,
    pub params: BTreeMap<String, String>,
    pub status: CellStatus,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub source: Source,
    pub runner: String,
    pub commit: Option<String>,
    pub run_id: String,
    pub attempt: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("{}: not a valid cell.json: {source}", path.display())]
    Parse { path: std::path::PathBuf, source: serde_json::Error },
    #[error("{}: cannot write: {source}", path.display())]
    Write { path: std::path::PathBuf, source: std::io::Error },
}

impl CellRecord {
    pub fn read(dir: &Path) -> Result<CellRecord, ContractError> {
        let path = dir.join(CELL_JSON);
        let text = std::fs::read_to_string(&path).map_err(|source| ContractError::Read { path: path.clone(), source })?;
        serde_json::from_str(&text).map_err(|source| ContractError::Parse { path, source })
    }

    pub fn write(&self, dir: &Path) -> Result<(), ContractError> {
        let path = dir.join(CELL_JSON);
        let mut text = serde_json::to_string_pretty(self).expect("record serialises");
        text.push('\n');
        std::fs::write(&path, text).map_err(|source| ContractError::Write { path, source })
    }
}

/// Now, as RFC 3339 UTC with microseconds: sortable as text, like GitHub's timestamps.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}
