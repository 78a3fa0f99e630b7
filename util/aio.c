/*
 * The event loop: fd handlers, bottom halves, timers and scheduled coroutines
 *
 * Only the main thread runs aio_poll() and touches fd handlers and timers.
 * Bottom-half scheduling, aio_co_schedule() and aio_notify() may come from
 * any thread: they go through ctx->lock and an eventfd that wakes ppoll().
 *
 * aio_poll() may be called again from inside a handler it dispatches (the
 * synchronous block-layer wrappers do that), so handler removal while a
 * dispatch is under way only marks the handler and frees it later.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>

#include "qemu/aio.h"
#include "qemu/coroutine.h"

typedef struct AioHandler {
    int fd;
    IOHandler *io_read;
    IOHandler *io_write;
    void *opaque;
    /* Removed while some aio_poll() level may still look at it */
    bool deleted;
    QLIST_ENTRY(AioHandler) node;
} AioHandler;

struct QEMUBH {
    AioContext *ctx;
    QEMUBHFunc *cb;
    void *opaque;
    /* Recycled right before its callback runs */
    bool oneshot;
    /* ctx->lock protects both fields below */
    bool scheduled;
    QTAILQ_ENTRY(QEMUBH) next;
};

struct QEMUTimer {
    AioContext *ctx;
    int scale;
    int64_t expire_ns;
    QEMUTimerCB *cb;
    void *opaque;
    bool pending;
    /* Sorted by expire_ns; pending timers only */
    QTAILQ_ENTRY(QEMUTimer) next;
};

struct AioContext {
    /* Protects bh_queue, QEMUBH.scheduled and scheduled_cos */
    GMutex lock;
    QTAILQ_HEAD(, QEMUBH) bh_queue;
    GPtrArray *scheduled_cos;
    /*
     * One-shot BHs that have run, kept for the next ones (also under
     * lock): an asynchronous request completes through one, so this
     * keeps the steady state free of allocations
     */
    QTAILQ_HEAD(, QEMUBH) free_oneshots;
    unsigned n_free_oneshots;

    /* Wakes ppoll(); written only when the poller may be sleeping */
    int event_fd;
    /* Set (seq_cst) by aio_poll() before it checks for work and sleeps */
    int notify_me;
    /* aio_notify() was called since the last aio_poll() */
    int notified;

    /* Event loop thread only */
    QLIST_HEAD(, AioHandler) handlers;
    /* Nesting depth of handler walks; deletions are deferred while > 0 */
    int walking_handlers;
    QTAILQ_HEAD(, QEMUTimer) timers;
    /* Reused pollfd array for the outermost aio_poll() */
    struct pollfd *pollfds;
    AioHandler **poll_handlers;
    unsigned pollfds_alloc;
    int poll_depth;
};

static AioContext *main_ctx;
static GOnce main_ctx_once = G_ONCE_INIT;

static gpointer aio_context_new(gpointer unused)
{
    AioContext *ctx = g_new0(AioContext, 1);

    g_mutex_init(&ctx->lock);
    QTAILQ_INIT(&ctx->bh_queue);
    QTAILQ_INIT(&ctx->free_oneshots);
    ctx->scheduled_cos = g_ptr_array_new();
    QLIST_INIT(&ctx->handlers);
    QTAILQ_INIT(&ctx->timers);
    ctx->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ctx->event_fd < 0) {
        fprintf(stderr, "Failed to create the event loop notifier: %s\n",
                strerror(errno));
        abort();
    }
    return ctx;
}

AioContext *qemu_get_aio_context(void)
{
    if (G_UNLIKELY(!main_ctx)) {
        main_ctx = g_once(&main_ctx_once, aio_context_new, NULL);
    }
    return main_ctx;
}

int64_t qemu_clock_get_ns(QEMUClockType type)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

/* Kick the event loop if it is, or is about to be, asleep in ppoll(). */
static void aio_kick(AioContext *ctx)
{
    uint64_t one = 1;
    ssize_t ret;

    /* Pairs with the fence in aio_poll() after setting notify_me */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&ctx->notify_me, __ATOMIC_RELAXED)) {
        return;
    }
    do {
        ret = write(ctx->event_fd, &one, sizeof(one));
    } while (ret < 0 && errno == EINTR);
    /* EAGAIN means the counter is saturated: ppoll() wakes anyway */
}

void aio_notify(AioContext *ctx)
{
    __atomic_store_n(&ctx->notified, 1, __ATOMIC_RELAXED);
    aio_kick(ctx);
}

