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

/// At most this many TCP option kinds in a layout.
pub const P0F_MAX_OPTS: usize = 24;
/// At most this many signatures share a layout.
pub const P0F_BUCKET_SIGS: usize = 16;
/// At most this many distinct layouts (the map's `max_entries`).
pub const P0F_MAX_LAYOUTS: usize = 256;
/// `struct p0f_bucket`'s size.
pub const P0F_BUCKET_SIZE: usize = 8 + 24 * P0F_BUCKET_SIGS;

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
    /// TCP option kinds in order (at most 24).
    pub layout: Vec<u8>,
    /// Bytes after EOL.
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

    /// The 32-byte `struct p0f_layout` key of this signature's layout.
    fn layout_key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..self.layout.len()].copy_from_slice(&self.layout);
        k[24] = self.layout.len() as u8;
        k[25] = self.eol_pad;
        k
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
    /// More than [`P0F_BUCKET_SIGS`] signatures share a layout.
    #[error("signature {index}: more than {P0F_BUCKET_SIGS} signatures with this option layout")]
    BucketFull {
        /// Position in the list of the first one that does not fit.
        index: usize,
    },
    /// More than [`P0F_MAX_LAYOUTS`] distinct layouts.
    #[error("signature {index}: more than {P0F_MAX_LAYOUTS} distinct option layouts")]
    TooManyLayouts {
        /// Position in the list of the first one that does not fit.
        index: usize,
    },
}

/// One entry of the p0f filter's map: a `struct p0f_layout` key and its
/// `struct p0f_bucket` ([`P0F_BUCKET_SIZE`] bytes).
pub type P0fEntry = ([u8; 32], Vec<u8>);

/// The p0f filter's map entries for `sigs`, tried in list order: one
/// (`struct p0f_layout`, `struct p0f_bucket`) pair per distinct option
/// layout, its signatures in list order. Signatures of different layouts
/// never match the same SYN, so this keeps p0f's first-match rule.
///
/// # Errors
/// A layout longer than 24 kinds, more than 16 signatures of one layout, or
/// more than 256 layouts.
pub fn p0f_table(sigs: &[P0fSig]) -> Result<Vec<P0fEntry>, P0fTableError> {
    let mut table: Vec<P0fEntry> = Vec::new();
    for (index, s) in sigs.iter().enumerate() {
        if s.layout.len() > P0F_MAX_OPTS {
            return Err(P0fTableError::LayoutTooLong {
                index,
                len: s.layout.len(),
            });
        }
        let key = s.layout_key();
        let at = match table.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                if table.len() == P0F_MAX_LAYOUTS {
                    return Err(P0fTableError::TooManyLayouts { index });
                }
                table.push((key, vec![0u8; P0F_BUCKET_SIZE]));
                table.len() - 1
            }
        };
        let bucket = &mut table[at].1;
        let n = usize::from(bucket[0]);
        if n == P0F_BUCKET_SIGS {
            return Err(P0fTableError::BucketFull { index });
        }
        bucket[8 + 24 * n..8 + 24 * (n + 1)].copy_from_slice(&s.to_bytes());
        bucket[0] += 1;
    }
    Ok(table)
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
    /// p0f signatures, tried in order (at most 16 per option layout).
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

    #[test]
    fn signatures_are_bucketed_by_layout_in_order() {
        let linux = P0fSig {
            flags: sig_flags::ANY_MSS,
            layout: vec![2, 4, 8, 1, 3],
            ..P0fSig::nmap()
        };
        let sigs = [P0fSig::nmap(), linux.clone(), P0fSig::hping3(), linux];
        let t = p0f_table(&sigs).unwrap();
        assert_eq!(t.len(), 3);
        let (k, b) = &t[1];
        assert_eq!(&k[..5], &[2, 4, 8, 1, 3]);
        assert_eq!(k[24], 5, "n_opts");
        assert!(k[5..24].iter().chain(&k[25..]).all(|&b| b == 0));
        // Two signatures, in list order.
        assert_eq!(&b[..8], &[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b.len(), P0F_BUCKET_SIZE);
        assert_eq!(&b[8..32], &sigs[1].to_bytes());
        assert_eq!(&b[32..56], &sigs[3].to_bytes());
        assert!(b[56..].iter().all(|&x| x == 0));
        assert_eq!(t[0].0, sigs[0].layout_key());
        assert_eq!(&t[0].1[..8], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&t[0].1[8..32], &P0fSig::nmap().to_bytes());
        assert_eq!(t[2].0, [0; 32]);

        let many = vec![P0fSig::nmap(); P0F_BUCKET_SIGS + 1];
        assert_eq!(
            p0f_table(&many),
            Err(P0fTableError::BucketFull { index: 16 })
        );
        let long = P0fSig {
            layout: vec![1; 25],
            ..P0fSig::nmap()
        };
        assert_eq!(
            p0f_table(&[long]),
            Err(P0fTableError::LayoutTooLong { index: 0, len: 25 })
        );
        let layouts: Vec<P0fSig> = (0..=P0F_MAX_LAYOUTS)
            .map(|i| P0fSig {
                layout: vec![1; i % 24 + 1],
                eol_pad: (i / 24) as u8,
                ..P0fSig::nmap()
            })
            .collect();
        assert_eq!(
            p0f_table(&layouts),
            Err(P0fTableError::TooManyLayouts { index: 256 })
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
