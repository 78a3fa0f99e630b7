/*
 * qemu-img convert: copy one or more images (concatenated) into a new or
 * existing image, possibly of another format, keeping it sparse
 *
 * The work is done in 512-byte sectors, as QEMU does: the target gets
 * the sum of the source sizes rounded up to whole sectors.  The copy
 * walks the source allocation (block status) and sorts every extent
 * into data to copy, zeroes, or (with a backing file for the target)
 * areas to leave unallocated.  Data is read into a buffer and written
 * out, except that runs of zero sectors at least -S bytes long are
 * skipped or written as zeroes, so the target stays sparse.  Up to -m
 * coroutines copy in parallel; unless -W is given, they write in order.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/buffer-compare.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qemu/option.h"
#include "qapi/error.h"
#include "qemu/aio.h"
#include "block/dirty-bitmap.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

#define IMG_CONVERT_MAX_COROUTINES 16
/* Default copy buffer (2 MiB) and its upper limit (16 MiB), in sectors */
#define IMG_CONVERT_BUF_SECTORS ((int64_t)(2 * MiB >> BDRV_SECTOR_BITS))
#define IMG_CONVERT_MAX_BUF_SECTORS ((int64_t)(16 * MiB >> BDRV_SECTOR_BITS))
/* Largest extent handled in one step, in sectors */
#define IMG_CONVERT_MAX_EXTENT (BDRV_REQUEST_MAX_BYTES >> BDRV_SECTOR_BITS)

/* -l snapshot.id=...,snapshot.name=... */
static QemuOptsList convert_snapshot_opts = {
    .name = "snapshot",
    QEMU_OPTS_LIST_INIT(convert_snapshot_opts),
    .desc = {
        { .name = "snapshot.id", .type = QEMU_OPT_STRING,
          .help = "Internal snapshot ID" },
        { .name = "snapshot.name", .type = QEMU_OPT_STRING,
          .help = "Internal snapshot name" },
        { /* end of list */ }
    },
};

typedef enum ImgConvertStatus {
    IMG_CONVERT_DATA,       /* copy (zero runs may still be skipped) */
    IMG_CONVERT_ZERO,       /* reads as zeroes */
    IMG_CONVERT_BACKING,    /* leave unallocated: the backing file has it */
} ImgConvertStatus;

typedef struct ImgConvertState {
    /* Sources, concatenated */
    BlockBackend **src;
    const char **src_name;
    int64_t *src_sectors;
    int64_t *src_bytes;
    int *src_alignment;          /* request alignment/cluster, sectors */
    int src_num;
    int64_t total_sectors;

    /* Target */
    BlockBackend *target;
    bool target_is_new;
    bool target_has_backing;
    int64_t target_backing_sectors;  /* negative: unknown */
    bool has_zero_init;
    bool compressed;
    int64_t cluster_sectors;
    int alignment;               /* preferred write alignment, sectors */

    /* Options */
    int min_sparse;              /* sectors; 0: write everything */
    int64_t buf_sectors;
    bool wr_in_order;
    bool salvage;
    bool quiet;
    int num_coroutines;
    uint64_t rate_limit;         /* bytes per second; 0: none */

    /* Progress of the copy (protected by @lock) */
    CoMutex lock;
    int64_t sector_num;          /* next sector to hand out */
    ImgConvertStatus status;     /* of the extent ending at ... */
    int64_t sector_next_status;  /* ... this sector */
    int64_t allocated_sectors;   /* sectors counted for -p */
    int64_t allocated_done;
    int64_t wr_offs;             /* in-order writing: next to write */
    Coroutine *co[IMG_CONVERT_MAX_COROUTINES];
    int64_t wait_sector_num[IMG_CONVERT_MAX_COROUTINES];
    int running_coroutines;
    int64_t rate_start_ns;
    uint64_t rate_bytes;
    int ret;                     /* -EINPROGRESS while copying */
} ImgConvertState;

/* The source holding @sector_num, and the sector where that source starts */
static int img_convert_source(ImgConvertState *s, int64_t sector_num,
                              int64_t *src_start)
{
    int i = 0;

    *src_start = 0;
    while (sector_num - *src_start >= s->src_sectors[i]) {
        *src_start += s->src_sectors[i];
        i++;
        assert(i < s->src_num);
    }
    return i;
}

/*
 * Decide what to do with the sectors starting at @sector_num: sets
 * s->status and returns how many sectors share it (or -errno).
 * Called with s->lock held; may yield.
 */
