/*
 * blkdebug: inject errors, corruptions and pauses into a block graph
 *
 * Rules are driven by the debug events that drivers above raise on this
 * node (BLKDBG_EVENT(bs->file, ...)) and by a small state machine:
 *
 *   inject-error       the next matching request fails with errno
 *   set-state          move the state machine on an event
 *   inject-corruption  damage the data of matching reads or writes
 *                      (our extension, see docs/blkdebug.txt)
 *   break/resume       suspend a request at an event (qemu-io)
 *
 * Grammar, as in the config file or as options (inject-error.N.KEY=...):
 *
 *   [inject-error]   event= state= iotype= errno= sector= once= immediately=
 *   [set-state]      event= state= new_state=
 *   [inject-corruption] event= state= iotype= offset=|sector= length=
 *                    action=flip|set|drop|shift mask= value= delta= once=
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qemu/cutils.h"
#include "qemu/option.h"
#include "qemu/iov.h"
#include "qobject/qdict.h"

#define BLKDEBUG_OPT_CONFIG        "config"
#define BLKDEBUG_OPT_IMAGE         "x-image"
#define BLKDEBUG_OPT_ALIGN         "align"
#define BLKDEBUG_OPT_MAX_TRANSFER  "max-transfer"
#define BLKDEBUG_OPT_OPT_WZ        "opt-write-zero"
#define BLKDEBUG_OPT_MAX_WZ        "max-write-zero"
#define BLKDEBUG_OPT_OPT_DISCARD   "opt-discard"
#define BLKDEBUG_OPT_MAX_DISCARD   "max-discard"

typedef enum BlkdebugIOType {
    BLKDEBUG_IO_TYPE_READ,
    BLKDEBUG_IO_TYPE_WRITE,
    BLKDEBUG_IO_TYPE_WRITE_ZEROES,
    BLKDEBUG_IO_TYPE_DISCARD,
    BLKDEBUG_IO_TYPE_FLUSH,
    BLKDEBUG_IO_TYPE_BLOCK_STATUS,
    BLKDEBUG_IO_TYPE__MAX,
} BlkdebugIOType;

static const char *const blkdebug_io_type_names[] = {
    [BLKDEBUG_IO_TYPE_READ] = "read",
    [BLKDEBUG_IO_TYPE_WRITE] = "write",
    [BLKDEBUG_IO_TYPE_WRITE_ZEROES] = "write-zeroes",
    [BLKDEBUG_IO_TYPE_DISCARD] = "discard",
    [BLKDEBUG_IO_TYPE_FLUSH] = "flush",
    [BLKDEBUG_IO_TYPE_BLOCK_STATUS] = "block-status",
};

/* Error rules without iotype apply to every type except block-status */
#define BLKDEBUG_IOTYPE_MASK_DEFAULT \
    ((1ull << BLKDEBUG_IO_TYPE_BLOCK_STATUS) - 1)

typedef enum BlkdebugAction {
    ACTION_INJECT_ERROR,
    ACTION_SET_STATE,
    ACTION_SUSPEND,
    ACTION_INJECT_CORRUPTION,
    ACTION__MAX,
} BlkdebugAction;

typedef enum BlkdebugCorruption {
    CORRUPT_FLIP,       /* XOR bytes with mask */
    CORRUPT_SET,        /* overwrite bytes with value */
    CORRUPT_DROP,       /* the write or discard is lost, success returned */
    CORRUPT_SHIFT,      /* the write lands delta bytes away */
} BlkdebugCorruption;

static const char *const blkdebug_corruption_names[] = {
    [CORRUPT_FLIP] = "flip",
    [CORRUPT_SET] = "set",
    [CORRUPT_DROP] = "drop",
    [CORRUPT_SHIFT] = "shift",
};

typedef struct BlkdebugRule {
    BlkdebugEvent event;     /* BLKDBG__MAX: armed from the start */
    BlkdebugAction action;
    int state;               /* 0: in any state */
    union {
        struct {
            uint64_t iotype_mask;
            int error;
            bool immediately;
            bool once;
            int64_t offset;  /* -1: any */
        } inject;
        struct {
            int new_state;
        } set_state;
        struct {
            char *tag;
        } suspend;
        struct {
            uint64_t iotype_mask;
            BlkdebugCorruption kind;
            int64_t offset;  /* -1: the start of any request */
            int64_t length;
            uint8_t mask;
            uint8_t value;
            int64_t delta;
            bool once;
        } corrupt;
    } options;
    QLIST_ENTRY(BlkdebugRule) next;
    QSIMPLEQ_ENTRY(BlkdebugRule) active_next;
    bool active;
} BlkdebugRule;

typedef struct BlkdebugSuspendedReq {
    Coroutine *co;
    char *tag;
    QLIST_ENTRY(BlkdebugSuspendedReq) next;
} BlkdebugSuspendedReq;

typedef struct BDRVBlkdebugState {
    int state;
    uint64_t align;
    uint64_t max_transfer;
    uint64_t opt_write_zero;
    uint64_t max_write_zero;
    uint64_t opt_discard;
    uint64_t max_discard;
    char *config_file;

    /* rules[BLKDBG__MAX] holds event-less corruption rules */
    QLIST_HEAD(, BlkdebugRule) rules[BLKDBG__MAX + 1];
    QSIMPLEQ_HEAD(, BlkdebugRule) active_rules;
    QLIST_HEAD(, BlkdebugRule) corruption_rules;
    QLIST_HEAD(, BlkdebugSuspendedReq) suspended_reqs;
} BDRVBlkdebugState;

