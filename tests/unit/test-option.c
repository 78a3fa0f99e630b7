/*
 * Unit tests for QemuOpts option lists and keyval parsing
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qemu/option.h"

/* Shaped like qcow2's create options (order and defaults matter) */
static QemuOptsList qcow2_create_opts = {
    .name = "qcow2-create-opts",
    QEMU_OPTS_LIST_INIT(qcow2_create_opts),
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { .name = "compat", .type = QEMU_OPT_STRING,
          .help = "Compatibility level (v2 [0.10] or v3 [1.1])" },
        { .name = "backing_file", .type = QEMU_OPT_STRING,
          .help = "File name of a base image" },
        { .name = "backing_fmt", .type = QEMU_OPT_STRING,
          .help = "Image format of the base image" },
        { .name = "lazy_refcounts", .type = QEMU_OPT_BOOL,
          .help = "Postpone refcount updates", .def_value_str = "off" },
        { .name = "refcount_bits", .type = QEMU_OPT_NUMBER,
          .help = "Width of a reference count entry in bits",
          .def_value_str = "16" },
        { /* end of list */ }
    },
};

/* Options every image format gets first, as qemu-img merges them */
static QemuOptsList head_opts = {
    .name = "head",
    QEMU_OPTS_LIST_INIT(head_opts),
    .desc = {
        { .name = "cluster_size", .type = QEMU_OPT_SIZE,
          .help = "qcow2 cluster size", .def_value_str = "65536" },
        { .name = "extended_l2", .type = QEMU_OPT_BOOL,
          .help = "Extended L2 tables", .def_value_str = "off" },
        { .name = "preallocation", .type = QEMU_OPT_STRING,
          .help = "Preallocation mode (allowed values: off, metadata, "
                  "falloc, full)" },
        { .name = "compression_type", .type = QEMU_OPT_STRING,
          .help = "Compression method used for image cluster compression",
          .def_value_str = "zlib" },
        { /* end of list */ }
    },
};

static QemuOptsList raw_create_opts = {
    .name = "raw-create-opts",
    QEMU_OPTS_LIST_INIT(raw_create_opts),
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { .name = "nocow", .type = QEMU_OPT_BOOL,
          .help = "Turn off copy-on-write (valid only on btrfs)" },
        { .name = "preallocation", .type = QEMU_OPT_STRING,
          .help = "Preallocation mode (allowed values: off, falloc, full)" },
        { .name = "extent_size_hint", .type = QEMU_OPT_SIZE,
          .help = "Extent size hint for the image file, 0 to disable" },
        { /* end of list */ }
    },
};

/* Accepts any key, like qemu-io's --image-opts list */
static QemuOptsList any_opts = {
    .name = "any",
    .implied_opt_name = "file",
    QEMU_OPTS_LIST_INIT(any_opts),
    .desc = {
        { /* end of list */ }
    },
};

static QemuOptsList merged_opts = {
    .name = "merged",
    .merge_lists = true,
    QEMU_OPTS_LIST_INIT(merged_opts),
    .desc = {
        { /* end of list */ }
    },
};

static QemuOptsList empty_opts = {
    .name = "null-co",
    QEMU_OPTS_LIST_INIT(empty_opts),
    .desc = {
        { /* end of list */ }
    },
};

static void check_parse_error(QemuOptsList *list, const char *params,
                              const char *expected)
{
    Error *err = NULL;

    g_assert_null(qemu_opts_parse(list, params, false, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, expected);
    error_free(err);
}

/* Parsing */

static void test_parse_typed(void)
{
    QemuOpts *opts;

    opts = qemu_opts_parse(&qcow2_create_opts,
                           "size=1.5M,compat=1.1,lazy_refcounts=on,"
                           "refcount_bits=0x10", false, &error_abort);
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 1572864);
    g_assert_cmpstr(qemu_opt_get(opts, "size"), ==, "1.5M");
    g_assert_cmpstr(qemu_opt_get(opts, "compat"), ==, "1.1");
    g_assert_true(qemu_opt_get_bool(opts, "lazy_refcounts", false));
    g_assert_cmpuint(qemu_opt_get_number(opts, "refcount_bits", 0), ==, 16);
    g_assert_true(qemu_opt_find(opts, "compat"));
    g_assert_false(qemu_opt_find(opts, "backing_file"));
    g_assert_null(qemu_opt_get(opts, "backing_file"));
    qemu_opts_del(opts);

    /* Defaults from the description, then the caller's */
    opts = qemu_opts_parse(&qcow2_create_opts, "", false, &error_abort);
    g_assert_false(qemu_opt_get_bool(opts, "lazy_refcounts", true));
    g_assert_cmpuint(qemu_opt_get_number(opts, "refcount_bits", 1), ==, 16);
    g_assert_cmpstr(qemu_opt_get(opts, "refcount_bits"), ==, "16");
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 77), ==, 77);
    g_assert_false(qemu_opt_find(opts, "lazy_refcounts"));
    qemu_opts_del(opts);
}

