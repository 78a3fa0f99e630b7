/*
 * Unit tests for the event loop: bottom halves, fd handlers and timers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/aio.h"
#include "qemu/coroutine.h"

static AioContext *ctx;

/* Run everything that is ready now; true if anything ran. */
static bool drain_ready(void)
{
    bool progress = false;

    while (aio_poll(ctx, false)) {
        progress = true;
    }
    return progress;
}

/* Bottom halves */

typedef struct BHLog {
    GString *trace;
    QEMUBH *bh;
    QEMUBH *victim;
    const char *name;
    int runs;
    GThread *ran_on;
} BHLog;

static void bh_log_cb(void *opaque)
{
    BHLog *l = opaque;

    g_string_append_printf(l->trace, "%s ", l->name);
    l->runs++;
    l->ran_on = g_thread_self();
}

static void test_bh_order(void)
{
    GString *trace = g_string_new("");
    BHLog l[3] = {
        { .trace = trace, .name = "a" },
        { .trace = trace, .name = "b" },
        { .trace = trace, .name = "c" },
    };
    int i;

    for (i = 0; i < 3; i++) {
        l[i].bh = aio_bh_new(ctx, bh_log_cb, &l[i]);
    }
    g_assert_false(aio_poll(ctx, false));

    qemu_bh_schedule(l[2].bh);
    qemu_bh_schedule(l[0].bh);
    qemu_bh_schedule(l[1].bh);
    /* Already scheduled: no-op, and it keeps its place */
    qemu_bh_schedule(l[2].bh);
    qemu_bh_schedule(l[0].bh);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(trace->str, ==, "c a b ");
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(l[i].runs, ==, 1);
    }
    g_assert_false(aio_poll(ctx, false));

    /* Can be scheduled again after running */
    qemu_bh_schedule(l[1].bh);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpstr(trace->str, ==, "c a b b ");
    g_assert_cmpint(l[1].runs, ==, 2);

    for (i = 0; i < 3; i++) {
        qemu_bh_delete(l[i].bh);
    }
    g_string_free(trace, true);
}

