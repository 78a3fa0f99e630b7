/*
 * Block layer core: driver registry, opening nodes, the node graph
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/option.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qapi/error.h"

static QLIST_HEAD(, BlockDriver) bdrv_drivers =
    QLIST_HEAD_INITIALIZER(bdrv_drivers);
static QTAILQ_HEAD(, BlockDriverState) all_bdrv_states =
    QTAILQ_HEAD_INITIALIZER(all_bdrv_states);
static uint64_t next_auto_node_id;

/* Options every node understands; consumed by the core before the driver */
static QemuOptsList bdrv_runtime_opts = {
    .name = "bdrv_common",
    QEMU_OPTS_LIST_INIT(bdrv_runtime_opts),
    .desc = {
        { .name = "node-name", .type = QEMU_OPT_STRING,
          .help = "Node name of the block device node" },
        { .name = "driver", .type = QEMU_OPT_STRING,
          .help = "Block driver to use for the node" },
        { .name = "read-only", .type = QEMU_OPT_BOOL,
          .help = "Node is opened in read-only mode" },
        { .name = "auto-read-only", .type = QEMU_OPT_BOOL,
          .help = "Node can become read-only if opening read-write fails" },
        { .name = "cache.direct", .type = QEMU_OPT_BOOL,
          .help = "Bypass software writeback cache on the host" },
        { .name = "cache.no-flush", .type = QEMU_OPT_BOOL,
          .help = "Ignore flush requests" },
        { .name = "discard", .type = QEMU_OPT_STRING,
          .help = "discard operation (ignore/off, unmap/on)" },
        { .name = "force-share", .type = QEMU_OPT_BOOL,
          .help = "always accept other writers (default: off)" },
        { .name = "detect-zeroes", .type = QEMU_OPT_STRING,
          .help = "try to optimize zero writes (off, on, unmap)" },
        { /* end of list */ }
    },
};

QemuOptsList bdrv_create_opts_simple = {
    .name = "simple-create-opts",
    QEMU_OPTS_LIST_INIT(bdrv_create_opts_simple),
    .desc = {
        { .name = BLOCK_OPT_SIZE, .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { /* end of list */ }
    },
};

const char *const BlkdebugEvent_str[BLKDBG__MAX] = {
    [BLKDBG_L1_UPDATE] = "l1_update",
    [BLKDBG_L1_GROW_ALLOC_TABLE] = "l1_grow_alloc_table",
    [BLKDBG_L1_GROW_WRITE_TABLE] = "l1_grow_write_table",
    [BLKDBG_L1_GROW_ACTIVATE_TABLE] = "l1_grow_activate_table",
    [BLKDBG_L2_LOAD] = "l2_load",
    [BLKDBG_L2_UPDATE] = "l2_update",
    [BLKDBG_L2_UPDATE_COMPRESSED] = "l2_update_compressed",
    [BLKDBG_L2_ALLOC_COW_READ] = "l2_alloc_cow_read",
    [BLKDBG_L2_ALLOC_WRITE] = "l2_alloc_write",
    [BLKDBG_READ_AIO] = "read_aio",
    [BLKDBG_READ_BACKING_AIO] = "read_backing_aio",
    [BLKDBG_READ_COMPRESSED] = "read_compressed",
    [BLKDBG_WRITE_AIO] = "write_aio",
    [BLKDBG_WRITE_COMPRESSED] = "write_compressed",
    [BLKDBG_VMSTATE_LOAD] = "vmstate_load",
    [BLKDBG_VMSTATE_SAVE] = "vmstate_save",
    [BLKDBG_COW_READ] = "cow_read",
    [BLKDBG_COW_WRITE] = "cow_write",
    [BLKDBG_REFTABLE_LOAD] = "reftable_load",
    [BLKDBG_REFTABLE_GROW] = "reftable_grow",
    [BLKDBG_REFTABLE_UPDATE] = "reftable_update",
    [BLKDBG_REFBLOCK_LOAD] = "refblock_load",
    [BLKDBG_REFBLOCK_UPDATE] = "refblock_update",
    [BLKDBG_REFBLOCK_UPDATE_PART] = "refblock_update_part",
    [BLKDBG_REFBLOCK_ALLOC] = "refblock_alloc",
    [BLKDBG_REFBLOCK_ALLOC_HOOKUP] = "refblock_alloc_hookup",
    [BLKDBG_REFBLOCK_ALLOC_WRITE] = "refblock_alloc_write",
    [BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS] = "refblock_alloc_write_blocks",
    [BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE] = "refblock_alloc_write_table",
    [BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE] = "refblock_alloc_switch_table",
    [BLKDBG_CLUSTER_ALLOC] = "cluster_alloc",
    [BLKDBG_CLUSTER_ALLOC_BYTES] = "cluster_alloc_bytes",
    [BLKDBG_CLUSTER_FREE] = "cluster_free",
    [BLKDBG_FLUSH_TO_OS] = "flush_to_os",
    [BLKDBG_FLUSH_TO_DISK] = "flush_to_disk",
    [BLKDBG_PWRITEV_RMW_HEAD] = "pwritev_rmw_head",
    [BLKDBG_PWRITEV_RMW_AFTER_HEAD] = "pwritev_rmw_after_head",
    [BLKDBG_PWRITEV_RMW_TAIL] = "pwritev_rmw_tail",
    [BLKDBG_PWRITEV_RMW_AFTER_TAIL] = "pwritev_rmw_after_tail",
    [BLKDBG_PWRITEV] = "pwritev",
    [BLKDBG_PWRITEV_ZERO] = "pwritev_zero",
    [BLKDBG_PWRITEV_DONE] = "pwritev_done",
    [BLKDBG_EMPTY_IMAGE_PREPARE] = "empty_image_prepare",
    [BLKDBG_L1_SHRINK_WRITE_TABLE] = "l1_shrink_write_table",
    [BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS] = "l1_shrink_free_l2_clusters",
    [BLKDBG_COR_WRITE] = "cor_write",
    [BLKDBG_CLUSTER_ALLOC_SPACE] = "cluster_alloc_space",
    [BLKDBG_NONE] = "none",
};

/* Registry */

void bdrv_register(BlockDriver *bdrv)
{
    QLIST_INSERT_HEAD(&bdrv_drivers, bdrv, list);
}

void bdrv_init(void)
{
    /* Drivers register themselves from constructors (block_init) */
}

BlockDriver *bdrv_find_format(const char *format_name)
{
    BlockDriver *drv;

    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (!strcmp(drv->format_name, format_name)) {
            return drv;
        }
    }
    return NULL;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void bdrv_iterate_format(void (*fn)(void *opaque, const char *name),
                         void *opaque)
{
    BlockDriver *drv;
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    guint i;

    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        g_ptr_array_add(names, (gpointer)drv->format_name);
    }
    qsort(names->pdata, names->len, sizeof(gpointer), compare_names);
    for (i = 0; i < names->len; i++) {
        /* Several drivers may share a name (nbd, nbd+unix): list it once */
        if (i == 0 || strcmp(names->pdata[i], names->pdata[i - 1])) {
            fn(opaque, names->pdata[i]);
        }
    }
}

/* Length of a "proto:" prefix of @filename, 0 if it has none */
static size_t protocol_prefix_len(const char *filename)
{
    const char *p = strchr(filename, ':');
    const char *slash = strchr(filename, '/');

    if (!p || p == filename || (slash && slash < p)) {
        return 0;
    }
    return p - filename;
}

BlockDriver *bdrv_find_protocol(const char *filename,
                                bool allow_protocol_prefix, Error **errp)
{
    BlockDriver *drv;
    size_t len;

    len = allow_protocol_prefix ? protocol_prefix_len(filename) : 0;
    if (len == 0) {
        /* Block devices and the like have drivers of their own */
        BlockDriver *best = NULL;
        int score, best_score = 0;

        QLIST_FOREACH(drv, &bdrv_drivers, list) {
            if (drv->bdrv_probe_device) {
                score = drv->bdrv_probe_device(filename);
                if (score > best_score) {
                    best_score = score;
                    best = drv;
                }
            }
        }
        return best ? best : bdrv_find_format("file");
    }
    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (drv->protocol_name && strlen(drv->protocol_name) == len &&
            !strncmp(drv->protocol_name, filename, len)) {
            return drv;
        }
    }
    error_setg(errp, "Unknown protocol '%.*s'", (int)len, filename);
    return NULL;
}

/* The format whose probe scores @buf highest (raw scores 1) */
static BlockDriver *bdrv_probe_all(const uint8_t *buf, int buf_size,
                                   const char *filename)
{
    BlockDriver *drv, *best = NULL;
    int score, best_score = 0;

    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (drv->bdrv_probe) {
            score = drv->bdrv_probe(buf, buf_size, filename);
            if (score > best_score) {
                best_score = score;
                best = drv;
            }
        }
    }
    return best;
}

BlockDriver *bdrv_probe_format(const uint8_t *buf, int buf_size,
                               const char *filename)
{
    return bdrv_probe_all(buf, buf_size, filename);
}

/* Option values */

int prealloc_mode_from_str(const char *str)
{
    static const char *const names[] = {
        [PREALLOC_MODE_OFF] = "off",
        [PREALLOC_MODE_METADATA] = "metadata",
        [PREALLOC_MODE_FALLOC] = "falloc",
        [PREALLOC_MODE_FULL] = "full",
    };
    int i;

    for (i = 0; i < PREALLOC_MODE__MAX; i++) {
        if (!strcmp(str, names[i])) {
            return i;
        }
    }
    return -1;
}

