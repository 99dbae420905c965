/*
 * p0f.c — the paper's p0f signature filter: recognises TCP SYNs forged by
 * SYN-flood tools from their fingerprint, so a rule can drop them while
 * legitimate clients' SYNs go through.
 *
 * p0f (Zalewski) fingerprints a TCP SYN by its IP version, TTL, IP options
 * length, MSS, window size (exact, a multiple of the MSS or MTU, or a
 * modulus), window scale, the exact sequence of TCP option kinds, and a set of
 * "quirks" (DF set, IP ID zero with DF clear, nonzero ACK number in a SYN,
 * ...). p0f buckets its signatures by option layout; so does this program.
 * For every TCP SYN (SYN set; ACK, RST, FIN clear) it looks up the layouts
 * of the SYN's option length, takes the first whose bytes its options
 * have, computes the fingerprint and tries that layout's signatures in
 * order: the first that matches decides, 1 when it is flagged as a tool, 0
 * otherwise (and 0 when none does: the other layouts are not tried).
 * Listing legitimate stacks' signatures ahead of tool signatures of the
 * same layout thus whitelists them (signatures of different layouts never
 * match the same SYN). No match, a packet that is not a TCP SYN, malformed
 * headers, or a TCP header running past the frame all give 0.
 *
 * A layout is matched on the option bytes themselves, not by walking the
 * options: every kind a p0f layout names has a fixed length (eol and nop 1,
 * mss 4, ws 3, sok 2, ts 10), so a layout fixes the kind and length byte of
 * each option and leaves only values (and the bytes after EOL) free. The
 * controller writes each layout as (want, mask) over the option bytes, and
 * where its MSS, window-scale and timestamp options start; the program
 * compares at most five words and reads the values where the layout says.
 * This is exactly p0f's layout comparison for SYNs whose options are well
 * formed; a SYN with a malformed option (or one of another length) matches
 * no layout.
 *
 * Maps (ids in definition order):
 *   0 p0f_signatures  ARRAY  key u32 (TCP option bytes / 4, 0..10),
 *                     value struct p0f_bucket (3784 bytes)
 *
 * struct p0f_bucket (integers little-endian): `n` (u8; the first `n`, at
 * most 8, layouts are tried in order), 7 bytes zero, then 8 struct
 * p0f_layout of 472 bytes:
 *
 *   want[5], mask[5]  u64 each: a SYN has this layout when, for every
 *                word k holding option bytes (8k < option length),
 *                (word_k & mask[k]) == want[k], where word_k is option
 *                bytes 8k..8k+7 read little-endian (byte 8k + i is bits
 *                8i..8i+7). Bytes at or past the option length must be 0
 *                in mask: they are the frame's payload, or zero.
 *   mss_at, ws_at, ts_at  u8: offset in the options of the layout's last
 *                MSS, window-scale and timestamp option (its kind byte),
 *                0xFF (any value of 40 or more) for none. The value is
 *                read at offset + 2.
 *   n            u8: the layout's signatures, the first `n` (at most 16)
 *                of sig[], tried in order
 *   pad[4]       zero
 *   sig[16]      struct p0f_sig (24 bytes), below
 *
 * An ARRAY's value is written in place, as in Linux: a SYN that races with
 * the controller's write of its option length's entry may be compared with
 * part of the old entry and part of the new one. Controllers that need an
 * atomic change swap filters (PROG_LOAD of a new id, flows moved, then the
 * old one unloaded).
 *
 * struct p0f_sig compares most fields at once: the program packs the SYN's
 * exact-match fields into one 64-bit fingerprint word, and a signature
 * matches when (word & mask) == want, its TTL lies in [ttl_min, ttl_max]
 * and its window rule holds. The word's bits:
 *
 *   0–15   quirks (Q_* below)
 *   16–31  MSS option value (0 when the layout has none)
 *   32–47  window
 *   48–55  window-scale option value (0 when the layout has none)
 *   56–61  IPv4 options length in bytes (0 for IPv6)
 *   62     1 for IPv6, 0 for IPv4
 *   63     0
 *
 * so a field compared exactly has all its bits in `mask`, a wildcard none,
 * and p0f's exact quirk comparison is mask bits 0–15 all set. The other
 * fields:
 *
 *   want, mask   u64 each, as above
 *   tool         1: a match returns 1 (a flood tool); otherwise a match
 *                returns 0
 *   ttl_min/max  inclusive range of the observed TTL / hop limit; p0f's
 *                "64" (initial TTL 64, at most 35 hops) is [29, 64], its
 *                "64-" (initial TTL at most 64) is [1, 64]
 *   win_type,win WIN_ANY: nothing beyond the word (an exact window is
 *                bits 32–47 of want and mask); WIN_EXACT (window == win);
 *                WIN_MSS (window == mss * win, MSS present); WIN_MTU
 *                (window == (mss + 40 or 60) * win, the IPv4 or IPv6 MTU,
 *                MSS present); WIN_MOD (window % win == 0, win != 0); any
 *                other value never matches
 *   pad          u16 zero
 *
 * Quirks computed: df, id+, id-, ecn, 0+ (IPv4 reserved flag), flow (IPv6
 * flow label), seq-, ack+, uptr+, urgf+, pushf+, ts1-, ts2+ and exws
 * (window scale above 14). Not computed: p0f's opt+ (nonzero bytes after
 * EOL) and bad (malformed options: such a SYN matches no layout); bit 14,
 * bad's, is always 0.
 *
 * IPv6 SYNs are fingerprinted only when TCP follows the fixed header
 * directly (no extension headers).
 */