static void aio_drain_notifier(AioContext *ctx)
{
    uint64_t value;
    ssize_t ret;

    do {
        ret = read(ctx->event_fd, &value, sizeof(value));
    } while (ret < 0 && errno == EINTR);
}

/* fd handlers */

static AioHandler *find_handler(AioContext *ctx, int fd)
{
    AioHandler *h;

    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (h->fd == fd && !h->deleted) {
            return h;
        }
    }
    return NULL;
}

void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque)
{
    AioHandler *h = find_handler(ctx, fd);

    if (!io_read && !io_write) {
        if (!h) {
            return;
        }
        if (ctx->walking_handlers > 0) {
            h->deleted = true;
        } else {
            QLIST_REMOVE(h, node);
            g_free(h);
        }
        return;
    }
    if (!h) {
        h = g_new0(AioHandler, 1);
        h->fd = fd;
        QLIST_INSERT_HEAD(&ctx->handlers, h, node);
    }
    h->io_read = io_read;
    h->io_write = io_write;
    h->opaque = opaque;
}

static void aio_free_deleted_handlers(AioContext *ctx)
{
    AioHandler *h, *next;

    if (ctx->walking_handlers > 0) {
        return;
    }
    QLIST_FOREACH_SAFE(h, &ctx->handlers, node, next) {
        if (h->deleted) {
            QLIST_REMOVE(h, node);
            g_free(h);
        }
    }
}

/* Bottom halves */

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh = g_new0(QEMUBH, 1);

    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    return bh;
}

void qemu_bh_schedule(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;
    bool added = false;

    g_mutex_lock(&ctx->lock);
    if (!bh->scheduled) {
        bh->scheduled = true;
        QTAILQ_INSERT_TAIL(&ctx->bh_queue, bh, next);
        added = true;
    }
    g_mutex_unlock(&ctx->lock);
    if (added) {
        aio_kick(ctx);
    }
}

void qemu_bh_cancel(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;

    g_mutex_lock(&ctx->lock);
    if (bh->scheduled) {
        bh->scheduled = false;
        QTAILQ_REMOVE(&ctx->bh_queue, bh, next);
    }
    g_mutex_unlock(&ctx->lock);
}

void qemu_bh_delete(QEMUBH *bh)
{
    if (!bh) {
        return;
    }
    qemu_bh_cancel(bh);
    g_free(bh);
}

/* Free one-shot BHs an AioContext keeps at most */
#define AIO_FREE_ONESHOTS_MAX 1024

void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh;

    g_mutex_lock(&ctx->lock);
    bh = QTAILQ_FIRST(&ctx->free_oneshots);
    if (bh) {
        QTAILQ_REMOVE(&ctx->free_oneshots, bh, next);
        ctx->n_free_oneshots--;
    } else {
        bh = g_new(QEMUBH, 1);
    }
    *bh = (QEMUBH) {
        .ctx = ctx,
        .cb = cb,
        .opaque = opaque,
        .oneshot = true,
        .scheduled = true,
    };
    QTAILQ_INSERT_TAIL(&ctx->bh_queue, bh, next);
    g_mutex_unlock(&ctx->lock);
    aio_kick(ctx);
}

static bool aio_bh_pending(AioContext *ctx)
{
    bool pending;

    g_mutex_lock(&ctx->lock);
    pending = !QTAILQ_EMPTY(&ctx->bh_queue) || ctx->scheduled_cos->len > 0;
    g_mutex_unlock(&ctx->lock);
    return pending;
}

/*
 * Run the bottom halves scheduled so far.  One at a time, so a callback
 * may cancel or delete any other BH; a BH that reschedules itself runs
 * again on the next call, not in a loop here.
 */
static bool aio_bh_dispatch(AioContext *ctx)
{
    QEMUBH *bh;
    unsigned budget = 0;
    bool progress = false;

    g_mutex_lock(&ctx->lock);
    QTAILQ_FOREACH(bh, &ctx->bh_queue, next) {
        budget++;
    }
    g_mutex_unlock(&ctx->lock);

    while (budget-- > 0) {
        QEMUBHFunc *cb;
        void *opaque;

        g_mutex_lock(&ctx->lock);
        bh = QTAILQ_FIRST(&ctx->bh_queue);
        if (!bh) {
            g_mutex_unlock(&ctx->lock);
            break;
        }
        QTAILQ_REMOVE(&ctx->bh_queue, bh, next);
        bh->scheduled = false;
        cb = bh->cb;
        opaque = bh->opaque;
        if (bh->oneshot) {
            if (ctx->n_free_oneshots < AIO_FREE_ONESHOTS_MAX) {
                QTAILQ_INSERT_HEAD(&ctx->free_oneshots, bh, next);
                ctx->n_free_oneshots++;
                bh = NULL;
            }
        }
        g_mutex_unlock(&ctx->lock);
        if (bh && bh->oneshot) {
            g_free(bh);
        }
        cb(opaque);
        progress = true;
    }
    return progress;
}

void aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    g_mutex_lock(&ctx->lock);
    g_ptr_array_add(ctx->scheduled_cos, co);
    g_mutex_unlock(&ctx->lock);
    aio_kick(ctx);
}

static bool aio_co_dispatch(AioContext *ctx)
{
    GPtrArray *cos;
    guint i;

    g_mutex_lock(&ctx->lock);
    if (ctx->scheduled_cos->len == 0) {
        g_mutex_unlock(&ctx->lock);
        return false;
    }
    cos = ctx->scheduled_cos;
    ctx->scheduled_cos = g_ptr_array_new();
    g_mutex_unlock(&ctx->lock);

    for (i = 0; i < cos->len; i++) {
        qemu_coroutine_enter(g_ptr_array_index(cos, i));
    }
    g_ptr_array_free(cos, true);
    return true;
}

/* Timers */

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type, int scale,
                         QEMUTimerCB *cb, void *opaque)
{
    QEMUTimer *ts = g_new0(QEMUTimer, 1);

    assert(scale > 0);
    ts->ctx = ctx;
    ts->scale = scale;
    ts->cb = cb;
    ts->opaque = opaque;
    return ts;
}

void timer_del(QEMUTimer *ts)
{
    if (ts->pending) {
        QTAILQ_REMOVE(&ts->ctx->timers, ts, next);
        ts->pending = false;
    }
}

void timer_mod(QEMUTimer *ts, int64_t expire_time)
{
    AioContext *ctx = ts->ctx;
    QEMUTimer *t;

    timer_del(ts);
    if (expire_time > INT64_MAX / ts->scale) {
        ts->expire_ns = INT64_MAX;
    } else if (expire_time < INT64_MIN / ts->scale) {
        ts->expire_ns = INT64_MIN;
    } else {
        ts->expire_ns = expire_time * ts->scale;
    }

    /* Keep timers with equal deadlines in the order they were armed */
    QTAILQ_FOREACH(t, &ctx->timers, next) {
        if (t->expire_ns > ts->expire_ns) {
            break;
        }
    }
    if (t) {
        /* Insert before @t */
        ts->next.tqe_next = t;
        ts->next.tqe_prev = t->next.tqe_prev;
        *t->next.tqe_prev = ts;
        t->next.tqe_prev = &ts->next.tqe_next;
    } else {
        QTAILQ_INSERT_TAIL(&ctx->timers, ts, next);
    }
    ts->pending = true;
}

void timer_free(QEMUTimer *ts)
{
    if (!ts) {
        return;
    }
    timer_del(ts);
    g_free(ts);
}

bool timer_pending(QEMUTimer *ts)
{
    return ts->pending;
}

/* Nanoseconds until the first timer expires, or -1 if none is armed. */
static int64_t aio_timer_deadline(AioContext *ctx)
{
    QEMUTimer *ts = QTAILQ_FIRST(&ctx->timers);
    int64_t now;

    if (!ts) {
        return -1;
    }
    now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    return ts->expire_ns <= now ? 0 : ts->expire_ns - now;
}

/*
 * Fire the timers that have expired.  Timers re-armed by a callback for a
 * time that has already passed wait for the next call, so one aio_poll()
 * always terminates.
 */
static bool aio_timers_dispatch(AioContext *ctx)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    QEMUTimer *ts;
    unsigned budget = 0;
    bool progress = false;

    QTAILQ_FOREACH(ts, &ctx->timers, next) {
        if (ts->expire_ns > now) {
            break;
        }
        budget++;
    }
    while (budget-- > 0) {
        ts = QTAILQ_FIRST(&ctx->timers);
        if (!ts || ts->expire_ns > now) {
            break;
        }
        timer_del(ts);
        ts->cb(ts->opaque);
        progress = true;
    }
    return progress;
}

typedef struct CoSleepState {
    Coroutine *co;
    bool done;
} CoSleepState;

static void co_sleep_cb(void *opaque)
{
    CoSleepState *s = opaque;

    s->done = true;
    aio_co_wake(s->co);
}

