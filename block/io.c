/*
 * Block request layer: bounds, alignment, splitting, serialisation
 *
 * Every request to a node passes through here on its way to the driver.
 * The driver then sees only requests aligned to bl.request_alignment and
 * no longer than bl.max_transfer; unaligned writes become
 * read-modify-write cycles that serialise against overlapping requests.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qemu/buffer-compare.h"
#include "qemu/aio.h"
#include "qemu/coroutine.h"
#include "qemu/iov.h"

/* Largest bounce buffer used to emulate write-zeroes */
#define MAX_ZERO_BOUNCE_BYTES (1 * MiB)

/* Requests started and finished on any node, for bdrv_requests_stalled() */
static uint64_t bdrv_request_events;

static void bdrv_inc_in_flight(BlockDriverState *bs)
{
    bs->in_flight++;
    bdrv_request_events++;
}

static void bdrv_dec_in_flight(BlockDriverState *bs)
{
    assert(bs->in_flight > 0);
    bs->in_flight--;
    bdrv_request_events++;
    /* Let a draining aio_poll() notice */
    aio_notify(qemu_get_aio_context());
}

bool bdrv_any_in_flight(void)
{
    BlockDriverState *bs = NULL;

    while ((bs = bdrv_next_all_states(bs))) {
        if (bs->in_flight) {
            return true;
        }
    }
    return false;
}

/*
 * Requests held at blkdebug breakpoints can keep others from finishing (an
 * overlapping request waits for them, a drain waits for all).  Stalled:
 * some are held, no protocol node (a node without children: file, nbd,
 * null) has I/O in flight that could complete, and no request started or
 * finished since the caller's last look at *@progress (updated).
 */
bool bdrv_requests_stalled(uint64_t *progress)
{
    bool moved = *progress != bdrv_request_events;

    *progress = bdrv_request_events;
    if (moved || !bdrv_debug_any_suspended()) {
        return false;
    }
    return !bdrv_protocol_io_in_flight();
}

/* Whether a protocol node has requests in flight (I/O that will complete) */
bool bdrv_protocol_io_in_flight(void)
{
    BlockDriverState *bs = NULL;

    while ((bs = bdrv_next_all_states(bs))) {
        if (bs->in_flight && QLIST_EMPTY(&bs->children)) {
            return true;
        }
    }
    return false;
}

/* Buffer alignment (bounce buffers, O_DIRECT) */

size_t bdrv_opt_mem_align(BlockDriverState *bs)
{
    if (!bs || !bs->drv || !bs->bl.opt_mem_alignment) {
        return qemu_real_host_page_size();
    }
    return bs->bl.opt_mem_alignment;
}

size_t bdrv_min_mem_align(BlockDriverState *bs)
{
    if (!bs || !bs->drv || !bs->bl.min_mem_alignment) {
        return qemu_real_host_page_size();
    }
    return bs->bl.min_mem_alignment;
}

void *qemu_blockalign(BlockDriverState *bs, size_t size)
{
    return qemu_memalign(bdrv_opt_mem_align(bs), size ? size : 1);
}

void *qemu_blockalign0(BlockDriverState *bs, size_t size)
{
    void *p = qemu_blockalign(bs, size);

    memset(p, 0, size);
    return p;
}

void *qemu_try_blockalign(BlockDriverState *bs, size_t size)
{
    return qemu_try_memalign(bdrv_opt_mem_align(bs), size ? size : 1);
}

/* Request limits, for callers that size their requests to them */

uint32_t bdrv_get_request_alignment(BlockDriverState *bs)
{
    return bs->bl.request_alignment;
}

uint32_t bdrv_get_opt_transfer(BlockDriverState *bs)
{
    return bs->bl.opt_transfer;
}

uint32_t bdrv_get_pdiscard_alignment(BlockDriverState *bs)
{
    return bs->bl.pdiscard_alignment;
}

static int bdrv_check_request(int64_t offset, int64_t bytes)
{
    if (offset < 0 || bytes < 0 || offset > BDRV_MAX_LENGTH ||
        bytes > BDRV_MAX_LENGTH - offset) {
        return -EIO;
    }
    return 0;
}

/* Tracked requests and serialisation */

static void tracked_request_begin(BdrvTrackedRequest *req,
                                  BlockDriverState *bs, int64_t offset,
                                  int64_t bytes,
                                  BdrvTrackedRequestType type)
{
    *req = (BdrvTrackedRequest) {
        .bs = bs,
        .offset = offset,
        .bytes = bytes,
        .type = type,
        .overlap_offset = offset,
        .overlap_bytes = bytes,
        .co = qemu_coroutine_self(),
    };
    qemu_co_queue_init(&req->wait_queue);
    QLIST_INSERT_HEAD(&bs->tracked_requests, req, list);
}

static void tracked_request_end(BdrvTrackedRequest *req)
{
    if (req->serialising) {
        req->bs->serialising_in_flight--;
    }
    QLIST_REMOVE(req, list);
    qemu_co_queue_restart_all(&req->wait_queue);
}

static bool tracked_request_overlaps(BdrvTrackedRequest *req,
                                     int64_t offset, int64_t bytes)
{
    return offset < req->overlap_offset + req->overlap_bytes &&
           req->overlap_offset < offset + bytes;
}

/*
 * Wait until no request overlapping @self is in flight where either side
 * is serialising.  A request already waiting for someone is not waited
 * for, which breaks cycles between two serialising requests.
 */
