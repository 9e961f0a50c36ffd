//! The deterministic classifier: a message (and the athlete's learned terms) to an
//! [`Understanding`]: the intent, its details and the entities.
//!
//! It is rules over words, tried in a fixed order so the same message always reads the
//! same way; the first rule that holds wins:
//! 1. an empty message is `unknown`; a bare yes/no is an [`Answer`] (the engine ties it to
//!    the question it asked);
//! 2. `help`; 3. `define_term` (teaching phrases: "X means Y", "when I say X I mean Y",
//!    "X is a dance workout", "count this as a workout"); 4. `preference`
//!    ([`crate::preferences::parse_stated`]);
//! 5. deleting an activity (`log_activity` with `delete_activity`);
//! 6. `history_question` (a question about fitness, load, distance, the plan);
//! 7. `life_event` for strong words (travel, illness, injury);
//! 8. `log_activity` (a past-tense verb with a sport, distance, duration or workout word);
//! 9. `modify_workout` (shorter, easier, harder, swap sport, move day, skip);
//! 10. `life_event` for busy days; 11. `log_checkin` (how the athlete feels);
//! 12. a learned term alone: its intent, or `log_activity` for a workout term;
//! 13. `unknown`.
//!
//! Learned terms are applied first: a synonym is replaced by its phrase, a workout term
//! gives the sport, an intent term is used when no rule holds. Confidence is 0.9 for an
//! explicit rule, 0.7 for a weaker one, and never more than the confidence of a learned
//! term the reading depends on.

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::entities::{self, Entities, EntityError, Intensity, Sport};
use crate::preferences::{self, Preference};
use crate::terms::{Meaning, TermBook};

/// What the athlete wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Change a planned workout (see [`Modification`]).
    ModifyWorkout,
    /// Record an activity done (or delete one).
    LogActivity,
    /// Say how they feel.
    LogCheckin,
    /// Ask about their history, fitness or plan.
    HistoryQuestion,
    /// Travel, illness, a busy day.
    LifeEvent,
    /// A lasting preference.
    Preference,
    /// Teach a word.
    DefineTerm,
    /// Ask what the chat can do.
    Help,
    /// Not understood.
    Unknown,
}

impl Intent {
    /// Every intent, in a fixed order.
    pub const ALL: [Intent; 9] = [
        Intent::ModifyWorkout,
        Intent::LogActivity,
        Intent::LogCheckin,
        Intent::HistoryQuestion,
        Intent::LifeEvent,
        Intent::Preference,
        Intent::DefineTerm,
        Intent::Help,
        Intent::Unknown,
    ];

    /// Its name in rows and JSON (`modify_workout`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::ModifyWorkout => "modify_workout",
            Intent::LogActivity => "log_activity",
            Intent::LogCheckin => "log_checkin",
            Intent::HistoryQuestion => "history_question",
            Intent::LifeEvent => "life_event",
            Intent::Preference => "preference",
            Intent::DefineTerm => "define_term",
            Intent::Help => "help",
            Intent::Unknown => "unknown",
        }
    }

    /// The intent named `name` (see [`Intent::as_str`]).
    pub fn parse(name: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == name)
    }
}

/// How a planned workout should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modification {
    /// Fit it into less time.
    Shorter,
    /// Lower the intensity.
    Easier,
    /// Raise the intensity (a power target is clamped by the engine).
    Harder,
    /// Another sport.
    SwapSport,
    /// Another day.
    MoveDay,
    /// Drop it (destructive: asks to confirm).
    Skip,
}

impl Modification {
    /// Its name in rows and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Modification::Shorter => "shorter",
            Modification::Easier => "easier",
            Modification::Harder => "harder",
            Modification::SwapSport => "swap_sport",
            Modification::MoveDay => "move_day",
            Modification::Skip => "skip",
        }
    }
}

/// A life event's kind, named as the planning crate names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifeKind {
    /// Away from home.
    Travel,
    /// Ill or injured: no training.
    Illness,
    /// Less time.
    Busy,
}

