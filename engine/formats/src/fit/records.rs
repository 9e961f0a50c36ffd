//! A FIT record reader of Paceline's own, for activity files: the framing of fitparser 0.10
//! as [`walk`](crate::fit::walk::walk) drives it, without building a map and heap values
//! for every message.
//!
//! It reads the file header (12 or 14 bytes, `.FIT`, the data size, the header CRC when
//! there is one), definition messages (local types 0–15, either byte order, field
//! definitions, developer field definitions), data messages with normal or
//! compressed-timestamp headers, the data CRC (FIT's CRC-16) and chained files. Of each data
//! message it hands over only the fields an activity needs, by number, each as fitparser
//! would have given it to [`raw`](crate::samples): the last valid occurrence wins, FIT's
//! invalid markers and arrays give no value, signed, float and string values count as
//! present but give no number.
//!
//! Developer fields are skipped by size. Their sizes come from `field_description`
//! messages, which this reader hands to fitparser one at a time (they are few), so the
//! descriptions and their failures are fitparser's own.
//!
//! **What it never does.** It never panics and never allocates per data message: one
//! definition table (16 entries, reused) and, once a file describes developer fields, one
//! 64 KiB table. It does not word errors for people: any failure — malformed bytes, or a
//! case whose exact outcome only fitparser knows ([`FitReadError::NeedsReference`]) — is the
//! caller's cue to read the file again with the reference walk, which says what is wrong.

use fitparser::de::{FitObject, FitStreamProcessor};
use fitparser::profile::field_types::FitBaseType;
use fitparser::{DeveloperFieldDescription, Value};

/// Global message numbers the reader looks into.
const MESG_FILE_ID: u16 = 0;
const MESG_SPORT: u16 = 12;
const MESG_SESSION: u16 = 18;
const MESG_LAP: u16 = 19;
const MESG_RECORD: u16 = 20;
const MESG_DEVICE_INFO: u16 = 23;
const MESG_ACTIVITY: u16 = 34;
const MESG_FIELD_DESCRIPTION: u16 = 206;
const MESG_DEVELOPER_DATA_ID: u16 = 207;
/// The timestamp field, the same number in every message.
const FIELD_TIMESTAMP: u8 = 253;

/// The fields of one data message an activity reads, as raw unsigned values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityFields {
    /// Field 253 (any message): seconds since the FIT epoch.
    pub timestamp: Option<u64>,
    /// Record field 3, beats per minute.
    pub heart_rate: Option<u64>,
    /// Record field 4, revolutions (or strides) per minute.
    pub cadence: Option<u64>,
    /// Record field 6, millimetres per second.
    pub speed: Option<u64>,
    /// Record field 7, watts.
    pub power: Option<u64>,
    /// Record field 73, millimetres per second.
    pub enhanced_speed: Option<u64>,
    /// The sport: session field 5, lap field 25 or sport field 0.
    pub sport: Option<u64>,
    /// Record fields 0 and 1, semicircles: the bits of an `sint32` value (a field of any
    /// other type gives none).
    pub position_lat: Option<u64>,
    /// See [`position_lat`](ActivityFields::position_lat).
    pub position_long: Option<u64>,
    /// Record field 2, (m + 500) × 5.
    pub altitude: Option<u64>,
    /// Record field 78, (m + 500) × 5.
    pub enhanced_altitude: Option<u64>,
    /// Record field 5, cm.
    pub distance: Option<u64>,
    /// Session field 6 or sport field 1.
    pub sub_sport: Option<u64>,
    /// Session field 2, FIT seconds.
    pub start_time: Option<u64>,
    /// Session field 7, ms.
    pub total_elapsed_time: Option<u64>,
    /// Session field 9, cm.
    pub total_distance: Option<u64>,
    /// Session field 11, kcal.
    pub total_calories: Option<u64>,
    /// Session field 22, m.
    pub total_ascent: Option<u64>,
    /// Session field 59, ms.
    pub total_moving_time: Option<u64>,
    /// Activity field 5, FIT seconds in local time.
    pub local_timestamp: Option<u64>,
    /// File_id field 1 or device_info field 2.
    pub manufacturer: Option<u64>,
    /// File_id field 2 or device_info field 4.
    pub product: Option<u64>,
    /// Device_info field 0.
    pub device_index: Option<u64>,
    /// File_id field 8: where its bytes lie in the file (up to the first zero byte).
    pub product_name: Option<std::ops::Range<usize>>,
}

