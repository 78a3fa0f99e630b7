/*
 * Null protocol drivers ("null-co", "null-aio"): discard writes, read
 * nothing, for measuring block layer overhead
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qemu/option.h"
#include "qemu/aio.h"
#include "block/block_int.h"

#define NULL_OPT_LATENCY "latency-ns"
#define NULL_OPT_ZEROES  "read-zeroes"

typedef struct BDRVNullState {
    int64_t length;
    int64_t latency_ns;
    bool read_zeroes;
    /* null-aio: complete every request from the event loop */
    bool complete_in_bh;
} BDRVNullState;

static QemuOptsList null_runtime_opts = {
    .name = "null",
    QEMU_OPTS_LIST_INIT(null_runtime_opts),
    .desc = {
        {
            .name = BLOCK_OPT_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "size of the null block",
        },
        {
            .name = NULL_OPT_LATENCY,
            .type = QEMU_OPT_NUMBER,
            .help = "nanoseconds (approximated) to wait "
                    "before completing request",
        },
        {
            .name = NULL_OPT_ZEROES,
            .type = QEMU_OPT_BOOL,
            .help = "return zeroes when read",
        },
        { /* end of list */ }
    },
};

/*
 * The filename form carries no options: "null-co://" or "null-aio://" is
 * the only valid filename.
 */
static void null_parse_filename_common(const char *filename,
                                       const char *expected, Error **errp)
{
    if (strcmp(filename, expected)) {
        error_setg(errp, "The only allowed filename for this driver is '%s'",
                   expected);
    }
}

static void null_co_parse_filename(const char *filename, QDict *options,
                                   Error **errp)
{
    null_parse_filename_common(filename, "null-co://", errp);
}

static void null_aio_parse_filename(const char *filename, QDict *options,
                                    Error **errp)
{
    null_parse_filename_common(filename, "null-aio://", errp);
}

/*
 * Options:
 *   size=SIZE         length of the device (default 1 GiB)
 *   latency-ns=NS     delay every request by NS nanoseconds (default 0)
 *   read-zeroes=BOOL  fill read buffers with zeroes (default off: reads
 *                     leave the buffer untouched)
 */
static int null_open(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp)
{
    BDRVNullState *s = bs->opaque;
    QemuOpts *opts;
    int ret = 0;

    opts = qemu_opts_create(&null_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        ret = -EINVAL;
        goto out;
    }
    /* The filename form was checked by parse_filename; nothing in it */
    qdict_del(options, "filename");

    s->length = qemu_opt_get_size(opts, BLOCK_OPT_SIZE, 1 * GiB);
    s->latency_ns = qemu_opt_get_number(opts, NULL_OPT_LATENCY, 0);
    if (s->latency_ns < 0) {
        error_setg(errp, "latency-ns is invalid");
        ret = -EINVAL;
        goto out;
    }
    s->read_zeroes = qemu_opt_get_bool(opts, NULL_OPT_ZEROES, false);
    s->complete_in_bh = !strcmp(bs->drv->format_name, "null-aio");
    bs->supported_write_flags = BDRV_REQ_FUA;

out:
    qemu_opts_del(opts);
    return ret;
}

/* Every request ends here: wait for the latency, or one loop iteration */
static int coroutine_fn null_co_common(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    if (s->latency_ns) {
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, s->latency_ns);
    } else if (s->complete_in_bh) {
        aio_co_schedule(qemu_get_aio_context(), qemu_coroutine_self());
        qemu_coroutine_yield();
    }
    return 0;
}

static int coroutine_fn null_co_preadv(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    BDRVNullState *s = bs->opaque;

    if (s->read_zeroes) {
        qemu_iovec_memset(qiov, 0, 0, bytes);
    }
    return null_co_common(bs);
}

static int coroutine_fn null_co_pwritev(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    return null_co_common(bs);
}

static int coroutine_fn null_co_flush(BlockDriverState *bs)
{
    return null_co_common(bs);
}

/*
 * Nothing is stored, so nothing is allocated; with read-zeroes the
 * device reads as zeroes everywhere.
 */
static int coroutine_fn null_co_block_status(BlockDriverState *bs,
                                             bool want_zero, int64_t offset,
                                             int64_t bytes, int64_t *pnum,
                                             int64_t *map,
                                             BlockDriverState **file)
{
    BDRVNullState *s = bs->opaque;

    *pnum = bytes;
    *map = offset;
    *file = bs;
    return BDRV_BLOCK_OFFSET_VALID | (s->read_zeroes ? BDRV_BLOCK_ZERO : 0);
}

static int null_reopen_prepare(BDRVReopenState *state, Error **errp)
{
    return 0;
}

/* Reads see zeroes only with read-zeroes; otherwise the buffer as is */
static bool null_has_zero_init(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    return s->read_zeroes;
}

static int64_t null_getlength(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    return s->length;
}

static int64_t null_get_allocated_file_size(BlockDriverState *bs)
{
    return 0;
}

/*
 * "null-co://" describes the node unless an option that changes what it
 * reads or how big it is was given; latency alone does not count.
 */
static void null_refresh_filename(BlockDriverState *bs)
{
    if (bs->options && (qdict_haskey(bs->options, BLOCK_OPT_SIZE) ||
                        qdict_haskey(bs->options, NULL_OPT_ZEROES))) {
        bs->exact_filename[0] = '\0';
        return;
    }
    snprintf(bs->exact_filename, sizeof(bs->exact_filename), "%s://",
             bs->drv->format_name);
}

static BlockDriver bdrv_null_co = {
    .format_name                    = "null-co",
    .protocol_name                  = "null-co",
    .instance_size                  = sizeof(BDRVNullState),

    .bdrv_parse_filename            = null_co_parse_filename,
    .bdrv_open                      = null_open,
    .bdrv_reopen_prepare            = null_reopen_prepare,

    .bdrv_co_preadv                 = null_co_preadv,
    .bdrv_co_pwritev                = null_co_pwritev,
    .bdrv_co_flush_to_disk          = null_co_flush,
    .bdrv_co_block_status           = null_co_block_status,

    .bdrv_getlength                 = null_getlength,
    .bdrv_get_allocated_file_size   = null_get_allocated_file_size,
    .bdrv_has_zero_init             = null_has_zero_init,
    .bdrv_refresh_filename          = null_refresh_filename,
};

/* Same device, but requests complete asynchronously via the event loop */
static BlockDriver bdrv_null_aio = {
    .format_name                    = "null-aio",
    .protocol_name                  = "null-aio",
    .instance_size                  = sizeof(BDRVNullState),

    .bdrv_parse_filename            = null_aio_parse_filename,
    .bdrv_open                      = null_open,
    .bdrv_reopen_prepare            = null_reopen_prepare,

    .bdrv_co_preadv                 = null_co_preadv,
    .bdrv_co_pwritev                = null_co_pwritev,
    .bdrv_co_flush_to_disk          = null_co_flush,
    .bdrv_co_block_status           = null_co_block_status,

    .bdrv_getlength                 = null_getlength,
    .bdrv_get_allocated_file_size   = null_get_allocated_file_size,
    .bdrv_has_zero_init             = null_has_zero_init,
    .bdrv_refresh_filename          = null_refresh_filename,
};

static void bdrv_null_init(void)
{
    bdrv_register(&bdrv_null_co);
    bdrv_register(&bdrv_null_aio);
}

block_init(bdrv_null_init);
