//! The summary of a [`Recording`]: duration, moving time, distance, ascent, energy, heart
//! rate and power, normalized power and load.
//!
//! The points are laid on a timeline of whole seconds since the start (second `⌊t_ms /
//! 1000⌋`; several points in one second are averaged). A point's values hold until the
//! next point if that comes within [`MAX_GAP_S`] (10 s): a smart-recording head unit that
//! writes every few seconds still fills every second, while a pause (auto-pause, a
//! dropped sensor) longer than 10 s fills none but the second of its last point. Averages,
//! NP and load are taken over the filled seconds.
//!
//! Each value is computed from the points when they carry it, and otherwise taken from
//! the totals the file states, except ascent and energy, where a device's own total is
//! believed first:
//!
//! - **duration** (elapsed): the seconds the timeline spans, `⌊last t_ms / 1000⌋ + 1`.
//!   (Not the stated total first: TCX states timer time, which leaves pauses out.)
//! - **moving time**: the filled seconds in motion, that is with speed above
//!   [`MOVING_SPEED_MPS`] (0.5 m/s; the speed recorded, else the distance or position
//!   change to the next point), power above 0 or cadence above 0. Seconds in a gap of
//!   more than 10 s never count.
//! - **distance**: the largest cumulative distance the points record; else speed
//!   integrated over the filled seconds; else the great-circle length of the track
//!   (haversine, mean Earth radius 6,371,008.8 m).
//! - **ascent**: the stated total; else altitude gain with a hysteresis of
//!   [`ASCENT_HYSTERESIS_M`] (2 m): a rise counts only once it reaches 2 m above the last
//!   low, and then all of it counts up to the next high; wiggles smaller than 2 m count
//!   nothing. Devices smooth their barometric altitude better than 2 m of hysteresis can
//!   clean GPS altitude (a Fenix 2 run: 64 m stated, 166 m from its points).
//! - **energy**: the stated kcal when above 0; else, for cycling, the mechanical work from
//!   power, with 1 kJ of work taken as 1 kcal burned (a rider's gross efficiency, about
//!   24 %, nearly cancels the 4.184 kJ per kcal); else none.
//! - **heart rate and power**: averages over the filled seconds with a value (zeros of
//!   power included: coasting is riding); maxima over the points themselves.
//! - **NP and load**: see [`crate::load`]. Power TSS when there is power and an FTP,
//!   otherwise hrTSS when there is heart rate and the heart-rate thresholds.

use paceline_formats::{Point, Recording, SportFamily};

use crate::load::{Load, LoadThresholds, TrimpWeighting, power_load};

/// A point's values fill the seconds up to the next point if it comes within this many
/// seconds; a longer gap is a pause.
pub const MAX_GAP_S: u64 = 10;
/// Above this speed a second is in motion, m/s.
pub const MOVING_SPEED_MPS: f64 = 0.5;
/// A rise counts toward ascent once it reaches this far above the last low, m.
pub const ASCENT_HYSTERESIS_M: f64 = 2.0;
/// The length of the NP rolling window, s.
pub const NP_WINDOW_S: usize = 30;
/// The mean Earth radius the track length is measured on, m.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// What a recording adds up to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Elapsed time, s (0 when neither points nor totals give one).
    pub duration_s: f64,
    /// Time in motion, s.
    pub moving_s: Option<f64>,
    /// Distance, m.
    pub distance_m: Option<f64>,
    /// Altitude gain, m.
    pub ascent_m: Option<f64>,
    /// Energy, kcal.
    pub energy_kcal: Option<f64>,
    /// Mean heart rate, bpm.
    pub hr_avg_bpm: Option<f64>,
    /// Highest heart rate, bpm.
    pub hr_max_bpm: Option<u16>,
    /// Mean power, W.
    pub power_avg_w: Option<f64>,
    /// Highest power, W.
    pub power_max_w: Option<u16>,
    /// Normalized power, W (`None` before 30 seconds with power).
    pub np_w: Option<f64>,
    /// Training load.
    pub load: Option<Load>,
}