static QemuOptsList runtime_opts = {
    .name = "blkdebug",
    QEMU_OPTS_LIST_INIT(runtime_opts),
    .desc = {
        { .name = BLKDEBUG_OPT_CONFIG, .type = QEMU_OPT_STRING,
          .help = "Path to the configuration file" },
        { .name = BLKDEBUG_OPT_IMAGE, .type = QEMU_OPT_STRING,
          .help = "[internal use only, will be removed]" },
        { .name = BLKDEBUG_OPT_ALIGN, .type = QEMU_OPT_SIZE,
          .help = "Required alignment in bytes" },
        { .name = BLKDEBUG_OPT_MAX_TRANSFER, .type = QEMU_OPT_SIZE,
          .help = "Maximum transfer size in bytes" },
        { .name = BLKDEBUG_OPT_OPT_WZ, .type = QEMU_OPT_SIZE,
          .help = "Optimum write zero alignment in bytes" },
        { .name = BLKDEBUG_OPT_MAX_WZ, .type = QEMU_OPT_SIZE,
          .help = "Maximum write zero size in bytes" },
        { .name = BLKDEBUG_OPT_OPT_DISCARD, .type = QEMU_OPT_SIZE,
          .help = "Optimum discard alignment in bytes" },
        { .name = BLKDEBUG_OPT_MAX_DISCARD, .type = QEMU_OPT_SIZE,
          .help = "Maximum discard size in bytes" },
        { /* end of list */ }
    },
};

static int blkdebug_event_from_name(const char *name)
{
    int i;

    for (i = 0; i < BLKDBG__MAX; i++) {
        if (!strcmp(BlkdebugEvent_str[i], name)) {
            return i;
        }
    }
    return -1;
}

/*
 * Rule sections are parsed from one table: for every section the keys it
 * accepts, each with its kind of value, range and default.  One parser
 * reads them all into an array indexed by key, names the key and the
 * value in every message, and leaves to the section's builder only the
 * checks that involve two keys.
 */
typedef enum BlkdebugKeyId {
    KEY_EVENT,
    KEY_STATE,
    KEY_IOTYPE,
    KEY_ERRNO,
    KEY_SECTOR,
    KEY_ONCE,
    KEY_IMMEDIATELY,
    KEY_NEW_STATE,
    KEY_ACTION,
    KEY_OFFSET,
    KEY_LENGTH,
    KEY_MASK,
    KEY_VALUE,
    KEY_DELTA,
    KEY__MAX,
} BlkdebugKeyId;

typedef enum BlkdebugKeyType {
    KEY_TYPE_INT,       /* a number within [min, max] */
    KEY_TYPE_BOOL,      /* on/off */
    KEY_TYPE_EVENT,     /* an event name */
    KEY_TYPE_IOTYPE,    /* a request type, stored as a one-bit mask */
    KEY_TYPE_ACTION,    /* a corruption kind */
} BlkdebugKeyType;

typedef struct BlkdebugKey {
    BlkdebugKeyId id;
    const char *name;
    BlkdebugKeyType type;
    int64_t min, max;       /* KEY_TYPE_INT only */
    int64_t def;            /* the value when the key is absent */
    const char *missing;    /* if set the key is required: the message */
} BlkdebugKey;

#define BLKDEBUG_MAX_KEYS 12

typedef struct BlkdebugSection {
    const char *name;
    BlkdebugAction action;
    BlkdebugKey keys[BLKDEBUG_MAX_KEYS];    /* up to one with name NULL */
} BlkdebugSection;

#define KEY_INT(id_, name_, min_, max_, def_) \
    { .id = (id_), .name = (name_), .type = KEY_TYPE_INT, \
      .min = (min_), .max = (max_), .def = (def_) }
#define KEY_BOOL(id_, name_) \
    { .id = (id_), .name = (name_), .type = KEY_TYPE_BOOL }
#define KEY_STATE_ANY KEY_INT(KEY_STATE, "state", 0, INT_MAX, 0)

/* In each section, keys are parsed (and bad values found) in this order */
static const BlkdebugSection blkdebug_sections[] = {
    {
        .name = "inject-error",
        .action = ACTION_INJECT_ERROR,
        .keys = {
            { .id = KEY_EVENT, .name = "event", .type = KEY_TYPE_EVENT,
              .missing = "Missing event name for rule" },
            KEY_STATE_ANY,
            { .id = KEY_IOTYPE, .name = "iotype", .type = KEY_TYPE_IOTYPE,
              .def = BLKDEBUG_IOTYPE_MASK_DEFAULT },
            KEY_INT(KEY_ERRNO, "errno", 0, 4095, EIO),
            KEY_INT(KEY_SECTOR, "sector", -1, INT64_MAX / 512, -1),
            KEY_BOOL(KEY_ONCE, "once"),
            KEY_BOOL(KEY_IMMEDIATELY, "immediately"),
        },
    },
    {
        .name = "set-state",
        .action = ACTION_SET_STATE,
        .keys = {
            { .id = KEY_EVENT, .name = "event", .type = KEY_TYPE_EVENT,
              .missing = "Missing event name for rule" },
            KEY_STATE_ANY,
            { .id = KEY_NEW_STATE, .name = "new_state", .type = KEY_TYPE_INT,
              .min = 1, .max = INT_MAX,
              .missing = "Parameter 'new_state' is missing" },
        },
    },
    {
        .name = "inject-corruption",
        .action = ACTION_INJECT_CORRUPTION,
        .keys = {
            /* Without an event, armed from the start */
            { .id = KEY_EVENT, .name = "event", .type = KEY_TYPE_EVENT,
              .def = BLKDBG__MAX },
            KEY_STATE_ANY,
            { .id = KEY_ACTION, .name = "action", .type = KEY_TYPE_ACTION,
              .def = CORRUPT_FLIP },
            { .id = KEY_IOTYPE, .name = "iotype", .type = KEY_TYPE_IOTYPE,
              .def = 1ull << BLKDEBUG_IO_TYPE_READ },
            KEY_INT(KEY_OFFSET, "offset", -1, INT64_MAX, -1),
            KEY_INT(KEY_SECTOR, "sector", -1, INT64_MAX / 512, -1),
            KEY_INT(KEY_LENGTH, "length", 1, INT32_MAX, 1),
            KEY_INT(KEY_MASK, "mask", 1, 255, 1),
            KEY_INT(KEY_VALUE, "value", 0, 255, 0),
            KEY_INT(KEY_DELTA, "delta", INT32_MIN, INT32_MAX, 512),
            KEY_BOOL(KEY_ONCE, "once"),
        },
    },
};

