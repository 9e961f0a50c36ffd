//! Arbitrary bytes as what a device sends the MQTT front door, cut at every 61st byte as
//! reads would be: `mqtt_acl::PacketGate` (rumqttd's MQTT 3.1.1 codec and the topic ACLs)
//! returns a packet, "not yet" or a denial, never panics, and holds at most one packet of
//! the gateway's maximum size and one read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_gateway::transport::broker::MAX_PACKET_BYTES;
use paceline_gateway::transport::mqtt_acl::{DeviceAcl, PacketGate};
use paceline_schemas::{DeviceId, TenantId};

fuzz_target!(|data: &[u8]| {
    let acl = DeviceAcl::new(
        &TenantId::new("gym-a").unwrap(),
        &DeviceId::new("d-dev").unwrap(),
    );
    for connected in [false, true] {
        let mut gate = PacketGate::new(MAX_PACKET_BYTES);
        if connected {
            gate.connected(Some(acl.clone()));
        }
        'stream: for chunk in data.chunks(61) {
            gate.buffer().extend_from_slice(chunk);
            loop {
                let step = if connected {
                    gate.next_allowed().map(|p| p.is_some())
                } else {
                    gate.next_connect().map(|p| p.is_some())
                };
                match step {
                    // The front door sets the ACL after the CONNECT; stop there.
                    Ok(true) if !connected => break 'stream,
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(_) => break 'stream,
                }
            }
            assert!(gate.buffer().len() <= MAX_PACKET_BYTES + 5 + 61);
        }
    }
});
