/*
 * qcow2 format driver: open, header, I/O paths, create, check
 *
 * The image layout follows the qcow2 specification (docs/interop/qcow2.txt
 * in QEMU): a header cluster, a two-level table (L1, L2) mapping guest
 * clusters to host clusters, and a two-level refcount structure.  Images
 * written here are meant to be interchangeable with QEMU's.
 *
 * Concurrency: s->lock guards all metadata; it is dropped while guest data
 * is transferred.  Writes that allocate register the guest clusters they
 * allocate as in flight until the L2 entries are linked, and other writes
 * to those clusters wait (qcow2_wait_inflight()).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <zlib.h>
#ifdef CONFIG_ZSTD
#include <zstd.h>
#endif
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/option.h"
#include "sysemu/block-backend.h"
#include "block/qcow2.h"

/* Runtime options */
#define QCOW2_OPT_LAZY_REFCOUNTS        "lazy-refcounts"
#define QCOW2_OPT_DISCARD_REQUEST       "pass-discard-request"
#define QCOW2_OPT_DISCARD_SNAPSHOT      "pass-discard-snapshot"
#define QCOW2_OPT_DISCARD_OTHER         "pass-discard-other"
#define QCOW2_OPT_OVERLAP               "overlap-check"
#define QCOW2_OPT_OVERLAP_TEMPLATE      "overlap-check.template"
#define QCOW2_OPT_CACHE_SIZE            "cache-size"
#define QCOW2_OPT_L2_CACHE_SIZE         "l2-cache-size"
#define QCOW2_OPT_L2_CACHE_ENTRY_SIZE   "l2-cache-entry-size"
#define QCOW2_OPT_REFCOUNT_CACHE_SIZE   "refcount-cache-size"
#define QCOW2_OPT_CACHE_CLEAN_INTERVAL  "cache-clean-interval"

/* Default upper bound of the L2 cache, as QEMU on Linux */
#define DEFAULT_L2_CACHE_MAX_SIZE (32 * MiB)
#define MIN_L2_CACHE_TABLES 2
#define MIN_REFCOUNT_CACHE_TABLES 4
/* Seconds after which unused cache entries are dropped, as QEMU on Linux */
#define DEFAULT_CACHE_CLEAN_INTERVAL 600

static QemuOptsList qcow2_runtime_opts = {
    .name = "qcow2",
    .head = QTAILQ_HEAD_INITIALIZER(qcow2_runtime_opts.head),
    .desc = {
        {
            .name = QCOW2_OPT_LAZY_REFCOUNTS,
            .type = QEMU_OPT_BOOL,
            .help = "Postpone refcount updates",
        },
        {
            .name = QCOW2_OPT_DISCARD_REQUEST,
            .type = QEMU_OPT_BOOL,
            .help = "Pass guest discard requests to the layer below",
        },
        {
            .name = QCOW2_OPT_DISCARD_SNAPSHOT,
            .type = QEMU_OPT_BOOL,
            .help = "Generate discard requests when snapshot related space "
                    "is freed",
        },
        {
            .name = QCOW2_OPT_DISCARD_OTHER,
            .type = QEMU_OPT_BOOL,
            .help = "Generate discard requests when other clusters are "
                    "freed",
        },
        {
            .name = QCOW2_OPT_OVERLAP,
            .type = QEMU_OPT_STRING,
            .help = "Selects which overlap checks to perform",
        },
        {
            .name = QCOW2_OPT_OVERLAP_TEMPLATE,
            .type = QEMU_OPT_STRING,
            .help = "Selects which overlap checks to perform from a range "
                    "of templates (none, constant, cached, all)",
        },
        { .name = "overlap-check.main-header", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.active-l1", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.active-l2", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.refcount-table", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.refcount-block", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.snapshot-table", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.inactive-l1", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.inactive-l2", .type = QEMU_OPT_BOOL },
        { .name = "overlap-check.bitmap-directory", .type = QEMU_OPT_BOOL },
        {
            .name = QCOW2_OPT_CACHE_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Maximum combined metadata (L2 tables and refcount "
                    "blocks) cache size",
        },
        {
            .name = QCOW2_OPT_L2_CACHE_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Maximum L2 table cache size",
        },
        {
            .name = QCOW2_OPT_L2_CACHE_ENTRY_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Size of each entry in the L2 cache",
        },
        {
            .name = QCOW2_OPT_REFCOUNT_CACHE_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Maximum refcount block cache size",
        },
        {
            .name = QCOW2_OPT_CACHE_CLEAN_INTERVAL,
            .type = QEMU_OPT_NUMBER,
            .help = "Clean unused cache entries after this time (in "
                    "seconds)",
        },
        { /* end of list */ }
    },
};

/* The feature name table we write, and use for unnamed bits */
const Qcow2Feature qcow2_known_features[] = {
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_DIRTY_BITNR,
      "dirty bit" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_CORRUPT_BITNR,
      "corrupt bit" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_DATA_FILE_BITNR,
      "external data file" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_COMPRESSION_BITNR,
      "compression type" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_EXTL2_BITNR,
      "extended L2 entries" },
    { QCOW2_FEAT_TYPE_COMPATIBLE, QCOW2_COMPAT_LAZY_REFCOUNTS_BITNR,
      "lazy refcounts" },
    { QCOW2_FEAT_TYPE_AUTOCLEAR, QCOW2_AUTOCLEAR_BITMAPS_BITNR,
      "bitmaps" },
    { QCOW2_FEAT_TYPE_AUTOCLEAR, QCOW2_AUTOCLEAR_DATA_FILE_RAW_BITNR,
      "raw external data" },
};
const size_t qcow2_nb_known_features = ARRAY_SIZE(qcow2_known_features);

static int qcow2_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    if (buf_size >= 8 && qcow2_ld32(buf) == QCOW_MAGIC &&
        qcow2_ld32(buf + 4) >= 2) {
        return 100;
    }
    return 0;
}

/* Header flags that need the caches */

/* Write all caches to the OS (L2 after the refcounts it depends on) */
static int coroutine_fn qcow2_write_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = qcow2_cache_write(bs, s->l2_table_cache);
    if (ret < 0) {
        return ret;
    }
    return qcow2_cache_write(bs, s->refcount_block_cache);
}

static int coroutine_fn qcow2_mark_clean(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    ret = qcow2_write_caches(bs);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_write_incompat(bs, s->incompatible_features &
                                   ~QCOW2_INCOMPAT_DIRTY);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    return 0;
}

static int coroutine_fn qcow2_mark_consistent(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        return 0;
    }
    ret = qcow2_write_caches(bs);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_write_incompat(bs, s->incompatible_features &
                                   ~QCOW2_INCOMPAT_CORRUPT);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features &= ~QCOW2_INCOMPAT_CORRUPT;
    return 0;
}

/* Header extensions */

static void report_unsupported_feature(BDRVQcow2State *s, Error **errp,
                                       uint64_t mask)
{
    g_autoptr(GString) features = g_string_new("");
    int i;

    for (i = 0; i < s->nb_features && mask; i++) {
        Qcow2Feature *f = &s->feature_table[i];

        if (f->type == QCOW2_FEAT_TYPE_INCOMPATIBLE && f->bit < 64 &&
            (mask & (1ULL << f->bit))) {
            if (features->len) {
                g_string_append(features, ", ");
            }
            g_string_append(features, f->name);
            mask &= ~(1ULL << f->bit);
        }
    }
    if (mask) {
        if (features->len) {
            g_string_append(features, ", ");
        }
        g_string_append_printf(features,
                               "Unknown incompatible feature: %" PRIx64,
                               mask);
    }
    error_setg(errp, "Unsupported qcow2 feature(s): %s", features->str);
}

static void free_unknown_extensions(BDRVQcow2State *s)
{
    Qcow2UnknownHeaderExtension *ext, *next;

    QLIST_FOREACH_SAFE(ext, &s->unknown_header_ext, next, next) {
        QLIST_REMOVE(ext, next);
        g_free(ext);
    }
}

/*
 * Parse the header extensions in [start, end) of the header cluster
 * @hdr.  Feature names and the backing format are recorded; unknown
 * extensions are kept.
 */
static int qcow2_read_extensions(BlockDriverState *bs, const uint8_t *hdr,
                                 uint64_t start, uint64_t end,
                                 bool *have_crypto_header, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset = start;

    while (offset < end) {
        uint32_t magic, len;

        if (offset > end - 8) {
            error_setg(errp, "qcow2_read_extension: ERROR: "
                       "pos > end");
            return -EINVAL;
        }
        magic = qcow2_ld32(hdr + offset);
        len = qcow2_ld32(hdr + offset + 4);
        offset += 8;
        if (len > end - offset) {
            error_setg(errp, "Header extension too large");
            return -EINVAL;
        }

        switch (magic) {
        case QCOW2_EXT_MAGIC_END:
            return 0;

        case QCOW2_EXT_MAGIC_BACKING_FORMAT:
            if (len >= sizeof(bs->backing_format)) {
                error_setg(errp, "ERROR: ext_backing_format: len=%" PRIu32
                           " too large (>=%zu)", len,
                           sizeof(bs->backing_format));
                return -EINVAL;
            }
            memcpy(bs->backing_format, hdr + offset, len);
            bs->backing_format[len] = '\0';
            g_free(s->image_backing_format);
            s->image_backing_format = g_strdup(bs->backing_format);
            break;

        case QCOW2_EXT_MAGIC_FEATURE_TABLE: {
            int n = len / QCOW2_FEATURE_ENTRY_LEN, i;

            g_free(s->feature_table);
            s->feature_table = g_new0(Qcow2Feature, n);
            s->nb_features = n;
            for (i = 0; i < n; i++) {
                const uint8_t *e = hdr + offset + i * QCOW2_FEATURE_ENTRY_LEN;

                s->feature_table[i].type = e[0];
                s->feature_table[i].bit = e[1];
                memcpy(s->feature_table[i].name, e + 2,
                       QCOW2_FEATURE_NAME_LEN);
            }
            break;
        }

        case QCOW2_EXT_MAGIC_CRYPTO_HEADER:
            *have_crypto_header = true;
            break;

        case QCOW2_EXT_MAGIC_DATA_FILE:
            g_free(s->image_data_file);
            s->image_data_file = g_strndup((const char *)hdr + offset, len);
            break;

        case QCOW2_EXT_MAGIC_BITMAPS: {
            const uint8_t *b = hdr + offset;
            uint32_t nb;
            uint64_t dir_size, dir_offset;

            if (len != QCOW2_BITMAPS_EXT_SIZE) {
                error_setg(errp, "bitmaps_ext: Invalid extension length");
                return -EINVAL;
            }
            if (!(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
                /* Some writer without bitmap support dropped the bit */
                if (s->qcow_version < 3) {
                    warn_report("This qcow2 v2 image contains bitmaps, but "
                                "they may have been modified by a program "
                                "without persistent bitmap support; so now "
                                "they must all be considered inconsistent");
                } else {
                    warn_report("a program lacking bitmap support modified "
                                "this file, so all bitmaps are now "
                                "considered inconsistent");
                }
                error_printf("Some clusters may be leaked, run 'qemu-img "
                             "check -r' on the image file to fix.");
                break;
            }
            nb = qcow2_ld32(b);
            dir_size = qcow2_ld64(b + 8);
            dir_offset = qcow2_ld64(b + 16);
            if (qcow2_ld32(b + 4) != 0) {
                error_setg(errp, "bitmaps_ext: Reserved field is not zero");
                return -EINVAL;
            }
            if (nb > QCOW2_MAX_BITMAPS) {
                error_setg(errp, "bitmaps_ext: Image has %" PRIu32 " bitmaps, "
                           "exceeding the QEMU supported maximum of %d",
                           nb, QCOW2_MAX_BITMAPS);
                return -EINVAL;
            }
            if (nb == 0) {
                error_setg(errp, "found bitmaps extension with zero bitmaps");
                return -EINVAL;
            }
            if (offset_into_cluster(s, dir_offset)) {
                error_setg(errp, "bitmaps_ext: invalid bitmap directory "
                           "offset");
                return -EINVAL;
            }
            if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
                error_setg(errp, "bitmaps_ext: bitmap directory size (%"
                           PRIu64 ") exceeds the maximum supported size (%d)",
                           dir_size, QCOW2_MAX_BITMAP_DIRECTORY_SIZE);
                return -EINVAL;
            }
            s->nb_bitmaps = nb;
            s->bitmap_directory_size = dir_size;
            s->bitmap_directory_offset = dir_offset;
            break;
        }

        default: {
            Qcow2UnknownHeaderExtension *ext =
                g_malloc0(sizeof(*ext) + len);

            ext->magic = magic;
            ext->len = len;
            memcpy(ext->data, hdr + offset, len);
            QLIST_INSERT_HEAD(&s->unknown_header_ext, ext, next);
            break;
        }
        }
        offset += ROUND_UP(len, 8);
    }
    return 0;
}

/* Open and close */

static bool validate_table_offset(BDRVQcow2State *s, uint64_t offset,
                                  uint64_t entries, size_t entry_len)
{
    uint64_t size;

    if (entries > INT64_MAX / entry_len) {
        return false;
    }
    size = entries * entry_len;
    if (INT64_MAX - size < offset) {
        return false;
    }
    return !offset_into_cluster(s, offset);
}

/*
 * Runtime options, read and validated once by qcow2_read_options() and
 * applied by qcow2_apply_options(): open and reopen share both.  Reading
 * looks at the image geometry (for cache defaults) but changes nothing.
 */
typedef struct Qcow2Options {
    int l2_cache_tables;
    int refcount_cache_tables;
    bool use_lazy_refcounts;
    bool discard_passthrough[QCOW2_DISCARD_MAX];
    unsigned int cache_clean_interval;      /* seconds, 0: never */
    int overlap_check;                      /* QCow2MetadataOverlap bits */
} Qcow2Options;