static void test_bh_cancel(void)
{
    GString *trace = g_string_new("");
    BHLog a = { .trace = trace, .name = "a" };
    BHLog b = { .trace = trace, .name = "b" };

    a.bh = aio_bh_new(ctx, bh_log_cb, &a);
    b.bh = aio_bh_new(ctx, bh_log_cb, &b);

    qemu_bh_schedule(a.bh);
    qemu_bh_cancel(a.bh);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(a.runs, ==, 0);

    /* Cancelling an idle BH is harmless */
    qemu_bh_cancel(a.bh);

    qemu_bh_schedule(a.bh);
    qemu_bh_schedule(b.bh);
    qemu_bh_cancel(a.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(trace->str, ==, "b ");

    /* Deleting a scheduled BH cancels it */
    qemu_bh_schedule(a.bh);
    qemu_bh_delete(a.bh);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(a.runs, ==, 0);

    qemu_bh_delete(b.bh);
    g_string_free(trace, true);
}

/* A callback may delete another BH that is scheduled behind it */
static void bh_delete_victim_cb(void *opaque)
{
    BHLog *l = opaque;

    bh_log_cb(l);
    qemu_bh_delete(l->victim);
}

static void test_bh_delete_other_in_callback(void)
{
    GString *trace = g_string_new("");
    BHLog killer = { .trace = trace, .name = "killer" };
    BHLog victim = { .trace = trace, .name = "victim" };

    killer.bh = aio_bh_new(ctx, bh_delete_victim_cb, &killer);
    victim.bh = aio_bh_new(ctx, bh_log_cb, &victim);
    killer.victim = victim.bh;

    qemu_bh_schedule(killer.bh);
    qemu_bh_schedule(victim.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(trace->str, ==, "killer ");
    g_assert_cmpint(victim.runs, ==, 0);

    qemu_bh_delete(killer.bh);
    g_string_free(trace, true);
}

/* A BH that reschedules itself runs once per aio_poll(), not forever */
static void bh_resched_cb(void *opaque)
{
    BHLog *l = opaque;

    l->runs++;
    if (l->runs < 5) {
        qemu_bh_schedule(l->bh);
    }
}

static void test_bh_reschedule_self(void)
{
    BHLog l = { 0 };
    int polls = 0;

    l.bh = aio_bh_new(ctx, bh_resched_cb, &l);
    qemu_bh_schedule(l.bh);
    while (aio_poll(ctx, false)) {
        polls++;
        g_assert_cmpint(l.runs, ==, polls);
    }
    g_assert_cmpint(l.runs, ==, 5);
    qemu_bh_delete(l.bh);
}

/* A BH may delete itself from its own callback */
static void bh_delete_self_cb(void *opaque)
{
    BHLog *l = opaque;

    l->runs++;
    qemu_bh_delete(l->bh);
}

static void test_bh_delete_self(void)
{
    BHLog l = { 0 };

    l.bh = aio_bh_new(ctx, bh_delete_self_cb, &l);
    qemu_bh_schedule(l.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(l.runs, ==, 1);
    g_assert_false(aio_poll(ctx, false));
}

/* One-shot BHs and scheduling from other threads */

static void oneshot_count_cb(void *opaque)
{
    int *count = opaque;

    /* Only the event loop thread runs BHs, so no atomics needed */
    (*count)++;
}

static void test_oneshot(void)
{
    int count = 0;

    aio_bh_schedule_oneshot(ctx, oneshot_count_cb, &count);
    aio_bh_schedule_oneshot(ctx, oneshot_count_cb, &count);
    g_assert_cmpint(count, ==, 0);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(count, ==, 2);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(count, ==, 2);
}

typedef struct ThreadArgs {
    int per_thread;
    int delay_us;
    int *count;
    BHLog *log;
} ThreadArgs;

static gpointer oneshot_thread(gpointer opaque)
{
    ThreadArgs *a = opaque;
    int i;

    if (a->delay_us) {
        g_usleep(a->delay_us);
    }
    for (i = 0; i < a->per_thread; i++) {
        aio_bh_schedule_oneshot(ctx, oneshot_count_cb, a->count);
    }
    return NULL;
}

static void test_oneshot_other_threads(void)
{
    enum { THREADS = 4, PER_THREAD = 2000 };
    GThread *threads[THREADS];
    int count = 0;
    ThreadArgs args = { .per_thread = PER_THREAD, .count = &count };
    int i;

    for (i = 0; i < THREADS; i++) {
        threads[i] = g_thread_new("bh-test", oneshot_thread, &args);
    }
    /* Blocking polls must be woken by the other threads' scheduling */
    while (count < THREADS * PER_THREAD) {
        aio_poll(ctx, true);
    }
    for (i = 0; i < THREADS; i++) {
        g_thread_join(threads[i]);
    }
    drain_ready();
    g_assert_cmpint(count, ==, THREADS * PER_THREAD);
}

static gpointer schedule_bh_thread(gpointer opaque)
{
    ThreadArgs *a = opaque;

    g_usleep(a->delay_us);
    qemu_bh_schedule(a->log->bh);
    return NULL;
}

static void test_bh_wakes_blocking_poll(void)
{
    BHLog l = { .trace = g_string_new(""), .name = "x" };
    ThreadArgs args = { .delay_us = 30000, .log = &l };
    GThread *t;
    int64_t start;

    l.bh = aio_bh_new(ctx, bh_log_cb, &l);
    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    t = g_thread_new("bh-test", schedule_bh_thread, &args);
    /* Nothing else can make progress: only the BH ends this poll */
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(l.runs, ==, 1);
    g_assert_true(l.ran_on == g_thread_self());
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start, >=,
                    20 * SCALE_MS);
    g_thread_join(t);
    qemu_bh_delete(l.bh);
    g_string_free(l.trace, true);
}

static gpointer notify_thread(gpointer opaque)
{
    g_usleep(20000);
    aio_notify(ctx);
    return NULL;
}

static void test_notify_wakes_blocking_poll(void)
{
    GThread *t = g_thread_new("notify-test", notify_thread, NULL);

    /* Returns (without progress) once notified */
    g_assert_false(aio_poll(ctx, true));
    g_thread_join(t);

    /* A notification that came earlier also ends the next blocking poll */
    aio_notify(ctx);
    g_assert_false(aio_poll(ctx, true));
}

/* Nested aio_poll() from inside a handler */

typedef struct NestState {
    QEMUBH *outer;
    QEMUBH *inner;
    GString *trace;
} NestState;

static void nest_inner_cb(void *opaque)
{
    NestState *s = opaque;

    g_string_append(s->trace, "inner ");
}

static void nest_outer_cb(void *opaque)
{
    NestState *s = opaque;

    g_string_append(s->trace, "outer-start ");
    qemu_bh_schedule(s->inner);
    /* Like a synchronous wrapper waiting for its request */
    g_assert_true(aio_poll(ctx, true));
    g_string_append(s->trace, "outer-end ");
}

static void test_nested_poll(void)
{
    NestState s = { .trace = g_string_new("") };

    s.outer = aio_bh_new(ctx, nest_outer_cb, &s);
    s.inner = aio_bh_new(ctx, nest_inner_cb, &s);
    qemu_bh_schedule(s.outer);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(s.trace->str, ==, "outer-start inner outer-end ");
    g_assert_false(aio_poll(ctx, false));
    qemu_bh_delete(s.outer);
    qemu_bh_delete(s.inner);
    g_string_free(s.trace, true);
}

/* fd handlers */

typedef struct PipeState {
    int fds[2];
    int reads;
    int writes;
    char buf[64];
    size_t got;
    bool remove_on_read;
    bool nested_poll;
} PipeState;

static void pipe_read_cb(void *opaque)
{
    PipeState *s = opaque;
    ssize_t n;

    s->reads++;
    n = read(s->fds[0], s->buf + s->got, sizeof(s->buf) - 1 - s->got);
    g_assert_cmpint(n, >, 0);
    s->got += n;
    s->buf[s->got] = '\0';
    if (s->remove_on_read) {
        aio_set_fd_handler(ctx, s->fds[0], NULL, NULL, NULL);
    }
    if (s->nested_poll) {
        s->nested_poll = false;
        /* The handler's own fd is drained: this must not re-run us */
        aio_poll(ctx, false);
    }
}

static void pipe_write_cb(void *opaque)
{
    PipeState *s = opaque;

    s->writes++;
}

static void pipe_open(PipeState *s)
{
    g_assert_cmpint(pipe2(s->fds, O_NONBLOCK | O_CLOEXEC), ==, 0);
}

static void pipe_close(PipeState *s)
{
    aio_set_fd_handler(ctx, s->fds[0], NULL, NULL, NULL);
    aio_set_fd_handler(ctx, s->fds[1], NULL, NULL, NULL);
    close(s->fds[0]);
    close(s->fds[1]);
}

static void test_fd_handler_read(void)
{
    PipeState s = { 0 };

    pipe_open(&s);
    aio_set_fd_handler(ctx, s.fds[0], pipe_read_cb, NULL, &s);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(s.reads, ==, 0);

    g_assert_cmpint(write(s.fds[1], "hello", 5), ==, 5);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(s.reads, ==, 1);
    g_assert_cmpstr(s.buf, ==, "hello");

    /* Drained: nothing more to do */
    g_assert_false(aio_poll(ctx, false));

    /* After removal the handler is not called even with data pending */
    aio_set_fd_handler(ctx, s.fds[0], NULL, NULL, NULL);
    g_assert_cmpint(write(s.fds[1], "x", 1), ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(s.reads, ==, 1);

    /* Re-registering picks the pending data up */
    aio_set_fd_handler(ctx, s.fds[0], pipe_read_cb, NULL, &s);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(s.buf, ==, "hellox");
    pipe_close(&s);
}

static void test_fd_handler_write(void)
{
    PipeState s = { 0 };

    pipe_open(&s);
    /* An empty pipe is writable straight away */
    aio_set_fd_handler(ctx, s.fds[1], NULL, pipe_write_cb, &s);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(s.writes, ==, 1);

    /* Updating an fd's handlers replaces them */
    aio_set_fd_handler(ctx, s.fds[1], NULL, NULL, NULL);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(s.writes, ==, 1);
    pipe_close(&s);
}

static void test_fd_handler_remove_self(void)
{
    PipeState s = { .remove_on_read = true };

    pipe_open(&s);
    aio_set_fd_handler(ctx, s.fds[0], pipe_read_cb, NULL, &s);
    g_assert_cmpint(write(s.fds[1], "ab", 2), ==, 2);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(s.reads, ==, 1);

    g_assert_cmpint(write(s.fds[1], "cd", 2), ==, 2);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(s.reads, ==, 1);
    pipe_close(&s);
}

static void test_fd_handler_nested_poll(void)
{
    PipeState a = { .nested_poll = true };
    PipeState b = { 0 };

    pipe_open(&a);
    pipe_open(&b);
    aio_set_fd_handler(ctx, a.fds[0], pipe_read_cb, NULL, &a);
    aio_set_fd_handler(ctx, b.fds[0], pipe_read_cb, NULL, &b);
    g_assert_cmpint(write(a.fds[1], "A", 1), ==, 1);
    g_assert_cmpint(write(b.fds[1], "B", 1), ==, 1);

    while (drain_ready()) {
        /* nothing */
    }
    g_assert_cmpint(a.reads, ==, 1);
    g_assert_cmpint(b.reads, ==, 1);
    g_assert_cmpstr(a.buf, ==, "A");
    g_assert_cmpstr(b.buf, ==, "B");
    pipe_close(&a);
    pipe_close(&b);
}

/* Timers */

typedef struct TimerLog {
    GString *trace;
    const char *name;
    int64_t deadline_ns;
    int64_t fired_ns;
    QEMUTimer *timer;
} TimerLog;

static void timer_log_cb(void *opaque)
{
    TimerLog *l = opaque;

    l->fired_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    g_string_append_printf(l->trace, "%s ", l->name);
}

static void test_timers_order(void)
{
    GString *trace = g_string_new("");
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    /* Different scales, armed out of order */
    TimerLog l[4] = {
        { .trace = trace, .name = "t30ms", .deadline_ns = now + 30 * SCALE_MS },
        { .trace = trace, .name = "t10ms", .deadline_ns = now + 10 * SCALE_MS },
        { .trace = trace, .name = "t20ms", .deadline_ns = now + 20 * SCALE_MS },
        { .trace = trace, .name = "t5ms", .deadline_ns = now + 5 * SCALE_MS },
    };
    int i;

    l[0].timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                               timer_log_cb, &l[0]);
    l[1].timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_US,
                               timer_log_cb, &l[1]);
    l[2].timer = aio_timer_new(ctx, QEMU_CLOCK_VIRTUAL, SCALE_NS,
                               timer_log_cb, &l[2]);
    l[3].timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                               timer_log_cb, &l[3]);

    /* Round the ms deadline up so the timer cannot fire early */
    timer_mod(l[0].timer, DIV_ROUND_UP(l[0].deadline_ns, SCALE_MS));
    l[0].deadline_ns = DIV_ROUND_UP(l[0].deadline_ns, SCALE_MS) * SCALE_MS;
    timer_mod(l[1].timer, DIV_ROUND_UP(l[1].deadline_ns, SCALE_US));
    l[1].deadline_ns = DIV_ROUND_UP(l[1].deadline_ns, SCALE_US) * SCALE_US;
    timer_mod(l[2].timer, l[2].deadline_ns);
    /* Armed, then moved earlier */
    timer_mod(l[3].timer, now + 50 * SCALE_MS);
    timer_mod(l[3].timer, l[3].deadline_ns);

    for (i = 0; i < 4; i++) {
        g_assert_true(timer_pending(l[i].timer));
    }
    g_assert_false(aio_poll(ctx, false));

    while (strlen(trace->str) < strlen("t5ms t10ms t20ms t30ms ")) {
        aio_poll(ctx, true);
    }
    g_assert_cmpstr(trace->str, ==, "t5ms t10ms t20ms t30ms ");
    for (i = 0; i < 4; i++) {
        g_assert_false(timer_pending(l[i].timer));
        g_assert_cmpint(l[i].fired_ns, >=, l[i].deadline_ns);
        timer_free(l[i].timer);
    }
    g_string_free(trace, true);
}