const char *prealloc_mode_to_str(PreallocMode mode)
{
    static const char *const names[] = {
        "off", "metadata", "falloc", "full"
    };

    assert(mode < PREALLOC_MODE__MAX);
    return names[mode];
}

int bdrv_parse_aio(const char *mode, int *flags)
{
    if (!strcmp(mode, "threads")) {
        /* default */
    } else if (!strcmp(mode, "native")) {
        *flags |= BDRV_O_NATIVE_AIO;
    } else if (!strcmp(mode, "io_uring")) {
        *flags |= BDRV_O_IO_URING;
    } else {
        return -1;
    }
    return 0;
}

int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough)
{
    *flags &= ~BDRV_O_CACHE_MASK;

    if (!strcmp(mode, "off") || !strcmp(mode, "none")) {
        *writethrough = false;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "directsync")) {
        *writethrough = true;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "writeback")) {
        *writethrough = false;
    } else if (!strcmp(mode, "unsafe")) {
        *writethrough = false;
        *flags |= BDRV_O_NO_FLUSH;
    } else if (!strcmp(mode, "writethrough")) {
        *writethrough = true;
    } else {
        return -1;
    }
    return 0;
}

int bdrv_parse_discard_flags(const char *mode, int *flags)
{
    *flags &= ~BDRV_O_UNMAP;

    if (!strcmp(mode, "off") || !strcmp(mode, "ignore")) {
        /* do nothing */
    } else if (!strcmp(mode, "on") || !strcmp(mode, "unmap")) {
        *flags |= BDRV_O_UNMAP;
    } else {
        return -1;
    }
    return 0;
}

/* Node lookup and naming */

BlockDriverState *bdrv_find_node(const char *node_name)
{
    BlockDriverState *bs;

    QTAILQ_FOREACH(bs, &all_bdrv_states, node_list) {
        if (!strcmp(bs->node_name, node_name)) {
            return bs;
        }
    }
    return NULL;
}

const char *bdrv_get_node_name(const BlockDriverState *bs)
{
    return bs->node_name;
}

static bool bdrv_assign_node_name(BlockDriverState *bs, const char *name,
                                  Error **errp)
{
    if (!name) {
        snprintf(bs->node_name, sizeof(bs->node_name), "#block%03" PRIu64,
                 next_auto_node_id++);
        return true;
    }
    if (!name[0] || name[0] == '#' || strlen(name) >= sizeof(bs->node_name)) {
        error_setg(errp, "Invalid node-name: '%s'", name);
        return false;
    }
    if (bdrv_find_node(name)) {
        error_setg(errp, "Duplicate nodes with node-name='%s'", name);
        return false;
    }
    pstrcpy(bs->node_name, sizeof(bs->node_name), name);
    return true;
}

static BlockDriverState *bdrv_new(void)
{
    BlockDriverState *bs = g_new0(BlockDriverState, 1);

    bs->refcnt = 1;
    bs->enable_write_cache = true;
    QLIST_INIT(&bs->children);
    QLIST_INIT(&bs->parents);
    QLIST_INIT(&bs->tracked_requests);
    QTAILQ_INIT(&bs->dirty_bitmaps);
    qemu_co_queue_init(&bs->flush_queue);
    QTAILQ_INSERT_TAIL(&all_bdrv_states, bs, node_list);
    return bs;
}

/* Children */

BdrvChild *bdrv_attach_child(BlockDriverState *parent,
                             BlockDriverState *child_bs,
                             const char *child_name, BdrvChildRole role,
                             Error **errp)
{
    BdrvChild *child = g_new0(BdrvChild, 1);

    *child = (BdrvChild) {
        .bs = child_bs,
        .parent = parent,
        .name = g_strdup(child_name),
        .role = role,
    };
    bdrv_ref(child_bs);
    QLIST_INSERT_HEAD(&child_bs->parents, child, next_parent);
    if (parent) {
        QLIST_INSERT_HEAD(&parent->children, child, next);
        if (role & BDRV_CHILD_COW) {
            parent->backing = child;
        } else if (!strcmp(child_name, "file")) {
            parent->file = child;
        }
    }
    return child;
}

void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child)
{
    if (!child) {
        return;
    }
    if (parent) {
        QLIST_REMOVE(child, next);
        if (parent->file == child) {
            parent->file = NULL;
        }
        if (parent->backing == child) {
            parent->backing = NULL;
        }
    }
    QLIST_REMOVE(child, next_parent);
    bdrv_unref(child->bs);
    g_free(child->name);
    g_free(child);
}

static BlockDriverState *bdrv_open_inherit(const char *filename,
                                           const char *reference,
                                           QDict *options, int flags,
                                           Error **errp);

/* Flags a child inherits from its parent */
static int bdrv_child_flags(int parent_flags, int extra)
{
    int keep = BDRV_O_RDWR | BDRV_O_CACHE_MASK | BDRV_O_NATIVE_AIO |
               BDRV_O_IO_URING | BDRV_O_UNMAP | BDRV_O_NO_IO |
               BDRV_O_AUTO_RDONLY | BDRV_O_NO_SHARE | BDRV_O_CHECK |
               BDRV_O_RESIZE;

    return (parent_flags & keep) | extra;
}

BdrvChild *bdrv_open_child(const char *filename, QDict *options,
                           const char *bdref_key,
                           BlockDriverState *parent, BdrvChildRole role,
                           int flags, bool allow_none, Error **errp)
{
    g_autofree char *prefix = g_strdup_printf("%s.", bdref_key);
    g_autofree char *reference = NULL;
    QDict *child_options = NULL;
    BlockDriverState *bs;
    BdrvChild *child;
    const char *ref;

    qdict_extract_subqdict(options, &child_options, prefix);
    ref = qdict_get_try_str(options, bdref_key);
    reference = g_strdup(ref);
    qdict_del(options, bdref_key);

    if (!filename && !reference && !qdict_size(child_options)) {
        qobject_unref(child_options);
        if (!allow_none) {
            error_setg(errp, "A block device must be specified for \"%s\"",
                       bdref_key);
        }
        return NULL;
    }

    bs = bdrv_open_inherit(filename, reference, child_options,
                           bdrv_child_flags(parent->open_flags, flags),
                           errp);
    if (!bs) {
        return NULL;
    }
    /*
     * A writable parent writes to its file and data children: they cannot
     * be read-only ("read-only=on" in the child's options, or a reference
     * to a read-only node).  Backing children go through
     * bdrv_open_backing_file().
     */
    if (!parent->read_only && bs->read_only) {
        error_setg(errp, "Block node is read-only");
        bdrv_unref(bs);
        return NULL;
    }
    child = bdrv_attach_child(parent, bs, bdref_key, role, errp);
    bdrv_unref(bs);
    return child;
}

int bdrv_add_perm(BlockDriverState *bs, uint64_t perm, uint64_t unshared,
                  Error **errp)
{
    if (!bs->drv || !bs->drv->bdrv_add_perm) {
        return 0;
    }
    return bs->drv->bdrv_add_perm(bs, perm, unshared, errp);
}

int bdrv_open_file_child(const char *filename, QDict *options,
                         const char *bdref_key, BlockDriverState *parent,
                         Error **errp)
{
    BdrvChildRole role = parent->drv->is_filter ?
        (BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY) :
        (BDRV_CHILD_IMAGE | BDRV_CHILD_PRIMARY);
    BdrvChild *child;

    /*
     * A format sends flushes and honours its own discard policy itself,
     * so its file always accepts unmap (as in QEMU); a filter's child
     * follows the parent's setting.
     */
    child = bdrv_open_child(filename, options, bdref_key, parent, role,
                            BDRV_O_PROTOCOL |
                            (parent->drv->is_filter ? 0 : BDRV_O_UNMAP),
                            false, errp);
    if (!child) {
        return -EINVAL;
    }
    if (strcmp(bdref_key, "file")) {
        parent->file = child;
    }
    return 0;
}

char *bdrv_get_full_backing_filename_from_filename(const char *base_path,
                                                   const char *backing,
                                                   Error **errp)
{
    g_autofree char *dir = NULL;

    if (backing[0] == '\0' || protocol_prefix_len(backing) ||
        g_path_is_absolute(backing)) {
        return g_strdup(backing);
    }
    if (!base_path || !base_path[0] || protocol_prefix_len(base_path) ||
        g_str_has_prefix(base_path, "json:")) {
        error_setg(errp, "Cannot use relative backing file names for '%s'",
                   base_path ? base_path : "");
        return NULL;
    }
    /* As QEMU's path_combine: "base.qcow2" stays so, not "./base.qcow2" */
    if (!strchr(base_path, '/')) {
        return g_strdup(backing);
    }
    dir = g_path_get_dirname(base_path);
    return g_build_filename(dir, backing, NULL);
}

/*
 * The backing file name of @bs as it is to be opened: a relative name is
 * relative to the directory of the file under @bs (through filters and
 * formats, as QEMU's bdrv_dirname()), whatever filename or options
 * (blkdebug:, json:) named @bs itself.
 */
static char *bdrv_backing_filename_of(BlockDriverState *bs, Error **errp)
{
    g_autofree char *dir = NULL;

    if (protocol_prefix_len(bs->backing_file) ||
        g_path_is_absolute(bs->backing_file)) {
        return g_strdup(bs->backing_file);
    }
    dir = bdrv_dirname(bs, errp);
    if (!dir) {
        return NULL;
    }
    return g_strconcat(dir, bs->backing_file, NULL);
}

