//! Where a new copy goes: onto a copy already stored, into an activity, or a new one.
//!
//! [`merge_candidate`] decides, in this order:
//!
//! 1. **Same copy**: a stored copy [`is_same_copy`] as the new one → [`MatchDecision::SameCopy`]
//!    (importing again changes nothing).
//! 2. **Clock skew**: a copy that starts more than [`MAX_FUTURE_MS`] (10 min) after `now_ms`,
//!    or before [`EARLIEST_START_MS`] (1990-01-01T00:00:00Z), has a wrong clock; it is
//!    [`MatchDecision::Flagged`] and never merged automatically. Activities holding such a
//!    copy are never merge targets either.
//! 3. **Merge**: an activity with a copy of the same sport family, starting within
//!    [`START_TOLERANCE_MS`] (±5 min, inclusive) and lasting within [`DURATION_TOLERANCE`]
//!    (±5 % of the longer of the two, inclusive) → [`MatchDecision::MergeInto`]. When
//!    several activities match, the one with the closest start wins, then the closest
//!    duration, then the lowest id: the same copies always give the same answer.
//! 4. Otherwise → [`MatchDecision::New`].
//!
//! That both copies belong to the same athlete is the caller's to ensure: it passes only
//! that athlete's activities.

use crate::source::{ActivityId, CopyId, SourceCopy, StoredCopy, is_same_copy};

/// Copies starting further from each other than this do not merge, ms (5 min).
pub const START_TOLERANCE_MS: i64 = 5 * 60 * 1000;
/// Copies whose durations differ by more than this fraction of the longer do not merge.
pub const DURATION_TOLERANCE: f64 = 0.05;
/// A copy starting more than this after now has a wrong clock, ms (10 min).
pub const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;
/// A copy starting before this has a wrong clock: 1990-01-01T00:00:00Z, ms since the epoch.
pub const EARLIEST_START_MS: i64 = 631_152_000_000;

/// An activity and its stored copies, as the caller reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityCopies {
    /// The activity's id.
    pub activity: ActivityId,
    /// Its copies.
    pub copies: Vec<StoredCopy>,
}

/// Why a copy's clock is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSkew {
    /// It starts this far after now, ms (more than 10 minutes).
    StartsInFuture {
        /// How far ahead of now it starts, ms.
        ahead_ms: i64,
    },
    /// It starts before 1990-01-01.
    StartsBefore1990,
}

impl ClockSkew {
    /// The reason's name in rows and the API: `starts_in_future`, `starts_before_1990`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockSkew::StartsInFuture { .. } => "starts_in_future",
            ClockSkew::StartsBefore1990 => "starts_before_1990",
        }
    }
}

/// Where a new copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchDecision {
    /// It is a copy already stored: nothing changes (`duplicate`).
    SameCopy {
        /// The activity holding it.
        activity: ActivityId,
        /// The stored copy it repeats.
        copy: CopyId,
    },
    /// It is another copy of this activity (`merged`).
    MergeInto(ActivityId),
    /// It is a new activity (`imported`).
    New,
    /// Its clock is wrong: store it as a new activity, flagged, and merge it only when a
    /// person says so.
    Flagged(ClockSkew),
}

/// Whether `copy`'s start is believable at `now_ms` (see the module docs).
pub fn clock_skew(copy: &SourceCopy, now_ms: i64) -> Option<ClockSkew> {
    let ahead_ms = copy.start_ms.saturating_sub(now_ms);
    if ahead_ms > MAX_FUTURE_MS {
        Some(ClockSkew::StartsInFuture { ahead_ms })
    } else if copy.start_ms < EARLIEST_START_MS {
        Some(ClockSkew::StartsBefore1990)
    } else {
        None
    }
}

/// Whether two copies are the same workout: same sport family, start within ±5 min,
/// duration within ±5 % of the longer.
pub fn same_workout(a: &SourceCopy, b: &SourceCopy) -> bool {
    let longer_s = a.duration_s.max(b.duration_s);
    a.sport.family() == b.sport.family()
        && a.start_ms.abs_diff(b.start_ms) <= START_TOLERANCE_MS.unsigned_abs()
        && (a.duration_s - b.duration_s).abs() <= DURATION_TOLERANCE * longer_s
}

/// Where `new` goes among an athlete's `activities` at `now_ms` (see the module docs).
pub fn merge_candidate(
    activities: &[ActivityCopies],
    new: &SourceCopy,
    now_ms: i64,
) -> MatchDecision {
    for activity in activities {
        if let Some(stored) = activity.copies.iter().find(|s| is_same_copy(&s.copy, new)) {
            return MatchDecision::SameCopy {
                activity: activity.activity,
                copy: stored.id,
            };
        }
    }
    if let Some(skew) = clock_skew(new, now_ms) {
        return MatchDecision::Flagged(skew);
    }
    activities
        .iter()
        .filter(|a| {
            a.copies
                .iter()
                .all(|s| clock_skew(&s.copy, now_ms).is_none())
        })
        .filter_map(|a| {
            let closest = a
                .copies
                .iter()
                .filter(|s| same_workout(&s.copy, new))
                .map(|s| {
                    let start_gap_ms = s.copy.start_ms.abs_diff(new.start_ms);
                    let duration_gap_s = (s.copy.duration_s - new.duration_s).abs();
                    (start_gap_ms, duration_gap_s)
                })
                .min_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)))?;
            Some((closest, a.activity))
        })
        .min_by(|(x, x_id), (y, y_id)| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)).then(x_id.cmp(y_id)))
        .map_or(MatchDecision::New, |(_, activity)| {
            MatchDecision::MergeInto(activity)
        })
}

