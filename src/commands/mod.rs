//! One function per subcommand: load, call the library, print human or JSON output. Grouped
//! by family, one file each: `project` (the experiment files and what is generated from them:
//! list, plan, validate, generate, init, completions, man), `local` (runs on this machine and the
//! data they make: run, merge, report, compare) and `github` (dispatch, watch, collect, rerun,
//! announce, sync, status). Here: the one error type, whose variant chooses the exit status, and
//! the dispatch from the parsed command line to the family that serves it.

use std::path::Path;

use outrun::experiment::{self, ExperimentError, Plan, filter::Filter};
use outrun::github_api::GithubError;

use crate::cli::{Cli, Command, Format, GithubArgs};
use crate::documents;
use crate::exit;

/// Everything a command can fail with. Its variant decides the exit status (README "Exit
/// status"), by matching, so a new error type is a compile error here rather than a silent 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A mistake in how outrun was called that clap cannot see: exit 64, like clap's own.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Remote(#[from] outrun::backend::github::RemoteError),
    #[error(transparent)]
    Pipeline(#[from] outrun::pipeline::PipelineError),
    #[error(transparent)]
    Workflow(#[from] outrun::workflow::WorkflowError),
    #[error(transparent)]
    Dataset(#[from] outrun::dataset::DatasetError),
    #[error(transparent)]
    Outputs(#[from] outrun::outputs::OutputsError),
    #[error(transparent)]
    Local(#[from] outrun::backend::local::LocalError),
    #[error(transparent)]
    Fs(#[from] outrun::fsutil::FsError),
    #[error(transparent)]
    Compare(#[from] outrun::compare::CompareError),
    /// Anything else, with what outrun was doing (`anyhow::Context`).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        // No `_` arm: a new variant must say here whether it can mean a refused token.
        let auth = match self {
            CliError::Usage(_) => return exit::USAGE,
            CliError::Github(e) => e.is_auth(),
            CliError::Remote(e) => e.is_auth(),
            CliError::Experiment(_)
            | CliError::Pipeline(_)
            | CliError::Workflow(_)
            | CliError::Dataset(_)
            | CliError::Outputs(_)
            | CliError::Local(_)
            | CliError::Fs(_)
            | CliError::Compare(_)
            | CliError::Other(_) => false,
        };
        if auth {
            exit::AUTH
        } else if outrun::fsutil::stop_requested() {
            // SIGINT/SIGTERM stopped a write before its rename (see `stop_on_signals`).
            exit::INTERRUPTED
        } else {
            exit::FAILED
        }
    }

    /// An invalid experiment file's positioned problems, for `outrun.error/v1`.
    pub(crate) fn problems(&self) -> Vec<documents::Problem> {
        match self {
            CliError::Experiment(ExperimentError::Invalid(f)) => documents::Problem::of_file(f),
            CliError::Compare(outrun::compare::CompareError::Invalid(f)) => {
                documents::Problem::of_file(f)
            }
            _ => Vec::new(),
        }
    }
}

type Result<T, E = CliError> = std::result::Result<T, E>;

/// Fails the command with a message (exit 1).
macro_rules! bail {
    ($($t:tt)*) => {
        return Err(CliError::Other(anyhow::anyhow!($($t)*)))
    };
}

mod github;
mod local;
mod project;

/// `-R`/`--api-url` given before a subcommand (`outrun -R O/R sync`, as scripts wrote it before
/// the options moved to the commands that use them) count as the command's own.
fn gh_args(cli_repo: &Option<String>, cli_api: &Option<String>, own: GithubArgs) -> GithubArgs {
    GithubArgs {
        repo: own.repo.or_else(|| cli_repo.clone()),
        api_url: own.api_url.or_else(|| cli_api.clone()),
    }
}

pub(crate) async fn run_command(root: &Path, cli: Cli) -> Result<u8> {
    let json = cli.json;
    let (repo, api) = (cli.repo.clone(), cli.api_url.clone());
    let connect = |own: GithubArgs| github::Gh::connect(root, &gh_args(&repo, &api, own));
    if (repo.is_some() || api.is_some()) && !cli.command.uses_github() {
        return Err(CliError::Usage(
            "-R and --api-url are for the commands that talk to GitHub (dispatch, rerun, status, watch, collect, announce, sync)".into(),
        ));
    }
    match cli.command {
        Command::Completions { shell } => project::completions(shell),
        Command::Man { out } => project::man(out.as_deref(), json),
        Command::Init => project::init(root, json),
        Command::List => project::list(root, json),
        Command::Plan { name, cells } => project::plan(root, &name, cells.as_deref(), json),
        Command::Validate { names } => project::validate(root, &names, json),
        Command::Generate {
            names,
            check,
            prune,
        } => project::generate(root, &names, check, prune, json),
        Command::Run(args) => local::run(root, args, json, cli.quiet).await,
        Command::Merge {
            name,
            migrate: true,
            ..
        } => local::migrate(root, &name, json),
        Command::Merge {
            name,
            from,
            migrate: false,
        } => local::merge(root, &name, from.as_deref(), json).await,
        Command::Report {
            name,
            run,
            format,
            output,
        } => {
            let format = if json { Format::Json } else { format };
            local::report(root, &name, run.as_deref(), format, output.as_deref())
        }
        Command::Compare { file, out } => local::compare(root, &file, out.as_deref(), json),
        Command::Dispatch(mut args) => {
            let gh = connect(args.gh.clone())?;
            if let Some(run) = args.failed_from.take() {
                let run = github::parse_run(&run)?;
                args.cells = Some(github::failed_cells(root, &gh, &args.name, run).await?);
            }
            github::dispatch(root, &gh, &args, json, cli.quiet).await
        }
        Command::Rerun { run, failed: _, gh } => {
            github::rerun(root, &connect(gh)?, github::parse_run(&run)?, json).await
        }
        Command::Announce {
            run,
            issue,
            cells,
            actor,
            wave,
            gh,
        } => {
            let gh = connect(gh)?;
            let req = github::AnnounceRequest {
                run_id: github::parse_run(&run)?,
                issue,
                cells: cells.as_deref(),
                wave: github::parse_wave(wave.as_deref())?,
                actor: &actor,
                json,
            };
            github::announce(root, &gh, req).await
        }
        Command::Status { target, gh } => {
            github::status(root, &connect(gh)?, target.as_deref(), json).await
        }
        Command::Watch {
            run,
            timeout,
            comment,
            issue,
            gh,
        } => {
            let gh = connect(gh)?;
            let run = github::parse_run(&run)?;
            if comment {
                github::watch_comment(root, &gh, run, issue, timeout, cli.quiet).await?;
            }
            let (code, _) = github::watch(&gh, run, timeout, json, cli.quiet).await?;
            Ok(code)
        }
        Command::Collect {
            run,
            args,
            summary,
            gh,
        } => {
            let gh = connect(gh)?;
            let run = github::parse_run(&run)?;
            github::collect(root, &gh, run, args, summary.as_deref(), json).await
        }
        Command::Sync {
            no_comment,
            no_land,
            gh,
        } => github::sync(root, &connect(gh)?, !no_comment, !no_land, json).await,
    }
}

fn select(plan: &Plan, filter: Option<&str>) -> Result<Vec<experiment::Cell>> {
    Ok(match filter {
        Some(f) => Filter::parse(f)?.select(&plan.cells, &plan.param_names())?,
        None => plan.cells.clone(),
    })
}
