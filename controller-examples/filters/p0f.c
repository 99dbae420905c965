/*
 * p0f.c — the paper's p0f signature filter: recognises TCP SYNs forged by
 * SYN-flood tools from their fingerprint, so a rule can drop them while
 * legitimate clients' SYNs go through.
 *
 * p0f (Zalewski) fingerprints a TCP SYN by its IP version, TTL, IP options
 * length, MSS, window size (exact, a multiple of the MSS or MTU, or a
 * modulus), window scale, the exact sequence of TCP option kinds, and a set of
 * "quirks" (DF set, IP ID zero with DF clear, nonzero ACK number in a SYN,
 * ...). The controller installs signatures in an array map, one per entry,
 * each flagged as a tool or not. For every TCP SYN (SYN set; ACK, RST, FIN
 * clear) the program evaluates the entries in index order; the first one that
 * matches decides: 1 when it is flagged SIG_TOOL, 0 otherwise. Installing
 * legitimate stacks' signatures ahead of tool signatures thus whitelists them.
 * No match, a packet that is not a TCP SYN, malformed headers, or a TCP
 * header running past the frame all give 0.
 *
 * Signature fields (struct p0f_sig, 48 bytes, integers little-endian):
 *
 *   flags        SIG_VALID (entry in use), SIG_TOOL (a match returns 1),
 *                SIG_ANY_MSS, SIG_ANY_WSCALE, SIG_ANY_OLEN (wildcards)
 *   ip_ver       0 any, 4 or 6
 *   ttl_min/max  inclusive range of the observed TTL / hop limit; p0f's
 *                "64" (initial TTL 64, at most 35 hops) is [29, 64], its
 *                "64-" (initial TTL at most 64) is [1, 64]
 *   ip_olen      IPv4 options length in bytes (0 for IPv6)
 *   mss          MSS option value (0 when the option is absent)
 *   wscale       window-scale option value (0 when absent)
 *   win_type,win WIN_ANY; WIN_EXACT (window == win); WIN_MSS (window ==
 *                mss * win); WIN_MTU (window == (mss + 40 or 60) * win, the
 *                IPv4 or IPv6 MTU); WIN_MOD (window % win == 0, win != 0)
 *   quirks, quirk_mask   the packet matches when
 *                (packet quirks & quirk_mask) == quirks; p0f's exact quirk
 *                comparison is quirk_mask = 0xFFFF
 *   olayout_len, olayout[24]   the option kinds in order (raw TCP option
 *                kinds: 0 eol, 1 nop, 2 mss, 3 ws, 4 sok, 5 sack, 8 ts);
 *                parsing stops at EOL, which is recorded
 *   eol_pad      bytes of option space after EOL (p0f's "eol+N"), 0 without EOL
 *
 * Quirks computed (Q_* below): df, id+, id-, ecn, 0+ (IPv4 reserved flag),
 * flow (IPv6 flow label), seq-, ack+, uptr+, urgf+, pushf+, ts1-, ts2+, exws
 * (window scale above 14) and bad (malformed or more than 24 options). Not
 * computed: p0f's opt+ (nonzero bytes after EOL) — leave it out of signatures.
 *
 * Bounds: at most 24 options (p0f's own limit) are parsed, in 40 bytes of
 * option space; at most 16 signatures. IPv6 SYNs are fingerprinted only
 * when TCP follows the fixed header directly (no extension headers).
 *
 * Maps (ids in definition order):
 *   0 p0f_signatures  ARRAY  key u32 (index), value struct p0f_sig, 16 entries
 */
#include "oko_helpers.h"

#define P0F_MAX_SIGS 16
#define P0F_MAX_OPTS 24

/* flags */
#define SIG_VALID 0x01
#define SIG_TOOL 0x02
#define SIG_ANY_MSS 0x04
#define SIG_ANY_WSCALE 0x08
#define SIG_ANY_OLEN 0x10

/* win_type */
#define WIN_ANY 0
#define WIN_EXACT 1
#define WIN_MSS 2
#define WIN_MTU 3
#define WIN_MOD 4

