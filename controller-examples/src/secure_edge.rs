//! The `secure-edge` controller: forwarding between an outside port and a
//! protected inside port, guarded by the paper's three filters (Oko, SOSR
//! 2018, Table I):
//!
//! | priority | match | filter | action |
//! |---|---|---|---|
//! | 400 | outside, TCP | `p0f`: SYN of a flood tool's signature | drop |
//! | 300 | outside, IPv4 | `ratelimit`: source over its rate | drop |
//! | 200 | TCP (each direction) | `conntrack`: handshake step or established | forward |
//! | 100 | TCP | — | drop (not established) |
//! | 50 | IPv4 / ARP (each direction) | — | forward |
//!
//! [`install`] loads the programs from the committed objects, writes their
//! configuration maps (p0f signatures, rate and burst) and installs the
//! flows, every step checked with a barrier.

use ofext_filter::wire::ProgLoadReply;
use openflow::MessageBody;

use crate::client::{ClientError, Connection};
use crate::ofctl::{FlowMode, SyntaxError, parse_flow};

/// The committed `conntrack.o`.
pub const CONNTRACK_O: &[u8] = include_bytes!("../filters/conntrack.o");
/// The committed `p0f.o`.
pub const P0F_O: &[u8] = include_bytes!("../filters/p0f.o");
/// The committed `ratelimit.o`.
pub const RATELIMIT_O: &[u8] = include_bytes!("../filters/ratelimit.o");

/// [`P0fSig::flags`] bits.
pub mod sig_flags {
    /// A match returns 1 (a flood tool); without it a match returns 0.
    pub const TOOL: u8 = 2;
    /// Any MSS.
    pub const ANY_MSS: u8 = 4;
    /// Any window scale.
    pub const ANY_WSCALE: u8 = 8;
    /// Any IP options length.
    pub const ANY_OLEN: u8 = 16;
}

/// [`P0fSig::win_type`] values (`p0f_sig.win_type` of `filters/p0f.c`).
pub mod win_type {
    /// Any window.
    pub const ANY: u8 = 0;
    /// `window == win`.
    pub const EXACT: u8 = 1;
    /// `window == mss * win`.
    pub const MSS: u8 = 2;
    /// `window == (mss + header) * win`.
    pub const MTU: u8 = 3;
    /// `window % win == 0`.
    pub const MOD: u8 = 4;
}

/// The DF quirk bit.
pub const Q_DF: u16 = 0x0001;
/// The "IP ID nonzero with DF" quirk bit.
pub const Q_NZ_ID: u16 = 0x0002;

/// At most this many TCP option kinds in a layout (p0f's own limit: p0f
/// stops parsing a SYN's options there and calls them bad).
pub const P0F_MAX_OPTS: usize = 24;
/// Bytes of TCP option space, the most a layout can span.
pub const P0F_MAX_OLEN: usize = 40;
/// At most this many layouts span the same number of option bytes.
pub const P0F_OLEN_LAYOUTS: usize = 8;
/// At most this many signatures share a layout.
pub const P0F_LAYOUT_SIGS: usize = 16;
/// `struct p0f_layout`'s size.
pub const P0F_LAYOUT_SIZE: usize = 88 + 24 * P0F_LAYOUT_SIGS;
/// `struct p0f_bucket`'s size: the map's value.
pub const P0F_BUCKET_SIZE: usize = 8 + P0F_OLEN_LAYOUTS * P0F_LAYOUT_SIZE;
/// The map's entries: one per option length 0, 4, ..., 40 bytes.
pub const P0F_BUCKETS: usize = P0F_MAX_OLEN / 4 + 1;

