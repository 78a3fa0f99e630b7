/*
 * Dictionaries with insertion order, lists, and the flatten/crumple
 * transformations used for dotted block options.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"

struct QDictEntry {
    char *key;
    QObject *value;
    QDictEntry *prev;
    QDictEntry *next;
};

/*
 * Entries form a doubly linked list in insertion order (iteration and
 * stable JSON output); the hash table indexes the same entries by key.
 */
struct QDict {
    QObject base;
    GHashTable *table;
    QDictEntry *first;
    QDictEntry *last;
    size_t size;
};

struct QList {
    QObject base;
    GPtrArray *items;
};

QDict *qdict_new(void)
{
    QDict *qdict = g_new0(QDict, 1);

    qdict->base.type = QTYPE_QDICT;
    qdict->base.refcnt = 1;
    qdict->table = g_hash_table_new(g_str_hash, g_str_equal);
    return qdict;
}

size_t qdict_size(const QDict *qdict)
{
    return qdict->size;
}

static QDictEntry *qdict_find(const QDict *qdict, const char *key)
{
    return g_hash_table_lookup(qdict->table, key);
}

void qdict_put_obj(QDict *qdict, const char *key, QObject *value)
{
    QDictEntry *entry = qdict_find(qdict, key);

    assert(value);
    if (entry) {
        /* Replacing keeps the key's original position */
        qobject_unref(entry->value);
        entry->value = value;
        return;
    }
    entry = g_new0(QDictEntry, 1);
    entry->key = g_strdup(key);
    entry->value = value;
    entry->prev = qdict->last;
    if (qdict->last) {
        qdict->last->next = entry;
    } else {
        qdict->first = entry;
    }
    qdict->last = entry;
    qdict->size++;
    g_hash_table_insert(qdict->table, entry->key, entry);
}

void qdict_put_int(QDict *qdict, const char *key, int64_t value)
{
    qdict_put(qdict, key, qnum_from_int(value));
}

void qdict_put_bool(QDict *qdict, const char *key, bool value)
{
    qdict_put(qdict, key, qbool_from_bool(value));
}

void qdict_put_str(QDict *qdict, const char *key, const char *value)
{
    qdict_put(qdict, key, qstring_from_str(value));
}

void qdict_put_null(QDict *qdict, const char *key)
{
    qdict_put(qdict, key, qnull());
}

QObject *qdict_get(const QDict *qdict, const char *key)
{
    QDictEntry *entry = qdict_find(qdict, key);

    return entry ? entry->value : NULL;
}

bool qdict_haskey(const QDict *qdict, const char *key)
{
    return qdict_find(qdict, key) != NULL;
}

void qdict_del(QDict *qdict, const char *key)
{
    QDictEntry *entry = qdict_find(qdict, key);

    if (!entry) {
        return;
    }
    g_hash_table_remove(qdict->table, entry->key);
    if (entry->prev) {
        entry->prev->next = entry->next;
    } else {
        qdict->first = entry->next;
    }
    if (entry->next) {
        entry->next->prev = entry->prev;
    } else {
        qdict->last = entry->prev;
    }
    qdict->size--;
    qobject_unref(entry->value);
    g_free(entry->key);
    g_free(entry);
}

int64_t qdict_get_int(const QDict *qdict, const char *key)
{
    QNum *qn = qobject_to(QNum, qdict_get(qdict, key));

    assert(qn);
    return qnum_get_int(qn);
}

bool qdict_get_bool(const QDict *qdict, const char *key)
{
    QBool *qb = qobject_to(QBool, qdict_get(qdict, key));

    assert(qb);
    return qbool_get_bool(qb);
}

const char *qdict_get_str(const QDict *qdict, const char *key)
{
    QString *qs = qobject_to(QString, qdict_get(qdict, key));

    assert(qs);
    return qstring_get_str(qs);
}

QDict *qdict_get_qdict(const QDict *qdict, const char *key)
{
    QDict *d = qobject_to(QDict, qdict_get(qdict, key));

    assert(d);
    return d;
}

QList *qdict_get_qlist(const QDict *qdict, const char *key)
{
    QList *l = qobject_to(QList, qdict_get(qdict, key));

    assert(l);
    return l;
}

const char *qdict_get_try_str(const QDict *qdict, const char *key)
{
    QString *qs = qobject_to(QString, qdict_get(qdict, key));

    return qs ? qstring_get_str(qs) : NULL;
}

