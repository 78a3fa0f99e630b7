/*
 * qcow2 reference counts: table, blocks, allocation, freeing and check
 *
 * Invariants kept here:
 * - a cluster whose refcount block is missing has refcount 0;
 * - a new refcount block always describes itself: it is placed on the
 *   first cluster of the range it covers, which is free because a range
 *   without a block has no used cluster.  The allocator creates missing
 *   blocks while it scans, so updating refcounts of a found free run
 *   never needs to allocate.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/buffer-compare.h"
#include "qemu/error-report.h"
#include "block/qcow2.h"

/* Pure accessors, one per refcount width */

static uint64_t get_refcount_ro0(const void *a, uint64_t i)
{
    return (((const uint8_t *)a)[i / 8] >> (i % 8)) & 0x1;
}

static void set_refcount_ro0(void *a, uint64_t i, uint64_t v)
{
    uint8_t *p = (uint8_t *)a + i / 8;
    *p = (*p & ~(0x1 << (i % 8))) | ((v & 0x1) << (i % 8));
}

static uint64_t get_refcount_ro1(const void *a, uint64_t i)
{
    return (((const uint8_t *)a)[i / 4] >> (2 * (i % 4))) & 0x3;
}

static void set_refcount_ro1(void *a, uint64_t i, uint64_t v)
{
    uint8_t *p = (uint8_t *)a + i / 4;
    int shift = 2 * (i % 4);
    *p = (*p & ~(0x3 << shift)) | ((v & 0x3) << shift);
}

static uint64_t get_refcount_ro2(const void *a, uint64_t i)
{
    return (((const uint8_t *)a)[i / 2] >> (4 * (i % 2))) & 0xf;
}

static void set_refcount_ro2(void *a, uint64_t i, uint64_t v)
{
    uint8_t *p = (uint8_t *)a + i / 2;
    int shift = 4 * (i % 2);
    *p = (*p & ~(0xf << shift)) | ((v & 0xf) << shift);
}

static uint64_t get_refcount_ro3(const void *a, uint64_t i)
{
    return ((const uint8_t *)a)[i];
}

static void set_refcount_ro3(void *a, uint64_t i, uint64_t v)
{
    ((uint8_t *)a)[i] = v;
}

static uint64_t get_refcount_ro4(const void *a, uint64_t i)
{
    return qcow2_ld16((const uint8_t *)a + 2 * i);
}

static void set_refcount_ro4(void *a, uint64_t i, uint64_t v)
{
    qcow2_st16((uint8_t *)a + 2 * i, v);
}

static uint64_t get_refcount_ro5(const void *a, uint64_t i)
{
    return qcow2_ld32((const uint8_t *)a + 4 * i);
}

static void set_refcount_ro5(void *a, uint64_t i, uint64_t v)
{
    qcow2_st32((uint8_t *)a + 4 * i, v);
}

static uint64_t get_refcount_ro6(const void *a, uint64_t i)
{
    return qcow2_ld64((const uint8_t *)a + 8 * i);
}

static void set_refcount_ro6(void *a, uint64_t i, uint64_t v)
{
    qcow2_st64((uint8_t *)a + 8 * i, v);
}

Qcow2GetRefcountFunc *const qcow2_get_refcount_funcs[7] = {
    get_refcount_ro0, get_refcount_ro1, get_refcount_ro2, get_refcount_ro3,
    get_refcount_ro4, get_refcount_ro5, get_refcount_ro6,
};

Qcow2SetRefcountFunc *const qcow2_set_refcount_funcs[7] = {
    set_refcount_ro0, set_refcount_ro1, set_refcount_ro2, set_refcount_ro3,
    set_refcount_ro4, set_refcount_ro5, set_refcount_ro6,
};

void qcow2_compressed_layout(int cluster_bits, int *csize_shift,
                             int *csize_mask, uint64_t *offset_mask)
{
    *csize_shift = 62 - (cluster_bits - 8);
    *csize_mask = (1 << (cluster_bits - 8)) - 1;
    *offset_mask = (1ULL << *csize_shift) - 1;
}

void qcow2_parse_compressed_descriptor(BDRVQcow2State *s, uint64_t l2_entry,
                                       uint64_t *start, uint64_t *len)
{
    uint64_t offset = l2_entry & s->cluster_offset_mask;
    uint64_t nb_csectors = ((l2_entry >> s->csize_shift) & s->csize_mask) + 1;

    *start = offset & QCOW2_COMPRESSED_SECTOR_MASK;
    *len = nb_csectors * QCOW2_COMPRESSED_SECTOR_SIZE;
}

/* Table and blocks */

int coroutine_fn qcow2_refcount_init(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t i;
    int ret;

    s->get_refcount = qcow2_get_refcount_funcs[s->refcount_order];
    s->set_refcount = qcow2_set_refcount_funcs[s->refcount_order];

    s->refcount_table = g_try_new0(uint64_t, MAX(s->refcount_table_size, 1));
    if (!s->refcount_table) {
        error_setg(errp, "Could not allocate the reference count table");
        return -ENOMEM;
    }
    if (s->refcount_table_size > 0) {
        BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_LOAD);
        ret = bdrv_co_pread(bs->file, s->refcount_table_offset,
                            s->refcount_table_size * sizeof(uint64_t),
                            s->refcount_table, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret,
                             "Could not read the reference count table");
            return ret;
        }
        for (i = 0; i < s->refcount_table_size; i++) {
            s->refcount_table[i] = GUINT64_FROM_BE(s->refcount_table[i]);
            if (s->refcount_table[i]) {
                s->refcount_table_used = i + 1;
            }
        }
    }
    return 0;
}

void qcow2_refcount_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    g_free(s->refcount_table);
    s->refcount_table = NULL;
}

/*
 * Offset of the refcount block for @table_index; 0 if there is none,
 * -EIO if the table entry is corrupt.
 */
static int64_t refblock_offset(BlockDriverState *bs, uint64_t table_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset;

    if (table_index >= s->refcount_table_size) {
        return 0;
    }
    offset = s->refcount_table[table_index] & REFT_OFFSET_MASK;
    if (offset && offset_into_cluster(s, offset)) {
        qcow2_signal_corruption(bs, true, offset, s->cluster_size,
                                "Refblock offset %#" PRIx64
                                " unaligned (reftable index: %#" PRIx64 ")",
                                offset, table_index);
        return -EIO;
    }
    return offset;
}

int coroutine_fn qcow2_get_refcount(BlockDriverState *bs,
                                    int64_t cluster_index,
                                    uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t table_index = cluster_index >> s->refcount_block_bits;
    uint64_t block_index = cluster_index & (s->refcount_block_size - 1);
    int64_t offset;
    void *block;
    int ret;

    offset = refblock_offset(bs, table_index);
    if (offset <= 0) {
        *refcount = 0;
        return offset;
    }
    ret = qcow2_cache_get(bs, s->refcount_block_cache, offset, &block);
    if (ret < 0) {
        return ret;
    }
    *refcount = s->get_refcount(block, block_index);
    qcow2_cache_put(s->refcount_block_cache, &block);
    return 0;
}

static int coroutine_fn update_refcount(BlockDriverState *bs,
                                        int64_t offset, int64_t length,
                                        uint64_t addend, bool decrease,
                                        Qcow2DiscardType type);

/*
 * Clusters the allocator must never hand out even if their refcount says
 * free (a corrupt refcount structure must not make us overwrite the
 * header or the tables we are using).
 */
static bool cluster_is_fixed_metadata(BDRVQcow2State *s, int64_t cluster)
{
    uint64_t off = (uint64_t)cluster << s->cluster_bits;
    uint64_t end = off + s->cluster_size;

    if (cluster == 0) {
        return true;
    }
    if (off < s->refcount_table_offset +
              (uint64_t)s->refcount_table_size * 8 &&
        s->refcount_table_offset < end) {
        return true;
    }
    if (s->l1_size &&
        off < s->l1_table_offset + (uint64_t)s->l1_size * 8 &&
        s->l1_table_offset < end) {
        return true;
    }
    if (s->snapshots_size &&
        off < s->snapshots_offset + s->snapshots_size &&
        s->snapshots_offset < end) {
        return true;
    }
    return false;
}

