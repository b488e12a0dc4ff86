//! The comment protocol: the stamp that orders comments about one experiment (a comment is
//! never replaced by an older run's), the status comment while a run goes on, a report with a
//! note under its verdict, and the waves table every wave's comment carries.

use std::fmt::Write as _;

use serde::Serialize;

use super::{GroupReport, RunInfo, marker};
use crate::experiment::Plan;
use crate::markdown::{COMMENT_LIMIT, escape};

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

/// Cell ids shown per wave in the waves table; the rest are counted.
const WAVE_CELLS_SHOWN: usize = 10;

/// The dispatch's waves, one line each, and the whole dispatch's tally: what a reader of any
/// one wave's comment needs to know about the others.
pub(super) fn waves_table(g: &GroupReport) -> String {
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
}
