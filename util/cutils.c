/*
 * String helpers and strict number/size parsing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <math.h>
#include "qemu/cutils.h"
#include "qemu/error-report.h"

void pstrcpy(char *buf, int buf_size, const char *str)
{
    int i;

    if (buf_size <= 0) {
        return;
    }
    for (i = 0; i < buf_size - 1 && str[i]; i++) {
        buf[i] = str[i];
    }
    buf[i] = '\0';
}

bool qapi_bool_parse(const char *name, const char *value, bool *obj,
                     Error **errp)
{
    static const char *const true_words[] = { "on", "yes", "true", "y" };
    static const char *const false_words[] = { "off", "no", "false", "n" };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(true_words); i++) {
        if (!strcmp(value, true_words[i])) {
            *obj = true;
            return true;
        }
        if (!strcmp(value, false_words[i])) {
            *obj = false;
            return true;
        }
    }
    error_setg(errp, "Parameter '%s' expects 'on' or 'off'", name);
    return false;
}

bool strstart(const char *str, const char *val, const char **ptr)
{
    size_t len = strlen(val);

    if (strncmp(str, val, len) != 0) {
        return false;
    }
    if (ptr) {
        *ptr = str + len;
    }
    return true;
}

/*
 * Common tail of the strto* wrappers.  Nothing parsed is -EINVAL (with
 * *@endptr at the start); so is trailing text when the caller gave no
 * @endptr; range errors from libc become -ERANGE.
 */
static int check_strtox(const char *nptr, const char *ep,
                        const char **endptr, int libc_errno)
{
    if (endptr) {
        *endptr = ep;
    }
    if (ep == nptr) {
        return -EINVAL;
    }
    if (!endptr && *ep) {
        return -EINVAL;
    }
    if (libc_errno == ERANGE) {
        return -ERANGE;
    }
    return libc_errno ? -libc_errno : 0;
}

int qemu_strtoi64(const char *nptr, const char **endptr, int base,
                  int64_t *result)
{
    char *ep;

    if (!nptr) {
        if (endptr) {
            *endptr = NULL;
        }
        return -EINVAL;
    }
    errno = 0;
    *result = strtoll(nptr, &ep, base);
    return check_strtox(nptr, ep, endptr, errno);
}

int qemu_strtou64(const char *nptr, const char **endptr, int base,
                  uint64_t *result)
{
    char *ep;

    if (!nptr) {
        if (endptr) {
            *endptr = NULL;
        }
        return -EINVAL;
    }
    errno = 0;
    /* As strtoull: "-1" wraps to UINT64_MAX */
    *result = strtoull(nptr, &ep, base);
    return check_strtox(nptr, ep, endptr, errno);
}

/* Scale of a size suffix letter, 0 if @c is not one */
static uint64_t suffix_mul(char c)
{
    switch (g_ascii_toupper(c)) {
    case 'B':
        return 1;
    case 'K':
        return KiB;
    case 'M':
        return MiB;
    case 'G':
        return GiB;
    case 'T':
        return TiB;
    case 'P':
        return PiB;
    case 'E':
        return EiB;
    default:
        return 0;
    }
}

/*
 * Parse "<integer>[.<fraction>][suffix]" or "0x<hex>[suffix]".  The
 * integer part is exact; a fraction is kept as 64-bit binary fixed point
 * (converted from a double, as QEMU does, so results agree to the byte)
 * and needs a scale above bytes (so "1.5" in bytes is invalid but "1.5k"
 * is 1536), with the result rounded to the nearest byte.  Negative
 * numbers and exponents are rejected.
 */
static int do_strtosz(const char *nptr, const char **end,
                      char default_suffix, uint64_t *result)
{
    const char *endptr;
    uint64_t val, mul, frac = 0;
    bool hex = false;
    int ret;

    ret = qemu_strtou64(nptr, &endptr, 10, &val);
    if (ret) {
        goto out;
    }
    if (memchr(nptr, '-', endptr - nptr)) {
        endptr = nptr;
        ret = -EINVAL;
        goto out;
    }
    if (val == 0 && (*endptr == 'x' || *endptr == 'X')) {
        ret = qemu_strtou64(nptr, &endptr, 16, &val);
        if (ret) {
            goto out;
        }
        if (*endptr == '.') {
            endptr = nptr;
            ret = -EINVAL;
            goto out;
        }
        hex = true;
    } else if (*endptr == '.') {
        const char *f = endptr;
        char *fend;
        double fraction;

        errno = 0;
        fraction = strtod(f, &fend);
        if (fend == f) {
            /* "1." or "1.k": no fractional digits, skip the dot */
            endptr = f + 1;
        } else if (memchr(f, 'e', fend - f) || memchr(f, 'E', fend - f) ||
                   !isfinite(fraction)) {
            endptr = nptr;
            ret = -EINVAL;
            goto out;
        } else {
            /*
             * Fraction as 64-bit binary fixed point: frac / 2^64.  A
             * fraction so close to 1 that the double rounds up to 1.0
             * contributes nothing, as with QEMU on x86-64 (so "1.99...9k"
             * with 19 nines is 1024).
             */
            double scaled = fraction * 0x1p64;

            frac = scaled >= 0x1p64 ? 0 : (uint64_t)scaled;
            endptr = fend;
        }
    }

    mul = suffix_mul(*endptr);
    if (mul) {
        if (hex) {
            warn_report("Using a multiplier suffix on hex numbers "
                        "is deprecated: %s", nptr);
        }
        endptr++;
    } else {
        mul = suffix_mul(default_suffix);
        assert(mul);
    }

    if (mul == 1) {
        if (frac) {
            endptr = nptr;
            ret = -EINVAL;
            goto out;
        }
    } else {
        unsigned __int128 total = (unsigned __int128)val * mul;

        /* Add frac * mul / 2^64, rounding half up */
        total += (((unsigned __int128)frac * mul) + ((unsigned __int128)1
                                                    << 63)) >> 64;
        if (total >> 64) {
            ret = -ERANGE;
            goto out;
        }
        val = (uint64_t)total;
    }
    ret = 0;

out:
    if (end) {
        *end = endptr;
    } else if (*endptr) {
        ret = -EINVAL;
    }
    if (ret == 0) {
        *result = val;
    }
    return ret;
}

int qemu_strtosz(const char *nptr, const char **end, uint64_t *result)
{
    return do_strtosz(nptr, end, 'B', result);
}

char *size_to_str(uint64_t val)
{
    static const char *const prefixes[] = {
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    };
    /* val * 1.024 with one rounding: 1000/1024 is exact in binary */
    double scaled = val / (1000.0 / 1024.0);
    int i = 0;

    /*
     * Pick the largest unit in which the number is below 1000, so
     * 1023 KiB prints as "0.999 MiB" rather than "1.02e+03 KiB".
     */
    while (i < 6 && scaled >= (double)(UINT64_C(1) << (10 * (i + 1)))) {
        i++;
    }
    return g_strdup_printf("%0.3g %sB",
                           (double)val / (double)(UINT64_C(1) << (10 * i)),
                           prefixes[i]);
}

bool id_wellformed(const char *id)
{
    const char *p;

    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}
