/*
 * min_len.c — matches frames of at least 100 bytes.
 *
 * The dataplane's end-to-end tests use it as a per-packet decision a test can
 * steer from outside: `ping -s 100` sends 142-byte frames (matched), the
 * default `ping -s 56` 98-byte frames (not matched).
 */
__attribute__((section("filter"), used)) int min_len(const void *data, unsigned long long len)
{
	(void)data;
	return len >= 100;
}

char _license[] __attribute__((section("license"), used)) = "Apache-2.0";
