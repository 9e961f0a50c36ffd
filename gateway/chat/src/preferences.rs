//! Preferences the planner reads: stated by the athlete ("no workouts before 7", "I hate
//! treadmills", "I prefer mornings") or observed from what they skip.
//!
//! A stated preference has confidence [`STATED_CONFIDENCE`]: the athlete said it, but
//! people speak loosely. An observed one needs at least [`MIN_SKIPS`] skipped sessions in
//! one part of the day making at least half the sessions planned there; its confidence is
//! 0.5 at three skips, +0.1 per further skip, at most [`MAX_OBSERVED_CONFIDENCE`] (never as
//! sure as something said).
//!
//! Hours: "7" alone before a workout limit means 7 in the morning for "before" and 7 in
//! the evening for "after" ("no workouts after 7" = after 19:00); "am"/"pm" and 24-hour
//! clocks ("19:00") are read as written. A message naming today, tomorrow or tonight is a
//! one-off change for the intent rules, never a lasting preference.

use serde::{Deserialize, Serialize};
use time::{Date, Weekday};

use crate::entities::{self, EntityError, PartOfDay, Sport};

/// Confidence of a stated preference.
pub const STATED_CONFIDENCE: f64 = 0.9;
/// Skipped sessions in one part of the day before a preference is observed.
pub const MIN_SKIPS: usize = 3;
/// The highest confidence of an observed preference.
pub const MAX_OBSERVED_CONFIDENCE: f64 = 0.8;

/// Equipment an athlete may avoid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Equipment {
    /// A treadmill.
    Treadmill,
    /// An indoor bike trainer.
    Trainer,
    /// A pool.
    Pool,
    /// A gym.
    Gym,
}

/// One preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Preference {
    /// No workout starting before this hour (0–23).
    NoWorkoutsBefore {
        /// The hour, local time.
        hour: u8,
    },
    /// No workout after this hour (0–23).
    NoWorkoutsAfter {
        /// The hour, local time.
        hour: u8,
    },
    /// Train in this part of the day when possible.
    PreferPartOfDay {
        /// The part of the day.
        part: PartOfDay,
    },
    /// Avoid this part of the day.
    AvoidPartOfDay {
        /// The part of the day.
        part: PartOfDay,
    },
    /// Avoid this equipment.
    AvoidEquipment {
        /// The equipment.
        equipment: Equipment,
    },
    /// Likes this sport.
    LikesSport {
        /// The sport.
        sport: Sport,
    },
    /// Dislikes this sport.
    DislikesSport {
        /// The sport.
        sport: Sport,
    },
    /// No training on this weekday.
    RestDay {
        /// The day, `monday` … `sunday`.
        weekday: String,
    },
}

/// Where a preference came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferenceSource {
    /// The athlete said it.
    Stated,
    /// Seen in what they skipped.
    Observed,
}

/// A preference with how sure we are of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldPreference {
    /// The preference.
    pub preference: Preference,
    /// 0.0–1.0.
    pub confidence: f64,
    /// Stated or observed.
    pub source: PreferenceSource,
}

fn equipment(word: &str) -> Option<Equipment> {
    Some(match word {
        "treadmill" | "treadmills" | "dreadmill" => Equipment::Treadmill,
        "trainer" | "trainers" | "turbo" | "zwift" | "indoors" | "indoor" => Equipment::Trainer,
        "pool" | "pools" => Equipment::Pool,
        "gym" | "gyms" => Equipment::Gym,
        _ => return None,
    })
}

fn part_word(word: &str) -> Option<PartOfDay> {
    Some(match word {
        "morning" | "mornings" | "early" => PartOfDay::Morning,
        "afternoon" | "afternoons" | "lunch" | "lunchtime" => PartOfDay::Afternoon,
        "evening" | "evenings" | "night" | "nights" | "late" => PartOfDay::Evening,
        _ => return None,
    })
}

fn weekday_name(word: &str) -> Option<&'static str> {
    let day = word.strip_suffix('s').unwrap_or(word);
    Some(match day {
        "monday" => "monday",
        "tuesday" => "tuesday",
        "wednesday" => "wednesday",
        "thursday" => "thursday",
        "friday" => "friday",
        "saturday" => "saturday",
        "sunday" => "sunday",
        _ => return None,
    })
}

/// An hour as written after "before"/"after": `7`, `7am`, `7 pm`, `19:00`, `6:30`.
/// `evening_default` picks 19 for a bare 7 ("after 7").
fn hour(w: &[&str], evening_default: bool) -> Option<u8> {
    let first = *w.first()?;
    let (digits, suffix) = match first.find(|c: char| !c.is_ascii_digit() && c != ':') {
        Some(i) => first.split_at(i),
        None => (first, w.get(1).copied().unwrap_or("")),
    };
    let h: u8 = digits.split(':').next()?.parse().ok()?;
    match suffix {
        "am" | "a.m" if (1..=12).contains(&h) => Some(h % 12),
        "pm" | "p.m" if (1..=12).contains(&h) => Some(h % 12 + 12),
        _ if (13..=23).contains(&h) => Some(h),
        _ if h == 0 || digits.contains(':') && h <= 12 && !evening_default => Some(h),
        _ if (1..=11).contains(&h) && evening_default => Some(h + 12),
        _ if (1..=12).contains(&h) => Some(h),
        _ => None,
    }
}