static int coroutine_mixed_fn img_convert_extent(ImgConvertState *s,
                                                 int64_t sector_num)
{
    bool past_backing_end = false;
    int64_t src_start;
    int64_t n;
    int cur;

    assert(s->total_sectors > sector_num);
    cur = img_convert_source(s, sector_num, &src_start);
    n = MIN(s->total_sectors - sector_num, IMG_CONVERT_MAX_EXTENT);

    /* Zeroes beyond the end of the target's backing file are different */
    if (s->target_backing_sectors >= 0) {
        if (sector_num >= s->target_backing_sectors) {
            past_backing_end = true;
        } else if (sector_num + n > s->target_backing_sectors) {
            n = s->target_backing_sectors - sector_num;
        }
    }

    if (s->sector_next_status <= sector_num) {
        BlockDriverState *src_bs = blk_bs(s->src[cur]);
        BlockDriverState *base = NULL;
        uint64_t offset = (sector_num - src_start) * BDRV_SECTOR_SIZE;
        int64_t count;
        int64_t tail;
        int ret;

        if (s->target_has_backing) {
            /* Only what differs from the source's backing file */
            base = bdrv_backing_chain_next(src_bs);
        }
        for (;;) {
            ret = bdrv_block_status_above(src_bs, base, offset,
                                          n * BDRV_SECTOR_SIZE, &count,
                                          NULL, NULL);
            if (ret >= 0) {
                break;
            }
            if (!s->salvage) {
                error_report("error while reading block status at offset %"
                             PRIu64 ": %s", offset, strerror(-ret));
                return ret;
            }
            if (n > 1) {
                /* Narrow the query down before giving up on a sector */
                n = DIV_ROUND_UP(n, 4);
                continue;
            }
            if (!s->quiet) {
                warn_report("error while reading block status at offset %"
                            PRIu64 ": %s", offset, strerror(-ret));
            }
            ret = BDRV_BLOCK_DATA;
            count = BDRV_SECTOR_SIZE;
            break;
        }
        n = DIV_ROUND_UP(count, BDRV_SECTOR_SIZE);

        /* End extents on the source's alignment to avoid partial reads */
        tail = (sector_num - src_start + n) % s->src_alignment[cur];
        if (n > tail) {
            n -= tail;
        }

        if (ret & BDRV_BLOCK_ZERO) {
            s->status = past_backing_end ? IMG_CONVERT_BACKING
                                         : IMG_CONVERT_ZERO;
        } else if (ret & BDRV_BLOCK_DATA) {
            s->status = IMG_CONVERT_DATA;
        } else {
            s->status = s->target_has_backing ? IMG_CONVERT_BACKING
                                              : IMG_CONVERT_DATA;
        }
        s->sector_next_status = sector_num + n;
    }

    n = MIN(n, s->sector_next_status - sector_num);
    if (s->status == IMG_CONVERT_DATA) {
        n = MIN(n, s->buf_sectors);
    }

    /* Compressed clusters are written whole */
    if (s->compressed) {
        if (n < s->cluster_sectors) {
            n = MIN(s->cluster_sectors, s->total_sectors - sector_num);
            s->status = IMG_CONVERT_DATA;
        } else {
            n = QEMU_ALIGN_DOWN(n, s->cluster_sectors);
        }
    }
    return n;
}

/*
 * Read @nb_sectors from @sector_num (possibly spanning sources) into
 * @buf.  The part of a last partial sector beyond a source's end reads
 * as zeroes.  With --salvage, unreadable sectors read as zeroes too.
 */
static int coroutine_fn img_convert_read(ImgConvertState *s,
                                         int64_t sector_num,
                                         int64_t nb_sectors, uint8_t *buf)
{
    uint64_t single_until = 0;

    assert(nb_sectors <= s->buf_sectors);
    while (nb_sectors > 0) {
        int64_t src_start, n, bytes, avail;
        uint64_t offset;
        QEMUIOVector qiov;
        int cur, ret;

        cur = img_convert_source(s, sector_num, &src_start);
        offset = (sector_num - src_start) * BDRV_SECTOR_SIZE;
        n = MIN(nb_sectors, s->src_sectors[cur] - (sector_num - src_start));
        if (single_until > offset) {
            n = 1;
        }
        bytes = n * BDRV_SECTOR_SIZE;
        avail = MIN(bytes, s->src_bytes[cur] - (int64_t)offset);

        qemu_iovec_init_buf(&qiov, buf, avail);
        ret = blk_co_preadv(s->src[cur], offset, avail, &qiov, 0);
        if (ret < 0) {
            if (!s->salvage) {
                return ret;
            }
            if (n > 1) {
                /* Retry this range sector by sector */
                single_until = offset + bytes;
                continue;
            }
            if (!s->quiet) {
                warn_report("error while reading offset %" PRIu64 ": %s",
                            offset, strerror(-ret));
            }
            avail = 0;
        }
        memset(buf + avail, 0, bytes - avail);

        sector_num += n;
        nb_sectors -= n;
        buf += bytes;
    }
    return 0;
}

/*
 * Length of the run of sectors at the start of @buf (@n sectors long,
 * starting at target sector @sector_num) that are all zero or all data;
 * returns whether it is data.  When the run does not reach the end of
 * the buffer, its end is moved to an @alignment boundary: a data run is
 * extended, a zero run shortened (or, if that would leave nothing of it,
 * counted as data), so that writes stay aligned.
 */
static bool img_sector_run(const uint8_t *buf, int64_t n, int64_t *pnum,
                           int64_t sector_num, int alignment)
{
    bool zero;
    int64_t i, tail;

    if (n <= 0) {
        *pnum = 0;
        return false;
    }
    zero = buffer_is_zero(buf, BDRV_SECTOR_SIZE);
    for (i = 1; i < n; i++) {
        if (buffer_is_zero(buf + i * BDRV_SECTOR_SIZE,
                           BDRV_SECTOR_SIZE) != zero) {
            break;
        }
    }
    if (i < n) {
        tail = (sector_num + i) & (alignment - 1);
        if (tail) {
            if (zero && i <= tail) {
                zero = false;
            }
            if (zero) {
                i -= tail;
            } else {
                i = MIN(i + alignment - tail, n);
            }
        }
    }
    *pnum = i;
    return !zero;
}

