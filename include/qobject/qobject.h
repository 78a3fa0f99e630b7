/*
 * Reference-counted dynamic values: null, numbers, strings, booleans,
 * dictionaries and lists.  Used for block driver options and JSON.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QOBJECT_H
#define QOBJECT_H

typedef enum QType {
    QTYPE_NONE,
    QTYPE_QNULL,
    QTYPE_QNUM,
    QTYPE_QSTRING,
    QTYPE_QDICT,
    QTYPE_QLIST,
    QTYPE_QBOOL,
} QType;

typedef struct QObject {
    QType type;
    size_t refcnt;
} QObject;

typedef struct QNull QNull;
typedef struct QNum QNum;
typedef struct QString QString;
typedef struct QDict QDict;
typedef struct QList QList;
typedef struct QBool QBool;

#define QOBJECT(obj) ((QObject *)(obj))

QObject *qobject_ref_impl(QObject *obj);
void qobject_unref_impl(QObject *obj);
#define qobject_ref(obj) ((__typeof__(obj))qobject_ref_impl(QOBJECT(obj)))
#define qobject_unref(obj) qobject_unref_impl(QOBJECT(obj))

static inline QType qobject_type(const QObject *obj)
{
    return obj->type;
}

/* Checked downcast: qobject_to(QDict, obj) is NULL unless obj is a dict */
void *qobject_check_type(const QObject *obj, QType type);
#define qobject_to(type, obj) \
    ((type *)qobject_check_type(QOBJECT(obj), QTYPE_ ## type ## _ENUM))
#define QTYPE_QNull_ENUM QTYPE_QNULL
#define QTYPE_QNum_ENUM QTYPE_QNUM
#define QTYPE_QString_ENUM QTYPE_QSTRING
#define QTYPE_QDict_ENUM QTYPE_QDICT
#define QTYPE_QList_ENUM QTYPE_QLIST
#define QTYPE_QBool_ENUM QTYPE_QBOOL

/* Deep equality (numbers compare by value) */
bool qobject_is_equal(const QObject *a, const QObject *b);

QNull *qnull(void);

QNum *qnum_from_int(int64_t value);
QNum *qnum_from_uint(uint64_t value);
QNum *qnum_from_double(double value);
bool qnum_get_try_int(const QNum *qn, int64_t *val);
int64_t qnum_get_int(const QNum *qn);
double qnum_get_double(QNum *qn);
/* Decimal text of the number, as JSON would print it (g_free the result) */
char *qnum_to_string(QNum *qn);

QString *qstring_new(void);
QString *qstring_from_str(const char *str);
const char *qstring_get_str(const QString *qstring);

QBool *qbool_from_bool(bool value);
bool qbool_get_bool(const QBool *qb);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QObject, qobject_unref_impl)

#endif /* QOBJECT_H */
