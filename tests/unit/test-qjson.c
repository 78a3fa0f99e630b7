/*
 * Unit tests for JSON parsing and serialisation of QObjects
 *
 * Error texts and the pretty layout were checked against QEMU 7.2
 * (qemu-img info 'json:...' and qemu-img info --output=json).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"

static QObject *parse_ok(const char *json)
{
    Error *err = NULL;
    QObject *obj = qobject_from_json(json, &err);

    if (err) {
        g_test_message("parsing %s: %s", json, error_get_pretty(err));
    }
    g_assert_null(err);
    g_assert_nonnull(obj);
    return obj;
}

static char *to_compact(const QObject *obj)
{
    return g_string_free(qobject_to_json(obj), FALSE);
}

/* Parse @json and print it compactly; must give @expected */
static void check_roundtrip(const char *json, const char *expected)
{
    QObject *obj = parse_ok(json);
    QObject *again;
    char *out = to_compact(obj);

    g_assert_cmpstr(out, ==, expected);
    /* And the output parses back to an equal value */
    again = parse_ok(out);
    g_assert_true(qobject_is_equal(obj, again));
    qobject_unref(again);
    qobject_unref(obj);
    g_free(out);
}

static void test_scalars(void)
{
    QObject *obj;
    QNum *qn;
    int64_t i;
    char *out;

    obj = parse_ok("true");
    g_assert_true(qbool_get_bool(qobject_to(QBool, obj)));
    qobject_unref(obj);
    obj = parse_ok(" false ");
    g_assert_false(qbool_get_bool(qobject_to(QBool, obj)));
    qobject_unref(obj);
    obj = parse_ok("\n\tnull\r\n");
    g_assert_nonnull(qobject_to(QNull, obj));
    qobject_unref(obj);

    obj = parse_ok("-9223372036854775808");
    qn = qobject_to(QNum, obj);
    g_assert_true(qnum_get_try_int(qn, &i));
    g_assert_cmpint(i, ==, INT64_MIN);
    qobject_unref(obj);

    /* Beyond int64: uint64, then double */
    obj = parse_ok("18446744073709551615");
    qn = qobject_to(QNum, obj);
    g_assert_false(qnum_get_try_int(qn, &i));
    out = to_compact(obj);
    g_assert_cmpstr(out, ==, "18446744073709551615");
    g_free(out);
    qobject_unref(obj);
    check_roundtrip("18446744073709551616", "1.8446744073709552e+19");
    check_roundtrip("-9223372036854775809", "-9.2233720368547758e+18");

    check_roundtrip("1.5", "1.5");
    check_roundtrip("-0.25e2", "-25");
    check_roundtrip("1E3", "1000");
    check_roundtrip("0", "0");
    check_roundtrip("-0", "0");
    check_roundtrip("\"x\"", "\"x\"");
}

static void test_containers(void)
{
    QObject *obj;
    QDict *d;

    check_roundtrip("{\"a\":1,\"b\":[2,3]}", "{\"a\": 1, \"b\": [2, 3]}");
    check_roundtrip("{ }", "{}");
    check_roundtrip("[ ]", "[]");
    check_roundtrip("[[], {}, [[null]]]", "[[], {}, [[null]]]");
    /* Key order is kept */
    check_roundtrip("{\"z\": 1, \"a\": 2, \"m\": {\"y\": true, \"b\": false}}",
                    "{\"z\": 1, \"a\": 2, \"m\": {\"y\": true, \"b\": false}}");

    /* Duplicate keys: the last value wins */
    obj = parse_ok("{\"a\": 1, \"a\": 2}");
    d = qobject_to(QDict, obj);
    g_assert_cmpuint(qdict_size(d), ==, 1);
    g_assert_cmpint(qdict_get_int(d, "a"), ==, 2);
    qobject_unref(obj);

}

