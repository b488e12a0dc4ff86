//! One function per subcommand: load, call the library, print human or JSON output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use outrun::backend::{github, local};
use outrun::contract::{CellStatus, RunProvenance};
use outrun::experiment::{self, ExperimentError, Plan, filter::Filter};
use outrun::github_api::{Conclusion, GithubError, RunStatus};
use outrun::report::{self, Report};
use outrun::shown::shown;
use outrun::{names, pipeline, workflow};

use crate::cli::{Cli, Command, Format, GithubArgs, RunArgs};
use crate::exit;
use crate::output::{self, GenerateState, RunState};

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
    Remote(#[from] github::RemoteError),
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
    #[error(transparent)]
    Workflow(#[from] workflow::WorkflowError),
    #[error(transparent)]
    Dataset(#[from] outrun::dataset::DatasetError),
    #[error(transparent)]
    Outputs(#[from] outrun::outputs::OutputsError),
    #[error(transparent)]
    Local(#[from] local::LocalError),
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
    pub(crate) fn problems(&self) -> Vec<output::Problem> {
        match self {
            CliError::Experiment(ExperimentError::Invalid(f)) => output::Problem::of_file(f),
            CliError::Compare(outrun::compare::CompareError::Invalid(f)) => {
                output::Problem::of_file(f)
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
    let connect = |own: GithubArgs| Gh::connect(root, &gh_args(&repo, &api, own));
    if (repo.is_some() || api.is_some()) && !cli.command.uses_github() {
        return Err(CliError::Usage(
            "-R and --api-url are for the commands that talk to GitHub (dispatch, rerun, status, watch, collect, announce, sync)".into(),
        ));
    }
    match cli.command {
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics when its writer fails.
            let mut script = Vec::new();
            crate::cli::completions(shell, &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(exit::OK)
        }
        Command::Man { out } => {
            match out {
                Some(dir) => {
                    let pages = crate::cli::man_pages(&dir)
                        .with_context(|| format!("writing man pages to {}", dir.display()))?;
                    if !json {
                        for p in pages {
                            outln!("{}", p.display());
                        }
                    }
                }
                None => {
                    crate::cli::man_page(&mut std::io::stdout()).context("writing the man page")?
                }
            }
            Ok(exit::OK)
        }
        Command::Init => init(root, json),
        Command::List => list(root, json),
        Command::Plan { name, cells } => plan(root, &name, cells.as_deref(), json),
        Command::Validate { names } => validate(root, &names, json),
        Command::Generate {
            names,
            check,
            prune,
        } => generate(root, &names, check, prune, json),
        Command::Run(args) => run(root, args, json, cli.quiet).await,
        Command::Merge {
            name,
            migrate: true,
            ..
        } => migrate(root, &name, json),
        Command::Merge {
            name,
            from,
            migrate: false,
        } => merge(root, &name, from.as_deref(), json).await,
        Command::Report {
            name,
            run,
            format,
            output,
        } => {
            let format = if json { Format::Json } else { format };
            report_cmd(root, &name, run.as_deref(), format, output.as_deref())
        }
        Command::Compare { file, out } => compare(root, &file, out.as_deref(), json),
        Command::Dispatch {
            name,
            cells,
            issue,
            git_ref,
            wait,
            timeout,
            comment,
            failed_from,
            gh,
        } => {
            let gh = connect(gh)?;
            let cells = match failed_from {
                Some(run) => Some(failed_cells(root, &gh, &name, parse_run(&run)?).await?),
                None => cells,
            };
            dispatch(
                root,
                &gh,
                &name,
                cells.as_deref(),
                issue,
                git_ref,
                wait,
                timeout,
                comment,
                json,
                cli.quiet,
            )
            .await
        }
        Command::Rerun { run, failed: _, gh } => {
            rerun(root, &connect(gh)?, parse_run(&run)?, json).await
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
            announce(
                root,
                &gh,
                parse_run(&run)?,
                issue,
                cells.as_deref(),
                parse_wave(wave.as_deref())?,
                &actor,
                json,
            )
            .await
        }
        Command::Status { target, gh } => {
            status(root, &connect(gh)?, target.as_deref(), json).await
        }
        Command::Watch {
            run,
            timeout,
            comment,
            issue,
            gh,
        } => {
            let gh = connect(gh)?;
            let run = parse_run(&run)?;
            if comment {
                watch_comment(root, &gh, run, issue, timeout, cli.quiet).await?;
            }
            let (code, _) = watch(&gh, run, timeout, json, cli.quiet).await?;
            Ok(code)
        }
        Command::Collect {
            run,
            comment,
            issue,
            artifacts,
            cells,
            wave,
            land,
            summary,
            gh,
        } => {
            let gh = connect(gh)?;
            let wave = parse_wave(wave.as_deref())?;
            let how = CollectHow {
                comment,
                issue,
                artifacts: artifacts.as_deref(),
                cells: cells.as_deref(),
                wave,
                land,
                summary: summary.as_deref(),
            };
            collect(root, &gh, parse_run(&run)?, &how, json).await
        }
        Command::Sync {
            no_comment,
            no_land,
            gh,
        } => sync(root, &connect(gh)?, !no_comment, !no_land, json).await,
    }
}

/// A connected GitHub client and the clock it waits with.
struct Gh {
    client: outrun::github_api::Client,
    clock: std::sync::Arc<dyn outrun::github_api::Clock>,
}

impl Gh {
    fn connect(root: &Path, args: &GithubArgs) -> Result<Gh> {
        let (repo, api_url) = (&args.repo, &args.api_url);
        use outrun::github_api::{Client, Config, RealClock, Repo, auth};
        // Inside a workflow the runner names its own API (and repository): the workflow's
        // token belongs to that host, so it counts as named explicitly.
        let in_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        let runner_api = std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|u| in_actions && !u.is_empty());
        let explicit = api_url.is_some() || runner_api.is_some();
        let (api_url, host) = auth::api_url(api_url.as_deref().or(runner_api.as_deref()));
        let runner_repo = std::env::var("GITHUB_REPOSITORY")
            .ok()
            .filter(|r| in_actions && !r.is_empty());
        let repo = repo.clone().or(runner_repo);
        auth::check_transport(&api_url)?;
        let token = auth::find_token(&host, explicit)?;
        let repo = Repo::infer(repo.as_deref(), root)?;
        // Tests and benchmarks shrink every wait (poll intervals, backoffs) by this factor.
        let scale = std::env::var("OUTRUN_POLL_SCALE")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(1.0);
        let clock: std::sync::Arc<dyn outrun::github_api::Clock> =
            std::sync::Arc::new(RealClock { scale });
        let client = Client::new(Config {
            api_url,
            token,
            repo,
            clock: clock.clone(),
            timeout: Duration::from_secs(30),
        })?;
        if in_actions {
            client.in_workflow();
        }
        Ok(Gh { client, clock })
    }
}

/// A run id, or a run's URL (`…/actions/runs/ID`, maybe followed by `/job/…` or `/attempts/…`).
fn parse_run(s: &str) -> Result<u64> {
    let s = s.trim();
    let id = match s.split_once("/runs/") {
        Some((_, tail)) => tail.split(['/', '?', '#']).next().unwrap_or(""),
        None => s,
    };
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("`{s}` is not a run id or run URL");
    }
    id.parse()
        .map_err(|_| anyhow::anyhow!("`{s}` is not a run id: too large").into())
}

fn current_branch(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let b = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !b.is_empty() && b != "HEAD").then_some(b)
}

/// `in_progress`, or `completed (failure)`: how a run is shown to people.
fn run_state(run: &outrun::github_api::Run) -> String {
    let conclusion = run
        .conclusion
        .as_ref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    format!(
        "{}{conclusion}",
        run.status.as_ref().map_or("?", RunStatus::as_str)
    )
}

/// Exit status for a completed run's conclusion.
fn conclusion_code(conclusion: Option<&Conclusion>) -> u8 {
    match conclusion {
        Some(Conclusion::Success) => exit::OK,
        Some(Conclusion::Cancelled) => exit::INTERRUPTED,
        _ => exit::FAILED,
    }
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    root: &Path,
    gh: &Gh,
    name: &str,
    cells: Option<&str>,
    issue: Option<u64>,
    git_ref: Option<String>,
    wait: bool,
    timeout: Option<Duration>,
    comment: bool,
    json: bool,
    quiet: bool,
) -> Result<u8> {
    let plan = experiment::load_named(root, name)?;
    if let Some(f) = cells {
        select(&plan, Some(f))?; // the same language the workflow takes: fail here, not on GitHub
    }
    let git_ref = git_ref
        .or_else(|| current_branch(root))
        .unwrap_or_else(|| "main".into());
    let waves = github::waves_of(&plan, cells);
    if wait && waves > 1 {
        return Err(CliError::Usage(format!(
            "these cells need {waves} runs (waves of at most 256 jobs): dispatch without --wait, then follow them with `outrun sync`"
        )));
    }
    let recs = github::dispatch_waves(
        root,
        &gh.client,
        gh.clock.as_ref(),
        &plan,
        cells,
        issue,
        &git_ref,
    )
    .await?;
    let rec = recs[0].clone();
    let run_id = rec.run_id.expect("dispatch returns with a run");
    if !wait {
        if json {
            output::print(&output::DispatchDoc {
                record: &rec,
                state: None,
                waves: if recs.len() > 1 {
                    recs.iter().collect()
                } else {
                    Vec::new()
                },
            });
        } else {
            for r in &recs {
                let wave = match (r.wave, r.waves) {
                    (Some(w), Some(n)) => format!(" (wave {w} of {n})"),
                    _ => String::new(),
                };
                outln!(
                    "dispatched {} on {}{wave}: run {} {}",
                    r.experiment,
                    r.git_ref,
                    r.run_id.unwrap_or_default(),
                    r.html_url.as_deref().unwrap_or("")
                );
            }
            if recs.len() > 1 {
                outln!("follow them with `outrun sync`: it collects each wave as it ends");
            } else {
                outln!(
                    "follow it with `outrun watch {run_id}`; collect it with `outrun collect {run_id}` or `outrun sync`"
                );
            }
        }
        return Ok(exit::OK);
    }
    if !quiet {
        errln!(
            "dispatched run {run_id} {}",
            rec.html_url.as_deref().unwrap_or("")
        );
    }
    let (code, run) = watch(gh, run_id, timeout, false, true).await?;
    let Some(run) = run.filter(|r| r.completed()) else {
        if json {
            output::print(&output::DispatchDoc {
                record: &rec,
                state: Some(RunState::Running),
                waves: Vec::new(),
            });
        } else {
            outln!("run {run_id} is still running; `outrun watch {run_id}` or `outrun sync` later");
        }
        return Ok(code);
    };
    // Without an issue anywhere, `--comment` (the default) just does not comment.
    let comment = comment && pipeline::comment_issue(&plan, rec.issue).is_some();
    let opts = github::CollectOptions {
        comment,
        ..Default::default()
    };
    let (c, _) = github::collect(root, &gh.client, &run, &opts).await?;
    print_collected(&c, None, json);
    Ok(collected_code(&c))
}

fn collected_code(c: &github::Collected) -> u8 {
    let all_ok = c.report.as_ref().is_some_and(|r| r.summary.all_ok());
    if c.conclusion == Some(Conclusion::Cancelled) {
        exit::INTERRUPTED
    } else if all_ok && c.refused.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    }
}

fn print_collected(c: &github::Collected, landed: Option<&github::Landed>, json: bool) {
    if json {
        output::print(&output::CollectDoc::Collected {
            collected: c,
            landed,
            report: c.report.as_ref(),
        });
        return;
    }
    out!("{}", c.markdown);
    if let Some(why) = &c.comment_skipped {
        errln!("the comment was left as it is: {}", shown(why));
    }
    for r in &c.refused {
        errln!(
            "artifact {} was not merged: {}",
            shown(&r.artifact),
            shown(&r.reason)
        );
    }
    errln!(
        "collected run {} ({}): {} artifact(s); {}: {} rows added, {} in all{}",
        c.run_id,
        c.conclusion.as_ref().map_or("?", Conclusion::as_str),
        c.artifacts,
        c.merge.path,
        c.merge.rows_added,
        c.merge.rows_total,
        c.comment_url
            .as_deref()
            .map(|u| format!("; comment {u}"))
            .unwrap_or_default()
    );
    if let Some(l) = landed {
        match (&l.pull_url, &l.action_needed, &l.branch) {
            (_, Some(a), _) => errln!("{a}"),
            (Some(u), _, _) => errln!("landed: pull request {u}"),
            (None, None, Some(b)) if l.how != github::LandedHow::None => {
                errln!("landed: {} on branch {b}", l.how.as_str())
            }
            _ => errln!("landed: nothing new ({})", l.how.as_str()),
        }
    }
}

/// "landed on …": where a collected run's rows went.
fn landed_where(l: &github::Landed) -> String {
    match (&l.pull_url, &l.action_needed, &l.branch) {
        (Some(u), _, _) => format!("landed in pull request {}", shown(u)),
        (_, Some(a), _) => format!("landed, but: {}", shown(a)),
        (None, None, Some(b)) if l.how != github::LandedHow::None => {
            format!("landed on branch {}", shown(b))
        }
        _ => format!("to land: nothing new ({})", l.how.as_str()),
    }
}

/// Follows a run; returns the exit status and the last state seen.
async fn watch(
    gh: &Gh,
    run_id: u64,
    timeout: Option<Duration>,
    json: bool,
    quiet: bool,
) -> Result<(u8, Option<outrun::github_api::Run>)> {
    let show = !quiet;
    let watched = github::watch(&gh.client, gh.clock.as_ref(), run_id, timeout, |r| {
        if show {
            errln!("run {}: {}", r.id, run_state(r));
        }
    })
    .await?;
    let (code, run, state) = match watched {
        github::Watched::Completed(r) => (
            conclusion_code(r.conclusion.as_ref()),
            r,
            RunState::Completed,
        ),
        github::Watched::StillRunning(r) => (exit::STILL_RUNNING, r, RunState::Running),
    };
    if json {
        output::print(&output::WatchDoc {
            state,
            run: &run,
            requests: gh.client.stats(),
        });
    } else if !quiet {
        outln!("run {}: {} {}", run.id, run_state(&run), run.html_url);
    }
    Ok((code, Some(run)))
}

/// What `outrun collect` was asked to do.
struct CollectHow<'a> {
    comment: bool,
    issue: Option<u64>,
    artifacts: Option<&'a Path>,
    cells: Option<&'a str>,
    wave: Option<usize>,
    land: bool,
    summary: Option<&'a Path>,
}

async fn collect(
    root: &Path,
    gh: &Gh,
    run_id: u64,
    how: &CollectHow<'_>,
    json: bool,
) -> Result<u8> {
    let CollectHow {
        comment,
        issue,
        artifacts,
        cells,
        wave,
        land,
        summary,
    } = *how;
    let run = gh.client.run(run_id).await?;
    // The workflow's own final job collects its run while the run is still going.
    let in_run = artifacts.is_some()
        && std::env::var("GITHUB_RUN_ID").is_ok_and(|id| id == run_id.to_string());
    if !run.completed() && !in_run {
        if json {
            output::print(&output::CollectDoc::Running {
                state: RunState::Running,
                run: &run,
            });
        } else {
            outln!(
                "run {run_id} is {}: nothing to collect yet (`outrun watch {run_id}`)",
                run.status
                    .as_ref()
                    .map_or("not finished", RunStatus::as_str)
            );
        }
        return Ok(exit::STILL_RUNNING);
    }
    let opts = github::CollectOptions {
        cells,
        wave,
        comment,
        issue,
        artifacts_dir: artifacts,
        in_run,
        land,
        locked: false,
    };
    let (c, landed) = github::collect(root, &gh.client, &run, &opts).await?;
    if let Some(path) = summary {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("appending to {}", path.display()))?;
        f.write_all(c.markdown.as_bytes())
            .with_context(|| format!("appending to {}", path.display()))?;
    }
    print_collected(&c, landed.as_ref(), json);
    // The final job's own status says whether it landed the results; failed cells already
    // show as failed jobs of the run.
    match &landed {
        Some(l) if l.action_needed.is_some() => Ok(exit::FAILED),
        Some(_) => Ok(exit::OK),
        None => Ok(collected_code(&c)),
    }
}

/// The cells of `run` to run again, as a `cells` filter.
async fn failed_cells(root: &Path, gh: &Gh, name: &str, run_id: u64) -> Result<String> {
    let plan = experiment::load_named(root, name)?;
    let failed = github::failed_cells(root, &gh.client, &plan, run_id).await?;
    if let Some(note) = &failed.note {
        eprintln!("{note}");
    }
    let ids = failed.cells;
    if ids.is_empty() {
        bail!("run {run_id} has no failed, timed-out or cancelled cells of `{name}` to run again");
    }
    errln!(
        "running again {} cell(s) that did not succeed in run {run_id}",
        ids.len()
    );
    Ok(ids.join(","))
}

async fn rerun(root: &Path, gh: &Gh, run_id: u64, json: bool) -> Result<u8> {
    let run = gh.client.run(run_id).await?;
    let plan = github::plan_of(root, &run)?;
    if !run.completed() {
        bail!(
            "run {run_id} is still {}: only a finished run can be re-run",
            run.status.as_ref().map_or("going", RunStatus::as_str)
        );
    }
    gh.client.rerun_failed_jobs(run_id).await?;
    if json {
        output::print(&output::RerunDoc {
            experiment: plan.name(),
            run_id,
            attempt: run.attempt() + 1,
            html_url: &run.html_url,
        });
    } else {
        outln!(
            "re-running the failed jobs of {} run {run_id} as attempt {}: {}",
            plan.name(),
            run.attempt() + 1,
            run.html_url
        );
        outln!(
            "follow it with `outrun watch {run_id}`; its results merge with the first attempt's when collected"
        );
    }
    Ok(exit::OK)
}

/// `--wave N` (a workflow input: empty means none).
fn parse_wave(wave: Option<&str>) -> Result<Option<usize>, CliError> {
    match wave.map(str::trim) {
        None | Some("") => Ok(None),
        Some(w) => w
            .parse::<usize>()
            .ok()
            .filter(|w| *w >= 1)
            .map(Some)
            .ok_or_else(|| CliError::Usage(format!("--wave {w:?}: a wave is a number from 1"))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn announce(
    root: &Path,
    gh: &Gh,
    run_id: u64,
    issue: u64,
    cells: Option<&str>,
    wave: Option<usize>,
    actor: &str,
    json: bool,
) -> Result<u8> {
    // The run from GitHub: its start orders the comments of overlapping runs, whenever this
    // job gets to post.
    let run = gh.client.run(run_id).await?;
    let plan = match std::env::var("OUTRUN_EXPERIMENT").ok() {
        Some(n) => experiment::load_named(root, &n)?,
        None => github::plan_of(root, &run)?,
    };
    let cells = cells.filter(|c| !c.trim().is_empty());
    // Refuses a filter that selects nothing, as before; a wave counts its own cells only.
    let mut selected = select(&plan, cells)?.len();
    let mut info = github::run_info(&run);
    info.wave = github::wave_before_jobs(&plan, &run, cells, wave);
    if let Some(n) = info.wave.as_ref().and_then(|w| w.cells_of(w.wave)) {
        selected = n;
    }
    let posted = github::announce(&gh.client, &plan, &info, issue, actor, selected, None).await?;
    if json {
        output::print(&output::AnnounceDoc {
            experiment: plan.name(),
            run_id,
            issue,
            comment_url: posted.url.as_deref(),
            comment_skipped: posted.skipped.as_deref(),
        });
    } else {
        match (&posted.url, &posted.skipped) {
            (Some(u), _) => outln!("{}", shown(u)),
            (None, Some(why)) => outln!("the comment was left as it is: {}", shown(why)),
            (None, None) => outln!("the comment was posted but is not listed yet"),
        }
    }
    Ok(exit::OK)
}

/// `watch --comment`: keeps the experiment's comment at "k of n cells done" until the run ends.
async fn watch_comment(
    root: &Path,
    gh: &Gh,
    run_id: u64,
    issue: Option<u64>,
    timeout: Option<Duration>,
    quiet: bool,
) -> Result<()> {
    github::watch_comment(
        root,
        &gh.client,
        gh.clock.as_ref(),
        run_id,
        issue,
        timeout,
        |done, cells| {
            if !quiet {
                errln!("run {run_id}: {done} of {cells} cells done");
            }
        },
    )
    .await?;
    Ok(())
}

async fn sync(root: &Path, gh: &Gh, comment: bool, land: bool, json: bool) -> Result<u8> {
    use github::SyncState;
    let synced = github::sync(root, &gh.client, comment, land).await?;
    let items = &synced.runs;
    let running = items
        .iter()
        .filter(|i| i.state == SyncState::Running)
        .count();
    let bad = items
        .iter()
        .filter(|i| {
            matches!(i.state, SyncState::Failed | SyncState::Lost)
                || i.cells_failed.unwrap_or(0) > 0
        })
        .count();
    if json {
        output::print(&output::SyncDoc {
            runs: items,
            held: &synced.held,
            requests: gh.client.stats(),
        });
    } else {
        if items.is_empty() {
            outln!(
                "nothing to collect: every finished outrun run is collected (see each dataset's .runs.csv)"
            );
        }
        for i in items {
            let what = match i.state {
                SyncState::Collected => format!(
                    "collected: {} ok, {} failed, {} rows {}{}{}",
                    i.cells_ok.unwrap_or(0),
                    i.cells_failed.unwrap_or(0),
                    i.rows_added.unwrap_or(0),
                    i.landed.as_ref().map_or("added".into(), landed_where),
                    i.comment_url
                        .as_deref()
                        .map(|u| format!(", comment {u}"))
                        .unwrap_or_default(),
                    i.comment_skipped
                        .as_deref()
                        .map(|w| format!(", comment left as it is: {w}"))
                        .unwrap_or_default()
                ),
                SyncState::Running => format!("still {}", i.status.as_deref().unwrap_or("running")),
                SyncState::Skipped => format!(
                    "skipped, never merged: {}",
                    shown(i.error.as_deref().unwrap_or(""))
                ),
                SyncState::Lost => format!("lost: {}", shown(i.error.as_deref().unwrap_or(""))),
                SyncState::Failed => {
                    format!("failed: {}", shown(i.error.as_deref().unwrap_or("")))
                }
            };
            outln!(
                "{} run {} — {what}",
                i.experiment,
                i.run_id
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "?".into())
            );
        }
        for h in &synced.held {
            outln!(
                "{} run {} — collected already; its rows wait on branch {}{}",
                h.experiment,
                h.run_id,
                shown(&h.branch),
                h.pull_url
                    .as_deref()
                    .map(|u| format!(" (pull request {})", shown(u)))
                    .unwrap_or_else(|| " (no pull request open)".into())
            );
        }
    }
    Ok(if bad > 0 {
        exit::FAILED
    } else if running > 0 {
        exit::STILL_RUNNING
    } else {
        exit::OK
    })
}

async fn status(root: &Path, gh: &Gh, target: Option<&str>, json: bool) -> Result<u8> {
    if let Some(run_id) = target.and_then(|t| parse_run(t).ok()) {
        let run = gh.client.run(run_id).await?;
        let jobs = gh.client.jobs(run_id).await?;
        if json {
            output::print(&output::StatusDoc::Run {
                run: &run,
                jobs: &jobs,
            });
        } else {
            outln!(
                "run {} {}: {} {}",
                run.id,
                run.display_title,
                run_state(&run),
                run.html_url
            );
            for j in &jobs {
                outln!(
                    "  {:<40} {}{}",
                    j.name,
                    j.status.as_ref().map_or("?", RunStatus::as_str),
                    j.conclusion
                        .as_ref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
            }
        }
        return Ok(exit::OK);
    }
    let plans: Vec<Plan> = match target {
        Some(n) => vec![experiment::load_named(root, n)?],
        None => experiment::experiment_files(root)?
            .iter()
            .filter_map(|p| experiment::load(root, p).ok())
            .collect(),
    };
    let mut all = Vec::new();
    for plan in plans {
        let name = plan.name();
        if !root.join(names::workflow_path(name)).is_file() {
            continue;
        }
        let collected_runs = github::CollectedRuns::load(root, &gh.client, &plan).await?;
        for run in gh
            .client
            .runs(&names::workflow_file(name), None, 10)
            .await?
        {
            let collected = collected_runs.contains(&run);
            if !json {
                outln!(
                    "{name:<28} run {:<12} {:<12} {:<10} {}{}",
                    run.id,
                    run.status.as_ref().map_or("?", RunStatus::as_str),
                    run.conclusion.as_ref().map_or("", Conclusion::as_str),
                    if collected { "collected" } else { "" },
                    if run.completed() && !collected {
                        "not collected: `outrun sync`"
                    } else {
                        ""
                    }
                );
            }
            all.push(output::StatusRun {
                experiment: name.to_string(),
                run,
                collected,
            });
        }
    }
    if json {
        output::print(&output::StatusDoc::Runs { runs: &all });
    } else if all.is_empty() {
        outln!("no outrun runs on GitHub yet");
    }
    Ok(exit::OK)
}

/// `outrun compare FILE`: load the declaration (and its datasets), compute, write the outputs.
fn compare(root: &Path, file: &Path, out: Option<&Path>, json: bool) -> Result<u8> {
    use outrun::compare::{cross, decl, render};
    let loaded = decl::load(root, file)?;
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => root.join(loaded.out_dir()),
    };
    let c = cross::compute(&loaded);
    let files = render::write_all(&dir, &c)?;
    if json {
        output::print(&output::CompareDoc {
            out: &dir,
            files: &files,
            comparison: &c,
        });
    } else {
        out!("{}", render::summary_text(&c));
        let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        outln!("wrote {}", shown(&dir));
        for f in &files {
            outln!("  {}", shown(f));
        }
    }
    Ok(exit::OK)
}

fn list(root: &Path, json: bool) -> Result<u8> {
    let mut experiments = Vec::new();
    for path in experiment::experiment_files(root)? {
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        experiments.push(match experiment::load(root, &path) {
            Ok(p) => output::ListEntry::Valid {
                name: p.name().to_string(),
                path: rel,
                valid: true,
                description: p.file.description.lines().next().unwrap_or("").to_string(),
                cells: p.cells.len(),
                issue: p.file.issue,
                workflow: workflow::workflow_path(p.name()),
                dataset: p.dataset_path(),
            },
            Err(e) => output::ListEntry::Invalid {
                name: rel.file_stem().map(|s| s.to_string_lossy().into_owned()),
                path: rel,
                valid: false,
                error: e.to_string(),
            },
        });
    }
    let doc = output::List { experiments };
    if json {
        output::print(&doc);
    } else {
        doc.human();
    }
    Ok(exit::OK)
}

fn select(plan: &Plan, filter: Option<&str>) -> Result<Vec<experiment::Cell>> {
    Ok(match filter {
        Some(f) => Filter::parse(f)?.select(&plan.cells, &plan.param_names())?,
        None => plan.cells.clone(),
    })
}

fn plan(root: &Path, name: &str, filter: Option<&str>, json: bool) -> Result<u8> {
    let p = experiment::load_named(root, name)?;
    let cells = select(&p, filter)?;
    let wf = workflow::workflow_path(p.name());
    // The workflow and its cells file are one state: the worse of the two.
    let mut state = output::WorkflowState::UpToDate;
    for (path, rendered) in workflow::render_all(root, &p)? {
        match workflow::check(root, &path, &rendered)? {
            workflow::Drift::UpToDate => {}
            workflow::Drift::Missing => state = output::WorkflowState::Missing,
            workflow::Drift::Stale { .. } if state == output::WorkflowState::UpToDate => {
                state = output::WorkflowState::Stale
            }
            workflow::Drift::Stale { .. } => {}
        }
    }
    let packing = workflow::packing(&p);
    let doc = output::PlanDoc {
        experiment: p.name().to_string(),
        path: p.path.clone(),
        description: p.file.description.clone(),
        command: p.file.command.clone(),
        timeout_s: p.timeout.as_secs(),
        dataset: p.dataset_path(),
        workflow: output::PlanWorkflow {
            path: wf,
            state,
            jobs: packing.jobs,
            cells_per_job: packing.cells_per_job,
            runs_on: p.file.runner.labels.clone(),
            waves: packing.waves,
            job_timeout_minutes: workflow::pack::job_timeout_minutes(
                packing.cells_per_job,
                p.timeout,
                p.job_limit,
            ),
        },
        cells: cells
            .into_iter()
            .map(|c| output::PlanCell {
                id: c.id,
                params: output::Params(c.params),
            })
            .collect(),
        cells_total: p.cells.len(),
    };
    if json {
        output::print(&doc);
    } else {
        doc.human(&p.param_names());
    }
    Ok(exit::OK)
}

/// The named experiments' files, or every experiment file.
fn files(root: &Path, names: &[String]) -> Result<Vec<PathBuf>> {
    if names.is_empty() {
        return Ok(experiment::experiment_files(root)?);
    }
    let all = experiment::experiment_files(root)?;
    names
        .iter()
        .map(|n| {
            match all
                .iter()
                .find(|p| p.file_stem().is_some_and(|s| s == n.as_str()))
            {
                Some(p) => Ok(p.clone()),
                None => Err(experiment::load_named(root, n)
                    .err()
                    .map(CliError::from)
                    .unwrap_or_else(|| anyhow::anyhow!("no experiment `{n}`").into())),
            }
        })
        .collect()
}

fn validate(root: &Path, names: &[String], json: bool) -> Result<u8> {
    let paths = files(root, names)?;
    if paths.is_empty() {
        bail!(
            "no experiment files in {}",
            root.join(experiment::EXPERIMENTS_DIR).display()
        );
    }
    let mut files = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        match experiment::load(root, path) {
            Ok(p) => {
                let warnings = workflow::limit_warnings(&p);
                if !json {
                    for w in &warnings {
                        errln!("warning: {}: {w}", rel.display());
                    }
                }
                files.push(output::ValidatedFile {
                    path: rel,
                    ok: true,
                    cells: Some(p.cells.len()),
                    problems: Vec::new(),
                    warnings,
                })
            }
            Err(e) => {
                let problems = match &e {
                    ExperimentError::Invalid(f) => output::Problem::of_file(f),
                    other => vec![output::Problem::whole_file(rel.clone(), other.to_string())],
                };
                files.push(output::ValidatedFile {
                    path: rel,
                    ok: false,
                    cells: None,
                    problems,
                    warnings: Vec::new(),
                });
                if !json {
                    errln!("{:?}", miette::Report::new(e));
                }
            }
        }
    }
    // Two experiments writing one dataset would replace each other's rows (or mix two layouts in
    // one file): checked across every experiment of the project, whichever were named.
    let all: Vec<Plan> = experiment::experiment_files(root)?
        .iter()
        .filter_map(|f| experiment::load(root, f).ok())
        .collect();
    for (dataset, experiments) in outrun::dataset::shared_paths(&all) {
        let message = format!(
            "experiments {} all write {}: their rows would replace each other's; give each its own `dataset.path`",
            experiments.join(", "),
            dataset.display()
        );
        for f in files.iter_mut() {
            let stem = f
                .path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            if experiments.contains(&stem) && f.ok {
                f.ok = false;
                f.problems = vec![output::Problem::whole_file(f.path.clone(), message.clone())];
                if !json {
                    errln!("error: {}: {message}", f.path.display());
                }
            }
        }
    }
    let doc = output::Validate {
        ok: files.iter().all(|f| f.ok),
        files,
    };
    if json {
        output::print(&doc);
    } else {
        doc.human();
    }
    Ok(if doc.ok { exit::OK } else { exit::FAILED })
}

/// Keeps `.github/actionlint.yaml` listing the experiments' self-hosted runner labels (entry
/// with no experiment in `outrun.generate/v1`); `None` when no label needs one.
fn actionlint_config(
    root: &Path,
    labels: &[String],
    check: bool,
    json: bool,
) -> Result<Option<output::GeneratedWorkflow>> {
    use workflow::actionlint;
    let needed = actionlint::needed(labels);
    let rel = actionlint::path(root);
    let existing = match std::fs::read_to_string(root.join(&rel)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(rel.display().to_string())
                .into());
        }
    };
    if needed.is_empty() {
        return Ok(None);
    }
    let merged =
        actionlint::merge(&rel, existing.as_deref(), &needed).map_err(anyhow::Error::from)?;
    let state = match (&merged, check, existing.is_some()) {
        (None, true, _) => GenerateState::UpToDate,
        (None, false, _) => GenerateState::Unchanged,
        (Some(_), true, false) => GenerateState::Missing,
        (Some(_), true, true) => GenerateState::Stale,
        (Some(text), false, _) => {
            outrun::fsutil::write_atomic(&root.join(&rel), text.as_bytes())?;
            GenerateState::Written
        }
    };
    if !json && matches!(state, GenerateState::Missing | GenerateState::Stale) {
        errln!(
            "{} does not list the self-hosted runner labels {} (actionlint would reject them): run `outrun generate`",
            rel.display(),
            needed.join(", ")
        );
    }
    Ok(Some(output::GeneratedWorkflow {
        experiment: None,
        path: rel,
        state,
        diff: None,
    }))
}

