/*
 * qemu-img: helpers shared by the subcommands (options, opening images,
 * progress display, JSON output)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qemu/option.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

/* Option keys of the block layer used here */
#define IMG_OPT_FORCE_SHARE "force-share"

/* Command line errors */

void img_error_exit(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
    error_printf("Try 'qemu-img --help' for more information\n");
    exit(EXIT_FAILURE);
}

void img_missing_argument(const char *option)
{
    img_error_exit("missing argument for option '%s'", option);
}

void img_unrecognized_option(const char *option)
{
    img_error_exit("unrecognized option '%s'", option);
}

bool img_parse_output_format(const char *arg, ImgOutputFormat *fmt)
{
    if (!strcmp(arg, "json")) {
        *fmt = IMG_OUTPUT_JSON;
    } else if (!strcmp(arg, "human")) {
        *fmt = IMG_OUTPUT_HUMAN;
    } else {
        error_report("--output must be used with human or json as argument.");
        return false;
    }
    return true;
}

int64_t img_cvtnum_full(const char *name, const char *value, int64_t min,
                        int64_t max)
{
    uint64_t res;
    int err;

    err = qemu_strtosz(value, NULL, &res);
    if (err < 0 && err != -ERANGE) {
        error_report("Invalid %s specified. You may use "
                     "k, M, G, T, P or E suffixes for", name);
        error_report("kilobytes, megabytes, gigabytes, terabytes, "
                     "petabytes and exabytes.");
        return err;
    }
    if (err == -ERANGE || res > (uint64_t)max || (int64_t)res < min) {
        error_report("Invalid %s specified. Must be between %" PRId64
                     " and %" PRId64 ".", name, min, max);
        return -ERANGE;
    }
    return res;
}

int64_t img_cvtnum(const char *name, const char *value)
{
    return img_cvtnum_full(name, value, 0, INT64_MAX);
}

/* -o option lists */

static bool img_is_valid_option_list(const char *list)
{
    size_t len = strlen(list);
    size_t end = len;

    if (!list[0] || list[0] == ',') {
        return false;
    }
    /* An odd number of trailing commas leaves a separator dangling */
    while (end > 0 && list[end - 1] == ',') {
        end--;
    }
    return (len - end) % 2 == 0;
}

bool img_accumulate_options(char **options, const char *list)
{
    char *joined;

    if (!img_is_valid_option_list(list)) {
        error_report("Invalid option list: %s", list);
        return false;
    }
    if (!*options) {
        *options = g_strdup(list);
        return true;
    }
    joined = g_strdup_printf("%s,%s", *options, list);
    g_free(*options);
    *options = joined;
    return true;
}

/* Accepts any key: only used to find a help request */
static QemuOptsList img_any_opts = {
    .name = "any",
    QEMU_OPTS_LIST_INIT(img_any_opts),
    .desc = {
        { /* end of list */ }
    },
};

bool img_has_help_option(const char *list)
{
    QemuOpts *opts = qemu_opts_parse(&img_any_opts, list, false, NULL);
    bool ret = opts && qemu_opt_has_help_opt(opts);

    qemu_opts_del(opts);
    return ret;
}

int img_print_option_help(const char *filename, const char *fmt)
{
    QemuOptsList *create_opts = NULL;
    BlockDriver *drv, *proto_drv;
    Error *local_err = NULL;

    drv = bdrv_find_format(fmt);
    if (!drv) {
        error_report("Unknown file format '%s'", fmt);
        return 1;
    }
    if (!bdrv_driver_create_opts(drv)) {
        error_report("Format driver '%s' does not support image creation",
                     fmt);
        return 1;
    }
    create_opts = qemu_opts_append(create_opts, bdrv_driver_create_opts(drv));
    if (filename) {
        proto_drv = bdrv_find_protocol(filename, true, &local_err);
        if (!proto_drv) {
            error_report_err(local_err);
            qemu_opts_free(create_opts);
            return 1;
        }
        if (!bdrv_driver_create_opts(proto_drv)) {
            error_report("Protocol driver '%s' does not support image "
                         "creation", bdrv_driver_name(proto_drv));
            qemu_opts_free(create_opts);
            return 1;
        }
        create_opts = qemu_opts_append(create_opts,
                                       bdrv_driver_create_opts(proto_drv));
        printf("Supported options:\n");
    } else {
        printf("Supported %s options:\n", fmt);
    }
    qemu_opts_print_help(create_opts, false);
    qemu_opts_free(create_opts);
    if (!filename) {
        printf("\n"
               "The protocol level may support further options.\n"
               "Specify the target filename to include those options.\n");
    }
    return 0;
}

int img_qprintf(bool quiet, const char *fmt, ...)
{
    va_list ap;
    int ret;

    if (quiet) {
        return 0;
    }
    va_start(ap, fmt);
    ret = vprintf(fmt, ap);
    va_end(ap);
    return ret;
}

/* Opening images */

/* --image-opts strings: any key; a leading bare value is "file" */
static QemuOptsList img_source_opts = {
    .name = "source",
    .implied_opt_name = "file",
    QEMU_OPTS_LIST_INIT(img_source_opts),
    .desc = {
        { /* end of list */ }
    },
};

