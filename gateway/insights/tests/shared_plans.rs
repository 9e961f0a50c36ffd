//! Playlists over the shared example plans (`shared/data/plans/*.zwo`), imported as the
//! gateway imports them: every phase is filled within ±30 s at its tempo.

use paceline_formats::plan_import::import_zwo;
use paceline_insights::music::{Phase, PhaseKind, Track, phases_from_plan, playlist};

fn plan(name: &str) -> paceline_schemas::plan::WorkoutPlan {
    let path = format!(
        "{}/../../../shared/data/plans/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    import_zwo(name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// 64 tracks: eight tempos (two per phase range) × eight lengths of 3:00–5:06.
fn library() -> Vec<Track> {
    const TEMPOS: [f64; 8] = [104.0, 116.0, 138.0, 152.0, 164.0, 176.0, 84.0, 96.0];
    (0..64u32)
        .map(|n| Track {
            path: format!("/music/{n:02}.mp3"),
            title: format!("Track {n}"),
            artist: None,
            duration_s: 180 + (n / 8) * 18,
            bpm: Some(TEMPOS[(n % 8) as usize]),
        })
        .collect()
}

fn summary(phases: &[Phase]) -> Vec<(PhaseKind, u32)> {
    phases.iter().map(|p| (p.kind, p.duration_s)).collect()
}

#[test]
fn shared_plans_give_filled_playlists_in_range() {
    // sweet-spot-60: Warmup 600; 720 + 240 + 720 + 240 + 720 = 2,640 main; Cooldown 360.
    let sweet = phases_from_plan(&plan("sweet-spot-60.zwo"));
    assert_eq!(
        summary(&sweet),
        [
            (PhaseKind::WarmUp, 600),
            (PhaseKind::Main, 2640),
            (PhaseKind::CoolDown, 360)
        ]
    );
    // vo2-intervals-45: Warmup 600; 5 × (180 + 180) = 1,800 intervals; SteadyState 300
    // main; Cooldown 300.
    let vo2 = phases_from_plan(&plan("vo2-intervals-45.zwo"));
    assert_eq!(
        summary(&vo2),
        [
            (PhaseKind::WarmUp, 600),
            (PhaseKind::Intervals, 1800),
            (PhaseKind::Main, 300),
            (PhaseKind::CoolDown, 300)
        ]
    );
    let library = library();
    for phases in [sweet, vo2] {
        let list = playlist(&library, &phases);
        assert!(list.complete, "{list:?}");
        for phase in &list.phases {
            assert!(phase.total_s.abs_diff(phase.duration_s) <= 30, "{phase:?}");
            let range = phase.kind.bpm_range();
            for t in &phase.tracks {
                let bpm = t.bpm.unwrap();
                assert!((range.low..=range.high).contains(&bpm), "{phase:?}");
            }
            assert!(!phase.repeats_tracks);
        }
    }
}

#[test]
fn a_run_plan_carries_its_cadence() {
    let zwo = br#"<workout_file><name>Tempo run</name><sportType>run</sportType><workout>
        <Warmup Duration="600" PowerLow="0.6" PowerHigh="0.8"/>
        <SteadyState Duration="1200" Power="0.9" Cadence="172"/>
        <Cooldown Duration="300" PowerLow="0.7" PowerHigh="0.5"/>
        </workout></workout_file>"#;
    let plan = import_zwo("tempo.zwo", zwo).unwrap();
    let phases = phases_from_plan(&plan);
    assert_eq!(phases[1].kind, PhaseKind::Main);
    assert_eq!(phases[1].cadence_spm, Some(172.0));
    assert_eq!(phases[0].cadence_spm, None);
}