#[cfg(test)]
mod tests {
    use paceline_formats::Sport;
    use proptest::prelude::*;

    use super::*;
    use crate::source::{FieldValues, SourceKind};

    const NOW_MS: i64 = 1_765_000_000_000;
    const START_MS: i64 = NOW_MS - 86_400_000;

    fn copy(kind: SourceKind, sport: Sport, start_ms: i64, duration_s: f64) -> SourceCopy {
        SourceCopy {
            kind,
            format: None,
            external_id: None,
            content_sha256: None,
            sport,
            start_ms,
            local_offset_s: None,
            duration_s,
            fields: FieldValues::default(),
        }
    }

    fn activity(id: i64, copies: Vec<SourceCopy>) -> ActivityCopies {
        ActivityCopies {
            activity: ActivityId(id),
            copies: copies
                .into_iter()
                .enumerate()
                .map(|(i, copy)| StoredCopy {
                    id: CopyId(id * 100 + i as i64),
                    copy,
                })
                .collect(),
        }
    }

    #[test]
    fn the_merge_rule_in_numbers() {
        use SourceKind::*;
        let stored = [activity(
            1,
            vec![copy(Garmin, Sport::Cycling, START_MS, 3600.0)],
        )];
        let table = [
            // Same family (a trainer ride called cycling by one, indoor by the other).
            (
                copy(Strava, Sport::IndoorCycling, START_MS, 3600.0),
                MatchDecision::MergeInto(ActivityId(1)),
            ),
            (
                copy(Strava, Sport::Running, START_MS, 3600.0),
                MatchDecision::New,
            ),
            // ±5 min inclusive.
            (
                copy(Strava, Sport::Cycling, START_MS + 300_000, 3600.0),
                MatchDecision::MergeInto(ActivityId(1)),
            ),
            (
                copy(Strava, Sport::Cycling, START_MS - 300_000, 3600.0),
                MatchDecision::MergeInto(ActivityId(1)),
            ),
            (
                copy(Strava, Sport::Cycling, START_MS + 300_001, 3600.0),
                MatchDecision::New,
            ),
            // ±5 % of the longer, inclusive: 3600 vs 3780 differs by 180 s = 4.8 % of 3780.
            (
                copy(Strava, Sport::Cycling, START_MS, 3780.0),
                MatchDecision::MergeInto(ActivityId(1)),
            ),
            (
                copy(Strava, Sport::Cycling, START_MS, 3420.0),
                MatchDecision::MergeInto(ActivityId(1)),
            ),
            (
                copy(Strava, Sport::Cycling, START_MS, 3800.0),
                MatchDecision::New,
            ),
            (
                copy(Strava, Sport::Cycling, START_MS, 3400.0),
                MatchDecision::New,
            ),
        ];
        for (new, expected) in table {
            assert_eq!(merge_candidate(&stored, &new, NOW_MS), expected, "{new:?}");
        }
    }

    #[test]
    fn the_same_copy_is_found_before_anything_else() {
        let mut garmin = copy(SourceKind::Garmin, Sport::Running, START_MS, 1800.0);
        garmin.external_id = Some("g-1".into());
        let stored = [activity(
            4,
            vec![
                copy(SourceKind::Manual, Sport::Running, START_MS, 1800.0),
                garmin.clone(),
            ],
        )];
        // Even with other values (the source edited it) and a skewed clock, it is the same copy.
        let mut again = garmin;
        again.start_ms = NOW_MS + 3_600_000;
        again.duration_s = 99.0;
        assert_eq!(
            merge_candidate(&stored, &again, NOW_MS),
            MatchDecision::SameCopy {
                activity: ActivityId(4),
                copy: CopyId(401)
            }
        );
    }

    #[test]
    fn skewed_clocks_are_flagged_and_never_merged() {
        let stored = [activity(
            1,
            vec![copy(
                SourceKind::Garmin,
                Sport::Cycling,
                NOW_MS + 700_000,
                3600.0,
            )],
        )];
        let future = copy(SourceKind::Strava, Sport::Cycling, NOW_MS + 600_001, 3600.0);
        assert_eq!(
            merge_candidate(&stored, &future, NOW_MS),
            MatchDecision::Flagged(ClockSkew::StartsInFuture { ahead_ms: 600_001 })
        );
        let ten_minutes_ahead = copy(SourceKind::Strava, Sport::Cycling, NOW_MS + 600_000, 3600.0);
        assert_eq!(
            merge_candidate(&stored, &ten_minutes_ahead, NOW_MS),
            MatchDecision::New,
            "a skewed stored copy is no merge target"
        );
        let old = copy(
            SourceKind::File,
            Sport::Cycling,
            EARLIEST_START_MS - 1,
            3600.0,
        );
        assert_eq!(
            merge_candidate(&[], &old, NOW_MS),
            MatchDecision::Flagged(ClockSkew::StartsBefore1990)
        );
        let first_of_1990 = copy(SourceKind::File, Sport::Cycling, EARLIEST_START_MS, 3600.0);
        assert_eq!(
            merge_candidate(&[], &first_of_1990, NOW_MS),
            MatchDecision::New
        );
    }

