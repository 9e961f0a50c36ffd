//! Learned terms: the athlete's own words ("dhamaka", "the hill loop", "my long run") and
//! what they mean to this athlete.
//!
//! A [`Term`] maps a phrase to a [`Meaning`]: a workout (of a sport), an intent, or a
//! synonym phrase the message is rewritten with before it is classified. The rules, exactly
//! as issue 24 states them:
//! - a new term starts at confidence 0.5; each confirmed use adds 0.1 (at most 1.0); each
//!   correction takes 0.2 away;
//! - a term below 0.3 is ignored (kept, but never used); a term below 0.2, or unused for
//!   more than [`UNUSED_DAYS`] days, is removed by [`TermBook::prune`];
//! - a newer meaning for the same phrase wins over an older one and both are kept: the
//!   meaning used is the newest one not ignored, so when a newer meaning is corrected below
//!   0.3 the older one is used again.
//!
//! Confidence is kept in whole tenths (`confidence_tenths`, 0–10) so the arithmetic is
//! exact (0.5 + 0.1 + 0.1 − 0.2 is exactly 0.5); it is written as a decimal (`0.5`) in JSON.
//!
//! Teaching the meaning a phrase already has counts as a confirmed use; teaching an older
//! meaning again makes it the newest. The engine never changes a book itself: it returns
//! [`TermUpdate`]s and the gateway applies them with [`TermBook::apply`] and stores the rows.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::entities::{self, Sport};
use crate::intent::Intent;

/// Confidence of a new term, tenths.
pub const START_TENTHS: u8 = 5;
/// Added per confirmed use, tenths.
pub const CONFIRM_STEP_TENTHS: u8 = 1;
/// Taken away per correction, tenths.
pub const CORRECT_STEP_TENTHS: u8 = 2;
/// The highest confidence, tenths.
pub const MAX_TENTHS: u8 = 10;
/// Below this a term is ignored, tenths.
pub const IGNORE_BELOW_TENTHS: u8 = 3;
/// Below this a term is pruned, tenths.
pub const PRUNE_BELOW_TENTHS: u8 = 2;
/// A term unused for more than this many days is pruned.
pub const UNUSED_DAYS: i64 = 90;
/// The most terms kept per athlete (meanings count separately).
pub const MAX_TERMS: usize = 500;
/// The longest phrase, words.
pub const MAX_TERM_WORDS: usize = 4;
/// The longest phrase or synonym, characters.
pub const MAX_TERM_CHARS: usize = 80;

/// What a term means to this athlete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Meaning {
    /// A workout, of this sport when known ("dhamaka" → a dance workout).
    Workout {
        /// Its sport, when taught.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sport: Option<Sport>,
    },
    /// An intent ("bail" → modify_workout).
    Intent {
        /// The intent.
        intent: Intent,
    },
    /// Another phrase the message is read with ("my long run" → "sunday run 90 minutes").
    Synonym {
        /// The phrase it stands for, lower case.
        phrase: String,
    },
}

impl Meaning {
    /// The meaning of "X means `said`": a sport or "workout" is a workout, an intent's
    /// name an intent, anything else a synonym.
    pub fn from_words(said: &str) -> Meaning {
        let w = entities::words(said);
        let w: Vec<&str> = w
            .iter()
            .map(String::as_str)
            .filter(|w| !matches!(*w, "a" | "an" | "the" | "my"))
            .collect();
        let sport = w.iter().find_map(|x| entities::parse_sport(x).ok());
        let is_workout = w.iter().any(|x| {
            matches!(
                *x,
                "workout" | "workouts" | "session" | "class" | "practice" | "training"
            )
        });
        if let Some(intent) = Intent::parse(&w.join("_")) {
            return Meaning::Intent { intent };
        }
        match (sport, w.len()) {
            (Some(sport), 1) => Meaning::Workout { sport: Some(sport) },
            (sport, _) if is_workout => Meaning::Workout { sport },
            _ => Meaning::Synonym {
                phrase: w.join(" ").chars().take(MAX_TERM_CHARS).collect(),
            },
        }
    }

