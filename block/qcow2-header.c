/*
 * qcow2 header flags, corruption reports and metadata overlap checks
 *
 * The bottom of the driver's internal layering: these helpers touch only
 * the header cluster and the in-memory state, never a cache, the refcount
 * structure or the cluster map, so every other qcow2 unit may call them:
 *
 *   qcow2-header.c  <-  qcow2-cache.c  <-  qcow2-refcount.c
 *                   <-  qcow2-cluster.c  <-  qcow2.c
 *
 * (each unit calls only the ones to its left).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "block/qcow2.h"

/* Header fields */

int coroutine_fn qcow2_write_header_field(BlockDriverState *bs, int offset,
                                          const void *buf, int len)
{
    return bdrv_co_pwrite_sync(bs->file, offset, len, buf, 0);
}

int coroutine_fn qcow2_write_incompat(BlockDriverState *bs, uint64_t value)
{
    uint8_t buf[8];

    qcow2_st64(buf, value);
    return qcow2_write_header_field(bs, QCOW2_HDR_INCOMPAT, buf, 8);
}

int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    assert(s->qcow_version >= 3);
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        return 0;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_write_incompat(bs, s->incompatible_features |
                                   QCOW2_INCOMPAT_DIRTY);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    return 0;
}

/* Corruption */

/*
 * Set the corrupt bit and stop all I/O.  The bit is set in memory at
 * once; writing it needs I/O, so from a coroutine it is written now,
 * elsewhere by the next metadata write (every write of the incompatible
 * features carries it).
 */
static int coroutine_mixed_fn qcow2_mark_corrupt(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    s->incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
    s->corrupt_stop = true;
    if (!qemu_in_coroutine()) {
        return 0;
    }
    qemu_coroutine_assert_context();
    return qcow2_write_incompat(bs, s->incompatible_features);
}

bool qcow2_put_header_ext(uint8_t *buf, size_t size, size_t *pos,
                          uint32_t magic, const void *data, uint32_t len)
{
    size_t need = 8 + ROUND_UP((size_t)len, 8);

    if (*pos > size || need > size - *pos) {
        return false;
    }
    qcow2_st32(buf + *pos, magic);
    qcow2_st32(buf + *pos + 4, len);
    if (len) {
        memcpy(buf + *pos + 8, data, len);
    }
    *pos += need;
    return true;
}

void coroutine_mixed_fn qcow2_signal_corruption(BlockDriverState *bs,
                                                bool fatal, int64_t offset,
                                                int64_t size,
                                                const char *fmt, ...)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree char *message = NULL;
    va_list ap;

    fatal = fatal && !bdrv_is_read_only(bs);
    if (s->signaled_corruption &&
        (!fatal || (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT))) {
        return;
    }

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    if (fatal) {
        error_printf("qcow2: Marking image as corrupt: %s; further "
                     "corruption events will be suppressed\n", message);
        qcow2_mark_corrupt(bs);
    } else {
        error_printf("qcow2: Image is corrupt: %s; further non-fatal "
                     "corruption events will be suppressed\n", message);
    }
    s->signaled_corruption = true;
}

/* Metadata overlap checks */

static bool ranges_overlap(int64_t a, int64_t a_len, int64_t b, int64_t b_len)
{
    return a_len > 0 && b_len > 0 && a < b + b_len && b < a + a_len;
}

int qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                 int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int chk = s->overlap_check & ~ign;
    int64_t cs = s->cluster_size;
    uint32_t i;

    if (!chk || size <= 0) {
        return 0;
    }
    if ((chk & QCOW2_OL_MAIN_HEADER) && offset < cs) {
        return QCOW2_OL_MAIN_HEADER;
    }
    /* Tables are whole clusters as far as overlapping goes */
    offset = start_of_cluster(s, offset);
    size = ROUND_UP(offset + size, cs) - offset;

    if ((chk & QCOW2_OL_ACTIVE_L1) && s->l1_size &&
        ranges_overlap(offset, size, s->l1_table_offset,
                       (int64_t)s->l1_size * sizeof(uint64_t))) {
        return QCOW2_OL_ACTIVE_L1;
    }
    if ((chk & QCOW2_OL_REFCOUNT_TABLE) &&
        ranges_overlap(offset, size, s->refcount_table_offset,
                       (int64_t)s->refcount_table_size * sizeof(uint64_t))) {
        return QCOW2_OL_REFCOUNT_TABLE;
    }
    if ((chk & QCOW2_OL_SNAPSHOT_TABLE) &&
        ranges_overlap(offset, size, s->snapshots_offset,
                       s->snapshots_size)) {
        return QCOW2_OL_SNAPSHOT_TABLE;
    }
    if ((chk & QCOW2_OL_BITMAP_DIRECTORY) && s->nb_bitmaps &&
        ranges_overlap(offset, size, s->bitmap_directory_offset,
                       s->bitmap_directory_size)) {
        return QCOW2_OL_BITMAP_DIRECTORY;
    }
    if (chk & QCOW2_OL_INACTIVE_L1) {
        for (i = 0; i < (uint32_t)s->nb_snapshots; i++) {
            if (ranges_overlap(offset, size, s->snapshots[i].l1_table_offset,
                               (int64_t)s->snapshots[i].l1_size *
                               sizeof(uint64_t))) {
                return QCOW2_OL_INACTIVE_L1;
            }
        }
    }
    if (chk & QCOW2_OL_ACTIVE_L2) {
        for (i = 0; i < (uint32_t)s->l1_size; i++) {
            int64_t l2 = s->l1_table[i] & L1E_OFFSET_MASK;

            if (l2 && l2 < offset + size && offset < l2 + cs) {
                return QCOW2_OL_ACTIVE_L2;
            }
        }
    }
    if (chk & QCOW2_OL_REFCOUNT_BLOCK) {
        for (i = 0; i < s->refcount_table_used; i++) {
            int64_t rb = s->refcount_table[i] & REFT_OFFSET_MASK;

            if (rb && rb < offset + size && offset < rb + cs) {
                return QCOW2_OL_REFCOUNT_BLOCK;
            }
        }
    }
    return 0;
}

/* Names in QEMU's corruption messages, by QCow2MetadataOverlap bit */
static const char *const metadata_ol_names[QCOW2_OL_MAX_BITNR] = {
    "qcow2_header",
    "active L1 table",
    "active L2 table",
    "refcount table",
    "refcount block",
    "snapshot table",
    "inactive L1 table",
    "inactive L2 table",
    "bitmap directory",
};

int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size)
{
    int ol = qcow2_check_metadata_overlap(bs, ign, offset, size);

    if (ol) {
        qcow2_signal_corruption(bs, true, offset, size, "Preventing invalid "
                                "write on metadata (overlaps with %s)",
                                metadata_ol_names[ctz64(ol)]);
        return -EIO;
    }
    return 0;
}