static void coroutine_fn
bdrv_wait_serialising_requests(BdrvTrackedRequest *self)
{
    BlockDriverState *bs = self->bs;
    BdrvTrackedRequest *req;
    bool retry;

    if (!bs->serialising_in_flight) {
        return;
    }
    do {
        retry = false;
        QLIST_FOREACH(req, &bs->tracked_requests, list) {
            if (req == self || (!req->serialising && !self->serialising)) {
                continue;
            }
            if (!tracked_request_overlaps(req, self->overlap_offset,
                                          self->overlap_bytes)) {
                continue;
            }
            if (req->waiting_for) {
                continue;
            }
            self->waiting_for = req;
            qemu_co_queue_wait(&req->wait_queue);
            self->waiting_for = NULL;
            retry = true;
            break;
        }
    } while (retry);
}

static void coroutine_fn
bdrv_make_request_serialising(BdrvTrackedRequest *req, uint64_t align)
{
    int64_t overlap_offset = QEMU_ALIGN_DOWN(req->offset, align);
    int64_t overlap_end = QEMU_ALIGN_UP(req->offset + req->bytes, align);

    if (!req->serialising) {
        req->serialising = true;
        req->bs->serialising_in_flight++;
    }
    req->overlap_offset = MIN(req->overlap_offset, overlap_offset);
    req->overlap_bytes = MAX(req->overlap_offset + req->overlap_bytes,
                             overlap_end) - req->overlap_offset;
    bdrv_wait_serialising_requests(req);
}

/* Padding of unaligned requests */

typedef struct BdrvRequestPadding {
    uint8_t *buf;         /* head block, then tail block (or one shared) */
    size_t buf_len;
    uint8_t *tail_buf;
    size_t head;          /* bytes of the first block before the request */
    size_t tail;          /* bytes of the last block after the request */
    bool merge_reads;     /* head and tail are the same block */
    int64_t aligned_offset;   /* the widened request */
    int64_t aligned_end;
    QEMUIOVector local_qiov;
} BdrvRequestPadding;

/*
 * If [*offset, *offset + *bytes) is not aligned to request_alignment,
 * widen it and replace *qiov by a vector with bounce buffers at the ends.
 * Returns true if padding was needed.
 */
static bool bdrv_pad_request(BlockDriverState *bs, QEMUIOVector **qiov,
                             size_t *qiov_offset, int64_t *offset,
                             int64_t *bytes, BdrvRequestPadding *pad)
{
    uint64_t align = bs->bl.request_alignment;
    int64_t end = *offset + *bytes;
    int64_t aligned_start = QEMU_ALIGN_DOWN(*offset, align);
    int64_t aligned_end = QEMU_ALIGN_UP(end, align);

    memset(pad, 0, sizeof(*pad));
    pad->head = *offset - aligned_start;
    pad->tail = aligned_end - end;
    if (!pad->head && !pad->tail) {
        return false;
    }

    pad->aligned_offset = aligned_start;
    pad->aligned_end = aligned_end;
    pad->merge_reads = aligned_end - aligned_start == (int64_t)align;
    if (pad->merge_reads) {
        pad->buf_len = align;
    } else {
        pad->buf_len = (pad->head ? align : 0) + (pad->tail ? align : 0);
    }
    pad->buf = qemu_blockalign(bs, pad->buf_len);
    pad->tail_buf = pad->buf + pad->buf_len - align;

    qemu_iovec_init(&pad->local_qiov, (*qiov ? (*qiov)->niov : 0) + 2);
    if (pad->head) {
        qemu_iovec_add(&pad->local_qiov, pad->buf, pad->head);
    }
    if (*bytes) {
        qemu_iovec_concat(&pad->local_qiov, *qiov, *qiov_offset, *bytes);
    }
    if (pad->tail) {
        qemu_iovec_add(&pad->local_qiov, pad->tail_buf + align - pad->tail,
                       pad->tail);
    }

    *offset = aligned_start;
    *bytes = aligned_end - aligned_start;
    *qiov = &pad->local_qiov;
    *qiov_offset = 0;
    return true;
}

static void bdrv_padding_destroy(BdrvRequestPadding *pad)
{
    if (pad->buf) {
        qemu_vfree(pad->buf);
        qemu_iovec_destroy(&pad->local_qiov);
    }
    memset(pad, 0, sizeof(*pad));
}

/* Driver calls */

static int coroutine_fn bdrv_driver_preadv(BlockDriverState *bs,
                                           int64_t offset, int64_t bytes,
                                           QEMUIOVector *qiov,
                                           size_t qiov_offset,
                                           BdrvRequestFlags flags)
{
    BlockDriver *drv = bs->drv;
    QEMUIOVector local_qiov;
    int ret;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if (!drv->bdrv_co_preadv) {
        return -ENOTSUP;
    }
    if (qiov_offset == 0 && qiov->size == (size_t)bytes) {
        return drv->bdrv_co_preadv(bs, offset, bytes, qiov,
                                   flags & ~BDRV_REQ_COPY_ON_READ);
    }
    qemu_iovec_init_slice(&local_qiov, qiov, qiov_offset, bytes);
    ret = drv->bdrv_co_preadv(bs, offset, bytes, &local_qiov,
                              flags & ~BDRV_REQ_COPY_ON_READ);
    qemu_iovec_destroy(&local_qiov);
    return ret;
}

static int coroutine_fn bdrv_driver_pwritev(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags)
{
    BlockDriver *drv = bs->drv;
    bool emulate_fua = false;
    QEMUIOVector local_qiov;
    int ret;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if (!drv->bdrv_co_pwritev) {
        return -ENOTSUP;
    }
    if ((flags & BDRV_REQ_FUA) &&
        !(bs->supported_write_flags & BDRV_REQ_FUA)) {
        flags &= ~BDRV_REQ_FUA;
        emulate_fua = true;
    }
    flags &= bs->supported_write_flags;

    if (qiov_offset == 0 && qiov->size == (size_t)bytes) {
        ret = drv->bdrv_co_pwritev(bs, offset, bytes, qiov, flags);
    } else {
        qemu_iovec_init_slice(&local_qiov, qiov, qiov_offset, bytes);
        ret = drv->bdrv_co_pwritev(bs, offset, bytes, &local_qiov, flags);
        qemu_iovec_destroy(&local_qiov);
    }
    if (ret == 0 && emulate_fua) {
        ret = bdrv_co_flush(bs);
    }
    return ret;
}

