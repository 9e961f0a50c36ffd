//! The replay job: recorded sessions in, cues and summaries out.
//!
//! Each input is its own session, named after its file (`garmin-edge-500-activity`, with
//! `-2`, `-3` … for repeats). A session's records are: `open` (profile and plan), its
//! samples in time order with `now_ms` = the sample time, a "minutes left" command after
//! the first sample when a budget is given, and `end` at the last sample's time. So `t_s`
//! in cues is seconds from the session's first sample.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use paceline_schemas::command::{Command, TimeLeft};
use paceline_schemas::engine::{
    EngineRecord, OutputBody, SessionCommand, SessionEvent, SessionInput, SessionOutput,
    SessionSetup,
};
use paceline_schemas::sample::Sample;
use paceline_schemas::{AthleteProfile, SessionId, SessionSummary, WorkoutPlan};

use crate::dataflow::{BatchRecords, BatchSource};
use paceline_formats::samples::{ActivitySamples, MAX_ACTIVITY_BYTES, decode_activity_samples};

/// Where a session's samples come from.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// A FIT, TCX, GPX or CSV recording on disk.
    File(PathBuf),
    /// Samples already in memory (tests, benchmarks).
    Samples(Vec<Sample>),
}

/// One session of a replay.
#[derive(Debug, Clone)]
pub struct ReplayInput {
    /// Its session id.
    pub session: SessionId,
    /// Its name in messages (the path as given).
    pub name: String,
    /// Its samples.
    pub source: InputSource,
}

/// A whole replay: who rides, what, and the recordings.
#[derive(Debug, Clone)]
pub struct ReplayJob {
    /// The athlete.
    pub profile: AthleteProfile,
    /// The plan, if any.
    pub plan: Option<WorkoutPlan>,
    /// Minutes available, if the athlete had a time budget.
    pub budget_min: Option<u32>,
    /// The sessions, in output order.
    pub inputs: Vec<ReplayInput>,
}

impl ReplayJob {
    /// A job over files, with session ids derived from the file names.
    pub fn from_files(
        profile: AthleteProfile,
        plan: Option<WorkoutPlan>,
        budget_min: Option<u32>,
        paths: &[PathBuf],
    ) -> ReplayJob {
        let ids = session_ids(paths);
        let inputs = paths
            .iter()
            .zip(ids)
            .map(|(path, session)| ReplayInput {
                session,
                name: path.display().to_string(),
                source: InputSource::File(path.clone()),
            })
            .collect();
        ReplayJob {
            profile,
            plan,
            budget_min,
            inputs,
        }
    }

    fn samples(&self, input: &ReplayInput) -> Result<ActivitySamples, String> {
        match &input.source {
            InputSource::Samples(samples) => Ok(samples.clone().into()),
            InputSource::File(path) => {
                let size = std::fs::metadata(path)
                    .map_err(|e| format!("{}: {e}", input.name))?
                    .len();
                if size > MAX_ACTIVITY_BYTES as u64 {
                    return Err(format!(
                        "{}: {size} bytes is more than an activity may have ({MAX_ACTIVITY_BYTES})",
                        input.name
                    ));
                }
                let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", input.name))?;
                decode_activity_samples(&bytes).map_err(|e| format!("{}: {e}", input.name))
            }
        }
    }
}

impl BatchSource for ReplayJob {
    fn len(&self) -> usize {
        self.inputs.len()
    }

    fn records(&self, index: usize) -> Result<BatchRecords<'_>, String> {
        let input = self
            .inputs
            .get(index)
            .ok_or_else(|| format!("no input {index}"))?;
        let samples = self.samples(input)?;
        if samples.is_empty() {
            return Err(format!("{}: no samples", input.name));
        }
        Ok(Box::new(session_records(
            &input.session,
            &self.profile,
            self.plan.as_ref(),
            self.budget_min,
            samples.into_time_order(),
        )))
    }
}

