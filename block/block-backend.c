/*
 * BlockBackend: the tools' handle on a node graph
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "sysemu/block-backend.h"
#include "block/block_int.h"
#include "qemu/aio.h"
#include "qemu/coroutine.h"

enum {
    BLK_ACCT_READ,
    BLK_ACCT_WRITE,
    BLK_ACCT_FLUSH,
    BLK_ACCT_DISCARD,
};

static QTAILQ_HEAD(, BlockBackend) all_blks =
    QTAILQ_HEAD_INITIALIZER(all_blks);

struct BlockBackend {
    QTAILQ_ENTRY(BlockBackend) link;
    int refcnt;
    BdrvChild *root;
    bool enable_write_cache;
    unsigned int in_flight;
    BlockAcctStats stats;
};

struct BlockAIOCB {
    BlockBackend *blk;
    BlockCompletionFunc *cb;
    void *opaque;
    int64_t offset;
    int64_t bytes;
    QEMUIOVector *qiov;
    BdrvRequestFlags flags;
    int (*fn)(BlockAIOCB *acb);
    int ret;
    BlockAIOCB *next_free;      /* in aiocb_free, once completed */
};

/*
 * Completed AIOCBs kept for the next requests, so that a stream of
 * asynchronous requests allocates nothing.  Requests are submitted and
 * completed in the event loop thread.
 */
#define AIOCB_FREE_MAX 256
static __thread BlockAIOCB *aiocb_free;
static __thread unsigned n_aiocb_free;

static BlockBackend *blk_new_for(BlockDriverState *bs)
{
    BlockBackend *blk = g_new0(BlockBackend, 1);

    blk->refcnt = 1;
    blk->enable_write_cache = true;
    QTAILQ_INSERT_TAIL(&all_blks, blk, link);
    blk->root = bdrv_attach_child(NULL, bs, "root",
                                  BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY,
                                  &error_abort);
    return blk;
}

BlockBackend *blk_new_open(const char *filename, const char *reference,
                           QDict *options, int flags, Error **errp)
{
    BlockDriverState *bs;
    BlockBackend *blk;

    bs = bdrv_open(filename, reference, options, flags, errp);
    if (!bs) {
        return NULL;
    }
    /* A user who asked for write access cannot have a read-only node */
    if ((flags & BDRV_O_RDWR) && bdrv_is_read_only(bs)) {
        error_setg(errp, "Block node is read-only");
        bdrv_unref(bs);
        return NULL;
    }
    blk = blk_new_for(bs);
    bdrv_unref(bs);
    return blk;
}

BlockBackend *blk_new_with_bs(BlockDriverState *bs, Error **errp)
{
    return blk_new_for(bs);
}

void blk_ref(BlockBackend *blk)
{
    blk->refcnt++;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    assert(blk->refcnt > 0);
    if (blk->refcnt == 1) {
        /* Pending aio holds references: let it finish first */
        blk_drain(blk);
    }
    if (--blk->refcnt == 0) {
        bdrv_unref_child(NULL, blk->root);
        QTAILQ_REMOVE(&all_blks, blk, link);
        g_free(blk);
    }
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->root ? blk->root->bs : NULL;
}

BdrvChild *blk_root(BlockBackend *blk)
{
    return blk->root;
}

bool blk_is_read_only(BlockBackend *blk)
{
    return bdrv_is_read_only(blk_bs(blk));
}

bool blk_is_writable(BlockBackend *blk)
{
    return !blk_is_read_only(blk);
}

void blk_set_enable_write_cache(BlockBackend *blk, bool wce)
{
    blk->enable_write_cache = wce;
}

bool blk_enable_write_cache(BlockBackend *blk)
{
    return blk->enable_write_cache;
}

int64_t blk_getlength(BlockBackend *blk)
{
    return bdrv_getlength(blk_bs(blk));
}

int64_t blk_nb_sectors(BlockBackend *blk)
{
    return bdrv_nb_sectors(blk_bs(blk));
}

int blk_get_open_flags(BlockBackend *blk)
{
    return bdrv_get_flags(blk_bs(blk));
}

void *blk_blockalign(BlockBackend *blk, size_t size)
{
    return qemu_blockalign(blk ? blk_bs(blk) : NULL, size);
}

BlockAcctStats *blk_get_stats(BlockBackend *blk)
{
    return &blk->stats;
}

/* Requests must lie within the device */
static int blk_check_byte_request(BlockBackend *blk, int64_t offset,
                                  int64_t bytes)
{
    int64_t len;

    if (bytes < 0 || offset < 0) {
        return -EIO;
    }
    if (!blk_bs(blk) || !blk_bs(blk)->drv) {
        return -ENOMEDIUM;
    }
    len = blk_getlength(blk);
    if (len < 0) {
        return len;
    }
    if (offset > len || len - offset < bytes) {
        return -EIO;
    }
    return 0;
}

