//! Recordings written as FIT, TCX, GPX and CSV read back as the same points, within each
//! format's precision: random recordings (proptest) and the shared FIT files.

use paceline_formats::{
    FileEntry, Format, Limits, Point, Recording, Sport, SportFamily, Totals, csv, fit, gpx,
    read_file, tcx,
};
use proptest::prelude::*;

use crate::shared_fit_files;

/// What a format keeps of a point, and how exactly.
#[derive(Debug, Clone, Copy)]
struct Precision {
    format: Format,
    /// Time step of the format, ms (FIT: whole seconds).
    time_ms: u64,
    /// Largest cadence error (whole numbers; halved on foot).
    cadence: f32,
    speed: f32,
    distance: Option<f64>,
    degrees: f64,
    altitude: f32,
}

const FIT: Precision = Precision {
    format: Format::Fit,
    time_ms: 1000,
    cadence: 1.0,
    speed: 0.0006,
    distance: Some(0.006),
    degrees: 1e-7,
    altitude: 0.11,
};
const TCX: Precision = Precision {
    format: Format::Tcx,
    time_ms: 1,
    cadence: 1.0,
    speed: 0.0,
    distance: Some(0.0),
    degrees: 0.0,
    altitude: 0.0,
};
const GPX: Precision = Precision {
    format: Format::Gpx,
    time_ms: 1,
    cadence: 1.0,
    speed: 0.0,
    distance: None,
    degrees: 0.0,
    altitude: 0.0,
};
const CSV: Precision = Precision {
    format: Format::Csv,
    time_ms: 1,
    cadence: 0.0,
    speed: 0.0,
    distance: Some(0.0),
    degrees: 0.0,
    altitude: 0.0,
};

fn write(format: Format, recording: &Recording) -> Vec<u8> {
    let written = match format {
        Format::Fit => fit::write_recording(recording),
        Format::Tcx => tcx::write_recording(recording),
        Format::Gpx => gpx::write_recording(recording),
        Format::Csv => csv::write_recording(recording),
    };
    assert_eq!(format.write(recording), written, "{format:?}");
    assert_eq!(Format::from_extension(format.extension()), Some(format));
    written
}

/// Writes `recording` as `format` and reads it back through [`read_file`] (detection
/// included).
fn round_trip(format: Format, recording: &Recording) -> Recording {
    let bytes = write(format, recording);
    let name = format!("activity.{}", format.extension());
    let mut entries = read_file(&name, &bytes, &Limits::default()).expect("the file opens");
    assert_eq!(entries.len(), 1);
    let FileEntry {
        format: detected,
        result,
        ..
    } = entries.remove(0);
    assert_eq!(detected, Some(format));
    result.unwrap_or_else(|e| panic!("{format:?} reads back: {e}"))
}

fn close_f32(a: Option<f32>, b: Option<f32>, tolerance: f32) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        (a, b) => a == b,
    }
}

fn close_f64(a: Option<f64>, b: Option<f64>, tolerance: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        (a, b) => a == b,
    }
}

/// Whether `back` is `original` as `p` keeps it; the first difference if not.
fn same_points(p: Precision, foot: bool, original: &[Point], back: &[Point]) -> Result<(), String> {
    if original.len() != back.len() {
        return Err(format!("{} points, {} back", original.len(), back.len()));
    }
    let cadence = if foot { p.cadence * 2.0 } else { p.cadence };
    for (i, (a, b)) in original.iter().zip(back).enumerate() {
        let ok = a.t_ms / p.time_ms * p.time_ms == b.t_ms
            && a.heart_rate_bpm == b.heart_rate_bpm
            && a.power_w == b.power_w
            && close_f32(a.cadence_rpm, b.cadence_rpm, cadence)
            && close_f32(a.speed_mps, b.speed_mps, p.speed)
            && p.distance
                .is_none_or(|d| close_f64(a.distance_m, b.distance_m, d))
            && close_f64(a.lat_deg, b.lat_deg, p.degrees)
            && close_f64(a.lon_deg, b.lon_deg, p.degrees)
            && close_f32(a.altitude_m, b.altitude_m, p.altitude);
        if !ok {
            return Err(format!("point {i}: {a:?}\n back as {b:?}"));
        }
    }
    Ok(())
}