static void test_parse_bool_spellings(void)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    static const char *const no[] = { "off", "no", "false", "n" };
    QemuOpts *opts;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(yes); i++) {
        opts = qemu_opts_create(&qcow2_create_opts, NULL, 0, &error_abort);
        qemu_opt_set(opts, "lazy_refcounts", yes[i], &error_abort);
        g_assert_true(qemu_opt_get_bool(opts, "lazy_refcounts", false));
        qemu_opts_del(opts);
        opts = qemu_opts_create(&qcow2_create_opts, NULL, 0, &error_abort);
        qemu_opt_set(opts, "lazy_refcounts", no[i], &error_abort);
        g_assert_false(qemu_opt_get_bool(opts, "lazy_refcounts", true));
        qemu_opts_del(opts);
    }
}

static void test_parse_comma_escape(void)
{
    QemuOpts *opts;

    opts = qemu_opts_parse(&qcow2_create_opts,
                           "backing_file=a,,b,,,,c,backing_fmt=raw,"
                           "compat=x,,", false, &error_abort);
    g_assert_cmpstr(qemu_opt_get(opts, "backing_file"), ==, "a,b,,c");
    g_assert_cmpstr(qemu_opt_get(opts, "backing_fmt"), ==, "raw");
    g_assert_cmpstr(qemu_opt_get(opts, "compat"), ==, "x,");
    qemu_opts_del(opts);

    /* A value may contain '=' */
    opts = qemu_opts_parse(&any_opts, "a=b=c,d=", false, &error_abort);
    g_assert_cmpstr(qemu_opt_get(opts, "a"), ==, "b=c");
    g_assert_cmpstr(qemu_opt_get(opts, "d"), ==, "");
    qemu_opts_del(opts);
}

static void test_parse_errors(void)
{
    check_parse_error(&qcow2_create_opts, "lazy_refcounts=maybe",
                      "Parameter 'lazy_refcounts' expects 'on' or 'off'");
    check_parse_error(&qcow2_create_opts, "refcount_bits=x",
                      "Parameter 'refcount_bits' expects a number");
    check_parse_error(&qcow2_create_opts, "refcount_bits=16k",
                      "Parameter 'refcount_bits' expects a number");
    check_parse_error(&qcow2_create_opts,
                      "refcount_bits=99999999999999999999",
                      "Value '99999999999999999999' is too large for "
                      "parameter 'refcount_bits'");
    check_parse_error(&qcow2_create_opts, "size=abc",
                      "Parameter 'size' expects a non-negative number "
                      "below 2^64");
    check_parse_error(&qcow2_create_opts, "size=-1",
                      "Parameter 'size' expects a non-negative number "
                      "below 2^64");
    check_parse_error(&qcow2_create_opts, "size=16E",
                      "Value '16E' is out of range for parameter 'size'");
    check_parse_error(&qcow2_create_opts, "size=1M,foo=bar",
                      "Invalid parameter 'foo'");
    /* Without an implied name a bare word is a flag, here unknown */
    check_parse_error(&qcow2_create_opts, "x.img",
                      "Invalid parameter 'x.img'");
}

static void test_parse_size_hint(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        error_set_progname("qemu-img");
        g_assert_null(qemu_opts_parse(&qcow2_create_opts, "size=1.5", false,
                                      &err));
        error_report_err(err);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr(
        "qemu-img: Parameter 'size' expects a non-negative number below 2^64\n"
        "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
        "tera-, peta-\nand exabytes, respectively.\n");
}