static int64_t bdrv_max_transfer(BlockDriverState *bs, uint64_t align)
{
    uint64_t max = MIN_NON_ZERO(bs->bl.max_transfer,
                                (uint64_t)BDRV_REQUEST_MAX_BYTES);

    return MAX(QEMU_ALIGN_DOWN(max, align), align);
}

static int coroutine_fn bdrv_co_do_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset,
                                                 int64_t bytes,
                                                 BdrvRequestFlags flags);

/* The granularity of copy-on-read: the node's cluster, as in QEMU */
static int64_t bdrv_cor_cluster_size(BlockDriverState *bs)
{
    BlockDriverInfo bdi;
    int ret = bdrv_get_info(bs, &bdi);

    if (ret < 0 || bdi.cluster_size <= 0) {
        return bs->bl.request_alignment;
    }
    return bdi.cluster_size;
}

/* Largest piece copied at once (QEMU's bounce buffer limit) */
#define BDRV_COR_MAX_BOUNCE (16 * MiB)

/*
 * Copy-on-read: the request is widened to whole clusters; the parts not
 * allocated in this node (read through to its backing chain, or zeroes)
 * are read into a bounce buffer and written back into the node, as
 * write-zeroes when they read as zeroes; allocated parts are read
 * directly.  The caller made the request serialising over the clusters.
 */
static int coroutine_fn bdrv_co_do_copy_on_readv(BdrvChild *child,
                                                 int64_t offset,
                                                 int64_t bytes,
                                                 QEMUIOVector *qiov,
                                                 size_t qiov_offset,
                                                 BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    BlockDriver *drv = bs->drv;
    int64_t cluster_size = bdrv_cor_cluster_size(bs);
    int64_t max_transfer = MIN_NON_ZERO(bs->bl.max_transfer,
                                        (int64_t)BDRV_REQUEST_MAX_BYTES);
    int64_t cluster_offset = QEMU_ALIGN_DOWN(offset, cluster_size);
    int64_t cluster_bytes = QEMU_ALIGN_UP(offset + bytes, cluster_size) -
                            cluster_offset;
    int64_t skip_bytes = offset - cluster_offset;
    int64_t progress = 0;
    void *bounce = NULL;
    int ret = 0;

    while (cluster_bytes) {
        int64_t pnum;
        int alloc;

        alloc = bdrv_co_is_allocated(bs, cluster_offset,
                                     MIN(cluster_bytes, max_transfer), &pnum);
        if (alloc < 0) {
            /* Copy anyway: the read below will report a better error */
            pnum = MIN(cluster_bytes, max_transfer);
        }
        if (alloc == 0 && pnum == 0) {
            /* The node ends inside the last cluster */
            break;
        }

        if (alloc <= 0) {
            QEMUIOVector local_qiov;

            pnum = MIN(pnum, BDRV_COR_MAX_BOUNCE);
            if (!bounce) {
                int64_t len = MIN(MAX(pnum, cluster_bytes - pnum),
                                  MIN(max_transfer, BDRV_COR_MAX_BOUNCE));

                bounce = qemu_try_blockalign(bs, len);
                if (!bounce) {
                    ret = -ENOMEM;
                    goto out;
                }
            }
            qemu_iovec_init_buf(&local_qiov, bounce, pnum);
            ret = bdrv_driver_preadv(bs, cluster_offset, pnum, &local_qiov,
                                     0, 0);
            if (ret < 0) {
                goto out;
            }
            BLKDBG_EVENT(child, BLKDBG_COR_WRITE);
            if (drv->bdrv_co_pwrite_zeroes && buffer_is_zero(bounce, pnum)) {
                ret = bdrv_co_do_pwrite_zeroes(bs, cluster_offset, pnum, 0);
            } else {
                /* Unchanged data: no flush, even for writethrough */
                ret = bdrv_driver_pwritev(bs, cluster_offset, pnum,
                                          &local_qiov, 0, 0);
            }
            if (ret < 0) {
                goto out;
            }
            if (!(flags & BDRV_REQ_PREFETCH)) {
                qemu_iovec_from_buf(qiov, qiov_offset + progress,
                                    (uint8_t *)bounce + skip_bytes,
                                    MIN(pnum - skip_bytes, bytes - progress));
            }
        } else if (!(flags & BDRV_REQ_PREFETCH)) {
            ret = bdrv_driver_preadv(bs, offset + progress,
                                     MIN(pnum - skip_bytes, bytes - progress),
                                     qiov, qiov_offset + progress, 0);
            if (ret < 0) {
                goto out;
            }
        }
        cluster_offset += pnum;
        cluster_bytes -= pnum;
        progress += pnum - skip_bytes;
        skip_bytes = 0;
    }
    ret = 0;
out:
    qemu_vfree(bounce);
    return ret;
}

/* Reads */

/*
 * Aligned read: waits for serialising requests, splits at max_transfer and
 * zero-fills what lies beyond the end of the node.
 */