int bdrv_open_backing_file(BlockDriverState *bs, QDict *parent_options,
                           const char *bdref_key, Error **errp)
{
    ERRP_GUARD();
    g_autofree char *backing_filename = NULL;
    g_autofree char *prefix = g_strdup_printf("%s.", bdref_key);
    QDict *options = NULL;
    const char *ref;
    BdrvChild *child;
    BlockDriverState *backing_bs;
    int flags;

    qdict_extract_subqdict(parent_options, &options, prefix);
    ref = qdict_get_try_str(parent_options, bdref_key);
    if (ref && !ref[0]) {
        /* "backing": "" (null) disables the backing file */
        qdict_del(parent_options, bdref_key);
        qobject_unref(options);
        return 0;
    }
    if (!ref && !qdict_size(options) &&
        ((bs->open_flags & BDRV_O_NO_BACKING) || !bs->backing_file[0])) {
        qobject_unref(options);
        return 0;
    }

    if (!ref && !qdict_haskey(options, "file.filename") &&
        !qdict_haskey(options, "filename") && bs->backing_file[0]) {
        backing_filename = bdrv_backing_filename_of(bs, errp);
        if (!backing_filename) {
            qobject_unref(options);
            return -EINVAL;
        }
        if (bs->backing_format[0] && !qdict_haskey(options, "driver")) {
            qdict_put_str(options, "driver", bs->backing_format);
        }
    }

    /* Backing files are read-only unless a commit job asks otherwise */
    flags = bdrv_child_flags(bs->open_flags, 0) & ~BDRV_O_RDWR;
    backing_bs = bdrv_open_inherit(backing_filename, ref, options, flags,
                                   errp);
    qdict_del(parent_options, bdref_key);
    if (!backing_bs) {
        error_prepend(errp, "Could not open backing file: ");
        return -EINVAL;
    }
    child = bdrv_attach_child(bs, backing_bs, bdref_key, BDRV_CHILD_COW,
                              errp);
    bdrv_unref(backing_bs);
    if (!child) {
        return -EINVAL;
    }
    return 0;
}

/* Length */

int bdrv_refresh_total_sectors(BlockDriverState *bs, int64_t hint)
{
    BlockDriver *drv = bs->drv;
    int64_t len;

    if (!drv) {
        return -ENOMEDIUM;
    }
    len = hint;
    if (drv->bdrv_getlength) {
        len = drv->bdrv_getlength(bs);
        if (len < 0) {
            return len;
        }
    } else if (bs->file) {
        len = bdrv_getlength(bs->file->bs);
        if (len < 0) {
            return len;
        }
    }
    bs->total_bytes = len;
    bs->total_sectors = DIV_ROUND_UP(len, BDRV_SECTOR_SIZE);
    return 0;
}

/* As in QEMU, lengths are whole 512-byte sectors (rounded up) */
int64_t bdrv_getlength(BlockDriverState *bs)
{
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    return bs->total_sectors * BDRV_SECTOR_SIZE;
}

int64_t bdrv_nb_sectors(BlockDriverState *bs)
{
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    return bs->total_sectors;
}

int64_t bdrv_get_allocated_file_size(BlockDriverState *bs)
{
    BlockDriver *drv = bs->drv;
    BdrvChild *child;
    int64_t sum = 0, ret;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if (drv->bdrv_get_allocated_file_size) {
        return drv->bdrv_get_allocated_file_size(bs);
    }
    if (drv->protocol_name) {
        /* A protocol (blkverify, null-co, ...) says what it stores or not */
        return -ENOTSUP;
    }
    if (drv->is_filter && bs->file) {
        return bdrv_get_allocated_file_size(bs->file->bs);
    }
    /* Sum of the storage children (not backing files) */
    QLIST_FOREACH(child, &bs->children, next) {
        if (child->role & BDRV_CHILD_COW) {
            continue;
        }
        ret = bdrv_get_allocated_file_size(child->bs);
        if (ret < 0) {
            return ret;
        }
        sum += ret;
    }
    return QLIST_EMPTY(&bs->children) ? -ENOTSUP : sum;
}

/* Limits */

void bdrv_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BlockDriver *drv = bs->drv;
    BdrvChild *c;
    bool have_limits = false;

    memset(&bs->bl, 0, sizeof(bs->bl));
    if (!drv) {
        return;
    }
    /*
     * Inherit from the children.  request_alignment is not inherited: a
     * child pads requests to its own alignment, and a driver that needs
     * more sets it (blkverify must compare exactly the bytes asked for).
     * Transfer limits come from the primary child, memory alignment from
     * every child the node may pass buffers to.
     */
    QLIST_FOREACH(c, &bs->children, next) {
        BlockLimits *cl = &c->bs->bl;

        if (!(c->role & (BDRV_CHILD_DATA | BDRV_CHILD_FILTERED |
                         BDRV_CHILD_METADATA))) {
            continue;
        }
        if (c->role & (BDRV_CHILD_PRIMARY | BDRV_CHILD_FILTERED)) {
            bs->bl.max_transfer = MIN_NON_ZERO(bs->bl.max_transfer,
                                               cl->max_transfer);
        }
        bs->bl.min_mem_alignment = MAX(bs->bl.min_mem_alignment,
                                       cl->min_mem_alignment);
        bs->bl.opt_mem_alignment = MAX(bs->bl.opt_mem_alignment,
                                       cl->opt_mem_alignment);
        bs->bl.max_iov = have_limits ? MIN(bs->bl.max_iov, cl->max_iov)
                                     : cl->max_iov;
        bs->bl.opt_transfer = MAX(bs->bl.opt_transfer, cl->opt_transfer);
        have_limits = true;
    }
    if (!have_limits) {
        bs->bl.min_mem_alignment = 512;
        bs->bl.opt_mem_alignment = qemu_real_host_page_size();
        bs->bl.max_iov = IOV_MAX;
    }
    if (drv->bdrv_refresh_limits) {
        drv->bdrv_refresh_limits(bs, errp);
    }
    if (!bs->bl.request_alignment) {
        bs->bl.request_alignment = 1;
    }
    if (!bs->bl.max_iov) {
        bs->bl.max_iov = IOV_MAX;
    }
}

/* Filenames */

static bool bdrv_options_describe_only_filename(QDict *opts)
{
    const QDictEntry *e;

    for (e = qdict_first(opts); e; e = qdict_next(opts, e)) {
        const char *key = qdict_entry_key(e);

        if (strcmp(key, "driver") && strcmp(key, "filename") &&
            !g_str_has_prefix(key, "file.") && strcmp(key, "file")) {
            return false;
        }
    }
    return true;
}

/*
 * QEMU 7.2 keeps a dictionary in 512 hash buckets (the hash of Samba's
 * TDB), newest entry first in each, and prints it bucket by bucket: a
 * json: filename lists its keys in that order, so ours does too.
 */
#define BDRV_QDICT_BUCKETS 512

static unsigned int bdrv_qdict_bucket(const char *key)
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t value = 0x238F13AFu * (uint32_t)strlen(key);
    unsigned int i;

    for (i = 0; p[i]; i++) {
        value += (uint32_t)p[i] << (i * 5 % 24);
    }
    return (1103515243u * value + 12345u) % BDRV_QDICT_BUCKETS;
}

typedef struct BdrvKeyOrder {
    const QDictEntry *entry;
    unsigned int bucket;
    size_t index;
} BdrvKeyOrder;

static int bdrv_key_order_cmp(const void *a, const void *b)
{
    const BdrvKeyOrder *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    return x->index < y->index ? 1 : -1;
}

/* A copy of @obj whose dictionaries iterate in QEMU's order */
static QObject *bdrv_qemu_key_order(QObject *obj)
{
    QDict *src = qobject_to(QDict, obj);
    QDict *dst;
    g_autofree BdrvKeyOrder *keys = NULL;
    const QDictEntry *e;
    size_t n, i = 0;

    if (qobject_type(obj) == QTYPE_QLIST) {
        QList *list = qobject_to(QList, obj);
        QList *copy = qlist_new();

        for (i = 0; i < qlist_size(list); i++) {
            qlist_append_obj(copy, bdrv_qemu_key_order(qlist_get(list, i)));
        }
        return QOBJECT(copy);
    }
    if (!src) {
        return qobject_ref(obj);
    }
    n = qdict_size(src);
    keys = g_new(BdrvKeyOrder, MAX(n, 1));
    for (e = qdict_first(src); e; e = qdict_next(src, e), i++) {
        keys[i] = (BdrvKeyOrder) {
            .entry = e,
            .bucket = bdrv_qdict_bucket(qdict_entry_key(e)),
            .index = i,
        };
    }
    qsort(keys, n, sizeof(keys[0]), bdrv_key_order_cmp);
    dst = qdict_new();
    for (i = 0; i < n; i++) {
        qdict_put_obj(dst, qdict_entry_key(keys[i].entry),
                      bdrv_qemu_key_order(qdict_entry_value(keys[i].entry)));
    }
    return QOBJECT(dst);
}

/*
 * bs->options nested for a json: name, with numbers and booleans that
 * came typed in the json: filename the node was opened from printed as
 * such ("offset": 65536), as QEMU keeps them
 */
static QObject *bdrv_crumple_typed(BlockDriverState *bs)
{
    g_autoptr(QDict) flat = qdict_clone_shallow(bs->options);
    const QDictEntry *e;

    for (e = bs->json_options ? qdict_first(bs->json_options) : NULL; e;
         e = qdict_next(bs->json_options, e)) {
        QObject *typed = qdict_entry_value(e);
        const char *now = qdict_get_try_str(flat, qdict_entry_key(e));
        g_autofree char *str = NULL;

        if (!now) {
            continue;
        }
        if (qobject_type(typed) == QTYPE_QNUM) {
            str = qnum_to_string(qobject_to(QNum, typed));
        } else if (qobject_type(typed) == QTYPE_QBOOL) {
            str = g_strdup(qbool_get_bool(qobject_to(QBool, typed)) ?
                           "on" : "off");
        }
        if (str && !strcmp(str, now)) {
            qdict_put_obj(flat, qdict_entry_key(e), qobject_ref(typed));
        }
    }
    return qdict_crumple(flat, NULL);
}