/* overlap-check: a template, then per-kind booleans that override it */
static bool qcow2_read_overlap_options(QemuOpts *opts, int *overlap_check,
                                       Error **errp)
{
    static const struct {
        const char *name;
        int bits;
    } templates[] = {
        { "none", 0 },
        { "constant", QCOW2_OL_CONSTANT },
        { "cached", QCOW2_OL_CACHED },
        { "all", QCOW2_OL_ALL },
    };
    /* By QCow2MetadataOverlap bit */
    static const char *const kinds[QCOW2_OL_MAX_BITNR] = {
        "main-header", "active-l1", "active-l2", "refcount-table",
        "refcount-block", "snapshot-table", "inactive-l1", "inactive-l2",
        "bitmap-directory",
    };
    const char *tmpl = qemu_opt_get(opts, QCOW2_OPT_OVERLAP);
    const char *tmpl2 = qemu_opt_get(opts, QCOW2_OPT_OVERLAP_TEMPLATE);
    size_t i;
    int bits = -1;

    if (tmpl && tmpl2 && strcmp(tmpl, tmpl2)) {
        error_setg(errp, "Conflicting values for qcow2 options '"
                   QCOW2_OPT_OVERLAP "' ('%s') and '"
                   QCOW2_OPT_OVERLAP_TEMPLATE "' ('%s')", tmpl, tmpl2);
        return false;
    }
    tmpl = tmpl ? tmpl : tmpl2 ? tmpl2 : "cached";
    for (i = 0; i < ARRAY_SIZE(templates); i++) {
        if (!strcmp(tmpl, templates[i].name)) {
            bits = templates[i].bits;
        }
    }
    if (bits < 0) {
        error_setg(errp, "Unsupported value '%s' for qcow2 option "
                   "'overlap-check'. Allowed are any of the following: "
                   "none, constant, cached, all", tmpl);
        return false;
    }
    for (i = 0; i < ARRAY_SIZE(kinds); i++) {
        g_autofree char *key = g_strdup_printf(QCOW2_OPT_OVERLAP ".%s",
                                               kinds[i]);

        if (qemu_opt_get_bool(opts, key, bits & (1 << i))) {
            bits |= 1 << i;
        } else {
            bits &= ~(1 << i);
        }
    }
    *overlap_check = bits;
    return true;
}

/*
 * Cache sizes: cache-size is shared out between the two caches unless
 * both are given; an L2 cache larger than the whole image needs is
 * capped.  Sizes are in bytes, converted to whole tables (clusters).
 */
static bool qcow2_read_cache_sizes(BDRVQcow2State *s, QemuOpts *opts,
                                   Qcow2Options *o, Error **errp)
{
    uint64_t combined, l2, rc, max_l2, min_rc, entry_size;
    bool l2_set, rc_set, combined_set;

    combined_set = qemu_opt_find(opts, QCOW2_OPT_CACHE_SIZE);
    l2_set = qemu_opt_find(opts, QCOW2_OPT_L2_CACHE_SIZE);
    rc_set = qemu_opt_find(opts, QCOW2_OPT_REFCOUNT_CACHE_SIZE);
    combined = qemu_opt_get_size(opts, QCOW2_OPT_CACHE_SIZE, 0);
    l2 = qemu_opt_get_size(opts, QCOW2_OPT_L2_CACHE_SIZE, 0);
    rc = qemu_opt_get_size(opts, QCOW2_OPT_REFCOUNT_CACHE_SIZE, 0);
    entry_size = qemu_opt_get_size(opts, QCOW2_OPT_L2_CACHE_ENTRY_SIZE,
                                   s->cluster_size);
    /* Enough L2 cache for the whole image */
    max_l2 = DIV_ROUND_UP(s->size, (uint64_t)s->cluster_size / 8);
    max_l2 = ROUND_UP(max_l2, s->cluster_size);
    min_rc = MIN_REFCOUNT_CACHE_TABLES * (uint64_t)s->cluster_size;

    if (combined_set) {
        if (l2_set && rc_set) {
            error_setg(errp, QCOW2_OPT_CACHE_SIZE ", " QCOW2_OPT_L2_CACHE_SIZE
                       " and " QCOW2_OPT_REFCOUNT_CACHE_SIZE " may not be "
                       "set at the same time");
            return false;
        } else if (l2_set && l2 > combined) {
            error_setg(errp, QCOW2_OPT_L2_CACHE_SIZE " may not exceed "
                       QCOW2_OPT_CACHE_SIZE);
            return false;
        } else if (rc_set && rc > combined) {
            error_setg(errp, QCOW2_OPT_REFCOUNT_CACHE_SIZE " may not exceed "
                       QCOW2_OPT_CACHE_SIZE);
            return false;
        }
    }
    if (l2_set) {
        l2 = MIN(l2, max_l2);
    }
    if (combined_set) {
        if (l2_set) {
            rc = combined - l2;
        } else if (rc_set) {
            l2 = combined - rc;
        } else if (combined >= max_l2 + min_rc) {
            l2 = max_l2;
            rc = combined - l2;
        } else {
            rc = MIN(combined, min_rc);
            l2 = combined - rc;
        }
    } else {
        if (!l2_set) {
            l2 = MIN(max_l2, DEFAULT_L2_CACHE_MAX_SIZE);
        }
        if (!rc_set) {
            rc = min_rc;
        }
    }

    /* Accepted as QEMU does; our L2 cache entries are whole tables */
    if (entry_size < (1 << MIN_CLUSTER_BITS) ||
        entry_size > (uint64_t)s->cluster_size ||
        !is_power_of_2(entry_size)) {
        error_setg(errp, "L2 cache entry size must be a power of two "
                   "between %d and the cluster size (%d)",
                   1 << MIN_CLUSTER_BITS, s->cluster_size);
        return false;
    }
    l2 /= s->cluster_size;
    rc /= s->cluster_size;
    if (l2 > INT_MAX) {
        error_setg(errp, "L2 cache size too big");
        return false;
    }
    if (rc > INT_MAX) {
        error_setg(errp, "Refcount cache size too big");
        return false;
    }
    o->l2_cache_tables = MAX(l2, MIN_L2_CACHE_TABLES);
    o->refcount_cache_tables = MAX(rc, MIN_REFCOUNT_CACHE_TABLES);
    return true;
}

/*
 * Read @options (consuming what qcow2 knows) into @o and validate them.
 * Options not given get their defaults, which depend on @flags and the
 * image header.
 */
static bool qcow2_read_options(BlockDriverState *bs, QDict *options,
                               int flags, Qcow2Options *o, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QemuOpts *opts;
    uint64_t interval;
    bool ok = false;

    opts = qemu_opts_create(&qcow2_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        goto out;
    }
    if (!qcow2_read_cache_sizes(s, opts, o, errp)) {
        goto out;
    }

    o->use_lazy_refcounts = qemu_opt_get_bool(
        opts, QCOW2_OPT_LAZY_REFCOUNTS,
        !!(s->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS));
    if (o->use_lazy_refcounts && s->qcow_version < 3) {
        error_setg(errp, "Lazy refcounts require a qcow2 image with at least "
                   "qemu 1.1 compatibility level");
        goto out;
    }

    o->discard_passthrough[QCOW2_DISCARD_NEVER] = false;
    o->discard_passthrough[QCOW2_DISCARD_ALWAYS] = true;
    o->discard_passthrough[QCOW2_DISCARD_REQUEST] =
        qemu_opt_get_bool(opts, QCOW2_OPT_DISCARD_REQUEST,
                          flags & BDRV_O_UNMAP);
    o->discard_passthrough[QCOW2_DISCARD_SNAPSHOT] =
        qemu_opt_get_bool(opts, QCOW2_OPT_DISCARD_SNAPSHOT, true);
    o->discard_passthrough[QCOW2_DISCARD_OTHER] =
        qemu_opt_get_bool(opts, QCOW2_OPT_DISCARD_OTHER, false);

    interval = qemu_opt_get_number(opts, QCOW2_OPT_CACHE_CLEAN_INTERVAL,
                                   DEFAULT_CACHE_CLEAN_INTERVAL);
    if (interval > UINT_MAX) {
        error_setg(errp, "Cache clean interval too big");
        goto out;
    }
    o->cache_clean_interval = interval;

    ok = qcow2_read_overlap_options(opts, &o->overlap_check, errp);

out:
    qemu_opts_del(opts);
    return ok;
}

/* New caches of the sizes @o asks for; false (with errp set) if no memory */
static bool qcow2_create_caches(BlockDriverState *bs, const Qcow2Options *o,
                                Qcow2Cache **l2_cache, Qcow2Cache **rc_cache,
                                Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    *l2_cache = qcow2_cache_create(bs, o->l2_cache_tables, s->cluster_size);
    *rc_cache = qcow2_cache_create(bs, o->refcount_cache_tables,
                                   s->cluster_size);
    if (!*l2_cache || !*rc_cache) {
        qcow2_cache_destroy(*l2_cache);
        qcow2_cache_destroy(*rc_cache);
        *l2_cache = *rc_cache = NULL;
        error_setg(errp, "Could not allocate metadata caches");
        return false;
    }
    qcow2_cache_set_is_l2(*l2_cache, true);
    return true;
}

/*
 * Make @o the options in force.  Cannot fail; the caches and the
 * cache-clean timer are the caller's business.
 */
static void qcow2_apply_options(BlockDriverState *bs, const Qcow2Options *o)
{
    BDRVQcow2State *s = bs->opaque;

    s->use_lazy_refcounts = o->use_lazy_refcounts;
    memcpy(s->discard_passthrough, o->discard_passthrough,
           sizeof(s->discard_passthrough));
    s->cache_clean_interval = o->cache_clean_interval;
    s->overlap_check = o->overlap_check;
}

/*
 * What open learns from the header cluster and needs in later steps.
 * @hdr is the whole first cluster (header, extensions, backing name).
 */
typedef struct Qcow2OpenHeader {
    uint8_t *hdr;
    int64_t file_len;
    uint64_t ext_end;               /* end of the header extensions */
    uint64_t backing_offset;        /* 0: no backing file */
    uint32_t backing_size;
    uint32_t nb_snapshots;
    bool have_crypto_header;
} Qcow2OpenHeader;

/*
 * Step 1: the fixed part of the header (version, cluster size, feature
 * bits, header length), which says how to read the rest.
 */
static int coroutine_fn qcow2_co_read_fixed_header(BlockDriverState *bs,
                                                   Qcow2OpenHeader *h,
                                                   Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t first[QCOW2_HDR_V3_LENGTH];
    uint32_t cluster_bits;
    int ret;

    memset(first, 0, sizeof(first));
    h->file_len = bdrv_getlength(bs->file->bs);
    if (h->file_len < 0) {
        error_setg_errno(errp, -h->file_len, "Could not read qcow2 header");
        return h->file_len;
    }
    ret = bdrv_co_pread(bs->file, 0,
                        MIN((int64_t)sizeof(first), h->file_len), first, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }

    if (qcow2_ld32(first + QCOW2_HDR_MAGIC) != QCOW_MAGIC) {
        error_setg(errp, "Image is not in qcow2 format");
        return -EINVAL;
    }
    s->qcow_version = qcow2_ld32(first + QCOW2_HDR_VERSION);
    if (s->qcow_version < 2 || s->qcow_version > 3) {
        error_setg(errp, "Unsupported qcow2 version %d", s->qcow_version);
        return -ENOTSUP;
    }
    cluster_bits = qcow2_ld32(first + QCOW2_HDR_CLUSTER_BITS);
    if (cluster_bits < MIN_CLUSTER_BITS || cluster_bits > MAX_CLUSTER_BITS) {
        error_setg(errp, "Unsupported cluster size: 2^%" PRIu32,
                   cluster_bits);
        return -EINVAL;
    }
    s->cluster_bits = cluster_bits;
    s->cluster_size = 1 << cluster_bits;

    if (s->qcow_version == 2) {
        s->incompatible_features = 0;
        s->compatible_features = 0;
        s->autoclear_features = 0;
        s->refcount_order = 4;
        s->header_length = QCOW2_HDR_V2_LENGTH;
    } else {
        s->incompatible_features = qcow2_ld64(first + QCOW2_HDR_INCOMPAT);
        s->compatible_features = qcow2_ld64(first + QCOW2_HDR_COMPAT);
        s->autoclear_features = qcow2_ld64(first + QCOW2_HDR_AUTOCLEAR);
        s->refcount_order = qcow2_ld32(first + QCOW2_HDR_REFCOUNT_ORDER);
        s->header_length = qcow2_ld32(first + QCOW2_HDR_HEADER_LENGTH);
        if (s->header_length < QCOW2_HDR_V3_MIN_LENGTH) {
            error_setg(errp, "qcow2 header too short");
            return -EINVAL;
        }
    }
    if (s->header_length > (uint32_t)s->cluster_size) {
        error_setg(errp, "qcow2 header exceeds cluster size");
        return -EINVAL;
    }
    return 0;
}

/* Step 2: the whole header cluster, and where its parts end */
static int coroutine_fn qcow2_co_read_header_cluster(BlockDriverState *bs,
                                                     Qcow2OpenHeader *h,
                                                     Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    h->hdr = g_malloc0(s->cluster_size);
    ret = bdrv_co_pread(bs->file, 0,
                        MIN((int64_t)s->cluster_size, h->file_len), h->hdr,
                        0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }

    h->backing_offset = qcow2_ld64(h->hdr + QCOW2_HDR_BACKING_OFFSET);
    h->backing_size = qcow2_ld32(h->hdr + QCOW2_HDR_BACKING_SIZE);
    if (h->backing_offset > (uint64_t)s->cluster_size) {
        error_setg(errp, "Invalid backing file offset");
        return -EINVAL;
    }
    h->ext_end = h->backing_offset ? h->backing_offset
                                   : (uint64_t)s->cluster_size;

    if (s->header_length > QCOW2_HDR_V3_MIN_LENGTH) {
        s->compression_type = h->hdr[QCOW2_HDR_COMPRESSION_TYPE];
    } else {
        s->compression_type = QCOW2_COMPRESSION_TYPE_ZLIB;
    }
    return 0;
}

/*
 * Step 3: refuse what we cannot open: unknown incompatible features, a
 * corrupt image opened for writing (except to repair it), a compression
 * type we lack or that contradicts its feature bit.
 */
