//! Command-line definitions only; the work is done by the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use outrun::backend::github::CollectArgs;

#[derive(Debug, Parser)]
#[command(
    name = "outrun",
    version,
    about = "Run declared experiments locally or on GitHub Actions; merge results into a dataset; report them"
)]
#[command(
    after_help = "Exit status: 0 ok, 1 failed (a cell or run failed, invalid experiment, stale workflow), 2 interrupted or cancelled, 3 still running when --timeout passed, 4 authentication needed, 5 run --local or merge completed but some output was lost (closed stdout or stderr), 64 usage.\nDocumentation: README.md"
)]
pub(crate) struct Cli {
    /// The project root (the folder holding experiments/); default: the nearest one upwards.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the human output (schemas in README.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress output on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// `-R` before the subcommand, as scripts wrote it when it was a global option; hidden, since
    /// it is shown on the commands that use it.
    #[arg(short = 'R', long = "repo", value_name = "OWNER/REPO", hide = true)]
    pub repo: Option<String>,
    /// `--api-url` before the subcommand (see `repo`).
    #[arg(long, value_name = "URL", hide = true)]
    pub api_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the commands that talk to GitHub find it.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct GithubArgs {
    /// The GitHub repository (default: from the git remote; in a workflow, GITHUB_REPOSITORY).
    #[arg(short = 'R', long = "repo", value_name = "OWNER/REPO")]
    pub repo: Option<String>,
    /// The REST API root, e.g. https://ghe.example.com/api/v3 (default: in a workflow
    /// GITHUB_API_URL, else from GH_HOST, else api.github.com).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start using outrun here: an example experiment (two cells and a comparison), its script,
    /// a small measured CSV, the .gitignore lines and the workflow. Never overwrites a file.
    #[command(after_help = "Examples:\n  outrun init\n  outrun init --root my-repo --json")]
    Init,
    /// List the experiments.
    #[command(after_help = "Examples:\n  outrun list\n  outrun list --json")]
    List,
    /// Show an experiment's cells (with their ids) and what would be generated.
    #[command(
        after_help = "Examples:\n  outrun plan roofline-h200-resnet50\n  outrun plan roofline-h200-resnet50 --cells dtype=float16 --json"
    )]
    Plan {
        /// The experiment (the name of its file in experiments/).
        name: String,
        /// Only these cells (ids or param=glob; `&` and, `,` or).
        #[arg(long, value_name = "FILTER")]
        cells: Option<String>,
    },
    /// Check every experiment file (or the named ones) and report all problems at once.
    #[command(
        after_help = "Examples:\n  outrun validate\n  outrun validate roofline-h200-resnet50 --json"
    )]
    Validate {
        /// Experiments to check (default: every one).
        names: Vec<String>,
    },
    /// Write .github/workflows/outrun-NAME.yml for every experiment (or the named ones).
    #[command(
        after_help = "Examples:\n  outrun generate\n  outrun generate --check   # in CI: exit 1 with a diff when a workflow is stale"
    )]
    Generate {
        /// Experiments to generate (default: every one).
        names: Vec<String>,
        /// Write nothing; exit 1 with a diff when a committed workflow is missing or stale.
        #[arg(long)]
        check: bool,
        /// Also delete generated workflows whose experiment file is gone.
        #[arg(long, conflicts_with = "check")]
        prune: bool,
    },
    /// Run an experiment's cells, merge the results into the dataset and print the report.
    #[command(
        after_help = "Examples:\n  outrun run roofline-h200-resnet50 --local\n  outrun run roofline-h200-resnet50 --local -j 4 --cells batch=1"
    )]
    Run(RunArgs),
    /// Merge cell outputs already on disk into the dataset.
    #[command(
        after_help = "Examples:\n  outrun merge roofline-h200-resnet50\n  outrun merge roofline-h200-resnet50 --from downloaded-artifacts/"
    )]
    Merge {
        /// The experiment whose dataset to merge into.
        name: String,
        /// A folder of cell outputs (a run folder, or unpacked artifacts); default: the newest local run.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Rewrite the dataset to the experiment's `history: newest`: keep only the newest
        /// run's row of every key (no cell outputs are read).
        #[arg(long, conflicts_with = "from")]
        migrate: bool,
    },
    /// Render the report from the dataset and a run's cell outputs.
    #[command(
        after_help = "Examples:\n  outrun report roofline-h200-resnet50\n  outrun report roofline-h200-resnet50 --format json --output report.json"
    )]
    Report {
        /// The experiment to report on.
        name: String,
        /// The run folder whose cell statuses to show; default: the newest local run.
        #[arg(long, value_name = "DIR")]
        run: Option<PathBuf>,
        /// Markdown (for an issue comment) or JSON (`outrun.report/v1`).
        #[arg(long, value_enum, default_value_t = Format::Markdown)]
        format: Format,
        /// Write the report here instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Compare any number of datasets with a reference, as a comparison file declares: per-tool
    /// errors and rank correlation, agreement on a shared array; writes CSV, Markdown (with
    /// Mermaid charts) and an SVG chart.
    #[command(
        after_help = "Examples:\n  outrun compare comparisons/resnet50.yaml\n  outrun compare comparisons/resnet50.yaml --out /tmp/cmp --json"
    )]
    Compare {
        /// The comparison declaration (YAML; see README "Cross-tool comparison").
        file: PathBuf,
        /// Write the outputs here (default: the declaration's `out`, else
        /// data/evaluation/compare-NAME/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Trigger the experiment's workflow on GitHub Actions; returns at once with the run.
    #[command(
        after_help = "Examples:\n  outrun dispatch roofline-h200-resnet50\n  outrun dispatch roofline-h200-resnet50 --wait --timeout 20m --comment\n  outrun dispatch roofline-h200-resnet50 --failed-from 21000000042"
    )]
    Dispatch(DispatchArgs),
    /// Show runs: of one experiment (NAME), one run with its jobs (RUN), or of every experiment.
    #[command(
        after_help = "Examples:\n  outrun status\n  outrun status roofline-h200-resnet50\n  outrun status 21000000042 --json"
    )]
    Status {
        /// An experiment's name, or a run id or URL (default: every experiment).
        target: Option<String>,
        #[command(flatten)]
        gh: GithubArgs,
    },
    /// Follow a run until it ends or --timeout passes (exit 3: still running; call again later).
    #[command(
        after_help = "Examples:\n  outrun watch 21000000042 --timeout 20m\n  outrun watch https://github.com/OWNER/REPO/actions/runs/21000000042 --comment"
    )]
    Watch {
        /// Run id or URL.
        run: String,
        /// Stop waiting after this long (e.g. 20m); the run goes on.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Keep the experiment's comment on its issue up to date: k of n cells done.
        #[arg(long)]
        comment: bool,
        /// The issue for --comment (default: the dispatch record's, else the experiment's).
        #[arg(long, value_name = "N", requires = "comment")]
        issue: Option<u64>,
        #[command(flatten)]
        gh: GithubArgs,
    },
    /// Download a finished run's artifacts, merge them into the dataset, render the report.
    #[command(after_help = "Examples:\n  outrun collect 21000000042 --comment")]
    Collect {
        /// Run id or URL.
        run: String,
        #[command(flatten)]
        args: CollectArgs,
        /// Also append the report to this file (the job summary, `$GITHUB_STEP_SUMMARY`).
        #[arg(long, value_name = "FILE")]
        summary: Option<PathBuf>,
        #[command(flatten)]
        gh: GithubArgs,
    },
    /// Post the "run started" comment on the issue (the workflow's status job).
    #[command(
        after_help = "Examples:\n  outrun announce \"$GITHUB_RUN_ID\" --issue 7   # as the generated workflow's status job does"
    )]
    Announce {
        /// Run id or URL.
        run: String,
        /// The issue to comment on.
        #[arg(long, value_name = "N")]
        issue: u64,
        /// The cells the run was asked for (its `cells` input; empty = all).
        #[arg(long, value_name = "FILTER")]
        cells: Option<String>,
        /// Who started the run (shown, never mentioned).
        #[arg(long, value_name = "LOGIN", default_value = "")]
        actor: String,
        /// The run's wave (its `wave` input; empty or 1 for the first), so the comment counts
        /// that wave's cells.
        #[arg(long, value_name = "N")]
        wave: Option<String>,
        #[command(flatten)]
        gh: GithubArgs,
    },
    /// Re-run a finished run's failed, timed-out and cancelled jobs (GitHub's "Re-run failed
    /// jobs"): a new attempt of the same run, whose results merge with the first attempt's.
    #[command(after_help = "Examples:\n  outrun rerun 21000000042 --failed")]
    Rerun {
        /// Run id or URL.
        run: String,
        /// Only the failed jobs (required: re-running a whole run is `outrun dispatch`).
        #[arg(long, required = true)]
        failed: bool,
        #[command(flatten)]
        gh: GithubArgs,
    },
    /// Collect every finished outrun run not collected yet and report on the rest; for resuming.
    #[command(after_help = "Examples:\n  outrun sync\n  outrun sync --no-comment --json")]
    Sync {
        /// Do not post or update report comments.
        #[arg(long)]
        no_comment: bool,
        /// Merge what is collected into this checkout only, instead of landing it the way the
        /// workflow's final job would (landing branch and pull request, ledger on it).
        #[arg(long)]
        no_land: bool,
        #[command(flatten)]
        gh: GithubArgs,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  outrun completions bash > ~/.local/share/bash-completion/completions/outrun\n  outrun completions zsh > \"${fpath[1]}/_outrun\"\n  outrun completions fish > ~/.config/fish/completions/outrun.fish"
    )]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one page per command into a folder.
    #[command(
        after_help = "Examples:\n  outrun man | man -l -\n  outrun man --out /usr/local/share/man/man1"
    )]
    Man {
        /// Write outrun.1 and outrun-COMMAND.1 here instead of printing outrun.1.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

impl Command {
    /// Whether the command talks to GitHub (and so takes `-R` and `--api-url`).
    pub(crate) fn uses_github(&self) -> bool {
        match self {
            Command::Dispatch(_)
            | Command::Status { .. }
            | Command::Watch { .. }
            | Command::Collect { .. }
            | Command::Announce { .. }
            | Command::Rerun { .. }
            | Command::Sync { .. } => true,
            Command::Init
            | Command::List
            | Command::Plan { .. }
            | Command::Validate { .. }
            | Command::Generate { .. }
            | Command::Run(_)
            | Command::Merge { .. }
            | Command::Report { .. }
            | Command::Compare { .. }
            | Command::Completions { .. }
            | Command::Man { .. } => false,
        }
    }
}

/// Writes the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "outrun",
        out,
    );
}

