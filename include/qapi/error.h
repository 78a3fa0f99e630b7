/*
 * Error reporting objects.
 *
 * Rules (as in QEMU):
 * - Error **errp is the last parameter; the callee sets at most one error
 *   and only on failure, and also returns a value that signals failure.
 * - A caller passes NULL to ignore, &error_abort when failure is a bug,
 *   &error_fatal to print and exit(1).
 * - Messages are one phrase: no trailing period, no newline.
 * - error_prepend()/error_append_hint() or reading *errp need ERRP_GUARD().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QAPI_ERROR_H
#define QAPI_ERROR_H

typedef struct Error Error;

extern Error *error_abort;
extern Error *error_fatal;

#define error_setg(errp, fmt, ...) \
    error_setg_internal((errp), __FILE__, __LINE__, __func__, \
                        (fmt), ## __VA_ARGS__)
#define error_setg_errno(errp, os_errno, fmt, ...) \
    error_setg_errno_internal((errp), __FILE__, __LINE__, __func__, \
                              (os_errno), (fmt), ## __VA_ARGS__)

void error_setg_internal(Error **errp, const char *src, int line,
                         const char *func, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);
/* Appends ": strerror(os_errno)" to the message. */
void error_setg_errno_internal(Error **errp, const char *src, int line,
                               const char *func, int os_errno,
                               const char *fmt, ...)
    G_GNUC_PRINTF(6, 7);

/* Message text of @err. */
const char *error_get_pretty(const Error *err);

/* Prepend "fmt..." to the message of *errp (no-op when errp or *errp NULL) */
void error_prepend(Error *const *errp, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* Hint printed on its own line(s) after the message by error_report_err */
void error_append_hint(Error *const *errp, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/*
 * Move @local_err into @dst_errp (frees it when dst_errp is NULL, aborts or
 * exits for &error_abort/&error_fatal).  Returns false when an error was
 * propagated, for "if (!error_propagate(...))"-free code that prefers bool.
 */
void error_propagate(Error **dst_errp, Error *local_err);

void error_free(Error *err);
void error_free_or_abort(Error **errp);

/* Print "progname: message" (plus hint) on stderr and free @err. */
void error_report_err(Error *err);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Error, error_free)

/*
 * ERRP_GUARD(): makes *errp safe to dereference even when the caller passed
 * NULL, &error_abort or &error_fatal.  Must be the first statement.
 */
typedef struct ErrorPropagator {
    Error *local_err;
    Error **errp;
} ErrorPropagator;

void error_propagator_cleanup(ErrorPropagator *prop);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ErrorPropagator, error_propagator_cleanup)

#define ERRP_GUARD()                                                    \
    g_auto(ErrorPropagator) _auto_errp_prop = { .errp = errp };         \
    do {                                                                \
        if (!errp || errp == &error_fatal || errp == &error_abort) {    \
            errp = &_auto_errp_prop.local_err;                          \
        }                                                               \
    } while (0)

#endif /* QAPI_ERROR_H */
