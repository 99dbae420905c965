/* Shared declarations for the loader's test programs: no kernel headers. */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define SEC(name) __attribute__((section(name), used))

/* The map-definition layout both conventions share: five u32 words. */
struct map_def {
	u32 type;
	u32 key_size;
	u32 value_size;
	u32 max_entries;
	u32 flags;
};

/* Helpers are called by number (EXTENSION.md §5). */
static void *(*map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*map_update_elem)(void *map, const void *key, const void *value, u64 flags) = (void *)2;

#endif
