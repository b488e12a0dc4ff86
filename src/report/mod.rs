//! The report: what a person reads on the issue (Markdown) and what an agent reads (`--json`).
//!
//! Built from the run's cell outcomes and the dataset (newest run per key), so a local run and
//! a collected GitHub run report the same way. Markdown cells are escaped so a result value
//! cannot break the table, inject HTML or mention anyone, and the whole text is cut to fit
//! GitHub's 65,536-character comment limit, pointing at the dataset for the rest.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::compare::Comparison;
use crate::contract::CellStatus;
use crate::dataset::PROVENANCE;
use crate::experiment::Plan;
use crate::markdown::{Table, duration, escape, num, pct, table};
use crate::outputs::{CellOutcome, Row};

mod terminal;

pub use crate::markdown::COMMENT_LIMIT;
pub(crate) const REPORT_SCHEMA: &str = "outrun.report/v1";
/// At most this many result rows are kept in a report (more cannot fit a comment); the
/// dataset file has them all, and `results_total` says how many there are.
pub(crate) const RESULT_ROWS: usize = 7_000;
/// Rows per table in the terminal's short form of the report.
pub(crate) const TERMINAL_ROWS: usize = 20;

pub(crate) use crate::names::comment_marker as marker;

/// What a comment shows, for ordering: a comment is only ever replaced by one about the same
/// run or a newer one (never moved back to an older run's report), and within a run, by a
/// later phase. Written as a hidden line under the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CommentStamp {
    pub run_started_at: String,
    pub run_id: String,
    pub attempt: u32,
    pub phase: Phase,
    /// The dispatch the run is one wave of, when it needed several runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// How many of the group's waves the comment shows collected.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waves_done: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Where in its life a run was when the comment was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Started,
    Running,
    Finished,
}

const STAMP_PREFIX: &str = "<!-- outrun:stamp ";

impl CommentStamp {
    pub fn line(&self) -> String {
        format!(
            "{STAMP_PREFIX}{} -->",
            serde_json::to_string(self).expect("stamp serialises")
        )
    }

    /// The stamp in a comment body, if it has one.
    pub fn parse(body: &str) -> Option<CommentStamp> {
        let line = body
            .lines()
            .take(3)
            .find_map(|l| l.strip_prefix(STAMP_PREFIX))?;
        serde_json::from_str(line.strip_suffix(" -->")?).ok()
    }

    fn key(&self) -> (&str, &str, u32, Phase) {
        (&self.run_started_at, &self.run_id, self.attempt, self.phase)
    }

    /// Whether a comment stamped `self` may replace one stamped `shown`.
    ///
    /// Within one run attempt only the phase counts (the workflow's "started" comment knows the
    /// run's start only roughly); between runs, the run's start, then its id, then the attempt.
    ///
    /// The waves of one dispatch are one logical run: every comment about one of them shows all
    /// the waves collected so far, so between them what counts is how many waves a comment
    /// shows collected, then the phase — never which wave started first (wave 1's report,
    /// collected after wave 2's, must still reach the issue, and a later wave's "started"
    /// comment must not hide the results already there).
    pub(crate) fn may_replace(&self, shown: &CommentStamp) -> bool {
        if self.group.is_some() && self.group == shown.group {
            return (self.waves_done, self.phase) >= (shown.waves_done, shown.phase);
        }
        let (a, b) = (self.key(), shown.key());
        if (a.1, a.2) == (b.1, b.2) {
            return a.3 >= b.3;
        }
        a.0.cmp(b.0)
            .then_with(|| crate::dataset::compare_values(a.1, b.1))
            .then(a.2.cmp(&b.2))
            != std::cmp::Ordering::Less
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub experiment: String,
    pub description: String,
    pub issue: Option<u64>,
    pub dataset: String,
    pub run: Option<RunInfo>,
    pub summary: Summary,
    pub cells: Vec<CellReport>,
    /// Columns of `results`, keys first, provenance excluded.
    pub columns: Vec<String>,
    /// The newest row per key across all runs in the dataset: the first [`RESULT_ROWS`] of
    /// them, in key order.
    pub results: Vec<Row>,
    /// How many newest rows (keys) the dataset has in all.
    pub results_total: usize,
    pub comparison: Option<Comparison>,
    /// Artifacts refused or gone (expired) when collecting, with the reason.
    pub refused: Vec<Refused>,
    /// When the run is one wave of a dispatch: every wave of it, as far as this checkout's
    /// ledger knows (the report is one view of the whole dispatch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReport>,
}

/// The waves of one dispatch (see [`crate::contract::WaveOf`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupReport {
    pub group: String,
    pub waves: Vec<WaveReport>,
}

