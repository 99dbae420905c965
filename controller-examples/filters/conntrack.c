/*
 * conntrack.c — the paper's stateful firewall: a TCP connection tracker.
 *
 * Used as the filter of an "allow" rule, it matches (returns 1) exactly the
 * packets a stateful firewall lets through: the legitimate steps of a TCP
 * handshake and the packets of connections whose handshake completed. A
 * lower-priority rule drops the rest (Table I of the paper).
 *
 * Connections are keyed by the 5-tuple, IPv4 or IPv6, normalised so that both
 * directions find the same entry: the two endpoints (address, port) are put
 * in a fixed order ("a" is the smaller one), and the entry remembers which of
 * them initiated. The table is an LRU hash, so it never fills: when it is
 * full the least recently used connection is forgotten, and its next packet
 * is refused like any unknown connection's.
 *
 * State machine (o = packet from the initiator, r = from the responder):
 *
 *   (none)       --SYN o-->          SYN_SENT     (entry created)
 *   SYN_SENT     --SYN o-->          SYN_SENT     (retransmission)
 *   SYN_SENT     --SYN+ACK r-->      SYN_RECV
 *   SYN_RECV     --SYN o / SYN+ACK r--> SYN_RECV  (retransmissions)
 *   SYN_RECV     --ACK o-->          ESTABLISHED  (may carry data; FIN_WAIT
 *                                                 if it carries a FIN)
 *   ESTABLISHED  --ACK either-->     ESTABLISHED
 *   ESTABLISHED  --SYN+ACK r-->      ESTABLISHED  (the final ACK was lost)
 *   ESTABLISHED  --FIN x-->          FIN_WAIT     (x half-closed)
 *   FIN_WAIT     --ACK either-->     FIN_WAIT     (the other side may still send)
 *   FIN_WAIT     --FIN y≠x-->        CLOSING
 *   CLOSING      --ACK x-->          (deleted)    (x acknowledges y's FIN)
 *   CLOSING      --other ACK/FIN-->  CLOSING      (retransmissions)
 *   any          --RST either-->     (deleted)    (the RST itself matches)
 *
 * Everything else returns 0: non-TCP, fragments other than the first, a
 * packet of an unknown connection that is not a SYN (stray ACK, SYN+ACK
 * without SYN, RST), data or a bare ACK before the handshake completes, a SYN
 * or SYN+ACK in the wrong direction or state, a segment without ACK that is
 * neither a SYN nor a RST, invalid flag combinations (SYN+FIN, SYN+RST, no
 * flags) and packets whose source and destination endpoints are the same
 * (LAND). A RST of a tracked connection, in any state and from either side,
 * matches (so the peer learns of it) and deletes the entry.
 *
 * Limitations (documented, deliberate for a filter of this size): sequence
 * numbers are not tracked, so an on-path or blind attacker who guesses the
 * 5-tuple can reset an entry with a RST; simultaneous open (both sides send
 * SYN) is refused; after the closing ACK a retransmitted FIN is refused; IPv6
 * extension headers are followed for hop-by-hop, routing, destination
 * options and a first fragment (at most four headers).
 *
 * Maps (ids in definition order):
 *   0 conntrack_table  LRU_HASH  key struct ct_key (40 bytes),
 *                                value struct ct_entry (8 bytes), 65536 entries
 */
#include "oko_helpers.h"

enum ct_state {
	CT_SYN_SENT = 1,
	CT_SYN_RECV = 2,
	CT_ESTABLISHED = 3,
	CT_FIN_WAIT = 4,
	CT_CLOSING = 5,
};

/*
 * Addresses are raw header bytes: IPv6 in all 16 bytes, IPv4 in the first 4
 * with the remaining 12 zero (`family` tells them apart). Ports are in network
 * order. Endpoint a is the smaller of the two as (addr_hi, addr_lo, port)
 * compared as little-endian u64/u16 loads: any fixed total order would do.
 */
