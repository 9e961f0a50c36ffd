//! A scripted conversation: the learned term "dhamaka" taught, used, confirmed, corrected
//! and pruned, its confidence checked after every turn (issue 24's rules: start 0.5,
//! +0.1 per confirmed use, −0.2 per correction, ignored below 0.3, pruned below 0.2 or
//! after 90 days unused; a newer conflicting meaning wins and both are kept).
//!
//! The test plays the gateway's part: it applies each reply's `learned` updates to the
//! book and carries `pending` into the next turn.

use paceline_chat::actions::Tool;
use paceline_chat::engine::{AthleteContext, Pending, Reply, Turn, respond};
use paceline_chat::entities::Sport;
use paceline_chat::intent::Intent;
use paceline_chat::terms::{Meaning, TermBook};
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

const TODAY: Date = date!(2026 - 12 - 02);
const NOW: OffsetDateTime = datetime!(2026-12-02 07:00 UTC);

struct Chat {
    book: TermBook,
    pending: Pending,
    previous: Option<String>,
}

impl Chat {
    fn say(&mut self, message: &str) -> Reply {
        let turn = Turn {
            message: message.to_owned(),
            pending: std::mem::take(&mut self.pending),
            previous_message: self.previous.replace(message.to_owned()),
        };
        let reply = respond(&turn, &AthleteContext::default(), &self.book, TODAY, NOW)
            .expect("the message is short");
        for update in &reply.learned {
            self.book.apply(update, NOW).expect("updates apply");
        }
        self.pending = reply.pending.clone();
        reply
    }

    /// The meaning used for "dhamaka" and its confidence.
    fn dhamaka(&self) -> Option<(Meaning, f64)> {
        self.book
            .active("dhamaka")
            .map(|t| (t.meaning.clone(), t.confidence()))
    }
}

fn workout(sport: Option<Sport>) -> Meaning {
    Meaning::Workout { sport }
}

#[test]
fn dhamaka_from_first_use_to_pruning() {
    let mut chat = Chat {
        book: TermBook::new(),
        pending: Pending::default(),
        previous: None,
    };

    // Unknown at first: proposed as a workout, nothing learned until a yes.
    let r = chat.say("had dhamaka practice");
    assert_eq!(r.intent, Intent::LogActivity);
    assert!(
        r.reply
            .starts_with("Should I count \"dhamaka\" as a workout?")
    );
    assert_eq!(chat.dhamaka(), None);

    // Taught as a workout (and logged): 0.5.
    let r = chat.say("count it as a workout");
    assert_eq!(r.intent, Intent::DefineTerm);
    assert_eq!(r.reply, "Got it: \"dhamaka\" means a workout.");
    assert_eq!(chat.dhamaka(), Some((workout(None), 0.5)));

    // A newer, conflicting meaning wins; both are kept: dance at 0.5.
    chat.say("dhamaka is a dance workout");
    assert_eq!(chat.dhamaka(), Some((workout(Some(Sport::Dance)), 0.5)));
    assert_eq!(chat.book.terms().len(), 2);

    // Used: logged as dance, read back for a yes.
    let r = chat.say("had dhamaka for an hour");
    assert_eq!(
        r.tools,
        vec![Tool::LogActivity {
            sport: Some(Sport::Dance),
            date: TODAY,
            part_of_day: None,
            duration_s: Some(3_600),
            distance_m: None,
            note: Some("dhamaka".into()),
        }]
    );
    assert_eq!(r.understanding.confidence, 0.5);
    assert_eq!(
        r.reply,
        "Logged dance (dhamaka) in 1:00:00 on 2026-12-02. (I read \"dhamaka\" the way you taught me — right?)"
    );
    // Confirmed: 0.5 + 0.1 = 0.6.
    let r = chat.say("yes");
    assert_eq!(r.reply, "Thanks, I'll remember that.");
    assert_eq!(chat.dhamaka(), Some((workout(Some(Sport::Dance)), 0.6)));

    // Used and confirmed again: 0.7.
    chat.say("did dhamaka last night for 90 minutes");
    chat.say("yep");
    assert_eq!(chat.dhamaka(), Some((workout(Some(Sport::Dance)), 0.7)));

    // A yes with nothing pending changes nothing.
    chat.say("yes");
    assert_eq!(chat.dhamaka(), Some((workout(Some(Sport::Dance)), 0.7)));

    // Corrected: 0.7 − 0.2 = 0.5.
    chat.say("had dhamaka");
    let r = chat.say("no");
    assert_eq!(
        r.reply,
        "Sorry. What does \"dhamaka\" mean? Say \"dhamaka means …\"."
    );
    assert_eq!(chat.dhamaka(), Some((workout(Some(Sport::Dance)), 0.5)));

    // Corrected again: 0.3, still used (ignored only below 0.3).
    chat.say("had dhamaka");
    chat.say("no");
    assert_eq!(chat.dhamaka(), Some((workout(Some(Sport::Dance)), 0.3)));

    // Once more: 0.1, ignored; the older meaning (a workout, 0.5) is used again.
    chat.say("had dhamaka");
    chat.say("nope");
    assert_eq!(chat.dhamaka(), Some((workout(None), 0.5)));
    let r = chat.say("had dhamaka for an hour");
    assert_eq!(r.understanding.entities.sport, None);
    assert_eq!(r.understanding.terms_used, ["dhamaka"]);

    // Pruning: the dance meaning (0.1 < 0.2) goes now; the workout meaning stays.
    let gone = chat.book.prune(NOW);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].meaning, workout(Some(Sport::Dance)));
    assert_eq!(chat.book.terms().len(), 1);

    // Unused for 90 days it stays, for 91 it goes.
    assert!(chat.book.prune(NOW + Duration::days(90)).is_empty());
    assert_eq!(chat.book.prune(NOW + Duration::days(91)).len(), 1);
    assert!(chat.book.terms().is_empty());
}
