/*
 * qcow2 cluster mapping: L1/L2 lookup, allocation, COW bookkeeping,
 * zero clusters, discard and compressed cluster placement
 *
 * Everything here runs with the driver's metadata lock held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/qcow2.h"

/* L1 table */

static int coroutine_fn write_l1_entry(BlockDriverState *bs, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t buf[8];

    qcow2_st64(buf, s->l1_table[l1_index]);
    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    return bdrv_co_pwrite_sync(bs->file,
                               s->l1_table_offset + (uint64_t)l1_index * 8,
                               sizeof(buf), buf, 0);
}

int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs,
                                     uint64_t min_size, bool exact_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t new_size, i;
    g_autofree uint64_t *new_table = NULL;
    g_autofree uint8_t *buf = NULL;
    int64_t new_offset;
    uint8_t hdr[12];
    int ret;

    if (min_size <= (uint64_t)s->l1_size) {
        return 0;
    }
    if (exact_size) {
        new_size = min_size;
    } else {
        new_size = MAX((uint64_t)s->l1_size, 1);
        while (new_size < min_size) {
            new_size = (new_size * 3 + 1) / 2;
        }
    }
    if (new_size > QCOW_MAX_L1_SIZE / sizeof(uint64_t)) {
        return -EFBIG;
    }

    new_table = g_try_new0(uint64_t, new_size);
    buf = g_try_malloc0(new_size * sizeof(uint64_t));
    if (!new_table || !buf) {
        return -ENOMEM;
    }
    if (s->l1_size) {
        memcpy(new_table, s->l1_table, s->l1_size * sizeof(uint64_t));
    }

    BLKDBG_EVENT(bs->file, BLKDBG_L1_GROW_ALLOC_TABLE);
    new_offset = qcow2_alloc_clusters(bs, new_size * sizeof(uint64_t));
    if (new_offset < 0) {
        return new_offset;
    }
    /* The refcounts of the new table must be on disk before it is used */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto fail;
    }

    BLKDBG_EVENT(bs->file, BLKDBG_L1_GROW_WRITE_TABLE);
    for (i = 0; i < new_size; i++) {
        qcow2_st64(buf + i * 8, new_table[i]);
    }
    ret = bdrv_co_pwrite_sync(bs->file, new_offset,
                              new_size * sizeof(uint64_t), buf, 0);
    if (ret < 0) {
        goto fail;
    }

    BLKDBG_EVENT(bs->file, BLKDBG_L1_GROW_ACTIVATE_TABLE);
    qcow2_st32(hdr, new_size);
    qcow2_st64(hdr + 4, new_offset);
    ret = qcow2_write_header_field(bs, QCOW2_HDR_L1_SIZE, hdr, sizeof(hdr));
    if (ret < 0) {
        goto fail;
    }

    if (s->l1_size) {
        qcow2_free_clusters(bs, s->l1_table_offset,
                            s->l1_size * sizeof(uint64_t),
                            QCOW2_DISCARD_OTHER);
    }
    g_free(s->l1_table);
    s->l1_table = g_steal_pointer(&new_table);
    s->l1_table_offset = new_offset;
    s->l1_size = new_size;
    return 0;

fail:
    qcow2_free_clusters(bs, new_offset, new_size * sizeof(uint64_t),
                        QCOW2_DISCARD_OTHER);
    return ret;
}

/* L2 tables */

/*
 * Offset of the L2 table for guest @offset; 0 if there is none.  Sets
 * *copied when the table is exclusively ours.
 */
static int64_t l2_table_offset(BlockDriverState *bs, uint64_t offset,
                               bool *copied)
{
    BDRVQcow2State *s = bs->opaque;
    int l1_index = offset_to_l1_index(s, offset);
    uint64_t l2_offset;

    *copied = false;
    if (l1_index >= s->l1_size) {
        return 0;
    }
    l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (!l2_offset) {
        return 0;
    }
    if (offset_into_cluster(s, l2_offset)) {
        qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#"
                                PRIx64 " unaligned (L1 index: %#x)",
                                l2_offset, l1_index);
        return -EIO;
    }
    *copied = s->l1_table[l1_index] & QCOW_OFLAG_COPIED;
    return l2_offset;
}