static const BlkdebugSection *blkdebug_find_section(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(blkdebug_sections); i++) {
        if (!strcmp(blkdebug_sections[i].name, name)) {
            return &blkdebug_sections[i];
        }
    }
    return NULL;
}

/*
 * Unknown keys: QEMU words this differently for the config file and for
 * the option form, and so do we.
 */
static bool blkdebug_check_keys(const BlkdebugSection *desc, QDict *section,
                                bool from_options, Error **errp)
{
    const QDictEntry *e;

    for (e = qdict_first(section); e; e = qdict_next(section, e)) {
        const char *key = qdict_entry_key(e);
        int i;

        for (i = 0; i < BLKDEBUG_MAX_KEYS && desc->keys[i].name; i++) {
            if (!strcmp(desc->keys[i].name, key)) {
                break;
            }
        }
        if (i == BLKDEBUG_MAX_KEYS || !desc->keys[i].name) {
            if (from_options) {
                error_setg(errp, "[%s] section doesn't support the option "
                           "'%s'", desc->name, key);
            } else {
                error_setg(errp, "Invalid parameter '%s'", key);
            }
            return false;
        }
    }
    return true;
}

/* Parse the value @str of key @k into *@value */
static bool blkdebug_parse_key(const BlkdebugKey *k, const char *str,
                               int64_t *value, Error **errp)
{
    bool b;
    int i;

    switch (k->type) {
    case KEY_TYPE_INT:
        if (qemu_strtoi64(str, NULL, 0, value) < 0) {
            error_setg(errp, "Parameter '%s' expects a number", k->name);
            return false;
        }
        if (*value < k->min || *value > k->max) {
            error_setg(errp, "Parameter '%s' out of range: %" PRId64
                       " (must be %" PRId64 "..%" PRId64 ")", k->name,
                       *value, k->min, k->max);
            return false;
        }
        return true;
    case KEY_TYPE_BOOL:
        if (!qapi_bool_parse(k->name, str, &b, errp)) {
            return false;
        }
        *value = b;
        return true;
    case KEY_TYPE_EVENT:
        *value = blkdebug_event_from_name(str);
        if (*value < 0) {
            error_setg(errp, "invalid parameter value: %s", str);
            return false;
        }
        return true;
    case KEY_TYPE_IOTYPE:
        for (i = 0; i < BLKDEBUG_IO_TYPE__MAX; i++) {
            if (!strcmp(str, blkdebug_io_type_names[i])) {
                *value = 1ll << i;
                return true;
            }
        }
        error_setg(errp, "invalid parameter value: %s", str);
        return false;
    case KEY_TYPE_ACTION:
        for (i = 0; i < (int)ARRAY_SIZE(blkdebug_corruption_names); i++) {
            if (!strcmp(str, blkdebug_corruption_names[i])) {
                *value = i;
                return true;
            }
        }
        error_setg(errp, "Parameter '%s' does not accept value '%s' "
                   "(flip, set, drop or shift)", k->name, str);
        return false;
    }
    g_assert_not_reached();
}

/*
 * Every key of @desc from @section into @values[key id], the default for
 * an absent key
 */
static bool blkdebug_parse_keys(const BlkdebugSection *desc, QDict *section,
                                int64_t *values, Error **errp)
{
    int i;

    for (i = 0; i < BLKDEBUG_MAX_KEYS && desc->keys[i].name; i++) {
        const BlkdebugKey *k = &desc->keys[i];
        const char *str = qdict_get_try_str(section, k->name);

        values[k->id] = k->def;
        if (!str && k->missing) {
            error_setg(errp, "%s", k->missing);
            return false;
        }
        if (str && !blkdebug_parse_key(k, str, &values[k->id], errp)) {
            return false;
        }
    }
    return true;
}

static void blkdebug_add_rule(BDRVBlkdebugState *s, BlkdebugRule *rule)
{
    QLIST_INSERT_HEAD(&s->rules[rule->event], rule, next);
}

/* Which corruptions make sense for which request types */
static bool blkdebug_corruption_fits(BlkdebugCorruption kind,
                                     uint64_t iotype_mask, Error **errp)
{
    static const uint64_t allowed[] = {
        [CORRUPT_FLIP] = (1ull << BLKDEBUG_IO_TYPE_READ) |
                         (1ull << BLKDEBUG_IO_TYPE_WRITE),
        [CORRUPT_SET] = (1ull << BLKDEBUG_IO_TYPE_READ) |
                        (1ull << BLKDEBUG_IO_TYPE_WRITE),
        [CORRUPT_DROP] = (1ull << BLKDEBUG_IO_TYPE_WRITE) |
                         (1ull << BLKDEBUG_IO_TYPE_WRITE_ZEROES) |
                         (1ull << BLKDEBUG_IO_TYPE_DISCARD),
        [CORRUPT_SHIFT] = 1ull << BLKDEBUG_IO_TYPE_WRITE,
    };
    static const char *const needs[] = {
        [CORRUPT_FLIP] = "read or write",
        [CORRUPT_SET] = "read or write",
        [CORRUPT_DROP] = "write, write-zeroes or discard",
        [CORRUPT_SHIFT] = "write",
    };

    if (iotype_mask & ~allowed[kind]) {
        error_setg(errp, "Action '%s' needs iotype %s",
                   blkdebug_corruption_names[kind], needs[kind]);
        return false;
    }
    return true;
}

