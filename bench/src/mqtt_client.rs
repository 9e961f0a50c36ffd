//! A lean MQTT 3.1.1 client for load generators: the few packets a bench device needs,
//! written into buffers the caller reuses, over a plain tokio `TcpStream` with
//! `TCP_NODELAY`.
//!
//! rumqttc gives every client an event loop task, a request channel and an allocation per
//! publish; a generator driving thousands of devices spent more CPU on that than the
//! server it measured. Here the control packets (CONNECT, SUBSCRIBE) are written with
//! rumqttc's own `mqttbytes` codec; the hot ones (PUBLISH QoS 1, PUBACK, PINGREQ) are
//! written by hand into a `Vec<u8>` so a shard can put all of a tick's packets for one
//! connection into one `write`, and incoming packets are parsed in place
//! ([`PacketReader`]) without copying the payload. It keeps no session state: QoS 1
//! retransmission is not needed on loopback and the bench counts what the server stored.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::BytesMut;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Connect, Subscribe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest packet accepted from the broker.
const MAX_PACKET_BYTES: usize = 256 * 1024;

/// PINGREQ, whole.
pub const PINGREQ: [u8; 2] = [0xc0, 0x00];

/// Appends MQTT's variable-length "remaining length".
fn write_remaining_length(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = u8::try_from(len % 128).unwrap_or(0);
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

/// Appends a QoS 1 PUBLISH of `payload` on `topic` with packet id `pkid`.
pub fn write_publish_qos1(out: &mut Vec<u8>, topic: &str, pkid: u16, payload: &[u8]) {
    let topic_len = u16::try_from(topic.len()).unwrap_or(u16::MAX);
    out.push(0x32);
    write_remaining_length(out, 2 + usize::from(topic_len) + 2 + payload.len());
    out.extend_from_slice(&topic_len.to_be_bytes());
    out.extend_from_slice(
        topic
            .as_bytes()
            .get(..usize::from(topic_len))
            .unwrap_or(b""),
    );
    out.extend_from_slice(&pkid.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends a PUBACK for packet id `pkid`.
pub fn write_puback(out: &mut Vec<u8>, pkid: u16) {
    out.extend_from_slice(&[0x40, 0x02]);
    out.extend_from_slice(&pkid.to_be_bytes());
}

/// One packet from the broker, borrowed from the reader's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// CONNACK with its return code (0 = accepted).
    ConnAck {
        /// The return code.
        code: u8,
    },
    /// SUBACK.
    SubAck,
    /// PUBLISH: its packet id (QoS 1 and 2; 0 for QoS 0), QoS and payload.
    Publish {
        /// The QoS (0, 1 or 2).
        qos: u8,
        /// The packet id.
        pkid: u16,
        /// The payload.
        payload: &'a [u8],
    },
    /// PUBACK for one of our publishes.
    PubAck {
        /// The packet id.
        pkid: u16,
    },
    /// PINGRESP.
    PingResp,
    /// Any other packet type (the upper nibble of the first byte).
    Other(u8),
}

/// Why the broker's bytes could not be read as MQTT.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The remaining length runs over four bytes or past the largest packet accepted.
    #[error("MQTT packet length malformed or over {MAX_PACKET_BYTES} bytes")]
    Length,
    /// A packet too short for its type.
    #[error("MQTT packet of type {0:#x} too short")]
    Short(u8),
}

/// Splits the broker's byte stream into packets, reusing one buffer.
#[derive(Default)]
pub struct PacketReader {
    buffer: Vec<u8>,
    start: usize,
}

impl PacketReader {
    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole packet, if the buffer holds one.
    pub fn next_packet(&mut self) -> Result<Option<Incoming<'_>>, ReadError> {
        let rest = self.buffer.get(self.start..).unwrap_or_default();
        let Some(&first) = rest.first() else {
            return Ok(None);
        };
        let mut remaining = 0usize;
        let mut header_len = 1;
        loop {
            let Some(&byte) = rest.get(header_len) else {
                return Ok(None);
            };
            remaining |= usize::from(byte & 0x7f) << (7 * (header_len - 1));
            header_len += 1;
            if byte & 0x80 == 0 {
                break;
            }
            if header_len > 4 {
                return Err(ReadError::Length);
            }
        }
        if remaining > MAX_PACKET_BYTES {
            return Err(ReadError::Length);
        }
        let Some(body) = rest.get(header_len..header_len + remaining) else {
            return Ok(None);
        };
        self.start += header_len + remaining;
        let kind = first >> 4;
        let short = || ReadError::Short(kind);
        let u16_at = |at: usize| -> Result<u16, ReadError> {
            body.get(at..at + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_be_bytes)
                .ok_or_else(short)
        };
        Ok(Some(match kind {
            2 => Incoming::ConnAck {
                code: *body.get(1).ok_or_else(short)?,
            },
            3 => {
                let qos = (first >> 1) & 0x03;
                let topic_len = usize::from(u16_at(0)?);
                let mut at = 2 + topic_len;
                let pkid = if qos > 0 {
                    let pkid = u16_at(at)?;
                    at += 2;
                    pkid
                } else {
                    0
                };
                Incoming::Publish {
                    qos,
                    pkid,
                    payload: body.get(at..).ok_or_else(short)?,
                }
            }
            4 => Incoming::PubAck { pkid: u16_at(0)? },
            9 => Incoming::SubAck,
            13 => Incoming::PingResp,
            other => Incoming::Other(other),
        }))
    }
}