/// One data message as handed to the visitor.
#[derive(Debug, Clone)]
pub struct DataMessage {
    /// Global message number (20 = record).
    pub global: u16,
    /// The 5-bit time offset of a compressed-timestamp record header.
    pub time_offset: Option<u8>,
    /// Byte offset of the message in the file.
    pub offset: usize,
    /// The fields an activity reads.
    pub fields: ActivityFields,
}

/// Why the reader stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitReadError<E> {
    /// The bytes are not a well-formed FIT file at `offset`.
    #[error("FIT data malformed at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// At `offset` the outcome is fitparser's alone to say (a developer field whose size is
    /// not a whole number of its values, a description fitparser refuses, …).
    #[error("FIT data at byte {offset} needs the reference decoder: {reason}")]
    NeedsReference {
        /// Byte offset.
        offset: usize,
        /// Which case.
        reason: &'static str,
    },
    /// The visitor stopped the walk.
    #[error("the visitor stopped at a message")]
    Visit(E),
}

/// Where a probed field's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Timestamp,
    HeartRate,
    Cadence,
    Speed,
    Power,
    EnhancedSpeed,
    Sport,
    PositionLat,
    PositionLong,
    Altitude,
    EnhancedAltitude,
    Distance,
    SubSport,
    StartTime,
    TotalElapsedTime,
    TotalDistance,
    TotalCalories,
    TotalAscent,
    TotalMovingTime,
    LocalTimestamp,
    Manufacturer,
    Product,
    DeviceIndex,
    ProductName,
}

/// The slot of field `number` of message `global`, if an activity reads it.
fn slot_of(global: u16, number: u8) -> Option<Slot> {
    if number == FIELD_TIMESTAMP {
        return Some(Slot::Timestamp);
    }
    match (global, number) {
        (MESG_RECORD, 3) => Some(Slot::HeartRate),
        (MESG_RECORD, 4) => Some(Slot::Cadence),
        (MESG_RECORD, 6) => Some(Slot::Speed),
        (MESG_RECORD, 7) => Some(Slot::Power),
        (MESG_RECORD, 73) => Some(Slot::EnhancedSpeed),
        (MESG_SESSION, 5) | (MESG_LAP, 25) | (MESG_SPORT, 0) => Some(Slot::Sport),
        (MESG_RECORD, 0) => Some(Slot::PositionLat),
        (MESG_RECORD, 1) => Some(Slot::PositionLong),
        (MESG_RECORD, 2) => Some(Slot::Altitude),
        (MESG_RECORD, 78) => Some(Slot::EnhancedAltitude),
        (MESG_RECORD, 5) => Some(Slot::Distance),
        (MESG_SESSION, 6) | (MESG_SPORT, 1) => Some(Slot::SubSport),
        (MESG_SESSION, 2) => Some(Slot::StartTime),
        (MESG_SESSION, 7) => Some(Slot::TotalElapsedTime),
        (MESG_SESSION, 9) => Some(Slot::TotalDistance),
        (MESG_SESSION, 11) => Some(Slot::TotalCalories),
        (MESG_SESSION, 22) => Some(Slot::TotalAscent),
        (MESG_SESSION, 59) => Some(Slot::TotalMovingTime),
        (MESG_ACTIVITY, 5) => Some(Slot::LocalTimestamp),
        (MESG_FILE_ID, 1) | (MESG_DEVICE_INFO, 2) => Some(Slot::Manufacturer),
        (MESG_FILE_ID, 2) | (MESG_DEVICE_INFO, 4) => Some(Slot::Product),
        (MESG_DEVICE_INFO, 0) => Some(Slot::DeviceIndex),
        (MESG_FILE_ID, 8) => Some(Slot::ProductName),
        _ => None,
    }
}

