/* A .bss global: not a map, so the loader must refuse it. */
#include "common.h"

u64 packets;

SEC("filter") int count_all(u8 *pkt, u32 len)
{
	packets += 1;
	return 1;
}