/// The summary of `recording` for an athlete with `thresholds` (see the module docs).
pub fn summarize(recording: &Recording, thresholds: &LoadThresholds) -> Summary {
    let totals = &recording.totals;
    let seconds = timeline(&recording.points);
    let mut acc = Accumulator::new(TrimpWeighting::new(thresholds));
    for (j, second) in seconds.iter().enumerate() {
        let next = seconds
            .get(j + 1)
            .filter(|n| n.sec - second.sec <= MAX_GAP_S);
        let span = next.map_or(1, |n| n.sec - second.sec);
        let speed_mps = second
            .speed_mps
            .or_else(|| next.and_then(|n| second.speed_to(n)));
        for _ in 0..span {
            acc.add(second, speed_mps);
        }
    }

    let points = &recording.points;
    let duration_s = match seconds.last() {
        Some(last) => to_f64(last.sec) + 1.0,
        None => totals.elapsed_s.unwrap_or(0.0),
    };
    let has_motion = points.iter().any(|p| {
        p.speed_mps.is_some()
            || p.power_w.is_some()
            || p.cadence_rpm.is_some()
            || p.distance_m.is_some()
            || p.lat_deg.is_some()
    });
    let recorded_distance_m = points
        .iter()
        .filter_map(|p| p.distance_m.filter(|d| d.is_finite() && *d >= 0.0))
        .reduce(f64::max);
    let np_w = acc.np_w();
    let load = match (np_w, &acc.trimp) {
        (Some(np_w), _) if thresholds.ftp_w.is_some_and(|f| f > 0) => {
            power_load(f64::from(acc.power_seconds), np_w, thresholds.ftp_w)
        }
        (_, Some(weighting)) if acc.hr_seconds > 0 => Some(weighting.hr_load(acc.trimp_sum)),
        _ => None,
    };
    Summary {
        duration_s,
        moving_s: if has_motion {
            Some(f64::from(acc.moving_seconds))
        } else {
            totals.moving_s
        },
        distance_m: recorded_distance_m
            .or_else(|| (acc.speed_seconds > 0).then_some(acc.speed_distance_m))
            .or_else(|| track_length_m(points))
            .or(totals.distance_m),
        ascent_m: totals
            .ascent_m
            .or_else(|| ascent_m(points.iter().filter_map(|p| p.altitude_m))),
        energy_kcal: totals.energy_kcal.filter(|kcal| *kcal > 0.0).or_else(|| {
            let cycling = recording.sport.family() == SportFamily::Cycling;
            (cycling && acc.power_seconds > 0).then(|| acc.power_sum_w / 1000.0)
        }),
        hr_avg_bpm: (acc.hr_seconds > 0).then(|| acc.hr_sum_bpm / f64::from(acc.hr_seconds)),
        hr_max_bpm: points
            .iter()
            .filter_map(|p| p.heart_rate_bpm.filter(|h| *h > 0))
            .max(),
        power_avg_w: (acc.power_seconds > 0)
            .then(|| acc.power_sum_w / f64::from(acc.power_seconds)),
        power_max_w: points.iter().filter_map(|p| p.power_w).max(),
        np_w,
        load,
    }
}

/// Altitude gain with [`ASCENT_HYSTERESIS_M`] of hysteresis; `None` without altitudes.
pub fn ascent_m(altitudes_m: impl IntoIterator<Item = f32>) -> Option<f64> {
    let mut altitudes = altitudes_m
        .into_iter()
        .map(f64::from)
        .filter(|a| a.is_finite());
    // `reference` is the last low while not climbing, the last high while climbing.
    let mut reference = altitudes.next()?;
    let mut climbing = false;
    let mut gain_m = 0.0;
    for altitude in altitudes {
        if climbing {
            if altitude > reference {
                gain_m += altitude - reference;
                reference = altitude;
            } else if altitude <= reference - ASCENT_HYSTERESIS_M {
                climbing = false;
                reference = altitude;
            }
        } else if altitude < reference {
            reference = altitude;
        } else if altitude >= reference + ASCENT_HYSTERESIS_M {
            gain_m += altitude - reference;
            reference = altitude;
            climbing = true;
        }
    }
    Some(gain_m)
}

