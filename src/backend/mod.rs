//! Where cells run. Both backends leave the same thing behind: one directory per cell holding
//! `cell.json`, the logs and the results file (see `crate::contract`), and both end in the one
//! collect path, `crate::pipeline::finish`.
//!
//! # The contract a backend keeps
//!
//! Running, waiting and fetching are the backend's own business (a local run is child
//! processes that end before `run` returns; a GitHub run is dispatched, polled and downloaded
//! across sessions), so there is no trait over them: what the backends share is what they hand
//! the collect path, one [`crate::pipeline::Finish`]:
//!
//! - `outputs`: one [`crate::outputs::Positioned`] per cell output on local disk, naming the
//!   cell *by where the backend put it* (the local run's folder for that cell; on GitHub, the
//!   artifact's shard name and the plan's packing of cells into jobs). A `cell.json` is only checked against that
//!   position, never believed about it, so a cell cannot claim another's place.
//! - `provenance`: one [`crate::contract::RunProvenance`], from the side that ran the cells,
//!   never from a cell's own files where the backend knows better:
//!   - `source`: the backend's [`crate::contract::Source`] (the dataset's `source` column);
//!   - `run_id`, `url`, `attempt`, `run_started_at` (orders runs and their comments), `event`,
//!     `git_ref`, `conclusion`: the run as the scheduler reports it (GitHub's run object;
//!     locally, the records outrun wrote itself, `RunProvenance::from_records`);
//!   - `cells`: per cell, the attempt, runner and times of the job that ran it
//!     ([`crate::contract::JobProvenance`]), which override the cell's own claims when the
//!     rows are stamped (`RunProvenance::stamp`);
//!   - `commit`: the commit the cells ran at; `wave`: which run of a split dispatch this is.
//! - `missing`: a failed/cancelled [`crate::contract::CellRecord`] for every planned cell that
//!   left no output, from the backend's own account (a job that ended without an artifact).
//! - `refused`: outputs the backend would not take, with why (on GitHub: an artifact that names
//!   an attempt the run has not had, one expired or too large to download).
//!
//! Both backends build it themselves and call `finish`: `github::collect` for a GitHub run,
//! `local::LocalRun::finish` for a local run and `local::HandMerge::finish` for folders merged
//! by hand; the commands only parse the flags and print what comes back.
//!
//! `finish` does the rest, the same for every backend: checks each output, merges the rows and
//! the ledger entry atomically, and builds the report. Posting it (`github::upsert_comment`) and
//! landing rows on a branch are the GitHub backend's, done with what `finish` returns.
//!
//! # Adding a backend (a Slurm cluster, say)
//!
//! A new backend touches these files:
//! 1. `src/backend/slurm.rs` (new, declared here): submit the plan's cells (each under the cell
//!    contract, as `workflow-templates/outrun_cell.py` runs them on GitHub), wait, bring the
//!    output folders to local disk, and build the `Finish` above (its `RunProvenance` from the
//!    scheduler's accounting, e.g. `sacct`'s job ids, nodes and times).
//! 2. `src/contract.rs`: a `Source` variant (`slurm` in the dataset), and whether its job times
//!    are trusted over a cell's claims (`RunProvenance::stamp` treats `Github`'s so today).
//! 3. `src/cli.rs` and `src/commands/`: the flag or subcommand that picks it (`run --local`
//!    is the local backend's), calling the backend and printing what `finish` returned.

pub mod github;
pub mod local;
