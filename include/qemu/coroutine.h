/*
 * Coroutines: cooperative threads on the event loop thread.
 *
 * A coroutine runs until it yields; whoever enters it again (usually a
 * completion callback via aio_co_wake()) resumes it.  Functions that may
 * yield are marked coroutine_fn and must only be called from coroutine
 * context (qemu/clang-tsa.h: clang checks that).  Coroutines are
 * recycled through a pool, so creating one per request is cheap.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_COROUTINE_H
#define QEMU_COROUTINE_H

#include "qemu/queue.h"

typedef struct Coroutine Coroutine;
typedef struct AioContext AioContext;

typedef void coroutine_fn_ptr CoroutineEntry(void *opaque);

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);

/*
 * Transfer control to @co until it yields or terminates.  Must not be
 * called on a coroutine that is already running (entered).
 */
void qemu_coroutine_enter(Coroutine *co);

/* Return control to whoever entered the current coroutine. */
void coroutine_fn qemu_coroutine_yield(void);

/* The running coroutine, or NULL outside coroutine context. */
Coroutine *qemu_coroutine_self(void);
bool qemu_in_coroutine(void);

/*
 * Tell the coroutine check that the caller runs in a coroutine.  A
 * coroutine_mixed_fn calls it first thing on its qemu_in_coroutine()
 * branch, so that branch may call coroutine_fn functions.
 */
static inline void QEMU_TSA_ASSERTS_CO qemu_coroutine_assert_context(void)
{
    assert(qemu_in_coroutine());
}
/* True while @co has been entered and has not yet yielded back */
bool qemu_coroutine_entered(Coroutine *co);

/*
 * Wake a yielded coroutine.  From outside coroutine context it is entered
 * immediately; from inside another coroutine it is entered once the
 * current coroutine yields or terminates (never nested).  Thread-safe
 * variant: aio_co_schedule() in qemu/aio.h.
 */
void aio_co_wake(Coroutine *co);

/* Queue of waiting coroutines */
typedef struct CoQueue {
    QSIMPLEQ_HEAD(, CoWaitRecord) entries;
} CoQueue;

void qemu_co_queue_init(CoQueue *queue);
/* Yield until woken by qemu_co_queue_next()/restart_all(). */
void coroutine_fn qemu_co_queue_wait(CoQueue *queue);
/* Wake the first waiter; returns false if the queue was empty. */
bool qemu_co_queue_next(CoQueue *queue);
void qemu_co_queue_restart_all(CoQueue *queue);
bool qemu_co_queue_empty(CoQueue *queue);

/* Mutex for coroutines: waiting yields instead of blocking the thread */
typedef struct CoMutex {
    bool locked;
    Coroutine *holder;
    CoQueue waiters;
} CoMutex;

void qemu_co_mutex_init(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex);

/* Number of coroutines currently kept in the free pool (for tests) */
unsigned qemu_coroutine_pool_size(void);

/*
 * Context-switch backend.  Implemented by util/coroutine-ucontext.c and
 * used only by util/qemu-coroutine.c; nothing else should call these.
 */
typedef struct CoroutineContext CoroutineContext;

typedef enum CoroutineAction {
    COROUTINE_YIELD = 1,
    COROUTINE_TERMINATE = 2,
    COROUTINE_ENTER = 3,
} CoroutineAction;

/*
 * Allocate a stack for @co.  The first switch to it calls
 * qemu_coroutine_body(@co), which never returns.
 */
CoroutineContext *qemu_coroutine_context_new(Coroutine *co);
void qemu_coroutine_context_free(CoroutineContext *ctx);
/* The calling thread's own (non-coroutine) context */
CoroutineContext *qemu_coroutine_thread_context(void);
/* Save the current state in @from and resume @to; returns how we resumed */
CoroutineAction qemu_coroutine_switch(CoroutineContext *from,
                                      CoroutineContext *to,
                                      CoroutineAction action);
/* Generic side: run @co's entry points forever (util/qemu-coroutine.c) */
void QEMU_NORETURN qemu_coroutine_body(Coroutine *co);

#endif /* QEMU_COROUTINE_H */