/// A field the reader decodes: where it sits in the message, its size and base type.
#[derive(Debug, Clone, Copy)]
struct Probe {
    /// Offset from the byte after the record header.
    at: usize,
    size: u8,
    base_type: u8,
    slot: Slot,
    /// For one unsigned value (the usual case): the value that marks it invalid.
    unsigned_invalid: Option<u64>,
    /// A valid value of this field leaves its slot empty (a position that is not an
    /// `sint32`: fitparser's last valid occurrence, which gives no position).
    clears: bool,
}

impl Probe {
    fn new(at: usize, size: u8, base_type: u8, slot: Slot) -> Probe {
        let position = matches!(slot, Slot::PositionLat | Slot::PositionLong);
        let sint32 = (base_type & 0x9F, size) == (0x85, 4);
        if position && sint32 {
            // The bits of the sint32, invalid at 0x7FFF_FFFF.
            return Probe {
                at,
                size,
                base_type,
                slot,
                unsigned_invalid: Some(0x7FFF_FFFF),
                clears: false,
            };
        }
        let unsigned_invalid = match (base_type & 0x9F, size) {
            // Enum, uint8, byte, and unknown types (read as uint8).
            (0x00 | 0x02 | 0x0D, 1) => Some(0xFF),
            (0x0A, 1) | (0x8B, 2) | (0x8C, 4) | (0x90, 8) => Some(0),
            (0x84, 2) => Some(0xFFFF),
            (0x86, 4) => Some(0xFFFF_FFFF),
            (0x8F, 8) => Some(u64::MAX),
            (t, 1) if base_size_of_byte(t) == 1 && !matches!(t, 0x01 | 0x07) => Some(0xFF),
            _ => None,
        };
        Probe {
            at,
            size,
            base_type,
            slot,
            unsigned_invalid,
            clears: position,
        }
    }

    /// [`probe_value`] of this probe's bytes in `body`, the usual case first.
    #[inline]
    fn read(&self, body: &[u8], big_endian: bool) -> Option<Option<u64>> {
        let field = &body[self.at..self.at + usize::from(self.size)];
        let Some(invalid) = self.unsigned_invalid else {
            return probe_value(self, field, big_endian);
        };
        let value = match (field, big_endian) {
            (&[a], _) => u64::from(a),
            (&[a, b], false) => u64::from(u16::from_le_bytes([a, b])),
            (&[a, b], true) => u64::from(u16::from_be_bytes([a, b])),
            (&[a, b, c, d], false) => u64::from(u32::from_le_bytes([a, b, c, d])),
            (&[a, b, c, d], true) => u64::from(u32::from_be_bytes([a, b, c, d])),
            _ => number_of(field, big_endian),
        };
        (value != invalid).then_some(Some(value))
    }
}

/// A developer field of a definition.
#[derive(Debug, Clone, Copy)]
struct DeveloperField {
    number: u8,
    size: u8,
    developer_data_index: u8,
}

/// One local message type's definition.
#[derive(Debug, Default)]
struct Definition {
    global: u16,
    big_endian: bool,
    /// Bytes of the regular fields.
    fields_bytes: usize,
    /// Bytes of the developer fields.
    developer_bytes: usize,
    probes: Vec<Probe>,
    developer_fields: Vec<DeveloperField>,
    /// The definition message in the file without its record header and developer part.
    source: std::ops::Range<usize>,
}

/// Developer field descriptions in force: the size of one value of each described field's
/// base type, by developer data index and field number (0 = not described).
struct Descriptions {
    base_size: Box<[u8; 65536]>,
}

impl Descriptions {
    fn key(developer_data_index: u8, number: u8) -> usize {
        usize::from(developer_data_index) << 8 | usize::from(number)
    }
}

/// The size of one value of a FIT base type as fitparser reckons it (unknown types: 1).
fn base_type_size(base_type: FitBaseType) -> u8 {
    match base_type {
        FitBaseType::Sint16 | FitBaseType::Uint16 | FitBaseType::Uint16z => 2,
        FitBaseType::Sint32 | FitBaseType::Uint32 | FitBaseType::Uint32z | FitBaseType::Float32 => {
            4
        }
        FitBaseType::Float64 | FitBaseType::Sint64 | FitBaseType::Uint64 | FitBaseType::Uint64z => {
            8
        }
        _ => 1,
    }
}