/* Open @options as the root of a backend; reports errors naming @what */
static BlockBackend *img_open_options(const char *filename, QDict *options,
                                      const char *what, int flags,
                                      bool writethrough, bool force_share)
{
    Error *local_err = NULL;
    BlockBackend *blk;

    if (force_share && (flags & BDRV_O_RDWR)) {
        /* Sharing the image with writers is only safe for readers */
        error_report("Could not open '%s': force-share=on can only be used "
                     "with read-only images", what);
        qobject_unref(options);
        return NULL;
    }
    /* Without -U, formats keep others from writing their metadata */
    if (!force_share) {
        flags |= BDRV_O_NO_SHARE;
    }
    blk = blk_new_open(filename, NULL, options, flags, &local_err);
    if (!blk) {
        error_prepend(&local_err, "Could not open '%s': ", what);
        error_report_err(local_err);
        return NULL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

BlockBackend *img_open_file(const char *filename, QDict *options,
                            const char *fmt, int flags, bool writethrough,
                            bool quiet, bool force_share)
{
    if (!options) {
        options = qdict_new();
    }
    if (fmt) {
        qdict_put_str(options, "driver", fmt);
    }
    if (force_share) {
        qdict_put_str(options, IMG_OPT_FORCE_SHARE, "on");
    }
    return img_open_options(filename, options, filename, flags, writethrough,
                            force_share);
}

BlockBackend *img_open(bool image_opts, const char *filename,
                       const char *fmt, int flags, bool writethrough,
                       bool quiet, bool force_share)
{
    QemuOpts *opts;
    QDict *options;
    const char *share;

    if (!image_opts) {
        return img_open_file(filename, NULL, fmt, flags, writethrough, quiet,
                             force_share);
    }
    if (fmt) {
        error_report("--image-opts and --format are mutually exclusive");
        return NULL;
    }
    opts = qemu_opts_parse_noisily(&img_source_opts, filename, true);
    if (!opts) {
        return NULL;
    }
    options = qemu_opts_to_qdict(opts, NULL);
    qemu_opts_del(opts);

    if (force_share) {
        share = qdict_get_try_str(options, IMG_OPT_FORCE_SHARE);
        if (share && strcmp(share, "on")) {
            error_report("--force-share/-U conflicts with image options");
            qobject_unref(options);
            return NULL;
        }
        qdict_put_str(options, IMG_OPT_FORCE_SHARE, "on");
    }
    return img_open_options(NULL, options, filename, flags, writethrough,
                            force_share);
}

/* JSON output */

/*
 * QEMU 7.2 stored dictionary entries in 512 hash buckets, each bucket a
 * list with the newest entry first, and iterated bucket by bucket.  The
 * hash is the one of Samba's TDB: a length-seeded sum of shifted bytes,
 * then a linear congruential step.
 */
#define IMG_QDICT_BUCKETS 512

static unsigned int img_qdict_bucket(const char *key)
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t value = 0x238F13AFu * (uint32_t)strlen(key);
    unsigned int i;

    for (i = 0; p[i]; i++) {
        value += (uint32_t)p[i] << (i * 5 % 24);
    }
    return (1103515243u * value + 12345u) % IMG_QDICT_BUCKETS;
}

typedef struct ImgKeyOrder {
    const char *key;
    QObject *value;
    unsigned int bucket;
    size_t index;
} ImgKeyOrder;

static int img_key_order_cmp(const void *a, const void *b)
{
    const ImgKeyOrder *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    /* Within a bucket the newest entry comes first */
    return x->index < y->index ? 1 : -1;
}

QObject *img_qemu_order(QObject *obj)
{
    switch (qobject_type(obj)) {
    case QTYPE_QDICT: {
        QDict *src = qobject_to(QDict, obj);
        QDict *dst = qdict_new();
        size_t n = qdict_size(src), i = 0;
        g_autofree ImgKeyOrder *keys = g_new(ImgKeyOrder, MAX(n, 1));
        const QDictEntry *e;

        for (e = qdict_first(src); e; e = qdict_next(src, e), i++) {
            keys[i] = (ImgKeyOrder) {
                .key = qdict_entry_key(e),
                .value = qdict_entry_value(e),
                .bucket = img_qdict_bucket(qdict_entry_key(e)),
                .index = i,
            };
        }
        qsort(keys, n, sizeof(keys[0]), img_key_order_cmp);
        for (i = 0; i < n; i++) {
            qdict_put_obj(dst, keys[i].key, img_qemu_order(keys[i].value));
        }
        return QOBJECT(dst);
    }
    case QTYPE_QLIST: {
        QList *src = qobject_to(QList, obj);
        QList *dst = qlist_new();
        size_t i;

        for (i = 0; i < qlist_size(src); i++) {
            qlist_append_obj(dst, img_qemu_order(qlist_get(src, i)));
        }
        return QOBJECT(dst);
    }
    default:
        return qobject_ref(obj);
    }
}

void img_print_json(QObject *obj)
{
    g_autoptr(QObject) ordered = img_qemu_order(obj);
    g_autoptr(GString) str = qobject_to_json_pretty(ordered, true);

    printf("%s\n", str->str);
}

/* Progress display */

static struct {
    bool enabled;
    float current;
    float last_print;
    float min_skip;
} img_progress;

void img_progress_init(bool enabled, float min_skip)
{
    img_progress.enabled = enabled;
    img_progress.current = 0;
    img_progress.last_print = 0;
    img_progress.min_skip = min_skip;
}

void img_progress_print(float delta, int max)
{
    float current = max ? img_progress.current + delta / 100 * max : delta;

    if (current > 100) {
        current = 100;
    }
    img_progress.current = current;
    if (current > img_progress.last_print + img_progress.min_skip ||
        current < img_progress.last_print - img_progress.min_skip ||
        current == 0 || current == 100) {
        img_progress.last_print = current;
        if (img_progress.enabled) {
            printf("    (%3.2f/100%%)\r", current);
            fflush(stdout);
        }
    }
}

void img_progress_end(void)
{
    if (img_progress.enabled) {
        printf("\n");
    }
}

const char *img_one_filename(int argc, char **argv)
{
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    return argv[optind];
}
