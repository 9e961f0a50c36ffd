//! A tour of Paceline's wire protocol: what an edge agent sends, what the gateway checks,
//! and what comes back. Run with `cargo run -p paceline-schemas --example wire_tour`.
#![allow(clippy::print_stdout)]

use std::error::Error;

use paceline_schemas::cue::ReduceTarget;
use paceline_schemas::sample::Contact;
use paceline_schemas::*;
use paceline_schemas::{codec, seal};

fn main() -> Result<(), Box<dyn Error>> {
    let tenant = TenantId::new("gym-1")?;
    let device = DeviceId::new("strap-7")?;
    let session = SessionId::new("2026-11-22T07-00")?;
    let key = DeviceKey::generate();

    println!("# Paceline wire protocol v{WIRE_VERSION}\n");
    println!(
        "device {device} of tenant {tenant} publishes to  {}",
        Topic::up(&tenant, &device)
    );
    println!(
        "and hears cues and acks on             {}\n",
        Topic::down(&tenant, &device)
    );

    // An edge agent batches a second of heart rate (with RR intervals) and seals it.
    let samples = (0..4u16)
        .map(|i| Sample {
            t_ms: 1_800_000 + 250 * u64::from(i),
            value: SampleValue::HeartRate(HeartRate {
                bpm: 150 + i,
                contact: Contact::On,
                energy_kj: None,
                rr_1024: vec![410 - i],
            }),
        })
        .collect();
    let batch = SampleBatch::new(samples)?;
    let header = FrameHeader {
        kind: FrameKind::Samples,
        tenant: tenant.clone(),
        device: device.clone(),
        session: session.clone(),
        seq: 1,
        sent_ms: 1_795_338_000_000,
    };
    let frame = seal::seal(&key, header, &Payload::Samples(batch))?;
    let bytes = codec::encode_frame(&frame)?;
    println!("## Up: a samples frame, {} bytes on the wire", bytes.len());
    println!("{}\n", hex_lines(&bytes));
    println!(
        "its JSON debugging form:\n{}\n",
        codec::to_json_pretty(&frame)?
    );

    // The gateway decodes the header, looks up the key of the device it names, and opens.
    let received = codec::decode_frame(&bytes)?;
    let Payload::Samples(opened) = seal::open(&key, &received)? else {
        return Err("expected samples".into());
    };
    println!("## The gateway opens it with the device key:");
    for sample in opened.samples() {
        println!("{}", codec::to_json(sample)?);
    }

    // Anyone can publish on the broker: a changed byte or a wrong key does not open.
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let tampered = codec::decode_frame(&tampered)?;
    println!(
        "\n## A frame with one bit changed: {}",
        outcome(seal::open(&key, &tampered))
    );
    println!(
        "## The same frame opened with another device's key: {}",
        outcome(seal::open(&DeviceKey::generate(), &received))
    );
    println!(
        "## Random bytes from the network: {}\n",
        codec::decode_frame(b"\x01not a frame").map_or_else(|e| e.to_string(), |_| "?".into())
    );

    // Down: the ack once the frame is stored, then a safety cue.
    let ack = Payload::Ack(Ack { committed_seq: 1 });
    let cue = Payload::Cue(Cue {
        session: session.clone(),
        t_s: 1834.0,
        severity: Severity::Safety,
        code: CueCode::HrAboveCap,
        text: "Heart rate 178 is above your cap of 176: ease off for 60 s".into(),
        modification: Some(Modification::ReduceTarget(ReduceTarget {
            pct: 20,
            duration_s: 60,
        })),
    });
    for (seq, payload) in [(1, ack), (2, cue)] {
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: tenant.clone(),
            device: device.clone(),
            session: session.clone(),
            seq,
            sent_ms: 1_795_338_000_010,
        };
        let frame = seal::seal(&key, header, &payload)?;
        let size = codec::encode_frame(&frame)?.len();
        let json = match &payload {
            Payload::Ack(ack) => codec::to_json(ack)?,
            Payload::Cue(cue) => codec::to_json(cue)?,
            Payload::Samples(batch) => codec::to_json(batch)?,
            Payload::Command(command) => codec::to_json(command)?,
            Payload::DeviceStatus(status) => codec::to_json(status)?,
        };
        println!("## Down: {:?} frame, {size} bytes: {json}", payload.kind());
    }
    Ok(())
}

fn outcome(result: Result<Payload, OpenError>) -> String {
    match result {
        Ok(_) => "opened (this must not happen)".to_owned(),
        Err(err) => format!("rejected: {err}"),
    }
}

fn hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(32)
        .map(hex::encode)
        .collect::<Vec<_>>()
        .join("\n")
}
