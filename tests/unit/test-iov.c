/*
 * Unit tests for I/O vectors (iov_* helpers and QEMUIOVector)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/iov.h"

static void fill_pattern(unsigned char *buf, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (unsigned char)(seed + i * 7 + (i >> 8));
    }
}

/* Raw iovec helpers across element boundaries */

static void test_iov_helpers(void)
{
    unsigned char a[3], b[5], c[2];
    struct iovec iov[] = {
        { a, sizeof(a) }, { b, sizeof(b) }, { NULL, 0 }, { c, sizeof(c) },
    };
    unsigned char src[10], dst[10];
    size_t n;

    fill_pattern(src, sizeof(src), 1);
    g_assert_cmpuint(iov_size(iov, 4), ==, 10);
    g_assert_cmpuint(iov_size(iov, 0), ==, 0);

    n = iov_from_buf(iov, 4, 0, src, sizeof(src));
    g_assert_cmpuint(n, ==, 10);
    g_assert_cmpmem(a, 3, src, 3);
    g_assert_cmpmem(b, 5, src + 3, 5);
    g_assert_cmpmem(c, 2, src + 8, 2);

    /* From an offset in the middle of the second element */
    memset(dst, 0, sizeof(dst));
    n = iov_to_buf(iov, 4, 4, dst, 100);
    g_assert_cmpuint(n, ==, 6);
    g_assert_cmpmem(dst, 6, src + 4, 6);

    /* Offset beyond the end copies nothing */
    g_assert_cmpuint(iov_to_buf(iov, 4, 10, dst, 5), ==, 0);
    g_assert_cmpuint(iov_from_buf(iov, 4, 11, src, 5), ==, 0);

    /* Partial copies stop at @bytes */
    n = iov_from_buf(iov, 4, 2, "XYZ", 3);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpint(a[2], ==, 'X');
    g_assert_cmpint(b[0], ==, 'Y');
    g_assert_cmpint(b[1], ==, 'Z');
    g_assert_cmpint(b[2], ==, src[5]);

    n = iov_memset(iov, 4, 7, 0xaa, 100);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpint(b[4], ==, 0xaa);
    g_assert_cmpint(c[0], ==, 0xaa);
    g_assert_cmpint(c[1], ==, 0xaa);
    g_assert_cmpint(b[3], ==, src[6]);
}

/* QEMUIOVector construction */

static void test_qiov_add_grow(void)
{
    QEMUIOVector qiov;
    char buf[100];
    int i;

    qemu_iovec_init(&qiov, 1);
    for (i = 0; i < 50; i++) {
        qemu_iovec_add(&qiov, buf + i * 2, 2);
    }
    g_assert_cmpint(qiov.niov, ==, 50);
    g_assert_cmpuint(qiov.size, ==, 100);
    g_assert_true(qiov.iov[49].iov_base == buf + 98);

    qemu_iovec_reset(&qiov);
    g_assert_cmpint(qiov.niov, ==, 0);
    g_assert_cmpuint(qiov.size, ==, 0);
    qemu_iovec_add(&qiov, buf, 10);
    g_assert_cmpuint(qiov.size, ==, 10);
    qemu_iovec_destroy(&qiov);

    /* A zero hint works too */
    qemu_iovec_init(&qiov, 0);
    qemu_iovec_add(&qiov, buf, 1);
    g_assert_cmpint(qiov.niov, ==, 1);
    qemu_iovec_destroy(&qiov);
}

static void test_qiov_buf(void)
{
    QEMUIOVector qiov;
    char out[10];

    qemu_iovec_init_buf(&qiov, out, sizeof(out));
    g_assert_cmpint(qiov.niov, ==, 1);
    g_assert_cmpuint(qiov.size, ==, 10);
    g_assert_true(qemu_iovec_buf(&qiov) == out);
    qemu_iovec_memset(&qiov, 0, 'z', 10);
    g_assert_cmpint(out[9], ==, 'z');
    /* Destroying a single-buffer vector is harmless */
    qemu_iovec_destroy(&qiov);
}

static void test_qiov_slice_concat(void)
{
    unsigned char a[8], b[8], c[8];
    unsigned char pattern[24], out[24];
    QEMUIOVector src, slice, dst;

    fill_pattern(pattern, sizeof(pattern), 3);
    qemu_iovec_init(&src, 3);
    qemu_iovec_add(&src, a, 8);
    qemu_iovec_add(&src, b, 8);
    qemu_iovec_add(&src, c, 8);
    qemu_iovec_from_buf(&src, 0, pattern, 24);

    /* Slice crossing two boundaries references the same memory */
    qemu_iovec_init_slice(&slice, &src, 5, 14);
    g_assert_cmpuint(slice.size, ==, 14);
    g_assert_cmpint(slice.niov, ==, 3);
    g_assert_true(slice.iov[0].iov_base == a + 5);
    g_assert_cmpuint(slice.iov[0].iov_len, ==, 3);
    g_assert_cmpuint(slice.iov[2].iov_len, ==, 3);
    qemu_iovec_to_buf(&slice, 0, out, 14);
    g_assert_cmpmem(out, 14, pattern + 5, 14);
    qemu_iovec_destroy(&slice);

    /* Empty slice at the end */
    qemu_iovec_init_slice(&slice, &src, 24, 0);
    g_assert_cmpuint(slice.size, ==, 0);
    qemu_iovec_destroy(&slice);

    qemu_iovec_init(&dst, 1);
    qemu_iovec_concat(&dst, &src, 8, 8);
    qemu_iovec_concat(&dst, &src, 0, 4);
    g_assert_cmpuint(dst.size, ==, 12);
    qemu_iovec_to_buf(&dst, 0, out, 12);
    g_assert_cmpmem(out, 8, pattern + 8, 8);
    g_assert_cmpmem(out + 8, 4, pattern, 4);
    qemu_iovec_destroy(&dst);
    qemu_iovec_destroy(&src);
}

/* A difference found in every element of a vector, at every place */
static void test_qiov_find_diff_buf(void)
{
    uint8_t a[300], b[300];
    QEMUIOVector qiov;
    size_t pos;

    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    qemu_iovec_init(&qiov, 3);
    qemu_iovec_add(&qiov, a, 1);
    qemu_iovec_add(&qiov, a + 1, 150);
    qemu_iovec_add(&qiov, a + 151, 149);
    g_assert_cmpuint(qemu_iovec_find_diff_buf(&qiov, b, 300), ==, 300);
    g_assert_cmpuint(qemu_iovec_find_diff_buf(&qiov, b, 0), ==, 0);
    for (pos = 0; pos < sizeof(b); pos++) {
        b[pos] ^= 1;
        g_assert_cmpuint(qemu_iovec_find_diff_buf(&qiov, b, 300), ==, pos);
        /* A shorter compare stops before the difference */
        g_assert_cmpuint(qemu_iovec_find_diff_buf(&qiov, b, pos), ==, pos);
        b[pos] ^= 1;
    }
    qemu_iovec_destroy(&qiov);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/iov/helpers", test_iov_helpers);
    g_test_add_func("/iov/qiov-add-grow", test_qiov_add_grow);
    g_test_add_func("/iov/qiov-buf", test_qiov_buf);
    g_test_add_func("/iov/qiov-slice-concat", test_qiov_slice_concat);
    g_test_add_func("/iov/qiov-find-diff-buf", test_qiov_find_diff_buf);

    return g_test_run();
}