    /// A short description for replies ("a dance workout").
    pub fn describe(&self) -> String {
        match self {
            Meaning::Workout { sport: Some(s) } => format!("a {} workout", s.as_str()),
            Meaning::Workout { sport: None } => "a workout".to_owned(),
            Meaning::Intent { intent } => format!("the {} intent", intent.as_str()),
            Meaning::Synonym { phrase } => format!("\"{phrase}\""),
        }
    }
}

/// One meaning of one phrase, as stored (one row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// The phrase, lower-case words separated by single spaces.
    pub phrase: String,
    /// What it means.
    pub meaning: Meaning,
    /// Confidence in tenths (0–10), written as a decimal (`"confidence": 0.5`).
    #[serde(rename = "confidence", with = "tenths")]
    pub confidence_tenths: u8,
    /// Teaching order: a higher number is a newer meaning.
    pub seq: u64,
    /// When it was taught.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last used, confirmed or corrected.
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
}

impl Term {
    /// Its confidence, 0.0–1.0.
    pub fn confidence(&self) -> f64 {
        f64::from(self.confidence_tenths) / 10.0
    }

    /// Whether it is used (confidence ≥ 0.3).
    pub fn is_active(&self) -> bool {
        self.confidence_tenths >= IGNORE_BELOW_TENTHS
    }
}

mod tenths {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tenths: &u8, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(*tenths) / 10.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        let value = f64::deserialize(d)?;
        if !(0.0..=1.0).contains(&value) {
            return Err(serde::de::Error::custom("confidence must be from 0 to 1"));
        }
        // In 0..=10 after the check above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok((value * 10.0).round() as u8)
    }
}

/// A change to a book, as the engine asks for it and as replies report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TermUpdate {
    /// Learn (or re-teach) a meaning.
    Teach {
        /// The phrase.
        phrase: String,
        /// Its meaning.
        meaning: Meaning,
    },
    /// A confirmed use of the phrase's current meaning (+0.1).
    Confirm {
        /// The phrase.
        phrase: String,
    },
    /// A correction of the phrase's current meaning (−0.2).
    Correct {
        /// The phrase.
        phrase: String,
    },
    /// Forget every meaning of the phrase.
    Delete {
        /// The phrase.
        phrase: String,
    },
}

/// Why a term cannot be taught.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TermError {
    /// The phrase is empty after normalising.
    #[error("the term is empty")]
    Empty,
    /// The phrase is too long.
    #[error(
        "the term {phrase:?} is longer than {MAX_TERM_WORDS} words or {MAX_TERM_CHARS} characters"
    )]
    TooLong {
        /// The phrase, cut to [`MAX_TERM_CHARS`].
        phrase: String,
    },
    /// The book is full.
    #[error("at most {MAX_TERMS} terms are kept; delete some first")]
    Full,
    /// No such phrase.
    #[error("no term {0:?}")]
    Unknown(String),
}

/// Normalises a phrase: lower-case words, single spaces, no leading article or "my".
pub fn normalise(phrase: &str) -> Result<String, TermError> {
    let w = entities::words(phrase);
    let joined = w.join(" ");
    if w.is_empty() {
        return Err(TermError::Empty);
    }
    if w.len() > MAX_TERM_WORDS || joined.chars().count() > MAX_TERM_CHARS {
        return Err(TermError::TooLong {
            phrase: joined.chars().take(MAX_TERM_CHARS).collect(),
        });
    }
    Ok(joined)
}

/// One athlete's learned terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TermBook {
    terms: Vec<Term>,
}

impl TermBook {
    /// An empty book.
    pub fn new() -> TermBook {
        TermBook::default()
    }

