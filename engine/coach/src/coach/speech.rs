//! What the coach says: every cue goes through the rate limit here, and the session's end
//! speaks last and gives the summary.

use paceline_schemas::cue::MAX_CUE_TEXT_BYTES;
use paceline_schemas::{Cue, CueCode, Modification, SessionSummary, Severity};

use super::{Coach, Output};
use crate::cues::{CueLimiter, spoken_duration};
use crate::wbal::WPrimeBalance;

impl Coach {
    /// Speaks a cue if the rate limit lets it; whether it spoke.
    pub(super) fn cue(
        &mut self,
        now: u64,
        severity: Severity,
        code: CueCode,
        text: String,
        modification: Option<Modification>,
    ) -> bool {
        if !self.limiter.admit(now, code, severity) {
            return false;
        }
        self.speak(now, severity, code, text, modification);
        true
    }

    /// Speaks a cue that answers one the athlete heard (a signal back after its loss):
    /// past the rate limit, which still records it. The question was limited, so the
    /// answers are too.
    pub(super) fn answer(&mut self, now: u64, severity: Severity, code: CueCode, text: String) {
        self.limiter.record(now, code);
        self.speak(now, severity, code, text, None);
    }

    fn speak(
        &mut self,
        now: u64,
        severity: Severity,
        code: CueCode,
        mut text: String,
        modification: Option<Modification>,
    ) {
        truncate_at_char_boundary(&mut text, MAX_CUE_TEXT_BYTES);
        *self.cue_counts.entry(code).or_default() += 1;
        self.outputs.push_back(Output::Cue(Cue {
            session: self.session.clone(),
            t_s: self.t_s(now),
            severity,
            code,
            text,
            modification,
        }));
    }

    pub(super) fn end_session(&mut self, now: u64) {
        self.close_seconds(now, true);
        let duration_s = self.t_s(now);
        let text = format!(
            "Session over after {}. Well done.",
            spoken_duration(seconds_u32(duration_s))
        );
        // The last word is never dropped by the rate limit.
        self.limiter = CueLimiter::new(0);
        self.cue(now, Severity::Info, CueCode::SessionEnd, text, None);
        let min_s = self.config.decoupling.min_elapsed_s;
        let summary = SessionSummary {
            session: self.session.clone(),
            duration_s,
            time_in_hr_zone_s: self.load.time_in_hr_zone_s(),
            time_in_power_zone_s: self.load.time_in_power_zone_s(),
            avg_hr_bpm: self.load.avg_hr_bpm(),
            max_hr_bpm: self.load.max_hr_bpm(),
            avg_power_w: self.load.avg_power_w(),
            np_w: self.load.np_w(),
            intensity_factor: self.load.intensity_factor(),
            tss: self.load.tss(),
            hr_tss: self.load.hr_tss(),
            trimp: self.load.trimp(),
            wbal_min_j: self.wbal.as_ref().map(WPrimeBalance::min_j),
            decoupling_pct: self.session_decoupling.decoupling_pct(min_s),
            cue_counts: self.cue_counts.clone(),
        };
        self.outputs.push_back(Output::Summary(summary));
        self.ended = true;
    }
}

fn seconds_u32(s: f64) -> u32 {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "clamped to u32's range first"
    )]
    let v = s.clamp(0.0, f64::from(u32::MAX)) as u32;
    v
}

fn truncate_at_char_boundary(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
