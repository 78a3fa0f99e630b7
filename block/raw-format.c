/*
 * The "raw" format: the image is the file, optionally a window of it
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/option.h"
#include "block/block_int.h"

#define RAW_OPT_OFFSET "offset"
#define RAW_OPT_SIZE   "size"

typedef struct BDRVRawState {
    uint64_t offset;            /* where the image starts in the file */
    uint64_t size;              /* image length */
    bool has_offset;            /* offset was given (even 0) */
    bool has_size;              /* size was given (else: rest of file) */
} BDRVRawState;

/* Options as read, before they are checked against the file */
typedef struct RawOptions {
    uint64_t offset;
    uint64_t size;
    bool has_offset;
    bool has_size;
} RawOptions;

static QemuOptsList raw_runtime_opts = {
    .name = "raw",
    QEMU_OPTS_LIST_INIT(raw_runtime_opts),
    .desc = {
        {
            .name = RAW_OPT_OFFSET,
            .type = QEMU_OPT_SIZE,
            .help = "offset in the disk where the image starts",
        },
        {
            .name = RAW_OPT_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "virtual disk size",
        },
        { /* end of list */ }
    },
};

static QemuOptsList raw_create_opts = {
    .name = "raw-create-opts",
    QEMU_OPTS_LIST_INIT(raw_create_opts),
    .desc = {
        {
            .name = BLOCK_OPT_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Virtual disk size",
        },
        { /* end of list */ }
    },
};

static int raw_read_options(QDict *options, RawOptions *ro, Error **errp)
{
    QemuOpts *opts;
    int ret = 0;

    opts = qemu_opts_create(&raw_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        ret = -EINVAL;
    } else {
        ro->offset = qemu_opt_get_size(opts, RAW_OPT_OFFSET, 0);
        ro->has_offset = qemu_opt_find(opts, RAW_OPT_OFFSET);
        ro->has_size = qemu_opt_find(opts, RAW_OPT_SIZE);
        ro->size = qemu_opt_get_size(opts, RAW_OPT_SIZE, 0);
    }
    qemu_opts_del(opts);
    return ret;
}

/* Check @ro against the file's length and fill in @s */
static int raw_apply_options(BlockDriverState *bs, BDRVRawState *s,
                             const RawOptions *ro, Error **errp)
{
    int64_t real_size;

    real_size = bdrv_getlength(bs->file->bs);
    if (real_size < 0) {
        error_setg_errno(errp, -real_size, "Could not get image size");
        return real_size;
    }

    if (ro->offset > (uint64_t)real_size) {
        error_setg(errp, "Offset (%" PRIu64 ") cannot be greater than "
                   "size of the containing file (%" PRId64 ")",
                   ro->offset, real_size);
        return -EINVAL;
    }
    if (ro->has_size && real_size - ro->offset < ro->size) {
        /* (sic) the double space is QEMU's */
        error_setg(errp, "The sum of offset (%" PRIu64 ") and size "
                   "(%" PRIu64 ") has to be smaller or equal to the "
                   " actual size of the containing file (%" PRId64 ")",
                   ro->offset, ro->size, real_size);
        return -EINVAL;
    }
    /* A partial last sector would be rounded up and leak out of the window */
    if (ro->has_size && !QEMU_IS_ALIGNED(ro->size, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "Specified size is not multiple of %llu",
                   BDRV_SECTOR_SIZE);
        return -EINVAL;
    }

    s->offset = ro->offset;
    s->has_offset = ro->has_offset;
    s->has_size = ro->has_size;
    s->size = ro->has_size ? ro->size : real_size - ro->offset;
    return 0;
}

/*
 * Options:
 *   offset=SIZE  where the image starts in the file (default 0)
 *   size=SIZE    image length, a multiple of 512 (default: to the end of
 *                the file); offset + size must fit in the file
 */
static int raw_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVRawState *s = bs->opaque;
    BlockDriverState *file_bs;
    RawOptions ro;
    int ret;

    ret = raw_read_options(options, &ro, errp);
    if (ret < 0) {
        return ret;
    }

    ret = bdrv_open_file_child(NULL, options, "file", bs, errp);
    if (ret < 0) {
        return ret;
    }
    file_bs = bs->file->bs;

    bs->supported_write_flags = BDRV_REQ_FUA & file_bs->supported_write_flags;
    bs->supported_zero_flags =
        (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
        file_bs->supported_zero_flags;

    /* The core prints the warning about probed raw images */
    ret = raw_apply_options(bs, s, &ro, errp);
    if (ret < 0) {
        return ret;
    }
    /* As in QEMU, nobody may resize the file under a window into it */
    if (s->offset || s->has_size) {
        ret = bdrv_add_perm(file_bs, 0, BLK_PERM_RESIZE, errp);
    }
    return ret;
}