int64_t qdict_get_try_int(const QDict *qdict, const char *key,
                          int64_t def_value)
{
    QNum *qn = qobject_to(QNum, qdict_get(qdict, key));
    int64_t val;

    if (!qn || !qnum_get_try_int(qn, &val)) {
        return def_value;
    }
    return val;
}

bool qdict_get_try_bool(const QDict *qdict, const char *key, bool def)
{
    QBool *qb = qobject_to(QBool, qdict_get(qdict, key));

    return qb ? qbool_get_bool(qb) : def;
}

const QDictEntry *qdict_first(const QDict *qdict)
{
    return qdict->first;
}

const QDictEntry *qdict_next(const QDict *qdict, const QDictEntry *entry)
{
    return entry->next;
}

const char *qdict_entry_key(const QDictEntry *entry)
{
    return entry->key;
}

QObject *qdict_entry_value(const QDictEntry *entry)
{
    return entry->value;
}

QDict *qdict_clone_shallow(const QDict *src)
{
    QDict *dest = qdict_new();
    const QDictEntry *e;

    for (e = src->first; e; e = e->next) {
        qdict_put_obj(dest, e->key, qobject_ref(e->value));
    }
    return dest;
}

/*
 * Entries move from @src to @dest; with !@overwrite, keys @dest already
 * has stay behind in @src (so the caller can tell what was not taken).
 */
void qdict_join(QDict *dest, QDict *src, bool overwrite)
{
    const QDictEntry *e = src->first;

    while (e) {
        const QDictEntry *next = e->next;

        if (overwrite || !qdict_haskey(dest, e->key)) {
            qdict_put_obj(dest, e->key, qobject_ref(e->value));
            qdict_del(src, e->key);
        }
        e = next;
    }
}

void qdict_extract_subqdict(QDict *src, QDict **dst, const char *start)
{
    const QDictEntry *e = src->first;
    size_t start_len = strlen(start);

    if (dst) {
        *dst = qdict_new();
    }
    while (e) {
        const QDictEntry *next = e->next;

        if (!strncmp(e->key, start, start_len)) {
            if (dst) {
                qdict_put_obj(*dst, e->key + start_len,
                              qobject_ref(e->value));
            }
            qdict_del(src, e->key);
        }
        e = next;
    }
}

int qdict_count_prefixed_entries(const QDict *src, const char *prefix)
{
    const QDictEntry *e;
    size_t len = strlen(prefix);
    int count = 0;

    for (e = src->first; e; e = e->next) {
        if (!strncmp(e->key, prefix, len)) {
            count++;
        }
    }
    return count;
}

/* Move every entry of @qdict to @dest, leaving @qdict empty */
static void qdict_move_all(QDict *dest, QDict *qdict)
{
    while (qdict->first) {
        QDictEntry *e = qdict->first;

        qdict_put_obj(dest, e->key, qobject_ref(e->value));
        qdict_del(qdict, e->key);
    }
}

static void flatten_into(QDict *dest, const char *prefix, QObject *value);

static void flatten_key(QDict *dest, const char *prefix, const char *key,
                        QObject *value)
{
    char *full = prefix ? g_strdup_printf("%s.%s", prefix, key)
                        : g_strdup(key);

    flatten_into(dest, full, value);
    g_free(full);
}

/*
 * Emit @value under @prefix into @dest, expanding non-empty dicts and
 * lists.  Empty containers have no leaves, so they are kept as values.
 */
static void flatten_into(QDict *dest, const char *prefix, QObject *value)
{
    QDict *d = qobject_to(QDict, value);
    QList *l = qobject_to(QList, value);

    if (d && qdict_size(d)) {
        const QDictEntry *e;

        for (e = d->first; e; e = e->next) {
            flatten_key(dest, prefix, e->key, e->value);
        }
    } else if (l && qlist_size(l)) {
        size_t i;

        for (i = 0; i < qlist_size(l); i++) {
            char key[32];

            snprintf(key, sizeof(key), "%zu", i);
            flatten_key(dest, prefix, key, qlist_get(l, i));
        }
    } else {
        qdict_put_obj(dest, prefix, qobject_ref(value));
    }
}

void qdict_flatten(QDict *qdict)
{
    QDict *flat = qdict_new();
    const QDictEntry *e;

    for (e = qdict->first; e; e = e->next) {
        flatten_key(flat, NULL, e->key, e->value);
    }
    /* Replace the contents in place: callers hold references to @qdict */
    while (qdict->first) {
        qdict_del(qdict, qdict->first->key);
    }
    qdict_move_all(qdict, flat);
    qobject_unref(flat);
}

