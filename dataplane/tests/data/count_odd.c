/*
 * count_odd.c — a stateful filter: counts every packet it sees in an ARRAY
 * map (key 0) and matches every other one (the 1st, 3rd, 5th, ...).
 *
 * Its answers depend on how often it has run, so a pipeline that ran it one
 * time too many or too few (a cache hit replaying a stale answer, a lookup
 * running it twice) gives different forwarding: the pipeline tests use it
 * to check that filters run exactly as a linear scan would.
 */
typedef unsigned int u32;
typedef unsigned long long u64;

struct bpf_map_def {
	u32 type, key_size, value_size, max_entries, flags;
};

__attribute__((section("maps"), used)) struct bpf_map_def seen = {
	.type = 2, /* BPF_MAP_TYPE_ARRAY */
	.key_size = 4,
	.value_size = 8,
	.max_entries = 1,
};

static void *(*map_lookup_elem)(void *map, const void *key) = (void *)1;

__attribute__((section("filter"), used)) int count_odd(const void *data, u64 len)
{
	u32 key = 0;
	u64 *n = map_lookup_elem(&seen, &key);
	(void)data;
	(void)len;
	if (!n)
		return 0;
	u64 before = __sync_fetch_and_add(n, 1);
	return (before & 1) == 0;
}

char _license[] __attribute__((section("license"), used)) = "Apache-2.0";