/// `outrun init`: refuses (exit 1, writing nothing) when any file it would create exists.
fn init(root: &Path, json: bool) -> Result<u8> {
    use outrun::init;
    let existing = init::existing(root);
    let created: Vec<PathBuf> = init::files().into_iter().map(|(p, _)| p).collect();
    let next = [
        format!("outrun run {} --local", init::EXAMPLE),
        format!(
            "git add {} .gitignore && git commit -m \"outrun: example experiment\" && git push",
            ["experiments", "scripts", "data", ".github"].join(" ")
        ),
        format!("outrun dispatch {} --wait", init::EXAMPLE),
    ];
    if !existing.is_empty() {
        let doc = output::Init {
            ok: false,
            existing,
            created: Vec::new(),
            gitignore_added: Vec::new(),
            next: Vec::new(),
        };
        if json {
            output::print(&doc);
        } else {
            for p in &doc.existing {
                errln!("{} already exists", p.display());
            }
            errln!(
                "outrun init wrote nothing: it never overwrites a file (move these away, or start from them)"
            );
        }
        return Ok(exit::FAILED);
    }
    let added = init::write(root)?;
    let p = experiment::load_named(root, init::EXAMPLE)?;
    let mut all = created;
    for (path, text) in workflow::render_all(root, &p)? {
        workflow::write(root, &path, &text)?;
        all.push(path);
    }
    let doc = output::Init {
        ok: true,
        existing: Vec::new(),
        created: all,
        gitignore_added: added.iter().map(|s| s.to_string()).collect(),
        next: next.to_vec(),
    };
    if json {
        output::print(&doc);
    } else {
        for p in &doc.created {
            outln!("{:<9} {}", "created", p.display());
        }
        if !doc.gitignore_added.is_empty() {
            outln!(
                "{:<9} .gitignore ({})",
                "added to",
                doc.gitignore_added.join(", ")
            );
        }
        outln!("\nNext:");
        for c in &doc.next {
            outln!("  {c}");
        }
    }
    Ok(exit::OK)
}

