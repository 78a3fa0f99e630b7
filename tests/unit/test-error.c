/*
 * Unit tests for the Error API and user-facing message printing
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qemu/error-report.h"

/* Creation: plain and errno forms, NULL errp */

static void test_setg(void)
{
    Error *err = NULL;

    error_setg(&err, "Could not open '%s'", "x.img");
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, "Could not open 'x.img'");
    error_free(err);
}

static void test_setg_errno(void)
{
    Error *err = NULL;
    char *expected = g_strdup_printf("Could not read: %s", strerror(ENOENT));

    error_setg_errno(&err, ENOENT, "Could not read");
    g_assert_cmpstr(error_get_pretty(err), ==, expected);
    error_free(err);
    g_free(expected);

    /* errno 0 adds nothing */
    err = NULL;
    error_setg_errno(&err, 0, "Plain");
    g_assert_cmpstr(error_get_pretty(err), ==, "Plain");
    error_free(err);
}

static void test_setg_null_keeps_errno(void)
{
    errno = EAGAIN;
    error_setg(NULL, "ignored");
    error_setg_errno(NULL, EIO, "ignored");
    g_assert_cmpint(errno, ==, EAGAIN);
}

static void test_set_twice_aborts(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        error_setg(&err, "first");
        error_setg(&err, "second");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
}

/* Decoration */

static void test_prepend(void)
{
    Error *err = NULL;

    error_prepend(&err, "nothing to prepend to: ");
    g_assert_null(err);
    error_prepend(NULL, "nothing: ");

    error_setg(&err, "No such file");
    error_prepend(&err, "Could not open '%s': ", "a");
    error_prepend(&err, "qcow2: ");
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "qcow2: Could not open 'a': No such file");
    error_free(err);
}

static void test_free_or_abort(void)
{
    Error *err = NULL;

    error_setg(&err, "orig");
    error_free_or_abort(&err);
    g_assert_null(err);
    error_free(NULL);
}

/* Propagation */

static void test_propagate(void)
{
    Error *dst = NULL;
    Error *local = NULL;

    /* Nothing to propagate leaves dst alone */
    error_propagate(&dst, NULL);
    g_assert_null(dst);

    error_setg(&local, "first");
    error_propagate(&dst, local);
    g_assert_cmpstr(error_get_pretty(dst), ==, "first");

    /* dst already set: the new error is dropped (and freed) */
    local = NULL;
    error_setg(&local, "second");
    error_propagate(&dst, local);
    g_assert_cmpstr(error_get_pretty(dst), ==, "first");
    error_free(dst);

    /* NULL destination frees */
    local = NULL;
    error_setg(&local, "dropped");
    error_propagate(NULL, local);
}

static void test_propagate_abort(void)
{
    if (g_test_subprocess()) {
        Error *local = NULL;

        error_set_progname("test-error");
        error_setg(&local, "this is a bug");
        error_propagate(&error_abort, local);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("Unexpected error in test_propagate_abort() "
                              "at *test-error.c:*:\n"
                              "test-error: this is a bug\n");
}

static void test_setg_fatal(void)
{
    if (g_test_subprocess()) {
        error_set_progname("/usr/local/bin/qemu-img");
        error_setg(&error_fatal, "Image is corrupt");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stdout("");
    g_test_trap_assert_stderr("qemu-img: Image is corrupt\n");
}

/* ERRP_GUARD lets a function decorate errors whatever errp it got */

static bool guarded_fail(int n, Error **errp)
{
    ERRP_GUARD();

    error_setg(errp, "Value %d is out of range", n);
    error_prepend(errp, "Option 'x': ");
    error_append_hint(errp, "Use 0 to %d\n", 9);
    g_assert_nonnull(*errp);
    return false;
}

static bool guarded_ok(Error **errp)
{
    ERRP_GUARD();

    g_assert_null(*errp);
    return true;
}

static void test_errp_guard(void)
{
    Error *err = NULL;

    g_assert_false(guarded_fail(12, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Option 'x': Value 12 is out of range");
    error_free(err);

    /* NULL errp: the error is created and freed inside */
    g_assert_false(guarded_fail(12, NULL));

    err = NULL;
    g_assert_true(guarded_ok(&err));
    g_assert_null(err);
    g_assert_true(guarded_ok(NULL));
    g_assert_true(guarded_ok(&error_abort));
}

static void test_errp_guard_fatal_keeps_hint(void)
{
    if (g_test_subprocess()) {
        error_set_progname("qemu-io");
        guarded_fail(12, &error_fatal);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("qemu-io: Option 'x': Value 12 is out of "
                              "range\nUse 0 to 9\n");
}

static void test_append_hint_null(void)
{
    Error *err = NULL;

    error_append_hint(NULL, "ignored\n");
    error_append_hint(&err, "ignored\n");
    g_assert_null(err);
}

/* Reporting */

static void test_report_err_with_hint(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        error_set_progname("qemu-img");
        error_setg(&err, "Parameter 'size' expects a size");
        error_append_hint(&err, "Line one\n");
        error_append_hint(&err, "Line %s\n", "two");
        error_report_err(err);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("qemu-img: Parameter 'size' expects a size\n"
                              "Line one\nLine two\n");
}

static void test_reports(void)
{
    if (g_test_subprocess()) {
        error_set_progname("./build/qemu-io");
        error_report("can't open device %s", "x");
        warn_report("short-form boolean option '%s' deprecated", "foo");
        error_printf("continuation %s\n", "line");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("");
    g_test_trap_assert_stderr("qemu-io: can't open device x\n"
                              "qemu-io: warning: short-form boolean option "
                              "'foo' deprecated\n"
                              "continuation line\n");
}

static void test_report_without_progname(void)
{
    if (g_test_subprocess()) {
        error_set_progname(NULL);
        error_report("bare %s", "message");
        warn_report("careful");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("bare message\nwarning: careful\n");
}

static void test_progname(void)
{
    error_set_progname("/a/b/qemu-img");
    g_assert_cmpstr(error_get_progname(), ==, "qemu-img");
    error_set_progname("qemu-io");
    g_assert_cmpstr(error_get_progname(), ==, "qemu-io");
    error_set_progname(NULL);
    g_assert_cmpstr(error_get_progname(), ==, "");
}

static void test_autoptr(void)
{
    g_autoptr(Error) err = NULL;

    error_setg(&err, "freed automatically");
    g_assert_nonnull(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/error/setg", test_setg);
    g_test_add_func("/error/setg-errno", test_setg_errno);
    g_test_add_func("/error/setg-null-keeps-errno",
                    test_setg_null_keeps_errno);
    g_test_add_func("/error/set-twice-aborts", test_set_twice_aborts);
    g_test_add_func("/error/prepend", test_prepend);
    g_test_add_func("/error/free-or-abort", test_free_or_abort);
    g_test_add_func("/error/propagate", test_propagate);
    g_test_add_func("/error/propagate-abort", test_propagate_abort);
    g_test_add_func("/error/setg-fatal", test_setg_fatal);
    g_test_add_func("/error/errp-guard", test_errp_guard);
    g_test_add_func("/error/errp-guard-fatal-keeps-hint",
                    test_errp_guard_fatal_keeps_hint);
    g_test_add_func("/error/append-hint-null", test_append_hint_null);
    g_test_add_func("/error/autoptr", test_autoptr);
    g_test_add_func("/report/err-with-hint", test_report_err_with_hint);
    g_test_add_func("/report/kinds", test_reports);
    g_test_add_func("/report/no-progname", test_report_without_progname);
    g_test_add_func("/report/progname", test_progname);

    return g_test_run();
}
