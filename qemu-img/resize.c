/*
 * qemu-img resize: change the virtual size of an image
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

/* The size argument is parsed as a size option, for QEMU's messages */
static QemuOptsList img_resize_opts = {
    .name = "resize_options",
    QEMU_OPTS_LIST_INIT(img_resize_opts),
    .desc = {
        { .name = BLOCK_OPT_SIZE, .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { /* end of list */ }
    },
};

int img_resize(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "preallocation", required_argument, NULL, IMG_OPT_PREALLOCATION },
        { "shrink", no_argument, NULL, IMG_OPT_SHRINK },
        { NULL, 0, NULL, 0 }
    };
    const char *filename, *fmt = NULL, *size;
    bool quiet = false, image_opts = false, shrink = false;
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    int64_t n, total_size, current_size;
    BlockBackend *blk = NULL;
    Error *local_err = NULL;
    QemuOpts *param;
    int relative = 0;
    int ret = -1;
    int c;

    /*
     * The size is the last argument; take it away before getopt sees it,
     * so that "-1G" is not mistaken for options.
     */
    if (argc < 3) {
        img_error_exit("Not enough arguments");
    }
    size = argv[--argc];

    while ((c = getopt_long(argc, argv, ":f:hq", long_options,
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
        case 'q':
            quiet = true;
            break;
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case IMG_OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case IMG_OPT_PREALLOCATION: {
            int mode = prealloc_mode_from_str(optarg);

            if (mode < 0) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            prealloc = mode;
            break;
        }
        case IMG_OPT_SHRINK:
            shrink = true;
            break;
        }
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting image file name and size");
    }
    filename = argv[optind];

    /* "+N" grows and "-N" shrinks by N; otherwise N is the new size */
    if (size[0] == '+') {
        relative = 1;
        size++;
    } else if (size[0] == '-') {
        relative = -1;
        size++;
    }

    param = qemu_opts_create(&img_resize_opts, NULL, 0, &error_abort);
    if (!qemu_opt_set(param, BLOCK_OPT_SIZE, size, &local_err)) {
        error_report_err(local_err);
        qemu_opts_del(param);
        return 1;
    }
    n = qemu_opt_get_size(param, BLOCK_OPT_SIZE, 0);
    qemu_opts_del(param);

    blk = img_open(image_opts, filename, fmt, BDRV_O_RDWR | BDRV_O_RESIZE,
                   false, quiet, false);
    if (!blk) {
        return 1;
    }

    current_size = blk_getlength(blk);
    if (current_size < 0) {
        error_report("Failed to inquire current image length: %s",
                     strerror(-current_size));
        goto out;
    }

    total_size = relative ? current_size + n * relative : n;
    if (total_size <= 0) {
        error_report("New image size must be positive");
        goto out;
    }
    if (total_size <= current_size && prealloc != PREALLOC_MODE_OFF) {
        error_report("Preallocation can only be used for growing images");
        goto out;
    }
    if (total_size < current_size && !shrink) {
        error_report("Use the --shrink option to perform a shrink "
                     "operation.");
        warn_report("Shrinking an image will delete all data beyond the "
                    "shrunken image's end. Before performing such an "
                    "operation, make sure there is no important data "
                    "there.");
        goto out;
    }

    /* The user asked for exactly this size: exact=true */
    ret = blk_truncate(blk, total_size, true, prealloc, 0, &local_err);
    if (ret < 0) {
        error_report_err(local_err);
        goto out;
    }
    img_qprintf(quiet, "Image resized.\n");

out:
    blk_unref(blk);
    return ret < 0;
}
