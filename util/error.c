/*
 * Error objects: creation, decoration, propagation and reporting.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"

struct Error {
    char *msg;
    GString *hint;
    /* Where the error was created, for &error_abort diagnostics */
    const char *src;
    const char *func;
    int line;
};

/*
 * Only the addresses of these matter: passing &error_abort or &error_fatal
 * as errp selects abort() or exit(1) when an error is set.
 */
Error *error_abort;
Error *error_fatal;

static void error_handle_fatal(Error **errp, Error *err)
{
    if (errp == &error_abort) {
        fprintf(stderr, "Unexpected error in %s() at %s:%d:\n",
                err->func ? err->func : "?", err->src ? err->src : "?",
                err->line);
        error_report_err(err);
        abort();
    }
    if (errp == &error_fatal) {
        error_report_err(err);
        exit(1);
    }
}

static void error_setv(Error **errp, const char *src, int line,
                       const char *func, const char *fmt, va_list ap,
                       int os_errno)
{
    Error *err;
    int saved_errno = errno;

    if (!errp) {
        errno = saved_errno;
        return;
    }
    /* Setting an error twice loses the first one: that is a bug */
    assert(*errp == NULL);

    err = g_new0(Error, 1);
    err->msg = g_strdup_vprintf(fmt, ap);
    if (os_errno != 0) {
        char *full = g_strdup_printf("%s: %s", err->msg, strerror(os_errno));

        g_free(err->msg);
        err->msg = full;
    }
    err->src = src;
    err->line = line;
    err->func = func;

    error_handle_fatal(errp, err);
    *errp = err;
    errno = saved_errno;
}

void error_setg_internal(Error **errp, const char *src, int line,
                         const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, src, line, func, fmt, ap, 0);
    va_end(ap);
}

void error_setg_errno_internal(Error **errp, const char *src, int line,
                               const char *func, int os_errno,
                               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, src, line, func, fmt, ap, os_errno);
    va_end(ap);
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

static void error_vprepend(Error *const *errp, const char *fmt, va_list ap)
{
    char *prefix;
    char *msg;

    if (!errp || !*errp) {
        return;
    }
    prefix = g_strdup_vprintf(fmt, ap);
    msg = g_strconcat(prefix, (*errp)->msg, NULL);
    g_free(prefix);
    g_free((*errp)->msg);
    (*errp)->msg = msg;
}

void error_prepend(Error *const *errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vprepend(errp, fmt, ap);
    va_end(ap);
}

void error_append_hint(Error *const *errp, const char *fmt, ...)
{
    va_list ap;
    int saved_errno = errno;
    Error *err;

    if (!errp) {
        return;
    }
    /* Hints on these would be lost: callers must use ERRP_GUARD() */
    assert(errp != &error_abort && errp != &error_fatal);
    err = *errp;
    if (!err) {
        return;
    }
    if (!err->hint) {
        err->hint = g_string_new(NULL);
    }
    va_start(ap, fmt);
    g_string_append_vprintf(err->hint, fmt, ap);
    va_end(ap);
    errno = saved_errno;
}

void error_propagate(Error **dst_errp, Error *local_err)
{
    if (!local_err) {
        return;
    }
    error_handle_fatal(dst_errp, local_err);
    if (dst_errp && !*dst_errp) {
        *dst_errp = local_err;
    } else {
        error_free(local_err);
    }
}

void error_free(Error *err)
{
    if (err) {
        g_free(err->msg);
        if (err->hint) {
            g_string_free(err->hint, TRUE);
        }
        g_free(err);
    }
}

void error_free_or_abort(Error **errp)
{
    assert(errp && *errp);
    error_free(*errp);
    *errp = NULL;
}

void error_report_err(Error *err)
{
    error_report("%s", error_get_pretty(err));
    if (err->hint) {
        error_printf("%s", err->hint->str);
    }
    error_free(err);
}

void error_propagator_cleanup(ErrorPropagator *prop)
{
    error_propagate(prop->errp, prop->local_err);
}