/// A yes or no to the engine's last question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Yes, do it / that is right.
    Yes,
    /// No / that is wrong.
    No,
}

/// A check-in read from words, each 1–5 as the planning crate's check-in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckinWords {
    /// Energy, 1–5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<u8>,
    /// Mood, 1–5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mood: Option<u8>,
    /// Soreness, 1–5 (5 = very sore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soreness: Option<u8>,
}

/// A term being taught: the phrase (when one was found) and its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teaching {
    /// The athlete's phrase; `None` when the message did not say which word.
    pub phrase: Option<String>,
    /// What it means.
    pub meaning: Meaning,
}

/// What a message means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Understanding {
    /// The intent.
    pub intent: Intent,
    /// For `modify_workout`: how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification: Option<Modification>,
    /// The entities found.
    pub entities: Entities,
    /// 0.0–1.0.
    pub confidence: f64,
    /// The learned terms this reading used (phrases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms_used: Vec<String>,
    /// For `define_term`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teaching: Option<Teaching>,
    /// For `preference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<Preference>,
    /// For `life_event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub life_kind: Option<LifeKind>,
    /// For `log_checkin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin: Option<CheckinWords>,
    /// For `log_activity`: the athlete asks to delete one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_activity: bool,
    /// A bare yes or no.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

impl Understanding {
    fn new(intent: Intent, entities: Entities, confidence: f64) -> Understanding {
        Understanding {
            intent,
            modification: None,
            entities,
            confidence,
            terms_used: Vec::new(),
            teaching: None,
            preference: None,
            life_kind: None,
            checkin: None,
            delete_activity: false,
            answer: None,
        }
    }
}

const STRONG: f64 = 0.9;
const MEDIUM: f64 = 0.7;

/// Words that are never a new term (for "count this as a workout").
const KNOWN_WORDS: &[&str] = &[
    "i",
    "i'm",
    "im",
    "me",
    "my",
    "we",
    "a",
    "an",
    "the",
    "some",
    "had",
    "have",
    "has",
    "did",
    "do",
    "done",
    "went",
    "go",
    "going",
    "to",
    "for",
    "of",
    "at",
    "in",
    "on",
    "with",
    "and",
    "then",
    "after",
    "before",
    "just",
    "got",
    "back",
    "from",
    "was",
    "were",
    "it",
    "this",
    "that",
    "as",
    "count",
    "counts",
    "please",
    "practice",
    "class",
    "session",
    "workout",
    "training",
    "lesson",
    "today",
    "tonight",
    "morning",
    "evening",
    "afternoon",
    "yesterday",
    "night",
    "last",
    "great",
    "good",
    "fun",
    "hard",
    "easy",
    "long",
    "big",
    "quick",
    "so",
    "but",
    "can",
    "you",
    "could",
    "should",
    "would",
    "also",
    "again",
    "our",
    "us",
    "team",
    "club",
    "group",
    "hour",
    "hours",
    "minutes",
    "min",
    "mins",
    "about",
    "like",
    "really",
    "very",
    "lots",
    "lot",
    "super",
    "is",
    "be",
    "like",
    "one",
    "two",
];

fn is_known(word: &str, today: Date) -> bool {
    KNOWN_WORDS.contains(&word)
        || entities::parse_sport(word).is_ok()
        || entities::parse_date(word, today).is_ok()
        || entities::parse_duration(word).is_ok()
        || entities::parse_distance(word).is_ok()
        || word.chars().any(|c| c.is_ascii_digit())
}

/// The first run of unknown words (at most four): the term a "count this as a workout"
/// message is about.
pub(crate) fn unknown_run(words: &[&str], today: Date) -> Option<String> {
    let start = words.iter().position(|w| !is_known(w, today))?;
    let run: Vec<&str> = words[start..]
        .iter()
        .take_while(|w| !is_known(w, today))
        .take(crate::terms::MAX_TERM_WORDS)
        .copied()
        .collect();
    Some(run.join(" "))
}

struct Words<'a> {
    w: Vec<&'a str>,
    padded: String,
}