static bool blkdebug_add_section(BDRVBlkdebugState *s, const char *name,
                                 QDict *section, bool from_options,
                                 Error **errp)
{
    const BlkdebugSection *desc = blkdebug_find_section(name);
    g_autofree BlkdebugRule *rule = NULL;
    int64_t v[KEY__MAX];

    if (!desc) {
        error_setg(errp, "There is no option group '%s'", name);
        return false;
    }
    if (!blkdebug_check_keys(desc, section, from_options, errp)) {
        return false;
    }
    if (desc->action == ACTION_INJECT_CORRUPTION &&
        qdict_haskey(section, "offset") && qdict_haskey(section, "sector")) {
        error_setg(errp, "Parameters 'offset' and 'sector' are "
                   "mutually exclusive");
        return false;
    }
    if (!blkdebug_parse_keys(desc, section, v, errp)) {
        return false;
    }

    rule = g_new0(BlkdebugRule, 1);
    rule->action = desc->action;
    rule->event = v[KEY_EVENT];
    rule->state = v[KEY_STATE];
    switch (rule->action) {
    case ACTION_INJECT_ERROR:
        rule->options.inject.iotype_mask = v[KEY_IOTYPE];
        rule->options.inject.error = v[KEY_ERRNO];
        rule->options.inject.offset =
            v[KEY_SECTOR] == -1 ? -1 : v[KEY_SECTOR] * 512;
        rule->options.inject.once = v[KEY_ONCE];
        rule->options.inject.immediately = v[KEY_IMMEDIATELY];
        break;
    case ACTION_SET_STATE:
        rule->options.set_state.new_state = v[KEY_NEW_STATE];
        break;
    case ACTION_INJECT_CORRUPTION:
        rule->options.corrupt.kind = v[KEY_ACTION];
        rule->options.corrupt.iotype_mask = v[KEY_IOTYPE];
        if (!blkdebug_corruption_fits(rule->options.corrupt.kind,
                                      rule->options.corrupt.iotype_mask,
                                      errp)) {
            return false;
        }
        if (rule->options.corrupt.kind == CORRUPT_SHIFT &&
            v[KEY_DELTA] == 0) {
            error_setg(errp, "Parameter 'delta' must not be 0");
            return false;
        }
        rule->options.corrupt.offset =
            v[KEY_SECTOR] != -1 ? v[KEY_SECTOR] * 512 : v[KEY_OFFSET];
        rule->options.corrupt.length = v[KEY_LENGTH];
        rule->options.corrupt.mask = v[KEY_MASK];
        rule->options.corrupt.value = v[KEY_VALUE];
        rule->options.corrupt.delta = v[KEY_DELTA];
        rule->options.corrupt.once = v[KEY_ONCE];
        break;
    default:
        g_assert_not_reached();
    }

    blkdebug_add_rule(s, g_steal_pointer(&rule));
    return true;
}

/*
 * Read the config file: "[section]" headers followed by KEY = "VALUE"
 * lines; '#' starts a comment.
 */
static bool blkdebug_read_config_file(BDRVBlkdebugState *s,
                                      const char *filename, Error **errp)
{
    g_autofree char *contents = NULL;
    g_autoptr(GError) gerr = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(QDict) section = NULL;
    g_autofree char *section_name = NULL;
    int i;

    if (!g_file_get_contents(filename, &contents, NULL, &gerr)) {
        error_setg_errno(errp, gerr->code == G_FILE_ERROR_NOENT ? ENOENT :
                         EIO, "Could not read blkdebug config file");
        return false;
    }
    lines = g_strsplit(contents, "\n", -1);
    for (i = 0; ; i++) {
        g_autofree char *line = lines[i] ? g_strstrip(g_strdup(lines[i]))
                                         : NULL;
        char *eq;

        if (line && (!line[0] || line[0] == '#')) {
            continue;
        }
        if (!line || line[0] == '[') {
            if (section_name &&
                !blkdebug_add_section(s, section_name, section, false,
                                      errp)) {
                return false;
            }
            if (!line) {
                return true;
            }
            if (line[strlen(line) - 1] != ']') {
                error_setg(errp, "%s:%d: parse error", filename, i + 1);
                return false;
            }
            g_free(section_name);
            section_name = g_strndup(line + 1, strlen(line) - 2);
            qobject_unref(section);
            section = qdict_new();
            continue;
        }
        if (!section) {
            error_setg(errp, "no group defined");
            return false;
        }
        eq = strchr(line, '=');
        if (!eq) {
            error_setg(errp, "%s:%d: parse error", filename, i + 1);
            return false;
        }
        *eq = '\0';
        {
            g_autofree char *key = g_strstrip(g_strdup(line));
            g_autofree char *value = g_strstrip(g_strdup(eq + 1));
            size_t len = strlen(value);

            if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
                value[len - 1] = '\0';
                memmove(value, value + 1, len - 1);
            }
            qdict_put_str(section, key, value);
        }
    }
}

/* Rules given as options: inject-error.0.event=..., set-state.1.state=... */
static bool blkdebug_options_rules(BDRVBlkdebugState *s, QDict *options,
                                   const char *name, Error **errp)
{
    int i;

    for (i = 0; ; i++) {
        g_autofree char *prefix = g_strdup_printf("%s.%d.", name, i);
        g_autoptr(QDict) section = NULL;

        qdict_extract_subqdict(options, &section, prefix);
        if (!qdict_size(section)) {
            break;
        }
        if (!blkdebug_add_section(s, name, section, true, errp)) {
            return false;
        }
    }
    /* Leftovers: a gap in the numbering or an index that is no number */
    {
        g_autofree char *prefix = g_strdup_printf("%s.", name);
        const QDictEntry *e;

        for (e = qdict_first(options); e; e = qdict_next(options, e)) {
            const char *key = qdict_entry_key(e);

            if (g_str_has_prefix(key, prefix)) {
                error_setg(errp, "Unused option '%s' for [%s]",
                           key + strlen(prefix), name);
                return false;
            }
        }
    }
    return true;
}