/// The great-circle length of the positioned points in order, m; `None` with fewer than
/// two positions.
fn track_length_m(points: &[Point]) -> Option<f64> {
    let mut positions = points.iter().filter_map(position);
    let mut previous = positions.next()?;
    let mut length_m = None;
    for here in positions {
        *length_m.get_or_insert(0.0) += haversine_m(previous, here);
        previous = here;
    }
    length_m
}

fn position(point: &Point) -> Option<(f64, f64)> {
    let lat = point.lat_deg.filter(|l| l.is_finite() && l.abs() <= 90.0)?;
    let lon = point
        .lon_deg
        .filter(|l| l.is_finite() && l.abs() <= 180.0)?;
    Some((lat, lon))
}

fn haversine_m((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = phi2 - phi1;
    let d_lambda = (lon2 - lon1).to_radians();
    let h = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().clamp(0.0, 1.0).asin()
}

/// Seconds since the start as f64 (exact below 2⁵³).
#[allow(clippy::cast_precision_loss)]
fn to_f64(seconds: u64) -> f64 {
    seconds as f64
}

/// The points of one second of the timeline, averaged.
#[derive(Debug, Clone, PartialEq)]
struct Second {
    sec: u64,
    power_w: Option<f64>,
    hr_bpm: Option<f64>,
    speed_mps: Option<f64>,
    cadence_rpm: Option<f64>,
    /// The last cumulative distance recorded in the second, m.
    distance_m: Option<f64>,
    /// The last position recorded in the second.
    position: Option<(f64, f64)>,
}

impl Second {
    /// The speed from this second to `next`, from the recorded distance, else from the
    /// positions.
    fn speed_to(&self, next: &Second) -> Option<f64> {
        let dt_s = to_f64(next.sec - self.sec);
        let covered_m = match (self.distance_m, next.distance_m) {
            (Some(a), Some(b)) => b - a,
            _ => haversine_m(self.position?, next.position?),
        };
        Some(covered_m / dt_s)
    }
}

/// The points as seconds on the timeline, in order; a point earlier than the one before
/// it is dropped.
fn timeline(points: &[Point]) -> Vec<Second> {
    let mut seconds = Vec::new();
    let mut last_t_ms = 0;
    let mut current: Option<Bin> = None;
    for point in points {
        if point.t_ms < last_t_ms {
            continue;
        }
        last_t_ms = point.t_ms;
        let sec = point.t_ms / 1000;
        let bin = match current.take() {
            Some(bin) if bin.sec == sec => bin,
            finished => {
                seconds.extend(finished.map(Bin::finish));
                Bin::new(sec)
            }
        };
        current = Some(bin.with(point));
    }
    seconds.extend(current.map(Bin::finish));
    seconds
}

/// The points of one second, being gathered.
struct Bin {
    sec: u64,
    power_w: Mean,
    hr_bpm: Mean,
    speed_mps: Mean,
    cadence_rpm: Mean,
    distance_m: Option<f64>,
    position: Option<(f64, f64)>,
}

impl Bin {
    fn new(sec: u64) -> Self {
        Bin {
            sec,
            power_w: Mean::default(),
            hr_bpm: Mean::default(),
            speed_mps: Mean::default(),
            cadence_rpm: Mean::default(),
            distance_m: None,
            position: None,
        }
    }

    fn with(mut self, point: &Point) -> Self {
        self.power_w.add(point.power_w.map(f64::from));
        self.hr_bpm
            .add(point.heart_rate_bpm.filter(|h| *h > 0).map(f64::from));
        self.speed_mps.add(point.speed_mps.map(f64::from));
        self.cadence_rpm.add(point.cadence_rpm.map(f64::from));
        if let Some(d) = point.distance_m.filter(|d| d.is_finite() && *d >= 0.0) {
            self.distance_m = Some(d);
        }
        self.position = position(point).or(self.position);
        self
    }

    fn finish(self) -> Second {
        Second {
            sec: self.sec,
            power_w: self.power_w.get(),
            hr_bpm: self.hr_bpm.get(),
            speed_mps: self.speed_mps.get(),
            cadence_rpm: self.cadence_rpm.get(),
            distance_m: self.distance_m,
            position: self.position,
        }
    }
}

/// The mean of the finite, non-negative values added.
#[derive(Default)]
struct Mean {
    sum: f64,
    count: u32,
}

impl Mean {
    fn add(&mut self, value: Option<f64>) {
        if let Some(value) = value.filter(|v| v.is_finite() && *v >= 0.0) {
            self.sum += value;
            self.count += 1;
        }
    }

    fn get(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / f64::from(self.count))
    }
}

