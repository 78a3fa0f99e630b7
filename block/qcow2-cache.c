/*
 * qcow2 metadata caches (L2 tables and refcount blocks)
 *
 * A small write-back cache of whole metadata clusters.  All users hold
 * the driver's metadata lock, so entries are never touched concurrently;
 * reading a table may yield, but only inside that lock.  The one user
 * outside the lock is the cache-clean timer, which only drops entries
 * that are clean and not in use.
 *
 * Lookups are on the path of every request: the entry hit last is tried
 * first, then a small hash index (open addressing, linear probing) maps
 * table offsets to entries, so a hit costs the same in a cache of 512
 * tables as in one of 8.
 *
 * Ordering: a cache may depend on another one.  Before a dirty entry of
 * a dependent cache is written, the cache it depends on is written and
 * flushed (new refcounts reach the disk before L2 entries that use the
 * clusters; L2 entries that dropped a cluster reach the disk before its
 * refcount is lowered).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/mman.h>
#include "block/qcow2.h"

typedef struct Qcow2CachedTable {
    uint64_t lru_counter;
    int ref;
    bool dirty;
} Qcow2CachedTable;

/* A slot of the hash index: offset 0 marks a free slot */
typedef struct Qcow2CacheIndexSlot {
    int64_t offset;
    int entry;
} Qcow2CacheIndexSlot;

struct Qcow2Cache {
    Qcow2CachedTable *entries;
    int64_t *offsets;       /* per entry; 0 when the slot is empty */
    Qcow2CacheIndexSlot *index;
    int index_bits;         /* the index has 1 << index_bits slots */
    Qcow2Cache *depends;
    int size;
    int table_size;
    int last_hit;
    bool is_l2;
    uint8_t *table_array;
    uint64_t lru_counter;
    /* lru_counter at the previous qcow2_cache_clean_unused() */
    uint64_t cache_clean_lru_counter;
};

static inline void *cache_table(Qcow2Cache *c, int i)
{
    return c->table_array + (size_t)i * c->table_size;
}

/* Hash index: at most half full, so probe sequences stay short */

static inline uint32_t index_home(Qcow2Cache *c, int64_t offset)
{
    return ((uint64_t)offset * 0x9e3779b97f4a7c15ULL) >> (64 - c->index_bits);
}

static int index_lookup(Qcow2Cache *c, int64_t offset)
{
    uint32_t mask = (1U << c->index_bits) - 1;
    uint32_t i;

    for (i = index_home(c, offset); c->index[i].offset; i = (i + 1) & mask) {
        if (c->index[i].offset == offset) {
            return c->index[i].entry;
        }
    }
    return -1;
}

static void index_insert(Qcow2Cache *c, int64_t offset, int entry)
{
    uint32_t mask = (1U << c->index_bits) - 1;
    uint32_t i = index_home(c, offset);

    while (c->index[i].offset) {
        assert(c->index[i].offset != offset);
        i = (i + 1) & mask;
    }
    c->index[i] = (Qcow2CacheIndexSlot) { .offset = offset, .entry = entry };
}

/* Remove @offset, moving later entries of its probe run back (no holes) */
static void index_remove(Qcow2Cache *c, int64_t offset)
{
    uint32_t mask = (1U << c->index_bits) - 1;
    uint32_t i = index_home(c, offset), j, home;

    while (c->index[i].offset != offset) {
        assert(c->index[i].offset);
        i = (i + 1) & mask;
    }
    for (j = (i + 1) & mask; c->index[j].offset; j = (j + 1) & mask) {
        home = index_home(c, c->index[j].offset);
        /* Entry j may move to i only if its home is not in (i, j] */
        if (i <= j ? (home > i && home <= j) : (home > i || home <= j)) {
            continue;
        }
        c->index[i] = c->index[j];
        i = j;
    }
    c->index[i].offset = 0;
}

/* Point entry @i at @offset (0: empty), keeping the index in step */
static void cache_set_offset(Qcow2Cache *c, int i, int64_t offset)
{
    if (c->offsets[i]) {
        index_remove(c, c->offsets[i]);
    }
    c->offsets[i] = offset;
    if (offset) {
        index_insert(c, offset, i);
    }
}

static int cache_table_index(Qcow2Cache *c, void *table)
{
    ptrdiff_t off = (uint8_t *)table - c->table_array;
    int idx = off / c->table_size;

    assert(idx >= 0 && idx < c->size &&
           off % c->table_size == 0);
    return idx;
}

