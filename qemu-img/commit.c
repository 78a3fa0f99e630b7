/*
 * qemu-img commit: copy an image's data into its backing file (or into
 * a deeper image of its backing chain), then empty it
 *
 * The copy follows the way QEMU's active commit (a mirror job) goes
 * through the image, so that the base ends up with the same clusters
 * allocated as with QEMU: the areas allocated anywhere above the base
 * are marked in chunks of the base's cluster size (4k to 64k), and each
 * run of marked chunks is copied in requests of at most 1 MiB, read
 * through the whole chain; runs that read as zeroes (or as nothing)
 * over whole clusters are zeroed (or discarded) in the base instead.
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

/* QEMU's mirror: largest request, and bytes gathered per iteration */
#define IMG_COMMIT_MAX_IO (1 * MiB)
#define IMG_COMMIT_BUF_SIZE (16 * MiB)

/* Does @path start with a "proto:" prefix? */
static bool img_path_has_protocol(const char *path)
{
    return path[strcspn(path, ":/")] == ':';
}

/* realpath() of @name relative to the directory of @bs's image, or NULL */
static char *img_real_path_in_dir_of(BlockDriverState *bs, const char *name)
{
    g_autofree char *dir = NULL;
    g_autofree char *joined = NULL;

    if (g_path_is_absolute(name)) {
        return realpath(name, NULL);
    }
    dir = bdrv_dirname(bs, NULL);
    if (!dir) {
        return NULL;
    }
    joined = g_strconcat(dir, name, NULL);
    return realpath(joined, NULL);
}

BlockDriverState *img_find_backing_image(BlockDriverState *bs,
                                         const char *name)
{
    bool is_protocol = img_path_has_protocol(name);
    BlockDriverState *curr, *below;

    for (curr = bdrv_skip_filters(bs); (below = bdrv_backing_chain_next(curr));
         curr = below) {
        const char *backing = bdrv_get_backing_file(curr);

        if (is_protocol || img_path_has_protocol(backing)) {
            /* Protocol names are compared as they are */
            if (!strcmp(name, backing)) {
                return below;
            }
        } else {
            /* Both relative to curr's directory, then canonical */
            g_autofree char *want = img_real_path_in_dir_of(curr, name);
            g_autofree char *have = img_real_path_in_dir_of(curr, backing);

            if (want && have && !strcmp(want, have)) {
                return below;
            }
        }
    }
    return NULL;
}

typedef struct ImgCommitState {
    BlockBackend *top;          /* reads through the whole chain */
    BlockBackend *base;         /* the image written */
    BlockDriverState *top_bs;
    BlockDriverState *base_bs;
    int64_t length;             /* of the top image */
    int64_t granularity;
    int64_t base_cluster_size;  /* 0: no clusters */
    bool *dirty;                /* per chunk */
    int64_t nb_chunks;
    int64_t rate_limit;         /* bytes per second, 0: none */
    int64_t start_us;
    uint64_t progress_done;
    uint64_t progress_total;
    uint8_t *buf;
} ImgCommitState;

/* Mark the chunks with data anywhere above the base */
static int img_commit_init_dirty(ImgCommitState *s)
{
    int64_t offset = 0, pnum, first, last;
    int ret;

    s->nb_chunks = DIV_ROUND_UP(s->length, s->granularity);
    s->dirty = g_new0(bool, MAX(s->nb_chunks, 1));
    while (offset < s->length) {
        ret = bdrv_is_allocated_above(s->top_bs, s->base_bs, false, offset,
                                      s->length - offset, &pnum);
        if (ret < 0) {
            return ret;
        }
        assert(pnum > 0);
        if (ret) {
            first = offset / s->granularity;
            last = DIV_ROUND_UP(offset + pnum, s->granularity);
            for (; first < last; first++) {
                if (!s->dirty[first]) {
                    s->dirty[first] = true;
                    s->progress_total += s->granularity;
                }
            }
        }
        offset += pnum;
    }
    s->progress_total = MIN(s->progress_total, (uint64_t)s->length);
    return 0;
}