static void blkdebug_parse_filename(const char *filename, QDict *options,
                                    Error **errp)
{
    const char *c;

    if (!strstart(filename, "blkdebug:", &filename)) {
        /* A plain filename in the option form */
        qdict_put_str(options, BLKDEBUG_OPT_IMAGE, filename);
        return;
    }
    c = strchr(filename, ':');
    if (c == NULL) {
        error_setg(errp, "blkdebug requires both config file and image path");
        return;
    }
    if (c != filename) {
        g_autofree char *config = g_strndup(filename, c - filename);
        qdict_put_str(options, BLKDEBUG_OPT_CONFIG, config);
    }
    qdict_put_str(options, BLKDEBUG_OPT_IMAGE, c + 1);
}

static bool blkdebug_get_limit(QemuOpts *opts, const char *key,
                               uint64_t align, uint64_t *value, Error **errp)
{
    *value = qemu_opt_get_size(opts, key, 0);
    if (*value && (*value > INT32_MAX || (align && *value % align))) {
        error_setg(errp, "Cannot meet constraints with %s %" PRIu64, key,
                   *value);
        return false;
    }
    return true;
}

static int blkdebug_open(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    QemuOpts *opts;
    const char *config;
    uint64_t align;
    int ret = -EINVAL;
    int i;

    for (i = 0; i <= BLKDBG__MAX; i++) {
        QLIST_INIT(&s->rules[i]);
    }
    QSIMPLEQ_INIT(&s->active_rules);
    QLIST_INIT(&s->suspended_reqs);

    opts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        goto out;
    }

    config = qemu_opt_get(opts, BLKDEBUG_OPT_CONFIG);
    if (config && !blkdebug_read_config_file(s, config, errp)) {
        goto out;
    }
    s->config_file = g_strdup(config);
    if (!blkdebug_options_rules(s, options, "inject-error", errp) ||
        !blkdebug_options_rules(s, options, "set-state", errp) ||
        !blkdebug_options_rules(s, options, "inject-corruption", errp)) {
        goto out;
    }

    /* Event-less corruption rules are armed from the start */
    {
        BlkdebugRule *rule;

        QLIST_FOREACH(rule, &s->rules[BLKDBG__MAX], next) {
            rule->active = true;
        }
    }
    s->state = 1;

    if (bdrv_open_file_child(qemu_opt_get(opts, BLKDEBUG_OPT_IMAGE), options,
                             "image", bs, errp) < 0) {
        goto out;
    }

    bs->supported_write_flags = BDRV_REQ_FUA &
                                bs->file->bs->supported_write_flags;
    bs->supported_zero_flags = (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP) &
                               bs->file->bs->supported_zero_flags;

    align = qemu_opt_get_size(opts, BLKDEBUG_OPT_ALIGN, 0);
    if (align && (align >= INT_MAX || !is_power_of_2(align))) {
        error_setg(errp, "Cannot meet constraints with align %" PRIu64,
                   align);
        goto out;
    }
    s->align = align;
    align = MAX(s->align, bs->file->bs->bl.request_alignment);
    if (!blkdebug_get_limit(opts, BLKDEBUG_OPT_MAX_TRANSFER, align,
                            &s->max_transfer, errp) ||
        !blkdebug_get_limit(opts, BLKDEBUG_OPT_OPT_WZ, align,
                            &s->opt_write_zero, errp) ||
        !blkdebug_get_limit(opts, BLKDEBUG_OPT_MAX_WZ, 0,
                            &s->max_write_zero, errp) ||
        !blkdebug_get_limit(opts, BLKDEBUG_OPT_OPT_DISCARD, align,
                            &s->opt_discard, errp) ||
        !blkdebug_get_limit(opts, BLKDEBUG_OPT_MAX_DISCARD, 0,
                            &s->max_discard, errp)) {
        goto out;
    }
    if (s->max_write_zero &&
        s->max_write_zero < MAX(s->opt_write_zero, align)) {
        error_setg(errp, "Cannot meet constraints with max-write-zero %"
                   PRIu64, s->max_write_zero);
        goto out;
    }
    if (s->max_discard && s->max_discard < MAX(s->opt_discard, align)) {
        error_setg(errp, "Cannot meet constraints with max-discard %" PRIu64,
                   s->max_discard);
        goto out;
    }
    ret = 0;
out:
    qemu_opts_del(opts);
    return ret;
}

static void blkdebug_remove_rule(BDRVBlkdebugState *s, BlkdebugRule *rule)
{
    if (rule->active && rule->action == ACTION_INJECT_ERROR) {
        QSIMPLEQ_REMOVE(&s->active_rules, rule, BlkdebugRule, active_next);
    }
    QLIST_REMOVE(rule, next);
    if (rule->action == ACTION_SUSPEND) {
        g_free(rule->options.suspend.tag);
    }
    g_free(rule);
}

static void blkdebug_close(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = bs->opaque;
    int i;

    for (i = 0; i <= BLKDBG__MAX; i++) {
        while (!QLIST_EMPTY(&s->rules[i])) {
            blkdebug_remove_rule(s, QLIST_FIRST(&s->rules[i]));
        }
    }
    g_free(s->config_file);
}