void bdrv_refresh_filename(BlockDriverState *bs)
{
    BlockDriver *drv = bs->drv;
    BdrvChild *child;

    if (!drv) {
        return;
    }
    QLIST_FOREACH(child, &bs->children, next) {
        bdrv_refresh_filename(child->bs);
    }

    bs->exact_filename[0] = '\0';
    if (drv->bdrv_refresh_filename) {
        drv->bdrv_refresh_filename(bs);
    } else if (bs->file && bs->file->bs->drv &&
               bs->file->bs->drv->protocol_name && !drv->is_filter &&
               bdrv_options_describe_only_filename(bs->options)) {
        /*
         * A format over a protocol node is named by that node, as
         * probing its filename would rebuild the same graph; over another
         * format (raw over qcow2) it takes a json: name, as in QEMU
         */
        pstrcpy(bs->exact_filename, sizeof(bs->exact_filename),
                bs->file->bs->exact_filename);
    }

    if (bs->exact_filename[0]) {
        pstrcpy(bs->filename, sizeof(bs->filename), bs->exact_filename);
    } else if (bs->options) {
        g_autoptr(QObject) nested = NULL;
        g_autoptr(GString) json = NULL;

        nested = bdrv_crumple_typed(bs);
        if (nested) {
            g_autoptr(QObject) ordered = bdrv_qemu_key_order(nested);

            json = qobject_to_json(ordered);
            snprintf(bs->filename, sizeof(bs->filename), "json:%s",
                     json->str);
        }
    }
}

const char *bdrv_get_filename(BlockDriverState *bs)
{
    return bs->filename;
}

/* Opening */

static void bdrv_warn_probed_raw(const char *filename)
{
    error_printf("WARNING: Image format was not specified for '%s' and "
                 "probing guessed raw.\n"
                 "         Automatically detecting the format is dangerous "
                 "for raw images, write operations on block 0 will be "
                 "restricted.\n"
                 "         Specify the 'raw' format explicitly to remove "
                 "the restrictions.\n", filename);
}

/*
 * Merge "json:{...}" into @options: the JSON's (flattened, stringified)
 * entries, with explicit options taking precedence.
 */
static bool bdrv_merge_json_filename(const char *filename, QDict *options,
                                     QDict **typed, Error **errp)
{
    g_autoptr(QObject) obj = NULL;
    QDict *dict;

    obj = qobject_from_json(filename + strlen("json:"), errp);
    if (!obj) {
        error_prepend(errp, "Could not parse the JSON options: ");
        return false;
    }
    dict = qobject_to(QDict, obj);
    if (!dict) {
        error_setg(errp, "Invalid JSON object given");
        return false;
    }
    qdict_flatten(dict);
    if (typed) {
        /* The values as typed, for the node's json: name */
        qobject_unref(*typed);
        *typed = qdict_clone_shallow(dict);
    }
    qdict_stringify(dict);
    qdict_join(options, dict, false);
    return true;
}

/* Take the node-wide options (read-only, cache.*, ...) into @flags */
static bool bdrv_absorb_common_options(BlockDriverState *bs, QDict *options,
                                       int *flags, char **node_name,
                                       Error **errp)
{
    QemuOpts *opts = qemu_opts_create(&bdrv_runtime_opts, NULL, 0,
                                      &error_abort);
    const char *value;
    bool ok = false;

    /* "driver" stays in @options for the caller */
    value = qdict_get_try_str(options, "driver");
    if (value) {
        qdict_del(options, "driver");
    }
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        goto out;
    }
    if (qemu_opt_find(opts, "read-only")) {
        if (qemu_opt_get_bool(opts, "read-only", false)) {
            *flags &= ~BDRV_O_RDWR;
        } else {
            *flags |= BDRV_O_RDWR;
        }
    }
    if (qemu_opt_find(opts, "cache.direct")) {
        *flags &= ~BDRV_O_NOCACHE;
        if (qemu_opt_get_bool(opts, "cache.direct", false)) {
            *flags |= BDRV_O_NOCACHE;
        }
    }
    if (qemu_opt_find(opts, "cache.no-flush")) {
        *flags &= ~BDRV_O_NO_FLUSH;
        if (qemu_opt_get_bool(opts, "cache.no-flush", false)) {
            *flags |= BDRV_O_NO_FLUSH;
        }
    }
    value = qemu_opt_get(opts, "discard");
    if (value && bdrv_parse_discard_flags(value, flags) < 0) {
        error_setg(errp, "Invalid discard option");
        goto out;
    }
    value = qemu_opt_get(opts, "detect-zeroes");
    if (value && strcmp(value, "off")) {
        error_setg(errp, "detect-zeroes=%s is not supported", value);
        goto out;
    }
    if (qemu_opt_get_bool(opts, "force-share", false) &&
        (*flags & BDRV_O_RDWR)) {
        error_setg(errp, "force-share=on can only be used with read-only "
                   "images");
        goto out;
    }
    *node_name = g_strdup(qemu_opt_get(opts, "node-name"));
    ok = true;
out:
    qemu_opts_del(opts);
    return ok;
}

/* Error for options nobody consumed */
static void bdrv_report_unused_options(BlockDriverState *bs, QDict *options,
                                       Error **errp)
{
    const QDictEntry *e = qdict_first(options);
    const char *key = qdict_entry_key(e);

    if (bs->drv->protocol_name) {
        error_setg(errp, "Block protocol '%s' doesn't support the option "
                   "'%s'", bs->drv->format_name, key);
    } else {
        error_setg(errp, "Block format '%s' does not support the option "
                   "'%s'", bs->drv->format_name, key);
    }
}

/* Undo bdrv_open_driver(): close the driver and drop its children */
static void bdrv_drop_driver(BlockDriverState *bs, bool close)
{
    if (close && bs->drv && bs->drv->bdrv_close) {
        bs->drv->bdrv_close(bs);
    }
    while (!QLIST_EMPTY(&bs->children)) {
        bdrv_unref_child(bs, QLIST_FIRST(&bs->children));
    }
    g_free(bs->opaque);
    bs->opaque = NULL;
    bs->drv = NULL;
}

/*
 * Open @drv on @bs with @options (flat strings).  On success @bs->options
 * records what the node was opened with.
 */
static int bdrv_open_driver(BlockDriverState *bs, BlockDriver *drv,
                            QDict *options, int flags, Error **errp)
{
    int ret;

    bs->drv = drv;
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->opaque = g_malloc0(drv->instance_size ? drv->instance_size : 1);

    ret = drv->bdrv_open ? drv->bdrv_open(bs, options, flags, errp) : 0;
    if (ret < 0) {
        bdrv_drop_driver(bs, false);
        return ret;
    }
    bs->supported_write_flags |= drv->supported_write_flags;
    bs->supported_zero_flags |= drv->supported_zero_flags;

    ret = bdrv_refresh_total_sectors(bs, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not refresh total sector count");
        goto fail_close;
    }
    {
        Error *local_err = NULL;

        bdrv_refresh_limits(bs, &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            ret = -EINVAL;
            goto fail_close;
        }
    }
    if (!is_power_of_2(bs->bl.request_alignment)) {
        error_setg(errp, "Driver %s set invalid request alignment %" PRIu32,
                   drv->format_name, bs->bl.request_alignment);
        ret = -EINVAL;
        goto fail_close;
    }
    return 0;

fail_close:
    bdrv_drop_driver(bs, true);
    return ret;
}

/* bdrv_open_inherit() step: a reference to an existing node */
static BlockDriverState *bdrv_open_reference(const char *filename,
                                             const char *reference,
                                             QDict *options, Error **errp)
{
    BlockDriverState *bs;

    if (filename || qdict_size(options)) {
        error_setg(errp, "Cannot reference an existing block device with "
                   "additional options or a new filename");
        qobject_unref(options);
        return NULL;
    }
    qobject_unref(options);
    bs = bdrv_find_node(reference);
    if (!bs) {
        /* QEMU looks the name up as a device and as a node name */
        error_setg(errp, "Cannot find device=\'%s\' nor node-name=\'%s\'",
                   reference, reference);
        return NULL;
    }
    bdrv_ref(bs);
    return bs;
}

/*
 * bdrv_open_inherit() step: turn a json: filename into options, and
 * remember the filename the user gave (for messages).
 */
static bool bdrv_open_merge_filename(const char **filename, QDict *options,
                                     char **user_filename, QDict **typed,
                                     Error **errp)
{
    if (*filename && g_str_has_prefix(*filename, "json:")) {
        if (!bdrv_merge_json_filename(*filename, options, typed, errp)) {
            return false;
        }
        *filename = NULL;
    }
    if (*filename && qdict_haskey(options, "filename")) {
        error_setg(errp, "Cannot specify both filename and options filename");
        return false;
    }
    *user_filename = g_strdup(*filename ? *filename :
                              qdict_get_try_str(options, "filename"));
    return true;
}

/*
 * bdrv_open_inherit() step: the driver named by "driver", or for a
 * protocol node the one its filename's prefix picks; *drv stays NULL when
 * a format is to be probed.  A protocol driver's filename becomes
 * options (*filename is then NULL).
 */
