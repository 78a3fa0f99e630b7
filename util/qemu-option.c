/*
 * Typed option lists (QemuOpts): "key=value,..." parsing, typed getters,
 * QDict conversion and help/summary printing in qemu-img's formats.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/option.h"

struct QemuOpt {
    char *name;
    char *str;
    const QemuOptDesc *desc;    /* NULL for undescribed (accept-any) keys */
    union {
        bool boolean;
        uint64_t uint;
    } value;
    QemuOpts *opts;
    QTAILQ_ENTRY(QemuOpt) next;
};

struct QemuOpts {
    char *id;
    QemuOptsList *list;
    QTAILQ_HEAD(, QemuOpt) head;
    QTAILQ_ENTRY(QemuOpts) next;
};

static bool is_help_option(const char *name)
{
    return !strcmp(name, "help") || !strcmp(name, "?");
}

static bool list_accepts_any(const QemuOptsList *list)
{
    return list->desc[0].name == NULL;
}

static const QemuOptDesc *find_desc(const QemuOptsList *list,
                                    const char *name)
{
    const QemuOptDesc *desc;

    for (desc = list->desc; desc->name; desc++) {
        if (!strcmp(desc->name, name)) {
            return desc;
        }
    }
    return NULL;
}

/* Lists defined without QEMU_OPTS_LIST_INIT have a zeroed head */
static void list_ensure_head(QemuOptsList *list)
{
    if (!list->head.tqh_last) {
        QTAILQ_INIT(&list->head);
    }
}

/* The most recently set option called @name: later settings win */
static QemuOpt *find_opt(QemuOpts *opts, const char *name)
{
    QemuOpt *opt, *found = NULL;

    QTAILQ_FOREACH(opt, &opts->head, next) {
        if (!strcmp(opt->name, name)) {
            found = opt;
        }
    }
    return found;
}

static bool parse_number_str(const char *name, const char *value,
                             uint64_t *ret, Error **errp)
{
    int err = qemu_strtou64(value, NULL, 0, ret);

    if (err == -ERANGE) {
        error_setg(errp, "Value '%s' is too large for parameter '%s'",
                   value, name);
        return false;
    }
    if (err) {
        error_setg(errp, "Parameter '%s' expects a number", name);
        return false;
    }
    return true;
}

static bool parse_size_str(const char *name, const char *value,
                           uint64_t *ret, Error **errp)
{
    ERRP_GUARD();
    int err = qemu_strtosz(value, NULL, ret);

    if (err == -ERANGE) {
        error_setg(errp, "Value '%s' is out of range for parameter '%s'",
                   value, name);
        return false;
    }
    if (err) {
        error_setg(errp, "Parameter '%s' expects a non-negative number "
                   "below 2^64", name);
        error_append_hint(errp, "Optional suffix k, M, G, T, P or E means"
                          " kilo-, mega-, giga-, tera-, peta-\n"
                          "and exabytes, respectively.\n");
        return false;
    }
    return true;
}

/* Check @opt->str against its description and fill in @opt->value */
static bool opt_parse_value(QemuOpt *opt, Error **errp)
{
    if (!opt->desc) {
        return true;
    }
    switch (opt->desc->type) {
    case QEMU_OPT_STRING:
        return true;
    case QEMU_OPT_BOOL:
        return qapi_bool_parse(opt->name, opt->str, &opt->value.boolean,
                              errp);
    case QEMU_OPT_NUMBER:
        return parse_number_str(opt->name, opt->str, &opt->value.uint,
                                errp);
    case QEMU_OPT_SIZE:
        return parse_size_str(opt->name, opt->str, &opt->value.uint, errp);
    default:
        abort();
    }
}

static void opt_free(QemuOpt *opt)
{
    QTAILQ_REMOVE(&opt->opts->head, opt, next);
    g_free(opt->name);
    g_free(opt->str);
    g_free(opt);
}

/*
 * Add @name=@value.  Help requests ("help", "?") are always stored, even
 * in lists that describe their keys, so qemu_opt_has_help_opt() sees them.
 */
