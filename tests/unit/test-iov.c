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

static void test_qiov_external_and_buf(void)
{
    char a[4], b[6];
    struct iovec iov[] = { { a, 4 }, { b, 6 } };
    QEMUIOVector qiov;
    char data[10] = "0123456789";
    char out[10];

    qemu_iovec_init_external(&qiov, iov, 2);
    g_assert_cmpuint(qiov.size, ==, 10);
    g_assert_true(qiov.iov == iov);
    g_assert_cmpuint(qemu_iovec_from_buf(&qiov, 0, data, 10), ==, 10);
    g_assert_cmpmem(a, 4, "0123", 4);
    g_assert_cmpmem(b, 6, "456789", 6);

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

static void test_qiov_is_zero(void)
{
    unsigned char a[16] = { 0 }, b[16] = { 0 };
    QEMUIOVector qiov;

    qemu_iovec_init(&qiov, 2);
    qemu_iovec_add(&qiov, a, 16);
    qemu_iovec_add(&qiov, b, 16);
    g_assert_true(qemu_iovec_is_zero(&qiov, 0, 32));
    b[3] = 1;
    g_assert_false(qemu_iovec_is_zero(&qiov, 0, 32));
    g_assert_false(qemu_iovec_is_zero(&qiov, 16, 4));
    g_assert_true(qemu_iovec_is_zero(&qiov, 0, 19));
    g_assert_true(qemu_iovec_is_zero(&qiov, 20, 12));
    g_assert_true(qemu_iovec_is_zero(&qiov, 32, 0));
    qemu_iovec_destroy(&qiov);
}

/* Compare reports the first differing byte across differently split vectors */

static void test_qiov_compare(void)
{
    unsigned char data[64], x[64];
    QEMUIOVector a, b;
    int i;

    fill_pattern(data, sizeof(data), 9);
    memcpy(x, data, sizeof(x));

    qemu_iovec_init(&a, 4);
    qemu_iovec_add(&a, data, 10);
    qemu_iovec_add(&a, data + 10, 0);
    qemu_iovec_add(&a, data + 10, 54);
    qemu_iovec_init(&b, 8);
    for (i = 0; i < 64; i += 8) {
        qemu_iovec_add(&b, x + i, 8);
    }
    g_assert_cmpint(qemu_iovec_compare(&a, &b), ==, -1);

    for (i = 0; i < 64; i++) {
        x[i] ^= 0x40;
        g_assert_cmpint(qemu_iovec_compare(&a, &b), ==, i);
        g_assert_cmpint(qemu_iovec_compare(&b, &a), ==, i);
        x[i] ^= 0x40;
    }

    /* Two differences: the first one counts */
    x[40] = ~x[40];
    x[17] = ~x[17];
    g_assert_cmpint(qemu_iovec_compare(&a, &b), ==, 17);

    qemu_iovec_destroy(&a);
    qemu_iovec_destroy(&b);

    /* Empty vectors are equal */
    qemu_iovec_init(&a, 0);
    qemu_iovec_init(&b, 0);
    g_assert_cmpint(qemu_iovec_compare(&a, &b), ==, -1);
    qemu_iovec_destroy(&a);
    qemu_iovec_destroy(&b);
}

/*
 * Clone checks: simulate a read of @len pattern bytes into @src and into
 * its clone; every element must then read back identically, which only
 * holds if overlaps were reproduced.
 */
static void check_clone(QEMUIOVector *src, size_t max_buf_used)
{
    QEMUIOVector dest;
    unsigned char *buf = g_malloc0(src->size + 1);
    unsigned char *data = g_malloc(src->size);
    unsigned char *out_src = g_malloc(src->size);
    unsigned char *out_dest = g_malloc(src->size);
    int i;

    qemu_iovec_init(&dest, src->niov);
    qemu_iovec_clone(&dest, src, buf);
    g_assert_cmpint(dest.niov, ==, src->niov);
    g_assert_cmpuint(dest.size, ==, src->size);

    for (i = 0; i < dest.niov; i++) {
        unsigned char *base = dest.iov[i].iov_base;

        g_assert_cmpuint(dest.iov[i].iov_len, ==, src->iov[i].iov_len);
        g_assert_true(base >= buf);
        g_assert_true(base + dest.iov[i].iov_len <= buf + max_buf_used);
    }

    fill_pattern(data, src->size, 77);
    qemu_iovec_from_buf(src, 0, data, src->size);
    qemu_iovec_from_buf(&dest, 0, data, src->size);
    qemu_iovec_to_buf(src, 0, out_src, src->size);
    qemu_iovec_to_buf(&dest, 0, out_dest, src->size);
    g_assert_cmpmem(out_src, src->size, out_dest, src->size);
    g_assert_cmpint(qemu_iovec_compare(src, &dest), ==, -1);
    /* The byte past the used area was never touched */
    g_assert_cmpint(buf[max_buf_used < src->size ? max_buf_used : src->size],
                    ==, 0);

    qemu_iovec_destroy(&dest);
    g_free(buf);
    g_free(data);
    g_free(out_src);
    g_free(out_dest);
}

static void test_clone_disjoint(void)
{
    unsigned char mem[64];
    QEMUIOVector src;

    /* Out of address order, with a gap and a zero-length element */
    qemu_iovec_init(&src, 4);
    qemu_iovec_add(&src, mem + 40, 8);
    qemu_iovec_add(&src, mem, 10);
    qemu_iovec_add(&src, mem + 20, 0);
    qemu_iovec_add(&src, mem + 10, 6);
    check_clone(&src, 24);
    qemu_iovec_destroy(&src);
}

static void test_clone_same_buffer_twice(void)
{
    unsigned char mem[16];
    QEMUIOVector src, dest;
    unsigned char buf[32];

    qemu_iovec_init(&src, 2);
    qemu_iovec_add(&src, mem, 16);
    qemu_iovec_add(&src, mem, 16);
    check_clone(&src, 16);

    /* Both clone elements point at the same 16 bytes */
    qemu_iovec_init(&dest, 2);
    qemu_iovec_clone(&dest, &src, buf);
    g_assert_true(dest.iov[0].iov_base == dest.iov[1].iov_base);
    qemu_iovec_destroy(&dest);
    qemu_iovec_destroy(&src);
}

static void test_clone_partial_overlap(void)
{
    unsigned char mem[64];
    QEMUIOVector src, dest;
    unsigned char buf[64];

    /*
     * [10,30) and [20,40) overlap, [38,45) overlaps the second, [50,54)
     * stands alone: runs are [10,45) and [50,54), 39 bytes in all.
     */
    qemu_iovec_init(&src, 4);
    qemu_iovec_add(&src, mem + 20, 20);
    qemu_iovec_add(&src, mem + 50, 4);
    qemu_iovec_add(&src, mem + 10, 20);
    qemu_iovec_add(&src, mem + 38, 7);
    check_clone(&src, 39);

    qemu_iovec_init(&dest, 4);
    qemu_iovec_clone(&dest, &src, buf);
    g_assert_true((unsigned char *)dest.iov[2].iov_base == buf);
    g_assert_true((unsigned char *)dest.iov[0].iov_base == buf + 10);
    g_assert_true((unsigned char *)dest.iov[3].iov_base == buf + 28);
    g_assert_true((unsigned char *)dest.iov[1].iov_base == buf + 35);
    qemu_iovec_destroy(&dest);
    qemu_iovec_destroy(&src);
}

static void test_clone_contained(void)
{
    unsigned char mem[32];
    QEMUIOVector src;

    /* The second element lies inside the first */
    qemu_iovec_init(&src, 3);
    qemu_iovec_add(&src, mem, 32);
    qemu_iovec_add(&src, mem + 8, 4);
    qemu_iovec_add(&src, mem + 31, 1);
    check_clone(&src, 32);
    qemu_iovec_destroy(&src);
}

static void test_clone_random(void)
{
    GRand *rand = g_rand_new_with_seed(1234);
    unsigned char mem[256];
    int round;

    for (round = 0; round < 200; round++) {
        QEMUIOVector src;
        int n = g_rand_int_range(rand, 1, 12);
        int i;

        qemu_iovec_init(&src, n);
        for (i = 0; i < n; i++) {
            int start = g_rand_int_range(rand, 0, 240);
            int len = g_rand_int_range(rand, 0, 256 - start);

            qemu_iovec_add(&src, mem + start, len);
        }
        if (src.size) {
            check_clone(&src, src.size);
        }
        qemu_iovec_destroy(&src);
    }
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/iov/helpers", test_iov_helpers);
    g_test_add_func("/iov/qiov-add-grow", test_qiov_add_grow);
    g_test_add_func("/iov/qiov-external-buf", test_qiov_external_and_buf);
    g_test_add_func("/iov/qiov-slice-concat", test_qiov_slice_concat);
    g_test_add_func("/iov/qiov-is-zero", test_qiov_is_zero);
    g_test_add_func("/iov/qiov-compare", test_qiov_compare);
    g_test_add_func("/iov/clone/disjoint", test_clone_disjoint);
    g_test_add_func("/iov/clone/same-buffer-twice",
                    test_clone_same_buffer_twice);
    g_test_add_func("/iov/clone/partial-overlap",
                    test_clone_partial_overlap);
    g_test_add_func("/iov/clone/contained", test_clone_contained);
    g_test_add_func("/iov/clone/random", test_clone_random);

    return g_test_run();
}
