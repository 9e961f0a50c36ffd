//! One activity from several copies, each field from the best copy that has it.
//!
//! [`merge`] ranks the copies by their class's [`Precedence`] (the lower [`CopyId`], the
//! copy stored first, breaks a tie within a class) and takes each [`Field`] from the
//! first copy that has a value for it: a device file's power with Strava's name and a
//! manual entry's RPE, say. The provenance says which copy gave each field, so the API can
//! show it and a later change of precedence or of copies recomputes the same way.
//! [`unmerge`] splits one copy back out: both the remaining activity and the split-out one
//! are merged afresh.

use std::collections::BTreeMap;

use paceline_formats::Sport;
use thiserror::Error;

use crate::precedence::{Precedence, SourceClass};
use crate::source::{CopyId, FieldValues, SourceCopy, StoredCopy};

/// A field of an activity, as provenance names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// The sport.
    Sport,
    /// The start time.
    Start,
    /// The local offset from UTC.
    LocalOffset,
    /// Elapsed time.
    Duration,
    /// Moving time.
    MovingTime,
    /// Distance.
    Distance,
    /// Ascent.
    Ascent,
    /// Mean heart rate.
    HrAvg,
    /// Highest heart rate.
    HrMax,
    /// Mean power.
    PowerAvg,
    /// Highest power.
    PowerMax,
    /// Normalized power.
    Np,
    /// Training load (TSS and how it was found).
    Load,
    /// Energy.
    Energy,
    /// The name.
    Name,
    /// Perceived exertion.
    Rpe,
    /// The note.
    Note,
    /// The samples shown for the activity.
    Samples,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 18] = [
        Field::Sport,
        Field::Start,
        Field::LocalOffset,
        Field::Duration,
        Field::MovingTime,
        Field::Distance,
        Field::Ascent,
        Field::HrAvg,
        Field::HrMax,
        Field::PowerAvg,
        Field::PowerMax,
        Field::Np,
        Field::Load,
        Field::Energy,
        Field::Name,
        Field::Rpe,
        Field::Note,
        Field::Samples,
    ];

    /// The field's name in rows and the API (`sport`, `start`, `local_offset`, `duration`,
    /// `moving_time`, `distance`, `ascent`, `hr_avg`, `hr_max`, `power_avg`, `power_max`,
    /// `np`, `load`, `energy`, `name`, `rpe`, `note`, `samples`).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Sport => "sport",
            Field::Start => "start",
            Field::LocalOffset => "local_offset",
            Field::Duration => "duration",
            Field::MovingTime => "moving_time",
            Field::Distance => "distance",
            Field::Ascent => "ascent",
            Field::HrAvg => "hr_avg",
            Field::HrMax => "hr_max",
            Field::PowerAvg => "power_avg",
            Field::PowerMax => "power_max",
            Field::Np => "np",
            Field::Load => "load",
            Field::Energy => "energy",
            Field::Name => "name",
            Field::Rpe => "rpe",
            Field::Note => "note",
            Field::Samples => "samples",
        }
    }

    /// The field named `name` (as [`Field::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// An activity as its copies add up.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedActivity {
    /// Its sport.
    pub sport: Sport,
    /// When it started, ms since the Unix epoch (UTC).
    pub start_ms: i64,
    /// The local offset from UTC at the start, s, when known.
    pub local_offset_s: Option<i32>,
    /// Elapsed time, s.
    pub duration_s: f64,
    /// Everything else.
    pub fields: FieldValues,
    /// Which copy gave each field that has a value.
    pub provenance: BTreeMap<Field, CopyId>,
}

/// Why copies could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MergeError {
    /// An activity needs at least one copy.
    #[error("an activity needs at least one source copy")]
    NoCopies,
}

/// Why a copy could not be split out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnmergeError {
    /// The copy is not one of the activity's.
    #[error("source copy {0} is not one of this activity's")]
    NotACopy(i64),
    /// The activity has only this copy: nothing to split it from.
    #[error("source copy {0} is the activity's only copy")]
    OnlyCopy(i64),
}