static int qcow2_check_features(BlockDriverState *bs, Qcow2OpenHeader *h,
                                int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->incompatible_features & ~QCOW2_INCOMPAT_SUPPORTED) {
        Error *ignored = NULL;

        /* Only for the feature names */
        qcow2_read_extensions(bs, h->hdr, s->header_length, h->ext_end,
                              &h->have_crypto_header, &ignored);
        error_free(ignored);
        report_unsupported_feature(s, errp,
                                   s->incompatible_features &
                                   ~QCOW2_INCOMPAT_SUPPORTED);
        return -ENOTSUP;
    }

    if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        /* Corrupt images may only be written to for repairing them */
        if ((flags & BDRV_O_RDWR) && !(flags & BDRV_O_CHECK)) {
            error_setg(errp, "qcow2: Image is corrupt; cannot be opened "
                       "read/write");
            return -EACCES;
        }
    }

    switch (s->compression_type) {
    case QCOW2_COMPRESSION_TYPE_ZLIB:
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_TYPE_ZSTD:
#endif
        break;
    default:
        error_setg(errp, "qcow2: unknown compression type: %u",
                   s->compression_type);
        return -ENOTSUP;
    }
    if (s->compression_type == QCOW2_COMPRESSION_TYPE_ZLIB) {
        if (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
            error_setg(errp, "qcow2: Compression type incompatible feature "
                       "bit must not be set");
            return -EINVAL;
        }
    } else if (!(s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION)) {
        error_setg(errp, "qcow2: Compression type incompatible feature bit "
                   "must be set");
        return -EINVAL;
    }
    return 0;
}

/*
 * Step 4: the geometry (refcount width, encryption, table sizes) and the
 * placement of the refcount and snapshot tables.
 */