fn generate(root: &Path, names: &[String], check: bool, prune: bool, json: bool) -> Result<u8> {
    let mut out = Vec::new();
    let mut drifted = 0;
    let mut expected = Vec::new();
    let mut labels = Vec::new();
    // What was written or removed, printed once every file is: a failing stdout ends the
    // command, and must not end it between a workflow and its cells file.
    let mut done_lines = Vec::new();
    for path in files(root, names)? {
        let p = experiment::load(root, &path)?;
        labels.extend(p.file.runner.labels.iter().cloned());
        // The workflow and its cells file: each checked, written and reported on its own.
        for (wf, rendered) in workflow::render_all(root, &p)? {
            expected.push(wf.clone());
            let drift = workflow::check(root, &wf, &rendered)?;
            let (state, diff) = match drift {
                workflow::Drift::UpToDate if check => (GenerateState::UpToDate, None),
                workflow::Drift::Missing if check => (GenerateState::Missing, None),
                workflow::Drift::Stale { diff } if check => (GenerateState::Stale, Some(diff)),
                workflow::Drift::UpToDate => (GenerateState::Unchanged, None),
                workflow::Drift::Missing | workflow::Drift::Stale { .. } => {
                    workflow::write(root, &wf, &rendered)?;
                    (GenerateState::Written, None)
                }
            };
            if matches!(state, GenerateState::Missing | GenerateState::Stale) {
                drifted += 1;
                if !json {
                    match &diff {
                        Some(d) => err!("{d}"),
                        None => errln!("{} is missing", wf.display()),
                    }
                }
            } else if !check && !json {
                done_lines.push(format!("{:<9} {}", state.as_str(), wf.display()));
            }
            out.push(output::GeneratedWorkflow {
                experiment: Some(p.name().to_string()),
                path: wf,
                state,
                diff,
            });
        }
    }
    if let Some(w) = actionlint_config(root, &labels, check, json)? {
        if matches!(w.state, GenerateState::Missing | GenerateState::Stale) {
            drifted += 1;
        } else if !check && !json {
            done_lines.push(format!("{:<9} {}", w.state.as_str(), w.path.display()));
        }
        out.push(w);
    }
    // A generated workflow whose experiment is gone would still run on GitHub: say so (a
    // failure under --check), or delete it with --prune.
    if names.is_empty()
        && let Ok(entries) = std::fs::read_dir(root.join(".github/workflows"))
    {
        let mut orphans: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| names::experiment_of_generated(n).is_some())
            .map(|n| Path::new(".github/workflows").join(n))
            .filter(|rel| !expected.contains(rel))
            .collect();
        orphans.sort();
        for rel in orphans {
            let state = if prune {
                std::fs::remove_file(root.join(&rel))
                    .with_context(|| format!("removing {}", rel.display()))?;
                if !json {
                    done_lines.push(format!("{:<9} {}", "removed", rel.display()));
                }
                GenerateState::Removed
            } else {
                if check {
                    drifted += 1;
                }
                if !json {
                    errln!(
                        "{} has no experiment file any more: delete it, or run `outrun generate --prune`",
                        rel.display()
                    );
                }
                GenerateState::Orphaned
            };
            out.push(output::GeneratedWorkflow {
                experiment: None,
                path: rel,
                state,
                diff: None,
            });
        }
    }
    for line in done_lines {
        outln!("{line}");
    }
    let doc = output::Generate {
        check,
        ok: drifted == 0,
        workflows: out,
    };
    if json {
        output::print(&doc);
    } else if check && drifted > 0 {
        errln!("{drifted} workflow(s) out of date: run `outrun generate` and commit the result");
    } else if check {
        outln!("{} workflow(s) up to date", doc.workflows.len());
    }
    Ok(if doc.ok { exit::OK } else { exit::FAILED })
}

