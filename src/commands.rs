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
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Github(e) if e.is_auth() => exit::AUTH,
            CliError::Remote(e) if e.is_auth() => exit::AUTH,
            CliError::Pipeline(e) if e.is_auth() => exit::AUTH,
            _ => exit::FAILED,
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
            crate::cli::completions(shell, &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man { out } => {
            match out {
                Some(dir) => {
                    let pages = crate::cli::man_pages(&dir)
                        .with_context(|| format!("writing man pages to {}", dir.display()))?;
                    if !json {
                        for p in pages {
                            println!("{}", p.display());
                        }
                    }
                }
                None => {
                    crate::cli::man_page(&mut std::io::stdout()).context("writing the man page")?
                }
            }
            Ok(exit::OK)
        }
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
            gh,
        } => {
            let gh = connect(gh)?;
            announce(
                root,
                &gh,
                parse_run(&run)?,
                issue,
                cells.as_deref(),
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
            land,
            summary,
            gh,
        } => {
            let gh = connect(gh)?;
            let how = CollectHow {
                comment,
                issue,
                artifacts: artifacts.as_deref(),
                cells: cells.as_deref(),
                land,
                summary: summary.as_deref(),
            };
            collect(root, &gh, parse_run(&run)?, &how, json).await
        }
        Command::Sync { no_comment, gh } => sync(root, &connect(gh)?, !no_comment, json).await,
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
    let rec = github::dispatch(
        root,
        &gh.client,
        gh.clock.as_ref(),
        &plan,
        cells,
        issue,
        &git_ref,
    )
    .await?;
    let run_id = rec.run_id.expect("dispatch returns with a run");
    if !wait {
        if json {
            output::print(&output::DispatchDoc {
                record: &rec,
                state: None,
            });
        } else {
            println!(
                "dispatched {} on {}: run {} {}",
                rec.experiment,
                rec.git_ref,
                run_id,
                rec.html_url.as_deref().unwrap_or("")
            );
            println!(
                "follow it with `outrun watch {run_id}`; collect it with `outrun collect {run_id}` or `outrun sync`"
            );
        }
        return Ok(exit::OK);
    }
    if !quiet {
        eprintln!(
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
            });
        } else {
            println!(
                "run {run_id} is still running; `outrun watch {run_id}` or `outrun sync` later"
            );
        }
        return Ok(code);
    };
    let issue = if comment {
        pipeline::comment_issue(&plan, rec.issue)
    } else {
        None
    };
    let _lock = github::lock(root)?;
    let opts = github::CollectOptions {
        cells: rec.cells.as_deref(),
        issue,
        ..Default::default()
    };
    let c = github::collect(root, &gh.client, &run, &opts).await?;
    github::mark_collected(root, &plan, &run, Some(rec.clone()))?;
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
    print!("{}", c.markdown);
    for r in &c.refused {
        eprintln!("artifact {} was not merged: {}", r.artifact, r.reason);
    }
    eprintln!(
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
            (_, Some(a), _) => eprintln!("{a}"),
            (Some(u), _, _) => eprintln!("landed: pull request {u}"),
            (None, None, Some(b)) if l.how != github::LandedHow::None => {
                eprintln!("landed: {} on branch {b}", l.how.as_str())
            }
            _ => eprintln!("landed: nothing new ({})", l.how.as_str()),
        }
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
            eprintln!("run {}: {}", r.id, run_state(r));
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
        println!("run {}: {} {}", run.id, run_state(&run), run.html_url);
    }
    Ok((code, Some(run)))
}

/// What `outrun collect` was asked to do.
struct CollectHow<'a> {
    comment: bool,
    issue: Option<u64>,
    artifacts: Option<&'a Path>,
    cells: Option<&'a str>,
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
            println!(
                "run {run_id} is {}: nothing to collect yet (`outrun watch {run_id}`)",
                run.status
                    .as_ref()
                    .map_or("not finished", RunStatus::as_str)
            );
        }
        return Ok(exit::STILL_RUNNING);
    }
    let plan = github::plan_of(root, &run)?;
    let _lock = github::lock(root)?;
    let rec = github::DispatchRecord::for_run(root, run_id);
    if let Some(reason) = github::untrusted(&gh.client, &plan, &run, rec.is_some()).await? {
        return Err(github::RemoteError::Untrusted {
            run: run_id,
            reason,
        }
        .into());
    }
    let issue = if comment {
        pipeline::comment_issue(&plan, issue.or(rec.as_ref().and_then(|r| r.issue)))
    } else {
        None
    };
    if comment && issue.is_none() {
        bail!(
            "--comment: no issue to comment on; pass --issue N or set `issue:` in the experiment"
        );
    }
    let cells = cells.or(rec.as_ref().and_then(|r| r.cells.as_deref()));
    let opts = github::CollectOptions {
        cells,
        issue,
        artifacts_dir: artifacts,
        in_run,
    };
    let (c, landed) = if land {
        let (c, l) = github::collect_and_land(root, &gh.client, &run, &opts).await?;
        (c, Some(l))
    } else {
        (github::collect(root, &gh.client, &run, &opts).await?, None)
    };
    github::mark_collected(root, &plan, &run, rec)?;
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

