//! Hand-built notifications for every flag field of every decoder, checked against the
//! values the Bluetooth SIG layouts give; damaged payloads are typed errors.

use paceline_edge::gatt::{self, GattError};
use paceline_edge::revolutions::Revolutions;
use paceline_schemas::SampleValue;
use paceline_schemas::sample::{
    BalanceReference, Contact, CyclingPower, HeartRate, IndoorBike, RunningSpeedCadence,
    SpeedCadence, TorqueSource, Treadmill,
};

fn bytes(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text.replace(' ', "")).expect("test vector is hex")
}

fn hr(bpm: u16, contact: Contact, energy_kj: Option<u16>, rr_1024: &[u16]) -> HeartRate {
    HeartRate {
        bpm,
        contact,
        energy_kj,
        rr_1024: rr_1024.to_vec(),
    }
}

#[test]
fn heart_rate_every_flag() {
    use Contact::*;
    let table: &[(&str, HeartRate)] = &[
        ("00 48", hr(72, Unsupported, None, &[])),
        ("01 2c 01", hr(300, Unsupported, None, &[])),
        // Bits 1–2: 0b01 = contact detected but the feature not supported.
        ("02 48", hr(72, Unsupported, None, &[])),
        ("04 48", hr(72, Off, None, &[])),
        ("06 48", hr(72, On, None, &[])),
        ("08 48 34 12", hr(72, Unsupported, Some(0x1234), &[])),
        ("10 48 00 04", hr(72, Unsupported, None, &[1024])),
        (
            "10 48 00 04 80 03 ff ff",
            hr(72, Unsupported, None, &[1024, 896, 65535]),
        ),
        ("1f 2c 01 e8 03 00 04", hr(300, On, Some(1000), &[1024])),
        // Reserved bits 5–7 announce nothing.
        ("e0 48", hr(72, Unsupported, None, &[])),
    ];
    for (hex_text, expected) in table {
        assert_eq!(
            gatt::decode_heart_rate(&bytes(hex_text)).as_ref(),
            Ok(expected),
            "{hex_text}"
        );
    }
    let thirty_two = format!("10 48 {}", "00 04 ".repeat(32));
    assert_eq!(
        gatt::decode_heart_rate(&bytes(&thirty_two))
            .unwrap()
            .rr_1024
            .len(),
        32
    );
}

#[test]
fn heart_rate_damage() {
    let uuid = gatt::HEART_RATE_MEASUREMENT;
    let table: &[(&str, GattError)] = &[
        (
            "",
            GattError::TooShort {
                uuid,
                field: "flags",
                len: 0,
            },
        ),
        (
            "00",
            GattError::TooShort {
                uuid,
                field: "heart rate (uint8)",
                len: 1,
            },
        ),
        (
            "01 48",
            GattError::TooShort {
                uuid,
                field: "heart rate (uint16)",
                len: 2,
            },
        ),
        (
            "08 48 34",
            GattError::TooShort {
                uuid,
                field: "energy expended",
                len: 3,
            },
        ),
        (
            "10 48",
            GattError::TooShort {
                uuid,
                field: "RR interval",
                len: 2,
            },
        ),
        ("10 48 00", GattError::OddRrLength { len: 1 }),
        ("00 48 00", GattError::TrailingBytes { uuid, extra: 1 }),
    ];
    for (hex_text, expected) in table {
        assert_eq!(
            gatt::decode_heart_rate(&bytes(hex_text)).as_ref(),
            Err(expected),
            "{hex_text}"
        );
    }
    let too_many = format!("10 48 {}", "00 04 ".repeat(33));
    assert_eq!(
        gatt::decode_heart_rate(&bytes(&too_many)),
        Err(GattError::TooManyRr { count: 33 })
    );
}

fn power(power_w: i16) -> CyclingPower {
    CyclingPower {
        power_w,
        ..CyclingPower::default()
    }
}

/// Every field of 0x2A63 at once (flags 0x1fff).
const CP_ALL: &str = "ff 1f fa 00 65 40 06 78 56 34 12 00 08 0a 00 00 04 2c 01 9c ff 40 00 e0 ff b4 e0 10 0c 00 c0 00 e8 03";

