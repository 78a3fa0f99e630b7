/*
 * Coroutine wait queues and mutexes
 *
 * Waking never switches stacks on the spot: woken coroutines are entered
 * through aio_co_wake(), so a coroutine that releases a lock keeps running
 * until it yields or terminates.  Locks hand ownership over to the waiter
 * they wake, which makes them FIFO-fair: a newcomer cannot overtake a
 * coroutine that has been woken but has not run yet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/coroutine.h"

/* Lives on the waiting coroutine's stack while it is yielded */
typedef struct CoWaitRecord {
    Coroutine *co;
    QSIMPLEQ_ENTRY(CoWaitRecord) next;
} CoWaitRecord;

void qemu_co_queue_init(CoQueue *queue)
{
    QSIMPLEQ_INIT(&queue->entries);
}

static void coroutine_fn co_queue_wait_record(CoQueue *queue,
                                              CoWaitRecord *w)
{
    w->co = qemu_coroutine_self();
    assert(w->co);
    QSIMPLEQ_INSERT_TAIL(&queue->entries, w, next);
    /* Whoever wakes us has already unlinked @w */
    qemu_coroutine_yield();
}

void coroutine_fn qemu_co_queue_wait(CoQueue *queue)
{
    CoWaitRecord w = { 0 };

    co_queue_wait_record(queue, &w);
}

/* Unlink the first waiter and schedule it; false if there is none. */
static bool co_queue_wake_first(CoQueue *queue)
{
    CoWaitRecord *w = QSIMPLEQ_FIRST(&queue->entries);

    if (!w) {
        return false;
    }
    QSIMPLEQ_REMOVE_HEAD(&queue->entries, next);
    /* @w may be gone once this returns: the waiter may already have run */
    aio_co_wake(w->co);
    return true;
}

bool qemu_co_queue_next(CoQueue *queue)
{
    return co_queue_wake_first(queue);
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    CoQueue batch;

    /*
     * Only wake those waiting now.  Outside coroutine context a woken
     * coroutine runs immediately and may wait on @queue again; it must not
     * be picked up a second time by this loop.
     */
    batch.entries.sqh_first = queue->entries.sqh_first;
    batch.entries.sqh_last = QSIMPLEQ_EMPTY(&queue->entries) ?
        &batch.entries.sqh_first : queue->entries.sqh_last;
    QSIMPLEQ_INIT(&queue->entries);

    while (co_queue_wake_first(&batch)) {
        /* nothing */
    }
}

bool qemu_co_queue_empty(CoQueue *queue)
{
    return QSIMPLEQ_EMPTY(&queue->entries);
}

void qemu_co_mutex_init(CoMutex *mutex)
{
    mutex->locked = false;
    mutex->holder = NULL;
    qemu_co_queue_init(&mutex->waiters);
}

void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    if (!mutex->locked) {
        mutex->locked = true;
        mutex->holder = self;
        return;
    }
    if (mutex->holder == self) {
        fprintf(stderr, "CoMutex locked recursively\n");
        abort();
    }
    qemu_co_queue_wait(&mutex->waiters);
    /* qemu_co_mutex_unlock() made us the holder before waking us */
    assert(mutex->locked && mutex->holder == self);
}

void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex)
{
    CoWaitRecord *w;

    assert(mutex->locked);
    assert(mutex->holder == qemu_coroutine_self());

    w = QSIMPLEQ_FIRST(&mutex->waiters.entries);
    if (!w) {
        mutex->locked = false;
        mutex->holder = NULL;
        return;
    }
    /* Hand over directly, so nobody can take the lock in between */
    mutex->holder = w->co;
    co_queue_wake_first(&mutex->waiters);
}