void coroutine_fn qemu_co_sleep_ns(QEMUClockType type, int64_t ns)
{
    AioContext *ctx = qemu_get_aio_context();
    CoSleepState s = { .co = qemu_coroutine_self() };
    QEMUTimer ts = {
        .ctx = ctx,
        .scale = SCALE_NS,
        .cb = co_sleep_cb,
        .opaque = &s,
    };

    assert(s.co);
    timer_mod(&ts, qemu_clock_get_ns(type) + MAX(ns, 0));
    qemu_coroutine_yield();
    /* Somebody else woke us early: do not leave the timer behind */
    timer_del(&ts);
}

/* The loop */

static unsigned aio_build_pollfds(AioContext *ctx, struct pollfd **pfds,
                                  AioHandler ***handlers, bool *allocated)
{
    AioHandler *h;
    unsigned n = 1, i = 1;

    QLIST_FOREACH(h, &ctx->handlers, node) {
        n++;
    }

    if (ctx->poll_depth == 1) {
        if (n > ctx->pollfds_alloc) {
            ctx->pollfds_alloc = MAX(n, ctx->pollfds_alloc * 2);
            ctx->pollfds = g_renew(struct pollfd, ctx->pollfds,
                                   ctx->pollfds_alloc);
            ctx->poll_handlers = g_renew(AioHandler *, ctx->poll_handlers,
                                         ctx->pollfds_alloc);
        }
        *pfds = ctx->pollfds;
        *handlers = ctx->poll_handlers;
        *allocated = false;
    } else {
        /* A nested call must not clobber its caller's array */
        *pfds = g_new(struct pollfd, n);
        *handlers = g_new(AioHandler *, n);
        *allocated = true;
    }

    (*pfds)[0] = (struct pollfd) { .fd = ctx->event_fd, .events = POLLIN };
    (*handlers)[0] = NULL;
    QLIST_FOREACH(h, &ctx->handlers, node) {
        short events = 0;

        if (h->deleted) {
            continue;
        }
        if (h->io_read) {
            events |= POLLIN | POLLHUP | POLLERR;
        }
        if (h->io_write) {
            events |= POLLOUT | POLLERR;
        }
        (*pfds)[i] = (struct pollfd) { .fd = h->fd, .events = events };
        (*handlers)[i] = h;
        i++;
    }
    return i;
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    struct pollfd *pfds;
    AioHandler **handlers;
    bool allocated;
    bool progress = false;
    unsigned n, i;
    int64_t timeout = 0;
    struct timespec ts_timeout;
    int ret;

    ctx->poll_depth++;
    ctx->walking_handlers++;

    n = aio_build_pollfds(ctx, &pfds, &handlers, &allocated);

    if (blocking) {
        __atomic_store_n(&ctx->notify_me, 1, __ATOMIC_RELAXED);
        /* Pairs with the fence in aio_kick() */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(&ctx->notified, __ATOMIC_RELAXED) ||
            aio_bh_pending(ctx)) {
            timeout = 0;
        } else {
            timeout = aio_timer_deadline(ctx);
        }
    }

    if (timeout >= 0) {
        ts_timeout.tv_sec = timeout / 1000000000;
        ts_timeout.tv_nsec = timeout % 1000000000;
    }
    do {
        ret = ppoll(pfds, n, timeout >= 0 ? &ts_timeout : NULL, NULL);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        fprintf(stderr, "ppoll failed in the event loop: %s\n",
                strerror(errno));
        abort();
    }

    if (blocking) {
        __atomic_store_n(&ctx->notify_me, 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&ctx->notified, 0, __ATOMIC_RELAXED);
    if (pfds[0].revents & POLLIN) {
        aio_drain_notifier(ctx);
    }

    for (i = 1; ret > 0 && i < n; i++) {
        AioHandler *h = handlers[i];
        short revents = pfds[i].revents;

        if (!revents) {
            continue;
        }
        if (!h->deleted && h->io_read &&
            (revents & (POLLIN | POLLHUP | POLLERR))) {
            h->io_read(h->opaque);
            progress = true;
        }
        if (!h->deleted && h->io_write && (revents & (POLLOUT | POLLERR))) {
            h->io_write(h->opaque);
            progress = true;
        }
    }

    if (aio_bh_dispatch(ctx)) {
        progress = true;
    }
    if (aio_co_dispatch(ctx)) {
        progress = true;
    }
    if (aio_timers_dispatch(ctx)) {
        progress = true;
    }

    if (allocated) {
        g_free(pfds);
        g_free(handlers);
    }
    ctx->walking_handlers--;
    ctx->poll_depth--;
    aio_free_deleted_handlers(ctx);
    return progress;
}
