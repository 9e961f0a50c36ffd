//! Real FIT files from `../shared/data/fit` (recorded by Garmin devices), read by
//! `paceline-formats` and summarised: against the totals the devices wrote themselves,
//! against the live coach's own load formulas, and through dedup and merge.

use expect_test::{Expect, expect};
use paceline_activities::{
    ActivityCopies, ActivityId, CopyId, FileFormat, LoadMethod, LoadThresholds, MatchDecision,
    Precedence, SourceCopy, SourceKind, StoredCopy, merge, merge_candidate, summarize,
};
use paceline_coach::load::SessionLoad;
use paceline_coach::zones::{Physiology, PhysiologyDefaults};
use paceline_formats::fit::activity::read_recording;
use paceline_formats::{Limits, Recording, csv, gpx, tcx};
use paceline_schemas::profile::AthleteProfile;
use sha2::{Digest, Sha256};

/// The activity files (the others in the folder are workouts, settings or damaged).
const ACTIVITIES: [&str; 8] = [
    "Edge810-Vector-2013-08-16-15-35-10.fit",
    "sample-activity-indoor-trainer.fit",
    "developer-types-sample.fit",
    "activity-small-fenix2-run.fit",
    "garmin-edge-500-activity.fit",
    "garmin-fenix-5-bike.fit",
    "garmin-fenix-5-run.fit",
    "compressed-speed-distance.fit",
];

/// A mid-range athlete's numbers (the files' riders' are not known).
const THRESHOLDS: LoadThresholds = LoadThresholds {
    ftp_w: Some(250),
    threshold_hr_bpm: Some(165),
    resting_hr_bpm: Some(50),
    max_hr_bpm: Some(190),
    sex: None,
};

