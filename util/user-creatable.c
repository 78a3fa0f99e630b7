/*
 * --object: user-creatable objects given on a tool's command line
 *
 * QEMU's tools create QOM objects from --object; we have no object model,
 * and of QEMU's user-creatable types only "secret" means anything to a
 * block layer without encryption or TLS.  It is parsed and checked as
 * QEMU does (same properties, same messages); the other types QEMU knows
 * are refused by name rather than silently ignored.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/option.h"
#include "qemu/cutils.h"
#include "qemu/user-creatable.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"

typedef struct Secret {
    char *id;
    uint8_t *data;      /* NUL-terminated copy */
    size_t len;
} Secret;

/* Created objects, in order; ids are unique */
static GPtrArray *secrets;

/* QEMU 7.2's user-creatable types that we refuse by name */
static const char *const unsupported_types[] = {
    "authz-list", "authz-list-file", "authz-simple", "main-loop",
    "pr-manager-helper", "secret_keyring", "thread-context",
    "throttle-group", "tls-cipher-suites", "tls-creds-anon",
    "tls-creds-psk", "tls-creds-x509",
};

/* The properties of "secret", as its help lists them */
static const char *const secret_props[] = {
    "data", "file", "format", "iv", "keyid",
};

static void print_type_list(void)
{
    printf("List of user creatable objects:\n");
    printf("  secret\n");
}

static void print_secret_help(void)
{
    printf("secret options:\n");
    printf("  data=<string>\n");
    printf("  file=<string>\n");
    printf("  format=<QCryptoSecretFormat>\n");
    printf("  iv=<string>\n");
    printf("  keyid=<string>\n");
}

static Secret *secret_find(const char *id)
{
    guint i;

    for (i = 0; secrets && i < secrets->len; i++) {
        Secret *s = g_ptr_array_index(secrets, i);

        if (!strcmp(s->id, id)) {
            return s;
        }
    }
    return NULL;
}

/* String property @key of @props, or NULL; a non-string is an error */
static bool get_str_prop(QDict *props, const char *key, const char **value,
                         Error **errp)
{
    QObject *obj = qdict_get(props, key);

    *value = NULL;
    if (!obj) {
        return true;
    }
    if (qobject_type(obj) != QTYPE_QSTRING) {
        error_setg(errp, "Invalid parameter type for '%s', expected: string",
                   key);
        return false;
    }
    *value = qstring_get_str(qobject_to(QString, obj));
    return true;
}

static bool base64_valid(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789+/=") == strlen(s);
}

/* Check the properties of a secret and load its data */
static Secret *secret_create(const char *id, QDict *props, Error **errp)
{
    const char *vals[G_N_ELEMENTS(secret_props)];
    const char *data, *file, *format, *iv, *keyid;
    g_autofree uint8_t *raw = NULL;
    const QDictEntry *e;
    gsize len = 0;
    Secret *s;
    size_t i;

    for (e = qdict_first(props); e; e = qdict_next(props, e)) {
        const char *key = qdict_entry_key(e);

        if (!strcmp(key, "loaded")) {
            error_setg(errp, "Property 'secret.loaded' is not writable");
            return NULL;
        }
        for (i = 0; i < G_N_ELEMENTS(secret_props); i++) {
            if (!strcmp(key, secret_props[i])) {
                break;
            }
        }
        if (i == G_N_ELEMENTS(secret_props)) {
            error_setg(errp, "Parameter '%s' is unexpected", key);
            return NULL;
        }
    }
    for (i = 0; i < G_N_ELEMENTS(secret_props); i++) {
        if (!get_str_prop(props, secret_props[i], &vals[i], errp)) {
            return NULL;
        }
    }
    data = vals[0];
    file = vals[1];
    format = vals[2];
    iv = vals[3];
    keyid = vals[4];

    if (format && strcmp(format, "raw") && strcmp(format, "base64")) {
        error_setg(errp, "Parameter 'format' does not accept value '%s'",
                   format);
        return NULL;
    }
    if (data && file) {
        error_setg(errp, "'file' and 'data' are mutually exclusive");
        return NULL;
    }
    if (!data && !file) {
        error_setg(errp, "Either 'file' or 'data' must be provided");
        return NULL;
    }

    if (file) {
        g_autoptr(GError) gerr = NULL;
        gchar *contents;

        if (!g_file_get_contents(file, &contents, &len, &gerr)) {
            error_setg(errp, "Unable to read %s: %s", file, gerr->message);
            return NULL;
        }
        raw = (uint8_t *)contents;
    } else {
        len = strlen(data);
        raw = (uint8_t *)g_strdup(data);
    }

    if (keyid) {
        Secret *master = secret_find(keyid);

        if (!master) {
            error_setg(errp, "No secret with id '%s'", keyid);
            return NULL;
        }
        if (master->len != 32) {
            error_setg(errp, "Key should be 32 bytes in length");
            return NULL;
        }
        if (!iv) {
            error_setg(errp, "IV is required to decrypt secret");
            return NULL;
        }
        /* AES-256-CBC decryption is not built in */
        error_setg(errp, "Decrypting secret '%s' with 'keyid' is not "
                   "supported", id);
        return NULL;
    }

    if (format && !strcmp(format, "base64")) {
        guchar *decoded;

        if (!base64_valid((char *)raw)) {
            error_setg(errp, "Base64 data contains invalid characters");
            return NULL;
        }
        decoded = g_base64_decode((char *)raw, &len);
        g_free(raw);
        raw = g_realloc(decoded, len + 1);
        raw[len] = '\0';
    }

    s = g_new0(Secret, 1);
    s->id = g_strdup(id);
    s->data = g_steal_pointer(&raw);
    s->len = len;
    return s;
}

