/*
 * qemu-img measure: how large a new image would be
 *
 * Either an empty image of --size N, as create would make it, or an
 * image holding an existing one's data, as convert would make it.  The
 * output format's driver does the arithmetic (bdrv_measure()).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qemu/option.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

#define IMG_OPT_SIZE_LONG 1000

/* -l snapshot.id=ID,snapshot.name=NAME */
#define IMG_SNAPSHOT_OPT_BASE "snapshot."
#define IMG_SNAPSHOT_OPT_ID   "snapshot.id"
#define IMG_SNAPSHOT_OPT_NAME "snapshot.name"

static QemuOptsList img_snapshot_opts = {
    .name = "snapshot",
    QEMU_OPTS_LIST_INIT(img_snapshot_opts),
    .desc = {
        { .name = IMG_SNAPSHOT_OPT_ID, .type = QEMU_OPT_STRING,
          .help = "snapshot id" },
        { .name = IMG_SNAPSHOT_OPT_NAME, .type = QEMU_OPT_STRING,
          .help = "snapshot name" },
        { /* end of list */ }
    },
};

/* Whether @sn is the snapshot asked for by @id and/or @name */
static bool img_snapshot_matches(const QEMUSnapshotInfo *sn, const char *id,
                                 const char *name)
{
    if (id && strcmp(sn->id_str, id)) {
        return false;
    }
    return !name || !strcmp(sn->name, name);
}

/*
 * -l: measure the image as it was at an internal snapshot.  The block
 * layer cannot read snapshots, so this finds the snapshot (to report a
 * missing one as QEMU does) and then refuses.  @id_or_name matches
 * either; otherwise @id and @name must both match when given.
 */
static bool img_measure_load_snapshot(BlockDriverState *bs,
                                      const char *id_or_name,
                                      const char *id, const char *name)
{
    g_autofree QEMUSnapshotInfo *sns = NULL;
    bool found = false;
    int n, i;

    if (!id_or_name && !id && !name) {
        error_report("Failed to load snapshot: snapshot_id and name are "
                     "both NULL");
        return false;
    }
    n = bdrv_snapshot_list(bs, &sns);
    for (i = 0; i < n; i++) {
        if (id_or_name ? img_snapshot_matches(&sns[i], id_or_name, NULL) ||
                         img_snapshot_matches(&sns[i], NULL, id_or_name)
                       : img_snapshot_matches(&sns[i], id, name)) {
            found = true;
        }
    }
    if (n >= 0 && !found) {
        error_report("Failed to load snapshot: Can't find snapshot");
        return false;
    }
    error_report("Failed to load snapshot: Block format '%s' used by device "
                 "'' does not support temporarily loading internal snapshots",
                 bdrv_get_format_name(bs));
    return false;
}

static void img_measure_print(const BlockMeasureInfo *info,
                              ImgOutputFormat output_format)
{
    g_autoptr(QDict) dict = NULL;

    if (output_format == IMG_OUTPUT_HUMAN) {
        printf("required size: %" PRIu64 "\n", info->required);
        printf("fully allocated size: %" PRIu64 "\n", info->fully_allocated);
        if (info->has_bitmaps) {
            printf("bitmaps size: %" PRIu64 "\n", info->bitmaps);
        }
        return;
    }
    /* QAPI's BlockMeasureInfo: the sizes are 'int', hence signed */
    dict = qdict_new();
    qdict_put_int(dict, "required", (int64_t)info->required);
    qdict_put_int(dict, "fully-allocated", (int64_t)info->fully_allocated);
    if (info->has_bitmaps) {
        qdict_put_int(dict, "bitmaps", (int64_t)info->bitmaps);
    }
    img_print_json(QOBJECT(dict));
}

/*
 * The creation options of @out_fmt plus the file protocol's, with -o
 * @options applied.  NULL after reporting.
 */
static QemuOpts *img_measure_opts(const char *out_fmt, const char *options,
                                  BlockDriver **pdrv,
                                  QemuOptsList **pcreate_opts)
{
    BlockDriver *drv = bdrv_find_format(out_fmt);
    BlockDriver *file_drv = bdrv_find_format("file");
    Error *local_err = NULL;
    QemuOpts *opts;

    if (!drv) {
        error_report("Unknown file format '%s'", out_fmt);
        return NULL;
    }
    if (!bdrv_driver_create_opts(drv)) {
        error_report("Format driver '%s' does not support image creation",
                     bdrv_driver_name(drv));
        return NULL;
    }
    *pcreate_opts = qemu_opts_append(NULL, bdrv_driver_create_opts(drv));
    if (file_drv) {
        *pcreate_opts = qemu_opts_append(*pcreate_opts,
                                         bdrv_driver_create_opts(file_drv));
    }
    opts = qemu_opts_create(*pcreate_opts, NULL, 0, &error_abort);
    if (options && qemu_opts_do_parse(opts, options, NULL, &local_err) &&
        qemu_opt_has_help_opt(opts)) {
        /* QEMU's measure has no -o help: "help" is just an unknown key */
        error_setg(&local_err, "Invalid parameter '%s'",
                   qemu_opt_find(opts, "help") ? "help" : "?");
    }
    if (local_err) {
        error_report_err(local_err);
        error_report("Invalid options for file format '%s'", out_fmt);
        qemu_opts_del(opts);
        return NULL;
    }
    *pdrv = drv;
    return opts;
}