/*
 * Like img_sector_run(), but a data run swallows the zero runs shorter
 * than @min sectors that are followed by more data: small holes are not
 * worth splitting a write for.
 */
static bool img_sector_run_min(const uint8_t *buf, int64_t n, int64_t *pnum,
                               int64_t min, int64_t sector_num, int alignment)
{
    int64_t used, checked, run;

    min = MIN(min, n);
    if (!img_sector_run(buf, n, pnum, sector_num, alignment)) {
        return false;
    }
    used = checked = *pnum;
    n -= *pnum;
    while (n > 0) {
        bool data = img_sector_run(buf + checked * BDRV_SECTOR_SIZE, n, &run,
                                   sector_num + checked, alignment);

        n -= run;
        checked += run;
        if (data) {
            used = checked;
        } else if (run >= min) {
            break;
        }
    }
    *pnum = used;
    return true;
}

/* -r: wait until the bytes written so far fit the rate limit */
static void coroutine_fn img_convert_throttle(ImgConvertState *s,
                                              int64_t bytes)
{
    int64_t due, now;

    if (!s->rate_limit) {
        return;
    }
    s->rate_bytes += bytes;
    due = s->rate_start_ns +
          (int64_t)((double)s->rate_bytes * 1e9 / s->rate_limit);
    now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (due > now) {
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, due - now);
    }
}

/* Write @nb_sectors of @buf (status @status) at @sector_num */
static int coroutine_fn img_convert_write(ImgConvertState *s,
                                          int64_t sector_num,
                                          int64_t nb_sectors, uint8_t *buf,
                                          ImgConvertStatus status)
{
    while (nb_sectors > 0) {
        int64_t n = nb_sectors;
        int64_t offset = sector_num * BDRV_SECTOR_SIZE;
        bool write_data = false;
        int ret;

        switch (status) {
        case IMG_CONVERT_BACKING:
            /* Leave it unallocated so the backing file shows through */
            assert(s->target_has_backing);
            break;
        case IMG_CONVERT_DATA:
            if (!s->min_sparse) {
                write_data = true;
            } else if (s->compressed) {
                write_data = !buffer_is_zero(buf, n * BDRV_SECTOR_SIZE);
            } else {
                write_data = img_sector_run_min(buf, n, &n, s->min_sparse,
                                                sector_num, s->alignment);
            }
            if (write_data) {
                QEMUIOVector qiov;

                img_convert_throttle(s, n * BDRV_SECTOR_SIZE);
                qemu_iovec_init_buf(&qiov, buf, n * BDRV_SECTOR_SIZE);
                ret = blk_co_pwritev(s->target, offset, n * BDRV_SECTOR_SIZE,
                                     &qiov, s->compressed ?
                                     BDRV_REQ_WRITE_COMPRESSED : 0);
                if (ret < 0) {
                    return ret;
                }
                break;
            }
            /* Nothing but zeroes: handled as such */
            /* fall through */
        case IMG_CONVERT_ZERO:
            if (s->has_zero_init) {
                assert(!s->target_has_backing);
                break;
            }
            img_convert_throttle(s, 0);
            ret = blk_co_pwrite_zeroes(s->target, offset,
                                       n * BDRV_SECTOR_SIZE,
                                       BDRV_REQ_MAY_UNMAP);
            if (ret < 0) {
                return ret;
            }
            break;
        }
        sector_num += n;
        nb_sectors -= n;
        buf += n * BDRV_SECTOR_SIZE;
    }
    return 0;
}

/* One copying coroutine: takes extents in turn until the end */
static void coroutine_fn img_convert_co_copy(void *opaque)
{
    ImgConvertState *s = opaque;
    uint8_t *buf;
    int index = -1;
    int i, ret;

    for (i = 0; i < s->num_coroutines; i++) {
        if (s->co[i] == qemu_coroutine_self()) {
            index = i;
            break;
        }
    }
    assert(index >= 0);
    s->running_coroutines++;
    buf = blk_blockalign(s->target, s->buf_sectors * BDRV_SECTOR_SIZE);

    for (;;) {
        ImgConvertStatus status;
        int64_t sector_num, n;

        qemu_co_mutex_lock(&s->lock);
        if (s->ret != -EINPROGRESS || s->sector_num >= s->total_sectors) {
            qemu_co_mutex_unlock(&s->lock);
            break;
        }
        n = img_convert_extent(s, s->sector_num);
        if (n < 0) {
            qemu_co_mutex_unlock(&s->lock);
            s->ret = n;
            break;
        }
        sector_num = s->sector_num;
        status = s->status;
        if (!s->min_sparse && status == IMG_CONVERT_ZERO) {
            /* Zeroes are written out as data from the buffer */
            n = MIN(n, s->buf_sectors);
        }
        /* Let the other coroutines go on beyond this extent already */
        s->sector_num += n;
        qemu_co_mutex_unlock(&s->lock);

        if (status == IMG_CONVERT_DATA ||
            (!s->min_sparse && status == IMG_CONVERT_ZERO)) {
            s->allocated_done += n;
            img_progress_print(100.0 * s->allocated_done /
                               s->allocated_sectors, 0);
        }

        if (status == IMG_CONVERT_DATA) {
            ret = img_convert_read(s, sector_num, n, buf);
            if (ret < 0) {
                error_report("error while reading at byte %lld: %s",
                             (long long)(sector_num * BDRV_SECTOR_SIZE),
                             strerror(-ret));
                s->ret = ret;
            }
        } else if (!s->min_sparse && status == IMG_CONVERT_ZERO) {
            status = IMG_CONVERT_DATA;
            memset(buf, 0, n * BDRV_SECTOR_SIZE);
        }

        if (s->wr_in_order) {
            /* Wait for the writes of all earlier extents */
            while (s->wr_offs != sector_num && s->ret == -EINPROGRESS) {
                s->wait_sector_num[index] = sector_num;
                qemu_coroutine_yield();
            }
            s->wait_sector_num[index] = -1;
        }

        if (s->ret == -EINPROGRESS) {
            ret = img_convert_write(s, sector_num, n, buf, status);
            if (ret < 0) {
                error_report("error while writing at byte %lld: %s",
                             (long long)(sector_num * BDRV_SECTOR_SIZE),
                             strerror(-ret));
                s->ret = ret;
            }
        }

        if (s->wr_in_order) {
            /* Wake the coroutine holding the next extent, if it waits */
            s->wr_offs = sector_num + n;
            for (i = 0; i < s->num_coroutines; i++) {
                if (s->co[i] && s->wait_sector_num[i] == s->wr_offs) {
                    qemu_coroutine_enter(s->co[i]);
                    break;
                }
            }
        }
    }

    qemu_vfree(buf);
    s->co[index] = NULL;
    s->running_coroutines--;
    if (!s->running_coroutines && s->ret == -EINPROGRESS) {
        s->ret = 0;
    }
    if (!s->running_coroutines) {
        aio_notify(qemu_get_aio_context());
    }
}