/// Sums over the filled seconds.
struct Accumulator {
    trimp: Option<TrimpWeighting>,
    moving_seconds: u32,
    speed_seconds: u32,
    speed_distance_m: f64,
    power_seconds: u32,
    power_sum_w: f64,
    hr_seconds: u32,
    hr_sum_bpm: f64,
    trimp_sum: f64,
    /// The last (up to) 30 seconds with power; `np_next` is where the next goes.
    np_ring_w: [f64; NP_WINDOW_S],
    np_filled: usize,
    np_next: usize,
    np_sum_r4: f64,
    np_windows: u32,
}

impl Accumulator {
    fn new(trimp: Option<TrimpWeighting>) -> Self {
        Accumulator {
            trimp,
            moving_seconds: 0,
            speed_seconds: 0,
            speed_distance_m: 0.0,
            power_seconds: 0,
            power_sum_w: 0.0,
            hr_seconds: 0,
            hr_sum_bpm: 0.0,
            trimp_sum: 0.0,
            np_ring_w: [0.0; NP_WINDOW_S],
            np_filled: 0,
            np_next: 0,
            np_sum_r4: 0.0,
            np_windows: 0,
        }
    }

    /// One filled second with `second`'s values and the speed it moved at.
    fn add(&mut self, second: &Second, speed_mps: Option<f64>) {
        let moving = speed_mps.is_some_and(|s| s > MOVING_SPEED_MPS)
            || second.power_w.is_some_and(|p| p > 0.0)
            || second.cadence_rpm.is_some_and(|c| c > 0.0);
        self.moving_seconds += u32::from(moving);
        if let Some(speed_mps) = second.speed_mps {
            self.speed_seconds += 1;
            self.speed_distance_m += speed_mps;
        }
        if let Some(power_w) = second.power_w {
            self.power_seconds += 1;
            self.power_sum_w += power_w;
            self.np_ring_w[self.np_next] = power_w;
            self.np_next = (self.np_next + 1) % NP_WINDOW_S;
            self.np_filled = (self.np_filled + 1).min(NP_WINDOW_S);
            if self.np_filled == NP_WINDOW_S {
                // Summed afresh from the ring each second, so no rounding drift builds up.
                let mean_w = self.np_ring_w.iter().sum::<f64>() / 30.0;
                self.np_sum_r4 += mean_w.powi(4);
                self.np_windows += 1;
            }
        }
        if let Some(hr_bpm) = second.hr_bpm {
            self.hr_seconds += 1;
            self.hr_sum_bpm += hr_bpm;
            if let Some(weighting) = &self.trimp {
                self.trimp_sum += weighting.weight(hr_bpm);
            }
        }
    }

    fn np_w(&self) -> Option<f64> {
        (self.np_windows > 0).then(|| (self.np_sum_r4 / f64::from(self.np_windows)).sqrt().sqrt())
    }
}

#[cfg(test)]
mod tests {
    use paceline_formats::{Sport, Totals};
    use proptest::prelude::*;

    use super::*;
    use crate::load::LoadMethod;

