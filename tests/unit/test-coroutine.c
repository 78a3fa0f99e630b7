/*
 * Unit tests for coroutines, wake-ups and coroutine locks
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/aio.h"
#include "qemu/coroutine.h"

/* Create, enter, self, in_coroutine, terminate */

static Coroutine *seen_self;
static bool seen_in_coroutine;

static void coroutine_fn co_record_self(void *opaque)
{
    bool *done = opaque;

    seen_self = qemu_coroutine_self();
    seen_in_coroutine = qemu_in_coroutine();
    g_assert_true(qemu_coroutine_entered(seen_self));
    *done = true;
}

static void test_self(void)
{
    bool done = false;
    Coroutine *co = qemu_coroutine_create(co_record_self, &done);

    g_assert_false(qemu_in_coroutine());
    g_assert_null(qemu_coroutine_self());
    g_assert_false(qemu_coroutine_entered(co));

    qemu_coroutine_enter(co);

    g_assert_true(done);
    g_assert_true(seen_self == co);
    g_assert_true(seen_in_coroutine);
    g_assert_false(qemu_in_coroutine());
    g_assert_null(qemu_coroutine_self());
}

/* Yield returns to the enterer; enter resumes after the yield */

static void coroutine_fn co_yield_steps(void *opaque)
{
    int *step = opaque;

    for (*step = 1; *step < 5; (*step)++) {
        qemu_coroutine_yield();
    }
    /* Locals survive yields: check the stack is really preserved */
    *step = 100;
}

static void test_yield(void)
{
    int step = 0;
    int i;
    Coroutine *co = qemu_coroutine_create(co_yield_steps, &step);

    for (i = 1; i < 5; i++) {
        qemu_coroutine_enter(co);
        g_assert_cmpint(step, ==, i);
        g_assert_false(qemu_coroutine_entered(co));
    }
    qemu_coroutine_enter(co);
    g_assert_cmpint(step, ==, 100);
}

/* Deep local state and recursion survive switches */

static int coroutine_fn recurse_sum(int n)
{
    volatile char pad[256];

    pad[0] = (char)n;
    if (n == 0) {
        qemu_coroutine_yield();
        return pad[0];
    }
    return n + recurse_sum(n - 1) + pad[0] - (char)n;
}

static void coroutine_fn co_recurse(void *opaque)
{
    int *result = opaque;

    *result = recurse_sum(200);
}

static void test_stack_depth(void)
{
    int result = -1;
    Coroutine *co = qemu_coroutine_create(co_recurse, &result);

    qemu_coroutine_enter(co);
    g_assert_cmpint(result, ==, -1);
    qemu_coroutine_enter(co);
    g_assert_cmpint(result, ==, 200 * 201 / 2);
}

/* Nested coroutines: each yield goes back to its own enterer */

typedef struct NestState {
    GString *trace;
    int depth;
} NestState;

static void coroutine_fn co_nest(void *opaque)
{
    NestState *s = opaque;
    Coroutine *self = qemu_coroutine_self();
    int level = s->depth;

    g_string_append_printf(s->trace, "in%d ", level);
    if (s->depth < 3) {
        Coroutine *child;

        s->depth++;
        child = qemu_coroutine_create(co_nest, s);
        qemu_coroutine_enter(child);
        /* The child switched back to us, not to the thread */
        g_assert_true(qemu_coroutine_self() == self);
        g_string_append_printf(s->trace, "back%d ", level);
        if (level == 2) {
            /* Only the deepest level yields instead of finishing */
            qemu_coroutine_enter(child);
        }
    } else {
        qemu_coroutine_yield();
        g_assert_true(qemu_coroutine_self() == self);
    }
    g_string_append_printf(s->trace, "out%d ", level);
}

static void test_nesting(void)
{
    NestState s = { .trace = g_string_new(""), .depth = 0 };
    Coroutine *co = qemu_coroutine_create(co_nest, &s);

    qemu_coroutine_enter(co);
    /* Level 3 yields to 2, which resumes it; then everything unwinds */
    g_assert_cmpstr(s.trace->str, ==,
                    "in0 in1 in2 in3 back2 out3 out2 back1 out1 back0 out0 ");
    g_string_free(s.trace, true);
}

