/*
 * Unit tests for QObject values, QDict and QList
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qobject.h"

/* Keys of @d in iteration order, joined with ' ' */
static char *dict_keys(const QDict *d)
{
    GString *s = g_string_new(NULL);
    const QDictEntry *e;

    for (e = qdict_first(d); e; e = qdict_next(d, e)) {
        if (s->len) {
            g_string_append_c(s, ' ');
        }
        g_string_append(s, qdict_entry_key(e));
    }
    return g_string_free(s, FALSE);
}

static void assert_keys(const QDict *d, const char *expected)
{
    char *keys = dict_keys(d);

    g_assert_cmpstr(keys, ==, expected);
    g_free(keys);
}

/* Scalars */

static void test_refcount(void)
{
    QString *s = qstring_from_str("abc");
    QObject *obj = QOBJECT(s);

    g_assert_cmpuint(obj->refcnt, ==, 1);
    g_assert_true(qobject_ref(s) == s);
    g_assert_cmpuint(obj->refcnt, ==, 2);
    qobject_unref(s);
    g_assert_cmpuint(obj->refcnt, ==, 1);
    qobject_unref(s);
    qobject_unref((QObject *)NULL);
    g_assert_null(qobject_ref((QObject *)NULL));
}

static void test_qnull(void)
{
    QNull *a = qnull();
    QNull *b = qnull();

    g_assert_true(a == b);
    g_assert_cmpint(qobject_type(QOBJECT(a)), ==, QTYPE_QNULL);
    g_assert_true(qobject_is_equal(QOBJECT(a), QOBJECT(b)));
    qobject_unref(a);
    qobject_unref(b);
}

static void test_qnum(void)
{
    QNum *i = qnum_from_int(-42);
    QNum *u = qnum_from_uint(UINT64_MAX);
    QNum *small_u = qnum_from_uint(7);
    QNum *d = qnum_from_double(0.5);
    int64_t val;
    char *s;

    g_assert_true(qnum_get_try_int(i, &val));
    g_assert_cmpint(val, ==, -42);
    g_assert_cmpint(qnum_get_int(i), ==, -42);
    g_assert_false(qnum_get_try_int(u, &val));
    g_assert_true(qnum_get_try_int(small_u, &val));
    g_assert_cmpint(val, ==, 7);
    g_assert_false(qnum_get_try_int(d, &val));
    g_assert_cmpfloat(qnum_get_double(d), ==, 0.5);
    g_assert_cmpfloat(qnum_get_double(i), ==, -42.0);

    s = qnum_to_string(i);
    g_assert_cmpstr(s, ==, "-42");
    g_free(s);
    s = qnum_to_string(u);
    g_assert_cmpstr(s, ==, "18446744073709551615");
    g_free(s);
    s = qnum_to_string(d);
    g_assert_cmpstr(s, ==, "0.5");
    g_free(s);

    qobject_unref(i);
    qobject_unref(u);
    qobject_unref(small_u);
    qobject_unref(d);

    /* %.17g: exact round trip, as QEMU prints doubles */
    d = qnum_from_double(0.1);
    s = qnum_to_string(d);
    g_assert_cmpstr(s, ==, "0.10000000000000001");
    g_free(s);
    qobject_unref(d);
}

static void test_qnum_equal(void)
{
    QNum *i7 = qnum_from_int(7);
    QNum *u7 = qnum_from_uint(7);
    QNum *d7 = qnum_from_double(7.0);
    QNum *d75 = qnum_from_double(7.5);
    QNum *im1 = qnum_from_int(-1);
    QNum *umax = qnum_from_uint(UINT64_MAX);
    QNum *dbig = qnum_from_double(18446744073709551616.0);

    g_assert_true(qobject_is_equal(QOBJECT(i7), QOBJECT(u7)));
    g_assert_true(qobject_is_equal(QOBJECT(u7), QOBJECT(d7)));
    g_assert_true(qobject_is_equal(QOBJECT(d7), QOBJECT(i7)));
    g_assert_false(qobject_is_equal(QOBJECT(d75), QOBJECT(i7)));
    g_assert_false(qobject_is_equal(QOBJECT(im1), QOBJECT(umax)));
    g_assert_false(qobject_is_equal(QOBJECT(umax), QOBJECT(dbig)));

    qobject_unref(i7);
    qobject_unref(u7);
    qobject_unref(d7);
    qobject_unref(d75);
    qobject_unref(im1);
    qobject_unref(umax);
    qobject_unref(dbig);
}

