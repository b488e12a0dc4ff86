//! What the plotters charts share (`svg.rs`, `panels.rs`): which series are drawn apart, the
//! tick labels, the colours, and how a drawing error is reported.

use crate::compare::CompareError;
use crate::compare::cross::SeriesResult;
use crate::markdown::num;

/// A drawing error, as the comparison reports it.
pub(super) fn err(e: &dyn std::fmt::Display) -> CompareError {
    CompareError::Output(format!("drawing the chart: {e}"))
}

/// Series declared in cycles model an abstract array at an assumed clock.
pub(super) fn is_array(s: &SeriesResult) -> bool {
    s.unit == "cycles"
}

/// Every tick in one format: plain decimals with thousands separators (0.01, 0.1, 1, 10, …,
/// 100,000), never a mix of `1000` and `1e4`; beyond that range, powers of ten (`1e7`).
pub(super) fn axis_label(x: f64) -> String {
    let a = x.abs();
    if !(1e-4..1e7).contains(&a) {
        return format!("{x:e}");
    }
    if a >= 1.0 {
        let digits = format!("{:.0}", a);
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else {
        num(x)
    }
}

pub(super) fn hex(h: &str) -> plotters::style::RGBColor {
    let c = |i: usize| u8::from_str_radix(h.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    plotters::style::RGBColor(c(1), c(3), c(5))
}