    /// A book from stored rows (any order; kept sorted by phrase, then teaching order).
    pub fn from_terms(mut terms: Vec<Term>) -> TermBook {
        terms.sort_by(|a, b| a.phrase.cmp(&b.phrase).then(a.seq.cmp(&b.seq)));
        TermBook { terms }
    }

    /// Every meaning of every phrase, sorted by phrase then teaching order.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    fn next_seq(&self) -> u64 {
        self.terms.iter().map(|t| t.seq).max().map_or(1, |s| s + 1)
    }

    fn active_index(&self, phrase: &str) -> Option<usize> {
        self.terms
            .iter()
            .enumerate()
            .filter(|(_, t)| t.phrase == phrase && t.is_active())
            .max_by_key(|(_, t)| t.seq)
            .map(|(i, _)| i)
    }

    /// The meaning used for `phrase`: its newest meaning not ignored.
    pub fn active(&self, phrase: &str) -> Option<&Term> {
        let phrase = normalise(phrase).ok()?;
        self.active_index(&phrase).map(|i| &self.terms[i])
    }

    /// Teaches `meaning` for `phrase` (see the module doc): a new meaning starts at 0.5 and
    /// becomes the newest; the current meaning taught again is a confirmed use.
    pub fn teach(
        &mut self,
        phrase: &str,
        meaning: Meaning,
        now: OffsetDateTime,
    ) -> Result<&Term, TermError> {
        let phrase = normalise(phrase)?;
        if let Some(i) = self.active_index(&phrase)
            && self.terms[i].meaning == meaning
        {
            let t = &mut self.terms[i];
            t.confidence_tenths = (t.confidence_tenths + CONFIRM_STEP_TENTHS).min(MAX_TENTHS);
            t.last_used_at = now;
            return Ok(&self.terms[i]);
        }
        let seq = self.next_seq();
        if let Some(i) = self
            .terms
            .iter()
            .position(|t| t.phrase == phrase && t.meaning == meaning)
        {
            // An older meaning taught again: it becomes the newest, from 0.5 at least.
            let t = &mut self.terms[i];
            t.seq = seq;
            t.confidence_tenths = t.confidence_tenths.max(START_TENTHS);
            t.last_used_at = now;
            return Ok(&self.terms[i]);
        }
        if self.terms.len() >= MAX_TERMS {
            return Err(TermError::Full);
        }
        self.terms.push(Term {
            phrase: phrase.clone(),
            meaning,
            confidence_tenths: START_TENTHS,
            seq,
            created_at: now,
            last_used_at: now,
        });
        let book = std::mem::take(&mut self.terms);
        *self = TermBook::from_terms(book);
        let i = self
            .terms
            .iter()
            .position(|t| t.seq == seq)
            .ok_or(TermError::Unknown(phrase))?;
        Ok(&self.terms[i])
    }

    /// A confirmed use of the current meaning of `phrase`: +0.1, at most 1.0.
    pub fn confirm(&mut self, phrase: &str, now: OffsetDateTime) -> Result<&Term, TermError> {
        let phrase = normalise(phrase)?;
        let i = self
            .active_index(&phrase)
            .ok_or(TermError::Unknown(phrase))?;
        let t = &mut self.terms[i];
        t.confidence_tenths = (t.confidence_tenths + CONFIRM_STEP_TENTHS).min(MAX_TENTHS);
        t.last_used_at = now;
        Ok(&self.terms[i])
    }

    /// A correction of the current meaning of `phrase`: −0.2 (not below 0).
    pub fn correct(&mut self, phrase: &str, now: OffsetDateTime) -> Result<&Term, TermError> {
        let phrase = normalise(phrase)?;
        let i = self
            .active_index(&phrase)
            .ok_or(TermError::Unknown(phrase))?;
        let t = &mut self.terms[i];
        t.confidence_tenths = t.confidence_tenths.saturating_sub(CORRECT_STEP_TENTHS);
        t.last_used_at = now;
        Ok(&self.terms[i])
    }

    /// Forgets every meaning of `phrase`; how many were removed.
    pub fn delete(&mut self, phrase: &str) -> usize {
        let Ok(phrase) = normalise(phrase) else {
            return 0;
        };
        let before = self.terms.len();
        self.terms.retain(|t| t.phrase != phrase);
        before - self.terms.len()
    }

    /// Sets a meaning's confidence by hand (the athlete's own edit), 0.0–1.0 rounded to a
    /// tenth; the meaning is taught first if new.
    pub fn set(
        &mut self,
        phrase: &str,
        meaning: Meaning,
        confidence: f64,
        now: OffsetDateTime,
    ) -> Result<&Term, TermError> {
        let seq = self.teach(phrase, meaning, now)?.seq;
        let clamped = if confidence.is_finite() {
            confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let i = self
            .terms
            .iter()
            .position(|t| t.seq == seq)
            .ok_or_else(|| TermError::Unknown(phrase.to_owned()))?;
        // In 0..=10 after the clamp.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let tenths = (clamped * 10.0).round() as u8;
        self.terms[i].confidence_tenths = tenths;
        Ok(&self.terms[i])
    }

    /// Applies an update from the engine.
    pub fn apply(&mut self, update: &TermUpdate, now: OffsetDateTime) -> Result<(), TermError> {
        match update {
            TermUpdate::Teach { phrase, meaning } => {
                self.teach(phrase, meaning.clone(), now).map(|_| ())
            }
            TermUpdate::Confirm { phrase } => self.confirm(phrase, now).map(|_| ()),
            TermUpdate::Correct { phrase } => self.correct(phrase, now).map(|_| ()),
            TermUpdate::Delete { phrase } => {
                self.delete(phrase);
                Ok(())
            }
        }
    }

    /// Removes terms below 0.2 or unused for more than [`UNUSED_DAYS`] days before `now`;
    /// returns them.
    pub fn prune(&mut self, now: OffsetDateTime) -> Vec<Term> {
        let cutoff = now - Duration::days(UNUSED_DAYS);
        let (gone, kept): (Vec<Term>, Vec<Term>) = std::mem::take(&mut self.terms)
            .into_iter()
            .partition(|t| t.confidence_tenths < PRUNE_BELOW_TENTHS || t.last_used_at < cutoff);
        self.terms = kept;
        gone
    }

    /// The active terms whose phrase occurs in `words` (whole words), longest first and
    /// not overlapping, each with the index of its first word.
    pub fn find_in(&self, words: &[String]) -> Vec<(usize, &Term)> {
        let mut candidates: Vec<(usize, usize, &Term)> = Vec::new();
        for t in &self.terms {
            if !t.is_active() || self.active_index(&t.phrase).map(|i| &self.terms[i]) != Some(t) {
                continue;
            }
            let pw: Vec<&str> = t.phrase.split(' ').collect();
            if pw.len() > words.len() {
                continue;
            }
            for start in 0..=(words.len() - pw.len()) {
                if words[start..start + pw.len()]
                    .iter()
                    .zip(&pw)
                    .all(|(a, b)| a == b)
                {
                    candidates.push((start, pw.len(), t));
                }
            }
        }
        // Longest first, then leftmost, then phrase: deterministic.
        candidates.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(a.0.cmp(&b.0))
                .then(a.2.phrase.cmp(&b.2.phrase))
        });
        let mut taken = vec![false; words.len()];
        let mut found = Vec::new();
        for (start, len, t) in candidates {
            if taken[start..start + len].iter().any(|&x| x) {
                continue;
            }
            taken[start..start + len].iter_mut().for_each(|x| *x = true);
            found.push((start, t));
        }
        found.sort_by_key(|(start, _)| *start);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-01 08:00 UTC);

    fn dance() -> Meaning {
        Meaning::Workout {
            sport: Some(Sport::Dance),
        }
    }

    #[test]
    fn confidence_follows_the_rules_step_by_step() {
        let mut book = TermBook::new();
        let c = |book: &TermBook| book.active("dhamaka").map(Term::confidence);
        book.teach("Dhamaka", dance(), T0).unwrap();
        assert_eq!(c(&book), Some(0.5)); // starts at 0.5
        for expected in [0.6, 0.7, 0.8, 0.9, 1.0, 1.0] {
            book.confirm("dhamaka", T0).unwrap();
            assert_eq!(c(&book), Some(expected)); // +0.1, at most 1.0
        }
        book.correct("dhamaka", T0).unwrap();
        assert_eq!(c(&book), Some(0.8)); // 1.0 − 0.2
        book.correct("dhamaka", T0).unwrap();
        book.correct("dhamaka", T0).unwrap();
        assert_eq!(c(&book), Some(0.4)); // 0.8 − 0.2 − 0.2
        book.correct("dhamaka", T0).unwrap();
        // 0.2 < 0.3: ignored but kept until pruned (0.2 is not below 0.2).
        assert_eq!(c(&book), None);
        assert_eq!(book.terms()[0].confidence(), 0.2);
        assert!(book.prune(T0).is_empty());
        // A correction needs an active meaning.
        assert_eq!(
            book.correct("dhamaka", T0).map(|_| ()),
            Err(TermError::Unknown("dhamaka".to_owned()))
        );
        book.terms[0].confidence_tenths = 1;
        assert_eq!(book.prune(T0).len(), 1);
        assert!(book.terms().is_empty());
    }

    #[test]
    fn a_newer_meaning_wins_and_both_are_kept() {
        let mut book = TermBook::new();
        book.teach(
            "hill loop",
            Meaning::Workout {
                sport: Some(Sport::Run),
            },
            T0,
        )
        .unwrap();
        book.confirm("hill loop", T0).unwrap(); // run at 0.6
        book.teach(
            "hill loop",
            Meaning::Workout {
                sport: Some(Sport::Ride),
            },
            T0,
        )
        .unwrap(); // ride at 0.5, newer
        assert_eq!(book.terms().len(), 2);
        let active = book.active("hill loop").unwrap();
        assert_eq!(
            active.meaning,
            Meaning::Workout {
                sport: Some(Sport::Ride)
            }
        );
        // The newer one corrected to 0.1 (< 0.3): the older one is used again.
        book.correct("hill loop", T0).unwrap(); // 0.3, still active
        assert_eq!(book.active("hill loop").unwrap().confidence(), 0.3);
        book.correct("hill loop", T0).unwrap(); // 0.1
        let active = book.active("hill loop").unwrap();
        assert_eq!(
            (active.meaning.clone(), active.confidence()),
            (
                Meaning::Workout {
                    sport: Some(Sport::Run)
                },
                0.6
            )
        );
        // Teaching the ignored meaning again makes it the newest, back at 0.5.
        book.teach(
            "hill loop",
            Meaning::Workout {
                sport: Some(Sport::Ride),
            },
            T0,
        )
        .unwrap();
        let active = book.active("hill loop").unwrap();
        assert_eq!(
            (active.meaning.clone(), active.confidence()),
            (
                Meaning::Workout {
                    sport: Some(Sport::Ride)
                },
                0.5
            )
        );
        assert_eq!(book.terms().len(), 2);
    }

    #[test]
    fn unused_terms_are_pruned_after_90_days() {
        let mut book = TermBook::new();
        book.teach("dhamaka", dance(), T0).unwrap();
        book.teach(
            "brick",
            Meaning::Synonym {
                phrase: "bike then run".into(),
            },
            T0,
        )
        .unwrap();
        book.confirm("brick", T0 + Duration::days(30)).unwrap();
        // 90 days after T0: exactly 90 days unused is kept.
        assert!(book.prune(T0 + Duration::days(90)).is_empty());
        // 91 days after T0: dhamaka (unused since T0) goes, brick (used at day 30) stays.
        let gone = book.prune(T0 + Duration::days(91));
        assert_eq!(
            gone.iter().map(|t| t.phrase.as_str()).collect::<Vec<_>>(),
            ["dhamaka"]
        );
        assert_eq!(book.terms().len(), 1);
    }

    #[test]
    fn rows_round_trip_with_decimal_confidence() {
        let mut book = TermBook::new();
        book.teach("dhamaka", dance(), T0).unwrap();
        book.confirm("dhamaka", T0).unwrap();
        let json = serde_json::to_string(book.terms()).unwrap();
        assert_eq!(
            json,
            r#"[{"phrase":"dhamaka","meaning":{"kind":"workout","sport":"dance"},"confidence":0.6,"seq":1,"created_at":"2026-12-01T08:00:00Z","last_used_at":"2026-12-01T08:00:00Z"}]"#
        );
        let back: Vec<Term> = serde_json::from_str(&json).unwrap();
        assert_eq!(TermBook::from_terms(back), book);
        assert!(serde_json::from_str::<Vec<Term>>(&json.replace("0.6", "1.5")).is_err());
    }

    #[test]
    fn meanings_from_words_and_finding_terms() {
        assert_eq!(Meaning::from_words("a dance workout"), dance());
        assert_eq!(Meaning::from_words("dance"), dance());
        assert_eq!(
            Meaning::from_words("a workout"),
            Meaning::Workout { sport: None }
        );
        assert_eq!(
            Meaning::from_words("life event"),
            Meaning::Intent {
                intent: Intent::LifeEvent
            }
        );
        assert_eq!(
            Meaning::from_words("sunday run 90 minutes"),
            Meaning::Synonym {
                phrase: "sunday run 90 minutes".into()
            }
        );
        let mut book = TermBook::new();
        book.teach("dhamaka", dance(), T0).unwrap();
        book.teach("long run", Meaning::Synonym { phrase: "x".into() }, T0)
            .unwrap();
        book.teach("run", Meaning::Synonym { phrase: "y".into() }, T0)
            .unwrap();
        let w = entities::words("Had dhamaka then my long run");
        let found: Vec<(usize, &str)> = book
            .find_in(&w)
            .into_iter()
            .map(|(i, t)| (i, t.phrase.as_str()))
            .collect();
        // "long run" wins over "run" (longest first, no overlap).
        assert_eq!(found, [(1, "dhamaka"), (4, "long run")]);
        assert!(matches!(
            normalise("a b c d e"),
            Err(TermError::TooLong { .. })
        ));
        assert_eq!(normalise("  "), Err(TermError::Empty));
    }

    proptest! {
        #[test]
        fn any_sequence_keeps_the_rules(ops in proptest::collection::vec(0u8..5, 0..40)) {
            let mut book = TermBook::new();
            let meanings = [dance(), Meaning::Workout { sport: Some(Sport::Run) }];
            for (i, op) in ops.into_iter().enumerate() {
                let now = T0 + Duration::days(i64::try_from(i).unwrap_or(0));
                match op {
                    0 | 1 => { let _ = book.teach("dhamaka", meanings[usize::from(op)].clone(), now); }
                    2 => { let _ = book.confirm("dhamaka", now); }
                    3 => { let _ = book.correct("dhamaka", now); }
                    _ => { book.prune(now); }
                }
                prop_assert!(book.terms().iter().all(|t| t.confidence_tenths <= MAX_TENTHS));
                // At most one row per meaning.
                prop_assert!(book.terms().len() <= 2);
                // The meaning used is active and the newest active one.
                if let Some(a) = book.active("dhamaka") {
                    prop_assert!(a.is_active());
                    prop_assert!(book.terms().iter().filter(|t| t.is_active()).all(|t| t.seq <= a.seq));
                } else {
                    prop_assert!(book.terms().iter().all(|t| !t.is_active()));
                }
            }
        }

        #[test]
        fn normalise_never_panics(text in "\\PC{0,200}") {
            let _ = normalise(&text);
        }
    }
}