static void test_qstring_qbool(void)
{
    QString *e = qstring_new();
    QString *s = qstring_from_str("x");
    QBool *t = qbool_from_bool(true);
    QBool *f = qbool_from_bool(false);

    g_assert_cmpstr(qstring_get_str(e), ==, "");
    g_assert_cmpstr(qstring_get_str(s), ==, "x");
    g_assert_true(qbool_get_bool(t));
    g_assert_false(qbool_get_bool(f));
    g_assert_false(qobject_is_equal(QOBJECT(t), QOBJECT(f)));
    g_assert_false(qobject_is_equal(QOBJECT(s), QOBJECT(t)));
    g_assert_true(qobject_to(QString, s) == s);
    g_assert_null(qobject_to(QBool, s));
    g_assert_null(qobject_to(QDict, NULL));

    qobject_unref(e);
    qobject_unref(s);
    qobject_unref(t);
    qobject_unref(f);
}

/* QDict basics */

static void test_qdict_order_and_replace(void)
{
    QDict *d = qdict_new();

    qdict_put_str(d, "driver", "raw");
    qdict_put_int(d, "size", 512);
    qdict_put_bool(d, "ro", true);
    qdict_put_null(d, "nothing");
    assert_keys(d, "driver size ro nothing");
    g_assert_cmpuint(qdict_size(d), ==, 4);

    /* Replacing keeps the position */
    qdict_put_str(d, "size", "1M");
    assert_keys(d, "driver size ro nothing");
    g_assert_cmpstr(qdict_get_str(d, "size"), ==, "1M");

    qdict_del(d, "driver");
    qdict_del(d, "missing");
    assert_keys(d, "size ro nothing");
    qdict_put_str(d, "driver", "qcow2");
    assert_keys(d, "size ro nothing driver");

    qdict_del(d, "nothing");
    qdict_del(d, "driver");
    assert_keys(d, "size ro");
    g_assert_cmpuint(qdict_size(d), ==, 2);
    g_assert_true(qdict_haskey(d, "ro"));
    g_assert_false(qdict_haskey(d, "driver"));
    qobject_unref(d);
}

static void test_qdict_getters(void)
{
    QDict *d = qdict_new();
    QDict *sub = qdict_new();
    QList *l = qlist_new();

    qdict_put_int(d, "i", -5);
    qdict_put_bool(d, "b", false);
    qdict_put_str(d, "s", "str");
    qdict_put(d, "big", qnum_from_uint(UINT64_MAX));
    qdict_put(d, "d", sub);
    qdict_put(d, "l", l);

    g_assert_cmpint(qdict_get_int(d, "i"), ==, -5);
    g_assert_false(qdict_get_bool(d, "b"));
    g_assert_cmpstr(qdict_get_str(d, "s"), ==, "str");
    g_assert_true(qdict_get_qdict(d, "d") == sub);
    g_assert_true(qdict_get_qlist(d, "l") == l);

    g_assert_cmpstr(qdict_get_try_str(d, "s"), ==, "str");
    g_assert_null(qdict_get_try_str(d, "i"));
    g_assert_null(qdict_get_try_str(d, "nope"));
    g_assert_cmpint(qdict_get_try_int(d, "i", 3), ==, -5);
    g_assert_cmpint(qdict_get_try_int(d, "s", 3), ==, 3);
    g_assert_cmpint(qdict_get_try_int(d, "big", 3), ==, 3);
    g_assert_cmpint(qdict_get_try_int(d, "nope", 3), ==, 3);
    g_assert_false(qdict_get_try_bool(d, "b", true));
    g_assert_true(qdict_get_try_bool(d, "s", true));
    g_assert_null(qdict_get(d, "nope"));
    qobject_unref(d);
}

static void test_qdict_get_missing_aborts(void)
{
    if (g_test_subprocess()) {
        QDict *d = qdict_new();

        qdict_put_str(d, "a", "x");
        qdict_get_int(d, "a");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
}

static void test_qdict_many(void)
{
    QDict *d = qdict_new();
    char key[16];
    int i;

    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        qdict_put_int(d, key, i);
    }
    for (i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof(key), "k%d", i);
        qdict_del(d, key);
    }
    g_assert_cmpuint(qdict_size(d), ==, 500);
    g_assert_cmpint(qdict_get_int(d, "k999"), ==, 999);
    g_assert_cmpstr(qdict_entry_key(qdict_first(d)), ==, "k1");
    qobject_unref(d);
}

