//! Rank correlation and multiple-testing correction, the statistics the correlations rest
//! on.
//!
//! Why Spearman: daily inputs such as sleep or caffeine relate to outputs monotonically at
//! best, rarely linearly, and a single odd day must not make a finding; ranks are robust to
//! both. Why Benjamini-Hochberg: an athlete's run tests hundreds of input × output × lag
//! pairs, so unadjusted p-values would report chance; BH keeps the expected share of false
//! findings among those reported at the chosen level (0.10).
//!
//! - [`average_ranks`]: 1-based ranks, tied values sharing the mean of their positions.
//! - [`spearman`]: Pearson's correlation of the average ranks (exact with ties, unlike
//!   `1 − 6Σd²/(n(n²−1))`, which it equals without ties).
//! - [`spearman_p_value`]: two-sided, from Student's t with n − 2 degrees of freedom,
//!   `t = ρ·√((n − 2)/(1 − ρ²))` (statrs' distribution); |ρ| = 1 gives 0.
//! - [`benjamini_hochberg`]: `q₍ᵢ₎ = min over j ≥ i of p₍ⱼ₎·m/j`, capped at 1, returned in
//!   the input's order.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// 1-based ranks of `values`, ties getting the mean of the positions they span. Values are
/// compared with `f64::total_cmp` (callers pass finite values).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson's correlation of `x` and `y`; `None` when the lengths differ, fewer than 3
/// pairs, a value is not finite, or either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mean_x) * (b - mean_y);
        sxx += (a - mean_x).powi(2);
        syy += (b - mean_y).powi(2);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman's rho of paired `x` and `y` (average ranks for ties); `None` as [`pearson`].
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// The two-sided p-value of Spearman's `rho` over `n` pairs from Student's t with n − 2
/// degrees of freedom; `None` when `n < 3` or `rho` is not in [−1, 1].
pub fn spearman_p_value(rho: f64, n: usize) -> Option<f64> {
    if n < 3 || !(-1.0..=1.0).contains(&rho) {
        return None;
    }
    if rho.abs() >= 1.0 {
        return Some(0.0);
    }
    let df = (n - 2) as f64;
    let t = rho * (df / (1.0 - rho * rho)).sqrt();
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some((2.0 * dist.sf(t.abs())).clamp(0.0, 1.0))
}