static void test_timer_del(void)
{
    GString *trace = g_string_new("");
    TimerLog a = { .trace = trace, .name = "a" };
    TimerLog b = { .trace = trace, .name = "b" };
    int64_t now_ms = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    a.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                            timer_log_cb, &a);
    b.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                            timer_log_cb, &b);
    timer_mod(a.timer, now_ms + 5);
    timer_mod(b.timer, now_ms + 15);
    timer_del(a.timer);
    g_assert_false(timer_pending(a.timer));
    g_assert_true(timer_pending(b.timer));

    /* The only wake-up is b's: a blocking poll sleeps until then */
    while (!trace->len) {
        aio_poll(ctx, true);
    }
    g_assert_cmpstr(trace->str, ==, "b ");
    g_assert_cmpint(qemu_clock_get_ms(QEMU_CLOCK_REALTIME), >=, now_ms + 15);

    /* A deadline in the past fires on the next poll */
    timer_mod(a.timer, 0);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(trace->str, ==, "b a ");

    timer_free(a.timer);
    /* Freeing a pending timer deletes it */
    timer_mod(b.timer, now_ms);
    timer_free(b.timer);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(trace->str, ==, "b a ");
    g_string_free(trace, true);
}

/* qemu_co_sleep_ns */

typedef struct SleepState {
    int64_t ns;
    int64_t slept_ns;
    GString *trace;
    const char *name;
    bool done;
} SleepState;