static void test_qdict_clone_join(void)
{
    QDict *a = qdict_new();
    QDict *b = qdict_new();
    QDict *c;
    QString *shared = qstring_from_str("v");

    qdict_put(a, "x", qobject_ref(shared));
    qdict_put_int(a, "y", 1);
    c = qdict_clone_shallow(a);
    assert_keys(c, "x y");
    g_assert_true(qdict_get(c, "x") == QOBJECT(shared));
    g_assert_cmpuint(QOBJECT(shared)->refcnt, ==, 3);
    g_assert_true(qobject_is_equal(QOBJECT(a), QOBJECT(c)));

    /* Without overwrite, clashing keys stay in the source */
    qdict_put_int(b, "y", 2);
    qdict_put_int(b, "z", 3);
    qdict_join(a, b, false);
    assert_keys(a, "x y z");
    g_assert_cmpint(qdict_get_int(a, "y"), ==, 1);
    assert_keys(b, "y");

    qdict_join(a, b, true);
    g_assert_cmpint(qdict_get_int(a, "y"), ==, 2);
    g_assert_cmpuint(qdict_size(b), ==, 0);
    g_assert_false(qobject_is_equal(QOBJECT(a), QOBJECT(c)));

    qobject_unref(a);
    qobject_unref(b);
    qobject_unref(c);
    qobject_unref(shared);
}

static void test_qdict_extract_subqdict(void)
{
    QDict *d = qdict_new();
    QDict *file;

    qdict_put_str(d, "driver", "qcow2");
    qdict_put_str(d, "file.driver", "file");
    qdict_put_str(d, "file.filename", "a.img");
    qdict_put_str(d, "filex", "no");
    qdict_put_str(d, "backing.file.filename", "b.img");
    g_assert_cmpint(qdict_count_prefixed_entries(d, "file."), ==, 2);
    g_assert_cmpint(qdict_count_prefixed_entries(d, "file"), ==, 3);

    qdict_extract_subqdict(d, &file, "file.");
    assert_keys(file, "driver filename");
    g_assert_cmpstr(qdict_get_str(file, "filename"), ==, "a.img");
    assert_keys(d, "driver filex backing.file.filename");

    /* NULL destination only deletes */
    qdict_extract_subqdict(d, NULL, "backing.");
    assert_keys(d, "driver filex");
    qobject_unref(file);
    qobject_unref(d);
}

/* flatten / crumple */

static void test_qdict_flatten(void)
{
    QDict *d = qdict_new();
    QDict *file = qdict_new();
    QDict *inner = qdict_new();
    QList *list = qlist_new();
    QDict *elem = qdict_new();

    qdict_put_str(inner, "x", "1");
    qdict_put_str(file, "driver", "file");
    qdict_put(file, "inner", inner);
    qdict_put_str(elem, "name", "e");
    qlist_append_int(list, 5);
    qlist_append(list, elem);
    qdict_put_str(d, "driver", "raw");
    qdict_put(d, "file", file);
    qdict_put(d, "list", list);
    qdict_put(d, "empty", qdict_new());
    qdict_put(d, "emptylist", qlist_new());
    qdict_put_int(d, "last", 9);

    qdict_flatten(d);
    assert_keys(d, "driver file.driver file.inner.x list.0 list.1.name "
                "empty emptylist last");
    g_assert_cmpstr(qdict_get_str(d, "file.inner.x"), ==, "1");
    g_assert_cmpint(qdict_get_int(d, "list.0"), ==, 5);
    g_assert_nonnull(qobject_to(QDict, qdict_get(d, "empty")));
    g_assert_nonnull(qobject_to(QList, qdict_get(d, "emptylist")));
    qobject_unref(d);
}

