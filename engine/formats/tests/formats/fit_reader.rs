//! Paceline's FIT reader against the fitparser walk it replaces: the same samples and
//! recordings, and the same errors, on every shared FIT file, on the shared files cut at each message, and on
//! thousands of mutated files whose CRCs are made right again (so that the bytes reach the
//! framing instead of stopping at the checksum), and on one-record files built for every
//! base type, size, byte order and invalid marker.

use paceline_formats::fit::records::{self as fit_records, FitReadError, crc16};
use paceline_formats::samples::{
    ActivityError, decode_fit, decode_fit_own_reader, decode_fit_reference,
};
use paceline_schemas::sample::Sample;

use crate::shared;

/// The shared FIT files, by name.
fn shared_fit_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(shared("fit"))
        .expect("shared fit folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "fit"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("fit readable"))
        })
        .collect()
}

/// How the two readers compared on one input.
#[derive(Debug, PartialEq, Eq)]
enum Agreement {
    /// Both gave these many samples, the same ones.
    Samples(usize),
    /// Both refused it the same way.
    Refused,
    /// The reference refused it and the own reader stopped, leaving the wording to it.
    Stopped,
    /// The own reader stopped where only fitparser can settle it; both gave the same.
    Deferred,
}

/// Checks that the readers agree on `bytes`, as samples and as recordings; panics with
/// `label` if not.
fn agree(label: &str, bytes: &[u8]) -> Agreement {
    let recording = paceline_formats::fit::read_recording(bytes);
    let recording_reference = paceline_formats::fit::read_recording_reference(
        bytes,
        &paceline_formats::Limits::default(),
    );
    assert_eq!(
        recording, recording_reference,
        "{label}: the recordings of the two readers differ"
    );
    let reference = decode_fit_reference(bytes);
    let own = decode_fit_own_reader(bytes);
    assert_eq!(
        decode_fit(bytes),
        reference,
        "{label}: decode_fit and the reference differ"
    );
    match (&reference, own) {
        (Ok(samples), Some(Ok(own))) => {
            assert_samples_eq(label, samples, &own);
            Agreement::Samples(samples.len())
        }
        (Err(e), Some(Err(own))) => {
            assert_eq!(e, &own, "{label}: different errors");
            Agreement::Refused
        }
        (Err(_), None) => Agreement::Stopped,
        (Ok(_), None) => Agreement::Deferred,
        (reference, Some(own)) => panic!(
            "{label}: the reference gave {:?}, the own reader {:?}",
            reference.as_ref().map(Vec::len),
            own.as_ref().map(Vec::len)
        ),
    }
}

fn assert_samples_eq(label: &str, reference: &[Sample], own: &[Sample]) {
    assert_eq!(reference.len(), own.len(), "{label}: sample counts differ");
    if let Some(i) = (0..reference.len()).find(|&i| reference[i] != own[i]) {
        panic!(
            "{label}: sample {i} differs: reference {:?}, own {:?}",
            reference[i], own[i]
        );
    }
}

/// The byte offset at which the own reader finds a file malformed, if it does.
fn own_error_offset(bytes: &[u8]) -> Option<usize> {
    match fit_records::read(bytes, |_| Ok::<(), ()>(())) {
        Err(FitReadError::Malformed { offset, .. }) => Some(offset),
        _ => None,
    }
}

