//! The statistics both comparisons share: the experiment's `compare` block (the report) and
//! `outrun compare` (the cross-tool comparison). Written once so the two can never disagree.

/// Mean, median and maximum of absolute percentage errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApeSummary {
    pub rows: usize,
    pub mape_pct: f64,
    pub median_ape_pct: f64,
    pub max_ape_pct: f64,
}

/// The summary of `ape` (absolute percentage errors, any order); all zero when it is empty.
pub fn ape_summary(ape: &[f64]) -> ApeSummary {
    ApeSummary {
        rows: ape.len(),
        mape_pct: mean(ape).unwrap_or(0.0),
        median_ape_pct: median(ape).unwrap_or(0.0),
        max_ape_pct: ape
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
            .unwrap_or(0.0),
    }
}

pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The middle value, or the mean of the two middle values for an even count.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// The geometric mean of positive values (`None` when there are none or one is not positive):
/// the fair average of ratios, where ×2 and ×½ cancel out.
pub fn geomean(v: &[f64]) -> Option<f64> {
    if v.is_empty() || v.iter().any(|x| *x <= 0.0 || !x.is_finite()) {
        return None;
    }
    Some((v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

/// 1-based ranks; tied values share the average of the ranks they span (1, 2.5, 2.5, 4).
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold equal values: each gets the mean rank.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation: Pearson's correlation of the (tie-averaged) ranks. It answers
/// "does the tool at least order the cases right?", whatever its units or scale. `None` with
/// fewer than two pairs, or when one side is constant (the correlation is undefined).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let mx = mean(x)?;
    let my = mean(y)?;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        assert_eq!(ranks(&[1.0, 1.0, 1.0]), vec![2.0, 2.0, 2.0]);
        assert_eq!(ranks(&[]), Vec::<f64>::new());
    }

    #[test]
    fn spearman_by_hand() {
        // Same order, different scale: 1.
        assert_eq!(
            spearman(&[1.0, 2.0, 3.0], &[10.0, 200.0, 3000.0]),
            Some(1.0)
        );
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // No ties: 1 − 6Σd²/(n(n²−1)). Ranks y = 1,3,2,4,5 → d² = 0,1,1,0,0 → 1 − 12/120 = 0.9.
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 3.0, 2.0, 4.0, 5.0]).unwrap();
        assert!((r - 0.9).abs() < 1e-12, "{r}");
        // With ties (by hand, Pearson on ranks): x ranks 1,2,3,4; y = [1,2,2,3] → ranks
        // 1, 2.5, 2.5, 4. Deviations x: -1.5,-.5,.5,1.5; y: -1.5,0,0,1.5.
        // Σxy = 2.25+0+0+2.25 = 4.5; Σx² = 5; Σy² = 4.5 → ρ = 4.5/√22.5 = 0.9486832980505138.
        let r = spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 2.0, 3.0]).unwrap();
        assert!((r - 4.5 / 22.5f64.sqrt()).abs() < 1e-12, "{r}");
        // Undefined: too few pairs, or a constant side.
        assert_eq!(spearman(&[1.0], &[2.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]), None);
    }

    #[test]
    fn summaries_by_hand() {
        let s = ape_summary(&[10.0, 30.0, 20.0, 40.0]);
        assert_eq!(
            (s.rows, s.mape_pct, s.median_ape_pct, s.max_ape_pct),
            (4, 25.0, 25.0, 40.0)
        );
        let s = ape_summary(&[]);
        assert_eq!((s.rows, s.mape_pct, s.max_ape_pct), (0, 0.0, 0.0));
        assert_eq!(geomean(&[2.0, 0.5]), Some(1.0));
        assert_eq!(geomean(&[2.0, 0.0]), None);
    }
}
