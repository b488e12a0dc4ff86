//! Command-line definitions only; the work is done by the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "outrun", version, about = "Run declared experiments locally or on GitHub Actions; merge results into a dataset; report them")]
#[command(after_help = "Exit status: 0 ok, 1 failed (a cell failed, invalid experiment, stale workflow), 2 interrupted or cancelled, 4 authentication needed, 64 usage.\nDocumentation: README.md")]
pub struct Cli {
    /// The project root (the folder holding experiments/); default: the nearest one upwards.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the human output (schemas in README.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress output on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the experiments.
    List,
    /// Show an experiment's cells (with their ids) and what would be generated.
    Plan {
        name: String,
        /// Only these cells (ids or param=glob; `&` and, `,` or).
        #[arg(long, value_name = "FILTER")]
        cells: Option<String>,
    },
    /// Check every experiment file (or the named ones) and report all problems at once.
    Validate { names: Vec<String> },
    /// Write .github/workflows/outrun-NAME.yml for every experiment (or the named ones).
    Generate {
        names: Vec<String>,
        /// Write nothing; exit 1 with a diff when a committed workflow is missing or stale.
        #[arg(long)]
        check: bool,
    },
    /// Run an experiment's cells, merge the results into the dataset and print the report.
    Run(RunArgs),
    /// Merge cell outputs already on disk into the dataset.
    Merge {
        name: String,
        /// A folder of cell outputs (a run folder, or unpacked artifacts); default: the newest local run.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Render the report from the dataset and a run's cell outputs.
    Report {
        name: String,
        /// The run folder whose cell statuses to show; default: the newest local run.
        #[arg(long, value_name = "DIR")]
        run: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Markdown)]
        format: Format,
        /// Write the report here instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub name: String,
    /// Run the cells here, as child processes.
    #[arg(long)]
    pub local: bool,
    /// How many cells at once (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Only these cells (ids or param=glob; `&` and, `,` or).
    #[arg(long, value_name = "FILTER")]
    pub cells: Option<String>,
    /// Leave the dataset alone (outputs stay under .outrun/runs/ for `outrun merge`).
    #[arg(long)]
    pub no_merge: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Markdown,
    Json,
}