/// [`base_type_size`] of a base type byte as a definition gives it (bits 5 and 6 ignored).
fn base_size_of_byte(base_type: u8) -> u8 {
    match base_type & 0x9F {
        0x83 | 0x84 | 0x8B => 2,
        0x85 | 0x86 | 0x8C | 0x88 => 4,
        0x89 | 0x8E | 0x8F | 0x90 => 8,
        _ => 1,
    }
}

/// Reads `size` bytes as an unsigned number in the given byte order (`size` ≤ 8).
fn number_of(bytes: &[u8], big_endian: bool) -> u64 {
    if big_endian {
        bytes.iter().fold(0, |n, &b| n << 8 | u64::from(b))
    } else {
        bytes.iter().rev().fold(0, |n, &b| n << 8 | u64::from(b))
    }
}

/// Whether one value of base type `base_type` (masked), `bytes` long, is valid to
/// fitparser, and the number it gives [`raw`](crate::samples) if it is unsigned.
fn one_value(base_type: u8, value: u64) -> (bool, Option<u64>) {
    match base_type {
        // Enum, uint8, byte, and unknown types (read as uint8).
        0x00 | 0x02 | 0x0D => (value != 0xFF, Some(value)),
        0x01 => (value != 0x7F, None),
        0x0A | 0x8B | 0x8C | 0x90 => (value != 0, Some(value)),
        0x83 => (value != 0x7FFF, None),
        0x84 => (value != 0xFFFF, Some(value)),
        0x85 => (value != 0x7FFF_FFFF, None),
        0x86 => (value != 0xFFFF_FFFF, Some(value)),
        0x8E => (value != 0x7FFF_FFFF_FFFF_FFFF, None),
        0x8F => (value != u64::MAX, Some(value)),
        0x88 => {
            let bits = u32::try_from(value).unwrap_or(u32::MAX);
            (f32::from_bits(bits).is_finite(), None)
        }
        0x89 => (f64::from_bits(value).is_finite(), None),
        _ => (value != 0xFF, Some(value)),
    }
}

/// Decodes one probed field: `None` if fitparser would leave it out of the message (no
/// valid value), else the raw number it would give (`Some(None)` for a present value that
/// is not an unsigned number: signed, float, string, array).
fn probe_value(probe: &Probe, bytes: &[u8], big_endian: bool) -> Option<Option<u64>> {
    let base_type = probe.base_type & 0x9F;
    if probe.size == 0 {
        return None;
    }
    if base_type == 0x07 {
        let text = bytes
            .iter()
            .position(|&b| b == 0)
            .map_or(bytes, |end| &bytes[..end]);
        return std::str::from_utf8(text).is_ok().then_some(None);
    }
    let width = usize::from(base_size_of_byte(base_type));
    if bytes.len() == width {
        let (valid, raw) = one_value(base_type, number_of(bytes, big_endian));
        return valid.then_some(raw);
    }
    let any_valid = bytes
        .chunks_exact(width)
        .any(|chunk| one_value(base_type, number_of(chunk, big_endian)).0);
    any_valid.then_some(None)
}

/// Walks every data message of `bytes` in order, as [`walk`](crate::fit::walk::walk)
/// with developer fields accepted would, calling `visit` on each.
pub fn read<E>(
    bytes: &[u8],
    mut visit: impl FnMut(&DataMessage) -> Result<(), E>,
) -> Result<(), FitReadError<E>> {
    let mut reader = Reader {
        bytes,
        definitions: std::array::from_fn(|_| None),
        descriptions: None,
    };
    reader.run(&mut visit)
}

struct Reader<'a> {
    bytes: &'a [u8],
    definitions: [Option<Definition>; 16],
    descriptions: Option<Descriptions>,
}