/* Write one refcount table entry through to the disk */
static int coroutine_fn write_reftable_entry(BlockDriverState *bs,
                                             uint64_t table_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t buf[8];

    qcow2_st64(buf, s->refcount_table[table_index]);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_HOOKUP);
    return bdrv_co_pwrite_sync(bs->file,
                               s->refcount_table_offset + table_index * 8,
                               sizeof(buf), buf, 0);
}

/*
 * Grow the refcount table so that it has an entry @table_index, and hook
 * up a new refcount block for that entry.  The block goes on the first
 * cluster of its range and the new table right after it, so the block
 * describes both.
 */
static int coroutine_fn grow_refcount_table(BlockDriverState *bs,
                                            uint64_t table_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t entries_per_cluster = s->cluster_size / sizeof(uint64_t);
    uint64_t new_size, table_clusters, start, i;
    uint64_t old_offset = s->refcount_table_offset;
    uint64_t old_size = s->refcount_table_size;
    uint64_t *new_table = NULL;
    uint8_t *buf = NULL;
    uint8_t hdr[12];
    void *block;
    int ret;

    BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_GROW);
    new_size = MAX(table_index + 1, old_size + old_size / 2 + 1);
    new_size = ROUND_UP(new_size, entries_per_cluster);
    if (new_size * sizeof(uint64_t) > QCOW_MAX_REFTABLE_SIZE) {
        return -EFBIG;
    }
    table_clusters = new_size / entries_per_cluster;
    if (table_clusters + 1 > (uint64_t)s->refcount_block_size) {
        return -EFBIG;
    }
    start = table_index << s->refcount_block_bits;
    if (((start + table_clusters + 1) << s->cluster_bits) >
        L2E_OFFSET_MASK) {
        return -EFBIG;
    }
    for (i = 0; i <= table_clusters; i++) {
        if (cluster_is_fixed_metadata(s, start + i)) {
            /* Only a corrupt refcount table gets us here */
            qcow2_signal_corruption(bs, true, -1, -1, "Refcount table "
                                    "growth would overwrite metadata at "
                                    "cluster %#" PRIx64, start + i);
            return -EIO;
        }
    }

    /* The new block covering the block itself and the new table */
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS);
    ret = qcow2_cache_get_empty(bs, s->refcount_block_cache,
                                start << s->cluster_bits, &block);
    if (ret < 0) {
        return ret;
    }
    memset(block, 0, s->cluster_size);
    for (i = 0; i <= table_clusters; i++) {
        s->set_refcount(block, i, 1);
    }
    qcow2_cache_entry_mark_dirty(s->refcount_block_cache, block);
    qcow2_cache_put(s->refcount_block_cache, &block);
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }

    new_table = g_try_new0(uint64_t, new_size);
    buf = g_try_malloc0(new_size * sizeof(uint64_t));
    if (!new_table || !buf) {
        ret = -ENOMEM;
        goto out;
    }
    memcpy(new_table, s->refcount_table, old_size * sizeof(uint64_t));
    new_table[table_index] = start << s->cluster_bits;
    for (i = 0; i < new_size; i++) {
        qcow2_st64(buf + i * 8, new_table[i]);
    }
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE);
    ret = bdrv_co_pwrite_sync(bs->file, (start + 1) << s->cluster_bits,
                              new_size * sizeof(uint64_t), buf, 0);
    if (ret < 0) {
        goto out;
    }

    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE);
    qcow2_st64(hdr, (start + 1) << s->cluster_bits);
    qcow2_st32(hdr + 8, table_clusters);
    ret = qcow2_write_header_field(bs, QCOW2_HDR_REFTABLE_OFFSET, hdr,
                                   sizeof(hdr));
    if (ret < 0) {
        goto out;
    }

    g_free(s->refcount_table);
    s->refcount_table = g_steal_pointer(&new_table);
    s->refcount_table_size = new_size;
    s->refcount_table_used = MAX(s->refcount_table_used, table_index + 1);
    s->refcount_table_offset = (start + 1) << s->cluster_bits;

    /* Drop the old table; a failure here only leaks it */
    if (old_offset) {
        qcow2_free_clusters(bs, old_offset,
                            ROUND_UP(old_size * sizeof(uint64_t),
                                     s->cluster_size),
                            QCOW2_DISCARD_OTHER);
    }
    ret = 0;
out:
    g_free(new_table);
    g_free(buf);
    return ret;
}

/*
 * Create the refcount block for range @table_index on the free cluster
 * @cluster.  When the cluster lies in that range the block counts itself;
 * otherwise the range holding @cluster must already have a block.
 */
static int coroutine_fn create_refblock_at(BlockDriverState *bs,
                                           uint64_t table_index,
                                           int64_t cluster)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset = (uint64_t)cluster << s->cluster_bits;
    bool self = ((uint64_t)cluster >> s->refcount_block_bits) == table_index;
    void *block;
    int ret;

    assert(table_index < s->refcount_table_size);
    if (offset + s->cluster_size > L2E_OFFSET_MASK) {
        return -EFBIG;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC);
    ret = qcow2_cache_get_empty(bs, s->refcount_block_cache, offset, &block);
    if (ret < 0) {
        return ret;
    }
    memset(block, 0, s->cluster_size);
    if (self) {
        s->set_refcount(block, cluster & (s->refcount_block_size - 1), 1);
    }
    qcow2_cache_entry_mark_dirty(s->refcount_block_cache, block);
    qcow2_cache_put(s->refcount_block_cache, &block);

    /* The block must be on disk before the table points at it */
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE);
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }
    s->refcount_table[table_index] = offset;
    s->refcount_table_used = MAX(s->refcount_table_used, table_index + 1);
    ret = write_reftable_entry(bs, table_index);
    if (ret < 0) {
        s->refcount_table[table_index] = 0;
        qcow2_cache_discard(s->refcount_block_cache, offset);
        return ret;
    }
    if (!self) {
        ret = update_refcount(bs, offset, 1, 1, false, QCOW2_DISCARD_NEVER);
    }
    return ret;
}

/* First cluster from @start on whose refcount is 0 */
static int64_t coroutine_fn find_free_cluster(BlockDriverState *bs,
                                              int64_t start)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t c;

    for (c = start;; c++) {
        uint64_t refcount;
        int ret;

        if (((uint64_t)(c + 1) << s->cluster_bits) > L2E_OFFSET_MASK) {
            return -EFBIG;
        }
        ret = qcow2_get_refcount(bs, c, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount == 0 && !cluster_is_fixed_metadata(s, c)) {
            return c;
        }
    }
}

/*
 * Make sure the refcount block for @table_index exists, creating it (and
 * growing the table) if needed, without using any cluster in
 * [avoid_start, avoid_end) (a run about to be allocated).
 */
static int coroutine_fn ensure_refblock(BlockDriverState *bs,
                                        uint64_t table_index,
                                        int64_t avoid_start,
                                        int64_t avoid_end)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    for (;;) {
        int64_t offset = refblock_offset(bs, table_index);
        int64_t first, p;
        uint64_t j;

        if (offset < 0) {
            return offset;
        } else if (offset > 0) {
            return 0;
        }

        if (table_index >= s->refcount_table_size) {
            /* A new table goes into a fresh range past the run */
            uint64_t tg = MAX(table_index,
                              DIV_ROUND_UP((uint64_t)avoid_end,
                                           s->refcount_block_size));
            ret = grow_refcount_table(bs, tg);
            if (ret < 0) {
                return ret;
            }
            continue;
        }

        /* A range without a block is all free: prefer its first cluster */
        first = table_index << s->refcount_block_bits;
        if ((first < avoid_start || first >= avoid_end) &&
            !cluster_is_fixed_metadata(s, first)) {
            return create_refblock_at(bs, table_index, first);
        }
        p = find_free_cluster(bs, avoid_end);
        if (p < 0) {
            return p;
        }
        j = (uint64_t)p >> s->refcount_block_bits;
        if (j == table_index || refblock_offset(bs, j) > 0) {
            return create_refblock_at(bs, table_index, p);
        }
        /* @p's own range needs a block first */
        ret = ensure_refblock(bs, j, avoid_start, avoid_end);
        if (ret < 0) {
            return ret;
        }
    }
}