fn bytes(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/data/fit/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn recording(name: &str) -> Recording {
    read_recording(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn summaries_agree_with_the_devices_own_totals() {
    for name in ACTIVITIES {
        let recording = recording(name);
        let summary = summarize(&recording, &THRESHOLDS);
        let totals = &recording.totals;
        // The timeline spans whole seconds, its last one included; the device counts to the ms.
        let elapsed_s = totals.elapsed_s.unwrap();
        assert!(
            (summary.duration_s - elapsed_s).abs() <= 3.0,
            "{name}: {summary:?}"
        );
        let distance_m = totals.distance_m.unwrap();
        assert!(
            (summary.distance_m.unwrap() - distance_m).abs() <= 0.001 * distance_m + 0.01,
            "{name}: {summary:?}"
        );
        let moving_s = summary.moving_s.unwrap();
        assert!(
            moving_s > 0.0 && moving_s <= summary.duration_s,
            "{name}: {summary:?}"
        );
        if totals.ascent_m.is_some() {
            assert_eq!(
                summary.ascent_m, totals.ascent_m,
                "{name}: the device's ascent first"
            );
        }
        assert!(summary.hr_avg_bpm.unwrap() <= f64::from(summary.hr_max_bpm.unwrap()));
        if let (Some(avg), Some(np)) = (summary.power_avg_w, summary.np_w) {
            assert!(
                np >= avg && np <= f64::from(summary.power_max_w.unwrap()),
                "{name}"
            );
        }
        let method = summary.load.unwrap().method;
        let expected = if summary.np_w.is_some() {
            LoadMethod::Power
        } else {
            LoadMethod::HeartRate
        };
        assert_eq!(method, expected, "{name}");
    }
}

/// A value to one decimal, or `-`.
fn one_decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn check(names: &[&str], expect: Expect) {
    let rows: Vec<String> = names
        .iter()
        .map(|name| {
            let s = summarize(&recording(name), &THRESHOLDS);
            let load = s.load.unwrap();
            format!(
                "{name}: {} s, moving {} s, {} m, ascent {} m, {} kcal, HR {}/{} bpm, power {}/{} W, NP {} W, {} {}",
                s.duration_s,
                one_decimal(s.moving_s),
                one_decimal(s.distance_m),
                one_decimal(s.ascent_m),
                one_decimal(s.energy_kcal),
                one_decimal(s.hr_avg_bpm),
                one_decimal(s.hr_max_bpm.map(f64::from)),
                one_decimal(s.power_avg_w),
                one_decimal(s.power_max_w.map(f64::from)),
                one_decimal(s.np_w),
                load.method.as_str(),
                one_decimal(Some(load.tss)),
            )
        })
        .collect();
    expect.assert_eq(&rows.join("\n"));
}

#[test]
fn summaries_of_real_files() {
    check(
        &ACTIVITIES,
        expect![[r#"
        Edge810-Vector-2013-08-16-15-35-10.fit: 4700 s, moving 4651.0 s, 41337.5 m, ascent 514.0 m, 1293.0 kcal, HR 153.9/176.0 bpm, power 275.5/619.0 W, NP 301.1 W, power 189.3
        sample-activity-indoor-trainer.fit: 2264 s, moving 2199.0 s, 0.0 m, ascent 4.0 m, 379.0 kcal, HR 147.7/176.0 bpm, power 201.4/331.0 W, NP 228.4 W, power 51.5
        developer-types-sample.fit: 3424 s, moving 3424.0 s, 6754.0 m, ascent 75.2 m, - kcal, HR 130.8/146.0 bpm, power 218.7/314.0 W, NP 220.1 W, power 73.7
        activity-small-fenix2-run.fit: 2834 s, moving 2823.0 s, 9007.1 m, ascent 64.0 m, 516.0 kcal, HR 153.9/178.0 bpm, power -/- W, NP - W, heart_rate 65.9
        garmin-edge-500-activity.fit: 12693 s, moving 10691.0 s, 92622.3 m, ascent 541.0 m, 1954.0 kcal, HR 162.8/189.0 bpm, power -/- W, NP - W, heart_rate 294.1
        garmin-fenix-5-bike.fit: 62 s, moving 62.0 s, 459.5 m, ascent 0.0 m, 7.0 kcal, HR 100.1/114.0 bpm, power -/- W, NP - W, heart_rate 0.3
        garmin-fenix-5-run.fit: 58 s, moving 54.0 s, 157.6 m, ascent 2.0 m, 5.0 kcal, HR 89.5/112.0 bpm, power -/- W, NP - W, heart_rate 0.2
        compressed-speed-distance.fit: 3881 s, moving 3550.0 s, 10248.7 m, ascent - m, 708.0 kcal, HR 170.6/189.0 bpm, power -/- W, NP - W, heart_rate 122.6"#]],
    );
}

/// Feeds a 1 Hz recording to the live coach's `SessionLoad`, one point a second.
fn live_load(recording: &Recording, ftp_w: Option<u16>) -> SessionLoad {
    let profile = AthleteProfile {
        hr_max: THRESHOLDS.max_hr_bpm,
        hr_rest: THRESHOLDS.resting_hr_bpm,
        lthr: THRESHOLDS.threshold_hr_bpm,
        ftp: ftp_w,
        ..AthleteProfile::default()
    };
    let physiology = Physiology::from_profile(&profile, &PhysiologyDefaults::default()).unwrap();
    let mut load = SessionLoad::new(&physiology);
    for point in &recording.points {
        load.add_second(
            point.power_w.map(f64::from),
            point.heart_rate_bpm.map(f64::from),
        );
    }
    load
}

#[test]
fn np_tss_and_hr_tss_agree_with_the_live_coach() {
    // Both files hold one point a second with no gaps, so the timelines are the same.
    for name in [
        "Edge810-Vector-2013-08-16-15-35-10.fit",
        "developer-types-sample.fit",
    ] {
        let recording = recording(name);
        let t_ms: Vec<u64> = recording.points.iter().map(|p| p.t_ms).collect();
        assert!(
            t_ms.windows(2).all(|w| w[1] - w[0] == 1000),
            "{name} is 1 Hz"
        );

        let ours = summarize(&recording, &THRESHOLDS);
        let live = live_load(&recording, THRESHOLDS.ftp_w);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(close(ours.np_w.unwrap(), live.np_w().unwrap()), "{name} NP");
        assert!(
            close(ours.load.unwrap().tss, live.tss().unwrap()),
            "{name} TSS"
        );
        assert!(
            close(ours.power_avg_w.unwrap(), live.avg_power_w().unwrap()),
            "{name}"
        );
        assert!(
            close(ours.hr_avg_bpm.unwrap(), live.avg_hr_bpm().unwrap()),
            "{name}"
        );

        let no_ftp = LoadThresholds {
            ftp_w: None,
            ..THRESHOLDS
        };
        let hr_load = summarize(&recording, &no_ftp).load.unwrap();
        assert_eq!(hr_load.method, LoadMethod::HeartRate);
        assert!(
            close(hr_load.tss, live_load(&recording, None).hr_tss().unwrap()),
            "{name} hrTSS"
        );
    }
}

fn file_copy(name: &str) -> SourceCopy {
    let bytes = bytes(name);
    let recording = read_recording(&bytes).unwrap();
    SourceCopy::from_recording(
        SourceKind::File,
        Some(FileFormat::Fit),
        None,
        Some(Sha256::digest(&bytes).into()),
        &recording,
        &THRESHOLDS,
    )
}

#[test]
fn a_file_imported_twice_is_a_duplicate_and_its_strava_copy_merges() {
    let name = "Edge810-Vector-2013-08-16-15-35-10.fit";
    let fit = file_copy(name);
    let now_ms = fit.start_ms + 86_400_000;
    let library = [ActivityCopies {
        activity: ActivityId(1),
        copies: vec![StoredCopy {
            id: CopyId(10),
            copy: fit.clone(),
        }],
    }];
    assert_eq!(
        merge_candidate(&library, &file_copy(name), now_ms),
        MatchDecision::SameCopy {
            activity: ActivityId(1),
            copy: CopyId(10)
        }
    );

    // Strava's copy: its own id, a start rounded to the minute, a slightly shorter
    // duration, its own name, no samples.
    let mut strava = fit.clone();
    strava.kind = SourceKind::Strava;
    strava.format = None;
    strava.content_sha256 = None;
    strava.external_id = Some("9876543210".into());
    strava.start_ms -= strava.start_ms % 60_000;
    strava.duration_s *= 0.97;
    strava.fields.name = Some("Tuesday ride".into());
    strava.fields.sample_count = None;
    assert_eq!(
        merge_candidate(&library, &strava, now_ms),
        MatchDecision::MergeInto(ActivityId(1))
    );

    let merged = merge(
        &[
            StoredCopy {
                id: CopyId(10),
                copy: fit.clone(),
            },
            StoredCopy {
                id: CopyId(11),
                copy: strava,
            },
        ],
        &Precedence::default(),
    )
    .unwrap();
    assert_eq!(merged.start_ms, fit.start_ms);
    assert_eq!(merged.fields.np_w, fit.fields.np_w);
    assert_eq!(merged.fields.name.as_deref(), Some("Tuesday ride"));
    assert_eq!(
        merged.provenance[&paceline_activities::Field::Name],
        CopyId(11)
    );
    assert_eq!(
        merged.provenance[&paceline_activities::Field::Samples],
        CopyId(10)
    );
}

#[test]
fn a_ride_exported_as_tcx_gpx_and_csv_merges_with_its_fit_file() {
    let limits = Limits::default();
    for name in ACTIVITIES {
        let fit = file_copy(name);
        let recording = recording(name);
        let now_ms = fit.start_ms + 86_400_000;
        let library = [ActivityCopies {
            activity: ActivityId(1),
            copies: vec![StoredCopy {
                id: CopyId(1),
                copy: fit.clone(),
            }],
        }];
        let exports = [
            (
                FileFormat::Tcx,
                tcx::read_recording(&tcx::write_recording(&recording), &limits),
            ),
            (
                FileFormat::Gpx,
                gpx::read_recording(&gpx::write_recording(&recording), &limits),
            ),
            (
                FileFormat::Csv,
                csv::read_recording(&csv::write_recording(&recording), &limits),
            ),
        ];
        for (format, read_back) in exports {
            let read_back = read_back.unwrap_or_else(|e| panic!("{name} as {format:?}: {e}"));
            let copy = SourceCopy::from_recording(
                SourceKind::File,
                Some(format),
                None,
                Some([format as u8; 32]),
                &read_back,
                &THRESHOLDS,
            );
            assert_eq!(
                merge_candidate(&library, &copy, now_ms),
                MatchDecision::MergeInto(ActivityId(1)),
                "{name} as {format:?}: {copy:?}"
            );
            assert_eq!(copy.duration_s, fit.duration_s, "{name} as {format:?}");
            if let Some(fit_np_w) = fit.fields.np_w {
                let np_w = copy.fields.np_w.unwrap();
                assert!(
                    (np_w - fit_np_w).abs() <= 1e-6 * fit_np_w,
                    "{name} as {format:?}"
                );
            }
        }
    }
}
