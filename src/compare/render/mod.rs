//! The cross-tool comparison's outputs: Markdown for the issue comment (with Mermaid charts
//! GitHub draws itself, `mermaid`), CSV for the paper (`csv`), and SVG charts (plotters: the
//! scatter `svg`, the small multiples and ratio chart `panels`) committed beside them; and the short text `outrun compare` prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::CompareError;
use super::cross::{CrossComparison, RatioStats};
use crate::markdown::{escape, num, pct};

mod csv;
mod markdown;
mod mermaid;
mod panels;
mod plot;
mod svg;

pub use self::csv::{agreement_csv, agreement_rows_csv, comparison_csv, summary_csv};
pub use self::markdown::markdown;
pub use self::mermaid::mermaid;
pub use self::svg::svg;

/// tab10's colours; the emoji beside them in the Markdown legend are their nearest squares
/// (Mermaid's xychart has no legend of its own).
const PALETTE: [(&str, &str); 8] = [
    ("#1f77b4", "🟦"),
    ("#ff7f0e", "🟧"),
    ("#2ca02c", "🟩"),
    ("#d62728", "🟥"),
    ("#9467bd", "🟪"),
    ("#8c564b", "🟫"),
    ("#bcbd22", "🟨"),
    ("#7f7f7f", "⬜"),
];
const REFERENCE_COLOUR: (&str, &str) = ("#000000", "⬛");

fn colour(i: usize) -> (&'static str, &'static str) {
    PALETTE[i % PALETTE.len()]
}

/// The output files, in the order they are written.
pub const FILES: [&str; 9] = [
    "comparison.csv",
    "summary.csv",
    "agreement.csv",
    "agreement-rows.csv",
    "comparison.md",
    "chart.svg",
    "panels.svg",
    "panels-arrays.svg",
    "ratios.svg",
];

/// Writes every output into `dir` (each file atomically); returns their paths.
pub fn write_all(dir: &Path, c: &CrossComparison) -> Result<Vec<PathBuf>, CompareError> {
    let contents: [Vec<u8>; 9] = [
        comparison_csv(c)?,
        summary_csv(c)?,
        agreement_csv(c)?,
        agreement_rows_csv(c)?,
        markdown(c).into_bytes(),
        svg(c)?.into_bytes(),
        panels::panels(c, false)?.into_bytes(),
        panels::panels(c, true)?.into_bytes(),
        panels::ratios(c)?.into_bytes(),
    ];
    let mut out = Vec::new();
    for (name, bytes) in FILES.iter().zip(contents) {
        let p = dir.join(name);
        crate::fsutil::write_atomic(&p, &bytes)?;
        out.push(p);
    }
    Ok(out)
}

/// Cells the Markdown and the terminal text share: `–` where a figure is undefined.
fn opt_pct(x: Option<f64>) -> String {
    x.map(pct).unwrap_or_else(|| "–".into())
}

fn rho(x: Option<f64>) -> String {
    x.map(|r| format!("{r:.3}")).unwrap_or_else(|| "–".into())
}

fn ratio(x: Option<f64>) -> String {
    x.map(|r| format!("{}×", num(r)))
        .unwrap_or_else(|| "–".into())
}

/// How an output writes the values of a row that the CSV and the Markdown share: the CSV in
/// full precision and as they are ([`csv`]), the Markdown rounded and escaped ([`MARKDOWN`]).
struct Cells {
    /// Text from a declaration or a dataset.
    text: fn(&str) -> String,
    /// A ratio.
    ratio: fn(Option<f64>) -> String,
    /// A rank correlation.
    rho: fn(Option<f64>) -> String,
}

const MARKDOWN: Cells = Cells {
    text: escape,
    ratio,
    rho,
};

/// One row a ratio of an agreement: array, a, b, rows, geomean, median, min, max, below, ρ.
fn ratio_row(cells: &Cells, label: &str, r: &RatioStats) -> Vec<String> {
    let (text, ratio, rho) = (cells.text, cells.ratio, cells.rho);
    vec![
        text(label),
        text(&r.a),
        text(&r.b),
        r.rows.to_string(),
        ratio(r.geomean_ratio),
        ratio(r.median_ratio),
        ratio(r.min_ratio),
        ratio(r.max_ratio),
        r.below.to_string(),
        rho(r.spearman),
    ]
}

/// What `outrun compare` prints in a terminal: the per-tool table and the agreement.
pub fn summary_text(c: &CrossComparison) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "{} against {} ({}), joined on {}:",
        c.name,
        c.reference.label,
        c.unit,
        c.keys.join(", ")
    );
    for s in &c.series {
        let a = s.stats.last();
        let _ = writeln!(
            m,
            "  {:<28} rows {:>4}  MAPE {:>9}  median {:>9}  max {:>9}  ρ {:>6}  (unmatched {}, missing {}, not numeric {})",
            s.label,
            s.joined,
            opt_pct(a.and_then(|g| g.mape_pct)),
            opt_pct(a.and_then(|g| g.median_ape_pct)),
            opt_pct(a.and_then(|g| g.max_ape_pct)),
            rho(a.and_then(|g| g.spearman)),
            s.unmatched,
            s.missing,
            s.non_numeric
        );
    }
    for a in &c.agreement {
        let _ = writeln!(m, "{} ({}):", a.label, a.unit);
        for r in a.vs_floor.iter().chain(&a.pairs) {
            let _ = writeln!(
                m,
                "  {} / {}: geomean {}, range {} – {}, ρ {} over {} rows",
                r.a,
                r.b,
                ratio(r.geomean_ratio),
                ratio(r.min_ratio),
                ratio(r.max_ratio),
                rho(r.spearman),
                r.rows
            );
        }
    }
    m
}