/// TCP option kinds a layout may name (`P0fSig::layout`).
pub mod opt_kind {
    /// End of options: the layout's last kind; the bytes after it are
    /// `P0fSig::eol_pad`.
    pub const EOL: u8 = 0;
    /// No-operation (1 byte).
    pub const NOP: u8 = 1;
    /// Maximum segment size (4 bytes).
    pub const MSS: u8 = 2;
    /// Window scale (3 bytes).
    pub const WS: u8 = 3;
    /// SACK permitted (2 bytes).
    pub const SOK: u8 = 4;
    /// Timestamps (10 bytes).
    pub const TS: u8 = 8;
}

// The fingerprint word of `filters/p0f.c`: bit positions.
const FP_MSS: u32 = 16;
const FP_WIN: u32 = 32;
const FP_WSCALE: u32 = 48;
const FP_OLEN: u32 = 56;
const FP_IPV6: u32 = 62;
/// Always 0 in a packet's word: a signature requiring it never matches.
const FP_NEVER: u64 = 1 << 63;

/// One p0f signature, as p0f states it. [`p0f_table`] turns a list of
/// them into the filter's map entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P0fSig {
    /// [`sig_flags`].
    pub flags: u8,
    /// 0 any, 4, 6.
    pub ip_ver: u8,
    /// Inclusive TTL range.
    pub ttl: (u8, u8),
    /// IPv4 options length.
    pub ip_olen: u8,
    /// Window scale.
    pub wscale: u8,
    /// [`win_type`].
    pub win_type: u8,
    /// Window parameter.
    pub win: u16,
    /// MSS.
    pub mss: u16,
    /// Quirks that must be set (under the mask).
    pub quirks: u16,
    /// Quirks compared.
    pub quirk_mask: u16,
    /// TCP option kinds in order ([`opt_kind`]; at most 24).
    pub layout: Vec<u8>,
    /// Bytes after a final EOL (p0f's `eol+N`); 0 without EOL.
    pub eol_pad: u8,
}

impl P0fSig {
    /// The 24-byte `struct p0f_sig` (integers little-endian, as the BPF
    /// target stores them): the exact-match fields folded into the
    /// fingerprint word's `want` and `mask`. A field value the packet can
    /// never have (IP version other than 0, 4, 6; options length above 63;
    /// quirks outside their mask) gives a signature that never matches.
    pub fn to_bytes(&self) -> [u8; 24] {
        let (mut want, mut mask) = (0u64, 0u64);
        let mut never = self.quirks & !self.quirk_mask != 0;
        want |= u64::from(self.quirks & self.quirk_mask);
        mask |= u64::from(self.quirk_mask);
        if self.flags & sig_flags::ANY_MSS == 0 {
            want |= u64::from(self.mss) << FP_MSS;
            mask |= 0xFFFF << FP_MSS;
        }
        let mut wt = self.win_type;
        if wt == win_type::EXACT {
            want |= u64::from(self.win) << FP_WIN;
            mask |= 0xFFFF << FP_WIN;
            wt = win_type::ANY;
        }
        if self.flags & sig_flags::ANY_WSCALE == 0 {
            want |= u64::from(self.wscale) << FP_WSCALE;
            mask |= 0xFF << FP_WSCALE;
        }
        if self.flags & sig_flags::ANY_OLEN == 0 {
            never |= self.ip_olen > 0x3F;
            want |= u64::from(self.ip_olen & 0x3F) << FP_OLEN;
            mask |= 0x3F << FP_OLEN;
        }
        match self.ip_ver {
            0 => {}
            4 => mask |= 1 << FP_IPV6,
            6 => {
                want |= 1 << FP_IPV6;
                mask |= 1 << FP_IPV6;
            }
            _ => never = true,
        }
        if never {
            want |= FP_NEVER;
            mask |= FP_NEVER;
        }
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&want.to_le_bytes());
        b[8..16].copy_from_slice(&mask.to_le_bytes());
        b[16] = u8::from(self.flags & sig_flags::TOOL != 0);
        b[17] = self.ttl.0;
        b[18] = self.ttl.1;
        b[19] = wt;
        b[20..22].copy_from_slice(&self.win.to_le_bytes());
        b
    }

    /// hping3's default SYN: no options, window 512, initial TTL ≤ 64, DF
    /// clear (its IP ID is random, so only DF is compared).
    pub fn hping3() -> Self {
        Self {
            flags: sig_flags::TOOL,
            ip_ver: 0,
            ttl: (1, 64),
            ip_olen: 0,
            wscale: 0,
            win_type: win_type::EXACT,
            win: 512,
            mss: 0,
            quirks: 0,
            quirk_mask: Q_DF,
            layout: Vec::new(),
            eol_pad: 0,
        }
    }

    /// p0f's `*:64-:0:1460:1024,0:mss::0` (Nmap SYN scan).
    pub fn nmap() -> Self {
        Self {
            flags: sig_flags::TOOL,
            ip_ver: 0,
            ttl: (1, 64),
            ip_olen: 0,
            wscale: 0,
            win_type: win_type::EXACT,
            win: 1024,
            mss: 1460,
            quirks: 0,
            quirk_mask: 0xFFFF,
            layout: vec![2],
            eol_pad: 0,
        }
    }
}

