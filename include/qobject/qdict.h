/*
 * Dictionaries (string keys, QObject values, insertion order kept) and
 * lists.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QDICT_H
#define QDICT_H

#include "qapi/error.h"
#include "qobject/qobject.h"

typedef struct QDictEntry QDictEntry;

QDict *qdict_new(void);
size_t qdict_size(const QDict *qdict);
/* Takes over the reference to @value; replaces an existing key */
void qdict_put_obj(QDict *qdict, const char *key, QObject *value);
#define qdict_put(qdict, key, obj) qdict_put_obj(qdict, key, QOBJECT(obj))
void qdict_put_int(QDict *qdict, const char *key, int64_t value);
void qdict_put_bool(QDict *qdict, const char *key, bool value);
void qdict_put_str(QDict *qdict, const char *key, const char *value);
void qdict_put_null(QDict *qdict, const char *key);

QObject *qdict_get(const QDict *qdict, const char *key);
bool qdict_haskey(const QDict *qdict, const char *key);
void qdict_del(QDict *qdict, const char *key);

/* These abort if the key is missing or of another type */
int64_t qdict_get_int(const QDict *qdict, const char *key);
bool qdict_get_bool(const QDict *qdict, const char *key);
const char *qdict_get_str(const QDict *qdict, const char *key);
QDict *qdict_get_qdict(const QDict *qdict, const char *key);
QList *qdict_get_qlist(const QDict *qdict, const char *key);
/* NULL / default when missing or of another type */
const char *qdict_get_try_str(const QDict *qdict, const char *key);
int64_t qdict_get_try_int(const QDict *qdict, const char *key,
                          int64_t def_value);
bool qdict_get_try_bool(const QDict *qdict, const char *key, bool def);

/* Iteration in insertion order; entries stay valid until modified */
const QDictEntry *qdict_first(const QDict *qdict);
const QDictEntry *qdict_next(const QDict *qdict, const QDictEntry *entry);
const char *qdict_entry_key(const QDictEntry *entry);
QObject *qdict_entry_value(const QDictEntry *entry);

/* New dict sharing (referencing) the values of @src */
QDict *qdict_clone_shallow(const QDict *src);
/* Copy entries of @src into @dst that @dst does not already have */
void qdict_join(QDict *dest, QDict *src, bool overwrite);

/*
 * Move every entry "START.rest" of @src into a new dict *@dst as "rest".
 * @start includes the trailing dot, e.g. "file.".
 */
void qdict_extract_subqdict(QDict *src, QDict **dst, const char *start);

/* {"a": {"b": 1}} becomes {"a.b": 1}; lists become "a.0", "a.1" */
void qdict_flatten(QDict *qdict);
/* Inverse of flatten: "a.b" keys become nested dicts; NULL on conflict */
QObject *qdict_crumple(const QDict *src, Error **errp);
/*
 * Convert every scalar value to its string form (true -> "on",
 * false -> "off", numbers in decimal), recursing into dicts and lists, so
 * option readers only see strings.
 */
void qdict_stringify(QDict *qdict);
/* Number of entries whose key starts with @prefix */
int qdict_count_prefixed_entries(const QDict *src, const char *prefix);

QList *qlist_new(void);
void qlist_append_obj(QList *qlist, QObject *obj);
#define qlist_append(qlist, obj) qlist_append_obj(qlist, QOBJECT(obj))
void qlist_append_int(QList *qlist, int64_t value);
void qlist_append_str(QList *qlist, const char *value);
size_t qlist_size(const QList *qlist);
QObject *qlist_peek(QList *qlist);
QObject *qlist_pop(QList *qlist);
/* Element @index (borrowed), NULL if out of range */
QObject *qlist_get(const QList *qlist, size_t index);

/*
 * Type-specific parts of qobject_unref() and qobject_is_equal(), for
 * qobject.c only.
 */
void qdict_destroy_obj(QObject *obj);
void qlist_destroy_obj(QObject *obj);
bool qdict_is_equal(const QObject *a, const QObject *b);
bool qlist_is_equal(const QObject *a, const QObject *b);

static inline void qdict_unref_cleanup(QDict *qdict)
{
    qobject_unref_impl((QObject *)qdict);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QDict, qdict_unref_cleanup)

#endif /* QDICT_H */
