//! Arbitrary bytes as the binary form of each sealed-body type and as the JSON form of each
//! schema type: every decoder returns a value or an error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_schemas::codec::{decode_binary, from_json};
use paceline_schemas::{
    Ack, AthleteProfile, Command, Cue, DeviceStatus, SampleBatch, WorkoutPlan,
};

fuzz_target!(|data: &[u8]| {
    let _ = decode_binary::<SampleBatch>(data);
    let _ = decode_binary::<Ack>(data);
    let _ = decode_binary::<Cue>(data);
    let _ = decode_binary::<Command>(data);
    let _ = decode_binary::<DeviceStatus>(data);

    let _ = from_json::<SampleBatch>(data);
    let _ = from_json::<Ack>(data);
    let _ = from_json::<Cue>(data);
    let _ = from_json::<WorkoutPlan>(data);
    let _ = from_json::<AthleteProfile>(data);
    let _ = from_json::<Command>(data);
    let _ = from_json::<DeviceStatus>(data);
});