/// Why a signature list does not fit the filter's map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum P0fTableError {
    /// A signature's layout has more than [`P0F_MAX_OPTS`] kinds.
    #[error("signature {index}: {len} TCP option kinds, at most {P0F_MAX_OPTS}")]
    LayoutTooLong {
        /// Position in the list.
        index: usize,
        /// Its layout's length.
        len: usize,
    },
    /// A layout names an option kind whose length it cannot fix (only
    /// [`opt_kind`]'s can be matched).
    #[error("signature {index}: TCP option kind {kind} has no fixed length")]
    Kind {
        /// Position in the list.
        index: usize,
        /// The kind.
        kind: u8,
    },
    /// EOL is not the layout's last kind, or `eol_pad` is set without it.
    #[error("signature {index}: EOL must be the last option kind, and padding needs it")]
    Eol {
        /// Position in the list.
        index: usize,
    },
    /// The layout spans more than [`P0F_MAX_OLEN`] bytes of options, or a
    /// number that is not a multiple of 4 (no TCP header has it).
    #[error(
        "signature {index}: layout spans {len} option bytes, not a multiple of 4 up to {P0F_MAX_OLEN}"
    )]
    OptionBytes {
        /// Position in the list.
        index: usize,
        /// The bytes it spans.
        len: usize,
    },
    /// More than [`P0F_LAYOUT_SIGS`] signatures share a layout.
    #[error("signature {index}: more than {P0F_LAYOUT_SIGS} signatures with this option layout")]
    BucketFull {
        /// Position in the list of the first one that does not fit.
        index: usize,
    },
    /// More than [`P0F_OLEN_LAYOUTS`] distinct layouts span the same number
    /// of option bytes.
    #[error(
        "signature {index}: more than {P0F_OLEN_LAYOUTS} distinct layouts of {olen} option bytes"
    )]
    TooManyLayouts {
        /// Position in the list of the first one that does not fit.
        index: usize,
        /// The option bytes they span.
        olen: usize,
    },
}

/// A layout as `filters/p0f.c` matches it: the option bytes it fixes (kinds
/// and lengths) and where its values are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OptionTemplate {
    /// Bytes of options spanned.
    olen: usize,
    want: [u8; P0F_MAX_OLEN],
    mask: [u8; P0F_MAX_OLEN],
    /// Offset of the last MSS, window-scale and timestamp option, 0xFF for
    /// none.
    at: [u8; 3],
}