    fn recording(points: Vec<Point>) -> Recording {
        Recording {
            sport: Sport::Cycling,
            start_ms: 1_750_000_000_000,
            local_offset_s: None,
            name: None,
            device: None,
            totals: Totals::default(),
            points,
        }
    }

    /// One point a second for `seconds` seconds, made by `point(i)`.
    fn every_second(seconds: u64, point: impl Fn(u64) -> Point) -> Vec<Point> {
        (0..seconds)
            .map(|i| Point {
                t_ms: i * 1000,
                ..point(i)
            })
            .collect()
    }

    fn ftp(ftp_w: u16) -> LoadThresholds {
        LoadThresholds {
            ftp_w: Some(ftp_w),
            ..LoadThresholds::default()
        }
    }

    #[test]
    fn an_hour_at_200_w_with_ftp_200_is_tss_100() {
        let points = every_second(3600, |_| Point {
            power_w: Some(200),
            speed_mps: Some(9.0),
            ..Point::default()
        });
        let summary = summarize(&recording(points), &ftp(200));
        assert_eq!(summary.duration_s, 3600.0);
        assert_eq!(summary.moving_s, Some(3600.0));
        assert_eq!(summary.power_avg_w, Some(200.0));
        assert_eq!(summary.power_max_w, Some(200));
        assert_eq!(summary.np_w, Some(200.0));
        let load = summary.load.unwrap();
        assert_eq!(load.method, LoadMethod::Power);
        assert_eq!(load.intensity_factor, Some(1.0));
        assert!((load.tss - 100.0).abs() < 1e-9, "{}", load.tss);
        assert_eq!(summary.distance_m, Some(9.0 * 3600.0), "integrated speed");
        assert_eq!(
            summary.energy_kcal,
            Some(720.0),
            "200 W · 3600 s = 720 kJ ≈ 720 kcal"
        );
    }

    #[test]
    fn alternating_power_has_np_above_its_average() {
        // 2 minutes at 300 W, 2 minutes at 100 W, for an hour: average 200 W.
        let points = every_second(3600, |i| Point {
            power_w: Some(if (i / 120) % 2 == 0 { 300 } else { 100 }),
            ..Point::default()
        });
        let summary = summarize(&recording(points), &ftp(250));
        assert_eq!(summary.power_avg_w, Some(200.0));
        let np_w = summary.np_w.unwrap();
        // Blocks without ramps would give ((300⁴ + 100⁴) / 2)^¼ = 253.0 W; the 30 s ramps
        // between blocks take a little off.
        assert!(np_w > 240.0 && np_w < 253.0, "{np_w}");
        let load = summary.load.unwrap();
        assert!((load.intensity_factor.unwrap() - np_w / 250.0).abs() < 1e-12);
    }

    #[test]
    fn no_np_before_30_seconds_of_power() {
        let points = every_second(29, |_| Point {
            power_w: Some(300),
            ..Point::default()
        });
        let summary = summarize(&recording(points), &ftp(200));
        assert_eq!(summary.np_w, None);
        assert_eq!(summary.load, None);
        assert_eq!(summary.power_avg_w, Some(300.0));
    }

    #[test]
    fn heart_rate_only_gives_hr_tss() {
        let thresholds = LoadThresholds {
            ftp_w: Some(250),
            threshold_hr_bpm: Some(160),
            resting_hr_bpm: Some(50),
            max_hr_bpm: Some(185),
            sex: None,
        };
        let points = every_second(3600, |_| Point {
            heart_rate_bpm: Some(160),
            ..Point::default()
        });
        let summary = summarize(&recording(points), &thresholds);
        assert_eq!(summary.hr_avg_bpm, Some(160.0));
        assert_eq!(summary.hr_max_bpm, Some(160));
        assert_eq!(
            summary.moving_s, None,
            "no motion data and no stated moving time"
        );
        let load = summary.load.unwrap();
        assert_eq!(load.method, LoadMethod::HeartRate);
        assert!((load.tss - 100.0).abs() < 1e-9, "{}", load.tss);
    }

