//! Physiology, zones and the fatigue and load metrics, with the expected values worked out
//! by hand in the comments.
//!
//! Sections: profile → physiology; zones; W′ balance; session load (NP, IF, TSS, TRIMP,
//! hrTSS, time in zones); decoupling; properties (proptest).

use expect_test::{Expect, expect};
use paceline_coach::decoupling::Decoupling;
use paceline_coach::load::SessionLoad;
use paceline_coach::wbal::WPrimeBalance;
use paceline_coach::zones::{Physiology, PhysiologyDefaults};
use paceline_schemas::AthleteProfile;
use proptest::prelude::*;

/// `shared/data/plans/athlete-profile.json`, copied so the test needs no file outside the
/// repository.
const EXAMPLE_PROFILE: &str = r#"{
  "name": "Test Rider", "age": 38, "sex": "female", "weight_kg": 64.0,
  "hr_max": 186, "hr_rest": 52, "lthr": 168, "hr_cap": 176,
  "ftp": 240, "cp": 250, "w_prime_j": 18000, "rpe_only": false
}"#;

fn profile(json: &str) -> AthleteProfile {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("test profile {json}: {e}"))
}

fn physiology(json: &str) -> Physiology {
    Physiology::from_profile(&profile(json), &PhysiologyDefaults::default())
        .unwrap_or_else(|e| panic!("test profile {json}: {e}"))
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not within {tolerance} of {expected}"
    );
}

#[track_caller]
fn assert_some_close(actual: Option<f64>, expected: f64, tolerance: f64) {
    match actual {
        Some(actual) => assert_close(actual, expected, tolerance),
        None => panic!("None, expected {expected}"),
    }
}

// ---------------------------------------------------------------------------------------
// Profile → physiology