static bool bdrv_open_find_driver(const char **filename, QDict *options,
                                  bool protocol, BlockDriver **drv,
                                  Error **errp)
{
    const char *drvname = qdict_get_try_str(options, "driver");

    if (drvname) {
        *drv = bdrv_find_format(drvname);
        if (!*drv) {
            error_setg(errp, "Unknown driver '%s'", drvname);
            return false;
        }
    } else if (protocol) {
        const char *fname = *filename ? *filename
                                      : qdict_get_try_str(options, "filename");
        if (!fname) {
            error_setg(errp, "Must specify either driver or filename");
            return false;
        }
        *drv = bdrv_find_protocol(fname, true, errp);
        if (!*drv) {
            return false;
        }
    }

    /*
     * Turn the filename into options for protocol drivers.  A driver
     * named explicitly decides by itself, as in QEMU: a format driver
     * opened where a protocol was expected (blkdebug's image.driver=qcow2
     * with a plain filename) opens its file child from the filename.
     */
    if (drvname) {
        protocol = (*drv)->protocol_name != NULL;
    }
    if (*filename && (protocol || (*drv && (*drv)->protocol_name))) {
        if (!*drv) {
            *drv = bdrv_find_protocol(*filename, true, errp);
            if (!*drv) {
                return false;
            }
        }
        if ((*drv)->bdrv_parse_filename) {
            Error *local_err = NULL;

            (*drv)->bdrv_parse_filename(*filename, options, &local_err);
            if (local_err) {
                error_propagate(errp, local_err);
                return false;
            }
        } else {
            qdict_put_str(options, "filename", *filename);
        }
        *filename = NULL;
    }
    return true;
}

/*
 * bdrv_open_inherit() step: open the protocol node under a format node
 * (from @filename, a "file" reference or "file.*" options), if any is
 * given.  *file_bs stays NULL otherwise.
 */
static bool bdrv_open_protocol_child(const char *filename, QDict *options,
                                     int flags, bool filter,
                                     BlockDriverState **file_bs,
                                     Error **errp)
{
    QDict *file_options = NULL;
    const char *file_ref;

    qdict_extract_subqdict(options, &file_options, "file.");
    file_ref = qdict_get_try_str(options, "file");
    if (!filename && !file_ref && !qdict_size(file_options)) {
        qobject_unref(file_options);
        return true;
    }
    /* As bdrv_open_file_child(): a format's file always accepts unmap */
    *file_bs = bdrv_open_inherit(filename, file_ref, file_options,
                                 bdrv_child_flags(flags, BDRV_O_PROTOCOL |
                                                  (filter ? 0 : BDRV_O_UNMAP)),
                                 errp);
    qdict_del(options, "file");
    return *file_bs != NULL;
}

/*
 * bdrv_open_inherit() step: guess the format of @file_bs from its first
 * bytes, read through a temporary child edge of @bs.
 */
static BlockDriver *bdrv_open_probe_format(BlockDriverState *bs,
                                           BlockDriverState *file_bs,
                                           const char *user_filename,
                                           int flags, bool warn_probe,
                                           Error **errp)
{
    uint8_t buf[BLOCK_PROBE_BUF_SIZE];
    BdrvChild *probe_child;
    BlockDriver *drv;
    int64_t len;
    int n, ret;

    if (!file_bs) {
        error_setg(errp, "Must specify either driver or file");
        return NULL;
    }
    probe_child = bdrv_attach_child(bs, file_bs, "probe", BDRV_CHILD_DATA,
                                    errp);
    len = bdrv_getlength(file_bs);
    n = len < 0 ? 0 : MIN(len, (int64_t)sizeof(buf));
    memset(buf, 0, sizeof(buf));
    ret = n ? bdrv_pread(probe_child, 0, n, buf, 0) : 0;
    bdrv_unref_child(bs, probe_child);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read image for "
                         "determining its format");
        return NULL;
    }
    drv = bdrv_probe_all(buf, n, user_filename);
    if (!drv) {
        error_setg(errp, "Could not determine image format: No "
                   "compatible driver found");
        return NULL;
    }
    /* Writes to block 0 of a guessed raw image are restricted */
    if (!strcmp(drv->format_name, "raw") && warn_probe &&
        (flags & BDRV_O_RDWR)) {
        bdrv_warn_probed_raw(file_bs->filename[0] ? file_bs->filename
                             : user_filename);
    }
    return drv;
}

/*
 * bdrv_open_inherit() step: remember the options @bs was opened with,
 * with child references replaced by the children's own options.
 */
static void bdrv_record_options(BlockDriverState *bs, QDict *opened_options)
{
    BdrvChild *child;

    qdict_del(opened_options, "file");
    bs->options = opened_options;
    QLIST_FOREACH(child, &bs->children, next) {
        const QDictEntry *e;
        g_autofree char *prefix = g_strdup_printf("%s.", child->name);

        qdict_del(bs->options, child->name);
        if (!child->bs->options) {
            continue;
        }
        for (e = qdict_first(child->bs->options); e;
             e = qdict_next(child->bs->options, e)) {
            g_autofree char *key = g_strconcat(prefix, qdict_entry_key(e),
                                               NULL);
            if (!qdict_haskey(bs->options, key)) {
                qdict_put_obj(bs->options, key,
                              qobject_ref(qdict_entry_value(e)));
            }
        }
    }
}

/*
 * The core of bdrv_open(), for the user's image and for children alike.
 * Guessing raw prints QEMU's warning unless the parent asked for silence
 * with BDRV_O_NO_PROBE_WARNING (blkverify's test child).  Takes @options.
 */
static BlockDriverState *bdrv_open_inherit(const char *filename,
                                           const char *reference,
                                           QDict *options, int flags,
                                           Error **errp)
{
    ERRP_GUARD();
    BlockDriverState *bs = NULL, *file_bs = NULL;
    BlockDriver *drv = NULL;
    g_autofree char *node_name = NULL;
    g_autofree char *user_filename = NULL;
    g_autoptr(QDict) opened_options = NULL;
    g_autoptr(QDict) json_typed = NULL;
    bool probed = false;
    bool protocol = flags & BDRV_O_PROTOCOL;
    bool warn_probe = !(flags & BDRV_O_NO_PROBE_WARNING);
    int ret;

    flags &= ~(BDRV_O_PROTOCOL | BDRV_O_NO_PROBE_WARNING);
    if (!options) {
        options = qdict_new();
    }

    if (reference) {
        return bdrv_open_reference(filename, reference, options, errp);
    }
    if (!bdrv_open_merge_filename(&filename, options, &user_filename,
                                  &json_typed, errp) ||
        !bdrv_open_find_driver(&filename, options, protocol, &drv, errp)) {
        goto fail_options;
    }

    bs = bdrv_new();
    bs->json_options = g_steal_pointer(&json_typed);
    if (!bdrv_absorb_common_options(bs, options, &flags, &node_name, errp)) {
        goto fail;
    }
    if (!bdrv_assign_node_name(bs, node_name, errp)) {
        goto fail;
    }
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);

    /*
     * A format (or an unknown format to probe) sits on a protocol node:
     * open it first, then probe its first bytes if needed.  A filter
     * given no file opens its own named children.
     */
    if ((!drv || !drv->protocol_name) &&
        !(drv && !drv->bdrv_probe && drv->is_filter &&
          !qdict_haskey(options, "file") &&
          !qdict_count_prefixed_entries(options, "file.") && !filename)) {
        if (!bdrv_open_protocol_child(filename, options, flags,
                                      drv && drv->is_filter, &file_bs,
                                      errp)) {
            goto fail;
        }
        if (!drv) {
            drv = bdrv_open_probe_format(bs, file_bs, user_filename,
                                         flags, warn_probe, errp);
            if (!drv) {
                goto fail;
            }
            probed = true;
        }
        if (file_bs) {
            /* The driver attaches it as its "file" child by reference */
            qdict_put_str(options, "file", file_bs->node_name);
        }
    }

    /*
     * Copy-on-read (qemu-io -C, on the top node only: a child never
     * inherits it) writes into the node, so it needs a writable one.
     * As in QEMU 7.2, "copy-on-read" is no node option (it belongs to
     * -drive); the copy-on-read filter driver offers it per node.
     */
    if (flags & BDRV_O_COPY_ON_READ) {
        if (bs->read_only) {
            error_setg(errp, "Can't use copy-on-read on read-only device");
            goto fail;
        }
        bs->copy_on_read = true;
    }

    opened_options = qdict_clone_shallow(options);
    qdict_put_str(opened_options, "driver", drv->format_name);
    bs->probed = probed;
    ret = bdrv_open_driver(bs, drv, options, flags, errp);
    if (ret < 0) {
        if (file_bs && !*errp) {
            error_setg_errno(errp, -ret, "Could not open '%s'",
                             user_filename ? user_filename : "");
        }
        goto fail;
    }
    if (qdict_size(options)) {
        bdrv_report_unused_options(bs, options, errp);
        bdrv_drop_driver(bs, true);
        goto fail;
    }

    bdrv_record_options(bs, g_steal_pointer(&opened_options));
    bdrv_refresh_filename(bs);
    if (!bs->filename[0] && user_filename) {
        pstrcpy(bs->filename, sizeof(bs->filename), user_filename);
    }

    if (file_bs) {
        bdrv_unref(file_bs);
    }
    qobject_unref(options);
    return bs;

fail:
    if (file_bs) {
        bdrv_unref(file_bs);
    }
    if (bs) {
        bdrv_unref(bs);
    }
fail_options:
    qobject_unref(options);
    return NULL;
}