    #[test]
    fn several_matches_take_the_closest_start_then_duration_then_id() {
        use SourceKind::*;
        let stored = [
            activity(
                7,
                vec![copy(Garmin, Sport::Running, START_MS + 120_000, 3600.0)],
            ),
            activity(
                3,
                vec![copy(Garmin, Sport::Running, START_MS - 60_000, 3650.0)],
            ),
            activity(
                5,
                vec![copy(Garmin, Sport::Running, START_MS + 60_000, 3600.0)],
            ),
            activity(
                2,
                vec![copy(Garmin, Sport::Running, START_MS + 60_000, 3600.0)],
            ),
        ];
        let new = copy(Strava, Sport::Running, START_MS, 3600.0);
        assert_eq!(
            merge_candidate(&stored, &new, NOW_MS),
            MatchDecision::MergeInto(ActivityId(2))
        );
        let mut reversed = stored.to_vec();
        reversed.reverse();
        assert_eq!(
            merge_candidate(&reversed, &new, NOW_MS),
            MatchDecision::MergeInto(ActivityId(2))
        );
    }

    proptest! {
        #[test]
        fn same_workout_is_symmetric(
            start_a in 0i64..1_000_000, start_b in 0i64..1_000_000,
            duration_a in 0.0f64..10_000.0, duration_b in 0.0f64..10_000.0,
            sport_b in prop::sample::select(vec![Sport::Cycling, Sport::IndoorCycling, Sport::Running]),
        ) {
            let a = copy(SourceKind::Garmin, Sport::Cycling, EARLIEST_START_MS + start_a, duration_a);
            let b = copy(SourceKind::Strava, sport_b, EARLIEST_START_MS + start_b, duration_b);
            prop_assert_eq!(same_workout(&a, &b), same_workout(&b, &a));
        }

        #[test]
        fn skewed_copies_never_merge_and_merges_meet_the_rule(
            starts in prop::collection::vec(-1_200_000i64..1_200_000, 1..8),
            new_start in -1_200_000i64..1_200_000,
            durations in prop::collection::vec(3000.0f64..4000.0, 8),
        ) {
            let stored: Vec<ActivityCopies> = starts.iter().zip(&durations).enumerate()
                .map(|(i, (start, duration))| activity(i as i64, vec![copy(SourceKind::Garmin, Sport::Running, NOW_MS + start, *duration)]))
                .collect();
            let new = copy(SourceKind::Strava, Sport::Running, NOW_MS + new_start, 3600.0);
            match merge_candidate(&stored, &new, NOW_MS) {
                MatchDecision::MergeInto(id) => {
                    prop_assert!(clock_skew(&new, NOW_MS).is_none());
                    let target = stored.iter().find(|a| a.activity == id).unwrap();
                    prop_assert!(target.copies.iter().all(|s| clock_skew(&s.copy, NOW_MS).is_none()));
                    prop_assert!(target.copies.iter().any(|s| same_workout(&s.copy, &new)));
                }
                MatchDecision::Flagged(_) => prop_assert!(clock_skew(&new, NOW_MS).is_some()),
                MatchDecision::New => {
                    let no_target = stored.iter().all(|a| {
                        a.copies.iter().any(|s| clock_skew(&s.copy, NOW_MS).is_some())
                            || a.copies.iter().all(|s| !same_workout(&s.copy, &new))
                    });
                    prop_assert!(no_target);
                }
                MatchDecision::SameCopy { .. } => prop_assert!(false, "no ids or hashes here"),
            }
        }

        #[test]
        fn a_decision_never_depends_on_the_order_of_activities(
            starts in prop::collection::vec(-400_000i64..400_000, 0..8),
            durations in prop::collection::vec(3400.0f64..3800.0, 8),
            seed in any::<u64>(),
        ) {
            let stored: Vec<ActivityCopies> = starts.iter().zip(&durations).enumerate()
                .map(|(i, (start, duration))| activity(i as i64, vec![copy(SourceKind::Garmin, Sport::Cycling, START_MS + start, *duration)]))
                .collect();
            let new = copy(SourceKind::Strava, Sport::Cycling, START_MS, 3600.0);
            let mut shuffled = stored.clone();
            let len = shuffled.len().max(1);
            shuffled.rotate_left(usize::try_from(seed % len as u64).unwrap_or(0));
            shuffled.reverse();
            prop_assert_eq!(merge_candidate(&stored, &new, NOW_MS), merge_candidate(&shuffled, &new, NOW_MS));
        }
    }
}
