/*
 * qemu-img bitmap: add, remove, clear, enable, disable and merge the
 * persistent dirty bitmaps of an image
 *
 * The operations run in command-line order on the one bitmap named last;
 * the first that fails stops the run ("Operation OP on bitmap NAME
 * failed: REASON").  The image is opened read-write and the bitmaps are
 * written back when it closes, whatever ran before the failure.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qapi/error.h"
#include "block/dirty-bitmap.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

enum {
    IMG_BITMAP_OPT_ADD = 512,
    IMG_BITMAP_OPT_REMOVE,
    IMG_BITMAP_OPT_CLEAR,
    IMG_BITMAP_OPT_ENABLE,
    IMG_BITMAP_OPT_DISABLE,
    IMG_BITMAP_OPT_MERGE,
};

typedef enum ImgBitmapOp {
    BITMAP_ADD,
    BITMAP_REMOVE,
    BITMAP_CLEAR,
    BITMAP_ENABLE,
    BITMAP_DISABLE,
    BITMAP_MERGE,
} ImgBitmapOp;

static const char *const img_bitmap_op_names[] = {
    [BITMAP_ADD] = "add",
    [BITMAP_REMOVE] = "remove",
    [BITMAP_CLEAR] = "clear",
    [BITMAP_ENABLE] = "enable",
    [BITMAP_DISABLE] = "disable",
    [BITMAP_MERGE] = "merge",
};

typedef struct ImgBitmapAction {
    ImgBitmapOp op;
    const char *src;            /* --merge SOURCE */
} ImgBitmapAction;

/* The bitmap @name of @bs, or NULL with QEMU's message */
static BdrvDirtyBitmap *lookup_bitmap(BlockDriverState *bs, const char *name,
                                      Error **errp)
{
    BdrvDirtyBitmap *bitmap = bdrv_find_dirty_bitmap(bs, name);

    if (!bitmap) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
    }
    return bitmap;
}

/*
 * As QEMU's block-dirty-bitmap-add with persistent=true; @granularity 0
 * asks for the default one.  QEMU takes the granularity as a 32-bit
 * value, so larger ones wrap (and then fail its check).
 */
static bool bitmap_add(BlockDriverState *bs, const char *name,
                       int64_t granularity, bool disabled, Error **errp)
{
    uint32_t g = (uint32_t)granularity;
    BdrvDirtyBitmap *bitmap;

    if (!name[0]) {
        error_setg(errp, "Bitmap name cannot be empty");
        return false;
    }
    if (granularity) {
        if (g < 512 || !is_power_of_2(g)) {
            error_setg(errp, "Granularity must be power of 2 and at "
                       "least 512");
            return false;
        }
    } else {
        g = bdrv_get_default_bitmap_granularity(bs);
    }
    if (!bdrv_can_store_new_dirty_bitmap(bs, name, g, errp)) {
        return false;
    }
    bitmap = bdrv_create_dirty_bitmap(bs, g, name, errp);
    if (!bitmap) {
        return false;
    }
    bdrv_dirty_bitmap_set_persistence(bitmap, true);
    if (disabled) {
        bdrv_disable_dirty_bitmap(bitmap);
    }
    return true;
}

static bool bitmap_run(BlockDriverState *bs, BlockDriverState *src_bs,
                       const char *name, const ImgBitmapAction *act,
                       int64_t granularity, Error **errp)
{
    BdrvDirtyBitmap *bitmap, *src;

    if (act->op == BITMAP_ADD) {
        return bitmap_add(bs, name, granularity, false, errp);
    }
    bitmap = lookup_bitmap(bs, name, errp);
    if (!bitmap) {
        return false;
    }
    switch (act->op) {
    case BITMAP_REMOVE:
        if (!bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_RO, errp)) {
            return false;
        }
        bdrv_release_dirty_bitmap(bitmap);
        return true;
    case BITMAP_CLEAR:
        if (!bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_DEFAULT, errp)) {
            return false;
        }
        bdrv_clear_dirty_bitmap(bitmap);
        return true;
    case BITMAP_ENABLE:
    case BITMAP_DISABLE:
        if (!bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_ALLOW_RO, errp)) {
            return false;
        }
        if (act->op == BITMAP_ENABLE) {
            bdrv_enable_dirty_bitmap(bitmap);
        } else {
            bdrv_disable_dirty_bitmap(bitmap);
        }
        return true;
    case BITMAP_MERGE:
        if (!bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_DEFAULT, errp)) {
            return false;
        }
        src = lookup_bitmap(src_bs, act->src, errp);
        if (!src ||
            !bdrv_dirty_bitmap_check(src, BDRV_BITMAP_ALLOW_RO, errp)) {
            return false;
        }
        return bdrv_merge_dirty_bitmap(bitmap, src, errp);
    default:
        g_assert_not_reached();
    }
}