impl OptionTemplate {
    /// The template of `sig`'s layout (`index` is its position, for errors).
    fn of(sig: &P0fSig, index: usize) -> Result<Self, P0fTableError> {
        if sig.layout.len() > P0F_MAX_OPTS {
            return Err(P0fTableError::LayoutTooLong {
                index,
                len: sig.layout.len(),
            });
        }
        let mut t = Self {
            olen: 0,
            want: [0; P0F_MAX_OLEN],
            mask: [0; P0F_MAX_OLEN],
            at: [0xFF; 3],
        };
        let mut eol = false;
        for &kind in &sig.layout {
            if eol {
                return Err(P0fTableError::Eol { index });
            }
            // The option's length, and which value slot it fills.
            let (len, slot) = match kind {
                opt_kind::EOL | opt_kind::NOP => (1, None),
                opt_kind::MSS => (4, Some(0)),
                opt_kind::WS => (3, Some(1)),
                opt_kind::SOK => (2, None),
                opt_kind::TS => (10, Some(2)),
                _ => return Err(P0fTableError::Kind { index, kind }),
            };
            let off = t.olen;
            t.olen += len;
            eol = kind == opt_kind::EOL;
            if t.olen > P0F_MAX_OLEN {
                continue; // reported below, with the whole length
            }
            t.want[off] = kind;
            t.mask[off] = 0xFF;
            if len > 1 {
                // `len` is at most 10: the length byte.
                t.want[off + 1] = len as u8;
                t.mask[off + 1] = 0xFF;
            }
            if let Some(i) = slot {
                // `off` is below 40.
                t.at[i] = off as u8;
            }
        }
        if sig.eol_pad != 0 && !eol {
            return Err(P0fTableError::Eol { index });
        }
        t.olen += usize::from(sig.eol_pad);
        if t.olen > P0F_MAX_OLEN || !t.olen.is_multiple_of(4) {
            return Err(P0fTableError::OptionBytes { index, len: t.olen });
        }
        Ok(t)
    }

    /// Bytes 0..88 of `struct p0f_layout` (want, mask, the value offsets; `n`
    /// and the padding zero).
    fn to_bytes(&self) -> [u8; 88] {
        let mut b = [0u8; 88];
        b[..P0F_MAX_OLEN].copy_from_slice(&self.want);
        b[P0F_MAX_OLEN..2 * P0F_MAX_OLEN].copy_from_slice(&self.mask);
        b[80..83].copy_from_slice(&self.at);
        b
    }
}

/// One entry of the p0f filter's map: the index (option bytes / 4, as a
/// little-endian u32) and its `struct p0f_bucket` ([`P0F_BUCKET_SIZE`]
/// bytes).
pub type P0fEntry = ([u8; 4], Vec<u8>);

/// The p0f filter's map for `sigs`, tried in list order: all
/// [`P0F_BUCKETS`] entries, one per option length (so that writing them
/// replaces whatever was there), each holding the distinct layouts of that
/// length in order of first appearance, and each layout its signatures in
/// list order. Signatures of different layouts never match the same SYN, so
/// this keeps p0f's first-match rule.
///
/// # Errors
/// A layout the filter cannot match ([`P0fTableError`]), more than 16
/// signatures of one layout, or more than 8 layouts of one length.
pub fn p0f_table(sigs: &[P0fSig]) -> Result<Vec<P0fEntry>, P0fTableError> {
    let mut buckets = vec![vec![0u8; P0F_BUCKET_SIZE]; P0F_BUCKETS];
    // Per option length, the templates placed so far, in bucket order.
    let mut placed: Vec<Vec<OptionTemplate>> = vec![Vec::new(); P0F_BUCKETS];
    for (index, s) in sigs.iter().enumerate() {
        let t = OptionTemplate::of(s, index)?;
        let olen = t.olen;
        let layouts = &mut placed[olen / 4];
        let bucket = &mut buckets[olen / 4];
        let j = match layouts.iter().position(|p| *p == t) {
            Some(j) => j,
            None => {
                if layouts.len() == P0F_OLEN_LAYOUTS {
                    return Err(P0fTableError::TooManyLayouts { index, olen });
                }
                let at = 8 + layouts.len() * P0F_LAYOUT_SIZE;
                bucket[at..at + 88].copy_from_slice(&t.to_bytes());
                layouts.push(t);
                bucket[0] += 1;
                layouts.len() - 1
            }
        };
        let lay = 8 + j * P0F_LAYOUT_SIZE;
        let n = usize::from(bucket[lay + 83]);
        if n == P0F_LAYOUT_SIGS {
            return Err(P0fTableError::BucketFull { index });
        }
        let at = lay + 88 + 24 * n;
        bucket[at..at + 24].copy_from_slice(&s.to_bytes());
        bucket[lay + 83] += 1;
    }
    Ok(buckets
        .into_iter()
        .enumerate()
        .map(|(i, b)| ((i as u32).to_le_bytes(), b))
        .collect())
}