#include "oko_helpers.h"

#define P0F_OPT_WORDS 5    /* 40 bytes of TCP option space */
#define P0F_LAYOUTS 8      /* layouts per option length */
#define P0F_LAYOUT_SIGS 16 /* signatures per layout */

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

/* The fingerprint word. */
#define FP_MSS 16
#define FP_WIN 32
#define FP_WSCALE 48
#define FP_OLEN 56
#define FP_IPV6 62

/* An option offset no option has (0xFF in the map, "none"). */
#define NO_OPT (8 * P0F_OPT_WORDS)

struct p0f_sig {
	u64 want;
	u64 mask;
	u8 tool;
	u8 ttl_min;
	u8 ttl_max;
	u8 win_type;
	u16 win;
	u16 pad;
};

struct p0f_layout {
	u64 want[P0F_OPT_WORDS];
	u64 mask[P0F_OPT_WORDS];
	u8 mss_at, ws_at, ts_at;
	u8 n;
	u8 pad[4];
	struct p0f_sig sig[P0F_LAYOUT_SIGS];
};

struct p0f_bucket {
	u8 n;
	u8 pad[7];
	struct p0f_layout layout[P0F_LAYOUTS];
};

_Static_assert(sizeof(struct p0f_sig) == 24, "p0f_sig is part of the controller contract");
_Static_assert(sizeof(struct p0f_layout) == 472, "p0f_layout is part of the controller contract");
_Static_assert(sizeof(struct p0f_bucket) == 3784, "p0f_bucket is part of the controller contract");

OKO_MAP(p0f_signatures, BPF_MAP_TYPE_ARRAY, u32, struct p0f_bucket, P0F_OPT_WORDS * 2 + 1);

/*
 * Copies the `len` (a constant multiple of 4, at most 40) option bytes at
 * `opts` into `buf` as little-endian words, zero past them: words 0-4 hold
 * option bytes, 5-6 are zero so that a value read past offset 40 reads 0.
 */
#define LOAD_OPTS(len)                                                         \
	do {                                                                   \
		if (OKO_CHECK(opts, (len), end))                               \
			return 0;                                              \
		_Pragma("unroll") for (int k = 0; k < 7; k++)                  \
		{                                                              \
			if (8 * k + 8 <= (len))                                \
				buf[k] = oko_load64(opts + 8 * k);             \
			else if (8 * k + 4 <= (len))                           \
				buf[k] = oko_load32(opts + 8 * k);             \
			else                                                   \
				buf[k] = 0;                                    \
		}                                                              \
	} while (0)

