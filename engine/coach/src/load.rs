//! Session load and the summary metrics: averages, normalized power, IF, TSS, TRIMP, hrTSS
//! and time in zones, accumulated one second at a time in constant memory.
//!
//! **Power** (Allen & Coggan, *Training and Racing with a Power Meter*):
//! - NP, normalized power: the 30 s rolling mean of the 1 s power series, each raised to the
//!   4th power, averaged, and the 4th root taken: `NP = (mean(r_i⁴))^¼`. The first rolling
//!   mean is taken at the 30th second with power (no partial windows). Seconds without power
//!   data do not enter the window: it holds the last 30 seconds that had power.
//! - IF, intensity factor: `NP / FTP`.
//! - TSS, training stress score: `s · NP · IF / (FTP · 3600) · 100`, `s` the seconds with
//!   power; one hour at exactly FTP is 100.
//!
//! NP is *not* always ≥ the average power: the rolling windows weigh the first and last 29 s
//! less than the middle (1000 W for 1 s then 30 s at 0 W gives NP ≈ 28.0 W against an
//! average of ≈ 32.3 W). What always holds is that NP ≥ the mean of the rolling means.
//!
//! **Heart rate** (Banister, "Modeling elite athletic performance", in *Physiological
//! Testing of the High-Performance Athlete*, 1991; coefficients from Morton, Fitz-Clarke &
//! Banister, J Appl Physiol 69 (1990) 1171–1177):
//! - TRIMP: `Σ (1/60 min) · HRr · a · e^(k·HRr)` over the seconds with heart rate, with
//!   `HRr = (HR − HRrest) / (HRmax − HRrest)` clamped to [0, 1] and `(a, k)` = (0.64, 1.92)
//!   for men, (0.86, 1.67) for women, and their means (0.75, 1.795) for other or unknown.
//! - hrTSS: TRIMP normalised so that one hour at LTHR scores 100, as TSS does for an hour
//!   at FTP: `100 · TRIMP / (60 · HRr_LTHR · a · e^(k·HRr_LTHR))`.
//!
//! Every sum is accumulated in arrival order, so the same seconds give the same bits.

use paceline_schemas::profile::Sex;

use crate::zones::{HrZones, Physiology, PowerZones};

/// The length of the NP rolling window, s.
const NP_WINDOW_S: usize = 30;

/// Load and summary metrics of one session, fed one second at a time.
///
/// Memory is constant: running sums, counters and a 30-value ring for NP.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionLoad {
    hr_zones: HrZones,
    power_zones: Option<PowerZones>,
    ftp_w: Option<f64>,
    trimp: TrimpWeighting,
    /// One second's TRIMP weight at LTHR (see [`TrimpWeighting::weight`]).
    lthr_weight: f64,

    seconds: u32,
    power_seconds: u32,
    power_sum_w: f64,
    hr_seconds: u32,
    hr_sum_bpm: f64,
    hr_peak_bpm: f64,

    /// The last (up to) 30 seconds with power; `np_next` is where the next one goes, which
    /// once the ring is full is also the oldest.
    np_ring_w: [f64; NP_WINDOW_S],
    np_filled: usize,
    np_next: usize,
    np_sum_r4: f64,
    np_windows: u32,

    /// Σ `HRr · a · e^(k·HRr)` over the seconds with heart rate (TRIMP × 60).
    trimp_weight_sum: f64,
    time_in_hr_zone_s: [u32; 5],
    time_in_power_zone_s: [u32; 7],
}