#[test]
fn cycling_power_every_flag() {
    let table: Vec<(&str, CyclingPower)> = vec![
        ("00 00 fa 00", power(250)),
        ("00 00 ff ff", power(-1)),
        (
            "01 00 fa 00 64",
            CyclingPower {
                balance_pct: Some(50.0),
                ..power(250)
            },
        ),
        (
            "03 00 fa 00 65",
            CyclingPower {
                balance_pct: Some(50.5),
                balance_reference: BalanceReference::Left,
                ..power(250)
            },
        ),
        // Bit 1 alone (reference without balance) still says which pedal.
        (
            "02 00 fa 00",
            CyclingPower {
                balance_reference: BalanceReference::Left,
                ..power(250)
            },
        ),
        (
            "04 00 fa 00 40 06",
            CyclingPower {
                accumulated_torque_nm: Some(50.0),
                ..power(250)
            },
        ),
        (
            "0c 00 fa 00 40 06",
            CyclingPower {
                accumulated_torque_nm: Some(50.0),
                torque_source: TorqueSource::Crank,
                ..power(250)
            },
        ),
        (
            "10 00 fa 00 78 56 34 12 00 08",
            CyclingPower {
                wheel_revs: Some(0x1234_5678),
                wheel_event_2048: Some(2048),
                ..power(250)
            },
        ),
        (
            "20 00 fa 00 0a 00 00 04",
            CyclingPower {
                crank_revs: Some(10),
                crank_event_1024: Some(1024),
                ..power(250)
            },
        ),
        (
            "40 00 fa 00 2c 01 9c ff",
            CyclingPower {
                max_force_n: Some(300),
                min_force_n: Some(-100),
                ..power(250)
            },
        ),
        (
            "80 00 fa 00 40 00 e0 ff",
            CyclingPower {
                max_torque_nm: Some(2.0),
                min_torque_nm: Some(-1.0),
                ..power(250)
            },
        ),
        // Two 12-bit angles in three bytes: max 180 (0x0b4), min 270 (0x10e).
        (
            "00 01 fa 00 b4 e0 10",
            CyclingPower {
                max_angle_deg: Some(180),
                min_angle_deg: Some(270),
                ..power(250)
            },
        ),
        (
            "00 02 fa 00 0c 00",
            CyclingPower {
                top_dead_spot_deg: Some(12),
                ..power(250)
            },
        ),
        (
            "00 04 fa 00 c0 00",
            CyclingPower {
                bottom_dead_spot_deg: Some(192),
                ..power(250)
            },
        ),
        (
            "00 08 fa 00 e8 03",
            CyclingPower {
                accumulated_energy_kj: Some(1000),
                ..power(250)
            },
        ),
        (
            "00 10 fa 00",
            CyclingPower {
                offset_compensation: true,
                ..power(250)
            },
        ),
        // Reserved bits 13–15 announce nothing.
        ("00 e0 fa 00", power(250)),
        (
            CP_ALL,
            CyclingPower {
                power_w: 250,
                balance_pct: Some(50.5),
                balance_reference: BalanceReference::Left,
                accumulated_torque_nm: Some(50.0),
                torque_source: TorqueSource::Crank,
                wheel_revs: Some(0x1234_5678),
                wheel_event_2048: Some(2048),
                crank_revs: Some(10),
                crank_event_1024: Some(1024),
                max_force_n: Some(300),
                min_force_n: Some(-100),
                max_torque_nm: Some(2.0),
                min_torque_nm: Some(-1.0),
                max_angle_deg: Some(180),
                min_angle_deg: Some(270),
                top_dead_spot_deg: Some(12),
                bottom_dead_spot_deg: Some(192),
                accumulated_energy_kj: Some(1000),
                offset_compensation: true,
                cadence_rpm: None,
                speed_mps: None,
            },
        ),
    ];
    for (hex_text, expected) in &table {
        assert_eq!(
            gatt::decode_cycling_power(&bytes(hex_text)).as_ref(),
            Ok(expected),
            "{hex_text}"
        );
    }
}

#[test]
fn every_strict_prefix_of_a_full_payload_is_refused() {
    let full: &[(u16, &str)] = &[
        (gatt::HEART_RATE_MEASUREMENT, "1f 2c 01 e8 03 00 04"),
        (gatt::CYCLING_POWER_MEASUREMENT, CP_ALL),
        (gatt::RSC_MEASUREMENT, "07 00 02 b4 8c 00 e8 03 00 00"),
        (gatt::CSC_MEASUREMENT, "03 78 56 34 12 00 04 0a 00 00 04"),
        (
            gatt::INDOOR_BIKE_DATA,
            "fe 1f c4 09 c4 09 b4 00 b4 00 10 27 00 f6 ff fa 00 c8 00 e8 03 2c 01 05 8c 4b 3c 00 78 00",
        ),
        (
            gatt::TREADMILL_DATA,
            "fe 1f e8 03 e8 03 88 13 00 0f 00 f1 ff 64 00 32 00 0a 0a e8 03 2c 01 05 8c 4b 3c 00 78 00 64 00 fa 00",
        ),
    ];
    for (uuid, hex_text) in full {
        let payload = bytes(hex_text);
        assert!(
            gatt::decode(*uuid, &payload).is_ok(),
            "0x{uuid:04x} {hex_text}"
        );
        for cut in 0..payload.len() {
            assert!(
                matches!(
                    gatt::decode(*uuid, &payload[..cut]),
                    Err(GattError::TooShort { .. } | GattError::OddRrLength { .. })
                ),
                "0x{uuid:04x}: prefix of {cut} bytes"
            );
        }
        let mut longer = payload.clone();
        longer.push(0);
        // A heart-rate RR list takes the rest of the payload: one more byte makes it odd.
        assert!(
            gatt::decode(*uuid, &longer).is_err(),
            "0x{uuid:04x} with a trailing byte"
        );
    }
}

