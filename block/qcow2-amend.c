/*
 * qcow2: qemu-img amend (compat level, refcount width, lazy refcounts,
 * size)
 *
 * The steps run in QEMU's order: upgrade first (later steps may need
 * v3), then the refcount width, a header rewrite, lazy refcounts, the
 * size, and the downgrade last (so that what v2 cannot hold is gone by
 * then).  Each step leaves a consistent image when it fails part way:
 * the header is switched only once the new metadata is on disk, so an
 * interrupted amend leaves at worst leaked clusters.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/option.h"
#include "qapi/error.h"
#include "block/block_int.h"
#include "block/qcow2.h"
#include "sysemu/block-backend.h"

QemuOptsList qcow2_amend_opts = {
    .name = "qcow2-amend-opts",
    QEMU_OPTS_LIST_INIT(qcow2_amend_opts),
    .desc = {
        { .name = "encrypt.state", .type = QEMU_OPT_STRING,
          .help = "Select new state of affected keyslots (active/inactive)" },
        { .name = "encrypt.keyslot", .type = QEMU_OPT_NUMBER,
          .help = "Select a single keyslot to modify explicitly" },
        { .name = "encrypt.old-secret", .type = QEMU_OPT_STRING,
          .help = "Select all keyslots that match this password" },
        { .name = "encrypt.new-secret", .type = QEMU_OPT_STRING,
          .help = "New secret to set in the matching keyslots. "
                  "Empty string to erase" },
        { .name = "encrypt.iter-time", .type = QEMU_OPT_NUMBER,
          .help = "Time to spend in PBKDF in milliseconds" },
        { .name = BLOCK_OPT_SIZE, .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { .name = BLOCK_OPT_COMPAT_LEVEL, .type = QEMU_OPT_STRING,
          .help = "Compatibility level (v2 [0.10] or v3 [1.1])" },
        { .name = BLOCK_OPT_BACKING_FILE, .type = QEMU_OPT_STRING,
          .help = "File name of a base image" },
        { .name = BLOCK_OPT_BACKING_FMT, .type = QEMU_OPT_STRING,
          .help = "Image format of the base image" },
        { .name = BLOCK_OPT_DATA_FILE, .type = QEMU_OPT_STRING,
          .help = "File name of an external data file" },
        { .name = BLOCK_OPT_DATA_FILE_RAW, .type = QEMU_OPT_BOOL,
          .help = "The external data file must stay valid as a raw image" },
        { .name = BLOCK_OPT_LAZY_REFCOUNTS, .type = QEMU_OPT_BOOL,
          .help = "Postpone refcount updates", .def_value_str = "off" },
        { .name = BLOCK_OPT_REFCOUNT_BITS, .type = QEMU_OPT_NUMBER,
          .help = "Width of a reference count entry in bits",
          .def_value_str = "16" },
        { /* end of list */ }
    },
};

/*
 * Progress over several steps, as QEMU reports it: each step reports its
 * own (done, total); the total shown projects the steps not begun yet
 * from the average size of those seen.
 */
typedef enum AmendStep {
    AMEND_STEP_NONE,
    AMEND_STEP_UPGRADE,
    AMEND_STEP_REFCOUNT_ORDER,
    AMEND_STEP_DOWNGRADE,
} AmendStep;

typedef struct AmendProgress {
    BlockDriverAmendStatusCB *cb;
    void *opaque;
    int nb_steps;
    AmendStep step;
    /* managed by amend_progress() */
    AmendStep last_step;
    int steps_done;
    int64_t work_done;
    int64_t last_total;
} AmendProgress;

static void amend_progress(BlockDriverState *bs, AmendProgress *p,
                           int64_t offset, int64_t total)
{
    int64_t current, projected;

    if (!p->cb || p->nb_steps <= 0) {
        return;
    }
    if (p->step != p->last_step) {
        if (p->last_step != AMEND_STEP_NONE) {
            p->work_done += p->last_total;
            p->steps_done++;
        }
        p->last_step = p->step;
    }
    p->last_total = total;
    current = p->work_done + total;
    projected = current * (p->nb_steps - p->steps_done - 1) /
                (p->steps_done + 1);
    p->cb(bs, p->work_done + offset, current + projected, p->opaque);
}

/* Header rewrite */

/*
 * Write the whole header cluster from the in-memory state: the fixed
 * header for s->qcow_version, then the backing format, the data file
 * name, the feature name table (v3), the bitmaps extension, the
 * extensions we keep unread, the end marker and the backing file name;
 * QEMU's layout.
 */