/*
 * Make the L2 table for guest @offset exclusively ours, allocating a new
 * one (or copying a shared one) if needed, and return it from the cache.
 */
static int coroutine_fn get_cluster_table(BlockDriverState *bs,
                                          uint64_t offset,
                                          uint64_t **l2_table,
                                          int *l2_index)
{
    BDRVQcow2State *s = bs->opaque;
    int l1_index = offset_to_l1_index(s, offset);
    int64_t old_offset, new_offset;
    uint64_t old_l1_entry;
    void *table = NULL;
    bool copied;
    int ret;

    if (l1_index >= s->l1_size) {
        ret = qcow2_grow_l1_table(bs, l1_index + 1, false);
        if (ret < 0) {
            return ret;
        }
    }
    old_offset = l2_table_offset(bs, offset, &copied);
    if (old_offset < 0) {
        return old_offset;
    }
    if (old_offset && copied) {
        ret = qcow2_cache_get(bs, s->l2_table_cache, old_offset, &table);
        if (ret < 0) {
            return ret;
        }
        goto done;
    }

    /* Allocate a new table; it takes over the shared one's entries */
    new_offset = qcow2_alloc_clusters(bs, s->cluster_size);
    if (new_offset < 0) {
        return new_offset;
    }
    if (!s->use_lazy_refcounts) {
        ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                         s->refcount_block_cache);
        if (ret < 0) {
            goto fail;
        }
    }
    if (old_offset) {
        void *old_table;
        ret = qcow2_cache_get(bs, s->l2_table_cache, old_offset, &old_table);
        if (ret < 0) {
            goto fail;
        }
        ret = qcow2_cache_get_empty(bs, s->l2_table_cache, new_offset,
                                    &table);
        if (ret < 0) {
            qcow2_cache_put(s->l2_table_cache, &old_table);
            goto fail;
        }
        BLKDBG_EVENT(bs->file, BLKDBG_L2_ALLOC_COW_READ);
        memcpy(table, old_table, s->cluster_size);
        qcow2_cache_put(s->l2_table_cache, &old_table);
    } else {
        ret = qcow2_cache_get_empty(bs, s->l2_table_cache, new_offset,
                                    &table);
        if (ret < 0) {
            goto fail;
        }
        memset(table, 0, s->cluster_size);
    }
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, table);

    /* The table must be on disk before the L1 entry points at it */
    BLKDBG_EVENT(bs->file, BLKDBG_L2_ALLOC_WRITE);
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret < 0) {
        goto fail_put;
    }
    old_l1_entry = s->l1_table[l1_index];
    s->l1_table[l1_index] = new_offset | QCOW_OFLAG_COPIED;
    ret = write_l1_entry(bs, l1_index);
    if (ret < 0) {
        s->l1_table[l1_index] = old_l1_entry;
        goto fail_put;
    }
    if (old_offset) {
        qcow2_free_clusters(bs, old_offset, s->cluster_size,
                            QCOW2_DISCARD_OTHER);
    }

done:
    *l2_table = table;
    *l2_index = offset_to_l2_index(s, offset);
    return 0;

fail_put:
    qcow2_cache_put(s->l2_table_cache, &table);
    qcow2_cache_discard(s->l2_table_cache, new_offset);
fail:
    qcow2_free_clusters(bs, new_offset, s->cluster_size, QCOW2_DISCARD_OTHER);
    return ret;
}

/* Bytes from @offset to the end of the guest area its L2 table maps */
static uint64_t bytes_to_l2_end(BDRVQcow2State *s, uint64_t offset)
{
    uint64_t l2_span = (uint64_t)s->l2_size << s->cluster_bits;

    return l2_span - (offset & (l2_span - 1));
}

