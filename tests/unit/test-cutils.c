/*
 * Unit tests for string/number helpers (cutils) and host helpers (osdep)
 *
 * Expected sizes and texts were checked against qemu-img 7.2: sizes as
 * "-o size=..." values, size_to_str() as qemu-img info's "virtual size".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qemu/cutils.h"

/* qemu_strtosz */

typedef struct SizeCase {
    const char *str;
    int ret;
    uint64_t val;
} SizeCase;

static const SizeCase size_cases[] = {
    { "0", 0, 0 },
    { "1", 0, 1 },
    { "512", 0, 512 },
    { "8b", 0, 8 },
    { "1B", 0, 1 },
    { "1k", 0, KiB },
    { "1K", 0, KiB },
    { "2M", 0, 2 * MiB },
    { "1.5m", 0, 1572864 },
    { "4g", 0, 4 * GiB },
    { "1t", 0, TiB },
    { "1P", 0, PiB },
    { "15E", 0, 15 * (uint64_t)EiB },
    { "16777215T", 0, 16777215 * (uint64_t)TiB },
    { "1.5k", 0, 1536 },
    { "1.k", 0, 1024 },
    { "1.", 0, 1 },
    { "1.1k", 0, 1126 },
    { "0.1G", 0, 107374182 },
    { "0.5M", 0, 524288 },
    { "12345.6789M", 0, 12945382598ULL },
    { "1.00000000001G", 0, GiB },
    { "0.0001k", 0, 0 },
    { "1.0005k", 0, 1025 },
    /* Exactly half a byte rounds up, a quarter down */
    { "1.00048828125k", 0, 1025 },
    { "1.000244140625k", 0, 1024 },
    { "0.3333333333333333T", 0, 366503875925ULL },
    { "15.9999999999999999E", 0, 18446744073709551488ULL },
    { "1.9999999999999999999k", 0, 1024 },
    { "0.999999999999999999999999k", 0, 0 },
    { "18446744073709551615", 0, UINT64_MAX },
    { "0x0", 0, 0 },
    { "0x10", 0, 16 },
    { "0X1F", 0, 31 },
    { "0xffffffffffffffff", 0, UINT64_MAX },
    { " 1k", 0, KiB },
    { "+1k", 0, KiB },
    /* Errors */
    { "", -EINVAL, 0 },
    { "abc", -EINVAL, 0 },
    { "-1", -EINVAL, 0 },
    { "-0", -EINVAL, 0 },
    { " -1k", -EINVAL, 0 },
    { "1.5", -EINVAL, 0 },
    { "1.5B", -EINVAL, 0 },
    { "0.5", -EINVAL, 0 },
    { "1.0000001", -EINVAL, 0 },
    { "0x1.8k", -EINVAL, 0 },
    { "1e3", -EINVAL, 0 },
    { "1.5e3k", -EINVAL, 0 },
    { "1kB", -EINVAL, 0 },
    { "1 k", -EINVAL, 0 },
    { "16Gi", -EINVAL, 0 },
    { "0Z", -EINVAL, 0 },
    { "0x", -EINVAL, 0 },
    { "00x10", -EINVAL, 0 },
    { ".5k", -EINVAL, 0 },
    { "16E", -ERANGE, 0 },
    { "16777216T", -ERANGE, 0 },
    { "18446744073709551616", -ERANGE, 0 },
    { "99999999999999999999", -ERANGE, 0 },
    { "0x10000000000000000", -ERANGE, 0 },
};

static void test_strtosz_table(void)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(size_cases); i++) {
        const SizeCase *c = &size_cases[i];
        uint64_t val = 0xdeadbeef;
        int ret = qemu_strtosz(c->str, NULL, &val);

        if (ret != c->ret) {
            g_test_message("qemu_strtosz(\"%s\") returned %d", c->str, ret);
        }
        g_assert_cmpint(ret, ==, c->ret);
        if (c->ret == 0) {
            g_assert_cmpuint(val, ==, c->val);
        } else {
            /* Failure leaves the result alone */
            g_assert_cmpuint(val, ==, 0xdeadbeef);
        }
    }
}