/* Count the sectors to copy (for -p), then copy with the coroutines */
static int img_convert_copy(ImgConvertState *s)
{
    int64_t sector_num = 0;
    int i;

    if (s->compressed) {
        if (s->cluster_sectors <= 0 || s->cluster_sectors > s->buf_sectors) {
            error_report("invalid cluster size");
            return -EINVAL;
        }
        s->buf_sectors = s->cluster_sectors;
    }

    qemu_co_mutex_init(&s->lock);
    while (sector_num < s->total_sectors) {
        int64_t n = img_convert_extent(s, sector_num);

        if (n < 0) {
            return n;
        }
        if (s->status == IMG_CONVERT_DATA ||
            (!s->min_sparse && s->status == IMG_CONVERT_ZERO)) {
            s->allocated_sectors += n;
        }
        sector_num += n;
    }

    s->sector_next_status = 0;
    s->ret = -EINPROGRESS;
    s->rate_start_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    for (i = 0; i < s->num_coroutines; i++) {
        s->co[i] = qemu_coroutine_create(img_convert_co_copy, s);
        s->wait_sector_num[i] = -1;
        qemu_coroutine_enter(s->co[i]);
    }
    while (s->running_coroutines) {
        aio_poll(qemu_get_aio_context(), true);
    }

    if (s->ret == 0 && s->compressed) {
        /* An empty compressed write ends the compressed stream */
        int ret = blk_pwrite_compressed(s->target, 0, 0, NULL);

        if (ret < 0) {
            return ret;
        }
    }
    return s->ret;
}

typedef struct ImgConvertOptions {
    const char *fmt;
    const char *out_fmt;
    const char *out_baseimg;
    const char *backing_fmt;
    const char *cache;
    const char *src_cache;
    const char *snapshot_name;
    char *options;
    bool skip_create;
    bool progress;
    bool image_opts;
    bool tgt_image_opts;
    bool force_share;
    bool copy_range;
    bool explicit_min_sparse;
    int src_flags;              /* from -T */
    bool src_writethrough;
    bool bitmaps;               /* --bitmaps */
    bool skip_broken_bitmaps;
} ImgConvertOptions;

/*
 * The target's creation options: the format's and the protocol's, with
 * -o, the source size and the backing file applied.  On success *@pdrv is
 * the format and *@popts holds the options to create the image with.
 */
static int img_convert_create_opts(ImgConvertState *s, ImgConvertOptions *o,
                                   const char *out_filename,
                                   BlockDriver **pdrv,
                                   QemuOptsList **pcreate_opts,
                                   QemuOpts **popts)
{
    BlockDriver *drv, *proto_drv;
    Error *local_err = NULL;

    drv = bdrv_find_format(o->out_fmt);
    if (!drv) {
        error_report("Unknown file format '%s'", o->out_fmt);
        return -1;
    }
    proto_drv = bdrv_find_protocol(out_filename, true, &local_err);
    if (!proto_drv) {
        error_report_err(local_err);
        return -1;
    }
    if (!bdrv_driver_create_opts(drv)) {
        error_report("Format driver '%s' does not support image creation",
                     bdrv_driver_name(drv));
        return -1;
    }
    if (!bdrv_driver_create_opts(proto_drv)) {
        error_report("Protocol driver '%s' does not support image creation",
                     bdrv_driver_name(proto_drv));
        return -1;
    }
    *pdrv = drv;
    *pcreate_opts = qemu_opts_append(*pcreate_opts,
                                     bdrv_driver_create_opts(drv));
    *pcreate_opts = qemu_opts_append(*pcreate_opts,
                                     bdrv_driver_create_opts(proto_drv));
    *popts = qemu_opts_create(*pcreate_opts, NULL, 0, &error_abort);

    if (o->options && !qemu_opts_do_parse(*popts, o->options, NULL,
                                          &local_err)) {
        error_report_err(local_err);
        return -1;
    }
    qemu_opt_set_number(*popts, BLOCK_OPT_SIZE,
                        s->total_sectors * BDRV_SECTOR_SIZE, &error_abort);
    if (o->out_baseimg &&
        !qemu_opt_set(*popts, BLOCK_OPT_BACKING_FILE, o->out_baseimg,
                      NULL)) {
        error_report("Backing file not supported for file format '%s'",
                     o->out_fmt);
        return -1;
    }
    if (o->backing_fmt &&
        !qemu_opt_set(*popts, BLOCK_OPT_BACKING_FMT, o->backing_fmt, NULL)) {
        error_report("Backing file format not supported for file format "
                     "'%s'", o->out_fmt);
        return -1;
    }
    return 0;
}