int img_bitmap(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "add", no_argument, NULL, IMG_BITMAP_OPT_ADD },
        { "remove", no_argument, NULL, IMG_BITMAP_OPT_REMOVE },
        { "clear", no_argument, NULL, IMG_BITMAP_OPT_CLEAR },
        { "enable", no_argument, NULL, IMG_BITMAP_OPT_ENABLE },
        { "disable", no_argument, NULL, IMG_BITMAP_OPT_DISABLE },
        { "merge", required_argument, NULL, IMG_BITMAP_OPT_MERGE },
        { "granularity", required_argument, NULL, 'g' },
        { "source-file", required_argument, NULL, 'b' },
        { "source-format", required_argument, NULL, 'F' },
        { NULL, 0, NULL, 0 }
    };
    g_autofree ImgBitmapAction *actions = g_new0(ImgBitmapAction, argc);
    const char *fmt = NULL, *src_filename = NULL, *src_fmt = NULL;
    const char *filename, *name;
    BlockBackend *blk = NULL, *src = NULL;
    BlockDriverState *bs, *src_bs;
    bool image_opts = false, add = false, merge = false;
    int64_t granularity = 0;
    int nb_actions = 0, i, c, ret = 1;

    while ((c = getopt_long(argc, argv, ":b:f:F:g:h", long_options,
                            NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'b':
            src_filename = optarg;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'F':
            src_fmt = optarg;
            break;
        case 'g':
            granularity = img_cvtnum("granularity", optarg);
            if (granularity < 0) {
                return 1;
            }
            break;
        case IMG_BITMAP_OPT_ADD:
        case IMG_BITMAP_OPT_REMOVE:
        case IMG_BITMAP_OPT_CLEAR:
        case IMG_BITMAP_OPT_ENABLE:
        case IMG_BITMAP_OPT_DISABLE:
        case IMG_BITMAP_OPT_MERGE:
            actions[nb_actions].op = c - IMG_BITMAP_OPT_ADD;
            if (c == IMG_BITMAP_OPT_MERGE) {
                actions[nb_actions].src = optarg;
                merge = true;
            }
            add |= c == IMG_BITMAP_OPT_ADD;
            nb_actions++;
            break;
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case IMG_OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }

    if (!nb_actions) {
        error_report("Need at least one of --add, --remove, --clear, "
                     "--enable, --disable, or --merge");
        return 1;
    }
    if (granularity && !add) {
        error_report("granularity only supported with --add");
        return 1;
    }
    if (src_fmt && !src_filename) {
        error_report("-F only supported with -b");
        return 1;
    }
    if (src_filename && !merge) {
        error_report("Merge bitmap source file only supported with "
                     "--merge");
        return 1;
    }
    if (optind != argc - 2) {
        error_report("Expecting filename and bitmap name");
        return 1;
    }
    filename = argv[optind];
    name = argv[optind + 1];

    blk = img_open(image_opts, filename, fmt, BDRV_O_RDWR, false, false,
                   false);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);
    src_bs = bs;
    if (src_filename) {
        src = img_open(false, src_filename, src_fmt, 0, false, false, false);
        if (!src) {
            goto out;
        }
        src_bs = blk_bs(src);
    }

    for (i = 0; i < nb_actions; i++) {
        Error *err = NULL;

        if (!bitmap_run(bs, src_bs, name, &actions[i], granularity, &err)) {
            error_prepend(&err, "Operation %s on bitmap %s failed: ",
                          img_bitmap_op_names[actions[i].op], name);
            error_report_err(err);
            goto out;
        }
    }
    ret = 0;

out:
    blk_unref(src);
    blk_unref(blk);
    return ret;
}