static int coroutine_fn bdrv_aligned_preadv(BdrvChild *child,
                                            BdrvTrackedRequest *req,
                                            int64_t offset, int64_t bytes,
                                            int64_t align,
                                            QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    int64_t total_bytes, max_bytes, max_transfer, done = 0;
    int ret = 0;

    assert(QEMU_IS_ALIGNED(offset, align));
    assert(QEMU_IS_ALIGNED(bytes, align));

    if (flags & BDRV_REQ_COPY_ON_READ) {
        bdrv_make_request_serialising(req, bdrv_cor_cluster_size(bs));
    } else {
        bdrv_wait_serialising_requests(req);
    }

    if (flags & BDRV_REQ_COPY_ON_READ) {
        int64_t pnum;

        /* The flag has reached the node it is for */
        flags &= ~BDRV_REQ_COPY_ON_READ;
        ret = bdrv_co_is_allocated(bs, offset, bytes, &pnum);
        if (ret < 0) {
            return ret;
        }
        if (!ret || pnum != bytes) {
            return bdrv_co_do_copy_on_readv(child, offset, bytes, qiov,
                                            qiov_offset, flags);
        }
        if (flags & BDRV_REQ_PREFETCH) {
            return 0;
        }
    }

    total_bytes = bdrv_getlength(bs);
    if (total_bytes < 0) {
        return total_bytes;
    }
    max_bytes = QEMU_ALIGN_UP(MAX(0, total_bytes - offset), align);
    max_transfer = bdrv_max_transfer(bs, align);

    while (done < bytes) {
        int64_t num = MIN(bytes - done, max_transfer);

        if (done >= max_bytes) {
            qemu_iovec_memset(qiov, qiov_offset + done, 0, bytes - done);
            break;
        }
        num = MIN(num, max_bytes - done);
        ret = bdrv_driver_preadv(bs, offset + done, num, qiov,
                                 qiov_offset + done, flags);
        if (ret < 0) {
            break;
        }
        done += num;
    }
    return ret < 0 ? ret : 0;
}

int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset,
                                     BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    BdrvTrackedRequest req;
    BdrvRequestPadding pad;
    int ret;

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (bytes == 0) {
        return 0;
    }

    bdrv_inc_in_flight(bs);
    bdrv_pad_request(bs, &qiov, &qiov_offset, &offset, &bytes, &pad);
    tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_READ);
    if (bs->copy_on_read) {
        flags |= BDRV_REQ_COPY_ON_READ;
    }
    ret = bdrv_aligned_preadv(child, &req, offset, bytes,
                              bs->bl.request_alignment, qiov, qiov_offset,
                              flags);
    tracked_request_end(&req);
    bdrv_padding_destroy(&pad);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags)
{
    return bdrv_co_preadv_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset,
                               int64_t bytes, void *buf,
                               BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    if (bytes < 0) {
        return -EINVAL;
    }
    qemu_iovec_init_buf(&qiov, buf, bytes);
    return bdrv_co_preadv(child, offset, bytes, &qiov, flags);
}

/* Writes */

/*
 * Zero a request-aligned range, preferring the driver's efficient
 * write-zeroes and falling back to writing a zeroed buffer.
 */
static int coroutine_fn bdrv_co_do_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset,
                                                 int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    BlockDriver *drv = bs->drv;
    int64_t alignment = MAX(bs->bl.pwrite_zeroes_alignment,
                            bs->bl.request_alignment);
    int64_t max_zeroes = MIN_NON_ZERO(bs->bl.max_pwrite_zeroes,
                                      (int64_t)BDRV_REQUEST_MAX_BYTES);
    int64_t max_transfer = bdrv_max_transfer(bs, bs->bl.request_alignment);
    int64_t head = offset % alignment;
    uint8_t *buf = NULL;
    size_t buf_len = 0;
    bool need_flush = false;
    int ret = 0;

    max_zeroes = MAX(QEMU_ALIGN_DOWN(max_zeroes, alignment), alignment);
    if ((flags & BDRV_REQ_FUA) &&
        !(bs->supported_zero_flags & BDRV_REQ_FUA)) {
        need_flush = true;
    }

    while (bytes > 0 && ret == 0) {
        int64_t num = bytes;

        /* Unaligned head and tail pieces stay within one alignment unit */
        if (head) {
            num = MIN(bytes, alignment - head);
            head = 0;
        } else if (num > alignment) {
            num = MIN(QEMU_ALIGN_DOWN(num, alignment), max_zeroes);
        }

        ret = -ENOTSUP;
        if (drv->bdrv_co_pwrite_zeroes) {
            ret = drv->bdrv_co_pwrite_zeroes(bs, offset, num,
                                             flags & bs->supported_zero_flags);
        }
        if (ret == -ENOTSUP && !(flags & BDRV_REQ_NO_FALLBACK)) {
            int64_t done = 0;

            ret = 0;
            while (done < num && ret == 0) {
                QEMUIOVector qiov;
                int64_t chunk = MIN(num - done,
                                    MIN(max_transfer,
                                        MAX_ZERO_BOUNCE_BYTES));

                /* Pieces differ in size: the buffer must fit this one */
                if (buf_len < (size_t)chunk) {
                    qemu_vfree(buf);
                    buf_len = chunk;
                    buf = qemu_try_blockalign(bs, buf_len);
                    if (!buf) {
                        buf_len = 0;
                        ret = -ENOMEM;
                        break;
                    }
                    memset(buf, 0, buf_len);
                }
                qemu_iovec_init_buf(&qiov, buf, chunk);
                ret = bdrv_driver_pwritev(bs, offset + done, chunk, &qiov, 0,
                                          flags & BDRV_REQ_FUA);
                done += chunk;
            }
            need_flush = false;
        }
        offset += num;
        bytes -= num;
    }

    if (ret == 0 && need_flush) {
        ret = bdrv_co_flush(bs);
    }
    qemu_vfree(buf);
    return ret;
}