static void blkdebug_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;

    if (s->align) {
        bs->bl.request_alignment = s->align;
    }
    if (s->max_transfer) {
        bs->bl.max_transfer = s->max_transfer;
    }
    if (s->opt_write_zero) {
        bs->bl.pwrite_zeroes_alignment = s->opt_write_zero;
    }
    if (s->max_write_zero) {
        bs->bl.max_pwrite_zeroes = s->max_write_zero;
    }
    if (s->opt_discard) {
        bs->bl.pdiscard_alignment = s->opt_discard;
    }
    if (s->max_discard) {
        bs->bl.max_pdiscard = s->max_discard;
    }
}

static int64_t blkdebug_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

/*
 * Check the active error rules against a request; returns -errno to fail
 * it, or 0.
 */
static int coroutine_fn blkdebug_rule_check(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            BlkdebugIOType iotype)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule;
    bool immediately;
    int error;

    QSIMPLEQ_FOREACH(rule, &s->active_rules, active_next) {
        int64_t inject_offset = rule->options.inject.offset;

        if ((inject_offset == -1 ||
             (bytes && inject_offset >= offset &&
              inject_offset < offset + bytes)) &&
            (rule->options.inject.iotype_mask & (1ull << iotype))) {
            break;
        }
    }
    if (!rule || !rule->options.inject.error) {
        return 0;
    }

    immediately = rule->options.inject.immediately;
    error = rule->options.inject.error;
    if (rule->options.inject.once) {
        blkdebug_remove_rule(s, rule);
    }
    if (!immediately && qemu_in_coroutine()) {
        /* Fail from the event loop, as a real failing request would */
        aio_co_schedule(qemu_get_aio_context(), qemu_coroutine_self());
        qemu_coroutine_yield();
    }
    return -error;
}

/* The active corruption rule for a request, or NULL */
static BlkdebugRule *blkdebug_find_corruption(BDRVBlkdebugState *s,
                                              int64_t offset, int64_t bytes,
                                              BlkdebugIOType iotype)
{
    BlkdebugRule *rule;
    int i;

    for (i = 0; i <= BLKDBG__MAX; i++) {
        QLIST_FOREACH(rule, &s->rules[i], next) {
            int64_t at = rule->options.corrupt.offset;

            if (rule->action != ACTION_INJECT_CORRUPTION || !rule->active ||
                (rule->state && rule->state != s->state) ||
                !(rule->options.corrupt.iotype_mask & (1ull << iotype))) {
                continue;
            }
            if (at == -1 ||
                (at < offset + bytes &&
                 at + rule->options.corrupt.length > offset)) {
                return rule;
            }
        }
    }
    return NULL;
}

/* Damage @qiov (the data of [offset, offset + bytes)) as @rule says */
static void blkdebug_corrupt_data(BlkdebugRule *rule, int64_t offset,
                                  int64_t bytes, QEMUIOVector *qiov)
{
    int64_t start = rule->options.corrupt.offset == -1 ? offset
                    : rule->options.corrupt.offset;
    int64_t end = MIN(start + rule->options.corrupt.length, offset + bytes);
    int64_t pos;

    start = MAX(start, offset);
    for (pos = start; pos < end; pos++) {
        uint8_t byte;

        qemu_iovec_to_buf(qiov, pos - offset, &byte, 1);
        if (rule->options.corrupt.kind == CORRUPT_FLIP) {
            byte ^= rule->options.corrupt.mask;
        } else {
            byte = rule->options.corrupt.value;
        }
        qemu_iovec_from_buf(qiov, pos - offset, &byte, 1);
    }
}

static void blkdebug_corruption_fired(BDRVBlkdebugState *s,
                                      BlkdebugRule *rule)
{
    if (rule->options.corrupt.once) {
        blkdebug_remove_rule(s, rule);
    }
}

/*
 * The core promises requests aligned and sized as we asked: assert it, so
 * that blkdebug doubles as a checker of that contract.
 */
static void blkdebug_assert_limits(BDRVBlkdebugState *s, int64_t offset,
                                   int64_t bytes)
{
    if (s->align) {
        assert(QEMU_IS_ALIGNED(offset, s->align));
        assert(QEMU_IS_ALIGNED(bytes, s->align));
    }
    if (s->max_transfer) {
        assert(bytes <= (int64_t)s->max_transfer);
    }
}

/*
 * Write-zeroes and discard have their own limits: the core splits them
 * at @op_max, and a piece not aligned to @op_align (the head or tail of
 * an unaligned request) never crosses an @op_align boundary.  Like every
 * request they are aligned to the request alignment.
 */
static void blkdebug_assert_op_limits(BDRVBlkdebugState *s, int64_t offset,
                                      int64_t bytes, uint64_t op_align,
                                      uint64_t op_max)
{
    if (s->align) {
        assert(QEMU_IS_ALIGNED(offset, s->align));
        assert(QEMU_IS_ALIGNED(bytes, s->align));
    }
    if (op_align && (!QEMU_IS_ALIGNED(offset, op_align) ||
                     !QEMU_IS_ALIGNED(bytes, op_align))) {
        assert(bytes > 0 &&
               offset / op_align == (offset + bytes - 1) / op_align);
    }
    if (op_max) {
        assert(bytes <= (int64_t)op_max);
    }
}

static int coroutine_fn blkdebug_co_preadv(BlockDriverState *bs,
                                           int64_t offset, int64_t bytes,
                                           QEMUIOVector *qiov,
                                           BdrvRequestFlags flags)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule;
    int err;

    blkdebug_assert_limits(s, offset, bytes);

    err = blkdebug_rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_READ);
    if (err) {
        return err;
    }
    err = bdrv_co_preadv(bs->file, offset, bytes, qiov, flags);
    if (err == 0) {
        rule = blkdebug_find_corruption(s, offset, bytes,
                                        BLKDEBUG_IO_TYPE_READ);
        if (rule) {
            blkdebug_corrupt_data(rule, offset, bytes, qiov);
            blkdebug_corruption_fired(s, rule);
        }
    }
    return err;
}