/// One wave of a dispatch: its newest collected attempt, from the ledger, or nothing yet.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaveReport {
    pub wave: usize,
    /// The cells the wave runs, when known.
    pub cells: Option<usize>,
    /// `None` while the wave is running or not collected here.
    pub collected: Option<WaveCollected>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaveCollected {
    pub run_id: String,
    pub attempt: u32,
    pub url: Option<String>,
    pub conclusion: String,
    pub summary: Summary,
    /// The cells that did not succeed in it.
    pub failed_cells: Vec<String>,
}

impl GroupReport {
    /// The group of `wave` from the ledger's entries: per wave, the newest collected attempt of
    /// a run of that group (entries are oldest first).
    pub fn of(
        wave: &crate::contract::WaveOf,
        ledger: &[crate::dataset::ledger::LedgerEntry],
    ) -> Self {
        let waves = (1..=wave.waves)
            .map(|w| WaveReport {
                wave: w,
                cells: wave.cells_of(w),
                collected: ledger
                    .iter()
                    .rev()
                    .find(|e| e.group == wave.group && e.wave == Some(w))
                    .map(|e| WaveCollected {
                        run_id: e.run_id.clone(),
                        attempt: e.attempt,
                        url: Some(e.url.clone()).filter(|u| !u.is_empty()),
                        conclusion: e.conclusion.clone(),
                        summary: Summary {
                            cells: e.cells,
                            ok: e.ok,
                            failed: e.failed,
                            timed_out: e.timed_out,
                            cancelled: e.cancelled,
                            refused: 0,
                        },
                        failed_cells: e
                            .failed_cells
                            .split_whitespace()
                            .map(String::from)
                            .collect(),
                    }),
            })
            .collect();
        GroupReport {
            group: wave.group.clone(),
            waves,
        }
    }

    /// How many waves have been collected.
    pub fn done(&self) -> usize {
        self.waves.iter().filter(|w| w.collected.is_some()).count()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub source: String,
    pub url: Option<String>,
    pub attempt: u32,
    pub started_at: String,
    pub event: Option<String>,
    pub git_ref: Option<String>,
    pub conclusion: Option<String>,
    /// When the dispatch needed several runs: which wave this run is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<crate::contract::WaveOf>,
}

impl RunInfo {
    pub fn of(p: &crate::contract::RunProvenance) -> RunInfo {
        RunInfo {
            id: p.run_id.clone(),
            source: p.source.as_str().into(),
            url: p.url.clone(),
            attempt: p.attempt,
            started_at: p.run_started_at.clone(),
            event: p.event.clone(),
            git_ref: p.git_ref.clone(),
            conclusion: p.conclusion.clone(),
            wave: p.wave.clone(),
        }
    }

