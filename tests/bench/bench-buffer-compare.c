/*
 * Microbenchmark of the buffer helpers: GB/s of buffer_find_diff() and
 * buffer_is_zero() on 64 KiB buffers next to plain memcmp() and a byte
 * loop.  Not a test: it only prints numbers.
 *
 * Usage: bench-buffer-compare [SECONDS_PER_CASE]
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qemu/buffer-compare.h"

#define BENCH_BUF_SIZE (64 * 1024)

typedef size_t BenchFn(const uint8_t *a, const uint8_t *b, size_t len);

/* Equal buffers: the whole length is scanned */
static size_t bench_find_diff(const uint8_t *a, const uint8_t *b,
                              size_t len)
{
    return buffer_find_diff(a, b, len);
}

static size_t bench_memcmp(const uint8_t *a, const uint8_t *b, size_t len)
{
    return memcmp(a, b, len) ? 0 : len;
}

static size_t bench_byte_loop(const uint8_t *a, const uint8_t *b,
                              size_t len)
{
    size_t i;

    /* volatile: keep the compiler from turning this into memcmp */
    for (i = 0; i < len && ((volatile const uint8_t *)a)[i] == b[i]; i++) {
        /* nothing */
    }
    return i;
}

static size_t bench_is_zero(const uint8_t *a, const uint8_t *b, size_t len)
{
    return buffer_is_zero(b, len) ? len : 0;
}

static size_t bench_zero_memcmp(const uint8_t *a, const uint8_t *b,
                                size_t len)
{
    /* b is zero, a is a zero buffer too: what a memcmp caller does */
    return memcmp(a, b, len) ? 0 : len;
}

static size_t bench_zero_byte_loop(const uint8_t *a, const uint8_t *b,
                                   size_t len)
{
    size_t i;

    for (i = 0; i < len && !((volatile const uint8_t *)b)[i]; i++) {
        /* nothing */
    }
    return i;
}

static double bench_run(BenchFn *fn, const uint8_t *a, const uint8_t *b,
                        double seconds)
{
    uint64_t bytes = 0;
    gint64 start = g_get_monotonic_time(), now;

    do {
        int i;

        for (i = 0; i < 64; i++) {
            size_t got = fn(a, b, BENCH_BUF_SIZE);

            g_assert(got == BENCH_BUF_SIZE);
            bytes += got;
        }
        now = g_get_monotonic_time();
    } while (now - start < seconds * G_USEC_PER_SEC);
    return bytes / ((now - start) / (double)G_USEC_PER_SEC) / 1e9;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        BenchFn *fn;
        bool zero;
    } cases[] = {
        { "compare: buffer_find_diff", bench_find_diff, false },
        { "compare: memcmp", bench_memcmp, false },
        { "compare: byte loop", bench_byte_loop, false },
        { "zero check: buffer_is_zero", bench_is_zero, true },
        { "zero check: memcmp with a zero buffer", bench_zero_memcmp, true },
        { "zero check: byte loop", bench_zero_byte_loop, true },
    };
    double seconds = argc > 1 ? g_ascii_strtod(argv[1], NULL) : 1.0;
    uint8_t *a = g_malloc(BENCH_BUF_SIZE);
    uint8_t *b = g_malloc(BENCH_BUF_SIZE);
    uint8_t *za = g_malloc0(BENCH_BUF_SIZE);
    uint8_t *zb = g_malloc0(BENCH_BUF_SIZE);
    size_t i;

    for (i = 0; i < BENCH_BUF_SIZE; i++) {
        a[i] = b[i] = (uint8_t)(i * 7 + 3);
    }
    printf("64 KiB buffers, %.1f s per case\n", seconds);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        double gbs = cases[i].zero
                     ? bench_run(cases[i].fn, za, zb, seconds)
                     : bench_run(cases[i].fn, a, b, seconds);

        printf("%-40s %7.2f GB/s\n", cases[i].name, gbs);
    }
    g_free(a);
    g_free(b);
    g_free(za);
    g_free(zb);
    return 0;
}
