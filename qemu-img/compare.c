/*
 * qemu-img compare: do two images have the same guest-visible content?
 *
 * Exit status, as QEMU's:
 *   0  identical (a size difference is only a warning if the extra part
 *      of the larger image reads as zeroes)
 *   1  different (or, with -s, different sizes or allocation)
 *   2  an image could not be opened
 *   3  block status (allocation) query failed
 *   4  read error
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/buffer-compare.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qapi/error.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

/* Largest chunk read at once from each image */
#define IMG_COMPARE_BUF_SIZE (2 * MiB)

enum {
    IMG_COMPARE_IDENTICAL = 0,
    IMG_COMPARE_DIFFERENT = 1,
    IMG_COMPARE_OPEN_ERROR = 2,
    IMG_COMPARE_STATUS_ERROR = 3,
    IMG_COMPARE_IO_ERROR = 4,
};

/*
 * Compare @bytes of two buffers sector by sector.  Returns whether the
 * first sector differs; *@pnum is the length of the leading run of
 * sectors with that same answer.  Mismatches are therefore reported at
 * the start of the first differing sector, as QEMU does.
 */
static bool img_sectors_differ(const uint8_t *a, const uint8_t *b,
                               int64_t bytes, int64_t *pnum)
{
    const int64_t sector = BDRV_SECTOR_SIZE;
    int64_t first = buffer_find_diff(a, b, bytes);
    int64_t done;

    if (first == bytes) {
        *pnum = bytes;
        return false;
    }
    if (first >= sector) {
        /* Equal sectors up to the one holding the first difference */
        *pnum = QEMU_ALIGN_DOWN(first, sector);
        return false;
    }
    /* Differing sectors: each has a difference somewhere in it */
    for (done = sector; done < bytes; done += sector) {
        int64_t len = MIN(bytes - done, sector);

        if ((int64_t)buffer_find_diff(a + done, b + done, len) == len) {
            break;
        }
    }
    *pnum = MIN(done, bytes);
    return true;
}

/* Offset of the first sector of @buf with a nonzero byte, or -1 */
static int64_t img_find_nonzero(const uint8_t *buf, int64_t bytes)
{
    int64_t first = buffer_find_not_byte(buf, 0, bytes);

    if (first == bytes) {
        return -1;
    }
    return QEMU_ALIGN_DOWN(first, (int64_t)BDRV_SECTOR_SIZE);
}

/* An extent only one image has allocated must read as zeroes there */
static int img_check_zero_extent(BlockBackend *blk, int64_t offset,
                                 int64_t bytes, const char *filename,
                                 uint8_t *buf, bool quiet)
{
    int64_t idx;
    int ret;

    ret = blk_pread(blk, offset, bytes, buf, 0);
    if (ret < 0) {
        error_report("Error while reading offset %" PRId64 " of %s: %s",
                     offset, filename, strerror(-ret));
        return IMG_COMPARE_IO_ERROR;
    }
    idx = img_find_nonzero(buf, bytes);
    if (idx >= 0) {
        img_qprintf(quiet, "Content mismatch at offset %" PRId64 "!\n",
                    offset + idx);
        return IMG_COMPARE_DIFFERENT;
    }
    return IMG_COMPARE_IDENTICAL;
}

typedef struct ImgCompareState {
    BlockBackend *blk[2];
    const char *filename[2];
    int64_t size[2];
    uint8_t *buf[2];
    bool strict;
    bool quiet;
    /* The size of the larger image, 100% for the progress display */
    int64_t progress_base;
} ImgCompareState;

static void img_compare_progress(ImgCompareState *s, int64_t bytes)
{
    img_progress_print((float)bytes / s->progress_base * 100, 100);
}

/* Compare the range both images have */
static int img_compare_common(ImgCompareState *s, int64_t *poffset)
{
    int64_t common = MIN(s->size[0], s->size[1]);
    int64_t offset = 0;
    int ret;

    while (offset < common) {
        int status[2];
        int64_t pnum[2], chunk;
        bool allocated[2];
        int i;

        for (i = 0; i < 2; i++) {
            status[i] = bdrv_block_status_above(blk_bs(s->blk[i]), NULL,
                                                offset,
                                                s->size[i] - offset,
                                                &pnum[i], NULL, NULL);
            if (status[i] < 0) {
                error_report("Sector allocation test failed for %s",
                             s->filename[i]);
                return IMG_COMPARE_STATUS_ERROR;
            }
            allocated[i] = status[i] & BDRV_BLOCK_ALLOCATED;
        }
        assert(pnum[0] && pnum[1]);
        chunk = MIN(pnum[0], pnum[1]);

        if (s->strict && status[0] != status[1]) {
            img_qprintf(s->quiet, "Strict mode: Offset %" PRId64
                        " block status mismatch!\n", offset);
            return IMG_COMPARE_DIFFERENT;
        }

        if ((status[0] & BDRV_BLOCK_ZERO) && (status[1] & BDRV_BLOCK_ZERO)) {
            /* Both read as zeroes */
        } else if (allocated[0] == allocated[1]) {
            if (allocated[0]) {
                int64_t same;

                chunk = MIN(chunk, IMG_COMPARE_BUF_SIZE);
                for (i = 0; i < 2; i++) {
                    ret = blk_pread(s->blk[i], offset, chunk, s->buf[i], 0);
                    if (ret < 0) {
                        error_report("Error while reading offset %" PRId64
                                     " of %s: %s", offset, s->filename[i],
                                     strerror(-ret));
                        return IMG_COMPARE_IO_ERROR;
                    }
                }
                if (img_sectors_differ(s->buf[0], s->buf[1], chunk, &same)) {
                    img_qprintf(s->quiet, "Content mismatch at offset %"
                                PRId64 "!\n", offset);
                    return IMG_COMPARE_DIFFERENT;
                }
                if (same != chunk) {
                    img_qprintf(s->quiet, "Content mismatch at offset %"
                                PRId64 "!\n", offset + same);
                    return IMG_COMPARE_DIFFERENT;
                }
            }
            /* Unallocated in both: the same backing data or zeroes */
        } else {
            i = allocated[0] ? 0 : 1;
            chunk = MIN(chunk, IMG_COMPARE_BUF_SIZE);
            ret = img_check_zero_extent(s->blk[i], offset, chunk,
                                        s->filename[i], s->buf[0],
                                        s->quiet);
            if (ret) {
                return ret;
            }
        }
        offset += chunk;
        img_compare_progress(s, chunk);
    }
    *poffset = offset;
    return IMG_COMPARE_IDENTICAL;
}

