//! The client address that limits are counted under: the TCP peer, or, when the peer is a
//! trusted reverse proxy, the rightmost `X-Forwarded-For` hop that is not one; IPv6
//! addresses grouped by their /64 (one subscriber's network), IPv4-mapped IPv6 as IPv4.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// An address block, `192.0.2.0/24` or `2001:db8::/32` (a bare address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not an address block.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an address or a block like 10.0.0.0/8 or fd00::/8")]
pub struct IpBlockError(String);

impl FromStr for IpBlock {
    type Err = IpBlockError;

    fn from_str(text: &str) -> Result<IpBlock, IpBlockError> {
        let bad = || IpBlockError(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return Err(bad());
        }
        Ok(IpBlock {
            network: mask(addr, prefix),
            prefix,
        })
    }
}

impl IpBlock {
    /// Whether `ip` lies in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

/// `ip` with all but its first `prefix` bits zeroed.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & keep).into())
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

/// The client's address: `peer` itself unless it is in `trusted`; then the rightmost hop
/// of `forwarded_for` (the `X-Forwarded-For` values in order, comma-separated) that is not
/// trusted, the leftmost if all are. A hop that is no address ends the walk at the
/// proxy that added it.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpBlock]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|block| block.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            return client;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

/// The key limits are counted under: an IPv4 address, or an IPv6 address's /64.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        v6 @ IpAddr::V6(_) => mask(v6, 64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn blocks(texts: &[&str]) -> Vec<IpBlock> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn ipv4_is_its_own_key_and_ipv6_is_grouped_by_its_64() {
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_ne!(limit_key(ip("203.0.113.7")), limit_key(ip("203.0.113.8")));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        // An IPv4-mapped IPv6 peer counts as its IPv4 address.
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let xff = ["198.51.100.1"];
        // No trusted proxies (the default): the peer, whatever the header says.
        assert_eq!(client_address(ip("127.0.0.1"), &xff, &[]), ip("127.0.0.1"));
        // A peer outside the trusted blocks: the peer.
        let trusted = blocks(&["127.0.0.1/32", "10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("192.0.2.9"), &xff, &trusted),
            ip("192.0.2.9")
        );
        // A trusted peer: the hop it forwarded for.
        assert_eq!(
            client_address(ip("127.0.0.1"), &xff, &trusted),
            ip("198.51.100.1")
        );
        // A trusted peer without the header: the peer.
        assert_eq!(
            client_address(ip("10.1.2.3"), &[], &trusted),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = blocks(&["127.0.0.1", "10.0.0.0/8"]);
        // The client forged the leftmost entries; the proxies appended the rest.
        let xff = ["6.6.6.6, 198.51.100.1", "10.0.0.5"];
        assert_eq!(
            client_address(ip("127.0.0.1"), &xff, &trusted),
            ip("198.51.100.1")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["10.0.0.9, 10.0.0.5"], &trusted),
            ip("10.0.0.9")
        );
        // Garbage ends the walk at the proxy that passed it on.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["1.2.3.4, garbage, 10.0.0.5"], &trusted),
            ip("10.0.0.5")
        );
        // IPv6 hops and blocks.
        let v6 = blocks(&["fd00::/8"]);
        assert_eq!(
            client_address(ip("fd00::1"), &["2001:db8::7"], &v6),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn blocks_parse_and_contain() {
        let block: IpBlock = "10.0.0.0/8".parse().unwrap();
        assert!(block.contains(ip("10.255.0.1")));
        assert!(!block.contains(ip("11.0.0.1")));
        assert!(block.contains(ip("::ffff:10.0.0.1")));
        assert!(
            "0.0.0.0/0"
                .parse::<IpBlock>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!("10.0.0.0/33".parse::<IpBlock>().is_err());
        assert!("nonsense".parse::<IpBlock>().is_err());
        assert!(!"::/0".parse::<IpBlock>().unwrap().contains(ip("8.8.8.8")));
    }
}
