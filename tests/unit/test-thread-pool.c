/*
 * Unit tests for the worker thread pool
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/aio.h"
#include "qemu/thread-pool.h"
#include "qemu/coroutine.h"

static GThread *main_thread;

/* One submission: a value in, a computed value out */

typedef struct Work {
    int in;
    bool ran_off_main;
} Work;

static int work_square(void *opaque)
{
    Work *w = opaque;

    w->ran_off_main = g_thread_self() != main_thread;
    return w->in * w->in;
}

typedef struct SubmitState {
    int start;
    int count;
    int errors;
    int *done;
} SubmitState;

static void coroutine_fn co_submit_many(void *opaque)
{
    SubmitState *s = opaque;
    int i;

    for (i = s->start; i < s->start + s->count; i++) {
        Work w = { .in = i };
        int ret = thread_pool_submit_co(work_square, &w);

        if (ret != i * i || !w.ran_off_main) {
            s->errors++;
        }
        /* Resumed on the event loop thread */
        g_assert_true(g_thread_self() == main_thread);
        g_assert_true(qemu_in_coroutine());
    }
    (*s->done)++;
}

static void test_single(void)
{
    int done = 0;
    SubmitState s = { .start = 7, .count = 1, .done = &done };

    qemu_coroutine_enter(qemu_coroutine_create(co_submit_many, &s));
    /* Not finished before the event loop hands the result back */
    g_assert_cmpint(done, ==, 0);
    AIO_WAIT_WHILE(NULL, done < 1);
    g_assert_cmpint(s.errors, ==, 0);
    g_assert_cmpint(thread_pool_worker_count(), >=, 1);
}

static void test_many_coroutines(void)
{
    enum { COROUTINES = 200, PER_COROUTINE = 25 };
    SubmitState *s = g_new0(SubmitState, COROUTINES);
    int done = 0;
    int i;

    for (i = 0; i < COROUTINES; i++) {
        s[i] = (SubmitState) {
            .start = i * PER_COROUTINE,
            .count = PER_COROUTINE,
            .done = &done,
        };
        qemu_coroutine_enter(qemu_coroutine_create(co_submit_many, &s[i]));
    }
    AIO_WAIT_WHILE(NULL, done < COROUTINES);
    for (i = 0; i < COROUTINES; i++) {
        g_assert_cmpint(s[i].errors, ==, 0);
    }
    g_assert_cmpint(thread_pool_worker_count(), <=, 64);
    g_free(s);
}

/* Negative return values come back unchanged */

static int work_fail(void *opaque)
{
    return -GPOINTER_TO_INT(opaque);
}

static void coroutine_fn co_fail(void *opaque)
{
    int *ret = opaque;

    *ret = thread_pool_submit_co(work_fail, GINT_TO_POINTER(EIO));
}

static void test_error_value(void)
{
    int ret = 1;

    qemu_coroutine_enter(qemu_coroutine_create(co_fail, &ret));
    AIO_WAIT_WHILE(NULL, ret == 1);
    g_assert_cmpint(ret, ==, -EIO);
}

/* Blocking work: at most 64 run at once, and many do run in parallel */

static int running;
static int max_running;

