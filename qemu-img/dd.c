/*
 * qemu-img dd: copy the start of an image into a new image, dd(1) style
 *
 * Operands are dd's KEY=VALUE words (bs, count, if, of, skip).  As in
 * QEMU 7.2, count limits the input measured from its start, skipped
 * blocks included, so "count=3 skip=1" copies two blocks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qemu/option.h"
#include "qapi/error.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

/* The operands, as given (last one of each key wins) */
typedef struct ImgDdArgs {
    int64_t bs;                 /* block size, default 512 */
    int64_t count;              /* blocks to copy from the input's start */
    int64_t skip;               /* blocks to skip at the input's start */
    const char *in;             /* if= */
    const char *out;            /* of= */
    bool has_count;
    bool has_skip;
} ImgDdArgs;

typedef struct ImgDdOperand {
    const char *key;
    /* Store @value in @a; false after reporting a bad value */
    bool (*parse)(ImgDdArgs *a, const char *value);
} ImgDdOperand;

static bool img_dd_bs(ImgDdArgs *a, const char *value)
{
    a->bs = img_cvtnum_full("bs", value, 1, INT_MAX);
    return a->bs >= 0;
}

static bool img_dd_count(ImgDdArgs *a, const char *value)
{
    a->count = img_cvtnum("count", value);
    a->has_count = true;
    return a->count >= 0;
}

static bool img_dd_if(ImgDdArgs *a, const char *value)
{
    a->in = value;
    return true;
}

static bool img_dd_of(ImgDdArgs *a, const char *value)
{
    a->out = value;
    return true;
}

static bool img_dd_skip(ImgDdArgs *a, const char *value)
{
    a->skip = img_cvtnum("skip", value);
    a->has_skip = true;
    return a->skip >= 0;
}

static const ImgDdOperand img_dd_operands[] = {
    { "bs", img_dd_bs },
    { "count", img_dd_count },
    { "if", img_dd_if },
    { "of", img_dd_of },
    { "skip", img_dd_skip },
    { NULL, NULL },
};

/* Parse one KEY=VALUE operand; false after reporting */
static bool img_dd_parse_operand(ImgDdArgs *a, const char *word)
{
    const char *eq = strchr(word, '=');
    g_autofree char *key = NULL;
    const ImgDdOperand *op;

    if (!eq) {
        error_report("unrecognized operand %s", word);
        return false;
    }
    key = g_strndup(word, eq - word);
    for (op = img_dd_operands; op->key; op++) {
        if (!strcmp(key, op->key)) {
            return op->parse(a, eq + 1);
        }
    }
    error_report("unrecognized operand %s", key);
    return false;
}

/* Whether skip points past the input (or overflows): nothing to copy */
static bool img_dd_skip_past_end(const ImgDdArgs *a, int64_t size)
{
    return a->has_skip && (a->skip > INT64_MAX / a->bs ||
                           a->skip * a->bs > size);
}

/*
 * The creation options for @a->out in format @out_fmt: the format's and
 * the protocol's.  NULL after reporting if either cannot create images.
 */
static QemuOptsList *img_dd_create_opts(const ImgDdArgs *a,
                                        const char *out_fmt,
                                        BlockDriver **pdrv)
{
    QemuOptsList *create_opts = NULL;
    BlockDriver *drv, *proto_drv;
    Error *local_err = NULL;

    drv = bdrv_find_format(out_fmt);
    if (!drv) {
        error_report("Unknown file format");
        return NULL;
    }
    proto_drv = bdrv_find_protocol(a->out, true, &local_err);
    if (!proto_drv) {
        error_report_err(local_err);
        return NULL;
    }
    if (!bdrv_driver_create_opts(drv)) {
        error_report("Format driver '%s' does not support image creation",
                     bdrv_driver_name(drv));
        return NULL;
    }
    if (!bdrv_driver_create_opts(proto_drv)) {
        error_report("Protocol driver '%s' does not support image creation",
                     bdrv_driver_name(proto_drv));
        return NULL;
    }
    create_opts = qemu_opts_append(create_opts, bdrv_driver_create_opts(drv));
    create_opts = qemu_opts_append(create_opts,
                                   bdrv_driver_create_opts(proto_drv));
    *pdrv = drv;
    return create_opts;
}