/*
 * Add @addend to (or subtract it from, with @decrease) the refcount of
 * every cluster touched by [offset, offset + length).
 */
static int coroutine_fn update_refcount(BlockDriverState *bs,
                                        int64_t offset, int64_t length,
                                        uint64_t addend, bool decrease,
                                        Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t start, last, cluster_offset;
    void *block = NULL;
    int64_t cur_block_offset = -1;
    int ret = 0;

    if (length < 0) {
        return -EINVAL;
    } else if (length == 0) {
        return 0;
    }

    if (decrease && !s->use_lazy_refcounts) {
        ret = qcow2_cache_set_dependency(bs, s->refcount_block_cache,
                                         s->l2_table_cache);
        if (ret < 0) {
            return ret;
        }
    }

    start = start_of_cluster(s, offset);
    last = start_of_cluster(s, offset + length - 1);
    for (cluster_offset = start; cluster_offset <= last;
         cluster_offset += s->cluster_size) {
        int64_t cluster_index = cluster_offset >> s->cluster_bits;
        uint64_t table_index = cluster_index >> s->refcount_block_bits;
        uint64_t block_index = cluster_index & (s->refcount_block_size - 1);
        int64_t block_offset;
        uint64_t refcount;

        block_offset = refblock_offset(bs, table_index);
        if (block_offset == 0 && !decrease) {
            if (block) {
                qcow2_cache_put(s->refcount_block_cache, &block);
            }
            ret = ensure_refblock(bs, table_index, cluster_index,
                                  cluster_index + 1);
            if (ret < 0) {
                goto fail;
            }
            block_offset = refblock_offset(bs, table_index);
            cur_block_offset = -1;
        }
        if (block_offset <= 0) {
            ret = block_offset < 0 ? block_offset : -EINVAL;
            goto fail;
        }
        if (block_offset != cur_block_offset) {
            if (block) {
                qcow2_cache_put(s->refcount_block_cache, &block);
            }
            ret = qcow2_cache_get(bs, s->refcount_block_cache, block_offset,
                                  &block);
            if (ret < 0) {
                goto fail;
            }
            cur_block_offset = block_offset;
        }

        refcount = s->get_refcount(block, block_index);
        if (decrease ? refcount < addend
                     : (refcount + addend < refcount ||
                        refcount + addend > s->refcount_max)) {
            ret = -EINVAL;
            goto fail;
        }
        refcount = decrease ? refcount - addend : refcount + addend;
        s->set_refcount(block, block_index, refcount);
        qcow2_cache_entry_mark_dirty(s->refcount_block_cache, block);

        if (refcount == 0) {
            if (cluster_index < s->free_cluster_index) {
                s->free_cluster_index = cluster_index;
            }
            if (s->free_byte_offset &&
                start_of_cluster(s, s->free_byte_offset) == cluster_offset) {
                /* Never append compressed data to a freed cluster */
                s->free_byte_offset = 0;
            }
            /* A freed metadata cluster must not linger in a cache */
            qcow2_cache_discard(s->l2_table_cache, cluster_offset);
            if (cluster_offset != cur_block_offset) {
                qcow2_cache_discard(s->refcount_block_cache,
                                    cluster_offset);
            }
            if (s->discard_passthrough[type]) {
                bdrv_co_pdiscard(bs->file, cluster_offset, s->cluster_size);
            }
        }
    }
    ret = 0;

fail:
    if (block) {
        qcow2_cache_put(s->refcount_block_cache, &block);
    }
    return ret;
}

int coroutine_fn qcow2_update_cluster_refcount(BlockDriverState *bs,
                                               int64_t cluster_index,
                                               uint64_t addend,
                                               bool decrease,
                                               Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;

    return update_refcount(bs, cluster_index << s->cluster_bits, 1, addend,
                           decrease, type);
}

/*
 * Find @nb_clusters contiguous free clusters (a range without refcount
 * block counts as free).  Returns the first cluster index or -errno.
 */
static int64_t coroutine_fn alloc_clusters_noref(BlockDriverState *bs,
                                                 uint64_t nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t index = s->free_cluster_index;
    uint64_t run = 0;
    int ret;

    while (run < nb_clusters) {
        int64_t cluster = index + run;
        uint64_t refcount;

        if (((uint64_t)(cluster + 1) << s->cluster_bits) > L2E_OFFSET_MASK) {
            return -EFBIG;
        }
        ret = qcow2_get_refcount(bs, cluster, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount == 0 && !cluster_is_fixed_metadata(s, cluster)) {
            run++;
        } else {
            index = cluster + 1;
            run = 0;
        }
    }
    return index;
}

int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs,
                                          uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t nb = size_to_clusters(s, size);
    int64_t index;
    uint64_t k;
    int ret;

    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC);
    if (nb == 0) {
        return -EINVAL;
    }
    index = alloc_clusters_noref(bs, nb);
    if (index < 0) {
        return index;
    }
    /* Refcount blocks for the run go outside of it */
    for (k = (uint64_t)index >> s->refcount_block_bits;
         k <= (uint64_t)(index + nb - 1) >> s->refcount_block_bits; k++) {
        ret = ensure_refblock(bs, k, index, index + nb);
        if (ret < 0) {
            return ret;
        }
    }
    ret = update_refcount(bs, index << s->cluster_bits,
                          nb << s->cluster_bits, 1, false,
                          QCOW2_DISCARD_NEVER);
    if (ret < 0) {
        return ret;
    }
    /*
     * As in QEMU, the search goes on after the run: free clusters it
     * skipped (too few in a row) are found again only once a cluster
     * below is freed.  Host offsets then stay those of QEMU's images.
     */
    s->free_cluster_index = index + (int64_t)nb;
    return index << s->cluster_bits;
}

/*
 * Allocate up to @nb_clusters clusters right at @offset (cluster
 * aligned): as many as are free there in a row, within existing refcount
 * blocks.  Returns how many (0 when the first one is taken) or -errno.
 * The search hint does not move, as in QEMU.
 */
int64_t coroutine_fn qcow2_alloc_clusters_at(BlockDriverState *bs,
                                             uint64_t offset,
                                             uint64_t nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t index = offset >> s->cluster_bits;
    uint64_t i;
    int ret;

    assert(!offset_into_cluster(s, offset));
    for (i = 0; i < nb_clusters; i++) {
        int64_t cluster = index + i;
        int64_t block;
        uint64_t refcount;

        if (((uint64_t)(cluster + 1) << s->cluster_bits) > L2E_OFFSET_MASK ||
            cluster_is_fixed_metadata(s, cluster)) {
            break;
        }
        block = refblock_offset(bs, (uint64_t)cluster >>
                                s->refcount_block_bits);
        if (block < 0) {
            return block;
        } else if (block == 0) {
            break;
        }
        ret = qcow2_get_refcount(bs, cluster, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount) {
            break;
        }
    }
    if (i == 0) {
        return 0;
    }
    ret = update_refcount(bs, offset, i << s->cluster_bits, 1, false,
                          QCOW2_DISCARD_NEVER);
    return ret < 0 ? ret : (int64_t)i;
}

/*
 * Allocate @size bytes (at most one cluster) for compressed data.  Every
 * host cluster the bytes touch gets one more reference.
 */