static int qcow2_read_geometry(BlockDriverState *bs, Qcow2OpenHeader *h,
                               Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int cluster_bits = s->cluster_bits;
    uint32_t reftable_clusters;

    /* Read as 32 bits: a huge value is negative here, not small */
    if (s->refcount_order < 0 ||
        s->refcount_order > QCOW2_MAX_REFCOUNT_ORDER) {
        error_setg(errp, "Reference count entry width too large; may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX
                                             : (1ULL << s->refcount_bits) - 1;
    s->refcount_block_bits = cluster_bits - (s->refcount_order - 3);
    s->refcount_block_size = 1 << s->refcount_block_bits;

    s->crypt_method_header = qcow2_ld32(h->hdr + QCOW2_HDR_CRYPT_METHOD);
    if (s->crypt_method_header > QCOW_CRYPT_LUKS) {
        error_setg(errp, "Unsupported encryption method %" PRIu32,
                   s->crypt_method_header);
        return -EINVAL;
    }

    s->l2_bits = cluster_bits - 3;
    s->l2_size = 1 << s->l2_bits;
    s->size = qcow2_ld64(h->hdr + QCOW2_HDR_SIZE);
    qcow2_compressed_layout(cluster_bits, &s->csize_shift, &s->csize_mask,
                            &s->cluster_offset_mask);

    s->refcount_table_offset = qcow2_ld64(h->hdr + QCOW2_HDR_REFTABLE_OFFSET);
    reftable_clusters = qcow2_ld32(h->hdr + QCOW2_HDR_REFTABLE_CLUSTERS);
    if (reftable_clusters == 0) {
        error_setg(errp, "Image does not contain a reference count table");
        return -EINVAL;
    }
    if (reftable_clusters > (QCOW_MAX_REFTABLE_SIZE >> cluster_bits)) {
        error_setg(errp, "Reference count table too large");
        return -EINVAL;
    }
    s->refcount_table_size = reftable_clusters << (cluster_bits - 3);
    if (!validate_table_offset(s, s->refcount_table_offset,
                               s->refcount_table_size, sizeof(uint64_t))) {
        error_setg(errp, "Reference count table offset invalid");
        return -EINVAL;
    }

    h->nb_snapshots = qcow2_ld32(h->hdr + QCOW2_HDR_NB_SNAPSHOTS);
    s->snapshots_offset = qcow2_ld64(h->hdr + QCOW2_HDR_SNAPSHOTS_OFFSET);
    if (bs->open_flags & BDRV_O_CHECK) {
        /* Check reads (and may repair) the snapshot table itself */
        h->nb_snapshots = 0;
        s->snapshots_offset = 0;
    }
    if (h->nb_snapshots > QCOW_MAX_SNAPSHOTS) {
        error_setg(errp, "Snapshot table too large");
        return -EINVAL;
    }
    if (!validate_table_offset(s, s->snapshots_offset, h->nb_snapshots,
                               QCOW2_SNAPSHOT_HEADER_SIZE)) {
        error_setg(errp, "Snapshot table offset invalid");
        return -EINVAL;
    }
    return 0;
}

/* Step 5: the active L1 table, checked against the virtual size */
static int coroutine_fn qcow2_co_read_l1_table(BlockDriverState *bs,
                                               Qcow2OpenHeader *h,
                                               Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t l1_size = qcow2_ld32(h->hdr + QCOW2_HDR_L1_SIZE);
    uint64_t l1_vm_state_index;
    uint32_t i;
    int ret;

    s->l1_size = 0;
    if (l1_size > QCOW_MAX_L1_SIZE / sizeof(uint64_t)) {
        error_setg(errp, "Active L1 table too large");
        return -EFBIG;
    }
    l1_vm_state_index = size_to_l1(s, s->size);
    if (s->size > (1ULL << 62) || l1_vm_state_index > INT_MAX) {
        error_setg(errp, "Image is too big");
        return -EFBIG;
    }
    s->l1_vm_state_index = l1_vm_state_index;
    if (l1_size < l1_vm_state_index) {
        error_setg(errp, "L1 table is too small");
        return -EINVAL;
    }
    s->l1_table_offset = qcow2_ld64(h->hdr + QCOW2_HDR_L1_OFFSET);
    if (!validate_table_offset(s, s->l1_table_offset, l1_size,
                               sizeof(uint64_t))) {
        error_setg(errp, "Active L1 table offset invalid");
        return -EINVAL;
    }
    s->l1_table = g_try_new0(uint64_t, MAX(l1_size, 1));
    if (!s->l1_table) {
        error_setg(errp, "Could not allocate L1 table");
        return -ENOMEM;
    }
    if (l1_size > 0) {
        ret = bdrv_co_pread(bs->file, s->l1_table_offset,
                            (int64_t)l1_size * sizeof(uint64_t),
                            s->l1_table, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read L1 table");
            return ret;
        }
        for (i = 0; i < l1_size; i++) {
            s->l1_table[i] = GUINT64_FROM_BE(s->l1_table[i]);
        }
    }
    s->l1_size = l1_size;
    return 0;
}

/* Step 6: runtime options, and the caches they size */
static int qcow2_open_options(BlockDriverState *bs, QDict *options,
                              int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Options o;

    if (!qcow2_read_options(bs, options, flags, &o, errp)) {
        return -EINVAL;
    }
    qcow2_apply_options(bs, &o);
    if (!qcow2_create_caches(bs, &o, &s->l2_table_cache,
                             &s->refcount_block_cache, errp)) {
        return -ENOMEM;
    }
    return 0;
}

/*
 * Step 8: encryption (we open encrypted images for their metadata only)
 * and the backing file name
 */
static int qcow2_open_crypto_and_backing(BlockDriverState *bs,
                                         Qcow2OpenHeader *h, int flags,
                                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->crypt_method_header) {
        if (s->crypt_method_header == QCOW_CRYPT_LUKS &&
            !h->have_crypto_header) {
            error_setg(errp, "Missing CRYPTO header for crypt method %d",
                       s->crypt_method_header);
            return -EINVAL;
        }
        if (!(flags & BDRV_O_NO_IO)) {
            error_setg(errp, "Parameter 'encrypt.key-secret' is required "
                       "for cipher");
            return -EINVAL;
        }
        bs->encrypted = true;
    }

    if (h->backing_offset) {
        uint32_t max = MIN(1023, s->cluster_size - h->backing_offset);

        if (h->backing_size > max) {
            error_setg(errp, "Backing file name too long");
            return -EINVAL;
        }
        s->image_backing_file = g_strndup((char *)h->hdr + h->backing_offset,
                                          h->backing_size);
        pstrcpy(bs->backing_file, sizeof(bs->backing_file),
                s->image_backing_file);
        pstrcpy(bs->auto_backing_file, sizeof(bs->auto_backing_file),
                s->image_backing_file);
    }
    return 0;
}

/*
 * Step 10: of the autoclear features we maintain bitmaps and "raw
 * external data": clear the other bits before anything is written, as
 * the format requires of such writers.  A read-only open keeps them.
 * The bitmap directory is read for every open.
 */
static int coroutine_fn qcow2_co_open_autoclear(BlockDriverState *bs,
                                                int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t keep = s->autoclear_features &
                    (QCOW2_AUTOCLEAR_BITMAPS | QCOW2_AUTOCLEAR_DATA_FILE_RAW);
    int ret;

    if ((flags & BDRV_O_RDWR) && s->autoclear_features != keep) {
        uint8_t buf[8];

        qcow2_st64(buf, keep);
        ret = qcow2_write_header_field(bs, QCOW2_HDR_AUTOCLEAR, buf, 8);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not update qcow2 header");
            return ret;
        }
        s->autoclear_features = keep;
    }
    if (s->nb_bitmaps) {
        ret = qcow2_co_read_bitmap_list(bs, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Step 11: repair an image left dirty by a crash with lazy refcounts */
static int coroutine_fn qcow2_co_repair_dirty(BlockDriverState *bs,
                                              int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvCheckResult result = { 0 };
    int ret;

    if ((flags & BDRV_O_CHECK) || !(flags & BDRV_O_RDWR) ||
        !(s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_check_refcounts(bs, &result,
                                BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    if (ret >= 0 && !result.corruptions && !result.check_errors) {
        ret = qcow2_mark_clean(bs);
    } else if (ret >= 0) {
        ret = -EIO;
    }
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not repair dirty image");
        return ret;
    }
    return 0;
}

/*
 * Open: the steps in order; each fails with errp set, and qcow2_open()
 * frees whatever the steps before built.
 */
int coroutine_fn qcow2_co_do_open(BlockDriverState *bs, QDict *options,
                                  int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2OpenHeader h = { 0 };
    g_autofree uint8_t *hdr = NULL;
    int ret;

    qemu_co_mutex_init(&s->lock);
    QLIST_INIT(&s->inflight_allocs);
    QLIST_INIT(&s->unknown_header_ext);

    ret = qcow2_co_read_fixed_header(bs, &h, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_co_read_header_cluster(bs, &h, errp);
    hdr = h.hdr;
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_check_features(bs, &h, flags, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_read_geometry(bs, &h, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_co_read_l1_table(bs, &h, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_open_options(bs, options, flags, errp);
    if (ret < 0) {
        return ret;
    }

    /* Step 7: refcount table and header extensions */
    ret = qcow2_refcount_init(bs, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_read_extensions(bs, h.hdr, s->header_length, h.ext_end,
                                &h.have_crypto_header, errp);
    if (ret < 0) {
        return ret;
    }

    ret = qcow2_open_crypto_and_backing(bs, &h, flags, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_open_data_file(bs, options, flags, errp);
    if (ret < 0) {
        return ret;
    }

    /* Step 9: snapshots */
    if (h.nb_snapshots) {
        ret = qcow2_read_snapshots(bs, h.nb_snapshots, errp);
        if (ret < 0) {
            return ret;
        }
    }
    s->free_cluster_index = 0;
    s->free_byte_offset = 0;

    ret = qcow2_co_open_autoclear(bs, flags, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_co_repair_dirty(bs, flags, errp);
    if (ret < 0) {
        return ret;
    }
    return qcow2_co_load_bitmaps(bs, flags, errp);
}

/*
 * Cache cleaning: every cache_clean_interval seconds, the cached tables
 * that were not used since the previous round are dropped, so an idle
 * image gives its cache memory back.
 */
static void cache_clean_timer_cb(void *opaque)
{
    BlockDriverState *bs = opaque;
    BDRVQcow2State *s = bs->opaque;

    qcow2_cache_clean_unused(s->l2_table_cache);
    qcow2_cache_clean_unused(s->refcount_block_cache);
    timer_mod(s->cache_clean_timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              (int64_t)s->cache_clean_interval * 1000);
}

static void cache_clean_timer_init(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->cache_clean_interval > 0) {
        s->cache_clean_timer = aio_timer_new(qemu_get_aio_context(),
                                             QEMU_CLOCK_REALTIME, SCALE_MS,
                                             cache_clean_timer_cb, bs);
        timer_mod(s->cache_clean_timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  (int64_t)s->cache_clean_interval * 1000);
    }
}

static void cache_clean_timer_del(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->cache_clean_timer) {
        timer_free(s->cache_clean_timer);
        s->cache_clean_timer = NULL;
    }
}

static void qcow2_free_state(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    cache_clean_timer_del(bs);
    qcow2_cache_destroy(s->l2_table_cache);
    qcow2_cache_destroy(s->refcount_block_cache);
    s->l2_table_cache = NULL;
    s->refcount_block_cache = NULL;
    qcow2_refcount_close(bs);
    g_free(s->l1_table);
    s->l1_table = NULL;
    g_free(s->feature_table);
    s->feature_table = NULL;
    free_unknown_extensions(s);
    qcow2_free_snapshots(s);
    bdrv_release_all_dirty_bitmaps(bs);
    qcow2_free_bitmap_list(s);
    s->nb_bitmaps = 0;
    g_free(s->image_backing_file);
    g_free(s->image_backing_format);
    s->image_backing_file = NULL;
    s->image_backing_format = NULL;
    qcow2_close_data_file(bs);
}

static int qcow2_open(BlockDriverState *bs, QDict *options, int flags,
                      Error **errp)
{
    int ret;

    ret = bdrv_open_file_child(NULL, options, "file", bs, errp);
    if (ret < 0) {
        return ret;
    }
    /* The metadata lives in the file: nobody else may write or resize it */
    ret = bdrv_add_perm(bs->file->bs, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                        BLK_PERM_WRITE | BLK_PERM_RESIZE, errp);
    if (ret < 0) {
        return ret;
    }

    ret = qcow2_do_open(bs, options, flags, errp);
    if (ret < 0) {
        qcow2_free_state(bs);
        return ret;
    }

    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;

    if (!bs->backing) {
        bdrv_refresh_filename(bs);
        ret = bdrv_open_backing_file(bs, options, "backing", errp);
        if (ret < 0) {
            qcow2_free_state(bs);
            return ret;
        }
    }
    cache_clean_timer_init(bs);
    return 0;
}

int coroutine_fn qcow2_co_write_out_metadata(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    qemu_co_mutex_lock(&s->lock);
    if (!bdrv_is_read_only(bs) && !s->corrupt_stop) {
        /* Each cache is flushed and reported on its own, as in QEMU */
        int ret2 = qcow2_cache_flush(bs, s->l2_table_cache);

        if (ret2 < 0) {
            ret = ret2;
            error_report("Failed to flush the L2 table cache: %s",
                         strerror(-ret2));
        }
        ret2 = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret2 < 0) {
            ret = ret2;
            error_report("Failed to flush the refcount block cache: %s",
                         strerror(-ret2));
        }
        if (ret >= 0) {
            ret = qcow2_mark_clean(bs);
        }
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static void qcow2_close(BlockDriverState *bs)
{
    Error *local_err = NULL;

    cache_clean_timer_del(bs);
    if (qcow2_store_bitmaps(bs, &local_err) < 0) {
        error_prepend(&local_err, "Lost persistent bitmaps during "
                      "inactivation of node '%s': ", bdrv_get_node_name(bs));
        error_report_err(local_err);
    }
    qcow2_write_out_metadata(bs);
    qcow2_free_state(bs);
}

/*
 * Reopen: prepare reads and validates the new options and builds new
 * caches if their sizes change (flushing the old ones first); going
 * read-only, or dropping lazy refcounts, writes everything out and leaves
 * the image clean.  Commit swaps in what prepare built and cannot fail;
 * abort frees it.
 */

typedef struct Qcow2ReopenState {
    Qcow2Options opts;
    Qcow2Cache *l2_table_cache;         /* NULL: keep the current one */
    Qcow2Cache *refcount_block_cache;   /* set together with the L2 one */
} Qcow2ReopenState;

int coroutine_fn qcow2_co_flush_cache_tables(BlockDriverState *bs,
                                             const char **failed)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret < 0) {
        *failed = "L2 table";
    } else {
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret < 0) {
            *failed = "refcount block";
        }
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/*
 * New caches if the sizes change (r->l2_table_cache stays NULL if not).
 * The old ones are flushed first, so commit can drop them.
 */
static int qcow2_reopen_caches(BlockDriverState *bs, Qcow2ReopenState *r,
                               Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const char *failed = NULL;
    int ret;

    if (r->opts.l2_cache_tables == qcow2_cache_num_tables(s->l2_table_cache)
        && r->opts.refcount_cache_tables ==
           qcow2_cache_num_tables(s->refcount_block_cache)) {
        return 0;
    }
    if (!bdrv_is_read_only(bs) && !s->corrupt_stop) {
        ret = qcow2_flush_cache_tables(bs, &failed);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to flush the %s cache",
                             failed);
            return ret;
        }
    }
    if (!qcow2_create_caches(bs, &r->opts, &r->l2_table_cache,
                             &r->refcount_block_cache, errp)) {
        return -ENOMEM;
    }
    return 0;
}

static void qcow2_reopen_free(Qcow2ReopenState *r)
{
    if (r) {
        qcow2_cache_destroy(r->l2_table_cache);
        qcow2_cache_destroy(r->refcount_block_cache);
        g_free(r);
    }
}

static int qcow2_reopen_prepare(BDRVReopenState *state, Error **errp)
{
    BlockDriverState *bs = state->bs;
    BDRVQcow2State *s = bs->opaque;
    g_autofree Qcow2ReopenState *r = g_new0(Qcow2ReopenState, 1);
    int ret;

    if (!qcow2_read_options(bs, state->options, state->flags, &r->opts,
                            errp)) {
        return -EINVAL;
    }
    ret = qcow2_reopen_caches(bs, r, errp);
    if (ret < 0) {
        return ret;
    }

    if (!bdrv_is_read_only(bs) &&
        (state->read_only ||
         (s->use_lazy_refcounts && !r->opts.use_lazy_refcounts))) {
        /* Write everything out and clear the dirty bit */
        if (state->read_only && qcow2_store_bitmaps(bs, errp) < 0) {
            qcow2_reopen_free(g_steal_pointer(&r));
            return -EIO;
        }
        ret = qcow2_write_out_metadata(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not flush the qcow2 "
                             "metadata");
            qcow2_reopen_free(g_steal_pointer(&r));
            return ret;
        }
    }
    state->opaque = g_steal_pointer(&r);
    return 0;
}

static void qcow2_reopen_commit(BDRVReopenState *state)
{
    BlockDriverState *bs = state->bs;
    BDRVQcow2State *s = bs->opaque;
    Qcow2ReopenState *r = state->opaque;

    /*
     * The old caches were flushed in prepare; nothing ran in between that
     * could dirty them, but keep them (and drop the new ones) if it did.
     */
    if (r->l2_table_cache &&
        !qcow2_cache_is_dirty(s->l2_table_cache) &&
        !qcow2_cache_is_dirty(s->refcount_block_cache)) {
        Qcow2Cache *l2 = s->l2_table_cache;
        Qcow2Cache *rc = s->refcount_block_cache;

        s->l2_table_cache = r->l2_table_cache;
        s->refcount_block_cache = r->refcount_block_cache;
        r->l2_table_cache = l2;
        r->refcount_block_cache = rc;
    }
    if (s->cache_clean_interval != r->opts.cache_clean_interval) {
        cache_clean_timer_del(bs);
        qcow2_apply_options(bs, &r->opts);
        cache_clean_timer_init(bs);
    } else {
        qcow2_apply_options(bs, &r->opts);
    }
    if (bdrv_is_read_only(bs) && !state->read_only) {
        Error *local_err = NULL;

        /* Not fatal, as in QEMU: the bitmaps just stay read-only */
        if (qcow2_reopen_bitmaps_rw(bs, &local_err) < 0) {
            error_prepend(&local_err, "%s: ", bdrv_get_node_name(bs));
            error_report_err(local_err);
        }
    }
    qcow2_reopen_free(r);
    state->opaque = NULL;
}

static void qcow2_reopen_abort(BDRVReopenState *state)
{
    qcow2_reopen_free(state->opaque);
    state->opaque = NULL;
}

static void qcow2_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    bs->bl.request_alignment = 1;
    bs->bl.pwrite_zeroes_alignment = s->cluster_size;
    bs->bl.pdiscard_alignment = s->cluster_size;
}

/* Compression */

static ssize_t qcow2_zlib_compress(void *dest, size_t dest_size,
                                   const void *src, size_t src_size)
{
    z_stream strm = { 0 };
    ssize_t ret;

    if (deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (Bytef *)src;
    strm.avail_in = src_size;
    strm.next_out = dest;
    strm.avail_out = dest_size;
    ret = deflate(&strm, Z_FINISH);
    if (ret == Z_STREAM_END) {
        ret = dest_size - strm.avail_out;
    } else {
        ret = ret == Z_OK || ret == Z_BUF_ERROR ? -ENOMEM : -EIO;
    }
    deflateEnd(&strm);
    return ret;
}

static ssize_t qcow2_zlib_decompress(void *dest, size_t dest_size,
                                     const void *src, size_t src_size)
{
    z_stream strm = { 0 };
    ssize_t ret;

    if (inflateInit2(&strm, -12) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (Bytef *)src;
    strm.avail_in = src_size;
    strm.next_out = dest;
    strm.avail_out = dest_size;
    ret = inflate(&strm, Z_FINISH);
    if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && strm.avail_out == 0) {
        ret = 0;
    } else {
        ret = -EIO;
    }
    inflateEnd(&strm);
    return ret;
}

#ifdef CONFIG_ZSTD
static ssize_t qcow2_zstd_compress(void *dest, size_t dest_size,
                                   const void *src, size_t src_size)
{
    size_t r = ZSTD_compress(dest, dest_size, src, src_size,
                             ZSTD_CLEVEL_DEFAULT);

    if (ZSTD_isError(r)) {
        /* Most likely it did not fit: the caller stores it uncompressed */
        return -ENOMEM;
    }
    return r;
}

static ssize_t qcow2_zstd_decompress(void *dest, size_t dest_size,
                                     const void *src, size_t src_size)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_outBuffer out = { dest, dest_size, 0 };
    ZSTD_inBuffer in = { src, src_size, 0 };
    ssize_t ret = 0;

    if (!dctx) {
        return -EIO;
    }
    /* The input may have padding after the frame: stop at a full cluster */
    while (out.pos < out.size) {
        size_t r = ZSTD_decompressStream(dctx, &out, &in);

        if (ZSTD_isError(r)) {
            ret = -EIO;
            break;
        }
        if (r == 0 || in.pos == in.size) {
            if (out.pos < out.size && in.pos == in.size) {
                ret = -EIO;
            }
            break;
        }
    }
    if (ret == 0 && out.pos != out.size) {
        ret = -EIO;
    }
    ZSTD_freeDCtx(dctx);
    return ret;
}
#endif

static ssize_t qcow2_compress(BDRVQcow2State *s, void *dest,
                              size_t dest_size, const void *src,
                              size_t src_size)
{
#ifdef CONFIG_ZSTD
    if (s->compression_type == QCOW2_COMPRESSION_TYPE_ZSTD) {
        return qcow2_zstd_compress(dest, dest_size, src, src_size);
    }
#endif
    return qcow2_zlib_compress(dest, dest_size, src, src_size);
}

ssize_t coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                         size_t dest_size, const void *src,
                                         size_t src_size)
{
    BDRVQcow2State *s = bs->opaque;

#ifdef CONFIG_ZSTD
    if (s->compression_type == QCOW2_COMPRESSION_TYPE_ZSTD) {
        return qcow2_zstd_decompress(dest, dest_size, src, src_size);
    }
#endif
    (void)s;
    return qcow2_zlib_decompress(dest, dest_size, src, src_size);
}

/* Read @bytes of compressed cluster @l2_entry from @in_cluster on */
static int coroutine_fn qcow2_co_preadv_compressed(BlockDriverState *bs,
                                                   uint64_t l2_entry,
                                                   uint64_t in_cluster,
                                                   uint64_t bytes,
                                                   QEMUIOVector *qiov,
                                                   size_t qiov_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t coffset = l2_entry & s->cluster_offset_mask;
    uint64_t start, len;
    int64_t file_len;
    g_autofree uint8_t *in = NULL;
    g_autofree uint8_t *out = NULL;
    int ret;

    qcow2_parse_compressed_descriptor(s, l2_entry, &start, &len);
    /* The data starts at @coffset, inside the first sector */
    len -= coffset - start;
    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        return file_len;
    }
    in = g_try_malloc0(len);
    out = g_try_malloc(s->cluster_size);
    if (!in || !out) {
        return -ENOMEM;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_READ_COMPRESSED);
    if ((int64_t)coffset < file_len) {
        ret = bdrv_co_pread(bs->file, coffset,
                            MIN(len, (uint64_t)(file_len - coffset)), in, 0);
        if (ret < 0) {
            return ret;
        }
    }
    if (qcow2_co_decompress(bs, out, s->cluster_size, in, len) < 0) {
        return -EIO;
    }
    qemu_iovec_from_buf(qiov, qiov_offset, out + in_cluster, bytes);
    return 0;
}

/* Reads */

static int coroutine_fn qcow2_co_preadv_part(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov,
                                             size_t qiov_offset,
                                             BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    while (bytes > 0) {
        uint64_t cur = bytes, host = 0;
        QCow2ClusterType type;

        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_get_host_offset(bs, offset, &cur, &host, &type);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            return ret;
        }

        switch (type) {
        case QCOW2_CLUSTER_UNALLOCATED:
            if (bs->backing) {
                int64_t blen = bdrv_getlength(bs->backing->bs);
                uint64_t n = 0;

                if (blen < 0) {
                    return blen;
                }
                if (offset < blen) {
                    n = MIN(cur, (uint64_t)(blen - offset));
                    BLKDBG_EVENT(bs->file, BLKDBG_READ_BACKING_AIO);
                    ret = bdrv_co_preadv_part(bs->backing, offset, n, qiov,
                                              qiov_offset, 0);
                    if (ret < 0) {
                        return ret;
                    }
                }
                if (n < cur) {
                    qemu_iovec_memset(qiov, qiov_offset + n, 0, cur - n);
                }
            } else {
                qemu_iovec_memset(qiov, qiov_offset, 0, cur);
            }
            break;

        case QCOW2_CLUSTER_ZERO_PLAIN:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            qemu_iovec_memset(qiov, qiov_offset, 0, cur);
            break;

        case QCOW2_CLUSTER_NORMAL:
            BLKDBG_EVENT(bs->file, BLKDBG_READ_AIO);
            ret = bdrv_co_preadv_part(s->data_file, host, cur, qiov,
                                      qiov_offset, 0);
            if (ret < 0) {
                return ret;
            }
            break;

        case QCOW2_CLUSTER_COMPRESSED:
            ret = qcow2_co_preadv_compressed(bs, host,
                                             offset_into_cluster(s, offset),
                                             cur, qiov, qiov_offset);
            if (ret < 0) {
                return ret;
            }
            break;
        }

        offset += cur;
        bytes -= cur;
        qiov_offset += cur;
    }
    return 0;
}

static int coroutine_fn qcow2_co_preadv(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    if (((BDRVQcow2State *)bs->opaque)->corrupt_stop) {
        return -ENOMEDIUM;
    }
    return qcow2_co_preadv_part(bs, offset, bytes, qiov, 0, flags);
}

/* Writes */

/* Old contents of guest [offset, offset + bytes) into @buf (for COW) */
static int coroutine_fn qcow2_co_read_cow(BlockDriverState *bs,
                                          uint64_t offset, uint64_t bytes,
                                          uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;
    QEMUIOVector qiov;
    uint64_t n;

    memset(buf, 0, bytes);
    if (!bytes) {
        return 0;
    }
    /*
     * Past the end of the disk only the tail of its last cluster reads as
     * zeroes; the VM state area (whole clusters from the L1 entry after
     * the disk on) keeps its old contents, as guest data does.
     */
    if (offset >= (uint64_t)s->l1_vm_state_index <<
        (s->cluster_bits + s->l2_bits)) {
        n = bytes;
    } else if (offset >= s->size) {
        return 0;
    } else {
        n = MIN(bytes, s->size - offset);
    }
    BLKDBG_EVENT(bs->file, BLKDBG_COW_READ);
    qemu_iovec_init_buf(&qiov, buf, n);
    return qcow2_co_preadv_part(bs, offset, n, &qiov, 0, 0);
}

static int coroutine_fn qcow2_co_pwritev_part(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes,
                                              QEMUIOVector *qiov,
                                              size_t qiov_offset,
                                              BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t want_host = 0;
    int ret = 0;

    while (bytes > 0) {
        QCowWriteMap m;

        qemu_co_mutex_lock(&s->lock);
        qcow2_wait_inflight(bs, offset, bytes);
        if (s->use_lazy_refcounts) {
            ret = qcow2_mark_dirty(bs);
            if (ret < 0) {
                qemu_co_mutex_unlock(&s->lock);
                return ret;
            }
        }
        ret = qcow2_alloc_host_offset(bs, offset, bytes, want_host, &m);
        if (ret >= 0 && !has_data_file(bs)) {
            /* Last moment the metadata is known not to change under us */
            if (m.alloc) {
                ret = qcow2_pre_write_overlap_check(
                    bs, 0, m.alloc_host_start,
                    (int64_t)m.nb_clusters << s->cluster_bits);
                if (ret < 0) {
                    qcow2_alloc_abort(bs, &m);
                }
            } else {
                ret = qcow2_pre_write_overlap_check(bs, 0, m.host_offset,
                                                    m.bytes);
            }
        }
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            return ret;
        }

        if (!m.alloc) {
            BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
            ret = bdrv_co_pwritev_part(s->data_file, m.host_offset, m.bytes,
                                       qiov, qiov_offset, 0);
            if (ret < 0) {
                return ret;
            }
        } else {
            g_autofree uint8_t *head = NULL;
            g_autofree uint8_t *tail = NULL;
            QEMUIOVector hd;

            if (m.cow_start_bytes) {
                head = g_malloc(m.cow_start_bytes);
                ret = qcow2_co_read_cow(bs, m.alloc_guest_start,
                                        m.cow_start_bytes, head);
            }
            if (ret >= 0 && m.cow_end_bytes) {
                tail = g_malloc(m.cow_end_bytes);
                ret = qcow2_co_read_cow(bs, offset + m.bytes,
                                        m.cow_end_bytes, tail);
            }
            if (ret >= 0) {
                qemu_iovec_init(&hd, 3);
                if (head) {
                    qemu_iovec_add(&hd, head, m.cow_start_bytes);
                }
                qemu_iovec_concat(&hd, qiov, qiov_offset, m.bytes);
                if (tail) {
                    qemu_iovec_add(&hd, tail, m.cow_end_bytes);
                }
                /*
                 * As QEMU: the guest data's write_aio, then cow_write for
                 * the one write that carries the COW regions with it
                 */
                BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
                if (head || tail) {
                    BLKDBG_EVENT(bs->file, BLKDBG_COW_WRITE);
                }
                ret = bdrv_co_pwritev(s->data_file, m.alloc_host_start,
                                      hd.size, &hd, 0);
                qemu_iovec_destroy(&hd);
            }

            qemu_co_mutex_lock(&s->lock);
            if (ret < 0) {
                qcow2_alloc_abort(bs, &m);
            } else {
                ret = qcow2_alloc_link_l2(bs, &m);
            }
            qemu_co_mutex_unlock(&s->lock);
            if (ret < 0) {
                return ret;
            }
        }

        /*
         * The rest of the request continues on the host where this part
         * ends, when it ends on a cluster boundary
         */
        want_host = m.alloc ? m.alloc_host_start +
                              ((uint64_t)m.nb_clusters << s->cluster_bits)
                            : m.host_offset + m.bytes;
        if (offset_into_cluster(s, want_host)) {
            want_host = 0;
        }
        offset += m.bytes;
        bytes -= m.bytes;
        qiov_offset += m.bytes;
    }

    if (flags & BDRV_REQ_FUA) {
        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_write_caches(bs);
        qemu_co_mutex_unlock(&s->lock);
        if (ret >= 0 && has_data_file(bs)) {
            ret = bdrv_co_flush(s->data_file->bs);
        }
        if (ret >= 0) {
            ret = bdrv_co_flush(bs->file->bs);
        }
    }
    return ret;
}

static int coroutine_fn qcow2_co_pwritev(BlockDriverState *bs,
                                         int64_t offset, int64_t bytes,
                                         QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    if (((BDRVQcow2State *)bs->opaque)->corrupt_stop) {
        return -ENOMEDIUM;
    }
    return qcow2_co_pwritev_part(bs, offset, bytes, qiov, 0, flags);
}

/* Whether guest [offset, offset + bytes) reads as zeroes already */
static bool coroutine_fn is_zero(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes)
{
    while (bytes > 0) {
        uint64_t cur = bytes, host;
        QCow2ClusterType type;
        int ret;

        ret = qcow2_get_host_offset(bs, offset, &cur, &host, &type);
        if (ret < 0) {
            return false;
        }
        if (type == QCOW2_CLUSTER_UNALLOCATED) {
            if (bs->backing) {
                int64_t pnum = 0;

                ret = bdrv_co_is_allocated_above(bs->backing->bs, NULL,
                                                 false, offset, cur, &pnum);
                if (ret != 0 || (uint64_t)pnum < cur) {
                    /* Could be data in the backing chain */
                    if (offset >= bdrv_getlength(bs->backing->bs)) {
                        goto next;
                    }
                    return false;
                }
            }
        } else if (type != QCOW2_CLUSTER_ZERO_PLAIN &&
                   type != QCOW2_CLUSTER_ZERO_ALLOC) {
            return false;
        }
next:
        offset += cur;
        bytes -= cur;
    }
    return true;
}

static int coroutine_fn qcow2_co_pwrite_zeroes(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t head = offset_into_cluster(s, offset);
    int64_t tail = offset_into_cluster(s, offset + bytes);
    int ret;

    if (s->corrupt_stop) {
        return -ENOMEDIUM;
    }
    if (s->qcow_version < 3 && bs->backing) {
        /* No zero flag, and unallocated would read the backing file */
        return -ENOTSUP;
    }
    if (offset + bytes == (int64_t)s->size) {
        tail = 0;
    }

    qemu_co_mutex_lock(&s->lock);
    if (head || tail) {
        int64_t start = offset - head;
        int64_t end = ROUND_UP(offset + bytes, s->cluster_size);

        end = MIN(end, (int64_t)ROUND_UP(s->size, s->cluster_size));
        qcow2_wait_inflight(bs, start, end - start);
        /* Partial clusters: fine only if the rest is zero already */
        if (!is_zero(bs, start, offset - start) ||
            !is_zero(bs, offset + bytes,
                     MIN(end, (int64_t)s->size) - (offset + bytes))) {
            qemu_co_mutex_unlock(&s->lock);
            return -ENOTSUP;
        }
        offset = start;
        bytes = end - start;
    } else {
        qcow2_wait_inflight(bs, offset, bytes);
    }
    if (s->use_lazy_refcounts) {
        ret = qcow2_mark_dirty(bs);
        if (ret < 0) {
            goto out;
        }
    }
    ret = qcow2_cluster_zeroize(bs, offset, bytes, flags);
out:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_pdiscard(BlockDriverState *bs,
                                          int64_t offset, int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->corrupt_stop) {
        return -ENOMEDIUM;
    }
    if (s->qcow_version < 3 && bs->backing) {
        /*
         * Without the zero flag a discarded cluster would show the
         * backing file's data instead of the guest's: ignore the request
         */
        return -ENOTSUP;
    }
    if (!QEMU_IS_ALIGNED(offset | bytes, s->cluster_size)) {
        if (!QEMU_IS_ALIGNED(offset, s->cluster_size) ||
            offset + bytes != (int64_t)s->size) {
            return -ENOTSUP;
        }
    }
    qemu_co_mutex_lock(&s->lock);
    qcow2_wait_inflight(bs, offset, bytes);
    ret = qcow2_cluster_discard(bs, offset, bytes, QCOW2_DISCARD_REQUEST,
                                false);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_flush_to_os(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->corrupt_stop) {
        /* Write nothing more to an image found corrupt */
        return -ENOMEDIUM;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_write_caches(bs);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/*
 * Whether the image looks preallocated: clearly more clusters in use
 * (refcount > 0) than the file has allocated.  1 if so, 0 if not,
 * -errno when the file cannot tell.
 */
static int coroutine_fn qcow2_detect_metadata_preallocation(
    BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_len, allocated, real_clusters, threshold;
    int64_t i, nb_clusters, in_use = 0;

    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        return file_len;
    }
    allocated = bdrv_get_allocated_file_size(bs->file->bs);
    if (allocated < 0) {
        return allocated;
    }
    real_clusters = allocated / s->cluster_size;
    threshold = MAX(real_clusters * 10 / 9, real_clusters + 2);
    nb_clusters = size_to_clusters(s, file_len);
    for (i = 0; i < nb_clusters && in_use < threshold; i++) {
        uint64_t refcount;
        int ret = qcow2_get_refcount(bs, i, &refcount);

        if (ret < 0) {
            return ret;
        }
        in_use += refcount != 0;
    }
    return in_use >= threshold;
}

static int coroutine_fn qcow2_co_block_status(BlockDriverState *bs,
                                              bool want_zero,
                                              int64_t offset, int64_t bytes,
                                              int64_t *pnum, int64_t *map,
                                              BlockDriverState **file)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cur = bytes, host = 0;
    QCow2ClusterType type;
    int status = 0;
    int ret;

    if (s->corrupt_stop) {
        return -ENOMEDIUM;
    }
    qemu_co_mutex_lock(&s->lock);
    if (!s->metadata_preallocation_checked) {
        ret = qcow2_detect_metadata_preallocation(bs);
        s->metadata_preallocation = ret == 1;
        s->metadata_preallocation_checked = true;
    }
    ret = qcow2_get_host_offset(bs, offset, &cur, &host, &type);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    *pnum = cur;

    if (type == QCOW2_CLUSTER_NORMAL || type == QCOW2_CLUSTER_ZERO_ALLOC) {
        *map = host;
        *file = s->data_file->bs;
        status |= BDRV_BLOCK_OFFSET_VALID;
    }
    if (type == QCOW2_CLUSTER_ZERO_PLAIN ||
        type == QCOW2_CLUSTER_ZERO_ALLOC) {
        status |= BDRV_BLOCK_ZERO;
    } else if (type != QCOW2_CLUSTER_UNALLOCATED) {
        status |= BDRV_BLOCK_DATA;
    }
    if (s->metadata_preallocation && (status & BDRV_BLOCK_DATA) &&
        (status & BDRV_BLOCK_OFFSET_VALID)) {
        /* The holes of the file read as zeroes: let the core ask it */
        status |= BDRV_BLOCK_RECURSE;
    }
    return status;
}

/* Compressed writes */

static int coroutine_fn qcow2_co_pwritev_compressed(BlockDriverState *bs,
                                                    int64_t offset,
                                                    int64_t bytes,
                                                    QEMUIOVector *qiov)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *buf = NULL;
    g_autofree uint8_t *out = NULL;
    uint64_t host;
    ssize_t out_len;
    int ret;

    if (s->corrupt_stop) {
        return -ENOMEDIUM;
    }
    if (has_data_file(bs)) {
        return -ENOTSUP;
    }
    if (bytes == 0) {
        /*
         * Callers end a compressed stream with an empty request: pad the
         * file to whole sectors, as QEMU does, since the last compressed
         * cluster may end anywhere (the length the core reports is
         * rounded up to sectors already).
         */
        int64_t len = bdrv_getlength(bs->file->bs);

        if (len < 0) {
            return len;
        }
        return bdrv_co_truncate(bs->file, len, false, PREALLOC_MODE_OFF, 0,
                                NULL);
    }
    if (offset_into_cluster(s, offset)) {
        return -EINVAL;
    }
    if (bytes > s->cluster_size) {
        /* Split into clusters */
        size_t qoff = 0;

        while (bytes > 0) {
            int64_t n = MIN(bytes, (int64_t)s->cluster_size);
            QEMUIOVector part;

            qemu_iovec_init_slice(&part, qiov, qoff, n);
            ret = qcow2_co_pwritev_compressed(bs, offset, n, &part);
            qemu_iovec_destroy(&part);
            if (ret < 0) {
                return ret;
            }
            offset += n;
            bytes -= n;
            qoff += n;
        }
        return 0;
    }
    if (bytes != s->cluster_size && offset + bytes != (int64_t)s->size) {
        return -EINVAL;
    }

    buf = g_malloc0(s->cluster_size);
    out = g_malloc(s->cluster_size);
    qemu_iovec_to_buf(qiov, 0, buf, bytes);

    out_len = qcow2_compress(s, out, s->cluster_size - 1, buf,
                             s->cluster_size);
    if (out_len == -ENOMEM) {
        /* Does not shrink: store it uncompressed */
        QEMUIOVector one;

        qemu_iovec_init_buf(&one, buf, bytes);
        return qcow2_co_pwritev_part(bs, offset, bytes, &one, 0, 0);
    } else if (out_len < 0) {
        return -EINVAL;
    }

    qemu_co_mutex_lock(&s->lock);
    qcow2_wait_inflight(bs, offset, bytes);
    if (s->use_lazy_refcounts) {
        ret = qcow2_mark_dirty(bs);
        if (ret < 0) {
            qemu_co_mutex_unlock(&s->lock);
            return ret;
        }
    }
    ret = qcow2_alloc_compressed_cluster_offset(bs, offset, out_len, &host);
    if (ret >= 0) {
        /* The L2 entry is set already; a corrupt image stops here anyway */
        ret = qcow2_pre_write_overlap_check(bs, 0, host, out_len);
    }
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_WRITE_COMPRESSED);
    return bdrv_co_pwrite(bs->file, host, out_len, out, 0);
}

