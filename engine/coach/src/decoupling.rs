//! Aerobic decoupling (Pw:HR): how far heart rate drifted up relative to power over a
//! steady effort.
//!
//! The seconds so far are split into a first and a second half; each half's efficiency
//! factor is `EF = mean power / mean HR`, and
//! `decoupling % = (EF₁ − EF₂) / EF₁ · 100`: positive when heart rate rose relative to power
//! (or power fell at the same heart rate). Friel treats more than 5 % over a long steady
//! effort as a sign that aerobic endurance is not yet there (Joe Friel, *The Cyclist's
//! Training Bible*; "Aerobic Endurance and Decoupling", TrainingPeaks), which is the
//! coach's alert threshold (SPEC §4).
//!
//! **Memory is bounded.** Seconds are summed into buckets of 10 s (Σ power, Σ HR, count).
//! When 360 buckets are full (one hour), neighbouring pairs are merged and the bucket width
//! doubles (20 s, then 40 s, …), so any duration fits in at most 360 buckets of 24 bytes,
//! with a width never above 1/180 of the duration. The halves are split at the bucket
//! boundary nearest the middle, so each half is exact to within half a bucket: 5 s in the
//! first hour, at most 1/360 of the duration after that.

/// Seconds in a bucket before any merging.
const BUCKET_S: u32 = 10;
/// The most buckets kept (even, so that they merge in pairs): one hour of 10 s buckets.
const MAX_BUCKETS: usize = 360;

/// Sums over a run of consecutive seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    power_sum_w: f64,
    hr_sum_bpm: f64,
    seconds: u32,
}

impl Bucket {
    fn merged(self, next: Bucket) -> Bucket {
        Bucket {
            power_sum_w: self.power_sum_w + next.power_sum_w,
            hr_sum_bpm: self.hr_sum_bpm + next.hr_sum_bpm,
            seconds: self.seconds.saturating_add(next.seconds),
        }
    }
}

/// Aerobic decoupling over the seconds added since the last [`reset`](Self::reset).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoupling {
    buckets: Vec<Bucket>,
    bucket_width_s: u32,
    seconds: u32,
}

impl Default for Decoupling {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoupling {
    /// No seconds yet.
    pub fn new() -> Self {
        Self {
            buckets: Vec::new(),
            bucket_width_s: BUCKET_S,
            seconds: 0,
        }
    }

    /// One second that has both power and heart rate (the caller leaves out the others). A
    /// power that is negative or not finite, or a heart rate that is not finite and above 0,
    /// is ignored.
    pub fn add_second(&mut self, power_w: f64, hr_bpm: f64) {
        let valid = power_w.is_finite() && power_w >= 0.0 && hr_bpm.is_finite() && hr_bpm > 0.0;
        if !valid {
            return;
        }
        let needs_bucket = self
            .buckets
            .last()
            .is_none_or(|last| last.seconds >= self.bucket_width_s);
        if needs_bucket {
            if self.buckets.len() >= MAX_BUCKETS {
                self.merge_pairs();
            }
            self.buckets.push(Bucket::default());
        }
        if let Some(last) = self.buckets.last_mut() {
            last.power_sum_w += power_w;
            last.hr_sum_bpm += hr_bpm;
            last.seconds += 1;
        }
        self.seconds = self.seconds.saturating_add(1);
    }

    /// Seconds added since the last reset.
    pub fn seconds(&self) -> u32 {
        self.seconds
    }

    /// Decoupling so far, %: `(EF₁ − EF₂) / EF₁ · 100`. `None` with fewer than
    /// `min_duration_s` seconds, when the seconds do not yet fill two buckets, or when the
    /// first half has no power (EF₁ = 0).
    pub fn decoupling_pct(&self, min_duration_s: u32) -> Option<f64> {
        if self.seconds < min_duration_s || self.buckets.len() < 2 {
            return None;
        }
        // The split: the boundary whose seconds-before is nearest half the total (the first
        // such boundary on a tie), with at least one bucket on each side.
        let half_s = f64::from(self.seconds) / 2.0;
        let mut before_s = 0u32;
        let mut split = 1;
        let mut best_gap_s = f64::INFINITY;
        for (index, bucket) in self.buckets[..self.buckets.len() - 1].iter().enumerate() {
            before_s += bucket.seconds;
            let gap_s = (f64::from(before_s) - half_s).abs();
            if gap_s < best_gap_s {
                best_gap_s = gap_s;
                split = index + 1;
            }
        }
        let (first, second) = self.buckets.split_at(split);
        let ef_first = efficiency_factor(first)?;
        let ef_second = efficiency_factor(second)?;
        if ef_first <= 0.0 {
            return None;
        }
        Some((ef_first - ef_second) / ef_first * 100.0)
    }

    /// Forgets every second added (for a new steady step).
    pub fn reset(&mut self) {
        self.buckets.clear();
        self.bucket_width_s = BUCKET_S;
        self.seconds = 0;
    }

    /// Halves the number of buckets by summing neighbours; the width doubles.
    fn merge_pairs(&mut self) {
        let pairs = self.buckets.len() / 2;
        for index in 0..pairs {
            self.buckets[index] = self.buckets[2 * index].merged(self.buckets[2 * index + 1]);
        }
        self.buckets.truncate(pairs);
        self.bucket_width_s = self.bucket_width_s.saturating_mul(2);
    }
}

/// `mean power / mean HR` over `buckets`, which is `Σ power / Σ HR`; `None` if Σ HR is 0.
fn efficiency_factor(buckets: &[Bucket]) -> Option<f64> {
    let mut power_sum_w = 0.0;
    let mut hr_sum_bpm = 0.0;
    for bucket in buckets {
        power_sum_w += bucket.power_sum_w;
        hr_sum_bpm += bucket.hr_sum_bpm;
    }
    (hr_sum_bpm > 0.0).then(|| power_sum_w / hr_sum_bpm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_days_fit_in_the_bucket_cap() {
        let mut decoupling = Decoupling::new();
        for _ in 0..2 * 86_400 {
            decoupling.add_second(200.0, 140.0);
        }
        assert!(decoupling.buckets.len() <= MAX_BUCKETS);
        assert!(decoupling.buckets.capacity() <= 2 * MAX_BUCKETS);
        // 48 h = 172 800 s; widths 10 → 20 → … → 640 s after six merges (360 · 640 s ≥
        // 172 800 s > 360 · 320 s).
        assert_eq!(decoupling.bucket_width_s, 640);
        let seconds: u32 = decoupling.buckets.iter().map(|b| b.seconds).sum();
        assert_eq!(seconds, 172_800);
    }
}