static void test_strtosz_endptr(void)
{
    const char *str = "12k,next";
    const char *end = NULL;
    uint64_t val = 0;

    g_assert_cmpint(qemu_strtosz(str, &end, &val), ==, 0);
    g_assert_cmpuint(val, ==, 12 * KiB);
    g_assert_true(end == str + 3);

    /* Trailing text is fine with endptr, even after a bare number */
    str = "7 GiB";
    g_assert_cmpint(qemu_strtosz(str, &end, &val), ==, 0);
    g_assert_cmpuint(val, ==, 7);
    g_assert_true(end == str + 1);

    /* A suffix letter followed by more letters is consumed alone */
    str = "1kB";
    g_assert_cmpint(qemu_strtosz(str, &end, &val), ==, 0);
    g_assert_cmpuint(val, ==, KiB);
    g_assert_true(end == str + 2);

    /* Errors point at the start */
    str = "-5k";
    g_assert_cmpint(qemu_strtosz(str, &end, &val), ==, -EINVAL);
    g_assert_true(end == str);
    str = "x";
    g_assert_cmpint(qemu_strtosz(str, &end, &val), ==, -EINVAL);
    g_assert_true(end == str);
    str = "1.5";
    g_assert_cmpint(qemu_strtosz(str, &end, &val), ==, -EINVAL);
    g_assert_true(end == str);
}

static void test_strtosz_hex_suffix_warns(void)
{
    if (g_test_subprocess()) {
        uint64_t val = 0;

        error_set_progname("qemu-img");
        g_assert_cmpint(qemu_strtosz("0x10k", NULL, &val), ==, 0);
        g_assert_cmpuint(val, ==, 16 * KiB);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("qemu-img: warning: Using a multiplier suffix "
                              "on hex numbers is deprecated: 0x10k\n");
}

/* size_to_str, as qemu-img info prints "virtual size" */

static void test_size_to_str(void)
{
    static const struct {
        uint64_t val;
        const char *str;
    } cases[] = {
        { 0, "0 B" },
        { 1, "1 B" },
        { 512, "512 B" },
        { 999, "999 B" },
        { 1000, "0.977 KiB" },
        { 1023, "0.999 KiB" },
        { 1024, "1 KiB" },
        { 1025, "1 KiB" },
        { 1536, "1.5 KiB" },
        { 10240, "10 KiB" },
        { 102400, "100 KiB" },
        { 1000448, "977 KiB" },
        { 1024000, "0.977 MiB" },
        { 1047552, "0.999 MiB" },
        { 1048064, "1 MiB" },
        { 1048575, "1 MiB" },
        { 1048576, "1 MiB" },
        { 123456789, "118 MiB" },
        { 123457024, "118 MiB" },
        { 1073741824, "1 GiB" },
        { 17179869184ULL, "16 GiB" },
        { 1099511627775ULL, "1 TiB" },
        { 1099511627776ULL, "1 TiB" },
        { 1125899906842624ULL, "1 PiB" },
        { 1152921504606846976ULL, "1 EiB" },
        { UINT64_MAX, "16 EiB" },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        char *s = size_to_str(cases[i].val);

        g_assert_cmpstr(s, ==, cases[i].str);
        g_free(s);
    }
}

/* Integer parsing */

static void test_strtoi64_u64(void)
{
    const char *end;
    int64_t i;
    uint64_t u;

    g_assert_cmpint(qemu_strtoi64("-9223372036854775808", NULL, 10, &i), ==,
                    0);
    g_assert_cmpint(i, ==, INT64_MIN);
    g_assert_cmpint(qemu_strtoi64("9223372036854775808", NULL, 10, &i), ==,
                    -ERANGE);
    g_assert_cmpint(i, ==, INT64_MAX);
    g_assert_cmpint(qemu_strtoi64(" 42 ", NULL, 10, &i), ==, -EINVAL);
    g_assert_cmpint(qemu_strtoi64(" 42 ", &end, 10, &i), ==, 0);
    g_assert_cmpint(i, ==, 42);
    g_assert_cmpstr(end, ==, " ");

    g_assert_cmpint(qemu_strtou64("18446744073709551615", NULL, 10, &u), ==,
                    0);
    g_assert_cmpuint(u, ==, UINT64_MAX);
    g_assert_cmpint(qemu_strtou64("18446744073709551616", NULL, 10, &u), ==,
                    -ERANGE);
    g_assert_cmpint(qemu_strtou64("0x2a", NULL, 0, &u), ==, 0);
    g_assert_cmpuint(u, ==, 42);
    /* As strtoull: a minus sign wraps */
    g_assert_cmpint(qemu_strtou64("-1", NULL, 10, &u), ==, 0);
    g_assert_cmpuint(u, ==, UINT64_MAX);
    g_assert_cmpint(qemu_strtou64("", &end, 10, &u), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64("08", NULL, 0, &u), ==, -EINVAL);
}

/* String helpers */

static void test_pstrcpy(void)
{
    char buf[8];

    pstrcpy(buf, sizeof(buf), "abc");
    g_assert_cmpstr(buf, ==, "abc");
    pstrcpy(buf, sizeof(buf), "0123456789");
    g_assert_cmpstr(buf, ==, "0123456");
    pstrcpy(buf, 1, "xyz");
    g_assert_cmpstr(buf, ==, "");
}

static void test_strstart(void)
{
    const char *rest = NULL;

    g_assert_true(strstart("blkverify:a:b", "blkverify:", &rest));
    g_assert_cmpstr(rest, ==, "a:b");
    g_assert_true(strstart("abc", "", &rest));
    g_assert_cmpstr(rest, ==, "abc");
    rest = NULL;
    g_assert_false(strstart("nbd", "nbd:", &rest));
    g_assert_null(rest);
    g_assert_true(strstart("json:{}", "json:", NULL));
}

/* osdep */

/*
 * Under AddressSanitizer, let impossible allocations fail with NULL as
 * they do in a normal build instead of stopping the test.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_bool_parse(void)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    static const char *const no[] = { "off", "no", "false", "n" };
    static const char *const bad[] = { "", "ON", "1", "0", "maybe", "o",
                                       "yess" };
    Error *err = NULL;
    size_t i;
    bool b;

    for (i = 0; i < G_N_ELEMENTS(yes); i++) {
        b = false;
        g_assert_true(qapi_bool_parse("k", yes[i], &b, &error_abort));
        g_assert_true(b);
        g_assert_true(qapi_bool_parse("k", no[i], &b, &error_abort));
        g_assert_false(b);
    }
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        b = true;
        g_assert_false(qapi_bool_parse("once", bad[i], &b, &err));
        g_assert_true(b);   /* untouched on failure */
        g_assert_nonnull(err);
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Parameter 'once' expects 'on' or 'off'");
        error_free(err);
        err = NULL;
    }
    g_assert_false(qapi_bool_parse("k", "x", &b, NULL));
}