static char *nested_json(int depth)
{
    GString *s = g_string_new("{\"a\": ");
    int n;

    /* The object counts as one level */
    for (n = 1; n < depth; n++) {
        g_string_append_c(s, '[');
    }
    for (n = 1; n < depth; n++) {
        g_string_append_c(s, ']');
    }
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

static void test_nesting_limit(void)
{
    char *json = nested_json(1024);
    Error *err = NULL;

    /* QEMU allows 1024 open containers, and fails at 1025 */
    qobject_unref(parse_ok(json));
    g_free(json);
    json = nested_json(1025);
    g_assert_null(qobject_from_json(json, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "JSON nesting depth limit exceeded");
    error_free(err);
    g_free(json);

    /* Far deeper input fails the same way instead of exhausting the stack */
    json = nested_json(1000000);
    err = NULL;
    g_assert_null(qobject_from_json(json, &err));
    g_assert_nonnull(err);
    error_free(err);
    g_free(json);
}

static void test_strings(void)
{
    QObject *obj;

    /* Escapes are decoded and re-encoded QEMU's way */
    check_roundtrip("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
                    "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\"");
    check_roundtrip("\"\\u0041\\u00e9\\u20AC\"", "\"A\\u00E9\\u20AC\"");
    /* Surrogate pair for U+1F600 */
    check_roundtrip("\"\\uD83D\\uDE00\"", "\"\\uD83D\\uDE00\"");
    /* Raw UTF-8 is accepted and escaped on output */
    check_roundtrip("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
                    "\"\\u00E9\\u20AC\\uD83D\\uDE00\"");
    check_roundtrip("\"\\u001f\\u007f\"", "\"\\u001F\\u007F\"");
    /* NUL survives as modified UTF-8 */
    check_roundtrip("\"a\\u0000b\"", "\"a\\u0000b\"");

    /* Single quotes (QEMU extension) */
    obj = parse_ok("{'driver': 'raw', 'q': 'say \"hi\" \\'x\\''}");
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, obj), "driver"), ==,
                    "raw");
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, obj), "q"), ==,
                    "say \"hi\" 'x'");
    qobject_unref(obj);
}

static void test_output_invalid_utf8(void)
{
    QString *s = qstring_from_str("a\xff" "b");
    char *out = to_compact(QOBJECT(s));

    g_assert_cmpstr(out, ==, "\"a\\uFFFDb\"");
    g_free(out);
    qobject_unref(s);
}

static void check_error(const char *json, const char *expected)
{
    Error *err = NULL;

    g_assert_null(qobject_from_json(json, &err));
    g_assert_nonnull(err);
    if (strcmp(error_get_pretty(err), expected) != 0) {
        g_test_message("input: %s", json);
    }
    g_assert_cmpstr(error_get_pretty(err), ==, expected);
    error_free(err);
}