    #[test]
    fn power_wins_over_heart_rate_and_no_thresholds_no_load() {
        let thresholds = LoadThresholds {
            ftp_w: Some(200),
            threshold_hr_bpm: Some(160),
            resting_hr_bpm: Some(50),
            max_hr_bpm: Some(185),
            sex: None,
        };
        let points = every_second(600, |_| Point {
            power_w: Some(200),
            heart_rate_bpm: Some(170),
            ..Point::default()
        });
        let rec = recording(points);
        assert_eq!(
            summarize(&rec, &thresholds).load.unwrap().method,
            LoadMethod::Power
        );
        let no_ftp = LoadThresholds {
            ftp_w: None,
            ..thresholds
        };
        assert_eq!(
            summarize(&rec, &no_ftp).load.unwrap().method,
            LoadMethod::HeartRate
        );
        assert_eq!(summarize(&rec, &LoadThresholds::default()).load, None);
    }

    #[test]
    fn gaps_over_10_s_are_not_moving_and_shorter_ones_are_filled() {
        // Points every 5 s for 100 s (smart recording), a 60 s pause, 100 s more.
        let mut points: Vec<Point> = (0..=20)
            .map(|i| Point {
                t_ms: i * 5000,
                speed_mps: Some(5.0),
                ..Point::default()
            })
            .collect();
        points.extend((0..=20).map(|i| Point {
            t_ms: 160_000 + i * 5000,
            speed_mps: Some(5.0),
            ..Point::default()
        }));
        let summary = summarize(&recording(points), &LoadThresholds::default());
        assert_eq!(summary.duration_s, 261.0);
        // 0..=100 s: 100 filled seconds plus the second of the point at 100 s; likewise after.
        assert_eq!(summary.moving_s, Some(202.0));
        assert_eq!(summary.distance_m, Some(5.0 * 202.0));
    }

    #[test]
    fn slow_seconds_without_power_or_cadence_are_stopped() {
        let points = every_second(100, |i| Point {
            speed_mps: Some(if i < 40 { 0.3 } else { 3.0 }),
            cadence_rpm: Some(0.0),
            ..Point::default()
        });
        let summary = summarize(&recording(points), &LoadThresholds::default());
        assert_eq!(summary.moving_s, Some(60.0));
    }

    #[test]
    fn distance_comes_from_the_record_then_speed_then_track_then_totals() {
        let recorded = every_second(11, |i| Point {
            distance_m: Some(i as f64 * 4.0),
            ..Point::default()
        });
        let summary = summarize(&recording(recorded), &LoadThresholds::default());
        assert_eq!(summary.distance_m, Some(40.0));
        assert_eq!(
            summary.moving_s,
            Some(10.0),
            "speed from distance, last second has no next"
        );

        // 0.001° of latitude on the meridian is 111.2 m.
        let track = every_second(11, |i| Point {
            lat_deg: Some(45.0 + i as f64 * 0.0001),
            lon_deg: Some(7.0),
            ..Point::default()
        });
        let length_m = summarize(&recording(track), &LoadThresholds::default())
            .distance_m
            .unwrap();
        assert!((length_m - 111.19).abs() < 0.01, "{length_m}");

        let mut stated = recording(vec![]);
        stated.totals = Totals {
            elapsed_s: Some(1800.0),
            moving_s: Some(1700.0),
            distance_m: Some(12_000.0),
            energy_kcal: Some(400.0),
            ascent_m: Some(150.0),
        };
        let summary = summarize(&stated, &LoadThresholds::default());
        assert_eq!(summary.duration_s, 1800.0);
        assert_eq!(summary.moving_s, Some(1700.0));
        assert_eq!(summary.distance_m, Some(12_000.0));
        assert_eq!(summary.energy_kcal, Some(400.0));
        assert_eq!(summary.ascent_m, Some(150.0));
    }

