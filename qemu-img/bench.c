/*
 * qemu-img bench: time a stream of asynchronous reads or writes
 *
 * COUNT requests of SIZE bytes are kept DEPTH at a time in flight, at
 * offsets starting at OFFSET and advancing by STEP per request, modulo
 * the image size.  Writes may be interleaved with flushes every
 * FLUSH_INTERVAL requests, with the queue drained first unless
 * --no-drain.  The output is QEMU's: what is sent, then the run time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>
#include <sys/time.h>

#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qemu/aio.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

typedef struct ImgBench {
    BlockBackend *blk;
    uint64_t image_size;
    bool write;
    int bufsize;
    int step;
    int nrreq;              /* queue depth */
    int n;                  /* requests not completed yet */
    int flush_interval;
    bool drain_on_flush;
    uint8_t *buf;
    QEMUIOVector *qiov;     /* one per queue slot */
    int next_qiov;

    int in_flight;
    bool in_flush;          /* a draining flush is running */
    uint64_t offset;        /* of the next request */
} ImgBench;

static void img_bench_undrained_flush_cb(void *opaque, int ret)
{
    if (ret < 0) {
        error_report("Failed flush request: %s", strerror(-ret));
        exit(EXIT_FAILURE);
    }
}

/*
 * Completion of a request (or a draining flush), and the submission
 * engine: account for what finished, flush when it is time, then top
 * the queue up again.  Also called once with ret == 0 to start.
 */
static void img_bench_cb(void *opaque, int ret)
{
    ImgBench *b = opaque;
    BlockAIOCB *acb;

    if (ret < 0) {
        error_report("Failed request: %s", strerror(-ret));
        exit(EXIT_FAILURE);
    }

    if (b->in_flush) {
        /* The queue was drained and flushed: go on with requests */
        assert(b->in_flight == 0);
        b->in_flush = false;
    } else if (b->in_flight > 0) {
        int remaining = b->n - b->in_flight;

        b->n--;
        b->in_flight--;

        if (b->flush_interval && remaining % b->flush_interval == 0) {
            if (!b->in_flight || !b->drain_on_flush) {
                BlockCompletionFunc *cb;

                if (b->drain_on_flush) {
                    b->in_flush = true;
                    cb = img_bench_cb;
                } else {
                    cb = img_bench_undrained_flush_cb;
                }
                acb = blk_aio_flush(b->blk, cb, b);
                if (!acb) {
                    error_report("Failed to issue flush request");
                    exit(EXIT_FAILURE);
                }
            }
            if (b->drain_on_flush) {
                /* Wait for the queue to drain and the flush to finish */
                return;
            }
        }
    }

    while (b->n > b->in_flight && b->in_flight < b->nrreq) {
        int64_t offset = b->offset;
        QEMUIOVector *qiov = &b->qiov[b->next_qiov];

        /*
         * Count the request before issuing it: its completion may be
         * reported before blk_aio_*() returns.
         */
        b->next_qiov = (b->next_qiov + 1) % b->nrreq;
        b->in_flight++;
        b->offset += b->step;
        if (b->image_size) {
            b->offset %= b->image_size;
        }
        if (b->write) {
            acb = blk_aio_pwritev(b->blk, offset, qiov, 0, img_bench_cb, b);
        } else {
            acb = blk_aio_preadv(b->blk, offset, qiov, 0, img_bench_cb, b);
        }
        if (!acb) {
            error_report("Failed to issue request");
            exit(EXIT_FAILURE);
        }
    }
}

/* Parse a count-like argument (0..INT_MAX, any base) */
static bool img_bench_parse_int(const char *arg, int max, int *result)
{
    uint64_t res;

    if (qemu_strtou64(arg, NULL, 0, &res) < 0 || res > (uint64_t)max) {
        return false;
    }
    *result = res;
    return true;
}

