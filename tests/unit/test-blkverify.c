/*
 * blkverify under concurrency: shared buffers, mirrored writes
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "sysemu/block-backend.h"
#include "qemu/aio.h"
#include "qemu/iov.h"

#define IMG_SIZE (4 * MiB)
#define REQ_SIZE (4 * KiB)
#define QUEUE_DEPTH 32

typedef struct TestImages {
    char *dir;
    char *raw;
    char *test;
} TestImages;

/* Two identical images whose contents differ from block to block */
static void make_images(TestImages *t)
{
    g_autofree uint8_t *buf = g_malloc(IMG_SIZE);
    int64_t i;

    t->dir = g_dir_make_tmp("test-blkverify-XXXXXX", NULL);
    g_assert_nonnull(t->dir);
    t->raw = g_build_filename(t->dir, "raw.img", NULL);
    t->test = g_build_filename(t->dir, "test.img", NULL);
    for (i = 0; i < IMG_SIZE; i++) {
        buf[i] = (i / REQ_SIZE) * 7 + (i % 251);
    }
    g_assert_true(g_file_set_contents(t->raw, (char *)buf, IMG_SIZE, NULL));
    g_assert_true(g_file_set_contents(t->test, (char *)buf, IMG_SIZE, NULL));
}

static void free_images(TestImages *t)
{
    unlink(t->raw);
    unlink(t->test);
    rmdir(t->dir);
    g_free(t->raw);
    g_free(t->test);
    g_free(t->dir);
}

static BlockBackend *open_blkverify(TestImages *t)
{
    QDict *opts = qdict_new();
    BlockBackend *blk;

    qdict_put_str(opts, "driver", "blkverify");
    qdict_put_str(opts, "raw.filename", t->raw);
    qdict_put_str(opts, "test.driver", "raw");
    qdict_put_str(opts, "test.file.filename", t->test);
    blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_nonnull(blk);
    return blk;
}

static void count_done(void *opaque, int ret)
{
    int *pending = opaque;

    g_assert_cmpint(ret, ==, 0);
    (*pending)--;
}

/*
 * QEMU 7.2 reports a false mismatch here: many reads of different data in
 * flight, all into the same buffer.  Comparing private copies must not.
 */
static void test_shared_buffer_reads(void)
{
    TestImages t;
    BlockBackend *blk;
    uint8_t *buf;
    QEMUIOVector qiov;
    int pending = 0;
    int round, i;

    make_images(&t);
    blk = open_blkverify(&t);
    buf = blk_blockalign(blk, REQ_SIZE);
    qemu_iovec_init_buf(&qiov, buf, REQ_SIZE);

    for (round = 0; round < 8; round++) {
        for (i = 0; i < QUEUE_DEPTH; i++) {
            int64_t offset = (int64_t)g_random_int_range(0, IMG_SIZE /
                                                         REQ_SIZE) *
                             REQ_SIZE;

            pending++;
            blk_aio_preadv(blk, offset, &qiov, 0, count_done, &pending);
        }
        while (pending) {
            aio_poll(qemu_get_aio_context(), true);
        }
    }

    qemu_vfree(buf);
    blk_unref(blk);
    free_images(&t);
}

/* The child of @bs called @name */
static BlockDriverState *child_named(BlockDriverState *bs, const char *name)
{
    BdrvChild *c;

    QLIST_FOREACH(c, &bs->children, next) {
        if (!strcmp(c->name, name)) {
            return c->bs;
        }
    }
    g_assert_not_reached();
}

/*
 * The raw copy is read straight into the caller's buffer.  A caller that
 * changes that buffer while the read is running (here: after the raw
 * side finished, while the test side is held at a blkdebug breakpoint)
 * sees no mismatch reported (the process would exit), and gets the
 * trusted data back.
 */
static void test_buffer_changed_during_read(void)
{
    TestImages t;
    QDict *opts = qdict_new();
    BlockBackend *blk;
    BlockDriverState *test_bs;
    g_autofree uint8_t *expected = g_malloc(REQ_SIZE);
    uint8_t *buf;
    QEMUIOVector qiov;
    int pending = 1;
    int fd;

    make_images(&t);
    fd = open(t.raw, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, expected, REQ_SIZE, 5 * REQ_SIZE), ==,
                    REQ_SIZE);
    close(fd);

    qdict_put_str(opts, "driver", "blkverify");
    qdict_put_str(opts, "raw.filename", t.raw);
    qdict_put_str(opts, "test.driver", "raw");
    qdict_put_str(opts, "test.file.driver", "blkdebug");
    qdict_put_str(opts, "test.file.image.filename", t.test);
    blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    test_bs = child_named(blk_bs(blk), "test");
    g_assert_cmpint(bdrv_debug_breakpoint(test_bs, "read_aio", "t"), ==, 0);

    buf = blk_blockalign(blk, REQ_SIZE);
    memset(buf, 0xff, REQ_SIZE);
    qemu_iovec_init_buf(&qiov, buf, REQ_SIZE);
    blk_aio_preadv(blk, 5 * REQ_SIZE, &qiov, 0, count_done, &pending);
    while (!bdrv_debug_is_suspended(test_bs, "t") ||
           memcmp(buf, expected, REQ_SIZE)) {
        aio_poll(qemu_get_aio_context(), true);
    }
    memset(buf, 0xee, REQ_SIZE);
    g_assert_cmpint(bdrv_debug_resume(test_bs, "t"), ==, 0);
    while (pending) {
        aio_poll(qemu_get_aio_context(), true);
    }
    g_assert_true(memcmp(buf, expected, REQ_SIZE) == 0);

    qemu_vfree(buf);
    blk_unref(blk);
    free_images(&t);
}