static int coroutine_fn amend_write_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    size_t size = s->cluster_size;
    g_autofree uint8_t *buf = g_malloc0(size);
    bool v3 = s->qcow_version >= 3;
    size_t pos = v3 ? QCOW2_HDR_V3_LENGTH : QCOW2_HDR_V2_LENGTH;
    Qcow2UnknownHeaderExtension *ext;

    qcow2_st32(buf + QCOW2_HDR_MAGIC, QCOW_MAGIC);
    qcow2_st32(buf + QCOW2_HDR_VERSION, s->qcow_version);
    qcow2_st32(buf + QCOW2_HDR_CLUSTER_BITS, s->cluster_bits);
    qcow2_st64(buf + QCOW2_HDR_SIZE, s->size);
    qcow2_st32(buf + QCOW2_HDR_CRYPT_METHOD, s->crypt_method_header);
    qcow2_st32(buf + QCOW2_HDR_L1_SIZE, s->l1_size);
    qcow2_st64(buf + QCOW2_HDR_L1_OFFSET, s->l1_table_offset);
    qcow2_st64(buf + QCOW2_HDR_REFTABLE_OFFSET, s->refcount_table_offset);
    qcow2_st32(buf + QCOW2_HDR_REFTABLE_CLUSTERS,
               ((uint64_t)s->refcount_table_size * 8) >> s->cluster_bits);
    qcow2_st32(buf + QCOW2_HDR_NB_SNAPSHOTS, s->nb_snapshots);
    qcow2_st64(buf + QCOW2_HDR_SNAPSHOTS_OFFSET, s->snapshots_offset);
    if (v3) {
        qcow2_st64(buf + QCOW2_HDR_INCOMPAT, s->incompatible_features);
        qcow2_st64(buf + QCOW2_HDR_COMPAT, s->compatible_features);
        qcow2_st64(buf + QCOW2_HDR_AUTOCLEAR, s->autoclear_features);
        qcow2_st32(buf + QCOW2_HDR_REFCOUNT_ORDER, s->refcount_order);
        qcow2_st32(buf + QCOW2_HDR_HEADER_LENGTH, QCOW2_HDR_V3_LENGTH);
        buf[QCOW2_HDR_COMPRESSION_TYPE] = s->compression_type;
    }

    if (s->image_backing_format &&
        !qcow2_put_header_ext(buf, size, &pos, QCOW2_EXT_MAGIC_BACKING_FORMAT,
                              s->image_backing_format,
                              strlen(s->image_backing_format))) {
        return -ENOSPC;
    }
    if (s->image_data_file &&
        !qcow2_put_header_ext(buf, size, &pos, QCOW2_EXT_MAGIC_DATA_FILE,
                              s->image_data_file, strlen(s->image_data_file))) {
        return -ENOSPC;
    }
    /* As at creation: no feature names in small header clusters */
    if (v3 && size > 4096) {
        size_t len = qcow2_nb_known_features * QCOW2_FEATURE_ENTRY_LEN;
        g_autofree uint8_t *table = g_malloc0(len);
        size_t i;

        for (i = 0; i < qcow2_nb_known_features; i++) {
            uint8_t *e = table + i * QCOW2_FEATURE_ENTRY_LEN;

            e[0] = qcow2_known_features[i].type;
            e[1] = qcow2_known_features[i].bit;
            memcpy(e + 2, qcow2_known_features[i].name,
                   strlen(qcow2_known_features[i].name));
        }
        if (!qcow2_put_header_ext(buf, size, &pos,
                                  QCOW2_EXT_MAGIC_FEATURE_TABLE,
                                  table, len)) {
            return -ENOSPC;
        }
    }
    if ((s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS) && s->nb_bitmaps) {
        uint8_t bm[QCOW2_BITMAPS_EXT_SIZE] = { 0 };

        qcow2_st32(bm, s->nb_bitmaps);
        qcow2_st64(bm + 8, s->bitmap_directory_size);
        qcow2_st64(bm + 16, s->bitmap_directory_offset);
        if (!qcow2_put_header_ext(buf, size, &pos, QCOW2_EXT_MAGIC_BITMAPS, bm,
                                  sizeof(bm))) {
            return -ENOSPC;
        }
    }
    QLIST_FOREACH(ext, &s->unknown_header_ext, next) {
        if (!qcow2_put_header_ext(buf, size, &pos, ext->magic, ext->data,
                                  ext->len)) {
            return -ENOSPC;
        }
    }
    if (!qcow2_put_header_ext(buf, size, &pos, QCOW2_EXT_MAGIC_END, NULL, 0)) {
        return -ENOSPC;
    }
    if (s->image_backing_file) {
        size_t len = strlen(s->image_backing_file);

        if (len > size - pos) {
            return -ENOSPC;
        }
        memcpy(buf + pos, s->image_backing_file, len);
        qcow2_st64(buf + QCOW2_HDR_BACKING_OFFSET, pos);
        qcow2_st32(buf + QCOW2_HDR_BACKING_SIZE, len);
    }

    return bdrv_co_pwrite_sync(bs->file, 0, size, buf, 0);
}