int img_measure(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "output", required_argument, NULL, IMG_OPT_OUTPUT },
        { "size", required_argument, NULL, IMG_OPT_SIZE_LONG },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgOutputFormat output_format = IMG_OUTPUT_HUMAN;
    const char *filename = NULL, *fmt = NULL, *out_fmt = "raw";
    const char *snapshot_name = NULL;
    g_autofree char *options = NULL;
    g_autofree BlockMeasureInfo *info = NULL;
    QemuOpts *sn_opts = NULL, *opts = NULL;
    QemuOptsList *create_opts = NULL;
    bool image_opts = false, force_share = false;
    uint64_t img_size = UINT64_MAX;
    BlockBackend *in_blk = NULL;
    BlockDriver *drv = NULL;
    Error *local_err = NULL;
    int ret = 1;
    int c;

    /*
     * No leading ':': as QEMU 7.2's measure, getopt itself complains about
     * a bad option, then the usage text is printed (exit status 0).
     */
    while ((c = getopt_long(argc, argv, "hf:O:o:l:U", long_options,
                            NULL)) != -1) {
        switch (c) {
        case '?':
        case 'h':
            img_help();
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'o':
            if (!img_accumulate_options(&options, optarg)) {
                goto out;
            }
            break;
        case 'l':
            if (strstart(optarg, IMG_SNAPSHOT_OPT_BASE, NULL)) {
                qemu_opts_del(sn_opts);
                sn_opts = qemu_opts_parse_noisily(&img_snapshot_opts, optarg,
                                                  false);
                if (!sn_opts) {
                    error_report("Failed in parsing snapshot param '%s'",
                                 optarg);
                    goto out;
                }
            } else {
                snapshot_name = optarg;
            }
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
        case IMG_OPT_OUTPUT:
            if (!img_parse_output_format(optarg, &output_format)) {
                goto out;
            }
            break;
        case IMG_OPT_SIZE_LONG: {
            int64_t sval = img_cvtnum("image size", optarg);

            if (sval < 0) {
                goto out;
            }
            img_size = sval;
            break;
        }
        }
    }

    if (argc - optind > 1) {
        error_report("At most one filename argument is allowed.");
        goto out;
    } else if (argc - optind == 1) {
        filename = argv[optind];
    }
    if (!filename && (image_opts || fmt || snapshot_name || sn_opts)) {
        error_report("--image-opts, -f, and -l require a filename argument.");
        goto out;
    }
    if (filename && img_size != UINT64_MAX) {
        error_report("--size N cannot be used together with a filename.");
        goto out;
    }
    if (!filename && img_size == UINT64_MAX) {
        error_report("Either --size N or one filename must be specified.");
        goto out;
    }

    if (filename) {
        in_blk = img_open(image_opts, filename, fmt, 0, false, false,
                          force_share);
        if (!in_blk) {
            goto out;
        }
        if ((sn_opts || snapshot_name) &&
            !img_measure_load_snapshot(
                blk_bs(in_blk), sn_opts ? NULL : snapshot_name,
                sn_opts ? qemu_opt_get(sn_opts, IMG_SNAPSHOT_OPT_ID) : NULL,
                sn_opts ? qemu_opt_get(sn_opts, IMG_SNAPSHOT_OPT_NAME)
                        : NULL)) {
            goto out;
        }
    }

    opts = img_measure_opts(out_fmt, options, &drv, &create_opts);
    if (!opts) {
        goto out;
    }
    if (img_size != UINT64_MAX) {
        qemu_opt_set_number(opts, BLOCK_OPT_SIZE, img_size, &error_abort);
    }

    info = bdrv_measure(drv, opts, in_blk ? blk_bs(in_blk) : NULL,
                        &local_err);
    if (!info) {
        error_report_err(local_err);
        goto out;
    }
    img_measure_print(info, output_format);
    ret = 0;

out:
    qemu_opts_del(opts);
    qemu_opts_free(create_opts);
    qemu_opts_del(sn_opts);
    blk_unref(in_blk);
    return ret;
}