static void test_qdict_crumple(void)
{
    QDict *flat = qdict_new();
    QObject *obj;
    QDict *d, *file, *elem;
    QList *list;

    qdict_put_str(flat, "driver", "qcow2");
    qdict_put_str(flat, "file.driver", "file");
    qdict_put_str(flat, "file.filename", "a.img");
    qdict_put_str(flat, "list.1.name", "second");
    qdict_put_str(flat, "list.0", "first");
    qdict_put_str(flat, "dot..ted", "v");
    qdict_put_str(flat, "x.a..b", "w");

    obj = qdict_crumple(flat, &error_abort);
    d = qobject_to(QDict, obj);
    g_assert_nonnull(d);
    assert_keys(d, "driver file list dot.ted x");
    file = qdict_get_qdict(d, "file");
    assert_keys(file, "driver filename");
    list = qdict_get_qlist(d, "list");
    g_assert_cmpuint(qlist_size(list), ==, 2);
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, qlist_get(list, 0))),
                    ==, "first");
    elem = qobject_to(QDict, qlist_get(list, 1));
    g_assert_cmpstr(qdict_get_str(elem, "name"), ==, "second");
    g_assert_cmpstr(qdict_get_str(d, "dot.ted"), ==, "v");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(d, "x"), "a.b"), ==, "w");
    qobject_unref(obj);

    /* Flatten is the inverse (for keys without dots) */
    qobject_unref(flat);
    flat = qdict_new();
    qdict_put_str(flat, "a.b.c", "1");
    qdict_put_str(flat, "a.d", "2");
    qdict_put_str(flat, "e.0", "3");
    obj = qdict_crumple(flat, &error_abort);
    qdict_flatten(qobject_to(QDict, obj));
    g_assert_true(qobject_is_equal(obj, QOBJECT(flat)));
    qobject_unref(obj);
    qobject_unref(flat);

    /* A top level of indices gives a list */
    flat = qdict_new();
    qdict_put_str(flat, "1", "b");
    qdict_put_str(flat, "0", "a");
    obj = qdict_crumple(flat, &error_abort);
    list = qobject_to(QList, obj);
    g_assert_nonnull(list);
    g_assert_cmpuint(qlist_size(list), ==, 2);
    qobject_unref(obj);
    qobject_unref(flat);
}

static void check_crumple_error(const char *k1, const char *k2,
                                const char *expected)
{
    QDict *flat = qdict_new();
    Error *err = NULL;

    qdict_put_str(flat, k1, "x");
    if (k2) {
        qdict_put_str(flat, k2, "y");
    }
    g_assert_null(qdict_crumple(flat, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, expected);
    error_free(err);
    qobject_unref(flat);
}

static void test_qdict_crumple_errors(void)
{
    QDict *flat;
    Error *err = NULL;

    check_crumple_error("a", "a.b", "Cannot mix scalar and non-scalar keys");
    check_crumple_error("a.b", "a", "Cannot mix scalar and non-scalar keys");
    check_crumple_error("l.0", "l.x", "Cannot mix list and non-list keys");
    check_crumple_error("l.0", "l.2", "List indices are not contiguous, "
                        "saw 2 elements but 2 largest index");
    check_crumple_error("l.1", "l.01", "Missing list index 0");

    flat = qdict_new();
    qdict_put(flat, "nested", qdict_new());
    qdict_put_str(qdict_get_qdict(flat, "nested"), "x", "y");
    g_assert_null(qdict_crumple(flat, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Value nested is not flat");
    error_free(err);
    qobject_unref(flat);
}

static void test_qdict_stringify(void)
{
    QDict *d = qdict_new();
    QDict *sub = qdict_new();
    QList *l = qlist_new();

    qdict_put_int(d, "i", -3);
    qdict_put_bool(d, "t", true);
    qdict_put_bool(d, "f", false);
    qdict_put(d, "u", qnum_from_uint(UINT64_MAX));
    qdict_put(d, "dbl", qnum_from_double(1.5));
    qdict_put_str(d, "s", "keep");
    qdict_put_null(d, "n");
    qdict_put_int(sub, "deep", 7);
    qdict_put(d, "sub", sub);
    qlist_append_int(l, 1);
    qlist_append(l, qbool_from_bool(true));
    qdict_put(d, "l", l);

    qdict_stringify(d);
    assert_keys(d, "i t f u dbl s n sub l");
    g_assert_cmpstr(qdict_get_str(d, "i"), ==, "-3");
    g_assert_cmpstr(qdict_get_str(d, "t"), ==, "on");
    g_assert_cmpstr(qdict_get_str(d, "f"), ==, "off");
    g_assert_cmpstr(qdict_get_str(d, "u"), ==, "18446744073709551615");
    g_assert_cmpstr(qdict_get_str(d, "dbl"), ==, "1.5");
    g_assert_cmpstr(qdict_get_str(d, "s"), ==, "keep");
    g_assert_nonnull(qobject_to(QNull, qdict_get(d, "n")));
    g_assert_cmpstr(qdict_get_str(sub, "deep"), ==, "7");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, qlist_get(l, 0))),
                    ==, "1");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, qlist_get(l, 1))),
                    ==, "on");
    qobject_unref(d);
}