int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, int size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t offset = s->free_byte_offset;
    int64_t new_cluster;
    int ret;

    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC_BYTES);
    assert(size > 0 && size <= s->cluster_size);

    if (offset && offset_into_cluster(s, offset) != 0) {
        int64_t space = s->cluster_size - offset_into_cluster(s, offset);

        if (space >= size) {
            /* Fits in the current cluster, which is already ours */
            ret = update_refcount(bs, offset, 1, 1, false,
                                  QCOW2_DISCARD_NEVER);
            if (ret == 0) {
                s->free_byte_offset = offset + size;
                return offset;
            }
            if (ret != -EINVAL) {
                return ret;
            }
            /* Refcount would overflow: start a fresh cluster */
        } else {
            new_cluster = qcow2_alloc_clusters(bs, s->cluster_size);
            if (new_cluster < 0) {
                return new_cluster;
            }
            if (new_cluster == start_of_cluster(s, offset) +
                s->cluster_size) {
                /* Contiguous: the data spans both clusters */
                ret = update_refcount(bs, offset, 1, 1, false,
                                      QCOW2_DISCARD_NEVER);
                if (ret == 0) {
                    s->free_byte_offset = offset + size;
                    return offset;
                }
                if (ret != -EINVAL) {
                    return ret;
                }
            }
            s->free_byte_offset = new_cluster + size;
            return new_cluster;
        }
    }

    new_cluster = qcow2_alloc_clusters(bs, s->cluster_size);
    if (new_cluster < 0) {
        return new_cluster;
    }
    s->free_byte_offset = new_cluster + size;
    return new_cluster;
}

void coroutine_fn qcow2_free_clusters(BlockDriverState *bs, int64_t offset,
                                      int64_t size, Qcow2DiscardType type)
{
    int ret;

    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_FREE);
    ret = update_refcount(bs, offset, size, 1, true, type);
    if (ret < 0) {
        /* The clusters leak; qemu-img check can reclaim them */
        error_report("qcow2_free_clusters failed: %s", strerror(-ret));
    }
}

void coroutine_fn qcow2_free_any_cluster(BlockDriverState *bs,
                                         uint64_t l2_entry,
                                         Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    QCow2ClusterType ctype = qcow2_get_cluster_type(s, l2_entry);
    uint64_t start, len;

    if (has_data_file(bs)) {
        /* Data clusters in a data file have no refcounts: only discard */
        if (s->discard_passthrough[type] &&
            (ctype == QCOW2_CLUSTER_NORMAL ||
             ctype == QCOW2_CLUSTER_ZERO_ALLOC)) {
            bdrv_co_pdiscard(s->data_file, l2_entry & L2E_OFFSET_MASK,
                             s->cluster_size);
        }
        return;
    }
    switch (ctype) {
    case QCOW2_CLUSTER_COMPRESSED:
        qcow2_parse_compressed_descriptor(s, l2_entry, &start, &len);
        qcow2_free_clusters(bs, start, len, type);
        break;
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        start = l2_entry & L2E_OFFSET_MASK;
        if (offset_into_cluster(s, start)) {
            qcow2_signal_corruption(bs, false, -1, -1,
                                    "Cannot free unaligned cluster %#"
                                    PRIx64, start);
        } else {
            qcow2_free_clusters(bs, start, s->cluster_size, type);
        }
        break;
    default:
        break;
    }
}

int coroutine_fn qcow2_update_refcount_range(BlockDriverState *bs,
                                             int64_t offset, int64_t length,
                                             uint64_t addend, bool decrease,
                                             Qcow2DiscardType type)
{
    return update_refcount(bs, offset, length, addend, decrease, type);
}

/*
 * Move the refcount table to the free clusters from @cluster on, sized
 * for an image of @cover_clusters clusters, as QEMU does before it
 * preallocates a data area.  Only done when the existing refcount blocks
 * already cover everything; returns the number of table clusters, or
 * -ENOTSUP when that is not the case.
 */
int64_t coroutine_fn qcow2_move_refcount_table(BlockDriverState *bs,
                                               int64_t cluster,
                                               int64_t cover_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t entries_per_cluster = s->cluster_size / sizeof(uint64_t);
    uint64_t needed, table_clusters, new_size, k, i;
    uint64_t old_offset = s->refcount_table_offset;
    uint64_t old_size = s->refcount_table_size;
    g_autofree uint8_t *buf = NULL;
    uint64_t *new_table;
    uint8_t hdr[12];
    int64_t end;
    int ret;

    needed = DIV_ROUND_UP(cover_clusters, s->refcount_block_size);
    table_clusters = DIV_ROUND_UP(needed, entries_per_cluster);
    new_size = table_clusters * entries_per_cluster;
    end = cluster + table_clusters + cover_clusters;
    for (k = 0; k < DIV_ROUND_UP((uint64_t)end, s->refcount_block_size);
         k++) {
        if (k >= s->refcount_table_size || !s->refcount_table[k]) {
            return -ENOTSUP;
        }
    }
    if (new_size < old_size) {
        return -ENOTSUP;
    }
    for (i = 0; i < table_clusters; i++) {
        uint64_t refcount;

        ret = qcow2_get_refcount(bs, cluster + i, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount) {
            return -ENOTSUP;
        }
    }

    buf = g_try_malloc0(new_size * sizeof(uint64_t));
    new_table = g_try_new0(uint64_t, new_size);
    if (!buf || !new_table) {
        g_free(new_table);
        return -ENOMEM;
    }
    memcpy(new_table, s->refcount_table, old_size * sizeof(uint64_t));
    for (i = 0; i < new_size; i++) {
        qcow2_st64(buf + i * 8, new_table[i]);
    }
    ret = update_refcount(bs, cluster << s->cluster_bits,
                          table_clusters << s->cluster_bits, 1, false,
                          QCOW2_DISCARD_NEVER);
    if (ret >= 0) {
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    }
    if (ret >= 0) {
        BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE);
        ret = bdrv_co_pwrite_sync(bs->file, cluster << s->cluster_bits,
                                  new_size * sizeof(uint64_t), buf, 0);
    }
    if (ret >= 0) {
        BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE);
        qcow2_st64(hdr, cluster << s->cluster_bits);
        qcow2_st32(hdr + 8, table_clusters);
        ret = qcow2_write_header_field(bs, QCOW2_HDR_REFTABLE_OFFSET, hdr,
                                       sizeof(hdr));
    }
    if (ret < 0) {
        g_free(new_table);
        return ret;
    }
    g_free(s->refcount_table);
    s->refcount_table = new_table;
    s->refcount_table_size = new_size;
    s->refcount_table_offset = cluster << s->cluster_bits;
    qcow2_free_clusters(bs, old_offset,
                        ROUND_UP(old_size * sizeof(uint64_t), s->cluster_size),
                        QCOW2_DISCARD_OTHER);
    return table_clusters;
}

/*
 * After shrinking: drop the refcount blocks that count nothing but
 * themselves (as QEMU does, the whole table is rewritten first)
 */
int coroutine_fn qcow2_shrink_reftable(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *table = g_try_new0(uint64_t,
                                            MAX(s->refcount_table_size, 1));
    uint32_t i;
    int ret;

    if (!table) {
        return -ENOMEM;
    }
    for (i = 0; i < s->refcount_table_size; i++) {
        int64_t block_offset = s->refcount_table[i] & REFT_OFFSET_MASK;
        uint64_t own = UINT64_MAX, own_refcount = 0;
        bool unused;
        void *block;

        if (!block_offset) {
            continue;
        }
        ret = qcow2_cache_get(bs, s->refcount_block_cache, block_offset,
                              &block);
        if (ret < 0) {
            return ret;
        }
        /* A block in its own range counts itself: that does not count */
        if ((uint64_t)(block_offset >> s->cluster_bits) >>
            s->refcount_block_bits == i) {
            own = (block_offset >> s->cluster_bits) &
                (s->refcount_block_size - 1);
            own_refcount = s->get_refcount(block, own);
            s->set_refcount(block, own, 0);
        }
        unused = buffer_is_zero(block, s->cluster_size);
        if (own != UINT64_MAX) {
            s->set_refcount(block, own, own_refcount);
        }
        qcow2_cache_put(s->refcount_block_cache, &block);
        table[i] = unused ? 0 : GUINT64_TO_BE(s->refcount_table[i]);
    }

    ret = bdrv_co_pwrite_sync(bs->file, s->refcount_table_offset,
                              (int64_t)s->refcount_table_size * 8, table, 0);
    /* After a failed write, the table on disk may be anything: forget
     * the dropped blocks in any case */
    for (i = 0; i < s->refcount_table_size; i++) {
        if (s->refcount_table[i] && !table[i]) {
            if (ret == 0) {
                ret = qcow2_update_cluster_refcount(
                    bs, s->refcount_table[i] >> s->cluster_bits, 1, true,
                    QCOW2_DISCARD_OTHER);
            }
            qcow2_cache_discard(s->refcount_block_cache,
                                s->refcount_table[i] & REFT_OFFSET_MASK);
            s->refcount_table[i] = 0;
        }
    }
    return ret;
}

