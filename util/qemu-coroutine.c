/*
 * Coroutines: creation, pooling, enter/yield and deferred wake-ups
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include <pthread.h>

#include "qemu/coroutine.h"

/* Finished coroutines kept per thread for reuse */
#define COROUTINE_POOL_MAX 256

struct Coroutine {
    CoroutineEntry *entry;
    void *opaque;
    CoroutineContext *ctx;
    /* Who entered us; NULL while not running (yielded or in the pool) */
    Coroutine *caller;
    /* Coroutines woken while we ran, entered once we switch back out */
    QSIMPLEQ_HEAD(, Coroutine) wakeup;
    QSIMPLEQ_ENTRY(Coroutine) wakeup_next;
    /* Sitting in some coroutine's wakeup list (or about to be entered) */
    bool wakeup_pending;
    /* Link in the free pool */
    Coroutine *pool_next;
};

/* The running coroutine; NULL outside coroutine context */
static __thread Coroutine *current;
/* Stands for the thread itself as the caller of top-level coroutines */
static __thread Coroutine thread_leader;

static __thread Coroutine *pool;
static __thread unsigned pool_size;
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

static void coroutine_free(Coroutine *co)
{
    qemu_coroutine_context_free(co->ctx);
    g_free(co);
}

/* Thread exit: release what the thread kept in its pool */
static void pool_destroy(void *unused)
{
    while (pool) {
        Coroutine *co = pool;

        pool = co->pool_next;
        coroutine_free(co);
    }
    pool_size = 0;
}

static void pool_key_init(void)
{
    if (pthread_key_create(&pool_key, pool_destroy) != 0) {
        fprintf(stderr, "Failed to create coroutine pool key\n");
        abort();
    }
}

static void coroutine_release(Coroutine *co)
{
    if (pool_size < COROUTINE_POOL_MAX) {
        if (pool_size == 0) {
            /* Any non-NULL value arms the destructor for this thread */
            pthread_once(&pool_key_once, pool_key_init);
            pthread_setspecific(pool_key, &pool);
        }
        co->entry = NULL;
        co->opaque = NULL;
        co->pool_next = pool;
        pool = co;
        pool_size++;
        return;
    }
    coroutine_free(co);
}

static Coroutine *thread_self(void)
{
    if (current) {
        return current;
    }
    if (!thread_leader.ctx) {
        thread_leader.ctx = qemu_coroutine_thread_context();
        QSIMPLEQ_INIT(&thread_leader.wakeup);
    }
    return &thread_leader;
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    Coroutine *co = pool;

    if (co) {
        pool = co->pool_next;
        pool_size--;
        co->pool_next = NULL;
    } else {
        co = g_new0(Coroutine, 1);
        QSIMPLEQ_INIT(&co->wakeup);
        co->ctx = qemu_coroutine_context_new(co);
    }
    co->entry = entry;
    co->opaque = opaque;
    return co;
}

unsigned qemu_coroutine_pool_size(void)
{
    return pool_size;
}

void QEMU_NORETURN qemu_coroutine_body(Coroutine *co)
{
    for (;;) {
        Coroutine *caller;

        co->entry(co->opaque);

        /* Back to whoever entered us; the pool may hand us out again */
        caller = co->caller;
        co->caller = NULL;
        qemu_coroutine_switch(co->ctx, caller->ctx, COROUTINE_TERMINATE);
    }
}

void qemu_coroutine_enter(Coroutine *co)
{
    Coroutine *self = thread_self();
    QSIMPLEQ_HEAD(, Coroutine) pending = QSIMPLEQ_HEAD_INITIALIZER(pending);

    if (co->wakeup_pending) {
        fprintf(stderr, "Co-routine entered while a wake-up is pending\n");
        abort();
    }
    co->wakeup_pending = true;
    QSIMPLEQ_INSERT_TAIL(&pending, co, wakeup_next);

    while (!QSIMPLEQ_EMPTY(&pending)) {
        Coroutine *to = QSIMPLEQ_FIRST(&pending);
        CoroutineAction ret;

        QSIMPLEQ_REMOVE_HEAD(&pending, wakeup_next);
        to->wakeup_pending = false;

        if (to->caller) {
            fprintf(stderr, "Co-routine re-entered recursively\n");
            abort();
        }
        if (!to->entry) {
            fprintf(stderr, "Co-routine entered after it terminated\n");
            abort();
        }

        to->caller = self;
        current = to;
        ret = qemu_coroutine_switch(self->ctx, to->ctx, COROUTINE_ENTER);
        current = self == &thread_leader ? NULL : self;

        /*
         * What @to woke runs next, before older wake-ups: a wake-up means
         * "right after the waker switches out".
         */
        if (!QSIMPLEQ_EMPTY(&to->wakeup)) {
            *to->wakeup.sqh_last = QSIMPLEQ_FIRST(&pending);
            if (QSIMPLEQ_EMPTY(&pending)) {
                pending.sqh_last = to->wakeup.sqh_last;
            }
            pending.sqh_first = to->wakeup.sqh_first;
            QSIMPLEQ_INIT(&to->wakeup);
        }

        if (ret == COROUTINE_TERMINATE) {
            coroutine_release(to);
        } else {
            assert(ret == COROUTINE_YIELD);
        }
    }
}

void coroutine_fn qemu_coroutine_yield(void)
{
    Coroutine *self = current;
    Coroutine *to;

    if (!self) {
        fprintf(stderr, "Co-routine is yielding to no one\n");
        abort();
    }
    to = self->caller;
    self->caller = NULL;
    qemu_coroutine_switch(self->ctx, to->ctx, COROUTINE_YIELD);
}

Coroutine *qemu_coroutine_self(void)
{
    return current;
}

bool qemu_in_coroutine(void)
{
    return current != NULL;
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return co->caller != NULL;
}

void aio_co_wake(Coroutine *co)
{
    Coroutine *self = current;

    if (!self) {
        qemu_coroutine_enter(co);
        return;
    }
    if (co == self || co->caller) {
        fprintf(stderr, "Co-routine woken while it is running\n");
        abort();
    }
    if (co->wakeup_pending) {
        fprintf(stderr, "Co-routine woken twice\n");
        abort();
    }
    co->wakeup_pending = true;
    QSIMPLEQ_INSERT_TAIL(&self->wakeup, co, wakeup_next);
}
