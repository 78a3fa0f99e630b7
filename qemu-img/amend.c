/*
 * qemu-img amend: change format options of an existing image in place
 *
 * The options are the format's amend options (qemu-img amend -o help);
 * creation-only options are named as such in the error.  The driver
 * does the work (for qcow2 see block/qcow2-amend.c) and reports its
 * progress through a callback that drives the -p display.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qemu/option.h"
#include "qapi/error.h"
#include "block/block.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

enum {
    IMG_AMEND_OPT_FORCE = 512,
};

/* "-o help": the amend options of format @fmt; returns the exit status */
static int print_amend_option_help(const char *fmt)
{
    BlockDriver *drv = bdrv_find_format(fmt);

    if (!drv) {
        error_report("Unknown file format '%s'", fmt);
        return 1;
    }
    if (!bdrv_driver_amend_opts(drv)) {
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
        return 1;
    }
    printf("Amend options for '%s':\n", fmt);
    qemu_opts_print_help(bdrv_driver_amend_opts(drv), false);
    return 0;
}

static void amend_status_cb(BlockDriverState *bs, int64_t offset,
                            int64_t total_work_size, void *opaque)
{
    img_progress_print(100.f * offset / total_work_size, 0);
}

/*
 * Parse @options as amend options of @drv into a new QemuOpts (in
 * *@list's list).  An option only creation knows gets QEMU's hint.
 */
static QemuOpts *parse_amend_options(BlockDriver *drv, const char *options,
                                     QemuOptsList **list)
{
    Error *err = NULL;
    QemuOpts *opts;

    *list = qemu_opts_append(NULL, bdrv_driver_amend_opts(drv));
    opts = qemu_opts_create(*list, NULL, 0, &error_abort);
    if (qemu_opts_do_parse(opts, options, NULL, &err)) {
        return opts;
    }
    qemu_opts_del(opts);

    if (bdrv_driver_create_opts(drv)) {
        QemuOptsList *both = qemu_opts_append(NULL,
                                              bdrv_driver_amend_opts(drv));
        QemuOpts *create;

        both = qemu_opts_append(both, bdrv_driver_create_opts(drv));
        create = qemu_opts_create(both, NULL, 0, &error_abort);
        if (qemu_opts_do_parse(create, options, NULL, NULL)) {
            error_append_hint(&err, "This option is only supported for "
                              "image creation\n");
        }
        qemu_opts_del(create);
        qemu_opts_free(both);
    }
    error_report_err(err);
    return NULL;
}

int img_amend(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force", no_argument, NULL, IMG_AMEND_OPT_FORCE },
        { NULL, 0, NULL, 0 }
    };
    g_autofree char *options = NULL;
    const char *filename, *fmt = NULL, *cache = "writeback";
    bool quiet = false, progress = false, image_opts = false, force = false;
    bool writethrough;
    QemuOptsList *amend_list = NULL;
    QemuOpts *opts = NULL;
    BlockBackend *blk = NULL;
    BlockDriverState *bs;
    BlockDriver *drv;
    Error *err = NULL;
    int flags, ret = -1;
    int c;

    while ((c = getopt_long(argc, argv, ":ho:f:t:pq", long_options,
                            NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'o':
            if (!img_accumulate_options(&options, optarg)) {
                return 1;
            }
            break;
        case 'f':
            fmt = optarg;
            break;
        case 't':
            cache = optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case IMG_OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case IMG_AMEND_OPT_FORCE:
            force = true;
            break;
        }
    }

    if (!options) {
        img_error_exit("Must specify options (-o)");
    }
    if (quiet) {
        progress = false;
    }
    img_progress_init(progress, 1.f);

    /* With an explicit format, "-o help" needs no image */
    if (fmt && img_has_help_option(options)) {
        ret = print_amend_option_help(fmt) ? -1 : 0;
        goto out;
    }
    if (optind != argc - 1) {
        error_report("Expecting one image file name");
        goto out;
    }
    filename = argv[argc - 1];

    flags = BDRV_O_RDWR;
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        goto out;
    }

    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   false);
    if (!blk) {
        goto out;
    }
    bs = blk_bs(blk);
    fmt = bdrv_get_format_name(bs);

    if (img_has_help_option(options)) {
        ret = print_amend_option_help(fmt) ? -1 : 0;
        goto out;
    }

    drv = bdrv_find_format(fmt);
    if (!drv || !bdrv_driver_amend_opts(drv)) {
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
        goto out;
    }

    opts = parse_amend_options(drv, options, &amend_list);
    if (!opts) {
        goto out;
    }

    /* For drivers that report no progress of their own */
    img_progress_print(0.f, 0);
    ret = bdrv_amend_options(bs, opts, amend_status_cb, NULL, force, &err);
    img_progress_print(100.f, 0);
    if (ret < 0) {
        error_report_err(err);
    }

out:
    img_progress_end();
    blk_unref(blk);
    qemu_opts_del(opts);
    qemu_opts_free(amend_list);
    return ret ? 1 : 0;
}
