/*
 * qemu-img rebase: change the backing file of an image
 *
 * Safe mode (the default) keeps what the guest sees: wherever the image
 * itself has no data, the old and the new backing chain are compared
 * sector by sector, and what differs is copied from the old chain into
 * the image (zeroes are written as zeroes where the old chain ended)
 * before the header names the new backing file.  Unsafe mode (-u) only
 * rewrites the name and format in the header.  -b "" makes the image
 * stand alone: everything it read from its backing chain is copied in.
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

/* Bytes compared per step, as QEMU's */
#define IMG_REBASE_BUF_SIZE (2 * MiB)

/*
 * Whether the first sector of @a and @b differs; *@pnum is the length of
 * the leading run of sectors with that same answer (at most @bytes).
 */
static bool img_rebase_sectors_differ(const uint8_t *a, const uint8_t *b,
                                      int64_t bytes, int64_t *pnum)
{
    int64_t sector = BDRV_SECTOR_SIZE;
    bool differ = memcmp(a, b, MIN(sector, bytes)) != 0;
    int64_t done;

    for (done = sector; done < bytes; done += sector) {
        int64_t len = MIN(sector, bytes - done);

        if ((memcmp(a + done, b + done, len) != 0) != differ) {
            break;
        }
    }
    *pnum = MIN(done, bytes);
    return differ;
}

typedef struct ImgRebaseState {
    BlockBackend *blk;          /* the image, read-write */
    BlockDriverState *bs;       /* its format node */
    BlockBackend *old_backing;  /* NULL: it had none */
    BlockBackend *new_backing;  /* NULL for -b "" */
    /* The new backing file is in the old chain: only look above it */
    BlockDriverState *prefix_chain_bs;
    const char *filename;
    const char *out_baseimg;
} ImgRebaseState;

/* Open the new backing file (or find it in the old chain) */
static bool img_rebase_open_new(ImgRebaseState *s, const char *fmt,
                                int flags, bool force_share)
{
    Error *local_err = NULL;
    g_autofree char *real_path = NULL;
    const char *overlay;
    QDict *options;

    bdrv_refresh_filename(s->bs);
    overlay = bdrv_get_exact_filename(s->bs);
    if (!overlay[0]) {
        overlay = bdrv_get_filename(s->bs);
    }
    real_path = bdrv_get_full_backing_filename_from_filename(overlay,
                                                             s->out_baseimg,
                                                             &local_err);
    if (!real_path) {
        error_prepend(&local_err, "Could not resolve backing filename: ");
        error_report_err(local_err);
        return false;
    }

    s->prefix_chain_bs = img_find_backing_image(s->bs, real_path);
    if (s->prefix_chain_bs) {
        s->new_backing = blk_new_with_bs(s->prefix_chain_bs, &local_err);
        if (!s->new_backing) {
            error_prepend(&local_err, "Could not reuse backing file '%s': ",
                          s->out_baseimg);
            error_report_err(local_err);
            return false;
        }
        return true;
    }

    options = qdict_new();
    if (fmt) {
        qdict_put_str(options, "driver", fmt);
    }
    if (force_share) {
        qdict_put_str(options, "force-share", "on");
    }
    s->new_backing = blk_new_open(real_path, NULL, options, flags,
                                  &local_err);
    if (!s->new_backing) {
        error_prepend(&local_err, "Could not open new backing file '%s': ",
                      s->out_baseimg);
        error_report_err(local_err);
        return false;
    }
    return true;
}

/* Read @bytes at @offset of a backing file of @size bytes, zeroes after */
static int img_rebase_read(BlockBackend *blk, int64_t size, int64_t offset,
                           int64_t *bytes, uint8_t *buf, bool *is_zero)
{
    *is_zero = false;
    if (!blk || offset >= size) {
        memset(buf, 0, *bytes);
        *is_zero = true;
        return 0;
    }
    if (offset + *bytes > size) {
        *bytes = size - offset;
    }
    return blk_pread(blk, offset, *bytes, buf, 0);
}