/// Connects to `addr` with `TCP_NODELAY`, sends CONNECT (clean session, `login` as user
/// name and password) and waits for an accepting CONNACK.
pub async fn connect(
    addr: SocketAddr,
    client_id: &str,
    login: Option<(&str, &str)>,
    keep_alive: Duration,
) -> anyhow::Result<(TcpStream, PacketReader)> {
    let mut stream = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(addr))
        .await
        .context("TCP connect timed out")?
        .context("TCP connect")?;
    stream.set_nodelay(true)?;
    let mut connect = Connect::new(client_id);
    connect.keep_alive = u16::try_from(keep_alive.as_secs()).unwrap_or(u16::MAX);
    if let Some((user, password)) = login {
        connect.set_login(user, password);
    }
    let mut out = BytesMut::new();
    connect
        .write(&mut out)
        .map_err(|e| anyhow::anyhow!("encoding CONNECT: {e:?}"))?;
    stream.write_all(&out).await?;
    let mut reader = PacketReader::default();
    match next(&mut stream, &mut reader).await? {
        Incoming::ConnAck { code: 0 } => Ok((stream, reader)),
        Incoming::ConnAck { code } => bail!("the broker refused CONNECT (return code {code})"),
        other => bail!("expected CONNACK, got {other:?}"),
    }
}

/// Subscribes to `filter` at QoS 1 and waits for the SUBACK; PUBLISHes that arrive first
/// are dropped (none do on a fresh clean session).
pub async fn subscribe(
    stream: &mut TcpStream,
    reader: &mut PacketReader,
    filter: &str,
) -> anyhow::Result<()> {
    let mut subscribe = Subscribe::new(filter, QoS::AtLeastOnce);
    subscribe.pkid = 1;
    let mut out = BytesMut::new();
    subscribe
        .write(&mut out)
        .map_err(|e| anyhow::anyhow!("encoding SUBSCRIBE: {e:?}"))?;
    stream.write_all(&out).await?;
    loop {
        if let Incoming::SubAck = next(stream, reader).await? {
            return Ok(());
        }
    }
}

/// Reads until one packet is whole (for the handshakes; the hot path reads in batches).
async fn next<'r>(
    stream: &mut TcpStream,
    reader: &'r mut PacketReader,
) -> anyhow::Result<Incoming<'r>> {
    let mut chunk = [0u8; 1024];
    loop {
        // Two steps (is one whole? then take it) so the buffer is free to grow otherwise.
        if reader.has_packet()? {
            return reader
                .next_packet()?
                .context("a whole packet vanished from the buffer");
        }
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk))
            .await
            .context("the broker sent nothing for 60 s")??;
        if n == 0 {
            bail!("the broker closed the connection");
        }
        reader.push(chunk.get(..n).unwrap_or_default());
    }
}

impl PacketReader {
    /// Whether a whole packet is buffered.
    fn has_packet(&self) -> Result<bool, ReadError> {
        let rest = self.buffer.get(self.start..).unwrap_or_default();
        let mut remaining = 0usize;
        for (i, &byte) in rest.iter().enumerate().skip(1).take(4) {
            remaining |= usize::from(byte & 0x7f) << (7 * (i - 1));
            if byte & 0x80 == 0 {
                return Ok(rest.len() >= i + 1 + remaining);
            }
            if i == 4 {
                return Err(ReadError::Length);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::v4::{Packet, PubAck, Publish};

    #[test]
    fn publish_and_puback_read_back_with_mqttbytes() {
        let payload = vec![7u8; 300];
        let mut out = Vec::new();
        write_publish_qos1(&mut out, "pl/v1/gym/dev/up", 513, &payload);
        write_puback(&mut out, 9);
        let mut stream = BytesMut::from(out.as_slice());
        let mut expected = Publish::new("pl/v1/gym/dev/up", QoS::AtLeastOnce, payload.clone());
        expected.pkid = 513;
        assert_eq!(
            Packet::read(&mut stream, MAX_PACKET_BYTES).unwrap(),
            Packet::Publish(expected)
        );
        assert_eq!(
            Packet::read(&mut stream, MAX_PACKET_BYTES).unwrap(),
            Packet::PubAck(PubAck::new(9))
        );
    }

    #[test]
    fn reader_parses_packets_written_by_mqttbytes_across_pushes() {
        let mut publish = Publish::new("pl/v1/gym/dev/down", QoS::AtLeastOnce, vec![1, 2, 3]);
        publish.pkid = 42;
        let mut bytes = BytesMut::new();
        Packet::Publish(publish)
            .write(&mut bytes, MAX_PACKET_BYTES)
            .unwrap();
        Packet::PubAck(PubAck::new(5))
            .write(&mut bytes, MAX_PACKET_BYTES)
            .unwrap();
        Packet::PingResp
            .write(&mut bytes, MAX_PACKET_BYTES)
            .unwrap();
        let mut reader = PacketReader::default();
        let (a, b) = bytes.split_at(7);
        reader.push(a);
        assert!(!reader.has_packet().unwrap());
        assert_eq!(reader.next_packet().unwrap(), None);
        reader.push(b);
        assert_eq!(
            reader.next_packet().unwrap(),
            Some(Incoming::Publish {
                qos: 1,
                pkid: 42,
                payload: &[1, 2, 3]
            })
        );
        assert_eq!(
            reader.next_packet().unwrap(),
            Some(Incoming::PubAck { pkid: 5 })
        );
        assert_eq!(reader.next_packet().unwrap(), Some(Incoming::PingResp));
        assert_eq!(reader.next_packet().unwrap(), None);
    }

    #[test]
    fn reader_refuses_an_overlong_length_and_a_truncated_publish() {
        let mut reader = PacketReader::default();
        reader.push(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(reader.next_packet(), Err(ReadError::Length));
        let mut reader = PacketReader::default();
        reader.push(&[0x32, 0x03, 0x00, 0x09, b'a']);
        assert_eq!(reader.next_packet(), Err(ReadError::Short(3)));
    }
}