static int coroutine_fn bdrv_aligned_pwritev(BdrvChild *child,
                                             BdrvTrackedRequest *req,
                                             int64_t offset, int64_t bytes,
                                             int64_t align,
                                             QEMUIOVector *qiov,
                                             size_t qiov_offset,
                                             BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    BlockDriver *drv = bs->drv;
    int64_t max_transfer, done = 0;
    int ret = 0;

    assert(QEMU_IS_ALIGNED(offset, align));
    assert(QEMU_IS_ALIGNED(bytes, align));

    bdrv_wait_serialising_requests(req);
    BLKDBG_EVENT(child, BLKDBG_PWRITEV);

    if (flags & BDRV_REQ_ZERO_WRITE) {
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_ZERO);
        ret = bdrv_co_do_pwrite_zeroes(bs, offset, bytes, flags);
    } else if (flags & BDRV_REQ_WRITE_COMPRESSED) {
        QEMUIOVector local_qiov;

        if (!drv->bdrv_co_pwritev_compressed) {
            return -ENOTSUP;
        }
        qemu_iovec_init_slice(&local_qiov, qiov, qiov_offset, bytes);
        ret = drv->bdrv_co_pwritev_compressed(bs, offset, bytes,
                                              &local_qiov);
        qemu_iovec_destroy(&local_qiov);
    } else {
        max_transfer = bdrv_max_transfer(bs, align);
        while (done < bytes && ret == 0) {
            int64_t num = MIN(bytes - done, max_transfer);
            BdrvRequestFlags chunk_flags = flags;

            /* FUA is needed only once everything has been written */
            if (done + num < bytes) {
                chunk_flags &= ~BDRV_REQ_FUA;
            }
            ret = bdrv_driver_pwritev(bs, offset + done, num, qiov,
                                      qiov_offset + done, chunk_flags);
            done += num;
        }
    }
    BLKDBG_EVENT(child, BLKDBG_PWRITEV_DONE);
    bs->write_gen++;

    if (ret == 0) {
        bdrv_set_dirty(bs, offset, bytes);
    }
    if (ret == 0 && offset + bytes > bs->total_bytes) {
        /* Writing past the end grew the node (protocol nodes) */
        bs->total_bytes = offset + bytes;
        bs->total_sectors = DIV_ROUND_UP(bs->total_bytes, BDRV_SECTOR_SIZE);
    }
    return ret;
}

/* Read the blocks around an unaligned write (read-modify-write) */
static int coroutine_fn bdrv_padding_rmw_read(BdrvChild *child,
                                              BdrvTrackedRequest *req,
                                              BdrvRequestPadding *pad)
{
    BlockDriverState *bs = child->bs;
    uint64_t align = bs->bl.request_alignment;
    QEMUIOVector local_qiov;
    int ret;

    if (pad->head || pad->merge_reads) {
        int64_t bytes = pad->merge_reads ? pad->buf_len : align;

        qemu_iovec_init_buf(&local_qiov, pad->buf, bytes);
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_HEAD);
        ret = bdrv_aligned_preadv(child, req, pad->aligned_offset, bytes,
                                  align, &local_qiov, 0, 0);
        if (ret < 0) {
            return ret;
        }
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_AFTER_HEAD);
    }
    if (pad->tail && !pad->merge_reads) {
        qemu_iovec_init_buf(&local_qiov, pad->tail_buf, align);
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_TAIL);
        ret = bdrv_aligned_preadv(child, req, pad->aligned_end - align,
                                  align, align, &local_qiov, 0, 0);
        if (ret < 0) {
            return ret;
        }
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_AFTER_TAIL);
    }
    return 0;
}

/* Write zeroes to a piece smaller than one aligned block, via RMW */
static int coroutine_fn bdrv_co_zero_piece(BdrvChild *child,
                                           BdrvTrackedRequest *req,
                                           int64_t offset, int64_t bytes,
                                           uint8_t *zero_buf,
                                           BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    QEMUIOVector zero_qiov, *qiov = &zero_qiov;
    BdrvRequestPadding pad;
    size_t qiov_offset = 0;
    int ret;

    qemu_iovec_init_buf(&zero_qiov, zero_buf, bytes);
    bdrv_pad_request(bs, &qiov, &qiov_offset, &offset, &bytes, &pad);
    ret = bdrv_padding_rmw_read(child, req, &pad);
    if (ret == 0) {
        ret = bdrv_aligned_pwritev(child, req, offset, bytes,
                                   bs->bl.request_alignment, qiov,
                                   qiov_offset, flags);
    }
    bdrv_padding_destroy(&pad);
    return ret;
}

/*
 * Write zeroes to [offset, offset + bytes): an unaligned head or tail is
 * written as a zeroed buffer with read-modify-write, the aligned middle
 * with the efficient zero write.
 */
static int coroutine_fn bdrv_co_zero_pwritev(BdrvChild *child,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    int64_t align = bs->bl.request_alignment;
    int64_t end = offset + bytes;
    int64_t head_end = MIN(QEMU_ALIGN_UP(offset, align), end);
    int64_t tail_start = MAX(QEMU_ALIGN_DOWN(end, align), head_end);
    uint8_t *zero_buf = NULL;
    BdrvTrackedRequest req;
    int ret = 0;

    tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_WRITE);
    if (QEMU_IS_ALIGNED(offset | bytes, align)) {
        ret = bdrv_aligned_pwritev(child, &req, offset, bytes, align, NULL,
                                   0, flags);
        goto out;
    }

    bdrv_make_request_serialising(&req, align);
    zero_buf = qemu_blockalign0(bs, align);
    if (head_end > offset) {
        ret = bdrv_co_zero_piece(child, &req, offset, head_end - offset,
                                 zero_buf, flags & ~BDRV_REQ_ZERO_WRITE);
    }
    if (ret == 0 && tail_start > head_end) {
        ret = bdrv_aligned_pwritev(child, &req, head_end,
                                   tail_start - head_end, align, NULL, 0,
                                   flags);
    }
    if (ret == 0 && end > tail_start) {
        ret = bdrv_co_zero_piece(child, &req, tail_start, end - tail_start,
                                 zero_buf, flags & ~BDRV_REQ_ZERO_WRITE);
    }