/// The secure edge's settings.
#[derive(Debug, Clone)]
pub struct SecureEdge {
    /// The outside port.
    pub outside: u32,
    /// The protected inside port.
    pub inside: u32,
    /// Program ids: conntrack, p0f, ratelimit.
    pub prog_ids: [u32; 3],
    /// p0f signatures, tried in order (see [`p0f_table`] for the limits).
    pub signatures: Vec<P0fSig>,
    /// Packets per second each outside source may send.
    pub rate: u64,
    /// Burst, in packets.
    pub burst: u64,
}

impl Default for SecureEdge {
    fn default() -> Self {
        Self {
            outside: 1,
            inside: 2,
            prog_ids: [1, 2, 3],
            signatures: vec![P0fSig::hping3(), P0fSig::nmap()],
            rate: 1000,
            burst: 100,
        }
    }
}

/// Why installing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The switch refused something.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A flow of the plan does not parse (a bug in the plan).
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// The plan's p0f signatures do not fit the filter's map.
    #[error(transparent)]
    Signatures(#[from] P0fTableError),
}

impl SecureEdge {
    /// The flows, in ovs-ofctl syntax.
    pub fn flows(&self) -> Vec<String> {
        let [ct, p0f, rl] = self.prog_ids;
        let (o, i) = (self.outside, self.inside);
        vec![
            format!("priority=400,in_port={o},tcp,filter_prog={p0f},actions=drop"),
            format!("priority=300,in_port={o},ip,filter_prog={rl},actions=drop"),
            format!("priority=200,in_port={o},tcp,filter_prog={ct},actions=output:{i}"),
            format!("priority=200,in_port={i},tcp,filter_prog={ct},actions=output:{o}"),
            "priority=100,tcp,actions=drop".to_owned(),
            format!("priority=50,in_port={o},ip,actions=output:{i}"),
            format!("priority=50,in_port={i},ip,actions=output:{o}"),
            format!("priority=50,in_port={o},arp,actions=output:{i}"),
            format!("priority=50,in_port={i},arp,actions=output:{o}"),
        ]
    }
}