/* The tail of the larger image must read as zeroes */
static int img_compare_tail(ImgCompareState *s, int64_t offset)
{
    int i = s->size[0] > s->size[1] ? 0 : 1;
    int64_t chunk;
    int ret;

    img_qprintf(s->quiet, "Warning: Image size mismatch!\n");
    while (offset < s->progress_base) {
        ret = bdrv_block_status_above(blk_bs(s->blk[i]), NULL, offset,
                                      s->progress_base - offset, &chunk,
                                      NULL, NULL);
        if (ret < 0) {
            error_report("Sector allocation test failed for %s",
                         s->filename[i]);
            return IMG_COMPARE_STATUS_ERROR;
        }
        if ((ret & BDRV_BLOCK_ALLOCATED) && !(ret & BDRV_BLOCK_ZERO)) {
            chunk = MIN(chunk, IMG_COMPARE_BUF_SIZE);
            ret = img_check_zero_extent(s->blk[i], offset, chunk,
                                        s->filename[i], s->buf[0],
                                        s->quiet);
            if (ret) {
                return ret;
            }
        }
        offset += chunk;
        img_compare_progress(s, chunk);
    }
    return IMG_COMPARE_IDENTICAL;
}

int img_compare(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgCompareState s = { 0 };
    const char *fmt[2] = { NULL, NULL };
    const char *cache = "writeback";
    bool progress = false, image_opts = false, force_share = false;
    bool writethrough;
    int64_t offset = 0;
    int flags = 0;
    int ret, i;
    int c;

    while ((c = getopt_long(argc, argv, ":hf:F:T:pqsU", long_options,
                            NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'f':
            fmt[0] = optarg;
            break;
        case 'F':
            fmt[1] = optarg;
            break;
        case 'T':
            cache = optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            s.quiet = true;
            break;
        case 's':
            s.strict = true;
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
    /* No progress display in quiet mode */
    if (s.quiet) {
        progress = false;
    }
    if (optind != argc - 2) {
        img_error_exit("Expecting two image file names");
    }
    s.filename[0] = argv[optind];
    s.filename[1] = argv[optind + 1];

    img_progress_init(progress, 2.0);

    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid source cache option: %s", cache);
        ret = IMG_COMPARE_OPEN_ERROR;
        goto out;
    }
    for (i = 0; i < 2; i++) {
        s.blk[i] = img_open(image_opts, s.filename[i], fmt[i], flags,
                            writethrough, s.quiet, force_share);
        if (!s.blk[i]) {
            ret = IMG_COMPARE_OPEN_ERROR;
            goto out;
        }
    }
    for (i = 0; i < 2; i++) {
        s.buf[i] = blk_blockalign(s.blk[i], IMG_COMPARE_BUF_SIZE);
    }
    for (i = 0; i < 2; i++) {
        s.size[i] = blk_getlength(s.blk[i]);
        if (s.size[i] < 0) {
            error_report("Can't get size of %s: %s", s.filename[i],
                         strerror(-s.size[i]));
            ret = IMG_COMPARE_IO_ERROR;
            goto out;
        }
    }
    s.progress_base = MAX(s.size[0], s.size[1]);

    img_progress_print(0, 100);

    if (s.strict && s.size[0] != s.size[1]) {
        img_qprintf(s.quiet, "Strict mode: Image size mismatch!\n");
        ret = IMG_COMPARE_DIFFERENT;
        goto out;
    }

    ret = img_compare_common(&s, &offset);
    if (ret == IMG_COMPARE_IDENTICAL && s.size[0] != s.size[1]) {
        ret = img_compare_tail(&s, offset);
    }
    if (ret == IMG_COMPARE_IDENTICAL) {
        img_qprintf(s.quiet, "Images are identical.\n");
    }

out:
    for (i = 0; i < 2; i++) {
        qemu_vfree(s.buf[i]);
        blk_unref(s.blk[i]);
    }
    img_progress_end();
    return ret;
}