/* Keeps the index (two slots per table) addressable by a 32-bit mask */
#define QCOW2_CACHE_MAX_TABLES (1 << 28)

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               int table_size)
{
    Qcow2Cache *c;

    assert(num_tables > 0);
    if (num_tables > QCOW2_CACHE_MAX_TABLES) {
        return NULL;
    }
    /*
     * Sizes come from the user: allocate the tables first and fail cleanly
     * rather than abort when a huge cache does not fit.
     */
    c = g_new0(Qcow2Cache, 1);
    c->size = num_tables;
    c->table_size = table_size;
    c->index_bits = 1;
    while ((1 << c->index_bits) < 2 * num_tables) {
        c->index_bits++;
    }
    c->table_array = qemu_try_blockalign(bs->file->bs,
                                         (size_t)num_tables * table_size);
    c->entries = g_try_new0(Qcow2CachedTable, num_tables);
    c->offsets = g_try_new0(int64_t, num_tables);
    c->index = g_try_new0(Qcow2CacheIndexSlot, (size_t)1 << c->index_bits);
    if (!c->table_array || !c->entries || !c->offsets || !c->index) {
        qemu_vfree(c->table_array);
        g_free(c->index);
        g_free(c->offsets);
        g_free(c->entries);
        g_free(c);
        return NULL;
    }
    return c;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    int i;

    if (!c) {
        return;
    }
    for (i = 0; i < c->size; i++) {
        assert(c->entries[i].ref == 0);
    }
    qemu_vfree(c->table_array);
    g_free(c->index);
    g_free(c->offsets);
    g_free(c->entries);
    g_free(c);
}

int qcow2_cache_num_tables(Qcow2Cache *c)
{
    return c->size;
}

void qcow2_cache_set_is_l2(Qcow2Cache *c, bool is_l2)
{
    c->is_l2 = is_l2;
}

static int coroutine_fn cache_flush_dependency(BlockDriverState *bs,
                                               Qcow2Cache *c);

static int coroutine_fn cache_write_entry(BlockDriverState *bs,
                                          Qcow2Cache *c, int i)
{
    Qcow2CachedTable *t = &c->entries[i];
    int ret;

    if (!t->dirty || !c->offsets[i]) {
        return 0;
    }
    if (c->depends) {
        ret = cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    /* A table may only overlap tables of its own kind (itself) */
    ret = qcow2_pre_write_overlap_check(bs, c->is_l2 ? QCOW2_OL_ACTIVE_L2
                                                     : QCOW2_OL_REFCOUNT_BLOCK,
                                        c->offsets[i], c->table_size);
    if (ret < 0) {
        return ret;
    }
    if (c->is_l2) {
        BLKDBG_EVENT(bs->file, BLKDBG_L2_UPDATE);
    } else {
        BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_UPDATE_PART);
    }
    ret = bdrv_co_pwrite(bs->file, c->offsets[i], c->table_size,
                         cache_table(c, i), 0);
    if (ret < 0) {
        return ret;
    }
    t->dirty = false;
    return 0;
}

int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = 0;
    int i, ret;

    for (i = 0; i < c->size; i++) {
        ret = cache_write_entry(bs, c, i);
        if (ret < 0 && result != -ENOSPC) {
            result = ret;
        }
    }
    return result;
}

int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = qcow2_cache_write(bs, c);

    if (result == 0) {
        int ret = bdrv_co_flush(bs->file->bs);
        if (ret < 0) {
            result = ret;
        }
    }
    return result;
}

/* Flush what @c depends on and forget the dependency */
static int coroutine_fn cache_flush_dependency(BlockDriverState *bs,
                                               Qcow2Cache *c)
{
    Qcow2Cache *dep = c->depends;
    int ret;

    c->depends = NULL;
    ret = qcow2_cache_flush(bs, dep);
    if (ret < 0) {
        c->depends = dep;
    }
    return ret;
}