int img_bench(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "flush-interval", required_argument, NULL,
          IMG_OPT_FLUSH_INTERVAL },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "pattern", required_argument, NULL, IMG_OPT_PATTERN },
        { "no-drain", no_argument, NULL, IMG_OPT_NO_DRAIN },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *filename;
    bool quiet = false, image_opts = false, is_write = false;
    bool force_share = false, drain_on_flush = true, writethrough = false;
    int count = 75000, depth = 64, pattern = 0, flush_interval = 0;
    int64_t offset = 0, bufsize = 4096, step = 0, image_size;
    BlockBackend *blk = NULL;
    ImgBench data = { 0 };
    struct timeval t1, t2;
    int flags = 0;
    int ret = 0;
    int i, c;

    while ((c = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU",
                            long_options, NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'c':
            if (!img_bench_parse_int(optarg, INT_MAX, &count)) {
                error_report("Invalid request count specified");
                return 1;
            }
            break;
        case 'd':
            /* Nothing would ever be sent with a depth of 0 */
            if (!img_bench_parse_int(optarg, INT_MAX, &depth) || !depth) {
                error_report("Invalid queue depth specified");
                return 1;
            }
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'n':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 'i':
            if (bdrv_parse_aio(optarg, &flags) < 0) {
                error_report("Invalid aio option: %s", optarg);
                return 1;
            }
            break;
        case 'o':
            offset = img_cvtnum("offset", optarg);
            if (offset < 0) {
                return 1;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            bufsize = img_cvtnum_full("buffer size", optarg, 0, INT_MAX);
            if (bufsize < 0) {
                return 1;
            }
            break;
        case 'S':
            step = img_cvtnum_full("step_size", optarg, 0, INT_MAX);
            if (step < 0) {
                return 1;
            }
            break;
        case 't':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache mode");
                return 1;
            }
            break;
        case 'w':
            flags |= BDRV_O_RDWR;
            is_write = true;
            break;
        case 'U':
            force_share = true;
            break;
        case IMG_OPT_PATTERN:
            if (!img_bench_parse_int(optarg, 0xff, &pattern)) {
                error_report("Invalid pattern byte specified");
                return 1;
            }
            break;
        case IMG_OPT_FLUSH_INTERVAL:
            if (!img_bench_parse_int(optarg, INT_MAX, &flush_interval)) {
                error_report("Invalid flush interval specified");
                return 1;
            }
            break;
        case IMG_OPT_NO_DRAIN:
            drain_on_flush = false;
            break;
        case IMG_OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    filename = img_one_filename(argc, argv);

    if (!is_write && flush_interval) {
        error_report("--flush-interval is only available in write tests");
        return 1;
    }
    if (flush_interval && flush_interval < depth) {
        error_report("Flush interval can't be smaller than depth");
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }
    image_size = blk_getlength(blk);
    if (image_size < 0) {
        ret = 1;
        goto out;
    }

    data = (ImgBench) {
        .blk            = blk,
        .image_size     = image_size,
        .bufsize        = bufsize,
        .step           = step ?: bufsize,
        .nrreq          = depth,
        .n              = count,
        .offset         = offset,
        .write          = is_write,
        .flush_interval = flush_interval,
        .drain_on_flush = drain_on_flush,
    };
    printf("Sending %d %s requests, %d bytes each, %d in parallel "
           "(starting at offset %" PRId64 ", step size %d)\n",
           data.n, data.write ? "write" : "read", data.bufsize, data.nrreq,
           offset, data.step);
    if (flush_interval) {
        printf("Sending flush every %d requests\n", flush_interval);
    }

    data.buf = blk_blockalign(blk, (size_t)data.nrreq * data.bufsize);
    memset(data.buf, pattern, (size_t)data.nrreq * data.bufsize);
    data.qiov = g_new(QEMUIOVector, data.nrreq);
    for (i = 0; i < data.nrreq; i++) {
        qemu_iovec_init_buf(&data.qiov[i],
                            data.buf + (size_t)i * data.bufsize,
                            data.bufsize);
    }

    gettimeofday(&t1, NULL);
    img_bench_cb(&data, 0);
    while (data.n > 0) {
        aio_poll(qemu_get_aio_context(), true);
    }
    gettimeofday(&t2, NULL);

    printf("Run completed in %3.3f seconds.\n",
           (t2.tv_sec - t1.tv_sec) +
           ((double)(t2.tv_usec - t1.tv_usec) / 1000000));

out:
    /* A last flush may still be running; requests hold their buffers */
    if (blk) {
        blk_drain(blk);
    }
    g_free(data.qiov);
    qemu_vfree(data.buf);
    blk_unref(blk);
    return ret;
}
