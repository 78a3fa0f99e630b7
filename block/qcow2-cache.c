/*
 * qcow2 metadata caches (L2 tables and refcount blocks)
 *
 * A small write-back cache of whole metadata clusters.  All users hold
 * the driver's metadata lock, so entries are never touched concurrently;
 * reading a table may yield, but only inside that lock.
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
#include "block/qcow2.h"

typedef struct Qcow2CachedTable {
    int64_t offset;         /* 0 when the slot is empty */
    uint64_t lru_counter;
    int ref;
    bool dirty;
} Qcow2CachedTable;

struct Qcow2Cache {
    Qcow2CachedTable *entries;
    Qcow2Cache *depends;
    int size;
    int table_size;
    bool is_l2;
    uint8_t *table_array;
    uint64_t lru_counter;
};

static inline void *cache_table(Qcow2Cache *c, int i)
{
    return c->table_array + (size_t)i * c->table_size;
}

static int cache_table_index(Qcow2Cache *c, void *table)
{
    ptrdiff_t off = (uint8_t *)table - c->table_array;
    int idx = off / c->table_size;

    assert(idx >= 0 && idx < c->size &&
           off % c->table_size == 0);
    return idx;
}

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               int table_size)
{
    Qcow2Cache *c;

    assert(num_tables > 0);
    c = g_new0(Qcow2Cache, 1);
    c->size = num_tables;
    c->table_size = table_size;
    c->entries = g_new0(Qcow2CachedTable, num_tables);
    c->table_array = qemu_try_blockalign(bs->file->bs,
                                         (size_t)num_tables * table_size);
    if (!c->table_array) {
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
    g_free(c->entries);
    g_free(c);
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

    if (!t->dirty || !t->offset) {
        return 0;
    }
    if (c->depends) {
        ret = cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    if (c->is_l2) {
        BLKDBG_EVENT(bs->file, BLKDBG_L2_UPDATE);
    } else {
        BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_UPDATE_PART);
    }
    ret = bdrv_co_pwrite(bs->file, t->offset, c->table_size,
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
            c->entries[i].offset = 0;
            c->entries[i].lru_counter = 0;
        }
    }
    c->lru_counter = 0;
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    int i;

    for (i = 0; i < c->size; i++) {
        if (c->entries[i].offset == (int64_t)offset &&
            c->entries[i].ref == 0) {
            c->entries[i].offset = 0;
            c->entries[i].lru_counter = 0;
            c->entries[i].dirty = false;
        }
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

    for (i = 0; i < c->size; i++) {
        if (c->entries[i].offset == (int64_t)offset) {
            goto found;
        }
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
    c->entries[i].offset = 0;
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
    c->entries[i].offset = offset;
    c->entries[i].dirty = false;

found:
    c->entries[i].ref++;
    c->entries[i].lru_counter = ++c->lru_counter;
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

    assert(c->entries[i].offset != 0);
    c->entries[i].dirty = true;
}