static void test_errors(void)
{
    check_error("", "Expecting a JSON value");
    check_error("   ", "Expecting a JSON value");
    check_error("{\"a\":1} x", "Expecting at most one JSON value");
    check_error("{\"a\":1}}", "Expecting at most one JSON value");
    check_error("1 2", "Expecting at most one JSON value");
    check_error("{\"driver\":", "JSON parse error, premature EOI");
    check_error("{\"a\"", "JSON parse error, premature EOI");
    check_error("[1", "JSON parse error, premature EOI");
    check_error("[1,2", "JSON parse error, premature EOI");
    check_error("{", "JSON parse error, premature EOI");
    check_error("{\"a\":[1,{\"b\":", "JSON parse error, premature EOI");
    check_error("{\"driver\": tru}",
                "JSON parse error, invalid keyword 'tru'");
    check_error("nul", "JSON parse error, invalid keyword 'nul'");
    check_error("{\"driver\" 1}", "JSON parse error, missing : in object pair");
    check_error("{\"a\":1 \"b\":2}",
                "JSON parse error, expected separator in dict");
    check_error("{\"a\":[1 2]}",
                "JSON parse error, expected separator in list");
    check_error("{1:2}", "JSON parse error, key is not a string in object");
    check_error("{\"a\":1,}", "JSON parse error, expecting value");
    check_error("{\"a\":]}", "JSON parse error, expecting value");
    check_error("{\"a\":[1,]}", "JSON parse error, expecting value");
    check_error("{\"a\":[,1]}", "JSON parse error, expecting value");
    check_error("{,}", "JSON parse error, expecting value");
    check_error("}", "JSON parse error, expecting value");
    check_error("{\"a\":\"\\q\"}",
                "JSON parse error, invalid escape sequence in string");
    check_error("{\"a\":\"\\uD800\"}",
                "JSON parse error, \\uD800 is not a valid Unicode character");
    check_error("{\"a\":\"\\uDC00\"}",
                "JSON parse error, \\uDC00 is not a valid Unicode character");
    check_error("{\"a\":\"\\uD800\\u0041\"}",
                "JSON parse error, \\uD800 is not a valid Unicode character");
    check_error("{\"a\":\"\\u00\"}",
                "JSON parse error, \\u00\" is not a valid Unicode character");
    check_error("{\"a\":\"x", "JSON parse error, stray '\"x'");
    check_error("\"abc", "JSON parse error, stray '\"abc'");
    check_error("{\"a\":@}", "JSON parse error, stray '@'");
    check_error("{\"a\":01}", "JSON parse error, stray '01'");
    check_error("{\"a\":1.}", "JSON parse error, stray '1.}'");
    check_error("{\"a\":-}", "JSON parse error, stray '-}'");
    check_error("{\"a\":1e}", "JSON parse error, stray '1e}'");
    check_error("{\"a\":\"\x01\"}", "JSON parse error, stray '\"\x01'");
    check_error("{\"a\":\"\xff\"}", "JSON parse error, stray '\"\xff'");
    check_error("\"\xe2\x82\"",
                "JSON parse error, invalid UTF-8 sequence in string");
    check_error("\"\xed\xa0\x80\"",
                "JSON parse error, invalid UTF-8 sequence in string");
}

/*
 * Randomly damaged documents must either parse or fail with an error,
 * never crash or leak (run under the sanitizers to see the difference).
 */
static void test_mutations(void)
{
    static const char *const seeds[] = {
        "{\"driver\": \"blkverify\", \"test\": {\"driver\": \"qcow2\"},"
        " \"raw\": [1, -2.5e3, true, false, null, \"\\u00e9\\n\"]}",
        "['a', {\"b\": {}}, [[]], 18446744073709551615]",
    };
    static const char bytes[] = "{}[],:\"'\\u0123456789.eE+-tfn \xc3\xa9\xff";
    GRand *rand = g_rand_new_with_seed(42);
    int i;

    for (i = 0; i < 3000; i++) {
        char *doc = g_strdup(seeds[i % ARRAY_SIZE(seeds)]);
        size_t len = strlen(doc);
        int edits = g_rand_int_range(rand, 1, 4);
        Error *err = NULL;
        QObject *obj;

        while (edits--) {
            size_t pos = g_rand_int_range(rand, 0, len);

            if (g_rand_boolean(rand)) {
                doc[pos] = bytes[g_rand_int_range(rand, 0,
                                                  sizeof(bytes) - 1)];
            } else {
                /* Truncate */
                doc[pos] = '\0';
                len = pos ? pos : 1;
            }
        }
        obj = qobject_from_json(doc, &err);
        g_assert_true(!obj != !err);
        if (obj) {
            GString *out = qobject_to_json_pretty(obj, i & 1);
            QObject *again = qobject_from_json(out->str, NULL);

            /* Overflowing doubles print as inf, as in QEMU */
            if (again || !strstr(out->str, "inf")) {
                g_assert_true(qobject_is_equal(obj, again));
            }
            qobject_unref(again);
            g_string_free(out, TRUE);
            qobject_unref(obj);
        }
        error_free(err);
        g_free(doc);
    }
    g_rand_free(rand);
}

/* Pretty output: exactly qemu-img info --output=json */

