/*
 * Printing of user-facing messages: "progname: message" on stderr.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_ERROR_REPORT_H
#define QEMU_ERROR_REPORT_H

void error_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void error_vreport(const char *fmt, va_list ap) G_GNUC_PRINTF(1, 0);
/* "progname: warning: message" */
void warn_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Like printf to stderr, for continuation lines */
void error_printf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

#endif /* QEMU_ERROR_REPORT_H */