struct ct_key {
	u64 a_hi; /* address bytes 0..7 */
	u64 a_lo; /* address bytes 8..15 */
	u64 b_hi;
	u64 b_lo;
	/*
	 * The last 8 bytes are written as one word (`tail`, built in a
	 * register): the map lookup reads the key in 8-byte words right after
	 * the program wrote it, and a word assembled from four narrow stores
	 * makes that read wait until the stores have left the store buffer.
	 */
	union {
		struct {
			u16 a_port;
			u16 b_port;
			u8 family; /* 4 or 6 */
			u8 proto;  /* always 6 (TCP) */
			u8 pad[2];
		};
		u64 tail;
	};
};

_Static_assert(sizeof(struct ct_key) == 40, "ct_key is part of the controller contract");

/* The key's last word: ports, family and protocol as the struct lays them out. */
OKO_INLINE u64 ct_tail(u16 a_port, u16 b_port, u8 family)
{
	return (u64)a_port | (u64)b_port << 16 | (u64)family << 32 | (u64)IPPROTO_TCP << 40;
}

struct ct_entry {
	u8 state;     /* enum ct_state */
	u8 initiator; /* 0: endpoint a sent the first SYN, 1: endpoint b */
	u8 fin;       /* bit 0: a sent FIN, bit 1: b sent FIN */
	u8 first_fin; /* 0: a closed first, 1: b closed first (valid once fin != 0) */
	u8 pad[4];
};

OKO_MAP(conntrack_table, BPF_MAP_TYPE_LRU_HASH, struct ct_key, struct ct_entry, 65536);

#define IPV6_MAX_EXT 4

/*
 * Finds the TCP header. Fills the endpoint addresses and family, returns the
 * TCP header pointer with its 20 fixed bytes checked, or 0 when the packet is
 * not (the first fragment of) a TCP segment.
 */
OKO_INLINE const struct tcphdr *find_tcp(const u8 *data, const u8 *end, u64 *s_hi, u64 *s_lo,
					 u64 *d_hi, u64 *d_lo, u8 *family)
{
	const u8 *l3 = 0, *l4;
	u16 proto = oko_parse_eth(data, end, &l3);

	if (proto == ETH_P_IP) {
		const struct iphdr *ip = (const void *)l3;
		u32 ihl;

		if (OKO_CHECK(ip, sizeof(*ip), end))
			return 0;
		ihl = (ip->ver_ihl & 0xF) * 4;
		if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip))
			return 0;
		if (ip->protocol != IPPROTO_TCP)
			return 0;
		if (bpf_ntohs(ip->frag_off) & IP_OFFMASK)
			return 0;
		*s_hi = ip->saddr;
		*s_lo = 0;
		*d_hi = ip->daddr;
		*d_lo = 0;
		*family = 4;
		l4 = l3 + ihl;
	} else if (proto == ETH_P_IPV6) {
		const struct ipv6hdr *ip6 = (const void *)l3;
		u8 next;

		if (OKO_CHECK(ip6, sizeof(*ip6), end))
			return 0;
		if ((((const u8 *)ip6)[0] >> 4) != 6)
			return 0;
		*s_hi = oko_load64(ip6->saddr);
		*s_lo = oko_load64(ip6->saddr + 8);
		*d_hi = oko_load64(ip6->daddr);
		*d_lo = oko_load64(ip6->daddr + 8);
		*family = 6;
		next = ip6->nexthdr;
		l4 = l3 + sizeof(*ip6);
#pragma unroll
		for (int i = 0; i < IPV6_MAX_EXT; i++) {
			const struct ipv6_opt_hdr *oh = (const void *)l4;

			if (next == IPPROTO_TCP)
				break;
			if (OKO_CHECK(oh, 8, end))
				return 0;
			if (next == IPPROTO_FRAGMENT) {
				/* Offset (13 bits) in bytes 2..3: only the first fragment. */
				const u8 *f = l4;

				if (((f[2] << 8 | f[3]) & 0xFFF8) != 0)
					return 0;
				next = oh->nexthdr;
				l4 += 8;
			} else if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
				   next == IPPROTO_DSTOPTS) {
				next = oh->nexthdr;
				l4 += ((u32)oh->hdrlen + 1) * 8;
			} else {
				return 0;
			}
		}
		if (next != IPPROTO_TCP)
			return 0;
	} else {
		return 0;
	}
	if (OKO_CHECK(l4, sizeof(struct tcphdr), end))
		return 0;
	return (const struct tcphdr *)l4;
}