fn rsc(speed_mps: f32, cadence_spm: u16) -> RunningSpeedCadence {
    RunningSpeedCadence {
        speed_mps,
        cadence_spm,
        ..RunningSpeedCadence::default()
    }
}

#[test]
fn rsc_every_flag() {
    let table: Vec<(&str, RunningSpeedCadence)> = vec![
        ("00 00 02 b4", rsc(2.0, 180)),
        (
            "04 80 03 a0",
            RunningSpeedCadence {
                running: true,
                ..rsc(3.5, 160)
            },
        ),
        (
            "01 00 02 b4 8c 00",
            RunningSpeedCadence {
                stride_m: Some(1.4),
                ..rsc(2.0, 180)
            },
        ),
        (
            "02 00 02 b4 e8 03 00 00",
            RunningSpeedCadence {
                distance_m: Some(100.0),
                ..rsc(2.0, 180)
            },
        ),
        (
            "07 00 02 b4 8c 00 e8 03 00 00",
            RunningSpeedCadence {
                stride_m: Some(1.4),
                distance_m: Some(100.0),
                running: true,
                ..rsc(2.0, 180)
            },
        ),
    ];
    for (hex_text, expected) in &table {
        assert_eq!(
            gatt::decode_rsc(&bytes(hex_text)).as_ref(),
            Ok(expected),
            "{hex_text}"
        );
    }
}

#[test]
fn csc_every_flag() {
    let wheel = SpeedCadence {
        wheel_revs: Some(0x1234_5678),
        wheel_event_1024: Some(1024),
        ..SpeedCadence::default()
    };
    let crank = SpeedCadence {
        crank_revs: Some(10),
        crank_event_1024: Some(1024),
        ..SpeedCadence::default()
    };
    let table: Vec<(&str, SpeedCadence)> = vec![
        ("00", SpeedCadence::default()),
        ("01 78 56 34 12 00 04", wheel.clone()),
        ("02 0a 00 00 04", crank.clone()),
        (
            "03 78 56 34 12 00 04 0a 00 00 04",
            SpeedCadence {
                crank_revs: crank.crank_revs,
                crank_event_1024: crank.crank_event_1024,
                ..wheel
            },
        ),
    ];
    for (hex_text, expected) in &table {
        assert_eq!(
            gatt::decode_csc(&bytes(hex_text)).as_ref(),
            Ok(expected),
            "{hex_text}"
        );
    }
}

