/*
 * aio=native backend of file-posix: Linux kernel AIO through libaio
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#ifdef CONFIG_LINUX_AIO

#include <libaio.h>
#include <sys/eventfd.h>

#include "qemu/aio.h"
#include "block/raw-aio.h"
#include "qemu/queue.h"

/* Requests the kernel context accepts at once */
#define LAIO_MAX_EVENTS 1024
/* iocbs handed to one io_submit() / reaped by one io_getevents() */
#define LAIO_BATCH 128

typedef struct LaioRequest {
    struct iocb iocb;
    Coroutine *co;
    QEMUIOVector *qiov;
    bool is_read;
    int ret;
    QSIMPLEQ_ENTRY(LaioRequest) next;
} LaioRequest;

struct LinuxAioState {
    io_context_t ctx;
    int efd;                    /* completions signal this eventfd */
    unsigned in_flight;         /* submitted, not yet reaped */
    QSIMPLEQ_HEAD(, LaioRequest) pending;   /* waiting for io_submit() */
    QEMUBH *submit_bh;
};

typedef QSIMPLEQ_HEAD(, LaioRequest) LaioRequestList;

/* Wake coroutines of requests that are done (outside any list walk) */
static void laio_wake_all(LaioRequestList *done)
{
    LaioRequest *req;

    while ((req = QSIMPLEQ_FIRST(done))) {
        QSIMPLEQ_REMOVE_HEAD(done, next);
        aio_co_wake(req->co);
    }
}

/*
 * Hand queued requests to the kernel, in batches, as long as it has
 * room.  -EAGAIN with requests in flight just waits for completions to
 * make room; any other failure fails the first request and goes on.
 */
static void laio_submit_pending(LinuxAioState *s)
{
    LaioRequestList failed = QSIMPLEQ_HEAD_INITIALIZER(failed);

    while (!QSIMPLEQ_EMPTY(&s->pending) && s->in_flight < LAIO_MAX_EVENTS) {
        struct iocb *iocbs[LAIO_BATCH];
        unsigned max = MIN(LAIO_BATCH, LAIO_MAX_EVENTS - s->in_flight);
        LaioRequest *req;
        unsigned n = 0;
        int ret;

        QSIMPLEQ_FOREACH(req, &s->pending, next) {
            iocbs[n++] = &req->iocb;
            if (n == max) {
                break;
            }
        }

        ret = io_submit(s->ctx, n, iocbs);
        if (ret == -EAGAIN && s->in_flight) {
            break;
        }
        if (ret <= 0) {
            req = QSIMPLEQ_FIRST(&s->pending);
            QSIMPLEQ_REMOVE_HEAD(&s->pending, next);
            req->ret = ret < 0 ? ret : -EIO;
            QSIMPLEQ_INSERT_TAIL(&failed, req, next);
            continue;
        }
        s->in_flight += ret;
        while (ret--) {
            QSIMPLEQ_REMOVE_HEAD(&s->pending, next);
        }
    }
    laio_wake_all(&failed);
}

static void laio_submit_bh(void *opaque)
{
    laio_submit_pending(opaque);
}

static int laio_result(LaioRequest *req, long res)
{
    if (res < 0) {
        return res;
    }
    if ((size_t)res == req->qiov->size) {
        return 0;
    }
    if (req->is_read) {
        /* Short read: end of file, which reads as zeroes */
        qemu_iovec_memset(req->qiov, res, 0, req->qiov->size - res);
        return 0;
    }
    return -ENOSPC;
}

/* The eventfd fired: reap every completion, then refill the kernel */
static void laio_completion_cb(void *opaque)
{
    LinuxAioState *s = opaque;
    LaioRequestList done = QSIMPLEQ_HEAD_INITIALIZER(done);
    uint64_t count;

    /* Non-blocking; only clears the readiness */
    if (read(s->efd, &count, sizeof(count)) < 0) {
        /* EAGAIN: nothing signalled, reap anyway */
    }

    for (;;) {
        struct io_event events[LAIO_BATCH];
        struct timespec ts = { 0 };
        int n, i;

        n = io_getevents(s->ctx, 0, LAIO_BATCH, events, &ts);
        if (n == -EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        for (i = 0; i < n; i++) {
            LaioRequest *req = events[i].data;

            req->ret = laio_result(req, (long)events[i].res);
            QSIMPLEQ_INSERT_TAIL(&done, req, next);
        }
        s->in_flight -= n;
    }

    laio_submit_pending(s);
    laio_wake_all(&done);
}

LinuxAioState *laio_init(Error **errp)
{
    LinuxAioState *s = g_new0(LinuxAioState, 1);
    int ret;

    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        error_setg_errno(errp, errno, "failed to initialize event notifier");
        g_free(s);
        return NULL;
    }
    ret = io_setup(LAIO_MAX_EVENTS, &s->ctx);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "failed to create linux AIO context");
        close(s->efd);
        g_free(s);
        return NULL;
    }
    QSIMPLEQ_INIT(&s->pending);
    s->submit_bh = aio_bh_new(qemu_get_aio_context(), laio_submit_bh, s);
    aio_set_fd_handler(qemu_get_aio_context(), s->efd, laio_completion_cb,
                       NULL, s);
    return s;
}

void laio_cleanup(LinuxAioState *s)
{
    assert(s->in_flight == 0 && QSIMPLEQ_EMPTY(&s->pending));
    aio_set_fd_handler(qemu_get_aio_context(), s->efd, NULL, NULL, NULL);
    qemu_bh_delete(s->submit_bh);
    io_destroy(s->ctx);
    close(s->efd);
    g_free(s);
}

int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, int64_t offset,
                                QEMUIOVector *qiov, RawAioType type)
{
    LaioRequest req = {
        .co         = qemu_coroutine_self(),
        .qiov       = qiov,
        .is_read    = type == RAW_AIO_READ,
    };

    switch (type) {
    case RAW_AIO_READ:
        io_prep_preadv(&req.iocb, fd, qiov->iov, qiov->niov, offset);
        break;
    case RAW_AIO_WRITE:
        io_prep_pwritev(&req.iocb, fd, qiov->iov, qiov->niov, offset);
        break;
    default:
        /* Kernel AIO has no usable flush; file-posix uses a worker */
        return -ENOTSUP;
    }
    io_set_eventfd(&req.iocb, s->efd);
    req.iocb.data = &req;

    /*
     * Submit from a bottom half, so that requests issued in the same
     * event loop iteration share one io_submit().
     */
    QSIMPLEQ_INSERT_TAIL(&s->pending, &req, next);
    qemu_bh_schedule(s->submit_bh);

    qemu_coroutine_yield();
    return req.ret;
}

#endif /* CONFIG_LINUX_AIO */
