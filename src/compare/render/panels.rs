//! Small multiples (plotters): `panels.svg`, one log–log panel per series whose values are
//! times (predicted against the reference, y = x in each), `panels-arrays.svg` the same for the
//! series declared in cycles (abstract arrays at an assumed clock, kept apart), and
//! `ratios.svg`, predicted ÷ reference by case, one panel per time series, coloured by group.
//! Every panel of one file shares its axes, limited to the range of the data it draws.

use plotters::prelude::{
    BLACK, ChartBuilder, Circle, Color, EmptyElement, IntoDrawingArea, IntoLogRange, LineSeries,
    Polygon, Rectangle, SVGBackend, ShapeStyle, TriangleMarker, WHITE,
};

use super::plot::{axis_label, err, hex, is_array};
use super::{PALETTE, colour};
use crate::compare::CompareError;
use crate::compare::cross::{CrossComparison, JoinedRow, SeriesResult};

const COLS: usize = 3;
const PANEL: (u32, u32) = (400, 340);

fn drawn<'a>(c: &'a CrossComparison, s: &SeriesResult) -> Vec<&'a JoinedRow> {
    c.rows
        .iter()
        .filter(|r| r.series == s.label && r.predicted > 0.0 && r.reference > 0.0)
        .collect()
}

/// [lo, hi] around every value, widened by 10 % on a log scale (a flat range by a decade).
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    let (a, b) = (lo.log10(), hi.log10());
    let pad = ((b - a) * 0.1).max(0.05);
    (10f64.powf(a - pad), 10f64.powf(b + pad))
}

fn grid(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, COLS);
    (n.div_ceil(cols).max(1), cols)
}

/// One log–log panel per selected series: predicted against the reference, y = x.
pub(super) fn panels(c: &CrossComparison, arrays: bool) -> Result<String, CompareError> {
    let series: Vec<(usize, &SeriesResult)> = c
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| is_array(s) == arrays)
        .collect();
    let all: Vec<&JoinedRow> = series.iter().flat_map(|(_, s)| drawn(c, s)).collect();
    let (lo, hi) = log_range(all.iter().flat_map(|r| [r.predicted, r.reference]));
    let (rows, cols) = grid(series.len());
    let mut buf = String::new();
    {
        let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32 + 40);
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let what = if arrays {
            "abstract arrays (cycles at an assumed clock)"
        } else {
            "models of the measured machine"
        };
        let title = format!(
            "Predicted vs {} ({}, log–log, shared axes), {what}",
            c.reference.label, c.unit
        );
        let root = root
            .titled(&title, ("sans-serif", 18))
            .map_err(|e| err(&e))?;
        let areas = root.split_evenly((rows, cols));
        for ((i, s), area) in series.iter().zip(areas) {
            let mut chart = ChartBuilder::on(&area)
                .caption(&s.label, ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_labels(4)
                .y_labels(4)
                .x_label_formatter(&|x| axis_label(*x))
                .y_label_formatter(&|y| axis_label(*y))
                .bold_line_style(BLACK.mix(0.2))
                .light_line_style(BLACK.mix(0.05))
                .draw()
                .map_err(|e| err(&e))?;
            chart
                .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1)))
                .map_err(|e| err(&e))?;
            let col = hex(colour(*i).0);
            let style = ShapeStyle::from(col.mix(0.8)).filled();
            chart
                .draw_series(
                    drawn(c, s)
                        .into_iter()
                        .map(|r| Circle::new((r.reference, r.predicted), 3, style)),
                )
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}

/// The group a row belongs to in the ratio panels, e.g. `batch=8, dtype=fp16` (empty with no
/// `group_by`).
fn group_label(c: &CrossComparison, r: &JoinedRow) -> String {
    c.group_by
        .iter()
        .filter_map(|g| c.keys.iter().position(|k| k == g))
        .map(|i| format!("{}={}", c.keys[i], r.key[i]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cases (first key) along the x axis and the groups (one marker each), in the order the
/// drawn rows first show them.
fn cases_and_groups<'a>(
    c: &'a CrossComparison,
    series: &[&SeriesResult],
) -> (Vec<&'a str>, Vec<String>) {
    let mut cases: Vec<&str> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    for s in series {
        for r in drawn(c, s) {
            if !cases.contains(&r.key[0].as_str()) {
                cases.push(&r.key[0]);
            }
            let g = group_label(c, r);
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    (cases, groups)
}

/// Predicted ÷ reference by case (the first key, in the order of the rows), one panel per time
/// series, one colour per group, a line at 1.
pub(super) fn ratios(c: &CrossComparison) -> Result<String, CompareError> {
    let series: Vec<&SeriesResult> = c.series.iter().filter(|s| !is_array(s)).collect();
    let group_of = |r: &JoinedRow| group_label(c, r);
    let (cases, groups) = cases_and_groups(c, &series);
    let ratio_rows: Vec<&JoinedRow> = series.iter().flat_map(|s| drawn(c, s)).collect();
    let (lo, hi) = log_range(
        ratio_rows
            .iter()
            .map(|r| r.predicted / r.reference)
            .chain([1.0]),
    );
    let (rows, cols) = grid(series.len());
    let n = cases.len().max(1) as f64;
    let mut buf = String::new();
    {
        let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32 + 60);
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let legend = groups
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{} {g}", ["●", "▲", "■", "◆"][i % 4]))
            .collect::<Vec<_>>()
            .join("   ");
        let title = format!(
            "Predicted ÷ {} by {} (log scale; 1 = exact)   {legend}",
            c.reference.label,
            c.keys.first().map_or("case", String::as_str)
        );
        let root = root
            .titled(&title, ("sans-serif", 16))
            .map_err(|e| err(&e))?;
        let areas = root.split_evenly((rows, cols));
        for (s, area) in series.iter().zip(areas) {
            let mut chart = ChartBuilder::on(&area)
                .caption(&s.label, ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(-0.5..(n - 0.5), (lo..hi).log_scale())
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_labels(6)
                .y_labels(5)
                .x_desc(format!(
                    "{} (index)",
                    c.keys.first().map_or("case", String::as_str)
                ))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| axis_label(*y))
                .bold_line_style(BLACK.mix(0.2))
                .light_line_style(BLACK.mix(0.05))
                .draw()
                .map_err(|e| err(&e))?;
            chart
                .draw_series(LineSeries::new(
                    [(-0.5, 1.0), (n - 0.5, 1.0)],
                    BLACK.stroke_width(1),
                ))
                .map_err(|e| err(&e))?;
            for (gi, g) in groups.iter().enumerate() {
                let col = hex(PALETTE[gi % PALETTE.len()].0);
                let style = ShapeStyle::from(col.mix(0.85)).filled();
                let pts: Vec<(f64, f64)> = drawn(c, s)
                    .into_iter()
                    .filter(|r| group_of(r) == *g)
                    .filter_map(|r| {
                        let x = cases.iter().position(|k| *k == r.key[0])? as f64;
                        Some((x, r.predicted / r.reference))
                    })
                    .collect();
                macro_rules! draw {
                    ($shape:expr) => {
                        chart
                            .draw_series(pts.iter().map(|&p| EmptyElement::at(p) + $shape))
                            .map_err(|e| err(&e))?
                    };
                }
                match gi % 4 {
                    0 => draw!(Circle::new((0, 0), 3, style)),
                    1 => draw!(TriangleMarker::new((0, 0), 4, style)),
                    2 => draw!(Rectangle::new([(-3, -3), (3, 3)], style)),
                    _ => draw!(Polygon::new(vec![(0, -4), (4, 0), (0, 4), (-4, 0)], style)),
                };
            }
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}