impl Reader<'_> {
    fn run<E>(
        &mut self,
        visit: &mut impl FnMut(&DataMessage) -> Result<(), E>,
    ) -> Result<(), FitReadError<E>> {
        let bytes = self.bytes;
        let mut position = 0usize;
        let mut end_of_messages = 0usize;
        // The data CRC runs over bytes[crc_from..] from the value crc_init.
        let mut crc_from = 0usize;
        let mut crc_init = 0u16;
        while position < bytes.len() {
            let rest = &bytes[position..];
            if position > 0 && position == end_of_messages {
                let Some(&[lo, hi]) = rest.get(..2) else {
                    return Err(malformed(position, "the file ends inside its CRC"));
                };
                let crc = crc16(crc_init, &bytes[crc_from..position]);
                if u16::from_le_bytes([lo, hi]) != crc {
                    return Err(malformed(position, "the data CRC does not match"));
                }
                position += 2;
                // A chained file starts afresh: no definitions, no descriptions.
                self.definitions.iter_mut().for_each(|d| *d = None);
                self.descriptions = None;
            } else if position == 0 || position > end_of_messages {
                let header_size = usize::from(rest[0]);
                if rest.len() < 12 || rest.len() < header_size {
                    return Err(malformed(position, "the file ends inside a FIT header"));
                }
                if &rest[8..12] != b".FIT" {
                    return Err(malformed(position, "no \".FIT\" signature in the header"));
                }
                let data_size = [rest[4], rest[5], rest[6], rest[7]];
                let data_size = usize::try_from(u32::from_le_bytes(data_size))
                    .map_err(|_| malformed(position, "a data size past this machine's reach"))?;
                let header_crc = match header_size {
                    12 => 0,
                    14 => u16::from_le_bytes([rest[12], rest[13]]),
                    _ => return Err(malformed(position, "the header size is not 12 or 14")),
                };
                end_of_messages = position
                    .saturating_add(header_size)
                    .saturating_add(data_size);
                if header_crc > 0 {
                    if crc16(0, &rest[..12]) != header_crc {
                        return Err(malformed(position, "the header CRC does not match"));
                    }
                    crc_from = position + header_size;
                } else {
                    crc_from = position;
                }
                crc_init = 0;
                position += header_size;
            } else {
                let header = rest[0];
                let consumed = if header & 0xC0 == 0x40 {
                    self.definition(position)?
                } else {
                    self.data(position, visit)?
                };
                position += consumed;
            }
        }
        if position != end_of_messages.saturating_add(2) {
            return Err(malformed(position, "the file ends early"));
        }
        Ok(())
    }

    /// Reads the definition message at `at`; returns its length.
    fn definition<E>(&mut self, at: usize) -> Result<usize, FitReadError<E>> {
        let bytes = self.bytes;
        let truncated = || malformed(at, "the file ends inside a definition message");
        let fixed = bytes.get(at..at + 6).ok_or_else(truncated)?;
        let header = fixed[0];
        let big_endian = fixed[2] == 1;
        let global = if big_endian {
            u16::from_be_bytes([fixed[3], fixed[4]])
        } else {
            u16::from_le_bytes([fixed[3], fixed[4]])
        };
        let field_count = usize::from(fixed[5]);
        let fields_end = at + 6 + 3 * field_count;
        let fields = bytes.get(at + 6..fields_end).ok_or_else(truncated)?;
        let local = usize::from(header & 0x0F);
        let mut definition = self.definitions[local].take().unwrap_or_default();
        definition.global = global;
        definition.big_endian = big_endian;
        definition.probes.clear();
        definition.developer_fields.clear();
        let mut offset = 0usize;
        for field in fields.chunks_exact(3) {
            let (number, size, base_type) = (field[0], field[1], field[2]);
            if size % base_size_of_byte(base_type) != 0 {
                return Err(malformed(
                    at,
                    "a field's size is not a whole number of its values",
                ));
            }
            // An empty field never has a value, so never changes one.
            if let Some(slot) = slot_of(global, number).filter(|_| size > 0) {
                definition
                    .probes
                    .push(Probe::new(offset, size, base_type, slot));
            }
            offset += usize::from(size);
        }
        definition.fields_bytes = offset;
        let mut end = fields_end;
        definition.developer_bytes = 0;
        if header & 0x20 != 0 {
            let count = usize::from(*bytes.get(fields_end).ok_or_else(truncated)?);
            end = fields_end + 1 + 3 * count;
            let developer = bytes.get(fields_end + 1..end).ok_or_else(truncated)?;
            for field in developer.chunks_exact(3) {
                definition.developer_fields.push(DeveloperField {
                    number: field[0],
                    size: field[1],
                    developer_data_index: field[2],
                });
                definition.developer_bytes += usize::from(field[1]);
            }
        }
        definition.source = at + 1..fields_end;
        self.definitions[local] = Some(definition);
        Ok(end - at)
    }

    /// Reads the data message at `at` and visits it; returns its length.
    fn data<E>(
        &mut self,
        at: usize,
        visit: &mut impl FnMut(&DataMessage) -> Result<(), E>,
    ) -> Result<usize, FitReadError<E>> {
        let bytes = self.bytes;
        let header = bytes[at];
        let (local, time_offset) = if header & 0x80 != 0 {
            (usize::from((header >> 5) & 0x03), Some(header & 0x1F))
        } else {
            (usize::from(header & 0x0F), None)
        };
        let Some(definition) = &self.definitions[local] else {
            return Err(malformed(at, "a data message without a definition"));
        };
        for field in &definition.developer_fields {
            let key = Descriptions::key(field.developer_data_index, field.number);
            let base_size = self.descriptions.as_ref().map_or(0, |d| d.base_size[key]);
            if base_size == 0 {
                return Err(malformed(at, "a developer field without a description"));
            }
            if field.size % base_size != 0 {
                return Err(needs_reference(
                    at,
                    "a developer field's size is not a whole number of its values",
                ));
            }
        }
        let length = 1 + definition.fields_bytes + definition.developer_bytes;
        let body = bytes
            .get(at + 1..at + length)
            .ok_or_else(|| malformed(at, "the file ends inside a data message"))?;
        let mut fields = ActivityFields::default();
        for probe in &definition.probes {
            if let Some(raw) = probe.read(body, definition.big_endian) {
                if probe.slot == Slot::ProductName {
                    // A valid string: its bytes up to the first zero (a valid value of
                    // another type is fitparser's last occurrence, and no name).
                    let start = at + 1 + probe.at;
                    let text = &body[probe.at..probe.at + usize::from(probe.size)];
                    let len = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                    fields.product_name =
                        (probe.base_type & 0x9F == 0x07).then_some(start..start + len);
                    continue;
                }
                let raw = if probe.clears { None } else { raw };
                let slot = match probe.slot {
                    Slot::Timestamp => &mut fields.timestamp,
                    Slot::HeartRate => &mut fields.heart_rate,
                    Slot::Cadence => &mut fields.cadence,
                    Slot::Speed => &mut fields.speed,
                    Slot::Power => &mut fields.power,
                    Slot::EnhancedSpeed => &mut fields.enhanced_speed,
                    Slot::Sport => &mut fields.sport,
                    Slot::PositionLat => &mut fields.position_lat,
                    Slot::PositionLong => &mut fields.position_long,
                    Slot::Altitude => &mut fields.altitude,
                    Slot::EnhancedAltitude => &mut fields.enhanced_altitude,
                    Slot::Distance => &mut fields.distance,
                    Slot::SubSport => &mut fields.sub_sport,
                    Slot::StartTime => &mut fields.start_time,
                    Slot::TotalElapsedTime => &mut fields.total_elapsed_time,
                    Slot::TotalDistance => &mut fields.total_distance,
                    Slot::TotalCalories => &mut fields.total_calories,
                    Slot::TotalAscent => &mut fields.total_ascent,
                    Slot::TotalMovingTime => &mut fields.total_moving_time,
                    Slot::LocalTimestamp => &mut fields.local_timestamp,
                    Slot::Manufacturer => &mut fields.manufacturer,
                    Slot::Product => &mut fields.product,
                    Slot::DeviceIndex => &mut fields.device_index,
                    Slot::ProductName => continue,
                };
                *slot = raw;
            }
        }
        let global = definition.global;
        visit(&DataMessage {
            global,
            time_offset,
            offset: at,
            fields,
        })
        .map_err(FitReadError::Visit)?;
        if matches!(global, MESG_FIELD_DESCRIPTION | MESG_DEVELOPER_DATA_ID) {
            if time_offset.is_some() || !definition.developer_fields.is_empty() {
                return Err(needs_reference(
                    at,
                    "a developer data message with a time offset or developer fields",
                ));
            }
            let described = describe(&bytes[definition.source.clone()], body)
                .ok_or_else(|| needs_reference(at, "fitparser refuses this description"))?;
            if let Some((developer_data_index, number, base_type)) = described {
                let descriptions = self.descriptions.get_or_insert_with(|| Descriptions {
                    base_size: Box::new([0; 65536]),
                });
                descriptions.base_size[Descriptions::key(developer_data_index, number)] =
                    base_type_size(base_type);
            }
        }
        Ok(length)
    }
}