/* quirks */
#define Q_DF 0x0001
#define Q_NZ_ID 0x0002   /* id+ */
#define Q_ZERO_ID 0x0004 /* id- */
#define Q_ECN 0x0008
#define Q_NZ_MBZ 0x0010  /* 0+ */
#define Q_FLOW 0x0020
#define Q_ZERO_SEQ 0x0040 /* seq- */
#define Q_NZ_ACK 0x0080   /* ack+ */
#define Q_NZ_URG 0x0100   /* uptr+ */
#define Q_URG 0x0200      /* urgf+ */
#define Q_PUSH 0x0400     /* pushf+ */
#define Q_OPT_ZERO_TS1 0x0800 /* ts1- */
#define Q_OPT_NZ_TS2 0x1000   /* ts2+ */
#define Q_OPT_EXWS 0x2000     /* exws */
#define Q_OPT_BAD 0x4000      /* bad */

struct p0f_sig {
	u8 flags;
	u8 ip_ver;
	u8 ttl_min;
	u8 ttl_max;
	u8 ip_olen;
	u8 wscale;
	u8 win_type;
	u8 olayout_len;
	u16 win;
	u16 mss;
	u16 quirks;
	u16 quirk_mask;
	u8 eol_pad;
	u8 pad[7];
	u64 olayout[P0F_MAX_OPTS / 8]; /* u8[24], read as words */
};

_Static_assert(sizeof(struct p0f_sig) == 48, "p0f_sig is part of the controller contract");

OKO_MAP(p0f_signatures, BPF_MAP_TYPE_ARRAY, u32, struct p0f_sig, P0F_MAX_SIGS);

/* What the packet looks like, in the signature's terms. */
struct fingerprint {
	u64 olayout[P0F_MAX_OPTS / 8];
	u32 quirks;
	u16 win;
	u16 mss;
	u16 mtu_hdr; /* IP + TCP fixed headers: 40 (IPv4) or 60 (IPv6) */
	u8 ip_ver;
	u8 ttl;
	u8 ip_olen;
	u8 wscale;
	u8 n_opts;
	u8 eol_pad;
};

/*
 * The window rule first: it is cheap and, in real signature sets, the most
 * selective field after the option layout (compared next), so most
 * signatures are refused within a few instructions.
 */
OKO_INLINE int win_matches(const struct p0f_sig *s, const struct fingerprint *fp)
{
	u32 win = fp->win, mult = s->win;

	switch (s->win_type) {
	case WIN_ANY:
		return 1;
	case WIN_EXACT:
		return win == mult;
	case WIN_MSS:
		return fp->mss != 0 && win == (u32)fp->mss * mult;
	case WIN_MTU:
		return fp->mss != 0 && win == ((u32)fp->mss + fp->mtu_hdr) * mult;
	case WIN_MOD:
		return mult != 0 && win % mult == 0;
	default:
		return 0;
	}
}

OKO_INLINE int sig_matches(const struct p0f_sig *s, const struct fingerprint *fp)
{
	if (!win_matches(s, fp))
		return 0;
	if (s->olayout_len != fp->n_opts || s->eol_pad != fp->eol_pad)
		return 0;
	if (s->olayout[0] != fp->olayout[0] || s->olayout[1] != fp->olayout[1] ||
	    s->olayout[2] != fp->olayout[2])
		return 0;
	if (s->ip_ver && s->ip_ver != fp->ip_ver)
		return 0;
	if (fp->ttl < s->ttl_min || fp->ttl > s->ttl_max)
		return 0;
	if (!(s->flags & SIG_ANY_OLEN) && s->ip_olen != fp->ip_olen)
		return 0;
	if (!(s->flags & SIG_ANY_MSS) && s->mss != fp->mss)
		return 0;
	if (!(s->flags & SIG_ANY_WSCALE) && s->wscale != fp->wscale)
		return 0;
	return (fp->quirks & s->quirk_mask) == s->quirks;
}

