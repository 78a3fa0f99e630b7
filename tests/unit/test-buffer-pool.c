/*
 * Unit tests for the buffer pool: alignment, sizes, reuse, and the cap
 * on what it keeps
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/buffer-pool.h"

static void test_alignment_and_size(void)
{
    BufferPool *pool = buffer_pool_new(4096, 1 << 20);
    static const size_t sizes[] = {
        1, 512, 4095, 4096, 4097, 65536, 100000, 1 << 20,
        BUFFER_POOL_MAX_POOLED, BUFFER_POOL_MAX_POOLED + 1,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
        uint8_t *buf = buffer_pool_get(pool, sizes[i]);

        g_assert_nonnull(buf);
        g_assert_cmpuint((uintptr_t)buf % 4096, ==, 0);
        /* Every byte asked for is usable (the sanitizers check this) */
        memset(buf, 0xa5, sizes[i]);
        buffer_pool_put(pool, buf, sizes[i]);
    }
    buffer_pool_free(pool);
}

static void test_reuse(void)
{
    BufferPool *pool = buffer_pool_new(512, 1 << 20);
    void *a, *b, *c;

    a = buffer_pool_get(pool, 4096);
    b = buffer_pool_get(pool, 4096);
    g_assert(a != b);
    buffer_pool_put(pool, a, 4096);
    /* The same class gets the returned buffer back */
    c = buffer_pool_get(pool, 3000);
    g_assert(c == a);
    /* Another class does not */
    buffer_pool_put(pool, b, 4096);
    a = buffer_pool_get(pool, 8192);
    g_assert(a != b);
    buffer_pool_put(pool, a, 8192);
    buffer_pool_put(pool, c, 3000);
    buffer_pool_free(pool);
}

static void test_cap(void)
{
    /* Room for one 64 KiB buffer only */
    BufferPool *pool = buffer_pool_new(4096, 65536);
    void *a = buffer_pool_get(pool, 65536);
    void *b = buffer_pool_get(pool, 65536);
    void *c;

    buffer_pool_put(pool, a, 65536);
    buffer_pool_put(pool, b, 65536);   /* over the cap: freed */
    c = buffer_pool_get(pool, 65536);
    g_assert(c == a);
    buffer_pool_put(pool, c, 65536);
    buffer_pool_free(pool);
}

static void test_unpooled(void)
{
    BufferPool *pool = buffer_pool_new(4096, 64 << 20);
    size_t big = BUFFER_POOL_MAX_POOLED * 2;
    void *a = buffer_pool_get(pool, big);

    g_assert_nonnull(a);
    buffer_pool_put(pool, a, big);
    /* Nothing of that size was kept: the leak checker sees it freed */
    buffer_pool_free(pool);
    buffer_pool_free(NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/buffer-pool/alignment-and-size",
                    test_alignment_and_size);
    g_test_add_func("/buffer-pool/reuse", test_reuse);
    g_test_add_func("/buffer-pool/cap", test_cap);
    g_test_add_func("/buffer-pool/unpooled", test_unpooled);

    return g_test_run();
}
