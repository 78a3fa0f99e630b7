/*
 * qcow2: changing the backing file recorded in the header, and emptying
 * an image (qemu-img rebase and commit)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "block/block_int.h"
#include "block/qcow2.h"

/* The header field holds the name's length; QEMU limits it further */
#define QCOW2_MAX_BACKING_FILE_NAME 1023

/*
 * Build in @out the header cluster @in with a new backing file name and
 * format.  The backing format extension comes first, the other
 * extensions follow in the order they had, then the end marker and the
 * name: the order QEMU writes them in.  -ENOSPC if it does not fit.
 */
static int rebuild_header(BDRVQcow2State *s, const uint8_t *in, uint8_t *out,
                          const char *backing_file, const char *backing_fmt)
{
    size_t size = s->cluster_size;
    size_t hdr_len = s->qcow_version >= 3 ? s->header_length
                                          : QCOW2_HDR_V2_LENGTH;
    uint64_t old_name = qcow2_ld64(in + QCOW2_HDR_BACKING_OFFSET);
    size_t end = old_name && old_name < size ? old_name : size;
    size_t in_pos = hdr_len, pos = hdr_len;

    if (hdr_len > size) {
        return -EINVAL;
    }
    memset(out, 0, size);
    memcpy(out, in, hdr_len);

    if (backing_fmt &&
        !qcow2_put_header_ext(out, size, &pos, QCOW2_EXT_MAGIC_BACKING_FORMAT,
                              backing_fmt, strlen(backing_fmt))) {
        return -ENOSPC;
    }
    /* Open has validated the extensions already */
    while (in_pos + 8 <= end) {
        uint32_t magic = qcow2_ld32(in + in_pos);
        uint32_t len = qcow2_ld32(in + in_pos + 4);

        if (magic == QCOW2_EXT_MAGIC_END || len > end - in_pos - 8) {
            break;
        }
        if (magic != QCOW2_EXT_MAGIC_BACKING_FORMAT &&
            !qcow2_put_header_ext(out, size, &pos, magic, in + in_pos + 8,
                                  len)) {
            return -ENOSPC;
        }
        in_pos += 8 + ROUND_UP((size_t)len, 8);
    }
    if (!qcow2_put_header_ext(out, size, &pos, QCOW2_EXT_MAGIC_END, NULL, 0)) {
        return -ENOSPC;
    }

    qcow2_st64(out + QCOW2_HDR_BACKING_OFFSET, 0);
    qcow2_st32(out + QCOW2_HDR_BACKING_SIZE, 0);
    if (backing_file) {
        size_t len = strlen(backing_file);

        if (len > size - pos) {
            return -ENOSPC;
        }
        memcpy(out + pos, backing_file, len);
        qcow2_st64(out + QCOW2_HDR_BACKING_OFFSET, pos);
        qcow2_st32(out + QCOW2_HDR_BACKING_SIZE, len);
    }
    return 0;
}

int coroutine_fn qcow2_co_change_backing_file(BlockDriverState *bs,
                                              const char *backing_file,
                                              const char *backing_fmt)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *in = NULL;
    g_autofree uint8_t *out = NULL;
    int ret;

    /* A raw external data file must stay usable on its own */
    if (backing_file &&
        (s->autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW)) {
        return -EINVAL;
    }
    if (backing_file && strlen(backing_file) > QCOW2_MAX_BACKING_FILE_NAME) {
        return -EINVAL;
    }
    if (s->corrupt_stop) {
        return -ENOMEDIUM;
    }

    in = g_malloc(s->cluster_size);
    out = g_malloc(s->cluster_size);
    qemu_co_mutex_lock(&s->lock);
    ret = bdrv_co_pread(bs->file, 0, s->cluster_size, in, 0);
    if (ret >= 0) {
        ret = rebuild_header(s, in, out, backing_file, backing_fmt);
    }
    if (ret >= 0) {
        ret = bdrv_co_pwrite_sync(bs->file, 0, s->cluster_size, out, 0);
    }
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }

    g_free(s->image_backing_file);
    g_free(s->image_backing_format);
    s->image_backing_file = g_strdup(backing_file);
    s->image_backing_format = g_strdup(backing_fmt);
    return 0;
}

