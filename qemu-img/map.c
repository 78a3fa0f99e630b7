/*
 * qemu-img map: where the guest-visible data of an image comes from
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qapi/error.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

/* One extent of the map (QEMU's MapEntry) */
typedef struct ImgMapEntry {
    int64_t start;
    int64_t length;
    bool data;
    bool zero;
    bool present;
    int64_t depth;           /* 0: the image itself, 1: its backing file.. */
    bool has_offset;
    int64_t offset;          /* in @filename, when has_offset */
    const char *filename;    /* the node holding the data, or NULL */
} ImgMapEntry;

/*
 * Status of [offset, offset + bytes) in the first layer of the chain
 * that defines it.  An extent no layer defines is reported with the
 * depth of the bottom layer and neither data nor zero set.
 */
static int img_map_extent(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, ImgMapEntry *e)
{
    BlockDriverState *file = NULL;
    int64_t map = 0;
    int depth = 0;
    int ret;

    for (;;) {
        bs = bdrv_skip_filters(bs);
        ret = bdrv_block_status(bs, offset, bytes, &bytes, &map, &file);
        if (ret < 0) {
            return ret;
        }
        assert(bytes);
        if (ret & (BDRV_BLOCK_ZERO | BDRV_BLOCK_DATA)) {
            break;
        }
        bs = bdrv_backing_chain_next(bs);
        if (!bs) {
            ret = 0;
            break;
        }
        depth++;
    }

    *e = (ImgMapEntry) {
        .start = offset,
        .length = bytes,
        .data = ret & BDRV_BLOCK_DATA,
        .zero = ret & BDRV_BLOCK_ZERO,
        .present = ret & BDRV_BLOCK_ALLOCATED,
        .depth = depth,
        .has_offset = ret & BDRV_BLOCK_OFFSET_VALID,
        .offset = map,
    };
    if (file && e->has_offset) {
        bdrv_refresh_filename(file);
        e->filename = bdrv_get_filename(file);
    }
    return 0;
}

/* Whether @next continues @curr so that one line can describe both */
static bool img_map_mergeable(const ImgMapEntry *curr,
                              const ImgMapEntry *next)
{
    if (curr->length == 0) {
        return false;
    }
    if (curr->zero != next->zero || curr->data != next->data ||
        curr->depth != next->depth || curr->present != next->present ||
        !curr->filename != !next->filename ||
        curr->has_offset != next->has_offset) {
        return false;
    }
    if (curr->filename && strcmp(curr->filename, next->filename)) {
        return false;
    }
    if (curr->has_offset && curr->offset + curr->length != next->offset) {
        return false;
    }
    return true;
}

/*
 * Print @e; @next is the following entry (NULL for the last one).  The
 * human format lists only extents with data, and lets a following zero
 * or hole extent merge with other such extents.
 */
static int img_map_dump(ImgOutputFormat output, const ImgMapEntry *e,
                        ImgMapEntry *next)
{
    switch (output) {
    case IMG_OUTPUT_HUMAN:
        if (e->data && !e->has_offset) {
            error_report("File contains external, encrypted or compressed "
                         "clusters.");
            return -1;
        }
        if (e->data && !e->zero) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
                   e->start, e->length, e->has_offset ? e->offset : 0,
                   e->filename ? e->filename : "");
        }
        if (next && (!next->data || next->zero)) {
            next->data = false;
            next->zero = true;
        }
        break;
    case IMG_OUTPUT_JSON:
        printf("{ \"start\": %" PRId64 ", \"length\": %" PRId64 ","
               " \"depth\": %" PRId64 ", \"present\": %s, \"zero\": %s,"
               " \"data\": %s", e->start, e->length, e->depth,
               e->present ? "true" : "false", e->zero ? "true" : "false",
               e->data ? "true" : "false");
        if (e->has_offset) {
            printf(", \"offset\": %" PRId64, e->offset);
        }
        putchar('}');
        if (next) {
            puts(",");
        }
        break;
    }
    return 0;
}

int img_map(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, IMG_OPT_OUTPUT },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "start-offset", required_argument, NULL, IMG_OPT_START_OFFSET },
        { "max-length", required_argument, NULL, IMG_OPT_MAX_LENGTH },
        { NULL, 0, NULL, 0 }
    };
    ImgOutputFormat output_format = IMG_OUTPUT_HUMAN;
    const char *filename, *fmt = NULL, *output = NULL;
    bool image_opts = false, force_share = false;
    int64_t start_offset = 0, max_length = -1, length;
    ImgMapEntry curr = { .length = 0 }, next;
    BlockBackend *blk;
    int ret = 0;
    int c;

    while ((c = getopt_long(argc, argv, ":f:hU", long_options,
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
        case 'U':
            force_share = true;
            break;
        case IMG_OPT_OUTPUT:
            output = optarg;
            break;
        case IMG_OPT_START_OFFSET:
            start_offset = img_cvtnum("start offset", optarg);
            if (start_offset < 0) {
                return 1;
            }
            break;
        case IMG_OPT_MAX_LENGTH:
            max_length = img_cvtnum("max length", optarg);
            if (max_length < 0) {
                return 1;
            }
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

    blk = img_open(image_opts, filename, fmt, 0, false, false, force_share);
    if (!blk) {
        return 1;
    }

    if (output_format == IMG_OUTPUT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
               "File");
    } else {
        putchar('[');
    }

    length = blk_getlength(blk);
    if (length < 0) {
        error_report("Failed to get size for '%s'", filename);
        ret = -1;
        goto out;
    }
    if (max_length != -1) {
        length = MIN(start_offset + max_length, length);
    }

    curr.start = start_offset;
    while (curr.start + curr.length < length) {
        int64_t offset = curr.start + curr.length;
        /* Ask about at most 1 GiB at a time */
        int64_t n = QEMU_ALIGN_DOWN(MIN(GiB, length - offset),
                                    (int64_t)BDRV_SECTOR_SIZE);

        if (n == 0) {
            n = length - offset;
        }
        ret = img_map_extent(blk_bs(blk), offset, n, &next);
        if (ret < 0) {
            error_report("Could not read file metadata: %s", strerror(-ret));
            goto out;
        }
        if (img_map_mergeable(&curr, &next)) {
            curr.length += next.length;
            continue;
        }
        if (curr.length > 0) {
            ret = img_map_dump(output_format, &curr, &next);
            if (ret < 0) {
                goto out;
            }
        }
        curr = next;
    }

    ret = img_map_dump(output_format, &curr, NULL);
    if (output_format == IMG_OUTPUT_JSON) {
        puts("]");
    }

out:
    blk_unref(blk);
    return ret < 0;
}