    pub fn stamp(&self, phase: Phase) -> CommentStamp {
        CommentStamp {
            run_started_at: self.started_at.clone(),
            run_id: self.id.clone(),
            attempt: self.attempt,
            phase,
            group: self.wave.as_ref().map(|w| w.group.clone()),
            waves_done: 0,
        }
    }
}

/// An artifact that was not unpacked, and why (its cells are reported failed where known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub artifact: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub cells: usize,
    pub ok: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    /// Cells whose output was not taken (see `CellStatus::Refused`): ok + failed + timed out +
    /// cancelled + refused = cells.
    pub refused: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub id: String,
    pub params: BTreeMap<String, String>,
    pub status: CellStatus,
    pub exit_code: Option<i32>,
    pub duration_s: f64,
    /// `duration_s` is only the cell's own claim (its `cell.json`), not a job's measured time.
    pub duration_claimed: bool,
    pub error: Option<String>,
}

impl Summary {
    pub fn all_ok(&self) -> bool {
        self.cells > 0 && self.ok == self.cells
    }
}

/// Assembles a report. `outcomes` is empty when only the dataset is reported; `results` are the
/// first of `results_total` newest rows.
#[allow(clippy::too_many_arguments)]
pub fn build(
    plan: &Plan,
    outcomes: &[CellOutcome],
    run: Option<RunInfo>,
    dataset_columns: &[String],
    results: Vec<Row>,
    results_total: usize,
    comparison: Option<Comparison>,
    refused: Vec<Refused>,
) -> Report {
    let mut summary = Summary {
        cells: outcomes.len(),
        ..Summary::default()
    };
    for o in outcomes {
        match o.record.status {
            CellStatus::Ok => summary.ok += 1,
            CellStatus::Failed => summary.failed += 1,
            CellStatus::TimedOut => summary.timed_out += 1,
            CellStatus::Cancelled => summary.cancelled += 1,
            CellStatus::Refused => summary.refused += 1,
        }
    }
    let keys = &plan.file.results.keys;
    // Keys first, then the dataset's own column order (the order the results declared).
    let mut columns: Vec<String> = keys.clone();
    let mut seen: std::collections::HashSet<String> = keys.iter().cloned().collect();
    let present = |c: &String| results.iter().any(|r| r.contains_key(c));
    let long = plan.file.dataset.layout == crate::experiment::Layout::Long;
    for c in dataset_columns
        .iter()
        .chain(results.iter().flat_map(|r| r.keys()))
    {
        let long_only = long && (c == crate::dataset::METRIC || c == crate::dataset::VALUE);
        if !seen.contains(c) && !PROVENANCE.contains(&c.as_str()) && !long_only && present(c) {
            seen.insert(c.clone());
            columns.push(c.clone());
        }
    }
    let results = results
        .into_iter()
        .map(|mut r| {
            r.retain(|c, _| !PROVENANCE.contains(&c.as_str()));
            r
        })
        .collect();
    Report {
        schema: REPORT_SCHEMA,
        experiment: plan.name().into(),
        description: plan.file.description.trim().into(),
        issue: plan.file.issue,
        dataset: plan.dataset_path().display().to_string(),
        run,
        summary,
        cells: outcomes
            .iter()
            .map(|o| CellReport {
                id: o.record.cell.clone(),
                params: o.record.params.clone(),
                status: o.record.status,
                exit_code: o.record.exit_code,
                duration_s: o.record.duration_s,
                duration_claimed: o.duration_claimed,
                error: o.record.error.clone(),
            })
            .collect(),
        columns,
        results,
        results_total,
        comparison,
        refused,
        group: None,
    }
}

/// A cell's duration, marked when it is only what the cell's `cell.json` says.
fn cell_duration(c: &CellReport) -> String {
    if c.duration_claimed {
        format!("{} (as the cell reported)", duration(c.duration_s))
    } else {
        duration(c.duration_s)
    }
}

/// After "N cells succeeded in T of cell time in all": whose figure T is. A figure only the
/// cells' own files give is said to be theirs (both renderings say it).
fn whose_time(ok: &[&CellReport]) -> String {
    let claimed: f64 = ok
        .iter()
        .filter(|c| c.duration_claimed)
        .map(|c| c.duration_s)
        .sum();
    if ok.iter().all(|c| c.duration_claimed) {
        ", as the cells reported".to_string()
    } else if ok.iter().any(|c| c.duration_claimed) {
        format!(", {} of it as the cells reported", duration(claimed))
    } else {
        String::new()
    }
}