impl Words<'_> {
    fn has(&self, word: &str) -> bool {
        self.w.contains(&word)
    }

    fn any(&self, words: &[&str]) -> bool {
        self.w.iter().any(|w| words.contains(w))
    }

    fn phrase(&self, p: &str) -> bool {
        self.padded.contains(&format!(" {p} "))
    }

    fn any_phrase(&self, ps: &[&str]) -> bool {
        ps.iter().any(|p| self.phrase(p))
    }

    fn position(&self, word: &str) -> Option<usize> {
        self.w.iter().position(|w| *w == word)
    }
}

/// Past-tense verbs that say an activity was done.
pub(crate) const PAST_VERBS: &[&str] = &[
    "ran",
    "rode",
    "swam",
    "walked",
    "hiked",
    "did",
    "had",
    "went",
    "finished",
    "completed",
    "logged",
    "cycled",
    "biked",
    "jogged",
    "rowed",
    "lifted",
    "danced",
    "skied",
    "done",
    "managed",
    "smashed",
    "crushed",
];
const WORKOUT_NOUNS: &[&str] = &[
    "workout",
    "practice",
    "class",
    "session",
    "training",
    "lesson",
    "run",
    "ride",
    "swim",
    "walk",
    "hike",
    "race",
    "parkrun",
    "intervals",
    "laps",
];

/// Reads `message` with the athlete's `terms`, dates relative to `today`.
pub fn classify(
    message: &str,
    terms: &TermBook,
    today: Date,
) -> Result<Understanding, EntityError> {
    entities::check_length(message)?;
    let original = entities::words(message);
    // Learned terms: synonyms rewrite the words; workout and intent terms are noted.
    let mut rewritten: Vec<String> = Vec::with_capacity(original.len());
    let mut terms_used = Vec::new();
    let mut term_confidence: f64 = 1.0;
    let mut workout_term: Option<Option<Sport>> = None;
    let mut intent_term: Option<Intent> = None;
    let mut next = 0;
    for (start, term) in terms.find_in(&original) {
        rewritten.extend(original[next..start].iter().cloned());
        let len = term.phrase.split(' ').count();
        match &term.meaning {
            Meaning::Synonym { phrase } => rewritten.extend(entities::words(phrase)),
            Meaning::Workout { sport } => {
                workout_term = Some(*sport);
                rewritten.extend(original[start..start + len].iter().cloned());
            }
            Meaning::Intent { intent } => {
                intent_term = Some(*intent);
                rewritten.extend(original[start..start + len].iter().cloned());
            }
        }
        terms_used.push(term.phrase.clone());
        term_confidence = term_confidence.min(term.confidence());
        next = start + len;
    }
    rewritten.extend(original[next..].iter().cloned());
    let text = rewritten.join(" ");
    let mut found = entities::extract(&text, today)?;
    if found.sport.is_none()
        && let Some(sport) = workout_term.flatten()
    {
        found.sport = Some(sport);
    }
    let words = Words {
        w: rewritten.iter().map(String::as_str).collect(),
        padded: format!(" {text} "),
    };
    let question = message.trim_end().ends_with('?');
    let mut u = rules(
        message,
        &words,
        found,
        today,
        question,
        workout_term.is_some(),
    );
    if u.intent == Intent::Unknown && u.answer.is_none() {
        if let Some(intent) = intent_term {
            u.intent = intent;
            u.confidence = MEDIUM;
        } else if workout_term.is_some() {
            u.intent = Intent::LogActivity;
            u.confidence = MEDIUM;
        }
    }
    if !terms_used.is_empty() {
        u.confidence = u.confidence.min(term_confidence);
        u.terms_used = terms_used;
    }
    if u.intent == Intent::LogActivity {
        // A weekday for something done is the last one, not the next ("ran on Tuesday"):
        // a day in the coming week moves back a week.
        for d in &mut u.entities.dates {
            if d.from > today && (d.from - today).whole_days() < 7 {
                d.from = d.from.saturating_sub(Duration::days(7));
                d.to = d.to.saturating_sub(Duration::days(7));
            }
        }
    }
    Ok(u)
}