#define SIG_NO_MATCH 0
#define SIG_MATCH 1
#define SIG_MATCH_TOOL 2

/*
 * Evaluates signature `idx` on the fingerprint. Inlined into each of the 16
 * unrolled steps: the program is larger (about 3,100 instructions instead of
 * 1,900), but a step costs no BPF-to-BPF call, and clang keeps the
 * fingerprint's fields in registers across the steps.
 */
OKO_INLINE int eval_sig(u32 idx, const struct fingerprint *fp)
{
	const struct p0f_sig *s = map_lookup_elem(&p0f_signatures, &idx);

	if (!s || !(s->flags & SIG_VALID) || !sig_matches(s, fp))
		return SIG_NO_MATCH;
	return (s->flags & SIG_TOOL) ? SIG_MATCH_TOOL : SIG_MATCH;
}

/*
 * Parses the TCP options: `olen` (at most 40, a multiple of 4) bytes from
 * `opts`, all inside the frame.
 *
 * The option area is first copied into a zeroed 64-byte stack buffer, in
 * 4-byte words each checked against the frame end. The parser then reads the
 * buffer at offsets the verifier can bound (off < olen <= 40, plus at most 9)
 * without a packet check per byte, which keeps each unrolled step small.
 * Kept out of line so that clang does not duplicate the signature loop after
 * each of the parser's exits.
 */
static __attribute__((noinline)) void parse_options(const u8 *opts, u64 olen, const u8 *end,
						    struct fingerprint *fp)
{
	u64 buf[8] = {};
	const u8 *b = (const u8 *)buf;
	u8 *layout = (u8 *)fp->olayout;
	/* Offsets of the MSS, window-scale and timestamp options, +1 (0: absent). */
	u64 off = 0, mss_at = 0, ws_at = 0, ts_at = 0;
	u32 quirks = 0, n = 0;
	int stop = 0, bad = 0;

#pragma unroll
	for (int k = 0; k < 10; k++) {
		if (4 * (u64)k >= olen || OKO_CHECK(opts + 4 * k, 4, end))
			break;
		((u32 *)buf)[k] = oko_load32(opts + 4 * k);
	}

	/*
	 * One option per step. The steps never break out of the loop (they set
	 * `stop`): with a single exit clang sees the constant trip count and
	 * unrolls fully, as the verifier requires.
	 */
#pragma unroll
	for (int i = 0; i < P0F_MAX_OPTS; i++) {
		u32 kind, size = 1;

		if (stop || off >= olen) {
			stop = 1;
			continue;
		}
		kind = b[off];
		layout[i] = kind;
		n = i + 1;
		if (kind == TCPOPT_EOL) {
			fp->eol_pad = olen - off - 1;
			stop = 1;
			continue;
		}
		if (kind != TCPOPT_NOP) {
			size = b[off + 1];
			if (size < 2 || off + size > olen) {
				bad = 1;
				stop = 1;
				continue;
			}
			if (kind == TCPOPT_MSS)
				mss_at = off + 1;
			else if (kind == TCPOPT_WS)
				ws_at = off + 1;
			else if (kind == TCPOPT_TS)
				ts_at = off + 1;
		}
		off += size;
	}
	if (!stop && off < olen)
		bad = 1; /* more than P0F_MAX_OPTS options */

	/* The last occurrence of each option counts; a wrong length is bad. */
	if (mss_at) {
		if (b[mss_at] == 4)
			fp->mss = bpf_ntohs(oko_load16(b + mss_at + 1));
		else
			bad = 1;
	}
	if (ws_at) {
		if (b[ws_at] == 3) {
			fp->wscale = b[ws_at + 1];
			if (fp->wscale > 14)
				quirks |= Q_OPT_EXWS;
		} else {
			bad = 1;
		}
	}
	if (ts_at) {
		if (b[ts_at] != 10)
			bad = 1;
		else {
			if (oko_load32(b + ts_at + 1) == 0)
				quirks |= Q_OPT_ZERO_TS1;
			if (oko_load32(b + ts_at + 5) != 0)
				quirks |= Q_OPT_NZ_TS2;
		}
	}
	if (bad)
		quirks |= Q_OPT_BAD;
	fp->quirks |= quirks;
	fp->n_opts = n;
}