static int coroutine_fn blkdebug_co_pwritev(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov,
                                            BdrvRequestFlags flags)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule;
    int err;

    blkdebug_assert_limits(s, offset, bytes);
    assert(!(flags & ~bs->supported_write_flags));

    err = blkdebug_rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_WRITE);
    if (err) {
        return err;
    }

    rule = blkdebug_find_corruption(s, offset, bytes,
                                    BLKDEBUG_IO_TYPE_WRITE);
    if (rule) {
        BlkdebugRule fired = *rule;
        QEMUIOVector copy;
        void *buf;

        /* @rule may be freed now (once=on); use the copy from here on */
        blkdebug_corruption_fired(s, rule);
        if (fired.options.corrupt.kind == CORRUPT_DROP) {
            return 0;
        }
        if (fired.options.corrupt.kind == CORRUPT_SHIFT) {
            int64_t target = offset + fired.options.corrupt.delta;

            if (target < 0) {
                return 0;
            }
            return bdrv_co_pwritev(bs->file, target, bytes, qiov, flags);
        }
        /* Never damage the caller's buffer: corrupt a copy */
        buf = qemu_try_blockalign(bs, bytes);
        if (!buf) {
            return -ENOMEM;
        }
        qemu_iovec_to_buf(qiov, 0, buf, bytes);
        qemu_iovec_init_buf(&copy, buf, bytes);
        blkdebug_corrupt_data(&fired, offset, bytes, &copy);
        err = bdrv_co_pwritev(bs->file, offset, bytes, &copy, flags);
        qemu_vfree(buf);
        return err;
    }
    return bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn blkdebug_co_pwrite_zeroes(BlockDriverState *bs,
                                                  int64_t offset,
                                                  int64_t bytes,
                                                  BdrvRequestFlags flags)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule;
    int err;

    blkdebug_assert_op_limits(s, offset, bytes, s->opt_write_zero,
                              s->max_write_zero);
    assert(!(flags & ~bs->supported_zero_flags));

    err = blkdebug_rule_check(bs, offset, bytes,
                              BLKDEBUG_IO_TYPE_WRITE_ZEROES);
    if (err) {
        return err;
    }
    rule = blkdebug_find_corruption(s, offset, bytes,
                                    BLKDEBUG_IO_TYPE_WRITE_ZEROES);
    if (rule) {
        /* Only drop is allowed here: the old data stays readable */
        blkdebug_corruption_fired(s, rule);
        return 0;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn blkdebug_co_pdiscard(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule;
    int err;

    blkdebug_assert_op_limits(s, offset, bytes, s->opt_discard,
                              s->max_discard);

    err = blkdebug_rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_DISCARD);
    if (err) {
        return err;
    }
    rule = blkdebug_find_corruption(s, offset, bytes,
                                    BLKDEBUG_IO_TYPE_DISCARD);
    if (rule && rule->options.corrupt.kind == CORRUPT_DROP) {
        /* A lost discard: the old data stays readable */
        blkdebug_corruption_fired(s, rule);
        return 0;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

/*
 * Only the rule check: the core flushes the image child afterwards, and
 * skips this hook altogether when nothing was written since the last
 * successful flush (so an active rule fails no flush that QEMU's would
 * not reach either).
 */
static int coroutine_fn blkdebug_co_flush(BlockDriverState *bs)
{
    return blkdebug_rule_check(bs, 0, 0, BLKDEBUG_IO_TYPE_FLUSH);
}

static int coroutine_fn blkdebug_co_block_status(BlockDriverState *bs,
                                                 bool want_zero,
                                                 int64_t offset,
                                                 int64_t bytes,
                                                 int64_t *pnum,
                                                 int64_t *map,
                                                 BlockDriverState **file)
{
    int err = blkdebug_rule_check(bs, offset, bytes,
                                  BLKDEBUG_IO_TYPE_BLOCK_STATUS);

    if (err) {
        return err;
    }
    return bdrv_co_block_status_from_file(bs, want_zero, offset, bytes,
                                          pnum, map, file);
}

static int coroutine_fn blkdebug_co_truncate(BlockDriverState *bs,
                                             int64_t offset, bool exact,
                                             PreallocMode prealloc,
                                             BdrvRequestFlags flags,
                                             Error **errp)
{
    return bdrv_co_truncate(bs->file, offset, exact, prealloc, flags, errp);
}

/* Events */

static void coroutine_mixed_fn blkdebug_suspend_request(BlockDriverState *bs,
                                                         const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugSuspendedReq r;

    if (!qemu_in_coroutine()) {
        /* Only a request (a coroutine) can be suspended */
        return;
    }
    qemu_coroutine_assert_context();
    r = (BlkdebugSuspendedReq) {
        .co = qemu_coroutine_self(),
        .tag = g_strdup(tag),
    };
    QLIST_INSERT_HEAD(&s->suspended_reqs, &r, next);
    printf("blkdebug: Suspended request '%s'\n", r.tag);
    qemu_coroutine_yield();
    printf("blkdebug: Resuming request '%s'\n", r.tag);
    g_free(r.tag);
}

static void blkdebug_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule, *next;
    g_autoptr(GPtrArray) suspend_tags = g_ptr_array_new_with_free_func(g_free);
    bool injected = false;
    int new_state = s->state;
    guint i;

    assert((int)event >= 0 && event < BLKDBG__MAX);
    QLIST_FOREACH_SAFE(rule, &s->rules[event], next, next) {
        if (rule->state && rule->state != s->state) {
            continue;
        }
        switch (rule->action) {
        case ACTION_INJECT_ERROR:
            /* An event replaces the set of armed error rules */
            if (!injected) {
                BlkdebugRule *r;

                QSIMPLEQ_FOREACH(r, &s->active_rules, active_next) {
                    r->active = false;
                }
                QSIMPLEQ_INIT(&s->active_rules);
                injected = true;
            }
            rule->active = true;
            QSIMPLEQ_INSERT_HEAD(&s->active_rules, rule, active_next);
            break;
        case ACTION_SET_STATE:
            new_state = rule->options.set_state.new_state;
            break;
        case ACTION_SUSPEND:
            /* A breakpoint fires once */
            g_ptr_array_add(suspend_tags,
                            g_strdup(rule->options.suspend.tag));
            blkdebug_remove_rule(s, rule);
            break;
        case ACTION_INJECT_CORRUPTION:
            rule->active = true;
            break;
        default:
            g_assert_not_reached();
        }
    }
    s->state = new_state;

    for (i = 0; i < suspend_tags->len; i++) {
        blkdebug_suspend_request(bs, suspend_tags->pdata[i]);
    }
}

static int blkdebug_debug_breakpoint(BlockDriverState *bs, const char *event,
                                     const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule;
    int ev = blkdebug_event_from_name(event);

    if (ev < 0) {
        return -ENOENT;
    }
    rule = g_new0(BlkdebugRule, 1);
    *rule = (BlkdebugRule) {
        .event = ev,
        .action = ACTION_SUSPEND,
        .state = 0,
        .options.suspend.tag = g_strdup(tag),
    };
    blkdebug_add_rule(s, rule);
    return 0;
}

/* Let the request suspended with @tag (NULL: any one) go on */
static int blkdebug_debug_resume(BlockDriverState *bs, const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugSuspendedReq *r, *next;

    QLIST_FOREACH_SAFE(r, &s->suspended_reqs, next, next) {
        if (!tag || !strcmp(r->tag, tag)) {
            /* Off the list before it runs again: it is no longer paused */
            QLIST_REMOVE(r, next);
            aio_co_wake(r->co);
            return 0;
        }
    }
    return -ENOENT;
}

static int blkdebug_debug_remove_breakpoint(BlockDriverState *bs,
                                            const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule, *next;
    int i, ret = -ENOENT;

    for (i = 0; i < BLKDBG__MAX; i++) {
        QLIST_FOREACH_SAFE(rule, &s->rules[i], next, next) {
            if (rule->action == ACTION_SUSPEND &&
                !strcmp(rule->options.suspend.tag, tag)) {
                blkdebug_remove_rule(s, rule);
                ret = 0;
            }
        }
    }
    /*
     * ...and lets every request it suspended go on.  As in QEMU, only a
     * removed rule counts as success: a breakpoint that already fired
     * is gone, even if its request is still paused.
     */
    while (blkdebug_debug_resume(bs, tag) == 0) {
        /* keep going */
    }
    return ret;
}

/* Whether a request is suspended with @tag (NULL: any tag) */
static bool blkdebug_debug_is_suspended(BlockDriverState *bs,
                                        const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugSuspendedReq *r;

    QLIST_FOREACH(r, &s->suspended_reqs, next) {
        if (!tag || !strcmp(r->tag, tag)) {
            return true;
        }
    }
    return false;
}

static void blkdebug_refresh_filename(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = bs->opaque;
    const char *image = bs->file->bs->exact_filename;
    int i;

    if (!image[0]) {
        return;
    }
    /* Rules given as options cannot be written in the filename form */
    for (i = 0; i < BLKDBG__MAX; i++) {
        if (!QLIST_EMPTY(&s->rules[i]) && !s->config_file) {
            return;
        }
    }
    if (snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                 "blkdebug:%s:%s", s->config_file ? s->config_file : "",
                 image) >= (int)sizeof(bs->exact_filename)) {
        bs->exact_filename[0] = '\0';
    }
}