static void blk_account(BlockBackend *blk, int type, int64_t bytes, int ret)
{
    if (ret == 0) {
        blk->stats.nr_ops[type]++;
        blk->stats.nr_bytes[type] += bytes;
    } else if (ret == -EIO && type != BLK_ACCT_FLUSH) {
        blk->stats.invalid_ops[type]++;
    } else {
        blk->stats.failed_ops[type]++;
    }
}

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset,
                               int64_t bytes, QEMUIOVector *qiov,
                               BdrvRequestFlags flags)
{
    int ret = blk_check_byte_request(blk, offset, bytes);

    if (ret == 0) {
        blk->in_flight++;
        ret = bdrv_co_preadv(blk->root, offset, bytes, qiov, flags);
        blk->in_flight--;
    }
    blk_account(blk, BLK_ACCT_READ, bytes, ret);
    return ret;
}

int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags)
{
    int ret = blk_check_byte_request(blk, offset, bytes);

    if (ret == 0 && blk_is_read_only(blk)) {
        ret = -EPERM;
    }
    if (ret == 0) {
        if (!blk->enable_write_cache) {
            flags |= BDRV_REQ_FUA;
        }
        blk->in_flight++;
        ret = bdrv_co_pwritev(blk->root, offset, bytes, qiov, flags);
        blk->in_flight--;
    }
    blk_account(blk, BLK_ACCT_WRITE, bytes, ret);
    return ret;
}

int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                      int64_t bytes, BdrvRequestFlags flags)
{
    return blk_co_pwritev(blk, offset, bytes, NULL,
                          flags | BDRV_REQ_ZERO_WRITE);
}

int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset,
                                 int64_t bytes)
{
    int ret = blk_check_byte_request(blk, offset, bytes);

    if (ret == 0 && blk_is_read_only(blk)) {
        ret = -EPERM;
    }
    if (ret == 0) {
        blk->in_flight++;
        ret = bdrv_co_pdiscard(blk->root, offset, bytes);
        blk->in_flight--;
    }
    blk_account(blk, BLK_ACCT_DISCARD, bytes, ret);
    return ret;
}

int coroutine_fn blk_co_flush(BlockBackend *blk)
{
    int ret;

    if (!blk_bs(blk) || !blk_bs(blk)->drv) {
        return -ENOMEDIUM;
    }
    blk->in_flight++;
    ret = bdrv_co_flush(blk_bs(blk));
    blk->in_flight--;
    blk_account(blk, BLK_ACCT_FLUSH, 0, ret);
    return ret;
}