fn rules(
    message: &str,
    w: &Words<'_>,
    found: Entities,
    today: Date,
    question: bool,
    has_workout_term: bool,
) -> Understanding {
    let with = |intent, confidence| Understanding::new(intent, found.clone(), confidence);
    if w.w.is_empty() {
        return with(Intent::Unknown, 0.0);
    }
    // 1. A bare yes or no.
    let yes = [
        "yes", "yep", "yeah", "yup", "correct", "right", "confirm", "sure", "ok", "okay", "please",
        "do", "it", "that's", "thats",
    ];
    let no = [
        "no",
        "nope",
        "nah",
        "wrong",
        "cancel",
        "don't",
        "dont",
        "not",
        "that's",
        "thats",
        "incorrect",
    ];
    if w.w.len() <= 3 && w.w.iter().all(|x| yes.contains(x)) && w.any(&yes[..8]) {
        let mut u = with(Intent::Unknown, STRONG);
        u.answer = Some(Answer::Yes);
        return u;
    }
    if w.w.len() <= 3 && w.w.iter().all(|x| no.contains(x) || *x == "it") && w.any(&no[..6])
        || w.any_phrase(&[
            "not what i meant",
            "that's not right",
            "that's wrong",
            "no i meant",
        ])
    {
        let mut u = with(Intent::Unknown, STRONG);
        u.answer = Some(Answer::No);
        return u;
    }
    // 2. Help.
    if w.w == ["help"]
        || w.w == ["?"]
        || w.any_phrase(&[
            "what can you do",
            "what can i say",
            "how do i use",
            "how does this work",
            "what do you do",
            "commands",
        ])
    {
        return with(Intent::Help, STRONG);
    }
    // 3. Teaching.
    if let Some(teaching) = teaching(w, &found, today) {
        let mut u = with(Intent::DefineTerm, STRONG);
        u.teaching = Some(teaching);
        return u;
    }
    // 4. Preferences.
    if let Ok(Some(p)) = preferences::parse_stated(message) {
        let mut u = with(Intent::Preference, STRONG);
        u.preference = Some(p);
        return u;
    }
    let past = w.any(PAST_VERBS);
    // 5. Deleting an activity.
    if w.any(&["delete", "remove", "erase"])
        && !w.any(&["plan", "planned", "scheduled", "tomorrow", "upcoming"])
        && (w.any(&[
            "activity",
            "activities",
            "entry",
            "log",
            "logged",
            "ride",
            "run",
            "swim",
            "walk",
            "workout",
            "last",
        ]) || found.sport.is_some())
        && !(found
            .dates
            .first()
            .is_some_and(|d| d.from == today && d.part_of_day.is_none())
            && w.has("workout"))
    {
        let mut u = with(Intent::LogActivity, STRONG);
        u.delete_activity = true;
        return u;
    }
    // 6. Questions about history, fitness and the plan.
    // "did I …", "am I …": a question; "did a 90 minute ride": a log.
    let subject =
        w.w.get(1)
            .is_some_and(|x| matches!(*x, "i" | "we" | "my" | "you" | "i've" | "i'm"));
    let question_start = w.w.first().is_some_and(|f| match *f {
        "how" | "what" | "whats" | "what's" | "when" | "which" | "show" | "tell" | "give"
        | "list" | "where" | "compare" | "hows" | "how's" | "summarize" | "summarise" => true,
        "did" | "have" | "has" | "am" | "was" | "were" | "is" | "do" | "does" => subject,
        _ => false,
    });
    let topic = w.any(&[
        "fitness",
        "ctl",
        "atl",
        "tsb",
        "form",
        "fatigue",
        "load",
        "progress",
        "progressing",
        "trend",
        "improving",
        "doing",
        "mileage",
        "miles",
        "km",
        "kilometres",
        "kilometers",
        "distance",
        "longest",
        "fastest",
        "best",
        "total",
        "pr",
        "volume",
        "hours",
        "week",
        "month",
        "year",
        "recovery",
        "trained",
        "training",
        "ran",
        "rode",
        "swam",
        "run",
        "runs",
        "ride",
        "rides",
        "plan",
        "workout",
        "workouts",
        "scheduled",
        "activities",
        "acwr",
        "summary",
        "stats",
        "shape",
        "planned",
        "schedule",
        "session",
        "next",
        "today",
        "tomorrow",
        "should",
        "far",
        "often",
        "many",
        "much",
    ]);
    if (question || question_start) && topic && !w.any(&["can", "could"])
        || w.any_phrase(&["show me my", "give me a summary", "how am i doing"])
    {
        return with(Intent::HistoryQuestion, STRONG);
    }
    // 7. Strong life events.
    if let Some(kind) = strong_life_event(w) {
        let mut u = with(Intent::LifeEvent, STRONG);
        u.life_kind = Some(kind);
        return u;
    }
    // 8. Logging an activity.
    let has_quantity = found.distance_m.is_some() || found.duration_s.is_some();
    let workoutish = found.sport.is_some()
        || has_quantity
        || found.intensity.is_some()
        || w.any(WORKOUT_NOUNS)
        || has_workout_term;
    if past && workoutish && !w.any(&["tomorrow", "instead", "move", "swap", "make"]) {
        return with(Intent::LogActivity, STRONG);
    }
    if w.any(&["log", "record", "add"]) && workoutish && !w.any(&["plan"]) {
        return with(Intent::LogActivity, STRONG);
    }
    if w.any_phrase(&[
        "just got back from",
        "back from a",
        "back from my",
        "just finished",
    ]) && workoutish
    {
        return with(Intent::LogActivity, STRONG);
    }
    // 9. Changing the plan.
    if let Some(m) = modification(w, &found, past) {
        let mut u = with(Intent::ModifyWorkout, STRONG);
        u.modification = Some(m);
        if m == Modification::SwapSport {
            u.entities.sport = swap_target(w).or(u.entities.sport);
        }
        if m == Modification::MoveDay && w.phrase("instead of") && u.entities.dates.len() >= 2 {
            // "Saturday instead of Sunday": the day it is on comes first.
            u.entities.dates.swap(0, 1);
        }
        return u;
    }
    // 10. Busy days.
    if w.any(&[
        "busy",
        "conference",
        "wedding",
        "deadline",
        "exams",
        "exam",
        "meetings",
        "moving",
        "swamped",
        "slammed",
    ]) || w.any_phrase(&[
        "working late",
        "work late",
        "long day at work",
        "kids are home",
    ]) {
        let mut u = with(Intent::LifeEvent, MEDIUM);
        u.life_kind = Some(LifeKind::Busy);
        return u;
    }
    // 11. Check-ins.
    if let Some(c) = checkin_words(w) {
        let mut u = with(Intent::LogCheckin, STRONG);
        u.checkin = Some(c);
        return u;
    }
    // A sport and a quantity on a past day: a log, less sure.
    if found.sport.is_some()
        && has_quantity
        && found
            .dates
            .first()
            .is_some_and(|d| d.from < today || d.part_of_day.is_some())
    {
        return with(Intent::LogActivity, MEDIUM);
    }
    with(Intent::Unknown, 0.0)
}

