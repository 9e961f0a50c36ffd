//! Arbitrary bytes as an MQTT topic (the gateway parses every uplink topic the broker
//! hands it): `Topic::parse` returns a topic or an error, never panics, and a topic that
//! parses prints back as the same string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_schemas::Topic;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(topic) = Topic::parse(text) {
        assert_eq!(topic.to_string(), text, "a parsed topic prints differently");
    }
});