static void test_parse_flags(void)
{
    QemuOpts *opts;

    opts = qemu_opts_parse(&qcow2_create_opts,
                           "lazy_refcounts,compat=1.1", false, &error_abort);
    g_assert_true(qemu_opt_get_bool(opts, "lazy_refcounts", false));
    g_assert_cmpstr(qemu_opt_get(opts, "lazy_refcounts"), ==, "on");
    qemu_opts_del(opts);

    opts = qemu_opts_parse(&qcow2_create_opts, "nolazy_refcounts", false,
                           &error_abort);
    g_assert_false(qemu_opt_get_bool(opts, "lazy_refcounts", true));
    g_assert_true(qemu_opt_find(opts, "lazy_refcounts"));
    qemu_opts_del(opts);

    /* An empty element is a flag with an empty name (QEMU does the same) */
    opts = qemu_opts_parse(&any_opts, ",foo", false, &error_abort);
    g_assert_cmpstr(qemu_opt_get(opts, ""), ==, "on");
    g_assert_cmpstr(qemu_opt_get(opts, "foo"), ==, "on");
    qemu_opts_del(opts);
}

static void test_parse_noisily_warns(void)
{
    if (g_test_subprocess()) {
        QemuOpts *opts;

        error_set_progname("qemu-io");
        opts = qemu_opts_parse_noisily(&any_opts, "foo,noro", false);
        g_assert_nonnull(opts);
        qemu_opts_del(opts);
        g_assert_null(qemu_opts_parse_noisily(&qcow2_create_opts, "size=x",
                                              false));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr(
        "qemu-io: warning: short-form boolean option 'foo' deprecated\n"
        "Please use foo=on instead\n"
        "qemu-io: warning: short-form boolean option 'noro' deprecated\n"
        "Please use ro=off instead\n"
        "qemu-io: Parameter 'size' expects a non-negative number below 2^64\n"
        "Optional suffix *respectively.\n");
}

static void test_parse_implied(void)
{
    QemuOpts *opts;

    opts = qemu_opts_parse(&any_opts, "x,,y.img,driver=raw", true,
                           &error_abort);
    g_assert_cmpstr(qemu_opt_get(opts, "file"), ==, "x,y.img");
    g_assert_cmpstr(qemu_opt_get(opts, "driver"), ==, "raw");
    qemu_opts_del(opts);

    /* Only the first element is implied */
    opts = qemu_opts_parse(&any_opts, "driver=raw,a.img", true,
                           &error_abort);
    g_assert_null(qemu_opt_get(opts, "file"));
    g_assert_cmpstr(qemu_opt_get(opts, "a.img"), ==, "on");
    qemu_opts_del(opts);

    /* Without permit_abbrev the implied name is not used */
    opts = qemu_opts_parse(&any_opts, "a.img", false, &error_abort);
    g_assert_null(qemu_opt_get(opts, "file"));
    g_assert_true(qemu_opt_find(opts, "a.img"));
    qemu_opts_del(opts);
}

static void test_help_detection(void)
{
    static const char *const helps[] = {
        "help", "?", "size=1M,help", "lazy_refcounts=on,?,size=1M",
    };
    QemuOpts *opts;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(helps); i++) {
        opts = qemu_opts_parse(&qcow2_create_opts, helps[i], false,
                               &error_abort);
        g_assert_true(qemu_opt_has_help_opt(opts));
        qemu_opts_del(opts);
    }

    opts = qemu_opts_parse(&qcow2_create_opts, "size=1M", false,
                           &error_abort);
    g_assert_false(qemu_opt_has_help_opt(opts));
    qemu_opts_del(opts);
    g_assert_false(qemu_opt_has_help_opt(NULL));

    opts = qemu_opts_parse(&any_opts, "driver=raw,help", false,
                           &error_abort);
    g_assert_true(qemu_opt_has_help_opt(opts));
    qemu_opts_del(opts);

    /* "help=..." is a normal key, rejected where not described */
    check_parse_error(&qcow2_create_opts, "help=on",
                      "Invalid parameter 'help'");
}

