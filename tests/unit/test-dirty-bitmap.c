/*
 * Dirty bitmaps: bit ranges, clearing, dirty areas, merging across
 * granularities, resizing, the serialised (qcow2) bit order, and the
 * write hook of a node
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "sysemu/block-backend.h"

#define IMG_SIZE (1 * MiB)

static BlockBackend *open_null(void)
{
    QDict *opts = qdict_new();
    BlockBackend *blk;

    qdict_put_str(opts, "driver", "null-co");
    qdict_put_int(opts, "size", IMG_SIZE);
    blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_nonnull(blk);
    return blk;
}

static void test_ranges(void)
{
    BlockBackend *blk = open_null();
    BdrvDirtyBitmap *bm;
    int64_t off, bytes;

    bm = bdrv_create_dirty_bitmap(blk_bs(blk), 64 * KiB, "a", &error_abort);
    g_assert_cmpuint(bdrv_dirty_bitmap_nb_bits(bm), ==, 16);
    g_assert_null(bdrv_create_dirty_bitmap(blk_bs(blk), 512, "a", NULL));

    /* One byte dirties its whole granule; a range every granule it hits */
    bdrv_set_dirty_bitmap(bm, 70 * KiB, 1);
    bdrv_set_dirty_bitmap(bm, 255 * KiB, 2 * KiB);
    g_assert_false(bdrv_dirty_bitmap_get(bm, 0));
    g_assert_true(bdrv_dirty_bitmap_get(bm, 64 * KiB));
    g_assert_true(bdrv_dirty_bitmap_get(bm, 200 * KiB));
    g_assert_true(bdrv_dirty_bitmap_get(bm, 256 * KiB));
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, 3 * 64 * KiB);

    off = 0;
    g_assert_true(bdrv_dirty_bitmap_next_dirty_area(bm, IMG_SIZE, &off,
                                                    &bytes));
    g_assert_cmpint(off, ==, 64 * KiB);
    g_assert_cmpint(bytes, ==, 64 * KiB);
    off += bytes;
    g_assert_true(bdrv_dirty_bitmap_next_dirty_area(bm, IMG_SIZE, &off,
                                                    &bytes));
    g_assert_cmpint(off, ==, 192 * KiB);
    g_assert_cmpint(bytes, ==, 128 * KiB);
    off += bytes;
    g_assert_false(bdrv_dirty_bitmap_next_dirty_area(bm, IMG_SIZE, &off,
                                                     &bytes));

    /* Clearing part of a granule keeps it dirty */
    bdrv_reset_dirty_bitmap(bm, 192 * KiB, 100 * KiB);
    g_assert_false(bdrv_dirty_bitmap_get(bm, 192 * KiB));
    g_assert_true(bdrv_dirty_bitmap_get(bm, 256 * KiB));
    bdrv_clear_dirty_bitmap(bm);
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, 0);
    blk_unref(blk);
}

static void test_merge_and_serialize(void)
{
    BlockBackend *blk = open_null();
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *fine, *coarse;
    uint8_t buf[4];

    fine = bdrv_create_dirty_bitmap(bs, 4 * KiB, "fine", &error_abort);
    coarse = bdrv_create_dirty_bitmap(bs, 64 * KiB, "coarse",
                                      &error_abort);
    bdrv_set_dirty_bitmap(fine, 0, 1);
    bdrv_set_dirty_bitmap(fine, 9 * 4 * KiB, 4 * KiB);
    g_assert_true(bdrv_merge_dirty_bitmap(coarse, fine, &error_abort));
    g_assert_cmpuint(bdrv_get_dirty_count(coarse), ==, 64 * KiB);
    g_assert_true(bdrv_merge_dirty_bitmap(fine, coarse, &error_abort));
    g_assert_cmpuint(bdrv_get_dirty_count(fine), ==, 64 * KiB);

    /* Granule i is bit i % 8 of byte i / 8 */
    bdrv_clear_dirty_bitmap(fine);
    bdrv_set_dirty_bitmap(fine, 1 * 4 * KiB, 1);
    bdrv_set_dirty_bitmap(fine, 10 * 4 * KiB, 1);
    bdrv_dirty_bitmap_serialize(fine, buf, 0, sizeof(buf));
    g_assert_cmphex(buf[0], ==, 0x02);
    g_assert_cmphex(buf[1], ==, 0x04);
    g_assert_cmphex(buf[2], ==, 0);
    buf[0] = 0x81;
    bdrv_dirty_bitmap_deserialize(fine, buf, 0, 1);
    g_assert_true(bdrv_dirty_bitmap_get(fine, 7 * 4 * KiB));
    g_assert_false(bdrv_dirty_bitmap_get(fine, 1 * 4 * KiB));

    /* Shrinking drops bits, growing adds clean ones; sizes must match */
    bdrv_dirty_bitmap_truncate(fine, 16 * KiB);
    g_assert_false(bdrv_merge_dirty_bitmap(coarse, fine, NULL));
    bdrv_dirty_bitmap_truncate(fine, IMG_SIZE);
    g_assert_false(bdrv_dirty_bitmap_get(fine, 7 * 4 * KiB));
    g_assert_true(bdrv_dirty_bitmap_get(fine, 0));
    blk_unref(blk);
}

static void test_write_hook(void)
{
    BlockBackend *blk = open_null();
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *on, *off;
    g_autofree uint8_t *buf = g_malloc0(4 * KiB);

    on = bdrv_create_dirty_bitmap(bs, 64 * KiB, "on", &error_abort);
    off = bdrv_create_dirty_bitmap(bs, 64 * KiB, "off", &error_abort);
    bdrv_disable_dirty_bitmap(off);
    g_assert_cmpint(blk_pwrite(blk, 128 * KiB, 4 * KiB, buf, 0), >=, 0);
    g_assert_cmpint(blk_pwrite_zeroes(blk, 512 * KiB, 4 * KiB, 0), >=, 0);
    g_assert_true(bdrv_dirty_bitmap_get(on, 128 * KiB));
    g_assert_true(bdrv_dirty_bitmap_get(on, 512 * KiB));
    g_assert_cmpuint(bdrv_get_dirty_count(on), ==, 2 * 64 * KiB);
    g_assert_cmpuint(bdrv_get_dirty_count(off), ==, 0);
    blk_unref(blk);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-bitmap/ranges", test_ranges);
    g_test_add_func("/dirty-bitmap/merge-serialize",
                    test_merge_and_serialize);
    g_test_add_func("/dirty-bitmap/write-hook", test_write_hook);
    return g_test_run();
}
