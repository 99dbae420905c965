/*
 * oko_helpers.h — everything a filter program needs, without kernel headers.
 *
 * The switch runs a filter on every packet of the flows that reference it
 * (EXTENSION.md §5): r1 points at the first byte of the Ethernet frame, r2 is
 * the frame length, and the packet matches when the program returns exactly 1.
 * Programs never write the packet, and the verifier refuses loops (the control
 * flow graph must be a DAG), so every loop here carries a constant bound and
 * `#pragma unroll`.
 *
 * Packet accesses must be preceded by a bounds check the verifier can follow.
 * The idiom used throughout is the Linux one, written against the end pointer
 * `end = data + len`:
 *
 *     const struct tcphdr *tcp = l4;
 *     if ((const u8 *)(tcp + 1) > end)
 *         return 0;
 *
 * OKO_CHECK(ptr, n, end) spells that check for `n` bytes from `ptr`.
 *
 * Map definitions use the libbpf legacy convention (a `maps` section holding
 * struct bpf_map_def, Linux map-type numbers). Map ids on the wire are dense
 * from 0 in definition order, so each program documents its maps' order.
 * Map keys and values are raw bytes in the BPF target's byte order
 * (little-endian, `-target bpf` on x86 hosts means bpfel) unless a field is
 * documented as network order.
 */
#ifndef OKO_HELPERS_H
#define OKO_HELPERS_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;

/* Network-order integers: the types only document intent. */
typedef u16 be16;
typedef u32 be32;

#define SEC(name) __attribute__((section(name), used))
#define OKO_INLINE static inline __attribute__((always_inline))

/*
 * The entry point. The frame length arrives as a full 64-bit register; taking
 * it as u64 avoids the zero-extension clang would emit for a u32 parameter,
 * which would hide from the verifier that `end = data + len` is the frame end.
 */
#define OKO_FILTER(name) SEC("filter") int name(const void *data, u64 len)

/* ---- helpers, called by number (EXTENSION.md §5) ---- */
static void *(*map_lookup_elem)(const void *map, const void *key) = (void *)1;
static long (*map_update_elem)(const void *map, const void *key, const void *value,
			       u64 flags) = (void *)2;
static long (*map_delete_elem)(const void *map, const void *key) = (void *)3;
static u64 (*ktime_get_ns)(void) = (void *)5;
static u32 (*hash)(const void *ptr, u32 len) = (void *)6;
static u32 (*get_prandom_u32)(void) = (void *)7;

/* map_update_elem flags */
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2

/* ---- maps: libbpf legacy `maps` section ---- */
struct bpf_map_def {
	u32 type;
	u32 key_size;
	u32 value_size;
	u32 max_entries;
	u32 map_flags;
};

#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_HASH 5
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_LRU_HASH 9

#define OKO_MAP(name, type_, key, value, max)                                   \
	struct bpf_map_def name SEC("maps") = {                                 \
		.type = (type_),                                                \
		.key_size = sizeof(key),                                        \
		.value_size = sizeof(value),                                    \
		.max_entries = (max),                                           \
		.map_flags = 0,                                                 \
	}

/* ---- byte order (the target is little-endian) ---- */
#define bpf_ntohs(x) ((u16)__builtin_bswap16((u16)(x)))
#define bpf_htons(x) ((u16)__builtin_bswap16((u16)(x)))
#define bpf_ntohl(x) ((u32)__builtin_bswap32((u32)(x)))
#define bpf_htonl(x) ((u32)__builtin_bswap32((u32)(x)))

/* ---- packet bounds ---- */
/* True when `n` bytes from `ptr` lie beyond the frame end: drop out then. */
#define OKO_CHECK(ptr, n, end) ((const u8 *)(ptr) + (n) > (const u8 *)(end))

/*
 * Unaligned loads. The switch's runtime supports unaligned packet accesses
 * (EXTENSION.md §5 leaves alignment to it), so these are single loads; a
 * packed struct or memcpy from a u8 array would make clang emit byte loads.
 */
OKO_INLINE u64 oko_load64(const void *p) { return *(const u64 *)p; }
OKO_INLINE u32 oko_load32(const void *p) { return *(const u32 *)p; }
OKO_INLINE u16 oko_load16(const void *p) { return *(const u16 *)p; }

/*
 * ---- headers ----
 * Wire layouts, multi-byte fields in network order. Every field sits at its
 * natural alignment within the struct and there is no padding (checked
 * below), so the structs need no `packed` and each field access is a single
 * load; in the frame such loads may be unaligned (an IPv4 source address sits
 * at offset 26), which the runtime allows.
 */
#define ETH_ALEN 6
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_HOPOPTS 0
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_DSTOPTS 60

struct ethhdr {
	u8 h_dest[ETH_ALEN];
	u8 h_source[ETH_ALEN];
	be16 h_proto;
};

struct vlan_hdr {
	be16 tci;
	be16 encapsulated_proto;
};

struct iphdr {
	u8 ver_ihl; /* version << 4 | header length in 32-bit words */
	u8 tos;
	be16 tot_len;
	be16 id;
	be16 frag_off; /* flags (reserved, DF, MF) << 13 | offset */
	u8 ttl;
	u8 protocol;
	be16 check;
	be32 saddr;
	be32 daddr;
};

#define IP_RF 0x8000
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFMASK 0x1FFF

struct ipv6hdr {
	be32 ver_tc_flow; /* version 4 bits, traffic class 8, flow label 20 */
	be16 payload_len;
	u8 nexthdr;
	u8 hop_limit;
	u8 saddr[16];
	u8 daddr[16];
};

/* Hop-by-hop, routing and destination options share this prefix. */
struct ipv6_opt_hdr {
	u8 nexthdr;
	u8 hdrlen; /* in 8-byte units, not counting the first 8 bytes */
};

struct tcphdr {
	be16 source;
	be16 dest;
	be32 seq;
	be32 ack_seq;
	u8 doff_res; /* data offset << 4 | reserved */
	u8 flags;
	be16 window;
	be16 check;
	be16 urg_ptr;
};

_Static_assert(sizeof(struct ethhdr) == 14, "ethhdr layout");
_Static_assert(sizeof(struct vlan_hdr) == 4, "vlan_hdr layout");
_Static_assert(sizeof(struct iphdr) == 20, "iphdr layout");
_Static_assert(sizeof(struct ipv6hdr) == 40, "ipv6hdr layout");
_Static_assert(sizeof(struct ipv6_opt_hdr) == 2, "ipv6_opt_hdr layout");
_Static_assert(sizeof(struct tcphdr) == 20, "tcphdr layout");

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WS 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK 5
#define TCPOPT_TS 8

/*
 * Skips the Ethernet header and up to two VLAN tags (802.1Q, 802.1ad).
 * Returns the ethertype in host order and sets *l3 to the network header,
 * or returns 0 when the frame is too short.
 */
OKO_INLINE u16 oko_parse_eth(const u8 *data, const u8 *end, const u8 **l3)
{
	const struct ethhdr *eth = (const void *)data;
	const u8 *p;
	u16 proto;

	if (OKO_CHECK(eth, sizeof(*eth), end))
		return 0;
	proto = bpf_ntohs(eth->h_proto);
	p = data + sizeof(*eth);
#pragma unroll
	for (int i = 0; i < 2; i++) {
		const struct vlan_hdr *vh = (const void *)p;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (OKO_CHECK(vh, sizeof(*vh), end))
			return 0;
		proto = bpf_ntohs(vh->encapsulated_proto);
		p += sizeof(*vh);
	}
	*l3 = p;
	return proto;
}

#endif /* OKO_HELPERS_H */