/*
 * Split a flat key at its first separating dot.  ".." is an escaped dot
 * inside a component; the head is returned unescaped, the tail (NULL when
 * there is no separator) still escaped, ready for the next level.
 */
static char *split_flat_key(const char *key, const char **tail)
{
    GString *head = g_string_new(NULL);
    const char *p = key;

    *tail = NULL;
    while (*p) {
        if (*p == '.') {
            if (p[1] == '.') {
                g_string_append_c(head, '.');
                p += 2;
                continue;
            }
            *tail = p + 1;
            break;
        }
        g_string_append_c(head, *p++);
    }
    return g_string_free(head, FALSE);
}

static bool key_is_index(const char *key, size_t *index)
{
    const char *p;
    uint64_t val = 0;

    if (!*key) {
        return false;
    }
    for (p = key; *p; p++) {
        if (*p < '0' || *p > '9' || val > (SIZE_MAX - 9) / 10) {
            return false;
        }
        val = val * 10 + (*p - '0');
    }
    *index = val;
    return true;
}

/* Turn a dict whose keys are all indices into a list; NULL on error */
static QObject *crumple_maybe_list(QDict *level, Error **errp)
{
    const QDictEntry *e;
    size_t count = 0, index;
    size_t max_plus_one = 0;
    int is_list = -1;
    QObject **slots;
    QList *list;
    size_t i;

    for (e = level->first; e; e = e->next) {
        int this_is_index = key_is_index(e->key, &index);

        if (is_list == -1) {
            is_list = this_is_index;
        } else if (is_list != this_is_index) {
            error_setg(errp, "Cannot mix list and non-list keys");
            return NULL;
        }
        if (this_is_index) {
            count++;
            max_plus_one = MAX(max_plus_one, index + 1);
        }
    }
    if (is_list != 1) {
        return qobject_ref(QOBJECT(level));
    }
    if (count != max_plus_one) {
        error_setg(errp, "List indices are not contiguous, "
                   "saw %zu elements but %zu largest index",
                   count, max_plus_one - 1);
        return NULL;
    }

    /* Same count as the maximum, but "1" and "01" could still collide */
    slots = g_new0(QObject *, count);
    for (e = level->first; e; e = e->next) {
        key_is_index(e->key, &index);
        slots[index] = e->value;
    }
    list = qlist_new();
    for (i = 0; i < count; i++) {
        if (!slots[i]) {
            error_setg(errp, "Missing list index %zu", i);
            g_free(slots);
            qobject_unref(list);
            return NULL;
        }
        qlist_append_obj(list, qobject_ref(slots[i]));
    }
    g_free(slots);
    return QOBJECT(list);
}

QObject *qdict_crumple(const QDict *src, Error **errp)
{
    QDict *level = qdict_new();
    /* Which keys of @level are groups of dotted keys built here */
    GHashTable *groups = g_hash_table_new(g_str_hash, g_str_equal);
    const QDictEntry *e;
    QObject *result = NULL;

    for (e = src->first; e; e = e->next) {
        QDict *d = qobject_to(QDict, e->value);
        QList *l = qobject_to(QList, e->value);
        const char *tail;
        char *head;
        QObject *existing;
        bool is_group;

        if ((d && qdict_size(d)) || (l && qlist_size(l))) {
            error_setg(errp, "Value %s is not flat", e->key);
            goto out;
        }
        head = split_flat_key(e->key, &tail);
        existing = qdict_get(level, head);
        is_group = existing && g_hash_table_contains(groups, head);
        if (existing && (!tail || !is_group)) {
            error_setg(errp, "Cannot mix scalar and non-scalar keys");
            g_free(head);
            goto out;
        }
        if (tail) {
            if (!existing) {
                existing = QOBJECT(qdict_new());
                qdict_put_obj(level, head, existing);
                /* The key string is owned by the entry in @level */
                g_hash_table_add(groups, (char *)qdict_entry_key(
                                     qdict_find(level, head)));
            }
            qdict_put_obj(qobject_to(QDict, existing), tail,
                          qobject_ref(e->value));
        } else {
            qdict_put_obj(level, head, qobject_ref(e->value));
        }
        g_free(head);
    }

    /* Recurse into the groups, in place */
    for (e = level->first; e; e = e->next) {
        QDictEntry *entry = (QDictEntry *)e;
        QObject *child;

        if (!g_hash_table_contains(groups, e->key)) {
            continue;
        }
        child = qdict_crumple(qobject_to(QDict, e->value), errp);
        if (!child) {
            goto out;
        }
        qobject_unref(entry->value);
        entry->value = child;
    }

    result = crumple_maybe_list(level, errp);

out:
    g_hash_table_destroy(groups);
    qobject_unref(level);
    return result;
}