OKO_FILTER(p0f)
{
	const u8 *pkt = data;
	const u8 *end = pkt + len;
	const u8 *l3 = 0;
	const struct tcphdr *tcp;
	struct fingerprint fp = {};
	u32 doff;
	u16 proto = oko_parse_eth(pkt, end, &l3);

	if (proto == ETH_P_IP) {
		const struct iphdr *ip = (const void *)l3;
		u32 ihl;
		u16 frag;

		if (OKO_CHECK(ip, sizeof(*ip), end))
			return 0;
		ihl = (ip->ver_ihl & 0xF) * 4;
		if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || ip->protocol != IPPROTO_TCP)
			return 0;
		frag = bpf_ntohs(ip->frag_off);
		if (frag & (IP_MF | IP_OFFMASK))
			return 0;
		fp.ip_ver = 4;
		fp.ttl = ip->ttl;
		fp.ip_olen = ihl - sizeof(*ip);
		fp.mtu_hdr = 40;
		if (frag & IP_DF) {
			fp.quirks |= Q_DF;
			if (ip->id)
				fp.quirks |= Q_NZ_ID;
		} else if (!ip->id) {
			fp.quirks |= Q_ZERO_ID;
		}
		if (frag & IP_RF)
			fp.quirks |= Q_NZ_MBZ;
		if (ip->tos & 3)
			fp.quirks |= Q_ECN;
		tcp = (const void *)(l3 + ihl);
	} else if (proto == ETH_P_IPV6) {
		const struct ipv6hdr *ip6 = (const void *)l3;
		u32 vtf;

		if (OKO_CHECK(ip6, sizeof(*ip6), end))
			return 0;
		vtf = bpf_ntohl(ip6->ver_tc_flow);
		if ((vtf >> 28) != 6 || ip6->nexthdr != IPPROTO_TCP)
			return 0;
		fp.ip_ver = 6;
		fp.ttl = ip6->hop_limit;
		fp.mtu_hdr = 60;
		if (vtf & 0xFFFFF)
			fp.quirks |= Q_FLOW;
		if ((vtf >> 20) & 3)
			fp.quirks |= Q_ECN;
		tcp = (const void *)(l3 + sizeof(*ip6));
	} else {
		return 0;
	}

	if (OKO_CHECK(tcp, sizeof(*tcp), end))
		return 0;
	if ((tcp->flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN)
		return 0;
	doff = (tcp->doff_res >> 4) * 4;
	if (doff < sizeof(*tcp) || OKO_CHECK(tcp, doff, end))
		return 0; /* options claimed beyond the frame: truncated */

	fp.win = bpf_ntohs(tcp->window);
	if (tcp->flags & (TCP_ECE | TCP_CWR))
		fp.quirks |= Q_ECN;
	if (!tcp->seq)
		fp.quirks |= Q_ZERO_SEQ;
	if (tcp->ack_seq)
		fp.quirks |= Q_NZ_ACK; /* ACK flag is clear here */
	if (tcp->urg_ptr && !(tcp->flags & TCP_URG))
		fp.quirks |= Q_NZ_URG;
	if (tcp->flags & TCP_URG)
		fp.quirks |= Q_URG;
	if (tcp->flags & TCP_PSH)
		fp.quirks |= Q_PUSH;

	parse_options((const u8 *)tcp + sizeof(*tcp), doff - sizeof(*tcp), end, &fp);

#pragma unroll
	for (u32 i = 0; i < P0F_MAX_SIGS; i++) {
		int verdict = eval_sig(i, &fp);

		if (verdict != SIG_NO_MATCH)
			return verdict == SIG_MATCH_TOOL;
	}
	return 0;
}
