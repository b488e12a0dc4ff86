//! GitHub's own limits, which outrun treats as design inputs (README: "GitHub's limits"). A
//! leaf: the experiment's validation, the workflow's packing and the contract read these, and
//! it reads nothing of theirs.

use std::time::Duration;

/// How many matrix jobs a run may have (GitHub's limit); more cells are packed several to a job.
pub const MAX_JOBS: usize = 256;

/// The largest cells file (`.github/workflows/outrun-NAME.cells.json`) `generate` writes: GitHub
/// refuses a pushed file over 100 MB and warns over 50 MiB; every job of the run also reads the
/// whole file. `validate` warns from [`CELLS_FILE_WARN_BYTES`], `generate` refuses beyond this.
pub const MAX_CELLS_FILE_BYTES: usize = 50 * 1024 * 1024;

/// Where `validate` starts warning that the cells file nears [`MAX_CELLS_FILE_BYTES`] (80 %).
pub const CELLS_FILE_WARN_BYTES: usize = MAX_CELLS_FILE_BYTES / 5 * 4;

/// GitHub-hosted runners stop a job after 6 hours.
pub const HOSTED_JOB_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// Self-hosted runners stop a job after 5 days.
pub const SELF_HOSTED_JOB_LIMIT: Duration = Duration::from_secs(5 * 24 * 3600);

/// The label prefixes of GitHub-hosted runners (also what `.github/actionlint.yaml` needs no
/// entry for: see `workflow::actionlint`).
pub const HOSTED_PREFIXES: [&str; 3] = ["ubuntu-", "windows-", "macos-"];

/// Whether `labels` name a GitHub-hosted runner (`ubuntu-*`, `windows-*`, `macos-*`), whose
/// jobs cannot run longer than [`HOSTED_JOB_LIMIT`].
pub fn is_hosted(labels: &[String]) -> bool {
    !labels.iter().any(|l| l == "self-hosted")
        && labels
            .iter()
            .any(|l| HOSTED_PREFIXES.iter().any(|p| l.starts_with(p)))
}
