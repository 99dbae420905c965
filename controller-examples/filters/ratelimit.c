/*
 * ratelimit.c — the paper's per-source rate limiter: a token bucket per
 * source IP address.
 *
 * Returns 1 when the packet's source is over its rate (the rule referencing
 * the program then drops it, or meters it, or sends it to the controller),
 * 0 otherwise — including for packets that are neither IPv4 nor IPv6.
 *
 * Each source starts with a full bucket of `burst` tokens; a packet takes one
 * token; tokens come back at `rate` per second up to `burst`. A packet that
 * finds fewer than one token is over the rate and takes nothing, so a source
 * that keeps sending above the rate still gets `rate` packets per second
 * through.
 *
 * Arithmetic is in integers only: tokens are counted in nano-tokens
 * (1 token = 10^9), so that `elapsed_ns * rate` is exactly the refill. The
 * bucket cap is `burst * 10^9`, with burst limited to 2^32 - 1 tokens so the
 * cap fits in a u64; the refill is computed only when it cannot overflow
 * (elapsed <= (cap - tokens) / rate), otherwise the bucket is simply full.
 * Time that goes backwards (two workers' batch clocks) counts as no time.
 *
 * Configuration: while `rate` or `burst` is 0 (the array starts zeroed, i.e.
 * before the controller wrote the configuration) limiting is off: the program
 * returns 0 for every packet and keeps no state. Changing the configuration
 * affects existing buckets from their next packet (a bucket fuller than a
 * smaller new burst is trimmed to it).
 *
 * Sources: IPv4 addresses, and IPv6 addresses by their full 128 bits (an
 * operator wanting /64 granularity would mask the key; see src_key below).
 * Updates of one bucket by two workers at once may lose a token decrement:
 * the limit is approximate under such races, never unsafe.
 *
 * Maps (ids in definition order):
 *   0 ratelimit_config   ARRAY     key u32 (index 0), value struct rl_config
 *                                  (16 bytes: u64 rate, u64 burst, little-endian)
 *   1 ratelimit_buckets  LRU_HASH  key struct rl_key (20 bytes),
 *                                  value struct rl_bucket (16 bytes), 65536 entries
 */
#include "oko_helpers.h"

#define NS_PER_SEC 1000000000ULL
#define MAX_BURST 0xFFFFFFFFULL

struct rl_config {
	u64 rate;  /* tokens (packets) per second */
	u64 burst; /* bucket size in tokens */
};

/* IPv4: the address in the first 4 bytes of addr, the rest zero. */
struct rl_key {
	u8 addr[16]; /* network order */
	u32 family;  /* 4 or 6 */
};

struct rl_bucket {
	u64 tokens;  /* nano-tokens */
	u64 last_ns; /* ktime_get_ns() of the last refill */
};

OKO_MAP(ratelimit_config, BPF_MAP_TYPE_ARRAY, u32, struct rl_config, 1);
OKO_MAP(ratelimit_buckets, BPF_MAP_TYPE_LRU_HASH, struct rl_key, struct rl_bucket, 65536);

/* Fills the key with the packet's source address; 0 when not IP. */
OKO_INLINE int src_key(const u8 *data, const u8 *end, struct rl_key *key)
{
	const u8 *l3 = 0;
	u16 proto = oko_parse_eth(data, end, &l3);

	if (proto == ETH_P_IP) {
		const struct iphdr *ip = (const void *)l3;

		if (OKO_CHECK(ip, sizeof(*ip), end))
			return 0;
		/*
		 * The address and the 4 zero bytes after it as one 8-byte store:
		 * the map lookup reads the key in 8-byte words right away, and a
		 * word assembled from a 4-byte store over an 8-byte one makes
		 * that read wait until the stores have left the store buffer.
		 */
		*(u64 *)key->addr = ip->saddr;
		key->family = 4;
		return 1;
	}
	if (proto == ETH_P_IPV6) {
		const struct ipv6hdr *ip6 = (const void *)l3;

		if (OKO_CHECK(ip6, sizeof(*ip6), end))
			return 0;
		*(u64 *)key->addr = oko_load64(ip6->saddr);
		*(u64 *)(key->addr + 8) = oko_load64(ip6->saddr + 8);
		key->family = 6;
		return 1;
	}
	return 0;
}

OKO_FILTER(ratelimit)
{
	const u8 *pkt = data;
	const u8 *end = pkt + len;
	struct rl_key key = {};
	struct rl_config *cfg;
	struct rl_bucket *b;
	u32 zero = 0;
	u64 rate, burst, cap, now;

	cfg = map_lookup_elem(&ratelimit_config, &zero);
	if (!cfg)
		return 0;
	rate = cfg->rate;
	burst = cfg->burst;
	if (rate == 0 || burst == 0)
		return 0;
	if (burst > MAX_BURST)
		burst = MAX_BURST;
	cap = burst * NS_PER_SEC;

	if (!src_key(pkt, end, &key))
		return 0;
	now = ktime_get_ns();

	b = map_lookup_elem(&ratelimit_buckets, &key);
	if (!b) {
		/* A new source: a full bucket, minus this packet's token. */
		struct rl_bucket fresh = { .tokens = cap - NS_PER_SEC, .last_ns = now };

		map_update_elem(&ratelimit_buckets, &key, &fresh, BPF_ANY);
		return 0;
	}

	u64 tokens = b->tokens;
	u64 last = b->last_ns;

	if (tokens > cap)
		tokens = cap;
	if (now > last) {
		u64 elapsed = now - last;

		/* Refill without overflow: elapsed * rate <= cap - tokens. */
		if (elapsed > (cap - tokens) / rate)
			tokens = cap;
		else
			tokens += elapsed * rate;
		b->last_ns = now;
	}
	if (tokens < NS_PER_SEC) {
		b->tokens = tokens;
		return 1;
	}
	b->tokens = tokens - NS_PER_SEC;
	return 0;
}
