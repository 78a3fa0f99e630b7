/*
 * qcow2 format driver: the size of a new image (qemu-img measure)
 *
 * A new image is laid out as create and convert lay it out: one header
 * cluster, the L2 tables for the whole virtual disk, the L1 table that
 * points at them, the refcount blocks and refcount table that count every
 * host cluster (themselves included), and the data clusters.  "Fully
 * allocated" is all of that with every guest cluster written; "required"
 * keeps all the metadata but only the data clusters that would be
 * written, which overestimates a little and never underestimates.
 *
 * Nothing here touches the image being made, and the only unit this one
 * relies on is the block layer's public API (length and block status of
 * the source), so it sits below the rest of the driver.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qemu/option.h"
#include "block/block_int.h"
#include "qcow2.h"

/* On-disk entry sizes (docs/interop/qcow2.txt) */
#define MEASURE_L1E_SIZE            8
#define MEASURE_L2E_SIZE_NORMAL     8
#define MEASURE_L2E_SIZE_EXTENDED   16
#define MEASURE_REFTABLE_ENTRY_SIZE 8
#define MEASURE_BMT_ENTRY_SIZE      8
/* Subclusters are 1/32 of a cluster and at least 512 bytes */
#define MEASURE_MIN_EXTL2_CLUSTER   (16 * KiB)

/* The creation options that decide the layout */
typedef struct Qcow2MeasureParams {
    uint64_t cluster_size;
    bool extended_l2;
    int version;
    int refcount_order;
    PreallocMode prealloc;
    bool has_backing_file;
    uint64_t size;              /* rounded up to whole clusters */
} Qcow2MeasureParams;

/*
 * Take the options out of @opts and check them.  The checks, their order
 * and their messages are those of QEMU's measure, which are not quite its
 * create's: compat accepts only "0.10" and "1.1", extended L2 entries are
 * measured although this driver cannot create them, and encryption other
 * than LUKS changes nothing.
 */
static bool qcow2_measure_parse_opts(QemuOpts *opts, Qcow2MeasureParams *p,
                                     Error **errp)
{
    g_autofree char *compat = NULL;
    g_autofree char *prealloc = NULL;
    g_autofree char *backing_file = NULL;
    g_autofree char *encrypt_fmt = NULL;
    uint64_t refcount_bits;
    uint64_t l2e_size, l2_tables;

    p->extended_l2 = qemu_opt_get_bool_del(opts, BLOCK_OPT_EXTL2, false);
    p->cluster_size = qemu_opt_get_size_del(opts, BLOCK_OPT_CLUSTER_SIZE,
                                            DEFAULT_CLUSTER_SIZE);
    if (!is_power_of_2(p->cluster_size) ||
        p->cluster_size < (1 << MIN_CLUSTER_BITS) ||
        p->cluster_size > (1 << MAX_CLUSTER_BITS)) {
        error_setg(errp, "Cluster size must be a power of two between %d and "
                   "%dk", 1 << MIN_CLUSTER_BITS, 1 << (MAX_CLUSTER_BITS - 10));
        return false;
    }
    if (p->extended_l2 && p->cluster_size < MEASURE_MIN_EXTL2_CLUSTER) {
        error_setg(errp, "Extended L2 entries are only supported with "
                   "cluster sizes of at least %u bytes",
                   (unsigned)MEASURE_MIN_EXTL2_CLUSTER);
        return false;
    }

    compat = qemu_opt_get_del(opts, BLOCK_OPT_COMPAT_LEVEL);
    if (!compat || !strcmp(compat, "1.1")) {
        p->version = 3;
    } else if (!strcmp(compat, "0.10")) {
        p->version = 2;
    } else {
        error_setg(errp, "Invalid compatibility level: '%s'", compat);
        return false;
    }

    refcount_bits = qemu_opt_get_number(opts, BLOCK_OPT_REFCOUNT_BITS, 16);
    qemu_opt_unset(opts, BLOCK_OPT_REFCOUNT_BITS);
    if (!is_power_of_2(refcount_bits) || refcount_bits > 64) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                   "exceed 64 bits");
        return false;
    }
    if (p->version < 3 && refcount_bits != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require "
                   "compatibility level 1.1 or above (use compat=1.1 or "
                   "greater)");
        return false;
    }
    p->refcount_order = ctz64(refcount_bits);

    p->prealloc = PREALLOC_MODE_OFF;
    prealloc = qemu_opt_get_del(opts, BLOCK_OPT_PREALLOC);
    if (prealloc) {
        int mode = prealloc_mode_from_str(prealloc);

        if (mode < 0) {
            error_setg(errp, "invalid parameter value: %s", prealloc);
            return false;
        }
        p->prealloc = mode;
    }

    backing_file = qemu_opt_get_del(opts, BLOCK_OPT_BACKING_FILE);
    p->has_backing_file = backing_file;

    /* A LUKS header would need the secret; there are no secrets here */
    encrypt_fmt = qemu_opt_get_del(opts, BLOCK_OPT_ENCRYPT_FORMAT);
    if (encrypt_fmt && !strcmp(encrypt_fmt, "luks")) {
        const char *secret = qemu_opt_get(opts, "encrypt.key-secret");

        if (!secret) {
            error_setg(errp, "Parameter 'encrypt.key-secret' is required "
                       "for cipher");
        } else {
            error_setg(errp, "No secret with id '%s'", secret);
        }
        return false;
    }

    p->size = ROUND_UP(qemu_opt_get_size_del(opts, BLOCK_OPT_SIZE, 0),
                       p->cluster_size);
    l2e_size = p->extended_l2 ? MEASURE_L2E_SIZE_EXTENDED
                              : MEASURE_L2E_SIZE_NORMAL;
    l2_tables = DIV_ROUND_UP(p->size / p->cluster_size,
                             p->cluster_size / l2e_size);
    if (l2_tables * MEASURE_L1E_SIZE > QCOW_MAX_L1_SIZE) {
        error_setg(errp, "The image size is too large (try using a larger "
                   "cluster size)");
        return false;
    }
    return true;
}

