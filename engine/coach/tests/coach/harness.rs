//! A virtual-clock driver for the Coach.

use paceline_coach::{Coach, CoachConfig, EffectiveTarget, Output};
use paceline_schemas::command::Command;
use paceline_schemas::plan::WorkoutPlan;
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate, Sample, SampleValue};
use paceline_schemas::{AthleteProfile, SessionId};

/// The shared example profile (age 38, HRmax 186, cap 176, FTP 240, CP 250, W′ 18 kJ).
pub fn shared_profile() -> AthleteProfile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/plans/athlete-profile.json"
    );
    let bytes = std::fs::read(path).expect("the shared profile is readable");
    paceline_schemas::codec::from_json(&bytes).expect("the shared profile parses")
}

/// A shared `.zwo` plan by file name.
pub fn shared_plan(name: &str) -> WorkoutPlan {
    let path = format!(
        "{}/../../../shared/data/plans/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).expect("the shared plan is readable");
    paceline_formats::plan_import::import_plan(name, &bytes).expect("the shared plan imports")
}

/// A plan written as JSON in the test.
pub fn plan(json: &str) -> WorkoutPlan {
    paceline_schemas::codec::from_json(json.as_bytes()).expect("test plan parses")
}

pub fn heart_rate(bpm: u16) -> SampleValue {
    SampleValue::HeartRate(HeartRate {
        bpm,
        contact: Contact::On,
        energy_kj: None,
        rr_1024: vec![],
    })
}

pub fn heart_rate_no_contact() -> SampleValue {
    SampleValue::HeartRate(HeartRate {
        bpm: 0,
        contact: Contact::Off,
        energy_kj: None,
        rr_1024: vec![],
    })
}

pub fn power(power_w: i16) -> SampleValue {
    SampleValue::CyclingPower(CyclingPower {
        power_w,
        cadence_rpm: Some(90.0),
        ..CyclingPower::default()
    })
}

pub fn power_at_cadence(power_w: i16, cadence_rpm: f32) -> SampleValue {
    SampleValue::CyclingPower(CyclingPower {
        power_w,
        cadence_rpm: Some(cadence_rpm),
        ..CyclingPower::default()
    })
}

/// Drives one coach on a virtual clock and keeps what it said.
pub struct Ride {
    pub coach: Coach,
    pub now_ms: u64,
    pub outputs: Vec<(u64, Output)>,
}

impl Ride {
    pub fn new(profile: &AthleteProfile, plan: Option<&WorkoutPlan>) -> Ride {
        Ride::with_config(profile, plan, CoachConfig::default())
    }

    pub fn with_config(
        profile: &AthleteProfile,
        plan: Option<&WorkoutPlan>,
        config: CoachConfig,
    ) -> Ride {
        let session = SessionId::new("s-1").expect("valid id");
        let coach = Coach::new(session, profile, plan, config).expect("coach builds");
        Ride {
            coach,
            now_ms: 1_000_000,
            outputs: Vec::new(),
        }
    }

    /// Fires every timeout due up to `until_ms`, then sets the clock there.
    pub fn advance_to(&mut self, until_ms: u64) {
        while let Some(due) = self.coach.poll_timeout() {
            if due > until_ms {
                break;
            }
            self.now_ms = due;
            self.coach.handle_timeout(due);
            self.drain();
        }
        self.now_ms = until_ms.max(self.now_ms);
    }

    pub fn sample(&mut self, value: SampleValue) {
        let sample = Sample {
            t_ms: self.now_ms,
            value,
        };
        self.coach.handle_sample(self.now_ms, &sample);
        self.drain();
    }

    pub fn command(&mut self, command: Command) {
        self.coach.handle_command(self.now_ms, &command);
        self.drain();
    }

    /// Rides `seconds` seconds: heart rate once a second and power four times a second,
    /// each given as a function of the second (None = no sample).
    pub fn ride(
        &mut self,
        seconds: u64,
        mut hr: impl FnMut(u64) -> Option<SampleValue>,
        mut power_w: impl FnMut(u64) -> Option<i16>,
    ) {
        let start = self.now_ms;
        for s in 0..seconds {
            for quarter in 0..4 {
                self.advance_to(start + s * 1000 + quarter * 250);
                if quarter == 0
                    && let Some(v) = hr(s)
                {
                    self.sample(v);
                }
                if let Some(w) = power_w(s) {
                    self.sample(power(w));
                }
            }
        }
        self.advance_to(start + seconds * 1000);
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.coach.poll_output() {
            self.outputs.push((self.now_ms, out));
        }
    }

    /// The cues, one line each: `t_s severity code: text [modification]`.
    pub fn cue_lines(&self) -> String {
        render(&self.outputs, false)
    }

    /// Cues and target changes.
    pub fn all_lines(&self) -> String {
        render(&self.outputs, true)
    }

    pub fn cues(&self) -> Vec<&paceline_schemas::Cue> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Cue(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    pub fn targets(&self) -> Vec<EffectiveTarget> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Target(t) => Some(t.target),
                _ => None,
            })
            .collect()
    }
}

fn render(outputs: &[(u64, Output)], with_targets: bool) -> String {
    let mut lines = String::new();
    for (_, out) in outputs {
        match out {
            Output::Cue(c) => {
                let severity = format!("{:?}", c.severity).to_lowercase();
                let code = serde_json::to_value(c.code).expect("code serializes");
                let modification = match &c.modification {
                    Some(m) => format!(" {}", serde_json::to_string(m).expect("serializes")),
                    None => String::new(),
                };
                lines.push_str(&format!(
                    "t={:.1} {severity} {}: {}{modification}\n",
                    c.t_s,
                    code.as_str().unwrap_or("?"),
                    c.text
                ));
            }
            Output::Target(t) if with_targets => {
                let step = t.step.as_ref().map_or("-".to_owned(), |s| s.label.clone());
                let held = t.held.map_or(String::new(), |b| format!(" (held: {b:?})"));
                lines.push_str(&format!(
                    "t={:.1} target {} [{step}]{held}\n",
                    t.t_s, t.target
                ));
            }
            Output::Target(_) => {}
            Output::Summary(s) => {
                lines.push_str(&format!(
                    "t={:.1} summary {}\n",
                    s.duration_s,
                    paceline_schemas::codec::to_json(s).unwrap_or_default()
                ));
            }
        }
    }
    lines
}