static QObject *stringify_value(QObject *value);

static void stringify_list(QList *list)
{
    guint i;

    for (i = 0; i < list->items->len; i++) {
        QObject *old = g_ptr_array_index(list->items, i);
        QObject *new = stringify_value(old);

        if (new) {
            g_ptr_array_index(list->items, i) = new;
            qobject_unref(old);
        }
    }
}

/* New string for a scalar, NULL when @value stays as it is */
static QObject *stringify_value(QObject *value)
{
    switch (qobject_type(value)) {
    case QTYPE_QNUM: {
        char *s = qnum_to_string(qobject_to(QNum, value));
        QString *qs = qstring_from_str(s);

        g_free(s);
        return QOBJECT(qs);
    }
    case QTYPE_QBOOL:
        return QOBJECT(qstring_from_str(
                           qbool_get_bool(qobject_to(QBool, value))
                           ? "on" : "off"));
    case QTYPE_QDICT:
        qdict_stringify(qobject_to(QDict, value));
        return NULL;
    case QTYPE_QLIST:
        stringify_list(qobject_to(QList, value));
        return NULL;
    default:
        return NULL;
    }
}

void qdict_stringify(QDict *qdict)
{
    QDictEntry *e;

    for (e = qdict->first; e; e = e->next) {
        QObject *new = stringify_value(e->value);

        if (new) {
            qobject_unref(e->value);
            e->value = new;
        }
    }
}

void qdict_destroy_obj(QObject *obj)
{
    QDict *qdict = (QDict *)obj;
    QDictEntry *e = qdict->first;

    while (e) {
        QDictEntry *next = e->next;

        qobject_unref(e->value);
        g_free(e->key);
        g_free(e);
        e = next;
    }
    g_hash_table_destroy(qdict->table);
    g_free(qdict);
}

bool qdict_is_equal(const QObject *a, const QObject *b)
{
    const QDict *da = (const QDict *)a;
    const QDict *db = (const QDict *)b;
    const QDictEntry *e;

    if (da->size != db->size) {
        return false;
    }
    for (e = da->first; e; e = e->next) {
        if (!qobject_is_equal(e->value, qdict_get(db, e->key))) {
            return false;
        }
    }
    return true;
}

QList *qlist_new(void)
{
    QList *qlist = g_new0(QList, 1);

    qlist->base.type = QTYPE_QLIST;
    qlist->base.refcnt = 1;
    qlist->items = g_ptr_array_new();
    return qlist;
}

void qlist_append_obj(QList *qlist, QObject *obj)
{
    assert(obj);
    g_ptr_array_add(qlist->items, obj);
}

void qlist_append_int(QList *qlist, int64_t value)
{
    qlist_append(qlist, qnum_from_int(value));
}

void qlist_append_str(QList *qlist, const char *value)
{
    qlist_append(qlist, qstring_from_str(value));
}

size_t qlist_size(const QList *qlist)
{
    return qlist->items->len;
}

QObject *qlist_peek(QList *qlist)
{
    return qlist->items->len ? g_ptr_array_index(qlist->items, 0) : NULL;
}

QObject *qlist_pop(QList *qlist)
{
    QObject *obj = qlist_peek(qlist);

    if (obj) {
        g_ptr_array_remove_index(qlist->items, 0);
    }
    return obj;
}

QObject *qlist_get(const QList *qlist, size_t index)
{
    if (index >= qlist->items->len) {
        return NULL;
    }
    return g_ptr_array_index(qlist->items, index);
}

void qlist_destroy_obj(QObject *obj)
{
    QList *qlist = (QList *)obj;
    guint i;

    for (i = 0; i < qlist->items->len; i++) {
        qobject_unref((QObject *)g_ptr_array_index(qlist->items, i));
    }
    g_ptr_array_free(qlist->items, TRUE);
    g_free(qlist);
}

bool qlist_is_equal(const QObject *a, const QObject *b)
{
    const QList *la = (const QList *)a;
    const QList *lb = (const QList *)b;
    guint i;

    if (la->items->len != lb->items->len) {
        return false;
    }
    for (i = 0; i < la->items->len; i++) {
        if (!qobject_is_equal(g_ptr_array_index(la->items, i),
                              g_ptr_array_index(lb->items, i))) {
            return false;
        }
    }
    return true;
}
