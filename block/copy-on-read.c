/*
 * Copy-on-read filter ("copy-on-read"): every read through it copies the
 * data it finds in the backing chain of its file child into that child
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qapi/error.h"
#include "block/block_int.h"

#define COR_OPT_BOTTOM "bottom"

typedef struct BDRVCopyOnReadState {
    /*
     * With "bottom": only data allocated above this node (and in it) is
     * copied; reads of what lies below it pass through uncopied
     */
    BlockDriverState *bottom_bs;
} BDRVCopyOnReadState;

/*
 * Options:
 *   file=NODE|file.*   the node to copy into (mandatory)
 *   bottom=NODE-NAME   copy only from the backing chain of the file child
 *                      down to this node, inclusive; it must be open and
 *                      not a filter
 * The filter writes into its child, so it cannot be opened read-only.
 */
static int cor_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVCopyOnReadState *s = bs->opaque;
    g_autofree char *bottom = g_strdup(qdict_get_try_str(options,
                                                         COR_OPT_BOTTOM));
    BlockDriverState *bottom_bs;
    int ret;

    qdict_del(options, COR_OPT_BOTTOM);
    ret = bdrv_open_file_child(NULL, options, "file", bs, errp);
    if (ret < 0) {
        return ret;
    }
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        return -EPERM;
    }

    bs->supported_write_flags = BDRV_REQ_FUA &
                                bs->file->bs->supported_write_flags;
    bs->supported_zero_flags = (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP |
                                BDRV_REQ_NO_FALLBACK) &
                               bs->file->bs->supported_zero_flags;

    if (bottom) {
        bottom_bs = bdrv_find_node(bottom);
        if (!bottom_bs) {
            error_setg(errp, "Bottom node '%s' not found", bottom);
            return -EINVAL;
        }
        if (!bottom_bs->drv) {
            error_setg(errp, "Bottom node '%s' not opened", bottom);
            return -EINVAL;
        }
        if (bottom_bs->drv->is_filter) {
            error_setg(errp, "Bottom node '%s' is a filter", bottom);
            return -EINVAL;
        }
        bdrv_ref(bottom_bs);
        s->bottom_bs = bottom_bs;
    }
    return 0;
}

static void cor_close(BlockDriverState *bs)
{
    BDRVCopyOnReadState *s = bs->opaque;

    if (s->bottom_bs) {
        bdrv_unref(s->bottom_bs);
        s->bottom_bs = NULL;
    }
}

/* Read data, copying what the file child does not hold itself */
static int coroutine_fn cor_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    BDRVCopyOnReadState *s = bs->opaque;
    BlockDriverState *top = bs->file->bs;
    size_t qiov_offset = 0;
    int ret;

    if (!s->bottom_bs) {
        return bdrv_co_preadv(bs->file, offset, bytes, qiov,
                              flags | BDRV_REQ_COPY_ON_READ);
    }

    while (bytes) {
        BdrvRequestFlags local_flags = flags;
        int64_t n;

        ret = bdrv_co_is_allocated(top, offset, bytes, &n);
        if (ret <= 0) {
            /* On error, copy anyway: the read will say what is wrong */
            ret = bdrv_co_is_allocated_above(top->backing ?
                                             top->backing->bs : NULL,
                                             s->bottom_bs, true, offset,
                                             ret < 0 ? bytes : n, &n);
            if (ret != 0) {
                local_flags |= BDRV_REQ_COPY_ON_READ;
            }
            if (n == 0) {
                /* The end of a backing file */
                break;
            }
        }
        ret = bdrv_co_preadv_part(bs->file, offset, n, qiov, qiov_offset,
                                  local_flags);
        if (ret < 0) {
            return ret;
        }
        offset += n;
        qiov_offset += n;
        bytes -= n;
    }
    return 0;
}

/* Everything else passes through */
static int coroutine_fn cor_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    return bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn cor_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn cor_co_pdiscard(BlockDriverState *bs,
                                        int64_t offset, int64_t bytes)
{
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn cor_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    return bdrv_co_truncate(bs->file, offset, exact, prealloc, flags, errp);
}

static int64_t cor_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

static BlockDriver bdrv_copy_on_read = {
    .format_name            = "copy-on-read",
    .instance_size          = sizeof(BDRVCopyOnReadState),
    .is_filter              = true,

    .bdrv_open              = cor_open,
    .bdrv_close             = cor_close,

    .bdrv_co_preadv         = cor_co_preadv,
    .bdrv_co_pwritev        = cor_co_pwritev,
    .bdrv_co_pwrite_zeroes  = cor_co_pwrite_zeroes,
    .bdrv_co_pdiscard       = cor_co_pdiscard,
    .bdrv_co_block_status   = bdrv_co_block_status_from_file,
    .bdrv_co_truncate       = cor_co_truncate,

    .bdrv_getlength         = cor_getlength,
};

static void bdrv_copy_on_read_init(void)
{
    bdrv_register(&bdrv_copy_on_read);
}

block_init(bdrv_copy_on_read_init);