static bool opt_add(QemuOpts *opts, const char *name, const char *value,
                    bool help_flag, Error **errp)
{
    const QemuOptDesc *desc = find_desc(opts->list, name);
    QemuOpt *opt;

    if (!desc && !list_accepts_any(opts->list) &&
        !(help_flag && is_help_option(name))) {
        error_setg(errp, "Invalid parameter '%s'", name);
        return false;
    }
    opt = g_new0(QemuOpt, 1);
    opt->name = g_strdup(name);
    opt->str = g_strdup(value);
    opt->desc = desc;
    opt->opts = opts;
    QTAILQ_INSERT_TAIL(&opts->head, opt, next);
    if (!opt_parse_value(opt, errp)) {
        opt_free(opt);
        return false;
    }
    return true;
}

QemuOpts *qemu_opts_find(QemuOptsList *list, const char *id)
{
    QemuOpts *opts;

    list_ensure_head(list);
    QTAILQ_FOREACH(opts, &list->head, next) {
        if (!opts->id && !id) {
            return opts;
        }
        if (opts->id && id && !strcmp(opts->id, id)) {
            return opts;
        }
    }
    return NULL;
}

QemuOpts *qemu_opts_create(QemuOptsList *list, const char *id,
                           int fail_if_exists, Error **errp)
{
    QemuOpts *opts;

    list_ensure_head(list);
    if (id) {
        if (!id_wellformed(id)) {
            ERRP_GUARD();

            error_setg(errp, "Parameter 'id' expects an identifier");
            error_append_hint(errp, "Identifiers consist of letters, "
                              "digits, '-', '.', '_', starting with a "
                              "letter.\n");
            return NULL;
        }
        opts = qemu_opts_find(list, id);
        if (opts) {
            if (fail_if_exists && !list->merge_lists) {
                error_setg(errp, "Duplicate ID '%s' for %s", id,
                           list->name ? list->name : "options");
                return NULL;
            }
            return opts;
        }
    } else if (list->merge_lists) {
        opts = qemu_opts_find(list, NULL);
        if (opts) {
            return opts;
        }
    }
    opts = g_new0(QemuOpts, 1);
    opts->id = g_strdup(id);
    opts->list = list;
    QTAILQ_INIT(&opts->head);
    QTAILQ_INSERT_TAIL(&list->head, opts, next);
    return opts;
}

void qemu_opts_del(QemuOpts *opts)
{
    if (!opts) {
        return;
    }
    while (!QTAILQ_EMPTY(&opts->head)) {
        opt_free(QTAILQ_FIRST(&opts->head));
    }
    QTAILQ_REMOVE(&opts->list->head, opts, next);
    g_free(opts->id);
    g_free(opts);
}

/*
 * Copy a value that ends at an unescaped ',' or at the end of the string
 * (",," stands for one comma); returns where the next element starts.
 */
static const char *get_opt_value(const char *p, char **value)
{
    GString *s = g_string_new(NULL);

    while (*p) {
        if (*p == ',') {
            if (p[1] != ',') {
                break;
            }
            p++;
        }
        g_string_append_c(s, *p++);
    }
    *value = g_string_free(s, FALSE);
    return p;
}

/*
 * Split one element "name=value", "flag", "noflag", or (with @firstname)
 * a bare value.  Returns the position after the element and its comma.
 * *@is_flag tells that the element had no '=' and no implied name.
 */
static const char *get_opt_name_value(const char *params,
                                      const char *firstname,
                                      char **name, char **value,
                                      bool *is_flag)
{
    size_t len = strcspn(params, "=,");
    const char *p;

    *is_flag = false;
    if (params[len] != '=') {
        if (firstname) {
            *name = g_strdup(firstname);
            p = get_opt_value(params, value);
        } else {
            char *option = g_strndup(params, len);

            p = params + len;
            *is_flag = true;
            if (!strncmp(option, "no", 2)) {
                *name = g_strdup(option + 2);
                *value = g_strdup("off");
                g_free(option);
            } else {
                *name = option;
                *value = g_strdup("on");
            }
        }
    } else {
        *name = g_strndup(params, len);
        p = get_opt_value(params + len + 1, value);
    }
    if (*p == ',') {
        p++;
    }
    return p;
}