/// The cells of `run` to run again: those the run ledger lists as not succeeded in its newest
/// collected attempt, else the cells whose jobs did not succeed.
async fn failed_cells(root: &Path, gh: &Gh, name: &str, run_id: u64) -> Result<String> {
    let plan = experiment::load_named(root, name)?;
    let entries = outrun::dataset::ledger::read(&outrun::dataset::ledger::path_for(
        &root.join(plan.dataset_path()),
    ))?;
    let from_ledger = entries
        .iter()
        .filter(|e| e.run_id == run_id.to_string())
        .max_by_key(|e| e.attempt)
        .map(|e| e.failed_cells.clone());
    let ids: Vec<String> = match from_ledger {
        Some(cells) => cells.split_whitespace().map(str::to_string).collect(),
        None => {
            let ids: std::collections::BTreeSet<&str> =
                plan.cells.iter().map(|c| c.id.as_str()).collect();
            gh.client
                .jobs(run_id)
                .await?
                .into_iter()
                .filter(|j| ids.contains(j.name.as_str()) && j.completed() && !j.succeeded())
                .map(|j| j.name)
                .collect()
        }
    };
    if ids.is_empty() {
        bail!("run {run_id} has no failed, timed-out or cancelled cells of `{name}` to run again");
    }
    eprintln!(
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
        println!(
            "re-running the failed jobs of {} run {run_id} as attempt {}: {}",
            plan.name(),
            run.attempt() + 1,
            run.html_url
        );
        println!(
            "follow it with `outrun watch {run_id}`; its results merge with the first attempt's when collected"
        );
    }
    Ok(exit::OK)
}

/// The run as the workflow's environment describes it (no API call: the status job holds
/// `issues: write` and nothing else).
fn run_info_from_env(run_id: u64) -> report::RunInfo {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let url = match (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY")) {
        (s, r) if !s.is_empty() && !r.is_empty() => Some(format!("{s}/{r}/actions/runs/{run_id}")),
        _ => None,
    };
    report::RunInfo {
        id: run_id.to_string(),
        source: "github".into(),
        url,
        attempt: env("GITHUB_RUN_ATTEMPT").parse().unwrap_or(1),
        started_at: outrun::contract::now_rfc3339(),
        ..Default::default()
    }
}

async fn announce(
    root: &Path,
    gh: &Gh,
    run_id: u64,
    issue: u64,
    cells: Option<&str>,
    actor: &str,
    json: bool,
) -> Result<u8> {
    let name = std::env::var("OUTRUN_EXPERIMENT").ok();
    let plan = match name {
        Some(n) => experiment::load_named(root, &n)?,
        None => github::plan_of(root, &gh.client.run(run_id).await?)?,
    };
    let selected = select(&plan, cells.filter(|c| !c.trim().is_empty()))?.len();
    let info = run_info_from_env(run_id);
    let url = github::announce(&gh.client, &plan, &info, issue, actor, selected, None).await?;
    if json {
        output::print(&output::AnnounceDoc {
            experiment: plan.name(),
            run_id,
            issue,
            comment_url: url.as_deref(),
        });
    } else {
        println!(
            "{}",
            url.as_deref()
                .unwrap_or("the comment shows a newer run: left as it is")
        );
    }
    Ok(exit::OK)
}