/*
 * Bytes of refcount blocks and refcount table needed to count @clusters
 * host clusters plus the refcount clusters themselves.  Adding refcount
 * clusters can need more refcount clusters, so iterate to the fixed
 * point; it is reached in a few rounds.
 */
static uint64_t qcow2_measure_refcount_size(uint64_t clusters,
                                            uint64_t cluster_size,
                                            int refcount_order)
{
    uint64_t per_block = cluster_size * 8 >> refcount_order;
    uint64_t per_table = cluster_size / MEASURE_REFTABLE_ENTRY_SIZE;
    uint64_t blocks = 0, table = 0, total = clusters, last;

    do {
        last = total;
        blocks = DIV_ROUND_UP(clusters + blocks + table, per_block);
        table = DIV_ROUND_UP(blocks, per_table);
        total = clusters + blocks + table;
    } while (total != last);
    return (blocks + table) * cluster_size;
}

/* File size of an image of @virtual_size with every cluster written */
static uint64_t qcow2_measure_full_size(const Qcow2MeasureParams *p,
                                        uint64_t virtual_size)
{
    uint64_t cs = p->cluster_size;
    uint64_t l2e_size = p->extended_l2 ? MEASURE_L2E_SIZE_EXTENDED
                                       : MEASURE_L2E_SIZE_NORMAL;
    uint64_t meta = cs;         /* the header cluster */
    uint64_t l2_entries, l1_entries;

    /* L2 tables are whole clusters, so are L1 tables */
    l2_entries = ROUND_UP(virtual_size / cs, cs / l2e_size);
    meta += l2_entries * l2e_size;
    l1_entries = ROUND_UP(l2_entries * l2e_size / cs,
                          cs / MEASURE_L1E_SIZE);
    meta += l1_entries * MEASURE_L1E_SIZE;

    meta += qcow2_measure_refcount_size((meta + virtual_size) / cs, cs,
                                        p->refcount_order);
    return meta + virtual_size;
}

/*
 * Bytes of data clusters a conversion of @in_bs (@len bytes) writes:
 * every cluster that holds data.  Zero areas are skipped, which is safe
 * without a backing file (there is nothing below to show through).
 */