/// Writes `outrun.1`.
pub(crate) fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
}

/// Writes `outrun.1` and one `outrun-COMMAND.1` per subcommand into `dir`; returns their paths.
pub(crate) fn man_pages(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), dir)?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "1")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("outrun"))
        })
        .collect();
    pages.sort();
    Ok(pages)
}

// `outrun dispatch`'s flags (its help is the variant's).
#[derive(Debug, Args)]
pub(crate) struct DispatchArgs {
    /// The experiment whose workflow to trigger.
    pub name: String,
    /// Only these cells (the workflow's `cells` input).
    #[arg(long, value_name = "FILTER")]
    pub cells: Option<String>,
    /// The issue to report on (default: the experiment's `issue`).
    #[arg(long, value_name = "N")]
    pub issue: Option<u64>,
    /// The branch or tag to run (default: the current branch).
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Then watch the run and collect it (dispatch + watch + collect).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: stop waiting after this long (e.g. 20m); the run goes on.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "wait")]
    pub timeout: Option<std::time::Duration>,
    /// With --wait: post or update the report comment on the issue.
    #[arg(long, requires = "wait")]
    pub comment: bool,
    /// Run again exactly the cells that failed, timed out or were cancelled in this run
    /// (from the run ledger, else from the run's jobs).
    #[arg(long, value_name = "RUN", conflicts_with = "cells")]
    pub failed_from: Option<String>,
    #[command(flatten)]
    pub gh: GithubArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The experiment to run.
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
pub(crate) enum Format {
    Markdown,
    Json,
}