fn point() -> impl Strategy<Value = Point> {
    (
        proptest::option::of(30u16..=250),
        proptest::option::of(0u16..=2000),
        proptest::option::of(0.0f32..=200.0),
        proptest::option::of(0.0f32..=30.0),
        proptest::option::of(0.0f64..=300_000.0),
        proptest::option::of((-89.0f64..=89.0, -179.0f64..=179.0)),
        proptest::option::of(-400.0f32..=8000.0),
    )
        .prop_map(
            |(hr, power, cadence, speed, distance, position, altitude)| Point {
                t_ms: 0,
                heart_rate_bpm: hr,
                power_w: power,
                cadence_rpm: cadence,
                speed_mps: speed,
                distance_m: distance,
                lat_deg: position.map(|(lat, _)| lat),
                lon_deg: position.map(|(_, lon)| lon),
                altitude_m: altitude,
            },
        )
        // A point with nothing is not a record in FIT.
        .prop_filter("a point has a value", |p| *p != Point::default())
}

fn recording() -> impl Strategy<Value = Recording> {
    let sports = prop_oneof![
        Just(Sport::Cycling),
        Just(Sport::Running),
        Just(Sport::Walking),
        Just(Sport::Other),
    ];
    (
        sports,
        946_684_800i64..1_900_000_000,
        proptest::option::of(-12i32..=14),
        proptest::collection::vec((1u64..5000, point()), 1..40),
        proptest::option::of((1.0f64..100_000.0, 0.0f64..5000.0, 0u16..3000)),
    )
        .prop_map(|(sport, start_s, offset_h, steps, totals)| {
            let mut t_ms = 0;
            let points = steps
                .into_iter()
                .map(|(step, point)| {
                    let p = Point { t_ms, ..point };
                    t_ms += step;
                    p
                })
                .collect();
            Recording {
                sport,
                start_ms: start_s * 1000,
                local_offset_s: offset_h.map(|h| h * 3600),
                name: Some("Morning & <ride>".to_owned()),
                device: Some("Garmin Edge 530".to_owned()),
                totals: totals.map_or_else(Totals::default, |(elapsed, distance, kcal)| Totals {
                    elapsed_s: Some(elapsed),
                    moving_s: None,
                    distance_m: Some(distance),
                    energy_kcal: Some(f64::from(kcal)),
                    ascent_m: None,
                }),
                points,
            }
        })
}

/// Cadence as the whole-number formats hold it: what they can keep, the same value.
fn whole_cadence(mut recording: Recording) -> Recording {
    let foot = recording.sport.family() == SportFamily::Foot;
    for p in &mut recording.points {
        p.cadence_rpm = p.cadence_rpm.map(|c| {
            if foot {
                (c / 2.0).round() * 2.0
            } else {
                c.round()
            }
        });
    }
    recording
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_format_reads_back_its_points(original in recording()) {
        let foot = original.sport.family() == SportFamily::Foot;
        for p in [FIT, TCX, GPX, CSV] {
            let back = round_trip(p.format, &original);
            let expected = if p.cadence > 0.0 { whole_cadence(original.clone()) } else { original.clone() };
            if let Err(e) = same_points(p, foot, &expected.points, &back.points) {
                return Err(TestCaseError::fail(format!("{:?}: {e}", p.format)));
            }
            prop_assert_eq!(back.sport.family(), original.sport.family(), "{:?}", p.format);
            let start = if p.format == Format::Fit { original.start_ms / 1000 * 1000 } else { original.start_ms };
            prop_assert_eq!(back.start_ms, start, "{:?}", p.format);
        }
        // FIT, CSV and GPX keep the exact sport; CSV and GPX the name; FIT, TCX and CSV the
        // device; FIT and CSV the local offset.
        prop_assert_eq!(round_trip(Format::Fit, &original).sport, original.sport);
        prop_assert_eq!(round_trip(Format::Csv, &original), original.clone());
        prop_assert_eq!(&round_trip(Format::Gpx, &original).name, &original.name);
        prop_assert_eq!(&round_trip(Format::Tcx, &original).device, &original.device);
        let fit = round_trip(Format::Fit, &original);
        prop_assert_eq!(&fit.device, &original.device);
        prop_assert_eq!(fit.local_offset_s, original.local_offset_s);
        // Totals: FIT and TCX state them.
        for format in [Format::Fit, Format::Tcx] {
            let back = round_trip(format, &original);
            if let Some(elapsed) = original.totals.elapsed_s {
                prop_assert!(close_f64(back.totals.elapsed_s, Some(elapsed), 0.001), "{format:?} elapsed");
                prop_assert!(close_f64(back.totals.distance_m, original.totals.distance_m, 0.006), "{format:?} distance");
                prop_assert_eq!(back.totals.energy_kcal, original.totals.energy_kcal, "{:?} energy", format);
            }
        }
    }
}