/* Resize */

static int coroutine_fn write_size(BlockDriverState *bs, uint64_t size)
{
    uint8_t buf[8];

    qcow2_st64(buf, size);
    return qcow2_write_header_field(bs, QCOW2_HDR_SIZE, buf, 8);
}

/*
 * falloc/full preallocation laid out as QEMU does it: the refcount table
 * moves to the end of the file, the data clusters follow it in one run
 * (then preallocated in the file), and the L2 tables are allocated
 * normally.  From an unaligned old size the run starts with the old last
 * cluster, its guest data before @old_size copied in (the cluster it had
 * is freed).  -ENOTSUP when the simple layout does not apply.  Called
 * and returns with s->lock held.
 */
static int coroutine_fn qcow2_prealloc_data_area(BlockDriverState *bs,
                                                 uint64_t old_size,
                                                 uint64_t new_size,
                                                 PreallocMode prealloc,
                                                 Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t guest_start = start_of_cluster(s, old_size);
    uint64_t head = old_size - guest_start;
    uint64_t nb_data, nb_l2, check_offset;
    int64_t file_len, table_start, table_clusters, host;
    g_autofree uint8_t *head_buf = NULL;
    int ret;

    /* The new guest clusters must be entirely unallocated */
    for (check_offset = guest_start + (head ? s->cluster_size : 0);
         check_offset < new_size;) {
        uint64_t cur = new_size - check_offset, host_off;
        QCow2ClusterType type;

        ret = qcow2_get_host_offset(bs, check_offset, &cur, &host_off, &type);
        if (ret < 0) {
            return ret;
        }
        if (type != QCOW2_CLUSTER_UNALLOCATED) {
            return -ENOTSUP;
        }
        check_offset += cur;
    }
    if (head) {
        QEMUIOVector qiov;

        head_buf = g_malloc(head);
        qemu_iovec_init_buf(&qiov, head_buf, head);
        qemu_co_mutex_unlock(&s->lock);
        ret = qcow2_co_preadv_part(bs, guest_start, head, &qiov, 0, 0);
        qemu_co_mutex_lock(&s->lock);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read the last cluster");
            return ret;
        }
    }

    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        return file_len;
    }
    nb_data = size_to_clusters(s, new_size - guest_start);
    nb_l2 = DIV_ROUND_UP(nb_data, (uint64_t)s->l2_size);
    table_start = DIV_ROUND_UP(file_len, s->cluster_size);
    table_clusters = qcow2_move_refcount_table(bs, table_start,
                                               table_start + 1 + nb_data +
                                               nb_l2);
    if (table_clusters < 0) {
        if (table_clusters != -ENOTSUP) {
            error_setg_errno(errp, -table_clusters,
                             "Failed to resize refcount structures");
        }
        return table_clusters;
    }
    host = (table_start + table_clusters) << s->cluster_bits;
    ret = qcow2_update_refcount_range(bs, host, nb_data << s->cluster_bits,
                                      1, false, QCOW2_DISCARD_NEVER);
    if (ret >= 0) {
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to allocate the data area");
        return ret;
    }
    ret = bdrv_co_truncate(bs->file, host + (nb_data << s->cluster_bits),
                           false, prealloc, 0, errp);
    if (ret < 0) {
        return ret;
    }
    if (head) {
        ret = bdrv_co_pwrite(bs->file, host, head, head_buf, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to copy the last cluster");
            return ret;
        }
    }
    ret = qcow2_link_data_area(bs, guest_start, host, nb_data);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to map the data area");
        return ret;
    }
    return 0;
}

