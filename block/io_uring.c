/*
 * aio=io_uring backend of file-posix, through liburing
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#ifdef CONFIG_LINUX_IO_URING

#include <liburing.h>

#include "qemu/aio.h"
#include "block/raw-aio.h"
#include "qemu/queue.h"

/* Submission queue entries; requests beyond that wait in @overflow */
#define LURING_ENTRIES 128

typedef struct LuringRequest {
    Coroutine *co;
    RawAioType type;
    int fd;
    int64_t offset;
    QEMUIOVector *qiov;
    /* After a short transfer: bytes done, and a view of the rest */
    size_t done;
    QEMUIOVector rest;
    bool has_rest;
    int ret;
    QSIMPLEQ_ENTRY(LuringRequest) next;
} LuringRequest;

struct LuringState {
    struct io_uring ring;
    unsigned queued;            /* in the SQ ring, not yet submitted */
    unsigned in_flight;         /* submitted, completion not yet seen */
    QSIMPLEQ_HEAD(, LuringRequest) overflow;   /* waiting for an SQE */
    QEMUBH *submit_bh;
};

/* Put @req into the SQ ring; false if the ring is full */
static bool luring_prep(LuringState *s, LuringRequest *req)
{
    QEMUIOVector *q = req->has_rest ? &req->rest : req->qiov;
    struct io_uring_sqe *sqe;

    if (s->queued + s->in_flight >= LURING_ENTRIES) {
        /* Keep completions within the CQ ring's size */
        return false;
    }
    sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        return false;
    }

    switch (req->type) {
    case RAW_AIO_READ:
        io_uring_prep_readv(sqe, req->fd, q->iov, q->niov,
                            req->offset + req->done);
        break;
    case RAW_AIO_WRITE:
        io_uring_prep_writev(sqe, req->fd, q->iov, q->niov,
                             req->offset + req->done);
        break;
    case RAW_AIO_FLUSH:
        io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data(sqe, req);
    s->queued++;
    return true;
}

static void luring_queue(LuringState *s, LuringRequest *req)
{
    if (!luring_prep(s, req)) {
        QSIMPLEQ_INSERT_TAIL(&s->overflow, req, next);
    }
    qemu_bh_schedule(s->submit_bh);
}

/* Move waiting requests into the ring and submit everything queued */
static void luring_submit(LuringState *s)
{
    LuringRequest *req;
    int ret;

    while ((req = QSIMPLEQ_FIRST(&s->overflow)) && luring_prep(s, req)) {
        QSIMPLEQ_REMOVE_HEAD(&s->overflow, next);
    }
    if (!s->queued) {
        return;
    }

    ret = io_uring_submit(&s->ring);
    if (ret > 0) {
        s->queued -= MIN((unsigned)ret, s->queued);
        s->in_flight += ret;
    } else if (ret < 0 && !s->in_flight) {
        /*
         * Transient (-EAGAIN, -EBUSY, -EINTR): with nothing in flight no
         * completion will call us again, so retry from the event loop.
         */
        qemu_bh_schedule(s->submit_bh);
    }
}

static void luring_submit_bh(void *opaque)
{
    luring_submit(opaque);
}

/*
 * One completion for @req with result @res.  Returns true when the request
 * is finished (req->ret set), false if it was queued again for the rest.
 */
static bool luring_complete(LuringState *s, LuringRequest *req, int res)
{
    size_t total;

    if (res == -EINTR || res == -EAGAIN) {
        luring_queue(s, req);
        return false;
    }
    if (res < 0 || req->type == RAW_AIO_FLUSH) {
        req->ret = res < 0 ? res : 0;
        return true;
    }

    total = req->qiov->size;
    req->done += res;
    if (req->done >= total) {
        req->ret = 0;
        return true;
    }
    if (res == 0) {
        if (req->type == RAW_AIO_READ) {
            /* End of file reads as zeroes */
            qemu_iovec_memset(req->qiov, req->done, 0, total - req->done);
            req->ret = 0;
        } else {
            req->ret = -ENOSPC;
        }
        return true;
    }

    /* Short transfer: go on with the rest */
    if (req->has_rest) {
        qemu_iovec_reset(&req->rest);
    } else {
        qemu_iovec_init(&req->rest, req->qiov->niov);
        req->has_rest = true;
    }
    qemu_iovec_concat(&req->rest, req->qiov, req->done, total - req->done);
    luring_queue(s, req);
    return false;
}

/* The ring fd is readable: there are completions to reap */
static void luring_completion_cb(void *opaque)
{
    LuringState *s = opaque;
    QSIMPLEQ_HEAD(, LuringRequest) done = QSIMPLEQ_HEAD_INITIALIZER(done);
    struct io_uring_cqe *cqe;
    LuringRequest *req;

    while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
        int res = cqe->res;

        req = io_uring_cqe_get_data(cqe);
        io_uring_cqe_seen(&s->ring, cqe);
        s->in_flight--;
        if (luring_complete(s, req, res)) {
            QSIMPLEQ_INSERT_TAIL(&done, req, next);
        }
    }

    luring_submit(s);
    while ((req = QSIMPLEQ_FIRST(&done))) {
        QSIMPLEQ_REMOVE_HEAD(&done, next);
        aio_co_wake(req->co);
    }
}

LuringState *luring_init(Error **errp)
{
    LuringState *s = g_new0(LuringState, 1);
    int ret;

    ret = io_uring_queue_init(LURING_ENTRIES, &s->ring, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "failed to init linux io_uring ring");
        g_free(s);
        return NULL;
    }
    QSIMPLEQ_INIT(&s->overflow);
    s->submit_bh = aio_bh_new(qemu_get_aio_context(), luring_submit_bh, s);
    aio_set_fd_handler(qemu_get_aio_context(), s->ring.ring_fd,
                       luring_completion_cb, NULL, s);
    return s;
}

void luring_cleanup(LuringState *s)
{
    assert(s->in_flight == 0 && s->queued == 0 &&
           QSIMPLEQ_EMPTY(&s->overflow));
    aio_set_fd_handler(qemu_get_aio_context(), s->ring.ring_fd, NULL, NULL,
                       NULL);
    qemu_bh_delete(s->submit_bh);
    io_uring_queue_exit(&s->ring);
    g_free(s);
}

int coroutine_fn luring_co_submit(LuringState *s, int fd, int64_t offset,
                                  QEMUIOVector *qiov, RawAioType type)
{
    LuringRequest req = {
        .co     = qemu_coroutine_self(),
        .type   = type,
        .fd     = fd,
        .offset = offset,
        .qiov   = qiov,
    };

    /* Submitted from a bottom half: one io_uring_enter() per batch */
    luring_queue(s, &req);
    qemu_coroutine_yield();

    if (req.has_rest) {
        qemu_iovec_destroy(&req.rest);
    }
    return req.ret;
}

#endif /* CONFIG_LINUX_IO_URING */