/// The records of one recorded session, in the order the coach must see them (`samples`
/// in time order: a `Vec<Sample>`, or [`ActivitySamples`] made as they are taken).
pub fn session_records(
    session: &SessionId,
    profile: &AthleteProfile,
    plan: Option<&WorkoutPlan>,
    budget_min: Option<u32>,
    samples: impl Into<ActivitySamples>,
) -> SessionRecords {
    let samples = samples.into();
    SessionRecords {
        session: session.clone(),
        first_ms: samples.first_ms().unwrap_or(0),
        last_ms: samples.last_ms().unwrap_or(0),
        setup: Some(SessionSetup {
            profile: profile.clone(),
            plan: plan.cloned(),
        }),
        samples,
        budget_min,
        time_left: None,
        ended: false,
    }
}

/// A session's records made one at a time, so that a long recording's records never all
/// exist at once: `open` at the first sample's time, the samples (now = sample time), a
/// "minutes left" command after the first sample when there is a budget, `end` at the last
/// sample's time.
#[derive(Debug)]
pub struct SessionRecords {
    session: SessionId,
    first_ms: u64,
    last_ms: u64,
    /// Until `open` is made.
    setup: Option<SessionSetup>,
    samples: ActivitySamples,
    /// Until the first sample is made.
    budget_min: Option<u32>,
    /// A "minutes left" command due next: (now, minutes).
    time_left: Option<(u64, u32)>,
    ended: bool,
}

impl SessionRecords {
    fn record(&self, now_ms: u64, event: SessionEvent) -> EngineRecord {
        EngineRecord::Session(SessionInput {
            session: self.session.clone(),
            now_ms,
            event,
        })
    }
}

impl Iterator for SessionRecords {
    type Item = EngineRecord;

    fn next(&mut self) -> Option<EngineRecord> {
        if let Some(setup) = self.setup.take() {
            return Some(self.record(self.first_ms, SessionEvent::Open(setup)));
        }
        if let Some((now, minutes)) = self.time_left.take() {
            let command = Command::TimeLeft(TimeLeft { minutes });
            return Some(self.record(now, SessionEvent::Command(SessionCommand { command })));
        }
        if let Some(sample) = self.samples.next() {
            if let Some(minutes) = self.budget_min.take() {
                self.time_left = Some((sample.t_ms, minutes));
            }
            return Some(self.record(sample.t_ms, SessionEvent::Sample(sample)));
        }
        if self.ended {
            return None;
        }
        self.ended = true;
        let command = Command::End;
        Some(self.record(
            self.last_ms,
            SessionEvent::Command(SessionCommand { command }),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let samples = self.samples.len();
        let left = usize::from(self.setup.is_some())
            + usize::from(self.time_left.is_some())
            + usize::from(self.budget_min.is_some() && samples > 0)
            + samples
            + usize::from(!self.ended);
        (left, Some(left))
    }
}

impl ExactSizeIterator for SessionRecords {}

/// Session ids from file stems: characters outside `A-Z a-z 0-9 - _ . :` become `-`, at
/// most 60 bytes, and repeats get `-2`, `-3`, ….
pub fn session_ids(paths: &[PathBuf]) -> Vec<SessionId> {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut base: String = stem
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .take(56)
                .collect();
            if base.is_empty() {
                base = format!("session-{}", i + 1);
            }
            let count = seen.entry(base.clone()).or_insert(0);
            *count += 1;
            let id = if *count == 1 {
                base
            } else {
                format!("{base}-{count}")
            };
            SessionId::new(id).unwrap_or_else(|_| {
                SessionId::new(format!("session-{}", i + 1)).expect("a valid id")
            })
        })
        .collect()
}

/// Outputs of a replay put back in order: by input, then by each session's sequence.
pub fn ordered_outputs(job: &ReplayJob, mut outputs: Vec<SessionOutput>) -> Vec<SessionOutput> {
    let position: BTreeMap<&SessionId, usize> = job
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| (&input.session, i))
        .collect();
    outputs.sort_by_key(|o| {
        (
            position.get(&o.session).copied().unwrap_or(usize::MAX),
            o.seq,
        )
    });
    outputs
}

