//! Runs on this machine and the data they make: run, merge (and `--migrate`), report, and
//! compare across datasets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use outrun::backend::local;
use outrun::contract::{CellStatus, RunProvenance};
use outrun::experiment::{self, Plan};
use outrun::pipeline;
use outrun::report::{self, Report};
use outrun::shown::shown;

use super::{CliError, Result, select};
use crate::cli::{Format, RunArgs};
use crate::documents;
use crate::exit;

/// `outrun compare FILE`: load the declaration (and its datasets), compute, write the outputs.
pub(super) fn compare(root: &Path, file: &Path, out: Option<&Path>, json: bool) -> Result<u8> {
    use outrun::compare::{cross, decl, render};
    let loaded = decl::load(root, file)?;
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => root.join(loaded.out_dir()),
    };
    let c = cross::compute(&loaded);
    let files = render::write_all(&dir, &c)?;
    if json {
        documents::print(&documents::CompareDoc {
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

pub(super) async fn run(root: &Path, args: RunArgs, json: bool, quiet: bool) -> Result<u8> {
    // Cells start, and a merge follows them: a closed stdout or stderr must stop neither.
    crate::keep_going_on_lost_output();
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
    on_signals(move || {
        let _ = cancel_tx.send(true);
        // After the cells, the same signal stops the merge before its rename.
        outrun::fsutil::request_stop();
    })?;
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
            documents::print(&documents::RunDoc {
                run_id: &run_id,
                run_dir: &run_dir,
                interrupted: true,
                merge: None,
                report: None,
            });
        }
        return Ok(exit::INTERRUPTED);
    }
    let done = local_run
        .finish(root, &plan, &run_dir, !args.no_merge)
        .await?;
    let (merge, report, md) = (done.merge, done.report, done.markdown);
    if json {
        documents::print(&documents::RunDoc {
            run_id: &run_id,
            run_dir: &run_dir,
            interrupted: false,
            merge: merge.as_ref(),
            report: Some(&report),
        });
    } else {
        print_done(plan.name(), &run_dir, &report, &md, merge.as_ref(), quiet);
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

/// The finished run for a reader: the report (short on a terminal, pointing at the full
/// one), then what the merge did.
fn print_done(
    name: &str,
    run_dir: &Path,
    report: &Report,
    md: &str,
    merge: Option<&outrun::dataset::MergeSummary>,
    quiet: bool,
) {
    // A terminal gets the short form; the full report is in the run folder's report.md.
    if let Some(colour) = crate::terminal_report() {
        out!("{}", report::for_terminal(report, colour));
        outln!("\nFull report: {}", run_dir.join("report.md").display());
    } else {
        out!("{md}");
    }
    if let Some(m) = merge.filter(|_| !quiet) {
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
        merge_notes(name, m);
    }
}

/// SIGINT, SIGTERM or SIGHUP from now on stops the atomic writes in progress before their
/// rename (their temporary files removed, the old files kept); the command then exits 2.
fn stop_on_signals() -> Result<()> {
    on_signals(outrun::fsutil::request_stop)
}

/// Runs `then` once, on the first SIGINT, SIGTERM or SIGHUP (Ctrl-C, and what `timeout`, a CI
/// cancel, `docker stop` or a closed terminal send).
fn on_signals(then: impl FnOnce() + Send + 'static) -> Result<()> {
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
        then();
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

pub(super) async fn merge(root: &Path, name: &str, from: Option<&Path>, json: bool) -> Result<u8> {
    crate::keep_going_on_lost_output();
    let plan = experiment::load_named(root, name)?;
    stop_on_signals()?;
    let dir = run_dir_or_latest(root, &plan, from)?;
    let found = local::HandMerge::read(&plan, &dir)?;
    if found.records.is_empty() {
        bail!(
            "no cell outputs of `{name}` (folders with a cell.json) under {}",
            dir.display()
        );
    }
    let done = found
        .finish(root, &plan)
        .await
        .with_context(|| format!("merging {}", dir.display()))?;
    let (outcomes, summary) = (done.outcomes, done.merge.unwrap_or_default());
    if json {
        documents::print(&documents::MergeDoc::Merged {
            from: &dir,
            summary: &summary,
            cells: outcomes
                .iter()
                .map(|o| documents::MergedCell {
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
pub(super) fn migrate(root: &Path, name: &str, json: bool) -> Result<u8> {
    crate::keep_going_on_lost_output();
    let plan = experiment::load_named(root, name)?;
    stop_on_signals()?;
    let summary = {
        let _lock = outrun::dataset::lock(root, &plan)?;
        outrun::dataset::merge(outrun::dataset::MergeRequest {
            mode: outrun::dataset::Mode::Migrate,
            ..outrun::dataset::MergeRequest::new(root, &plan, &[], "")
        })?
    };
    if json {
        documents::print(&documents::MergeDoc::Migrated {
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

pub(super) fn report(
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
