//! Plan importers: the shared `.zwo` and FIT workout files, hand-written snippets for each
//! element, mapping and error, JSON round trips, and properties that no input panics.
//! Snapshots are expect-test; regenerate them with `UPDATE_EXPECT=1`.

use expect_test::{Expect, expect};
use paceline_formats::plan_import::{
    ImportReason, MAX_PLAN_FILE_BYTES, PlanFormat, PlanImportError, import_fit_workout,
    import_json, import_plan, import_zwo,
};
use paceline_schemas::codec::{to_json, to_json_pretty};
use paceline_schemas::{PlanStep, WorkoutPlan};
use proptest::prelude::*;

const WORKOUT_FIT_FILES: [&str; 4] = [
    "WorkoutCustomTargetValues.fit",
    "WorkoutIndividualSteps.fit",
    "WorkoutRepeatGreaterThanStep.fit",
    "WorkoutRepeatSteps.fit",
];

fn shared(path: &str) -> Vec<u8> {
    let full = format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|err| panic!("reading {full}: {err}"))
}

/// The plan's length with repeats expanded, s.
fn total_s(plan: &WorkoutPlan) -> u64 {
    plan.steps
        .iter()
        .map(|entry| match entry {
            PlanStep::Step(step) => u64::from(step.duration_s),
            PlanStep::Repeat(block) => {
                u64::from(block.count)
                    * block
                        .steps
                        .iter()
                        .map(|step| u64::from(step.duration_s))
                        .sum::<u64>()
            }
        })
        .sum()
}

/// A plan as its header line and one compact JSON line per entry; an error as its message.
fn render(result: Result<WorkoutPlan, PlanImportError>) -> String {
    match result {
        Ok(plan) => {
            let mut out = format!(
                "{} | {:?} | {:?} | {} s\n",
                plan.name,
                plan.sport,
                plan.description,
                total_s(&plan)
            );
            for entry in &plan.steps {
                out.push_str(&to_json(entry).expect("an imported plan encodes"));
                out.push('\n');
            }
            out
        }
        Err(err) => format!("error: {err}\n"),
    }
}

fn zwo_file(workout: &str) -> String {
    format!("<workout_file><name>t</name><workout>\n{workout}\n</workout></workout_file>")
}

/// Imports `<workout>` children as `t.zwo` and checks the steps (or the error).
fn check_zwo(workout: &str, expected: Expect) {
    let result = import_zwo("t.zwo", zwo_file(workout).as_bytes());
    expected.assert_eq(&render(result));
}

fn check_zwo_file(text: &str, expected: Expect) {
    expected.assert_eq(&render(import_zwo("t.zwo", text.as_bytes())));
}

// ---------------------------------------------------------------- .zwo: shared files

#[test]
fn shared_zwo_files_import_with_their_planned_lengths() {
    let sweet = import_zwo("sweet-spot-60.zwo", &shared("plans/sweet-spot-60.zwo")).unwrap();
    assert_eq!(total_s(&sweet), 3600);
    // The file's description says 45 minutes, but its steps add up to 50: 600 warm-up,
    // 5 × (180 + 180), 300 steady, 300 cool-down.
    let vo2 = import_zwo(
        "vo2-intervals-45.zwo",
        &shared("plans/vo2-intervals-45.zwo"),
    )
    .unwrap();
    assert_eq!(total_s(&vo2), 3000);
}

