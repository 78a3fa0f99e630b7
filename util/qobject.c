/*
 * Reference-counted values: the QObject base and its scalar types
 * (null, numbers, strings, booleans).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <math.h>
#include "qobject/qobject.h"
#include "qobject/qdict.h"

struct QNull {
    QObject base;
};

typedef enum QNumKind {
    QNUM_I64,
    QNUM_U64,
    QNUM_DOUBLE,
} QNumKind;

struct QNum {
    QObject base;
    QNumKind kind;
    union {
        int64_t i64;
        uint64_t u64;
        double dbl;
    } u;
};

struct QString {
    QObject base;
    char *str;
};

struct QBool {
    QObject base;
    bool value;
};

/* The one null value; its reference count never reaches zero */
static QNull qnull_singleton = {
    .base = { .type = QTYPE_QNULL, .refcnt = 1 },
};

QObject *qobject_ref_impl(QObject *obj)
{
    if (obj) {
        obj->refcnt++;
    }
    return obj;
}

static void qobject_destroy(QObject *obj)
{
    switch (obj->type) {
    case QTYPE_QNUM:
    case QTYPE_QBOOL:
        g_free(obj);
        break;
    case QTYPE_QSTRING:
        g_free(((QString *)obj)->str);
        g_free(obj);
        break;
    case QTYPE_QDICT:
        qdict_destroy_obj(obj);
        break;
    case QTYPE_QLIST:
        qlist_destroy_obj(obj);
        break;
    case QTYPE_QNULL:
    case QTYPE_NONE:
    default:
        /* The null singleton is never freed: refcounting bug */
        abort();
    }
}

void qobject_unref_impl(QObject *obj)
{
    if (!obj) {
        return;
    }
    assert(obj->refcnt > 0);
    if (--obj->refcnt == 0) {
        qobject_destroy(obj);
    }
}

void *qobject_check_type(const QObject *obj, QType type)
{
    if (!obj || qobject_type(obj) != type) {
        return NULL;
    }
    return (void *)obj;
}

QNull *qnull(void)
{
    return qobject_ref(&qnull_singleton);
}

static QNum *qnum_new(QNumKind kind)
{
    QNum *qn = g_new0(QNum, 1);

    qn->base.type = QTYPE_QNUM;
    qn->base.refcnt = 1;
    qn->kind = kind;
    return qn;
}

QNum *qnum_from_int(int64_t value)
{
    QNum *qn = qnum_new(QNUM_I64);

    qn->u.i64 = value;
    return qn;
}

QNum *qnum_from_uint(uint64_t value)
{
    QNum *qn = qnum_new(QNUM_U64);

    qn->u.u64 = value;
    return qn;
}

QNum *qnum_from_double(double value)
{
    QNum *qn = qnum_new(QNUM_DOUBLE);

    qn->u.dbl = value;
    return qn;
}

bool qnum_get_try_int(const QNum *qn, int64_t *val)
{
    switch (qn->kind) {
    case QNUM_I64:
        *val = qn->u.i64;
        return true;
    case QNUM_U64:
        if (qn->u.u64 > INT64_MAX) {
            return false;
        }
        *val = qn->u.u64;
        return true;
    case QNUM_DOUBLE:
    default:
        return false;
    }
}

int64_t qnum_get_int(const QNum *qn)
{
    int64_t val;
    bool ok = qnum_get_try_int(qn, &val);

    assert(ok);
    return val;
}

double qnum_get_double(QNum *qn)
{
    switch (qn->kind) {
    case QNUM_I64:
        return qn->u.i64;
    case QNUM_U64:
        return qn->u.u64;
    case QNUM_DOUBLE:
    default:
        return qn->u.dbl;
    }
}

char *qnum_to_string(QNum *qn)
{
    switch (qn->kind) {
    case QNUM_I64:
        return g_strdup_printf("%" PRId64, qn->u.i64);
    case QNUM_U64:
        return g_strdup_printf("%" PRIu64, qn->u.u64);
    case QNUM_DOUBLE:
    default:
        /* 17 significant digits always round-trip an IEEE double */
        return g_strdup_printf("%.17g", qn->u.dbl);
    }
}

/* Exact comparison of an integer with a double (no rounding surprises) */
static bool double_equals_int(double d, bool is_signed, int64_t i,
                              uint64_t u)
{
    if (isnan(d)) {
        return false;
    }
    if (is_signed) {
        /* 2^63 is the first double outside int64_t */
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
            return false;
        }
        return (int64_t)d == i && (double)(int64_t)d == d;
    }
    if (d < 0 || d >= 18446744073709551616.0) {
        return false;
    }
    return (uint64_t)d == u && (double)(uint64_t)d == d;
}

static bool qnum_is_equal(const QNum *a, const QNum *b)
{
    if (a->kind == QNUM_DOUBLE && b->kind == QNUM_DOUBLE) {
        return a->u.dbl == b->u.dbl;
    }
    if (b->kind == QNUM_DOUBLE) {
        const QNum *t = a;

        a = b;
        b = t;
    }
    /* Now only @a may be a double */
    if (a->kind == QNUM_DOUBLE) {
        if (b->kind == QNUM_I64) {
            return double_equals_int(a->u.dbl, true, b->u.i64, 0);
        }
        return double_equals_int(a->u.dbl, false, 0, b->u.u64);
    }
    if (a->kind == b->kind) {
        return a->kind == QNUM_I64 ? a->u.i64 == b->u.i64
                                   : a->u.u64 == b->u.u64;
    }
    if (a->kind == QNUM_U64) {
        const QNum *t = a;

        a = b;
        b = t;
    }
    /* @a is signed, @b unsigned */
    return a->u.i64 >= 0 && (uint64_t)a->u.i64 == b->u.u64;
}

QString *qstring_new(void)
{
    return qstring_from_str("");
}

QString *qstring_from_str(const char *str)
{
    QString *qs = g_new0(QString, 1);

    qs->base.type = QTYPE_QSTRING;
    qs->base.refcnt = 1;
    qs->str = g_strdup(str);
    return qs;
}

const char *qstring_get_str(const QString *qstring)
{
    return qstring->str;
}

QBool *qbool_from_bool(bool value)
{
    QBool *qb = g_new0(QBool, 1);

    qb->base.type = QTYPE_QBOOL;
    qb->base.refcnt = 1;
    qb->value = value;
    return qb;
}

bool qbool_get_bool(const QBool *qb)
{
    return qb->value;
}

bool qobject_is_equal(const QObject *a, const QObject *b)
{
    if (a == b) {
        return true;
    }
    if (!a || !b || qobject_type(a) != qobject_type(b)) {
        return false;
    }
    switch (qobject_type(a)) {
    case QTYPE_QNULL:
        return true;
    case QTYPE_QNUM:
        return qnum_is_equal((const QNum *)a, (const QNum *)b);
    case QTYPE_QSTRING:
        return !strcmp(((const QString *)a)->str, ((const QString *)b)->str);
    case QTYPE_QBOOL:
        return ((const QBool *)a)->value == ((const QBool *)b)->value;
    case QTYPE_QDICT:
        return qdict_is_equal(a, b);
    case QTYPE_QLIST:
        return qlist_is_equal(a, b);
    case QTYPE_NONE:
    default:
        abort();
    }
}
