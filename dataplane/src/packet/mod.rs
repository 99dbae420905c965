//! Zero-copy header views and the per-packet flow key extractor.
//!
//! Every header the switch looks at has a view here in the smoltcp style: a
//! `Packet<T: AsRef<[u8]>>` (or `Frame`, `Tag`, …) that wraps a byte buffer
//! starting at the header, a private `mod field` of byte ranges, a
//! `new_checked` constructor that validates the length once, and accessors
//! that cannot panic after that check. Setters exist when `T: AsMut<[u8]>`.
//! Views never allocate and never copy.
//!
//! [`extract`] walks a frame with these views and fills a
//! [`FlowKey`](crate::key::FlowKey) with every OpenFlow 1.3 match field that
//! is present, plus the offsets of the headers it found ([`Parsed`]), which
//! the action code in [`crate::modify`] uses to find what it rewrites.
//!
//! # What "present" means
//!
//! The key follows the conventions of [`crate::key`]: an absent field is zero
//! and presence shows through the field that selects a header (`eth_type`,
//! `ip_proto`, OFPVID_PRESENT in `vlan_vid`). The walk stops at the first
//! header that is truncated or malformed, and fills nothing from that header
//! or beyond it, as Open vSwitch does (`miniflow_extract`): a bad IPv4 header
//! (IHL below 5, IHL*4 or total length beyond the bytes present, total length
//! below IHL*4) leaves only the Ethernet/VLAN fields with `eth_type` 0x0800.
//! In detail:
//!
//! - Fewer than 14 bytes: only `in_port`, `in_phy_port`, `metadata`,
//!   `tunnel_id`.
//! - VLAN tags (TPID 0x8100 or 0x88a8) are skipped in any number (at most 255);
//!   the outermost gives `vlan_vid` (0x1000 | VID) and `vlan_pcp`;
//!   `eth_type` is the ethertype after the last tag. A truncated tag ends the
//!   walk with `eth_type` set to its TPID.
//! - An 802.3 length field (< 0x0600) is followed into an LLC/SNAP header
//!   with OUI 0; without one `eth_type` is 0x05ff, the value Open vSwitch uses
//!   for "no ethertype".
//! - MPLS (0x8847/0x8848): the top label stack entry gives `mpls_label`,
//!   `mpls_tc`, `mpls_bos`; nothing beyond the stack is parsed.
//! - PBB (0x88e7): the I-TAG gives `pbb_isid`; the customer frame inside is
//!   not parsed.
//! - ARP (0x0806) only for Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6,
//!   plen 4); other ARP packets carry only L2 fields.
//! - IPv4 with a non-zero fragment offset has `ip_proto` but no L4 fields.
//!   The IP payload ends at the total length, so Ethernet padding is never
//!   taken for L4 data.
//! - IPv6 walks the extension headers (see [`ipv6::walk_ext_headers`]) to
//!   fill `ipv6_exthdr` and find the upper-layer `ip_proto`; a truncated
//!   extension header leaves `ip_proto` zero and no L4 fields, a later
//!   fragment leaves `ip_proto` as the fragment header's next header and no L4
//!   fields; ESP and "no next header" end the walk with `ip_proto` 50 / 59.
//! - L4 headers need their full fixed size (TCP 20 bytes with a valid data
//!   offset, UDP 8, SCTP 12, ICMPv4 8, ICMPv6 4); ICMPv6 Neighbor
//!   Solicitation/Advertisement (135/136, code 0) with a complete target fill
//!   `ipv6_nd_target`, and their source/target link-layer address options
//!   `ipv6_nd_sll` (NS only) / `ipv6_nd_tll` (NA only). A malformed option
//!   (length 0 or past the end) or a repeated SLL/TLL option clears both
//!   link-layer fields but keeps the target, as Open vSwitch does.
//!
//! # Speed
//!
//! `extract` runs once per received packet (and again after actions that
//! rewrite headers, when a later table matches), so it is a straight-line
//! walk: no allocation, no loops except over VLAN tags, IPv6 extension
//! headers and ND options, each bounded by the frame length; the IPv6
//! extension walk is skipped when the first next header is not one. Each
//! key field is OR-ed into a zeroed word once. [`extract_into`] writes into
//! a caller-owned [`Parsed`] and avoids copying the ~230-byte result out:
//! about 160 instructions for a 64-byte Ethernet/IPv4/TCP frame, 190 for
//! IPv6/UDP or double-tagged IPv4/UDP (`benches/parse.rs`, whose
//! `PARSE_PROBE=N` mode gives a deterministic count under callgrind).

mod checksum;
mod extract;

pub mod arp;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
pub mod pbb;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;

pub use checksum::{crc32c, internet_checksum, internet_checksum_update, ones_complement_sum};
pub use extract::{Parsed, extract, extract_into};

/// A byte range of a header field.
type Field = core::ops::Range<usize>;

/// Why a view could not be made over a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than the header it must hold.
    #[error("truncated header: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the header needs (as far as it could be determined).
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A length field inside the header is impossible (e.g. an IPv4 IHL
    /// below 5, a TCP data offset below 5).
    #[error("malformed header length field")]
    Malformed,
}

#[inline]
fn truncated(need: usize, have: usize) -> Result<(), WireError> {
    if have < need {
        Err(WireError::Truncated { need, have })
    } else {
        Ok(())
    }
}

// Readers return 0 instead of panicking when a caller skipped the length
// check; after `new_checked` the fallback is dead code the compiler drops.

#[inline(always)]
fn rd16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

#[inline(always)]
fn rd32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[x0, x1, x2, x3]) => u32::from_be_bytes([x0, x1, x2, x3]),
        _ => 0,
    }
}

#[inline(always)]
fn rd64(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
        Some(a) => u64::from_be_bytes(a),
        None => 0,
    }
}

#[inline(always)]
fn rd128(b: &[u8], at: usize) -> u128 {
    match b
        .get(at..at + 16)
        .and_then(|s| <[u8; 16]>::try_from(s).ok())
    {
        Some(a) => u128::from_be_bytes(a),
        None => 0,
    }
}

#[inline(always)]
fn rd_mac(b: &[u8], at: usize) -> [u8; 6] {
    match b.get(at..at + 6) {
        Some(&[x0, x1, x2, x3, x4, x5]) => [x0, x1, x2, x3, x4, x5],
        _ => [0; 6],
    }
}

#[inline(always)]
fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
fn wr32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Declares a view type: the struct, `new_unchecked`, `new_checked`,
/// `into_inner` and `as_bytes`. The type must provide `fn check_len`.
macro_rules! view {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a buffer without checking its length; accessors may
            /// panic until [`Self::check_len`] succeeds.
            #[inline]
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wraps a buffer after checking that it holds the whole header,
            /// so that no accessor can panic.
            #[inline]
            pub fn new_checked(buffer: T) -> Result<Self, crate::packet::WireError> {
                let v = Self::new_unchecked(buffer);
                v.check_len()?;
                Ok(v)
            }

            /// The wrapped buffer.
            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }

            /// The bytes from the start of the header to the end of the
            /// buffer.
            #[inline]
            pub fn as_bytes(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}
use view;