/* Create @a->out, @size bytes, nothing else set; false after reporting */
static bool img_dd_create(const ImgDdArgs *a, BlockDriver *drv,
                          QemuOptsList *create_opts, int64_t size)
{
    Error *local_err = NULL;
    QemuOpts *opts;
    bool ok = true;

    opts = qemu_opts_create(create_opts, NULL, 0, &error_abort);
    qemu_opt_set_number(opts, BLOCK_OPT_SIZE, size, &error_abort);
    if (bdrv_create(drv, a->out, opts, &local_err) < 0) {
        error_prepend(&local_err, "%s: error while creating output image: ",
                      a->out);
        error_report_err(local_err);
        ok = false;
    }
    qemu_opts_del(opts);
    return ok;
}

/* Copy [in_pos, size) of @in to the start of @out, a block at a time */
static bool img_dd_copy(BlockBackend *in, BlockBackend *out, int64_t bs,
                        int64_t in_pos, int64_t size)
{
    /* Never more than the input holds: bs may be up to 2 GiB */
    g_autofree uint8_t *buf = g_new(uint8_t, MAX(MIN(bs, size - in_pos), 1));
    int64_t out_pos = 0;
    int ret;

    while (in_pos < size) {
        int64_t bytes = MIN(bs, size - in_pos);

        ret = blk_pread(in, in_pos, bytes, buf, 0);
        if (ret < 0) {
            error_report("error while reading from input image file: %s",
                         strerror(-ret));
            return false;
        }
        in_pos += bytes;
        ret = blk_pwrite(out, out_pos, bytes, buf, 0);
        if (ret < 0) {
            error_report("error while writing to output image file: %s",
                         strerror(-ret));
            return false;
        }
        out_pos += bytes;
    }
    return true;
}

int img_dd(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgDdArgs a = { .bs = 512 };
    const char *fmt = NULL, *out_fmt = "raw";
    bool image_opts = false, force_share = false, ok = false, past_end;
    BlockBackend *in = NULL, *out = NULL;
    QemuOptsList *create_opts = NULL;
    BlockDriver *drv = NULL;
    int64_t size, in_pos;
    int c, i;

    while ((c = getopt_long(argc, argv, ":hf:O:U", long_options,
                            NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case IMG_OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }

    for (i = optind; i < argc; i++) {
        if (!img_dd_parse_operand(&a, argv[i])) {
            return 1;
        }
    }
    if (!a.in || !a.out) {
        error_report("Must specify both input and output files");
        return 1;
    }

    in = img_open(image_opts, a.in, fmt, 0, false, false, force_share);
    if (!in) {
        return 1;
    }
    create_opts = img_dd_create_opts(&a, out_fmt, &drv);
    if (!create_opts) {
        goto out;
    }
    size = blk_getlength(in);
    if (size < 0) {
        error_report("Failed to get size for '%s'", a.in);
        goto out;
    }
    if (a.has_count && a.count <= INT64_MAX / a.bs && a.count * a.bs < size) {
        size = a.count * a.bs;
    }

    past_end = img_dd_skip_past_end(&a, size);
    if (!img_dd_create(&a, drv, create_opts,
                       past_end ? 0 : size - a.skip * a.bs)) {
        goto out;
    }
    /* The target was made from a file name: no --image-opts for it */
    out = img_open_file(a.out, NULL, out_fmt, BDRV_O_RDWR, false, false,
                        false);
    if (!out) {
        goto out;
    }

    if (past_end) {
        /* Like dd(1): a warning and an empty image, but success */
        error_report("%s: cannot skip to specified offset", a.in);
        in_pos = size;
    } else {
        in_pos = a.skip * a.bs;
    }
    ok = img_dd_copy(in, out, a.bs, in_pos, size);

out:
    qemu_opts_free(create_opts);
    blk_unref(in);
    blk_unref(out);
    return ok ? 0 : 1;
}
