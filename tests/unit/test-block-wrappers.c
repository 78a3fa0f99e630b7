/*
 * The generated synchronous wrappers (scripts/block-coroutine-wrapper.py):
 * arguments and results get through, co_wrapper_mixed calls directly
 * inside a coroutine, and a strict co_wrapper refuses to run in one.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "sysemu/block-backend.h"
#include "qemu/aio.h"

#define IMG_SIZE (64 * KiB)

typedef struct TestImage {
    char *dir;
    char *path;
    BlockBackend *blk;
} TestImage;

static void open_image(TestImage *t)
{
    g_autofree uint8_t *zero = g_malloc0(IMG_SIZE);
    QDict *opts = qdict_new();

    t->dir = g_dir_make_tmp("test-block-wrappers-XXXXXX", NULL);
    g_assert_nonnull(t->dir);
    t->path = g_build_filename(t->dir, "t.raw", NULL);
    g_assert_true(g_file_set_contents(t->path, (char *)zero, IMG_SIZE,
                                      NULL));
    qdict_put_str(opts, "driver", "file");
    qdict_put_str(opts, "filename", t->path);
    t->blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_nonnull(t->blk);
}

static void close_image(TestImage *t)
{
    blk_unref(t->blk);
    unlink(t->path);
    rmdir(t->dir);
    g_free(t->path);
    g_free(t->dir);
}

/* Outside a coroutine: data, results and out-parameters get through */
static void test_sync(void)
{
    TestImage t;
    uint8_t wbuf[4096], rbuf[4096];
    int64_t pnum = -1;
    int ret;

    open_image(&t);
    memset(wbuf, 0xa5, sizeof(wbuf));
    g_assert_cmpint(blk_pwrite(t.blk, 8192, sizeof(wbuf), wbuf, 0), ==, 0);
    memset(rbuf, 0, sizeof(rbuf));
    g_assert_cmpint(blk_pread(t.blk, 8192, sizeof(rbuf), rbuf, 0), ==, 0);
    g_assert_cmpmem(rbuf, sizeof(rbuf), wbuf, sizeof(wbuf));
    memset(rbuf, 0, sizeof(rbuf));
    g_assert_cmpint(bdrv_pread(blk_root(t.blk), 8192, sizeof(rbuf), rbuf, 0),
                    ==, 0);
    g_assert_cmpmem(rbuf, sizeof(rbuf), wbuf, sizeof(wbuf));

    /* The hand-written special case in the coroutine version */
    g_assert_cmpint(blk_pread(t.blk, 0, -1, rbuf, 0), ==, -EINVAL);
    /* An error from the request itself */
    g_assert_cmpint(blk_pread(t.blk, IMG_SIZE, 512, rbuf, 0), ==, -EIO);

    ret = bdrv_block_status(blk_bs(t.blk), 0, IMG_SIZE, &pnum, NULL, NULL);
    g_assert_cmpint(ret, >=, 0);
    g_assert_cmpint(pnum, >, 0);
    g_assert_cmpint(pnum, <=, IMG_SIZE);
    close_image(&t);
}

typedef struct MixedState {
    TestImage *t;
    int ret;
    bool done;
} MixedState;

static void coroutine_fn co_mixed(void *opaque)
{
    MixedState *s = opaque;
    uint8_t buf[512];

    /* A direct call of bdrv_co_pread(), no nested event loop */
    s->ret = bdrv_pread(blk_root(s->t->blk), 8192, sizeof(buf), buf, 0);
    if (s->ret == 0) {
        s->ret = buf[0] == 0x5a ? 0 : -EILSEQ;
    }
    s->done = true;
}

/* Inside a coroutine, co_wrapper_mixed is a plain call */
static void test_mixed_in_coroutine(void)
{
    TestImage t;
    MixedState s = { .t = &t };
    uint8_t buf[512];

    open_image(&t);
    memset(buf, 0x5a, sizeof(buf));
    g_assert_cmpint(blk_pwrite(t.blk, 8192, sizeof(buf), buf, 0), ==, 0);
    qemu_coroutine_enter(qemu_coroutine_create(co_mixed, &s));
    AIO_WAIT_WHILE(NULL, !s.done);
    g_assert_cmpint(s.ret, ==, 0);
    close_image(&t);
}

/*
 * Deliberately not coroutine_fn: the coroutine check would reject this
 * call at compile time, and here we want to see the run-time guard.
 */
static void co_strict(void *opaque)
{
    TestImage *t = opaque;
    uint8_t buf[512];

    blk_pread(t->blk, 0, sizeof(buf), buf, 0);
}

/* Inside a coroutine, a strict co_wrapper asserts */
static void test_strict_in_coroutine(void)
{
    if (g_test_subprocess()) {
        TestImage t;

        open_image(&t);
        qemu_coroutine_enter(qemu_coroutine_create(co_strict, &t));
        close_image(&t);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*qemu_in_coroutine*");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    g_test_add_func("/block-wrappers/sync", test_sync);
    g_test_add_func("/block-wrappers/mixed-in-coroutine",
                    test_mixed_in_coroutine);
    g_test_add_func("/block-wrappers/strict-in-coroutine",
                    test_strict_in_coroutine);
    return g_test_run();
}