/* -r: wait until the bytes done so far fit the rate */
static void img_commit_throttle(ImgCommitState *s)
{
    int64_t due, now;

    if (!s->rate_limit) {
        return;
    }
    due = s->start_us + (int64_t)((double)s->progress_done /
                                  s->rate_limit * G_USEC_PER_SEC);
    now = g_get_monotonic_time();
    if (due > now) {
        g_usleep(due - now);
    }
}

static void img_commit_progress(ImgCommitState *s, int64_t bytes)
{
    s->progress_done += bytes;
    img_progress_print(s->progress_total ?
                       (float)s->progress_done / s->progress_total * 100.f :
                       0, 0);
}

typedef enum {
    IMG_COMMIT_COPY,
    IMG_COMMIT_ZERO,
    IMG_COMMIT_DISCARD,
} ImgCommitMethod;

/* Handle the dirty run of @nb chunks at @offset; -errno on failure */
static int img_commit_run(ImgCommitState *s, int64_t offset, int64_t nb)
{
    int64_t end = MIN(offset + nb * s->granularity, s->length);

    while (offset < end) {
        ImgCommitMethod method = IMG_COMMIT_COPY;
        int64_t io_bytes, bytes;
        int ret;

        ret = bdrv_block_status_above(s->top_bs, NULL, offset, end - offset,
                                      &io_bytes, NULL, NULL);
        if (ret < 0) {
            io_bytes = MIN(end - offset, IMG_COMMIT_MAX_IO);
            ret = 0;
        } else if (ret & BDRV_BLOCK_DATA) {
            io_bytes = MIN(io_bytes, IMG_COMMIT_MAX_IO);
        }
        io_bytes -= io_bytes % s->granularity;
        if (io_bytes < s->granularity) {
            io_bytes = s->granularity;
        } else if (!(ret & BDRV_BLOCK_DATA) &&
                   (!s->base_cluster_size ||
                    !((offset | io_bytes) % s->base_cluster_size))) {
            method = ret & BDRV_BLOCK_ZERO ? IMG_COMMIT_ZERO
                                           : IMG_COMMIT_DISCARD;
        }
        bytes = MIN(io_bytes, s->length - offset);

        img_commit_throttle(s);
        switch (method) {
        case IMG_COMMIT_COPY:
            ret = blk_pread(s->top, offset, bytes, s->buf, 0);
            if (ret >= 0) {
                ret = blk_pwrite(s->base, offset, bytes, s->buf, 0);
            }
            break;
        case IMG_COMMIT_ZERO:
            ret = blk_pwrite_zeroes(s->base, offset, bytes,
                                    BDRV_REQ_MAY_UNMAP);
            break;
        case IMG_COMMIT_DISCARD:
            ret = blk_pdiscard(s->base, offset, bytes);
            break;
        }
        if (ret < 0) {
            return ret;
        }
        offset += io_bytes;
        img_commit_progress(s, bytes);
    }
    return 0;
}