/* Checks on the target's creation options that need the parsed list */
static int img_convert_check_target(ImgConvertState *s, BlockDriver *drv,
                                    QemuOpts *opts)
{
    const char *prealloc;

    if (s->has_zero_init && s->target_has_backing) {
        error_report("Cannot use --target-is-zero when the destination "
                     "image has a backing file");
        return -1;
    }
    if (s->src_num > 1 && s->target_has_backing) {
        error_report("Having a backing file for the target makes no sense "
                     "when concatenating multiple input images");
        return -1;
    }
    if (s->target_has_backing && opts &&
        !qemu_opt_get(opts, BLOCK_OPT_BACKING_FMT)) {
        error_report("Use of backing file requires explicit backing format");
        return -1;
    }
    if (s->compressed) {
        if (drv && !bdrv_driver_supports_compressed_writes(drv)) {
            error_report("Compression not supported for this file format");
            return -1;
        }
        if (qemu_opt_get_bool(opts, BLOCK_OPT_ENCRYPT, false) ||
            qemu_opt_get(opts, BLOCK_OPT_ENCRYPT_FORMAT)) {
            error_report("Compression and encryption not supported at the "
                         "same time");
            return -1;
        }
        prealloc = qemu_opt_get(opts, BLOCK_OPT_PREALLOC);
        if (prealloc && strcmp(prealloc, "off")) {
            error_report("Compression and preallocation not supported at "
                         "the same time");
            return -1;
        }
    }
    return 0;
}