/// Renders the report as Markdown that fits in one GitHub comment.
pub fn markdown(r: &Report) -> String {
    markdown_with_limit(r, COMMENT_LIMIT)
}

pub(crate) fn markdown_with_limit(r: &Report, limit: usize) -> String {
    render(r, limit, usize::MAX)
}

/// The report for a terminal: the verdict, counts and statistics in full, but only the first
/// [`TERMINAL_ROWS`] rows of each table, with a pointer to the full report and the dataset;
/// plain text with aligned columns, the verdict coloured when `colour`.
pub fn for_terminal(r: &Report, colour: bool) -> String {
    terminal::render(r, colour)
}

fn render(r: &Report, limit: usize, max_rows: usize) -> String {
    let short = max_rows != usize::MAX;
    let mut head = String::new();
    let _ = writeln!(head, "{}", marker(&r.experiment));
    if let Some(run) = &r.run {
        let mut stamp = run.stamp(Phase::Finished);
        stamp.waves_done = r.group.as_ref().map_or(0, GroupReport::done);
        let _ = writeln!(head, "{}", stamp.line());
    }
    let _ = writeln!(head, "## outrun · {}\n", escape(&r.experiment));
    if !r.description.is_empty() {
        let _ = writeln!(
            head,
            "{}\n",
            r.description
                .lines()
                .map(escape)
                .collect::<Vec<_>>()
                .join("<br>\n")
        );
    }
    let s = &r.summary;
    if let Some(run) = &r.run {
        let run_text = match &run.url {
            Some(u) => format!("[{}]({})", escape(&run.id), u),
            None => format!("`{}`", run.id.replace('`', "'")),
        };
        let verdict = if run.conclusion.as_deref() == Some("cancelled") {
            "⏹️ run cancelled"
        } else if s.all_ok() && r.refused.is_empty() {
            "✅ all cells ok"
        } else {
            "❌ some cells did not succeed"
        };
        let run_text = if run.attempt > 1 {
            format!("{run_text} attempt {}", run.attempt)
        } else {
            run_text
        };
        let refused = if s.refused > 0 {
            format!(", {} refused", s.refused)
        } else {
            String::new()
        };
        let _ = writeln!(
            head,
            "**{verdict}** · run {run_text} ({}) · {} cells: {} ok, {} failed, {} timed out, {} cancelled{refused}\n",
            run.source, s.cells, s.ok, s.failed, s.timed_out, s.cancelled
        );
        if let Some(w) = &run.wave {
            let _ = writeln!(
                head,
                "Wave {} of {} of dispatch `{}` (a run holds at most 256 jobs): the cells above are this wave's; the dataset and the results below hold every wave's rows collected so far.\n",
                w.wave,
                w.waves,
                w.group.replace('`', "'")
            );
        }
        if let Some(g) = &r.group {
            head.push_str(&waves_table(g));
        }
    }
    let _ = writeln!(
        head,
        "Dataset: `{}` ({} rows, newest run per key)\n",
        r.dataset.replace('`', "'"),
        r.results_total
    );

    let mut stats = String::new();
    if let Some(c) = &r.comparison {
        let _ = writeln!(
            stats,
            "### Predicted vs measured\n\n`{}` against `{}` in `{}`, joined on {}. APE = absolute percentage error.\n",
            escape(&c.predicted_column),
            escape(&c.actual_column),
            c.measured.replace('`', "'"),
            c.on.iter()
                .map(|o| format!("`{}`", o.replace('`', "'")))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows: Vec<Vec<String>> = c
            .groups
            .iter()
            .map(|g| {
                vec![
                    escape(&g.group),
                    g.rows.to_string(),
                    pct(g.mape_pct),
                    pct(g.median_ape_pct),
                    pct(g.max_ape_pct),
                ]
            })
            .collect();
        let header: Vec<String> = ["group", "rows", "MAPE", "median APE", "max APE"]
            .map(String::from)
            .to_vec();
        stats.push_str(&table(&header, &rows, usize::MAX, usize::MAX).text);
        if c.error_undefined > 0 {
            let _ = writeln!(
                stats,
                "\n{} joined rows have a measured value of 0: their percentage error is undefined, so they are shown per row but left out of these statistics.",
                c.error_undefined
            );
        }
        if c.unmatched > 0 {
            let _ = writeln!(
                stats,
                "\n{} result rows had no measurement to compare with.",
                c.unmatched
            );
        }
        stats.push('\n');
    }

    let tail = format!(
        "\n<sub>Generated by outrun {}.</sub>\n",
        env!("CARGO_PKG_VERSION")
    );
    // What remains for the tables, with room for the <details> wrappers and "more rows" notes.
    let fixed = head.len() + stats.len() + tail.len() + 1024;
    let mut budget = limit.saturating_sub(fixed);
    let dataset = r.dataset.replace('`', "'");
    let more = |t: &Table, out: &mut String| {
        if t.shown < t.total {
            if short {
                let _ = writeln!(
                    out,
                    "\n… {} more rows: `outrun report {} --output FILE` writes the full report; all rows are in `{dataset}`.",
                    t.total - t.shown,
                    r.experiment.replace('`', "'")
                );
            } else {
                let _ = writeln!(
                    out,
                    "\n… {} more rows not shown (comment size limit): see `{dataset}`.",
                    t.total - t.shown
                );
            }
        }
    };

    let mut body = String::new();
    if !r.refused.is_empty() {
        let _ = writeln!(body, "### Artifacts not merged\n");
        for a in &r.refused {
            let _ = writeln!(
                body,
                "- `{}`: {}",
                a.artifact.replace('`', "'"),
                escape(&a.reason)
            );
        }
        body.push('\n');
    }
    // Cells that did not succeed come first and in full: they are what a reader must act on.
    let bad: Vec<&CellReport> = r
        .cells
        .iter()
        .filter(|c| c.status != CellStatus::Ok)
        .collect();
    if !bad.is_empty() {
        let rows: Vec<Vec<String>> = bad
            .iter()
            .map(|c| {
                vec![
                    format!("`{}`", c.id),
                    params(c),
                    c.status.as_str().into(),
                    cell_duration(c),
                    escape(c.error.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        let header: Vec<String> = ["cell", "parameters", "status", "duration", "why"]
            .map(String::from)
            .to_vec();
        let t = table(&header, &rows, budget / 3, max_rows);
        let _ = writeln!(body, "### Cells that did not succeed\n");
        body.push_str(&t.text);
        more(&t, &mut body);
        body.push('\n');
        budget = budget.saturating_sub(t.text.len());
    }
    if let Some(c) = &r.comparison {
        let mut header: Vec<String> = c.on.clone();
        header.extend(["predicted", "measured", "error"].map(String::from));
        let rows: Vec<Vec<String>> = c
            .rows
            .iter()
            .map(|row| {
                let mut v: Vec<String> = row.key.iter().map(|k| escape(k)).collect();
                let error = match row.error_pct {
                    Some(e) => format!("{e:+.1} %"),
                    None => "undefined (measured 0)".into(),
                };
                v.extend([num(row.predicted), num(row.measured), error]);
                v
            })
            .collect();
        let t = table(&header, &rows, budget / 2, max_rows);
        let _ = writeln!(
            body,
            "<details><summary>Per row: predicted vs measured ({} rows)</summary>\n",
            rows.len()
        );
        body.push_str(&t.text);
        more(&t, &mut body);
        let _ = writeln!(body, "\n</details>\n");
        budget = budget.saturating_sub(t.text.len());
    }
    if !r.results.is_empty() {
        const MAX_COLS: usize = 12;
        let cols: Vec<String> = r.columns.iter().take(MAX_COLS).cloned().collect();
        let rows: Vec<Vec<String>> = r
            .results
            .iter()
            .map(|row| {
                cols.iter()
                    .map(|c| escape(row.get(c).map(String::as_str).unwrap_or("")))
                    .collect()
            })
            .collect();
        let mut t = table(&cols, &rows, budget, max_rows);
        // The report holds the first rows only; the count is the dataset's.
        t.total = r.results_total.max(rows.len());
        let _ = writeln!(
            body,
            "<details><summary>Results ({} rows)</summary>\n",
            t.total
        );
        body.push_str(&t.text);
        more(&t, &mut body);
        if r.columns.len() > MAX_COLS {
            let _ = writeln!(
                body,
                "\n{} more columns are in the dataset.",
                r.columns.len() - MAX_COLS
            );
        }
        let _ = writeln!(body, "\n</details>\n");
    }
    if !r.cells.is_empty() && bad.len() < r.cells.len() {
        let ok: Vec<&CellReport> = r
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Ok)
            .collect();
        let total: f64 = ok.iter().map(|c| c.duration_s).sum();
        let whose = whose_time(&ok);
        let _ = writeln!(
            body,
            "{} cells succeeded in {} of cell time in all{whose}.\n",
            ok.len(),
            duration(total)
        );
    }
    let mut out = head + &stats + &body + &tail;
    if out.chars().count() > limit {
        // Only reachable with a pathological description or header; never exceed the limit.
        let cut: String = out.chars().take(limit.saturating_sub(80)).collect();
        out = cut + "\n\n… report cut to fit the comment size limit.\n";
    }
    out
}

/// Cell ids shown per wave in the waves table; the rest are counted.
const WAVE_CELLS_SHOWN: usize = 10;

/// The dispatch's waves, one line each, and the whole dispatch's tally: what a reader of any
/// one wave's comment needs to know about the others.
fn waves_table(g: &GroupReport) -> String {
    let mut out = format!(
        "### All waves of dispatch `{}`\n\n| wave | run | cells | ok | did not succeed |\n| --- | --- | --- | --- | --- |\n",
        g.group.replace('`', "'")
    );
    let (mut cells, mut ok, mut bad, mut waiting) = (0, 0, 0, 0);
    for w in &g.waves {
        let count = w.cells.map_or("?".to_string(), |n| n.to_string());
        match &w.collected {
            Some(c) => {
                let run = match &c.url {
                    Some(u) => format!("[{}]({u})", escape(&c.run_id)),
                    None => format!("`{}`", c.run_id.replace('`', "'")),
                };
                let run = if c.attempt > 1 {
                    format!("{run} attempt {}", c.attempt)
                } else {
                    run
                };
                let s = &c.summary;
                let failed = s.cells - s.ok;
                let mut ids: Vec<String> = c
                    .failed_cells
                    .iter()
                    .take(WAVE_CELLS_SHOWN)
                    .map(|id| format!("`{}`", id.replace('`', "'")))
                    .collect();
                if c.failed_cells.len() > WAVE_CELLS_SHOWN {
                    ids.push(format!(
                        "… {} more",
                        c.failed_cells.len() - WAVE_CELLS_SHOWN
                    ));
                }
                let failed_text = if failed == 0 {
                    "0".to_string()
                } else {
                    format!("{failed}: {}", ids.join(" "))
                };
                let _ = writeln!(
                    out,
                    "| {} | {run} ({}) | {} | {} | {failed_text} |",
                    w.wave,
                    escape(&c.conclusion),
                    s.cells,
                    s.ok
                );
                cells += s.cells;
                ok += s.ok;
                bad += failed;
            }
            None => {
                let _ = writeln!(
                    out,
                    "| {} | running or not collected yet | {count} | | |",
                    w.wave
                );
                waiting += w.cells.unwrap_or(0);
            }
        }
    }
    let _ = writeln!(
        out,
        "\nAll waves: {} of {} collected, {cells} cells: {ok} ok, {bad} did not succeed; {waiting} cells not collected yet.\n",
        g.done(),
        g.waves.len()
    );
    out
}

/// A report with a note (where the results went) under its verdict line, still within the
/// comment size limit.
pub(crate) fn with_note(markdown: &str, note: &str) -> String {
    let note = format!("{note}\n\n");
    match markdown.find("Dataset: `") {
        Some(i) if markdown.len() + note.len() <= COMMENT_LIMIT => {
            format!("{}{note}{}", &markdown[..i], &markdown[i..])
        }
        _ => markdown.to_string(),
    }
}

/// The comment while a run goes on: started (who, which cells, where to follow it), or running
/// with `done` = (cells finished, cells that failed so far).
pub(crate) fn status_comment(
    plan: &Plan,
    run: &RunInfo,
    actor: &str,
    cells: usize,
    phase: Phase,
    done: Option<(usize, usize)>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(plan.name()));
    let _ = writeln!(out, "{}", run.stamp(phase).line());
    let _ = writeln!(out, "## outrun · {}\n", escape(plan.name()));
    let link = match &run.url {
        Some(u) => format!("[run {}]({u})", escape(&run.id)),
        None => format!("run `{}`", run.id.replace('`', "'")),
    };
    let attempt = if run.attempt > 1 {
        format!(" (attempt {})", run.attempt)
    } else {
        String::new()
    };
    // act and some events leave the actor out: say so rather than leave a gap.
    let who = if actor.trim().is_empty() {
        ", started by an unknown actor".to_string()
    } else {
        format!(", started by {}", escape(actor))
    };
    // A wave counts its own cells, and says it is one run of several.
    let (cells, wave) = match &run.wave {
        Some(w) => (
            format!("{cells}"),
            format!(
                " (wave {} of {} of dispatch `{}`, {} cells in all)",
                w.wave,
                w.waves,
                w.group.replace('`', "'"),
                w.cells_per_wave.iter().sum::<usize>()
            ),
        ),
        None => (cells.to_string(), String::new()),
    };
    match (phase, done) {
        (Phase::Running, Some((k, failed))) => {
            let _ = writeln!(
                out,
                "⏳ {link}{attempt} is running{who}: **{k} of {cells} cells done**{}{wave}.\n",
                if failed > 0 {
                    format!(", {failed} did not succeed")
                } else {
                    String::new()
                }
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "🚀 {link}{attempt} started{who}: {cells} cell(s) selected{wave}. The report replaces this comment when the run ends.\n"
            );
        }
    }
    let _ = writeln!(
        out,
        "Dataset: `{}`",
        plan.dataset_path().display().to_string().replace('`', "'")
    );
    out
}

fn params(c: &CellReport) -> String {
    c.params
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_never_move_a_comment_back() {
        let s = |at: &str, id: &str, attempt: u32, phase: Phase| CommentStamp {
            run_started_at: at.into(),
            run_id: id.into(),
            attempt,
            phase,
            group: None,
            waves_done: 0,
        };
        let old = s("2026-11-26T10:00:00Z", "100", 1, Phase::Finished);
        let new = s("2026-11-26T11:00:00Z", "105", 1, Phase::Started);
        assert!(new.may_replace(&old) && !old.may_replace(&new));
        assert!(s("2026-11-26T11:00:00Z", "105", 1, Phase::Finished).may_replace(&new));
        assert!(
            !s("2026-11-26T11:00:00Z", "105", 1, Phase::Running).may_replace(&s(
                "2026-11-26T11:00:00Z",
                "105",
                1,
                Phase::Finished
            ))
        );
        assert!(
            old.may_replace(&old),
            "the same report may be written again"
        );
        assert_eq!(
            CommentStamp::parse(&format!("{}\n{}\nbody", marker("x"), new.line())),
            Some(new)
        );
    }

    /// Waves of one dispatch: the comment showing more collected waves wins, whichever wave
    /// started first; between dispatches the run's start still rules.
    #[test]
    fn a_wave_comment_never_hides_the_other_waves_nor_moves_back_to_an_older_dispatch() {
        let s = |at: &str, id: &str, group: &str, done: usize, phase: Phase| CommentStamp {
            run_started_at: at.into(),
            run_id: id.into(),
            attempt: 1,
            phase,
            group: Some(group.into()),
            waves_done: done,
        };
        let w1 = |done, phase| s("2026-11-26T10:00:00Z", "100", "g1", done, phase);
        let w2 = |done, phase| s("2026-11-26T10:00:05Z", "101", "g1", done, phase);
        // Wave 1, collected after wave 2, shows both: it replaces wave 2's report.
        assert!(w1(2, Phase::Finished).may_replace(&w2(1, Phase::Finished)));
        // Wave 2's "started" comment does not hide wave 1's results.
        assert!(!w2(0, Phase::Started).may_replace(&w1(1, Phase::Finished)));
        assert!(w2(0, Phase::Started).may_replace(&w1(0, Phase::Started)));
        // A machine that knows fewer waves does not take the comment back.
        assert!(!w2(1, Phase::Finished).may_replace(&w1(2, Phase::Finished)));
        // An older dispatch's wave never replaces a newer dispatch's comment, however many of
        // its waves it shows.
        let newer = s("2026-11-26T11:00:00Z", "200", "g2", 0, Phase::Started);
        assert!(!w1(2, Phase::Finished).may_replace(&newer));
        assert!(newer.may_replace(&w1(2, Phase::Finished)));
        let line = w1(2, Phase::Finished).line();
        assert_eq!(
            CommentStamp::parse(&format!("{}\n{line}\nbody", marker("x"))),
            Some(w1(2, Phase::Finished))
        );
    }

    #[test]
    fn a_duration_only_the_cell_claims_is_marked_and_refused_cells_are_counted() {
        let cell = |id: &str, status, duration_s, duration_claimed| CellReport {
            id: id.into(),
            params: BTreeMap::new(),
            status,
            exit_code: None,
            duration_s,
            duration_claimed,
            error: None,
        };
        let report = |cells: Vec<CellReport>, refused| Report {
            schema: REPORT_SCHEMA,
            experiment: "e".into(),
            description: String::new(),
            issue: None,
            dataset: "data/evaluation/e.csv".into(),
            run: Some(RunInfo::default()),
            summary: Summary {
                cells: cells.len(),
                ok: cells.len() - refused,
                refused,
                ..Summary::default()
            },
            cells,
            columns: Vec::new(),
            results: Vec::new(),
            results_total: 0,
            comparison: None,
            refused: Vec::new(),
            group: None,
        };
        let md = markdown(&report(
            vec![
                cell("a", CellStatus::Ok, 60.0, false),
                cell("b", CellStatus::Ok, 8484.0, true),
                cell("c", CellStatus::Refused, 30.0, true),
            ],
            1,
        ));
        assert!(
            md.contains("3 cells: 2 ok, 0 failed, 0 timed out, 0 cancelled, 1 refused"),
            "{md}"
        );
        assert!(
            md.contains("| refused | 30.0 s (as the cell reported) |"),
            "{md}"
        );
        assert!(
            md.contains("2h 22m 24s of cell time in all, 2h 21m 24s of it as the cells reported."),
            "{md}"
        );
        let md = markdown(&report(vec![cell("a", CellStatus::Ok, 60.0, false)], 0));
        assert!(
            md.contains("1 cells: 1 ok, 0 failed, 0 timed out, 0 cancelled\n"),
            "{md}"
        );
        assert!(md.contains("in 1m of cell time in all.\n"), "{md}");
    }
}