/* Create the object @opts describes (qom-type, id and properties) */
static bool user_creatable_add_dict(QDict *opts, Error **errp)
{
    g_autofree char *owned_id = NULL;
    const char *type, *id;
    Secret *s;
    size_t i;

    if (!get_str_prop(opts, "qom-type", &type, errp)) {
        return false;
    }
    if (!type) {
        error_setg(errp, "Parameter 'qom-type' is missing");
        return false;
    }
    if (!get_str_prop(opts, "id", &id, errp)) {
        return false;
    }
    for (i = 0; i < G_N_ELEMENTS(unsupported_types); i++) {
        if (!strcmp(type, unsupported_types[i])) {
            error_setg(errp, "Object type '%s' is not supported", type);
            return false;
        }
    }
    if (strcmp(type, "secret")) {
        error_setg(errp, "Parameter 'qom-type' does not accept value '%s'",
                   type);
        return false;
    }
    if (!id) {
        error_setg(errp, "Parameter 'id' is missing");
        return false;
    }
    if (!id_wellformed(id)) {
        error_setg(errp, "Parameter 'id' expects an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, "
                          "'-', '.', '_', starting with a letter.\n");
        return false;
    }
    if (secret_find(id)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object "
                   "(type 'container')", id);
        return false;
    }

    owned_id = g_strdup(id);
    qdict_del(opts, "qom-type");
    qdict_del(opts, "id");
    s = secret_create(owned_id, opts, errp);
    if (!s) {
        return false;
    }
    if (!secrets) {
        secrets = g_ptr_array_new();
    }
    g_ptr_array_add(secrets, s);
    return true;
}

/*
 * The help a keyval string asks for: the type list ("help" as the type)
 * or the type's properties ("TYPE,...,help").  Returns the string without
 * its help elements in *@rest.
 */
typedef enum HelpKind {
    HELP_NONE,
    HELP_TYPES,
    HELP_TYPE,
} HelpKind;

static bool is_help_word(const char *s, size_t len)
{
    return (len == 4 && !strncmp(s, "help", 4)) ||
           (len == 1 && s[0] == '?');
}

static HelpKind find_help(const char *str, GString *rest)
{
    HelpKind help = HELP_NONE;
    const char *p = str;
    bool first = true;

    while (*p) {
        const char *start = p;
        size_t len;

        /* An element ends at a single ',' (",," is a literal comma) */
        while (*p && !(p[0] == ',' && p[1] != ',')) {
            p += (p[0] == ',' && p[1] == ',') ? 2 : 1;
        }
        len = p - start;
        if (is_help_word(start, len)) {
            if (first) {
                return HELP_TYPES;
            }
            help = HELP_TYPE;
        } else {
            if (rest->len) {
                g_string_append_c(rest, ',');
            }
            g_string_append_len(rest, start, len);
        }
        if (*p == ',') {
            p++;
        }
        first = false;
    }
    return help;
}

bool user_creatable_add_from_str(const char *optarg, bool *help,
                                 Error **errp)
{
    g_autoptr(GString) rest = g_string_new(NULL);
    QDict *opts;
    bool ok;

    *help = false;
    if (optarg[0] == '{') {
        QObject *obj = qobject_from_json(optarg, errp);

        if (!obj) {
            return false;
        }
        opts = qobject_to(QDict, obj);
        if (!opts) {
            qobject_unref(obj);
            error_setg(errp, "Parameter 'qom-type' is missing");
            return false;
        }
    } else {
        switch (find_help(optarg, rest)) {
        case HELP_TYPES:
            print_type_list();
            *help = true;
            return true;
        case HELP_TYPE: {
            size_t type_len = strcspn(rest->str, ",=");

            if (rest->str[type_len] != '=' && type_len == 6 &&
                !strncmp(rest->str, "secret", 6)) {
                print_secret_help();
                *help = true;
                return true;
            }
            break;
        }
        case HELP_NONE:
            break;
        }
        opts = keyval_parse(rest->str, "qom-type", errp);
        if (!opts) {
            return false;
        }
    }
    ok = user_creatable_add_dict(opts, errp);
    qobject_unref(opts);
    return ok;
}

void user_creatable_process_cmdline(const char *optarg)
{
    Error *err = NULL;
    bool help;

    if (!user_creatable_add_from_str(optarg, &help, &err)) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    if (help) {
        exit(EXIT_SUCCESS);
    }
}

bool qcrypto_secret_lookup(const char *id, uint8_t **data, size_t *len,
                           Error **errp)
{
    Secret *s = secret_find(id);

    if (!s) {
        error_setg(errp, "No secret with id '%s'", id);
        return false;
    }
    *data = g_memdup2(s->data, s->len + 1);
    *len = s->len;
    return true;
}

char *qcrypto_secret_lookup_as_utf8(const char *id, Error **errp)
{
    uint8_t *data;
    size_t len;

    if (!qcrypto_secret_lookup(id, &data, &len, errp)) {
        return NULL;
    }
    if (!g_utf8_validate((char *)data, len, NULL)) {
        error_setg(errp, "Data from secret %s is not valid UTF-8", id);
        g_free(data);
        return NULL;
    }
    return (char *)data;
}

void user_creatable_cleanup(void)
{
    guint i;

    for (i = 0; secrets && i < secrets->len; i++) {
        Secret *s = g_ptr_array_index(secrets, i);

        g_free(s->id);
        g_free(s->data);
        g_free(s);
    }
    if (secrets) {
        g_ptr_array_free(secrets, true);
        secrets = NULL;
    }
}