/* Open the target and derive the copy parameters from it */
static int img_convert_open_target(ImgConvertState *s, ImgConvertOptions *o,
                                   const char *out_filename)
{
    BlockDriverState *out_bs;
    BlockDriverInfo bdi;
    bool writethrough;
    int flags;

    flags = s->min_sparse ? (BDRV_O_RDWR | BDRV_O_UNMAP) : BDRV_O_RDWR;
    if (bdrv_parse_cache_mode(o->cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", o->cache);
        return -1;
    }
    if (flags & BDRV_O_NOCACHE) {
        /* O_DIRECT may need the image extended to whole sectors */
        flags |= BDRV_O_RESIZE;
    }
    if (o->skip_create) {
        s->target = img_open(o->tgt_image_opts, out_filename, o->out_fmt,
                             flags, writethrough, s->quiet, false);
    } else {
        s->target = img_open_file(out_filename, NULL, o->out_fmt, flags,
                                  writethrough, s->quiet, false);
    }
    if (!s->target) {
        return -1;
    }
    out_bs = blk_bs(s->target);

    if (o->bitmaps && !bdrv_supports_persistent_dirty_bitmap(out_bs)) {
        error_report("Format driver '%s' does not support bitmaps",
                     bdrv_get_format_name(out_bs));
        return -1;
    }
    if (s->compressed && !bdrv_supports_compressed_writes(out_bs)) {
        error_report("Compression not supported for this file format");
        return -1;
    }

    /* A larger buffer when the target prefers larger requests */
    s->buf_sectors = MIN(IMG_CONVERT_MAX_BUF_SECTORS,
                         MAX(s->buf_sectors,
                             MAX(bdrv_get_opt_transfer(out_bs) >>
                                 BDRV_SECTOR_BITS,
                                 bdrv_get_pdiscard_alignment(out_bs) >>
                                 BDRV_SECTOR_BITS)));
    /* Align writes to avoid read-modify-write cycles in the target */
    s->alignment = MAX(pow2floor(s->min_sparse),
                       DIV_ROUND_UP(bdrv_get_request_alignment(out_bs),
                                    BDRV_SECTOR_SIZE));
    assert(is_power_of_2(s->alignment));

    if (o->skip_create) {
        int64_t sectors = blk_nb_sectors(s->target);

        if (sectors < 0) {
            error_report("unable to get output image length: %s",
                         strerror(-sectors));
            return -1;
        }
        if (sectors < s->total_sectors) {
            error_report("output file is smaller than input file");
            return -1;
        }
    }

    s->target_backing_sectors = -1;
    if (s->target_has_backing && s->target_is_new) {
        BlockDriverState *backing = bdrv_backing_chain_next(out_bs);

        /* Only an optimisation: an unknown length is fine */
        if (backing) {
            s->target_backing_sectors = bdrv_nb_sectors(backing);
        }
    }

    if (bdrv_get_info(out_bs, &bdi) < 0) {
        if (s->compressed) {
            error_report("could not get block driver info");
            return -1;
        }
    } else {
        s->cluster_sectors = bdi.cluster_size / BDRV_SECTOR_SIZE;
    }

    if (!s->has_zero_init && s->target_is_new && s->min_sparse &&
        !s->target_has_backing) {
        s->has_zero_init = bdrv_has_zero_init(out_bs);
    }
    return 0;
}

/* Parse the command line into @s and @o; -1 after reporting an error */
static int img_convert_parse_args(int argc, char **argv, ImgConvertState *s,
                                  ImgConvertOptions *o)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "target-image-opts", no_argument, NULL,
          IMG_OPT_TARGET_IMAGE_OPTS },
        { "salvage", no_argument, NULL, IMG_OPT_SALVAGE },
        { "target-is-zero", no_argument, NULL, IMG_OPT_TARGET_IS_ZERO },
        { "bitmaps", no_argument, NULL, IMG_OPT_BITMAPS },
        { "skip-broken-bitmaps", no_argument, NULL,
          IMG_OPT_SKIP_BROKEN_BITMAPS },
        { NULL, 0, NULL, 0 }
    };
    int c;

    while ((c = getopt_long(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:",
                            long_options, NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'f':
            o->fmt = optarg;
            break;
        case 'O':
            o->out_fmt = optarg;
            break;
        case 'B':
            o->out_baseimg = optarg;
            break;
        case 'C':
            o->copy_range = true;
            break;
        case 'c':
            s->compressed = true;
            break;
        case 'F':
            o->backing_fmt = optarg;
            break;
        case 'o':
            if (!img_accumulate_options(&o->options, optarg)) {
                return -1;
            }
            break;
        case 'l':
            o->snapshot_name = optarg;
            break;
        case 'S': {
            int64_t sval = img_cvtnum("buffer size for sparse output",
                                      optarg);

            if (sval < 0) {
                return -1;
            }
            if (!QEMU_IS_ALIGNED(sval, BDRV_SECTOR_SIZE) ||
                (sval >> BDRV_SECTOR_BITS) > IMG_CONVERT_MAX_BUF_SECTORS) {
                error_report("Invalid buffer size for sparse output "
                             "specified. Valid sizes are multiples of %llu "
                             "up to %" PRId64 ". Select 0 to disable sparse "
                             "detection (fully allocates output).",
                             BDRV_SECTOR_SIZE,
                             IMG_CONVERT_MAX_BUF_SECTORS << BDRV_SECTOR_BITS);
                return -1;
            }
            s->min_sparse = sval >> BDRV_SECTOR_BITS;
            o->explicit_min_sparse = true;
            break;
        }
        case 'p':
            o->progress = true;
            break;
        case 't':
            o->cache = optarg;
            break;
        case 'T':
            o->src_cache = optarg;
            break;
        case 'q':
            s->quiet = true;
            break;
        case 'n':
            o->skip_create = true;
            break;
        case 'm': {
            int64_t num;

            if (qemu_strtoi64(optarg, NULL, 0, &num) < 0 || num < 1 ||
                num > IMG_CONVERT_MAX_COROUTINES) {
                error_report("Invalid number of coroutines. Allowed number "
                             "of coroutines is between 1 and %d",
                             IMG_CONVERT_MAX_COROUTINES);
                return -1;
            }
            s->num_coroutines = num;
            break;
        }
        case 'W':
            s->wr_in_order = false;
            break;
        case 'U':
            o->force_share = true;
            break;
        case 'r': {
            int64_t rate = img_cvtnum("rate limit", optarg);

            if (rate < 0) {
                return -1;
            }
            s->rate_limit = rate;
            break;
        }
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case IMG_OPT_IMAGE_OPTS:
            o->image_opts = true;
            break;
        case IMG_OPT_SALVAGE:
            s->salvage = true;
            break;
        case IMG_OPT_TARGET_IMAGE_OPTS:
            o->tgt_image_opts = true;
            break;
        case IMG_OPT_TARGET_IS_ZERO:
            /* The target is known to read as zeroes */
            s->has_zero_init = true;
            break;
        case IMG_OPT_BITMAPS:
            o->bitmaps = true;
            break;
        case IMG_OPT_SKIP_BROKEN_BITMAPS:
            o->skip_broken_bitmaps = true;
            break;
        }
    }
    return 0;
}

/* Reject options that contradict each other; default the format to raw */
static int img_convert_check_args(ImgConvertState *s, ImgConvertOptions *o)
{
    if (!o->out_fmt && !o->tgt_image_opts) {
        o->out_fmt = "raw";
    }
    if (o->skip_broken_bitmaps && !o->bitmaps) {
        error_report("Use of --skip-broken-bitmaps requires --bitmaps");
        return -1;
    }
    if (s->compressed && o->copy_range) {
        error_report("Cannot enable copy offloading when -c is used");
        return -1;
    }
    if (o->explicit_min_sparse && o->copy_range) {
        error_report("Cannot enable copy offloading when -S is used");
        return -1;
    }
    if (o->copy_range && s->salvage) {
        error_report("Cannot use copy offloading in salvaging mode");
        return -1;
    }
    if (o->tgt_image_opts && !o->skip_create) {
        error_report("--target-image-opts requires use of -n flag");
        return -1;
    }
    if (o->skip_create && o->options) {
        error_report("-o has no effect when skipping image creation");
        return -1;
    }
    if (s->has_zero_init && !o->skip_create) {
        error_report("--target-is-zero requires use of -n flag");
        return -1;
    }
    return 0;
}