fn malformed<E>(offset: usize, reason: &'static str) -> FitReadError<E> {
    FitReadError::Malformed { offset, reason }
}

fn needs_reference<E>(offset: usize, reason: &'static str) -> FitReadError<E> {
    FitReadError::NeedsReference { offset, reason }
}

/// Decodes one `developer_data_id` or `field_description` message with fitparser, from its
/// definition (`definition`, record header excluded, no developer fields) and its body, in a
/// FIT stream of its own. `None` if fitparser refuses it (or fails on it); for a field
/// description, the developer data index, field number and base type it describes.
fn describe(definition: &[u8], body: &[u8]) -> Option<Option<(u8, u8, FitBaseType)>> {
    let data_size = u32::try_from(2 + definition.len() + body.len()).ok()?;
    let mut stream = Vec::with_capacity(14 + definition.len() + body.len());
    stream.extend_from_slice(&[12, 0x10, 0, 0]);
    stream.extend_from_slice(&data_size.to_le_bytes());
    stream.extend_from_slice(b".FIT");
    stream.push(0x40);
    stream.extend_from_slice(definition);
    stream.push(0x00);
    stream.extend_from_slice(body);
    let decoded = std::panic::catch_unwind(|| {
        let mut processor = FitStreamProcessor::new();
        let mut rest = stream.as_slice();
        loop {
            let (next, object) = processor.deserialize_next(rest).ok()?;
            rest = next;
            if let FitObject::DataMessage(message) = object {
                return processor.decode_message(message).ok();
            }
        }
    })
    .ok()??;
    if decoded.kind().as_u16() != MESG_FIELD_DESCRIPTION {
        return Some(None);
    }
    let fields = decoded.fields().to_vec();
    DeveloperFieldDescription::try_from(&fields).ok()?;
    // The description's own reading of the fields: by name, the last one wins.
    let named = |name: &str| fields.iter().rev().find(|f| f.name() == name);
    let Some(Value::UInt8(index)) = named("developer_data_index").map(|f| f.value()) else {
        return None;
    };
    let Some(Value::UInt8(number)) = named("field_definition_number").map(|f| f.value()) else {
        return None;
    };
    let Some(Value::String(base_type)) = named("fit_base_type_id").map(|f| f.value()) else {
        return None;
    };
    Some(Some((
        *index,
        *number,
        FitBaseType::from(base_type.as_str()),
    )))
}