int coroutine_fn qcow2_get_host_offset(BlockDriverState *bs,
                                       uint64_t offset, uint64_t *bytes,
                                       uint64_t *host_offset,
                                       QCow2ClusterType *type)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t avail = MIN(*bytes, bytes_to_l2_end(s, offset));
    uint64_t in_cluster = offset_into_cluster(s, offset);
    uint64_t *l2 = NULL;
    uint64_t entry, first_host = 0;
    int64_t l2_offset;
    int l2_index, nb, max;
    bool copied;
    QCow2ClusterType t;
    int ret;

    *host_offset = 0;
    l2_offset = l2_table_offset(bs, offset, &copied);
    if (l2_offset < 0) {
        return l2_offset;
    }
    if (l2_offset == 0) {
        *type = QCOW2_CLUSTER_UNALLOCATED;
        *bytes = avail;
        return 0;
    }

    ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    l2_index = offset_to_l2_index(s, offset);
    max = DIV_ROUND_UP(in_cluster + avail, s->cluster_size);
    entry = GUINT64_FROM_BE(l2[l2_index]);
    t = qcow2_get_cluster_type(s, entry);

    switch (t) {
    case QCOW2_CLUSTER_COMPRESSED:
        *host_offset = entry;
        nb = 1;
        break;
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        first_host = entry & L2E_OFFSET_MASK;
        if (offset_into_cluster(s, first_host)) {
            qcow2_cache_put(s->l2_table_cache, (void **)&l2);
            qcow2_signal_corruption(bs, true, -1, -1,
                                    "Cluster allocation offset %#" PRIx64
                                    " unaligned (L2 offset: %#" PRIx64
                                    ", L2 index: %#x)", first_host,
                                    l2_offset, l2_index);
            return -EIO;
        }
        *host_offset = first_host + in_cluster;
        /* fall through */
    default:
        for (nb = 1; nb < max; nb++) {
            uint64_t e = GUINT64_FROM_BE(l2[l2_index + nb]);

            if (qcow2_get_cluster_type(s, e) != t) {
                break;
            }
            if ((t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC)
                && (e & L2E_OFFSET_MASK) !=
                   first_host + ((uint64_t)nb << s->cluster_bits)) {
                break;
            }
        }
        break;
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);

    *type = t;
    *bytes = MIN(avail, ((uint64_t)nb << s->cluster_bits) - in_cluster);
    return 0;
}

/* In-flight allocations */

void coroutine_fn qcow2_wait_inflight(BlockDriverState *bs, uint64_t offset,
                                      uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = start_of_cluster(s, offset);
    uint64_t end = ROUND_UP(offset + bytes, s->cluster_size);
    QCowInflightAlloc *a;

again:
    QLIST_FOREACH(a, &s->inflight_allocs, next) {
        if (a->guest_start < end && start < a->guest_end) {
            /* Nothing runs between unlock and wait: no lost wake-up */
            qemu_co_mutex_unlock(&s->lock);
            qemu_co_queue_wait(&a->waiters);
            qemu_co_mutex_lock(&s->lock);
            goto again;
        }
    }
}

static void inflight_done(QCowWriteMap *m)
{
    QLIST_REMOVE(&m->inflight, next);
    qemu_co_queue_restart_all(&m->inflight.waiters);
}

static bool cluster_writable_in_place(BDRVQcow2State *s, uint64_t entry)
{
    return qcow2_get_cluster_type(s, entry) == QCOW2_CLUSTER_NORMAL &&
        (entry & QCOW_OFLAG_COPIED);
}

/*
 * A preallocated zero cluster that is ours alone: a write goes to its host
 * cluster (with the rest of the cluster filled with zeroes) instead of a
 * new one, and the L2 entry loses the zero flag when the data is there.
 * No refcount changes, so no flush to order them with the L2 update.
 */
static bool cluster_reusable(BDRVQcow2State *s, uint64_t entry)
{
    return qcow2_get_cluster_type(s, entry) == QCOW2_CLUSTER_ZERO_ALLOC &&
        (entry & QCOW_OFLAG_COPIED);
}