OKO_FILTER(conntrack)
{
	const u8 *pkt = data;
	const u8 *end = pkt + len;
	const struct tcphdr *tcp;
	struct ct_key key = {};
	struct ct_entry *e;
	u64 s_hi = 0, s_lo = 0, d_hi = 0, d_lo = 0;
	u16 sport, dport;
	u8 family = 0, flags, from; /* from: the endpoint (0 = a, 1 = b) that sent it */
	int src_first;

	tcp = find_tcp(pkt, end, &s_hi, &s_lo, &d_hi, &d_lo, &family);
	if (!tcp)
		return 0;
	sport = tcp->source;
	dport = tcp->dest;
	flags = tcp->flags;

	/* Invalid combinations never pass. */
	if ((flags & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN))
		return 0;
	if ((flags & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST))
		return 0;
	if (!(flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)))
		return 0;

	if (s_hi != d_hi)
		src_first = s_hi < d_hi;
	else if (s_lo != d_lo)
		src_first = s_lo < d_lo;
	else if (sport != dport)
		src_first = sport < dport;
	else
		return 0; /* LAND: both directions would look the same */

	if (src_first) {
		key.a_hi = s_hi;
		key.a_lo = s_lo;
		key.b_hi = d_hi;
		key.b_lo = d_lo;
		key.tail = ct_tail(sport, dport, family);
		from = 0;
	} else {
		key.a_hi = d_hi;
		key.a_lo = d_lo;
		key.b_hi = s_hi;
		key.b_lo = s_lo;
		key.tail = ct_tail(dport, sport, family);
		from = 1;
	}

	e = map_lookup_elem(&conntrack_table, &key);
	if (!e) {
		struct ct_entry fresh = {};

		/* Only a connection-opening SYN creates state. */
		if ((flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
			return 0;
		fresh.state = CT_SYN_SENT;
		fresh.initiator = from;
		return map_update_elem(&conntrack_table, &key, &fresh, BPF_ANY) == 0;
	}

	if (flags & TCP_RST) {
		map_delete_elem(&conntrack_table, &key);
		return 1;
	}

	u8 state = e->state;
	int orig = from == e->initiator;

	if (flags & TCP_SYN) {
		if (!(flags & TCP_ACK))
			/* A retransmitted SYN, before the responder answered. */
			return orig && (state == CT_SYN_SENT || state == CT_SYN_RECV);
		if (orig)
			return 0;
		if (state == CT_SYN_SENT) {
			e->state = CT_SYN_RECV;
			return 1;
		}
		/* Retransmitted SYN+ACK (our answer or the final ACK was lost). */
		return state == CT_SYN_RECV || state == CT_ESTABLISHED;
	}

	/* From here on every segment must acknowledge something. */
	if (!(flags & TCP_ACK))
		return 0;

	switch (state) {
	case CT_SYN_RECV:
		if (!orig)
			return 0;
		e->state = CT_ESTABLISHED;
		if (flags & TCP_FIN) {
			e->state = CT_FIN_WAIT;
			e->fin = 1 << from;
			e->first_fin = from;
		}
		return 1;
	case CT_ESTABLISHED:
		if (flags & TCP_FIN) {
			e->state = CT_FIN_WAIT;
			e->fin = 1 << from;
			e->first_fin = from;
		}
		return 1;
	case CT_FIN_WAIT:
		if ((flags & TCP_FIN) && from != e->first_fin) {
			e->state = CT_CLOSING;
			e->fin |= 1 << from;
		}
		return 1;
	case CT_CLOSING:
		if (!(flags & TCP_FIN) && from == e->first_fin)
			/* The first closer acknowledges the second FIN: done. */
			map_delete_elem(&conntrack_table, &key);
		return 1;
	default:
		/* SYN_SENT: nothing but the SYN+ACK may cross yet. */
		return 0;
	}
}