/*
 * The guest data before @old_size in the old last cluster when that
 * cluster is unallocated and @old_size not cluster aligned: *buf is then
 * set (else left NULL).  Called and returns with s->lock held.
 */
static int coroutine_fn qcow2_read_unallocated_head(BlockDriverState *bs,
                                                    uint64_t old_size,
                                                    uint8_t **buf)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = start_of_cluster(s, old_size);
    uint64_t cur = s->cluster_size, host;
    QCow2ClusterType type;
    QEMUIOVector qiov;
    int ret;

    if (old_size == start) {
        return 0;
    }
    ret = qcow2_get_host_offset(bs, start, &cur, &host, &type);
    if (ret < 0 || type != QCOW2_CLUSTER_UNALLOCATED) {
        return ret;
    }
    *buf = g_malloc(old_size - start);
    qemu_iovec_init_buf(&qiov, *buf, old_size - start);
    qemu_co_mutex_unlock(&s->lock);
    ret = qcow2_co_preadv_part(bs, start, old_size - start, &qiov, 0, 0);
    qemu_co_mutex_lock(&s->lock);
    return ret;
}

/* Write @buf, the data before @old_size, into its (allocated) cluster */
static int coroutine_fn qcow2_write_head(BlockDriverState *bs,
                                         uint64_t old_size,
                                         const uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = start_of_cluster(s, old_size);
    uint64_t cur = s->cluster_size, host;
    QCow2ClusterType type;
    int ret;

    ret = qcow2_get_host_offset(bs, start, &cur, &host, &type);
    if (ret < 0) {
        return ret;
    }
    if (type != QCOW2_CLUSTER_NORMAL) {
        return -EIO;
    }
    return bdrv_co_pwrite(s->data_file, host, old_size - start, buf, 0);
}

/*
 * Make the grown guest range [old_size, new_size) read as zeroes rather
 * than as the backing file's data: zero clusters where whole clusters
 * are new, zeroes written for the rest of the old last cluster.  Called
 * and returns with s->lock held.
 */
static int coroutine_fn qcow2_zero_grown_range(BlockDriverState *bs,
                                               uint64_t old_size,
                                               uint64_t new_size,
                                               Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t zero_start = ROUND_UP(old_size, s->cluster_size);
    int ret;

    if (new_size > zero_start) {
        ret = qcow2_cluster_zeroize(bs, zero_start, new_size - zero_start, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to zero out new clusters");
            return ret;
        }
    }
    if (zero_start > old_size) {
        uint64_t len = MIN(zero_start, new_size) - old_size;
        g_autofree uint8_t *buf = g_malloc0(len);
        QEMUIOVector qiov;

        qemu_iovec_init_buf(&qiov, buf, len);
        qemu_co_mutex_unlock(&s->lock);
        ret = qcow2_co_pwritev_part(bs, old_size, len, &qiov, 0, 0);
        qemu_co_mutex_lock(&s->lock);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to zero out the new area");
            return ret;
        }
    }
    return 0;
}

/*
 * Cut the file after its last used cluster (shrinking).  Failing to do
 * so only wastes space: it is a warning, as in QEMU.
 */
static int coroutine_fn qcow2_truncate_tail(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_len = bdrv_getlength(bs->file->bs);
    int64_t last;

    if (file_len < 0) {
        return file_len;
    }
    /* Metadata must not be cut off while still cached */
    last = qcow2_write_caches(bs);
    if (last < 0) {
        return last;
    }
    last = qcow2_get_last_cluster(bs, file_len);
    if (last < 0) {
        return last;
    }
    if ((last + 1) * s->cluster_size < file_len) {
        Error *local_err = NULL;

        bdrv_co_truncate(bs->file, (last + 1) * s->cluster_size, false,
                         PREALLOC_MODE_OFF, 0, &local_err);
        if (local_err) {
            warn_report("Failed to truncate the tail of the image: %s",
                        error_get_pretty(local_err));
            error_free(local_err);
        }
    }
    return 0;
}

static int coroutine_fn qcow2_co_truncate(BlockDriverState *bs,
                                          int64_t offset, bool exact,
                                          PreallocMode prealloc,
                                          BdrvRequestFlags flags,
                                          Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_size = s->size;
    int64_t new_l1_size;
    g_autofree uint8_t *head_buf = NULL;
    bool zero_grown = false;
    int ret;

    if (prealloc != PREALLOC_MODE_OFF && prealloc != PREALLOC_MODE_METADATA &&
        prealloc != PREALLOC_MODE_FALLOC && prealloc != PREALLOC_MODE_FULL) {
        error_setg(errp, "Unsupported preallocation mode '%s'",
                   prealloc_mode_to_str(prealloc));
        return -ENOTSUP;
    }
    if (!QEMU_IS_ALIGNED(offset, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "The new size must be a multiple of %u",
                   (unsigned)BDRV_SECTOR_SIZE);
        return -EINVAL;
    }

    /* A v2 snapshot entry does not record the disk size it had */
    if (s->nb_snapshots && s->qcow_version < 3) {
        error_setg(errp, "Can't resize a v2 image which has snapshots");
        return -ENOTSUP;
    }

    /* A raw data file keeps its 1:1 mapping in the grown range, too */
    if (data_file_is_raw(bs) && prealloc == PREALLOC_MODE_OFF &&
        (uint64_t)offset > old_size) {
        prealloc = PREALLOC_MODE_METADATA;
    }

    qemu_co_mutex_lock(&s->lock);
    if ((uint64_t)offset < old_size) {
        if (prealloc != PREALLOC_MODE_OFF) {
            error_setg(errp, "Preallocation can't be used for shrinking an "
                       "image");
            ret = -EINVAL;
            goto out;
        }
        qcow2_wait_inflight(bs, offset, old_size - offset);
        ret = qcow2_cluster_discard(bs, ROUND_UP(offset, s->cluster_size),
                                    ROUND_UP(old_size, s->cluster_size) -
                                    ROUND_UP(offset, s->cluster_size),
                                    QCOW2_DISCARD_ALWAYS, true);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to discard cropped "
                             "clusters");
            goto out;
        }
        ret = qcow2_shrink_l1_table(bs, size_to_l1(s, offset));
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to reduce the number of L2 "
                             "tables");
            goto out;
        }
        ret = qcow2_shrink_reftable(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to discard unused "
                             "refblocks");
            goto out;
        }
        ret = qcow2_truncate_tail(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to find the last cluster");
            goto out;
        }
    } else {
        /*
         * Where the backing file is longer than the image, an unallocated
         * grown range would read its data: it must read as zeroes.
         * (Opened without its backing file, consistency is the user's
         * business, as in QEMU.)
         */
        if ((uint64_t)offset > old_size && bs->backing) {
            int64_t backing_len = bdrv_getlength(bs->backing->bs);

            if (backing_len < 0) {
                error_setg_errno(errp, -backing_len,
                                 "Could not get backing file size");
                ret = backing_len;
                goto out;
            }
            zero_grown = (uint64_t)backing_len > old_size;
        }
        new_l1_size = size_to_l1(s, offset);
        if (new_l1_size > INT_MAX) {
            error_setg(errp, "Image is too big");
            ret = -EFBIG;
            goto out;
        }
        ret = qcow2_grow_l1_table(bs, new_l1_size, true);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to grow the L1 table");
            goto out;
        }
        if ((prealloc == PREALLOC_MODE_FALLOC ||
             prealloc == PREALLOC_MODE_FULL) && !has_data_file(bs)) {
            ret = qcow2_prealloc_data_area(bs, old_size, offset, prealloc,
                                           errp);
            if (ret != -ENOTSUP) {
                if (ret < 0) {
                    goto out;
                }
                /* A data area past the old end of the file reads as zeroes */
                zero_grown = false;
                goto done_prealloc;
            }
        }
        if (prealloc != PREALLOC_MODE_OFF) {
            uint64_t end = 0;

            /*
             * Preallocating an unallocated old last cluster must not lose
             * the guest data before old_size (from the backing file):
             * it is copied into the new cluster.
             */
            ret = qcow2_read_unallocated_head(bs, old_size, &head_buf);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to read the last "
                                 "cluster");
                goto out;
            }
            ret = qcow2_preallocate_metadata(bs, old_size, offset, &end);
            if (ret >= 0) {
                ret = qcow2_write_caches(bs);
            }
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Preallocation failed");
                goto out;
            }
            if (end && end > (uint64_t)bdrv_getlength(s->data_file->bs)) {
                ret = bdrv_co_truncate(s->data_file, end, false,
                                       prealloc == PREALLOC_MODE_METADATA
                                       ? PREALLOC_MODE_OFF : prealloc,
                                       0, errp);
                if (ret < 0) {
                    goto out;
                }
            }
            if (head_buf) {
                ret = qcow2_write_head(bs, old_size, head_buf);
                if (ret < 0) {
                    error_setg_errno(errp, -ret, "Failed to copy the last "
                                     "cluster");
                    goto out;
                }
            }
        }
    }
    if (has_data_file(bs) && prealloc == PREALLOC_MODE_OFF) {
        /* The data file follows the disk size */
        ret = bdrv_co_truncate(s->data_file, offset, exact,
                               PREALLOC_MODE_OFF, 0, errp);
        if (ret < 0) {
            goto out;
        }
    }

done_prealloc:
    if (zero_grown) {
        ret = qcow2_zero_grown_range(bs, old_size, offset, errp);
        if (ret < 0) {
            goto out;
        }
    }
    ret = qcow2_write_caches(bs);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret >= 0) {
        ret = write_size(bs, offset);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image size");
        goto out;
    }
    s->size = offset;
    s->l1_vm_state_index = size_to_l1(s, offset);
    ret = 0;
out:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->size;
}

static int qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = bs->opaque;

    bdi->cluster_size = s->cluster_size;
    bdi->vm_state_offset = (int64_t)s->l1_vm_state_index <<
        (s->cluster_bits + s->l2_bits);
    bdi->is_dirty = s->incompatible_features & QCOW2_INCOMPAT_DIRTY;
    return 0;
}

/*
 * A new image reads as zeroes through its empty L2 tables, unless
 * preallocation pointed clusters at the file: then the file decides.
 * Preallocation allocates every L2 table, so the first one tells.
 */
static bool qcow2_has_zero_init(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    bool preallocated = s->l1_size > 0 && s->l1_table[0];

    if (!preallocated) {
        return true;
    }
    /* No data file opened (no I/O): nothing to say */
    return s->data_file && bdrv_has_zero_init(s->data_file->bs);
}

static const char *qcow2_compression_name(BDRVQcow2State *s)
{
    return s->compression_type == QCOW2_COMPRESSION_TYPE_ZSTD ? "zstd"
                                                              : "zlib";
}

static QList *qcow2_bitmap_info_list(BDRVQcow2State *s)
{
    QList *list = qlist_new();
    uint32_t i;

    for (i = 0; i < s->nb_bitmaps; i++) {
        Qcow2BitmapInfo *bm = &s->bitmaps[i];
        QDict *d = qdict_new();
        QList *flags = qlist_new();

        if (bm->flags & QCOW2_BME_FLAG_IN_USE) {
            qlist_append_str(flags, "in-use");
        }
        if (bm->flags & QCOW2_BME_FLAG_AUTO) {
            qlist_append_str(flags, "auto");
        }
        qdict_put(d, "flags", flags);
        qdict_put_str(d, "name", bm->name);
        qdict_put_int(d, "granularity", 1LL << bm->granularity_bits);
        qlist_append(list, d);
    }
    return list;
}

/*
 * QEMU's ImageInfoSpecificQCow2.  The keys come in the order QEMU 7.2
 * prints them (its dictionaries are hash ordered, so this is neither the
 * schema order nor alphabetical); v2 images have no feature fields.
 */