/// A stated preference in `text`, if any (the length is checked first).
pub fn parse_stated(text: &str) -> Result<Option<Preference>, EntityError> {
    entities::check_length(text)?;
    let owned = entities::words(text);
    let w: Vec<&str> = owned.iter().map(String::as_str).collect();
    let has = |x: &str| w.contains(&x);
    let after = |x: &str| w.iter().position(|&y| y == x).map(|i| &w[i + 1..]);
    // A named day makes it a one-off change ("I'd rather run today"), not a preference.
    if w.iter()
        .any(|x| matches!(*x, "today" | "tomorrow" | "tonight"))
    {
        return Ok(None);
    }
    let limit_words = [
        "no", "never", "not", "don't", "dont", "can't", "cant", "nothing",
    ];
    let is_limit = w.iter().any(|x| limit_words.contains(x));
    // "no workouts before 7", "nothing after 8pm", "never schedule anything before 6:30"
    if is_limit {
        if let Some(h) = after("before").and_then(|rest| hour(rest, false)) {
            return Ok(Some(Preference::NoWorkoutsBefore { hour: h }));
        }
        if let Some(h) = after("after").and_then(|rest| hour(rest, true)) {
            return Ok(Some(Preference::NoWorkoutsAfter { hour: h }));
        }
    }
    let negative = ["hate", "hates", "dislike", "loathe", "avoid", "detest"];
    let positive = ["prefer", "love", "like", "enjoy", "rather"];
    let neg = w.iter().any(|x| negative.contains(x))
        || has("don't") && (has("like") || has("enjoy"))
        || has("dont") && (has("like") || has("enjoy"))
        || has("can't") && has("stand")
        || has("rather") && has("not")
        || has("no") && w.iter().any(|x| equipment(x).is_some());
    let pos = !neg && w.iter().any(|x| positive.contains(x));
    let first_person =
        has("i") || has("i'm") || has("i'd") || has("i've") || has("me") || has("my") || has("no");
    // "I can't train on Fridays", "Fridays are my rest day", "no workouts on sundays"
    if let Some(day) = w.iter().find_map(|x| weekday_name(x))
        && (has("rest") && has("day")
            || is_limit && (has("train") || has("workouts") || has("workout"))
            || has("off"))
        && w.iter()
            .any(|x| x.ends_with('s') && weekday_name(x).is_some() || *x == "off" || *x == "rest")
    {
        return Ok(Some(Preference::RestDay {
            weekday: day.to_owned(),
        }));
    }
    if !(neg || pos) || !first_person {
        return Ok(None);
    }
    if let Some(e) = w.iter().find_map(|x| equipment(x)) {
        return Ok(Some(if neg {
            Preference::AvoidEquipment { equipment: e }
        } else {
            // Liking a treadmill says nothing the planner avoids; it is a sport liking.
            match e {
                Equipment::Treadmill => Preference::LikesSport { sport: Sport::Run },
                Equipment::Trainer => Preference::LikesSport { sport: Sport::Ride },
                Equipment::Pool => Preference::LikesSport { sport: Sport::Swim },
                Equipment::Gym => Preference::LikesSport {
                    sport: Sport::Strength,
                },
            }
        }));
    }
    if let Some(part) = w.iter().find_map(|x| part_word(x)) {
        return Ok(Some(if neg {
            Preference::AvoidPartOfDay { part }
        } else {
            Preference::PreferPartOfDay { part }
        }));
    }
    if let Some(sport) = w.iter().find_map(|x| entities::parse_sport(x).ok()) {
        return Ok(Some(if neg {
            Preference::DislikesSport { sport }
        } else {
            Preference::LikesSport { sport }
        }));
    }
    Ok(None)
}

/// A planned session and whether it was skipped (the gateway reads these from plans and
/// the activity library).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFact {
    /// The planned day.
    pub date: Date,
    /// The planned start hour, local time (0–23).
    pub planned_hour: u8,
    /// Whether it was skipped.
    pub skipped: bool,
}

/// Preferences seen in what the athlete skips: a part of the day with at least
/// [`MIN_SKIPS`] skipped sessions making at least half of those planned there is to be
/// avoided (module doc for the confidence). Sorted morning, afternoon, evening.
pub fn observe(facts: &[SessionFact]) -> Vec<HeldPreference> {
    let parts = [PartOfDay::Morning, PartOfDay::Afternoon, PartOfDay::Evening];
    let mut found = Vec::new();
    for part in parts {
        let planned = facts
            .iter()
            .filter(|f| PartOfDay::of_hour(f.planned_hour) == part)
            .count();
        let skipped = facts
            .iter()
            .filter(|f| PartOfDay::of_hour(f.planned_hour) == part && f.skipped)
            .count();
        if skipped >= MIN_SKIPS && skipped * 2 >= planned {
            let extra = u32::try_from(skipped - MIN_SKIPS)
                .unwrap_or(u32::MAX)
                .min(10);
            let confidence = (0.5 + 0.1 * f64::from(extra)).min(MAX_OBSERVED_CONFIDENCE);
            found.push(HeldPreference {
                preference: Preference::AvoidPartOfDay { part },
                confidence: (confidence * 10.0).round() / 10.0,
                source: PreferenceSource::Observed,
            });
        }
    }
    found
}