/* Write the header from the state, with QEMU's message on failure */
static int coroutine_fn amend_update_header(BlockDriverState *bs,
                                            Error **errp)
{
    int ret = amend_write_header(bs);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image header");
    } else if (((BDRVQcow2State *)bs->opaque)->qcow_version >= 3) {
        ((BDRVQcow2State *)bs->opaque)->header_length = QCOW2_HDR_V3_LENGTH;
    }
    return ret;
}

/* Zero clusters into data clusters (for v2) */

/*
 * Expand the zero clusters of the L2 tables that @l1 (@l1_size entries)
 * points to.  Without a backing file a plain zero cluster just becomes
 * unallocated; otherwise it gets a newly allocated cluster of zeroes, and
 * a preallocated zero cluster has its data zeroed: QEMU's result.  New
 * clusters are counted and zeroed before the L2 table refers to them.
 */
static int coroutine_fn expand_zero_in_l1(BlockDriverState *bs,
                                          const uint64_t *l1, int l1_size,
                                          int64_t *visited, int64_t total,
                                          AmendProgress *p)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *l2 = g_malloc(s->cluster_size);
    g_autofree uint8_t *zeroes = g_malloc0(s->cluster_size);
    int i, j, ret;

    for (i = 0; i < l1_size; i++) {
        uint64_t l2_offset = l1[i] & L1E_OFFSET_MASK;
        uint64_t l2_refcount;
        bool dirty = false;

        if (!l2_offset) {
            goto next;
        }
        if (offset_into_cluster(s, l2_offset)) {
            qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#"
                                    PRIx64 " unaligned (L1 index: %#x)",
                                    l2_offset, i);
            return -EIO;
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits,
                                 &l2_refcount);
        if (ret < 0) {
            return ret;
        }
        ret = bdrv_co_pread(bs->file, l2_offset, s->cluster_size, l2, 0);
        if (ret < 0) {
            return ret;
        }

        for (j = 0; j < s->l2_size; j++) {
            uint64_t entry = GUINT64_FROM_BE(l2[j]);
            QCow2ClusterType type = qcow2_get_cluster_type(s, entry);
            int64_t offset = entry & L2E_OFFSET_MASK;

            if (type != QCOW2_CLUSTER_ZERO_PLAIN &&
                type != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            if (type == QCOW2_CLUSTER_ZERO_PLAIN) {
                if (!bs->backing) {
                    l2[j] = 0;
                    dirty = true;
                    continue;
                }
                offset = qcow2_alloc_clusters(bs, s->cluster_size);
                if (offset < 0) {
                    return offset;
                }
                if (l2_refcount > 1) {
                    ret = qcow2_update_cluster_refcount(
                        bs, offset >> s->cluster_bits, l2_refcount - 1,
                        false, QCOW2_DISCARD_OTHER);
                    if (ret < 0) {
                        qcow2_free_clusters(bs, offset, s->cluster_size,
                                            QCOW2_DISCARD_OTHER);
                        return ret;
                    }
                }
            }
            ret = qcow2_pre_write_overlap_check(bs, 0, offset,
                                                s->cluster_size);
            /*
             * A preallocated cluster gets its zeroes as data (QEMU's file
             * keeps it allocated); a new one, mostly past the end of the
             * file, a write-zeroes request (it may stay a hole, as in
             * QEMU's file)
             */
            if (ret >= 0 && type == QCOW2_CLUSTER_ZERO_ALLOC) {
                ret = bdrv_co_pwrite(bs->file, offset, s->cluster_size,
                                     zeroes, 0);
            } else if (ret >= 0) {
                ret = bdrv_co_pwrite_zeroes(bs->file, offset,
                                            s->cluster_size, 0);
            }
            if (ret < 0) {
                if (type == QCOW2_CLUSTER_ZERO_PLAIN) {
                    qcow2_free_clusters(bs, offset, s->cluster_size,
                                        QCOW2_DISCARD_OTHER);
                }
                return ret;
            }
            l2[j] = GUINT64_TO_BE(l2_refcount == 1 ?
                                  (uint64_t)offset | QCOW_OFLAG_COPIED :
                                  (uint64_t)offset);
            dirty = true;
        }

        if (dirty) {
            /* The new clusters' refcounts go to disk before the table */
            ret = qcow2_cache_flush(bs, s->refcount_block_cache);
            if (ret >= 0) {
                ret = qcow2_pre_write_overlap_check(
                    bs, QCOW2_OL_ACTIVE_L2 | QCOW2_OL_INACTIVE_L2,
                    l2_offset, s->cluster_size);
            }
            if (ret >= 0) {
                ret = bdrv_co_pwrite(bs->file, l2_offset, s->cluster_size,
                                     l2, 0);
            }
            if (ret < 0) {
                return ret;
            }
        }
next:
        (*visited)++;
        amend_progress(bs, p, *visited, total);
    }
    return 0;
}