static bool qcow2_measure_data_size(BlockDriverState *in_bs, int64_t len,
                                    uint64_t cluster_size, uint64_t *bytes,
                                    Error **errp)
{
    int64_t offset, pnum;
    int ret;

    *bytes = 0;
    for (offset = 0; offset < len; offset += pnum) {
        ret = bdrv_block_status_above(in_bs, NULL, offset, len - offset,
                                      &pnum, NULL, NULL);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Unable to get block status");
            return false;
        }
        if (ret & BDRV_BLOCK_ZERO) {
            continue;
        }
        if ((ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) ==
            (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) {
            /* Count up to the end of the cluster and continue from there */
            pnum = ROUND_UP(offset + pnum, cluster_size) - offset;
            *bytes += offset % cluster_size + pnum;
        }
    }
    return true;
}

/*
 * Whether @bs can keep persistent dirty bitmaps (a qcow2 v3 node), and
 * the room its bitmaps would take in an image of @cluster_size: each
 * bitmap's data clusters, assumed all allocated, its bitmap table, and
 * its entry in the bitmap directory.  A node is ours if it was opened
 * by this driver, which is the one whose measure hook this file is.
 */
static bool qcow2_measure_bitmaps(BlockDriverState *bs, int64_t len,
                                  uint64_t cluster_size, uint64_t *size)
{
    BDRVQcow2State *s;
    uint64_t dir_size = 0;
    uint32_t i;

    *size = 0;
    if (!bs->drv || bs->drv->bdrv_measure != qcow2_measure) {
        return false;
    }
    s = bs->opaque;
    if (s->qcow_version < 3) {
        return false;
    }
    for (i = 0; s->bitmaps && i < s->nb_bitmaps; i++) {
        const Qcow2BitmapInfo *bm = &s->bitmaps[i];
        uint64_t bits = DIV_ROUND_UP((uint64_t)len,
                                     1ULL << bm->granularity_bits);
        uint64_t clusters = DIV_ROUND_UP(DIV_ROUND_UP(bits, 8),
                                         cluster_size);

        *size += clusters * cluster_size;
        *size += ROUND_UP(clusters * MEASURE_BMT_ENTRY_SIZE, cluster_size);
        dir_size += ROUND_UP(QCOW2_BITMAP_DIR_ENTRY_SIZE + strlen(bm->name),
                             8);
    }
    *size += ROUND_UP(dir_size, cluster_size);
    return true;
}

BlockMeasureInfo *qcow2_measure(QemuOpts *opts, BlockDriverState *in_bs,
                                Error **errp)
{
    Qcow2MeasureParams p = { 0 };
    BlockMeasureInfo *info;
    uint64_t virtual_size, data = 0, bitmaps = 0;
    bool has_bitmaps = false;

    if (!qcow2_measure_parse_opts(opts, &p, errp)) {
        return NULL;
    }
    virtual_size = p.size;

    if (in_bs) {
        int64_t len = bdrv_getlength(in_bs);

        if (len < 0) {
            error_setg_errno(errp, -len, "Unable to get image virtual_size");
            return NULL;
        }
        virtual_size = ROUND_UP((uint64_t)len, p.cluster_size);
        if (p.has_backing_file) {
            /*
             * The new backing file may share nothing with @in_bs: assume
             * every cluster gets written.
             */
            data = virtual_size;
        } else if (!qcow2_measure_data_size(in_bs, len, p.cluster_size,
                                            &data, errp)) {
            return NULL;
        }
        /* Bitmaps are copied only into images that can hold them */
        has_bitmaps = qcow2_measure_bitmaps(in_bs, len, p.cluster_size,
                                            &bitmaps) && p.version >= 3;
    }

    /* Metadata preallocation is counted in both sizes anyway */
    if (p.prealloc == PREALLOC_MODE_FULL ||
        p.prealloc == PREALLOC_MODE_FALLOC) {
        data = virtual_size;
    }

    info = g_new0(BlockMeasureInfo, 1);
    info->fully_allocated = qcow2_measure_full_size(&p, virtual_size);
    info->required = info->fully_allocated - virtual_size + data;
    info->has_bitmaps = has_bitmaps;
    info->bitmaps = has_bitmaps ? bitmaps : 0;
    return info;
}