impl SessionLoad {
    /// An empty session for an athlete: copies the zones, FTP, resting, maximum and
    /// threshold heart rate and sex from `phys`.
    pub fn new(phys: &Physiology) -> Self {
        let (a, k) = match phys.sex {
            Some(Sex::Male) => (0.64, 1.92),
            Some(Sex::Female) => (0.86, 1.67),
            Some(Sex::Other) | None => (0.75, 1.795),
        };
        let hr_rest_bpm = f64::from(phys.hr_rest_bpm);
        let trimp = TrimpWeighting {
            hr_rest_bpm,
            hr_reserve_bpm: f64::from(phys.hr_max_bpm) - hr_rest_bpm,
            a,
            k,
        };
        Self {
            hr_zones: phys.hr_zones,
            power_zones: phys.power_zones,
            ftp_w: phys.ftp_w.map(f64::from),
            lthr_weight: trimp.weight(f64::from(phys.lthr_bpm)),
            trimp,
            seconds: 0,
            power_seconds: 0,
            power_sum_w: 0.0,
            hr_seconds: 0,
            hr_sum_bpm: 0.0,
            hr_peak_bpm: 0.0,
            np_ring_w: [0.0; NP_WINDOW_S],
            np_filled: 0,
            np_next: 0,
            np_sum_r4: 0.0,
            np_windows: 0,
            trimp_weight_sum: 0.0,
            time_in_hr_zone_s: [0; 5],
            time_in_power_zone_s: [0; 7],
        }
    }

    /// One second of session data: the second's mean power (None if no power data that
    /// second) and heart rate (None if no usable HR).
    ///
    /// A power that is negative, NaN or infinite counts as no power; a heart rate that is not
    /// finite and above 0 counts as no heart rate. The second still counts in
    /// [`seconds`](Self::seconds).
    pub fn add_second(&mut self, power_w: Option<f64>, hr_bpm: Option<f64>) {
        self.seconds = self.seconds.saturating_add(1);

        if let Some(power_w) = power_w.filter(|p| p.is_finite() && *p >= 0.0) {
            self.power_seconds = self.power_seconds.saturating_add(1);
            self.power_sum_w += power_w;
            if let Some(zones) = &self.power_zones {
                let zone = usize::from(zones.zone_of(power_w));
                self.time_in_power_zone_s[zone - 1] =
                    self.time_in_power_zone_s[zone - 1].saturating_add(1);
            }
            self.push_np(power_w);
        }

        if let Some(hr_bpm) = hr_bpm.filter(|hr| hr.is_finite() && *hr > 0.0) {
            self.hr_seconds = self.hr_seconds.saturating_add(1);
            self.hr_sum_bpm += hr_bpm;
            self.hr_peak_bpm = self.hr_peak_bpm.max(hr_bpm);
            let zone = usize::from(self.hr_zones.zone_of(hr_bpm));
            self.time_in_hr_zone_s[zone - 1] = self.time_in_hr_zone_s[zone - 1].saturating_add(1);
            self.trimp_weight_sum += self.trimp.weight(hr_bpm);
        }
    }

    /// Seconds added, with or without data.
    pub fn seconds(&self) -> u32 {
        self.seconds
    }

    /// Mean power over the seconds with power (zeros included), W.
    pub fn avg_power_w(&self) -> Option<f64> {
        (self.power_seconds > 0).then(|| self.power_sum_w / f64::from(self.power_seconds))
    }

    /// Mean heart rate over the seconds with heart rate, bpm.
    pub fn avg_hr_bpm(&self) -> Option<f64> {
        (self.hr_seconds > 0).then(|| self.hr_sum_bpm / f64::from(self.hr_seconds))
    }

    /// The highest heart rate, rounded to whole bpm.
    pub fn max_hr_bpm(&self) -> Option<u16> {
        (self.hr_seconds > 0).then(|| whole_bpm(self.hr_peak_bpm))
    }

    /// Normalized power (Coggan; see the module docs), W. `None` until 30 seconds with
    /// power; seconds without power do not enter the rolling window.
    pub fn np_w(&self) -> Option<f64> {
        (self.np_windows > 0).then(|| (self.np_sum_r4 / f64::from(self.np_windows)).sqrt().sqrt())
    }