static int coroutine_fn expand_zero_clusters(BlockDriverState *bs,
                                             AmendProgress *p)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t total = s->l1_size, visited = 0;
    int i, ret;

    for (i = 0; i < s->nb_snapshots; i++) {
        total += s->snapshots[i].l1_size;
    }

    ret = qcow2_co_empty_caches(bs);
    if (ret < 0) {
        return ret;
    }
    ret = expand_zero_in_l1(bs, s->l1_table, s->l1_size, &visited, total, p);
    if (ret < 0) {
        return ret;
    }
    for (i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];
        g_autofree uint64_t *l1 = NULL;
        uint32_t k;

        if (!sn->l1_size) {
            continue;
        }
        l1 = g_try_new(uint64_t, sn->l1_size);
        if (!l1) {
            return -ENOMEM;
        }
        ret = bdrv_co_pread(bs->file, sn->l1_table_offset,
                            (int64_t)sn->l1_size * 8, l1, 0);
        if (ret < 0) {
            return ret;
        }
        for (k = 0; k < sn->l1_size; k++) {
            l1[k] = GUINT64_FROM_BE(l1[k]);
        }
        ret = expand_zero_in_l1(bs, l1, sn->l1_size, &visited, total, p);
        if (ret < 0) {
            return ret;
        }
    }
    return qcow2_cache_flush(bs, s->refcount_block_cache);
}

/* compat */

/* Whether the active image has a compressed cluster: 1, 0 or -errno */
static int coroutine_fn has_compressed_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *l2 = g_malloc(s->cluster_size);
    int i, j, ret;

    for (i = 0; i < s->l1_size; i++) {
        uint64_t l2_offset = s->l1_table[i] & L1E_OFFSET_MASK;

        if (!l2_offset) {
            continue;
        }
        ret = bdrv_co_pread(bs->file, l2_offset, s->cluster_size, l2, 0);
        if (ret < 0) {
            return ret;
        }
        for (j = 0; j < s->l2_size; j++) {
            if (GUINT64_FROM_BE(l2[j]) & QCOW_OFLAG_COMPRESSED) {
                return 1;
            }
        }
    }
    return 0;
}

static int coroutine_fn amend_downgrade(BlockDriverState *bs,
                                        AmendProgress *p, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t compat = s->compatible_features;
    uint64_t autoclear = s->autoclear_features;
    int i, ret;

    if (s->refcount_order != 4) {
        error_setg(errp, "compat=0.10 requires refcount_bits=16");
        return -ENOTSUP;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
        error_setg(errp, "Cannot downgrade an image with a data file");
        return -ENOTSUP;
    }
    /* v2 programs would not know what the v3 snapshot fields mean */
    for (i = 0; i < s->nb_snapshots; i++) {
        if (s->snapshots[i].vm_state_size > UINT32_MAX ||
            s->snapshots[i].disk_size != s->size) {
            error_setg(errp, "Internal snapshots prevent downgrade of image");
            return -ENOTSUP;
        }
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        ret = qcow2_co_write_out_metadata(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to make the image clean");
            return ret;
        }
    }
    if (s->incompatible_features & ~QCOW2_INCOMPAT_COMPRESSION) {
        error_setg(errp, "Cannot downgrade an image with incompatible "
                   "features 0x%" PRIx64 " set",
                   (uint64_t)(s->incompatible_features &
                              ~QCOW2_INCOMPAT_COMPRESSION));
        return -ENOTSUP;
    }

    /* Lazy refcounts are flushed by now; bitmaps and the rest can go */
    s->compatible_features = 0;
    s->autoclear_features = 0;

    ret = expand_zero_clusters(bs, p);
    if (ret < 0) {
        s->compatible_features = compat;
        s->autoclear_features = autoclear;
        error_setg_errno(errp, -ret, "Failed to turn zero into data clusters");
        return ret;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
        ret = has_compressed_clusters(bs);
        if (ret) {
            if (ret < 0) {
                error_setg(errp, "Failed to check block status");
                ret = -EINVAL;
            } else {
                error_setg(errp, "Cannot downgrade an image with zstd "
                           "compression type and existing compressed "
                           "clusters");
                ret = -ENOTSUP;
            }
            s->compatible_features = compat;
            s->autoclear_features = autoclear;
            return ret;
        }
        /* Nothing is compressed yet: v2 knows only zlib */
        s->incompatible_features &= ~QCOW2_INCOMPAT_COMPRESSION;
        s->compression_type = QCOW2_COMPRESSION_TYPE_ZLIB;
    }

    s->qcow_version = 2;
    ret = amend_update_header(bs, errp);
    if (ret < 0) {
        s->qcow_version = 3;
        s->compatible_features = compat;
        s->autoclear_features = autoclear;
        return ret;
    }
    s->use_lazy_refcounts = false;
    return 0;
}