#[test]
fn every_shared_fit_file_reads_the_same_both_ways() {
    let mut table = String::new();
    for (name, bytes) in shared_fit_files() {
        let outcome = match agree(&name, &bytes) {
            Agreement::Samples(n) => format!("{n} samples"),
            Agreement::Refused => "not an activity, both".to_owned(),
            Agreement::Stopped => {
                let Err(ActivityError::Fit { offset, .. }) = decode_fit_reference(&bytes) else {
                    panic!("{name}: a stop without a FIT error");
                };
                assert_eq!(
                    own_error_offset(&bytes),
                    Some(offset),
                    "{name}: the readers stop at different bytes"
                );
                format!("malformed at byte {offset}, both")
            }
            Agreement::Deferred => panic!("{name}: the own reader needed fitparser"),
        };
        table.push_str(&format!("{name}: {outcome}\n"));
    }
    expect_test::expect![[r#"
        Activity.fit: 14 samples
        Edge810-Vector-2013-08-16-15-35-10.fit: 9371 samples
        Settings.fit: not an activity, both
        WorkoutCustomTargetValues.fit: not an activity, both
        WorkoutIndividualSteps.fit: not an activity, both
        WorkoutRepeatGreaterThanStep.fit: not an activity, both
        WorkoutRepeatSteps.fit: not an activity, both
        activity-settings-corruptheader.fit: malformed at byte 771, both
        activity-settings-nodata.fit: malformed at byte 783, both
        activity-small-fenix2-run.fit: 5617 samples
        activity-unexpected-eof.fit: malformed at byte 751, both
        compressed-speed-distance.fit: 1507 samples
        developer-types-sample.fit: 6848 samples
        garmin-edge-500-activity.fit: 21372 samples
        garmin-fenix-5-bike.fit: 38 samples
        garmin-fenix-5-run.fit: 42 samples
        sample-activity-indoor-trainer.fit: 4485 samples
    "#]]
    .assert_eq(&table);
}

/// Offsets of the data messages of a well-formed file.
fn message_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    fit_records::read(bytes, |m| {
        offsets.push(m.offset);
        Ok::<(), ()>(())
    })
    .expect("a well-formed file");
    offsets
}

/// Makes the header's data size and CRC, and the data CRC, right for `bytes` cut at `end`
/// (the first file of a chain only).
fn cut_and_seal(bytes: &[u8], end: usize) -> Vec<u8> {
    let header_size = usize::from(bytes[0]);
    let mut out = bytes[..end].to_vec();
    let data_size = u32::try_from(end - header_size).expect("small");
    out[4..8].copy_from_slice(&data_size.to_le_bytes());
    seal(&mut out);
    out
}

/// Recomputes the header CRC (when the header has a non-zero one) and the data CRC of the
/// first file in `bytes`, writing the data CRC where the header says it goes (appending it
/// if the file ends there).
fn seal(bytes: &mut Vec<u8>) {
    let header_size = usize::from(bytes[0]);
    if bytes.len() < 12 || !(header_size == 12 || header_size == 14) || bytes.len() < header_size {
        return;
    }
    let mut crc_from = 0;
    if header_size == 14 && bytes[12..14] != [0, 0] {
        let crc = crc16(0, &bytes[..12]);
        bytes[12..14].copy_from_slice(&crc.to_le_bytes());
        crc_from = 14;
    }
    let data_size = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let end = header_size + data_size;
    if end > bytes.len() {
        return;
    }
    let crc = crc16(0, &bytes[crc_from..end]).to_le_bytes();
    if end + 2 <= bytes.len() {
        bytes[end..end + 2].copy_from_slice(&crc);
    } else {
        bytes.truncate(end);
        bytes.extend_from_slice(&crc);
    }
}

/// The shared activity files, cut short (after `max_messages` data messages) so that the
/// debug-build reference stays quick.
fn small_activities(max_messages: usize) -> Vec<(String, Vec<u8>)> {
    shared_fit_files()
        .into_iter()
        .filter(|(_, bytes)| matches!(decode_fit_reference(bytes), Ok(s) if !s.is_empty()))
        .map(|(name, bytes)| {
            let offsets = message_offsets(&bytes);
            match offsets.get(max_messages) {
                Some(&end) => (format!("{name}[..{end}]"), cut_and_seal(&bytes, end)),
                None => (name, bytes),
            }
        })
        .collect()
}

#[test]
fn files_cut_at_a_message_and_sealed_read_the_same() {
    let mut compared = 0;
    for (name, bytes) in shared_fit_files() {
        if decode_fit_reference(&bytes).is_err() {
            continue;
        }
        let offsets = message_offsets(&bytes);
        // Every message of the first 300, then every 97th.
        let cuts = offsets
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 300 || i % 97 == 0)
            .map(|(_, &at)| at)
            .filter(|&at| at < 40_000);
        for end in cuts {
            let cut = cut_and_seal(&bytes, end);
            if matches!(
                agree(&format!("{name}[..{end}]"), &cut),
                Agreement::Samples(_)
            ) {
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "only {compared} cut files gave samples");
}

/// xorshift64*: a small deterministic generator, so that a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_files_with_their_crcs_made_right_read_the_same() {
    let bases = small_activities(120);
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut tally = std::collections::BTreeMap::<&str, usize>::new();
    for round in 0..1500 {
        let (name, base) = &bases[round % bases.len()];
        let mut bytes = base.clone();
        let header_size = usize::from(bytes[0]);
        for _ in 0..1 + dice.below(3) {
            // Mostly in the messages; now and then in the header.
            let at = if dice.below(8) == 0 {
                dice.below(header_size)
            } else {
                header_size + dice.below(bytes.len() - header_size)
            };
            bytes[at] = match dice.below(4) {
                0 => bytes[at] ^ (1 << dice.below(8)),
                1 => 0xFF,
                2 => 0,
                _ => dice.next() as u8,
            };
        }
        match dice.below(6) {
            0 => bytes.truncate(dice.below(bytes.len())),
            1 => {}
            _ => seal(&mut bytes),
        }
        let label = format!("{name} round {round}");
        let kind = match agree(&label, &bytes) {
            Agreement::Samples(_) => "samples",
            Agreement::Refused => "refused",
            Agreement::Stopped => "stopped",
            Agreement::Deferred => "deferred",
        };
        *tally.entry(kind).or_default() += 1;
    }
    assert!(
        tally.get("samples").copied().unwrap_or(0) > 300,
        "too few mutated files decoded to compare samples: {tally:?}"
    );
}

#[test]
fn chained_files_read_the_same() {
    let files = small_activities(40);
    let mut chained = files[0].1.clone();
    chained.extend_from_slice(&files[1].1);
    assert!(matches!(
        agree("two files chained", &chained),
        Agreement::Samples(n) if n > 0
    ));
}

/// A one-record activity: a definition of record (global 20) with a timestamp and `fields`
/// (number, size, base type, bytes), in either byte order, then one data message, sealed.
fn one_record_file(fields: &[(u8, u8, u8, &[u8])], big_endian: bool) -> Vec<u8> {
    let mut messages = vec![0x40, 0, u8::from(big_endian)];
    let global: [u8; 2] = if big_endian {
        20u16.to_be_bytes()
    } else {
        20u16.to_le_bytes()
    };
    messages.extend_from_slice(&global);
    messages.push(1 + fields.len() as u8);
    messages.extend_from_slice(&[253, 4, 0x86]);
    for &(number, size, base_type, _) in fields {
        messages.extend_from_slice(&[number, size, base_type]);
    }
    messages.push(0x00);
    let timestamp: u32 = 1_000_000_000;
    if big_endian {
        messages.extend_from_slice(&timestamp.to_be_bytes());
    } else {
        messages.extend_from_slice(&timestamp.to_le_bytes());
    }
    for &(_, _, _, bytes) in fields {
        messages.extend_from_slice(bytes);
    }
    let mut file = vec![14, 0x10, 0, 0];
    file.extend_from_slice(&(messages.len() as u32).to_le_bytes());
    file.extend_from_slice(b".FIT");
    file.extend_from_slice(&[0, 0]);
    file.extend_from_slice(&messages);
    seal(&mut file);
    file
}

#[test]
fn every_base_type_size_and_marker_reads_the_same() {
    const BASE_TYPES: [u8; 21] = [
        0x00, 0x01, 0x02, 0x07, 0x0A, 0x0D, 0x83, 0x84, 0x85, 0x86, 0x88, 0x89, 0x8B, 0x8C, 0x8E,
        0x8F, 0x90, 0x03, 0x04, 0xE4, 0x22,
    ];
    let fills: [&dyn Fn(usize) -> u8; 7] = [
        &|_| 0xFF,
        &|_| 0x00,
        &|i| if i == 0 { 0x7F } else { 0xFF },
        &|i| if i == 0 { 0xFF } else { 0x7F },
        &|i| if i == 0 { 0xC8 } else { 0x00 },
        &|i| if i == 0 { 0x00 } else { 0xC8 },
        &|i| if i % 2 == 0 { 0xFE } else { 0xFF },
    ];
    let mut samples = 0;
    for base_type in BASE_TYPES {
        for size in [0u8, 1, 2, 3, 4, 8, 16] {
            for fill in fills {
                let bytes: Vec<u8> = (0..usize::from(size)).map(fill).collect();
                for big_endian in [false, true] {
                    for number in [3u8, 7, 4, 73] {
                        // The field alone, then after a valid heart rate (the last valid
                        // occurrence of a number wins).
                        let alone = [(number, size, base_type, bytes.as_slice())];
                        let after = [
                            (3, 1, 0x02, [150u8].as_slice()),
                            (number, size, base_type, bytes.as_slice()),
                        ];
                        for fields in [&alone[..], &after[..]] {
                            let file = one_record_file(fields, big_endian);
                            let label = format!(
                                "field {number}, type {base_type:#04x}, {size} bytes \
                                 {bytes:02x?}, big endian {big_endian}, {} fields",
                                fields.len()
                            );
                            if let Agreement::Samples(n) = agree(&label, &file) {
                                samples += n;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(samples > 1000, "only {samples} samples compared");
}
