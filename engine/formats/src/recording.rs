//! The neutral shape of a recorded activity: what FIT, TCX, GPX and CSV files hold in
//! common, in SI units, whichever format it came from.

use serde::{Deserialize, Serialize};

/// The sport of an activity, as the file or the athlete names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sport {
    /// Road, gravel or mountain riding outdoors.
    Cycling,
    /// Riding a trainer or a gym bike.
    IndoorCycling,
    /// Running outdoors.
    Running,
    /// Running on a treadmill.
    TreadmillRunning,
    /// Walking.
    Walking,
    /// Hiking.
    Hiking,
    /// Swimming, pool or open water.
    Swimming,
    /// Rowing, on water or an erg.
    Rowing,
    /// Strength training.
    Strength,
    /// Anything else.
    Other,
}

/// Sports that are the same workout when two sources disagree on the detail (a trainer
/// ride one file calls `cycling` and another `indoor_cycling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SportFamily {
    /// Cycling, indoors or out.
    Cycling,
    /// Running, walking and hiking.
    Foot,
    /// Swimming.
    Swimming,
    /// Rowing.
    Rowing,
    /// Strength training.
    Strength,
    /// Anything else.
    Other,
}

impl Sport {
    /// The family the sport belongs to.
    pub fn family(self) -> SportFamily {
        match self {
            Sport::Cycling | Sport::IndoorCycling => SportFamily::Cycling,
            Sport::Running | Sport::TreadmillRunning | Sport::Walking | Sport::Hiking => {
                SportFamily::Foot
            }
            Sport::Swimming => SportFamily::Swimming,
            Sport::Rowing => SportFamily::Rowing,
            Sport::Strength => SportFamily::Strength,
            Sport::Other => SportFamily::Other,
        }
    }
}

/// One recorded moment. Every value is optional: files record what their sensors had.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Time since the recording's start, ms.
    pub t_ms: u64,
    /// Heart rate, beats per minute.
    pub heart_rate_bpm: Option<u16>,
    /// Power, watts.
    pub power_w: Option<u16>,
    /// Cadence: rpm on a bike, steps per minute on foot.
    pub cadence_rpm: Option<f32>,
    /// Speed, m/s.
    pub speed_mps: Option<f32>,
    /// Distance covered since the start, m.
    pub distance_m: Option<f64>,
    /// Latitude, degrees (WGS84).
    pub lat_deg: Option<f64>,
    /// Longitude, degrees (WGS84).
    pub lon_deg: Option<f64>,
    /// Altitude, m.
    pub altitude_m: Option<f32>,
}

/// Totals as the file states them (a head unit's own summary); `None` where it states
/// none. Summaries computed from the points are the library's business, not the reader's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Elapsed time, s.
    pub elapsed_s: Option<f64>,
    /// Time in motion, s.
    pub moving_s: Option<f64>,
    /// Distance, m.
    pub distance_m: Option<f64>,
    /// Energy, kcal.
    pub energy_kcal: Option<f64>,
    /// Total ascent, m.
    pub ascent_m: Option<f64>,
}

/// A recorded activity read from a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Its sport.
    pub sport: Sport,
    /// When it started, ms since the Unix epoch (UTC).
    pub start_ms: i64,
    /// The local time's offset from UTC at the start, s, when the file says.
    pub local_offset_s: Option<i32>,
    /// The name the file gives it, if any.
    pub name: Option<String>,
    /// The recording device, if the file names it (e.g. "Garmin Edge 530").
    pub device: Option<String>,
    /// Totals the file states.
    pub totals: Totals,
    /// The recorded points, in time order.
    pub points: Vec<Point>,
}

impl Sport {
    /// The sport a name stands for, as files and exports write it, case and punctuation
    /// ignored: TCX's `Biking`/`Running`, GPX `<type>`s (`cycling`, `running`, Strava's
    /// numbers), Strava's activity types (`Ride`, `VirtualRide`, `Run`, `WeightTraining`, …).
    /// Anything unknown is [`Sport::Other`].
    pub fn from_name(name: &str) -> Sport {
        let key: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match key.as_str() {
            "biking" | "cycling" | "ride" | "road" | "roadcycling" | "bike" | "gravelride"
            | "mountainbikeride" | "mountainbiking" | "ebikeride" | "1" => Sport::Cycling,
            "indoorcycling" | "virtualride" | "indoorride" | "spinning" | "trainer" => {
                Sport::IndoorCycling
            }
            "running" | "run" | "trailrun" | "trailrunning" | "9" => Sport::Running,
            "treadmillrunning" | "virtualrun" | "treadmill" => Sport::TreadmillRunning,
            "walking" | "walk" | "10" => Sport::Walking,
            "hiking" | "hike" | "4" => Sport::Hiking,
            "swimming" | "swim" | "poolswim" | "openwaterswimming" => Sport::Swimming,
            "rowing" | "row" | "indoorrowing" => Sport::Rowing,
            "strength" | "strengthtraining" | "weighttraining" | "workout" => Sport::Strength,
            _ => Sport::Other,
        }
    }

    /// The name TCX, GPX and CSV exports write, read back by [`Sport::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Sport::Cycling => "cycling",
            Sport::IndoorCycling => "indoor_cycling",
            Sport::Running => "running",
            Sport::TreadmillRunning => "treadmill_running",
            Sport::Walking => "walking",
            Sport::Hiking => "hiking",
            Sport::Swimming => "swimming",
            Sport::Rowing => "rowing",
            Sport::Strength => "strength",
            Sport::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sport_names_read_as_files_and_exports_write_them() {
        for (name, sport) in [
            ("Biking", Sport::Cycling),
            ("Ride", Sport::Cycling),
            ("VirtualRide", Sport::IndoorCycling),
            ("indoor_cycling", Sport::IndoorCycling),
            ("Running", Sport::Running),
            ("Trail Run", Sport::Running),
            ("9", Sport::Running),
            ("WeightTraining", Sport::Strength),
            ("Hike", Sport::Hiking),
            ("Kitesurf", Sport::Other),
            ("", Sport::Other),
        ] {
            assert_eq!(Sport::from_name(name), sport, "{name:?}");
        }
        for sport in [
            Sport::Cycling,
            Sport::IndoorCycling,
            Sport::Running,
            Sport::TreadmillRunning,
            Sport::Walking,
            Sport::Hiking,
            Sport::Swimming,
            Sport::Rowing,
            Sport::Strength,
            Sport::Other,
        ] {
            assert_eq!(Sport::from_name(sport.name()), sport, "{sport:?}");
        }
    }
}