static int coroutine_fn amend_upgrade(BlockDriverState *bs,
                                      AmendProgress *p, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int i, ret;

    amend_progress(bs, p, 0, 2);
    /* v3 needs the 64-bit VM state size and the disk size in each entry */
    for (i = 0; i < s->nb_snapshots; i++) {
        if (s->snapshots[i].extra_data_size < 16) {
            error_setg(errp, "Failed to update the snapshot table: "
                       "Operation not supported");
            return -ENOTSUP;
        }
    }
    amend_progress(bs, p, 1, 2);

    s->qcow_version = 3;
    ret = amend_update_header(bs, errp);
    if (ret < 0) {
        s->qcow_version = 2;
        return ret;
    }
    amend_progress(bs, p, 2, 2);
    return 0;
}

/* Refcount width */

/*
 * The new refcount structure is built by walking the old one: every
 * old refcount block (or hole in the table) is read entry by entry and
 * the values are packed into new refcount blocks of the new width.  The
 * first walks only allocate the new blocks (and then the new table) as
 * ordinary clusters, counted by the old structure; as those allocations
 * change refcounts, walks repeat until one allocates nothing.  A last
 * walk writes the blocks, then the table is written and the header
 * switched; the old structure is freed after that, in the new one.
 * This is QEMU's algorithm, so the result is laid out as QEMU's is, and
 * an interruption before the switch leaves only leaked clusters.
 */
typedef struct RefcountWalk {
    int order;
    int block_size;             /* entries in a new refcount block */
    uint64_t *table;            /* the new table, host endian */
    uint64_t table_size;        /* its entries */
    uint64_t index;             /* the new block being filled */
    void *block;                /* its data, or NULL while allocating */
    bool allocated;             /* a walk allocated a cluster */
} RefcountWalk;

/*
 * The new block w->index is complete (@empty: all its refcounts are 0):
 * allocate it (w->block NULL) or write it.
 */
static int coroutine_fn walk_finish_block(BlockDriverState *bs,
                                          RefcountWalk *w, bool empty,
                                          Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t offset;
    int ret;

    if (!w->block) {
        if (empty) {
            return 0;
        }
        if (w->index >= w->table_size) {
            uint64_t n = ROUND_UP(w->index + 1, s->cluster_size / 8);

            if (n > QCOW_MAX_REFTABLE_SIZE / 8) {
                error_setg(errp, "This operation would make the refcount "
                           "table grow beyond the maximum size supported "
                           "by QEMU, aborting");
                return -ENOTSUP;
            }
            w->table = g_renew(uint64_t, w->table, n);
            memset(w->table + w->table_size, 0,
                   (n - w->table_size) * sizeof(uint64_t));
            w->table_size = n;
        }
        if (!w->table[w->index]) {
            offset = qcow2_alloc_clusters(bs, s->cluster_size);
            if (offset < 0) {
                error_setg_errno(errp, -offset,
                                 "Failed to allocate refblock");
                return offset;
            }
            w->table[w->index] = offset;
            w->allocated = true;
        }
        return 0;
    }

    if (w->index >= w->table_size || !w->table[w->index]) {
        /* Only empty blocks go without a cluster */
        return 0;
    }
    offset = w->table[w->index];
    ret = qcow2_pre_write_overlap_check(bs, 0, offset, s->cluster_size);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Overlap check failed");
        return ret;
    }
    ret = bdrv_co_pwrite(bs->file, offset, s->cluster_size, w->block, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to write refblock");
        return ret;
    }
    return 0;
}