static void coroutine_fn co_sleeper(void *opaque)
{
    SleepState *s = opaque;
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, s->ns);
    s->slept_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;
    g_string_append_printf(s->trace, "%s ", s->name);
    s->done = true;
}

static void test_co_sleep(void)
{
    GString *trace = g_string_new("");
    SleepState s[3] = {
        { .ns = 30 * SCALE_MS, .trace = trace, .name = "long" },
        { .ns = 5 * SCALE_MS, .trace = trace, .name = "short" },
        { .ns = 15 * SCALE_MS, .trace = trace, .name = "mid" },
    };
    int i;

    for (i = 0; i < 3; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(co_sleeper, &s[i]));
        g_assert_false(s[i].done);
    }
    AIO_WAIT_WHILE(ctx, !s[0].done || !s[1].done || !s[2].done);
    g_assert_cmpstr(trace->str, ==, "short mid long ");
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(s[i].slept_ns, >=, s[i].ns);
        /* Generous bound, the machine may be busy */
        g_assert_cmpint(s[i].slept_ns, <, s[i].ns + INT64_C(2000) * SCALE_MS);
    }
    g_string_free(trace, true);
}

/* aio_co_schedule from another thread */

typedef struct CoSchedState {
    Coroutine *co;
    int resumed;
    GThread *ran_on;
} CoSchedState;

