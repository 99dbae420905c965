/* libbpf legacy convention: a "maps" section, Linux map-type numbers. */
#include "common.h"

struct map_def flows SEC("maps") = { 1 /* HASH */, 4, 8, 1024, 0 };
struct map_def totals SEC("maps") = { 2 /* ARRAY */, 4, 8, 4, 0 };

SEC("filter") int count_sources(u8 *pkt, u32 len)
{
	u32 src, idx = 0;
	u64 one = 1, *v;

	if (len < 30)
		return 0;
	__builtin_memcpy(&src, pkt + 26, 4);
	v = map_lookup_elem(&flows, &src);
	if (v)
		*v += 1;
	else
		map_update_elem(&flows, &src, &one, 0);
	v = map_lookup_elem(&totals, &idx);
	if (v)
		*v += 1;
	return 1;
}
