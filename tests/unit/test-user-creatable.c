/*
 * Unit tests for --object: secrets created, looked up and refused with
 * QEMU's messages
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/user-creatable.h"

/* Create @str; expect failure with @msg (NULL: expect success) */
static void check_add(const char *str, const char *msg)
{
    Error *err = NULL;
    bool help = true;
    bool ok = user_creatable_add_from_str(str, &help, &err);

    if (msg) {
        g_assert_false(ok);
        g_assert_nonnull(err);
        g_assert_cmpstr(error_get_pretty(err), ==, msg);
        error_free(err);
    } else {
        g_assert_true(ok);
        g_assert_null(err);
        g_assert_false(help);
    }
}

static void check_secret(const char *id, const char *want, size_t want_len)
{
    uint8_t *data;
    size_t len;

    g_assert_true(qcrypto_secret_lookup(id, &data, &len, &error_abort));
    g_assert_cmpuint(len, ==, want_len);
    g_assert_true(memcmp(data, want, len) == 0);
    g_assert_cmpint(data[len], ==, 0);
    g_free(data);
}

static void test_secret_data(void)
{
    g_autofree char *path = NULL;
    g_autofree char *opt = NULL;
    g_autofree char *utf8 = NULL;
    int fd;

    check_add("secret,id=s0,data=hello", NULL);
    check_secret("s0", "hello", 5);
    check_add("secret,id=s1,data=aGVsbG8=,format=base64", NULL);
    check_secret("s1", "hello", 5);
    check_add("secret,id=s2,data=a,,b", NULL);
    check_secret("s2", "a,b", 3);
    check_add("{\"qom-type\": \"secret\", \"id\": \"s3\", \"data\": \"j\"}",
              NULL);
    check_secret("s3", "j", 1);
    check_add("secret,id=s4,data=", NULL);
    check_secret("s4", "", 0);

    fd = g_file_open_tmp("test-secret-XXXXXX", &path, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, "from\0file", 9), ==, 9);
    close(fd);
    opt = g_strdup_printf("secret,id=s5,file=%s", path);
    check_add(opt, NULL);
    check_secret("s5", "from\0file", 9);
    unlink(path);

    utf8 = qcrypto_secret_lookup_as_utf8("s0", &error_abort);
    g_assert_cmpstr(utf8, ==, "hello");
    user_creatable_cleanup();
}

static void test_errors(void)
{
    Error *err = NULL;
    uint8_t *data;
    size_t len;

    check_add("foo,id=x", "Parameter 'qom-type' does not accept value 'foo'");
    check_add("throttle-group,id=x",
              "Object type 'throttle-group' is not supported");
    check_add("id=x", "Parameter 'qom-type' is missing");
    check_add("secret", "Parameter 'id' is missing");
    check_add("secret,id=1x,data=a", "Parameter 'id' expects an identifier");
    check_add("secret,id=s", "Either 'file' or 'data' must be provided");
    check_add("secret,id=s,data=a,file=b",
              "'file' and 'data' are mutually exclusive");
    check_add("secret,id=s,data=a,bogus=1", "Parameter 'bogus' is unexpected");
    check_add("secret,id=s,data=a,loaded=on",
              "Property 'secret.loaded' is not writable");
    check_add("secret,id=s,data=a,format=hex",
              "Parameter 'format' does not accept value 'hex'");
    check_add("secret,id=s,data=!!,format=base64",
              "Base64 data contains invalid characters");
    check_add("secret,id=s,data=a,keyid=k", "No secret with id 'k'");
    check_add("{\"qom-type\": \"secret\", \"id\": \"s\", \"data\": 1}",
              "Invalid parameter type for 'data', expected: string");

    /* Nothing was created by the failures */
    g_assert_false(qcrypto_secret_lookup("s", &data, &len, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "No secret with id 's'");
    error_free(err);

    check_add("secret,id=s,data=a", NULL);
    check_add("secret,id=s,data=b", "attempt to add duplicate property 's' "
              "to object (type 'container')");
    check_secret("s", "a", 1);
    user_creatable_cleanup();
}

static void test_help(void)
{
    Error *err = NULL;
    bool help = false;

    g_assert_true(user_creatable_add_from_str("help", &help, &err));
    g_assert_true(help);
    help = false;
    g_assert_true(user_creatable_add_from_str("secret,help", &help, &err));
    g_assert_true(help);
    help = false;
    g_assert_true(user_creatable_add_from_str("secret,id=s,?", &help,
                                              &err));
    g_assert_true(help);
    g_assert_null(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/user-creatable/secret-data", test_secret_data);
    g_test_add_func("/user-creatable/errors", test_errors);
    g_test_add_func("/user-creatable/help", test_help);

    return g_test_run();
}
