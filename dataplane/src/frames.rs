//! Synthetic Ethernet frames with correct checksums, for tests, the replay
//! benchmark and `okod demo`'s generated traffic.
//!
//! Frames are padded to at least 60 bytes (the Ethernet minimum without the
//! FCS) and to the requested length; padding lies beyond the IP datagram,
//! as on a real wire.

use std::net::Ipv4Addr;

use crate::packet::{internet_checksum, ones_complement_sum};

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
}

/// Addresses and IP header fields of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip4 {
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// DSCP (6 bits).
    pub dscp: u8,
    /// Don't-fragment flag.
    pub df: bool,
    /// IP identification.
    pub id: u16,
}

impl Default for Ip4 {
    fn default() -> Self {
        Self {
            src_mac: [0x02, 0, 0, 0, 0, 1],
            dst_mac: [0x02, 0, 0, 0, 0, 2],
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            ttl: 64,
            dscp: 0,
            df: true,
            id: 1,
        }
    }
}

/// A TCP segment's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags ([`tcp_flags`]).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Options, zero-padded to a multiple of 4 bytes.
    pub options: &'static [u8],
}

impl Default for Tcp {
    fn default() -> Self {
        Self {
            sport: 40000,
            dport: 80,
            seq: 1,
            ack: 0,
            flags: tcp_flags::ACK,
            window: 65535,
            options: &[],
        }
    }
}

fn eth(ip: &Ip4, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&ip.dst_mac);
    f.extend_from_slice(&ip.src_mac);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// Appends an IPv4 header and `l4` (whose checksum at `csum_at`, if any,
/// is filled over the pseudo-header), then pads to `frame_len`.
fn ipv4(
    mut f: Vec<u8>,
    ip: &Ip4,
    proto: u8,
    mut l4: Vec<u8>,
    csum_at: Option<usize>,
    frame_len: usize,
) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[1] = ip.dscp << 2;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[4..6].copy_from_slice(&ip.id.to_be_bytes());
    if ip.df {
        h[6] = 0x40;
    }
    h[8] = ip.ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&ip.src.octets());
    h[16..20].copy_from_slice(&ip.dst.octets());
    let c = internet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    if let Some(at) = csum_at {
        let c = if proto == 1 {
            internet_checksum(&l4)
        } else {
            let mut pseudo = [0u8; 12];
            pseudo[0..4].copy_from_slice(&ip.src.octets());
            pseudo[4..8].copy_from_slice(&ip.dst.octets());
            pseudo[9] = proto;
            pseudo[10..12].copy_from_slice(&(l4.len() as u16).to_be_bytes());
            let s = ones_complement_sum(0, &pseudo);
            !ones_complement_sum(u32::from(s), &l4)
        };
        let c = if proto == 17 && c == 0 { 0xffff } else { c };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&h);
    f.extend_from_slice(&l4);
    f.resize(f.len().max(frame_len).max(60), 0);
    f
}

/// An Ethernet/IPv4/TCP frame with `payload` bytes of zeros, at least
/// `frame_len` bytes long.
pub fn tcp4(ip: &Ip4, tcp: &Tcp, payload: usize, frame_len: usize) -> Vec<u8> {
    let opt_len = tcp.options.len().div_ceil(4) * 4;
    let hl = 20 + opt_len;
    let mut l4 = vec![0u8; hl + payload];
    l4[0..2].copy_from_slice(&tcp.sport.to_be_bytes());
    l4[2..4].copy_from_slice(&tcp.dport.to_be_bytes());
    l4[4..8].copy_from_slice(&tcp.seq.to_be_bytes());
    l4[8..12].copy_from_slice(&tcp.ack.to_be_bytes());
    l4[12] = ((hl / 4) as u8) << 4;
    l4[13] = tcp.flags;
    l4[14..16].copy_from_slice(&tcp.window.to_be_bytes());
    l4[20..20 + tcp.options.len()].copy_from_slice(tcp.options);
    ipv4(eth(ip, 0x0800), ip, 6, l4, Some(16), frame_len)
}

/// An Ethernet/IPv4/UDP frame with `payload` bytes of zeros, at least
/// `frame_len` bytes long.
pub fn udp4(ip: &Ip4, sport: u16, dport: u16, payload: usize, frame_len: usize) -> Vec<u8> {
    let mut l4 = vec![0u8; 8 + payload];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    ipv4(eth(ip, 0x0800), ip, 17, l4, Some(6), frame_len)
}

/// An Ethernet/IPv4/ICMP echo request with `payload` bytes of zeros.
pub fn icmp4_echo(ip: &Ip4, id: u16, seq: u16, payload: usize) -> Vec<u8> {
    let mut l4 = vec![0u8; 8 + payload];
    l4[0] = 8;
    l4[4..6].copy_from_slice(&id.to_be_bytes());
    l4[6..8].copy_from_slice(&seq.to_be_bytes());
    ipv4(eth(ip, 0x0800), ip, 1, l4, Some(2), 0)
}

/// An Ethernet ARP request from `ip.src` for `ip.dst`, broadcast.
pub fn arp_request(ip: &Ip4) -> Vec<u8> {
    let mut f = eth(
        &Ip4 {
            dst_mac: [0xff; 6],
            ..*ip
        },
        0x0806,
    );
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&ip.src_mac);
    f.extend_from_slice(&ip.src.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ip.dst.octets());
    f.resize(60, 0);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::field;
    use crate::packet::extract;

    #[test]
    fn frames_parse_with_the_fields_given() {
        let ip = Ip4::default();
        let f = tcp4(
            &ip,
            &Tcp {
                flags: tcp_flags::SYN,
                ..Tcp::default()
            },
            0,
            64,
        );
        assert_eq!(f.len(), 64);
        let p = extract(&f, 1, 1, 0, 0);
        assert_eq!(p.key.get(field::IPV4_DST), 0x0a00_0002);
        assert_eq!(p.key.get(field::TP_DST), 80);
        assert_eq!(p.l3_end, 14 + 40);
        // IPv4 header checksum verifies to zero.
        assert_eq!(internet_checksum(&f[14..34]), 0);
        let u = udp4(&ip, 1, 53, 10, 0);
        assert_eq!(extract(&u, 1, 1, 0, 0).key.get(field::TP_DST), 53);
        let e = icmp4_echo(&ip, 7, 1, 56);
        assert_eq!(e.len(), 14 + 20 + 64);
        assert_eq!(internet_checksum(&e[34..]), 0);
        let a = arp_request(&ip);
        assert_eq!(extract(&a, 1, 1, 0, 0).key.get(field::ARP_OP), 1);
    }
}