/// What a replay wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Cue lines written.
    pub cues: usize,
    /// Summaries written.
    pub summaries: usize,
    /// Sessions the coach refused, with the reason.
    pub rejected: Vec<String>,
}

/// Writes cues as JSON lines to `cues`; summaries to `summaries` if given (one object for
/// one session, an array for several), else after the cues, one per line.
pub fn write_outputs(
    outputs: &[SessionOutput],
    cues: &mut dyn Write,
    summaries: Option<&mut dyn Write>,
) -> std::io::Result<Written> {
    let mut written = Written::default();
    let mut collected: Vec<&SessionSummary> = Vec::new();
    for output in outputs {
        match &output.output {
            OutputBody::Cue(cue) => {
                writeln!(
                    cues,
                    "{}",
                    paceline_schemas::codec::to_json(cue).map_err(std::io::Error::other)?
                )?;
                written.cues += 1;
            }
            OutputBody::Summary(summary) => collected.push(summary),
            OutputBody::Rejected(rejection) => written
                .rejected
                .push(format!("{}: {}", output.session, rejection.reason)),
            // Batch runs emit no status snapshots; were there any, they are not cues.
            OutputBody::Status(_) => {}
        }
    }
    written.summaries = collected.len();
    match summaries {
        Some(out) => {
            let text = if collected.len() == 1 {
                paceline_schemas::codec::to_json_pretty(collected[0])
            } else {
                paceline_schemas::codec::to_json_pretty(&collected)
            };
            writeln!(out, "{}", text.map_err(std::io::Error::other)?)?;
        }
        None => {
            for summary in collected {
                writeln!(
                    cues,
                    "{}",
                    paceline_schemas::codec::to_json(summary).map_err(std::io::Error::other)?
                )?;
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use paceline_schemas::sample::{Contact, HeartRate, SampleValue};

    use super::*;

    fn kinds(records: SessionRecords) -> Vec<String> {
        let mut left = records.len();
        records
            .map(|record| {
                left -= 1;
                let EngineRecord::Session(input) = record else {
                    return "tick".to_owned();
                };
                let kind = match input.event {
                    SessionEvent::Open(_) => "open".to_owned(),
                    SessionEvent::Sample(_) => "sample".to_owned(),
                    SessionEvent::Command(c) => format!("{:?}", c.command),
                };
                format!("{kind}@{} ({left} left)", input.now_ms)
            })
            .collect()
    }

    #[test]
    fn records_come_in_coaching_order_and_count_down_exactly() {
        let session = SessionId::new("s").expect("id");
        let samples: Vec<Sample> = [1000, 2000, 3000]
            .into_iter()
            .map(|t_ms| Sample {
                t_ms,
                value: SampleValue::HeartRate(HeartRate {
                    bpm: 120,
                    contact: Contact::Unsupported,
                    energy_kj: None,
                    rr_1024: Vec::new(),
                }),
            })
            .collect();
        let profile = AthleteProfile::default();
        let with_budget = session_records(&session, &profile, None, Some(30), samples.clone());
        assert_eq!(
            kinds(with_budget),
            [
                "open@1000 (5 left)",
                "sample@1000 (4 left)",
                "TimeLeft(TimeLeft { minutes: 30 })@1000 (3 left)",
                "sample@2000 (2 left)",
                "sample@3000 (1 left)",
                "End@3000 (0 left)",
            ]
        );
        assert_eq!(
            kinds(session_records(
                &session,
                &profile,
                None,
                Some(30),
                Vec::new()
            )),
            ["open@0 (1 left)", "End@0 (0 left)"]
        );
        assert_eq!(
            session_records(&session, &profile, None, None, samples).len(),
            5
        );
    }
}
