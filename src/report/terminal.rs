//! The report for a person at a terminal: the same facts as the Markdown report, without HTML,
//! hidden markers or Markdown syntax, tables aligned by comfy-table, the verdict coloured when
//! the caller says colour is wanted, and long tables cut with a pointer to the full report.

use std::fmt::Write as _;

use comfy_table::{CellAlignment, Table, TableComponent, presets};
use owo_colors::OwoColorize as _;

use super::render::{
    FAILED_CELLS_HEADER, MAX_RESULT_COLS, comparison_caveats, comparison_rows, failed_cell_rows,
    result_rows, whose_time,
};
use super::{CellReport, Report, TERMINAL_ROWS};
use crate::contract::CellStatus;
use crate::markdown::{duration, pct};

/// Text from the dataset or an artifact, made safe to print: no control or bidi character
/// reaches the terminal (an escape sequence in a result value must not drive it); they show as
/// escapes, as everywhere outrun prints a cell's text.
fn clean(s: &str) -> String {
    crate::shown::shown(s)
}

/// Whether a column reads as numbers (right-aligned then).
fn numeric(rows: &[Vec<String>], col: usize) -> bool {
    let mut any = false;
    for r in rows {
        let v = r[col].trim().trim_end_matches('%').trim();
        if v.is_empty() {
            continue;
        }
        if v.trim_start_matches(['+', '-']).parse::<f64>().is_err() {
            return false;
        }
        any = true;
    }
    any
}

