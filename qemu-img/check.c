/*
 * qemu-img check: consistency check (and repair) of an image's metadata
 *
 * Exit status, as QEMU's:
 *   0  the check completed and the image is consistent
 *   1  the check could not complete (internal errors, I/O errors)
 *   2  the check completed and found corruptions
 *   3  the check completed and found only leaked clusters
 *  63  the image format has no consistency checks (raw)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

#define IMG_CHECK_NOT_SUPPORTED 63

/* One check result as qemu-img reports it (QEMU's ImageCheck) */
typedef struct ImgCheck {
    const char *filename;
    const char *format;
    BdrvCheckResult res;
} ImgCheck;

static int img_run_check(BlockDriverState *bs, ImgCheck *check,
                         BdrvCheckMode fix)
{
    check->format = bdrv_get_format_name(bs);
    return bdrv_check(bs, &check->res, fix);
}

static void img_dump_human_check(const ImgCheck *check, bool quiet)
{
    const BdrvCheckResult *r = &check->res;

    if (!(r->corruptions || r->leaks || r->check_errors)) {
        img_qprintf(quiet, "No errors were found on the image.\n");
    } else {
        if (r->corruptions) {
            img_qprintf(quiet, "\n%d errors were found on the image.\n"
                        "Data may be corrupted, or further writes to the "
                        "image may corrupt it.\n", r->corruptions);
        }
        if (r->leaks) {
            img_qprintf(quiet, "\n%d leaked clusters were found on the "
                        "image.\nThis means waste of disk space, but no "
                        "harm to data.\n", r->leaks);
        }
        if (r->check_errors) {
            img_qprintf(quiet, "\n%d internal errors have occurred during "
                        "the check.\n", r->check_errors);
        }
    }

    if (r->bfi.total_clusters && r->bfi.allocated_clusters) {
        img_qprintf(quiet, "%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, "
                    "%0.2f%% fragmented, %0.2f%% compressed clusters\n",
                    r->bfi.allocated_clusters, r->bfi.total_clusters,
                    r->bfi.allocated_clusters * 100.0 /
                    r->bfi.total_clusters,
                    r->bfi.fragmented_clusters * 100.0 /
                    r->bfi.allocated_clusters,
                    r->bfi.compressed_clusters * 100.0 /
                    r->bfi.allocated_clusters);
    }
    if (r->image_end_offset) {
        img_qprintf(quiet, "Image end offset: %" PRId64 "\n",
                    r->image_end_offset);
    }
}

/* ImageCheck in QEMU's schema order; optional members only when nonzero */
static void img_dump_json_check(const ImgCheck *check, bool quiet)
{
    const BdrvCheckResult *r = &check->res;
    g_autoptr(QDict) dict = qdict_new();

    if (quiet) {
        return;
    }
    qdict_put_str(dict, "filename", check->filename);
    qdict_put_str(dict, "format", check->format);
    qdict_put_int(dict, "check-errors", r->check_errors);
    if (r->image_end_offset) {
        qdict_put_int(dict, "image-end-offset", r->image_end_offset);
    }
    if (r->corruptions) {
        qdict_put_int(dict, "corruptions", r->corruptions);
    }
    if (r->leaks) {
        qdict_put_int(dict, "leaks", r->leaks);
    }
    if (r->corruptions_fixed) {
        qdict_put_int(dict, "corruptions-fixed", r->corruptions_fixed);
    }
    if (r->leaks_fixed) {
        qdict_put_int(dict, "leaks-fixed", r->leaks_fixed);
    }
    if (r->bfi.total_clusters) {
        qdict_put_int(dict, "total-clusters", r->bfi.total_clusters);
    }
    if (r->bfi.allocated_clusters) {
        qdict_put_int(dict, "allocated-clusters", r->bfi.allocated_clusters);
    }
    if (r->bfi.fragmented_clusters) {
        qdict_put_int(dict, "fragmented-clusters",
                      r->bfi.fragmented_clusters);
    }
    if (r->bfi.compressed_clusters) {
        qdict_put_int(dict, "compressed-clusters",
                      r->bfi.compressed_clusters);
    }
    img_print_json(QOBJECT(dict));
}

int img_check(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "repair", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, IMG_OPT_OUTPUT },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgOutputFormat output_format = IMG_OUTPUT_HUMAN;
    const char *filename, *fmt = NULL, *output = NULL;
    const char *cache = "writeback";
    bool quiet = false, image_opts = false, force_share = false;
    bool writethrough;
    int flags = BDRV_O_CHECK;
    BdrvCheckMode fix = 0;
    ImgCheck check = { 0 };
    BlockBackend *blk;
    int ret;
    int c;

    while ((c = getopt_long(argc, argv, ":hf:r:T:qU", long_options,
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
        case 'r':
            flags |= BDRV_O_RDWR;
            if (!strcmp(optarg, "leaks")) {
                fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                img_error_exit("Unknown option value for -r "
                               "(expecting 'leaks' or 'all'): %s", optarg);
            }
            break;
        case IMG_OPT_OUTPUT:
            output = optarg;
            break;
        case 'T':
            cache = optarg;
            break;
        case 'q':
            quiet = true;
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
    filename = img_one_filename(argc, argv);
    if (output && !img_parse_output_format(output, &output_format)) {
        return 1;
    }
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid source cache option: %s", cache);
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }
    check.filename = filename;

    ret = img_run_check(blk_bs(blk), &check, fix);
    if (ret == -ENOTSUP) {
        error_report("This image format does not support checks");
        ret = IMG_CHECK_NOT_SUPPORTED;
        goto out;
    }

    if (ret == 0 && (check.res.corruptions_fixed || check.res.leaks_fixed)) {
        int corruptions_fixed = check.res.corruptions_fixed;
        int leaks_fixed = check.res.leaks_fixed;

        if (output_format == IMG_OUTPUT_HUMAN) {
            img_qprintf(quiet, "The following inconsistencies were found "
                        "and repaired:\n\n"
                        "    %d leaked clusters\n"
                        "    %d corruptions\n\n"
                        "Double checking the fixed image now...\n",
                        leaks_fixed, corruptions_fixed);
        }
        /* Report the state after the repair, and what was repaired */
        ret = img_run_check(blk_bs(blk), &check, 0);
        check.res.corruptions_fixed = corruptions_fixed;
        check.res.leaks_fixed = leaks_fixed;
    }

    if (ret == 0) {
        if (output_format == IMG_OUTPUT_HUMAN) {
            img_dump_human_check(&check, quiet);
        } else {
            img_dump_json_check(&check, quiet);
        }
    }

    if (ret < 0 || check.res.check_errors) {
        if (ret < 0) {
            error_report("Check failed: %s", strerror(-ret));
        } else {
            error_report("Check failed");
        }
        ret = 1;
    } else if (check.res.corruptions) {
        ret = 2;
    } else if (check.res.leaks) {
        ret = 3;
    } else {
        ret = 0;
    }

out:
    blk_unref(blk);
    return ret;
}
