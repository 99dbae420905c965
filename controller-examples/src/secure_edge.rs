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

/// `p0f_sig.flags` bits (see `filters/p0f.c`).
pub mod sig_flags {
    /// The entry is in use.
    pub const VALID: u8 = 1;
    /// A match returns 1 (a flood tool).
    pub const TOOL: u8 = 2;
    /// Any MSS.
    pub const ANY_MSS: u8 = 4;
    /// Any window scale.
    pub const ANY_WSCALE: u8 = 8;
    /// Any IP options length.
    pub const ANY_OLEN: u8 = 16;
}

/// `p0f_sig.win_type` values.
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

/// One p0f signature: the 48-byte `struct p0f_sig` of `filters/p0f.c`.
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
    /// The map value (integers little-endian, as the BPF target stores them).
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0] = self.flags;
        b[1] = self.ip_ver;
        b[2] = self.ttl.0;
        b[3] = self.ttl.1;
        b[4] = self.ip_olen;
        b[5] = self.wscale;
        b[6] = self.win_type;
        b[7] = self.layout.len().min(24) as u8;
        b[8..10].copy_from_slice(&self.win.to_le_bytes());
        b[10..12].copy_from_slice(&self.mss.to_le_bytes());
        b[12..14].copy_from_slice(&self.quirks.to_le_bytes());
        b[14..16].copy_from_slice(&self.quirk_mask.to_le_bytes());
        b[16] = self.eol_pad;
        let n = self.layout.len().min(24);
        b[24..24 + n].copy_from_slice(&self.layout[..n]);
        b
    }

    /// hping3's default SYN: no options, window 512, initial TTL ≤ 64, DF
    /// clear (its IP ID is random, so only DF is compared).
    pub fn hping3() -> Self {
        Self {
            flags: sig_flags::VALID | sig_flags::TOOL,
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
            flags: sig_flags::VALID | sig_flags::TOOL,
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

/// The secure edge's settings.
#[derive(Debug, Clone)]
pub struct SecureEdge {
    /// The outside port.
    pub outside: u32,
    /// The protected inside port.
    pub inside: u32,
    /// Program ids: conntrack, p0f, ratelimit.
    pub prog_ids: [u32; 3],
    /// p0f signatures (at most 16).
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
    let sigs: Vec<([u8; 4], [u8; 48])> = plan
        .signatures
        .iter()
        .take(16)
        .enumerate()
        .map(|(i, s)| ((i as u32).to_le_bytes(), s.to_bytes()))
        .collect();
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
        assert_eq!(&b[..8], &[3, 0, 1, 64, 0, 0, 1, 1]);
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), 1024);
        assert_eq!(u16::from_le_bytes([b[10], b[11]]), 1460);
        assert_eq!(u16::from_le_bytes([b[14], b[15]]), 0xFFFF);
        assert_eq!(b[24], 2);
    }

    #[test]
    fn the_plan_parses() {
        for f in SecureEdge::default().flows() {
            parse_flow(&f, FlowMode::Add).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }
}