/* A parent that entered a child can itself yield to the thread */
static void coroutine_fn co_child_yield(void *opaque)
{
    int *state = opaque;

    *state = 1;
    qemu_coroutine_yield();
    *state = 2;
}

static void coroutine_fn co_parent(void *opaque)
{
    int *state = opaque;
    Coroutine *child = qemu_coroutine_create(co_child_yield, state);

    qemu_coroutine_enter(child);
    g_assert_cmpint(*state, ==, 1);
    g_assert_false(qemu_coroutine_entered(child));
    /* Parent is still entered from the thread's point of view */
    g_assert_true(qemu_coroutine_entered(qemu_coroutine_self()));
    qemu_coroutine_yield();
    qemu_coroutine_enter(child);
    g_assert_cmpint(*state, ==, 2);
    *state = 3;
}

static void test_nested_yield(void)
{
    int state = 0;
    Coroutine *parent = qemu_coroutine_create(co_parent, &state);

    qemu_coroutine_enter(parent);
    g_assert_cmpint(state, ==, 1);
    qemu_coroutine_enter(parent);
    g_assert_cmpint(state, ==, 3);
}

/* Finished coroutines go back to the pool and are handed out again */

static void coroutine_fn co_nop(void *opaque)
{
    int *count = opaque;

    (*count)++;
}