/*
 * snapshot=on: put a temporary qcow2 overlay over @bs that takes all
 * writes and disappears on close.  Returns the overlay (a new reference).
 */
static BlockDriverState *bdrv_append_temp_snapshot(BlockDriverState *bs,
                                                   int flags, Error **errp)
{
    ERRP_GUARD();
    BlockDriver *drv = bdrv_find_format("qcow2");
    g_autofree char *tmp_filename = NULL;
    BlockDriverState *overlay;
    QemuOpts *opts;
    QDict *options;
    int64_t size;
    int fd, ret;

    if (!drv) {
        error_setg(errp, "Temporary snapshots need the qcow2 driver");
        return NULL;
    }
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "Could not get image size");
        return NULL;
    }
    tmp_filename = g_build_filename(g_get_tmp_dir(), "vl.XXXXXX", NULL);
    fd = g_mkstemp(tmp_filename);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not get temporary filename");
        return NULL;
    }
    close(fd);

    opts = qemu_opts_create(drv->create_opts, NULL, 0, &error_abort);
    qemu_opt_set_number(opts, BLOCK_OPT_SIZE, size, &error_abort);
    ret = bdrv_create(drv, tmp_filename, opts, errp);
    qemu_opts_del(opts);
    if (ret < 0) {
        error_prepend(errp, "Could not create temporary overlay '%s': ",
                      tmp_filename);
        unlink(tmp_filename);
        return NULL;
    }

    options = qdict_new();
    qdict_put_str(options, "driver", "qcow2");
    qdict_put_str(options, "file.driver", "file");
    qdict_put_str(options, "file.filename", tmp_filename);
    qdict_put_str(options, "backing", bs->node_name);
    overlay = bdrv_open_inherit(NULL, NULL, options,
                                flags & ~BDRV_O_SNAPSHOT, errp);
    /* The open file descriptor keeps it alive until close */
    unlink(tmp_filename);
    return overlay;
}

BlockDriverState *bdrv_open(const char *filename, const char *reference,
                            QDict *options, int flags, Error **errp)
{
    BlockDriverState *bs, *overlay;
    const char *value;
    bool read_only;

    if (!(flags & BDRV_O_SNAPSHOT)) {
        return bdrv_open_inherit(filename, reference, options, flags, errp);
    }

    /*
     * The top node is the overlay: the read-only option (like -r) is its
     * own, as in QEMU.  An invalid value is left for the image's open to
     * report.
     */
    if (!options) {
        options = qdict_new();
    }
    if (filename && g_str_has_prefix(filename, "json:")) {
        if (!bdrv_merge_json_filename(filename, options, NULL, errp)) {
            qobject_unref(options);
            return NULL;
        }
        filename = NULL;
    }
    value = qdict_get_try_str(options, "read-only");
    if (value && qapi_bool_parse("read-only", value, &read_only, NULL)) {
        flags = read_only ? flags & ~BDRV_O_RDWR : flags | BDRV_O_RDWR;
        qdict_del(options, "read-only");
    }

    /* The image itself is only read; the overlay takes the writes */
    bs = bdrv_open_inherit(filename, reference, options,
                           flags & ~(BDRV_O_SNAPSHOT | BDRV_O_RDWR), errp);
    if (!bs) {
        return NULL;
    }
    overlay = bdrv_append_temp_snapshot(bs, flags, errp);
    bdrv_unref(bs);
    return overlay;
}

void bdrv_ref(BlockDriverState *bs)
{
    bs->refcnt++;
}

static void bdrv_close(BlockDriverState *bs)
{
    if (bs->drv) {
        bdrv_drain_all();
    }
    bdrv_drop_driver(bs, true);
    bdrv_release_all_dirty_bitmaps(bs);
    qobject_unref(bs->options);
    qobject_unref(bs->json_options);
    qobject_unref(bs->explicit_options);
    qobject_unref(bs->full_open_options);
    bs->options = bs->explicit_options = bs->full_open_options = NULL;
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    assert(bs->refcnt > 0);
    if (--bs->refcnt == 0) {
        if (bs->drv && !(bs->open_flags & BDRV_O_INACTIVE) &&
            !bs->read_only) {
            bdrv_flush(bs);
        }
        bdrv_close(bs);
        QTAILQ_REMOVE(&all_bdrv_states, bs, node_list);
        g_free(bs);
    }
}

BlockDriverState *bdrv_next_all_states(BlockDriverState *bs)
{
    return bs ? QTAILQ_NEXT(bs, node_list) : QTAILQ_FIRST(&all_bdrv_states);
}

void bdrv_close_all(void)
{
    bdrv_drain_all();
}

/*
 * Reopen
 *
 * A reopen is a transaction over a queue of nodes: the node asked for,
 * then (depth first) every child whose flags change with its parent's or
 * that is given options of its own ("CHILD.KEY" in the parent's options;
 * backing children are left alone).  Every node in the queue is
 * prepared, parents before children.  If one prepare fails, the nodes
 * already prepared are aborted, last first, and no node has changed.
 * Only when all are prepared is each committed, children first, so a
 * parent's commit and its new limits see the children as they now are.
 */

typedef struct BdrvReopenEntry {
    BDRVReopenState state;
    bool prepared;
} BdrvReopenEntry;

static void bdrv_reopen_entry_free(gpointer p)
{
    BdrvReopenEntry *e = p;

    qobject_unref(e->state.options);
    g_free(e);
}

static bool bdrv_reopen_queued(GPtrArray *queue, BlockDriverState *bs)
{
    guint i;

    for (i = 0; i < queue->len; i++) {
        BdrvReopenEntry *e = g_ptr_array_index(queue, i);

        if (e->state.bs == bs) {
            return true;
        }
    }
    return false;
}

/*
 * Check the options the core handles for @bs and queue it, then its
 * children.  Takes @opts (NULL: none).  A node reached twice is queued
 * once, as first reached.
 */
