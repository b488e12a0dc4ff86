//! The commands that talk to GitHub: dispatch, watch, collect, rerun, announce, sync, status.
//! Each one connects, calls `backend::github` (which owns the flow: dispatch records, trust,
//! collecting, landing, comments) and prints what came back.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use outrun::backend::github;
use outrun::experiment::{self, Plan};
use outrun::github_api::{Conclusion, RunStatus};
use outrun::names;
use outrun::pipeline;
use outrun::shown::shown;

use super::{CliError, Result, select};
use crate::cli::{DispatchArgs, GithubArgs};
use crate::documents::{self, RunState};
use crate::exit;

/// A connected GitHub client and the clock it waits with.
pub(super) struct Gh {
    client: outrun::github_api::Client,
    clock: std::sync::Arc<dyn outrun::github_api::Clock>,
}

impl Gh {
    pub(super) fn connect(root: &Path, args: &GithubArgs) -> Result<Gh> {
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
pub(super) fn parse_run(s: &str) -> Result<u64> {
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

/// `outrun dispatch`, with `--failed-from` already turned into the cells to run.
pub(super) async fn dispatch(
    root: &Path,
    gh: &Gh,
    args: &DispatchArgs,
    json: bool,
    quiet: bool,
) -> Result<u8> {
    let (name, cells, issue) = (&args.name, args.cells.as_deref(), args.issue);
    let (wait, timeout, comment) = (args.wait, args.timeout, args.comment);
    let git_ref = args.git_ref.clone();
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
        print_dispatched(&recs, json);
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
            documents::print(&documents::DispatchDoc {
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
    let opts = github::CollectArgs {
        comment,
        ..Default::default()
    };
    let (c, _) = github::collect(root, &gh.client, &run, &opts).await?;
    print_collected(&c, None, json);
    Ok(collected_code(&c))
}

/// What `dispatch` without `--wait` prints: the runs it started (one a wave), and how to
/// follow them.
fn print_dispatched(recs: &[github::DispatchRecord], json: bool) {
    let rec = &recs[0];
    let run_id = rec.run_id.unwrap_or_default();
    if json {
        documents::print(&documents::DispatchDoc {
            record: rec,
            state: None,
            waves: if recs.len() > 1 {
                recs.iter().collect()
            } else {
                Vec::new()
            },
        });
    } else {
        for r in recs {
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
        documents::print(&documents::CollectDoc::Collected {
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
pub(super) async fn watch(
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
        documents::print(&documents::WatchDoc {
            state,
            run: &run,
            requests: gh.client.stats(),
        });
    } else if !quiet {
        outln!("run {}: {} {}", run.id, run_state(&run), run.html_url);
    }
    Ok((code, Some(run)))
}

/// `outrun collect`: the flags go to the backend as clap read them; `summary` is where the
/// report is appended besides.
pub(super) async fn collect(
    root: &Path,
    gh: &Gh,
    run_id: u64,
    mut args: github::CollectArgs,
    summary: Option<&Path>,
    json: bool,
) -> Result<u8> {
    let run = gh.client.run(run_id).await?;
    // The workflow's own final job collects its run while the run is still going.
    args.in_run = args.artifacts_dir.is_some()
        && std::env::var("GITHUB_RUN_ID").is_ok_and(|id| id == run_id.to_string());
    if !run.completed() && !args.in_run {
        if json {
            documents::print(&documents::CollectDoc::Running {
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
    let (c, landed) = github::collect(root, &gh.client, &run, &args).await?;
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
    // The final job fails — after the rest has landed and the report is posted — exactly when
    // the trust rules set something aside, with one line saying which and why (issue 24 §3).
    let aside = set_aside_line(&c);
    if landed.is_some()
        && let Some(line) = &aside
    {
        errln!("{line}");
    }
    match &landed {
        Some(l) if l.action_needed.is_some() => Ok(exit::FAILED),
        Some(_) if aside.is_some() => Ok(exit::FAILED),
        Some(_) => Ok(exit::OK),
        None => Ok(collected_code(&c)),
    }
}

/// One line naming what the trust rules set aside in a collected run (refused artifacts, and
/// cells whose outputs were refused), and why; `None` when nothing was.
fn set_aside_line(c: &github::Collected) -> Option<String> {
    let mut parts: Vec<String> = c
        .refused
        .iter()
        .map(|r| format!("artifact {} ({})", shown(&r.artifact), shown(&r.reason)))
        .collect();
    parts.extend(
        c.outcomes
            .iter()
            .filter(|o| o.record.status == outrun::contract::CellStatus::Refused)
            .map(|o| {
                format!(
                    "cell {} ({})",
                    shown(&o.record.cell),
                    shown(o.record.error.as_deref().unwrap_or("refused"))
                )
            }),
    );
    if parts.is_empty() {
        return None;
    }
    const SHOWN: usize = 5;
    let more = parts.len().saturating_sub(SHOWN);
    parts.truncate(SHOWN);
    if more > 0 {
        parts.push(format!("and {more} more (see the report)"));
    }
    Some(format!(
        "error: run {} had outputs set aside by the trust rules, so this job fails (the rest is merged and the report posted): {}",
        c.run_id,
        parts.join("; ")
    ))
}

/// The cells of `run` to run again, as a `cells` filter.
pub(super) async fn failed_cells(root: &Path, gh: &Gh, name: &str, run_id: u64) -> Result<String> {
    let plan = experiment::load_named(root, name)?;
    let failed = github::failed_cells(root, &gh.client, &plan, run_id).await?;
    if let Some(note) = &failed.note {
        errln!("{}", shown(note));
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

pub(super) async fn rerun(root: &Path, gh: &Gh, run_id: u64, json: bool) -> Result<u8> {
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
        documents::print(&documents::RerunDoc {
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
pub(super) fn parse_wave(wave: Option<&str>) -> Result<Option<usize>, CliError> {
    wave.map_or(Ok(None), |w| {
        github::parse_wave(w)
            .map_err(|why| CliError::Usage(format!("--wave {:?}: {why}", w.trim())))
    })
}

/// What `outrun announce` was asked to post.
pub(super) struct AnnounceRequest<'a> {
    pub(super) run_id: u64,
    pub(super) issue: u64,
    pub(super) cells: Option<&'a str>,
    pub(super) wave: Option<usize>,
    pub(super) actor: &'a str,
    pub(super) json: bool,
}

pub(super) async fn announce(root: &Path, gh: &Gh, req: AnnounceRequest<'_>) -> Result<u8> {
    let AnnounceRequest {
        run_id,
        issue,
        cells,
        wave,
        actor,
        json,
    } = req;
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
        documents::print(&documents::AnnounceDoc {
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
pub(super) async fn watch_comment(
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

pub(super) async fn sync(
    root: &Path,
    gh: &Gh,
    comment: bool,
    land: bool,
    json: bool,
) -> Result<u8> {
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
        documents::print(&documents::SyncDoc {
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
                "{} run {} — its rows wait on branch {}{}",
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

pub(super) async fn status(root: &Path, gh: &Gh, target: Option<&str>, json: bool) -> Result<u8> {
    if let Some(run_id) = target.and_then(|t| parse_run(t).ok()) {
        let run = gh.client.run(run_id).await?;
        let jobs = gh.client.jobs(run_id).await?;
        if json {
            documents::print(&documents::StatusDoc::Run {
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
        for (run, collected) in github::recent_runs(root, &gh.client, &plan, 10).await? {
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
            all.push(documents::StatusRun {
                experiment: name.to_string(),
                run,
                collected,
            });
        }
    }
    if json {
        documents::print(&documents::StatusDoc::Runs { runs: &all });
    } else if all.is_empty() {
        outln!("no outrun runs on GitHub yet");
    }
    Ok(exit::OK)
}
