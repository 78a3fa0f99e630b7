/*
 * Unit tests for the buffer helpers (compare, fill-byte check, hex dump)
 *
 * The comparisons skip equal data in steps of 4096 and 64 bytes and of
 * words, so the cases put differences at every position across those
 * boundaries and start the buffers at every misalignment.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/buffer-compare.h"

/* Larger than two coarse steps plus a ragged tail */
#define BUF_LEN (2 * 4096 + 200)
/* Room for misaligned starts */
#define BUF_SLACK 16

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
    }
}

/* The obvious byte loop, as the reference */
static size_t ref_find_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
    size_t i;

    for (i = 0; i < len && a[i] == b[i]; i++) {
        /* nothing */
    }
    return i;
}

static size_t ref_diff_run(const uint8_t *a, const uint8_t *b, size_t len)
{
    size_t i;

    for (i = 0; i < len && a[i] != b[i]; i++) {
        /* nothing */
    }
    return i;
}

static void test_find_diff_equal(void)
{
    g_autofree uint8_t *a = g_malloc(BUF_LEN);
    g_autofree uint8_t *b = g_malloc(BUF_LEN);
    size_t len;

    fill_pattern(a, BUF_LEN, 3);
    memcpy(b, a, BUF_LEN);
    for (len = 0; len <= BUF_LEN; len += (len < 200 ? 1 : 61)) {
        g_assert_cmpuint(buffer_find_diff(a, b, len), ==, len);
    }
    /* Zero length, also with pointers that must not be read */
    g_assert_cmpuint(buffer_find_diff(a, b, 0), ==, 0);
    g_assert_cmpuint(buffer_find_diff(NULL, NULL, 0), ==, 0);
    g_assert_cmpuint(buffer_diff_run(NULL, NULL, 0), ==, 0);
    g_assert_cmpuint(buffer_find_not_byte(NULL, 0, 0), ==, 0);
    g_assert_true(buffer_is_zero(NULL, 0));
}

/* One differing byte at every position, for every misalignment */
static void test_find_diff_every_position(void)
{
    g_autofree uint8_t *mem_a = g_malloc(BUF_LEN + BUF_SLACK);
    g_autofree uint8_t *mem_b = g_malloc(BUF_LEN + BUF_SLACK);
    size_t skew, pos;

    for (skew = 0; skew < 9; skew++) {
        uint8_t *a = mem_a + skew;
        uint8_t *b = mem_b + (skew * 3) % BUF_SLACK;

        fill_pattern(a, BUF_LEN, 11);
        memcpy(b, a, BUF_LEN);
        for (pos = 0; pos < BUF_LEN; pos++) {
            b[pos] ^= 0x21;
            g_assert_cmpuint(buffer_find_diff(a, b, BUF_LEN), ==, pos);
            g_assert_cmpuint(buffer_find_diff(b, a, BUF_LEN), ==, pos);
            /* A length that ends before the difference: equal */
            g_assert_cmpuint(buffer_find_diff(a, b, pos), ==, pos);
            g_assert_cmpuint(buffer_diff_run(a + pos, b + pos,
                                             BUF_LEN - pos), ==, 1);
            b[pos] ^= 0x21;
        }
    }
}

/* Two differences: the first counts, wherever the second is */
static void test_find_diff_first_wins(void)
{
    g_autofree uint8_t *a = g_malloc(BUF_LEN);
    g_autofree uint8_t *b = g_malloc(BUF_LEN);
    static const size_t first[] = { 0, 7, 63, 64, 4095, 4096, 4097, 8191 };
    size_t i;

    fill_pattern(a, BUF_LEN, 5);
    for (i = 0; i < G_N_ELEMENTS(first); i++) {
        memcpy(b, a, BUF_LEN);
        b[BUF_LEN - 1] = ~b[BUF_LEN - 1];
        b[first[i]] = ~b[first[i]];
        g_assert_cmpuint(buffer_find_diff(a, b, BUF_LEN), ==, first[i]);
    }
}

/* Runs of every length at every start, ending in an equal byte or at len */
static void test_diff_run(void)
{
    g_autofree uint8_t *mem_a = g_malloc(300 + BUF_SLACK);
    g_autofree uint8_t *mem_b = g_malloc(300 + BUF_SLACK);
    size_t skew, start, run;

    for (skew = 0; skew < 8; skew++) {
        uint8_t *a = mem_a + skew;
        uint8_t *b = mem_b + 7 - skew;

        for (start = 0; start < 24; start++) {
            for (run = 0; start + run <= 280; run++) {
                fill_pattern(a, 300, 1);
                memcpy(b, a, 300);
                memset(b + start, 0, run);
                /* Bytes that happened to be 0 already would not differ */
                memset(a + start, 0xa5, run);
                g_assert_cmpuint(buffer_diff_run(a + start, b + start,
                                                 300 - start), ==,
                                 ref_diff_run(a + start, b + start,
                                              300 - start));
                g_assert_cmpuint(buffer_diff_run(a + start, b + start,
                                                 300 - start), ==, run);
                /* A limit inside the run cuts it */
                g_assert_cmpuint(buffer_diff_run(a + start, b + start,
                                                 run / 2), ==, run / 2);
                g_assert_cmpuint(buffer_find_diff(a, b, 300), ==,
                                 run ? start : 300);
            }
        }
    }
}

