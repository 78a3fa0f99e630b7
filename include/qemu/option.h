/*
 * Typed option lists (QemuOpts) and "key=value,..." parsing.
 *
 * A QemuOptsList describes the options a driver or command accepts
 * (name, type, help, default); a QemuOpts holds parsed values for one
 * instance.  Block drivers absorb their runtime options from the options
 * QDict with qemu_opts_absorb_qdict(); leftovers are reported by the
 * block core as unsupported.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_OPTION_H
#define QEMU_OPTION_H

#include "qemu/queue.h"
#include "qapi/error.h"
#include "qobject/qdict.h"

typedef enum QemuOptType {
    QEMU_OPT_STRING = 0,  /* no parsing (use string as-is) */
    QEMU_OPT_BOOL,        /* on/off */
    QEMU_OPT_NUMBER,      /* simple number */
    QEMU_OPT_SIZE,        /* size, accepts (K)ilo, (M)ega, (G)iga, (T)era */
} QemuOptType;

typedef struct QemuOptDesc {
    const char *name;
    QemuOptType type;
    const char *help;
    const char *def_value_str;
} QemuOptDesc;

typedef struct QemuOpt QemuOpt;
typedef struct QemuOpts QemuOpts;

typedef struct QemuOptsList {
    const char *name;
    const char *implied_opt_name;
    bool merge_lists;
    QTAILQ_HEAD(, QemuOpts) head;
    QemuOptDesc desc[];   /* terminated by { .name = NULL } */
} QemuOptsList;

#define QEMU_OPTS_LIST_INIT(list) \
    .head = QTAILQ_HEAD_INITIALIZER((list).head)

/* Create an empty instance (id may be NULL); never fails with id NULL */
QemuOpts *qemu_opts_create(QemuOptsList *list, const char *id,
                           int fail_if_exists, Error **errp);
void qemu_opts_del(QemuOpts *opts);

/*
 * Parse "key=value,key2=value2" (",," is a literal comma in a value).
 * With @permit_abbrev, a first element without '=' is the value of
 * list->implied_opt_name.  Values are checked against list->desc when the
 * list has descriptions (an empty desc accepts any key as a string).
 */
QemuOpts *qemu_opts_parse(QemuOptsList *list, const char *params,
                          bool permit_abbrev, Error **errp);
/*
 * Like qemu_opts_parse(), but reports a failure with error_report_err()
 * and warns about short-form booleans ("foo" for "foo=on") the way
 * qemu-io does.
 */
QemuOpts *qemu_opts_parse_noisily(QemuOptsList *list, const char *params,
                                  bool permit_abbrev);
/* The instance with @id (NULL: the one without id), or NULL */
QemuOpts *qemu_opts_find(QemuOptsList *list, const char *id);
/* Same, parsing into existing @opts */
bool qemu_opts_do_parse(QemuOpts *opts, const char *params,
                        const char *firstname, Error **errp);

/* Setting checks the type against the description ("Parameter 'x' ...") */
bool qemu_opt_set(QemuOpts *opts, const char *name, const char *value,
                  Error **errp);
bool qemu_opt_set_number(QemuOpts *opts, const char *name, int64_t val,
                         Error **errp);

/* Getters fall back to def_value_str, then to @defval */
const char *qemu_opt_get(QemuOpts *opts, const char *name);
bool qemu_opt_get_bool(QemuOpts *opts, const char *name, bool defval);
uint64_t qemu_opt_get_number(QemuOpts *opts, const char *name,
                             uint64_t defval);
uint64_t qemu_opt_get_size(QemuOpts *opts, const char *name,
                           uint64_t defval);
bool qemu_opt_has_help_opt(QemuOpts *opts);
/* Remove and return (g_free) the value; default when unset */
char *qemu_opt_get_del(QemuOpts *opts, const char *name);
bool qemu_opt_get_bool_del(QemuOpts *opts, const char *name, bool defval);
uint64_t qemu_opt_get_size_del(QemuOpts *opts, const char *name,
                               uint64_t defval);
bool qemu_opt_unset(QemuOpts *opts, const char *name);
/* Whether @name was given explicitly */
bool qemu_opt_find(QemuOpts *opts, const char *name);

/*
 * Move every entry of @qdict whose key is described by @opts's list into
 * @opts (string, number and bool values accepted; type-checked).
 */
bool qemu_opts_absorb_qdict(QemuOpts *opts, QDict *qdict, Error **errp);
/* All options as strings into @qdict (created when NULL) */
QDict *qemu_opts_to_qdict(QemuOpts *opts, QDict *qdict);

/*
 * Print " key=value key2=value2" (@separator before every item) of all set
 * options, and defaults of unset ones, in description order
 */
void qemu_opts_print(QemuOpts *opts, const char *separator);

/* Merge two description lists (for create options of format + protocol) */
QemuOptsList *qemu_opts_append(QemuOptsList *dst, QemuOptsList *list);
void qemu_opts_free(QemuOptsList *list);
/* Print "name=type - help" for qemu-img create -o help */
void qemu_opts_print_help(QemuOptsList *list, bool print_caption);

/*
 * Parse "key=value,..." into a flat QDict of strings, with ",," escaping.
 * @implied_key names the value of a leading element without '='
 * (NULL: such an element is an error).
 */
QDict *keyval_parse(const char *params, const char *implied_key,
                    Error **errp);

#endif /* QEMU_OPTION_H */