static void test_pretty_qemu_img_info(void)
{
    const char *expected =
        "{\n"
        "    \"backing-filename-format\": \"qcow2\",\n"
        "    \"virtual-size\": 1048576,\n"
        "    \"filename\": \"y.qcow2\",\n"
        "    \"cluster-size\": 65536,\n"
        "    \"format\": \"qcow2\",\n"
        "    \"actual-size\": 200704,\n"
        "    \"format-specific\": {\n"
        "        \"type\": \"qcow2\",\n"
        "        \"data\": {\n"
        "            \"compat\": \"1.1\",\n"
        "            \"compression-type\": \"zlib\",\n"
        "            \"lazy-refcounts\": false,\n"
        "            \"refcount-bits\": 16,\n"
        "            \"corrupt\": false,\n"
        "            \"extended-l2\": false\n"
        "        }\n"
        "    },\n"
        "    \"full-backing-filename\": \"x.qcow2\",\n"
        "    \"backing-filename\": \"x.qcow2\",\n"
        "    \"dirty-flag\": false\n"
        "}";
    QObject *obj = parse_ok(expected);
    GString *out = qobject_to_json_pretty(obj, true);
    GString *flat = qobject_to_json_pretty(obj, false);
    char *compact = to_compact(obj);

    g_assert_cmpstr(out->str, ==, expected);
    g_assert_cmpstr(flat->str, ==, compact);
    g_string_free(out, TRUE);
    g_string_free(flat, TRUE);
    g_free(compact);
    qobject_unref(obj);
}

static void test_pretty_lists_and_empty(void)
{
    QObject *obj = parse_ok("[{\"a\": [1, \"\\u00e9\"], \"e\": {}, "
                            "\"l\": []}]");
    GString *out = qobject_to_json_pretty(obj, true);

    /* Closing brackets of empty containers go on their own line too */
    g_assert_cmpstr(out->str, ==,
                    "[\n"
                    "    {\n"
                    "        \"a\": [\n"
                    "            1,\n"
                    "            \"\\u00E9\"\n"
                    "        ],\n"
                    "        \"e\": {\n"
                    "        },\n"
                    "        \"l\": [\n"
                    "        ]\n"
                    "    }\n"
                    "]");
    g_string_free(out, TRUE);
    qobject_unref(obj);

    obj = parse_ok("{}");
    out = qobject_to_json_pretty(obj, true);
    g_assert_cmpstr(out->str, ==, "{\n}");
    g_string_free(out, TRUE);
    qobject_unref(obj);

    obj = parse_ok("7");
    out = qobject_to_json_pretty(obj, true);
    g_assert_cmpstr(out->str, ==, "7");
    g_string_free(out, TRUE);
    qobject_unref(obj);
}

static void test_build_and_print(void)
{
    QDict *d = qdict_new();
    QList *l = qlist_new();
    char *out;

    qdict_put_str(d, "driver", "raw");
    qdict_put(d, "n", qnum_from_double(0.5));
    qdict_put(d, "u", qnum_from_uint(UINT64_MAX));
    qdict_put_null(d, "x");
    qlist_append_int(l, -1);
    qlist_append_str(l, "tab\there");
    qdict_put(d, "l", l);
    out = to_compact(QOBJECT(d));
    g_assert_cmpstr(out, ==, "{\"driver\": \"raw\", \"n\": 0.5, "
                    "\"u\": 18446744073709551615, \"x\": null, "
                    "\"l\": [-1, \"tab\\there\"]}");
    g_free(out);
    qobject_unref(d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/qjson/scalars", test_scalars);
    g_test_add_func("/qjson/containers", test_containers);
    g_test_add_func("/qjson/nesting-limit", test_nesting_limit);
    g_test_add_func("/qjson/strings", test_strings);
    g_test_add_func("/qjson/output-invalid-utf8", test_output_invalid_utf8);
    g_test_add_func("/qjson/errors", test_errors);
    g_test_add_func("/qjson/mutations", test_mutations);
    g_test_add_func("/qjson/pretty/qemu-img-info", test_pretty_qemu_img_info);
    g_test_add_func("/qjson/pretty/lists-and-empty",
                    test_pretty_lists_and_empty);
    g_test_add_func("/qjson/build-and-print", test_build_and_print);

    return g_test_run();
}