    #[test]
    fn stated_ascent_and_energy_come_first() {
        let points = every_second(600, |i| Point {
            power_w: Some(250),
            altitude_m: Some(if i % 2 == 0 { 100.0 } else { 103.0 }),
            ..Point::default()
        });
        let mut ride = recording(points);
        assert_eq!(
            summarize(&ride, &LoadThresholds::default()).ascent_m,
            Some(900.0)
        );
        assert_eq!(
            summarize(&ride, &LoadThresholds::default()).energy_kcal,
            Some(150.0)
        );
        ride.totals.ascent_m = Some(12.0);
        ride.totals.energy_kcal = Some(0.0);
        let summary = summarize(&ride, &LoadThresholds::default());
        assert_eq!(summary.ascent_m, Some(12.0));
        assert_eq!(
            summary.energy_kcal,
            Some(150.0),
            "a stated 0 kcal is no measurement"
        );
        ride.sport = Sport::Running;
        assert_eq!(
            summarize(&ride, &LoadThresholds::default()).energy_kcal,
            None
        );
    }

    #[test]
    fn ascent_ignores_wiggles_under_2_m() {
        assert_eq!(ascent_m([]), None);
        assert_eq!(ascent_m([100.0]), Some(0.0));
        assert_eq!(
            ascent_m([100.0, 101.5, 100.0, 101.9, 100.2, 101.0]),
            Some(0.0)
        );
        // A steady climb counts in full, including its first 2 m.
        assert_eq!(ascent_m((0..=100).map(|i| i as f32 * 0.5)), Some(50.0));
        // Up 10, down 5, up 10: 20 m.
        assert_eq!(ascent_m([0.0, 10.0, 5.0, 15.0]), Some(20.0));
        // A climb's summit wiggle and a noisy descent add nothing.
        assert_eq!(ascent_m([0.0, 10.0, 9.0, 10.5, 8.0, 9.5, 0.0]), Some(10.5));
    }

    proptest! {
        #[test]
        fn ascent_is_at_most_the_sum_of_rises(altitudes in prop::collection::vec(-50.0f32..3000.0, 0..200)) {
            let rises: f64 = altitudes.windows(2).map(|w| (f64::from(w[1]) - f64::from(w[0])).max(0.0)).sum();
            let gain = ascent_m(altitudes.iter().copied()).unwrap_or(0.0);
            prop_assert!(gain >= 0.0);
            prop_assert!(gain <= rises + 1e-6);
        }

        #[test]
        fn a_descent_has_no_ascent(mut altitudes in prop::collection::vec(-50.0f32..3000.0, 1..200)) {
            altitudes.sort_by(|a, b| b.total_cmp(a));
            prop_assert_eq!(ascent_m(altitudes), Some(0.0));
        }

        #[test]
        fn summaries_are_bounded_by_their_points(
            samples in prop::collection::vec((0u64..4000, prop::option::of(0u16..1500), prop::option::of(40u16..210), prop::option::of(0.0f32..25.0)), 0..300),
        ) {
            let mut t_ms = 0;
            let points: Vec<Point> = samples.into_iter().map(|(dt_ms, power_w, heart_rate_bpm, speed_mps)| {
                t_ms += dt_ms;
                Point { t_ms, power_w, heart_rate_bpm, speed_mps, ..Point::default() }
            }).collect();
            let summary = summarize(&recording(points.clone()), &ftp(250));
            let moving_s = summary.moving_s.unwrap_or(0.0);
            prop_assert!(moving_s >= 0.0 && moving_s <= summary.duration_s);
            if let (Some(avg), Some(max)) = (summary.power_avg_w, summary.power_max_w) {
                prop_assert!(avg <= f64::from(max) + 1e-9);
            }
            if let (Some(np), Some(max)) = (summary.np_w, summary.power_max_w) {
                prop_assert!(np <= f64::from(max) + 1e-9);
            }
            if let (Some(avg), Some(max)) = (summary.hr_avg_bpm, summary.hr_max_bpm) {
                prop_assert!(avg <= f64::from(max) + 1e-9);
            }
            if let Some(load) = summary.load {
                prop_assert!(load.tss.is_finite() && load.tss >= 0.0);
            }
        }
    }
}