/*
 * Copy into the image whatever reads differently through the new
 * backing file than through the old one, where the image itself has no
 * data.  Returns false after reporting.
 */
static bool img_rebase_copy(ImgRebaseState *s)
{
    uint8_t *buf_old, *buf_new;
    int64_t size, old_size = 0, new_size = 0, offset, n;
    float local_progress = 0;
    bool ok = false;
    int ret;

    buf_old = blk_blockalign(s->blk, IMG_REBASE_BUF_SIZE);
    buf_new = blk_blockalign(s->blk, IMG_REBASE_BUF_SIZE);

    size = blk_getlength(s->blk);
    if (size < 0) {
        error_report("Could not get size of '%s': %s", s->filename,
                     strerror(-size));
        goto out;
    }
    if (s->old_backing) {
        old_size = blk_getlength(s->old_backing);
        if (old_size < 0) {
            error_report("Could not get size of '%s': %s",
                         bdrv_get_backing_file(s->bs), strerror(-old_size));
            goto out;
        }
    }
    if (s->new_backing) {
        new_size = blk_getlength(s->new_backing);
        if (new_size < 0) {
            error_report("Could not get size of '%s': %s", s->out_baseimg,
                         strerror(-new_size));
            goto out;
        }
    }
    if (size) {
        local_progress = (float)100 /
                         (size / MIN(size, IMG_REBASE_BUF_SIZE));
    }

    for (offset = 0; offset < size; offset += n) {
        bool old_is_zero, new_is_zero;
        int64_t done = 0;

        n = MIN(IMG_REBASE_BUF_SIZE, size - offset);

        /* Data of the image itself hides both backing files */
        ret = bdrv_is_allocated(s->bs, offset, n, &n);
        if (ret < 0) {
            error_report("error while reading image metadata: %s",
                         strerror(-ret));
            goto out;
        }
        if (ret) {
            continue;
        }
        /* Above the new backing file, in the old chain: nothing changes */
        if (s->prefix_chain_bs) {
            ret = bdrv_is_allocated_above(bdrv_backing_chain_next(s->bs),
                                          s->prefix_chain_bs, false,
                                          offset, n, &n);
            if (ret < 0) {
                error_report("error while reading image metadata: %s",
                             strerror(-ret));
                goto out;
            }
            if (!ret) {
                continue;
            }
        }

        ret = img_rebase_read(s->old_backing, old_size, offset, &n, buf_old,
                              &old_is_zero);
        if (ret < 0) {
            error_report("error while reading from old backing file");
            goto out;
        }
        ret = img_rebase_read(s->new_backing, new_size, offset, &n, buf_new,
                              &new_is_zero);
        if (ret < 0) {
            error_report("error while reading from new backing file");
            goto out;
        }

        while (done < n) {
            int64_t pnum;

            if (img_rebase_sectors_differ(buf_old + done, buf_new + done,
                                          n - done, &pnum)) {
                if (old_is_zero) {
                    ret = blk_pwrite_zeroes(s->blk, offset + done, pnum, 0);
                } else {
                    ret = blk_pwrite(s->blk, offset + done, pnum,
                                     buf_old + done, 0);
                }
                if (ret < 0) {
                    error_report("Error while writing to COW image: %s",
                                 strerror(-ret));
                    goto out;
                }
            }
            done += pnum;
        }
        img_progress_print(local_progress, 100);
    }
    ok = true;

out:
    qemu_vfree(buf_old);
    qemu_vfree(buf_new);
    return ok;
}

