/*
 * User-facing messages on stderr, prefixed with the program name.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"

typedef enum ReportType {
    REPORT_TYPE_ERROR,
    REPORT_TYPE_WARNING,
} ReportType;

/*
 * Print one message: "progname: " (omitted while no program name is set),
 * then "warning: " for warnings, then the text and a newline.  The whole
 * line goes out in one write so concurrent output does not interleave.
 */
static void G_GNUC_PRINTF(2, 0)
vreport(ReportType type, const char *fmt, va_list ap)
{
    const char *progname = error_get_progname();
    GString *line = g_string_new(NULL);

    if (progname && *progname) {
        g_string_append_printf(line, "%s: ", progname);
    }
    if (type == REPORT_TYPE_WARNING) {
        g_string_append(line, "warning: ");
    }
    g_string_append_vprintf(line, fmt, ap);
    g_string_append_c(line, '\n');

    /*
     * stdout is not flushed first: as in QEMU, when both go to one pipe
     * the error appears before output still sitting in stdout's buffer,
     * and golden test outputs depend on that order.
     */
    fwrite(line->str, 1, line->len, stderr);
    fflush(stderr);
    g_string_free(line, TRUE);
}

void error_vreport(const char *fmt, va_list ap)
{
    vreport(REPORT_TYPE_ERROR, fmt, ap);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(REPORT_TYPE_ERROR, fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(REPORT_TYPE_WARNING, fmt, ap);
    va_end(ap);
}

void error_printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}