/* The layout an emptied image gets: does the image have it already? */
static bool has_empty_layout(BDRVQcow2State *s)
{
    uint64_t cs = s->cluster_size;

    return s->refcount_table_offset == cs &&
           s->refcount_table_size == cs / sizeof(uint64_t) &&
           (s->refcount_table[0] & REFT_OFFSET_MASK) == 2 * cs &&
           s->l1_table_offset == 3 * cs;
}

/* The first refcount block of an emptied image: its own clusters in use */
static uint8_t *empty_refblock(BDRVQcow2State *s, int l1_clusters)
{
    uint8_t *block = g_malloc0(s->cluster_size);
    uint64_t i;

    for (i = 0; i < 3 + (uint64_t)l1_clusters; i++) {
        s->set_refcount(block, i, 1);
    }
    return block;
}

/* Cut the file after the metadata of the emptied image */
static int coroutine_fn truncate_emptied(BlockDriverState *bs,
                                         int l1_clusters)
{
    BDRVQcow2State *s = bs->opaque;

    s->free_cluster_index = 0;
    s->free_byte_offset = 0;
    return bdrv_co_truncate(bs->file, (3 + l1_clusters) * s->cluster_size,
                            false, PREALLOC_MODE_OFF, 0, NULL);
}

/*
 * Empty an image that has the layout of an emptied one already (header,
 * one-cluster reftable, first refblock, L1 table: any image QEMU or we
 * created that has not grown its reftable).  Every step leaves a
 * consistent image, at worst with leaked clusters: the L1 table is
 * zeroed (all data and L2 tables leak), the reftable loses all entries
 * but the first (the other refblocks leak), the first refblock is
 * rewritten (nothing leaks any more), and the file is cut.
 */
static int coroutine_fn empty_in_place(BlockDriverState *bs, int l1_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    g_autofree uint8_t *block = NULL;
    g_autofree uint64_t *reftable = NULL;
    int ret;

    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    ret = bdrv_co_pwrite_zeroes(bs->file, s->l1_table_offset,
                                (int64_t)l1_clusters * cs, 0);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        return ret;
    }
    if (s->l1_size) {
        memset(s->l1_table, 0, (size_t)s->l1_size * sizeof(uint64_t));
    }

    BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_UPDATE);
    reftable = g_new0(uint64_t, cs / sizeof(uint64_t));
    reftable[0] = GUINT64_TO_BE(s->refcount_table[0]);
    ret = bdrv_co_pwrite(bs->file, cs, cs, reftable, 0);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        return ret;
    }
    memset(s->refcount_table + 1, 0,
           (s->refcount_table_size - 1) * sizeof(uint64_t));
    s->refcount_table_used = 1;

    BLKDBG_EVENT(bs->file, BLKDBG_EMPTY_IMAGE_PREPARE);
    block = empty_refblock(s, l1_clusters);
    ret = bdrv_co_pwrite(bs->file, 2 * cs, cs, block, 0);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        return ret;
    }
    return truncate_emptied(bs, l1_clusters);
}

/*
 * Reset the image file to a header, a one-cluster refcount table, one
 * refcount block and an empty L1 table, in this order (QEMU's layout of
 * an emptied image), and cut the file after them.
 *
 * The clusters are rewritten in place, so the refcounts on disk are
 * wrong for a moment: the dirty bit is set first, and an image whose
 * emptying failed half-way is repaired by the next read-write open.
 * Zeroing the L1 table comes first, so that from then on the old data
 * is unreachable whatever else fails.
 */
