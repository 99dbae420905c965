/* Several program sections; the loader must pick SEC("filter"). */
#include "common.h"

struct map_def hits SEC("maps") = { 6 /* PERCPU_ARRAY */, 4, 8, 2, 0 };

SEC("socket") int first(u8 *pkt, u32 len)
{
	return len > 60;
}

SEC("filter") int chosen(u8 *pkt, u32 len)
{
	u32 k = len > 100;
	u64 *v = map_lookup_elem(&hits, &k);

	if (v)
		*v += 1;
	return 1;
}

SEC("xdp") int last(u8 *pkt, u32 len)
{
	return 2;
}