static bool opts_do_parse(QemuOpts *opts, const char *params,
                          const char *firstname, bool warn_on_flag,
                          Error **errp)
{
    const char *p = params;

    while (*p) {
        char *name, *value;
        bool is_flag, ok = true;

        p = get_opt_name_value(p, firstname, &name, &value, &is_flag);
        firstname = NULL;
        if (is_flag && warn_on_flag && !is_help_option(name)) {
            /* QEMU names the element as written: "noname" for name=off */
            warn_report("short-form boolean option '%s%s' deprecated",
                        strcmp(value, "off") ? "" : "no", name);
            error_printf("Please use %s=%s instead\n", name, value);
        }
        /* The id is taken when the instance is created */
        if (strcmp(name, "id") != 0) {
            ok = opt_add(opts, name, value, is_flag, errp);
        }
        g_free(name);
        g_free(value);
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool qemu_opts_do_parse(QemuOpts *opts, const char *params,
                        const char *firstname, Error **errp)
{
    return opts_do_parse(opts, params, firstname, false, errp);
}

/* The value of an "id=..." element of @params, or NULL */
static char *find_id(const char *params, const char *firstname)
{
    const char *p = params;
    char *id = NULL;

    while (*p) {
        char *name, *value;
        bool is_flag;

        p = get_opt_name_value(p, firstname, &name, &value, &is_flag);
        firstname = NULL;
        if (!strcmp(name, "id")) {
            g_free(id);
            id = value;
            value = NULL;
        }
        g_free(name);
        g_free(value);
    }
    return id;
}

static QemuOpts *opts_parse(QemuOptsList *list, const char *params,
                            bool permit_abbrev, bool warn_on_flag,
                            Error **errp)
{
    const char *firstname = permit_abbrev ? list->implied_opt_name : NULL;
    char *id = find_id(params, firstname);
    QemuOpts *opts;

    opts = qemu_opts_create(list, id, !list->merge_lists, errp);
    g_free(id);
    if (!opts) {
        return NULL;
    }
    if (!opts_do_parse(opts, params, firstname, warn_on_flag, errp)) {
        qemu_opts_del(opts);
        return NULL;
    }
    return opts;
}

QemuOpts *qemu_opts_parse(QemuOptsList *list, const char *params,
                          bool permit_abbrev, Error **errp)
{
    return opts_parse(list, params, permit_abbrev, false, errp);
}

QemuOpts *qemu_opts_parse_noisily(QemuOptsList *list, const char *params,
                                  bool permit_abbrev)
{
    Error *err = NULL;
    QemuOpts *opts = opts_parse(list, params, permit_abbrev, true, &err);

    if (!opts) {
        error_report_err(err);
    }
    return opts;
}

bool qemu_opt_set(QemuOpts *opts, const char *name, const char *value,
                  Error **errp)
{
    return opt_add(opts, name, value, false, errp);
}

bool qemu_opt_set_number(QemuOpts *opts, const char *name, int64_t val,
                         Error **errp)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, val);
    return opt_add(opts, name, buf, false, errp);
}

const char *qemu_opt_get(QemuOpts *opts, const char *name)
{
    QemuOpt *opt;
    const QemuOptDesc *desc;

    if (!opts) {
        return NULL;
    }
    opt = find_opt(opts, name);
    if (opt) {
        return opt->str;
    }
    desc = find_desc(opts->list, name);
    return desc ? desc->def_value_str : NULL;
}

bool qemu_opt_find(QemuOpts *opts, const char *name)
{
    return opts && find_opt(opts, name) != NULL;
}

/*
 * Typed value of @name: the parsed value of an explicit setting, else the
 * description's default, else @defval.  Strings that do not parse (an
 * undescribed key, a bad default) also give @defval.
 */
static bool opt_get_bool_helper(QemuOpts *opts, const char *name,
                                bool defval, bool del)
{
    QemuOpt *opt = opts ? find_opt(opts, name) : NULL;
    const char *str = NULL;
    bool ret = defval;

    if (opt && opt->desc && opt->desc->type == QEMU_OPT_BOOL) {
        ret = opt->value.boolean;
    } else {
        str = qemu_opt_get(opts, name);
        if (!str || !qapi_bool_parse(name, str, &ret, NULL)) {
            ret = defval;
        }
    }
    if (del) {
        qemu_opt_unset(opts, name);
    }
    return ret;
}