int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset,
                              int64_t bytes, void *buf,
                              BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    if (bytes < 0) {
        return -EINVAL;
    }
    qemu_iovec_init_buf(&qiov, buf, bytes);
    return blk_co_preadv(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset,
                               int64_t bytes, const void *buf,
                               BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    if (bytes < 0) {
        return -EINVAL;
    }
    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return blk_co_pwritev(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_pwrite_compressed(BlockBackend *blk, int64_t offset,
                                          int64_t bytes, const void *buf)
{
    QEMUIOVector qiov;

    if (!bdrv_supports_compressed_writes(blk_bs(blk))) {
        return -ENOTSUP;
    }
    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return blk_co_pwritev(blk, offset, bytes, &qiov,
                          BDRV_REQ_WRITE_COMPRESSED);
}

int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset,
                                 bool exact, PreallocMode prealloc,
                                 BdrvRequestFlags flags, Error **errp)
{
    if (!blk_bs(blk) || !blk_bs(blk)->drv) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    return bdrv_co_truncate(blk->root, offset, exact, prealloc, flags, errp);
}

int coroutine_fn blk_co_load_vmstate(BlockBackend *blk, uint8_t *buf,
                                     int64_t pos, int size)
{
    QEMUIOVector qiov;
    int ret;

    if (!blk_bs(blk) || !blk_bs(blk)->drv) {
        return -ENOMEDIUM;
    }
    qemu_iovec_init_buf(&qiov, buf, size);
    ret = bdrv_co_readv_vmstate(blk_bs(blk), &qiov, pos);
    return ret < 0 ? ret : size;
}

int coroutine_fn blk_co_save_vmstate(BlockBackend *blk, const uint8_t *buf,
                                     int64_t pos, int size)
{
    QEMUIOVector qiov;
    int ret;

    if (!blk_bs(blk) || !blk_bs(blk)->drv) {
        return -ENOMEDIUM;
    }
    qemu_iovec_init_buf(&qiov, (void *)buf, size);
    ret = bdrv_co_writev_vmstate(blk_bs(blk), &qiov, pos);
    if (ret >= 0 && !blk->enable_write_cache) {
        ret = bdrv_co_flush(blk_bs(blk));
    }
    return ret < 0 ? ret : size;
}

/* The synchronous forms (blk_pread() ...) are generated from the header */

/* Asynchronous requests */

static void blk_aio_complete_bh(void *opaque)
{
    BlockAIOCB *acb = opaque;
    BlockBackend *blk = acb->blk;

    acb->cb(acb->opaque, acb->ret);
    blk->in_flight--;
    blk_unref(blk);
    if (n_aiocb_free < AIOCB_FREE_MAX) {
        acb->next_free = aiocb_free;
        aiocb_free = acb;
        n_aiocb_free++;
    } else {
        g_free(acb);
    }
}

static void coroutine_fn blk_aio_entry(void *opaque)
{
    BlockAIOCB *acb = opaque;

    acb->ret = acb->fn(acb);
    /* Always complete from the event loop, never inside the submitter */
    aio_bh_schedule_oneshot(qemu_get_aio_context(), blk_aio_complete_bh,
                            acb);
}

static BlockAIOCB *blk_aio_start(BlockBackend *blk, int64_t offset,
                                 int64_t bytes, QEMUIOVector *qiov,
                                 BdrvRequestFlags flags,
                                 int (*fn)(BlockAIOCB *acb),
                                 BlockCompletionFunc *cb, void *opaque)
{
    BlockAIOCB *acb = aiocb_free;

    if (acb) {
        aiocb_free = acb->next_free;
        n_aiocb_free--;
    } else {
        acb = g_new(BlockAIOCB, 1);
    }
    *acb = (BlockAIOCB) {
        .blk = blk,
        .cb = cb,
        .opaque = opaque,
        .offset = offset,
        .bytes = bytes,
        .qiov = qiov,
        .flags = flags,
        .fn = fn,
        .ret = -EINPROGRESS,
    };
    blk_ref(blk);
    blk->in_flight++;
    qemu_coroutine_enter(qemu_coroutine_create(blk_aio_entry, acb));
    return acb;
}

static int coroutine_fn blk_aio_do_preadv(BlockAIOCB *acb)
{
    return blk_co_preadv(acb->blk, acb->offset, acb->bytes, acb->qiov,
                         acb->flags);
}

static int coroutine_fn blk_aio_do_pwritev(BlockAIOCB *acb)
{
    return blk_co_pwritev(acb->blk, acb->offset, acb->bytes, acb->qiov,
                          acb->flags);
}

static int coroutine_fn blk_aio_do_pdiscard(BlockAIOCB *acb)
{
    return blk_co_pdiscard(acb->blk, acb->offset, acb->bytes);
}

static int coroutine_fn blk_aio_do_flush(BlockAIOCB *acb)
{
    return blk_co_flush(acb->blk);
}

BlockAIOCB *blk_aio_preadv(BlockBackend *blk, int64_t offset,
                           QEMUIOVector *qiov, BdrvRequestFlags flags,
                           BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, offset, qiov->size, qiov, flags,
                         blk_aio_do_preadv, cb, opaque);
}

BlockAIOCB *blk_aio_pwritev(BlockBackend *blk, int64_t offset,
                            QEMUIOVector *qiov, BdrvRequestFlags flags,
                            BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, offset, qiov->size, qiov, flags,
                         blk_aio_do_pwritev, cb, opaque);
}

BlockAIOCB *blk_aio_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                  int64_t bytes, BdrvRequestFlags flags,
                                  BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, offset, bytes, NULL,
                         flags | BDRV_REQ_ZERO_WRITE, blk_aio_do_pwritev,
                         cb, opaque);
}

BlockAIOCB *blk_aio_pdiscard(BlockBackend *blk, int64_t offset,
                             int64_t bytes, BlockCompletionFunc *cb,
                             void *opaque)
{
    return blk_aio_start(blk, offset, bytes, NULL, 0, blk_aio_do_pdiscard,
                         cb, opaque);
}

BlockAIOCB *blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb,
                          void *opaque)
{
    return blk_aio_start(blk, 0, 0, NULL, 0, blk_aio_do_flush, cb, opaque);
}

void blk_drain(BlockBackend *blk)
{
    if (qemu_in_coroutine()) {
        return;
    }
    AIO_WAIT_WHILE(NULL, blk->in_flight > 0 || bdrv_any_in_flight());
}

static bool blk_any_in_flight(void)
{
    BlockBackend *blk;

    QTAILQ_FOREACH(blk, &all_blks, link) {
        if (blk->in_flight) {
            return true;
        }
    }
    return false;
}

void blk_drain_all(void)
{
    if (qemu_in_coroutine()) {
        return;
    }
    AIO_WAIT_WHILE(NULL, blk_any_in_flight() || bdrv_any_in_flight());
}