/* Open the sources and add up their sizes; learn their alignments */
static int img_convert_open_sources(ImgConvertState *s,
                                    ImgConvertOptions *o, char **names)
{
    int i;

    s->src = g_new0(BlockBackend *, s->src_num);
    s->src_name = g_new0(const char *, s->src_num);
    s->src_sectors = g_new0(int64_t, s->src_num);
    s->src_bytes = g_new0(int64_t, s->src_num);
    s->src_alignment = g_new0(int, s->src_num);
    for (i = 0; i < s->src_num; i++) {
        BlockDriverState *src_bs;
        BlockDriverInfo bdi;

        s->src_name[i] = names[i];
        s->src[i] = img_open(o->image_opts, s->src_name[i], o->fmt,
                             o->src_flags, o->src_writethrough, s->quiet,
                             o->force_share);
        if (!s->src[i]) {
            return -1;
        }
        s->src_bytes[i] = blk_getlength(s->src[i]);
        if (s->src_bytes[i] < 0) {
            error_report("Could not get size of %s: %s", s->src_name[i],
                         strerror(-s->src_bytes[i]));
            return -1;
        }
        s->src_sectors[i] = DIV_ROUND_UP(s->src_bytes[i], BDRV_SECTOR_SIZE);
        src_bs = blk_bs(s->src[i]);
        s->src_alignment[i] =
            DIV_ROUND_UP(bdrv_get_request_alignment(src_bs),
                         (int)BDRV_SECTOR_SIZE);
        if (!bdrv_get_info(src_bs, &bdi)) {
            s->src_alignment[i] = MAX(s->src_alignment[i],
                                      bdi.cluster_size /
                                      (int)BDRV_SECTOR_SIZE);
        }
        s->total_sectors += s->src_sectors[i];
    }

    if (o->snapshot_name) {
        Error *err = NULL;
        int ret;

        /* -l snapshot.id=ID,snapshot.name=NAME, or an ID or name */
        if (strstart(o->snapshot_name, "snapshot.", NULL)) {
            QemuOpts *opts = qemu_opts_parse_noisily(&convert_snapshot_opts,
                                                     o->snapshot_name,
                                                     false);
            if (!opts) {
                error_report("Failed in parsing snapshot param '%s'",
                             o->snapshot_name);
                return -1;
            }
            ret = bdrv_snapshot_load_tmp(blk_bs(s->src[0]),
                                         qemu_opt_get(opts, "snapshot.id"),
                                         qemu_opt_get(opts, "snapshot.name"),
                                         &err);
            qemu_opts_del(opts);
        } else {
            if (s->src_num > 1) {
                error_report("No support for concatenating multiple "
                             "snapshot");
                return -1;
            }
            ret = bdrv_snapshot_load_tmp_by_id_or_name(blk_bs(s->src[0]),
                                                       o->snapshot_name,
                                                       &err);
        }
        if (ret < 0) {
            error_prepend(&err, "Failed to load snapshot: ");
            error_report_err(err);
            return -1;
        }
    }
    return 0;
}

/*
 * Unless -n: build the target's creation options and create it.  Either
 * way, check the target options that depend on each other.  *@pdrv and
 * *@popts stay NULL with -n.
 */
static int img_convert_make_target(ImgConvertState *s, ImgConvertOptions *o,
                                   const char *out_filename,
                                   BlockDriver **pdrv,
                                   QemuOptsList **pcreate_opts,
                                   QemuOpts **popts)
{
    Error *local_err = NULL;
    int ret;

    if (!o->skip_create) {
        ret = img_convert_create_opts(s, o, out_filename, pdrv,
                                      pcreate_opts, popts);
        if (ret < 0) {
            return ret;
        }
        /* -o backing_file=... counts as -B */
        if (qemu_opt_get(*popts, BLOCK_OPT_BACKING_FILE)) {
            o->out_baseimg = qemu_opt_get(*popts, BLOCK_OPT_BACKING_FILE);
        }
    }
    s->target_has_backing = o->out_baseimg != NULL;
    ret = img_convert_check_target(s, *pdrv, *popts);
    if (ret < 0) {
        return ret;
    }

    if (!o->skip_create) {
        ret = bdrv_create(*pdrv, out_filename, *popts, &local_err);
        if (ret < 0) {
            error_prepend(&local_err, "%s: error while converting %s: ",
                          out_filename, o->out_fmt);
            error_report_err(local_err);
            return ret;
        }
    }
    s->target_is_new = !o->skip_create;
    return 0;
}

/*
 * --bitmaps: the source must hold bitmaps it can hand over; inconsistent
 * ones stop the conversion unless --skip-broken-bitmaps
 */
static int img_convert_check_bitmaps(ImgConvertState *s,
                                     const ImgConvertOptions *o)
{
    BlockDriverState *src;
    BdrvDirtyBitmap *bm = NULL;

    if (s->src_num > 1) {
        error_report("Copying bitmaps only possible with single source");
        return -1;
    }
    src = blk_bs(s->src[0]);
    if (!bdrv_supports_persistent_dirty_bitmap(src)) {
        error_report("Source lacks bitmap support");
        return -1;
    }
    while ((bm = bdrv_dirty_bitmap_next(src, bm))) {
        if (bdrv_dirty_bitmap_get_persistence(bm) &&
            !o->skip_broken_bitmaps && bdrv_dirty_bitmap_inconsistent(bm)) {
            error_report("Cannot copy inconsistent bitmap '%s'",
                         bdrv_dirty_bitmap_name(bm));
            error_printf("Try --skip-broken-bitmaps, or use 'qemu-img "
                         "bitmap --remove' to delete it\n");
            return -1;
        }
    }
    return 0;
}

