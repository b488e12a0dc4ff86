//! `chart.svg`: the log–log scatter of predicted against reference (plotters), for the series
//! given in a time unit; those declared in cycles (abstract arrays at an assumed clock) are in
//! `panels-arrays.svg` instead, so the axes span the time series' data only.

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::{
    BLACK, ChartBuilder, Circle, Color, Cross, EmptyElement, IntoDrawingArea, IntoLogRange,
    LineSeries, PathElement, Polygon, Rectangle, SVGBackend, SeriesLabelPosition, ShapeStyle,
    TriangleMarker, WHITE,
};

use super::plot::{axis_label, err, hex, is_array};
use super::{PALETTE, colour};
use crate::compare::CompareError;
use crate::compare::cross::{CrossComparison, JoinedRow, SeriesResult};

/// The log–log scatter of predicted against reference: one series of points per tool given in
/// a time unit (series in cycles are left to `panels-arrays.svg` and named in the caption), the
/// y = x line, a legend, axis labels with the unit. Points ≤ 0 cannot be drawn on a log axis and
/// are counted in the caption instead.
pub fn svg(c: &CrossComparison) -> Result<String, CompareError> {
    let Timed {
        series: timed,
        pts,
        hidden,
    } = Timed::of(c);
    let arrays = c.series.len() - timed.len();
    // One range of whole decades for both axes, around every value on either: the plot is
    // square and y = x is its diagonal, so "above the line" reads as "predicts more".
    let (lo_exp, hi_exp) = decade_range(&pts);
    let (lo, hi) = (10f64.powi(lo_exp), 10f64.powi(hi_exp));
    // A labelled tick and a grid line at every decade, light lines at 2..9 × each decade.
    let (decades, minor) = decade_ticks(lo_exp, hi_exp);
    let mut buf = String::new();
    {
        // Plot area = width − margins − y labels, height − title − margins − x labels: these
        // sizes make it square (730 × 730 pixels; a test checks).
        let root = SVGBackend::with_string(&mut buf, (900, 854)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let caption = caption(c, hidden, arrays);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 22))
            .margin(20)
            .margin_right(50) // the last x label is centred on the right edge
            .x_label_area_size(55)
            .y_label_area_size(100)
            .build_cartesian_2d(
                (lo..hi)
                    .log_scale()
                    .with_key_points(decades.clone())
                    .with_light_points(minor.clone()),
                (lo..hi)
                    .log_scale()
                    .with_key_points(decades.clone())
                    .with_light_points(minor.clone()),
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(format!("{} ({}, log scale)", c.reference.label, c.unit))
            .y_desc(format!("predicted ({}, log scale)", c.unit))
            .x_label_formatter(&|x| axis_label(*x))
            .y_label_formatter(&|y| axis_label(*y))
            .bold_line_style(BLACK.mix(0.25))
            .light_line_style(BLACK.mix(0.07))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1)))
            .map_err(|e| err(&e))?
            .label("y = x (exact prediction)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        // Each series' marker differs in shape as well as colour from its neighbours', so
        // series that coincide stay visible: filled circle, triangle, square, diamond, then a
        // cross and hollow circle, triangle and square.
        for &(i, s) in &timed {
            let col = hex(colour(i).0);
            let filled = ShapeStyle::from(col.mix(0.85)).filled();
            let hollow = ShapeStyle::from(col.mix(0.85)).stroke_width(2);
            let mine = c
                .rows
                .iter()
                .filter(|r| r.series == s.label && r.predicted > 0.0 && r.reference > 0.0)
                .map(|r| (r.reference, r.predicted));
            macro_rules! draw {
                ($shape:expr) => {
                    chart
                        .draw_series(mine.map(|p| EmptyElement::at(p) + $shape))
                        .map_err(|e| err(&e))?
                        .label(s.label.clone())
                        .legend(move |(x, y)| EmptyElement::at((x + 10, y)) + $shape)
                };
            }
            // Shifted once per round of the palette, so no two series share colour and shape.
            match (i + i / PALETTE.len()) % 8 {
                0 => draw!(Circle::new((0, 0), 4, filled)),
                1 => draw!(TriangleMarker::new((0, 0), 6, filled)),
                2 => draw!(Rectangle::new([(-4, -4), (4, 4)], filled)),
                3 => draw!(Polygon::new(vec![(0, -6), (6, 0), (0, 6), (-6, 0)], filled)),
                4 => draw!(Cross::new((0, 0), 5, hollow)),
                5 => draw!(Circle::new((0, 0), 5, hollow)),
                6 => draw!(TriangleMarker::new((0, 0), 7, hollow)),
                _ => draw!(Rectangle::new([(-5, -5), (5, 5)], hollow)),
            };
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}

/// What the chart draws: the series given in a time unit (with their palette index), their
/// points that a log scale can show, and how many of their rows it cannot (a value ≤ 0).
struct Timed<'a> {
    series: Vec<(usize, &'a SeriesResult)>,
    pts: Vec<(f64, f64)>,
    hidden: usize,
}

impl<'a> Timed<'a> {
    fn of(c: &'a CrossComparison) -> Self {
        let series: Vec<(usize, &SeriesResult)> = c
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !is_array(s))
            .collect();
        let rows: Vec<&JoinedRow> = c
            .rows
            .iter()
            .filter(|r| series.iter().any(|(_, s)| s.label == r.series))
            .collect();
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.predicted > 0.0 && r.reference > 0.0)
            .map(|r| (r.reference, r.predicted))
            .collect();
        let hidden = rows.len() - pts.len();
        Timed {
            series,
            pts,
            hidden,
        }
    }
}

/// The chart's title, saying how many rows a log scale cannot show and where the series in
/// cycles are.
fn caption(c: &CrossComparison, hidden: usize, arrays: usize) -> String {
    let mut notes = Vec::new();
    if hidden > 0 {
        notes.push(format!("{hidden} rows ≤ 0 not drawn"));
    }
    if arrays > 0 {
        notes.push(format!("{arrays} cycle series: panels-arrays.svg"));
    }
    if notes.is_empty() {
        format!("Predicted vs {}", c.reference.label)
    } else {
        format!("Predicted vs {} ({})", c.reference.label, notes.join("; "))
    }
}

/// The decades (as powers of ten) of the one range both axes share: whole decades around
/// every value on either, at least one; 10⁰..10¹ with nothing to draw.
fn decade_range(pts: &[(f64, f64)]) -> (i32, i32) {
    let (lo, hi) = pts
        .iter()
        .flat_map(|&(x, y)| [x, y])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo.is_finite() {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (a, b.max(a + 1))
    } else {
        (0, 1)
    }
}

/// The ticks for decades `lo_exp..=hi_exp`: the labelled ones (each decade) and the light
/// ones (2..9 × each decade).
fn decade_ticks(lo_exp: i32, hi_exp: i32) -> (Vec<f64>, Vec<f64>) {
    let decades: Vec<f64> = (lo_exp..=hi_exp).map(|e| 10f64.powi(e)).collect();
    let minor: Vec<f64> = (lo_exp..hi_exp)
        .flat_map(|e| (2..10).map(move |k| f64::from(k) * 10f64.powi(e)))
        .collect();
    (decades, minor)
}