/*
 * The window rules that the fingerprint word cannot express. The window, the
 * MSS and the IP version are read back from the word.
 */
OKO_INLINE int win_matches(const struct p0f_sig *s, u64 word)
{
	u64 mult = s->win;
	u64 win, mss, mtu_hdr;

	/* Computed here, on the rare path, not hoisted out of the loop. */
	asm volatile("" : "+r"(word));
	win = word >> FP_WIN & 0xFFFF;
	mss = word >> FP_MSS & 0xFFFF;
	/* The MTU is the MSS plus the IPv4 or IPv6 and TCP headers. */
	mtu_hdr = word >> FP_IPV6 & 1 ? 60 : 40;

	switch (s->win_type) {
	case WIN_ANY:
		return 1;
	case WIN_EXACT:
		return win == mult;
	case WIN_MSS:
		return mss != 0 && win == mss * mult;
	case WIN_MTU:
		return mss != 0 && win == (mss + mtu_hdr) * mult;
	case WIN_MOD:
		return mult != 0 && win % mult == 0;
	default:
		return 0;
	}
}

OKO_FILTER(p0f)
{
	const u8 *pkt = data;
	const u8 *end = pkt + len;
	const u8 *l3 = 0;
	const u8 *opts;
	const struct tcphdr *tcp;
	const struct p0f_bucket *bucket;
	const struct p0f_layout *lay;
	u64 buf[7]; /* the option bytes, zero past them */
	const u8 *b = (const u8 *)buf;
	u32 key;
	u64 quirks, ttl, word, flags, olen, at;
	u32 doff, ihl;
	u16 proto = oko_parse_eth(pkt, end, &l3);

	/* First what most TCP packets stop at: not a SYN. */
	if (proto == ETH_P_IP) {
		const struct iphdr *ip = (const void *)l3;

		if (OKO_CHECK(ip, sizeof(*ip), end))
			return 0;
		ihl = (ip->ver_ihl & 0xF) * 4;
		if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || ip->protocol != IPPROTO_TCP)
			return 0;
		tcp = (const void *)(l3 + ihl);
	} else if (proto == ETH_P_IPV6) {
		const struct ipv6hdr *ip6 = (const void *)l3;

		if (OKO_CHECK(ip6, sizeof(*ip6), end))
			return 0;
		if ((ip6->ver_tc_flow & 0xF0) != 0x60 || ip6->nexthdr != IPPROTO_TCP)
			return 0;
		ihl = 0;
		tcp = (const void *)(l3 + sizeof(*ip6));
	} else {
		return 0;
	}
	if (OKO_CHECK(tcp, sizeof(*tcp), end))
		return 0;
	flags = tcp->flags;
	if ((flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN)
		return 0;
	doff = (tcp->doff_res >> 4) * 4;
	if (doff < sizeof(*tcp) || OKO_CHECK(tcp, doff, end))
		return 0; /* options claimed beyond the frame: truncated */
	olen = doff - sizeof(*tcp);

	/* The fingerprint's header fields. */
	if (ihl) {
		const struct iphdr *ip = (const void *)l3;
		u64 frag = bpf_ntohs(ip->frag_off);

		if (frag & (IP_MF | IP_OFFMASK))
			return 0; /* a fragment */
		ttl = ip->ttl;
		word = (u64)(ihl - sizeof(*ip)) << FP_OLEN;
		/* DF is bit 14 of frag_off, Q_DF bit 0; RF bit 15, Q_NZ_MBZ bit 4. */
		quirks = (frag >> 14 & 1) | (frag >> 11 & Q_NZ_MBZ);
		if (frag & IP_DF) {
			if (ip->id)
				quirks |= Q_NZ_ID;
		} else if (!ip->id) {
			quirks |= Q_ZERO_ID;
		}
		if (ip->tos & 3)
			quirks |= Q_ECN;
	} else {
		const struct ipv6hdr *ip6 = (const void *)l3;
		u32 vtf = bpf_ntohl(ip6->ver_tc_flow);

		ttl = ip6->hop_limit;
		word = (u64)1 << FP_IPV6;
		quirks = 0;
		if (vtf & 0xFFFFF)
			quirks |= Q_FLOW;
		if ((vtf >> 20) & 3)
			quirks |= Q_ECN;
	}
	if (flags & (TCP_ECE | TCP_CWR))
		quirks |= Q_ECN;
	if (!tcp->seq)
		quirks |= Q_ZERO_SEQ;
	if (tcp->ack_seq)
		quirks |= Q_NZ_ACK; /* ACK flag is clear here */
	if (tcp->urg_ptr && !(flags & TCP_URG))
		quirks |= Q_NZ_URG;
	/* URG (0x20) becomes Q_URG (0x200), PSH (0x08) Q_PUSH (0x400). */
	quirks |= (flags & TCP_URG) << 4 | (flags & TCP_PSH) << 7;
	word |= quirks | (u64)bpf_ntohs(tcp->window) << FP_WIN;

	/*
	 * The option bytes as little-endian words, in a buffer the values are
	 * then read from at offsets the verifier can bound (an option starts
	 * below 40 and is read at most 10 bytes further), zero past the
	 * options. One bounds check per option length, for the verifier: the
	 * data offset's check above already covers it.
	 */
	opts = (const u8 *)tcp + sizeof(*tcp);
	switch (olen) {
	case 0:
		LOAD_OPTS(0);
		break;
	case 4:
		LOAD_OPTS(4);
		break;
	case 8:
		LOAD_OPTS(8);
		break;
	case 12:
		LOAD_OPTS(12);
		break;
	case 16:
		LOAD_OPTS(16);
		break;
	case 20:
		LOAD_OPTS(20);
		break;
	case 24:
		LOAD_OPTS(24);
		break;
	case 28:
		LOAD_OPTS(28);
		break;
	case 32:
		LOAD_OPTS(32);
		break;
	case 36:
		LOAD_OPTS(36);
		break;
	default:
		LOAD_OPTS(40);
		break;
	}

	key = olen / 4;
	bucket = map_lookup_elem(&p0f_signatures, &key);
	if (!bucket)
		return 0;
#pragma unroll
	for (u32 j = 0; j < P0F_LAYOUTS; j++) {
		lay = &bucket->layout[j];
		if (j >= bucket->n)
			return 0;
#pragma unroll
		for (int k = 0; k < P0F_OPT_WORDS; k++) {
			if (8 * (u64)k >= olen)
				goto found;
			if ((buf[k] & lay->mask[k]) != lay->want[k])
				goto next;
		}
		goto found;
next:;
	}
	return 0;

found:
	/* One register for the layout, not the bucket and an offset. */
	asm volatile("" : "+r"(lay));
	/* The layout's option values; it fixed their lengths. */
	at = lay->mss_at;
	if (at < NO_OPT)
		word |= (u64)bpf_ntohs(oko_load16(b + at + 2)) << FP_MSS;
	at = lay->ws_at;
	if (at < NO_OPT) {
		u64 wscale = b[at + 2];

		word |= wscale << FP_WSCALE;
		if (wscale > 14)
			word |= Q_OPT_EXWS;
	}
	at = lay->ts_at;
	if (at < NO_OPT) {
		if (oko_load32(b + at + 2) == 0)
			word |= Q_OPT_ZERO_TS1;
		if (oko_load32(b + at + 6) != 0)
			word |= Q_OPT_NZ_TS2;
	}

#pragma unroll
	for (u32 i = 0; i < P0F_LAYOUT_SIGS; i++) {
		const struct p0f_sig *s = &lay->sig[i];

		if (i >= lay->n)
			return 0;
		if ((word & s->mask) == s->want && win_matches(s, word) && ttl >= s->ttl_min &&
		    ttl <= s->ttl_max)
			return s->tool == 1;
	}
	return 0;
}