/*
 * After the data: a persistent copy of every persistent bitmap of the
 * source, with its granularity and enabled state.  QEMU walks them newest
 * first (which its store turns back into the source's order), so the
 * first one to fail is the same.
 */
static int img_convert_copy_bitmaps(ImgConvertState *s,
                                    const ImgConvertOptions *o)
{
    BlockDriverState *src = blk_bs(s->src[0]);
    BlockDriverState *dst = blk_bs(s->target);
    BdrvDirtyBitmap *bm = NULL;

    while ((bm = bdrv_dirty_bitmap_prev(src, bm))) {
        const char *name = bdrv_dirty_bitmap_name(bm);
        uint32_t granularity = bdrv_dirty_bitmap_granularity(bm);
        BdrvDirtyBitmap *copy;
        Error *err = NULL;

        if (!bdrv_dirty_bitmap_get_persistence(bm)) {
            continue;
        }
        if (o->skip_broken_bitmaps && bdrv_dirty_bitmap_inconsistent(bm)) {
            warn_report("Skipping inconsistent bitmap '%s'", name);
            continue;
        }
        copy = NULL;
        if (bdrv_can_store_new_dirty_bitmap(dst, name, granularity, &err)) {
            copy = bdrv_create_dirty_bitmap(dst, granularity, name, &err);
        }
        if (!copy) {
            error_prepend(&err, "Failed to create bitmap %s: ", name);
            error_report_err(err);
            return -1;
        }
        bdrv_dirty_bitmap_set_persistence(copy, true);
        if (!bdrv_dirty_bitmap_enabled(bm)) {
            bdrv_disable_dirty_bitmap(copy);
        }
        if (!bdrv_merge_dirty_bitmap(copy, bm, &err)) {
            error_prepend(&err, "Failed to populate bitmap %s: ", name);
            error_report_err(err);
            bdrv_release_dirty_bitmap(copy);
            return -1;
        }
    }
    return 0;
}

/* Drop the images and what was allocated per source */
static void img_convert_close(ImgConvertState *s)
{
    int i;

    blk_unref(s->target);
    for (i = 0; s->src && i < s->src_num; i++) {
        blk_unref(s->src[i]);
    }
    g_free(s->src);
    g_free(s->src_name);
    g_free(s->src_sectors);
    g_free(s->src_bytes);
    g_free(s->src_alignment);
}

int img_convert(int argc, char **argv)
{
    ImgConvertState s = {
        .min_sparse = 8,    /* 4 KiB */
        .buf_sectors = IMG_CONVERT_BUF_SECTORS,
        .wr_in_order = true,
        .num_coroutines = 8,
    };
    ImgConvertOptions o = {
        .cache = "unsafe",
        .src_cache = "writeback",
    };
    QemuOptsList *create_opts = NULL;
    QemuOpts *opts = NULL;
    BlockDriver *drv = NULL;
    const char *out_filename;
    int ret = -EINVAL;

    if (img_convert_parse_args(argc, argv, &s, &o) < 0 ||
        img_convert_check_args(&s, &o) < 0) {
        goto fail_getopt;
    }

    s.src_num = argc - optind - 1;
    out_filename = s.src_num >= 1 ? argv[argc - 1] : NULL;

    if (o.options && img_has_help_option(o.options)) {
        if (o.out_fmt) {
            ret = img_print_option_help(out_filename, o.out_fmt);
        } else {
            error_report("Option help requires a format be specified");
        }
        goto fail_getopt;
    }
    if (s.src_num < 1) {
        error_report("Must specify image file name");
        goto fail_getopt;
    }
    if (bdrv_parse_cache_mode(o.src_cache, &o.src_flags,
                              &o.src_writethrough) < 0) {
        error_report("Invalid source cache option: %s", o.src_cache);
        goto fail_getopt;
    }

    /* From here on, the progress display is set up */
    if (s.quiet) {
        o.progress = false;
    }
    img_progress_init(o.progress, 1.0);
    img_progress_print(0, 100);

    ret = img_convert_open_sources(&s, &o, &argv[optind]);
    if (ret == 0 && o.bitmaps) {
        ret = img_convert_check_bitmaps(&s, &o);
    }
    if (ret == 0) {
        ret = img_convert_make_target(&s, &o, out_filename, &drv,
                                      &create_opts, &opts);
    }
    if (ret == 0) {
        ret = img_convert_open_target(&s, &o, out_filename);
    }
    if (ret == 0) {
        ret = img_convert_copy(&s);
    }
    if (ret == 0 && o.bitmaps) {
        ret = img_convert_copy_bitmaps(&s, &o);
    }

    if (!ret) {
        img_progress_print(100, 0);
    }
    img_progress_end();
    qemu_opts_del(opts);
    qemu_opts_free(create_opts);
    img_convert_close(&s);
fail_getopt:
    g_free(o.options);
    return !!ret;
}