/// The weekday's name as [`Preference::RestDay`] writes it.
pub fn weekday_str(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "monday",
        Weekday::Tuesday => "tuesday",
        Weekday::Wednesday => "wednesday",
        Weekday::Thursday => "thursday",
        Weekday::Friday => "friday",
        Weekday::Saturday => "saturday",
        Weekday::Sunday => "sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn stated_preferences() {
        let cases: &[(&str, Option<Preference>)] = &[
            (
                "no workouts before 7",
                Some(Preference::NoWorkoutsBefore { hour: 7 }),
            ),
            (
                "No workouts before 7pm please",
                Some(Preference::NoWorkoutsBefore { hour: 19 }),
            ),
            (
                "never schedule anything before 6:30",
                Some(Preference::NoWorkoutsBefore { hour: 6 }),
            ),
            (
                "nothing after 8",
                Some(Preference::NoWorkoutsAfter { hour: 20 }),
            ),
            (
                "no workouts after 21:00",
                Some(Preference::NoWorkoutsAfter { hour: 21 }),
            ),
            (
                "I hate treadmills",
                Some(Preference::AvoidEquipment {
                    equipment: Equipment::Treadmill,
                }),
            ),
            (
                "I don't like the trainer",
                Some(Preference::AvoidEquipment {
                    equipment: Equipment::Trainer,
                }),
            ),
            (
                "I prefer mornings",
                Some(Preference::PreferPartOfDay {
                    part: PartOfDay::Morning,
                }),
            ),
            (
                "I hate evening workouts",
                Some(Preference::AvoidPartOfDay {
                    part: PartOfDay::Evening,
                }),
            ),
            (
                "I love swimming",
                Some(Preference::LikesSport { sport: Sport::Swim }),
            ),
            (
                "I hate running",
                Some(Preference::DislikesSport { sport: Sport::Run }),
            ),
            (
                "I can't train on Fridays",
                Some(Preference::RestDay {
                    weekday: "friday".into(),
                }),
            ),
            (
                "Mondays are my rest day",
                Some(Preference::RestDay {
                    weekday: "monday".into(),
                }),
            ),
            ("ran 5k this morning", None),
            ("how is my fitness", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_stated(text).unwrap(), *expected, "{text}");
        }
    }

    #[test]
    fn three_skipped_mornings_mean_avoid_mornings() {
        let fact = |day: u8, planned_hour, skipped| SessionFact {
            date: date!(2026 - 11 - 01).replace_day(day).unwrap(),
            planned_hour,
            skipped,
        };
        // Two skipped mornings: not yet.
        let two = [fact(2, 6, true), fact(4, 6, true), fact(6, 18, false)];
        assert!(observe(&two).is_empty());
        // Three skipped of four mornings (3 × 2 ≥ 4): avoid mornings at 0.5.
        let three = [
            fact(2, 6, true),
            fact(4, 6, true),
            fact(6, 7, true),
            fact(8, 7, false),
        ];
        assert_eq!(
            observe(&three),
            vec![HeldPreference {
                preference: Preference::AvoidPartOfDay {
                    part: PartOfDay::Morning
                },
                confidence: 0.5,
                source: PreferenceSource::Observed,
            }]
        );
        // Five skipped evenings: 0.5 + 0.1 × 2 = 0.7.
        let five: Vec<SessionFact> = (1..=5).map(|d| fact(d, 19, true)).collect();
        assert_eq!(observe(&five)[0].confidence, 0.7);
        // Three skipped of eight mornings (3 × 2 < 8): trained through, no preference.
        let mut many: Vec<SessionFact> = (1..=5).map(|d| fact(d, 6, false)).collect();
        many.extend((6..=8).map(|d| fact(d, 6, true)));
        assert!(observe(&many).is_empty());
        // Ten skips cap at 0.8.
        let ten: Vec<SessionFact> = (1..=10).map(|d| fact(d, 13, true)).collect();
        assert_eq!(observe(&ten)[0].confidence, 0.8);
    }

    proptest! {
        #[test]
        fn parse_stated_never_panics(text in "\\PC{0,80}") {
            let _ = parse_stated(&text);
        }

        #[test]
        fn hours_stay_in_a_day(h in "[0-9]{1,3}(:[0-9]{2})?(am|pm)?") {
            for prefix in ["no workouts before ", "nothing after "] {
                if let Ok(Some(
                    Preference::NoWorkoutsBefore { hour } | Preference::NoWorkoutsAfter { hour },
                )) = parse_stated(&format!("{prefix}{h}"))
                {
                    prop_assert!(hour <= 23);
                }
            }
        }
    }
}