/// The sport swapped to: the one before "instead of", else the last one named ("swap my
/// run for a swim" → swim; "swim instead of run" → swim).
fn swap_target(w: &Words<'_>) -> Option<Sport> {
    let sports: Vec<(usize, Sport)> =
        w.w.iter()
            .enumerate()
            .filter_map(|(i, x)| entities::parse_sport(x).ok().map(|s| (i, s)))
            .collect();
    if let Some(i) = w.position("instead")
        && w.w.get(i + 1) == Some(&"of")
    {
        return sports.iter().rev().find(|(j, _)| *j < i).map(|(_, s)| *s);
    }
    sports.last().map(|(_, s)| *s)
}

fn strong_life_event(w: &Words<'_>) -> Option<LifeKind> {
    if w.any(&[
        "travel",
        "traveling",
        "travelling",
        "trip",
        "flight",
        "flying",
        "airport",
        "vacation",
        "holiday",
        "holidays",
        "abroad",
        "hotel",
    ]) || w.any_phrase(&["out of town", "away for", "on the road"])
    {
        return Some(LifeKind::Travel);
    }
    if w.any(&[
        "sick", "ill", "flu", "fever", "covid", "injured", "injury", "sprained", "strained",
        "illness", "vomiting", "migraine",
    ]) || w.any_phrase(&[
        "have a cold",
        "got a cold",
        "caught a cold",
        "came down with",
        "pulled a",
        "tweaked my",
    ]) {
        return Some(LifeKind::Illness);
    }
    None
}