/* Write the new name and format into the header, with QEMU's messages */
static bool img_rebase_change(ImgRebaseState *s, const char *out_basefmt)
{
    const char *name = s->out_baseimg ? s->out_baseimg : "(null)";
    int ret;

    if (s->out_baseimg && s->out_baseimg[0]) {
        ret = bdrv_change_backing_file(s->bs, s->out_baseimg, out_basefmt,
                                       true);
    } else {
        ret = bdrv_change_backing_file(s->bs, NULL, NULL, false);
    }
    if (ret == -ENOSPC) {
        error_report("Could not change the backing file to '%s': No "
                     "space left in the file header", name);
    } else if (ret == -EINVAL && s->out_baseimg && !out_basefmt) {
        error_report("Could not change the backing file to '%s': backing "
                     "format must be specified", name);
    } else if (ret < 0) {
        error_report("Could not change the backing file to '%s': %s",
                     name, strerror(-ret));
    }
    return ret >= 0;
}

int img_rebase(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgRebaseState s = { 0 };
    const char *fmt = NULL, *out_basefmt = NULL;
    const char *cache = "writeback", *src_cache = "writeback";
    bool unsafe = false, progress = false, quiet = false;
    bool image_opts = false, force_share = false;
    bool writethrough, src_writethrough;
    int flags, src_flags = 0;
    bool ok = false;
    int c, ret;

    while ((c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", long_options,
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
        case 'F':
            out_basefmt = optarg;
            break;
        case 'b':
            s.out_baseimg = optarg;
            break;
        case 'u':
            unsafe = true;
            break;
        case 'p':
            progress = true;
            break;
        case 't':
            cache = optarg;
            break;
        case 'T':
            src_cache = optarg;
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
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    if (!unsafe && !s.out_baseimg) {
        img_error_exit("Must specify backing file (-b) or use unsafe mode "
                       "(-u)");
    }
    s.filename = argv[optind];

    img_progress_init(progress, 2.0);
    img_progress_print(0, 100);

    /* Unsafe mode need not (and may not be able to) open the old chain */
    flags = BDRV_O_RDWR | (unsafe ? BDRV_O_NO_BACKING : 0);
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        goto out;
    }
    if (bdrv_parse_cache_mode(src_cache, &src_flags, &src_writethrough) < 0) {
        error_report("Invalid source cache option: %s", src_cache);
        goto out;
    }
    /* The backing files are only read: their write cache does not matter */

    s.blk = img_open(image_opts, s.filename, fmt, flags, writethrough, false,
                     false);
    if (!s.blk) {
        goto out;
    }
    s.bs = bdrv_skip_filters(blk_bs(s.blk));

    if (out_basefmt && !bdrv_find_format(out_basefmt)) {
        error_report("Invalid format name: '%s'", out_basefmt);
        goto out;
    }

    if (!unsafe) {
        BlockDriverState *old = bdrv_backing_chain_next(s.bs);
        Error *local_err = NULL;

        if (old) {
            s.old_backing = blk_new_with_bs(old, &local_err);
            if (!s.old_backing) {
                error_prepend(&local_err, "Could not reuse old backing file "
                              "'%s': ", bdrv_get_filename(old));
                error_report_err(local_err);
                goto out;
            }
        }
        if (s.out_baseimg[0] &&
            !img_rebase_open_new(&s, out_basefmt, src_flags, force_share)) {
            goto out;
        }
        /*
         * If this stops half-way, nothing is lost: the image reads the
         * same as before at every moment.
         */
        if (!img_rebase_copy(&s)) {
            goto out;
        }
        /*
         * The copied clusters must be in the image before its header
         * names the new backing file (QEMU 7.2 does not wait, and loses
         * them if writing back its metadata fails when it closes)
         */
        ret = blk_flush(s.blk);
        if (ret < 0) {
            error_report("Error while writing to COW image: %s",
                         strerror(-ret));
            goto out;
        }
    }

    /* Everything that differs is in the image now: switch the header */
    ok = img_rebase_change(&s, out_basefmt);
    img_progress_print(100, 0);

out:
    img_progress_end();
    blk_unref(s.old_backing);
    blk_unref(s.new_backing);
    blk_unref(s.blk);
    return ok ? 0 : 1;
}