#[test]
fn indoor_bike_every_flag() {
    let none = IndoorBike::default();
    let table: Vec<(&str, IndoorBike)> = vec![
        // Bit 0 ("more data") clear: the instantaneous speed is present.
        (
            "00 00 c4 09",
            IndoorBike {
                speed_kmh: Some(25.0),
                ..none.clone()
            },
        ),
        ("01 00", none.clone()),
        (
            "03 00 c4 09",
            IndoorBike {
                avg_speed_kmh: Some(25.0),
                ..none.clone()
            },
        ),
        (
            "05 00 b5 00",
            IndoorBike {
                cadence_rpm: Some(90.5),
                ..none.clone()
            },
        ),
        (
            "09 00 b4 00",
            IndoorBike {
                avg_cadence_rpm: Some(90.0),
                ..none.clone()
            },
        ),
        (
            "11 00 10 27 01",
            IndoorBike {
                total_distance_m: Some(75_536),
                ..none.clone()
            },
        ),
        (
            "21 00 f6 ff",
            IndoorBike {
                resistance_level: Some(-10),
                ..none.clone()
            },
        ),
        (
            "41 00 fa 00",
            IndoorBike {
                power_w: Some(250),
                ..none.clone()
            },
        ),
        (
            "81 00 c8 00",
            IndoorBike {
                avg_power_w: Some(200),
                ..none.clone()
            },
        ),
        (
            "01 01 e8 03 2c 01 05",
            IndoorBike {
                total_energy_kcal: Some(1000),
                energy_per_hour_kcal: Some(300),
                energy_per_minute_kcal: Some(5),
                ..none.clone()
            },
        ),
        (
            "01 02 8c",
            IndoorBike {
                heart_rate: Some(140),
                ..none.clone()
            },
        ),
        (
            "01 04 4b",
            IndoorBike {
                metabolic_equivalent: Some(7.5),
                ..none.clone()
            },
        ),
        (
            "01 08 3c 00",
            IndoorBike {
                elapsed_s: Some(60),
                ..none.clone()
            },
        ),
        (
            "01 10 78 00",
            IndoorBike {
                remaining_s: Some(120),
                ..none.clone()
            },
        ),
        (
            "44 00 c4 09 b4 00 fa 00",
            IndoorBike {
                speed_kmh: Some(25.0),
                cadence_rpm: Some(90.0),
                power_w: Some(250),
                ..none.clone()
            },
        ),
    ];
    for (hex_text, expected) in &table {
        assert_eq!(
            gatt::decode_indoor_bike(&bytes(hex_text)).as_ref(),
            Ok(expected),
            "{hex_text}"
        );
    }
    assert_eq!(
        gatt::decode_indoor_bike(&bytes("01 20")),
        Err(GattError::ReservedFlags {
            uuid: gatt::INDOOR_BIKE_DATA,
            bits: 0x2000
        })
    );
}

#[test]
fn treadmill_every_flag() {
    let none = Treadmill::default();
    let table: Vec<(&str, Treadmill)> = vec![
        (
            "00 00 e8 03",
            Treadmill {
                speed_kmh: Some(10.0),
                ..none.clone()
            },
        ),
        ("01 00", none.clone()),
        (
            "03 00 e8 03",
            Treadmill {
                avg_speed_kmh: Some(10.0),
                ..none.clone()
            },
        ),
        (
            "05 00 88 13 00",
            Treadmill {
                total_distance_m: Some(5000),
                ..none.clone()
            },
        ),
        (
            "09 00 0f 00 f1 ff",
            Treadmill {
                inclination_pct: Some(1.5),
                ramp_angle_deg: Some(-1.5),
                ..none.clone()
            },
        ),
        (
            "11 00 64 00 32 00",
            Treadmill {
                positive_elevation_gain_m: Some(10.0),
                negative_elevation_gain_m: Some(5.0),
                ..none.clone()
            },
        ),
        (
            "21 00 0f",
            Treadmill {
                pace_km_per_min: Some(1.5),
                ..none.clone()
            },
        ),
        (
            "41 00 0f",
            Treadmill {
                avg_pace_km_per_min: Some(1.5),
                ..none.clone()
            },
        ),
        (
            "81 00 e8 03 2c 01 05",
            Treadmill {
                total_energy_kcal: Some(1000),
                energy_per_hour_kcal: Some(300),
                energy_per_minute_kcal: Some(5),
                ..none.clone()
            },
        ),
        (
            "01 01 8c",
            Treadmill {
                heart_rate: Some(140),
                ..none.clone()
            },
        ),
        (
            "01 02 4b",
            Treadmill {
                metabolic_equivalent: Some(7.5),
                ..none.clone()
            },
        ),
        (
            "01 04 3c 00",
            Treadmill {
                elapsed_s: Some(60),
                ..none.clone()
            },
        ),
        (
            "01 08 78 00",
            Treadmill {
                remaining_s: Some(120),
                ..none.clone()
            },
        ),
        (
            "01 10 64 00 fa 00",
            Treadmill {
                force_on_belt_n: Some(100),
                power_output_w: Some(250),
                ..none.clone()
            },
        ),
    ];
    for (hex_text, expected) in &table {
        assert_eq!(
            gatt::decode_treadmill(&bytes(hex_text)).as_ref(),
            Ok(expected),
            "{hex_text}"
        );
    }
    assert_eq!(
        gatt::decode_treadmill(&bytes("01 80")),
        Err(GattError::ReservedFlags {
            uuid: gatt::TREADMILL_DATA,
            bits: 0x8000
        })
    );
}

#[test]
fn unknown_characteristic_is_an_error() {
    assert_eq!(
        gatt::decode(0x2a19, &[80]),
        Err(GattError::UnknownCharacteristic { uuid: 0x2a19 })
    );
    assert_eq!(
        gatt::parse_characteristic("2A37"),
        Ok(gatt::HEART_RATE_MEASUREMENT)
    );
    assert_eq!(
        gatt::parse_characteristic("0x2ad2"),
        Ok(gatt::INDOOR_BIKE_DATA)
    );
    assert_eq!(
        gatt::parse_characteristic("power"),
        Ok(gatt::CYCLING_POWER_MEASUREMENT)
    );
    assert!(gatt::parse_characteristic("zz").is_err());
}

