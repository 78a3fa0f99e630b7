/*
 * The event loop: file descriptor handlers, bottom halves and timers.
 *
 * There is one AioContext, run by the main thread.  Everything in the
 * block layer happens on that thread; worker threads only hand results
 * back through thread-safe bottom halves (qemu_bh_schedule(),
 * aio_bh_schedule_oneshot() and aio_co_schedule() may be called from any
 * thread).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_AIO_H
#define QEMU_AIO_H

#include "qemu/coroutine.h"

typedef struct QEMUBH QEMUBH;
typedef struct QEMUTimer QEMUTimer;

typedef void QEMUBHFunc(void *opaque);
typedef void IOHandler(void *opaque);
typedef void QEMUTimerCB(void *opaque);

typedef enum QEMUClockType {
    QEMU_CLOCK_REALTIME = 0,   /* CLOCK_MONOTONIC */
    QEMU_CLOCK_VIRTUAL = 1,    /* same source here; kept for API shape */
} QEMUClockType;

#define SCALE_MS 1000000
#define SCALE_US 1000
#define SCALE_NS 1

/* The main (and only) AioContext, created on first use. */
AioContext *qemu_get_aio_context(void);

/*
 * Run one iteration: dispatch ready bottom halves, expired timers and fd
 * handlers.  With @blocking, wait until at least one of them made progress.
 * Returns true if progress was made.
 */
bool no_coroutine_fn aio_poll(AioContext *ctx, bool blocking);

/* Wake up a blocking aio_poll() (thread-safe). */
void aio_notify(AioContext *ctx);

/*
 * Register read/write handlers for @fd; NULL for both removes the fd.
 * Handlers run from aio_poll() on the event loop thread.
 */
void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque);

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque);
void qemu_bh_schedule(QEMUBH *bh);          /* thread-safe */
void qemu_bh_cancel(QEMUBH *bh);
void qemu_bh_delete(QEMUBH *bh);            /* cancels and frees */
/* Run @cb(@opaque) once from the event loop (thread-safe). */
void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

/* Enter @co from the event loop of @ctx (thread-safe). */
void aio_co_schedule(AioContext *ctx, Coroutine *co);

int64_t qemu_clock_get_ns(QEMUClockType type);
static inline int64_t qemu_clock_get_ms(QEMUClockType type)
{
    return qemu_clock_get_ns(type) / SCALE_MS;
}

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type, int scale,
                         QEMUTimerCB *cb, void *opaque);
/* Arm to fire when the clock reaches @expire_time (in the timer's scale) */
void timer_mod(QEMUTimer *ts, int64_t expire_time);
void timer_del(QEMUTimer *ts);
void timer_free(QEMUTimer *ts);               /* deletes if pending */
bool timer_pending(QEMUTimer *ts);

/* Yield the current coroutine for @ns nanoseconds. */
void coroutine_fn qemu_co_sleep_ns(QEMUClockType type, int64_t ns);

/* Poll the event loop until @cond becomes false. */
#define AIO_WAIT_WHILE(ctx, cond) do {                              \
        AioContext *ctx_ = (ctx) ? (ctx) : qemu_get_aio_context();  \
        while ((cond)) {                                            \
            aio_poll(ctx_, true);                                   \
        }                                                           \
    } while (0)

#endif /* QEMU_AIO_H */
