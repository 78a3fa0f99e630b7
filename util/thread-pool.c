/*
 * Worker thread pool for blocking system calls
 *
 * A request lives on the stack of the coroutine that submitted it, which
 * yields until the work is done.  Workers push finished requests onto a
 * lock-free completion stack and only the push that finds it empty
 * schedules the bottom half, so one BH run hands back a whole batch; the
 * event loop then re-enters the coroutines in completion order.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/aio.h"
#include "qemu/thread-pool.h"

#define THREAD_POOL_MAX_WORKERS 64
/* A worker with nothing to do for this long exits */
#define THREAD_POOL_IDLE_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct ThreadPoolRequest {
    ThreadPoolFunc *func;
    void *arg;
    int ret;
    Coroutine *co;
    /* In the submission queue, then in the completion stack */
    struct ThreadPoolRequest *next;
} ThreadPoolRequest;

typedef struct ThreadPool {
    QEMUBH *completion_bh;
    /* Finished requests, newest first; pushed without the lock */
    ThreadPoolRequest *completed;

    /* Protects everything below */
    GMutex lock;
    /* Signalled when work is queued for an idle worker */
    GCond work_cond;
    ThreadPoolRequest *queue_head;
    ThreadPoolRequest **queue_tail;
    int cur_threads;
    /* Workers waiting on work_cond */
    int idle_threads;
    /* Signals sent that no idle worker has picked up yet */
    int pending_wakeups;
} ThreadPool;

static ThreadPool *global_pool;

static void thread_pool_completion_bh(void *opaque)
{
    ThreadPool *pool = opaque;
    ThreadPoolRequest *req, *next, *done = NULL;

    req = __atomic_exchange_n(&pool->completed, NULL, __ATOMIC_ACQUIRE);
    /* Reverse, so requests resume in the order they completed */
    while (req) {
        next = req->next;
        req->next = done;
        done = req;
        req = next;
    }
    for (req = done; req; req = next) {
        /* The request is gone once its coroutine runs */
        next = req->next;
        aio_co_wake(req->co);
    }
}

static void thread_pool_complete(ThreadPool *pool, ThreadPoolRequest *req)
{
    ThreadPoolRequest *head = __atomic_load_n(&pool->completed,
                                              __ATOMIC_RELAXED);

    do {
        req->next = head;
    } while (!__atomic_compare_exchange_n(&pool->completed, &head, req, true,
                                          __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    /*
     * Only the first completion of a batch schedules the BH; the others
     * ride along until it takes the stack.
     */
    if (!head) {
        qemu_bh_schedule(pool->completion_bh);
    }
}

/* Called with pool->lock held; NULL if nothing is queued */
static ThreadPoolRequest *thread_pool_dequeue_locked(ThreadPool *pool)
{
    ThreadPoolRequest *req = pool->queue_head;

    if (req) {
        pool->queue_head = req->next;
        if (!pool->queue_head) {
            pool->queue_tail = &pool->queue_head;
        }
    }
    return req;
}

static gpointer thread_pool_worker(gpointer opaque);

/* Called with pool->lock held */
static void thread_pool_spawn_locked(ThreadPool *pool)
{
    GError *err = NULL;
    GThread *thread;

    thread = g_thread_try_new("qblk-worker", thread_pool_worker, pool, &err);
    if (!thread) {
        /* The workers already running will get to the request */
        g_error_free(err);
        if (pool->cur_threads == 0) {
            fprintf(stderr, "Failed to start a worker thread\n");
            abort();
        }
        return;
    }
    pool->cur_threads++;
    g_thread_unref(thread);
}

/*
 * Called with pool->lock held whenever work was queued or taken: if some
 * is still queued, get one more worker going, by waking an idle one or,
 * when all are busy, starting a new one.
 *
 * Only one wake-up is in flight at a time.  The woken worker calls this
 * again as it takes a request, so workers wake each other in a chain
 * instead of the submitter waking one per request: quick requests are
 * mostly taken by workers that are already running, and the wake-ups
 * stop as soon as those keep up.  Slow ones still fan out to as many
 * workers as there are requests, up to the limit.
 */
static void thread_pool_kick_locked(ThreadPool *pool)
{
    if (!pool->queue_head) {
        return;
    }
    if (pool->idle_threads > 0) {
        if (pool->pending_wakeups == 0) {
            pool->pending_wakeups++;
            g_cond_signal(&pool->work_cond);
        }
    } else if (pool->cur_threads < THREAD_POOL_MAX_WORKERS) {
        thread_pool_spawn_locked(pool);
    }
}

static gpointer thread_pool_worker(gpointer opaque)
{
    ThreadPool *pool = opaque;

    g_mutex_lock(&pool->lock);
    for (;;) {
        ThreadPoolRequest *req = thread_pool_dequeue_locked(pool);

        if (!req) {
            gint64 deadline = g_get_monotonic_time() +
                              THREAD_POOL_IDLE_TIMEOUT_US;
            bool timed_out = false;

            pool->idle_threads++;
            while (!pool->queue_head && !timed_out) {
                timed_out = !g_cond_wait_until(&pool->work_cond, &pool->lock,
                                               deadline);
                /*
                 * Count the signal as delivered even if a busy worker
                 * took the request first; over-counting would make
                 * submitters skip idle workers.
                 */
                if (pool->pending_wakeups > 0) {
                    pool->pending_wakeups--;
                }
            }
            pool->idle_threads--;
            req = thread_pool_dequeue_locked(pool);
            if (!req) {
                break;
            }
        }
        thread_pool_kick_locked(pool);
        g_mutex_unlock(&pool->lock);

        req->ret = req->func(req->arg);
        thread_pool_complete(pool, req);

        g_mutex_lock(&pool->lock);
    }
    pool->cur_threads--;
    g_mutex_unlock(&pool->lock);
    return NULL;
}

static ThreadPool *thread_pool_get(void)
{
    if (!global_pool) {
        ThreadPool *pool = g_new0(ThreadPool, 1);

        pool->completion_bh = aio_bh_new(qemu_get_aio_context(),
                                         thread_pool_completion_bh, pool);
        g_mutex_init(&pool->lock);
        g_cond_init(&pool->work_cond);
        pool->queue_tail = &pool->queue_head;
        global_pool = pool;
    }
    return global_pool;
}

int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg)
{
    ThreadPool *pool = thread_pool_get();
    ThreadPoolRequest req = {
        .func = func,
        .arg = arg,
        .co = qemu_coroutine_self(),
    };

    assert(req.co);

    g_mutex_lock(&pool->lock);
    *pool->queue_tail = &req;
    pool->queue_tail = &req.next;
    /* At the limit, a busy worker takes it when done with its current one */
    thread_pool_kick_locked(pool);
    g_mutex_unlock(&pool->lock);

    qemu_coroutine_yield();
    return req.ret;
}

int thread_pool_worker_count(void)
{
    ThreadPool *pool = global_pool;
    int n;

    if (!pool) {
        return 0;
    }
    g_mutex_lock(&pool->lock);
    n = pool->cur_threads;
    g_mutex_unlock(&pool->lock);
    return n;
}