    /// Intensity factor, `NP / FTP`. `None` without NP or FTP.
    pub fn intensity_factor(&self) -> Option<f64> {
        Some(self.np_w()? / self.ftp_w?)
    }

    /// Training stress score, `s · NP · IF / (FTP · 3600) · 100` with `s` the seconds with
    /// power. `None` without NP or FTP.
    pub fn tss(&self) -> Option<f64> {
        let ftp_w = self.ftp_w?;
        let np_w = self.np_w()?;
        let intensity = np_w / ftp_w;
        Some(f64::from(self.power_seconds) * np_w * intensity / (ftp_w * 3600.0) * 100.0)
    }

    /// Banister TRIMP (see the module docs). `None` without heart rate.
    pub fn trimp(&self) -> Option<f64> {
        (self.hr_seconds > 0).then(|| self.trimp_weight_sum / 60.0)
    }

    /// Heart-rate TSS: `100 · TRIMP / TRIMP(60 min at LTHR)`, so an hour at LTHR scores 100.
    /// `None` without heart rate.
    pub fn hr_tss(&self) -> Option<f64> {
        if self.hr_seconds == 0 || self.lthr_weight <= 0.0 {
            return None;
        }
        // TRIMP / (60 · w_lthr) = (Σw / 60) / (60 · w_lthr) = Σw / (3600 · w_lthr).
        Some(100.0 * self.trimp_weight_sum / (3600.0 * self.lthr_weight))
    }

    /// Seconds spent in heart-rate zones 1–5.
    pub fn time_in_hr_zone_s(&self) -> [u32; 5] {
        self.time_in_hr_zone_s
    }

    /// Seconds spent in power zones 1–7 (all 0 when the athlete has no power zones).
    pub fn time_in_power_zone_s(&self) -> [u32; 7] {
        self.time_in_power_zone_s
    }

    /// Adds a second with power to the NP ring, and once it is full, the 4th power of the
    /// window's mean to the NP sum. The window is summed oldest first, every time, so there
    /// is no drift from a running sum.
    fn push_np(&mut self, power_w: f64) {
        self.np_ring_w[self.np_next] = power_w;
        self.np_next = (self.np_next + 1) % NP_WINDOW_S;
        if self.np_filled < NP_WINDOW_S {
            self.np_filled += 1;
        }
        if self.np_filled == NP_WINDOW_S {
            let mut sum_w = 0.0;
            for offset in 0..NP_WINDOW_S {
                sum_w += self.np_ring_w[(self.np_next + offset) % NP_WINDOW_S];
            }
            let mean_w = sum_w / NP_WINDOW_S as f64;
            let squared = mean_w * mean_w;
            self.np_sum_r4 += squared * squared;
            self.np_windows = self.np_windows.saturating_add(1);
        }
    }
}

/// Banister's weighting of heart rate for one athlete.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TrimpWeighting {
    hr_rest_bpm: f64,
    hr_reserve_bpm: f64,
    a: f64,
    k: f64,
}

impl TrimpWeighting {
    /// One second's TRIMP, times 60: `HRr · a · e^(k·HRr)`, with `HRr` clamped to [0, 1]
    /// (and taken as 0 if it is not a number).
    fn weight(&self, hr_bpm: f64) -> f64 {
        let reserve = (hr_bpm - self.hr_rest_bpm) / self.hr_reserve_bpm;
        let reserve = if reserve.is_nan() {
            0.0
        } else {
            reserve.clamp(0.0, 1.0)
        };
        reserve * self.a * (self.k * reserve).exp()
    }
}

/// A heart rate rounded to whole bpm, clamped into `u16`.
#[allow(
    clippy::cast_possible_truncation,
    reason = "rounded and clamped into the u16 range first, so the cast is exact"
)]
fn whole_bpm(bpm: f64) -> u16 {
    bpm.round().clamp(0.0, f64::from(u16::MAX)) as u16
}