static QDict *qcow2_get_specific_info(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QDict *info = qdict_new();
    QDict *data = qdict_new();

    qdict_put_str(data, "compat", s->qcow_version == 2 ? "0.10" : "1.1");
    qdict_put_str(data, "compression-type", qcow2_compression_name(s));
    if (s->qcow_version >= 3) {
        qdict_put_bool(data, "lazy-refcounts",
                       s->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
        if (s->bitmaps) {
            qdict_put(data, "bitmaps", qcow2_bitmap_info_list(s));
        }
    }
    qdict_put_int(data, "refcount-bits", s->refcount_bits);
    if (s->image_data_file) {
        qdict_put_str(data, "data-file", s->image_data_file);
    }
    if (has_data_file(bs)) {
        qdict_put_bool(data, "data-file-raw", data_file_is_raw(bs));
    }
    if (s->crypt_method_header) {
        QDict *encrypt = qdict_new();

        /*
         * For LUKS, QEMU adds the parameters of the LUKS header; we do
         * not parse it and give the format only.
         */
        qdict_put_str(encrypt, "format",
                      s->crypt_method_header == QCOW_CRYPT_AES ? "aes"
                                                               : "luks");
        qdict_put(data, "encrypt", encrypt);
    }
    if (s->qcow_version >= 3) {
        qdict_put_bool(data, "corrupt",
                       s->incompatible_features & QCOW2_INCOMPAT_CORRUPT);
        /* Images with extended L2 entries are not opened at all */
        qdict_put_bool(data, "extended-l2", false);
    }

    qdict_put_str(info, "type", "qcow2");
    qdict_put(info, "data", data);
    return info;
}

/* One value of the human-readable form, as QEMU's tools print it */
static void dump_qobject(GString *out, int indent, QObject *obj);

static void dump_member(GString *out, int indent, const char *name,
                        QObject *value)
{
    g_string_append_printf(out, "%*s%s:", indent * 4, "", name);
    if (qobject_type(value) == QTYPE_QDICT ||
        qobject_type(value) == QTYPE_QLIST) {
        g_string_append_c(out, '\n');
        dump_qobject(out, indent + 1, value);
    } else {
        g_string_append_c(out, ' ');
        dump_qobject(out, indent, value);
        g_string_append_c(out, '\n');
    }
}

static void dump_qobject(GString *out, int indent, QObject *obj)
{
    switch (qobject_type(obj)) {
    case QTYPE_QDICT: {
        QDict *d = qobject_to(QDict, obj);
        const QDictEntry *e;

        for (e = qdict_first(d); e; e = qdict_next(d, e)) {
            g_autofree char *name = g_strdup(qdict_entry_key(e));

            /* "lazy-refcounts" is shown as "lazy refcounts" */
            g_strdelimit(name, "-", ' ');
            dump_member(out, indent, name, qdict_entry_value(e));
        }
        break;
    }
    case QTYPE_QLIST: {
        QList *l = qobject_to(QList, obj);
        size_t i;

        for (i = 0; i < qlist_size(l); i++) {
            g_autofree char *name = g_strdup_printf("[%zu]", i);

            dump_member(out, indent, name, qlist_get(l, i));
        }
        break;
    }
    case QTYPE_QSTRING:
        g_string_append(out, qstring_get_str(qobject_to(QString, obj)));
        break;
    case QTYPE_QBOOL:
        g_string_append(out, qbool_get_bool(qobject_to(QBool, obj)) ?
                        "true" : "false");
        break;
    case QTYPE_QNUM: {
        g_autofree char *num = qnum_to_string(qobject_to(QNum, obj));

        g_string_append(out, num);
        break;
    }
    default:
        break;
    }
}

static void qcow2_dump_info(BlockDriverState *bs, GString *out)
{
    g_autoptr(QDict) info = qcow2_get_specific_info(bs, NULL);

    g_string_append(out, "Format specific information:\n");
    dump_qobject(out, 1, qdict_get(info, "data"));
}

static int64_t qcow2_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_get_allocated_file_size(bs->file->bs);
}

static void qcow2_refresh_filename(BlockDriverState *bs)
{
    pstrcpy(bs->exact_filename, sizeof(bs->exact_filename),
            bs->file->bs->exact_filename);
}

/* Check */