static void test_pool_reuse(void)
{
    Coroutine *cos[16];
    unsigned before;
    int count = 0;
    int i, j;

    /* Fill the pool with at least 16 coroutines */
    for (i = 0; i < 16; i++) {
        cos[i] = qemu_coroutine_create(co_nop, &count);
    }
    for (i = 0; i < 16; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    g_assert_cmpint(count, ==, 16);
    before = qemu_coroutine_pool_size();
    g_assert_cmpuint(before, >=, 16);

    /* Creating takes from the pool; the same objects come back */
    for (i = 0; i < 16; i++) {
        Coroutine *co = qemu_coroutine_create(co_nop, &count);
        bool from_pool = false;

        g_assert_cmpuint(qemu_coroutine_pool_size(), ==, before - 1);
        for (j = 0; j < 16; j++) {
            from_pool |= co == cos[j];
        }
        /* The most recently finished coroutine is handed out again */
        g_assert_true(from_pool);
        g_assert_true(co == cos[15]);
        qemu_coroutine_enter(co);
        g_assert_cmpuint(qemu_coroutine_pool_size(), ==, before);
    }
    g_assert_cmpint(count, ==, 32);
}

static void test_pool_bounded(void)
{
    enum { N = 1000 };
    Coroutine **cos = g_new(Coroutine *, N);
    int count = 0;
    int i;

    for (i = 0; i < N; i++) {
        cos[i] = qemu_coroutine_create(co_nop, &count);
    }
    for (i = 0; i < N; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    g_assert_cmpint(count, ==, N);
    g_assert_cmpuint(qemu_coroutine_pool_size(), >=, 64);
    g_assert_cmpuint(qemu_coroutine_pool_size(), <=, 256);
    g_free(cos);
}

/* A pooled coroutine starts afresh: it does not resume an old yield */

static void coroutine_fn co_yield_once(void *opaque)
{
    int *phase = opaque;

    *phase = 1;
    qemu_coroutine_yield();
    *phase = 2;
}

static void test_pool_fresh_start(void)
{
    int a = 0, b = 0;
    Coroutine *co = qemu_coroutine_create(co_yield_once, &a);

    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
    g_assert_cmpint(a, ==, 2);

    co = qemu_coroutine_create(co_yield_once, &b);
    qemu_coroutine_enter(co);
    g_assert_cmpint(b, ==, 1);
    g_assert_cmpint(a, ==, 2);
    qemu_coroutine_enter(co);
    g_assert_cmpint(b, ==, 2);
}

/* Many coroutines alive at once, interleaved */

static void coroutine_fn co_counter(void *opaque)
{
    int *counter = opaque;
    int i;

    for (i = 0; i < 10; i++) {
        (*counter)++;
        qemu_coroutine_yield();
    }
}

static void test_many_alive(void)
{
    enum { N = 300 };
    Coroutine **cos = g_new(Coroutine *, N);
    int *counters = g_new0(int, N);
    int round, i;

    for (i = 0; i < N; i++) {
        cos[i] = qemu_coroutine_create(co_counter, &counters[i]);
    }
    for (round = 1; round <= 11; round++) {
        for (i = 0; i < N; i++) {
            qemu_coroutine_enter(cos[i]);
            g_assert_cmpint(counters[i], ==, MIN(round, 10));
        }
    }
    g_free(cos);
    g_free(counters);
}

/* Re-entering a running coroutine aborts with a clear message */

static void coroutine_fn co_reenter_self(void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_self());
}

static void test_reenter_aborts(void)
{
    if (g_test_subprocess()) {
        Coroutine *co = qemu_coroutine_create(co_reenter_self, NULL);

        qemu_coroutine_enter(co);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*Co-routine re-entered recursively*");
}

/* aio_co_wake from inside a coroutine defers; outside, it enters */

typedef struct WakeState {
    Coroutine *sleeper;
    GString *trace;
} WakeState;

static void coroutine_fn co_sleeper(void *opaque)
{
    WakeState *s = opaque;

    g_string_append(s->trace, "sleep ");
    qemu_coroutine_yield();
    /* Must not be running on top of the waker's stack */
    g_assert_true(qemu_coroutine_self() == s->sleeper);
    g_string_append(s->trace, "woken ");
}

static void coroutine_fn co_waker(void *opaque)
{
    WakeState *s = opaque;

    g_string_append(s->trace, "wake ");
    aio_co_wake(s->sleeper);
    g_string_append(s->trace, "after-wake ");
    g_assert_false(qemu_coroutine_entered(s->sleeper));
    qemu_coroutine_yield();
    g_string_append(s->trace, "waker-resumed ");
}

static void test_wake_no_nesting(void)
{
    WakeState s = { .trace = g_string_new("") };
    Coroutine *waker;

    s.sleeper = qemu_coroutine_create(co_sleeper, &s);
    qemu_coroutine_enter(s.sleeper);

    waker = qemu_coroutine_create(co_waker, &s);
    qemu_coroutine_enter(waker);
    /* The sleeper ran once the waker yielded, before enter returned */
    g_assert_cmpstr(s.trace->str, ==, "sleep wake after-wake woken ");

    qemu_coroutine_enter(waker);
    g_assert_cmpstr(s.trace->str, ==,
                    "sleep wake after-wake woken waker-resumed ");
    g_string_free(s.trace, true);
}

static void coroutine_fn co_wake_then_finish(void *opaque)
{
    WakeState *s = opaque;

    aio_co_wake(s->sleeper);
    g_string_append(s->trace, "waker-done ");
}

static void test_wake_on_terminate(void)
{
    WakeState s = { .trace = g_string_new("") };

    s.sleeper = qemu_coroutine_create(co_sleeper, &s);
    qemu_coroutine_enter(s.sleeper);
    qemu_coroutine_enter(qemu_coroutine_create(co_wake_then_finish, &s));
    g_assert_cmpstr(s.trace->str, ==, "sleep waker-done woken ");
    g_string_free(s.trace, true);
}

static void test_wake_outside(void)
{
    WakeState s = { .trace = g_string_new("") };

    s.sleeper = qemu_coroutine_create(co_sleeper, &s);
    qemu_coroutine_enter(s.sleeper);
    aio_co_wake(s.sleeper);
    g_assert_cmpstr(s.trace->str, ==, "sleep woken ");
    g_string_free(s.trace, true);
}

/*
 * A chain of wake-ups (each woken coroutine wakes the next one) is run by
 * the outermost enter, one after the other: nothing is entered on top of
 * its waker, and the whole chain completes before aio_co_wake() returns.
 */
#define CHAIN_LEN 2000

typedef struct ChainState {
    Coroutine *cos[CHAIN_LEN];
    int ran;
    int finished;
} ChainState;

static void coroutine_fn co_chain(void *opaque)
{
    ChainState *s = opaque;
    int idx;

    qemu_coroutine_yield();
    idx = s->ran++;
    /* Our waker has already finished */
    g_assert_cmpint(s->finished, ==, idx);
    if (idx + 1 < CHAIN_LEN) {
        aio_co_wake(s->cos[idx + 1]);
        g_assert_cmpint(s->ran, ==, idx + 1);
    }
    s->finished++;
}

static void test_wake_chain(void)
{
    ChainState *s = g_new0(ChainState, 1);
    int i;

    for (i = 0; i < CHAIN_LEN; i++) {
        s->cos[i] = qemu_coroutine_create(co_chain, s);
        qemu_coroutine_enter(s->cos[i]);
    }
    aio_co_wake(s->cos[0]);
    g_assert_cmpint(s->ran, ==, CHAIN_LEN);
    g_assert_cmpint(s->finished, ==, CHAIN_LEN);
    g_free(s);
}

/* Waking the same coroutine twice is a bug and is caught */

static void coroutine_fn co_double_wake(void *opaque)
{
    Coroutine *target = opaque;

    aio_co_wake(target);
    aio_co_wake(target);
}

static void coroutine_fn co_just_yield(void *opaque)
{
    qemu_coroutine_yield();
}

static void test_double_wake_aborts(void)
{
    if (g_test_subprocess()) {
        Coroutine *target = qemu_coroutine_create(co_just_yield, NULL);

        qemu_coroutine_enter(target);
        qemu_coroutine_enter(qemu_coroutine_create(co_double_wake, target));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*woken twice*");
}

/* CoMutex: exclusion and FIFO order under contention */

#define MUTEX_WORKERS 50
#define MUTEX_ROUNDS 20

typedef struct MutexState {
    CoMutex lock;
    int inside;
    int total;
    GArray *order;
    Coroutine *cos[MUTEX_WORKERS];
    int waiting;
} MutexState;

typedef struct MutexWorker {
    MutexState *s;
    int id;
} MutexWorker;

static void coroutine_fn co_mutex_worker(void *opaque)
{
    MutexWorker *w = opaque;
    MutexState *s = w->s;
    int i;

    for (i = 0; i < MUTEX_ROUNDS; i++) {
        qemu_co_mutex_lock(&s->lock);
        g_assert_cmpint(s->inside, ==, 0);
        s->inside++;
        g_array_append_val(s->order, w->id);
        /* Hold the lock across a yield so the others pile up */
        qemu_coroutine_yield();
        g_assert_cmpint(s->inside, ==, 1);
        s->inside--;
        s->total++;
        qemu_co_mutex_unlock(&s->lock);
    }
}

static void test_co_mutex(void)
{
    MutexState s = { .order = g_array_new(false, false, sizeof(int)) };
    MutexWorker workers[MUTEX_WORKERS];
    int i, n;

    qemu_co_mutex_init(&s.lock);
    for (i = 0; i < MUTEX_WORKERS; i++) {
        workers[i] = (MutexWorker) { .s = &s, .id = i };
        s.cos[i] = qemu_coroutine_create(co_mutex_worker, &workers[i]);
    }
    /*
     * Worker 0 takes the lock and yields; the rest queue up.  Then keep
     * resuming whoever holds the lock, as an I/O completion would.
     */
    for (i = 0; i < MUTEX_WORKERS; i++) {
        qemu_coroutine_enter(s.cos[i]);
    }
    g_assert_cmpint(s.order->len, ==, 1);
    for (n = 0; n < MUTEX_WORKERS * MUTEX_ROUNDS; n++) {
        Coroutine *holder = s.lock.holder;

        g_assert_nonnull(holder);
        g_assert_true(s.lock.locked);
        qemu_coroutine_enter(holder);
    }
    g_assert_cmpint(s.total, ==, MUTEX_WORKERS * MUTEX_ROUNDS);
    g_assert_false(s.lock.locked);
    g_assert_null(s.lock.holder);
    g_assert_true(qemu_co_queue_empty(&s.lock.waiters));

    /* FIFO hand-off: strict round robin, 0 1 2 ... 49 0 1 2 ... */
    g_assert_cmpint(s.order->len, ==, MUTEX_WORKERS * MUTEX_ROUNDS);
    for (i = 0; i < (int)s.order->len; i++) {
        g_assert_cmpint(g_array_index(s.order, int, i), ==,
                        i % MUTEX_WORKERS);
    }
    g_array_free(s.order, true);
}

/* Unlocking with waiters hands over without letting a newcomer barge in */

typedef struct BargeState {
    CoMutex lock;
    GString *trace;
} BargeState;

static void coroutine_fn co_barge_waiter(void *opaque)
{
    BargeState *s = opaque;

    qemu_co_mutex_lock(&s->lock);
    g_string_append(s->trace, "waiter ");
    qemu_co_mutex_unlock(&s->lock);
}

static void coroutine_fn co_barge_holder(void *opaque)
{
    BargeState *s = opaque;

    qemu_co_mutex_lock(&s->lock);
    qemu_coroutine_yield();
    qemu_co_mutex_unlock(&s->lock);
    /* The waiter now owns it, although it has not run yet */
    g_assert_true(s->lock.locked);
    g_string_append(s->trace, "holder-unlocked ");
    qemu_co_mutex_lock(&s->lock);
    g_string_append(s->trace, "holder-again ");
    qemu_co_mutex_unlock(&s->lock);
}

static void test_co_mutex_handoff(void)
{
    BargeState s = { .trace = g_string_new("") };
    Coroutine *holder;

    qemu_co_mutex_init(&s.lock);
    holder = qemu_coroutine_create(co_barge_holder, &s);
    qemu_coroutine_enter(holder);
    qemu_coroutine_enter(qemu_coroutine_create(co_barge_waiter, &s));
    qemu_coroutine_enter(holder);
    g_assert_cmpstr(s.trace->str, ==,
                    "holder-unlocked waiter holder-again ");
    g_assert_false(s.lock.locked);
    g_string_free(s.trace, true);
}

/* CoQueue */

typedef struct QueueState {
    CoQueue queue;
    GString *trace;
} QueueState;

typedef struct QueueWaiter {
    QueueState *s;
    char name;
} QueueWaiter;

static void coroutine_fn co_queue_waiter(void *opaque)
{
    QueueWaiter *w = opaque;

    g_string_append_printf(w->s->trace, "%c-wait ", w->name);
    qemu_co_queue_wait(&w->s->queue);
    g_string_append_printf(w->s->trace, "%c-up ", w->name);
}

static void test_co_queue(void)
{
    QueueState s = { .trace = g_string_new("") };
    QueueWaiter w[3] = {
        { .s = &s, .name = 'a' },
        { .s = &s, .name = 'b' },
        { .s = &s, .name = 'c' },
    };
    int i;

    qemu_co_queue_init(&s.queue);
    g_assert_true(qemu_co_queue_empty(&s.queue));
    g_assert_false(qemu_co_queue_next(&s.queue));

    for (i = 0; i < 3; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(co_queue_waiter, &w[i]));
    }
    g_assert_false(qemu_co_queue_empty(&s.queue));
    g_assert_cmpstr(s.trace->str, ==, "a-wait b-wait c-wait ");

    g_assert_true(qemu_co_queue_next(&s.queue));
    g_assert_cmpstr(s.trace->str, ==, "a-wait b-wait c-wait a-up ");

    qemu_co_queue_restart_all(&s.queue);
    g_assert_cmpstr(s.trace->str, ==,
                    "a-wait b-wait c-wait a-up b-up c-up ");
    g_assert_true(qemu_co_queue_empty(&s.queue));
    g_assert_false(qemu_co_queue_next(&s.queue));
    g_string_free(s.trace, true);
}

/* restart_all only wakes those waiting when it was called */

typedef struct RewaitState {
    CoQueue queue;
    int wakeups;
} RewaitState;

static void coroutine_fn co_rewaiter(void *opaque)
{
    RewaitState *s = opaque;

    for (;;) {
        qemu_co_queue_wait(&s->queue);
        s->wakeups++;
        if (s->wakeups >= 1000) {
            return;
        }
    }
}

static void test_co_queue_restart_all_rewait(void)
{
    RewaitState s = { 0 };

    qemu_co_queue_init(&s.queue);
    qemu_coroutine_enter(qemu_coroutine_create(co_rewaiter, &s));
    qemu_co_queue_restart_all(&s.queue);
    g_assert_cmpint(s.wakeups, ==, 1);
    g_assert_false(qemu_co_queue_empty(&s.queue));
    qemu_co_queue_restart_all(&s.queue);
    g_assert_cmpint(s.wakeups, ==, 2);
    while (!qemu_co_queue_empty(&s.queue)) {
        qemu_co_queue_next(&s.queue);
    }
    g_assert_cmpint(s.wakeups, ==, 1000);
}

/* Waking from inside a coroutine: woken waiters run after we yield */

typedef struct QueueWakerState {
    QueueState *s;
    bool all;
} QueueWakerState;

static void coroutine_fn co_queue_waker(void *opaque)
{
    QueueWakerState *ws = opaque;

    if (ws->all) {
        qemu_co_queue_restart_all(&ws->s->queue);
    } else {
        qemu_co_queue_next(&ws->s->queue);
    }
    g_string_append(ws->s->trace, "waker-end ");
}

static void test_co_queue_wake_from_coroutine(void)
{
    QueueState s = { .trace = g_string_new("") };
    QueueWaiter w[2] = {
        { .s = &s, .name = 'a' },
        { .s = &s, .name = 'b' },
    };
    QueueWakerState ws = { .s = &s, .all = true };

    qemu_co_queue_init(&s.queue);
    qemu_coroutine_enter(qemu_coroutine_create(co_queue_waiter, &w[0]));
    qemu_coroutine_enter(qemu_coroutine_create(co_queue_waiter, &w[1]));
    qemu_coroutine_enter(qemu_coroutine_create(co_queue_waker, &ws));
    g_assert_cmpstr(s.trace->str, ==,
                    "a-wait b-wait waker-end a-up b-up ");
    g_string_free(s.trace, true);
}

/* Coroutines work on other threads too, with their own pool */

static gpointer thread_run_coroutines(gpointer opaque)
{
    int *count = opaque;
    int i;

    for (i = 0; i < 100; i++) {
        int step = 0;
        Coroutine *co = qemu_coroutine_create(co_yield_steps, &step);

        while (step != 100) {
            qemu_coroutine_enter(co);
        }
        (*count)++;
    }
    return NULL;
}

static void test_other_thread(void)
{
    int count = 0;
    GThread *t = g_thread_new("co-test", thread_run_coroutines, &count);

    g_thread_join(t);
    g_assert_cmpint(count, ==, 100);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/coroutine/self", test_self);
    g_test_add_func("/coroutine/yield", test_yield);
    g_test_add_func("/coroutine/stack-depth", test_stack_depth);
    g_test_add_func("/coroutine/nesting", test_nesting);
    g_test_add_func("/coroutine/nested-yield", test_nested_yield);
    g_test_add_func("/coroutine/pool/reuse", test_pool_reuse);
    g_test_add_func("/coroutine/pool/bounded", test_pool_bounded);
    g_test_add_func("/coroutine/pool/fresh-start", test_pool_fresh_start);
    g_test_add_func("/coroutine/many-alive", test_many_alive);
    g_test_add_func("/coroutine/reenter-aborts", test_reenter_aborts);
    g_test_add_func("/coroutine/other-thread", test_other_thread);
    g_test_add_func("/coroutine/wake/no-nesting", test_wake_no_nesting);
    g_test_add_func("/coroutine/wake/on-terminate", test_wake_on_terminate);
    g_test_add_func("/coroutine/wake/outside", test_wake_outside);
    g_test_add_func("/coroutine/wake/chain", test_wake_chain);
    g_test_add_func("/coroutine/wake/double-aborts", test_double_wake_aborts);
    g_test_add_func("/coroutine/mutex/fifo", test_co_mutex);
    g_test_add_func("/coroutine/mutex/handoff", test_co_mutex_handoff);
    g_test_add_func("/coroutine/queue/basic", test_co_queue);
    g_test_add_func("/coroutine/queue/restart-all-rewait",
                    test_co_queue_restart_all_rewait);
    g_test_add_func("/coroutine/queue/wake-from-coroutine",
                    test_co_queue_wake_from_coroutine);
    return g_test_run();
}
