/*
 * Strict "key=value,..." parsing into a flat dictionary of strings, for
 * dotted option strings such as "driver=raw,file.filename=a,,b".
 *
 * Grammar (as QEMU's keyval syntax):
 *   params  = [ element { "," element } ] [ "," ]
 *   element = key "=" value | implied-value (first element only)
 *   key     = name { "." ( name | index ) }
 *   name    = letter { letter | digit | "-" | "_" }
 *   index   = digit { digit }
 * A value runs to the next single ','; ",," stands for a literal comma.
 * An implied value (with @implied_key) runs to the first ',' or '='.
 * Later settings of a key win.  A key may not be used both as a value and
 * as a prefix of other keys, nor hold both names and indices below it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/option.h"

/* QEMU limits key fragments to 127 characters */
#define KEYVAL_MAX_FRAGMENT 127

typedef enum KeyKind {
    KEY_SCALAR = 1,
    KEY_DICT_NAMES,
    KEY_DICT_INDICES,
} KeyKind;

/* Length of a name fragment at @s, 0 if none */
static size_t name_len(const char *s)
{
    size_t i;

    if (!g_ascii_isalpha(s[0])) {
        return 0;
    }
    for (i = 1; g_ascii_isalnum(s[i]) || s[i] == '-' || s[i] == '_'; i++) {
        /* just counting */
    }
    return i;
}

/* Length of an index fragment at @s, 0 if none */
static size_t index_len(const char *s)
{
    size_t i;

    for (i = 0; g_ascii_isdigit(s[i]); i++) {
        /* just counting */
    }
    return i;
}

static bool is_help(const char *s, size_t len)
{
    return (len == 4 && !strncmp(s, "help", 4)) ||
           (len == 1 && s[0] == '?');
}

/*
 * Check the key @key (@key_len bytes) fragment by fragment and build its
 * canonical form (indices without leading zeros) in @canon.  Records each
 * dotted prefix's kind in @kinds and reports inconsistent use.
 */
static bool check_key(const char *key, size_t key_len, GHashTable *kinds,
                      GString *canon, Error **errp)
{
    const char *s = key;
    const char *end = key + key_len;
    bool multi = memchr(key, '.', key_len) != NULL;
    gpointer old;

    g_string_truncate(canon, 0);
    for (;;) {
        bool first = s == key;
        size_t len = 0;
        bool is_index = false;

        if (!first) {
            len = index_len(s);
            is_index = len > 0 && (s + len == end || s[len] == '.');
        }
        if (!is_index) {
            len = name_len(s);
        }
        if (s + len > end) {
            len = end - s;
        }
        if (!len || (s + len < end && s[len] != '.')) {
            error_setg(errp, "Invalid parameter '%.*s'", (int)key_len, key);
            return false;
        }
        if (len > KEYVAL_MAX_FRAGMENT) {
            error_setg(errp, "Parameter%s '%.*s' is too long",
                       multi ? " fragment" : "", (int)len, s);
            return false;
        }

        if (!first) {
            /* @canon holds the parent prefix: a dict of names or indices */
            KeyKind kind = is_index ? KEY_DICT_INDICES : KEY_DICT_NAMES;

            old = g_hash_table_lookup(kinds, canon->str);
            if (old && GPOINTER_TO_INT(old) != (int)kind) {
                error_setg(errp, "Parameters '%s.*' used inconsistently",
                           canon->str);
                return false;
            }
            if (!old) {
                g_hash_table_insert(kinds, g_strdup(canon->str),
                                    GINT_TO_POINTER(kind));
            }
            g_string_append_c(canon, '.');
        }
        if (is_index) {
            size_t skip = 0;

            while (skip + 1 < len && s[skip] == '0') {
                skip++;
            }
            g_string_append_len(canon, s + skip, len - skip);
        } else {
            g_string_append_len(canon, s, len);
        }
        s += len;
        if (s == end) {
            break;
        }
        s++;    /* the dot */
    }

    old = g_hash_table_lookup(kinds, canon->str);
    if (old && GPOINTER_TO_INT(old) != KEY_SCALAR) {
        error_setg(errp, "Parameters '%s.*' used inconsistently", canon->str);
        return false;
    }
    if (!old) {
        g_hash_table_insert(kinds, g_strdup(canon->str),
                            GINT_TO_POINTER(KEY_SCALAR));
    }
    return true;
}

QDict *keyval_parse(const char *params, const char *implied_key,
                    Error **errp)
{
    QDict *qdict = qdict_new();
    GHashTable *kinds = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, NULL);
    GString *canon = g_string_new(NULL);
    const char *s = params;

    while (*s) {
        size_t len = strcspn(s, "=,");
        const char *key = s;
        size_t key_len = len;
        GString *value;
        char *implied_value;

        if (len && s[len] != '=' && is_help(s, len)) {
            error_setg(errp, "Help is not available for this option");
            goto fail;
        }
        if (len && s[len] != '=' && implied_key) {
            /* Desugar the implied key; its value cannot contain commas */
            if (!check_key(implied_key, strlen(implied_key), kinds, canon,
                           errp)) {
                goto fail;
            }
            implied_value = g_strndup(s, len);
            qdict_put_str(qdict, canon->str, implied_value);
            g_free(implied_value);
            s += len;
            if (*s == ',') {
                s++;
            }
            implied_key = NULL;
            continue;
        }
        implied_key = NULL;

        if (!check_key(key, key_len, kinds, canon, errp)) {
            goto fail;
        }
        if (s[len] != '=') {
            error_setg(errp, "Expected '=' after parameter '%.*s'",
                       (int)key_len, key);
            goto fail;
        }
        s += len + 1;

        value = g_string_new(NULL);
        while (*s) {
            if (*s == ',') {
                s++;
                if (*s != ',') {
                    break;
                }
            }
            g_string_append_c(value, *s++);
        }
        qdict_put_str(qdict, canon->str, value->str);
        g_string_free(value, TRUE);
    }

    g_string_free(canon, TRUE);
    g_hash_table_destroy(kinds);
    return qdict;

fail:
    g_string_free(canon, TRUE);
    g_hash_table_destroy(kinds);
    qobject_unref(qdict);
    return NULL;
}