/*
 * Writes reach both images in the same order: concurrent overlapping
 * writes included, which blkverify serialises so that both children apply
 * them alike.
 */
static void test_mirrored_writes(void)
{
    TestImages t;
    BlockBackend *blk;
    g_autofree uint8_t *raw_data = NULL;
    g_autofree uint8_t *test_data = NULL;
    gsize raw_len, test_len;
    uint8_t *bufs[QUEUE_DEPTH];
    QEMUIOVector qiovs[QUEUE_DEPTH];
    int pending = 0;
    int i;

    make_images(&t);
    blk = open_blkverify(&t);

    for (i = 0; i < QUEUE_DEPTH; i++) {
        int64_t len = g_random_int_range(1, 64 * KiB);
        int64_t offset = g_random_int_range(0, IMG_SIZE - len);

        bufs[i] = g_malloc(len);
        memset(bufs[i], 0x40 + i, len);
        qemu_iovec_init_buf(&qiovs[i], bufs[i], len);
        pending++;
        blk_aio_pwritev(blk, offset, &qiovs[i], 0, count_done, &pending);
    }
    while (pending) {
        aio_poll(qemu_get_aio_context(), true);
    }
    blk_unref(blk);
    for (i = 0; i < QUEUE_DEPTH; i++) {
        g_free(bufs[i]);
    }

    g_assert_true(g_file_get_contents(t.raw, (char **)&raw_data, &raw_len,
                                      NULL));
    g_assert_true(g_file_get_contents(t.test, (char **)&test_data, &test_len,
                                      NULL));
    g_assert_cmpuint(raw_len, ==, IMG_SIZE);
    g_assert_cmpuint(test_len, ==, IMG_SIZE);
    g_assert_true(memcmp(raw_data, test_data, IMG_SIZE) == 0);
    free_images(&t);
}

/* Open blkverify over two children given as "driver" + optional file */
static BlockDriverState *open_flags_node(const char *raw_driver,
                                         const char *raw_file,
                                         const char *test_driver,
                                         const char *test_file)
{
    QDict *opts = qdict_new();
    BlockBackend *blk;
    BlockDriverState *bs;

    qdict_put_str(opts, "driver", "blkverify");
    qdict_put_str(opts, "raw.driver", raw_driver);
    qdict_put_str(opts, "test.driver", test_driver);
    if (raw_file) {
        qdict_put_str(opts, "raw.filename", raw_file);
    } else {
        qdict_put_str(opts, "raw.size", "4M");
    }
    if (test_file) {
        qdict_put_str(opts, "test.filename", test_file);
    } else {
        qdict_put_str(opts, "test.size", "4M");
    }
    blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_nonnull(blk);
    bs = blk_bs(blk);
    bdrv_ref(bs);
    blk_unref(blk);
    return bs;
}

/* A filter passes a flag down only if both children honour it */
static void test_flags_masked_by_both(void)
{
    BdrvRequestFlags both_file_w, both_file_z, mixed_w, mixed_z;
    BdrvRequestFlags both_null_w, both_null_z;
    BlockDriverState *bs, *file_bs, *null_bs;
    TestImages t;

    make_images(&t);

    bs = open_flags_node("file", t.raw, "file", t.test);
    file_bs = bs->file->bs;
    both_file_w = bs->supported_write_flags;
    both_file_z = bs->supported_zero_flags;
    g_assert_cmphex(both_file_w, ==, BDRV_REQ_FUA &
                    file_bs->supported_write_flags);
    g_assert_cmphex(both_file_z, ==, (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP) &
                    file_bs->supported_zero_flags);
    bdrv_unref(bs);

    bs = open_flags_node("null-co", NULL, "null-co", NULL);
    null_bs = bs->file->bs;
    both_null_w = bs->supported_write_flags;
    both_null_z = bs->supported_zero_flags;
    g_assert_cmphex(both_null_w, ==, BDRV_REQ_FUA &
                    null_bs->supported_write_flags);
    g_assert_cmphex(both_null_z, ==, (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP) &
                    null_bs->supported_zero_flags);
    bdrv_unref(bs);

    /* One child of each kind: only what both have, either way round */
    bs = open_flags_node("file", t.raw, "null-co", NULL);
    mixed_w = bs->supported_write_flags;
    mixed_z = bs->supported_zero_flags;
    bdrv_unref(bs);
    g_assert_cmphex(mixed_w, ==, both_file_w & both_null_w);
    g_assert_cmphex(mixed_z, ==, both_file_z & both_null_z);
    bs = open_flags_node("null-co", NULL, "file", t.test);
    g_assert_cmphex(bs->supported_write_flags, ==, mixed_w);
    g_assert_cmphex(bs->supported_zero_flags, ==, mixed_z);
    bdrv_unref(bs);

    /* The two kinds differ, so the test shows something */
    g_assert_true(both_file_w != both_null_w || both_file_z != both_null_z);
    free_images(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    g_test_add_func("/blkverify/shared-buffer-reads",
                    test_shared_buffer_reads);
    g_test_add_func("/blkverify/buffer-changed-during-read",
                    test_buffer_changed_during_read);
    g_test_add_func("/blkverify/mirrored-writes", test_mirrored_writes);
    g_test_add_func("/blkverify/flags-masked-by-both",
                    test_flags_masked_by_both);
    return g_test_run();
}