static uint64_t opt_get_uint_helper(QemuOpts *opts, const char *name,
                                    uint64_t defval, QemuOptType type,
                                    bool del)
{
    QemuOpt *opt = opts ? find_opt(opts, name) : NULL;
    const char *str;
    uint64_t ret = defval;
    bool ok;

    if (opt && opt->desc && opt->desc->type == type) {
        ret = opt->value.uint;
    } else {
        str = qemu_opt_get(opts, name);
        if (str) {
            ok = type == QEMU_OPT_SIZE ? parse_size_str(name, str, &ret, NULL)
                                       : parse_number_str(name, str, &ret,
                                                          NULL);
            if (!ok) {
                ret = defval;
            }
        }
    }
    if (del) {
        qemu_opt_unset(opts, name);
    }
    return ret;
}

bool qemu_opt_get_bool(QemuOpts *opts, const char *name, bool defval)
{
    return opt_get_bool_helper(opts, name, defval, false);
}

uint64_t qemu_opt_get_number(QemuOpts *opts, const char *name,
                             uint64_t defval)
{
    return opt_get_uint_helper(opts, name, defval, QEMU_OPT_NUMBER, false);
}

uint64_t qemu_opt_get_size(QemuOpts *opts, const char *name,
                           uint64_t defval)
{
    return opt_get_uint_helper(opts, name, defval, QEMU_OPT_SIZE, false);
}

bool qemu_opt_has_help_opt(QemuOpts *opts)
{
    QemuOpt *opt;

    if (!opts) {
        return false;
    }
    QTAILQ_FOREACH(opt, &opts->head, next) {
        if (is_help_option(opt->name)) {
            return true;
        }
    }
    return false;
}

char *qemu_opt_get_del(QemuOpts *opts, const char *name)
{
    char *ret = g_strdup(qemu_opt_get(opts, name));

    if (opts) {
        qemu_opt_unset(opts, name);
    }
    return ret;
}

bool qemu_opt_get_bool_del(QemuOpts *opts, const char *name, bool defval)
{
    return opt_get_bool_helper(opts, name, defval, true);
}

uint64_t qemu_opt_get_size_del(QemuOpts *opts, const char *name,
                               uint64_t defval)
{
    return opt_get_uint_helper(opts, name, defval, QEMU_OPT_SIZE, true);
}

bool qemu_opt_unset(QemuOpts *opts, const char *name)
{
    QemuOpt *opt, *next;
    bool found = false;

    if (!opts) {
        return false;
    }
    QTAILQ_FOREACH_SAFE(opt, &opts->head, next, next) {
        if (!strcmp(opt->name, name)) {
            opt_free(opt);
            found = true;
        }
    }
    return found;
}

/*
 * String form of a scalar QDict value, NULL for other types (which option
 * readers do not take and leave in the dictionary).
 */
static char *qobject_to_opt_str(QObject *value)
{
    switch (qobject_type(value)) {
    case QTYPE_QSTRING:
        return g_strdup(qstring_get_str(qobject_to(QString, value)));
    case QTYPE_QNUM:
        return qnum_to_string(qobject_to(QNum, value));
    case QTYPE_QBOOL:
        return g_strdup(qbool_get_bool(qobject_to(QBool, value))
                        ? "on" : "off");
    default:
        return NULL;
    }
}

bool qemu_opts_absorb_qdict(QemuOpts *opts, QDict *qdict, Error **errp)
{
    const QDictEntry *entry = qdict_first(qdict);

    while (entry) {
        const QDictEntry *next = qdict_next(qdict, entry);
        const char *key = qdict_entry_key(entry);
        char *str;
        bool ok;

        if (!find_desc(opts->list, key) && !list_accepts_any(opts->list)) {
            entry = next;
            continue;
        }
        str = qobject_to_opt_str(qdict_entry_value(entry));
        if (!str) {
            entry = next;
            continue;
        }
        ok = qemu_opt_set(opts, key, str, errp);
        g_free(str);
        if (!ok) {
            return false;
        }
        qdict_del(qdict, key);
        entry = next;
    }
    return true;
}

QDict *qemu_opts_to_qdict(QemuOpts *opts, QDict *qdict)
{
    QemuOpt *opt;

    if (!qdict) {
        qdict = qdict_new();
    }
    if (opts->id) {
        qdict_put_str(qdict, "id", opts->id);
    }
    QTAILQ_FOREACH(opt, &opts->head, next) {
        qdict_put_str(qdict, opt->name, opt->str);
    }
    return qdict;
}