static int coroutine_fn qcow2_co_check(BlockDriverState *bs,
                                       BdrvCheckResult *result,
                                       BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvCheckResult sn_res = { 0 };
    int ret;

    qemu_co_mutex_lock(&s->lock);
    /* The snapshot table first, as QEMU: its repairs come after refcounts' */
    ret = qcow2_check_read_snapshot_table(bs, &sn_res, fix);
    if (ret >= 0) {
        ret = qcow2_check_refcounts(bs, result, fix);
        if (ret >= 0) {
            ret = qcow2_check_fix_snapshot_table(bs, &sn_res, fix);
        }
    }
    result->corruptions += sn_res.corruptions;
    result->leaks += sn_res.leaks;
    result->check_errors += sn_res.check_errors;
    result->corruptions_fixed += sn_res.corruptions_fixed;
    result->leaks_fixed += sn_res.leaks_fixed;
    if (ret >= 0 && fix && !result->check_errors && !result->corruptions) {
        ret = qcow2_mark_clean(bs);
        if (ret >= 0) {
            ret = qcow2_mark_consistent(bs);
        }
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* Create */

static QemuOptsList qcow2_create_opts = {
    .name = "qcow2-create-opts",
    .head = QTAILQ_HEAD_INITIALIZER(qcow2_create_opts.head),
    .desc = {
        {
            .name = BLOCK_OPT_ENCRYPT,
            .type = QEMU_OPT_BOOL,
            .help = "Encrypt the image with format 'aes'. (Deprecated "
                    "in favor of " BLOCK_OPT_ENCRYPT_FORMAT "=aes)",
        },
        {
            .name = BLOCK_OPT_ENCRYPT_FORMAT,
            .type = QEMU_OPT_STRING,
            .help = "Encrypt the image, format choices: 'aes', 'luks'",
        },
        {
            .name = "encrypt.key-secret",
            .type = QEMU_OPT_STRING,
            .help = "ID of secret providing qcow AES key or LUKS passphrase",
        },
        {
            .name = "encrypt.cipher-alg",
            .type = QEMU_OPT_STRING,
            .help = "Name of encryption cipher algorithm",
        },
        {
            .name = "encrypt.cipher-mode",
            .type = QEMU_OPT_STRING,
            .help = "Name of encryption cipher mode",
        },
        {
            .name = "encrypt.ivgen-alg",
            .type = QEMU_OPT_STRING,
            .help = "Name of IV generator algorithm",
        },
        {
            .name = "encrypt.ivgen-hash-alg",
            .type = QEMU_OPT_STRING,
            .help = "Name of IV generator hash algorithm",
        },
        {
            .name = "encrypt.hash-alg",
            .type = QEMU_OPT_STRING,
            .help = "Name of encryption hash algorithm",
        },
        {
            .name = "encrypt.iter-time",
            .type = QEMU_OPT_NUMBER,
            .help = "Time to spend in PBKDF in milliseconds",
        },
        {
            .name = BLOCK_OPT_CLUSTER_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "qcow2 cluster size",
            .def_value_str = "65536",
        },
        {
            .name = BLOCK_OPT_EXTL2,
            .type = QEMU_OPT_BOOL,
            .help = "Extended L2 tables",
            .def_value_str = "off",
        },
        {
            .name = BLOCK_OPT_PREALLOC,
            .type = QEMU_OPT_STRING,
            .help = "Preallocation mode (allowed values: off, metadata, "
                    "falloc, full)",
        },
        {
            .name = BLOCK_OPT_COMPRESSION_TYPE,
            .type = QEMU_OPT_STRING,
            .help = "Compression method used for image cluster compression",
            .def_value_str = "zlib",
        },
        {
            .name = BLOCK_OPT_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Virtual disk size",
        },
        {
            .name = BLOCK_OPT_COMPAT_LEVEL,
            .type = QEMU_OPT_STRING,
            .help = "Compatibility level (v2 [0.10] or v3 [1.1])",
        },
        {
            .name = BLOCK_OPT_BACKING_FILE,
            .type = QEMU_OPT_STRING,
            .help = "File name of a base image",
        },
        {
            .name = BLOCK_OPT_BACKING_FMT,
            .type = QEMU_OPT_STRING,
            .help = "Image format of the base image",
        },
        {
            .name = BLOCK_OPT_DATA_FILE,
            .type = QEMU_OPT_STRING,
            .help = "File name of an external data file",
        },
        {
            .name = BLOCK_OPT_DATA_FILE_RAW,
            .type = QEMU_OPT_BOOL,
            .help = "The external data file must stay valid as a raw image",
        },
        {
            .name = BLOCK_OPT_LAZY_REFCOUNTS,
            .type = QEMU_OPT_BOOL,
            .help = "Postpone refcount updates",
            .def_value_str = "off",
        },
        {
            .name = BLOCK_OPT_REFCOUNT_BITS,
            .type = QEMU_OPT_NUMBER,
            .help = "Width of a reference count entry in bits",
            .def_value_str = "16",
        },
        { /* end of list */ }
    },
};

/*
 * Build the header cluster of a new image: header, extensions (backing
 * format, feature names, end) and the backing file name, in the order
 * QEMU writes them.
 */
static bool build_header_cluster(uint8_t *buf, int cluster_bits,
                                 int version, int refcount_order,
                                 bool lazy_refcounts, int compression_type,
                                 const char *backing_file,
                                 const char *backing_fmt,
                                 const char *data_file, bool data_file_raw)
{
    size_t size = 1 << cluster_bits;
    uint32_t header_length = version >= 3 ? QCOW2_HDR_V3_LENGTH
                                          : QCOW2_HDR_V2_LENGTH;
    size_t pos = header_length;
    uint64_t incompat = 0;

    memset(buf, 0, size);
    qcow2_st32(buf + QCOW2_HDR_MAGIC, QCOW_MAGIC);
    qcow2_st32(buf + QCOW2_HDR_VERSION, version);
    qcow2_st32(buf + QCOW2_HDR_CLUSTER_BITS, cluster_bits);
    qcow2_st64(buf + QCOW2_HDR_REFTABLE_OFFSET, (uint64_t)size);
    qcow2_st32(buf + QCOW2_HDR_REFTABLE_CLUSTERS, 1);
    if (version >= 3) {
        if (compression_type != QCOW2_COMPRESSION_TYPE_ZLIB) {
            incompat |= QCOW2_INCOMPAT_COMPRESSION;
        }
        if (data_file) {
            incompat |= QCOW2_INCOMPAT_DATA_FILE;
        }
        if (data_file_raw) {
            qcow2_st64(buf + QCOW2_HDR_AUTOCLEAR,
                       QCOW2_AUTOCLEAR_DATA_FILE_RAW);
        }
        qcow2_st64(buf + QCOW2_HDR_INCOMPAT, incompat);
        qcow2_st64(buf + QCOW2_HDR_COMPAT,
                   lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        qcow2_st32(buf + QCOW2_HDR_REFCOUNT_ORDER, refcount_order);
        qcow2_st32(buf + QCOW2_HDR_HEADER_LENGTH, header_length);
        buf[QCOW2_HDR_COMPRESSION_TYPE] = compression_type;
    }

    if (backing_file && backing_fmt &&
        !qcow2_put_header_ext(buf, size, &pos, QCOW2_EXT_MAGIC_BACKING_FORMAT,
                              backing_fmt, strlen(backing_fmt))) {
        return false;
    }
    if (data_file &&
        !qcow2_put_header_ext(buf, size, &pos, QCOW2_EXT_MAGIC_DATA_FILE,
                              data_file, strlen(data_file))) {
        return false;
    }
    /* QEMU leaves the feature names out of small header clusters */
    if (version >= 3 && size > 4096) {
        uint8_t table[ARRAY_SIZE(qcow2_known_features) *
                      QCOW2_FEATURE_ENTRY_LEN];
        size_t i;

        memset(table, 0, sizeof(table));
        for (i = 0; i < ARRAY_SIZE(qcow2_known_features); i++) {
            uint8_t *e = table + i * QCOW2_FEATURE_ENTRY_LEN;

            e[0] = qcow2_known_features[i].type;
            e[1] = qcow2_known_features[i].bit;
            memcpy(e + 2, qcow2_known_features[i].name,
                   strlen(qcow2_known_features[i].name));
        }
        if (!qcow2_put_header_ext(buf, size, &pos,
                                  QCOW2_EXT_MAGIC_FEATURE_TABLE,
                                  table, sizeof(table))) {
            return false;
        }
    }
    if (!qcow2_put_header_ext(buf, size, &pos, QCOW2_EXT_MAGIC_END, NULL, 0)) {
        return false;
    }
    if (backing_file) {
        size_t len = strlen(backing_file);

        if (pos + len > size) {
            return false;
        }
        memcpy(buf + pos, backing_file, len);
        qcow2_st64(buf + QCOW2_HDR_BACKING_OFFSET, pos);
        qcow2_st32(buf + QCOW2_HDR_BACKING_SIZE, len);
    }
    return true;
}

/* What qemu-img create asked for, validated */
typedef struct Qcow2CreateParams {
    uint64_t size;
    uint64_t cluster_size;
    int cluster_bits;
    int version;
    int refcount_order;
    int compression_type;
    PreallocMode prealloc;
    bool lazy_refcounts;
    char *backing_file;
    char *backing_fmt;
    char *data_file;
    bool data_file_raw;
    BlockDriverState *data_bs;      /* the data file, opened */
} Qcow2CreateParams;

static void qcow2_create_params_clear(Qcow2CreateParams *p)
{
    g_free(p->backing_file);
    g_free(p->backing_fmt);
    g_free(p->data_file);
    if (p->data_bs) {
        bdrv_unref(p->data_bs);
    }
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Qcow2CreateParams, qcow2_create_params_clear)

/*
 * Take the qcow2 options out of @opts (what stays there is for the
 * protocol driver) and check each value on its own.  The checks run in
 * QEMU's order, so that the first error reported is the same.
 */
static int qcow2_create_parse_opts(QemuOpts *opts, Qcow2CreateParams *p,
                                   Error **errp)
{
    g_autofree char *compat = NULL;
    g_autofree char *prealloc_str = NULL;
    g_autofree char *ctype_str = NULL;
    g_autofree char *encrypt_fmt = NULL;
    uint64_t refcount_bits;
    bool extended_l2;
    int prealloc;

    p->size = ROUND_UP(qemu_opt_get_size_del(opts, BLOCK_OPT_SIZE, 0),
                       BDRV_SECTOR_SIZE);
    compat = qemu_opt_get_del(opts, BLOCK_OPT_COMPAT_LEVEL);
    p->backing_file = qemu_opt_get_del(opts, BLOCK_OPT_BACKING_FILE);
    p->backing_fmt = qemu_opt_get_del(opts, BLOCK_OPT_BACKING_FMT);
    p->data_file = qemu_opt_get_del(opts, BLOCK_OPT_DATA_FILE);
    p->data_file_raw = qemu_opt_get_bool_del(opts, BLOCK_OPT_DATA_FILE_RAW,
                                             false);
    encrypt_fmt = qemu_opt_get_del(opts, BLOCK_OPT_ENCRYPT_FORMAT);
    p->cluster_size = qemu_opt_get_size_del(opts, BLOCK_OPT_CLUSTER_SIZE,
                                            DEFAULT_CLUSTER_SIZE);
    prealloc_str = qemu_opt_get_del(opts, BLOCK_OPT_PREALLOC);
    ctype_str = qemu_opt_get_del(opts, BLOCK_OPT_COMPRESSION_TYPE);
    p->lazy_refcounts = qemu_opt_get_bool_del(opts, BLOCK_OPT_LAZY_REFCOUNTS,
                                              false);
    extended_l2 = qemu_opt_get_bool_del(opts, BLOCK_OPT_EXTL2, false);
    refcount_bits = qemu_opt_get_number(opts, BLOCK_OPT_REFCOUNT_BITS, 16);
    qemu_opt_unset(opts, BLOCK_OPT_REFCOUNT_BITS);

    if (qemu_opt_get_bool_del(opts, BLOCK_OPT_ENCRYPT, false) ||
        encrypt_fmt) {
        if (!qemu_opt_get(opts, "encrypt.key-secret")) {
            /* What QEMU says first for a missing secret */
            error_setg(errp, "Parameter 'encrypt.key-secret' is required "
                       "for cipher");
            return -EINVAL;
        }
        error_setg(errp, "Encrypted qcow2 images are not supported");
        return -ENOTSUP;
    }
    p->version = 3;
    if (compat) {
        if (!strcmp(compat, "0.10") || !strcmp(compat, "v2")) {
            p->version = 2;
        } else if (!strcmp(compat, "1.1") || !strcmp(compat, "v3")) {
            p->version = 3;
        } else {
            error_setg(errp, "Parameter 'version' does not accept value '%s'",
                       compat);
            return -EINVAL;
        }
    }
    if (!is_power_of_2(p->cluster_size) || p->cluster_size < 512 ||
        p->cluster_size > 2 * MiB) {
        error_setg(errp, "Cluster size must be a power of two between %d and "
                   "%dk", 1 << MIN_CLUSTER_BITS, 1 << (MAX_CLUSTER_BITS - 10));
        return -EINVAL;
    }
    p->cluster_bits = ctz64(p->cluster_size);
    if (extended_l2) {
        error_setg(errp, "Extended L2 entries are not supported");
        return -ENOTSUP;
    }

    prealloc = PREALLOC_MODE_OFF;
    if (prealloc_str) {
        prealloc = prealloc_mode_from_str(prealloc_str);
        if (prealloc < 0) {
            error_setg(errp, "Parameter 'preallocation' does not accept "
                       "value '%s'", prealloc_str);
            return -EINVAL;
        }
    }
    p->prealloc = prealloc;

    p->compression_type = QCOW2_COMPRESSION_TYPE_ZLIB;
    if (ctype_str) {
        if (!strcmp(ctype_str, "zlib")) {
            p->compression_type = QCOW2_COMPRESSION_TYPE_ZLIB;
#ifdef CONFIG_ZSTD
        } else if (!strcmp(ctype_str, "zstd")) {
            p->compression_type = QCOW2_COMPRESSION_TYPE_ZSTD;
#endif
        } else {
            error_setg(errp, "Parameter 'compression-type' does not accept "
                       "value '%s'", ctype_str);
            return -EINVAL;
        }
    }

    if (!is_power_of_2(refcount_bits) || refcount_bits > 64) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    p->refcount_order = ctz64(refcount_bits);
    return 0;
}

/* Check the combinations of values that qcow2 (or this driver) refuses */
static int qcow2_create_check_params(const Qcow2CreateParams *p,
                                     Error **errp)
{
    if (p->version < 3) {
        if (p->lazy_refcounts) {
            error_setg(errp, "Lazy refcounts only supported with "
                       "compatibility level 1.1 and above (use version=v3 "
                       "or greater)");
            return -EINVAL;
        }
        if (p->refcount_order != 4) {
            error_setg(errp, "Different refcount widths than 16 bits require "
                       "compatibility level 1.1 or above (use version=v3 or "
                       "greater)");
            return -EINVAL;
        }
        if (p->compression_type != QCOW2_COMPRESSION_TYPE_ZLIB) {
            error_setg(errp, "Non-zlib compression type is only supported "
                       "with compatibility level 1.1 and above (use "
                       "version=v3 or greater)");
            return -EINVAL;
        }
    }
    if (p->backing_fmt && !p->backing_file) {
        error_setg(errp, "Backing format cannot be used without backing "
                   "file");
        return -EINVAL;
    }
    if (p->backing_file && p->prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Backing file and preallocation can only be used at "
                   "the same time if extended_l2 is on");
        return -EINVAL;
    }
    if (p->backing_fmt && strlen(p->backing_fmt) >= 16) {
        error_setg(errp, "Backing format name too long");
        return -EINVAL;
    }
    if (p->backing_file && strlen(p->backing_file) > 1023) {
        error_setg(errp, "Backing file name too long");
        return -EINVAL;
    }
    if (p->data_file_raw && !p->data_file) {
        error_setg(errp, "data-file-raw requires data-file");
        return -EINVAL;
    }
    if (p->data_file_raw && p->backing_file) {
        error_setg(errp, "Backing file and data-file-raw cannot be used at "
                   "the same time");
        return -EINVAL;
    }
    if (p->data_file && p->version < 3) {
        error_setg(errp, "External data files are only supported with "
                   "compatibility level 1.1 and above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    return 0;
}

/*
 * Write the skeleton of an empty image to the protocol file: the header
 * cluster @header, then a one-cluster refcount table and the refcount
 * block that covers those three clusters.
 */
static int coroutine_fn qcow2_co_create_skeleton(const char *filename,
                                                 BlockDriver *proto,
                                                 const Qcow2CreateParams *p,
                                                 uint8_t *header,
                                                 Error **errp)
{
    uint64_t cluster_size = p->cluster_size;
    BlockBackend *blk;
    BdrvChild *root;
    QDict *options;
    int ret;
    int i;

    options = qdict_new();
    qdict_put_str(options, "driver", proto->format_name);
    blk = blk_new_open(filename, NULL, options,
                       BDRV_O_RDWR | BDRV_O_PROTOCOL | BDRV_O_RESIZE, errp);
    if (!blk) {
        return -EIO;
    }
    /* Through the root child: the backend refuses writes past EOF */
    root = blk_root(blk);
    ret = bdrv_co_truncate(root, 0, false, PREALLOC_MODE_OFF, 0, NULL);
    if (ret >= 0) {
        ret = bdrv_co_pwrite(root, 0, cluster_size, header, 0);
    }
    if (ret >= 0) {
        /* Refcount table at cluster 1 pointing at the block at cluster 2 */
        memset(header, 0, cluster_size);
        qcow2_st64(header, 2 * cluster_size);
        ret = bdrv_co_pwrite(root, cluster_size, cluster_size, header, 0);
    }
    if (ret >= 0) {
        memset(header, 0, cluster_size);
        for (i = 0; i < 3; i++) {
            qcow2_set_refcount_funcs[p->refcount_order](header, i, 1);
        }
        ret = bdrv_co_pwrite(root, 2 * cluster_size, cluster_size, header, 0);
    }
    if (ret >= 0) {
        ret = bdrv_co_flush(blk_bs(blk));
    }
    blk_unref(blk);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write qcow2 header");
        return ret;
    }
    return 0;
}

/*
 * Open the skeleton as qcow2 and grow it to the requested size: that
 * allocates the L1 table (and does the preallocation).
 */
static int coroutine_fn qcow2_co_create_resize(const char *filename,
                                               BlockDriver *proto,
                                               const Qcow2CreateParams *p,
                                               Error **errp)
{
    BlockBackend *blk;
    QDict *options;
    int ret;

    options = qdict_new();
    qdict_put_str(options, "driver", "qcow2");
    qdict_put_str(options, "file.driver", proto->format_name);
    if (p->data_bs) {
        qdict_put_str(options, "data-file", bdrv_get_node_name(p->data_bs));
    }
    blk = blk_new_open(filename, NULL, options,
                       BDRV_O_RDWR | BDRV_O_RESIZE | BDRV_O_NO_BACKING |
                       BDRV_O_NO_FLUSH, errp);
    if (!blk) {
        return -EIO;
    }
    ret = blk_co_truncate(blk, p->size, false, p->prealloc, 0, errp);
    blk_unref(blk);
    return ret < 0 ? ret : 0;
}

static int coroutine_fn qcow2_co_create_opts(BlockDriver *drv,
                                             const char *filename,
                                             QemuOpts *opts, Error **errp)
{
    g_auto(Qcow2CreateParams) p = { 0 };
    g_autofree uint8_t *header = NULL;
    BlockDriver *proto;
    int ret;

    ret = qcow2_create_parse_opts(opts, &p, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_create_check_params(&p, errp);
    if (ret < 0) {
        return ret;
    }

    header = g_malloc0(p.cluster_size);
    if (!build_header_cluster(header, p.cluster_bits, p.version,
                              p.refcount_order, p.lazy_refcounts,
                              p.compression_type, p.backing_file,
                              p.backing_fmt, p.data_file,
                              p.data_file_raw)) {
        error_setg(errp, "Header extensions do not fit in one cluster");
        return -EINVAL;
    }

    /* The protocol file, emptied */
    ret = bdrv_co_create_file(filename, opts, errp);
    if (ret < 0) {
        return ret;
    }
    if (p.data_file) {
        /* The data file's node names it as the header records it */
        p.data_bs = qcow2_co_create_data_file(p.data_file, errp);
        if (!p.data_bs) {
            qcow2_delete_new_file(filename);
            return -EIO;
        }
        g_free(p.data_file);
        p.data_file = g_strdup(p.data_bs->filename);
        if (!build_header_cluster(header, p.cluster_bits, p.version,
                                  p.refcount_order, p.lazy_refcounts,
                                  p.compression_type, p.backing_file,
                                  p.backing_fmt, p.data_file,
                                  p.data_file_raw)) {
            error_setg(errp, "Header extensions do not fit in one cluster");
            return -EINVAL;
        }
    }
    proto = bdrv_find_protocol(filename, true, errp);
    if (!proto) {
        return -ENOENT;
    }
    ret = qcow2_co_create_skeleton(filename, proto, &p, header, errp);
    if (ret < 0) {
        return ret;
    }
    return qcow2_co_create_resize(filename, proto, &p, errp);
}

static BlockDriver bdrv_qcow2 = {
    .format_name                = "qcow2",
    .instance_size              = sizeof(BDRVQcow2State),
    .supports_backing           = true,

    .bdrv_probe                 = qcow2_probe,
    .bdrv_open                  = qcow2_open,
    .bdrv_close                 = qcow2_close,
    .bdrv_reopen_prepare        = qcow2_reopen_prepare,
    .bdrv_reopen_commit         = qcow2_reopen_commit,
    .bdrv_reopen_abort          = qcow2_reopen_abort,

    .bdrv_co_preadv             = qcow2_co_preadv,
    .bdrv_co_pwritev            = qcow2_co_pwritev,
    .bdrv_co_pwritev_compressed = qcow2_co_pwritev_compressed,
    .bdrv_co_pwrite_zeroes      = qcow2_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = qcow2_co_pdiscard,
    .bdrv_co_flush_to_os        = qcow2_co_flush_to_os,
    .bdrv_co_block_status       = qcow2_co_block_status,
    .bdrv_co_truncate           = qcow2_co_truncate,

    .bdrv_getlength             = qcow2_getlength,
    .bdrv_get_allocated_file_size = qcow2_get_allocated_file_size,
    .bdrv_get_info              = qcow2_get_info,
    .bdrv_has_zero_init         = qcow2_has_zero_init,
    .bdrv_refresh_limits        = qcow2_refresh_limits,
    .bdrv_refresh_filename      = qcow2_refresh_filename,
    .bdrv_get_specific_info     = qcow2_get_specific_info,
    .bdrv_snapshot_list         = qcow2_snapshot_list,
    .bdrv_co_snapshot_create    = qcow2_co_snapshot_create,
    .bdrv_co_snapshot_goto      = qcow2_co_snapshot_goto,
    .bdrv_co_snapshot_delete    = qcow2_co_snapshot_delete,
    .bdrv_snapshot_load_tmp     = qcow2_snapshot_load_tmp,
    .bdrv_co_load_vmstate       = qcow2_co_load_vmstate,
    .bdrv_co_save_vmstate       = qcow2_co_save_vmstate,
    .bdrv_dump_info             = qcow2_dump_info,
    .bdrv_supports_persistent_dirty_bitmap =
        qcow2_supports_persistent_dirty_bitmap,
    .bdrv_can_store_new_dirty_bitmap = qcow2_can_store_new_dirty_bitmap,
    .bdrv_co_check              = qcow2_co_check,
    .bdrv_co_change_backing_file = qcow2_co_change_backing_file,
    .bdrv_co_make_empty         = qcow2_co_make_empty,
    .amend_opts                 = &qcow2_amend_opts,
    .bdrv_co_amend_options      = qcow2_co_amend_options,

    .create_opts                = &qcow2_create_opts,
    .bdrv_co_create_opts        = qcow2_co_create_opts,
    .bdrv_measure               = qcow2_measure,

    .supported_zero_flags       = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK,
};

static void bdrv_qcow2_init(void)
{
    bdrv_register(&bdrv_qcow2);
}

block_init(bdrv_qcow2_init);