static int work_block(void *opaque)
{
    int now = __atomic_add_fetch(&running, 1, __ATOMIC_SEQ_CST);
    int max = __atomic_load_n(&max_running, __ATOMIC_SEQ_CST);

    while (now > max &&
           !__atomic_compare_exchange_n(&max_running, &max, now, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        /* max was reloaded by the failed exchange */
    }
    g_usleep(GPOINTER_TO_INT(opaque));
    __atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
    return 1;
}

typedef struct BlockState {
    int *done;
    int *sum;
    int max_workers_seen;
} BlockState;

static void coroutine_fn co_block(void *opaque)
{
    BlockState *s = opaque;

    *s->sum += thread_pool_submit_co(work_block, GINT_TO_POINTER(20000));
    s->max_workers_seen = MAX(s->max_workers_seen,
                              thread_pool_worker_count());
    (*s->done)++;
}

static void test_worker_bound(void)
{
    enum { N = 300 };
    BlockState *s = g_new0(BlockState, N);
    int done = 0, sum = 0;
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t elapsed;
    int i;

    running = 0;
    max_running = 0;
    for (i = 0; i < N; i++) {
        s[i] = (BlockState) { .done = &done, .sum = &sum };
        qemu_coroutine_enter(qemu_coroutine_create(co_block, &s[i]));
        g_assert_cmpint(thread_pool_worker_count(), <=, 64);
    }
    AIO_WAIT_WHILE(NULL, done < N);
    elapsed = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;

    g_assert_cmpint(sum, ==, N);
    g_assert_cmpint(running, ==, 0);
    g_assert_cmpint(max_running, <=, 64);
    /* Sleeping work overlaps even on a small machine */
    g_assert_cmpint(max_running, >, 8);
    for (i = 0; i < N; i++) {
        g_assert_cmpint(s[i].max_workers_seen, <=, 64);
        g_assert_cmpint(s[i].max_workers_seen, >=, 1);
    }
    g_assert_cmpint(thread_pool_worker_count(), <=, 64);
    /* 300 x 20 ms serially would be 6 s */
    g_assert_cmpint(elapsed, <, INT64_C(3000) * SCALE_MS);
    g_test_message("300 x 20 ms sleeps took %" PRId64 " ms, max %d in parallel",
                   elapsed / SCALE_MS, max_running);
    g_free(s);
}

/* Queue depth 32 of 4 KiB preads, as file-posix with aio=threads does */

#define PREAD_FILE_SIZE (4 * MiB)
#define PREAD_SIZE 4096
#define PREAD_DEPTH 32
#define PREAD_PER_CO 300

typedef struct PreadReq {
    int fd;
    void *buf;
    int64_t offset;
} PreadReq;

static int work_pread(void *opaque)
{
    PreadReq *r = opaque;
    ssize_t ret = pread(r->fd, r->buf, PREAD_SIZE, r->offset);

    return ret < 0 ? -errno : (int)ret;
}

typedef struct PreadState {
    int fd;
    int id;
    int errors;
    int *done;
} PreadState;

static void coroutine_fn co_pread(void *opaque)
{
    PreadState *s = opaque;
    uint32_t *buf = g_malloc(PREAD_SIZE);
    int i;

    for (i = 0; i < PREAD_PER_CO; i++) {
        int64_t block = (s->id * 7919 + i * 104729) %
                        (PREAD_FILE_SIZE / PREAD_SIZE);
        PreadReq r = { .fd = s->fd, .buf = buf,
                       .offset = block * PREAD_SIZE };
        int ret = thread_pool_submit_co(work_pread, &r);

        /* The file holds each 32-bit word's own index */
        if (ret != PREAD_SIZE ||
            buf[0] != (uint32_t)(r.offset / 4) ||
            buf[PREAD_SIZE / 4 - 1] != (uint32_t)(r.offset / 4 +
                                                  PREAD_SIZE / 4 - 1)) {
            s->errors++;
        }
    }
    g_free(buf);
    (*s->done)++;
}

static void test_pread_qd32(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-thread-pool-XXXXXX", NULL);
    g_autofree char *path = NULL;
    g_autofree uint32_t *data = g_new(uint32_t, PREAD_FILE_SIZE / 4);
    PreadState s[PREAD_DEPTH];
    int done = 0;
    int64_t start, elapsed;
    int fd, i;

    g_assert_nonnull(dir);
    path = g_build_filename(dir, "image", NULL);
    for (i = 0; i < PREAD_FILE_SIZE / 4; i++) {
        data[i] = i;
    }
    g_assert_true(g_file_set_contents(path, (const char *)data,
                                      PREAD_FILE_SIZE, NULL));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);

    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    for (i = 0; i < PREAD_DEPTH; i++) {
        s[i] = (PreadState) { .fd = fd, .id = i, .done = &done };
        qemu_coroutine_enter(qemu_coroutine_create(co_pread, &s[i]));
    }
    AIO_WAIT_WHILE(NULL, done < PREAD_DEPTH);
    elapsed = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;

    for (i = 0; i < PREAD_DEPTH; i++) {
        g_assert_cmpint(s[i].errors, ==, 0);
    }
    g_test_message("%d preads of 4 KiB at depth %d: %" PRId64 " ms, "
                   "%.0f IOPS", PREAD_DEPTH * PREAD_PER_CO, PREAD_DEPTH,
                   elapsed / SCALE_MS,
                   PREAD_DEPTH * PREAD_PER_CO * 1e9 / MAX(elapsed, 1));

    close(fd);
    g_assert_cmpint(unlink(path), ==, 0);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    main_thread = g_thread_self();
    qemu_get_aio_context();

    g_assert_cmpint(thread_pool_worker_count(), ==, 0);

    g_test_add_func("/thread-pool/single", test_single);
    g_test_add_func("/thread-pool/many-coroutines", test_many_coroutines);
    g_test_add_func("/thread-pool/error-value", test_error_value);
    g_test_add_func("/thread-pool/worker-bound", test_worker_bound);
    g_test_add_func("/thread-pool/pread-qd32", test_pread_qd32);
    return g_test_run();
}