/* Walk number @walk of @walks over the old structure */
static int coroutine_fn walk_refcounts(BlockDriverState *bs, RefcountWalk *w,
                                       int walk, int walks, AmendProgress *p,
                                       Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2SetRefcountFunc *set = qcow2_set_refcount_funcs[w->order];
    int new_bits = 1 << w->order;
    uint64_t t, total = (uint64_t)walks * s->refcount_table_size;
    int pos = 0, i, ret;
    bool empty = true;

    w->index = 0;
    for (t = 0; t < s->refcount_table_size; t++) {
        uint64_t offset = s->refcount_table[t] & REFT_OFFSET_MASK;
        void *old = NULL;

        amend_progress(bs, p, walk * s->refcount_table_size + t, total);
        if (offset) {
            if (offset_into_cluster(s, offset)) {
                qcow2_signal_corruption(bs, true, -1, -1, "Refblock offset %#"
                                        PRIx64 " unaligned (reftable index: "
                                        "%#" PRIx64 ")", offset, t);
                error_setg(errp, "Image is corrupt (unaligned refblock "
                           "offset)");
                return -EIO;
            }
            ret = qcow2_cache_get(bs, s->refcount_block_cache, offset, &old);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to retrieve refblock");
                return ret;
            }
        }
        for (i = 0; i < s->refcount_block_size; i++) {
            uint64_t refcount = old ? s->get_refcount(old, i) : 0;

            if (pos >= w->block_size) {
                ret = walk_finish_block(bs, w, empty, errp);
                if (ret < 0) {
                    if (old) {
                        qcow2_cache_put(s->refcount_block_cache, &old);
                    }
                    return ret;
                }
                w->index++;
                pos = 0;
                empty = true;
            }
            if (new_bits < 64 && refcount >> new_bits) {
                qcow2_cache_put(s->refcount_block_cache, &old);
                error_setg(errp, "Cannot decrease refcount entry width to "
                           "%i bits: Cluster at offset %#" PRIx64 " has a "
                           "refcount of %" PRIu64, new_bits,
                           ((t << s->refcount_block_bits) + i) <<
                           s->cluster_bits, refcount);
                return -EINVAL;
            }
            if (w->block) {
                set(w->block, pos, refcount);
            }
            pos++;
            empty = empty && !refcount;
        }
        if (old) {
            qcow2_cache_put(s->refcount_block_cache, &old);
        }
    }
    if (pos > 0) {
        if (w->block) {
            for (; pos < w->block_size; pos++) {
                set(w->block, pos, 0);
            }
        }
        ret = walk_finish_block(bs, w, empty, errp);
        if (ret < 0) {
            return ret;
        }
        w->index++;
    }
    amend_progress(bs, p, (walk + 1) * s->refcount_table_size, total);
    return 0;
}

static int coroutine_fn change_refcount_order(BlockDriverState *bs,
                                              int order, AmendProgress *p,
                                              Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    RefcountWalk w = {
        .order = order,
        .block_size = 1 << (s->cluster_bits - (order - 3)),
    };
    g_autofree uint8_t *block = NULL;
    uint64_t *old_table, old_size, old_offset, i;
    int64_t table_offset = 0, table_allocated = 0;
    int old_order, walk = 0;
    int ret;

    /* Allocate until a walk needs no further cluster */
    do {
        w.allocated = false;
        ret = walk_refcounts(bs, &w, walk, MAX(walk + 2, 3), p, errp);
        walk++;
        if (ret < 0) {
            goto out;
        }
        if (w.allocated) {
            if (table_offset) {
                qcow2_free_clusters(bs, table_offset, table_allocated * 8,
                                    QCOW2_DISCARD_NEVER);
            }
            table_offset = qcow2_alloc_clusters(bs, w.table_size * 8);
            if (table_offset < 0) {
                error_setg_errno(errp, -table_offset,
                                 "Failed to allocate the new reftable");
                ret = table_offset;
                table_offset = 0;
                goto out;
            }
            table_allocated = w.table_size;
        }
    } while (w.allocated);

    /* Write the blocks, then the table */
    block = g_malloc(s->cluster_size);
    w.block = block;
    ret = walk_refcounts(bs, &w, walk, walk + 1, p, errp);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, table_offset,
                                        w.table_size * 8);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Overlap check failed");
        goto out;
    }
    for (i = 0; i < w.table_size; i++) {
        w.table[i] = GUINT64_TO_BE(w.table[i]);
    }
    ret = bdrv_co_pwrite(bs->file, table_offset, w.table_size * 8, w.table,
                         0);
    for (i = 0; i < w.table_size; i++) {
        w.table[i] = GUINT64_FROM_BE(w.table[i]);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to write the new reftable");
        goto out;
    }
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush the refblock cache");
        goto out;
    }

    /* Switch */
    old_order = s->refcount_order;
    old_size = s->refcount_table_size;
    old_offset = s->refcount_table_offset;
    s->refcount_order = order;
    s->refcount_table_size = w.table_size;
    s->refcount_table_offset = table_offset;
    ret = amend_write_header(bs);
    if (ret < 0) {
        s->refcount_order = old_order;
        s->refcount_table_size = old_size;
        s->refcount_table_offset = old_offset;
        error_setg_errno(errp, -ret, "Failed to update the qcow2 header");
        goto out;
    }
    qcow2_cache_empty(s->refcount_block_cache);
    old_table = s->refcount_table;
    s->refcount_table = w.table;
    s->refcount_table_used = 0;
    for (i = 0; i < w.table_size; i++) {
        if (w.table[i]) {
            s->refcount_table_used = i + 1;
        }
    }
    s->refcount_bits = 1 << order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX
                                             : (1ULL << s->refcount_bits) - 1;
    s->refcount_block_bits = s->cluster_bits - (order - 3);
    s->refcount_block_size = 1 << s->refcount_block_bits;
    s->get_refcount = qcow2_get_refcount_funcs[order];
    s->set_refcount = qcow2_set_refcount_funcs[order];

    /* From here on, what is freed is the old structure */
    w.table = old_table;
    w.table_size = old_size;
    table_offset = old_offset;
    table_allocated = old_size;