/// FIT's CRC-16 (CRC-16/ARC), one table lookup per byte for 8 bytes at a time.
pub fn crc16(mut crc: u16, bytes: &[u8]) -> u16 {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let [b0, b1, b2, b3, b4, b5, b6, b7] = [
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ];
        let low = u16::from_le_bytes([b0, b1]) ^ crc;
        let [l0, l1] = low.to_le_bytes();
        crc = CRC_TABLES[7][usize::from(l0)]
            ^ CRC_TABLES[6][usize::from(l1)]
            ^ CRC_TABLES[5][usize::from(b2)]
            ^ CRC_TABLES[4][usize::from(b3)]
            ^ CRC_TABLES[3][usize::from(b4)]
            ^ CRC_TABLES[2][usize::from(b5)]
            ^ CRC_TABLES[1][usize::from(b6)]
            ^ CRC_TABLES[0][usize::from(b7)];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ CRC_TABLES[0][usize::from((crc ^ u16::from(b)) & 0xFF)];
    }
    crc
}

/// The FIT SDK's CRC step, four bits at a time (the definition the tables are built from).
pub const fn crc16_nibbles(crc: u16, byte: u8) -> u16 {
    const NIBBLES: [u16; 16] = [
        0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800,
        0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
    ];
    let mut tmp = NIBBLES[(crc & 0xF) as usize];
    let mut crc = (crc >> 4) & 0x0FFF;
    crc = crc ^ tmp ^ NIBBLES[(byte & 0xF) as usize];
    tmp = NIBBLES[(crc & 0xF) as usize];
    crc = (crc >> 4) & 0x0FFF;
    crc ^ tmp ^ NIBBLES[((byte >> 4) & 0xF) as usize]
}

