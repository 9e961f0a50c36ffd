//! MQTT topics: `pl/v1/{tenant}/{device}/up` for samples, `.../down` for cues and acks.
//!
//! Topic levels are built only from validated ids ([`TenantId`], [`DeviceId`]), which
//! cannot contain `/`, `+` or `#`, so a device can never publish into, or subscribe across,
//! another device's topics by choosing its id.

use std::fmt;

use crate::ids::{DeviceId, IdError, TenantId};

/// The first two topic levels of this wire version.
pub const TOPIC_PREFIX: &str = "pl/v1";

/// Which way a topic carries frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device to gateway (samples).
    Up,
    /// Gateway to device (cues, acks).
    Down,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// A parsed Paceline topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The tenant level.
    pub tenant: TenantId,
    /// The device level.
    pub device: DeviceId,
    /// The last level.
    pub direction: Direction,
}

/// Why a topic is not a Paceline topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// It does not have the shape `pl/v1/{tenant}/{device}/up|down`.
    #[error("topic {topic:?} is not of the form {TOPIC_PREFIX}/{{tenant}}/{{device}}/up|down")]
    Shape {
        /// The topic, cut to 100 bytes.
        topic: String,
    },
    /// A level is not a valid id.
    #[error("topic has a bad id: {0}")]
    Id(#[from] IdError),
}

impl Topic {
    /// The uplink topic of a device.
    pub fn up(tenant: &TenantId, device: &DeviceId) -> Self {
        Self {
            tenant: tenant.clone(),
            device: device.clone(),
            direction: Direction::Up,
        }
    }

    /// The downlink topic of a device.
    pub fn down(tenant: &TenantId, device: &DeviceId) -> Self {
        Self {
            tenant: tenant.clone(),
            device: device.clone(),
            direction: Direction::Down,
        }
    }

    /// Parses a topic name as received from the broker.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let shape_error = || TopicError::Shape {
            topic: topic.chars().take(100).collect(),
        };
        let rest = topic
            .strip_prefix(TOPIC_PREFIX)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(shape_error)?;
        let mut levels = rest.split('/');
        let (Some(tenant), Some(device), Some(direction), None) =
            (levels.next(), levels.next(), levels.next(), levels.next())
        else {
            return Err(shape_error());
        };
        let direction = match direction {
            "up" => Direction::Up,
            "down" => Direction::Down,
            _ => return Err(shape_error()),
        };
        Ok(Self {
            tenant: TenantId::new(tenant)?,
            device: DeviceId::new(device)?,
            direction,
        })
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TOPIC_PREFIX}/{}/{}/{}",
            self.tenant,
            self.device,
            self.direction.as_str()
        )
    }
}

/// The filter matching every device's uplink topic: `pl/v1/+/+/up`.
pub fn all_uplinks_filter() -> String {
    format!("{TOPIC_PREFIX}/+/+/up")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TenantId, DeviceId) {
        (
            TenantId::new("gym-1").unwrap(),
            DeviceId::new("strap.7").unwrap(),
        )
    }

    #[test]
    fn topics_round_trip() {
        let (tenant, device) = ids();
        let up = Topic::up(&tenant, &device);
        assert_eq!(up.to_string(), "pl/v1/gym-1/strap.7/up");
        assert_eq!(Topic::parse("pl/v1/gym-1/strap.7/up"), Ok(up));
        let down = Topic::down(&tenant, &device);
        assert_eq!(down.to_string(), "pl/v1/gym-1/strap.7/down");
        assert_eq!(Topic::parse(&down.to_string()), Ok(down));
    }

    #[test]
    fn bad_topics_are_rejected() {
        for topic in [
            "",
            "pl/v1",
            "pl/v1/",
            "pl/v2/a/b/up",
            "pl/v1/a/b",
            "pl/v1/a/b/sideways",
            "pl/v1/a/b/up/extra",
            "pl/v1//b/up",
            "pl/v1/a//up",
            "pl/v1/+/b/up",
            "pl/v1/a/#/up",
            "pl/v1/a/b+/down",
            "xpl/v1/a/b/up",
        ] {
            assert!(Topic::parse(topic).is_err(), "{topic:?} was accepted");
        }
    }

    #[test]
    fn filters() {
        assert_eq!(all_uplinks_filter(), "pl/v1/+/+/up");
    }
}