/* QList */

static void test_qlist(void)
{
    QList *l = qlist_new();
    QList *l2 = qlist_new();
    QObject *obj;

    g_assert_null(qlist_peek(l));
    g_assert_null(qlist_pop(l));
    qlist_append_int(l, 1);
    qlist_append_str(l, "two");
    qlist_append(l, qnull());
    g_assert_cmpuint(qlist_size(l), ==, 3);
    g_assert_null(qlist_get(l, 3));
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, qlist_get(l, 1))),
                    ==, "two");

    qlist_append_int(l2, 1);
    qlist_append_str(l2, "two");
    g_assert_false(qobject_is_equal(QOBJECT(l), QOBJECT(l2)));
    qlist_append(l2, qnull());
    g_assert_true(qobject_is_equal(QOBJECT(l), QOBJECT(l2)));

    obj = qlist_pop(l);
    g_assert_cmpint(qnum_get_int(qobject_to(QNum, obj)), ==, 1);
    qobject_unref(obj);
    g_assert_cmpuint(qlist_size(l), ==, 2);
    g_assert_true(qlist_peek(l) == qlist_get(l, 0));

    qobject_unref(l);
    qobject_unref(l2);
}

static void test_deep_equal(void)
{
    QDict *a = qdict_new();
    QDict *b = qdict_new();

    /* Order does not matter for equality */
    qdict_put_int(a, "x", 1);
    qdict_put_str(a, "y", "s");
    qdict_put_str(b, "y", "s");
    qdict_put(b, "x", qnum_from_double(1.0));
    g_assert_true(qobject_is_equal(QOBJECT(a), QOBJECT(b)));
    qdict_put(b, "z", qlist_new());
    g_assert_false(qobject_is_equal(QOBJECT(a), QOBJECT(b)));
    qdict_put_str(a, "z", "s");
    g_assert_false(qobject_is_equal(QOBJECT(a), QOBJECT(b)));
    g_assert_false(qobject_is_equal(QOBJECT(a), NULL));
    qobject_unref(a);
    qobject_unref(b);
}

static void test_autoptr(void)
{
    g_autoptr(QDict) d = qdict_new();

    qdict_put_str(d, "k", "v");
    g_assert_cmpuint(qdict_size(d), ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/qobject/refcount", test_refcount);
    g_test_add_func("/qobject/qnull", test_qnull);
    g_test_add_func("/qobject/qnum", test_qnum);
    g_test_add_func("/qobject/qnum-equal", test_qnum_equal);
    g_test_add_func("/qobject/qstring-qbool", test_qstring_qbool);
    g_test_add_func("/qdict/order-replace", test_qdict_order_and_replace);
    g_test_add_func("/qdict/getters", test_qdict_getters);
    g_test_add_func("/qdict/get-missing-aborts",
                    test_qdict_get_missing_aborts);
    g_test_add_func("/qdict/many", test_qdict_many);
    g_test_add_func("/qdict/clone-join", test_qdict_clone_join);
    g_test_add_func("/qdict/extract-subqdict", test_qdict_extract_subqdict);
    g_test_add_func("/qdict/flatten", test_qdict_flatten);
    g_test_add_func("/qdict/crumple", test_qdict_crumple);
    g_test_add_func("/qdict/crumple-errors", test_qdict_crumple_errors);
    g_test_add_func("/qdict/stringify", test_qdict_stringify);
    g_test_add_func("/qdict/autoptr", test_autoptr);
    g_test_add_func("/qlist/basic", test_qlist);
    g_test_add_func("/qobject/deep-equal", test_deep_equal);

    return g_test_run();
}
