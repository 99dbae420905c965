/* BPF-to-BPF calls. The program calls the global .text function is_tcp (a
 * relocation against its symbol) and the static is_ipv4 (a relocation against
 * the .text section symbol); is_tcp calls the global ip_proto (a relocation in
 * .rel.text) and is_ipv4 (resolved by the compiler, no relocation).
 * unused_fn is never called and must not be appended. */
#include "common.h"

static __attribute__((noinline)) int is_ipv4(u8 *pkt)
{
	return pkt[12] == 0x08 && pkt[13] == 0x00;
}

__attribute__((noinline)) int unused_fn(u8 *pkt, u32 len)
{
	return pkt[len & 7] + 3;
}

__attribute__((noinline)) int ip_proto(u8 *pkt)
{
	return pkt[23];
}

__attribute__((noinline)) int is_tcp(u8 *pkt, u32 len)
{
	if (len < 34)
		return 0;
	return is_ipv4(pkt) && ip_proto(pkt) == 6;
}

SEC("classifier") int tcp_only(u8 *pkt, u32 len)
{
	if (is_tcp(pkt, len))
		return 1;
	return is_ipv4(pkt) ? 2 : 0;
}