/* Permissions pass through to the image, as for any filter */
static int blkdebug_add_perm(BlockDriverState *bs, uint64_t perm,
                             uint64_t unshared, Error **errp)
{
    return bdrv_add_perm(bs->file->bs, perm, unshared, errp);
}

static BlockDriver bdrv_blkdebug = {
    .bdrv_add_perm          = blkdebug_add_perm,
    .format_name                = "blkdebug",
    .protocol_name              = "blkdebug",
    .instance_size              = sizeof(BDRVBlkdebugState),
    .is_filter                  = true,

    .bdrv_parse_filename        = blkdebug_parse_filename,
    .bdrv_open                  = blkdebug_open,
    .bdrv_close                 = blkdebug_close,

    .bdrv_co_preadv             = blkdebug_co_preadv,
    .bdrv_co_pwritev            = blkdebug_co_pwritev,
    .bdrv_co_pwrite_zeroes      = blkdebug_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = blkdebug_co_pdiscard,
    .bdrv_co_flush_to_disk      = blkdebug_co_flush,
    .bdrv_co_block_status       = blkdebug_co_block_status,
    .bdrv_co_truncate           = blkdebug_co_truncate,

    .bdrv_getlength             = blkdebug_getlength,
    .bdrv_refresh_limits        = blkdebug_refresh_limits,
    .bdrv_refresh_filename      = blkdebug_refresh_filename,

    .bdrv_debug_event           = blkdebug_debug_event,
    .bdrv_debug_breakpoint      = blkdebug_debug_breakpoint,
    .bdrv_debug_remove_breakpoint = blkdebug_debug_remove_breakpoint,
    .bdrv_debug_resume          = blkdebug_debug_resume,
    .bdrv_debug_is_suspended    = blkdebug_debug_is_suspended,
};

static void bdrv_blkdebug_init(void)
{
    bdrv_register(&bdrv_blkdebug);
}

block_init(bdrv_blkdebug_init);