static void coroutine_fn co_sched_target(void *opaque)
{
    CoSchedState *s = opaque;

    while (s->resumed < 2) {
        qemu_coroutine_yield();
        s->resumed++;
        s->ran_on = g_thread_self();
    }
}

static gpointer co_sched_thread(gpointer opaque)
{
    CoSchedState *s = opaque;

    g_usleep(10000);
    aio_co_schedule(ctx, s->co);
    return NULL;
}

static void test_co_schedule(void)
{
    CoSchedState s = { 0 };
    GThread *t;

    s.co = qemu_coroutine_create(co_sched_target, &s);
    qemu_coroutine_enter(s.co);

    /* Same thread: entered from aio_poll(), not on the spot */
    aio_co_schedule(ctx, s.co);
    g_assert_cmpint(s.resumed, ==, 0);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(s.resumed, ==, 1);

    t = g_thread_new("co-sched", co_sched_thread, &s);
    AIO_WAIT_WHILE(NULL, s.resumed < 2);
    g_thread_join(t);
    g_assert_cmpint(s.resumed, ==, 2);
    g_assert_true(s.ran_on == g_thread_self());
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ctx = qemu_get_aio_context();
    g_assert_true(ctx == qemu_get_aio_context());

    g_test_add_func("/aio/bh/order", test_bh_order);
    g_test_add_func("/aio/bh/cancel", test_bh_cancel);
    g_test_add_func("/aio/bh/delete-other-in-callback",
                    test_bh_delete_other_in_callback);
    g_test_add_func("/aio/bh/reschedule-self", test_bh_reschedule_self);
    g_test_add_func("/aio/bh/delete-self", test_bh_delete_self);
    g_test_add_func("/aio/bh/oneshot", test_oneshot);
    g_test_add_func("/aio/bh/oneshot-other-threads",
                    test_oneshot_other_threads);
    g_test_add_func("/aio/bh/wakes-blocking-poll",
                    test_bh_wakes_blocking_poll);
    g_test_add_func("/aio/notify", test_notify_wakes_blocking_poll);
    g_test_add_func("/aio/nested-poll", test_nested_poll);
    g_test_add_func("/aio/fd/read", test_fd_handler_read);
    g_test_add_func("/aio/fd/write", test_fd_handler_write);
    g_test_add_func("/aio/fd/remove-self", test_fd_handler_remove_self);
    g_test_add_func("/aio/fd/nested-poll", test_fd_handler_nested_poll);
    g_test_add_func("/aio/timer/order", test_timers_order);
    g_test_add_func("/aio/timer/del", test_timer_del);
    g_test_add_func("/aio/co-sleep", test_co_sleep);
    g_test_add_func("/aio/co-schedule", test_co_schedule);
    return g_test_run();
}