int coroutine_fn qcow2_cache_set_dependency(BlockDriverState *bs,
                                            Qcow2Cache *c,
                                            Qcow2Cache *dependency)
{
    int ret;

    if (dependency->depends) {
        ret = cache_flush_dependency(bs, dependency);
        if (ret < 0) {
            return ret;
        }
    }
    if (c->depends && c->depends != dependency) {
        ret = cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    c->depends = dependency;
    return 0;
}

bool qcow2_cache_is_dirty(Qcow2Cache *c)
{
    int i;

    for (i = 0; i < c->size; i++) {
        if (c->entries[i].dirty) {
            return true;
        }
    }
    return false;
}

void qcow2_cache_empty(Qcow2Cache *c)
{
    int i;

    for (i = 0; i < c->size; i++) {
        assert(c->entries[i].ref == 0);
        if (!c->entries[i].dirty) {
            cache_set_offset(c, i, 0);
            c->entries[i].lru_counter = 0;
        }
    }
    c->lru_counter = 0;
    c->cache_clean_lru_counter = 0;
}

/* Give the memory of table @i back to the system, if it has whole pages */
static void cache_release_table(Qcow2Cache *c, int i)
{
#ifdef MADV_DONTNEED
    size_t page = qemu_real_host_page_size();
    uintptr_t start = (uintptr_t)cache_table(c, i);

    if (start % page == 0 && c->table_size % page == 0) {
        madvise(cache_table(c, i), c->table_size, MADV_DONTNEED);
    }
#endif
}

void qcow2_cache_clean_unused(Qcow2Cache *c)
{
    int i;

    for (i = 0; i < c->size; i++) {
        Qcow2CachedTable *t = &c->entries[i];

        if (c->offsets[i] && !t->ref && !t->dirty &&
            t->lru_counter <= c->cache_clean_lru_counter) {
            cache_set_offset(c, i, 0);
            t->lru_counter = 0;
            cache_release_table(c, i);
        }
    }
    c->cache_clean_lru_counter = c->lru_counter;
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    int i = offset ? index_lookup(c, offset) : -1;

    if (i >= 0 && c->entries[i].ref == 0) {
        cache_set_offset(c, i, 0);
        c->entries[i].lru_counter = 0;
        c->entries[i].dirty = false;
    }
}

static int coroutine_fn cache_do_get(BlockDriverState *bs, Qcow2Cache *c,
                                     uint64_t offset, void **table,
                                     bool read_from_disk)
{
    uint64_t min_lru = UINT64_MAX;
    int min_i = -1;
    int i, ret;

    if (offset == 0 || (offset & (c->table_size - 1))) {
        qcow2_signal_corruption(bs, true, -1, -1, "Cannot get entry from %s "
                                "cache: Offset %#" PRIx64 " is unaligned",
                                c->is_l2 ? "L2 table" : "refcount block",
                                offset);
        return -EIO;
    }

    i = c->last_hit;
    if (c->offsets[i] == (int64_t)offset) {
        goto found;
    }
    i = index_lookup(c, offset);
    if (i >= 0) {
        goto found;
    }

    /* Miss: evict the least recently used table nobody holds */
    for (i = 0; i < c->size; i++) {
        if (c->entries[i].ref == 0 && c->entries[i].lru_counter < min_lru) {
            min_lru = c->entries[i].lru_counter;
            min_i = i;
        }
    }
    if (min_i < 0) {
        /* Every slot is in use: the cache is too small for the caller */
        return -ENOSPC;
    }

    i = min_i;
    ret = cache_write_entry(bs, c, i);
    if (ret < 0) {
        return ret;
    }
    cache_set_offset(c, i, 0);
    if (read_from_disk) {
        if (c->is_l2) {
            BLKDBG_EVENT(bs->file, BLKDBG_L2_LOAD);
        } else {
            BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_LOAD);
        }
        ret = bdrv_co_pread(bs->file, offset, c->table_size,
                            cache_table(c, i), 0);
        if (ret < 0) {
            return ret;
        }
    }
    cache_set_offset(c, i, offset);
    c->entries[i].dirty = false;

found:
    c->entries[i].ref++;
    c->entries[i].lru_counter = ++c->lru_counter;
    c->last_hit = i;
    *table = cache_table(c, i);
    return 0;
}

int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c,
                                 uint64_t offset, void **table)
{
    return cache_do_get(bs, c, offset, table, true);
}

int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                                       uint64_t offset, void **table)
{
    return cache_do_get(bs, c, offset, table, false);
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    int i = cache_table_index(c, *table);

    c->entries[i].ref--;
    *table = NULL;
    assert(c->entries[i].ref >= 0);
}

void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table)
{
    int i = cache_table_index(c, table);

    assert(c->offsets[i] != 0);
    c->entries[i].dirty = true;
}

int coroutine_fn qcow2_co_empty_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret >= 0) {
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    }
    if (ret < 0) {
        return ret;
    }
    qcow2_cache_empty(s->l2_table_cache);
    qcow2_cache_empty(s->refcount_block_cache);
    return 0;
}