async fn run(root: &Path, args: RunArgs, json: bool, quiet: bool) -> Result<u8> {
    if !args.local {
        return Err(CliError::Usage(format!(
            "say where to run: `outrun run {0} --local` runs the cells on this machine; `outrun dispatch {0}` runs them on GitHub Actions",
            args.name
        )));
    }
    let plan = experiment::load_named(root, &args.name)?;
    let cells = select(&plan, args.cells.as_deref())?;
    let jobs = args.jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let run_id = local::new_run_id();
    let run_dir = local::runs_dir(root, plan.name()).join(&run_id);
    let opts = local::LocalOptions {
        root: root.to_path_buf(),
        run_dir: run_dir.clone(),
        run_id: run_id.clone(),
        jobs,
    };

    // Ctrl-C, and what `timeout`, a CI cancel, `docker stop` or a closed terminal send
    // (SIGTERM, SIGHUP): each stops every cell's process group and leaves the dataset alone.
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let mut signals = Vec::new();
    for kind in [
        tokio::signal::unix::SignalKind::interrupt(),
        tokio::signal::unix::SignalKind::terminate(),
        tokio::signal::unix::SignalKind::hangup(),
    ] {
        signals.push(tokio::signal::unix::signal(kind).context("cannot listen for signals")?);
    }
    tokio::spawn(async move {
        let waits = signals.iter_mut().map(|s| Box::pin(s.recv()));
        let _ = futures_select_any(waits).await;
        let _ = cancel_tx.send(true);
        // After the cells, the same signal stops the merge before its rename.
        outrun::fsutil::request_stop();
    });
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let progress = tokio::spawn(show_progress(ev_rx, cells.len(), quiet));
    let result = local::run(&plan, &cells, &opts, cancel_rx, ev_tx).await;
    let _ = progress.await;
    let local_run = result?;

    if local_run.interrupted {
        let done = local_run
            .records
            .iter()
            .filter(|r| r.status != CellStatus::Cancelled)
            .count();
        errln!(
            "interrupted: {done} of {} cells had finished; the dataset was not changed. Outputs: {}",
            cells.len(),
            run_dir.display()
        );
        if json {
            output::print(&output::RunDoc {
                run_id: &run_id,
                run_dir: &run_dir,
                interrupted: true,
                merge: None,
                report: None,
            });
        }
        return Ok(exit::INTERRUPTED);
    }
    let done = pipeline::finish(pipeline::Finish {
        root,
        plan: &plan,
        // Each cell's output is the folder this run made for it, and nothing else in the run
        // folder (a cell may leave folders of its own inside its output).
        outputs: local_run
            .records
            .iter()
            .map(|r| outrun::outputs::Positioned {
                cell: r.cell.clone(),
                dir: run_dir.join(&r.cell),
                attempt: 1,
            })
            .filter(|o| o.dir.join(outrun::contract::CELL_JSON).is_file())
            .collect(),
        provenance: &RunProvenance::from_records(&local_run.records),
        // A cell whose folder is gone or whose record could not be written (it deleted its own
        // $OUTRUN_OUT, the disk is full) is reported from outrun's own account of it.
        missing: local_run.records.clone(),
        refused: Vec::new(),
        merge: !args.no_merge,
        report_file: Some(run_dir.join("report.md")),
    })
    .await?;
    let (merge, report, md) = (done.merge, done.report, done.markdown);
    if json {
        output::print(&output::RunDoc {
            run_id: &run_id,
            run_dir: &run_dir,
            interrupted: false,
            merge: merge.as_ref(),
            report: Some(&report),
        });
    } else {
        // A terminal gets the short form; the full report is in the run folder's report.md.
        if let Some(colour) = crate::terminal_report() {
            out!("{}", report::for_terminal(&report, colour));
            outln!("\nFull report: {}", run_dir.join("report.md").display());
        } else {
            out!("{md}");
        }
        if let Some(m) = merge.as_ref().filter(|_| !quiet) {
            errln!(
                "merged {} cell(s) into {}: {} rows added, {} replaced, {} in all{}",
                m.cells_merged,
                m.path,
                m.rows_added,
                m.rows_replaced,
                m.rows_total,
                if m.cells_skipped > 0 {
                    format!("; {} cell(s) not merged (see the report)", m.cells_skipped)
                } else {
                    String::new()
                }
            );
            merge_notes(plan.name(), m);
        }
    }
    if let Some(code) = interrupted_after_writing() {
        return Ok(code);
    }
    Ok(if report.summary.all_ok() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Waits for the first of several futures.
/// SIGINT, SIGTERM or SIGHUP from now on stops the atomic writes in progress before their
/// rename (their temporary files removed, the old files kept); the command then exits 2.
fn stop_on_signals() -> Result<()> {
    let mut signals = Vec::new();
    for kind in [
        tokio::signal::unix::SignalKind::interrupt(),
        tokio::signal::unix::SignalKind::terminate(),
        tokio::signal::unix::SignalKind::hangup(),
    ] {
        signals.push(tokio::signal::unix::signal(kind).context("cannot listen for signals")?);
    }
    tokio::spawn(async move {
        let waits = signals.iter_mut().map(|s| Box::pin(s.recv()));
        let _ = futures_select_any(waits).await;
        outrun::fsutil::request_stop();
    });
    Ok(())
}

/// The exit status of a command that wrote its files, where a signal came too late to stop
/// the write: it still says the command was interrupted.
fn interrupted_after_writing() -> Option<u8> {
    outrun::fsutil::stop_requested().then(|| {
        errln!("interrupted: the dataset had already been written");
        exit::INTERRUPTED
    })
}

async fn futures_select_any<F: std::future::Future + Unpin>(
    futs: impl Iterator<Item = F>,
) -> F::Output {
    let mut futs: Vec<F> = futs.collect();
    std::future::poll_fn(move |cx| {
        for f in futs.iter_mut() {
            if let std::task::Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

async fn show_progress(mut rx: mpsc::UnboundedReceiver<local::Event>, total: usize, quiet: bool) {
    let bar = (!quiet && crate::stderr_is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .expect("template is valid"),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let (mut done, mut failed) = (0usize, 0usize);
    // Cells cancelled before they started finish without having run.
    let mut running = std::collections::HashSet::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            local::Event::Started { cell } => {
                running.insert(cell);
            }
            local::Event::Finished { record } => {
                running.remove(&record.cell);
                done += 1;
                if record.status != CellStatus::Ok {
                    failed += 1;
                }
                if bar.is_none() && !quiet {
                    let why = record
                        .error
                        .as_deref()
                        .map(|e| format!(" ({})", shown(e)))
                        .unwrap_or_default();
                    errln!(
                        "[{done}/{total}] {} {} in {:.1} s{why}",
                        record.status.as_str(),
                        record.cell,
                        record.duration_s
                    );
                }
            }
            local::Event::Revised { record } => {
                // Shown `ok` when it finished; the report will say failed, and so does this.
                failed += 1;
                if !quiet {
                    let line = format!(
                        "[revised] {} {} ({})",
                        record.status.as_str(),
                        record.cell,
                        shown(record.error.as_deref().unwrap_or(""))
                    );
                    match &bar {
                        Some(b) => b.println(line),
                        None => errln!("{line}"),
                    }
                }
            }
        }
        if let Some(b) = &bar {
            b.set_position(done as u64);
            b.set_message(format!(
                "ok {} · failed {failed} · running {}",
                done - failed,
                running.len()
            ));
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

/// The folder of the run to merge or report on: the one named, or the newest local run.
fn run_dir_or_latest(root: &Path, plan: &Plan, named: Option<&Path>) -> Result<PathBuf> {
    match named {
        Some(p) => Ok(p.to_path_buf()),
        None => local::latest_run_dir(root, plan.name()).ok_or_else(|| {
            anyhow::anyhow!(
                "no local run of `{0}` yet: run `outrun run {0} --local` first, or name a folder",
                plan.name()
            )
            .into()
        }),
    }
}

async fn merge(root: &Path, name: &str, from: Option<&Path>, json: bool) -> Result<u8> {
    let plan = experiment::load_named(root, name)?;
    stop_on_signals()?;
    let dir = run_dir_or_latest(root, &plan, from)?;
    // Each folder holds the cell it is named for (at depth 2, under an artifact's folder).
    let outputs = outrun::outputs::positioned(&outrun::outputs::cell_dirs(&dir)?, &plan);
    let records: Vec<_> = outrun::outputs::read_cells(&outputs, &plan)
        .into_iter()
        .map(|o| o.record)
        .collect();
    if records.is_empty() {
        bail!(
            "no cell outputs of `{name}` (folders with a cell.json) under {}",
            dir.display()
        );
    }
    // Cell outputs merged by hand carry the provenance their own records give: only the user
    // can vouch for where they came from.
    let done = pipeline::finish(pipeline::Finish {
        root,
        plan: &plan,
        outputs,
        provenance: &RunProvenance::from_records(&records),
        missing: Vec::new(),
        refused: Vec::new(),
        merge: true,
        report_file: None,
    })
    .await
    .with_context(|| format!("merging {}", dir.display()))?;
    let (outcomes, summary) = (done.outcomes, done.merge.unwrap_or_default());
    if json {
        output::print(&output::MergeDoc::Merged {
            from: &dir,
            summary: &summary,
            cells: outcomes
                .iter()
                .map(|o| output::MergedCell {
                    id: &o.record.cell,
                    status: o.record.status,
                    error: o.record.error.as_deref(),
                })
                .collect(),
        });
    } else {
        for o in outcomes.iter().filter(|o| !o.ok()) {
            errln!(
                "not merged: {} ({}): {}",
                o.record.cell,
                o.record.status.as_str(),
                shown(o.record.error.as_deref().unwrap_or(""))
            );
        }
        outln!(
            "{}: {} cell(s) merged, {} not; {} rows added, {} replaced, {} in all{}",
            summary.path,
            summary.cells_merged,
            summary.cells_skipped,
            summary.rows_added,
            summary.rows_replaced,
            summary.rows_total,
            if summary.changed { "" } else { " (unchanged)" }
        );
        merge_notes(name, &summary);
    }
    if let Some(code) = interrupted_after_writing() {
        return Ok(code);
    }
    Ok(if summary.cells_skipped == 0 {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// What a merge summary's numbers do not say by themselves.
fn merge_notes(name: &str, summary: &outrun::dataset::MergeSummary) {
    if summary.rows_older_ignored > 0 {
        errln!(
            "{} row(s) not merged: the dataset has a newer run's row for their key",
            summary.rows_older_ignored
        );
    }
    if summary.rows_duplicated > 0 {
        errln!(
            "{}: {} row(s) repeat the key and run of an earlier line (a hand edit?): the later line counts, in reports and for `outrun merge {name} --migrate`, which keeps only it",
            summary.path,
            summary.rows_duplicated
        );
    }
    if summary.several_runs_per_key {
        errln!(
            "{} keeps several runs' rows for some keys (written before `history: newest` was the default): `outrun merge {name} --migrate` keeps only the newest, or set `dataset.history: all`",
            summary.path
        );
    }
}

/// `merge NAME --migrate`: one row per key, the newest run's, under the dataset's lock.
fn migrate(root: &Path, name: &str, json: bool) -> Result<u8> {
    let plan = experiment::load_named(root, name)?;
    stop_on_signals()?;
    let summary = {
        let _lock = outrun::dataset::lock(root, &plan)?;
        outrun::dataset::merge_with(root, &plan, &[], "", outrun::dataset::Mode::Migrate)?
    };
    if json {
        output::print(&output::MergeDoc::Migrated {
            migrate: true,
            summary: &summary,
        });
    } else {
        outln!(
            "{}: {} older row(s) dropped, {} in all{}",
            summary.path,
            summary.rows_replaced,
            summary.rows_total,
            if summary.changed { "" } else { " (unchanged)" }
        );
    }
    Ok(exit::OK)
}

fn report_cmd(
    root: &Path,
    name: &str,
    run: Option<&Path>,
    format: Format,
    output: Option<&Path>,
) -> Result<u8> {
    let plan = experiment::load_named(root, name)?;
    // Without a run folder (none named, none local) the report covers the dataset alone.
    let outcomes = match run_dir_or_latest(root, &plan, run) {
        // Statuses only: the rows are checked cell by cell (a bad one fails its cell, as in a
        // merge) and dropped, so a run of millions of rows costs what its largest cell does.
        Ok(dir) => outrun::outputs::read_statuses(&dir, &plan)
            .with_context(|| format!("reading {}", dir.display()))?,
        Err(_) if run.is_none() => Vec::new(),
        Err(e) => return Err(e),
    };
    let records: Vec<_> = outcomes.iter().map(|o| o.record.clone()).collect();
    let info =
        (!records.is_empty()).then(|| report::RunInfo::of(&RunProvenance::from_records(&records)));
    let report: Report = pipeline::build_report(root, &plan, &outcomes, info, Vec::new())?;
    // A terminal gets the short form (a 2 M-row dataset must not scroll by); a file or a pipe
    // (`| gh issue comment`) the full comment.
    let terminal = output.is_none().then(crate::terminal_report).flatten();
    let text = match (format, terminal) {
        (Format::Markdown, Some(colour)) => report::for_terminal(&report, colour),
        (Format::Markdown, None) => report::markdown(&report),
        (Format::Json, _) => {
            serde_json::to_string_pretty(&report).expect("reports serialise") + "\n"
        }
    };
    match output {
        Some(path) => outrun::fsutil::write_atomic(path, text.as_bytes())?,
        None => out!("{text}"),
    }
    Ok(exit::OK)
}
