/* Oko's convention: map definitions in the writable .data section, Oko's
 * numbers (1 ARRAY, 4 HASHMAP); the program itself is plain .text. */
#include "common.h"

struct map_def seen __attribute__((section(".data"))) = { 4 /* HASHMAP */, 2, 4, 256, 0 };
struct map_def count __attribute__((section(".data"))) = { 1 /* ARRAY */, 4, 8, 1, 0 };

int filter(u8 *pkt, u32 len)
{
	u16 ethertype;
	u32 zero = 0, *n;
	u64 *c;

	if (len < 14)
		return 0;
	__builtin_memcpy(&ethertype, pkt + 12, 2);
	c = map_lookup_elem(&count, &zero);
	if (c)
		*c += 1;
	n = map_lookup_elem(&seen, &ethertype);
	return n != 0;
}
