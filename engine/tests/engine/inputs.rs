//! Every shared FIT file replays with a summary or fails with a clear error; decoded heart
//! rates match the reference CSVs; bad CSV rows are named by line and do not stop the
//! other inputs.

use std::process::Command;

use paceline_formats::samples::{decode_activity, decode_fit};
use paceline_schemas::sample::SampleValue;

use crate::shared;

fn replay(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_paceline-engine"))
        .arg("replay")
        .arg("--profile")
        .arg(shared("plans/athlete-profile.json"))
        .args(args)
        .output()
        .expect("paceline-engine runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_shared_fit_file_replays_or_fails_clearly() {
    let mut fit_files: Vec<_> = std::fs::read_dir(shared("fit"))
        .expect("shared fit folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "fit"))
        .collect();
    fit_files.sort();
    let mut table = String::new();
    for path in &fit_files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let summary = std::env::temp_dir().join(format!(
            "paceline-summary-{}-{name}.json",
            std::process::id()
        ));
        let (code, _stdout, stderr) =
            replay(&[path.as_os_str(), "--summary".as_ref(), summary.as_os_str()]);
        let outcome = match code {
            0 => {
                let text = std::fs::read_to_string(&summary).expect("a summary was written");
                let value: serde_json::Value =
                    serde_json::from_str(&text).expect("summary is JSON");
                assert!(
                    value["duration_s"].as_f64().is_some_and(|d| d > 0.0),
                    "{name}: {text}"
                );
                format!(
                    "replayed, {:.0} s",
                    value["duration_s"].as_f64().unwrap_or(0.0)
                )
            }
            2 => {
                let line = stderr
                    .lines()
                    .find(|l| l.contains(&name))
                    .unwrap_or_else(|| panic!("{name}: error names the file: {stderr}"));
                assert!(
                    line.contains("byte") || line.contains("without activity records"),
                    "{name}: the error gives a position or says what the file is: {line}"
                );
                line.split_once(&name).map_or(String::new(), |(_, rest)| {
                    rest.trim_start_matches(": ").to_owned()
                })
            }
            other => panic!("{name}: exit status {other}, stderr: {stderr}"),
        };
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        table.push_str(&format!("{name}: {outcome}\n"));
        let _ = std::fs::remove_file(&summary);
    }
    expect_test::expect![[r#"
        Activity.fit: replayed, 13 s
        Edge810-Vector-2013-08-16-15-35-10.fit: replayed, 4699 s
        Settings.fit: a FIT file without activity records (holds: file_id, file_creator, device_settings, user_profile, hrm_profile, bike_profile, connectivity); replay needs an activity
        WorkoutCustomTargetValues.fit: a FIT file without activity records (holds: file_id, workout, workout_step); replay needs an activity
        WorkoutIndividualSteps.fit: a FIT file without activity records (holds: file_id, workout, workout_step); replay needs an activity
        WorkoutRepeatGreaterThanStep.fit: a FIT file without activity records (holds: file_id, workout, workout_step); replay needs an activity
        WorkoutRepeatSteps.fit: a FIT file without activity records (holds: file_id, workout, workout_step); replay needs an activity
        activity-settings-corruptheader.fit: FIT data unreadable at byte 771: no ".FIT" signature in the header
        activity-settings-nodata.fit: FIT data unreadable at byte 783: parser error: requires 2 more bytes
        activity-small-fenix2-run.fit: replayed, 2833 s
        activity-unexpected-eof.fit: FIT data unreadable at byte 751: parser error: requires 1 more bytes
        compressed-speed-distance.fit: replayed, 3875 s
        developer-types-sample.fit: replayed, 3423 s
        garmin-edge-500-activity.fit: replayed, 12691 s
        garmin-fenix-5-bike.fit: replayed, 61 s
        garmin-fenix-5-run.fit: replayed, 57 s
        sample-activity-indoor-trainer.fit: replayed, 2263 s
    "#]].assert_eq(&table);
}

/// The heart rates a FIT file decodes to, in record order.
fn heart_rates(fit: &str) -> Vec<u16> {
    let bytes = std::fs::read(shared(fit)).expect("fit readable");
    decode_fit(&bytes)
        .expect("decodes")
        .into_iter()
        .filter_map(|s| match s.value {
            SampleValue::HeartRate(hr) => Some(hr.bpm),
            _ => None,
        })
        .collect()
}

/// The non-empty values of a column of a reference CSV.
fn reference_column(csv: &str, column: usize) -> Vec<u16> {
    let text = std::fs::read_to_string(shared(csv)).expect("csv readable");
    text.lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(column))
        .filter_map(|cell| cell.trim().parse::<f64>().ok())
        .filter(|&v| v > 0.0)
        .map(|v| v as u16)
        .collect()
}

#[test]
fn decoded_heart_rates_match_the_reference_csvs() {
    for (fit, csv, column) in [
        (
            "fit/garmin-fenix-5-bike.fit",
            "fit/garmin-fenix-5-bike-records.csv",
            1,
        ),
        (
            "fit/garmin-fenix-5-run.fit",
            "fit/garmin-fenix-5-run-records.csv",
            1,
        ),
        (
            "fit/garmin-edge-500-activity.fit",
            "fit/garmin-edge-500-activity-records.csv",
            1,
        ),
        (
            "fit/compressed-speed-distance.fit",
            "fit/compressed-speed-distance-records.csv",
            1,
        ),
    ] {
        let decoded = heart_rates(fit);
        let reference = reference_column(csv, column);
        assert!(!reference.is_empty(), "{csv} has heart rates");
        assert_eq!(decoded, reference, "{fit} against {csv}");
    }
}

#[test]
fn compressed_timestamps_advance_one_second_at_a_time() {
    let bytes = std::fs::read(shared("fit/compressed-speed-distance.fit")).expect("readable");
    let samples = decode_fit(&bytes).expect("decodes");
    let times: Vec<u64> = samples.iter().map(|s| s.t_ms).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "times never go back"
    );
    let span_s = (times[times.len() - 1] - times[0]) / 1000;
    assert!(span_s > 3000, "the ride spans over 50 min: {span_s} s");
}

#[test]
fn a_bad_csv_row_is_named_and_the_other_inputs_still_replay() {
    let dir = std::env::temp_dir().join(format!("paceline-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good.csv");
    let bad = dir.join("bad.csv");
    let mut rows = String::from("time_s,heart_rate,power,cadence,speed\n");
    for s in 0..120 {
        rows.push_str(&format!("{s},{},{},90,\n", 120 + s / 10, 180));
    }
    std::fs::write(&good, &rows).expect("write");
    std::fs::write(
        &bad,
        "time_s,heart_rate,power,cadence,speed\n0,120,180,90,8.1\n1,121,fast,90,8.1\n",
    )
    .expect("write");
    let (code, stdout, stderr) = replay(&[bad.as_os_str(), good.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("bad.csv: line 3: power \"fast\" is not a non-negative number"),
        "{stderr}"
    );
    assert!(
        stdout.contains("\"session\":\"good\""),
        "the good input still replayed: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    let shared_file = std::fs::read(shared("fit/garmin-fenix-5-bike.fit")).expect("readable");
    // Every prefix, and a byte flipped at every 7th position.
    for end in 0..shared_file.len() {
        let _ = decode_activity(&shared_file[..end]);
    }
    for at in (0..shared_file.len()).step_by(7) {
        let mut damaged = shared_file.clone();
        damaged[at] ^= 0x5A;
        let _ = decode_activity(&damaged);
    }
    assert!(
        decode_activity(&shared_file[..shared_file.len() - 1]).is_err(),
        "a cut file is refused"
    );
}
