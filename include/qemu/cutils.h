/*
 * String and number helpers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_CUTILS_H
#define QEMU_CUTILS_H

#include "qapi/error.h"

/* Copy with truncation, always NUL-terminated */
void pstrcpy(char *buf, int buf_size, const char *str);
/* If @str starts with @val, set *@ptr past it and return true */
bool strstart(const char *str, const char *val, const char **ptr);

/*
 * Number parsing in the style of strtol: 0 or -EINVAL/-ERANGE.
 * With @endptr NULL, trailing characters are an error (-EINVAL).
 */
int qemu_strtoi64(const char *nptr, const char **endptr, int base,
                  int64_t *result);
int qemu_strtou64(const char *nptr, const char **endptr, int base,
                  uint64_t *result);

/*
 * Sizes with an optional suffix B, K, M, G, T, P, E (binary, case
 * insensitive, bytes without one); fractions allowed ("1.5G").
 * Returns 0, -EINVAL or -ERANGE.
 */
int qemu_strtosz(const char *nptr, const char **end, uint64_t *result);

/*
 * Human-readable size as qemu-img prints it: "1 MiB", "1.5 GiB",
 * "512 B", three significant digits (g_free the result).
 */
char *size_to_str(uint64_t val);

/*
 * The one parser of boolean option values in the tree: "on", "yes",
 * "true", "y" are true, "off", "no", "false", "n" are false.  Anything
 * else fails with "Parameter '@name' expects 'on' or 'off'".
 */
bool qapi_bool_parse(const char *name, const char *value, bool *obj,
                     Error **errp);

/* Host page size etc. are in osdep.h */

/*
 * True if @id is an identifier as QEMU defines them (option group ids,
 * object ids): a letter, then letters, digits, '-', '.' and '_'
 */
bool id_wellformed(const char *id);

#endif /* QEMU_CUTILS_H */
