//! 10,000 random payloads per decoder: a value or a typed error, never a panic; the
//! revolution derivation takes whatever decodes.

use paceline_edge::gatt;
use paceline_edge::revolutions::Revolutions;
use proptest::prelude::*;

fn hostile(uuid: u16) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let state = std::cell::RefCell::new((Revolutions::default(), 0u64));
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..80), |payload| {
            if let Ok(mut value) = gatt::decode(uuid, &payload) {
                let (derivation, now_ms) = &mut *state.borrow_mut();
                *now_ms += 250;
                derivation.fill(*now_ms, &mut value);
                // Whatever decodes also encodes (finite floats, bounded lists).
                prop_assert!(paceline_schemas::codec::to_json(&value).is_ok());
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("0x{uuid:04x}: {e}"));
}

#[test]
fn heart_rate_random_payloads() {
    hostile(gatt::HEART_RATE_MEASUREMENT);
}

#[test]
fn cycling_power_random_payloads() {
    hostile(gatt::CYCLING_POWER_MEASUREMENT);
}

#[test]
fn rsc_random_payloads() {
    hostile(gatt::RSC_MEASUREMENT);
}

#[test]
fn csc_random_payloads() {
    hostile(gatt::CSC_MEASUREMENT);
}

#[test]
fn indoor_bike_random_payloads() {
    hostile(gatt::INDOOR_BIKE_DATA);
}

#[test]
fn treadmill_random_payloads() {
    hostile(gatt::TREADMILL_DATA);
}