#[test]
fn example_profile_is_used_as_given() {
    // Power zones: 240 W × 55/75/90/105/120/150 % = 132/180/216/252/288/360 W; the power
    // limit is 150 % of 240 = 360 W. HR zones (%HRmax): 186 × 60/70/80/90 %.
    let phys = physiology(EXAMPLE_PROFILE);
    expect![[r#"
        Physiology {
            hr_max_bpm: 186,
            hr_max_estimated: false,
            hr_rest_bpm: 52,
            hr_rest_estimated: false,
            lthr_bpm: 168,
            lthr_estimated: false,
            hr_cap_bpm: 176,
            ftp_w: Some(
                240,
            ),
            cp_w: Some(
                250,
            ),
            w_prime_j: 18000,
            sex: Some(
                Female,
            ),
            rpe_only: false,
            hr_zones: HrZones {
                upper_bpm: [
                    111.6,
                    130.2,
                    148.8,
                    167.4,
                ],
            },
            power_zones: Some(
                PowerZones {
                    upper_w: [
                        132.0,
                        180.0,
                        216.0,
                        252.0,
                        288.0,
                        360.0,
                    ],
                    max_power_w: 360.0,
                },
            ),
            max_power_w: Some(
                360,
            ),
        }
    "#]]
    .assert_debug_eq(&phys);
}

/// The defaults, one line per profile: what was filled in and how.
#[test]
fn missing_values_are_filled_from_defaults() {
    fn check(json: &str, expected: Expect) {
        let p = physiology(json);
        let est = |estimated: bool| if estimated { " (est)" } else { "" };
        let actual = format!(
            "hr_max {}{} rest {}{} lthr {}{} cap {} ftp {:?} cp {:?} max_power {:?} w' {}",
            p.hr_max_bpm,
            est(p.hr_max_estimated),
            p.hr_rest_bpm,
            est(p.hr_rest_estimated),
            p.lthr_bpm,
            est(p.lthr_estimated),
            p.hr_cap_bpm,
            p.ftp_w,
            p.cp_w,
            p.max_power_w,
            p.w_prime_j,
        );
        expected.assert_eq(&actual);
    }
    // Nothing given: age 40 → Tanaka 208 − 28 = 180; cap 88 % (estimated) = 158.4 → 158;
    // lthr 90 % = 162; rest 60; no power; W′ 20 000 J.
    check(
        "{}",
        expect![
            "hr_max 180 (est) rest 60 (est) lthr 162 (est) cap 158 ftp None cp None max_power None w' 20000"
        ],
    );
    // Age 38: 208 − 26.6 = 181.4 → 181; cap 181 × 0.88 = 159.28 → 159; lthr 162.9 → 163.
    check(
        r#"{"age": 38}"#,
        expect![
            "hr_max 181 (est) rest 60 (est) lthr 163 (est) cap 159 ftp None cp None max_power None w' 20000"
        ],
    );
    // hr_max known: cap 92 % of 186 = 171.12 → 171 (rounded down); lthr 167.4 → 167.
    check(
        r#"{"hr_max": 186, "hr_rest": 52}"#,
        expect![
            "hr_max 186 rest 52 lthr 167 (est) cap 171 ftp None cp None max_power None w' 20000"
        ],
    );
    // An explicit cap is used as given, even above 92 %.
    check(
        r#"{"hr_max": 186, "hr_cap": 180}"#,
        expect![
            "hr_max 186 rest 60 (est) lthr 167 (est) cap 180 ftp None cp None max_power None w' 20000"
        ],
    );
    // CP only: FTP = 0.95 × 250 = 237.5 → 238; limit 1.5 × 238 = 357.
    check(
        r#"{"cp": 250, "w_prime_j": 15000}"#,
        expect![
            "hr_max 180 (est) rest 60 (est) lthr 162 (est) cap 158 ftp Some(238) cp Some(250) max_power Some(357) w' 15000"
        ],
    );
    // FTP only: CP = FTP; limit 1.5 × 241 = 361.5 → 361 (rounded down).
    check(
        r#"{"ftp": 241}"#,
        expect![
            "hr_max 180 (est) rest 60 (est) lthr 162 (est) cap 158 ftp Some(241) cp Some(241) max_power Some(361) w' 20000"
        ],
    );
}

/// Every way a profile can be refused, with the message the user sees.
#[test]
fn inconsistent_profiles_are_refused_with_the_field_and_values() {
    let profiles = [
        r#"{"hr_max": 0}"#,
        r#"{"w_prime_j": 0}"#,
        r#"{"hr_max": 186, "hr_rest": 190}"#,
        r#"{"hr_max": 55}"#,
        r#"{"hr_max": 186, "lthr": 190}"#,
        r#"{"hr_max": 186, "hr_rest": 52, "lthr": 50}"#,
        r#"{"hr_max": 186, "hr_rest": 175}"#,
        r#"{"hr_max": 186, "hr_cap": 190}"#,
        r#"{"age": 80, "hr_rest": 70, "hr_cap": 160}"#,
        r#"{"hr_max": 186, "zone_overrides": {"hr_upper_bpm": [120, 140, 140, 170]}}"#,
        r#"{"hr_max": 186, "zone_overrides": {"hr_upper_bpm": [120, 140, 160, 186]}}"#,
        r#"{"ftp": 250, "zone_overrides": {"power_upper_w": [0, 150, 200, 250, 300, 400]}}"#,
        r#"{"zone_overrides": {"power_upper_w": [100, 150, 200, 250, 300, 400]}}"#,
    ];
    let actual: String = profiles
        .iter()
        .map(|json| {
            let error = Physiology::from_profile(&profile(json), &PhysiologyDefaults::default())
                .expect_err(json);
            format!("{json}\n  → {error}\n")
        })
        .collect();
    expect![[r#"
        {"hr_max": 0}
          → hr_max must be greater than 0
        {"w_prime_j": 0}
          → w_prime_j must be greater than 0
        {"hr_max": 186, "hr_rest": 190}
          → hr_rest (190 bpm) must be below hr_max (186 bpm)
        {"hr_max": 55}
          → hr_rest (60 bpm, the default) must be below hr_max (55 bpm)
        {"hr_max": 186, "lthr": 190}
          → lthr (190 bpm) must be above hr_rest (60 bpm) and at most hr_max (186 bpm)
        {"hr_max": 186, "hr_rest": 52, "lthr": 50}
          → lthr (50 bpm) must be above hr_rest (52 bpm) and at most hr_max (186 bpm)
        {"hr_max": 186, "hr_rest": 175}
          → lthr (167 bpm, estimated from hr_max) must be above hr_rest (175 bpm) and at most hr_max (186 bpm)
        {"hr_max": 186, "hr_cap": 190}
          → hr_cap (190 bpm) must be above hr_rest (60 bpm) and at most hr_max (186 bpm)
        {"age": 80, "hr_rest": 70, "hr_cap": 160}
          → hr_cap (160 bpm) must be above hr_rest (70 bpm) and at most hr_max (152 bpm, estimated from age)
        {"hr_max": 186, "zone_overrides": {"hr_upper_bpm": [120, 140, 140, 170]}}
          → zone_overrides.hr_upper_bpm [120, 140, 140, 170] must be above 0 and strictly increasing
        {"hr_max": 186, "zone_overrides": {"hr_upper_bpm": [120, 140, 160, 186]}}
          → zone_overrides.hr_upper_bpm [120, 140, 160, 186] must end below hr_max (186 bpm), which is where zone 5 ends
        {"ftp": 250, "zone_overrides": {"power_upper_w": [0, 150, 200, 250, 300, 400]}}
          → zone_overrides.power_upper_w [0, 150, 200, 250, 300, 400] must be above 0 and strictly increasing
        {"zone_overrides": {"power_upper_w": [100, 150, 200, 250, 300, 400]}}
          → zone_overrides.power_upper_w [100, 150, 200, 250, 300, 400] needs ftp or cp in the profile, which set the highest power target
    "#]]
    .assert_eq(&actual);
}

// ---------------------------------------------------------------------------------------
// Zones

#[test]
fn hr_zone_models_place_their_bounds() {
    // %HRmax, HRmax 200: 120 / 140 / 160 / 180.
    let pct = physiology(r#"{"hr_max": 200, "hr_rest": 50}"#).hr_zones;
    assert_eq!(pct.upper_bpm(), [120.0, 140.0, 160.0, 180.0]);
    // Karvonen, reserve 150: 50 + 90 / 105 / 120 / 135 = 140 / 155 / 170 / 185.
    let karvonen =
        physiology(r#"{"hr_max": 200, "hr_rest": 50, "hr_zone_model": "karvonen"}"#).hr_zones;
    assert_eq!(karvonen.upper_bpm(), [140.0, 155.0, 170.0, 185.0]);
    // LTHR 170 × 81 / 89 / 93 / 99 % = 137.7 / 151.3 / 158.1 / 168.3.
    let lthr = physiology(r#"{"hr_max": 200, "lthr": 170, "hr_zone_model": "lthr"}"#).hr_zones;
    assert_eq!(lthr.upper_bpm(), [137.7, 151.3, 158.1, 168.3]);
    // Overrides replace whichever model is chosen.
    let overridden = physiology(
        r#"{"hr_max": 200, "hr_zone_model": "karvonen",
            "zone_overrides": {"hr_upper_bpm": [110, 135, 150, 172]}}"#,
    )
    .hr_zones;
    assert_eq!(overridden.upper_bpm(), [110.0, 135.0, 150.0, 172.0]);
}

#[test]
fn a_value_on_a_bound_is_in_the_lower_zone() {
    // Bounds 120 / 140 / 160 / 180, HRmax 200.
    let zones = physiology(r#"{"hr_max": 200}"#).hr_zones;
    for (bpm, zone) in [
        (0.0, 1),
        (119.9, 1),
        (120.0, 1),
        (120.1, 2),
        (140.0, 2),
        (160.0, 3),
        (170.0, 4),
        (180.0, 4),
        (180.5, 5),
        (200.0, 5),
        (250.0, 5),
    ] {
        assert_eq!(zones.zone_of(bpm), zone, "{bpm} bpm");
    }
    assert_eq!(zones.range_bpm(1, 200.0), (0.0, 120.0));
    assert_eq!(zones.range_bpm(3, 200.0), (140.0, 160.0));
    assert_eq!(zones.range_bpm(5, 200.0), (180.0, 200.0));
    // Out-of-range zone numbers are clamped into 1–5.
    assert_eq!(zones.range_bpm(0, 200.0), (0.0, 120.0));
    assert_eq!(zones.range_bpm(9, 200.0), (180.0, 200.0));

    // FTP 200: 110 / 150 / 180 / 210 / 240 / 300, limit 300.
    let power = physiology(r#"{"ftp": 200}"#)
        .power_zones
        .expect("ftp given");
    assert_eq!(power.upper_w(), [110.0, 150.0, 180.0, 210.0, 240.0, 300.0]);
    for (power_w, zone) in [
        (0.0, 1),
        (110.0, 1),
        (111.0, 2),
        (200.0, 4),
        (210.0, 4),
        (300.0, 6),
        (301.0, 7),
        (1500.0, 7),
    ] {
        assert_eq!(power.zone_of(power_w), zone, "{power_w} W");
    }
    assert_eq!(power.range_w(1), (0.0, 110.0));
    assert_eq!(power.range_w(4), (180.0, 210.0));
    // Zone 6's upper bound is the limit, so zone 7 is the single point 300 W.
    assert_eq!(power.range_w(6), (240.0, 300.0));
    assert_eq!(power.range_w(7), (300.0, 300.0));
    assert_eq!(power.range_w(0), (0.0, 110.0));
    assert_eq!(power.range_w(8), (300.0, 300.0));
}

#[test]
fn power_ranges_never_exceed_the_limit() {
    // FTP 250 → limit 375 W; the overrides put zone 6 up to 400 W, so its range is clipped.
    let phys = physiology(
        r#"{"ftp": 250, "zone_overrides": {"power_upper_w": [100, 150, 200, 250, 300, 400]}}"#,
    );
    assert_eq!(phys.max_power_w, Some(375));
    let power = phys.power_zones.expect("ftp given");
    assert_eq!(power.zone_of(350.0), 6);
    assert_eq!(power.range_w(5), (250.0, 300.0));
    assert_eq!(power.range_w(6), (300.0, 375.0));
    assert_eq!(power.range_w(7), (375.0, 375.0));
}

// ---------------------------------------------------------------------------------------
// W′ balance (CP 250 W, W′ 18 000 J unless said otherwise)

#[test]
fn wbal_depletes_linearly_and_recovers_toward_full() {
    let mut wbal = WPrimeBalance::new(250.0, 18_000.0);
    assert_eq!(wbal.balance_j(), 18_000.0);
    // 60 s at 350 W: 18 000 − 100 × 60 = 12 000 J.
    wbal.step(350.0, 60.0);
    assert_eq!(wbal.balance_j(), 12_000.0);
    assert_eq!(wbal.min_j(), 12_000.0);
    // 1 s at 150 W: + 100 × (18 000 − 12 000) / 18 000 = + 33.333… → 12 033.333… J.
    wbal.step(150.0, 1.0);
    assert_close(wbal.balance_j(), 12_033.333_333_333_334, 1e-9);
    assert_close(wbal.fraction(), 12_033.333_333_333_334 / 18_000.0, 1e-12);
    // The minimum stays where the depletion ended.
    assert_eq!(wbal.min_j(), 12_000.0);
    assert_eq!(wbal.w_prime_j(), 18_000.0);
}

#[test]
fn wbal_recovery_is_integrated_one_second_at_a_time() {
    let mut one_step = WPrimeBalance::new(250.0, 18_000.0);
    one_step.step(350.0, 60.0);
    let mut ten_steps = one_step.clone();
    one_step.step(150.0, 10.0);
    for _ in 0..10 {
        ten_steps.step(150.0, 1.0);
    }
    assert_eq!(one_step, ten_steps);
    // Each second keeps 179/180 of the deficit: 12 000 + 6000 × (1 − (179/180)^10)
    // = 12 325.122…, not one 10 s Euler step, 12 000 + 100 × 10 × 6000 / 18 000 = 12 333.3.
    assert_close(one_step.balance_j(), 12_325.122_264_480_677, 1e-9);

    // A fractional step: 1 s + 1 s + 0.5 s.
    // 12 000 + 33.333… = 12 033.333…; + 100 × 5966.67 / 18 000 = 12 066.481…;
    // + 100 × 5933.52 / 18 000 × 0.5 = 12 082.963….
    let mut wbal = WPrimeBalance::new(250.0, 18_000.0);
    wbal.step(350.0, 60.0);
    wbal.step(150.0, 2.5);
    assert_close(wbal.balance_j(), 12_082.963_477_366_255, 1e-9);

    // Depletion is linear, so a fractional step is exact: 18 000 − 50 × 2.5 = 17 875.
    let mut wbal = WPrimeBalance::new(250.0, 18_000.0);
    wbal.step(300.0, 2.5);
    assert_eq!(wbal.balance_j(), 17_875.0);
}

#[test]
fn wbal_goes_below_zero_but_never_above_full() {
    // 200 s at 350 W: 18 000 − 20 000 = −2000 J (not clamped: CP or W′ is underestimated).
    let mut wbal = WPrimeBalance::new(250.0, 18_000.0);
    wbal.step(350.0, 200.0);
    assert_eq!(wbal.balance_j(), -2000.0);
    assert_close(wbal.fraction(), -1.0 / 9.0, 1e-15);
    // Recovery from below zero: + 100 × 20 000 / 18 000 = + 111.1 → −1888.9 J.
    wbal.step(150.0, 1.0);
    assert_close(wbal.balance_j(), -1_888.888_888_888_889, 1e-9);
    assert_eq!(wbal.min_j(), -2000.0);

    // A small W′ where one Euler second would overshoot: W′ 100 J; 1 s at 300 W → 50 J;
    // 1 s at 0 W would add 250 × 50 / 100 = 125 J → 175 J, but stops at 100 J.
    let mut small = WPrimeBalance::new(250.0, 100.0);
    small.step(300.0, 1.0);
    assert_eq!(small.balance_j(), 50.0);
    small.step(0.0, 1.0);
    assert_eq!(small.balance_j(), 100.0);

    // A very long recovery ends (at most a day of sub-steps, fewer once nothing changes)
    // and refills.
    let mut long = WPrimeBalance::new(250.0, 18_000.0);
    long.step(350.0, 60.0);
    long.step(100.0, 1e12);
    assert_close(long.balance_j(), 18_000.0, 1e-6);
    assert!(long.balance_j() <= 18_000.0);
}

#[test]
fn wbal_ignores_invalid_steps_and_holds_at_cp() {
    let mut wbal = WPrimeBalance::new(250.0, 18_000.0);
    wbal.step(350.0, 10.0);
    let before = wbal.clone();
    for (power_w, dt_s) in [
        (f64::NAN, 1.0),
        (-5.0, 1.0),
        (f64::INFINITY, 1.0),
        (100.0, -1.0),
        (100.0, 0.0),
        (100.0, f64::NAN),
        (100.0, f64::INFINITY),
        // Exactly at CP, nothing changes.
        (250.0, 30.0),
    ] {
        wbal.step(power_w, dt_s);
        assert_eq!(wbal, before, "step({power_w}, {dt_s})");
    }
}

// ---------------------------------------------------------------------------------------
// Session load

fn load_for(json: &str) -> SessionLoad {
    SessionLoad::new(&physiology(json))
}

#[test]
fn np_across_a_step_from_200_to_300_w() {
    // 60 s at 200 W then 60 s at 300 W, FTP 250. The 30 s windows end at seconds 30…120
    // (91 windows): 31 all at 200 W (ending 30…60), 31 all at 300 W (ending 90…120), and 29
    // across the step, holding k = 1…29 seconds at 300 W: r = 200 + 100k/30 = (10/3)(60 + k).
    //   Σr⁴ = 31 × 200⁴ + 31 × 300⁴ + (10/3)⁴ × Σ_{m=61}^{89} m⁴
    //       = 49.6e9 + 251.1e9 + (10 000/81) × 986 345 999 = 422 471 110 987.65
    //   NP  = (Σr⁴ / 91)^¼ = 4 642 539 681.18^¼ = 261.029 W (average power 250 W)
    //   IF  = 261.029 / 250 = 1.04412
    //   TSS = 120 × 261.029 × 1.04412 / (250 × 3600) × 100 = 3.6339
    let mut load = load_for(r#"{"ftp": 250}"#);
    for second in 0..120 {
        let power_w = if second < 60 { 200.0 } else { 300.0 };
        load.add_second(Some(power_w), None);
    }
    assert_eq!(load.seconds(), 120);
    assert_eq!(load.avg_power_w(), Some(250.0));
    assert_some_close(load.np_w(), 261.029_088_063_548, 1e-9);
    assert_some_close(load.intensity_factor(), 1.044_116_352_254_192, 1e-12);
    assert_some_close(load.tss(), 3.633_929_856_815_332, 1e-9);
    // Zones from FTP 250: 137.5 / 187.5 / 225 / 262.5 / 300 / 375. 200 W is Z3; 300 W sits
    // exactly on Z5's upper bound, so it is Z5.
    assert_eq!(load.time_in_power_zone_s(), [0, 0, 60, 0, 60, 0, 0]);
    assert_eq!(load.trimp(), None);
    assert_eq!(load.avg_hr_bpm(), None);
}

#[test]
fn one_hour_at_ftp_is_if_1_and_tss_100() {
    let mut load = load_for(r#"{"ftp": 250}"#);
    for _ in 0..3600 {
        load.add_second(Some(250.0), None);
    }
    assert_some_close(load.np_w(), 250.0, 1e-9);
    assert_some_close(load.intensity_factor(), 1.0, 1e-12);
    assert_some_close(load.tss(), 100.0, 1e-9);
}

#[test]
fn np_needs_30_seconds_with_power() {
    let mut load = load_for(r#"{"ftp": 250}"#);
    // 20 s with power, 10 s without, 9 s with: 29 seconds with power, no NP yet.
    for second in 0..39 {
        let power_w = (!(20..30).contains(&second)).then_some(200.0);
        load.add_second(power_w, None);
    }
    assert_eq!(load.np_w(), None);
    assert_eq!(load.tss(), None);
    // The 30th second with power completes the first window (the gap does not enter it).
    load.add_second(Some(200.0), None);
    assert_eq!(load.seconds(), 40);
    assert_eq!(load.np_w(), Some(200.0));
    // TSS counts the 30 seconds with power: 30 × 200 × 0.8 / (250 × 3600) × 100 = 0.5333.
    assert_some_close(
        load.tss(),
        30.0 * 200.0 * 0.8 / (250.0 * 3600.0) * 100.0,
        1e-12,
    );
    // Power that is not a number or negative counts as none.
    load.add_second(Some(f64::NAN), None);
    load.add_second(Some(-3.0), None);
    assert_eq!(load.avg_power_w(), Some(200.0));
    assert_eq!(load.seconds(), 42);
}

#[test]
fn np_can_be_below_average_power_at_the_edges() {
    // 1 s at 1000 W then 30 s at 0 W: two windows, r = 1000/30 = 33.33 W and 0 W, so
    // NP = 33.33 / 2^¼ = 28.03 W, while the average is 1000 / 31 = 32.26 W. The windows count
    // the first second once and a middle second 30 times.
    let mut load = load_for(r#"{"ftp": 250}"#);
    load.add_second(Some(1000.0), None);
    for _ in 0..30 {
        load.add_second(Some(0.0), None);
    }
    assert_some_close(load.np_w(), 28.029_880_508_457_154, 1e-9);
    assert_some_close(load.avg_power_w(), 32.258_064_516_129_03, 1e-9);
}

#[test]
fn trimp_of_30_minutes_at_a_fixed_heart_rate() {
    // HRmax 180, HRrest 60, 150 bpm: HRr = 90 / 120 = 0.75; 30 min.
    //   male:    30 × 0.75 × 0.64 × e^(1.92 × 0.75)  = 14.4   × 4.220696 = 60.7780
    //   female:  30 × 0.75 × 0.86 × e^(1.67 × 0.75)  = 19.35  × 3.499080 = 67.7072
    //   unknown: 30 × 0.75 × 0.75 × e^(1.795 × 0.75) = 16.875 × 3.842987 = 64.8504
    for (sex, expected) in [
        (r#""sex": "male","#, 60.778_019_764_750_354),
        (r#""sex": "female","#, 67.707_192_800_120_1),
        (r#""sex": "other","#, 64.850_410_242_147_3),
        ("", 64.850_410_242_147_3),
    ] {
        let mut load = load_for(&format!(r#"{{{sex} "hr_max": 180, "hr_rest": 60}}"#));
        for _ in 0..1800 {
            load.add_second(None, Some(150.0));
        }
        assert_some_close(load.trimp(), expected, 1e-9);
        assert_eq!(load.avg_hr_bpm(), Some(150.0));
        assert_eq!(load.max_hr_bpm(), Some(150));
    }
}

#[test]
fn hr_tss_is_100_for_an_hour_at_lthr() {
    let json = r#"{"sex": "male", "hr_max": 180, "hr_rest": 60, "lthr": 160}"#;
    let mut hour_at_lthr = load_for(json);
    for _ in 0..3600 {
        hour_at_lthr.add_second(None, Some(160.0));
    }
    assert_some_close(hour_at_lthr.hr_tss(), 100.0, 1e-9);

    // 30 min at 150 bpm: TRIMP 60.7780 (above). One hour at LTHR: HRr = 100/120 = 5/6,
    // 60 × 5/6 × 0.64 × e^(1.92 × 5/6) = 32 × 4.953032 = 158.4970; hrTSS = 100 × 60.7780 /
    // 158.4970 = 38.3465.
    let mut half_hour = load_for(json);
    for _ in 0..1800 {
        half_hour.add_second(None, Some(150.0));
    }
    assert_some_close(half_hour.hr_tss(), 38.346_470_503_479_5, 1e-9);
}

#[test]
fn heart_rate_outside_rest_and_max_is_clamped_in_trimp() {
    // Below rest counts 0, above max counts as HRr = 1: 60 × 1 × 0.64 × e^1.92 / 60 per s.
    let mut load = load_for(r#"{"sex": "male", "hr_max": 180, "hr_rest": 60}"#);
    load.add_second(None, Some(50.0));
    assert_eq!(load.trimp(), Some(0.0));
    load.add_second(None, Some(190.0));
    assert_some_close(load.trimp(), 0.64 * 1.92_f64.exp() / 60.0, 1e-15);
}

#[test]
fn time_in_zones_and_heart_rate_summary() {
    // HR bounds 120 / 140 / 160 / 180 (HRmax 200); no FTP, so no power zones.
    let mut load = load_for(r#"{"hr_max": 200}"#);
    for hr in [
        Some(100.0),
        Some(120.0),
        Some(120.6),
        Some(160.0),
        Some(181.0),
        Some(199.6),
        None,
        Some(f64::NAN),
        Some(0.0),
    ] {
        load.add_second(Some(180.0), hr);
    }
    assert_eq!(load.seconds(), 9);
    assert_eq!(load.time_in_hr_zone_s(), [2, 1, 1, 0, 2]);
    assert_eq!(load.time_in_power_zone_s(), [0; 7]);
    // (100 + 120 + 120.6 + 160 + 181 + 199.6) / 6 = 881.2 / 6 = 146.8667.
    assert_some_close(load.avg_hr_bpm(), 881.2 / 6.0, 1e-12);
    // 199.6 rounds to 200.
    assert_eq!(load.max_hr_bpm(), Some(200));
    // Fewer than 30 s of power and no FTP.
    assert_eq!(load.np_w(), None);
    assert_eq!(load.intensity_factor(), None);
    assert_eq!(load.tss(), None);
}

// ---------------------------------------------------------------------------------------
// Decoupling

#[test]
fn steady_power_and_heart_rate_do_not_decouple() {
    let mut decoupling = Decoupling::new();
    for _ in 0..3600 {
        decoupling.add_second(200.0, 140.0);
    }
    assert_eq!(decoupling.seconds(), 3600);
    assert_eq!(decoupling.decoupling_pct(1200), Some(0.0));
}

#[test]
fn heart_rate_5_pct_higher_in_the_second_half() {
    // EF₁ = 200/140, EF₂ = 200/147: (EF₁ − EF₂)/EF₁ = 1 − 140/147 = 1 − 1/1.05 = 4.7619 %.
    let mut decoupling = Decoupling::new();
    for second in 0..3600 {
        decoupling.add_second(200.0, if second < 1800 { 140.0 } else { 147.0 });
    }
    assert_some_close(decoupling.decoupling_pct(1200), 4.761_904_761_904_762, 1e-9);

    // Three hours: the 10 s buckets have been merged twice (40 s buckets), and the middle,
    // 5400 s, is still a bucket boundary, so the answer is the same.
    let mut long = Decoupling::new();
    for second in 0..10_800 {
        long.add_second(200.0, if second < 5400 { 140.0 } else { 147.0 });
    }
    assert_some_close(long.decoupling_pct(1200), 4.761_904_761_904_762, 1e-9);
}

#[test]
fn decoupling_splits_at_a_bucket_boundary() {
    // 25 s in 10 s buckets (10 + 10 + 5): the middle, 12.5 s, is nearest the boundary at
    // 10 s, so the halves are 10 s at HR 100 and 15 s at HR 110, all at 200 W:
    // EF₁ = 2, EF₂ = 200/110 = 1.8182, (2 − 1.8182)/2 = 9.0909 %.
    let mut decoupling = Decoupling::new();
    for second in 0..25 {
        decoupling.add_second(200.0, if second < 10 { 100.0 } else { 110.0 });
    }
    assert_some_close(decoupling.decoupling_pct(0), 9.090_909_090_909_093, 1e-9);
}

#[test]
fn decoupling_needs_enough_data() {
    let mut decoupling = Decoupling::new();
    assert_eq!(decoupling.decoupling_pct(0), None);
    // One bucket is not two halves.
    for _ in 0..10 {
        decoupling.add_second(200.0, 140.0);
    }
    assert_eq!(decoupling.decoupling_pct(0), None);
    decoupling.add_second(200.0, 140.0);
    assert_eq!(decoupling.decoupling_pct(0), Some(0.0));
    assert_eq!(decoupling.decoupling_pct(12), None);
    // Invalid seconds are not counted.
    decoupling.add_second(f64::NAN, 140.0);
    decoupling.add_second(200.0, 0.0);
    decoupling.add_second(-1.0, 140.0);
    assert_eq!(decoupling.seconds(), 11);
    decoupling.reset();
    assert_eq!(decoupling.seconds(), 0);
    assert_eq!(decoupling.decoupling_pct(0), None);

    // No power in the first half: EF₁ = 0, no ratio.
    for second in 0..40 {
        decoupling.add_second(if second < 20 { 0.0 } else { 200.0 }, 120.0);
    }
    assert_eq!(decoupling.decoupling_pct(0), None);
}

// ---------------------------------------------------------------------------------------
// Properties

fn hr_profile() -> impl Strategy<Value = Physiology> {
    (100u16..=220, 30u16..=85, 0usize..3).prop_map(|(hr_max, hr_rest, model)| {
        let model = ["pct_hr_max", "karvonen", "lthr"][model];
        physiology(&format!(
            r#"{{"hr_max": {hr_max}, "hr_rest": {hr_rest}, "hr_zone_model": "{model}"}}"#
        ))
    })
}

/// The 30 s rolling means of `series`, as `SessionLoad` forms them.
fn rolling_means(series: &[f64]) -> Vec<f64> {
    series
        .windows(30)
        .map(|window| window.iter().sum::<f64>() / 30.0)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn hr_zone_of_is_monotonic_and_in_range(
        phys in hr_profile(),
        a in -50.0f64..300.0,
        b in -50.0f64..300.0,
    ) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let (z_low, z_high) = (phys.hr_zones.zone_of(low), phys.hr_zones.zone_of(high));
        prop_assert!((1..=5).contains(&z_low) && (1..=5).contains(&z_high));
        prop_assert!(z_low <= z_high, "{low} → Z{z_low}, {high} → Z{z_high}");
    }

    #[test]
    fn power_zone_of_is_monotonic_and_in_range(
        ftp in 50u16..=500,
        a in -10.0f64..2000.0,
        b in -10.0f64..2000.0,
    ) {
        let zones = physiology(&format!(r#"{{"ftp": {ftp}}}"#)).power_zones.expect("ftp given");
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let (z_low, z_high) = (zones.zone_of(low), zones.zone_of(high));
        prop_assert!((1..=7).contains(&z_low) && (1..=7).contains(&z_high));
        prop_assert!(z_low <= z_high, "{low} → Z{z_low}, {high} → Z{z_high}");
    }

    #[test]
    fn wbal_never_exceeds_w_prime(
        cp in 100.0f64..400.0,
        w_prime in 1000.0f64..30000.0,
        steps in prop::collection::vec((0.0f64..1000.0, 0.0f64..5.0), 1..200),
    ) {
        let mut wbal = WPrimeBalance::new(cp, w_prime);
        for (power_w, dt_s) in steps {
            wbal.step(power_w, dt_s);
            prop_assert!(wbal.balance_j() <= w_prime);
            prop_assert!(wbal.min_j() <= wbal.balance_j());
        }
    }

    #[test]
    fn wbal_never_falls_while_below_cp(
        cp in 100.0f64..400.0,
        w_prime in 1000.0f64..30000.0,
        effort in (1.0f64..500.0, 1.0f64..120.0),
        steps in prop::collection::vec((0.0f64..1.0, 0.0f64..5.0), 1..200),
    ) {
        let mut wbal = WPrimeBalance::new(cp, w_prime);
        wbal.step(cp + effort.0, effort.1);
        for (share_of_cp, dt_s) in steps {
            let before = wbal.balance_j();
            wbal.step(share_of_cp * cp, dt_s);
            prop_assert!(wbal.balance_j() >= before, "{before} → {}", wbal.balance_j());
        }
    }

    /// NP ≥ average power fails at the edges of a series (see
    /// `np_can_be_below_average_power_at_the_edges`); what holds is the power mean
    /// inequality over the windows: NP ≥ the mean of the 30 s rolling means, and NP lies
    /// between the lowest and highest power.
    #[test]
    fn np_is_at_least_the_mean_of_its_windows(
        series in prop::collection::vec(0.0f64..2000.0, 30..400),
    ) {
        let mut load = load_for(r#"{"ftp": 250}"#);
        for &power_w in &series {
            load.add_second(Some(power_w), None);
        }
        let np = load.np_w().expect("at least 30 s of power");
        let means = rolling_means(&series);
        let mean_of_means = means.iter().sum::<f64>() / means.len() as f64;
        let tolerance = 1e-9 * np.max(1.0);
        prop_assert!(np >= mean_of_means - tolerance, "NP {np} < {mean_of_means}");
        let lowest = series.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = series.iter().copied().fold(0.0, f64::max);
        prop_assert!(np >= lowest - tolerance && np <= highest + tolerance);
    }
}