fn crank(revs: u16, event_1024: u16) -> SampleValue {
    SampleValue::SpeedCadence(SpeedCadence {
        crank_revs: Some(revs),
        crank_event_1024: Some(event_1024),
        ..SpeedCadence::default()
    })
}

fn cadence(value: &SampleValue) -> Option<f32> {
    match value {
        SampleValue::SpeedCadence(csc) => csc.cadence_rpm,
        SampleValue::CyclingPower(power) => power.cadence_rpm,
        _ => None,
    }
}

#[test]
fn cadence_across_16_bit_rollover() {
    let mut derivation = Revolutions::default();
    let mut first = crank(65_535, 65_000);
    derivation.fill(0, &mut first);
    assert_eq!(cadence(&first), None, "one reading gives no rate");
    // Two revolutions in 1,536 ticks (1.5 s), both counters wrapping: 80 rpm.
    let mut second = crank(1, 64_000u16.wrapping_add(2_536));
    derivation.fill(1_500, &mut second);
    assert_eq!(cadence(&second), Some(80.0));
    // The same event again: no new revolution, the rate holds...
    let mut repeat = second.clone();
    derivation.fill(2_500, &mut repeat);
    assert_eq!(cadence(&repeat), Some(80.0));
    // ...until no event has come for 3 s: the crank has stopped.
    derivation.fill(4_600, &mut repeat);
    assert_eq!(cadence(&repeat), Some(0.0));
}

#[test]
fn speed_across_32_bit_rollover() {
    let wheel = |revs: u32, event_2048: u16| {
        SampleValue::CyclingPower(CyclingPower {
            wheel_revs: Some(revs),
            wheel_event_2048: Some(event_2048),
            ..CyclingPower::default()
        })
    };
    let mut derivation = Revolutions::new(2.0);
    let mut first = wheel(u32::MAX - 1, 1_000);
    derivation.fill(0, &mut first);
    // Four revolutions of a 2 m wheel in 2,048 ticks of 1/2048 s: 8 m/s.
    let mut second = wheel(2, 3_048);
    derivation.fill(1_000, &mut second);
    let SampleValue::CyclingPower(power) = second else {
        unreachable!()
    };
    assert_eq!(power.speed_mps, Some(8.0));
    // A counter reset (implausible jump) gives no value rather than a wild one.
    let mut reset = wheel(1_000_000, 5_096);
    derivation.fill(2_000, &mut reset);
    let SampleValue::CyclingPower(power) = reset else {
        unreachable!()
    };
    assert_eq!(power.speed_mps, None);
}

#[test]
fn decode_command_prints_the_schema_json_and_fails_with_status_2() {
    let exe = env!("CARGO_BIN_EXE_paceline-edge");
    let run = |args: &[&str]| {
        std::process::Command::new(exe)
            .arg("decode")
            .args(args)
            .output()
            .expect("paceline-edge runs")
    };
    let ok = run(&["--char", "2a37", "--hex", "16 48 00 04"]);
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        r#"{"kind":"heart_rate","bpm":72,"contact":"on","energy_kj":null,"rr_1024":[1024]}"#
    );
    let csc = run(&["--char", "2a5b", "--hex", "02 0a 00 00 04"]);
    assert_eq!(
        String::from_utf8_lossy(&csc.stdout).trim(),
        r#"{"kind":"speed_cadence","wheel_revs":null,"wheel_event_1024":null,"crank_revs":10,"crank_event_1024":1024,"speed_mps":null,"cadence_rpm":null}"#
    );
    let bike = run(&["--char", "2ad2", "--hex", "44 00 c4 09 b4 00 fa 00"]);
    let json: serde_json::Value = serde_json::from_slice(&bike.stdout).expect("one JSON object");
    assert_eq!(json["kind"], "indoor_bike");
    assert_eq!(json["speed_kmh"], 25.0);
    assert_eq!(json["cadence_rpm"], 90.0);
    assert_eq!(json["power_w"], 250);
    assert!(json["heart_rate"].is_null());
    for bad in [
        &["--char", "2a37", "--hex", "01 48"][..],
        &["--char", "2a63", "--hex", "00"],
        &["--char", "2a37", "--hex", "xyz"],
        &["--char", "2a19", "--hex", "50"],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}
