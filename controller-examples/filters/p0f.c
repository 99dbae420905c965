/*
 * p0f.c — the paper's p0f signature filter: recognises TCP SYNs forged by
 * SYN-flood tools from their fingerprint, so a rule can drop them while
 * legitimate clients' SYNs go through.
 *
 * p0f (Zalewski) fingerprints a TCP SYN by its IP version, TTL, IP options
 * length, MSS, window size (exact, a multiple of the MSS or MTU, or a
 * modulus), window scale, the exact sequence of TCP option kinds, and a set of
 * "quirks" (DF set, IP ID zero with DF clear, nonzero ACK number in a SYN,
 * ...). For every TCP SYN (SYN set; ACK, RST, FIN clear) the program computes
 * the fingerprint and looks its option layout up in the signature map, as p0f
 * itself buckets its signatures by layout; it then tries the layout's
 * signatures in order, and the first that matches decides: 1 when it is
 * flagged as a tool, 0 otherwise. Listing legitimate stacks' signatures
 * ahead of tool signatures of the same layout thus whitelists them
 * (signatures of different layouts never match the same SYN). No match, a
 * packet that is not a TCP SYN, malformed headers, or a TCP header running
 * past the frame all give 0.
 *
 * Maps (ids in definition order):
 *   0 p0f_signatures  HASH  key struct p0f_layout (32 bytes),
 *                     value struct p0f_bucket (392 bytes), 256 layouts
 *
 * Key, struct p0f_layout (integers little-endian):
 *   kinds[24]  the TCP option kinds in order, zero after the last (raw
 *              kinds: 0 eol, 1 nop, 2 mss, 3 ws, 4 sok, 5 sack, 8 ts);
 *              parsing stops at EOL, which is recorded
 *   n_opts     how many kinds (at most 24)
 *   eol_pad    bytes of option space after EOL (p0f's "eol+N"), 0 without
 *   pad[6]     zero
 *
 * Value, struct p0f_bucket: `n` (u8; the first `n`, at most 16, are tried
 * in order), 7 bytes zero, then 16 struct p0f_sig of 24 bytes.
 * A controller replaces a layout's bucket as a whole, so a SYN is matched
 * against the old signatures or the new, never a mix.
 *
 * struct p0f_sig compares most fields at once: the program packs the SYN's
 * exact-match fields into one 64-bit fingerprint word, and a signature
 * matches when (word & mask) == want, its TTL lies in [ttl_min, ttl_max]
 * and its window rule holds. The word's bits:
 *
 *   0–15   quirks (Q_* below)
 *   16–31  MSS option value (0 when the option is absent)
 *   32–47  window
 *   48–55  window-scale option value (0 when absent)
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
 * flow label), seq-, ack+, uptr+, urgf+, pushf+, ts1-, ts2+, exws (window
 * scale above 14) and bad (malformed options, or more than 24). Not computed:
 * p0f's opt+ (nonzero bytes after EOL) — leave it out of signatures.
 *
 * The MSS, window scale and timestamps are taken from the last well-formed
 * option of their kind; one whose length is not 4, 3 or 10 sets `bad` and
 * gives no value (0).
 *
 * Bounds: at most 24 options (p0f's own limit) are parsed, in 40 bytes of
 * option space; a malformed option ends the layout with its kind. IPv6 SYNs
 * are fingerprinted only when TCP follows the fixed header directly (no
 * extension headers).
 */
#include "oko_helpers.h"

#define P0F_MAX_LAYOUTS 256
#define P0F_BUCKET_SIGS 16
#define P0F_MAX_OPTS 24

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

/* The fingerprint word. */
#define FP_MSS 16
#define FP_WIN 32
#define FP_WSCALE 48
#define FP_OLEN 56
#define FP_IPV6 62

/*
 * The layout key. The kinds are kept as three words (kind i in byte i % 8
 * of word i / 8, little-endian) and written whole: a key assembled from byte
 * stores could not be forwarded to the lookup's word loads.
 */
struct p0f_layout {
	u64 kinds[P0F_MAX_OPTS / 8];
	u64 meta; /* n_opts | eol_pad << 8 */
};

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

struct p0f_bucket {
	u8 n;
	u8 pad[7];
	struct p0f_sig sig[P0F_BUCKET_SIGS];
};