/* Walking every differing run, as blkverify's report does */
static void test_walk_runs(void)
{
    g_autofree uint8_t *a = g_malloc(BUF_LEN);
    g_autofree uint8_t *b = g_malloc(BUF_LEN);
    GRand *rand = g_rand_new_with_seed(42);
    int round;

    for (round = 0; round < 50; round++) {
        size_t pos = 0, ref = 0;
        int i;

        fill_pattern(a, BUF_LEN, round);
        memcpy(b, a, BUF_LEN);
        for (i = 0; i < 20; i++) {
            size_t at = g_rand_int_range(rand, 0, BUF_LEN);
            size_t len = g_rand_int_range(rand, 1, 300);

            len = MIN(len, BUF_LEN - at);

            memset(b + at, 0x5a, len);
        }
        while (pos < BUF_LEN) {
            size_t start = buffer_find_diff(a + pos, b + pos,
                                            BUF_LEN - pos) + pos;
            size_t run;

            g_assert_cmpuint(start, ==,
                             ref + ref_find_diff(a + ref, b + ref,
                                                 BUF_LEN - ref));
            if (start == BUF_LEN) {
                break;
            }
            run = buffer_diff_run(a + start, b + start, BUF_LEN - start);
            g_assert_cmpuint(run, ==, ref_diff_run(a + start, b + start,
                                                   BUF_LEN - start));
            g_assert_cmpuint(run, >, 0);
            pos = ref = start + run;
        }
    }
    g_rand_free(rand);
}

static void test_find_not_byte(void)
{
    g_autofree uint8_t *mem = g_malloc(BUF_LEN + BUF_SLACK);
    static const uint8_t fills[] = { 0, 0x5a, 0xff };
    size_t f, skew, pos;

    for (f = 0; f < G_N_ELEMENTS(fills); f++) {
        uint8_t c = fills[f];

        for (skew = 0; skew < 9; skew++) {
            uint8_t *buf = mem + skew;

            memset(buf, c, BUF_LEN);
            g_assert_cmpuint(buffer_find_not_byte(buf, c, BUF_LEN), ==,
                             BUF_LEN);
            g_assert_cmpint(buffer_is_zero(buf, BUF_LEN), ==, c == 0);
            for (pos = 0; pos < BUF_LEN; pos += (skew ? 13 : 1)) {
                buf[pos] = c ^ 0x80;
                g_assert_cmpuint(buffer_find_not_byte(buf, c, BUF_LEN), ==,
                                 pos);
                g_assert_cmpuint(buffer_find_not_byte(buf, c, pos), ==, pos);
                g_assert_false(buffer_find_not_byte(buf, c, pos + 1) ==
                               pos + 1);
                if (c == 0) {
                    g_assert_false(buffer_is_zero(buf, BUF_LEN));
                    g_assert_true(buffer_is_zero(buf, pos));
                    g_assert_true(buffer_is_zero(buf + pos + 1,
                                                 BUF_LEN - pos - 1));
                }
                buf[pos] = c;
            }
        }
    }
}

static void test_hexdump(void)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *expect = NULL;
    uint8_t buf[20];
    size_t i;

    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = "A [%\"z9\x01\xff"[i % 9];
    }

    /* qemu-io -v: letters and digits only, no padding */
    qemu_hexdump(out, NULL, 0x1f0, buf, sizeof(buf), 0);
    g_assert_cmpstr(out->str, ==,
                    "000001f0:  41 20 5b 25 22 7a 39 01 ff 41 20 5b 25 22 "
                    "7a 39  A....z9..A....z9\n"
                    "00000200:  01 ff 41 20  ..A.\n");

    /* blkverify: printable characters, a padded short line, a prefix */
    g_string_truncate(out, 0);
    qemu_hexdump(out, "raw  ", 0, buf, 1, QEMU_HEXDUMP_PAD |
                 QEMU_HEXDUMP_PRINTABLE);
    qemu_hexdump_line(out, 0x10, buf, 9, QEMU_HEXDUMP_PRINTABLE);
    expect = g_strdup_printf("raw  00000000:  41%*sA\n"
                             "00000010:  41 20 5b 25 22 7a 39 01 ff  "
                             "A [%%\"z9..\n", 1 + 15 * 3 + 1, "");
    g_assert_cmpstr(out->str, ==, expect);

    /* Nothing for no bytes */
    g_string_truncate(out, 0);
    qemu_hexdump(out, "x", 0, buf, 0, 0);
    g_assert_cmpstr(out->str, ==, "");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/buffer/find-diff/equal", test_find_diff_equal);
    g_test_add_func("/buffer/find-diff/every-position",
                    test_find_diff_every_position);
    g_test_add_func("/buffer/find-diff/first-wins",
                    test_find_diff_first_wins);
    g_test_add_func("/buffer/diff-run", test_diff_run);
    g_test_add_func("/buffer/walk-runs", test_walk_runs);
    g_test_add_func("/buffer/find-not-byte", test_find_not_byte);
    g_test_add_func("/buffer/hexdump", test_hexdump);

    return g_test_run();
}