/// Slicing-by-8 tables: `[0]` is the byte-at-a-time table, `[k]` advances `k` more zero bytes.
static CRC_TABLES: [[u16; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u16; 256]; 8] {
    let mut tables = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation, reason = "i < 256")]
        let byte = i as u8;
        tables[0][i] = crc16_nibbles(0, byte);
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sliced_crc_is_the_sdk_crc() {
        let bytes: Vec<u8> = (0..1000u32)
            .map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).unwrap_or(0))
            .collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 999, 1000] {
            for start in [0u16, 1, 0xBEEF] {
                let slow = bytes[..len]
                    .iter()
                    .fold(start, |crc, &b| crc16_nibbles(crc, b));
                assert_eq!(crc16(start, &bytes[..len]), slow, "length {len}");
            }
        }
    }

    #[test]
    fn invalid_markers_follow_fitparser() {
        // Each probe read both ways: the unsigned fast path and the general one.
        let probe_value = |probe: &Probe, bytes: &[u8], big_endian: bool| {
            let general = super::probe_value(probe, bytes, big_endian);
            assert_eq!(
                probe.read(bytes, big_endian),
                general,
                "{probe:?} on {bytes:?}"
            );
            general
        };
        let probe = |base_type: u8, size: u8| Probe::new(0, size, base_type, Slot::HeartRate);
        assert_eq!(probe_value(&probe(0x02, 1), &[0xFF], false), None);
        assert_eq!(
            probe_value(&probe(0x02, 1), &[0x7F], false),
            Some(Some(0x7F))
        );
        assert_eq!(probe_value(&probe(0x0A, 1), &[0], false), None);
        assert_eq!(probe_value(&probe(0x01, 1), &[0x7F], false), None);
        assert_eq!(probe_value(&probe(0x01, 1), &[0x10], false), Some(None));
        assert_eq!(
            probe_value(&probe(0x84, 2), &[0x12, 0x34], true),
            Some(Some(0x1234))
        );
        assert_eq!(
            probe_value(&probe(0x84, 2), &[0x12, 0x34], false),
            Some(Some(0x3412))
        );
        assert_eq!(
            probe_value(&probe(0x84, 4), &[0xFF, 0xFF, 1, 0], false),
            Some(None)
        );
        assert_eq!(probe_value(&probe(0x84, 4), &[0xFF; 4], false), None);
        assert_eq!(probe_value(&probe(0x07, 3), b"ab\0", false), Some(None));
        assert_eq!(probe_value(&probe(0x07, 2), &[0xC3, 0x28], false), None);
        assert_eq!(probe_value(&probe(0x03, 1), &[0x05], false), Some(Some(5)));
        assert_eq!(probe_value(&probe(0x02, 0), &[], false), None);
        assert_eq!(probe_value(&probe(0x8C, 4), &[0, 0, 0, 0], true), None);
        assert_eq!(
            probe_value(&probe(0x86, 4), &[0, 0, 1, 2], true),
            Some(Some(0x0102))
        );
        assert_eq!(probe_value(&probe(0x8F, 8), &[0xFF; 8], false), None);
        assert_eq!(probe_value(&probe(0x04, 1), &[0xFF], false), None);
        assert_eq!(probe_value(&probe(0x04, 1), &[0x04], false), Some(Some(4)));
        assert_eq!(
            probe_value(&probe(0x88, 4), &[0, 0, 0x80, 0x7F], false),
            None
        );
        assert_eq!(
            probe_value(&probe(0x88, 4), &[0, 0, 0x80, 0x3F], false),
            Some(None)
        );
    }
}