out:
    qemu_vfree(zero_buf);
    tracked_request_end(&req);
    return ret;
}

int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    uint64_t align = bs->bl.request_alignment;
    BdrvTrackedRequest req;
    BdrvRequestPadding pad;
    bool padded;
    int ret;

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (bytes == 0 && (flags & BDRV_REQ_WRITE_COMPRESSED) &&
        bs->drv->bdrv_co_pwritev_compressed) {
        /* An empty compressed write lets the format finish its file */
        return bs->drv->bdrv_co_pwritev_compressed(bs, offset, 0, qiov);
    }
    if (bytes == 0) {
        return 0;
    }
    if ((flags & BDRV_REQ_WRITE_COMPRESSED) &&
        (!QEMU_IS_ALIGNED(offset, align) || !QEMU_IS_ALIGNED(bytes, align))) {
        return -EINVAL;
    }

    bdrv_inc_in_flight(bs);
    if (flags & BDRV_REQ_ZERO_WRITE) {
        ret = bdrv_co_zero_pwritev(child, offset, bytes, flags);
        bdrv_dec_in_flight(bs);
        return ret;
    }

    padded = bdrv_pad_request(bs, &qiov, &qiov_offset, &offset, &bytes,
                              &pad);
    tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_WRITE);
    if (padded) {
        bdrv_make_request_serialising(&req, align);
        ret = bdrv_padding_rmw_read(child, &req, &pad);
        if (ret < 0) {
            goto out;
        }
    }
    ret = bdrv_aligned_pwritev(child, &req, offset, bytes, align, qiov,
                               qiov_offset, flags);
out:
    tracked_request_end(&req);
    bdrv_padding_destroy(&pad);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset,
                                 int64_t bytes, QEMUIOVector *qiov,
                                 BdrvRequestFlags flags)
{
    return bdrv_co_pwritev_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset,
                                int64_t bytes, const void *buf,
                                BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return bdrv_co_pwritev(child, offset, bytes, &qiov, flags);
}

int coroutine_fn bdrv_co_pwrite_sync(BdrvChild *child, int64_t offset,
                                     int64_t bytes, const void *buf,
                                     BdrvRequestFlags flags)
{
    int ret = bdrv_co_pwrite(child, offset, bytes, buf, flags);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_flush(child->bs);
}

int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset,
                                       int64_t bytes,
                                       BdrvRequestFlags flags)
{
    if (!(child->bs->open_flags & BDRV_O_UNMAP)) {
        flags &= ~BDRV_REQ_MAY_UNMAP;
    }
    return bdrv_co_pwritev(child, offset, bytes, NULL,
                           BDRV_REQ_ZERO_WRITE | flags);
}

/* Discard */

int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset,
                                  int64_t bytes)
{
    BlockDriverState *bs = child->bs;
    BdrvTrackedRequest req;
    int64_t align, max_pdiscard, head, tail;
    int ret;

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    /* Discard is advisory: ignored unless the node was opened with unmap */
    if (!(bs->open_flags & BDRV_O_UNMAP) || !bs->drv->bdrv_co_pdiscard ||
        bytes == 0) {
        return 0;
    }

    align = MAX(bs->bl.pdiscard_alignment, bs->bl.request_alignment);
    max_pdiscard = MIN_NON_ZERO(bs->bl.max_pdiscard,
                                (int64_t)BDRV_REQUEST_MAX_BYTES);
    max_pdiscard = MAX(QEMU_ALIGN_DOWN(max_pdiscard, align), align);
    head = offset % align;
    tail = (offset + bytes) % align;

    bdrv_inc_in_flight(bs);
    tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_DISCARD);
    bdrv_wait_serialising_requests(&req);

    while (bytes > 0) {
        int64_t num = bytes;

        if (head) {
            /* Only the request-aligned part of an unaligned head */
            num = MIN(bytes, align - head);
            if (!QEMU_IS_ALIGNED(num, bs->bl.request_alignment)) {
                num %= bs->bl.request_alignment;
            }
            head = (head + num) % align;
        } else if (tail) {
            if (num > align) {
                num -= tail;
            } else if (!QEMU_IS_ALIGNED(tail, bs->bl.request_alignment) &&
                       tail > bs->bl.request_alignment) {
                tail %= bs->bl.request_alignment;
                num -= tail;
            }
        }
        num = MIN(num, max_pdiscard);
        if (num <= 0) {
            break;
        }
        if (QEMU_IS_ALIGNED(offset, bs->bl.request_alignment) &&
            QEMU_IS_ALIGNED(num, bs->bl.request_alignment)) {
            ret = bs->drv->bdrv_co_pdiscard(bs, offset, num);
            if (ret && ret != -ENOTSUP) {
                goto out;
            }
        }
        offset += num;
        bytes -= num;
    }
    ret = 0;
out:
    bdrv_set_dirty(bs, req.offset, req.bytes);
    bs->write_gen++;
    tracked_request_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* Flush */