/* Copy everything above the base into it; false with errp set */
static bool img_commit_copy(ImgCommitState *s, Error **errp)
{
    BlockDriverInfo bdi;
    int64_t base_length, chunk;
    int ret;

    s->length = bdrv_getlength(s->top_bs);
    if (s->length < 0) {
        error_setg_errno(errp, -s->length, "Could not get the image size");
        return false;
    }
    if (bdrv_is_read_only(s->base_bs) &&
        bdrv_reopen_set_read_only(s->base_bs, false, errp) < 0) {
        return false;
    }
    s->base = blk_new_with_bs(s->base_bs, errp);
    if (!s->base) {
        return false;
    }

    /* A smaller base grows to the size of the image; a larger one stays */
    base_length = blk_getlength(s->base);
    if (base_length < 0) {
        error_setg_errno(errp, -base_length, "Could not get the base size");
        return false;
    }
    if (s->length > base_length) {
        ret = blk_truncate(s->base, s->length, false, PREALLOC_MODE_OFF, 0,
                           NULL);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not resize the base image");
            return false;
        }
    }

    s->base_cluster_size = 0;
    s->granularity = 64 * KiB;
    if (bdrv_get_info(s->base_bs, &bdi) >= 0 && bdi.cluster_size > 0) {
        s->base_cluster_size = bdi.cluster_size;
        s->granularity = MIN(MAX(4 * KiB, bdi.cluster_size), 64 * KiB);
    }

    ret = img_commit_init_dirty(s);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read the image's allocation");
        return false;
    }
    s->buf = blk_blockalign(s->top, IMG_COMMIT_MAX_IO);
    s->start_us = g_get_monotonic_time();
    img_progress_print(0, 0);

    /* Runs of dirty chunks, at most a buffer's worth at a time */
    for (chunk = 0; chunk < s->nb_chunks;) {
        int64_t nb = 1;

        if (!s->dirty[chunk]) {
            chunk++;
            continue;
        }
        while (chunk + nb < s->nb_chunks && s->dirty[chunk + nb] &&
               nb * s->granularity < IMG_COMMIT_BUF_SIZE) {
            nb++;
        }
        ret = img_commit_run(s, chunk * s->granularity, nb);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Block job failed");
            return false;
        }
        chunk += nb;
    }

    ret = blk_flush(s->base);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not flush the base image");
        return false;
    }
    img_progress_print(100, 0);
    return true;
}

int img_commit(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 }
    };
    ImgCommitState s = { 0 };
    const char *filename, *fmt = NULL, *cache = "writeback", *base = NULL;
    bool progress = false, quiet = false, drop = false, image_opts = false;
    bool writethrough;
    Error *local_err = NULL;
    int flags = BDRV_O_RDWR | BDRV_O_UNMAP;
    int c;

    while ((c = getopt_long(argc, argv, ":f:ht:b:dpqr:", long_options,
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
        case 't':
            cache = optarg;
            break;
        case 'b':
            base = optarg;
            /* The images in between would read wrong: keep the top */
            drop = true;
            break;
        case 'd':
            drop = true;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'r':
            s.rate_limit = img_cvtnum("rate limit", optarg);
            if (s.rate_limit < 0) {
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
    if (quiet) {
        progress = false;
    }
    filename = img_one_filename(argc, argv);

    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        return 1;
    }
    s.top = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                     false);
    if (!s.top) {
        return 1;
    }
    s.top_bs = blk_bs(s.top);

    img_progress_init(progress, 1.f);
    img_progress_print(0, 100);

    if (base) {
        s.base_bs = img_find_backing_image(s.top_bs, base);
        if (!s.base_bs) {
            error_setg(&local_err, "Did not find '%s' in the backing chain "
                       "of '%s'", base, filename);
            goto done;
        }
    } else {
        s.base_bs = bdrv_backing_chain_next(bdrv_skip_filters(s.top_bs));
        if (!s.base_bs) {
            error_setg(&local_err, "Image does not have a backing file");
            goto done;
        }
    }

    if (!img_commit_copy(&s, &local_err)) {
        goto done;
    }

    /* Without -d the top image reads as its backing file again */
    if (!drop) {
        Error *empty_err = NULL;
        int ret = bdrv_make_empty(bdrv_skip_filters(s.top_bs), &empty_err);

        if (ret == -ENOTSUP) {
            error_free(empty_err);
        } else if (ret < 0) {
            error_propagate(&local_err, empty_err);
        }
    }

done:
    img_progress_end();
    qemu_vfree(s.buf);
    g_free(s.dirty);
    blk_unref(s.base);
    blk_unref(s.top);
    if (local_err) {
        error_report_err(local_err);
        return 1;
    }
    img_qprintf(quiet, "Image committed.\n");
    return 0;
}