int coroutine_fn qcow2_alloc_host_offset(BlockDriverState *bs,
                                         uint64_t offset, uint64_t bytes,
                                         uint64_t want_host,
                                         QCowWriteMap *m)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t in_cluster = offset_into_cluster(s, offset);
    uint64_t *l2;
    uint64_t entry, first_host, end;
    int64_t host;
    int l2_index, i, max, ret;

    bytes = MIN(bytes, bytes_to_l2_end(s, offset));
    *m = (QCowWriteMap) { .guest_offset = offset };

    ret = get_cluster_table(bs, offset, &l2, &l2_index);
    if (ret < 0) {
        return ret;
    }
    max = DIV_ROUND_UP(in_cluster + bytes, s->cluster_size);
    entry = GUINT64_FROM_BE(l2[l2_index]);

    if (cluster_writable_in_place(s, entry) || cluster_reusable(s, entry)) {
        first_host = entry & L2E_OFFSET_MASK;
        if (offset_into_cluster(s, first_host)) {
            qcow2_cache_put(s->l2_table_cache, (void **)&l2);
            qcow2_signal_corruption(bs, true, -1, -1, "%s cluster offset %#"
                                    PRIx64 " unaligned (guest offset: %#"
                                    PRIx64 ")", cluster_reusable(s, entry) ?
                                    "Preallocated zero" : "Data",
                                    first_host, offset);
            return -EIO;
        }
    }
    if (cluster_reusable(s, entry)) {
        first_host = entry & L2E_OFFSET_MASK;
        for (i = 1; i < max; i++) {
            uint64_t e = GUINT64_FROM_BE(l2[l2_index + i]);
            if (!cluster_reusable(s, e) ||
                (e & L2E_OFFSET_MASK) !=
                first_host + ((uint64_t)i << s->cluster_bits)) {
                break;
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        host = first_host;
        m->keep_old = true;
        goto map;
    }

    if (cluster_writable_in_place(s, entry)) {
        first_host = entry & L2E_OFFSET_MASK;
        for (i = 1; i < max; i++) {
            uint64_t e = GUINT64_FROM_BE(l2[l2_index + i]);
            if (!cluster_writable_in_place(s, e) ||
                (e & L2E_OFFSET_MASK) !=
                first_host + ((uint64_t)i << s->cluster_bits)) {
                break;
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        m->alloc = false;
        m->host_offset = first_host + in_cluster;
        m->bytes = MIN(bytes, ((uint64_t)i << s->cluster_bits) - in_cluster);
        return 0;
    }

    for (i = 1; i < max; i++) {
        uint64_t e = GUINT64_FROM_BE(l2[l2_index + i]);

        if (cluster_writable_in_place(s, e) || cluster_reusable(s, e)) {
            break;
        }
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);

    host = 0;
    if (has_data_file(bs)) {
        /* External data: the host offset is the guest offset, unrefcounted */
        host = start_of_cluster(s, offset);
        m->keep_old = true;
        goto map;
    }
    if (want_host) {
        int64_t n = qcow2_alloc_clusters_at(bs, want_host, i);

        if (n < 0) {
            return n;
        } else if (n > 0) {
            host = want_host;
            i = n;
        }
    }
    if (!host) {
        host = qcow2_alloc_clusters(bs, (uint64_t)i << s->cluster_bits);
        if (host < 0) {
            return host;
        }
    }
map:
    m->alloc = true;
    m->nb_clusters = i;
    m->alloc_guest_start = start_of_cluster(s, offset);
    m->alloc_host_start = host;
    m->host_offset = host + in_cluster;
    end = MIN(offset + bytes,
              m->alloc_guest_start + ((uint64_t)i << s->cluster_bits));
    m->bytes = end - offset;
    m->cow_start_bytes = in_cluster;
    m->cow_end_bytes = m->alloc_guest_start +
        ((uint64_t)i << s->cluster_bits) - end;

    m->inflight.guest_start = m->alloc_guest_start;
    m->inflight.guest_end = m->alloc_guest_start +
        ((uint64_t)i << s->cluster_bits);
    qemu_co_queue_init(&m->inflight.waiters);
    QLIST_INSERT_HEAD(&s->inflight_allocs, &m->inflight, next);
    return 0;
}

int coroutine_fn qcow2_alloc_link_l2(BlockDriverState *bs, QCowWriteMap *m)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *old = g_new(uint64_t, m->nb_clusters);
    uint64_t *l2;
    int l2_index, i, ret;

    assert(m->alloc);
    ret = get_cluster_table(bs, m->alloc_guest_start, &l2, &l2_index);
    if (ret < 0) {
        goto out;
    }
    if (!s->use_lazy_refcounts && !m->keep_old) {
        ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                         s->refcount_block_cache);
        if (ret < 0) {
            qcow2_cache_put(s->l2_table_cache, (void **)&l2);
            goto out;
        }
    }
    for (i = 0; i < m->nb_clusters; i++) {
        old[i] = GUINT64_FROM_BE(l2[l2_index + i]);
        l2[l2_index + i] = GUINT64_TO_BE(
            (m->alloc_host_start + ((uint64_t)i << s->cluster_bits)) |
            QCOW_OFLAG_COPIED);
    }
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);

    /* Drop our reference to whatever the entries pointed to before */
    for (i = 0; i < m->nb_clusters && !m->keep_old; i++) {
        qcow2_free_any_cluster(bs, old[i], QCOW2_DISCARD_OTHER);
    }
    ret = 0;
out:
    inflight_done(m);
    return ret;
}