/* Commas in values are doubled, so the output parses back the same */
static void print_escaped(const char *value)
{
    const char *p;

    for (p = value; *p; p++) {
        if (*p == ',') {
            putchar(',');
        }
        putchar(*p);
    }
}

/*
 * Every item is preceded by @separator, so a caller can print
 * "Formatting 'x', fmt=raw" and append " size=1048576 ..." directly.
 * Described lists print in description order, including defaults of
 * unset options; set numbers and sizes print as parsed (in decimal).
 */
void qemu_opts_print(QemuOpts *opts, const char *separator)
{
    const QemuOptDesc *desc;
    QemuOpt *opt;

    if (opts->id) {
        printf("%sid=%s", separator, opts->id);
    }
    if (list_accepts_any(opts->list)) {
        QTAILQ_FOREACH(opt, &opts->head, next) {
            printf("%s%s=", separator, opt->name);
            print_escaped(opt->str);
        }
        return;
    }
    for (desc = opts->list->desc; desc->name; desc++) {
        const char *value;

        opt = find_opt(opts, desc->name);
        value = opt ? opt->str : desc->def_value_str;
        if (!value) {
            continue;
        }
        if (desc->type == QEMU_OPT_STRING) {
            printf("%s%s=", separator, desc->name);
            print_escaped(value);
        } else if (opt && opt->desc &&
                   (desc->type == QEMU_OPT_SIZE ||
                    desc->type == QEMU_OPT_NUMBER)) {
            printf("%s%s=%" PRId64, separator, desc->name,
                   (int64_t)opt->value.uint);
        } else {
            printf("%s%s=%s", separator, desc->name, value);
        }
    }
}

static size_t desc_count(const QemuOptsList *list)
{
    size_t n = 0;

    if (list) {
        while (list->desc[n].name) {
            n++;
        }
    }
    return n;
}

QemuOptsList *qemu_opts_append(QemuOptsList *dst, QemuOptsList *list)
{
    size_t n_dst, n_list, i;

    if (!list) {
        return dst;
    }
    n_dst = desc_count(dst);
    n_list = desc_count(list);
    dst = g_realloc(dst, sizeof(QemuOptsList) +
                    (n_dst + n_list + 1) * sizeof(QemuOptDesc));
    if (n_dst == 0) {
        dst->name = NULL;
        dst->implied_opt_name = NULL;
        dst->merge_lists = false;
    }
    /* The list head may have moved; merged lists hold no instances yet */
    QTAILQ_INIT(&dst->head);
    dst->desc[n_dst].name = NULL;
    for (i = 0; i < n_list; i++) {
        if (!find_desc(dst, list->desc[i].name)) {
            dst->desc[n_dst++] = list->desc[i];
            dst->desc[n_dst].name = NULL;
        }
    }
    return dst;
}

void qemu_opts_free(QemuOptsList *list)
{
    g_free(list);
}

static const char *opt_type_name(QemuOptType type)
{
    switch (type) {
    case QEMU_OPT_STRING:
        return "str";
    case QEMU_OPT_BOOL:
        return "bool (on/off)";
    case QEMU_OPT_NUMBER:
        return "num";
    case QEMU_OPT_SIZE:
        return "size";
    default:
        abort();
    }
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void qemu_opts_print_help(QemuOptsList *list, bool print_caption)
{
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    const QemuOptDesc *desc;
    guint i;

    for (desc = list->desc; desc->name; desc++) {
        GString *line = g_string_new(NULL);

        g_string_append_printf(line, "  %s=<%s>", desc->name,
                               opt_type_name(desc->type));
        if (desc->help) {
            /* Help texts start in a column, unless the name is too long */
            while (line->len < 24) {
                g_string_append_c(line, ' ');
            }
            g_string_append_printf(line, " - %s", desc->help);
        }
        g_ptr_array_add(lines, g_string_free(line, FALSE));
    }
    g_ptr_array_sort(lines, compare_strings);

    if (lines->len == 0) {
        if (list->name) {
            printf("There are no options for %s.\n", list->name);
        } else {
            printf("No options.\n");
        }
    } else if (print_caption) {
        if (list->name) {
            printf("%s options:\n", list->name);
        } else {
            printf("Options:\n");
        }
    }
    for (i = 0; i < lines->len; i++) {
        printf("%s\n", (char *)g_ptr_array_index(lines, i));
    }
    g_ptr_array_free(lines, TRUE);
}