out:
    if (w.table) {
        for (i = 0; i < w.table_size; i++) {
            uint64_t offset = w.table[i] & REFT_OFFSET_MASK;

            if (offset) {
                qcow2_free_clusters(bs, offset, s->cluster_size,
                                    QCOW2_DISCARD_OTHER);
            }
        }
        g_free(w.table);
        if (table_offset > 0) {
            qcow2_free_clusters(bs, table_offset, table_allocated * 8,
                                QCOW2_DISCARD_OTHER);
        }
    }
    return ret;
}

/* The hook */

int coroutine_fn qcow2_co_amend_options(BlockDriverState *bs, QemuOpts *opts,
                                        BlockDriverAmendStatusCB *status_cb,
                                        void *cb_opaque, bool force,
                                        Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int old_version = s->qcow_version, new_version = old_version;
    const char *backing_file = NULL, *backing_fmt = NULL;
    bool lazy_refcounts = s->use_lazy_refcounts;
    const char *data_file = NULL;
    bool data_file_raw = s->autoclear_features &
                         QCOW2_AUTOCLEAR_DATA_FILE_RAW;
    int refcount_bits = s->refcount_bits;
    uint64_t new_size = 0;
    QemuOptDesc *desc;
    AmendProgress p;
    int ret;

    /* The options in the order of the list, as QEMU checks them */
    for (desc = qcow2_amend_opts.desc; desc->name; desc++) {
        if (!qemu_opt_find(opts, desc->name)) {
            continue;
        }
        if (!strcmp(desc->name, BLOCK_OPT_COMPAT_LEVEL)) {
            const char *compat = qemu_opt_get(opts, desc->name);

            if (!compat) {
                /* keep */
            } else if (!strcmp(compat, "0.10") || !strcmp(compat, "v2")) {
                new_version = 2;
            } else if (!strcmp(compat, "1.1") || !strcmp(compat, "v3")) {
                new_version = 3;
            } else {
                error_setg(errp, "Unknown compatibility level %s", compat);
                return -EINVAL;
            }
        } else if (!strcmp(desc->name, BLOCK_OPT_SIZE)) {
            new_size = qemu_opt_get_size(opts, desc->name, 0);
        } else if (!strcmp(desc->name, BLOCK_OPT_BACKING_FILE)) {
            backing_file = qemu_opt_get(opts, desc->name);
        } else if (!strcmp(desc->name, BLOCK_OPT_BACKING_FMT)) {
            backing_fmt = qemu_opt_get(opts, desc->name);
        } else if (g_str_has_prefix(desc->name, "encrypt.")) {
            if (!s->crypt_method_header) {
                error_setg(errp, "Can't amend encryption options - "
                           "encryption not present");
                return -EINVAL;
            }
            if (s->crypt_method_header != QCOW_CRYPT_LUKS) {
                error_setg(errp, "Only LUKS encryption options can be "
                           "amended");
                return -ENOTSUP;
            }
            error_setg(errp, "Amending LUKS encryption options is not "
                       "supported");
            return -ENOTSUP;
        } else if (!strcmp(desc->name, BLOCK_OPT_LAZY_REFCOUNTS)) {
            lazy_refcounts = qemu_opt_get_bool(opts, desc->name,
                                               lazy_refcounts);
        } else if (!strcmp(desc->name, BLOCK_OPT_REFCOUNT_BITS)) {
            refcount_bits = qemu_opt_get_number(opts, desc->name,
                                                refcount_bits);
            if (refcount_bits <= 0 || refcount_bits > 64 ||
                !is_power_of_2(refcount_bits)) {
                error_setg(errp, "Refcount width must be a power of two "
                           "and may not exceed 64 bits");
                return -EINVAL;
            }
        } else if (!strcmp(desc->name, BLOCK_OPT_DATA_FILE)) {
            data_file = qemu_opt_get(opts, desc->name);
            if (data_file &&
                !(s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE)) {
                error_setg(errp, "data-file can only be set for images "
                           "that use an external data file");
                return -EINVAL;
            }
        } else if (!strcmp(desc->name, BLOCK_OPT_DATA_FILE_RAW)) {
            data_file_raw = qemu_opt_get_bool(opts, desc->name,
                                              data_file_raw);
            if (data_file_raw &&
                !(s->autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW)) {
                error_setg(errp, "data-file-raw cannot be set on existing "
                           "images");
                return -EINVAL;
            }
        }
    }

    p = (AmendProgress) {
        .cb = status_cb,
        .opaque = cb_opaque,
        .nb_steps = (new_version != old_version) +
                    (s->refcount_bits != refcount_bits),
    };

    if (new_version > old_version) {
        p.step = AMEND_STEP_UPGRADE;
        ret = amend_upgrade(bs, &p, errp);
        if (ret < 0) {
            return ret;
        }
    }

    if (s->refcount_bits != refcount_bits) {
        if (new_version < 3 && refcount_bits != 16) {
            error_setg(errp, "Refcount widths other than 16 bits require "
                       "compatibility level 1.1 or above (use compat=1.1 "
                       "or greater)");
            return -EINVAL;
        }
        p.step = AMEND_STEP_REFCOUNT_ORDER;
        ret = change_refcount_order(bs, __builtin_ctz(refcount_bits), &p, errp);
        if (ret < 0) {
            return ret;
        }
    }

    if (!data_file_raw) {
        s->autoclear_features &= ~QCOW2_AUTOCLEAR_DATA_FILE_RAW;
    }
    /* A new name for the data file takes effect at the next open */
    if (data_file) {
        g_free(s->image_data_file);
        s->image_data_file = *data_file ? g_strdup(data_file) : NULL;
    }
    ret = amend_update_header(bs, errp);
    if (ret < 0) {
        return ret;
    }

    if ((backing_file || backing_fmt) &&
        (g_strcmp0(backing_file, s->image_backing_file) ||
         g_strcmp0(backing_fmt, s->image_backing_format))) {
        error_setg(errp, "Cannot amend the backing file");
        error_append_hint(errp, "You can use 'qemu-img rebase' instead.\n");
        return -EINVAL;
    }

    if (s->use_lazy_refcounts != lazy_refcounts) {
        if (lazy_refcounts) {
            if (new_version < 3) {
                error_setg(errp, "Lazy refcounts only supported with "
                           "compatibility level 1.1 and above (use "
                           "compat=1.1 or greater)");
                return -EINVAL;
            }
            s->compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
            ret = amend_update_header(bs, errp);
            if (ret < 0) {
                s->compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
                return ret;
            }
            s->use_lazy_refcounts = true;
        } else {
            /* Refcounts must be exact before they stop being lazy */
            ret = qcow2_co_write_out_metadata(bs);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to make the image "
                                 "clean");
                return ret;
            }
            s->compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
            ret = amend_update_header(bs, errp);
            if (ret < 0) {
                s->compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
                return ret;
            }
            s->use_lazy_refcounts = false;
        }
    }

    if (new_size) {
        BlockBackend *blk = blk_new_with_bs(bs, errp);

        if (!blk) {
            return -EPERM;
        }
        /* Amend sets exactly the size asked for */
        ret = blk_co_truncate(blk, new_size, true, PREALLOC_MODE_OFF, 0,
                              errp);
        blk_unref(blk);
        if (ret < 0) {
            return ret;
        }
    }

    if (new_version < old_version) {
        p.step = AMEND_STEP_DOWNGRADE;
        ret = amend_downgrade(bs, &p, errp);
        if (ret < 0) {
            return ret;
        }
    }
    (void)force;
    return 0;
}
