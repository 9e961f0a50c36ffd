//! A careful walk over a FIT file's messages, shared by the FIT workout importer, the
//! activity reader ([`read_recording`](crate::fit::read_recording)) and the replay reader's
//! reference ([`samples::decode_fit_reference`](crate::samples::decode_fit_reference)).
//!
//! fitparser 0.10 frames the file (header, definitions, data messages, CRCs) well, but some
//! malformed input makes it panic or print to stderr: a header size that runs past the
//! input, a field whose size is not a multiple of its base type's, developer fields whose
//! definitions do not add up. [`walk`] tracks where fitparser is (its own `position` and
//! `end_of_messages` bookkeeping) and checks those bytes before fitparser reads them, then
//! hands each data message's raw fields, by field number, to the caller. It never uses
//! fitparser's profile decoding (whose timestamp arithmetic can overflow on hostile values).
//! A file must end exactly where its header says: fitparser alone accepts a file cut off
//! between two messages.

use std::collections::HashMap;

use fitparser::Value;
use fitparser::de::{FitObject, FitStreamProcessor};
use fitparser::profile::field_types::FitBaseType;

/// Whether developer data fields are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeveloperFields {
    /// Refuse files that define developer fields.
    Refuse,
    /// Accept them (their values are not handed over); the caller must be ready for the
    /// decoder to fail on inconsistent developer definitions.
    Accept,
}

/// One data message: its global number, its compressed-timestamp offset if its record
/// header has one, and its raw fields by number.
#[derive(Debug)]
pub struct FitMessage<'a> {
    /// Global message number (e.g. 20 = record).
    pub global: u16,
    /// The 5-bit time offset of a compressed-timestamp record header.
    pub time_offset: Option<u8>,
    /// Raw field values by field number.
    pub fields: &'a HashMap<u8, Value>,
    /// Byte offset of the message in the file.
    pub offset: usize,
}

/// Why a walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitWalkError<E> {
    /// The bytes are not a well-formed FIT file at `offset`.
    Malformed {
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        detail: String,
    },
    /// Developer fields are defined at `offset` and were refused.
    DeveloperFields {
        /// Byte offset of the definition message.
        offset: usize,
    },
    /// The visitor stopped the walk.
    Visit(E),
}

/// Walks every data message of `bytes` in order, calling `visit` on each.
pub fn walk<E>(
    bytes: &[u8],
    developer_fields: DeveloperFields,
    mut visit: impl FnMut(FitMessage<'_>) -> Result<(), E>,
) -> Result<(), FitWalkError<E>> {
    let mut processor = FitStreamProcessor::new();
    let mut position = 0usize;
    let mut end_of_messages = 0usize;
    let mut rest = bytes;
    while !rest.is_empty() {
        // The order of these tests is fitparser's: CRC, then header, else a message.
        if position > 0 && position == end_of_messages {
            // A CRC follows; fitparser reads it safely.
        } else if position == 0 || position > end_of_messages {
            check_header(rest, position)?;
        } else {
            check_definition(rest, position, developer_fields)?;
        }
        let (next, object) =
            processor
                .deserialize_next(rest)
                .map_err(|err| FitWalkError::Malformed {
                    offset: position,
                    detail: err.to_string(),
                })?;
        match object {
            FitObject::Header(header) => {
                let data_size = usize::try_from(header.data_size()).unwrap_or(usize::MAX);
                end_of_messages = position
                    .saturating_add(usize::from(header.header_size()))
                    .saturating_add(data_size);
            }
            FitObject::Crc(_) => processor.reset(),
            FitObject::DefinitionMessage(_) => {}
            FitObject::DataMessage(message) => {
                visit(FitMessage {
                    global: message.global_message_number(),
                    time_offset: message.time_offset(),
                    fields: &message.fields,
                    offset: position,
                })
                .map_err(FitWalkError::Visit)?;
                // Developer fields are described by these two messages; fitparser must
                // decode them to read the fields they describe later on.
                let describes_developer_fields =
                    matches!(message.global_message_number(), 206 | 207);
                if developer_fields == DeveloperFields::Accept && describes_developer_fields {
                    processor
                        .decode_message(message)
                        .map_err(|err| FitWalkError::Malformed {
                            offset: position,
                            detail: err.to_string(),
                        })?;
                }
            }
        }
        let consumed = rest.len() - next.len();
        if consumed == 0 {
            return Err(FitWalkError::Malformed {
                offset: position,
                detail: "the decoder made no progress".to_owned(),
            });
        }
        position += consumed;
        rest = next;
    }
    if position != end_of_messages.saturating_add(2) {
        return Err(FitWalkError::Malformed {
            offset: position,
            detail: format!(
                "the file ends early; its header promises {} bytes",
                end_of_messages.saturating_add(2)
            ),
        });
    }
    Ok(())
}

/// A file header: 12 or 14 bytes with `.FIT` at offset 8. fitparser trusts the size byte
/// and slices by it, so a size past the input would make it panic.
fn check_header<E>(rest: &[u8], at: usize) -> Result<(), FitWalkError<E>> {
    let malformed = |detail: &str| FitWalkError::Malformed {
        offset: at,
        detail: detail.to_owned(),
    };
    let header_size = rest.first().copied().map_or(0, usize::from);
    if rest.len() < 12 || rest.len() < header_size {
        return Err(malformed("the file ends inside a FIT header"));
    }
    if rest.get(8..12) != Some(b".FIT".as_slice()) {
        return Err(malformed("no \".FIT\" signature in the header"));
    }
    if header_size != 12 && header_size != 14 {
        return Err(malformed(&format!(
            "header size {header_size} is not 12 or 14"
        )));
    }
    Ok(())
}

/// A definition message's field sizes must be whole multiples of their base type's size
/// (fitparser prints to stderr and reads them as bytes otherwise); developer fields are
/// refused unless accepted. A message cut short is left for fitparser to report.
fn check_definition<E>(
    rest: &[u8],
    at: usize,
    developer_fields: DeveloperFields,
) -> Result<(), FitWalkError<E>> {
    let Some(&record_header) = rest.first() else {
        return Ok(());
    };
    let is_definition = record_header & 0xC0 == 0x40;
    if !is_definition {
        return Ok(());
    }
    if record_header & 0x20 != 0 && developer_fields == DeveloperFields::Refuse {
        return Err(FitWalkError::DeveloperFields { offset: at });
    }
    let field_count = rest.get(5).copied().map_or(0, usize::from);
    for i in 0..field_count {
        let Some(&[number, size, base_type]) = rest.get(6 + 3 * i..9 + 3 * i) else {
            return Ok(());
        };
        let base_size = base_type_size(base_type);
        if size % base_size != 0 {
            return Err(FitWalkError::Malformed {
                offset: at,
                detail: format!(
                    "field {number} is {size} bytes, not a multiple of its type's {base_size}"
                ),
            });
        }
    }
    Ok(())
}

/// The size of one value of a FIT base type, as fitparser reckons it (unknown types: 1).
fn base_type_size(base_type: u8) -> u8 {
    match FitBaseType::from(base_type & 0x9F) {
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
