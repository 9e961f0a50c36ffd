//! Rides on a virtual clock, each pinned by a snapshot of what the coach said, plus
//! assertions on the facts that matter most.

use expect_test::expect;
use paceline_coach::{EffectiveTarget, Output};
use paceline_schemas::command::{Command, OverrideTarget, TimeLeft};
use paceline_schemas::plan::{PowerRange, Target};
use paceline_schemas::{CompressStrategy, CueCode, Modification, Severity};

use crate::harness::{
    Ride, heart_rate, heart_rate_no_contact, plan, power_at_cadence, shared_plan, shared_profile,
};

const STEADY_20: &str = r#"{"name":"Steady 20","sport":"bike","steps":[
  {"kind":"step","intent":"warmup","duration_s":120,"target":{"kind":"power_ftp","low_pct":50,"high_pct":60}},
  {"kind":"step","intent":"work","duration_s":1200,"target":{"kind":"power_ftp","low_pct":88,"high_pct":92}},
  {"kind":"step","intent":"cooldown","duration_s":120,"target":{"kind":"power_ftp","low_pct":45,"high_pct":55}}]}"#;

#[test]
fn steady_ride_in_zone_is_quiet() {
    let profile = shared_profile();
    let plan = plan(STEADY_20);
    let mut ride = Ride::new(&profile, Some(&plan));
    ride.ride(120, |_| Some(heart_rate(125)), |_| Some(130));
    ride.ride(
        1200,
        |s| Some(heart_rate(140 + (s / 120) as u16)),
        |_| Some(216),
    );
    ride.ride(120, |_| Some(heart_rate(130)), |_| Some(120));
    ride.command(Command::End);
    expect![[r#"
        t=0.0 target 120–144 W [Warm-up]
        t=0.0 info step_start: Warm-up: 2:00 at 120–144 W.
        t=120.0 target 211–221 W [Work]
        t=120.0 info step_start: Work: 20:00 at 211–221 W.
        t=1320.0 target 108–132 W [Cool-down]
        t=1320.0 info step_start: Cool-down: 2:00 at 108–132 W.
        t=1440.0 target RPE 3 [-]
        t=1440.0 info step_end: Steady 20 complete. Well done: ride easy or end the session.
        t=1440.0 info session_end: Session over after 24:00. Well done.
        t=1440.0 summary {"session":"s-1","duration_s":1440.0,"time_in_hr_zone_s":[0,240,1080,120,0],"time_in_power_zone_s":[240,0,1200,0,0,0,0],"avg_hr_bpm":141.66666666666666,"max_hr_bpm":149,"avg_power_w":200.83333333333334,"np_w":208.1659254288765,"intensity_factor":0.8673580226203188,"tss":30.092397576153175,"hr_tss":22.490206025519814,"trimp":42.64258688859647,"wbal_min_j":18000.0,"decoupling_pct":3.4013605442176806,"cue_counts":{"step_start":3,"step_end":1,"session_end":1}}
    "#]]
    .assert_eq(&ride.all_lines());
    let codes: Vec<CueCode> = ride.cues().iter().map(|c| c.code).collect();
    assert!(!codes.contains(&CueCode::AboveTarget) && !codes.contains(&CueCode::BelowTarget));
}

#[test]
fn intervals_above_and_below_target() {
    let profile = shared_profile();
    let plan = shared_plan("vo2-intervals-45.zwo");
    let mut ride = Ride::new(&profile, Some(&plan));
    // Warm-up on target, then rep 1 far too hard (330 W vs 276 W), recovery on target,
    // rep 2 too easy (230 W), then stop.
    ride.ride(
        600,
        |_| Some(heart_rate(120)),
        |s| Some(110 + (s / 10) as i16),
    );
    ride.ride(180, |_| Some(heart_rate(150)), |_| Some(330));
    ride.ride(180, |_| Some(heart_rate(140)), |_| Some(120));
    ride.ride(180, |_| Some(heart_rate(150)), |_| Some(230));
    ride.command(Command::End);
    expect![[r#"
        t=0.0 info step_start: Warm-up: 10:00 at 108 → 180 W.
        t=600.0 info step_start: Work 1 of 5: 3:00 at 276 W.
        t=625.0 info above_target: Ease off: you are at 330 W, the target is 276 W.
        t=780.0 info step_start: Recovery: 3:00 at 120 W.
        t=960.0 info step_start: Work 2 of 5: 3:00 at 276 W.
        t=985.0 info below_target: Bring it up a little: you are at 230 W, the target is 276 W.
        t=1140.0 info step_start: Recovery: 3:00 at 120 W.
        t=1140.0 info session_end: Session over after 19:00. Well done.
        t=1140.0 summary {"session":"s-1","duration_s":1140.0,"time_in_hr_zone_s":[0,600,180,358,0],"time_in_power_zone_s":[410,370,0,180,0,180,0],"avg_hr_bpm":132.60105448154658,"max_hr_bpm":150,"avg_power_w":180.78947368421052,"np_w":223.06353075125716,"intensity_factor":0.9294313781302381,"tss":27.355018410680664,"hr_tss":14.76042813009356,"trimp":27.986530596304323,"wbal_min_j":3600.0,"decoupling_pct":null,"cue_counts":{"step_start":5,"above_target":1,"below_target":1,"session_end":1}}
    "#]]
    .assert_eq(&ride.cue_lines());
    let codes: Vec<CueCode> = ride.cues().iter().map(|c| c.code).collect();
    assert!(codes.contains(&CueCode::AboveTarget));
    assert!(codes.contains(&CueCode::BelowTarget));
}

#[test]
fn heart_rate_rising_through_the_cap() {
    let profile = shared_profile(); // cap 176
    let plan = plan(STEADY_20);
    let mut ride = Ride::new(&profile, Some(&plan));
    ride.ride(180, |_| Some(heart_rate(150)), |_| Some(216));
    // HR climbs 1 bpm/s from 160 to 185 and stays there.
    ride.ride(
        60,
        |s| Some(heart_rate((160 + s).min(185) as u16)),
        |_| Some(216),
    );
    ride.ride(40, |_| Some(heart_rate(165)), |_| Some(150));
    expect![[r#"
        t=0.0 target 120–144 W [Warm-up]
        t=0.0 info step_start: Warm-up: 2:00 at 120–144 W.
        t=25.0 info above_target: Ease off: you are at 216 W, the target is 120–144 W.
        t=120.0 target 211–221 W [Work]
        t=120.0 info step_start: Work: 20:00 at 211–221 W.
        t=201.0 safety hr_above_cap: Heart rate 180 bpm is over your cap of 176: ease off now. Target lowered 15 % for 2:00. {"kind":"reduce_target","pct":15,"duration_s":120}
        t=201.0 target 179–188 W [Work]
        t=206.0 safety hr_above_cap: Heart rate 185 bpm is still over your cap of 176: this interval ends now. Recover. {"kind":"end_step"}
        t=206.0 target 92–112 W [Cool-down]
        t=206.0 info step_start: Cool-down: 2:00 at 92–112 W.
        t=231.0 info above_target: Ease off: you are at 216 W, the target is 92–112 W.
        t=236.0 safety hr_above_cap: Heart rate 185 bpm is still over your cap of 176: recover for 2:00. {"kind":"insert_recovery","s":120}
        t=236.0 target 82–112 W [Recovery]
        t=236.0 info step_start: Recovery: 2:00 at 82–112 W.
        t=261.0 info above_target: Ease off: you are at 150 W, the target is 82–112 W.
    "#]]
    .assert_eq(&ride.all_lines());
    let safety: Vec<_> = ride
        .cues()
        .into_iter()
        .filter(|c| c.severity == Severity::Safety)
        .collect();
    // Crossing at t = 196 s (HR 176): reduce 5 s later, end the interval 10 s later.
    assert_eq!(safety[0].code, CueCode::HrAboveCap);
    assert!(matches!(
        safety[0].modification,
        Some(Modification::ReduceTarget(_))
    ));
    assert!((safety[0].t_s - 201.0).abs() < 0.01, "{}", safety[0].t_s);
    assert_eq!(safety[1].modification, Some(Modification::EndStep));
    assert!((safety[1].t_s - 206.0).abs() < 0.01, "{}", safety[1].t_s);
}

#[test]
fn heart_rate_dropout_holds_intensity_until_it_returns() {
    let profile = shared_profile();
    let plan = shared_plan("vo2-intervals-45.zwo");
    let mut ride = Ride::new(&profile, Some(&plan));
    // The strap goes quiet 20 s before the first hard rep and comes back 30 s into it.
    ride.ride(580, |_| Some(heart_rate(120)), |_| Some(170));
    ride.ride(50, |_| None, |_| Some(170));
    ride.ride(30, |_| Some(heart_rate(130)), |_| Some(270));
    expect![[r#"
        t=0.0 target 108 → 180 W [Warm-up]
        t=0.0 info step_start: Warm-up: 10:00 at 108 → 180 W.
        t=25.0 info above_target: Ease off: you are at 170 W, the target is 108 → 180 W.
        t=582.0 target 178 W [Warm-up] (held: HrUntrusted(Stale))
        t=584.0 warn hr_signal_lost: Heart-rate signal lost: holding intensity until it returns.
        t=584.0 target 178 W [Warm-up] (held: HrUntrusted(Lost))
        t=600.0 target 178 W [Work 1 of 5] (held: HrUntrusted(Lost))
        t=600.0 info step_start: Work 1 of 5: 3:00 at 276 W. Holding 178 W while the heart-rate signal is lost.
        t=630.0 info hr_signal_back: Heart-rate signal back: 130 bpm.
        t=630.0 target 276 W [Work 1 of 5]
    "#]]
    .assert_eq(&ride.all_lines());
    let targets = ride.targets();
    let during_gap: Vec<_> = ride
        .outputs
        .iter()
        .filter(|(t, _)| (1_000_000 + 583_000..1_000_000 + 630_000).contains(t))
        .filter_map(|(_, o)| match o {
            Output::Target(t) => Some(t.target),
            _ => None,
        })
        .collect();
    assert!(
        during_gap
            .iter()
            .all(|t| !matches!(t, EffectiveTarget::Power { high_w, .. } if *high_w > 180)),
        "no hard target while HR is lost: {during_gap:?}"
    );
    assert_eq!(
        targets.last(),
        Some(&EffectiveTarget::Power {
            low_w: 276,
            high_w: 276
        })
    );
}

#[test]
fn contact_off_is_said_once() {
    let profile = shared_profile();
    let mut ride = Ride::new(&profile, None);
    ride.ride(30, |_| Some(heart_rate(120)), |_| Some(150));
    ride.ride(40, |_| Some(heart_rate_no_contact()), |_| Some(150));
    ride.ride(10, |_| Some(heart_rate(121)), |_| Some(150));
    expect![[r#"
        t=30.0 warn hr_signal_lost: Heart-rate strap has no skin contact: holding intensity until it reads again. Moisten the strap.
        t=70.0 info hr_signal_back: Heart-rate signal back: 121 bpm.
    "#]]
    .assert_eq(&ride.cue_lines());
    let lost = ride
        .cues()
        .iter()
        .filter(|c| c.code == CueCode::HrSignalLost)
        .count();
    assert_eq!(lost, 1);
}

#[test]
fn a_loss_the_athlete_heard_is_answered_however_soon_the_last_answer_was() {
    let profile = shared_profile();
    let mut ride = Ride::new(&profile, None);
    ride.ride(30, |_| Some(heart_rate(120)), |_| Some(150));
    // A 20 s gap: lost, then back at t = 50.
    ride.ride(20, |_| None, |_| Some(150));
    ride.ride(5, |_| Some(heart_rate(121)), |_| Some(150));
    // A second gap starting 25 s after the first loss was spoken (the limit lets it
    // speak), ending 13 s after the first signal-back (the limit alone would drop it).
    ride.ride(8, |_| None, |_| Some(150));
    ride.ride(5, |_| Some(heart_rate(122)), |_| Some(150));
    let said: Vec<(CueCode, f64)> = ride
        .cues()
        .iter()
        .filter(|c| matches!(c.code, CueCode::HrSignalLost | CueCode::HrSignalBack))
        .map(|c| (c.code, c.t_s))
        .collect();
    let codes: Vec<CueCode> = said.iter().map(|(code, _)| *code).collect();
    assert_eq!(
        codes,
        [
            CueCode::HrSignalLost,
            CueCode::HrSignalBack,
            CueCode::HrSignalLost,
            CueCode::HrSignalBack
        ],
        "{said:?}"
    );
    assert!(said[3].1 - said[1].1 < 15.0, "{said:?}");
}

#[test]
fn a_loss_kept_quiet_by_the_limit_ends_quietly() {
    let profile = shared_profile();
    let mut ride = Ride::new(&profile, None);
    ride.ride(30, |_| Some(heart_rate(120)), |_| Some(150));
    ride.ride(8, |_| None, |_| Some(150));
    ride.ride(3, |_| Some(heart_rate(121)), |_| Some(150));
    // Lost again 11 s after the first loss was spoken: the limit drops it, and the
    // signal's return is not announced either.
    ride.ride(8, |_| None, |_| Some(150));
    ride.ride(5, |_| Some(heart_rate(122)), |_| Some(150));
    let codes: Vec<CueCode> = ride
        .cues()
        .iter()
        .map(|c| c.code)
        .filter(|code| matches!(code, CueCode::HrSignalLost | CueCode::HrSignalBack))
        .collect();
    assert_eq!(codes, [CueCode::HrSignalLost, CueCode::HrSignalBack]);
}

#[test]
fn artifact_spikes_are_ignored() {
    let profile = shared_profile();
    let mut ride = Ride::new(&profile, None);
    // 130 bpm with single-sample spikes to 185 at 20 s and 60 s.
    ride.ride(
        90,
        |s| Some(heart_rate(if s == 20 || s == 60 { 185 } else { 130 })),
        |_| Some(180),
    );
    ride.command(Command::End);
    expect![[r#"
        t=21.0 warn artifact_suspected: Heart rate jumped and fell back: ignoring the spike. Holding intensity for a few seconds.
        t=61.0 warn artifact_suspected: Heart rate jumped and fell back: ignoring the spike. Holding intensity for a few seconds.
        t=90.0 info session_end: Session over after 1:30. Well done.
        t=90.0 summary {"session":"s-1","duration_s":90.0,"time_in_hr_zone_s":[0,88,0,0,0],"time_in_power_zone_s":[0,90,0,0,0,0,0],"avg_hr_bpm":130.0,"max_hr_bpm":130,"avg_power_w":180.0,"np_w":180.0,"intensity_factor":0.75,"tss":1.40625,"hr_tss":1.0236292720514182,"trimp":1.9408537265347023,"wbal_min_j":18000.0,"decoupling_pct":null,"cue_counts":{"artifact_suspected":2,"session_end":1}}
    "#]]
    .assert_eq(&ride.cue_lines());
    assert!(
        ride.cues().iter().all(|c| c.code != CueCode::HrAboveCap),
        "a spike is not a cap crossing"
    );
    let Some((_, Output::Summary(summary))) = ride.outputs.last() else {
        panic!("summary last")
    };
    assert_eq!(
        summary.max_hr_bpm,
        Some(130),
        "spikes stay out of the summary"
    );
}

#[test]
fn w_prime_depletion_above_cp() {
    let profile = shared_profile(); // CP 250 W, W′ 18 kJ
    let plan = plan(
        r#"{"name":"Over CP","sport":"bike","steps":[
          {"kind":"step","intent":"work","duration_s":300,"target":{"kind":"power_w","low_w":350,"high_w":360}},
          {"kind":"step","intent":"recovery","duration_s":300,"target":{"kind":"power_w","low_w":100,"high_w":140}}]}"#,
    );
    let mut ride = Ride::new(&profile, Some(&plan));
    // 400 W is 150 W over CP: W′ drains 150 J/s, 10 % (1.8 kJ) left after 108 s, empty at 120 s.
    ride.ride(200, |_| Some(heart_rate(160)), |_| Some(400));
    expect![[r#"
        t=0.0 info step_start: Work: 5:00 at 350–360 W.
        t=25.0 info above_target: Ease off: you are at 400 W, the target is 350–360 W.
        t=109.0 warn wbal_low: W′ balance down to 9 % (1.6 kJ): ease off to recover.
        t=120.0 safety wbal_empty: W′ is empty: this interval ends now. Recover. {"kind":"end_step"}
        t=120.0 info step_start: Recovery: 5:00 at 100–140 W.
        t=145.0 info above_target: Ease off: you are at 400 W, the target is 100–140 W.
    "#]]
    .assert_eq(&ride.cue_lines());
    let low = ride
        .cues()
        .into_iter()
        .find(|c| c.code == CueCode::WbalLow)
        .expect("wbal_low");
    assert!((low.t_s - 109.0).abs() <= 1.0, "{}", low.t_s);
    let empty = ride
        .cues()
        .into_iter()
        .find(|c| c.code == CueCode::WbalEmpty)
        .expect("wbal_empty");
    assert_eq!(empty.modification, Some(Modification::EndStep));
    assert!((empty.t_s - 120.0).abs() <= 1.0, "{}", empty.t_s);
}

fn compress_with(strategy: CompressStrategy) -> Ride {
    let profile = shared_profile();
    let plan = shared_plan("sweet-spot-60.zwo");
    let config = paceline_coach::CoachConfig {
        compress_strategy: strategy,
        ..Default::default()
    };
    let mut ride = Ride::with_config(&profile, Some(&plan), config);
    ride.ride(120, |_| Some(heart_rate(120)), |_| Some(150));
    ride.command(Command::TimeLeft(TimeLeft { minutes: 35 }));
    ride
}

fn workout_lines(ride: &Ride) -> String {
    ride.coach
        .workout()
        .steps
        .iter()
        .map(|s| format!("{} {} s at {}\n", s.label(), s.duration_s, s.target))
        .collect()
}

#[test]
fn sixty_minute_plan_in_thirty_five_minutes() {
    for (strategy, expected) in [
        (
            CompressStrategy::KeepIntensity,
            expect![[r#"
            35 minutes left: the rest of the plan is compressed from 58:00 to 35:00 (every kept interval at full length; training load kept: 39 of 61 TSS).
            Warm-up 300 s at 120 → 180 W
            Work 720 s at 216 W
            Recovery 120 s at 132 W
            Work 720 s at 216 W
            Recovery 120 s at 132 W
            Work 60 s at 216 W
            Cool-down 180 s at 156 → 108 W
        "#]],
        ),
        (
            CompressStrategy::KeepVolume,
            expect![[r#"
            35 minutes left: the rest of the plan is compressed from 58:00 to 35:00 (every interval kept, shorter; training load kept: 39 of 61 TSS).
            Warm-up 300 s at 120 → 180 W
            Work 500 s at 216 W
            Recovery 120 s at 132 W
            Work 500 s at 216 W
            Recovery 120 s at 132 W
            Work 500 s at 216 W
            Cool-down 180 s at 156 → 108 W
        "#]],
        ),
        (
            CompressStrategy::Hybrid,
            expect![[r#"
            35 minutes left: the rest of the plan is compressed from 58:00 to 35:00 (hardest parts kept first; training load kept: 39 of 61 TSS).
            Warm-up 300 s at 120 → 180 W
            Work 720 s at 216 W
            Recovery 120 s at 132 W
            Work 720 s at 216 W
            Recovery 120 s at 132 W
            Work 60 s at 216 W
            Cool-down 180 s at 156 → 108 W
        "#]],
        ),
    ] {
        let ride = compress_with(strategy);
        let cue = ride
            .cues()
            .into_iter()
            .find(|c| c.code == CueCode::TimeBudgetCompressed)
            .expect("cue");
        expected.assert_eq(&format!("{}\n{}", cue.text, workout_lines(&ride)));
        assert_eq!(
            cue.modification,
            Some(Modification::CompressRemaining(
                paceline_schemas::cue::CompressRemaining {
                    strategy,
                    total_s: u32::try_from(ride.coach.status().remaining_plan_s).unwrap(),
                }
            ))
        );
        assert!(ride.coach.status().remaining_plan_s <= 35 * 60);
    }
}

#[test]
fn coach_override_and_its_expiry() {
    let profile = shared_profile();
    let plan = plan(STEADY_20);
    let mut ride = Ride::new(&profile, Some(&plan));
    ride.ride(200, |_| Some(heart_rate(140)), |_| Some(216));
    ride.command(Command::OverrideTarget(OverrideTarget {
        target: Target::PowerW(PowerRange {
            low_w: 180,
            high_w: 190,
        }),
        duration_s: Some(60),
    }));
    ride.ride(90, |_| Some(heart_rate(138)), |_| Some(185));
    // An override above the profile's limit (150 % FTP = 360 W) is clamped.
    ride.command(Command::OverrideTarget(OverrideTarget {
        target: Target::PowerW(PowerRange {
            low_w: 500,
            high_w: 600,
        }),
        duration_s: Some(30),
    }));
    expect![[r#"
        t=0.0 target 120–144 W [Warm-up]
        t=0.0 info step_start: Warm-up: 2:00 at 120–144 W.
        t=25.0 info above_target: Ease off: you are at 216 W, the target is 120–144 W.
        t=120.0 target 211–221 W [Work]
        t=120.0 info step_start: Work: 20:00 at 211–221 W.
        t=200.0 target 180–190 W [Work]
        t=200.0 info coach_override: Your coach set a new target: 180–190 W for 1:00.
        t=260.0 target 211–221 W [Work]
        t=271.0 info below_target: Bring it up a little: you are at 185 W, the target is 211–221 W.
        t=290.0 target 360 W [Work]
        t=290.0 info coach_override: Your coach set a new target: 360 W for 30 s.
    "#]]
    .assert_eq(&ride.all_lines());
    assert_eq!(
        ride.targets().last(),
        Some(&EffectiveTarget::Power {
            low_w: 360,
            high_w: 360
        })
    );
}

#[test]
fn pause_stops_the_plan_clock() {
    let profile = shared_profile();
    let plan = plan(STEADY_20);
    let mut ride = Ride::new(&profile, Some(&plan));
    ride.ride(100, |_| Some(heart_rate(120)), |_| Some(130));
    ride.command(Command::Pause);
    ride.ride(300, |_| Some(heart_rate(100)), |_| None);
    ride.command(Command::Resume);
    ride.ride(30, |_| Some(heart_rate(120)), |_| Some(130));
    expect![[r#"
        t=0.0 target 120–144 W [Warm-up]
        t=0.0 info step_start: Warm-up: 2:00 at 120–144 W.
        t=100.0 info coach_override: Paused: the plan waits for you. {"kind":"pause"}
        t=400.0 info coach_override: Resumed: Warm-up, 20 s left at 120–144 W.
        t=420.0 target 211–221 W [Work]
        t=420.0 info step_start: Work: 20:00 at 211–221 W.
    "#]]
    .assert_eq(&ride.all_lines());
    let step = ride.coach.status().step.expect("a step");
    // 100 s + 20 s of warm-up, then 9.75 s of work as of the last sample (the pause does not count).
    assert_eq!((step.label.as_str(), step.elapsed_s), ("Work", 9));
}

#[test]
fn cadence_outside_the_step_range() {
    let profile = shared_profile();
    let plan = plan(
        r#"{"name":"Spin","sport":"bike","steps":[
          {"kind":"step","intent":"work","duration_s":600,"target":{"kind":"power_w","low_w":180,"high_w":200},
           "cadence_rpm":{"low":85,"high":95}}]}"#,
    );
    let mut ride = Ride::new(&profile, Some(&plan));
    // On power, but grinding at 70 rpm for a minute, then spinning at 115 rpm.
    for cadence in [70.0, 115.0] {
        for _ in 0..60 {
            ride.sample(heart_rate(140));
            for _ in 0..4 {
                ride.sample(power_at_cadence(190, cadence));
                ride.advance_to(ride.now_ms + 250);
            }
        }
    }
    expect![[r#"
        t=0.0 info step_start: Work: 10:00 at 180–200 W.
        t=25.0 info below_target: Cadence 70 rpm: spin up to 85–95 rpm.
        t=71.0 info above_target: Cadence 115 rpm: settle it to 85–95 rpm.
    "#]]
    .assert_eq(&ride.cue_lines());
    let codes: Vec<CueCode> = ride.cues().iter().map(|c| c.code).collect();
    assert_eq!(
        codes,
        [
            CueCode::StepStart,
            CueCode::BelowTarget,
            CueCode::AboveTarget
        ]
    );
}