/* Index of the last cluster of the file with a non-zero refcount */
int64_t coroutine_fn qcow2_get_last_cluster(BlockDriverState *bs,
                                            int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t i;

    for (i = size_to_clusters(s, size) - 1; i >= 0; i--) {
        uint64_t refcount;
        int ret = qcow2_get_refcount(bs, i, &refcount);

        if (ret < 0) {
            return ret;
        }
        if (refcount > 0) {
            return i;
        }
    }
    qcow2_signal_corruption(bs, true, -1, -1, "There are no references in "
                            "the refcount table");
    return -EIO;
}

/* Consistency check */

typedef struct RefcountCheck {
    uint64_t *refs;         /* references found, per cluster */
    int64_t nb;             /* size of @refs */
    int64_t file_len;
    int64_t next_contiguous;
} RefcountCheck;

static int inc_refs(BlockDriverState *bs, BdrvCheckResult *res,
                    RefcountCheck *rc, int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t k, first, last;

    if (size <= 0) {
        return 0;
    }
    if (offset < 0 || offset > INT64_MAX - size ||
        offset + size - rc->file_len >= s->cluster_size) {
        error_printf("ERROR: counting reference for region exceeding the "
                     "end of the file by one cluster or more: offset 0x%"
                     PRIx64 " size 0x%" PRIx64 "\n", offset, size);
        res->corruptions++;
        return 0;
    }
    first = offset >> s->cluster_bits;
    last = (offset + size - 1) >> s->cluster_bits;
    if (last >= rc->nb) {
        int64_t new_nb = MAX(last + 1, rc->nb * 2);
        uint64_t *n = g_try_renew(uint64_t, rc->refs, new_nb);

        if (!n) {
            res->check_errors++;
            return -ENOMEM;
        }
        memset(n + rc->nb, 0, (new_nb - rc->nb) * sizeof(uint64_t));
        rc->refs = n;
        rc->nb = new_nb;
    }
    for (k = first; k <= last; k++) {
        if (rc->refs[k] == UINT64_MAX) {
            error_printf("ERROR: overflow cluster offset=0x%" PRIx64 "\n",
                         k << s->cluster_bits);
            res->corruptions++;
            continue;
        }
        rc->refs[k]++;
    }
    return 0;
}

/* Walk one L2 table; with @active, collect fragmentation info and flags */
static int coroutine_fn check_l2(BlockDriverState *bs, BdrvCheckResult *res,
                                 RefcountCheck *rc, uint64_t l2_offset,
                                 bool active, BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *l2 = g_try_malloc(s->cluster_size);
    bool l2_dirty = false;
    int i, ret;

    if (!l2) {
        res->check_errors++;
        return -ENOMEM;
    }
    /* Contiguity is judged within one table */
    rc->next_contiguous = -1;
    ret = bdrv_co_pread(bs->file, l2_offset, s->cluster_size, l2, 0);
    if (ret < 0) {
        error_printf("ERROR: I/O error in check_refcounts_l2\n");
        res->check_errors++;
        return ret;
    }

    for (i = 0; i < s->l2_size; i++) {
        uint64_t entry = qcow2_ld64(l2 + i * 8);
        uint64_t start, len, offset;

        switch (qcow2_get_cluster_type(s, entry)) {
        case QCOW2_CLUSTER_COMPRESSED:
            if (entry & QCOW_OFLAG_COPIED) {
                error_printf("ERROR: coffset=0x%" PRIx64 ": copied flag "
                             "must never be set for compressed clusters\n",
                             entry & s->cluster_offset_mask);
                if (fix & BDRV_FIX_ERRORS) {
                    entry &= ~QCOW_OFLAG_COPIED;
                    qcow2_st64(l2 + i * 8, entry);
                    l2_dirty = true;
                    res->corruptions_fixed++;
                } else {
                    res->corruptions++;
                }
            }
            qcow2_parse_compressed_descriptor(s, entry, &start, &len);
            ret = inc_refs(bs, res, rc, start, len);
            if (ret < 0) {
                return ret;
            }
            if (active) {
                res->bfi.allocated_clusters++;
                res->bfi.compressed_clusters++;
                /* Compressed data is fragmented by nature */
                res->bfi.fragmented_clusters++;
            }
            break;

        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            if (entry & L2E_STD_RESERVED_MASK) {
                error_printf("ERROR found l2 entry with reserved bits set: "
                             "%" PRIx64 "\n", entry);
                res->corruptions++;
            }
            offset = entry & L2E_OFFSET_MASK;
            if (offset_into_cluster(s, offset)) {
                error_printf("ERROR offset=%" PRIx64 ": Cluster is not "
                             "properly aligned; L2 entry corrupted.\n",
                             offset);
                res->corruptions++;
                break;
            }
            if (active) {
                res->bfi.allocated_clusters++;
                if (rc->next_contiguous >= 0 &&
                    (int64_t)offset != rc->next_contiguous) {
                    res->bfi.fragmented_clusters++;
                }
                rc->next_contiguous = offset + s->cluster_size;
            }
            if (has_data_file(bs)) {
                /* In the data file: no refcounts */
                break;
            }
            ret = inc_refs(bs, res, rc, offset, s->cluster_size);
            if (ret < 0) {
                return ret;
            }
            break;

        case QCOW2_CLUSTER_ZERO_PLAIN:
        case QCOW2_CLUSTER_UNALLOCATED:
            if (entry & L2E_STD_RESERVED_MASK) {
                error_printf("ERROR found l2 entry with reserved bits set: "
                             "%" PRIx64 "\n", entry);
                res->corruptions++;
            }
            break;
        }
    }

    if (l2_dirty) {
        ret = bdrv_co_pwrite_sync(bs->file, l2_offset, s->cluster_size,
                                  l2, 0);
        if (ret < 0) {
            res->check_errors++;
            return ret;
        }
    }
    return 0;
}