fn modification(w: &Words<'_>, found: &Entities, past: bool) -> Option<Modification> {
    if w.any(&["skip", "cancel", "scrap", "ditch", "bail"])
        || w.any_phrase(&[
            "can't train",
            "cannot train",
            "can't make it",
            "won't be able to train",
            "no time to train",
            "day off",
            "rest day today",
            "not training today",
            "no workout today",
            "remove today",
            "remove my workout",
            "remove the workout",
            "delete today",
            "take today off",
            "rest today",
        ])
    {
        return Some(Modification::Skip);
    }
    // "on Saturday instead of Sunday": a day named after "instead of" is a move.
    if let Some(i) = w.position("instead")
        && w.w.get(i + 1) == Some(&"of")
        && w.w
            .get(i + 2)
            .is_some_and(|x| entities::parse_date(x, time::macros::date!(2000 - 01 - 03)).is_ok())
        && found.dates.len() >= 2
    {
        return Some(Modification::MoveDay);
    }
    if w.any(&["swap", "switch", "instead", "replace", "rather"])
        || w.phrase("change to")
        || w.phrase("change it to")
    {
        if found.sport.is_some() || w.any(WORKOUT_NOUNS) && !w.phrase("instead") {
            return Some(Modification::SwapSport);
        }
        if !found.dates.is_empty() {
            return Some(Modification::MoveDay);
        }
    }
    if w.any(&[
        "move",
        "reschedule",
        "postpone",
        "shift",
        "push",
        "later",
        "delay",
    ]) && !found.dates.is_empty()
        || w.any(&["reschedule", "postpone"])
    {
        return Some(Modification::MoveDay);
    }
    if w.any(&[
        "shorter", "shorten", "cut", "trim", "quick", "quicker", "condense", "compress",
    ]) || w.any_phrase(&[
        "less time",
        "no time",
        "short on time",
        "pressed for time",
        "out of time",
        "don't have time",
        "dont have time",
        "not much time",
        "tight on time",
    ]) || !past
        && found.duration_s.is_some()
        && w.any(&[
            "only", "just", "have", "got", "max", "maximum", "under", "within", "today", "minutes",
            "min",
        ])
    {
        return Some(Modification::Shorter);
    }
    // Easier before harder: "back off the intensity" names intensity to lower it.
    if w.any(&["easier", "lighter", "gentler", "gentle", "mellow"])
        || w.any_phrase(&[
            "take it easy",
            "go easy",
            "dial back",
            "dial it back",
            "tone down",
            "tone it down",
            "back off",
            "less intense",
            "easy today",
            "make it easy",
            "keep it easy",
            "recovery day",
            "easy day",
        ])
    {
        return Some(Modification::Easier);
    }
    if w.any(&[
        "harder",
        "tougher",
        "push",
        "crank",
        "intense",
        "intensity",
        "more",
    ]) && !w.any(&["less", "easier"])
        || matches!(
            found.intensity,
            Some(
                Intensity::PowerW(_)
                    | Intensity::PercentFtp(_)
                    | Intensity::AllOut
                    | Intensity::Hard
            )
        ) && w.any(&[
            "do",
            "make",
            "want",
            "give",
            "let's",
            "lets",
            "go",
            "try",
            "up",
            "intervals",
            "can",
            "could",
        ])
        || w.any_phrase(&["step it up", "feeling strong", "feel strong", "bring it on"])
    {
        return Some(Modification::Harder);
    }
    None
}