/// Benjamini-Hochberg q-values of `p_values`, in the same order: monotone in p, never below
/// their p, capped at 1. A non-finite p counts as 1.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let p = |i: usize| {
        let v = p_values[i];
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            1.0
        }
    };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p(a).total_cmp(&p(b)).then(a.cmp(&b)));
    let mut q = vec![1.0; m];
    let mut running_min: f64 = 1.0;
    for (rank0, &i) in order.iter().enumerate().rev() {
        // `.max(p)`: p·m/m can round a hair below p.
        let candidate = (p(i) * m as f64 / (rank0 + 1) as f64).max(p(i));
        running_min = running_min.min(candidate);
        q[i] = running_min.min(1.0);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} is not within {tol} of {b}");
    }

    #[test]
    fn ranks_average_ties() {
        // Sorted: 1 | 2 2 | 3 | 4 | 5 5 5 | 6 | 7 → 1, 2.5, 2.5, 4, 5, 7, 7, 7, 9, 10.
        assert_eq!(
            average_ranks(&[1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 6.0, 7.0]),
            [1.0, 2.5, 2.5, 4.0, 5.0, 7.0, 7.0, 7.0, 9.0, 10.0]
        );
        assert_eq!(average_ranks(&[3.0, 1.0, 2.0]), [3.0, 1.0, 2.0]);
    }

    // Reference values from Python's scipy 1.17.1: `scipy.stats.spearmanr(x, y)`, whose
    // p-value uses the same t distribution with n − 2 degrees of freedom.
    #[test]
    fn spearman_and_p_match_scipy() {
        // Neighbours swapped pairwise, n = 12: every |d| = 1, Σd² = 12,
        // rho = 1 − 6·12/(12·143) = 0.958042. scipy: 0.9580419580419581, p 9.543581826838402e-07.
        let x: Vec<f64> = (1..=12).map(f64::from).collect();
        let y = [2., 1., 4., 3., 6., 5., 8., 7., 10., 9., 12., 11.];
        let rho = spearman(&x, &y).unwrap();
        close(rho, 0.958_041_958_041_958_1, 1e-12);
        close(
            spearman_p_value(rho, 12).unwrap(),
            9.543_581_826_838_402e-7,
            1e-12,
        );

        // No ties, n = 10: Σd² = 16+1+25+9+16+16+0+16+1+16 = 116,
        // rho = 1 − 696/990 = 0.296970. scipy: 0.29696969696969694, p 0.40470167127015705.
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y = [5., 3., 8., 1., 9., 2., 7., 4., 10., 6.];
        let rho = spearman(&x, &y).unwrap();
        close(rho, 0.296_969_696_969_696_94, 1e-12);
        close(
            spearman_p_value(rho, 10).unwrap(),
            0.404_701_671_270_157_05,
            1e-9,
        );

        // Ties on both sides. scipy: 0.8700065668604854, p 0.0010647711183913256.
        let x = [1., 2., 2., 3., 4., 5., 5., 5., 6., 7.];
        let y = [3., 1., 2., 2., 5., 4., 6., 7., 7., 9.];
        let rho = spearman(&x, &y).unwrap();
        close(rho, 0.870_006_566_860_485_4, 1e-12);
        close(
            spearman_p_value(rho, 10).unwrap(),
            0.001_064_771_118_391_325_6,
            1e-9,
        );
    }

    #[test]
    fn degenerate_inputs_have_no_rho() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]), None);
        assert_eq!(spearman(&[1.0, 2.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman_p_value(1.0, 10), Some(0.0));
        assert_eq!(spearman_p_value(0.5, 2), None);
        // rho 0: t = 0, p = 1.
        close(spearman_p_value(0.0, 10).unwrap(), 1.0, 1e-12);
    }

    #[test]
    fn benjamini_hochberg_by_hand() {
        // m = 5, sorted p: 0.005, 0.01, 0.03, 0.04, 0.20 → p·5/rank: 0.025, 0.025, 0.05,
        // 0.05, 0.20; the running minimum from the top changes nothing. scipy's
        // false_discovery_control([0.01, 0.04, 0.03, 0.20, 0.005]) agrees:
        // [0.025, 0.05, 0.05, 0.2, 0.025].
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.20, 0.005]);
        for (a, b) in q.iter().zip([0.025, 0.05, 0.05, 0.2, 0.025]) {
            close(*a, b, 1e-12);
        }
        // Monotone step: p 0.04 at rank 2 of 2 → 0.04, p 0.03 at rank 1 → min(0.06, 0.04).
        let q = benjamini_hochberg(&[0.04, 0.03]);
        close(q[0], 0.04, 1e-12);
        close(q[1], 0.04, 1e-12);
        // Capped at 1.
        assert_eq!(benjamini_hochberg(&[0.9, 0.95, 1.0]), [1.0, 1.0, 1.0]);
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    proptest! {
        #[test]
        fn rho_is_within_minus_one_and_one(
            xy in proptest::collection::vec((-1e6f64..1e6, -1e6f64..1e6), 3..60)
        ) {
            let (x, y): (Vec<f64>, Vec<f64>) = xy.into_iter().unzip();
            if let Some(rho) = spearman(&x, &y) {
                prop_assert!((-1.0..=1.0).contains(&rho));
                let p = spearman_p_value(rho, x.len()).unwrap();
                prop_assert!((0.0..=1.0).contains(&p));
            }
        }

        #[test]
        fn bh_q_is_at_least_p_and_monotone(p in proptest::collection::vec(0.0f64..=1.0, 0..80)) {
            let q = benjamini_hochberg(&p);
            prop_assert_eq!(q.len(), p.len());
            for i in 0..p.len() {
                prop_assert!(q[i] >= p[i] && q[i] <= 1.0);
                for j in 0..p.len() {
                    if p[i] <= p[j] {
                        prop_assert!(q[i] <= q[j], "p {} ≤ {} but q {} > {}", p[i], p[j], q[i], q[j]);
                    }
                }
            }
        }
    }
}