static int bdrv_reopen_queue_add(GPtrArray *queue, BlockDriverState *bs,
                                 QDict *opts, int flags, Error **errp)
{
    BlockDriver *drv = bs->drv;
    g_autofree char *node_name = NULL;
    BdrvReopenEntry *e;
    BdrvChild *child;

    if (!opts) {
        opts = qdict_new();
    }
    if (!drv) {
        qobject_unref(opts);
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (qdict_haskey(opts, "driver") &&
        g_strcmp0(qdict_get_try_str(opts, "driver"), drv->format_name)) {
        error_setg(errp, "Cannot change the option 'driver'");
        qobject_unref(opts);
        return -EINVAL;
    }
    if (!bdrv_absorb_common_options(bs, opts, &flags, &node_name, errp)) {
        qobject_unref(opts);
        return -EINVAL;
    }
    if (node_name && strcmp(node_name, bs->node_name)) {
        error_setg(errp, "Cannot change the option 'node-name'");
        qobject_unref(opts);
        return -EINVAL;
    }
    if (bdrv_reopen_queued(queue, bs)) {
        qobject_unref(opts);
        return 0;
    }

    e = g_new0(BdrvReopenEntry, 1);
    e->state = (BDRVReopenState) {
        .bs = bs,
        .flags = flags,
        .read_only = !(flags & BDRV_O_RDWR),
        .options = opts,
    };
    g_ptr_array_add(queue, e);

    /* Children follow the parent's read-only and cache state */
    QLIST_FOREACH(child, &bs->children, next) {
        g_autofree char *prefix = NULL;
        QDict *child_opts;
        int child_flags;
        int ret;

        if (child->role & BDRV_CHILD_COW) {
            continue;
        }
        prefix = g_strdup_printf("%s.", child->name);
        qdict_extract_subqdict(opts, &child_opts, prefix);
        child_flags = (child->bs->open_flags & ~(BDRV_O_RDWR |
                                                 BDRV_O_CACHE_MASK)) |
                      (flags & (BDRV_O_RDWR | BDRV_O_CACHE_MASK));
        if (child_flags == child->bs->open_flags && !qdict_size(child_opts)) {
            qobject_unref(child_opts);
            continue;
        }
        ret = bdrv_reopen_queue_add(queue, child->bs, child_opts, child_flags,
                                    errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Prepare one node; on failure it is left as it was */
static int bdrv_reopen_prepare(BdrvReopenEntry *e, Error **errp)
{
    BDRVReopenState *state = &e->state;
    BlockDriverState *bs = state->bs;
    BlockDriver *drv = bs->drv;
    int ret;

    if (state->read_only && !bs->read_only) {
        ret = bdrv_flush(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Error flushing drive");
            return ret;
        }
    }
    if (drv->bdrv_reopen_prepare) {
        ret = drv->bdrv_reopen_prepare(state, errp);
        if (ret < 0) {
            return ret;
        }
    } else if (qdict_size(state->options)) {
        error_setg(errp, "Block format '%s' used by node '%s' does not "
                   "support reopening files", drv->format_name,
                   bs->node_name);
        return -ENOTSUP;
    }
    if (qdict_size(state->options)) {
        const char *key = qdict_entry_key(qdict_first(state->options));

        if (drv->bdrv_reopen_abort) {
            drv->bdrv_reopen_abort(state);
        }
        error_setg(errp, "Cannot change the option '%s'", key);
        return -EINVAL;
    }
    e->prepared = true;
    return 0;
}

static void bdrv_reopen_abort(BdrvReopenEntry *e)
{
    BlockDriver *drv = e->state.bs->drv;

    if (e->prepared && drv->bdrv_reopen_abort) {
        drv->bdrv_reopen_abort(&e->state);
    }
    e->prepared = false;
}

static void bdrv_reopen_commit(BdrvReopenEntry *e)
{
    BlockDriverState *bs = e->state.bs;
    BlockDriver *drv = bs->drv;

    assert(e->prepared);
    if (drv->bdrv_reopen_commit) {
        drv->bdrv_reopen_commit(&e->state);
    }
    bs->open_flags = e->state.flags;
    bs->read_only = e->state.read_only;
    bdrv_refresh_limits(bs, NULL);
    /*
     * New options can change the length (a raw window's offset or size);
     * the children are committed already.  Commit cannot fail: if the
     * length cannot be had, the old one stays.
     */
    bdrv_refresh_total_sectors(bs, bs->total_bytes);
}

/*
 * After a reopen, a read-only node cannot have a writer: a writable
 * parent node (its file or data child), or the user of @root who asked
 * for write access with @flags.
 */
static bool bdrv_reopen_check_writers(GPtrArray *queue,
                                      BlockDriverState *root, int flags,
                                      Error **errp)
{
    guint i, j;

    for (i = 0; i < queue->len; i++) {
        BdrvReopenEntry *e = g_ptr_array_index(queue, i);
        BlockDriverState *bs = e->state.bs;
        BdrvChild *c;

        if (!e->state.read_only) {
            continue;
        }
        QLIST_FOREACH(c, &bs->parents, next_parent) {
            bool writer;

            if (c->role & BDRV_CHILD_COW) {
                continue;
            }
            if (!c->parent) {
                writer = bs == root && (flags & BDRV_O_RDWR);
            } else {
                writer = !c->parent->read_only;
                for (j = 0; j < queue->len; j++) {
                    BdrvReopenEntry *pe = g_ptr_array_index(queue, j);

                    if (pe->state.bs == c->parent) {
                        writer = !pe->state.read_only;
                    }
                }
            }
            if (writer) {
                error_setg(errp, "Read-only block node '%s' cannot support "
                           "read-write users", bs->node_name);
                return false;
            }
        }
    }
    return true;
}

int bdrv_reopen(BlockDriverState *bs, QDict *opts, int flags, Error **errp)
{
    g_autoptr(GPtrArray) queue =
        g_ptr_array_new_with_free_func(bdrv_reopen_entry_free);
    guint i;
    int ret;

    ret = bdrv_reopen_queue_add(queue, bs, opts, flags, errp);
    if (ret < 0) {
        return ret;
    }

    bdrv_drain_all();
    for (i = 0; i < queue->len; i++) {
        ret = bdrv_reopen_prepare(g_ptr_array_index(queue, i), errp);
        if (ret < 0) {
            while (i-- > 0) {
                bdrv_reopen_abort(g_ptr_array_index(queue, i));
            }
            return ret;
        }
    }
    if (!bdrv_reopen_check_writers(queue, bs, flags, errp)) {
        for (i = queue->len; i-- > 0;) {
            bdrv_reopen_abort(g_ptr_array_index(queue, i));
        }
        return -EPERM;
    }
    for (i = queue->len; i-- > 0;) {
        bdrv_reopen_commit(g_ptr_array_index(queue, i));
    }
    return 0;
}

int bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                              Error **errp)
{
    int flags = bs->open_flags & ~BDRV_O_RDWR;

    if (!read_only) {
        flags |= BDRV_O_RDWR;
    }
    return bdrv_reopen(bs, NULL, flags, errp);
}

/* Queries */

bool bdrv_is_read_only(BlockDriverState *bs)
{
    return bs->read_only;
}

int bdrv_get_flags(BlockDriverState *bs)
{
    return bs->open_flags;
}

const char *bdrv_get_format_name(BlockDriverState *bs)
{
    return bs->drv ? bs->drv->format_name : NULL;
}

int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BlockDriver *drv = bs->drv;

    memset(bdi, 0, sizeof(*bdi));
    if (!drv) {
        return -ENOMEDIUM;
    }
    if (!drv->bdrv_get_info) {
        if (drv->is_filter && bs->file) {
            return bdrv_get_info(bs->file->bs, bdi);
        }
        return -ENOTSUP;
    }
    return drv->bdrv_get_info(bs, bdi);
}

int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_info)
{
    BlockDriver *drv = bs->drv;

    *psn_info = NULL;
    if (!drv) {
        return -ENOMEDIUM;
    }
    if (drv->bdrv_snapshot_list) {
        return drv->bdrv_snapshot_list(bs, psn_info);
    }
    if (drv->is_filter && bs->file) {
        return bdrv_snapshot_list(bs->file->bs, psn_info);
    }
    return -ENOTSUP;
}

int bdrv_snapshot_find(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                       const char *name)
{
    g_autofree QEMUSnapshotInfo *tab = NULL;
    int n = bdrv_snapshot_list(bs, &tab);
    int i;

    if (n < 0) {
        return n;
    }
    for (i = 0; i < n; i++) {
        if (!strcmp(tab[i].name, name)) {
            *sn_info = tab[i];
            return 0;
        }
    }
    return -ENOENT;
}

/* The node whose snapshots a filter's snapshot operation is about */
static BlockDriverState *bdrv_snapshot_node(BlockDriverState *bs)
{
    while (bs->drv && bs->drv->is_filter && bs->file &&
           !bs->drv->bdrv_co_snapshot_goto) {
        bs = bs->file->bs;
    }
    return bs;
}

int coroutine_fn bdrv_co_snapshot_create(BlockDriverState *bs,
                                         QEMUSnapshotInfo *sn_info)
{
    bs = bdrv_snapshot_node(bs);
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_snapshot_create) {
        return -ENOTSUP;
    }
    if (bs->read_only) {
        return -EACCES;
    }
    return bs->drv->bdrv_co_snapshot_create(bs, sn_info);
}

int coroutine_fn bdrv_co_snapshot_goto(BlockDriverState *bs,
                                       const char *snapshot_id,
                                       Error **errp)
{
    int ret;

    bs = bdrv_snapshot_node(bs);
    if (!bs->drv) {
        error_setg(errp, "Block driver is closed");
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_snapshot_goto) {
        error_setg(errp, "Block driver does not support snapshots");
        return -ENOTSUP;
    }
    ret = bs->drv->bdrv_co_snapshot_goto(bs, snapshot_id);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to load snapshot");
    }
    return ret;
}