void coroutine_fn qcow2_alloc_abort(BlockDriverState *bs, QCowWriteMap *m)
{
    BDRVQcow2State *s = bs->opaque;

    assert(m->alloc);
    if (!m->keep_old) {
        qcow2_free_clusters(bs, m->alloc_host_start,
                            (uint64_t)m->nb_clusters << s->cluster_bits,
                            QCOW2_DISCARD_NEVER);
    }
    inflight_done(m);
}

/* Compressed clusters */

int coroutine_fn qcow2_alloc_compressed_cluster_offset(BlockDriverState *bs,
                                                       uint64_t offset,
                                                       int compressed_size,
                                                       uint64_t *host_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2;
    uint64_t entry, nb_csectors;
    int64_t host;
    int l2_index, ret;

    ret = get_cluster_table(bs, offset, &l2, &l2_index);
    if (ret < 0) {
        return ret;
    }
    entry = GUINT64_FROM_BE(l2[l2_index]);
    if (qcow2_get_cluster_type(s, entry) != QCOW2_CLUSTER_UNALLOCATED &&
        qcow2_get_cluster_type(s, entry) != QCOW2_CLUSTER_ZERO_PLAIN) {
        /* Compressed data never overwrites an allocated cluster */
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        return -EIO;
    }

    host = qcow2_alloc_bytes(bs, compressed_size);
    if (host < 0) {
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        return host;
    }
    nb_csectors = ((host + compressed_size - 1) >> 9) - (host >> 9);
    entry = QCOW_OFLAG_COMPRESSED | host |
        (nb_csectors << s->csize_shift);

    if (!s->use_lazy_refcounts) {
        ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                         s->refcount_block_cache);
        if (ret < 0) {
            qcow2_cache_put(s->l2_table_cache, (void **)&l2);
            return ret;
        }
    }
    BLKDBG_EVENT(bs->file, BLKDBG_L2_UPDATE_COMPRESSED);
    l2[l2_index] = GUINT64_TO_BE(entry);
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    *host_offset = host;
    return 0;
}

/* Zeroing and discarding whole clusters */