static int coroutine_fn make_completely_empty(BlockDriverState *bs,
                                              int l1_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    g_autofree uint8_t *block = NULL;
    g_autofree uint64_t *reftable = NULL;
    uint8_t fields[20];
    int ret;

    ret = qcow2_co_empty_caches(bs);
    if (ret < 0) {
        return ret;
    }
    if (has_empty_layout(s)) {
        return empty_in_place(bs, l1_clusters);
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        return ret;
    }

    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    ret = bdrv_co_pwrite_zeroes(bs->file, s->l1_table_offset,
                                (int64_t)l1_clusters * cs, 0);
    if (ret < 0) {
        return ret;
    }
    if (s->l1_size) {
        memset(s->l1_table, 0, (size_t)s->l1_size * sizeof(uint64_t));
    }

    /* Clusters 1 .. 2 + l1_clusters: reftable, refblock and L1 table */
    BLKDBG_EVENT(bs->file, BLKDBG_EMPTY_IMAGE_PREPARE);
    ret = bdrv_co_pwrite_zeroes(bs->file, cs, (2 + l1_clusters) * cs, 0);
    if (ret < 0) {
        return ret;
    }

    block = empty_refblock(s, l1_clusters);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC);
    ret = bdrv_co_pwrite(bs->file, 2 * cs, cs, block, 0);
    if (ret < 0) {
        return ret;
    }
    qcow2_st64(block, 2 * cs);
    BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_UPDATE);
    ret = bdrv_co_pwrite(bs->file, cs, sizeof(uint64_t), block, 0);
    if (ret < 0) {
        return ret;
    }

    /* l1_table_offset, refcount_table_offset, refcount_table_clusters */
    qcow2_st64(fields, 3 * cs);
    qcow2_st64(fields + 8, cs);
    qcow2_st32(fields + 16, 1);
    ret = bdrv_co_flush(bs->file->bs);
    if (ret >= 0) {
        ret = qcow2_write_header_field(bs, QCOW2_HDR_L1_OFFSET, fields,
                                       sizeof(fields));
    }
    if (ret < 0) {
        return ret;
    }

    reftable = g_new0(uint64_t, cs / sizeof(uint64_t));
    reftable[0] = 2 * cs;
    g_free(s->refcount_table);
    s->refcount_table = g_steal_pointer(&reftable);
    s->refcount_table_offset = cs;
    s->refcount_table_size = cs / sizeof(uint64_t);
    s->refcount_table_used = 1;
    s->l1_table_offset = 3 * cs;

    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        return ret;
    }
    if (!s->use_lazy_refcounts) {
        ret = qcow2_write_incompat(bs, s->incompatible_features &
                                       ~QCOW2_INCOMPAT_DIRTY);
        if (ret < 0) {
            return ret;
        }
        s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    }
    return truncate_emptied(bs, l1_clusters);
}

int coroutine_fn qcow2_co_make_empty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t step = QEMU_ALIGN_DOWN(INT_MAX, s->cluster_size);
    int64_t end = bs->total_sectors * BDRV_SECTOR_SIZE;
    int l1_clusters = DIV_ROUND_UP(s->l1_size,
                                   s->cluster_size / (int)sizeof(uint64_t));
    int64_t offset;
    int ret = 0;

    if (s->corrupt_stop) {
        return -ENOMEDIUM;
    }
    qemu_co_mutex_lock(&s->lock);
    qcow2_wait_inflight(bs, 0, end);
    /*
     * Everything goes when nothing else holds clusters (snapshots,
     * bitmaps, encryption headers) and the new metadata fits in one
     * refcount block; v2 images lack the dirty bit this needs.  The
     * clusters of a data file must be discarded there, one by one.
     */
    if (s->qcow_version >= 3 && !s->nb_snapshots && !s->nb_bitmaps &&
        s->crypt_method_header != QCOW_CRYPT_LUKS &&
        3 + l1_clusters <= s->refcount_block_size && !has_data_file(bs)) {
        ret = make_completely_empty(bs, l1_clusters);
        qemu_co_mutex_unlock(&s->lock);
        return ret;
    }

    /* Otherwise drop the active clusters one range at a time */
    for (offset = 0; offset < end; offset += step) {
        ret = qcow2_cluster_discard(bs, offset, MIN(step, end - offset),
                                    QCOW2_DISCARD_SNAPSHOT, true);
        if (ret < 0) {
            break;
        }
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}