/* Setting, getting, deleting */

static void test_set_get_del(void)
{
    QemuOpts *opts = qemu_opts_create(&qcow2_create_opts, NULL, 0,
                                      &error_abort);
    Error *err = NULL;
    char *s;

    g_assert_true(qemu_opt_set(opts, "size", "1M", &error_abort));
    g_assert_true(qemu_opt_set(opts, "size", "2M", &error_abort));
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 2 * MiB);
    g_assert_true(qemu_opt_set(opts, "lazy_refcounts", "on", &error_abort));
    g_assert_cmpstr(qemu_opt_get(opts, "lazy_refcounts"), ==, "on");
    g_assert_true(qemu_opt_set_number(opts, "refcount_bits", 64,
                                      &error_abort));
    g_assert_cmpuint(qemu_opt_get_number(opts, "refcount_bits", 0), ==, 64);

    g_assert_false(qemu_opt_set(opts, "nope", "1", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid parameter 'nope'");
    error_free(err);
    err = NULL;
    g_assert_false(qemu_opt_set(opts, "size", "on", &err));
    g_assert_nonnull(err);
    error_free(err);

    /* get_del removes every setting of the key */
    g_assert_cmpuint(qemu_opt_get_size_del(opts, "size", 0), ==, 2 * MiB);
    g_assert_false(qemu_opt_find(opts, "size"));
    g_assert_cmpuint(qemu_opt_get_size_del(opts, "size", 5), ==, 5);
    g_assert_true(qemu_opt_get_bool_del(opts, "lazy_refcounts", false));
    g_assert_false(qemu_opt_find(opts, "lazy_refcounts"));

    qemu_opt_set(opts, "compat", "0.10", &error_abort);
    s = qemu_opt_get_del(opts, "compat");
    g_assert_cmpstr(s, ==, "0.10");
    g_free(s);
    g_assert_null(qemu_opt_get_del(opts, "compat"));
    /* Unset keys give their default */
    s = qemu_opt_get_del(opts, "lazy_refcounts");
    g_assert_cmpstr(s, ==, "off");
    g_free(s);

    g_assert_true(qemu_opt_unset(opts, "refcount_bits"));
    g_assert_false(qemu_opt_unset(opts, "refcount_bits"));
    g_assert_cmpuint(qemu_opt_get_number(opts, "refcount_bits", 0), ==, 16);
    qemu_opts_del(opts);
}

static void test_undescribed_getters(void)
{
    QemuOpts *opts = qemu_opts_parse(&any_opts, "ro=on,n=12,s=4k,bad=xyz",
                                     false, &error_abort);

    g_assert_true(qemu_opt_get_bool(opts, "ro", false));
    g_assert_cmpuint(qemu_opt_get_number(opts, "n", 0), ==, 12);
    g_assert_cmpuint(qemu_opt_get_size(opts, "s", 0), ==, 4096);
    g_assert_true(qemu_opt_get_bool(opts, "bad", true));
    g_assert_cmpuint(qemu_opt_get_number(opts, "bad", 3), ==, 3);
    qemu_opts_del(opts);
}

static void test_create_ids(void)
{
    QemuOpts *a, *b;
    Error *err = NULL;

    a = qemu_opts_create(&any_opts, "drive0", 1, &error_abort);
    g_assert_true(qemu_opts_find(&any_opts, "drive0") == a);
    g_assert_null(qemu_opts_create(&any_opts, "drive0", 1, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Duplicate ID 'drive0' for any");
    error_free(err);
    err = NULL;
    g_assert_true(qemu_opts_create(&any_opts, "drive0", 0, &error_abort)
                  == a);
    g_assert_null(qemu_opts_create(&any_opts, "0bad", 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'id' expects an identifier");
    error_free(err);
    qemu_opts_del(a);
    g_assert_null(qemu_opts_find(&any_opts, "drive0"));

    /* id= in the string names the instance and is not an option */
    a = qemu_opts_parse(&any_opts, "id=d1,x=1", false, &error_abort);
    g_assert_true(qemu_opts_find(&any_opts, "d1") == a);
    g_assert_false(qemu_opt_find(a, "id"));
    qemu_opts_del(a);

    /* merge_lists: one anonymous instance collects everything */
    a = qemu_opts_parse(&merged_opts, "x=1", false, &error_abort);
    b = qemu_opts_parse(&merged_opts, "y=2", false, &error_abort);
    g_assert_true(a == b);
    g_assert_cmpstr(qemu_opt_get(a, "x"), ==, "1");
    g_assert_cmpstr(qemu_opt_get(a, "y"), ==, "2");
    qemu_opts_del(a);
}

/* QDict conversion */

static void test_absorb_qdict(void)
{
    QemuOpts *opts = qemu_opts_create(&qcow2_create_opts, NULL, 0,
                                      &error_abort);
    QDict *d = qdict_new();
    Error *err = NULL;

    qdict_put_str(d, "driver", "qcow2");
    qdict_put_int(d, "size", 4096);
    qdict_put_bool(d, "lazy_refcounts", true);
    qdict_put_str(d, "backing_file", "b,c.img");
    qdict_put(d, "compat", qdict_new());
    qdict_put_str(d, "file.filename", "x");

    g_assert_true(qemu_opts_absorb_qdict(opts, d, &error_abort));
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 4096);
    g_assert_true(qemu_opt_get_bool(opts, "lazy_refcounts", false));
    g_assert_cmpstr(qemu_opt_get(opts, "backing_file"), ==, "b,c.img");
    /* Undescribed keys and non-scalars are left for the caller */
    g_assert_cmpuint(qdict_size(d), ==, 3);
    g_assert_true(qdict_haskey(d, "driver"));
    g_assert_true(qdict_haskey(d, "compat"));
    g_assert_true(qdict_haskey(d, "file.filename"));
    qobject_unref(d);
    qemu_opts_del(opts);

    /* A type error stops absorption with the option's message */
    opts = qemu_opts_create(&qcow2_create_opts, NULL, 0, &error_abort);
    d = qdict_new();
    qdict_put_str(d, "size", "1k");
    qdict_put_str(d, "refcount_bits", "wide");
    qdict_put_str(d, "compat", "1.1");
    g_assert_false(qemu_opts_absorb_qdict(opts, d, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'refcount_bits' expects a number");
    error_free(err);
    g_assert_false(qdict_haskey(d, "size"));
    g_assert_true(qdict_haskey(d, "refcount_bits"));
    qobject_unref(d);
    qemu_opts_del(opts);

    /* An accept-any list takes every scalar */
    opts = qemu_opts_create(&any_opts, NULL, 0, &error_abort);
    d = qdict_new();
    qdict_put_str(d, "a", "1");
    qdict_put_int(d, "b", 2);
    qdict_put(d, "c", qlist_new());
    g_assert_true(qemu_opts_absorb_qdict(opts, d, &error_abort));
    g_assert_cmpstr(qemu_opt_get(opts, "b"), ==, "2");
    g_assert_cmpuint(qdict_size(d), ==, 1);
    qobject_unref(d);
    qemu_opts_del(opts);
}

static void test_to_qdict(void)
{
    QemuOpts *opts = qemu_opts_parse(&any_opts, "id=x0,driver=raw,a=1,a=2",
                                     false, &error_abort);
    QDict *d = qemu_opts_to_qdict(opts, NULL);

    g_assert_cmpuint(qdict_size(d), ==, 3);
    g_assert_cmpstr(qdict_get_str(d, "id"), ==, "x0");
    g_assert_cmpstr(qdict_get_str(d, "driver"), ==, "raw");
    g_assert_cmpstr(qdict_get_str(d, "a"), ==, "2");
    qobject_unref(d);
    qemu_opts_del(opts);
}

/* Printing, compared with what qemu-img 7.2 prints */

static void print_create_line(const char *filename, const char *fmt,
                              QemuOptsList *list, const char *params)
{
    QemuOpts *opts = qemu_opts_parse(list, params, false, &error_abort);

    printf("Formatting '%s', fmt=%s", filename, fmt);
    qemu_opts_print(opts, " ");
    printf("\n");
    qemu_opts_del(opts);
}

static void test_print(void)
{
    if (g_test_subprocess()) {
        QemuOptsList *merged = qemu_opts_append(NULL, &head_opts);

        merged = qemu_opts_append(merged, &qcow2_create_opts);
        print_create_line("r.img", "raw", &raw_create_opts, "size=1M");
        print_create_line("x.qcow2", "qcow2", merged, "size=1M");
        print_create_line("y.qcow2", "qcow2", merged,
                          "size=1048576,backing_file=x.qcow2,"
                          "backing_fmt=qcow2");
        print_create_line("z.qcow2", "qcow2", merged,
                          "cluster_size=4k,lazy_refcounts=yes,"
                          "preallocation=metadata,size=1M,"
                          "refcount_bits=0x10");
        print_create_line("a.img", "qcow2", merged,
                          "backing_file=a,,b,size=1M,size=2M");
        print_create_line("big.img", "raw", &raw_create_opts, "size=15E");
        print_create_line("any", "x", &any_opts, "b=1,a=x,,y");
        qemu_opts_free(merged);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout(
        "Formatting 'r.img', fmt=raw size=1048576\n"
        "Formatting 'x.qcow2', fmt=qcow2 cluster_size=65536 extended_l2=off "
        "compression_type=zlib size=1048576 lazy_refcounts=off "
        "refcount_bits=16\n"
        "Formatting 'y.qcow2', fmt=qcow2 cluster_size=65536 extended_l2=off "
        "compression_type=zlib size=1048576 backing_file=x.qcow2 "
        "backing_fmt=qcow2 lazy_refcounts=off refcount_bits=16\n"
        "Formatting 'z.qcow2', fmt=qcow2 cluster_size=4096 extended_l2=off "
        "preallocation=metadata compression_type=zlib size=1048576 "
        "lazy_refcounts=yes refcount_bits=16\n"
        "Formatting 'a.img', fmt=qcow2 cluster_size=65536 extended_l2=off "
        "compression_type=zlib size=2097152 backing_file=a,,b "
        "lazy_refcounts=off refcount_bits=16\n"
        "Formatting 'big.img', fmt=raw size=-1152921504606846976\n"
        "Formatting 'any', fmt=x b=1 a=x,,y\n");
}

static void test_print_help(void)
{
    if (g_test_subprocess()) {
        printf("Supported options:\n");
        qemu_opts_print_help(&raw_create_opts, false);
        qemu_opts_print_help(&head_opts, true);
        qemu_opts_print_help(&empty_opts, true);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout(
        "Supported options:\n"
        "  extent_size_hint=<size> - Extent size hint for the image file, "
        "0 to disable\n"
        "  nocow=<bool (on/off)>  - Turn off copy-on-write (valid only on "
        "btrfs)\n"
        "  preallocation=<str>    - Preallocation mode (allowed values: off, "
        "falloc, full)\n"
        "  size=<size>            - Virtual disk size\n"
        "head options:\n"
        "  cluster_size=<size>    - qcow2 cluster size\n"
        "  compression_type=<str> - Compression method used for image "
        "cluster compression\n"
        "  extended_l2=<bool (on/off)> - Extended L2 tables\n"
        "  preallocation=<str>    - Preallocation mode (allowed values: off, "
        "metadata, falloc, full)\n"
        "There are no options for null-co.\n");
}

static void test_append(void)
{
    QemuOptsList *list = qemu_opts_append(NULL, &qcow2_create_opts);
    QemuOpts *opts;
    const char *names[] = {
        "size", "compat", "backing_file", "backing_fmt", "lazy_refcounts",
        "refcount_bits", "nocow", "preallocation", "extent_size_hint",
    };
    size_t i;

    g_assert_true(qemu_opts_append(list, NULL) == list);
    list = qemu_opts_append(list, &raw_create_opts);
    for (i = 0; i < ARRAY_SIZE(names); i++) {
        g_assert_cmpstr(list->desc[i].name, ==, names[i]);
    }
    g_assert_null(list->desc[i].name);
    /* First description wins for duplicates */
    g_assert_cmpstr(list->desc[0].help, ==, "Virtual disk size");

    opts = qemu_opts_parse(list, "size=1M,nocow=on", false, &error_abort);
    g_assert_true(qemu_opt_get_bool(opts, "nocow", false));
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, MiB);
    qemu_opts_del(opts);
    qemu_opts_free(list);
}

/* keyval */

static void check_keyval_error(const char *params, const char *implied,
                               const char *expected)
{
    Error *err = NULL;

    g_assert_null(keyval_parse(params, implied, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, expected);
    error_free(err);
}

static void test_keyval(void)
{
    QDict *d;

    d = keyval_parse("", NULL, &error_abort);
    g_assert_cmpuint(qdict_size(d), ==, 0);
    qobject_unref(d);

    d = keyval_parse("driver=raw,file.filename=a,,b,file.driver=file,", NULL,
                     &error_abort);
    g_assert_cmpuint(qdict_size(d), ==, 3);
    g_assert_cmpstr(qdict_get_str(d, "driver"), ==, "raw");
    g_assert_cmpstr(qdict_get_str(d, "file.filename"), ==, "a,b");
    g_assert_cmpstr(qdict_get_str(d, "file.driver"), ==, "file");
    qobject_unref(d);

    /* Last one wins, position of the first kept */
    d = keyval_parse("a=1,b=2,,x,a=3", NULL, &error_abort);
    g_assert_cmpuint(qdict_size(d), ==, 2);
    g_assert_cmpstr(qdict_get_str(d, "a"), ==, "3");
    g_assert_cmpstr(qdict_get_str(d, "b"), ==, "2,x");
    qobject_unref(d);

    d = keyval_parse("x=,,id=bar", NULL, &error_abort);
    g_assert_cmpstr(qdict_get_str(d, "x"), ==, ",id=bar");
    qobject_unref(d);

    /* Implied key, only for the first element */
    d = keyval_parse("an,aus=off,noaus=", "implied", &error_abort);
    g_assert_cmpuint(qdict_size(d), ==, 3);
    g_assert_cmpstr(qdict_get_str(d, "implied"), ==, "an");
    g_assert_cmpstr(qdict_get_str(d, "noaus"), ==, "");
    qobject_unref(d);

    d = keyval_parse("val", "eins.zwei", &error_abort);
    g_assert_cmpstr(qdict_get_str(d, "eins.zwei"), ==, "val");
    qobject_unref(d);

    d = keyval_parse("help.abc", "implied", &error_abort);
    g_assert_cmpstr(qdict_get_str(d, "implied"), ==, "help.abc");
    qobject_unref(d);

    /* Index fragments are canonical decimal; last one wins */
    d = keyval_parse("l.1=goner,l.0=null,l.01=eins", NULL, &error_abort);
    g_assert_cmpuint(qdict_size(d), ==, 2);
    g_assert_cmpstr(qdict_get_str(d, "l.1"), ==, "eins");
    qobject_unref(d);
}

static void test_keyval_errors(void)
{
    char long_key[129];
    char *params;

    check_keyval_error("=val", NULL, "Invalid parameter ''");
    check_keyval_error(".", NULL, "Invalid parameter '.'");
    check_keyval_error("key.", NULL, "Invalid parameter 'key.'");
    check_keyval_error("7up=val", NULL, "Invalid parameter '7up'");
    check_keyval_error("key[0]=val", NULL, "Invalid parameter 'key[0]'");
    check_keyval_error("0=1", NULL, "Invalid parameter '0'");
    check_keyval_error(",", NULL, "Invalid parameter ''");
    check_keyval_error(",", "implied", "Invalid parameter ''");
    check_keyval_error(",,,a=1", "implied", "Invalid parameter ''");
    check_keyval_error("val,,ue", "implied", "Invalid parameter ''");
    check_keyval_error("=val", "implied", "Invalid parameter ''");
    check_keyval_error("an,noaus,noaus=", NULL,
                       "Expected '=' after parameter 'an'");
    check_keyval_error("no", NULL, "Expected '=' after parameter 'no'");
    check_keyval_error("foo", NULL, "Expected '=' after parameter 'foo'");
    check_keyval_error("help.abc", NULL,
                       "Expected '=' after parameter 'help.abc'");
    check_keyval_error("help", NULL, "Help is not available for this option");
    check_keyval_error("a=1,?", "implied",
                       "Help is not available for this option");
    check_keyval_error("a.b=1,a=2", NULL,
                       "Parameters 'a.*' used inconsistently");
    check_keyval_error("a=2,a.b=1", NULL,
                       "Parameters 'a.*' used inconsistently");
    check_keyval_error("a.b=1,a.b.c=2", NULL,
                       "Parameters 'a.b.*' used inconsistently");
    check_keyval_error("a.b.c=1,a.b.0=2", NULL,
                       "Parameters 'a.b.*' used inconsistently");
    check_keyval_error("a.0.c=1,a.b.c=2", NULL,
                       "Parameters 'a.*' used inconsistently");

    memset(long_key, 'a', 127);
    long_key[127] = 'z';
    long_key[128] = '\0';
    params = g_strdup_printf("%s=v", long_key);
    check_keyval_error(params, NULL,
                       "Parameter 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaz' is too long");
    g_free(params);
    params = g_strdup_printf("k.%s=v", long_key);
    check_keyval_error(params, NULL,
                       "Parameter fragment 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaz' is too "
                       "long");
    g_free(params);
    /* 127 characters are fine */
    params = g_strdup_printf("k.%s=v", long_key + 1);
    qobject_unref(keyval_parse(params, NULL, &error_abort));
    g_free(params);
}

/*
 * Random strings over the syntax characters: both parsers must either
 * succeed or fail with an error, and keyval results must crumple or fail
 * cleanly (meaningful under the sanitizers).
 */
static void test_random_strings(void)
{
    static const char alphabet[] = "ab01.=,?h";
    GRand *rand = g_rand_new_with_seed(7);
    int i;

    for (i = 0; i < 5000; i++) {
        char str[16];
        int len = g_rand_int_range(rand, 0, sizeof(str));
        Error *err = NULL;
        QemuOpts *opts;
        QDict *d;
        int j;

        for (j = 0; j < len; j++) {
            str[j] = alphabet[g_rand_int_range(rand, 0,
                                               sizeof(alphabet) - 1)];
        }
        str[len] = '\0';

        d = keyval_parse(str, (i & 1) ? "implied" : NULL, &err);
        g_assert_true(!d != !err);
        if (d) {
            QObject *crumpled = qdict_crumple(d, NULL);

            qobject_unref(crumpled);
            qobject_unref(d);
        }
        error_free(err);
        err = NULL;

        opts = qemu_opts_parse(&any_opts, str, i & 1, &err);
        g_assert_true(!opts != !err);
        if (opts) {
            QDict *qd = qemu_opts_to_qdict(opts, NULL);

            qobject_unref(qd);
            qemu_opts_del(opts);
        }
        error_free(err);
    }
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/qemu-opts/parse-typed", test_parse_typed);
    g_test_add_func("/qemu-opts/parse-bool-spellings",
                    test_parse_bool_spellings);
    g_test_add_func("/qemu-opts/parse-comma-escape", test_parse_comma_escape);
    g_test_add_func("/qemu-opts/parse-errors", test_parse_errors);
    g_test_add_func("/qemu-opts/parse-size-hint", test_parse_size_hint);
    g_test_add_func("/qemu-opts/parse-flags", test_parse_flags);
    g_test_add_func("/qemu-opts/parse-noisily", test_parse_noisily_warns);
    g_test_add_func("/qemu-opts/parse-implied", test_parse_implied);
    g_test_add_func("/qemu-opts/help", test_help_detection);
    g_test_add_func("/qemu-opts/set-get-del", test_set_get_del);
    g_test_add_func("/qemu-opts/undescribed-getters",
                    test_undescribed_getters);
    g_test_add_func("/qemu-opts/create-ids", test_create_ids);
    g_test_add_func("/qemu-opts/absorb-qdict", test_absorb_qdict);
    g_test_add_func("/qemu-opts/to-qdict", test_to_qdict);
    g_test_add_func("/qemu-opts/print", test_print);
    g_test_add_func("/qemu-opts/print-help", test_print_help);
    g_test_add_func("/qemu-opts/append", test_append);
    g_test_add_func("/keyval/parse", test_keyval);
    g_test_add_func("/keyval/errors", test_keyval_errors);
    g_test_add_func("/parsers/random-strings", test_random_strings);

    return g_test_run();
}