int coroutine_fn bdrv_co_snapshot_delete(BlockDriverState *bs,
                                         const char *snapshot_id,
                                         const char *name, Error **errp)
{
    bs = bdrv_snapshot_node(bs);
    if (!bs->drv) {
        error_setg(errp, "Device '%s' has no medium",
                   bdrv_get_node_name(bs));
        return -ENOMEDIUM;
    }
    if (!snapshot_id && !name) {
        error_setg(errp, "snapshot_id and name are both NULL");
        return -EINVAL;
    }
    if (!bs->drv->bdrv_co_snapshot_delete) {
        error_setg(errp, "Block format '%s' used by device '' does not "
                   "support internal snapshot deletion",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_snapshot_delete(bs, snapshot_id, name, errp);
}

/* The node that holds the VM state for @bs (filters pass it down) */
static BlockDriverState *bdrv_vmstate_node(BlockDriverState *bs,
                                           QEMUIOVector *qiov, int64_t pos,
                                           int *ret)
{
    while (bs->drv && bs->drv->is_filter && bs->file &&
           !bs->drv->bdrv_co_load_vmstate) {
        bs = bs->file->bs;
    }
    if (!bs->drv) {
        *ret = -ENOMEDIUM;
    } else if (pos < 0 || qiov->size > (uint64_t)(INT64_MAX - pos)) {
        *ret = -EIO;
    } else if (!bs->drv->bdrv_co_load_vmstate ||
               !bs->drv->bdrv_co_save_vmstate) {
        *ret = -ENOTSUP;
    } else {
        *ret = 0;
    }
    return bs;
}

int coroutine_fn bdrv_co_readv_vmstate(BlockDriverState *bs,
                                       QEMUIOVector *qiov, int64_t pos)
{
    int ret;

    bs = bdrv_vmstate_node(bs, qiov, pos, &ret);
    if (ret < 0) {
        return ret;
    }
    return bs->drv->bdrv_co_load_vmstate(bs, qiov, pos);
}

int coroutine_fn bdrv_co_writev_vmstate(BlockDriverState *bs,
                                        QEMUIOVector *qiov, int64_t pos)
{
    int ret;

    bs = bdrv_vmstate_node(bs, qiov, pos, &ret);
    if (ret < 0) {
        return ret;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    return bs->drv->bdrv_co_save_vmstate(bs, qiov, pos);
}

int bdrv_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                           const char *name, Error **errp)
{
    bs = bdrv_snapshot_node(bs);
    if (!bs->drv) {
        error_setg(errp, "Device '%s' has no medium",
                   bdrv_get_node_name(bs));
        return -ENOMEDIUM;
    }
    if (!snapshot_id && !name) {
        error_setg(errp, "snapshot_id and snapshot_name are both NULL");
        return -EINVAL;
    }
    /* Only internal snapshots can be loaded, and only for reading */
    if (!bs->read_only) {
        error_setg(errp, "Device is not readonly");
        return -EINVAL;
    }
    if (!bs->drv->bdrv_snapshot_load_tmp) {
        error_setg(errp, "Block format '%s' used by device '' does not "
                   "support temporarily loading internal snapshots",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_snapshot_load_tmp(bs, snapshot_id, name, errp);
}

int bdrv_snapshot_load_tmp_by_id_or_name(BlockDriverState *bs,
                                         const char *id_or_name,
                                         Error **errp)
{
    Error *local_err = NULL;
    int ret;

    ret = bdrv_snapshot_load_tmp(bs, id_or_name, NULL, &local_err);
    if (ret == -ENOENT || ret == -EINVAL) {
        error_free(local_err);
        local_err = NULL;
        ret = bdrv_snapshot_load_tmp(bs, NULL, id_or_name, &local_err);
    }
    if (local_err) {
        error_propagate(errp, local_err);
    }
    return ret;
}

QDict *bdrv_get_specific_info(BlockDriverState *bs, Error **errp)
{
    BlockDriver *drv = bs->drv;

    if (drv && drv->bdrv_get_specific_info) {
        return drv->bdrv_get_specific_info(bs, errp);
    }
    return NULL;
}

bool bdrv_is_encrypted(BlockDriverState *bs)
{
    return bs->encrypted;
}

BlockDriverState *bdrv_filter_or_cow_bs(BlockDriverState *bs)
{
    if (bs->backing) {
        return bs->backing->bs;
    }
    if (bs->drv && bs->drv->is_filter && bs->file) {
        return bs->file->bs;
    }
    return NULL;
}

BlockDriverState *bdrv_backing_chain_next(BlockDriverState *bs)
{
    return bs->backing ? bs->backing->bs : NULL;
}

bool bdrv_supports_compressed_writes(BlockDriverState *bs)
{
    return bs->drv && bs->drv->bdrv_co_pwritev_compressed;
}

/* Creation */

/* The synchronous bdrv_create() is generated from block/block.h */
int coroutine_fn bdrv_co_create(BlockDriver *drv, const char *filename,
                                QemuOpts *opts, Error **errp)
{
    if (!drv->bdrv_co_create_opts) {
        error_setg(errp, "Driver '%s' does not support image creation",
                   drv->format_name);
        return -ENOTSUP;
    }
    return drv->bdrv_co_create_opts(drv, filename, opts, errp);
}

int coroutine_fn bdrv_co_create_file(const char *filename, QemuOpts *opts,
                                     Error **errp)
{
    BlockDriver *drv;

    drv = bdrv_find_protocol(filename, true, errp);
    if (!drv) {
        return -ENOENT;
    }
    return bdrv_co_create(drv, filename, opts, errp);
}

BlockMeasureInfo *bdrv_measure(BlockDriver *drv, QemuOpts *opts,
                               BlockDriverState *in_bs, Error **errp)
{
    if (!drv->bdrv_measure) {
        error_setg(errp, "Block driver '%s' does not support size "
                   "measurement", drv->format_name);
        return NULL;
    }
    return drv->bdrv_measure(opts, in_bs, errp);
}

/* Debugging hooks: forwarded down the graph to whoever implements them */

void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    if (bs && bs->drv && bs->drv->bdrv_debug_event) {
        bs->drv->bdrv_debug_event(bs, event);
    }
}

static BlockDriverState *bdrv_find_debug_node(BlockDriverState *bs)
{
    while (bs && bs->drv && !bs->drv->bdrv_debug_breakpoint) {
        bs = bs->file ? bs->file->bs : NULL;
    }
    return bs && bs->drv ? bs : NULL;
}

int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag)
{
    bs = bdrv_find_debug_node(bs);
    return bs ? bs->drv->bdrv_debug_breakpoint(bs, event, tag) : -ENOTSUP;
}

int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag)
{
    bs = bdrv_find_debug_node(bs);
    return bs ? bs->drv->bdrv_debug_remove_breakpoint(bs, tag) : -ENOTSUP;
}

int bdrv_debug_resume(BlockDriverState *bs, const char *tag)
{
    bs = bdrv_find_debug_node(bs);
    return bs ? bs->drv->bdrv_debug_resume(bs, tag) : -ENOTSUP;
}

bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag)
{
    bs = bdrv_find_debug_node(bs);
    return bs ? bs->drv->bdrv_debug_is_suspended(bs, tag) : false;
}

/* Whether any node holds a request at a breakpoint */
bool bdrv_debug_any_suspended(void)
{
    BlockDriverState *bs = NULL;

    while ((bs = bdrv_next_all_states(bs))) {
        if (bs->drv && bs->drv->bdrv_debug_is_suspended &&
            bs->drv->bdrv_debug_is_suspended(bs, NULL)) {
            return true;
        }
    }
    return false;
}

/* Let every request held at a breakpoint go on; returns how many */
int bdrv_debug_resume_all(void)
{
    BlockDriverState *bs = NULL;
    int n = 0;

    while ((bs = bdrv_next_all_states(bs))) {
        while (bs->drv && bs->drv->bdrv_debug_resume &&
               bs->drv->bdrv_debug_resume(bs, NULL) == 0) {
            n++;
        }
    }
    return n;
}

/* Accessors for callers outside the block layer (tools) */

const char *bdrv_driver_name(BlockDriver *drv)
{
    return drv->format_name;
}

QemuOptsList *bdrv_driver_create_opts(BlockDriver *drv)
{
    return drv->create_opts;
}

QemuOptsList *bdrv_driver_amend_opts(BlockDriver *drv)
{
    return drv->bdrv_co_amend_options ? drv->amend_opts : NULL;
}

bool bdrv_driver_supports_compressed_writes(BlockDriver *drv)
{
    return drv->bdrv_co_pwritev_compressed;
}

const char *bdrv_get_protocol_name(BlockDriverState *bs)
{
    return bs->drv ? bs->drv->protocol_name : NULL;
}

const char *bdrv_get_exact_filename(BlockDriverState *bs)
{
    return bs->exact_filename;
}

char *bdrv_dirname(BlockDriverState *bs, Error **errp)
{
    const char *slash;

    while (bs->file) {
        bs = bs->file->bs;
    }
    bdrv_refresh_filename(bs);
    if (!bs->exact_filename[0]) {
        error_setg(errp, "Cannot generate a base directory for %s nodes",
                   bs->drv ? bs->drv->format_name : "ejected");
        return NULL;
    }
    slash = strrchr(bs->exact_filename, '/');
    if (!slash) {
        return g_strdup("");
    }
    return g_strndup(bs->exact_filename, slash - bs->exact_filename + 1);
}

int coroutine_fn bdrv_co_change_backing_file(BlockDriverState *bs,
                                             const char *backing_file,
                                             const char *backing_fmt,
                                             bool require_fmt)
{
    BlockDriver *drv = bs->drv;
    int ret;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if ((backing_fmt && !backing_file) ||
        (require_fmt && backing_file && !backing_fmt)) {
        return -EINVAL;
    }
    if (!drv->bdrv_co_change_backing_file) {
        return -ENOTSUP;
    }
    ret = drv->bdrv_co_change_backing_file(bs, backing_file, backing_fmt);
    if (ret < 0) {
        return ret;
    }
    pstrcpy(bs->backing_file, sizeof(bs->backing_file), backing_file ?: "");
    pstrcpy(bs->backing_format, sizeof(bs->backing_format),
            backing_fmt ?: "");
    pstrcpy(bs->auto_backing_file, sizeof(bs->auto_backing_file),
            backing_file ?: "");
    return 0;
}

int coroutine_fn bdrv_co_amend_options(BlockDriverState *bs, QemuOpts *opts,
                                       BlockDriverAmendStatusCB *status_cb,
                                       void *cb_opaque, bool force,
                                       Error **errp)
{
    BlockDriver *drv = bs->drv;

    if (!drv) {
        error_setg(errp, "Node is ejected");
        return -ENOMEDIUM;
    }
    if (!drv->bdrv_co_amend_options) {
        error_setg(errp, "Block driver '%s' does not support option amendment",
                   drv->format_name);
        return -ENOTSUP;
    }
    return drv->bdrv_co_amend_options(bs, opts, status_cb, cb_opaque, force,
                                      errp);
}

int coroutine_fn bdrv_co_make_empty(BlockDriverState *bs, Error **errp)
{
    BlockDriver *drv = bs->drv;
    int ret;

    if (!drv) {
        error_setg(errp, "Node '%s' is ejected", bs->node_name);
        return -ENOMEDIUM;
    }
    if (!drv->bdrv_co_make_empty) {
        error_setg(errp, "%s does not support emptying nodes",
                   drv->format_name);
        return -ENOTSUP;
    }
    ret = drv->bdrv_co_make_empty(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to empty %s", bs->filename);
        return ret;
    }
    ret = bdrv_co_flush(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush %s", bs->filename);
        return ret;
    }
    return 0;
}

const char *bdrv_get_backing_file(BlockDriverState *bs)
{
    return bs->backing_file;
}

const char *bdrv_get_backing_format(BlockDriverState *bs)
{
    return bs->backing_format;
}

bool bdrv_has_zero_init(BlockDriverState *bs)
{
    if (!bs->drv || bs->backing) {
        return false;
    }
    return bs->drv->bdrv_has_zero_init && bs->drv->bdrv_has_zero_init(bs);
}

void bdrv_dump_info(BlockDriverState *bs, GString *out)
{
    /*
     * The node itself, then the filters below it; a format below a filter
     * (qcow2 under blkdebug or copy-on-read) prints nothing, as in QEMU
     */
    while (bs && bs->drv) {
        if (bs->drv->bdrv_dump_info) {
            bs->drv->bdrv_dump_info(bs, out);
        }
        if (!bs->drv->is_filter || !bs->file) {
            break;
        }
        bs = bs->file->bs;
        if (!bs->drv || !bs->drv->is_filter) {
            break;
        }
    }
}

BlockDriverState *bdrv_skip_filters(BlockDriverState *bs)
{
    while (bs && bs->drv && bs->drv->is_filter && bs->file) {
        bs = bs->file->bs;
    }
    return bs;
}