_Static_assert(sizeof(struct p0f_layout) == 32, "p0f_layout is part of the controller contract");
_Static_assert(sizeof(struct p0f_sig) == 24, "p0f_sig is part of the controller contract");
_Static_assert(sizeof(struct p0f_bucket) == 392, "p0f_bucket is part of the controller contract");

OKO_MAP(p0f_signatures, BPF_MAP_TYPE_HASH, struct p0f_layout, struct p0f_bucket,
	P0F_MAX_LAYOUTS);

/* What the walk over the options finds besides the layout key. */
struct opt_walk {
	u8 buf[56]; /* the option space, zero past its end */
	/* Offset of the last well-formed MSS, window-scale and timestamp
	 * option, 0xFF when there is none. */
	u8 mss_at, ws_at, ts_at, pad[5];
	u64 bad; /* Q_OPT_BAD for a malformed option or more than 24 */
};

/*
 * One option of the walk, step `i` (of 24), writing layout word `word`: adds
 * the option's kind to `lay`, notes where a well-formed MSS, window-scale or
 * timestamp option starts, and leaves through `end_<word>` (which stores
 * `lay`) at the end of the options, at EOL, or at a malformed option (whose
 * kind still counts, as in p0f). `meta` carries the key's last word, and
 * the BAD flag, to the exit.
 */
#define OPT_STEP(i, word)                                                       \
	do {                                                                    \
		u64 kind, size;                                                 \
		if (off >= olen) {                                              \
			meta = (i);                                             \
			goto end_##word;                                        \
		}                                                               \
		kind = b[off];                                                  \
		lay |= kind << (8 * ((i) % 8));                                 \
		if (kind == TCPOPT_EOL) {                                       \
			meta = (i) + 1 | (olen - off - 1) << 8;                 \
			goto end_##word;                                        \
		}                                                               \
		if (kind == TCPOPT_NOP) {                                       \
			off += 1;                                               \
			break;                                                  \
		}                                                               \
		size = b[off + 1];                                              \
		if (size < 2 || off + size > olen) {                            \
			meta = (i) + 1 | BAD;                                   \
			goto end_##word;                                        \
		}                                                               \
		if (kind == TCPOPT_MSS)                                         \
			w->mss_at = off;                                        \
		else if (kind == TCPOPT_WS)                                     \
			w->ws_at = off;                                         \
		else if (kind == TCPOPT_TS)                                     \
			w->ts_at = off;                                         \
		off += size;                                                    \
	} while (0)

#define BAD (1ULL << 32)

/*
 * Walks the TCP options: `olen` (at most 40, a multiple of 4) bytes from
 * `opts`, all inside the frame, into the layout key and `w`.
 *
 * The option area is first copied into `w->buf`, zeroed, in 4-byte words
 * each checked against the frame end. The walk, and the reads of the option
 * values after it, then use offsets the verifier can bound (an option starts
 * below 40 and is read at most 10 bytes further) without a packet check per
 * byte.
 */
OKO_INLINE void walk_options(const u8 *opts, u64 olen, const u8 *end, struct p0f_layout *key,
			     struct opt_walk *w)
{
	const u8 *b = w->buf;
	u64 off = 0, lay = 0, meta;

	((u64 *)w->buf)[0] = 0;
	((u64 *)w->buf)[1] = 0;
	((u64 *)w->buf)[2] = 0;
	((u64 *)w->buf)[3] = 0;
	((u64 *)w->buf)[4] = 0;
	((u64 *)w->buf)[5] = 0;
	((u64 *)w->buf)[6] = 0;
	w->mss_at = 0xFF;
	w->ws_at = 0xFF;
	w->ts_at = 0xFF;
#pragma unroll
	for (int k = 0; k < 10; k++) {
		if (4 * (u64)k >= olen || OKO_CHECK(opts + 4 * k, 4, end))
			break;
		((u32 *)w->buf)[k] = oko_load32(opts + 4 * k);
	}
	key->kinds[1] = 0;
	key->kinds[2] = 0;

