//! How selected cells are packed into matrix jobs and runs: the one place that decides which
//! cells a job runs. `outrun_cell.py`'s `pack` mirrors [`pack`] line for line (the plan job
//! and the cells jobs call it on GitHub); `tests/it/limits.rs` checks that both agree.
//!
//! GitHub's limits are the inputs: a run holds at most [`MAX_JOBS`] matrix jobs, and a job
//! stops at its runner's limit (6 h on GitHub-hosted runners, up to 5 days self-hosted). Cells
//! are spread over as many jobs as one run allows (parallelism first), but never more per job
//! than fit in the job's limit; what does not fit in one run becomes further runs (waves).

use std::time::Duration;

pub use crate::limits::{
    HOSTED_JOB_LIMIT, HOSTED_PREFIXES, MAX_JOBS, SELF_HOSTED_JOB_LIMIT, is_hosted,
};

/// Time a job needs beside its cells: checkout, setup, upload. The job's `timeout-minutes` is
/// its cells' timeouts plus this, and never above the runner's limit.
pub const JOB_OVERHEAD: Duration = Duration::from_secs(15 * 60);

/// The most cells one job may run: the cells' timeouts plus [`JOB_OVERHEAD`] within the job's
/// limit. At least 1: a cell whose timeout alone does not fit still gets a job (validate warns).
pub fn max_cells_per_job(cell_timeout: Duration, job_limit: Duration) -> usize {
    let room = job_limit.saturating_sub(JOB_OVERHEAD).as_secs();
    ((room / cell_timeout.as_secs().max(1)) as usize).max(1)
}

/// The job's `timeout-minutes`: its cells' timeouts plus the overhead, capped at the limit.
pub fn job_timeout_minutes(
    cells_per_job: usize,
    cell_timeout: Duration,
    job_limit: Duration,
) -> u64 {
    let want =
        (cells_per_job as u64 * cell_timeout.as_secs()).div_ceil(60) + JOB_OVERHEAD.as_secs() / 60;
    want.min(job_limit.as_secs() / 60)
}

/// How `selected` cells are laid out in jobs and runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packing {
    pub cells_per_job: usize,
    pub jobs: usize,
    /// Runs needed: each runs at most [`MAX_JOBS`] jobs.
    pub waves: usize,
}

/// Packs `selected` cells, at most `max_per_job` to a job.
pub fn pack(selected: usize, max_per_job: usize) -> Packing {
    let per_job = selected.div_ceil(MAX_JOBS).clamp(1, max_per_job.max(1));
    let jobs = selected.div_ceil(per_job);
    Packing {
        cells_per_job: per_job,
        jobs,
        waves: jobs.div_ceil(MAX_JOBS).max(1),
    }
}

/// One matrix job: its name (the job's name, and part of its artifact's), its index over all
/// waves, its wave (1-based) and the range of the selected cells it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub name: String,
    pub index: usize,
    pub wave: usize,
    pub cells: std::ops::Range<usize>,
}

/// The shards of `selected` (cell ids, in plan order). A job that runs one cell is named after
/// it; others are `shard-NNN`, numbered over all waves, so a name means the same in every wave.
pub fn shards(selected: &[&str], max_per_job: usize) -> Vec<Shard> {
    let p = pack(selected.len(), max_per_job);
    (0..p.jobs)
        .map(|i| {
            let cells = i * p.cells_per_job..((i + 1) * p.cells_per_job).min(selected.len());
            Shard {
                name: if p.cells_per_job == 1 {
                    selected[i].to_string()
                } else {
                    format!("shard-{i:03}")
                },
                index: i,
                wave: i / MAX_JOBS + 1,
                cells,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_fill_one_run_before_jobs_grow_and_jobs_never_outgrow_their_limit() {
        // 300 one-minute cells: two per job, 150 jobs, one run.
        assert_eq!(
            pack(
                300,
                max_cells_per_job(Duration::from_secs(60), HOSTED_JOB_LIMIT)
            ),
            Packing {
                cells_per_job: 2,
                jobs: 150,
                waves: 1
            }
        );
        // The case: 5 h cells on a hosted runner fit one a job (5 h + 15 min < 6 h),
        // never the 615 minutes two of them took.
        let five_h = Duration::from_secs(5 * 3600);
        let per = max_cells_per_job(five_h, HOSTED_JOB_LIMIT);
        assert_eq!(per, 1);
        assert_eq!(job_timeout_minutes(per, five_h, HOSTED_JOB_LIMIT), 315);
        // 1,000 such cells: 1,000 jobs, in 4 runs of at most 256.
        assert_eq!(
            pack(1000, per),
            Packing {
                cells_per_job: 1,
                jobs: 1000,
                waves: 4
            }
        );
        // A self-hosted runner allowed 5 days takes 23 of them a job: one run.
        let per = max_cells_per_job(five_h, SELF_HOSTED_JOB_LIMIT);
        assert_eq!(per, 23);
        assert_eq!(pack(1000, per).waves, 1);
        assert!(job_timeout_minutes(per, five_h, SELF_HOSTED_JOB_LIMIT) <= 5 * 24 * 60);
        // A cell longer than the job's limit: one a job, and the job's timeout is the limit.
        let seven_h = Duration::from_secs(7 * 3600);
        assert_eq!(max_cells_per_job(seven_h, HOSTED_JOB_LIMIT), 1);
        assert_eq!(job_timeout_minutes(1, seven_h, HOSTED_JOB_LIMIT), 360);
    }

    #[test]
    fn shards_cover_every_cell_once_and_name_waves_globally() {
        let ids: Vec<String> = (0..600).map(|i| format!("c{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let s = shards(&ids, 1);
        assert_eq!(s.len(), 600);
        assert_eq!((s[0].name.as_str(), s[0].wave), ("c0", 1));
        assert_eq!((s[256].name.as_str(), s[256].wave), ("c256", 2));
        assert_eq!(s[599].wave, 3);
        let s = shards(&ids, 2);
        assert_eq!(s.len(), 256 + 44);
        assert_eq!(
            (s[257].name.as_str(), s[257].wave, s[257].cells.clone()),
            ("shard-257", 2, 514..516)
        );
        let covered: usize = s.iter().map(|x| x.cells.len()).sum();
        assert_eq!(covered, 600);
        assert!(s.windows(2).all(|w| w[0].cells.end == w[1].cells.start));
    }

    #[test]
    fn hosted_labels() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_hosted(&l(&["ubuntu-latest"])));
        assert!(is_hosted(&l(&["windows-2022"])));
        assert!(is_hosted(&l(&["macos-14"])));
        assert!(!is_hosted(&l(&["self-hosted", "gpu"])));
        assert!(!is_hosted(&l(&["gpu-box"])));
    }
}