#[test]
fn sweet_spot_60_zwo() {
    let bytes = shared("plans/sweet-spot-60.zwo");
    expect![[r#"
        Sweet spot 3x12 | Bike | Some("60 minutes: warm-up, three 12-minute blocks at 88-92% FTP, cool-down.") | 3600 s
        {"kind":"step","intent":"warmup","duration_s":600,"target":{"kind":"power_ftp_ramp","start_pct":50.0,"end_pct":75.0},"cadence_rpm":null,"text":null}
        {"kind":"step","intent":"work","duration_s":720,"target":{"kind":"power_ftp","low_pct":90.0,"high_pct":90.0},"cadence_rpm":null,"text":null}
        {"kind":"step","intent":"recovery","duration_s":240,"target":{"kind":"power_ftp","low_pct":55.0,"high_pct":55.0},"cadence_rpm":null,"text":null}
        {"kind":"step","intent":"work","duration_s":720,"target":{"kind":"power_ftp","low_pct":90.0,"high_pct":90.0},"cadence_rpm":null,"text":null}
        {"kind":"step","intent":"recovery","duration_s":240,"target":{"kind":"power_ftp","low_pct":55.0,"high_pct":55.0},"cadence_rpm":null,"text":null}
        {"kind":"step","intent":"work","duration_s":720,"target":{"kind":"power_ftp","low_pct":90.0,"high_pct":90.0},"cadence_rpm":null,"text":null}
        {"kind":"step","intent":"cooldown","duration_s":360,"target":{"kind":"power_ftp_ramp","start_pct":65.0,"end_pct":45.0},"cadence_rpm":null,"text":null}
    "#]]
    .assert_eq(&render(import_zwo("sweet-spot-60.zwo", &bytes)));
}

#[test]
fn vo2_intervals_45_zwo() {
    let bytes = shared("plans/vo2-intervals-45.zwo");
    expect![[r#"
        VO2 5x3 | Bike | Some("45 minutes: five 3-minute efforts at 115% FTP with 3-minute recoveries.") | 3000 s
        {"kind":"step","intent":"warmup","duration_s":600,"target":{"kind":"power_ftp_ramp","start_pct":45.0,"end_pct":75.0},"cadence_rpm":null,"text":null}
        {"kind":"repeat","count":5,"steps":[{"intent":"work","duration_s":180,"target":{"kind":"power_ftp","low_pct":115.0,"high_pct":115.0},"cadence_rpm":null,"text":null},{"intent":"recovery","duration_s":180,"target":{"kind":"power_ftp","low_pct":50.0,"high_pct":50.0},"cadence_rpm":null,"text":null}]}
        {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"power_ftp","low_pct":60.0,"high_pct":60.0},"cadence_rpm":null,"text":null}
        {"kind":"step","intent":"cooldown","duration_s":300,"target":{"kind":"power_ftp_ramp","start_pct":55.0,"end_pct":40.0},"cadence_rpm":null,"text":null}
    "#]].assert_eq(&render(import_zwo("vo2-intervals-45.zwo", &bytes)));
}

// ---------------------------------------------------------------- .zwo: each element

#[test]
fn zwo_warmup_cooldown_and_ramp() {
    check_zwo(
        r#"<Warmup Duration="300" PowerLow="0.40" PowerHigh="0.70" Cadence="85"/>
           <Ramp Duration="120.4" PowerLow="0.70" PowerHigh="1.10"/>
           <Ramp Duration="60" PowerLow="0.55" PowerHigh="0.45"/>
           <Cooldown Duration="300" PowerLow="0.60" PowerHigh="0.30" CadenceLow="80" CadenceHigh="90"/>"#,
        expect![[r#"
            t | Bike | None | 780 s
            {"kind":"step","intent":"warmup","duration_s":300,"target":{"kind":"power_ftp_ramp","start_pct":40.0,"end_pct":70.0},"cadence_rpm":{"low":85,"high":85},"text":null}
            {"kind":"step","intent":"work","duration_s":120,"target":{"kind":"power_ftp_ramp","start_pct":70.0,"end_pct":110.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"recovery","duration_s":60,"target":{"kind":"power_ftp_ramp","start_pct":55.0,"end_pct":45.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"cooldown","duration_s":300,"target":{"kind":"power_ftp_ramp","start_pct":60.0,"end_pct":30.0},"cadence_rpm":{"low":80,"high":90},"text":null}
        "#]],
    );
}

#[test]
fn zwo_steady_state() {
    check_zwo(
        r#"<SteadyState Duration="600" Power="0.88"/>
           <SteadyState Duration="600" Power="0.59"/>
           <SteadyState Duration="600" Power="0.60"/>
           <SteadyState Duration="600" PowerLow="0.85" PowerHigh="0.95" Power="0.3"/>
           <SteadyState Duration="600" PowerLow="0.50" PowerHigh="0.65"/>"#,
        expect![[r#"
            t | Bike | None | 3000 s
            {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"power_ftp","low_pct":88.0,"high_pct":88.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"recovery","duration_s":600,"target":{"kind":"power_ftp","low_pct":59.0,"high_pct":59.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"power_ftp","low_pct":60.0,"high_pct":60.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"power_ftp","low_pct":85.0,"high_pct":95.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"recovery","duration_s":600,"target":{"kind":"power_ftp","low_pct":50.0,"high_pct":65.0},"cadence_rpm":null,"text":null}
        "#]],
    );
}

#[test]
fn zwo_intervals_t() {
    check_zwo(
        r#"<IntervalsT Repeat="4" OnDuration="30" OffDuration="90" OnPower="1.50" OffPower="0.45" Cadence="110" CadenceResting="85"/>
           <IntervalsT Repeat="2" OnDuration="60" OffDuration="60" PowerOnLow="1.0" PowerOnHigh="1.1" PowerOffLow="0.4" PowerOffHigh="0.5">
             <textevent timeoffset="10" message="second"/>
             <textevent timeoffset="0" message="first"/>
           </IntervalsT>"#,
        expect![[r#"
            t | Bike | None | 720 s
            {"kind":"repeat","count":4,"steps":[{"intent":"work","duration_s":30,"target":{"kind":"power_ftp","low_pct":150.0,"high_pct":150.0},"cadence_rpm":{"low":110,"high":110},"text":null},{"intent":"recovery","duration_s":90,"target":{"kind":"power_ftp","low_pct":45.0,"high_pct":45.0},"cadence_rpm":{"low":85,"high":85},"text":null}]}
            {"kind":"repeat","count":2,"steps":[{"intent":"work","duration_s":60,"target":{"kind":"power_ftp","low_pct":100.0,"high_pct":110.0},"cadence_rpm":null,"text":"first / second"},{"intent":"recovery","duration_s":60,"target":{"kind":"power_ftp","low_pct":40.0,"high_pct":50.0},"cadence_rpm":null,"text":null}]}
        "#]],
    );
}

#[test]
fn zwo_free_ride_and_max_effort() {
    check_zwo(
        r#"<FreeRide Duration="600" FlatRoad="1"/>
           <Freeride Duration="600" HeartRateLow="120" HeartRateHigh="135"/>
           <MaxEffort Duration="20" Cadence="120"/>"#,
        expect![[r#"
            t | Bike | None | 1220 s
            {"kind":"step","intent":"free","duration_s":600,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"free","duration_s":600,"target":{"kind":"heart_rate","low_bpm":120,"high_bpm":135},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":20,"target":{"kind":"open","rpe":10},"cadence_rpm":{"low":120,"high":120},"text":null}
        "#]],
    );
}

#[test]
fn zwo_heart_rate_targets_and_power_preference() {
    check_zwo(
        r#"<SteadyState Duration="600" HeartRateLow="130" HeartRateHigh="140"/>
           <SteadyState Duration="600" HeartRateHigh="150"/>
           <SteadyState Duration="600" Power="0.8" HeartRateLow="130" HeartRateHigh="140"/>
           <Warmup Duration="600" HeartRateLow="100" HeartRateHigh="120"/>"#,
        expect![[r#"
            t | Bike | None | 2400 s
            {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"heart_rate","low_bpm":130,"high_bpm":140},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"heart_rate","low_bpm":150,"high_bpm":150},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"power_ftp","low_pct":80.0,"high_pct":80.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"warmup","duration_s":600,"target":{"kind":"heart_rate","low_bpm":100,"high_bpm":120},"cadence_rpm":null,"text":null}
        "#]],
    );
}

#[test]
fn zwo_text_events_join_in_time_order() {
    check_zwo(
        r#"<SteadyState Duration="600" Power="0.9">
             <textevent timeoffset="300" message="halfway"/>
             <TextEvent TimeOffset="0" Message="settle in"/>
             <textevent timeoffset="590" message="  "/>
             <textevent message="no offset counts as 0"/>
           </SteadyState>"#,
        expect![[r#"
            t | Bike | None | 600 s
            {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"power_ftp","low_pct":90.0,"high_pct":90.0},"cadence_rpm":null,"text":"settle in / no offset counts as 0 / halfway"}
        "#]],
    );
}

#[test]
fn zwo_file_level_fields() {
    // No name: the file stem; run sport; blank description dropped; BOM and XML
    // declaration accepted; other metadata ignored.
    let text = "\u{feff}<?xml version=\"1.0\"?>\n<workout_file><author>a</author>\
                <description>  </description><sportType>Run</sportType><tags><tag name=\"x\"/></tags>\
                <workout><FreeRide Duration=\"60\"/></workout></workout_file>";
    let plan = import_zwo("plans/Easy Run.v2.zwo", text.as_bytes()).unwrap();
    expect![[r#"
        Easy Run.v2 | Run | None | 60 s
        {"kind":"step","intent":"free","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
    "#]].assert_eq(&render(Ok(plan)));

    let other = "<workout_file><sportType>swim</sportType><workout><FreeRide Duration=\"60\"/></workout></workout_file>";
    check_zwo_file(
        other,
        expect![[r#"
        t | Other | None | 60 s
        {"kind":"step","intent":"free","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
    "#]],
    );
}

#[test]
fn zwo_long_texts_are_cut_at_a_char_boundary() {
    let message = "é".repeat(700); // 1400 bytes
    let name = "n".repeat(2000);
    let text = format!(
        "<workout_file><name>{name}</name><workout><FreeRide Duration=\"60\"><textevent message=\"{message}\"/></FreeRide></workout></workout_file>"
    );
    let plan = import_zwo("t.zwo", text.as_bytes()).unwrap();
    assert_eq!(plan.name.len(), 1024);
    let PlanStep::Step(step) = &plan.steps[0] else {
        panic!("a FreeRide is a single step");
    };
    let text = step.text.as_deref().unwrap();
    assert_eq!(text.len(), 1024);
    assert!(text.chars().all(|c| c == 'é'));
}

// ---------------------------------------------------------------- .zwo: errors

#[test]
fn zwo_error_names_file_element_and_line() {
    let text = shared("plans/sweet-spot-60.zwo");
    let text = String::from_utf8(text).unwrap().replace(
        r#"<SteadyState Duration="240""#,
        r#"<SteadyState Duration="abc""#,
    );
    let err = import_zwo("sweet.zwo", text.as_bytes()).unwrap_err();
    expect![[r#"sweet.zwo: workout/SteadyState[3] (line 10): attribute Duration "abc" is not a number of seconds"#]].assert_eq(&err.to_string());
    assert_eq!(err.file_name, "sweet.zwo");
    assert_eq!(err.element, "workout/SteadyState[3] (line 10)");
    assert!(matches!(err.reason, ImportReason::NotANumber { .. }));
}

#[test]
fn zwo_errors() {
    let cases = [
        r#"<SteadyState Power="0.9"/>"#,
        r#"<SteadyState Duration="600"/>"#,
        r#"<SteadyState Duration="0" Power="0.9"/>"#,
        r#"<SteadyState Duration="86401" Power="0.9"/>"#,
        r#"<SteadyState Duration="NaN" Power="0.9"/>"#,
        r#"<SteadyState Duration="inf" Power="0.9"/>"#,
        r#"<SteadyState Duration="600" Power="-0.1"/>"#,
        r#"<SteadyState Duration="600" Power="5.5"/>"#,
        r#"<SteadyState Duration="600" PowerLow="0.9" PowerHigh="0.8"/>"#,
        r#"<SteadyState Duration="600" PowerLow="0.9"/>"#,
        r#"<Warmup Duration="600" PowerHigh="0.9"/>"#,
        r#"<Ramp Duration="600"/>"#,
        r#"<IntervalsT Repeat="0" OnDuration="30" OffDuration="30" OnPower="1" OffPower="0.5"/>"#,
        r#"<IntervalsT Repeat="201" OnDuration="30" OffDuration="30" OnPower="1" OffPower="0.5"/>"#,
        r#"<IntervalsT Repeat="2.5" OnDuration="30" OffDuration="30" OnPower="1" OffPower="0.5"/>"#,
        r#"<IntervalsT OnDuration="30" OffDuration="30" OnPower="1" OffPower="0.5"/>"#,
        r#"<IntervalsT Repeat="3" OnDuration="30" OffDuration="30" OnPower="1"/>"#,
        r#"<IntervalsT Repeat="3" OffDuration="30" OnPower="1" OffPower="0.5"/>"#,
        r#"<FreeRide/>"#,
        r#"<FreeRide Duration="60" Cadence="0"/>"#,
        r#"<FreeRide Duration="60" CadenceLow="100" CadenceHigh="90"/>"#,
        r#"<FreeRide Duration="60" HeartRateLow="300"/>"#,
        r#"<MaxEffort Duration="-5"/>"#,
        r#"<SolidState Duration="60" Power="0.5"/>"#,
        r#"<SteadyState Duration="60" Power="0.5"><Note/></SteadyState>"#,
        r#"<SteadyState Duration="60" Power="0.5"><textevent timeoffset="5"/></SteadyState>"#,
        r#"<SteadyState Duration="60" Power="0.5"><textevent timeoffset="-5" message="m"/></SteadyState>"#,
        r#"<SteadyState Duration="80000" Power="0.5"/><SteadyState Duration="80000" Power="0.5"/>"#,
        "",
    ];
    let rendered: String = cases
        .iter()
        .map(|case| render(import_zwo("t.zwo", zwo_file(case).as_bytes())))
        .collect();
    expect![[r#"
        error: t.zwo: workout/SteadyState[1] (line 2): missing attribute Duration
        error: t.zwo: workout/SteadyState[1] (line 2): missing attribute Power
        error: t.zwo: workout/SteadyState[1] (line 2): attribute Duration 0 is out of range (1 to 86400 s)
        error: t.zwo: workout/SteadyState[1] (line 2): attribute Duration 86401 is out of range (1 to 86400 s)
        error: t.zwo: workout/SteadyState[1] (line 2): attribute Duration "NaN" is not a number of seconds
        error: t.zwo: workout/SteadyState[1] (line 2): attribute Duration "inf" is not a number of seconds
        error: t.zwo: workout/SteadyState[1] (line 2): attribute Power -0.1 is out of range (0 to 5 × FTP)
        error: t.zwo: workout/SteadyState[1] (line 2): attribute Power 5.5 is out of range (0 to 5 × FTP)
        error: t.zwo: workout/SteadyState[1] (line 2): power range 0.9–0.8 has its low end above its high end
        error: t.zwo: workout/SteadyState[1] (line 2): missing attribute PowerHigh
        error: t.zwo: workout/Warmup[1] (line 2): missing attribute PowerLow
        error: t.zwo: workout/Ramp[1] (line 2): missing attribute PowerLow
        error: t.zwo: workout/IntervalsT[1] (line 2): attribute Repeat 0 is out of range (1 to 200)
        error: t.zwo: workout/IntervalsT[1] (line 2): attribute Repeat 201 is out of range (1 to 200)
        error: t.zwo: workout/IntervalsT[1] (line 2): attribute Repeat "2.5" is not a whole number of repetitions
        error: t.zwo: workout/IntervalsT[1] (line 2): missing attribute Repeat
        error: t.zwo: workout/IntervalsT[1] (line 2): missing attribute OffPower
        error: t.zwo: workout/IntervalsT[1] (line 2): missing attribute OnDuration
        error: t.zwo: workout/FreeRide[1] (line 2): missing attribute Duration
        error: t.zwo: workout/FreeRide[1] (line 2): attribute Cadence 0 is out of range (1 to 250 rpm)
        error: t.zwo: workout/FreeRide[1] (line 2): cadence range 100–90 has its low end above its high end
        error: t.zwo: workout/FreeRide[1] (line 2): attribute HeartRateLow 300 is out of range (1 to 250 bpm)
        error: t.zwo: workout/MaxEffort[1] (line 2): attribute Duration -5 is out of range (1 to 86400 s)
        error: t.zwo: workout/SolidState[1] (line 2): unknown element <SolidState>; expected Warmup, Cooldown, Ramp, SteadyState, IntervalsT, FreeRide or MaxEffort
        error: t.zwo: workout/SteadyState[1] (line 2): unknown element <Note>; expected textevent
        error: t.zwo: workout/SteadyState[1] (line 2): missing attribute message of a textevent
        error: t.zwo: workout/SteadyState[1] (line 2): textevent timeoffset -5 is out of range (0 s or more)
        error: t.zwo: the plan's length 160000 s (or more) is out of range (at most 86400 s)
        error: t.zwo: workout (line 1): the workout has no steps
    "#]].assert_eq(&rendered);
}

#[test]
fn zwo_file_errors() {
    let cases: [&[u8]; 7] = [
        b"<workout_file><workout><FreeRide Duration=\"60\"></workout></workout_file>",
        b"<plan><workout/></plan>",
        b"<workout_file><name>x</name></workout_file>",
        b"<workout_file><workout/><workout/></workout_file>",
        b"<workout_file>\xff\xfe</workout_file>",
        b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><workout_file/>",
        b"",
    ];
    let rendered: String = cases
        .iter()
        .map(|case| render(import_zwo("t.zwo", case)))
        .collect();
    expect![[r#"
        error: t.zwo: not well-formed XML: expected 'FreeRide' tag, not 'workout' at 1:48
        error: t.zwo: root element (line 1): unknown element <plan>; expected workout_file
        error: t.zwo: workout_file: missing <workout> element
        error: t.zwo: workout (line 1): a second <workout> element; a file holds one workout
        error: t.zwo: not UTF-8 text (bad byte at offset 14)
        error: t.zwo: not well-formed XML: XML with DTD detected
        error: t.zwo: not well-formed XML: the document does not have a root node
    "#]]
    .assert_eq(&rendered);
}

#[test]
fn zwo_step_count_is_bounded() {
    let steps = r#"<FreeRide Duration="1"/>"#.repeat(501);
    let err = import_zwo("t.zwo", zwo_file(&steps).as_bytes()).unwrap_err();
    expect!["t.zwo: workout/FreeRide[501] (line 2): more than 500 steps in <workout>"]
        .assert_eq(&err.to_string());
}

// ---------------------------------------------------------------- FIT: shared files

fn import_shared_fit(name: &str) -> Result<WorkoutPlan, PlanImportError> {
    import_fit_workout(name, &shared(&format!("fit/{name}")))
}

fn pretty(name: &str) -> String {
    match import_shared_fit(name) {
        Ok(plan) => to_json_pretty(&plan).expect("an imported plan encodes"),
        Err(err) => format!("error: {err}"),
    }
}

#[test]
fn fit_workout_individual_steps() {
    expect![[r#"
        {
          "name": "Example 1",
          "description": null,
          "sport": "bike",
          "steps": [
            {
              "kind": "step",
              "intent": "warmup",
              "duration_s": 60,
              "target": {
                "kind": "hr_zone",
                "zone": 2
              },
              "cadence_rpm": null,
              "text": "_A_"
            },
            {
              "kind": "step",
              "intent": "work",
              "duration_s": 300,
              "target": {
                "kind": "power_zone",
                "zone": 5
              },
              "cadence_rpm": null,
              "text": "B1_ / until 500 m; planned as 5 min"
            },
            {
              "kind": "step",
              "intent": "work",
              "duration_s": 300,
              "target": {
                "kind": "power_zone",
                "zone": 3
              },
              "cadence_rpm": null,
              "text": "B2_ / until 500 m; planned as 5 min"
            },
            {
              "kind": "step",
              "intent": "cooldown",
              "duration_s": 300,
              "target": {
                "kind": "power_zone",
                "zone": 1
              },
              "cadence_rpm": null,
              "text": "_C_ / until heart rate below 125 bpm; planned as 5 min"
            }
          ]
        }"#]]
    .assert_eq(&pretty("WorkoutIndividualSteps.fit"));
}

#[test]
fn fit_workout_custom_target_values() {
    expect![[r#"
        {
          "name": "Example 1",
          "description": null,
          "sport": "bike",
          "steps": [
            {
              "kind": "step",
              "intent": "warmup",
              "duration_s": 60,
              "target": {
                "kind": "hr_zone",
                "zone": 1
              },
              "cadence_rpm": null,
              "text": "_A_"
            },
            {
              "kind": "step",
              "intent": "work",
              "duration_s": 300,
              "target": {
                "kind": "power_w",
                "low_w": 300,
                "high_w": 310
              },
              "cadence_rpm": null,
              "text": "B1_ / until 500 m; planned as 5 min"
            },
            {
              "kind": "step",
              "intent": "work",
              "duration_s": 300,
              "target": {
                "kind": "power_w",
                "low_w": 260,
                "high_w": 270
              },
              "cadence_rpm": null,
              "text": "B2_ / until 500 m; planned as 5 min"
            },
            {
              "kind": "step",
              "intent": "cooldown",
              "duration_s": 300,
              "target": {
                "kind": "power_w",
                "low_w": 220,
                "high_w": 230
              },
              "cadence_rpm": null,
              "text": "_C_ / until heart rate below 125 bpm; planned as 5 min"
            }
          ]
        }"#]]
    .assert_eq(&pretty("WorkoutCustomTargetValues.fit"));
}

#[test]
fn fit_workout_repeat_steps() {
    expect![[r#"
        {
          "name": "Example 2",
          "description": null,
          "sport": "bike",
          "steps": [
            {
              "kind": "step",
              "intent": "warmup",
              "duration_s": 60,
              "target": {
                "kind": "hr_zone",
                "zone": 2
              },
              "cadence_rpm": null,
              "text": "_A_"
            },
            {
              "kind": "repeat",
              "count": 3,
              "steps": [
                {
                  "intent": "work",
                  "duration_s": 300,
                  "target": {
                    "kind": "power_zone",
                    "zone": 5
                  },
                  "cadence_rpm": null,
                  "text": "B1_ / until 500 m; planned as 5 min"
                },
                {
                  "intent": "work",
                  "duration_s": 300,
                  "target": {
                    "kind": "power_zone",
                    "zone": 3
                  },
                  "cadence_rpm": null,
                  "text": "B2_ / until 500 m; planned as 5 min"
                }
              ]
            },
            {
              "kind": "step",
              "intent": "cooldown",
              "duration_s": 300,
              "target": {
                "kind": "power_zone",
                "zone": 1
              },
              "cadence_rpm": null,
              "text": "_C_ / until heart rate below 125 bpm; planned as 5 min"
            }
          ]
        }"#]]
    .assert_eq(&pretty("WorkoutRepeatSteps.fit"));
}

#[test]
fn fit_workout_repeat_greater_than_step() {
    expect![[r#"
        {
          "name": "Example 2",
          "description": null,
          "sport": "bike",
          "steps": [
            {
              "kind": "step",
              "intent": "warmup",
              "duration_s": 60,
              "target": {
                "kind": "hr_zone",
                "zone": 2
              },
              "cadence_rpm": null,
              "text": "_A_"
            },
            {
              "kind": "repeat",
              "count": 1,
              "steps": [
                {
                  "intent": "work",
                  "duration_s": 300,
                  "target": {
                    "kind": "power_zone",
                    "zone": 5
                  },
                  "cadence_rpm": null,
                  "text": "B1_ / until 500 m; planned as 5 min / repeat until heart rate above 80 % of max; planned as one pass"
                },
                {
                  "intent": "work",
                  "duration_s": 300,
                  "target": {
                    "kind": "power_zone",
                    "zone": 3
                  },
                  "cadence_rpm": null,
                  "text": "B2_ / until 500 m; planned as 5 min"
                }
              ]
            },
            {
              "kind": "step",
              "intent": "cooldown",
              "duration_s": 300,
              "target": {
                "kind": "power_zone",
                "zone": 1
              },
              "cadence_rpm": null,
              "text": "_C_ / until heart rate below 125 bpm; planned as 5 min"
            }
          ]
        }"#]].assert_eq(&pretty("WorkoutRepeatGreaterThanStep.fit"));
}

#[test]
fn fit_workout_files_in_summary() {
    let summary: String = WORKOUT_FIT_FILES
        .iter()
        .map(|name| {
            let plan = import_shared_fit(name).unwrap();
            format!(
                "{name}: {} entries, {} s\n",
                plan.steps.len(),
                total_s(&plan)
            )
        })
        .collect();
    expect![[r#"
        WorkoutCustomTargetValues.fit: 4 entries, 960 s
        WorkoutIndividualSteps.fit: 4 entries, 960 s
        WorkoutRepeatGreaterThanStep.fit: 3 entries, 960 s
        WorkoutRepeatSteps.fit: 3 entries, 2160 s
    "#]]
    .assert_eq(&summary);
}

#[test]
fn other_fit_files_are_refused_with_a_reason() {
    let mut names: Vec<String> = std::fs::read_dir(format!(
        "{}/../../../shared/data/fit",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .map(|entry| entry.unwrap().file_name().into_string().unwrap())
    .filter(|name| name.ends_with(".fit") && !name.starts_with("Workout"))
    .collect();
    names.sort();
    let rendered: String = names
        .iter()
        .map(|name| render(import_shared_fit(name)))
        .collect();
    expect![[r#"
        error: Activity.fit: is a FIT file but holds no workout (file type activity)
        error: Edge810-Vector-2013-08-16-15-35-10.fit: is a FIT file but holds no workout (file type activity)
        error: Settings.fit: is a FIT file but holds no workout (file type settings)
        error: activity-settings-corruptheader.fit: is a FIT file but holds no workout (file type activity)
        error: activity-settings-nodata.fit: is a FIT file but holds no workout (file type activity)
        error: activity-small-fenix2-run.fit: is a FIT file but holds no workout (file type activity)
        error: activity-unexpected-eof.fit: is a FIT file but holds no workout (file type activity)
        error: compressed-speed-distance.fit: is a FIT file but holds no workout (file type activity)
        error: developer-types-sample.fit: is a FIT file but holds no workout (file type activity)
        error: garmin-edge-500-activity.fit: is a FIT file but holds no workout (file type activity)
        error: garmin-fenix-5-bike.fit: is a FIT file but holds no workout (file type activity)
        error: garmin-fenix-5-run.fit: is a FIT file but holds no workout (file type activity)
        error: sample-activity-indoor-trainer.fit: is a FIT file but holds no workout (file type activity)
    "#]].assert_eq(&rendered);
}

#[test]
fn damaged_fit_files_say_what_is_wrong() {
    let good = shared("fit/WorkoutRepeatSteps.fit");
    let built = fit_file(FILE_WORKOUT, "b", SPORT_CYCLING, &[timed(60)]);
    let step_definition = built.windows(3).position(|w| w == [254, 2, 0x84]).unwrap();
    let edited = |source: &[u8], at: usize, value: u8| {
        let mut bytes = source.to_vec();
        bytes[at] = value;
        fix_fit_crc(&mut bytes);
        bytes
    };
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 0xFF;
    let between_messages = shared("fit/WorkoutCustomTargetValues.fit")[..133].to_vec();
    let cases: [(&str, Vec<u8>); 8] = [
        ("cut", good[..100].to_vec()),
        ("cut between messages", between_messages),
        ("short", good[..5].to_vec()),
        ("bad crc", bad_crc),
        ("header size 13", edited(&good, 0, 13)),
        ("no signature", edited(&good, 9, b'X')),
        (
            "field size 3 for a u16",
            edited(&built, step_definition + 1, 3),
        ),
        (
            "developer fields",
            edited(&built, step_definition - 6, 0x62),
        ),
    ];
    let rendered: String = cases
        .iter()
        .map(|(what, bytes)| format!("{what}: {}", render(import_fit_workout("d.fit", bytes))))
        .collect();
    expect![[r#"
        cut: error: d.fit: damaged or unreadable FIT data at byte 74: parser error: requires 1 more bytes
        cut between messages: error: d.fit: damaged or unreadable FIT data at byte 133: the file ends early; its header promises 213 bytes
        short: error: d.fit: damaged or unreadable FIT data at byte 0: the file ends inside a FIT header
        bad crc: error: d.fit: damaged or unreadable FIT data at byte 191: CRC value for data did not match, expected value 64602, calculated value 858
        header size 13: error: d.fit: damaged or unreadable FIT data at byte 0: header size 13 is not 12 or 14
        no signature: error: d.fit: damaged or unreadable FIT data at byte 0: no ".FIT" signature in the header
        field size 3 for a u16: error: d.fit: damaged or unreadable FIT data at byte 55: field 254 is 3 bytes, not a multiple of its type's 2
        developer fields: error: d.fit: developer data fields (definition message at byte 55) are not supported
    "#]].assert_eq(&rendered);
}

#[test]
fn every_prefix_of_a_workout_file_is_refused() {
    for name in WORKOUT_FIT_FILES {
        let bytes = shared(&format!("fit/{name}"));
        for len in 0..bytes.len() {
            let result = import_fit_workout(name, &bytes[..len]);
            assert!(result.is_err(), "{name} cut to {len} bytes imported");
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    for name in WORKOUT_FIT_FILES {
        let bytes = shared(&format!("fit/{name}"));
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut damaged = bytes.clone();
                damaged[at] ^= flip;
                let _ = import_fit_workout(name, &damaged);
                // With the CRCs made to match, the damage reaches the message reader.
                fix_fit_crc(&mut damaged);
                let _ = import_fit_workout(name, &damaged);
            }
        }
    }
}

// ---------------------------------------------------------------- FIT: built files

/// The FIT CRC-16 (FIT SDK, "FIT File Structure").
fn fit_crc(bytes: &[u8]) -> u16 {
    const TABLE: [u16; 16] = [
        0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800,
        0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
    ];
    bytes.iter().fold(0u16, |crc, &byte| {
        let crc = (crc >> 4) ^ TABLE[usize::from(crc & 0xF)] ^ TABLE[usize::from(byte & 0xF)];
        (crc >> 4) ^ TABLE[usize::from(crc & 0xF)] ^ TABLE[usize::from(byte >> 4)]
    })
}

/// Zeroes a 14-byte header's own CRC and rewrites the file CRC over everything before it.
fn fix_fit_crc(bytes: &mut [u8]) {
    if bytes.len() < 16 {
        return;
    }
    if bytes[0] == 14 {
        bytes[12] = 0;
        bytes[13] = 0;
    }
    let end = bytes.len() - 2;
    let crc = fit_crc(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
}

/// One `workout_step` as raw FIT values; `None` fields are left out (written as FIT's
/// invalid value).
#[derive(Clone, Copy, Debug, Default)]
struct FitStep {
    name: &'static str,
    duration_type: Option<u8>,
    duration_value: Option<u32>,
    target_type: Option<u8>,
    target_value: Option<u32>,
    low: Option<u32>,
    high: Option<u32>,
    intensity: Option<u8>,
    message_index: Option<u16>,
}

// FIT profile values used below.
const TIME: u8 = 0;
const DISTANCE: u8 = 1;
const HR_LESS_THAN: u8 = 2;
const OPEN: u8 = 5;
const REPEAT_UNTIL_STEPS_CMPLT: u8 = 6;
const REPEAT_UNTIL_TIME: u8 = 7;
const REPEAT_UNTIL_POWER_LESS_THAN: u8 = 12;
const TARGET_SPEED: u8 = 0;
const TARGET_HEART_RATE: u8 = 1;
const TARGET_OPEN: u8 = 2;
const TARGET_CADENCE: u8 = 3;
const TARGET_POWER: u8 = 4;
const TARGET_GRADE: u8 = 5;
const ACTIVE: u8 = 0;
const REST: u8 = 1;
const WARMUP: u8 = 2;
const COOLDOWN: u8 = 3;
const OTHER: u8 = 6;

fn timed(seconds: u32) -> FitStep {
    FitStep {
        duration_type: Some(TIME),
        duration_value: Some(seconds * 1000),
        ..FitStep::default()
    }
}

fn repeat(back_to: u32, times: u32) -> FitStep {
    FitStep {
        duration_type: Some(REPEAT_UNTIL_STEPS_CMPLT),
        duration_value: Some(back_to),
        target_value: Some(times),
        ..FitStep::default()
    }
}

impl FitStep {
    fn target(self, target_type: u8, zone: u32) -> Self {
        FitStep {
            target_type: Some(target_type),
            target_value: Some(zone),
            ..self
        }
    }

    fn custom(self, target_type: u8, low: u32, high: u32) -> Self {
        FitStep {
            target_type: Some(target_type),
            target_value: Some(0),
            low: Some(low),
            high: Some(high),
            ..self
        }
    }

    fn intensity(self, intensity: u8) -> Self {
        FitStep {
            intensity: Some(intensity),
            ..self
        }
    }
}

fn fixed_string(text: &str, size: usize) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(size, 0);
    bytes
}

/// A FIT file of type `file_type` holding a `workout` (named, for `sport`) and `steps`.
fn fit_file(file_type: u8, name: &str, sport: u8, steps: &[FitStep]) -> Vec<u8> {
    const UINT16: u8 = 0x84;
    const UINT32: u8 = 0x86;
    const ENUM: u8 = 0x00;
    const STRING: u8 = 0x07;
    let mut data = Vec::new();
    // Definition, local 0: file_id { type }.
    data.extend([0x40, 0, 0, 0, 0, 1, 0, 1, ENUM]);
    data.extend([0x00, file_type]);
    // Definition, local 1: workout { sport, wkt_name[16] }.
    data.extend([0x41, 0, 0, 26, 0, 2, 4, 1, ENUM, 8, 16, STRING]);
    data.push(0x01);
    data.push(sport);
    data.extend(fixed_string(name, 16));
    // Definition, local 2: workout_step.
    data.extend([0x42, 0, 0, 27, 0, 9]);
    data.extend([
        254, 2, UINT16, 0, 16, STRING, 1, 1, ENUM, 2, 4, UINT32, 3, 1, ENUM,
    ]);
    data.extend([4, 4, UINT32, 5, 4, UINT32, 6, 4, UINT32, 7, 1, ENUM]);
    for (i, step) in steps.iter().enumerate() {
        data.push(0x02);
        let index = step.message_index.unwrap_or(u16::try_from(i).unwrap());
        data.extend(index.to_le_bytes());
        data.extend(fixed_string(step.name, 16));
        data.push(step.duration_type.unwrap_or(0xFF));
        data.extend(step.duration_value.unwrap_or(u32::MAX).to_le_bytes());
        data.push(step.target_type.unwrap_or(0xFF));
        for value in [step.target_value, step.low, step.high] {
            data.extend(value.unwrap_or(u32::MAX).to_le_bytes());
        }
        data.push(step.intensity.unwrap_or(0xFF));
    }
    let mut file = vec![14, 0x20];
    file.extend(2132u16.to_le_bytes());
    file.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
    file.extend(b".FIT");
    file.extend([0, 0]);
    file.extend(data);
    file.extend([0, 0]);
    fix_fit_crc(&mut file);
    file
}

const FILE_WORKOUT: u8 = 5;
const SPORT_CYCLING: u8 = 2;

fn check_fit(steps: &[FitStep], expected: Expect) {
    let bytes = fit_file(FILE_WORKOUT, "built", SPORT_CYCLING, steps);
    expected.assert_eq(&render(import_fit_workout("built.fit", &bytes)));
}

#[test]
fn fit_built_file_round_trips_through_fitparser() {
    check_fit(
        &[timed(600).intensity(WARMUP), timed(60).intensity(ACTIVE)],
        expect![[r#"
            built | Bike | None | 660 s
            {"kind":"step","intent":"warmup","duration_s":600,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
        "#]],
    );
}

#[test]
fn fit_intensities() {
    check_fit(
        &[
            timed(1).intensity(WARMUP),
            timed(2).intensity(ACTIVE),
            timed(3).intensity(REST),
            timed(4).intensity(COOLDOWN),
            timed(5).intensity(4),
            timed(6).intensity(5),
            timed(7).intensity(OTHER),
            timed(8),
        ],
        expect![[r#"
            built | Bike | None | 36 s
            {"kind":"step","intent":"warmup","duration_s":1,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":2,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"recovery","duration_s":3,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"cooldown","duration_s":4,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"recovery","duration_s":5,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":6,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"free","duration_s":7,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":8,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
        "#]],
    );
}

#[test]
fn fit_targets() {
    check_fit(
        &[
            timed(60).target(TARGET_POWER, 4),
            timed(60).custom(TARGET_POWER, 88, 92),
            timed(60).custom(TARGET_POWER, 1250, 1280),
            timed(60).target(TARGET_HEART_RATE, 3),
            timed(60).custom(TARGET_HEART_RATE, 240, 250),
            timed(60).custom(TARGET_HEART_RATE, 55, 65),
            timed(60).custom(TARGET_HEART_RATE, 85, 100),
            timed(60).custom(TARGET_CADENCE, 85, 95),
            timed(60).custom(TARGET_SPEED, 3000, 3500),
            timed(60).target(TARGET_GRADE, 0),
            timed(60).target(TARGET_OPEN, 0),
            timed(60).target(TARGET_POWER, 0),
        ],
        expect![[r#"
            built | Bike | None | 720 s
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"power_zone","zone":4},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"power_ftp","low_pct":88.0,"high_pct":92.0},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"power_w","low_w":250,"high_w":280},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"hr_zone","zone":3},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"heart_rate","low_bpm":140,"high_bpm":150},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"hr_zone","zone":2},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"hr_zone","zone":5},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":{"low":85,"high":95},"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"target speed 10.8–12.6 km/h (not a Paceline target; go by feel)"}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"target grade (not a Paceline target; go by feel)"}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"step","intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
        "#]],
    );
}

#[test]
fn fit_durations_that_are_not_times_are_planned_as_five_minutes() {
    let step = |duration_type, value| FitStep {
        name: "s",
        duration_type: Some(duration_type),
        duration_value: value,
        ..FitStep::default()
    };
    check_fit(
        &[
            step(OPEN, None),
            step(DISTANCE, Some(100_000)),
            step(HR_LESS_THAN, Some(80)),
            step(HR_LESS_THAN, Some(230)),
            step(15, Some(1250)),
            step(29, Some(12)),
            FitStep::default(),
        ],
        expect![[r#"
            built | Bike | None | 2100 s
            {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"s / until lap press; planned as 5 min"}
            {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"s / until 1000 m; planned as 5 min"}
            {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"s / until heart rate below 80 % of max; planned as 5 min"}
            {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"s / until heart rate below 130 bpm; planned as 5 min"}
            {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"s / until power above 250 W; planned as 5 min"}
            {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"s / for 12 reps; planned as 5 min"}
            {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"until lap press; planned as 5 min"}
        "#]],
    );
}

#[test]
fn fit_repeats() {
    // 0 warm-up, [1 on, 2 off] × 3, 4 cool-down.
    check_fit(
        &[
            timed(600).intensity(WARMUP),
            timed(60).intensity(ACTIVE),
            timed(30).intensity(REST),
            repeat(1, 3),
            timed(300).intensity(COOLDOWN),
        ],
        expect![[r#"
            built | Bike | None | 1170 s
            {"kind":"step","intent":"warmup","duration_s":600,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
            {"kind":"repeat","count":3,"steps":[{"intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null},{"intent":"recovery","duration_s":30,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}]}
            {"kind":"step","intent":"cooldown","duration_s":300,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}
        "#]],
    );
}

#[test]
fn fit_nested_repeats_are_expanded() {
    // [0 a, [1 b] × 2, 3 c] × 3: the inner repeat is written out inside the outer block.
    let named = |name, seconds| FitStep {
        name,
        ..timed(seconds)
    };
    check_fit(
        &[
            named("a", 10),
            named("b", 20),
            repeat(1, 2),
            named("c", 30),
            repeat(0, 3),
        ],
        expect![[r#"
            built | Bike | None | 240 s
            {"kind":"repeat","count":3,"steps":[{"intent":"work","duration_s":10,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"a"},{"intent":"work","duration_s":20,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"b"},{"intent":"work","duration_s":20,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"b"},{"intent":"work","duration_s":30,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"c"}]}
        "#]],
    );
}

#[test]
fn fit_conditional_repeats() {
    let until = |duration_type, value| FitStep {
        duration_type: Some(duration_type),
        duration_value: Some(0),
        target_value: Some(value),
        ..FitStep::default()
    };
    check_fit(
        &[timed(60), timed(30), until(REPEAT_UNTIL_TIME, 600_000)],
        expect![[r#"
            built | Bike | None | 630 s
            {"kind":"repeat","count":7,"steps":[{"intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"repeat until 600 s; planned as 7 passes"},{"intent":"work","duration_s":30,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":null}]}
        "#]],
    );
    check_fit(
        &[timed(60), until(REPEAT_UNTIL_POWER_LESS_THAN, 1200)],
        expect![[r#"
            built | Bike | None | 60 s
            {"kind":"repeat","count":1,"steps":[{"intent":"work","duration_s":60,"target":{"kind":"open","rpe":null},"cadence_rpm":null,"text":"repeat until power below 200 W; planned as one pass"}]}
        "#]],
    );
}

#[test]
fn fit_errors() {
    let cases: Vec<Vec<FitStep>> = vec![
        vec![timed(60), repeat(5, 2)],
        vec![timed(60), repeat(1, 2)],
        vec![timed(60), timed(60), repeat(0, 2), repeat(1, 2)],
        vec![timed(60), repeat(0, 0)],
        vec![timed(60), repeat(0, 201)],
        vec![timed(0)],
        vec![timed(86_401)],
        vec![FitStep {
            duration_type: Some(TIME),
            ..FitStep::default()
        }],
        vec![timed(60).target(TARGET_POWER, 8)],
        vec![timed(60).target(TARGET_HEART_RATE, 6)],
        vec![timed(60).custom(TARGET_POWER, 900, 1100)],
        vec![timed(60).custom(TARGET_POWER, 501, 600)],
        vec![timed(60).custom(TARGET_POWER, 4100, 4200)],
        vec![timed(60).custom(TARGET_HEART_RATE, 90, 150)],
        vec![timed(60).custom(TARGET_HEART_RATE, 160, 150)],
        vec![
            timed(60),
            FitStep {
                message_index: Some(7),
                ..timed(60)
            },
        ],
        vec![],
    ];
    let rendered: String = cases
        .iter()
        .map(|steps| {
            let bytes = fit_file(FILE_WORKOUT, "e", SPORT_CYCLING, steps);
            render(import_fit_workout("e.fit", &bytes))
        })
        .collect();
    expect![[r#"
        error: e.fit: workout_step 1: repeat points forward to step 5
        error: e.fit: workout_step 1: repeat points at itself
        error: e.fit: workout_step 3: repeat goes back to step 1, inside the repeat that ends at step 2
        error: e.fit: workout_step 1: repeat count 0 is out of range (1 to 200)
        error: e.fit: workout_step 1: repeat count 201 is out of range (1 to 200)
        error: e.fit: workout_step 0: duration (time) 0 is out of range (1 to 86400 s)
        error: e.fit: workout_step 0: duration (time) 86401 is out of range (1 to 86400 s)
        error: e.fit: workout_step 0: missing field duration_value (time)
        error: e.fit: workout_step 0: power zone 8 is out of range (1 to 7)
        error: e.fit: workout_step 0: heart-rate zone 6 is out of range (1 to 5)
        error: e.fit: workout_step 0: power range 900–1100 mixes %FTP (up to 1000) with W + 1000 (above 1000)
        error: e.fit: workout_step 0: power low 501 is out of range (0 to 500 %FTP)
        error: e.fit: workout_step 0: power low 3100 is out of range (0 to 3000 W)
        error: e.fit: workout_step 0: heart-rate range 90–150 mixes % of max (up to 100) with bpm + 100 (above 100)
        error: e.fit: workout_step 0: heart rate range 60–50 has its low end above its high end
        error: e.fit: workout_step 1: message_index 7, but it is step 1 in file order; steps must come in order
        error: e.fit: the workout has no steps
    "#]].assert_eq(&rendered);
}

#[test]
fn fit_step_counts_are_bounded() {
    let many = vec![timed(1); 501];
    let err = import_fit_workout("many.fit", &fit_file(FILE_WORKOUT, "m", 2, &many)).unwrap_err();
    expect!["many.fit: more than 500 top-level steps"].assert_eq(&err.to_string());
    // [1 step, [3 steps] × 200] × 2: the outer block would hold 601 steps.
    let steps = [
        timed(1),
        timed(1),
        timed(1),
        timed(1),
        repeat(1, 200),
        repeat(0, 2),
    ];
    let err = import_fit_workout("deep.fit", &fit_file(FILE_WORKOUT, "d", 2, &steps)).unwrap_err();
    expect![
        "deep.fit: workout_step 5: more than 500 steps in one repeat block (inner repeats expanded)"
    ]
    .assert_eq(&err.to_string());
}

#[test]
fn fit_file_of_another_type_holds_no_workout() {
    let bytes = fit_file(4, "x", SPORT_CYCLING, &[timed(60)]);
    let err = import_fit_workout("a.fit", &bytes).unwrap_err();
    expect!["a.fit: is a FIT file but holds no workout (file type activity)"]
        .assert_eq(&err.to_string());
    assert!(matches!(err.reason, ImportReason::NotAWorkout { .. }));
}

#[test]
fn fit_sports_and_names() {
    let steps = [timed(60)];
    let rendered: String = [(1, "Tempo run"), (0, "g"), (5, "swim"), (0xFF, "")]
        .iter()
        .map(|&(sport, name)| {
            let bytes = fit_file(FILE_WORKOUT, name, sport, &steps);
            render(import_fit_workout("dir/stem.fit", &bytes))
                .lines()
                .next()
                .unwrap()
                .to_owned()
                + "\n"
        })
        .collect();
    expect![[r#"
        Tempo run | Run | None | 60 s
        g | Other | None | 60 s
        swim | Other | None | 60 s
        stem | Bike | None | 60 s
    "#]]
    .assert_eq(&rendered);
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_plan_round_trips() {
    let plan = import_zwo("vo2.zwo", &shared("plans/vo2-intervals-45.zwo")).unwrap();
    let json = to_json_pretty(&plan).unwrap();
    assert_eq!(import_json("vo2.json", json.as_bytes()).unwrap(), plan);
}

#[test]
fn json_errors_name_line_and_column() {
    let cases = [
        "{\n  \"name\": \"x\",\n  \"sport\": \"bike\",\n  \"steps\": [}\n",
        r#"{"name":"x","sport":"skate","steps":[]}"#,
        r#"{"name":"x","sport":"bike","steps":[]}"#,
        r#"{"name":"x","sport":"bike","steps":[{"kind":"step","intent":"work","duration_s":0,"target":{"kind":"open"}}]}"#,
        r#"{"name":"x","sport":"bike","steps":[{"kind":"repeat","count":201,"steps":[{"intent":"work","duration_s":1,"target":{"kind":"open"}}]}]}"#,
        r#"{"name":"x","sport":"bike","steps":[{"kind":"repeat","count":2,"steps":[{"intent":"work","duration_s":1,"target":{"kind":"power_ftp","low_pct":90,"high_pct":80}}]}]}"#,
        r#"{"name":"x","sport":"bike","steps":[{"kind":"step","intent":"work","duration_s":86400,"target":{"kind":"open"}},{"kind":"step","intent":"work","duration_s":1,"target":{"kind":"hr_zone","zone":6}}]}"#,
        r#"{"name":"x","sport":"bike","steps":[{"kind":"step","intent":"work","duration_s":86400,"target":{"kind":"open"}},{"kind":"step","intent":"work","duration_s":1,"target":{"kind":"open"}}]}"#,
        "",
    ];
    let rendered: String = cases
        .iter()
        .map(|case| render(import_json("p.json", case.as_bytes())))
        .collect();
    expect![[r#"
        error: p.json: line 4, column 13: not a valid plan: expected value
        error: p.json: line 1, column 27: not a valid plan: unknown variant `skate`, expected one of `bike`, `run`, `other`
        error: p.json: line 1, column 37: not a valid plan: invalid length 0, expected a list of 1..=500 items
        error: p.json: steps[0]: duration_s 0 is out of range (1 to 86400 s)
        error: p.json: steps[0]: repeat count 201 is out of range (1 to 200)
        error: p.json: steps[0].steps[0]: %FTP range 90–80 has its low end above its high end
        error: p.json: steps[1]: heart-rate zone 6 is out of range (1 to 5)
        error: p.json: the plan's length 86401 s (or more) is out of range (at most 86400 s)
        error: p.json: line 1, column 0: not a valid plan: EOF while parsing a value
    "#]].assert_eq(&rendered);
}

// ---------------------------------------------------------------- format and size

#[test]
fn format_is_picked_by_extension_then_by_content() {
    let zwo = shared("plans/sweet-spot-60.zwo");
    let fit = shared("fit/WorkoutRepeatSteps.fit");
    let cases: [(&str, &[u8], Option<PlanFormat>); 8] = [
        ("a.ZWO", b"", Some(PlanFormat::Zwo)),
        ("a.Fit", b"", Some(PlanFormat::FitWorkout)),
        ("a.json", b"", Some(PlanFormat::Json)),
        ("upload", &zwo, Some(PlanFormat::Zwo)),
        ("upload.bin", &fit, Some(PlanFormat::FitWorkout)),
        ("upload", b" \n{\"name\":1}", Some(PlanFormat::Json)),
        (
            "upload",
            b"\xEF\xBB\xBF<workout_file/>",
            Some(PlanFormat::Zwo),
        ),
        ("upload.txt", b"hello", None),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(PlanFormat::detect(name, bytes), expected, "{name}");
    }
    assert_eq!(total_s(&import_plan("upload", &zwo).unwrap()), 3600);
    assert_eq!(total_s(&import_plan("upload", &fit).unwrap()), 2160);
    let err = import_plan("upload.txt", b"hello").unwrap_err();
    expect!["upload.txt: neither the name nor the content shows a .zwo, FIT or JSON plan"]
        .assert_eq(&err.to_string());
}

#[test]
fn files_over_the_limit_are_refused_before_parsing() {
    let big = vec![b' '; MAX_PLAN_FILE_BYTES + 1];
    type Importer = fn(&str, &[u8]) -> Result<WorkoutPlan, PlanImportError>;
    let importers: [Importer; 4] = [import_plan, import_zwo, import_fit_workout, import_json];
    for import in importers {
        let err = import("big.zwo", &big).unwrap_err();
        assert!(
            matches!(err.reason, ImportReason::TooLarge { len, .. } if len == big.len()),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------- no input panics

fn shared_inputs() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = WORKOUT_FIT_FILES
        .iter()
        .map(|name| shared(&format!("fit/{name}")))
        .collect();
    inputs.push(shared("plans/sweet-spot-60.zwo"));
    inputs.push(shared("plans/vo2-intervals-45.zwo"));
    inputs.push(fit_file(
        FILE_WORKOUT,
        "built",
        SPORT_CYCLING,
        &[
            timed(60).custom(TARGET_HEART_RATE, 55, 65),
            timed(60).custom(TARGET_POWER, 1250, 1280),
            repeat(0, 3),
        ],
    ));
    inputs
}

/// Steps with values drawn mostly from the ranges the importer cares about.
fn any_fit_step() -> impl Strategy<Value = FitStep> {
    let small_or_any = || prop_oneof![0u32..12, 0u32..1300, any::<u32>()];
    (
        prop::option::of(prop_oneof![
            Just(TIME),
            Just(REPEAT_UNTIL_STEPS_CMPLT),
            0u8..32
        ]),
        prop::option::of(prop_oneof![0u32..12, 1u32..100_000_000, any::<u32>()]),
        prop::option::of(0u8..15),
        prop::option::of(small_or_any()),
        prop::option::of(small_or_any()),
        prop::option::of(small_or_any()),
        prop::option::of(0u8..8),
    )
        .prop_map(
            |(duration_type, duration_value, target_type, target_value, low, high, intensity)| {
                FitStep {
                    duration_type,
                    duration_value,
                    target_type,
                    target_value,
                    low,
                    high,
                    intensity,
                    ..FitStep::default()
                }
            },
        )
}

/// One `<workout>` child with attribute values from a mix of good and bad numbers.
fn any_zwo_element() -> impl Strategy<Value = String> {
    let number = || {
        prop_oneof![
            (0u32..5000).prop_map(|n| n.to_string()),
            (0.0f64..6.0).prop_map(|f| format!("{f:.3}")),
            Just("-1".to_owned()),
            Just("abc".to_owned()),
            Just("1e400".to_owned()),
        ]
    };
    (0usize..7, number(), number(), number(), number()).prop_map(|(kind, a, b, c, d)| match kind {
        0 => format!(r#"<Warmup Duration="{a}" PowerLow="{b}" PowerHigh="{c}" Cadence="{d}"/>"#),
        1 => format!(r#"<Ramp Duration="{a}" PowerLow="{b}" PowerHigh="{c}"/>"#),
        2 => format!(r#"<SteadyState Duration="{a}" Power="{b}" HeartRateLow="{c}"/>"#),
        3 => format!(
            r#"<IntervalsT Repeat="{a}" OnDuration="{b}" OffDuration="{c}" OnPower="{d}" OffPower="{b}"/>"#
        ),
        4 => format!(r#"<FreeRide Duration="{a}" HeartRateLow="{b}" HeartRateHigh="{c}"/>"#),
        5 => format!(r#"<MaxEffort Duration="{a}"><textevent timeoffset="{b}" message="m"/></MaxEffort>"#),
        _ => format!(r#"<Cooldown Duration="{a}" PowerLow="{b}" PowerHigh="{c}"/>"#),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the steps, importing does not panic, and a plan that imports is within
    /// every bound: it survives a round trip through the JSON importer unchanged.
    #[test]
    fn imported_fit_plans_are_within_bounds(steps in proptest::collection::vec(any_fit_step(), 0..12)) {
        let bytes = fit_file(FILE_WORKOUT, "p", SPORT_CYCLING, &steps);
        if let Ok(plan) = import_fit_workout("p.fit", &bytes) {
            let json = to_json(&plan).unwrap();
            prop_assert_eq!(import_json("p.json", json.as_bytes()), Ok(plan));
        }
    }

    #[test]
    fn imported_zwo_plans_are_within_bounds(elements in proptest::collection::vec(any_zwo_element(), 0..8)) {
        let text = zwo_file(&elements.concat());
        if let Ok(plan) = import_zwo("p.zwo", text.as_bytes()) {
            let json = to_json(&plan).unwrap();
            prop_assert_eq!(import_json("p.json", json.as_bytes()), Ok(plan));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = import_zwo("p.zwo", &bytes);
        let _ = import_fit_workout("p.fit", &bytes);
        let _ = import_plan("p", &bytes);
    }

    #[test]
    fn mutated_shared_files_never_panic(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        fix_crc in any::<bool>(),
    ) {
        let mut bytes = shared_inputs().swap_remove(which);
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if fix_crc {
            fix_fit_crc(&mut bytes);
        }
        let _ = import_zwo("m.zwo", &bytes);
        let _ = import_fit_workout("m.fit", &bytes);
        let _ = import_plan("m", &bytes);
    }
}