static int coroutine_fn check_l1(BlockDriverState *bs, BdrvCheckResult *res,
                                 RefcountCheck *rc, uint64_t l1_offset,
                                 uint32_t l1_size, bool active,
                                 BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *l1 = NULL;
    uint32_t i;
    int ret;

    ret = inc_refs(bs, res, rc, l1_offset, (int64_t)l1_size * 8);
    if (ret < 0) {
        return ret;
    }
    if (l1_size == 0) {
        return 0;
    }
    if (active) {
        l1 = g_memdup2(s->l1_table, (size_t)l1_size * 8);
    } else {
        l1 = g_try_new(uint64_t, l1_size);
        if (!l1) {
            res->check_errors++;
            return -ENOMEM;
        }
        ret = bdrv_co_pread(bs->file, l1_offset, (int64_t)l1_size * 8, l1,
                            0);
        if (ret < 0) {
            error_printf("ERROR: I/O error in check_refcounts_l1\n");
            res->check_errors++;
            return ret;
        }
        for (i = 0; i < l1_size; i++) {
            l1[i] = GUINT64_FROM_BE(l1[i]);
        }
    }

    for (i = 0; i < l1_size; i++) {
        uint64_t l2_offset;

        if (!l1[i]) {
            continue;
        }
        if (l1[i] & L1E_RESERVED_MASK) {
            error_printf("ERROR found L1 entry with reserved bits set: "
                         "%" PRIx64 "\n", l1[i]);
            res->corruptions++;
        }
        l2_offset = l1[i] & L1E_OFFSET_MASK;
        if (!l2_offset) {
            continue;
        }
        ret = inc_refs(bs, res, rc, l2_offset, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
        if (offset_into_cluster(s, l2_offset)) {
            error_printf("ERROR l2_offset=%" PRIx64 ": Table is not "
                         "cluster aligned; L1 entry corrupted\n", l2_offset);
            res->corruptions++;
            continue;
        }
        ret = check_l2(bs, res, rc, l2_offset, active, fix);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Compare the QCOW_OFLAG_COPIED flags of the active tables to refcounts */
static int coroutine_fn check_oflag_copied(BlockDriverState *bs,
                                           BdrvCheckResult *res,
                                           BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *l2 = g_try_malloc(s->cluster_size);
    int i, j, ret;

    if (!l2) {
        res->check_errors++;
        return -ENOMEM;
    }
    for (i = 0; i < s->l1_size; i++) {
        uint64_t l1_entry = s->l1_table[i];
        uint64_t l2_offset = l1_entry & L1E_OFFSET_MASK;
        uint64_t refcount;
        bool l2_dirty = false;

        if (!l2_offset || offset_into_cluster(s, l2_offset)) {
            continue;
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits,
                                 &refcount);
        if (ret < 0) {
            continue;
        }
        if ((refcount == 1) != ((l1_entry & QCOW_OFLAG_COPIED) != 0)) {
            error_printf("%s OFLAG_COPIED L2 cluster: l1_index=%d "
                         "l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                         fix & BDRV_FIX_ERRORS ? "Repairing" : "ERROR",
                         i, l1_entry, refcount);
            if (fix & BDRV_FIX_ERRORS) {
                uint8_t buf[8];

                s->l1_table[i] = refcount == 1
                    ? l1_entry | QCOW_OFLAG_COPIED
                    : l1_entry & ~QCOW_OFLAG_COPIED;
                qcow2_st64(buf, s->l1_table[i]);
                ret = bdrv_co_pwrite_sync(bs->file,
                                          s->l1_table_offset + i * 8, 8,
                                          buf, 0);
                if (ret < 0) {
                    res->check_errors++;
                } else {
                    res->corruptions_fixed++;
                }
            } else {
                res->corruptions++;
            }
        }

        ret = bdrv_co_pread(bs->file, l2_offset, s->cluster_size, l2, 0);
        if (ret < 0) {
            error_printf("ERROR: Could not read L2 table: %s\n",
                         strerror(-ret));
            res->check_errors++;
            continue;
        }
        for (j = 0; j < s->l2_size; j++) {
            uint64_t entry = qcow2_ld64(l2 + j * 8);
            QCow2ClusterType type = qcow2_get_cluster_type(s, entry);
            uint64_t data_offset = entry & L2E_OFFSET_MASK;

            if (type != QCOW2_CLUSTER_NORMAL &&
                type != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            if (offset_into_cluster(s, data_offset)) {
                continue;
            }
            if (has_data_file(bs)) {
                /* Unrefcounted clusters of the data file: ours alone */
                refcount = 1;
            } else {
                ret = qcow2_get_refcount(bs, data_offset >> s->cluster_bits,
                                         &refcount);
                if (ret < 0) {
                    continue;
                }
            }
            if ((refcount == 1) != ((entry & QCOW_OFLAG_COPIED) != 0)) {
                error_printf("%s OFLAG_COPIED data cluster: l2_entry=%"
                             PRIx64 " refcount=%" PRIu64 "\n",
                             fix & BDRV_FIX_ERRORS ? "Repairing" : "ERROR",
                             entry, refcount);
                if (fix & BDRV_FIX_ERRORS) {
                    entry = refcount == 1 ? entry | QCOW_OFLAG_COPIED
                                          : entry & ~QCOW_OFLAG_COPIED;
                    qcow2_st64(l2 + j * 8, entry);
                    l2_dirty = true;
                    res->corruptions_fixed++;
                } else {
                    res->corruptions++;
                }
            }
        }
        if (l2_dirty) {
            /* The cache may hold this table: keep it coherent */
            qcow2_cache_discard(s->l2_table_cache, l2_offset);
            ret = bdrv_co_pwrite_sync(bs->file, l2_offset, s->cluster_size,
                                      l2, 0);
            if (ret < 0) {
                res->check_errors++;
            }
        }
    }
    return 0;
}

/* Count a bitmap table and the data clusters it points to */
static int coroutine_fn check_bitmap_table(BlockDriverState *bs,
                                           BdrvCheckResult *res,
                                           RefcountCheck *rc,
                                           Qcow2BitmapInfo *bm)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *table = NULL;
    uint32_t i;
    int ret;

    ret = inc_refs(bs, res, rc, bm->table_offset,
                   (int64_t)bm->table_size * 8);
    if (ret < 0 || !bm->table_size) {
        return ret;
    }
    table = g_try_new(uint64_t, bm->table_size);
    if (!table) {
        res->check_errors++;
        return -ENOMEM;
    }
    ret = bdrv_co_pread(bs->file, bm->table_offset,
                        (int64_t)bm->table_size * 8, table, 0);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    for (i = 0; i < bm->table_size; i++) {
        uint64_t entry = GUINT64_FROM_BE(table[i]);
        uint64_t offset = entry & QCOW2_BME_TABLE_OFFSET_MASK;

        /* Bit 0 ("all ones") only goes with no data cluster */
        if ((entry & QCOW2_BME_TABLE_RESERVED_MASK) ||
            offset_into_cluster(s, offset) || (offset && (entry & 1))) {
            res->corruptions++;
            continue;
        }
        if (offset) {
            ret = inc_refs(bs, res, rc, offset, s->cluster_size);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

/*
 * Compare the refcounts on disk with the references counted in @rc, and
 * report (with @fix: repair) every difference.  A used cluster with
 * refcount 0 cannot be repaired in place: *rebuild is set instead.
 */
static void coroutine_fn compare_refcounts(BlockDriverState *bs,
                                           BdrvCheckResult *res,
                                           BdrvCheckMode fix,
                                           RefcountCheck *rc,
                                           int64_t nb_clusters,
                                           int64_t *highest, bool *rebuild)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t i;
    int ret;

    for (i = 0; i < MAX(nb_clusters, rc->nb); i++) {
        uint64_t refcount1, refcount2 = i < rc->nb ? rc->refs[i] : 0;
        int *num_fixed = NULL;

        ret = qcow2_get_refcount(bs, i, &refcount1);
        if (ret < 0) {
            error_printf("Can't get refcount for cluster %" PRId64 ": %s\n",
                         i, strerror(-ret));
            res->check_errors++;
            continue;
        }
        if (refcount1 > 0 || refcount2 > 0) {
            *highest = i;
        }
        if (refcount1 == refcount2) {
            continue;
        }
        if (refcount1 == 0) {
            *rebuild = true;
        } else if (refcount1 > refcount2 && (fix & BDRV_FIX_LEAKS)) {
            num_fixed = &res->leaks_fixed;
        } else if (refcount1 < refcount2 && (fix & BDRV_FIX_ERRORS)) {
            num_fixed = &res->corruptions_fixed;
        }
        error_printf("%s cluster %" PRId64 " refcount=%" PRIu64
                     " reference=%" PRIu64 "\n",
                     num_fixed ? "Repairing" :
                     refcount1 < refcount2 ? "ERROR" : "Leaked",
                     i, refcount1, refcount2);
        if (num_fixed) {
            bool decrease = refcount1 > refcount2;

            ret = update_refcount(bs, i << s->cluster_bits, 1,
                                  decrease ? refcount1 - refcount2
                                           : refcount2 - refcount1,
                                  decrease, QCOW2_DISCARD_ALWAYS);
            if (ret >= 0) {
                (*num_fixed)++;
                continue;
            }
        }
        if (refcount1 < refcount2) {
            res->corruptions++;
        } else {
            res->leaks++;
        }
    }
}

/* Extend the file (and @rc) to cover the refcount block at @offset */
static int coroutine_fn grow_file_for_refblock(BlockDriverState *bs,
                                               RefcountCheck *rc,
                                               uint64_t offset,
                                               int64_t *nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    Error *local_err = NULL;
    int64_t len, new_nb;
    int ret;

    if (offset > (uint64_t)(INT64_MAX - s->cluster_size)) {
        return -EINVAL;
    }
    ret = bdrv_co_truncate(bs->file, offset + s->cluster_size, false,
                           PREALLOC_MODE_OFF, 0, &local_err);
    if (ret < 0) {
        error_report_err(local_err);
        return ret;
    }
    len = bdrv_getlength(bs->file->bs);
    if (len < 0) {
        return len;
    }
    new_nb = size_to_clusters(s, len);
    if (new_nb > rc->nb) {
        uint64_t *n = g_try_renew(uint64_t, rc->refs, new_nb);

        if (!n) {
            return -ENOMEM;
        }
        memset(n + rc->nb, 0, (new_nb - rc->nb) * sizeof(uint64_t));
        rc->refs = n;
        rc->nb = new_nb;
    }
    rc->file_len = len;
    *nb_clusters = MAX(*nb_clusters, new_nb);
    return (int64_t)(offset >> s->cluster_bits) < *nb_clusters ? 0 : -EINVAL;
}

/*
 * Count every reference to a cluster: header, active and snapshot tables,
 * snapshot table, refcount table and blocks, bitmaps (when valid).  Sets
 * *rebuild when the refcount structure itself is broken.
 */
static int coroutine_fn calculate_refcounts(BlockDriverState *bs,
                                            BdrvCheckResult *res,
                                            BdrvCheckMode fix,
                                            RefcountCheck *rc,
                                            int64_t *nb_clusters,
                                            bool *rebuild)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t k;
    int ret;

    /* Header */
    ret = inc_refs(bs, res, rc, 0, s->cluster_size);
    if (ret < 0) {
        return ret;
    }
    /* Active tables */
    ret = check_l1(bs, res, rc, s->l1_table_offset, s->l1_size, true, fix);
    if (ret < 0) {
        return ret;
    }
    /* Snapshots */
    for (k = 0; k < (uint32_t)s->nb_snapshots; k++) {
        QCowSnapshot *sn = &s->snapshots[k];

        if (offset_into_cluster(s, sn->l1_table_offset)) {
            error_printf("ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": "
                         "L1 table is not cluster aligned; snapshot table "
                         "entry corrupted\n", sn->id_str, sn->name,
                         sn->l1_table_offset);
            res->corruptions++;
            continue;
        }
        /* A bogus size must not make us read (and count) random data */
        if (sn->l1_size > QCOW_MAX_L1_SIZE / sizeof(uint64_t)) {
            error_printf("ERROR snapshot %s (%s) l1_size=%#" PRIx32 ": "
                         "L1 table is too large; snapshot table entry "
                         "corrupted\n", sn->id_str, sn->name, sn->l1_size);
            res->corruptions++;
            continue;
        }
        ret = check_l1(bs, res, rc, sn->l1_table_offset, sn->l1_size,
                       false, fix);
        if (ret < 0) {
            return ret;
        }
    }
    ret = inc_refs(bs, res, rc, s->snapshots_offset, s->snapshots_size);
    if (ret < 0) {
        return ret;
    }
    /* Refcount structures */
    ret = inc_refs(bs, res, rc, s->refcount_table_offset,
                   (int64_t)s->refcount_table_size * 8);
    if (ret < 0) {
        return ret;
    }
    for (k = 0; k < s->refcount_table_size; k++) {
        uint64_t offset = s->refcount_table[k] & REFT_OFFSET_MASK;
        int64_t cluster = offset >> s->cluster_bits;

        if (!offset) {
            continue;
        }
        if (offset_into_cluster(s, offset)) {
            error_printf("ERROR refcount block %" PRIu32 " is not "
                         "cluster aligned; refcount table entry "
                         "corrupted\n", k);
            res->corruptions++;
            *rebuild = true;
            continue;
        }
        if (cluster >= *nb_clusters) {
            error_printf("%s refcount block %" PRIu32 " is outside image\n",
                         fix & BDRV_FIX_ERRORS ? "Repairing" : "ERROR", k);
            res->corruptions++;
            if (fix & BDRV_FIX_ERRORS) {
                /* As QEMU does: make the file long enough to hold it */
                ret = grow_file_for_refblock(bs, rc, offset, nb_clusters);
                if (ret >= 0) {
                    res->corruptions--;
                    res->corruptions_fixed++;
                    ret = inc_refs(bs, res, rc, offset, s->cluster_size);
                    if (ret < 0) {
                        return ret;
                    }
                    continue;
                }
                error_printf("ERROR could not resize image: %s\n",
                             strerror(-ret));
            }
            *rebuild = true;
            continue;
        }
        ret = inc_refs(bs, res, rc, offset, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
        if (rc->refs[cluster] != 1) {
            error_printf("ERROR refcount block %" PRIu32 " refcount=%" PRIu64
                         "\n", k, rc->refs[cluster]);
            res->corruptions++;
            *rebuild = true;
        }
    }
    /* Bitmaps: only known for a read-only open, when they are valid */
    if (s->bitmaps) {
        ret = inc_refs(bs, res, rc, s->bitmap_directory_offset,
                       s->bitmap_directory_size);
        for (k = 0; ret >= 0 && k < s->nb_bitmaps; k++) {
            ret = check_bitmap_table(bs, res, rc, &s->bitmaps[k]);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/*
 * Allocate @count contiguous clusters free according to @rc (the first
 * fitting run from *first_free on, growing @rc past the end if needed),
 * and count them as used.  *first_free moves to the first free cluster
 * seen.
 */
static int64_t rebuild_alloc(BDRVQcow2State *s, RefcountCheck *rc,
                             int64_t count, int64_t *first_free)
{
    int64_t cluster = *first_free, run = 0, i;
    bool first_gap = true;

    for (; cluster < rc->nb && run < count; cluster++) {
        if (!rc->refs[cluster]) {
            run++;
            if (first_gap) {
                *first_free = cluster;
                first_gap = false;
            }
        } else {
            run = 0;
        }
    }
    if (run < count) {
        int64_t new_nb = cluster + count - run;
        uint64_t *n = g_try_renew(uint64_t, rc->refs, new_nb);

        if (!n) {
            return -ENOMEM;
        }
        memset(n + rc->nb, 0, (new_nb - rc->nb) * sizeof(uint64_t));
        rc->refs = n;
        rc->nb = new_nb;
        cluster = new_nb;
        run = count;
    }
    cluster -= run;
    for (i = 0; i < count; i++) {
        rc->refs[cluster + i] = 1;
    }
    return cluster;
}

/*
 * Write the refcount blocks for the used clusters in [first, end),
 * allocating those not in *table yet.  Returns 1 if *table had to grow,
 * 0 if not, or -errno.
 */
static int coroutine_fn rebuild_write_blocks(BlockDriverState *bs,
                                             RefcountCheck *rc,
                                             int64_t first, int64_t end,
                                             uint64_t **table,
                                             uint32_t *entries)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *block = g_malloc(s->cluster_size);
    int64_t first_free = 0, cluster;
    bool grown = false;
    int ret;

    for (cluster = first; cluster < end && cluster < rc->nb; cluster++) {
        int64_t index = cluster >> s->refcount_block_bits;
        int64_t start = index << s->refcount_block_bits;
        int64_t offset, j;

        if (!rc->refs[cluster]) {
            continue;
        }
        if (index < *entries && (*table)[index]) {
            offset = (*table)[index];
        } else {
            /* Not into the range of a block written already */
            first_free = MAX(first_free, start);
            offset = rebuild_alloc(s, rc, 1, &first_free);
            if (offset < 0) {
                error_report("ERROR allocating refblock: %s",
                             strerror(-offset));
                return offset;
            }
            offset <<= s->cluster_bits;
            if (index >= *entries) {
                uint32_t n = ROUND_UP((index + 1) * 8, s->cluster_size) / 8;

                *table = g_renew(uint64_t, *table, n);
                memset(*table + *entries, 0, (n - *entries) * 8);
                *entries = n;
                grown = true;
            }
            (*table)[index] = offset;
        }

        memset(block, 0, s->cluster_size);
        for (j = 0; j < s->refcount_block_size && start + j < rc->nb; j++) {
            s->set_refcount(block, j, MIN(rc->refs[start + j],
                                          s->refcount_max));
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, offset, s->cluster_size);
        if (ret >= 0) {
            ret = bdrv_co_pwrite(bs->file, offset, s->cluster_size, block,
                                 0);
        }
        if (ret < 0) {
            error_report("ERROR writing refblock: %s", strerror(-ret));
            return ret;
        }
        cluster = start + s->refcount_block_size - 1;
    }
    return grown;
}

/*
 * Build a new refcount structure from the references counted in @rc: new
 * refcount blocks and a new table go into free clusters (by @rc, which
 * counts the old structure as used, so nothing is overwritten), and the
 * header is switched to the new table.  The old structure is left to be
 * freed as leaked clusters.  This is QEMU's placement: blocks and table
 * each on the first fitting free clusters, the file growing if needed.
 */
static int coroutine_fn rebuild_refcount_structure(BlockDriverState *bs,
                                                   BdrvCheckResult *res,
                                                   RefcountCheck *rc)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *table = NULL;
    g_autofree uint64_t *buf = NULL;
    uint32_t entries = 0, i;
    int64_t table_offset = 0, table_clusters = 0;
    uint8_t hdr[12];
    int ret;

    qcow2_cache_empty(s->refcount_block_cache);

    ret = rebuild_write_blocks(bs, rc, 0, rc->nb, &table, &entries);
    /* Allocate the table; its clusters may need a new block, and so on */
    while (ret > 0) {
        int64_t first_free = 0;

        if (table_clusters) {
            /* The table grew: give its old place back */
            for (i = 0; i < table_clusters; i++) {
                rc->refs[table_offset + i] = 0;
            }
        }
        table_clusters = size_to_clusters(s, (uint64_t)entries * 8);
        table_offset = rebuild_alloc(s, rc, table_clusters, &first_free);
        if (table_offset < 0) {
            error_report("ERROR allocating reftable: %s",
                         strerror(-table_offset));
            ret = table_offset;
            break;
        }
        ret = rebuild_write_blocks(bs, rc, table_offset,
                                   table_offset + table_clusters, &table,
                                   &entries);
    }
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }

    buf = g_new0(uint64_t, entries);
    for (i = 0; i < entries; i++) {
        buf[i] = GUINT64_TO_BE(table[i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, table_offset << s->cluster_bits,
                                        (int64_t)entries * 8);
    if (ret >= 0) {
        ret = bdrv_co_pwrite(bs->file, table_offset << s->cluster_bits,
                             (int64_t)entries * 8, buf, 0);
    }
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        error_report("ERROR writing reftable: %s", strerror(-ret));
        res->check_errors++;
        return ret;
    }
    qcow2_st64(hdr, table_offset << s->cluster_bits);
    qcow2_st32(hdr + 8, table_clusters);
    ret = qcow2_write_header_field(bs, QCOW2_HDR_REFTABLE_OFFSET, hdr,
                                   sizeof(hdr));
    if (ret < 0) {
        error_report("ERROR setting reftable: %s", strerror(-ret));
        res->check_errors++;
        return ret;
    }

    g_free(s->refcount_table);
    s->refcount_table = g_steal_pointer(&table);
    s->refcount_table_offset = table_offset << s->cluster_bits;
    s->refcount_table_size = entries;
    s->refcount_table_used = 0;
    for (i = 0; i < entries; i++) {
        if (s->refcount_table[i]) {
            s->refcount_table_used = i + 1;
        }
    }
    s->free_cluster_index = 0;
    return 0;
}

int coroutine_fn qcow2_check_refcounts(BlockDriverState *bs,
                                       BdrvCheckResult *res,
                                       BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    RefcountCheck rc = { .next_contiguous = -1 };
    BdrvCheckResult pre_compare;
    int64_t file_len, nb_clusters, highest = 0;
    bool rebuild = false;
    int ret;

    /* Check works on the on-disk state */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret >= 0) {
        ret = qcow2_cache_flush(bs, s->l2_table_cache);
    }
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }

    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        res->check_errors++;
        return file_len;
    }
    nb_clusters = size_to_clusters(s, file_len);
    rc.file_len = file_len;
    rc.nb = MAX(nb_clusters, 1);
    rc.refs = g_try_new0(uint64_t, rc.nb);
    if (!rc.refs) {
        res->check_errors++;
        return -ENOMEM;
    }

    res->bfi.total_clusters = size_to_clusters(s, s->size);
    ret = calculate_refcounts(bs, res, fix, &rc, &nb_clusters, &rebuild);
    if (ret < 0) {
        goto out;
    }

    /*
     * Compare.  To repair, QEMU reports what it finds first and then
     * compares again, repairing (and printing that it does).  Clusters in
     * use with refcount 0 make it rebuild the whole refcount structure.
     */
    pre_compare = *res;
    compare_refcounts(bs, res, 0, &rc, nb_clusters, &highest, &rebuild);
    if (rebuild && (fix & BDRV_FIX_ERRORS)) {
        BdrvCheckResult old_res = *res, saved;
        int fresh_leaks = 0;

        error_printf("Rebuilding refcount structure\n");
        ret = rebuild_refcount_structure(bs, res, &rc);
        if (ret < 0) {
            goto out;
        }
        res->corruptions = 0;
        res->leaks = 0;

        /* The new structure is in place: count the references again */
        rebuild = false;
        file_len = bdrv_getlength(bs->file->bs);
        if (file_len < 0) {
            res->check_errors++;
            ret = file_len;
            goto out;
        }
        rc.file_len = file_len;
        nb_clusters = MAX(nb_clusters,
                          (int64_t)size_to_clusters(s, file_len));
        memset(rc.refs, 0, rc.nb * sizeof(uint64_t));
        ret = calculate_refcounts(bs, res, 0, &rc, &nb_clusters, &rebuild);
        if (ret < 0) {
            goto out;
        }
        if (fix & BDRV_FIX_LEAKS) {
            /* The old structure is leaked now: free it */
            saved = *res;
            *res = (BdrvCheckResult) { 0 };
            compare_refcounts(bs, res, BDRV_FIX_LEAKS, &rc, nb_clusters,
                              &highest, &rebuild);
            if (rebuild) {
                error_printf("ERROR rebuilt refcount structure is still "
                             "broken\n");
            }
            /* Leaks the rebuilding made and that stay */
            fresh_leaks = res->leaks;
            *res = saved;
        }
        if (res->corruptions < old_res.corruptions) {
            res->corruptions_fixed += old_res.corruptions - res->corruptions;
        }
        if (res->leaks < old_res.leaks) {
            res->leaks_fixed += old_res.leaks - res->leaks;
        }
        res->leaks += fresh_leaks;
    } else if (fix) {
        if (rebuild) {
            error_printf("ERROR need to rebuild refcount structures\n");
            res->check_errors++;
            ret = -EIO;
            goto out;
        }
        if (res->leaks || res->corruptions) {
            *res = pre_compare;
            compare_refcounts(bs, res, fix, &rc, nb_clusters, &highest,
                              &rebuild);
        }
    }

    ret = check_oflag_copied(bs, res, fix);
    if (ret < 0) {
        goto out;
    }

    if (fix) {
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret < 0) {
            res->check_errors++;
            goto out;
        }
    }
    res->image_end_offset = (highest + 1) << s->cluster_bits;
    ret = 0;
out:
    g_free(rc.refs);
    return ret;
}