fn checkin_words(w: &Words<'_>) -> Option<CheckinWords> {
    let mut c = CheckinWords::default();
    let negated = w.any(&["not", "don't", "dont", "didn't", "didnt"]);
    if w.any(&[
        "exhausted",
        "wiped",
        "drained",
        "dead",
        "destroyed",
        "knackered",
        "shattered",
        "awful",
        "terrible",
        "horrible",
    ]) {
        c.energy = Some(1);
    } else if w.any(&[
        "tired", "sluggish", "meh", "low", "flat", "fatigued", "sleepy", "heavy",
    ]) {
        c.energy = Some(2);
    } else if w.any(&["ok", "okay", "fine", "alright"])
        && w.any(&["feel", "feeling", "felt", "i'm", "im"])
    {
        c.energy = Some(3);
    } else if w.any(&["good", "well", "rested"]) && w.any(&["feel", "feeling", "felt", "slept"]) {
        c.energy = Some(if negated { 2 } else { 4 });
    } else if w.any(&[
        "great",
        "fresh",
        "amazing",
        "awesome",
        "energized",
        "energised",
        "fantastic",
        "strong",
    ]) {
        c.energy = Some(5);
    }
    if w.any(&[
        "sore", "aching", "achy", "stiff", "doms", "hurts", "hurt", "pain", "painful",
    ]) {
        c.soreness = Some(if w.any(&["very", "really", "super", "so", "extremely"]) {
            5
        } else if negated {
            1
        } else {
            4
        });
    }
    if w.any(&[
        "stressed",
        "anxious",
        "down",
        "sad",
        "grumpy",
        "irritable",
        "stress",
    ]) {
        c.mood = Some(2);
    } else if w.any(&["happy", "motivated", "excited", "pumped", "upbeat"]) {
        c.mood = Some(4);
    }
    if w.any_phrase(&[
        "slept badly",
        "slept poorly",
        "bad sleep",
        "didn't sleep",
        "didnt sleep",
        "no sleep",
        "poor sleep",
        "couldn't sleep",
    ]) {
        c.energy = Some(c.energy.map_or(2, |e| e.min(2)));
    }
    (c != CheckinWords::default()).then_some(c)
}

fn teaching(w: &Words<'_>, found: &Entities, today: Date) -> Option<Teaching> {
    let words = &w.w;
    // "when I say X I mean Y", "by X I mean Y"
    if let (Some(say), Some(mean)) = (w.position("say"), w.position("mean"))
        && say + 1 < mean
        && words.get(mean - 1) == Some(&"i")
        && mean > say + 2
    {
        let phrase = words[say + 1..mean - 1].join(" ");
        let meaning = Meaning::from_words(&words[mean + 1..].join(" "));
        return Some(Teaching {
            phrase: Some(phrase),
            meaning,
        });
    }
    // "X means Y"
    if let Some(i) = w.position("means")
        && i > 0
        && i + 1 < words.len()
    {
        let start = words[..i]
            .iter()
            .rposition(|x| *x == "by" || *x == "say")
            .map_or(0, |j| j + 1);
        return Some(Teaching {
            phrase: Some(words[start..i].join(" ")),
            meaning: Meaning::from_words(&words[i + 1..].join(" ")),
        });
    }
    // "count this as a workout", "count it as dance"
    if let Some(i) = w.position("count").or_else(|| w.position("counts"))
        && let Some(as_at) = words[i..].iter().position(|x| *x == "as").map(|j| i + j)
    {
        let said = words[as_at + 1..].join(" ");
        let mut meaning = Meaning::from_words(&said);
        if let Meaning::Synonym { .. } | Meaning::Workout { sport: None } = meaning {
            meaning = Meaning::Workout { sport: found.sport };
        }
        return Some(Teaching {
            phrase: unknown_run(&words[..i], today),
            meaning,
        });
    }
    // "dhamaka is a dance workout", "the hill loop is my favourite route"
    if let Some(i) = w.position("is")
        && i > 0
        && i + 1 < words.len()
        && matches!(words[i + 1], "a" | "an" | "my")
        && !words[..i].iter().any(|x| is_known_subject(x))
    {
        let rest = &words[i + 1..];
        let names_workout = rest.iter().any(|x| {
            matches!(
                *x,
                "workout" | "class" | "session" | "practice" | "route" | "loop" | "sport"
            ) || entities::parse_sport(x).is_ok()
        });
        if names_workout {
            return Some(Teaching {
                phrase: Some(words[..i].join(" ")),
                meaning: Meaning::from_words(&rest.join(" ")),
            });
        }
    }
    None
}

