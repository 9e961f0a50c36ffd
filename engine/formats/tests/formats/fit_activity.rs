//! FIT activities read into recordings: every shared FIT file gives a recording or a
//! clear error; the recordings agree with the replay reader and the reference CSVs.

use expect_test::expect;
use paceline_formats::samples::{decode_activity_samples, decode_fit, decode_fit_reference};
use paceline_formats::{FormatError, Limits, fit};
use paceline_schemas::sample::SampleValue;

use crate::{shared, shared_fit_files};

#[test]
fn every_shared_fit_file_reads_or_fails_clearly() {
    let mut table = String::new();
    for (name, bytes) in shared_fit_files() {
        let line = match fit::read_recording(&bytes) {
            Ok(r) => {
                let hr = r
                    .points
                    .iter()
                    .filter(|p| p.heart_rate_bpm.is_some())
                    .count();
                let power = r.points.iter().filter(|p| p.power_w.is_some()).count();
                let gps = r.points.iter().filter(|p| p.lat_deg.is_some()).count();
                let t = &r.totals;
                format!(
                    "{:?} start {} offset {:?} device {:?}: {} points ({hr} hr, {power} power, {gps} gps); elapsed {:?} moving {:?} distance {:?} kcal {:?} ascent {:?}",
                    r.sport,
                    paceline_formats::time::format_utc(r.start_ms),
                    r.local_offset_s,
                    r.device.as_deref().unwrap_or("-"),
                    r.points.len(),
                    t.elapsed_s,
                    t.moving_s,
                    t.distance_m,
                    t.energy_kcal,
                    t.ascent_m,
                )
            }
            Err(e) => format!("error: {e}"),
        };
        table.push_str(&format!("{name}: {line}\n"));
    }
    expect![[r#"
        Activity.fit: Running start 2012-04-09T21:22:26Z offset Some(-14400) device "dynastream approach_g12_asia": 14 points (0 hr, 0 power, 14 gps); elapsed Some(13.749) moving None distance Some(5.73) kcal Some(0.0) ascent Some(0.0)
        Edge810-Vector-2013-08-16-15-35-10.fit: Cycling start 2013-08-16T18:05:10Z offset None device "garmin edge810": 4700 points (4671 hr, 4700 power, 4700 gps); elapsed Some(4700.05) moving None distance Some(41339.38) kcal Some(1293.0) ascent Some(514.0)
        Settings.fit: error: a FIT file without activity records (holds: file_id, file_creator, device_settings, user_profile, hrm_profile, bike_profile, connectivity)
        WorkoutCustomTargetValues.fit: error: a FIT file without activity records (holds: file_id, workout, workout_step)
        WorkoutIndividualSteps.fit: error: a FIT file without activity records (holds: file_id, workout, workout_step)
        WorkoutRepeatGreaterThanStep.fit: error: a FIT file without activity records (holds: file_id, workout, workout_step)
        WorkoutRepeatSteps.fit: error: a FIT file without activity records (holds: file_id, workout, workout_step)
        activity-settings-corruptheader.fit: error: FIT data unreadable at byte 771: no ".FIT" signature in the header
        activity-settings-nodata.fit: error: FIT data unreadable at byte 783: parser error: requires 2 more bytes
        activity-small-fenix2-run.fit: Running start 2015-08-15T14:45:08Z offset Some(7200) device "garmin fenix2": 2809 points (2808 hr, 0 power, 2809 gps); elapsed Some(2832.0) moving None distance Some(9008.22) kcal Some(516.0) ascent Some(64.0)
        activity-unexpected-eof.fit: error: FIT data unreadable at byte 751: parser error: requires 1 more bytes
        compressed-speed-distance.fit: Running start 1990-07-18T06:44:24Z offset None device "garmin fr70": 754 points (754 hr, 0 power, 0 gps); elapsed Some(3883.273) moving None distance Some(10248.67) kcal Some(708.0) ascent None
        developer-types-sample.fit: Running start 2017-01-17T17:06:47Z offset None device "stryd": 3424 points (3424 hr, 3424 power, 3424 gps); elapsed Some(3424.0) moving None distance Some(6753.99) kcal Some(0.0) ascent None
        garmin-edge-500-activity.fit: Cycling start 2011-09-25T13:00:21Z offset None device "garmin edge500": 10686 points (10686 hr, 0 power, 10677 gps); elapsed Some(12691.28) moving None distance Some(92622.34) kcal Some(1954.0) ascent Some(541.0)
        garmin-fenix-5-bike.fit: Cycling start 2017-06-12T16:09:22Z offset Some(-25200) device "garmin fenix5": 19 points (19 hr, 0 power, 19 gps); elapsed Some(60.363) moving None distance Some(459.52) kcal Some(7.0) ascent Some(0.0)
        garmin-fenix-5-run.fit: Running start 2017-06-11T14:34:09Z offset Some(-25200) device "garmin fenix5": 21 points (21 hr, 0 power, 21 gps); elapsed Some(56.887) moving None distance Some(157.56) kcal Some(5.0) ascent Some(2.0)
        sample-activity-indoor-trainer.fit: Cycling start 2011-11-02T12:54:19Z offset None device "garmin edge800": 2263 points (2263 hr, 2222 power, 0 gps); elapsed Some(2261.85) moving None distance Some(0.0) kcal Some(379.0) ascent Some(4.0)
    "#]].assert_eq(&table);
}

#[test]
fn the_own_reader_answers_for_every_shared_file_as_the_walk_does() {
    let mut answered = 0;
    for (name, bytes) in shared_fit_files() {
        let reference = fit::read_recording_reference(&bytes, &Limits::default());
        match fit::read_recording_own_reader(&bytes, &Limits::default()) {
            Some(own) => {
                assert_eq!(own, reference, "{name}");
                answered += 1;
            }
            // Only damaged files are left to the walk.
            None => assert!(
                matches!(reference, Err(FormatError::Fit { .. })),
                "{name}: {reference:?}"
            ),
        }
    }
    assert_eq!(answered, 14, "9 activities and 5 files without records");
}

#[test]
fn heart_rates_match_the_replay_reader() {
    for name in [
        "garmin-edge-500-activity.fit",
        "activity-small-fenix2-run.fit",
        "compressed-speed-distance.fit",
        "Edge810-Vector-2013-08-16-15-35-10.fit",
    ] {
        let bytes = std::fs::read(shared(&format!("fit/{name}"))).expect("readable");
        let recording = fit::read_recording(&bytes).expect("reads");
        let from_points: Vec<u16> = recording
            .points
            .iter()
            .filter_map(|p| p.heart_rate_bpm)
            .collect();
        let from_samples: Vec<u16> = decode_fit(&bytes)
            .expect("decodes")
            .into_iter()
            .filter_map(|s| match s.value {
                SampleValue::HeartRate(hr) => Some(hr.bpm),
                _ => None,
            })
            .collect();
        assert!(!from_points.is_empty(), "{name} has heart rates");
        assert_eq!(from_points, from_samples, "{name}");
    }
}

#[test]
fn points_are_in_time_order_from_the_start() {
    for (name, bytes) in shared_fit_files() {
        let Ok(recording) = fit::read_recording(&bytes) else {
            continue;
        };
        assert!(
            recording.points.windows(2).all(|w| w[0].t_ms <= w[1].t_ms),
            "{name}: times never go back"
        );
        let first = recording.points.first().map(|p| p.t_ms);
        assert!(
            first.is_some_and(|t| t < 60_000),
            "{name}: first point at {first:?}"
        );
    }
}

#[test]
fn the_point_limit_is_an_error() {
    let bytes = std::fs::read(shared("fit/garmin-fenix-5-bike.fit")).expect("readable");
    let limits = Limits {
        max_points: 10,
        ..Limits::default()
    };
    assert_eq!(
        fit::read_recording_with(&bytes, &limits),
        Err(FormatError::TooLarge {
            what: "the number of points",
            limit: 10
        })
    );
}

#[test]
fn cut_and_damaged_files_are_errors_never_panics() {
    let bytes = std::fs::read(shared("fit/garmin-fenix-5-run.fit")).expect("readable");
    for end in 0..bytes.len() {
        assert!(fit::read_recording(&bytes[..end]).is_err(), "cut at {end}");
    }
    for at in (0..bytes.len()).step_by(5) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5A;
        let _ = fit::read_recording(&damaged);
    }
}

/// Samples made one at a time from a FIT file's records are fitparser's samples, in its
/// order, with an exact count all along and the right first and last times.
#[test]
fn samples_made_as_taken_are_the_reference_samples() {
    let mut activities = 0;
    for (name, bytes) in shared_fit_files() {
        let Ok(reference) = decode_fit_reference(&bytes) else {
            assert!(decode_activity_samples(&bytes).is_err(), "{name}");
            continue;
        };
        activities += 1;
        let mut samples = decode_activity_samples(&bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .into_time_order();
        assert_eq!(samples.len(), reference.len(), "{name}");
        assert_eq!(
            samples.first_ms(),
            reference.first().map(|s| s.t_ms),
            "{name}"
        );
        assert_eq!(
            samples.last_ms(),
            reference.last().map(|s| s.t_ms),
            "{name}"
        );
        let mut made = Vec::new();
        while let Some(sample) = samples.next() {
            made.push(sample);
            assert_eq!(samples.len(), reference.len() - made.len(), "{name}");
        }
        assert!(samples.is_empty());
        assert_eq!(made, reference, "{name}");
    }
    assert!(activities >= 8, "{activities} activities");
}