static int coroutine_fn zero_in_l2(BlockDriverState *bs, uint64_t offset,
                                   uint64_t nb_clusters, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2;
    int l2_index, ret;
    uint64_t i;

    ret = get_cluster_table(bs, offset, &l2, &l2_index);
    if (ret < 0) {
        return ret;
    }
    nb_clusters = MIN(nb_clusters, (uint64_t)(s->l2_size - l2_index));
    for (i = 0; i < nb_clusters; i++) {
        uint64_t old = GUINT64_FROM_BE(l2[l2_index + i]);
        QCow2ClusterType type = qcow2_get_cluster_type(s, old);
        bool unmap = type == QCOW2_CLUSTER_COMPRESSED ||
            ((flags & BDRV_REQ_MAY_UNMAP) &&
             qcow2_cluster_is_allocated(type));
        uint64_t new = (unmap ? 0 : old) | QCOW_OFLAG_ZERO;

        if (new == old) {
            continue;
        }
        l2[l2_index + i] = GUINT64_TO_BE(new);
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        if (unmap) {
            qcow2_free_any_cluster(bs, old, QCOW2_DISCARD_REQUEST);
        }
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    return nb_clusters;
}

int coroutine_fn qcow2_cluster_zeroize(BlockDriverState *bs,
                                       uint64_t offset, uint64_t bytes,
                                       int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end = offset + bytes;
    uint64_t nb_clusters;
    int ret;

    assert(QEMU_IS_ALIGNED(offset, s->cluster_size));
    assert(QEMU_IS_ALIGNED(end, s->cluster_size) || end >= s->size);
    if (s->qcow_version < 3) {
        /*
         * v2 has no zero flag.  Without a backing file an unallocated
         * cluster reads as zeroes, so discarding is zeroing; with one it
         * would expose the backing file's data.
         */
        if (!bs->backing) {
            return qcow2_cluster_discard(bs, offset, bytes,
                                         QCOW2_DISCARD_REQUEST, false);
        }
        return -ENOTSUP;
    }
    if (data_file_is_raw(bs)) {
        /* The raw data file must read as the guest disk does */
        ret = bdrv_co_pwrite_zeroes(s->data_file, offset,
                                    MIN(bytes, s->size - offset), 0);
        if (ret < 0) {
            return ret;
        }
    }
    nb_clusters = size_to_clusters(s, bytes);
    while (nb_clusters > 0) {
        ret = zero_in_l2(bs, offset, nb_clusters, flags);
        if (ret < 0) {
            return ret;
        }
        nb_clusters -= ret;
        offset += (uint64_t)ret << s->cluster_bits;
    }
    return 0;
}

static int coroutine_fn discard_in_l2(BlockDriverState *bs, uint64_t offset,
                                      uint64_t nb_clusters,
                                      Qcow2DiscardType type,
                                      bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2;
    int l2_index, ret;
    uint64_t i;

    /*
     * Like QEMU, this allocates the L2 table if there is none, even when
     * every cluster is unallocated already: images stay alike
     */
    ret = get_cluster_table(bs, offset, &l2, &l2_index);
    if (ret < 0) {
        return ret;
    }
    nb_clusters = MIN(nb_clusters, (uint64_t)(s->l2_size - l2_index));
    for (i = 0; i < nb_clusters; i++) {
        uint64_t old = GUINT64_FROM_BE(l2[l2_index + i]);
        QCow2ClusterType ctype = qcow2_get_cluster_type(s, old);
        uint64_t new = old;

        if (full_discard) {
            new = 0;
        } else if (bs->backing || qcow2_cluster_is_allocated(ctype)) {
            new = s->qcow_version >= 3 ? QCOW_OFLAG_ZERO : 0;
        }
        if (new == old) {
            continue;
        }
        l2[l2_index + i] = GUINT64_TO_BE(new);
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        qcow2_free_any_cluster(bs, old, type);
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    return nb_clusters;
}

int coroutine_fn qcow2_cluster_discard(BlockDriverState *bs,
                                       uint64_t offset, uint64_t bytes,
                                       Qcow2DiscardType type,
                                       bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t nb_clusters = size_to_clusters(s, bytes);
    int ret;

    assert(QEMU_IS_ALIGNED(offset, s->cluster_size));
    while (nb_clusters > 0) {
        ret = discard_in_l2(bs, offset, nb_clusters, type, full_discard);
        if (ret < 0) {
            return ret;
        }
        nb_clusters -= ret;
        offset += (uint64_t)ret << s->cluster_bits;
    }
    return 0;
}

/*
 * Allocate L2 tables and data clusters for [offset, new_length).
 * *end_host is set to the end of the last allocated host cluster.
 */
int coroutine_fn qcow2_preallocate_metadata(BlockDriverState *bs,
                                            uint64_t offset,
                                            uint64_t new_length,
                                            uint64_t *end_host)
{
    BDRVQcow2State *s = bs->opaque;

    offset = start_of_cluster(s, offset);
    *end_host = 0;
    while (offset < new_length) {
        uint64_t *l2;
        int l2_index, i, nb, ret;
        int64_t host;

        nb = MIN(size_to_clusters(s, new_length - offset),
                 (uint64_t)(s->l2_size - offset_to_l2_index(s, offset)));
        ret = get_cluster_table(bs, offset, &l2, &l2_index);
        if (ret < 0) {
            return ret;
        }
        for (i = 0; i < nb; i++) {
            if (l2[l2_index + i]) {
                break;
            }
        }
        nb = MAX(i, 1);
        if (i == 0) {
            /* Already allocated (or zero): leave it */
            qcow2_cache_put(s->l2_table_cache, (void **)&l2);
            offset += s->cluster_size;
            continue;
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);

        if (has_data_file(bs)) {
            host = offset;
        } else {
            host = qcow2_alloc_clusters(bs, (uint64_t)nb << s->cluster_bits);
        }
        if (host < 0) {
            return host;
        }
        ret = get_cluster_table(bs, offset, &l2, &l2_index);
        if (ret < 0) {
            return ret;
        }
        if (!s->use_lazy_refcounts && !has_data_file(bs)) {
            ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                             s->refcount_block_cache);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                return ret;
            }
        }
        for (i = 0; i < nb; i++) {
            l2[l2_index + i] = GUINT64_TO_BE(
                (host + ((uint64_t)i << s->cluster_bits)) |
                QCOW_OFLAG_COPIED);
        }
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        *end_host = MAX(*end_host,
                        host + ((uint64_t)nb << s->cluster_bits));
        offset += (uint64_t)nb << s->cluster_bits;
    }
    return 0;
}