int coroutine_fn bdrv_co_flush(BlockDriverState *bs)
{
    BlockDriver *drv = bs->drv;
    BdrvChild *child;
    unsigned int current_gen;
    int ret = 0, ret2;

    if (!drv || bs->read_only) {
        return 0;
    }
    bdrv_inc_in_flight(bs);

    current_gen = bs->write_gen;
    while (bs->active_flush_req) {
        qemu_co_queue_wait(&bs->flush_queue);
    }
    bs->active_flush_req = true;

    if (drv->bdrv_co_flush) {
        ret = drv->bdrv_co_flush(bs);
        goto out;
    }
    /*
     * The debug events fire as in QEMU: flush_to_os on every flush,
     * flush_to_disk whenever something was written since the last
     * flush, whether or not the driver has a hook for either.
     */
    BLKDBG_EVENT(bs->file, BLKDBG_FLUSH_TO_OS);
    if (drv->bdrv_co_flush_to_os) {
        ret = drv->bdrv_co_flush_to_os(bs);
        if (ret < 0) {
            goto out;
        }
    }
    if (!(bs->open_flags & BDRV_O_NO_FLUSH) &&
        bs->flushed_gen != current_gen) {
        BLKDBG_EVENT(bs->file, BLKDBG_FLUSH_TO_DISK);
        if (drv->bdrv_co_flush_to_disk) {
            ret = drv->bdrv_co_flush_to_disk(bs);
            if (ret < 0) {
                goto out;
            }
        }
    }

    /* Then everything below that this node may have written to */
    QLIST_FOREACH(child, &bs->children, next) {
        if (child->role & BDRV_CHILD_COW) {
            continue;
        }
        ret2 = bdrv_co_flush(child->bs);
        if (ret == 0) {
            ret = ret2;
        }
    }
out:
    if (ret == 0) {
        bs->flushed_gen = current_gen;
    }
    bs->active_flush_req = false;
    qemu_co_queue_next(&bs->flush_queue);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* Truncate */

int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset,
                                  bool exact, PreallocMode prealloc,
                                  BdrvRequestFlags flags, Error **errp)
{
    BlockDriverState *bs = child->bs;
    BlockDriver *drv = bs->drv;
    BdrvTrackedRequest req;
    int64_t old_size, new_bytes;
    int ret;

    if (!drv) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (offset < 0) {
        error_setg(errp, "Image size cannot be negative");
        return -EINVAL;
    }
    if (offset > BDRV_MAX_LENGTH) {
        error_setg(errp, "Required too big image size, it must be not "
                   "greater than %" PRId64, BDRV_MAX_LENGTH);
        return -EFBIG;
    }
    if (bs->read_only) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    old_size = bdrv_getlength(bs);
    if (old_size < 0) {
        error_setg_errno(errp, -old_size, "Failed to get old image size");
        return old_size;
    }
    new_bytes = offset > old_size ? offset - old_size : 0;

    bdrv_inc_in_flight(bs);
    tracked_request_begin(&req, bs, offset - new_bytes, new_bytes,
                          BDRV_TRACKED_TRUNCATE);
    if (new_bytes) {
        bdrv_make_request_serialising(&req, 1);
    }

    if (drv->bdrv_co_truncate) {
        ret = drv->bdrv_co_truncate(bs, offset, exact, prealloc, flags, errp);
    } else if (bs->file && drv->is_filter) {
        ret = bdrv_co_truncate(bs->file, offset, exact, prealloc, flags,
                               errp);
    } else {
        error_setg(errp, "Image format driver does not support resize");
        ret = -ENOTSUP;
    }
    if (ret == 0) {
        ret = bdrv_refresh_total_sectors(bs, offset);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not refresh total sector "
                             "count");
        } else {
            bdrv_dirty_bitmap_truncate_all(bs, bdrv_getlength(bs));
        }
    }
    bs->write_gen++;
    tracked_request_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* Block status */