/// `watch --comment`: keeps the experiment's comment at "k of n cells done" until the run ends
/// (or `timeout` passes); the run's report replaces it when the run is collected.
async fn watch_comment(
    root: &Path,
    gh: &Gh,
    run_id: u64,
    issue: Option<u64>,
    timeout: Option<Duration>,
    quiet: bool,
) -> Result<()> {
    let run = gh.client.run(run_id).await?;
    let plan = github::plan_of(root, &run)?;
    let rec = github::DispatchRecord::for_run(root, run_id);
    let Some(issue) = pipeline::comment_issue(&plan, issue.or(rec.as_ref().and_then(|r| r.issue)))
    else {
        bail!(
            "--comment: no issue to comment on; pass --issue N or set `issue:` in the experiment"
        );
    };
    let selected = select(&plan, rec.as_ref().and_then(|r| r.cells.as_deref()))?;
    let ids: std::collections::BTreeSet<&str> = selected.iter().map(|c| c.id.as_str()).collect();
    let info = report::RunInfo {
        id: run.id.to_string(),
        source: "github".into(),
        url: Some(run.html_url.clone()),
        attempt: run.attempt(),
        started_at: run.started_at().to_string(),
        ..Default::default()
    };
    let actor = run
        .triggering_actor
        .as_ref()
        .map(|u| u.login.clone())
        .unwrap_or_default();
    let start = std::time::Instant::now();
    let mut shown = None;
    loop {
        let run = gh.client.run(run_id).await?;
        if run.completed() {
            return Ok(());
        }
        let jobs = gh.client.jobs(run_id).await?;
        let done: Vec<_> = jobs
            .iter()
            .filter(|j| ids.contains(j.name.as_str()) && j.completed())
            .collect();
        let failed = done.iter().filter(|j| !j.succeeded()).count();
        let now = (done.len(), failed);
        if shown != Some(now) {
            github::announce(
                &gh.client,
                &plan,
                &info,
                issue,
                &actor,
                selected.len(),
                Some(now),
            )
            .await?;
            if !quiet {
                eprintln!("run {run_id}: {} of {} cells done", now.0, selected.len());
            }
            shown = Some(now);
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return Ok(());
        }
        gh.clock.sleep(github::POLL).await;
    }
}