/*
 * Point the L2 entries of @nb_clusters guest clusters from @guest_offset
 * at the contiguous host clusters from @host_offset, whose refcounts the
 * caller already set.  Clusters the entries had are freed (the caller
 * copied what they held).
 */
int coroutine_fn qcow2_link_data_area(BlockDriverState *bs,
                                      uint64_t guest_offset,
                                      uint64_t host_offset,
                                      uint64_t nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;

    while (nb_clusters > 0) {
        uint64_t *l2;
        uint64_t i, n;
        int l2_index, ret;

        ret = get_cluster_table(bs, guest_offset, &l2, &l2_index);
        if (ret < 0) {
            return ret;
        }
        if (!s->use_lazy_refcounts) {
            ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                             s->refcount_block_cache);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                return ret;
            }
        }
        n = MIN(nb_clusters, (uint64_t)(s->l2_size - l2_index));
        for (i = 0; i < n; i++) {
            uint64_t old = GUINT64_FROM_BE(l2[l2_index + i]);

            l2[l2_index + i] = GUINT64_TO_BE(
                (host_offset + (i << s->cluster_bits)) | QCOW_OFLAG_COPIED);
            /* A cluster whose data the caller copied: it is replaced */
            qcow2_free_any_cluster(bs, old, QCOW2_DISCARD_NEVER);
        }
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
        guest_offset += n << s->cluster_bits;
        host_offset += n << s->cluster_bits;
        nb_clusters -= n;
    }
    return 0;
}

/*
 * Drop the L1 entries from @new_l1_size on (for shrinking): zero them on
 * disk, then free their L2 tables.  The table keeps its size, as in QEMU.
 */
int coroutine_fn qcow2_shrink_l1_table(BlockDriverState *bs,
                                       uint64_t new_l1_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t i;
    int ret;

    if (new_l1_size >= (uint64_t)s->l1_size) {
        return 0;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_L1_SHRINK_WRITE_TABLE);
    ret = bdrv_co_pwrite_zeroes(bs->file,
                                s->l1_table_offset + new_l1_size * 8,
                                (s->l1_size - new_l1_size) * 8, 0);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        return ret;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS);
    for (i = new_l1_size; i < (uint64_t)s->l1_size; i++) {
        uint64_t l2_offset = s->l1_table[i] & L1E_OFFSET_MASK;

        if (l2_offset) {
            qcow2_free_clusters(bs, l2_offset, s->cluster_size,
                                QCOW2_DISCARD_ALWAYS);
        }
        s->l1_table[i] = 0;
    }
    return 0;
}