int coroutine_fn bdrv_co_block_status_from_file(BlockDriverState *bs,
                                                bool want_zero,
                                                int64_t offset,
                                                int64_t bytes,
                                                int64_t *pnum, int64_t *map,
                                                BlockDriverState **file)
{
    BdrvChild *child = bs->file;

    if (!child) {
        return -ENOTSUP;
    }
    *pnum = bytes;
    *map = offset;
    *file = child->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int coroutine_fn bdrv_co_do_block_status(BlockDriverState *bs,
                                                bool want_zero,
                                                int64_t offset,
                                                int64_t bytes,
                                                int64_t *pnum,
                                                int64_t *map,
                                                BlockDriverState **file)
{
    BlockDriver *drv = bs->drv;
    BlockDriverState *local_file = NULL;
    int64_t total_size, aligned_offset, aligned_bytes, local_map = 0;
    uint32_t align;
    int ret;

    *pnum = 0;
    if (!drv) {
        return -ENOMEDIUM;
    }
    total_size = bdrv_getlength(bs);
    if (total_size < 0) {
        return total_size;
    }
    if (offset >= total_size) {
        return BDRV_BLOCK_EOF;
    }
    if (bytes == 0) {
        return 0;
    }
    bytes = MIN(bytes, total_size - offset);

    if (!drv->bdrv_co_block_status) {
        *pnum = bytes;
        ret = BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED;
        if (offset + bytes == total_size) {
            ret |= BDRV_BLOCK_EOF;
        }
        if (drv->protocol_name) {
            ret |= BDRV_BLOCK_OFFSET_VALID;
            local_map = offset;
            local_file = bs;
        }
        goto out;
    }

    bdrv_inc_in_flight(bs);
    align = bs->bl.request_alignment;
    aligned_offset = QEMU_ALIGN_DOWN(offset, align);
    aligned_bytes = QEMU_ALIGN_UP(offset + bytes, align) - aligned_offset;

    ret = drv->bdrv_co_block_status(bs, want_zero, aligned_offset,
                                    aligned_bytes, pnum, &local_map,
                                    &local_file);
    if (ret < 0) {
        *pnum = 0;
        goto out_dec;
    }
    /* A driver may report more than asked; it must report something */
    if (*pnum <= 0) {
        ret = -EIO;
        *pnum = 0;
        goto out_dec;
    }
    *pnum -= offset - aligned_offset;
    if (*pnum <= 0) {
        ret = -EIO;
        *pnum = 0;
        goto out_dec;
    }
    if (*pnum > bytes) {
        *pnum = bytes;
    }
    if (ret & BDRV_BLOCK_OFFSET_VALID) {
        local_map += offset - aligned_offset;
    }

    if (ret & BDRV_BLOCK_RAW) {
        /* Pass-through: the answer is the file's at the mapped offset */
        assert((ret & BDRV_BLOCK_OFFSET_VALID) && local_file);
        ret = bdrv_co_do_block_status(local_file, want_zero, local_map,
                                      *pnum, pnum, &local_map, &local_file);
        goto out_dec;
    }

    if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
        ret |= BDRV_BLOCK_ALLOCATED;
    } else if (drv->supports_backing) {
        BlockDriverState *cow_bs = bdrv_backing_chain_next(bs);

        if (!cow_bs) {
            ret |= BDRV_BLOCK_ZERO;
        } else if (want_zero) {
            int64_t size2 = bdrv_getlength(cow_bs);

            if (size2 >= 0 && offset >= size2) {
                ret |= BDRV_BLOCK_ZERO;
            }
        }
    }

    if (want_zero && (ret & BDRV_BLOCK_RECURSE) && local_file &&
        local_file != bs && (ret & BDRV_BLOCK_DATA) &&
        !(ret & BDRV_BLOCK_ZERO) && (ret & BDRV_BLOCK_OFFSET_VALID)) {
        int64_t file_pnum;
        int ret2;

        /* Data in a hole of the file below reads as zeroes */
        ret2 = bdrv_co_do_block_status(local_file, want_zero, local_map,
                                       *pnum, &file_pnum, NULL, NULL);
        if (ret2 >= 0) {
            if ((ret2 & BDRV_BLOCK_EOF) &&
                (!file_pnum || (ret2 & BDRV_BLOCK_ZERO))) {
                ret |= BDRV_BLOCK_ZERO;
            } else {
                *pnum = file_pnum;
                ret |= (ret2 & BDRV_BLOCK_ZERO);
            }
        }
    }

out_dec:
    bdrv_dec_in_flight(bs);
out:
    if (ret >= 0 && offset + *pnum == total_size) {
        ret |= BDRV_BLOCK_EOF;
    }
    ret &= ~BDRV_BLOCK_RECURSE;
    if (file) {
        *file = local_file;
    }
    if (map) {
        *map = local_map;
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum,
                                      int64_t *map,
                                      BlockDriverState **file)
{
    return bdrv_co_do_block_status(bs, true, offset, bytes, pnum, map, file);
}

/*
 * Status through the chain from @bs down to (excluding) @base; with
 * @include_base, @base itself is consulted too.
 */
static int coroutine_fn
bdrv_co_common_block_status_above(BlockDriverState *bs,
                                  BlockDriverState *base, bool include_base,
                                  bool want_zero, int64_t offset,
                                  int64_t bytes, int64_t *pnum, int64_t *map,
                                  BlockDriverState **file)
{
    BlockDriverState *p;
    int64_t eof = 0;
    bool first = true;
    int ret = 0;

    if (!include_base && bs == base) {
        *pnum = bytes;
        return 0;
    }
    for (p = bs; p; p = bdrv_filter_or_cow_bs(p)) {
        ret = bdrv_co_do_block_status(p, want_zero, offset, bytes, pnum,
                                      map, file);
        if (ret < 0) {
            return ret;
        }
        if (*pnum == 0) {
            /* Beyond the end of this layer: reads as zeroes */
            if (first) {
                return ret;
            }
            *pnum = bytes;
            ret |= BDRV_BLOCK_ZERO;
            if (file) {
                *file = p;
            }
            break;
        }
        if (ret & BDRV_BLOCK_EOF) {
            eof = offset + *pnum;
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            break;
        }
        if (p == base) {
            break;
        }
        if (!include_base && bdrv_filter_or_cow_bs(p) == base) {
            break;
        }
        /* Unallocated here: ask the layer below about this extent only */
        bytes = MIN(bytes, *pnum);
        first = false;
    }
    if (eof && offset + *pnum < eof) {
        ret &= ~BDRV_BLOCK_EOF;
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum, int64_t *map,
                                            BlockDriverState **file)
{
    return bdrv_co_common_block_status_above(bs, base, false, true, offset,
                                             bytes, pnum, map, file);
}

int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum)
{
    int64_t dummy;
    int ret;

    ret = bdrv_co_do_block_status(bs, false, offset, bytes,
                                  pnum ? pnum : &dummy, NULL, NULL);
    if (ret < 0) {
        return ret;
    }
    return !!(ret & BDRV_BLOCK_ALLOCATED);
}

int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *top,
                                            BlockDriverState *base,
                                            bool include_base,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum)
{
    BlockDriverState *p;
    int64_t n = bytes;

    for (p = top; p; p = bdrv_filter_or_cow_bs(p)) {
        int64_t pnum_inter;
        int64_t size_inter;
        int ret;

        if (p == base && !include_base) {
            break;
        }
        ret = bdrv_co_is_allocated(p, offset, bytes, &pnum_inter);
        if (ret < 0) {
            return ret;
        }
        if (ret) {
            *pnum = pnum_inter;
            return 1;
        }
        size_inter = bdrv_getlength(p);
        if (size_inter < 0) {
            return size_inter;
        }
        if (n > pnum_inter &&
            (p == top || offset + pnum_inter < size_inter)) {
            n = pnum_inter;
        }
        if (p == base) {
            break;
        }
    }
    *pnum = n;
    return 0;
}

/* Draining */

void bdrv_drain_all(void)
{
    if (qemu_in_coroutine()) {
        return;
    }
    AIO_WAIT_WHILE(NULL, bdrv_any_in_flight());
}

/* Check; its synchronous wrapper bdrv_check() is generated */

int coroutine_fn bdrv_co_check(BlockDriverState *bs, BdrvCheckResult *res,
                               BdrvCheckMode fix)
{
    memset(res, 0, sizeof(*res));
    if (!bs->drv || !bs->drv->bdrv_co_check) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_check(bs, res, fix);
}