/// Loads the three programs, configures them and installs the flows.
/// Returns the PROG_LOAD_REPLYs (conntrack, p0f, ratelimit).
pub async fn install(
    conn: &Connection,
    plan: &SecureEdge,
) -> Result<Vec<ProgLoadReply>, InstallError> {
    let [ct, p0f, rl] = plan.prog_ids;
    let mut replies = Vec::with_capacity(3);
    for (id, obj) in [(ct, CONNTRACK_O), (p0f, P0F_O), (rl, RATELIMIT_O)] {
        replies.push(conn.load_program(id, obj, 0).await?);
    }
    let sigs = p0f_table(&plan.signatures)?;
    conn.map_update(p0f, 0, 0, &sigs).await?;
    let mut cfg = [0u8; 16];
    cfg[..8].copy_from_slice(&plan.rate.to_le_bytes());
    cfg[8..].copy_from_slice(&plan.burst.to_le_bytes());
    conn.map_update(rl, 0, 0, &[(0u32.to_le_bytes(), cfg)])
        .await?;
    let mut mods = Vec::new();
    for f in plan.flows() {
        let spec = parse_flow(&f, FlowMode::Add)?;
        if let Some(fm) = spec.to_flow_mod() {
            mods.push(MessageBody::FlowMod(fm));
        }
    }
    conn.send_all_checked(mods).await?;
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_layout_is_the_c_contract() {
        let b = P0fSig::nmap().to_bytes();
        let want = u64::from_le_bytes(b[..8].try_into().unwrap());
        let mask = u64::from_le_bytes(b[8..16].try_into().unwrap());
        // Quirks exact, MSS 1460, window 1024, window scale 0, no IP
        // options, any IP version.
        assert_eq!(want, 1460 << 16 | 1024 << 32);
        assert_eq!(
            mask,
            0xFFFF | 0xFFFF << 16 | 0xFFFF << 32 | 0xFF << 48 | 0x3F << 56
        );
        assert_eq!(&b[16..24], &[1, 1, 64, 0, 0, 4, 0, 0]);
        let mut v6 = P0fSig::hping3();
        v6.ip_ver = 6;
        v6.flags = sig_flags::ANY_MSS | sig_flags::ANY_WSCALE | sig_flags::ANY_OLEN;
        v6.win_type = win_type::MOD;
        v6.win = 8;
        let b = v6.to_bytes();
        assert_eq!(u64::from_le_bytes(b[..8].try_into().unwrap()), 1 << 62);
        assert_eq!(
            u64::from_le_bytes(b[8..16].try_into().unwrap()),
            1 << 62 | 1
        );
        assert_eq!(&b[16..24], &[0, 1, 64, 4, 8, 0, 0, 0]);
        // Impossible values never match (bit 63 is 0 in every packet).
        for bad in [
            P0fSig {
                ip_ver: 5,
                ..P0fSig::nmap()
            },
            P0fSig {
                ip_olen: 64,
                ..P0fSig::nmap()
            },
            P0fSig {
                quirks: 1,
                quirk_mask: 2,
                ..P0fSig::nmap()
            },
        ] {
            let b = bad.to_bytes();
            assert_eq!(b[7] & 0x80, 0x80, "{bad:?}");
            assert_eq!(b[15] & 0x80, 0x80, "{bad:?}");
        }
    }

    /// Entry `olen / 4`'s layout `j`: its 88 template bytes, its signature
    /// count and its signatures' bytes.
    fn layout(t: &[P0fEntry], olen: usize, j: usize) -> (&[u8], u8, &[u8]) {
        let (k, b) = &t[olen / 4];
        assert_eq!(*k, ((olen / 4) as u32).to_le_bytes());
        let l = &b[8 + j * P0F_LAYOUT_SIZE..8 + (j + 1) * P0F_LAYOUT_SIZE];
        (&l[..88], l[83], &l[88..])
    }

    #[test]
    fn signatures_are_bucketed_by_length_and_layout_in_order() {
        use opt_kind::{EOL, MSS, NOP, SOK, TS, WS};
        let linux = P0fSig {
            flags: sig_flags::ANY_MSS,
            layout: vec![MSS, SOK, TS, NOP, WS],
            ..P0fSig::nmap()
        };
        let bsd = P0fSig {
            layout: vec![MSS, NOP, WS, SOK, TS],
            ..linux.clone()
        };
        let sigs = [
            P0fSig::nmap(),
            linux.clone(),
            P0fSig::hping3(),
            bsd.clone(),
            linux,
        ];
        let t = p0f_table(&sigs).unwrap();
        assert_eq!(t.len(), P0F_BUCKETS);
        for (i, (k, b)) in t.iter().enumerate() {
            assert_eq!(*k, (i as u32).to_le_bytes());
            assert_eq!(b.len(), P0F_BUCKET_SIZE);
            let n = match i {
                0 | 1 => 1,
                5 => 2,
                _ => 0,
            };
            assert_eq!(&b[..8], &[n, 0, 0, 0, 0, 0, 0, 0], "entry {i}");
        }
        // 20 bytes: Linux's layout first, its two signatures in order,
        // then FreeBSD's.
        let (tmpl, n, s) = layout(&t, 20, 0);
        let mut want = [0u8; 40];
        want[..20].copy_from_slice(&[2, 4, 0, 0, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 0]);
        let mut mask = [0u8; 40];
        mask[..20].copy_from_slice(&[
            255, 255, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 0,
        ]);
        assert_eq!(&tmpl[..40], &want);
        assert_eq!(&tmpl[40..80], &mask);
        // MSS at 0, window scale at 17, timestamps at 6; n; padding.
        assert_eq!(&tmpl[80..88], &[0, 17, 6, 2, 0, 0, 0, 0]);
        assert_eq!(n, 2);
        assert_eq!(&s[..24], &sigs[1].to_bytes());
        assert_eq!(&s[24..48], &sigs[4].to_bytes());
        assert!(s[48..].iter().all(|&x| x == 0));
        let (tmpl, n, s) = layout(&t, 20, 1);
        assert_eq!(
            &tmpl[..20],
            &[2, 4, 0, 0, 1, 3, 3, 0, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(&tmpl[80..84], &[0, 5, 10, 1]);
        assert_eq!((n, &s[..24]), (1, &sigs[3].to_bytes()[..]));
        // nmap's mss alone (4 bytes); hping3's no options: a layout whose
        // mask is all zero, and no values.
        let (tmpl, _, s) = layout(&t, 4, 0);
        assert_eq!(&tmpl[..4], &[2, 4, 0, 0]);
        assert_eq!(&tmpl[40..44], &[255, 255, 0, 0]);
        assert_eq!(&s[..24], &P0fSig::nmap().to_bytes());
        let (tmpl, n, _) = layout(&t, 0, 0);
        assert!(tmpl[..80].iter().all(|&x| x == 0));
        assert_eq!((&tmpl[80..84], n), (&[255, 255, 255, 1][..], 1));
        // EOL and its padding (macOS's mss,nop,ws,nop,nop,ts,sok,eol+1):
        // the padding is not compared.
        let mac = P0fSig {
            layout: vec![MSS, NOP, WS, NOP, NOP, TS, SOK, EOL],
            eol_pad: 1,
            ..P0fSig::nmap()
        };
        let t = p0f_table(std::slice::from_ref(&mac)).unwrap();
        let (tmpl, _, _) = layout(&t, 24, 0);
        assert_eq!(tmpl[22], 0);
        assert_eq!(&tmpl[62..64], &[255, 0]);
        assert_eq!(&tmpl[80..83], &[0, 5, 10]);
    }

    #[test]
    fn tables_that_cannot_be_matched_are_refused() {
        use opt_kind::{EOL, MSS, NOP};
        let with = |layout: Vec<u8>, eol_pad: u8| P0fSig {
            layout,
            eol_pad,
            ..P0fSig::nmap()
        };
        // Each after a good signature: the error names the bad one.
        use P0fTableError::{Eol, Kind, LayoutTooLong, OptionBytes};
        let cases = [
            (with(vec![NOP; 25], 0), LayoutTooLong { index: 1, len: 25 }),
            (with(vec![MSS, 5], 0), Kind { index: 1, kind: 5 }),
            (with(vec![EOL, NOP, NOP, NOP], 0), Eol { index: 1 }),
            (with(vec![NOP, NOP, NOP, NOP], 1), Eol { index: 1 }),
            (with(vec![MSS, NOP], 0), OptionBytes { index: 1, len: 5 }),
            (with(vec![MSS, EOL], 36), OptionBytes { index: 1, len: 41 }),
            (
                with(vec![opt_kind::TS; 5], 0),
                OptionBytes { index: 1, len: 50 },
            ),
        ];
        for (sig, err) in cases {
            assert_eq!(p0f_table(&[P0fSig::hping3(), sig]), Err(err));
        }
        let many = vec![P0fSig::nmap(); P0F_LAYOUT_SIGS + 1];
        assert_eq!(
            p0f_table(&many),
            Err(P0fTableError::BucketFull { index: 16 })
        );
        // Nine distinct 8-byte layouts (two NOPs, then options in some
        // order, or NOPs).
        let eight = [
            vec![MSS, NOP, NOP, NOP, NOP],
            vec![NOP, MSS, NOP, NOP, NOP],
            vec![NOP, NOP, MSS, NOP, NOP],
            vec![NOP, NOP, NOP, MSS, NOP],
            vec![NOP, NOP, NOP, NOP, MSS],
            vec![NOP; 8],
            vec![MSS, MSS],
            vec![opt_kind::SOK, opt_kind::SOK, opt_kind::SOK, opt_kind::SOK],
            vec![MSS, opt_kind::SOK, opt_kind::SOK],
        ];
        let sigs: Vec<P0fSig> = eight.into_iter().map(|l| with(l, 0)).collect();
        assert!(p0f_table(&sigs[..8]).is_ok());
        assert_eq!(
            p0f_table(&sigs),
            Err(P0fTableError::TooManyLayouts { index: 8, olen: 8 })
        );
    }

    /// An IPv4 TCP SYN: TTL, DF, IP ID, window, options.
    fn syn(ttl: u8, df: bool, id: u16, window: u16, options: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let tcp_len = 20 + options.len();
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&[if df { 0x40 } else { 0 }, 0, ttl, 6, 0, 0]);
        f.extend_from_slice(&[198, 51, 100, 7, 203, 0, 113, 1]);
        f.extend_from_slice(&[0xb2, 0x6e, 0, 80, 0, 0, 0x30, 0x39, 0, 0, 0, 0]);
        f.extend_from_slice(&[((tcp_len / 4) as u8) << 4, 0x02]);
        f.extend_from_slice(&window.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(options);
        f
    }

    #[test]
    fn the_table_drives_the_committed_filter() {
        use ofext_filter::interp::RunEnv;
        use ofext_filter::program::Program;

        // A whitelisted Linux stack (window mss*44, scale 7), then the
        // plan's tool signatures.
        let linux = P0fSig {
            flags: sig_flags::ANY_MSS,
            ttl: (29, 64),
            wscale: 7,
            win_type: win_type::MSS,
            win: 44,
            quirks: Q_DF | Q_NZ_ID,
            layout: vec![2, 4, 8, 1, 3],
            ..P0fSig::nmap()
        };
        let mut sigs = vec![linux.clone()];
        sigs.extend(SecureEdge::default().signatures);
        let prog = Program::load(P0F_O, 1).unwrap();
        for (k, v) in p0f_table(&sigs).unwrap() {
            prog.maps()[0].update_from_controller(&k, &v, 0).unwrap();
        }
        let mut env = RunEnv::new(0);
        let linux_opts = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let cases = [
            ("hping3", syn(64, false, 0x5a5a, 512, &[]), true),
            ("nmap", syn(41, false, 0x1234, 1024, &[2, 4, 5, 0xb4]), true),
            ("linux", syn(64, true, 0x1234, 64240, &linux_opts), false),
            ("hping3 from far", syn(120, false, 0x5a5a, 512, &[]), false),
            (
                "nmap, other MSS",
                syn(41, false, 1, 1024, &[2, 4, 5, 0xb3]),
                false,
            ),
        ];
        for (what, frame, tool) in &cases {
            assert_eq!(prog.run(frame, &mut env), *tool, "{what}");
        }
        // The Linux signature is what let the Linux SYN through.
        sigs[0].flags |= sig_flags::TOOL;
        let prog = Program::load(P0F_O, 1).unwrap();
        for (k, v) in p0f_table(&sigs).unwrap() {
            prog.maps()[0].update_from_controller(&k, &v, 0).unwrap();
        }
        assert!(prog.run(&cases[2].1, &mut env));
    }

    #[test]
    fn the_plan_parses() {
        for f in SecureEdge::default().flows() {
            parse_flow(&f, FlowMode::Add).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }
}