/// Words that make "X is a …" a statement about the plan or the athlete, not a definition.
fn is_known_subject(word: &str) -> bool {
    matches!(
        word,
        "today"
            | "tomorrow"
            | "it"
            | "this"
            | "that"
            | "workout"
            | "plan"
            | "what"
            | "which"
            | "how"
            | "there"
            | "here"
            | "who"
            | "yesterday"
            | "i"
            | "he"
            | "she"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terms::Term;
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    const TODAY: Date = date!(2026 - 12 - 02);

    fn read(message: &str) -> Understanding {
        classify(message, &TermBook::new(), TODAY).unwrap()
    }

    #[test]
    fn the_issue_examples() {
        let u = read("only 35 minutes today");
        assert_eq!(
            (u.intent, u.modification),
            (Intent::ModifyWorkout, Some(Modification::Shorter))
        );
        assert_eq!(u.entities.duration_s, Some(2_100)); // 35 × 60
        let u = read("ran 10 miles this morning in 1:20");
        assert_eq!(u.intent, Intent::LogActivity);
        assert_eq!(u.entities.duration_s, Some(4_800));
        let u = read("how's my fitness this month?");
        assert_eq!(u.intent, Intent::HistoryQuestion);
        let u = read("had dhamaka practice, count it as a workout");
        assert_eq!(u.intent, Intent::DefineTerm);
        assert_eq!(
            u.teaching,
            Some(Teaching {
                phrase: Some("dhamaka".into()),
                meaning: Meaning::Workout { sport: None }
            })
        );
    }

    #[test]
    fn learned_terms_change_the_reading() {
        let mut book = TermBook::new();
        let now = datetime!(2026-12-01 08:00 UTC);
        book.teach(
            "dhamaka",
            Meaning::Workout {
                sport: Some(Sport::Dance),
            },
            now,
        )
        .unwrap();
        let u = classify("had dhamaka for an hour", &book, TODAY).unwrap();
        assert_eq!(u.intent, Intent::LogActivity);
        assert_eq!(u.entities.sport, Some(Sport::Dance));
        assert_eq!(u.terms_used, ["dhamaka"]);
        assert_eq!(u.confidence, 0.5); // capped by the term's 0.5
        // A synonym rewrites the message.
        book.teach(
            "bonk",
            Meaning::Synonym {
                phrase: "exhausted".into(),
            },
            now,
        )
        .unwrap();
        let u = classify("I bonked", &book, TODAY).unwrap();
        assert_eq!(u.intent, Intent::Unknown); // "bonked" ≠ "bonk": whole words only
        let u = classify("total bonk today", &book, TODAY).unwrap();
        assert_eq!(u.intent, Intent::LogCheckin);
        // An ignored term (below 0.3) is not used.
        let rows: Vec<Term> = book
            .terms()
            .iter()
            .cloned()
            .map(|mut t| {
                t.confidence_tenths = 2;
                t
            })
            .collect();
        let ignored = TermBook::from_terms(rows);
        let u = classify("had dhamaka for an hour", &ignored, TODAY).unwrap();
        assert_eq!(u.entities.sport, None);
        assert!(u.terms_used.is_empty());
    }

    #[test]
    fn names_round_trip() {
        for i in Intent::ALL {
            assert_eq!(Intent::parse(i.as_str()), Some(i));
            assert_eq!(
                serde_json::to_string(&i).unwrap(),
                format!("\"{}\"", i.as_str())
            );
        }
    }

    proptest! {
        #[test]
        fn classify_never_panics(text in "\\PC{0,120}") {
            let _ = classify(&text, &TermBook::new(), TODAY);
        }
    }
}