#[test]
fn the_shared_fit_files_write_and_read_back_in_every_format() {
    let mut checked = 0;
    for (name, bytes) in shared_fit_files() {
        let Ok(original) = fit::read_recording(&bytes) else {
            continue;
        };
        let foot = original.sport.family() == SportFamily::Foot;
        for p in [FIT, TCX, GPX, CSV] {
            let back = round_trip(p.format, &original);
            // The shared files' cadences are whole already (one leg on foot).
            same_points(p, foot, &original.points, &back.points)
                .unwrap_or_else(|e| panic!("{name} as {:?}: {e}", p.format));
            assert_eq!(back.start_ms, original.start_ms, "{name} as {:?}", p.format);
            if matches!(p.format, Format::Fit | Format::Csv) {
                assert_eq!(back.sport, original.sport, "{name} as {:?}", p.format);
            }
            if matches!(p.format, Format::Fit | Format::Tcx) {
                let (a, b) = (&original.totals, &back.totals);
                assert!(
                    close_f64(a.elapsed_s, b.elapsed_s, 0.001),
                    "{name} as {:?}: {a:?} {b:?}",
                    p.format
                );
                assert!(
                    close_f64(a.distance_m, b.distance_m, 0.006),
                    "{name} as {:?}: {a:?} {b:?}",
                    p.format
                );
                assert_eq!(a.energy_kcal, b.energy_kcal, "{name} as {:?}", p.format);
            }
            if p.format == Format::Fit {
                assert_eq!(
                    original.totals, back.totals,
                    "{name}: FIT keeps every total"
                );
                assert_eq!(original.device, back.device, "{name}");
                assert_eq!(original.local_offset_s, back.local_offset_s, "{name}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 9, "the shared activity files");
}

#[test]
fn fitparser_reads_what_the_writer_writes() {
    let (_, bytes) = shared_fit_files()
        .into_iter()
        .find(|(name, _)| name.starts_with("Edge810"))
        .expect("the Edge 810 ride");
    let original = fit::read_recording(&bytes).expect("reads");
    let written = fit::write_recording(&original);
    let messages = fitparser::from_bytes(&written).expect("fitparser reads it, CRCs and all");
    let count =
        |kind: fitparser::profile::MesgNum| messages.iter().filter(|m| m.kind() == kind).count();
    use fitparser::profile::MesgNum;
    assert_eq!(count(MesgNum::Record), original.points.len());
    assert_eq!(count(MesgNum::FileId), 1);
    assert_eq!(count(MesgNum::Lap), 1);
    assert_eq!(count(MesgNum::Session), 1);
    assert_eq!(count(MesgNum::Activity), 1);
    let session = messages
        .iter()
        .find(|m| m.kind() == MesgNum::Session)
        .expect("a session");
    let field = |name: &str| {
        session
            .fields()
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.value().to_string())
    };
    assert_eq!(field("sport").as_deref(), Some("cycling"));
    assert_eq!(field("total_distance").as_deref(), Some("41339.38"));
}

#[test]
fn replay_reads_every_written_format_as_the_fit_file_it_came_from() {
    let mut checked = 0;
    for (name, bytes) in shared_fit_files() {
        let Ok(recording) = fit::read_recording(&bytes) else {
            continue;
        };
        let expected = paceline_formats::samples::decode_fit(&bytes).expect("replays");
        assert!(!expected.is_empty(), "{name}");
        for format in [Format::Fit, Format::Tcx, Format::Gpx, Format::Csv] {
            let written = write(format, &recording);
            let samples = paceline_formats::samples::decode_activity(&written)
                .unwrap_or_else(|e| panic!("{name} as {format:?}: {e}"));
            assert_eq!(samples, expected, "{name} as {format:?}");
        }
        checked += 1;
    }
    assert_eq!(checked, 9);
}