async fn sync(root: &Path, gh: &Gh, comment: bool, json: bool) -> Result<u8> {
    use github::SyncState;
    let items = github::sync(root, &gh.client, comment).await?;
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
            runs: &items,
            requests: gh.client.stats(),
        });
    } else if items.is_empty() {
        println!(
            "nothing to collect: every finished outrun run is collected (see each dataset's .runs.csv)"
        );
    } else {
        for i in &items {
            let what = match i.state {
                SyncState::Collected => format!(
                    "collected: {} ok, {} failed, {} rows added{}",
                    i.cells_ok.unwrap_or(0),
                    i.cells_failed.unwrap_or(0),
                    i.rows_added.unwrap_or(0),
                    i.comment_url
                        .as_deref()
                        .map(|u| format!(", comment {u}"))
                        .unwrap_or_default()
                ),
                SyncState::Running => format!("still {}", i.status.as_deref().unwrap_or("running")),
                SyncState::Skipped => format!(
                    "skipped, never merged: {}",
                    i.error.as_deref().unwrap_or("")
                ),
                SyncState::Lost => format!("lost: {}", i.error.as_deref().unwrap_or("")),
                SyncState::Failed => format!("failed: {}", i.error.as_deref().unwrap_or("")),
            };
            println!(
                "{} run {} — {what}",
                i.experiment,
                i.run_id
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "?".into())
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
            println!(
                "run {} {}: {} {}",
                run.id,
                run.display_title,
                run_state(&run),
                run.html_url
            );
            for j in &jobs {
                println!(
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
                println!(
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
        println!("no outrun runs on GitHub yet");
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
        print!("{}", render::summary_text(&c));
        let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        println!("wrote {}", shown(&dir));
        for f in &files {
            println!("  {}", shown(f));
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
    let rendered = workflow::render(root, &p)?;
    let state = match workflow::check(root, &wf, &rendered)? {
        workflow::Drift::UpToDate => output::WorkflowState::UpToDate,
        workflow::Drift::Missing => output::WorkflowState::Missing,
        workflow::Drift::Stale { .. } => output::WorkflowState::Stale,
    };
    let per_job = p.cells.len().div_ceil(workflow::MAX_JOBS);
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
            jobs: p.cells.len().div_ceil(per_job),
            cells_per_job: per_job,
            runs_on: p.file.runner.labels.clone(),
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
            Ok(p) => files.push(output::ValidatedFile {
                path: rel,
                ok: true,
                cells: Some(p.cells.len()),
                problems: Vec::new(),
            }),
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
                });
                if !json {
                    eprintln!("{:?}", miette::Report::new(e));
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
                    eprintln!("error: {}: {message}", f.path.display());
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

fn generate(root: &Path, names: &[String], check: bool, prune: bool, json: bool) -> Result<u8> {
    let mut out = Vec::new();
    let mut drifted = 0;
    let mut expected = Vec::new();
    for path in files(root, names)? {
        let p = experiment::load(root, &path)?;
        let wf = workflow::workflow_path(p.name());
        expected.push(wf.clone());
        let rendered = workflow::render(root, &p)?;
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
                    Some(d) => eprint!("{d}"),
                    None => eprintln!("{} is missing", wf.display()),
                }
            }
        } else if !check && !json {
            println!("{:<9} {}", state.as_str(), wf.display());
        }
        out.push(output::GeneratedWorkflow {
            experiment: Some(p.name().to_string()),
            path: wf,
            state,
            diff,
        });
    }
    // A generated workflow whose experiment is gone would still run on GitHub: say so (a
    // failure under --check), or delete it with --prune.
    if names.is_empty()
        && let Ok(entries) = std::fs::read_dir(root.join(".github/workflows"))
    {
        let mut orphans: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| names::experiment_of_workflow(n).is_some())
            .map(|n| Path::new(".github/workflows").join(n))
            .filter(|rel| !expected.contains(rel))
            .collect();
        orphans.sort();
        for rel in orphans {
            let state = if prune {
                std::fs::remove_file(root.join(&rel))
                    .with_context(|| format!("removing {}", rel.display()))?;
                if !json {
                    println!("{:<9} {}", "removed", rel.display());
                }
                GenerateState::Removed
            } else {
                if check {
                    drifted += 1;
                }
                if !json {
                    eprintln!(
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
    let doc = output::Generate {
        check,
        ok: drifted == 0,
        workflows: out,
    };
    if json {
        output::print(&doc);
    } else if check && drifted > 0 {
        eprintln!("{drifted} workflow(s) out of date: run `outrun generate` and commit the result");
    } else if check {
        println!("{} workflow(s) up to date", doc.workflows.len());
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
        eprintln!(
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
        missing: Vec::new(),
        refused: Vec::new(),
        merge: !args.no_merge,
        report_file: Some(run_dir.join("report.md")),
        comment: None,
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
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            print!("{}", report::markdown_for_terminal(&report));
            println!("\nFull report: {}", run_dir.join("report.md").display());
        } else {
            print!("{md}");
        }
        if let Some(m) = merge.as_ref().filter(|_| !quiet) {
            eprintln!(
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
    Ok(if report.summary.all_ok() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Waits for the first of several futures.
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
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default();
                    eprintln!(
                        "[{done}/{total}] {} {} in {:.1} s{why}",
                        record.status.as_str(),
                        record.cell,
                        record.duration_s
                    );
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
        comment: None,
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
            eprintln!(
                "not merged: {} ({}): {}",
                o.record.cell,
                o.record.status.as_str(),
                o.record.error.as_deref().unwrap_or("")
            );
        }
        println!(
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
    Ok(if summary.cells_skipped == 0 {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// What a merge summary's numbers do not say by themselves.
fn merge_notes(name: &str, summary: &outrun::dataset::MergeSummary) {
    if summary.rows_older_ignored > 0 {
        eprintln!(
            "{} row(s) not merged: the dataset has a newer run's row for their key",
            summary.rows_older_ignored
        );
    }
    if summary.several_runs_per_key {
        eprintln!(
            "{} keeps several runs' rows for some keys (written before `history: newest` was the default): `outrun merge {name} --migrate` keeps only the newest, or set `dataset.history: all`",
            summary.path
        );
    }
}

/// `merge NAME --migrate`: one row per key, the newest run's, under the dataset's lock.
fn migrate(root: &Path, name: &str, json: bool) -> Result<u8> {
    let plan = experiment::load_named(root, name)?;
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
        println!(
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
    let terminal = output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let text = match format {
        Format::Markdown if terminal => report::markdown_for_terminal(&report),
        Format::Markdown => report::markdown(&report),
        Format::Json => serde_json::to_string_pretty(&report).expect("reports serialise") + "\n",
    };
    match output {
        Some(path) => outrun::fsutil::write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(exit::OK)
}