/// An activity split in two by [`unmerge`].
#[derive(Debug, Clone, PartialEq)]
pub struct Unmerged {
    /// The activity from the copies that stay.
    pub remaining: MergedActivity,
    /// The new activity from the copy split out.
    pub split: MergedActivity,
}

/// The activity `copies` add up to under `precedence` (see the module docs).
pub fn merge(copies: &[StoredCopy], precedence: &Precedence) -> Result<MergedActivity, MergeError> {
    let mut ranked: Vec<&StoredCopy> = copies.iter().collect();
    ranked.sort_by_key(|s| {
        (
            precedence.rank(SourceClass::of(s.copy.kind, s.copy.format)),
            s.id,
        )
    });
    let best = *ranked.first().ok_or(MergeError::NoCopies)?;

    let mut provenance = BTreeMap::new();
    for field in [Field::Sport, Field::Start, Field::Duration] {
        provenance.insert(field, best.id);
    }
    let mut pick = |field: Field, has: &dyn Fn(&SourceCopy) -> bool| -> Option<&SourceCopy> {
        let source = ranked.iter().find(|s| has(&s.copy))?;
        provenance.insert(field, source.id);
        Some(&source.copy)
    };
    let local_offset_s =
        pick(Field::LocalOffset, &|c| c.local_offset_s.is_some()).and_then(|c| c.local_offset_s);
    let fields = FieldValues {
        moving_s: pick(Field::MovingTime, &|c| c.fields.moving_s.is_some())
            .and_then(|c| c.fields.moving_s),
        distance_m: pick(Field::Distance, &|c| c.fields.distance_m.is_some())
            .and_then(|c| c.fields.distance_m),
        ascent_m: pick(Field::Ascent, &|c| c.fields.ascent_m.is_some())
            .and_then(|c| c.fields.ascent_m),
        hr_avg_bpm: pick(Field::HrAvg, &|c| c.fields.hr_avg_bpm.is_some())
            .and_then(|c| c.fields.hr_avg_bpm),
        hr_max_bpm: pick(Field::HrMax, &|c| c.fields.hr_max_bpm.is_some())
            .and_then(|c| c.fields.hr_max_bpm),
        power_avg_w: pick(Field::PowerAvg, &|c| c.fields.power_avg_w.is_some())
            .and_then(|c| c.fields.power_avg_w),
        power_max_w: pick(Field::PowerMax, &|c| c.fields.power_max_w.is_some())
            .and_then(|c| c.fields.power_max_w),
        np_w: pick(Field::Np, &|c| c.fields.np_w.is_some()).and_then(|c| c.fields.np_w),
        load: pick(Field::Load, &|c| c.fields.load.is_some()).and_then(|c| c.fields.load),
        energy_kcal: pick(Field::Energy, &|c| c.fields.energy_kcal.is_some())
            .and_then(|c| c.fields.energy_kcal),
        name: pick(Field::Name, &|c| c.fields.name.is_some()).and_then(|c| c.fields.name.clone()),
        rpe: pick(Field::Rpe, &|c| c.fields.rpe.is_some()).and_then(|c| c.fields.rpe),
        note: pick(Field::Note, &|c| c.fields.note.is_some()).and_then(|c| c.fields.note.clone()),
        sample_count: pick(Field::Samples, &|c| {
            c.fields.sample_count.is_some_and(|n| n > 0)
        })
        .and_then(|c| c.fields.sample_count),
    };
    Ok(MergedActivity {
        sport: best.copy.sport,
        start_ms: best.copy.start_ms,
        local_offset_s,
        duration_s: best.copy.duration_s,
        fields,
        provenance,
    })
}