/* A filter as far as permissions go: the file gets what we are asked */
static int raw_add_perm(BlockDriverState *bs, uint64_t perm,
                        uint64_t unshared, Error **errp)
{
    return bdrv_add_perm(bs->file->bs, perm, unshared, errp);
}

static int raw_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    /* The lowest positive score: raw is what nothing else claims */
    return 1;
}

static int raw_reopen_prepare(BDRVReopenState *state, Error **errp)
{
    BDRVRawState *new_s = g_new0(BDRVRawState, 1);
    RawOptions ro;
    int ret;

    ret = raw_read_options(state->options, &ro, errp);
    if (ret == 0) {
        ret = raw_apply_options(state->bs, new_s, &ro, errp);
    }
    if (ret < 0) {
        g_free(new_s);
        return ret;
    }
    state->opaque = new_s;
    return 0;
}

static void raw_reopen_commit(BDRVReopenState *state)
{
    BDRVRawState *s = state->bs->opaque;

    *s = *(BDRVRawState *)state->opaque;
    g_free(state->opaque);
    state->opaque = NULL;
}

static void raw_reopen_abort(BDRVReopenState *state)
{
    g_free(state->opaque);
    state->opaque = NULL;
}

/*
 * Map a request into the file.  With a size option, nothing may reach
 * beyond the window (the core's bounds check uses our length, but that
 * can shrink if the file does).
 */
static int raw_adjust_offset(BlockDriverState *bs, int64_t *offset,
                             int64_t bytes, bool is_write)
{
    BDRVRawState *s = bs->opaque;

    if (s->has_size && ((uint64_t)*offset > s->size ||
                        (uint64_t)bytes > s->size - *offset)) {
        return is_write ? -ENOSPC : -EINVAL;
    }
    if (*offset > INT64_MAX - (int64_t)s->offset) {
        return -EINVAL;
    }
    *offset += s->offset;
    return 0;
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    int ret;

    ret = raw_adjust_offset(bs, &offset, bytes, false);
    if (ret) {
        return ret;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_READ_AIO);
    return bdrv_co_preadv(bs->file, offset, bytes, qiov, flags);
}

/*
 * A probed image must keep probing as raw: a write of sector 0 that
 * would make it look like another format is refused with -EPERM.
 * refresh_limits makes such writes cover all of sector 0.
 */
static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    QEMUIOVector local_qiov;
    void *buf = NULL;
    int ret;

    if (bs->probed && offset < (int64_t)BDRV_SECTOR_SIZE && bytes) {
        assert(offset == 0 && bytes >= (int64_t)BDRV_SECTOR_SIZE);

        buf = qemu_try_blockalign(bs->file->bs, BDRV_SECTOR_SIZE);
        if (!buf) {
            return -ENOMEM;
        }
        qemu_iovec_to_buf(qiov, 0, buf, BDRV_SECTOR_SIZE);
        if (bdrv_probe_format(buf, BDRV_SECTOR_SIZE, NULL) != bs->drv) {
            qemu_vfree(buf);
            return -EPERM;
        }

        /* Write the copy we checked, not memory the caller may change */
        qemu_iovec_init(&local_qiov, qiov->niov + 1);
        qemu_iovec_add(&local_qiov, buf, BDRV_SECTOR_SIZE);
        qemu_iovec_concat(&local_qiov, qiov, BDRV_SECTOR_SIZE,
                          qiov->size - BDRV_SECTOR_SIZE);
        qiov = &local_qiov;
    }

    ret = raw_adjust_offset(bs, &offset, bytes, true);
    if (ret == 0) {
        BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
        ret = bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);
    }

    if (buf) {
        qemu_iovec_destroy(&local_qiov);
        qemu_vfree(buf);
    }
    return ret;
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    int ret;

    ret = raw_adjust_offset(bs, &offset, bytes, true);
    if (ret) {
        return ret;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs,
                                        int64_t offset, int64_t bytes)
{
    int ret;

    ret = raw_adjust_offset(bs, &offset, bytes, true);
    if (ret) {
        return ret;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

/* Everything is where the file has it: the core asks the file */
static int coroutine_fn raw_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;

    *pnum = bytes;
    *file = bs->file->bs;
    *map = offset + s->offset;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;

    if (s->has_size) {
        error_setg(errp, "Cannot resize fixed-size raw disks");
        return -ENOTSUP;
    }
    if (INT64_MAX - offset < (int64_t)s->offset) {
        error_setg(errp, "Disk size too large for the chosen offset");
        return -EINVAL;
    }

    s->size = offset;
    return bdrv_co_truncate(bs->file, offset + s->offset, exact, prealloc,
                            flags, errp);
}

/* The window, shrunk if the file has shrunk under it */
static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int64_t len;

    len = bdrv_getlength(bs->file->bs);
    if (len < 0) {
        return len;
    }
    if ((uint64_t)len < s->offset) {
        s->size = 0;
    } else if (s->has_size) {
        s->size = MIN(s->size, len - s->offset);
    } else {
        s->size = len - s->offset;
    }
    return s->size;
}