	OPT_STEP(0, 0);
	OPT_STEP(1, 0);
	OPT_STEP(2, 0);
	OPT_STEP(3, 0);
	OPT_STEP(4, 0);
	OPT_STEP(5, 0);
	OPT_STEP(6, 0);
	OPT_STEP(7, 0);
	key->kinds[0] = lay;
	lay = 0;
	OPT_STEP(8, 1);
	OPT_STEP(9, 1);
	OPT_STEP(10, 1);
	OPT_STEP(11, 1);
	OPT_STEP(12, 1);
	OPT_STEP(13, 1);
	OPT_STEP(14, 1);
	OPT_STEP(15, 1);
	key->kinds[1] = lay;
	lay = 0;
	OPT_STEP(16, 2);
	OPT_STEP(17, 2);
	OPT_STEP(18, 2);
	OPT_STEP(19, 2);
	OPT_STEP(20, 2);
	OPT_STEP(21, 2);
	OPT_STEP(22, 2);
	OPT_STEP(23, 2);
	meta = P0F_MAX_OPTS;
	if (off < olen)
		meta |= BAD; /* more than P0F_MAX_OPTS options */
end_2:
	key->kinds[2] = lay;
	goto done;
end_1:
	key->kinds[1] = lay;
	goto done;
end_0:
	key->kinds[0] = lay;
done:
	key->meta = meta & 0xFFFF;
	w->bad = meta & BAD ? Q_OPT_BAD : 0;
}

/* The window rules that the fingerprint word cannot express. */
OKO_INLINE int win_matches(const struct p0f_sig *s, u64 win, u64 mss, u64 mtu_hdr)
{
	u64 mult = s->win;

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
	const struct tcphdr *tcp;
	const struct p0f_bucket *bucket;
	struct p0f_layout key;
	struct opt_walk walk;
	u64 quirks, ttl, mtu_hdr, word, win, flags, mss = 0, wscale = 0, at;
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

	/*
	 * Then the fingerprint, all of it before the lookup, whose result only
	 * the signatures wait for.
	 */
	if (ihl) {
		const struct iphdr *ip = (const void *)l3;
		u64 frag = bpf_ntohs(ip->frag_off);

		if (frag & (IP_MF | IP_OFFMASK))
			return 0; /* a fragment */
		ttl = ip->ttl;
		mtu_hdr = 40;
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
		mtu_hdr = 60;
		word = (u64)1 << FP_IPV6;
		quirks = 0;
		if (vtf & 0xFFFFF)
			quirks |= Q_FLOW;
		if ((vtf >> 20) & 3)
			quirks |= Q_ECN;
	}
	win = bpf_ntohs(tcp->window);
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

	walk_options((const u8 *)tcp + sizeof(*tcp), doff - sizeof(*tcp), end, &key, &walk);

	/* The last MSS, window-scale and timestamp options; a wrong length is
	 * bad. The walk left their offsets below 40. */
	quirks |= walk.bad;
	at = walk.mss_at;
	if (at < 40) {
		if (walk.buf[at + 1] == 4)
			mss = bpf_ntohs(oko_load16(walk.buf + at + 2));
		else
			quirks |= Q_OPT_BAD;
	}
	at = walk.ws_at;
	if (at < 40) {
		if (walk.buf[at + 1] == 3) {
			wscale = walk.buf[at + 2];
			if (wscale > 14)
				quirks |= Q_OPT_EXWS;
		} else {
			quirks |= Q_OPT_BAD;
		}
	}
	at = walk.ts_at;
	if (at < 40) {
		if (walk.buf[at + 1] == 10) {
			if (oko_load32(walk.buf + at + 2) == 0)
				quirks |= Q_OPT_ZERO_TS1;
			if (oko_load32(walk.buf + at + 6) != 0)
				quirks |= Q_OPT_NZ_TS2;
		} else {
			quirks |= Q_OPT_BAD;
		}
	}
	word |= quirks | mss << FP_MSS | win << FP_WIN | wscale << FP_WSCALE;

	bucket = map_lookup_elem(&p0f_signatures, &key);
	if (!bucket)
		return 0;
#pragma unroll
	for (u32 i = 0; i < P0F_BUCKET_SIGS; i++) {
		const struct p0f_sig *s = &bucket->sig[i];

		if (i >= bucket->n)
			return 0;
		if ((word & s->mask) == s->want && ttl >= s->ttl_min && ttl <= s->ttl_max &&
		    win_matches(s, win, mss, mtu_hdr))
			return s->tool == 1;
	}
	return 0;
}