static void test_memalign(void)
{
    size_t align;

    for (align = 1; align <= 65536; align *= 4) {
        char *p = qemu_memalign(align, 1000);

        g_assert_true(QEMU_PTR_IS_ALIGNED(p, align));
        memset(p, 0xab, 1000);
        qemu_vfree(p);
    }
    qemu_vfree(qemu_memalign(4096, 0));
    qemu_vfree(NULL);

    g_assert_null(qemu_try_memalign(4096, SIZE_MAX - 8192));
}

static void test_memalign_failure_aborts(void)
{
    if (g_test_subprocess()) {
        qemu_memalign(4096, SIZE_MAX - 8192);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*failed to allocate*");
}

static void test_page_size(void)
{
    size_t ps = qemu_real_host_page_size();

    g_assert_true(is_power_of_2(ps));
    g_assert_cmpuint(ps, >=, 4096);
    g_assert_cmpuint(qemu_real_host_page_size(), ==, ps);
}

static void test_write_full(void)
{
    int fds[2];
    char buf[6] = { 0 };

    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(qemu_write_full(fds[1], "hello", 5), ==, 0);
    g_assert_cmpint(read(fds[0], buf, 5), ==, 5);
    g_assert_cmpstr(buf, ==, "hello");
    close(fds[0]);
    g_assert_cmpint(qemu_write_full(-1, "x", 1), ==, -EBADF);
    close(fds[1]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/cutils/strtosz/table", test_strtosz_table);
    g_test_add_func("/cutils/strtosz/endptr", test_strtosz_endptr);
    g_test_add_func("/cutils/strtosz/hex-suffix-warns",
                    test_strtosz_hex_suffix_warns);
    g_test_add_func("/cutils/size-to-str", test_size_to_str);
    g_test_add_func("/cutils/strtoi64-u64", test_strtoi64_u64);
    g_test_add_func("/cutils/pstrcpy", test_pstrcpy);
    g_test_add_func("/cutils/strstart", test_strstart);
    g_test_add_func("/cutils/bool-parse", test_bool_parse);
    g_test_add_func("/osdep/memalign", test_memalign);
    g_test_add_func("/osdep/memalign-failure-aborts",
                    test_memalign_failure_aborts);
    g_test_add_func("/osdep/page-size", test_page_size);
    g_test_add_func("/osdep/write-full", test_write_full);

    return g_test_run();
}