static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return bdrv_get_info(bs->file->bs, bdi);
}

static bool raw_has_zero_init(BlockDriverState *bs)
{
    return bdrv_has_zero_init(bs->file->bs);
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    if (bs->probed) {
        /*
         * Sub-sector writes become read-modify-write of whole sectors, so
         * raw_co_pwritev always sees all of sector 0 to check it.
         */
        bs->bl.request_alignment = MAX(bs->bl.request_alignment,
                                       BDRV_SECTOR_SIZE);
    }
}

/*
 * A window of a file is not the file: then json:{} has to describe us.
 * As in QEMU, an offset or size that was given at all (even offset=0)
 * makes the name json:{...}.
 */
static void raw_refresh_filename(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    /*
     * Only over a protocol node does the child's name describe this
     * graph; over a format node (raw over qcow2) the name is json:
     */
    if (s->has_offset || s->has_size || !bs->file->bs->drv ||
        !bs->file->bs->drv->protocol_name) {
        bs->exact_filename[0] = '\0';
        return;
    }
    pstrcpy(bs->exact_filename, sizeof(bs->exact_filename),
            bs->file->bs->exact_filename);
}

static int coroutine_fn raw_co_create_opts(BlockDriver *drv,
                                           const char *filename,
                                           QemuOpts *opts, Error **errp)
{
    return bdrv_co_create_file(filename, opts, errp);
}

/* Every byte of a raw image is in the file, written or not */
static BlockMeasureInfo *raw_measure(QemuOpts *opts, BlockDriverState *in_bs,
                                     Error **errp)
{
    BlockMeasureInfo *info;
    int64_t len;
    uint64_t size;

    if (in_bs) {
        len = bdrv_getlength(in_bs);
        if (len < 0) {
            error_setg_errno(errp, -len, "Unable to get image size");
            return NULL;
        }
        size = len;
    } else {
        size = ROUND_UP(qemu_opt_get_size_del(opts, BLOCK_OPT_SIZE, 0),
                        BDRV_SECTOR_SIZE);
    }
    info = g_new0(BlockMeasureInfo, 1);
    info->required = size;
    info->fully_allocated = size;
    return info;
}

static BlockDriver bdrv_raw = {
    .format_name            = "raw",
    .instance_size          = sizeof(BDRVRawState),
    .bdrv_add_perm          = raw_add_perm,

    .bdrv_probe             = raw_probe,
    .bdrv_open              = raw_open,
    .bdrv_reopen_prepare    = raw_reopen_prepare,
    .bdrv_reopen_commit     = raw_reopen_commit,
    .bdrv_reopen_abort      = raw_reopen_abort,

    .bdrv_co_preadv         = raw_co_preadv,
    .bdrv_co_pwritev        = raw_co_pwritev,
    .bdrv_co_pwrite_zeroes  = raw_co_pwrite_zeroes,
    .bdrv_co_pdiscard       = raw_co_pdiscard,
    .bdrv_co_block_status   = raw_co_block_status,
    .bdrv_co_truncate       = raw_co_truncate,

    .bdrv_getlength         = raw_getlength,
    .bdrv_get_info          = raw_get_info,
    .bdrv_has_zero_init     = raw_has_zero_init,
    .bdrv_refresh_limits    = raw_refresh_limits,
    .bdrv_refresh_filename  = raw_refresh_filename,

    .create_opts            = &raw_create_opts,
    .bdrv_co_create_opts    = raw_co_create_opts,
    .bdrv_measure           = raw_measure,
};

static void bdrv_raw_init(void)
{
    bdrv_register(&bdrv_raw);
}

block_init(bdrv_raw_init);