/// An aligned table of the first `max_rows` rows; returns it and how many rows it shows.
fn table(header: &[String], rows: &[Vec<String>], max_rows: usize) -> (String, usize) {
    let shown = rows.len().min(max_rows);
    let mut t = Table::new();
    // No borders, one rule under the header: reads like `ls -l` or `cargo tree`, not a box.
    t.load_preset(presets::NOTHING);
    t.set_style(TableComponent::HeaderLines, '─');
    t.set_style(TableComponent::MiddleHeaderIntersections, '─');
    t.set_header(header.iter().map(|h| clean(h)));
    for r in &rows[..shown] {
        t.add_row(r.iter().map(|v| clean(v)));
    }
    for i in 0..header.len() {
        if numeric(&rows[..shown], i)
            && let Some(c) = t.column_mut(i)
        {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    // comfy-table pads the last column too; a terminal needs no trailing blanks.
    let text: String = t
        .to_string()
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    (text, shown)
}

/// Renders `r` for a terminal; `colour` adds ANSI colour to the verdict.
pub(super) fn render(r: &Report, colour: bool) -> String {
    let mut out = String::new();
    let title = format!("outrun · {}", clean(&r.experiment));
    let _ = writeln!(
        out,
        "{}\n",
        if colour {
            title.bold().to_string()
        } else {
            title
        }
    );
    for line in r.description.lines() {
        let _ = writeln!(out, "{}", clean(line));
    }
    if !r.description.is_empty() {
        out.push('\n');
    }
    let s = &r.summary;
    if let Some(run) = &r.run {
        let (verdict, good) = if run.conclusion.as_deref() == Some("cancelled") {
            ("run cancelled", false)
        } else if s.all_ok() && r.refused.is_empty() {
            ("all cells ok", true)
        } else {
            ("some cells did not succeed", false)
        };
        let verdict = match (colour, good) {
            (false, _) => verdict.to_string(),
            (true, true) => verdict.green().bold().to_string(),
            (true, false) => verdict.red().bold().to_string(),
        };
        let attempt = if run.attempt > 1 {
            format!(" attempt {}", run.attempt)
        } else {
            String::new()
        };
        let refused = if s.refused > 0 {
            format!(", {} refused", s.refused)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{verdict} · run {}{attempt} ({}) · {} cells: {} ok, {} failed, {} timed out, {} cancelled{refused}",
            clean(&run.id),
            run.source,
            s.cells,
            s.ok,
            s.failed,
            s.timed_out,
            s.cancelled
        );
        if let Some(u) = &run.url {
            let _ = writeln!(out, "{}", clean(u));
        }
        if let Some(w) = &run.wave {
            let _ = writeln!(
                out,
                "Wave {} of {} of dispatch {} (a run holds at most 256 jobs): the cells above are this wave's; the dataset and the results below hold every wave's rows collected so far.",
                w.wave,
                w.waves,
                clean(&w.group)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Dataset: {} ({} rows, newest run per key)\n",
        clean(&r.dataset),
        r.results_total
    );
    let more = |total: usize, shown: usize, out: &mut String| {
        if shown < total {
            let _ = writeln!(
                out,
                "… {} more rows: `outrun report {} --output FILE` writes the full report; all rows are in {}.",
                total - shown,
                clean(&r.experiment),
                clean(&r.dataset)
            );
        }
        out.push('\n');
    };

    if let Some(c) = &r.comparison {
        let _ = writeln!(out, "Predicted vs measured");
        let _ = writeln!(
            out,
            "{} against {} in {}, joined on {}. APE = absolute percentage error.",
            clean(&c.predicted_column),
            clean(&c.actual_column),
            clean(&c.measured),
            c.on.iter().map(|o| clean(o)).collect::<Vec<_>>().join(", ")
        );
        let rows: Vec<Vec<String>> = c
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.group.clone(),
                    g.rows.to_string(),
                    pct(g.mape_pct),
                    pct(g.median_ape_pct),
                    pct(g.max_ape_pct),
                ]
            })
            .collect();
        let header = ["group", "rows", "MAPE", "median APE", "max APE"].map(String::from);
        out.push_str(&table(&header, &rows, usize::MAX).0);
        for caveat in comparison_caveats(c) {
            let _ = writeln!(out, "{caveat}");
        }
        out.push('\n');
    }
    if !r.refused.is_empty() {
        let _ = writeln!(out, "Artifacts not merged");
        for a in &r.refused {
            let _ = writeln!(out, "- {}: {}", clean(&a.artifact), clean(&a.reason));
        }
        out.push('\n');
    }
    // Cells that did not succeed come first and in full: they are what a reader must act on.
    let bad: Vec<&CellReport> = r
        .cells
        .iter()
        .filter(|c| c.status != CellStatus::Ok)
        .collect();
    if !bad.is_empty() {
        let rows = failed_cell_rows(&bad, str::to_string, str::to_string);
        let header = FAILED_CELLS_HEADER.map(String::from);
        let _ = writeln!(out, "Cells that did not succeed");
        let (t, shown) = table(&header, &rows, TERMINAL_ROWS);
        out.push_str(&t);
        more(rows.len(), shown, &mut out);
    }
    if let Some(c) = &r.comparison {
        let (header, rows) = comparison_rows(c, str::to_string);
        let _ = writeln!(out, "Per row: predicted vs measured ({} rows)", rows.len());
        let (t, shown) = table(&header, &rows, TERMINAL_ROWS);
        out.push_str(&t);
        more(rows.len(), shown, &mut out);
    }
    if !r.results.is_empty() {
        let (cols, rows) = result_rows(r, str::to_string);
        let total = r.results_total.max(rows.len());
        let _ = writeln!(out, "Results ({total} rows)");
        let (t, shown) = table(&cols, &rows, TERMINAL_ROWS);
        out.push_str(&t);
        if r.columns.len() > MAX_RESULT_COLS {
            let _ = writeln!(
                out,
                "{} more columns are in the dataset.",
                r.columns.len() - MAX_RESULT_COLS
            );
        }
        more(total, shown, &mut out);
    }
    if !r.cells.is_empty() && bad.len() < r.cells.len() {
        let ok: Vec<&CellReport> = r
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Ok)
            .collect();
        let total: f64 = ok.iter().map(|c| c.duration_s).sum();
        let _ = writeln!(
            out,
            "{} cells succeeded in {} of cell time in all{}.",
            ok.len(),
            duration(total),
            whose_time(&ok)
        );
    }
    out
}