/// Splits `copy` out of the activity made of `copies`: the activity the others make and
/// the new one it makes alone, both merged afresh under `precedence`.
pub fn unmerge(
    copies: &[StoredCopy],
    copy: CopyId,
    precedence: &Precedence,
) -> Result<Unmerged, UnmergeError> {
    let (split, remaining): (Vec<StoredCopy>, Vec<StoredCopy>) =
        copies.iter().cloned().partition(|s| s.id == copy);
    // An empty side is what each error means: no such copy, or nothing left without it.
    let split = merge(&split, precedence).map_err(|_| UnmergeError::NotACopy(copy.0))?;
    let remaining = merge(&remaining, precedence).map_err(|_| UnmergeError::OnlyCopy(copy.0))?;
    Ok(Unmerged { remaining, split })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::load::{Load, LoadMethod};
    use crate::source::{FileFormat, SourceKind};

    const START_MS: i64 = 1_765_000_000_000;

    fn stored(
        id: i64,
        kind: SourceKind,
        format: Option<FileFormat>,
        fields: FieldValues,
    ) -> StoredCopy {
        StoredCopy {
            id: CopyId(id),
            copy: SourceCopy {
                kind,
                format,
                external_id: None,
                content_sha256: None,
                sport: Sport::Cycling,
                start_ms: START_MS + id * 1000,
                local_offset_s: None,
                duration_s: 3600.0 + f64::from(u8::try_from(id).unwrap_or(0)),
                fields,
            },
        }
    }

    fn copies() -> Vec<StoredCopy> {
        vec![
            stored(
                1,
                SourceKind::Manual,
                None,
                FieldValues {
                    rpe: Some(6),
                    note: Some("legs heavy".into()),
                    name: Some("Typed".into()),
                    load: Some(Load {
                        tss: 60.0,
                        intensity_factor: None,
                        method: LoadMethod::Rpe,
                    }),
                    ..FieldValues::default()
                },
            ),
            stored(
                2,
                SourceKind::Strava,
                None,
                FieldValues {
                    name: Some("Morning ride".into()),
                    distance_m: Some(30_100.0),
                    hr_avg_bpm: Some(141.0),
                    energy_kcal: Some(700.0),
                    ..FieldValues::default()
                },
            ),
            stored(
                3,
                SourceKind::File,
                Some(FileFormat::Fit),
                FieldValues {
                    distance_m: Some(30_000.0),
                    power_avg_w: Some(190.0),
                    np_w: Some(205.0),
                    load: Some(Load {
                        tss: 70.0,
                        intensity_factor: Some(0.82),
                        method: LoadMethod::Power,
                    }),
                    sample_count: Some(3600),
                    ..FieldValues::default()
                },
            ),
        ]
    }

    #[test]
    fn each_field_comes_from_the_best_copy_that_has_it() {
        let merged = merge(&copies(), &Precedence::default()).unwrap();
        assert_eq!(merged.start_ms, START_MS + 3000, "the FIT file's start");
        assert_eq!(merged.duration_s, 3603.0);
        assert_eq!(merged.fields.distance_m, Some(30_000.0));
        assert_eq!(merged.fields.name.as_deref(), Some("Morning ride"));
        assert_eq!(merged.fields.hr_avg_bpm, Some(141.0));
        assert_eq!(merged.fields.rpe, Some(6));
        assert_eq!(merged.fields.load.unwrap().method, LoadMethod::Power);
        let provenance: Vec<(&str, i64)> = merged
            .provenance
            .iter()
            .map(|(f, c)| (f.as_str(), c.0))
            .collect();
        assert_eq!(
            provenance,
            [
                ("sport", 3),
                ("start", 3),
                ("duration", 3),
                ("distance", 3),
                ("hr_avg", 2),
                ("power_avg", 3),
                ("np", 3),
                ("load", 3),
                ("energy", 2),
                ("name", 2),
                ("rpe", 1),
                ("note", 1),
                ("samples", 3),
            ]
        );
        assert_eq!(merged.provenance.get(&Field::LocalOffset), None);
    }

    #[test]
    fn a_tenant_precedence_changes_the_winner() {
        let precedence = Precedence::parse(&["strava"]).unwrap();
        let merged = merge(&copies(), &precedence).unwrap();
        assert_eq!(merged.fields.distance_m, Some(30_100.0));
        assert_eq!(merged.provenance[&Field::Start], CopyId(2));
        assert_eq!(
            merged.provenance[&Field::Np],
            CopyId(3),
            "only the file has NP"
        );
    }

    #[test]
    fn within_a_class_the_first_stored_wins() {
        let a = stored(
            9,
            SourceKind::File,
            Some(FileFormat::Fit),
            FieldValues {
                distance_m: Some(1.0),
                ..FieldValues::default()
            },
        );
        let b = stored(
            4,
            SourceKind::File,
            Some(FileFormat::Fit),
            FieldValues {
                distance_m: Some(2.0),
                ..FieldValues::default()
            },
        );
        assert_eq!(
            merge(&[a.clone(), b.clone()], &Precedence::default())
                .unwrap()
                .fields
                .distance_m,
            Some(2.0)
        );
        assert_eq!(
            merge(&[b, a], &Precedence::default())
                .unwrap()
                .fields
                .distance_m,
            Some(2.0)
        );
        assert_eq!(
            merge(&[], &Precedence::default()),
            Err(MergeError::NoCopies)
        );
    }

    #[test]
    fn unmerge_recomputes_both_sides() {
        let unmerged = unmerge(&copies(), CopyId(3), &Precedence::default()).unwrap();
        assert_eq!(unmerged.remaining.fields.distance_m, Some(30_100.0));
        assert_eq!(
            unmerged.remaining.fields.load.unwrap().method,
            LoadMethod::Rpe
        );
        assert_eq!(unmerged.remaining.fields.sample_count, None);
        assert_eq!(unmerged.remaining.provenance[&Field::Start], CopyId(2));
        assert_eq!(unmerged.split.fields.np_w, Some(205.0));
        assert_eq!(unmerged.split.fields.name, None);
        assert!(unmerged.split.provenance.values().all(|c| *c == CopyId(3)));

        assert_eq!(
            unmerge(&copies(), CopyId(8), &Precedence::default()),
            Err(UnmergeError::NotACopy(8))
        );
        assert_eq!(
            unmerge(&copies()[..1], CopyId(1), &Precedence::default()),
            Err(UnmergeError::OnlyCopy(1))
        );
    }

    #[test]
    fn field_names_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::parse(field.as_str()), Some(field));
        }
    }

    proptest! {
        #[test]
        fn merging_is_independent_of_copy_order_and_names_only_its_copies(
            picks in prop::collection::vec((0usize..5, prop::option::of(0.0f64..1e5), prop::option::of(1u8..=10)), 1..6),
            rotate in 0usize..6,
        ) {
            let kinds = [SourceKind::Paceline, SourceKind::File, SourceKind::Strava, SourceKind::Garmin, SourceKind::Manual];
            let copies: Vec<StoredCopy> = picks.iter().enumerate().map(|(i, (kind, distance_m, rpe))| {
                stored(i64::try_from(i).unwrap_or(0), kinds[*kind], Some(FileFormat::Fit), FieldValues { distance_m: *distance_m, rpe: *rpe, ..FieldValues::default() })
            }).collect();
            let merged = merge(&copies, &Precedence::default()).unwrap();
            let mut rotated = copies.clone();
            rotated.rotate_left(rotate % copies.len());
            prop_assert_eq!(&merge(&rotated, &Precedence::default()).unwrap(), &merged);
            for id in merged.provenance.values() {
                prop_assert!(copies.iter().any(|c| c.id == *id));
            }
            prop_assert_eq!(merged.fields.distance_m.is_some(), copies.iter().any(|c| c.copy.fields.distance_m.is_some()));
            prop_assert_eq!(merged.fields.rpe.is_some(), copies.iter().any(|c| c.copy.fields.rpe.is_some()));
        }
    }
}
