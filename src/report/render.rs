//! The report as Markdown for one GitHub comment: verdict, statistics, the comparison,
//! failed cells and results, each table cut to the comment's budget with a pointer to the
//! dataset for the rest.

use std::fmt::Write as _;

use super::comment::waves_table;
use super::{CellReport, GroupReport, Phase, Report, marker};
use crate::compare::Comparison;
use crate::contract::CellStatus;
use crate::markdown::{COMMENT_LIMIT, Table, duration, escape, num, pct, table};

/// What the comparison's statistics leave out, one sentence each (both renderings say it).
pub(super) fn comparison_caveats(c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    if c.error_undefined > 0 {
        out.push(format!(
            "{} joined rows have a measured value of 0: their percentage error is undefined, so they are shown per row but left out of these statistics.",
            c.error_undefined
        ));
    }
    if c.unmatched > 0 {
        out.push(format!(
            "{} result rows had no measurement to compare with.",
            c.unmatched
        ));
    }
    out
}

/// A cell's duration, marked when it is only what the cell's `cell.json` says.
pub(super) fn cell_duration(c: &CellReport) -> String {
    if c.duration_claimed {
        format!("{} (as the cell reported)", duration(c.duration_s))
    } else {
        duration(c.duration_s)
    }
}

/// After "N cells succeeded in T of cell time in all": whose figure T is. A figure only the
/// cells' own files give is said to be theirs (both renderings say it).
pub(super) fn whose_time(ok: &[&CellReport]) -> String {
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
        for caveat in comparison_caveats(c) {
            let _ = writeln!(stats, "\n{caveat}");
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
        let rows = failed_cell_rows(&bad, |id| format!("`{id}`"), escape);
        let t = table(
            &FAILED_CELLS_HEADER.map(String::from),
            &rows,
            budget / 3,
            max_rows,
        );
        let _ = writeln!(body, "### Cells that did not succeed\n");
        body.push_str(&t.text);
        more(&t, &mut body);
        body.push('\n');
        budget = budget.saturating_sub(t.text.len());
    }
    if let Some(c) = &r.comparison {
        let (header, rows) = comparison_rows(c, escape);
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
        let (cols, rows) = result_rows(r, escape);
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
        if r.columns.len() > MAX_RESULT_COLS {
            let _ = writeln!(
                body,
                "\n{} more columns are in the dataset.",
                r.columns.len() - MAX_RESULT_COLS
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

/// The header of the "cells that did not succeed" table.
pub(super) const FAILED_CELLS_HEADER: [&str; 5] =
    ["cell", "parameters", "status", "duration", "why"];

/// How many result columns a report shows (the rest: "N more columns are in the dataset").
pub(super) const MAX_RESULT_COLS: usize = 12;

// The tables' rows, the same for the Markdown and the terminal rendering: `text` is how a value
// from the cells or the dataset is written (Markdown-escaped, or as it is for the terminal,
// whose table makes every cell safe to print itself); `id` how a cell id is shown.

/// One row a cell that did not succeed: cell, parameters, status, duration, why.
pub(super) fn failed_cell_rows(
    bad: &[&CellReport],
    id: impl Fn(&str) -> String,
    text: impl Fn(&str) -> String,
) -> Vec<Vec<String>> {
    bad.iter()
        .map(|c| {
            let params = c
                .params
                .iter()
                .map(|(k, v)| format!("{}={}", text(k), text(v)))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                id(&c.id),
                params,
                c.status.as_str().into(),
                cell_duration(c),
                text(c.error.as_deref().unwrap_or("")),
            ]
        })
        .collect()
}

/// The per-row comparison table: the join columns, predicted, measured, error.
pub(super) fn comparison_rows(
    c: &Comparison,
    text: impl Fn(&str) -> String,
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = c.on.clone();
    header.extend(["predicted", "measured", "error"].map(String::from));
    let rows = c
        .rows
        .iter()
        .map(|row| {
            let mut v: Vec<String> = row.key.iter().map(|k| text(k)).collect();
            let error = match row.error_pct {
                Some(e) => format!("{e:+.1} %"),
                None => "undefined (measured 0)".into(),
            };
            v.extend([num(row.predicted), num(row.measured), error]);
            v
        })
        .collect();
    (header, rows)
}

/// The results table: the first [`MAX_RESULT_COLS`] columns of the report's rows.
pub(super) fn result_rows(
    r: &Report,
    text: impl Fn(&str) -> String,
) -> (Vec<String>, Vec<Vec<String>>) {
    let cols: Vec<String> = r.columns.iter().take(MAX_RESULT_COLS).cloned().collect();
    let rows = r
        .results
        .iter()
        .map(|row| {
            cols.iter()
                .map(|c| text(row.get(c).map(String::as_str).unwrap_or("")))
                .collect()
        })
        .collect();
    (cols, rows)
}
