//! The report for a person at a terminal: the same facts as the Markdown report, without HTML,
//! hidden markers or Markdown syntax, tables aligned by comfy-table, the verdict coloured when
//! the caller says colour is wanted, and long tables cut with a pointer to the full report.
//! The sections and their order are [`walk`]'s.

use std::io;

use comfy_table::{CellAlignment, Table, TableComponent, presets};
use owo_colors::OwoColorize as _;

use super::sections::{
    GROUP_HEADER, Section, Verdict, Writer, attempt, comparison_caveats, counts, walk,
    wave_sentence,
};
use super::{Refused, Report, RunInfo, TERMINAL_ROWS};
use crate::compare::Comparison;
use crate::markdown::duration;

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
    let mut out = Vec::new();
    write_terminal(&mut out, r, colour).expect("writing to memory does not fail");
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `r` for a terminal to `out`; `colour` adds ANSI colour to the verdict.
fn write_terminal(out: impl io::Write, r: &Report, colour: bool) -> io::Result<()> {
    walk(r, Terminal { r, out, colour })
}

/// The terminal writer: each section goes to `out` as it comes.
struct Terminal<'a, W> {
    r: &'a Report,
    out: W,
    colour: bool,
}

impl<W: io::Write> Writer for Terminal<'_, W> {
    /// As it is: the table makes every cell safe to print; text outside a table goes through
    /// [`clean`] where it is written.
    fn text(&self, s: &str) -> String {
        s.to_string()
    }

    fn cell_id(&self, id: &str) -> String {
        id.to_string()
    }

    fn title(&mut self) -> io::Result<()> {
        let title = format!("outrun · {}", clean(&self.r.experiment));
        if self.colour {
            writeln!(self.out, "{}\n", title.bold())?;
        } else {
            writeln!(self.out, "{title}\n")?;
        }
        for line in self.r.description.lines() {
            writeln!(self.out, "{}", clean(line))?;
        }
        if !self.r.description.is_empty() {
            writeln!(self.out)?;
        }
        Ok(())
    }

    fn run(&mut self, run: &RunInfo, verdict: Verdict) -> io::Result<()> {
        let words = verdict.words();
        let words = match (self.colour, verdict == Verdict::AllOk) {
            (false, _) => words.to_string(),
            (true, true) => words.green().bold().to_string(),
            (true, false) => words.red().bold().to_string(),
        };
        writeln!(
            self.out,
            "{words} · run {}{} ({}) · {}",
            clean(&run.id),
            attempt(run),
            run.source,
            counts(&self.r.summary)
        )?;
        if let Some(u) = &run.url {
            writeln!(self.out, "{}", clean(u))?;
        }
        if let Some(w) = &run.wave {
            writeln!(self.out, "{}", wave_sentence(w, &clean(&w.group)))?;
        }
        writeln!(self.out)
    }

    fn dataset(&mut self) -> io::Result<()> {
        writeln!(
            self.out,
            "Dataset: {} ({} rows, newest run per key)\n",
            clean(&self.r.dataset),
            self.r.results_total
        )
    }

    fn statistics(&mut self, c: &Comparison, groups: &[Vec<String>]) -> io::Result<()> {
        let on: Vec<String> = c.on.iter().map(|o| clean(o)).collect();
        writeln!(self.out, "Predicted vs measured")?;
        writeln!(
            self.out,
            "{} against {} in {}, joined on {}. APE = absolute percentage error.",
            clean(&c.predicted_column),
            clean(&c.actual_column),
            clean(&c.measured),
            on.join(", ")
        )?;
        let header = GROUP_HEADER.map(String::from);
        self.out
            .write_all(table(&header, groups, usize::MAX).0.as_bytes())?;
        for caveat in comparison_caveats(c) {
            writeln!(self.out, "{caveat}")?;
        }
        writeln!(self.out)
    }

    fn refused(&mut self, refused: &[Refused]) -> io::Result<()> {
        writeln!(self.out, "Artifacts not merged")?;
        for a in refused {
            writeln!(self.out, "- {}: {}", clean(&a.artifact), clean(&a.reason))?;
        }
        writeln!(self.out)
    }

    fn table(&mut self, s: Section) -> io::Result<()> {
        writeln!(self.out, "{}", s.title())?;
        let (t, shown) = table(&s.header, &s.rows, TERMINAL_ROWS);
        self.out.write_all(t.as_bytes())?;
        if s.more_columns > 0 {
            writeln!(
                self.out,
                "{} more columns are in the dataset.",
                s.more_columns
            )?;
        }
        if shown < s.total {
            writeln!(
                self.out,
                "… {} more rows: `outrun report {} --output FILE` writes the full report; all rows are in {}.",
                s.total - shown,
                clean(&self.r.experiment),
                clean(&self.r.dataset)
            )?;
        }
        writeln!(self.out)
    }

    fn cell_time(&mut self, ok: usize, seconds: f64, whose: &str) -> io::Result<()> {
        writeln!(
            self.out,
            "{ok} cells succeeded in {} of cell time in all{whose}.",
            duration(seconds)
        )
    }

    fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}
