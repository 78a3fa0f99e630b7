/*
 * blkverify: check a block driver against a trusted raw copy
 *
 * Every request goes to two children: "raw", a flat image opened at
 * protocol level (the reference), and "test", the image under test.  Reads
 * from both are compared; the first difference is reported with its sector
 * and, by default, the process exits, so a corruption is caught by the
 * first read that sees it.
 *
 * Options (see docs/blkverify.txt):
 *   raw.*, test.*        the two children (x-raw, x-image: filenames)
 *   mode=abort|report    exit at the first mismatch (default), or report
 *                        it, hand the caller the raw data and go on
 *   log=PATH             one JSON object per line per differing run
 *   verify-writes=on     read every write back from the test child
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qemu/cutils.h"
#include "qemu/option.h"
#include "qemu/iov.h"
#include "qemu/buffer-compare.h"
#include "qemu/buffer-pool.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"

#define BLKVERIFY_OPT_RAW           "x-raw"
#define BLKVERIFY_OPT_IMAGE         "x-image"
#define BLKVERIFY_OPT_MODE          "mode"
#define BLKVERIFY_OPT_LOG           "log"
#define BLKVERIFY_OPT_VERIFY_WRITES "verify-writes"

/* Differing runs described in detail per request on stderr */
#define BLKVERIFY_MAX_RUNS_SHOWN 16
/* Bytes of each side shown per differing run */
#define BLKVERIFY_HEX_BYTES 16
/* Free private buffers kept for the next requests */
#define BLKVERIFY_POOL_CACHED (32 * 1024 * 1024)

typedef struct BlkverifyInFlight BlkverifyInFlight;
typedef QLIST_HEAD(, BlkverifyInFlight) BlkverifyInFlightList;

typedef struct BlkverifyStats {
    uint64_t requests;      /* requests verified */
    uint64_t bytes;         /* bytes compared */
    uint64_t mismatches;    /* requests with a difference */
} BlkverifyStats;

typedef struct BDRVBlkverifyState {
    BdrvChild *test_file;       /* the image under test; bs->file is raw */
    bool report_mode;           /* mode=report: go on after a mismatch */
    bool verify_writes;
    FILE *log;
    char *log_path;
    BlkverifyStats stats;
    /* The private buffers reads and read-backs are compared in */
    BufferPool *pool;
    /*
     * Requests in flight, readers and modifiers apart: a read only has
     * to look for overlapping modifiers, which are rare, so the common
     * case of many concurrent reads scans nothing.
     */
    BlkverifyInFlightList reading;
    BlkverifyInFlightList modifying;
} BDRVBlkverifyState;

typedef enum BlkverifyOp {
    BLKVERIFY_READ,
    BLKVERIFY_WRITE,
    BLKVERIFY_WRITE_ZEROES,
    BLKVERIFY_DISCARD,
    BLKVERIFY_FLUSH,
} BlkverifyOp;

static const char *const blkverify_op_names[] = {
    [BLKVERIFY_READ] = "read",
    [BLKVERIFY_WRITE] = "write",
    [BLKVERIFY_WRITE_ZEROES] = "write-zeroes",
    [BLKVERIFY_DISCARD] = "discard",
    [BLKVERIFY_FLUSH] = "flush",
};

/* One request as it is sent to one child */
typedef struct BlkverifyChildReq {
    BdrvChild *child;
    QEMUIOVector *qiov;
    Coroutine *waiter;      /* woken when done, if it had to wait */
    bool done;
    int ret;
} BlkverifyChildReq;

/*
 * A request in flight.  Two overlapping requests of which one modifies
 * data must not run concurrently: the children could order them
 * differently and a later read would see a difference nobody caused.
 */
struct BlkverifyInFlight {
    int64_t offset;
    int64_t bytes;
    bool modifies;
    CoQueue waiters;
    QLIST_ENTRY(BlkverifyInFlight) next;
};

/* A request to the blkverify node */
typedef struct BlkverifyRequest {
    BlockDriverState *bs;
    BlkverifyOp op;
    int64_t offset;
    int64_t bytes;
    BdrvRequestFlags flags;
} BlkverifyRequest;

static QemuOptsList blkverify_runtime_opts = {
    .name = "blkverify",
    QEMU_OPTS_LIST_INIT(blkverify_runtime_opts),
    .desc = {
        {
            .name = BLKVERIFY_OPT_RAW,
            .type = QEMU_OPT_STRING,
            .help = "[internal use only, will be removed]",
        },
        {
            .name = BLKVERIFY_OPT_IMAGE,
            .type = QEMU_OPT_STRING,
            .help = "[internal use only, will be removed]",
        },
        {
            .name = BLKVERIFY_OPT_MODE,
            .type = QEMU_OPT_STRING,
            .help = "What to do on a mismatch: abort (default) or report",
        },
        {
            .name = BLKVERIFY_OPT_LOG,
            .type = QEMU_OPT_STRING,
            .help = "File to append one JSON line per differing run to",
        },
        {
            .name = BLKVERIFY_OPT_VERIFY_WRITES,
            .type = QEMU_OPT_BOOL,
            .help = "Read each write back from the test image",
        },
        { /* end of list */ }
    },
};

/* Reporting */

/*
 * Print the first line of a mismatch report in the fixed format
 * "blkverify: OP sector_num=S nb_sectors=N MESSAGE".
 */
static void G_GNUC_PRINTF(2, 3)
blkverify_report(BlkverifyRequest *r, const char *fmt, ...)
{
    int64_t first = r->offset >> BDRV_SECTOR_BITS;
    int64_t end = DIV_ROUND_UP(r->offset + r->bytes, BDRV_SECTOR_SIZE);
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "blkverify: %s sector_num=%" PRId64 " nb_sectors=%"
            PRId64 " ", blkverify_op_names[r->op], first, end - first);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

/* "blkverify: raw  OFFSET:  hex...  text" for up to 16 bytes */
static void blkverify_dump_line(const char *side, int64_t abs_offset,
                                const uint8_t *buf, size_t len)
{
    g_autoptr(GString) line = g_string_new(NULL);

    g_string_printf(line, "blkverify: %-4s ", side);
    qemu_hexdump_line(line, abs_offset, buf, len,
                      QEMU_HEXDUMP_PAD | QEMU_HEXDUMP_PRINTABLE);
    fputs(line->str, stderr);
}

/* Up to BLKVERIFY_HEX_BYTES of @buf as a string of hex digits */
static char *blkverify_hex(const uint8_t *buf, size_t len)
{
    GString *s = g_string_new(NULL);
    size_t i;

    for (i = 0; i < MIN(len, BLKVERIFY_HEX_BYTES); i++) {
        g_string_append_printf(s, "%02x", buf[i]);
    }
    return g_string_free(s, false);
}

/* The log entry describing request @r; the caller adds the details */
static QDict *blkverify_log_entry(BlkverifyRequest *r)
{
    QDict *entry = qdict_new();

    qdict_put_str(entry, "op", blkverify_op_names[r->op]);
    qdict_put_int(entry, "offset", r->offset);
    qdict_put_int(entry, "bytes", r->bytes);
    return entry;
}

/* Append @entry to the log as one line of compact JSON */
static void blkverify_log_write(BDRVBlkverifyState *s, QDict *entry)
{
    g_autoptr(GString) json = qobject_to_json(QOBJECT(entry));

    fprintf(s->log, "%s\n", json->str);
    fflush(s->log);
    qobject_unref(entry);
}

/* One JSON line per differing run of bytes */
static void blkverify_log_run(BDRVBlkverifyState *s, BlkverifyRequest *r,
                              int64_t pos, int64_t len, const uint8_t *raw,
                              const uint8_t *test)
{
    g_autofree char *raw_hex = NULL;
    g_autofree char *test_hex = NULL;
    QDict *entry;

    if (!s->log) {
        return;
    }
    raw_hex = blkverify_hex(raw + pos, len);
    test_hex = blkverify_hex(test + pos, len);
    entry = blkverify_log_entry(r);
    qdict_put_int(entry, "mismatch_offset", r->offset + pos);
    qdict_put_int(entry, "mismatch_bytes", len);
    qdict_put_str(entry, "raw_hex", raw_hex);
    qdict_put_str(entry, "test_hex", test_hex);
    blkverify_log_write(s, entry);
}

static void blkverify_log_ret(BDRVBlkverifyState *s, BlkverifyRequest *r,
                              int test_ret, int raw_ret)
{
    QDict *entry;

    if (!s->log) {
        return;
    }
    entry = blkverify_log_entry(r);
    qdict_put_int(entry, "test_ret", test_ret);
    qdict_put_int(entry, "raw_ret", raw_ret);
    blkverify_log_write(s, entry);
}

/* In abort mode, a mismatch ends the process (blkverify's purpose) */
static void blkverify_mismatch_done(BDRVBlkverifyState *s)
{
    s->stats.mismatches++;
    if (!s->report_mode) {
        if (s->log) {
            fclose(s->log);
        }
        /*
         * _exit: the process stops in the middle of requests whose
         * buffers are still live; exit() would run leak checkers over
         * them.  Flush what was printed so far by hand.
         */
        fflush(stdout);
        fflush(stderr);
        _exit(1);
    }
}

/*
 * Compare @bytes of @raw and @test for request @r.  Reports every
 * differing run (the first line in the fixed format, then detail lines,
 * and the log), and returns true if they differ.
 */
static bool blkverify_compare(BDRVBlkverifyState *s, BlkverifyRequest *r,
                              const uint8_t *raw, const uint8_t *test,
                              int64_t bytes)
{
    int64_t pos = 0, runs = 0;

    s->stats.requests++;
    s->stats.bytes += bytes;
    while (pos < bytes) {
        int64_t start, end;

        start = pos + buffer_find_diff(raw + pos, test + pos, bytes - pos);
        if (start == bytes) {
            break;
        }
        end = start + buffer_diff_run(raw + start, test + start,
                                      bytes - start);
        pos = end;

        if (runs == 0) {
            blkverify_report(r, "contents mismatch in sector %" PRId64,
                             (r->offset + start) >> BDRV_SECTOR_BITS);
            fprintf(stderr, "blkverify: first differing byte at offset %"
                    PRId64 " (0x%" PRIx64 "), request offset %" PRId64
                    " length %" PRId64 "\n", r->offset + start,
                    r->offset + start, r->offset, r->bytes);
        } else if (runs < BLKVERIFY_MAX_RUNS_SHOWN) {
            fprintf(stderr, "blkverify: next differing byte at offset %"
                    PRId64 " (0x%" PRIx64 ")\n", r->offset + start,
                    r->offset + start);
        }
        if (runs < BLKVERIFY_MAX_RUNS_SHOWN) {
            size_t len = MIN(BLKVERIFY_HEX_BYTES, bytes - start);

            blkverify_dump_line("raw", r->offset + start, raw + start, len);
            blkverify_dump_line("test", r->offset + start, test + start,
                                len);
        }
        blkverify_log_run(s, r, start, end - start, raw, test);
        runs++;
        if (!s->report_mode) {
            /* The first run is all an aborting report shows */
            break;
        }
    }
    if (runs > BLKVERIFY_MAX_RUNS_SHOWN) {
        fprintf(stderr, "blkverify: ... %" PRId64 " more differing runs\n",
                runs - BLKVERIFY_MAX_RUNS_SHOWN);
    }
    if (runs) {
        blkverify_mismatch_done(s);
    }
    return runs > 0;
}

static void blkverify_ret_mismatch(BDRVBlkverifyState *s,
                                   BlkverifyRequest *r, int test_ret,
                                   int raw_ret)
{
    blkverify_report(r, "return value mismatch %d != %d", test_ret, raw_ret);
    fprintf(stderr, "blkverify: test: %s, raw: %s\n",
            test_ret < 0 ? strerror(-test_ret) : "success",
            raw_ret < 0 ? strerror(-raw_ret) : "success");
    blkverify_log_ret(s, r, test_ret, raw_ret);
    blkverify_mismatch_done(s);
}

/* Opening */

/* Filename form: blkverify:RAW:TEST */
static void blkverify_parse_filename(const char *filename, QDict *options,
                                     Error **errp)
{
    const char *c;
    g_autofree char *raw_path = NULL;

    if (!strstart(filename, "blkverify:", &filename)) {
        error_setg(errp, "File name string must start with 'blkverify:'");
        return;
    }
    c = strchr(filename, ':');
    if (c == NULL) {
        error_setg(errp, "blkverify requires raw copy and original image "
                   "path");
        return;
    }
    raw_path = g_strndup(filename, c - filename);
    qdict_put_str(options, BLKVERIFY_OPT_RAW, raw_path);
    qdict_put_str(options, BLKVERIFY_OPT_IMAGE, c + 1);
}

/*
 * The options the behaviour depends on (the children aside), as read for
 * open or reopen.  log_given says whether log= was there; log_path is
 * then its value (NULL if empty) and log, once opened, the new log.
 */
typedef struct BlkverifyOptions {
    bool report_mode;
    bool verify_writes;
    bool log_given;
    FILE *log;
    char *log_path;
} BlkverifyOptions;

/*
 * Read mode, verify-writes and log from @opts into @o.  A key that is
 * absent leaves the value @o has (the defaults on open, the current
 * values on reopen).
 */
static bool blkverify_read_options(QemuOpts *opts, BlkverifyOptions *o,
                                   Error **errp)
{
    const char *mode = qemu_opt_get(opts, BLKVERIFY_OPT_MODE);
    const char *log = qemu_opt_get(opts, BLKVERIFY_OPT_LOG);

    if (!mode) {
        /* keep */
    } else if (!strcmp(mode, "abort")) {
        o->report_mode = false;
    } else if (!strcmp(mode, "report")) {
        o->report_mode = true;
    } else {
        error_setg(errp, "Parameter 'mode' expects 'abort' or 'report', "
                   "not '%s'", mode);
        return false;
    }
    o->verify_writes = qemu_opt_get_bool(opts, BLKVERIFY_OPT_VERIFY_WRITES,
                                         o->verify_writes);
    o->log_given = log != NULL;
    if (log && log[0]) {
        o->log_path = g_strdup(log);
    }
    return true;
}

/*
 * Open the log that @o names, if any: the last step before the options
 * are applied, so that a failed open or reopen creates no file.
 */
static bool blkverify_open_log(BlkverifyOptions *o, Error **errp)
{
    if (o->log_path) {
        o->log = fopen(o->log_path, "a");
        if (!o->log) {
            error_setg_errno(errp, errno, "Could not open blkverify log "
                             "'%s'", o->log_path);
            return false;
        }
    }
    return true;
}

/* Make @o the options of @s; cannot fail */
static void blkverify_apply_options(BDRVBlkverifyState *s,
                                    BlkverifyOptions *o)
{
    s->report_mode = o->report_mode;
    s->verify_writes = o->verify_writes;
    if (o->log_given) {
        if (s->log) {
            fclose(s->log);
        }
        g_free(s->log_path);
        s->log = g_steal_pointer(&o->log);
        s->log_path = g_steal_pointer(&o->log_path);
    }
}

/* Undo what blkverify_read_options() opened */
static void blkverify_discard_options(BlkverifyOptions *o)
{
    if (o->log) {
        fclose(o->log);
        o->log = NULL;
    }
    g_free(o->log_path);
    o->log_path = NULL;
}

/*
 * Open: blkverify:RAW:TEST or raw.* / test.* (x-raw / x-image),
 * mode=abort|report, log=PATH, verify-writes=on|off (docs/blkverify.txt).
 * On failure nothing is left behind: the log is opened last, the
 * children are dropped by the core.
 */
static int blkverify_open(BlockDriverState *bs, QDict *options, int flags,
                          Error **errp)
{
    BDRVBlkverifyState *s = bs->opaque;
    BlkverifyOptions o = { 0 };
    QemuOpts *opts;
    int64_t raw_len, test_len;
    int ret = -EINVAL;

    QLIST_INIT(&s->reading);
    QLIST_INIT(&s->modifying);
    opts = qemu_opts_create(&blkverify_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp) ||
        !blkverify_read_options(opts, &o, errp)) {
        goto fail;
    }

    /* The reference is a flat file: no format probing */
    bs->file = bdrv_open_child(qemu_opt_get(opts, BLKVERIFY_OPT_RAW),
                               options, "raw", bs,
                               BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY,
                               BDRV_O_PROTOCOL, false, errp);
    if (!bs->file) {
        goto fail;
    }

    /* The image under test is probed unless a driver is given */
    s->test_file = bdrv_open_child(qemu_opt_get(opts, BLKVERIFY_OPT_IMAGE),
                                   options, "test", bs, BDRV_CHILD_DATA,
                                   BDRV_O_NO_PROBE_WARNING, false, errp);
    if (!s->test_file) {
        goto fail;
    }

    raw_len = bdrv_getlength(bs->file->bs);
    test_len = bdrv_getlength(s->test_file->bs);
    if (raw_len < 0 || test_len < 0) {
        error_setg_errno(errp, -(int)(raw_len < 0 ? raw_len : test_len),
                         "Could not get image lengths");
        goto fail;
    }
    if (raw_len != test_len) {
        error_setg(errp, "blkverify: raw image '%s' is %" PRId64 " bytes "
                   "but test image '%s' is %" PRId64 " bytes; they must "
                   "have the same length", bs->file->bs->filename, raw_len,
                   s->test_file->bs->filename, test_len);
        goto fail;
    }

    /*
     * A flag goes down only if both children honour it; otherwise the
     * core emulates it above us (FUA as a flush of both, which is what
     * the children would do for themselves anyway).
     */
    bs->supported_write_flags = BDRV_REQ_FUA &
                                bs->file->bs->supported_write_flags &
                                s->test_file->bs->supported_write_flags;
    bs->supported_zero_flags = (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP) &
                               bs->file->bs->supported_zero_flags &
                               s->test_file->bs->supported_zero_flags;
    if (!blkverify_open_log(&o, errp)) {
        goto fail;
    }
    blkverify_apply_options(s, &o);
    s->pool = buffer_pool_new(qemu_real_host_page_size(),
                              BLKVERIFY_POOL_CACHED);
    ret = 0;
fail:
    qemu_opts_del(opts);
    blkverify_discard_options(&o);
    return ret;
}

/*
 * Reopen changes mode, log and verify-writes (a key that is not given
 * keeps its value; log= with an empty value closes the log).  The
 * children are not replaced: x-raw / x-image are refused here, raw.* /
 * test.* by the core; their read-only and cache flags follow ours.
 */
static int blkverify_reopen_prepare(BDRVReopenState *state, Error **errp)
{
    BDRVBlkverifyState *s = state->bs->opaque;
    BlkverifyOptions *o = g_new0(BlkverifyOptions, 1);
    static const char *const fixed[] = {
        BLKVERIFY_OPT_RAW, BLKVERIFY_OPT_IMAGE,
    };
    QemuOpts *opts;
    size_t i;
    int ret = -EINVAL;

    o->report_mode = s->report_mode;
    o->verify_writes = s->verify_writes;
    opts = qemu_opts_create(&blkverify_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, state->options, errp)) {
        goto out;
    }
    for (i = 0; i < ARRAY_SIZE(fixed); i++) {
        if (qemu_opt_get(opts, fixed[i])) {
            error_setg(errp, "Cannot change the option '%s'", fixed[i]);
            goto out;
        }
    }
    if (!blkverify_read_options(opts, o, errp) ||
        !blkverify_open_log(o, errp)) {
        goto out;
    }
    state->opaque = g_steal_pointer(&o);
    ret = 0;
out:
    qemu_opts_del(opts);
    if (o) {
        blkverify_discard_options(o);
        g_free(o);
    }
    return ret;
}

static void blkverify_reopen_commit(BDRVReopenState *state)
{
    BlkverifyOptions *o = state->opaque;

    blkverify_apply_options(state->bs->opaque, o);
    blkverify_discard_options(o);
    g_free(o);
    state->opaque = NULL;
}

static void blkverify_reopen_abort(BDRVReopenState *state)
{
    BlkverifyOptions *o = state->opaque;

    blkverify_discard_options(o);
    g_free(o);
    state->opaque = NULL;
}

static void blkverify_close(BlockDriverState *bs)
{
    BDRVBlkverifyState *s = bs->opaque;

    bdrv_unref_child(bs, s->test_file);
    s->test_file = NULL;
    if (s->log) {
        fclose(s->log);
        s->log = NULL;
    }
    g_free(s->log_path);
    s->log_path = NULL;
    buffer_pool_free(s->pool);
    s->pool = NULL;
}

static int64_t blkverify_getlength(BlockDriverState *bs)
{
    BDRVBlkverifyState *s = bs->opaque;

    return bdrv_getlength(s->test_file->bs);
}

/* Running one request on both children */

/* Issue one child's side of a request */
static int coroutine_fn blkverify_do_child(BlkverifyRequest *r,
                                           BlkverifyChildReq *c)
{
    switch (r->op) {
    case BLKVERIFY_READ:
        return bdrv_co_preadv(c->child, r->offset, r->bytes, c->qiov,
                              r->flags);
    case BLKVERIFY_WRITE:
        return bdrv_co_pwritev(c->child, r->offset, r->bytes, c->qiov,
                               r->flags);
    case BLKVERIFY_WRITE_ZEROES:
        return bdrv_co_pwrite_zeroes(c->child, r->offset, r->bytes,
                                     r->flags);
    case BLKVERIFY_DISCARD:
        /*
         * A discard leaves contents undefined, which cannot be checked;
         * both sides zero the range instead, unmapping where they can.
         */
        return bdrv_co_pwrite_zeroes(c->child, r->offset, r->bytes,
                                     BDRV_REQ_MAY_UNMAP);
    case BLKVERIFY_FLUSH:
        return bdrv_co_flush(c->child->bs);
    }
    g_assert_not_reached();
}

typedef struct BlkverifyRawCo {
    BlkverifyRequest *r;
    BlkverifyChildReq *c;
} BlkverifyRawCo;

static void coroutine_fn blkverify_child_entry(void *opaque)
{
    BlkverifyRawCo *rc = opaque;
    BlkverifyChildReq *c = rc->c;

    c->ret = blkverify_do_child(rc->r, c);
    c->done = true;
    if (c->waiter) {
        aio_co_wake(c->waiter);
    }
}

static bool blkverify_conflicts(BlkverifyInFlight *a, BlkverifyInFlight *b)
{
    if (!a->modifies && !b->modifies) {
        return false;
    }
    /* bytes == 0 (flush) orders against everything */
    return a->bytes == 0 || b->bytes == 0 ||
           (a->offset < b->offset + b->bytes &&
            b->offset < a->offset + a->bytes);
}

/*
 * Wait on the first request in @list that conflicts with @self; false if
 * there is none
 */
static bool coroutine_fn
blkverify_wait_conflict(BlkverifyInFlightList *list,
                        BlkverifyInFlight *self)
{
    BlkverifyInFlight *other;

    QLIST_FOREACH(other, list, next) {
        if (blkverify_conflicts(self, other)) {
            qemu_co_queue_wait(&other->waiters);
            return true;
        }
    }
    return false;
}

static void coroutine_fn blkverify_serialise_begin(BDRVBlkverifyState *s,
                                                   BlkverifyRequest *r,
                                                   BlkverifyInFlight *self)
{
    *self = (BlkverifyInFlight) {
        .offset = r->offset,
        .bytes = r->bytes,
        .modifies = r->op != BLKVERIFY_READ,
    };
    qemu_co_queue_init(&self->waiters);
    /* Reads never conflict with reads */
    while (blkverify_wait_conflict(&s->modifying, self) ||
           (self->modifies && blkverify_wait_conflict(&s->reading, self))) {
        /* woken: look again from the start */
    }
    if (self->modifies) {
        QLIST_INSERT_HEAD(&s->modifying, self, next);
    } else {
        QLIST_INSERT_HEAD(&s->reading, self, next);
    }
}

static void blkverify_serialise_end(BlkverifyInFlight *self)
{
    QLIST_REMOVE(self, next);
    qemu_co_queue_restart_all(&self->waiters);
}

/*
 * Send @r to both children concurrently (raw in a second coroutine, test
 * in this one), wait for both and compare the return codes.  Returns the
 * raw child's result (they are equal unless a mismatch was reported in
 * report mode, when the trusted side wins).
 */
static int coroutine_fn blkverify_co_both(BlkverifyRequest *r,
                                          QEMUIOVector *raw_qiov,
                                          QEMUIOVector *test_qiov,
                                          int *test_ret)
{
    BDRVBlkverifyState *s = r->bs->opaque;
    BlkverifyChildReq raw = { .child = r->bs->file, .qiov = raw_qiov };
    BlkverifyChildReq test = { .child = s->test_file, .qiov = test_qiov };
    BlkverifyRawCo rc = { .r = r, .c = &raw };

    qemu_coroutine_enter(qemu_coroutine_create(blkverify_child_entry, &rc));
    test.ret = blkverify_do_child(r, &test);
    if (!raw.done) {
        raw.waiter = qemu_coroutine_self();
        while (!raw.done) {
            qemu_coroutine_yield();
        }
    }
    if (test.ret != raw.ret) {
        blkverify_ret_mismatch(s, r, test.ret, raw.ret);
    }
    if (test_ret) {
        *test_ret = test.ret;
    }
    return raw.ret;
}

/*
 * verify-writes: read back what the test child stored for @r and compare
 * it with @expected (NULL: zeroes).  A difference is reported as a
 * mismatch of the write, naming the guilty request.
 */
static void coroutine_fn blkverify_verify_write(BlkverifyRequest *r,
                                                QEMUIOVector *expected)
{
    BDRVBlkverifyState *s = r->bs->opaque;
    uint8_t *want, *got;
    QEMUIOVector got_qiov;
    int ret;

    want = buffer_pool_get(s->pool, r->bytes);
    got = buffer_pool_get(s->pool, r->bytes);
    if (!want || !got) {
        buffer_pool_put(s->pool, want, r->bytes);
        buffer_pool_put(s->pool, got, r->bytes);
        return;
    }
    if (expected) {
        qemu_iovec_to_buf(expected, 0, want, r->bytes);
    } else {
        memset(want, 0, r->bytes);
    }
    qemu_iovec_init_buf(&got_qiov, got, r->bytes);
    ret = bdrv_co_preadv(s->test_file, r->offset, r->bytes, &got_qiov, 0);
    if (ret < 0) {
        blkverify_report(r, "read-back failed: %s", strerror(-ret));
        blkverify_mismatch_done(s);
    } else {
        blkverify_compare(s, r, want, got, r->bytes);
    }
    buffer_pool_put(s->pool, want, r->bytes);
    buffer_pool_put(s->pool, got, r->bytes);
}

/* Run a request that modifies data, verifying it if asked to */
static int coroutine_fn blkverify_co_modify(BlkverifyRequest *r,
                                            QEMUIOVector *qiov)
{
    BDRVBlkverifyState *s = r->bs->opaque;
    BlkverifyInFlight self;
    int ret;

    blkverify_serialise_begin(s, r, &self);
    ret = blkverify_co_both(r, qiov, qiov, NULL);
    if (ret == 0 && s->verify_writes && r->op != BLKVERIFY_FLUSH) {
        blkverify_verify_write(r, qiov);
    }
    blkverify_serialise_end(&self);
    return ret;
}

/* I/O callbacks */

/*
 * The caller's buffer held different data than the test child returned.
 * That is a mismatch, unless the caller changed its buffer while the read
 * was running (it may reuse one buffer for concurrent requests; the data
 * is then undefined, but no corruption).  Re-read the raw copy into a
 * private buffer (the request is still serialised against writes, so it
 * sees what the first read saw), compare that, report a difference and
 * hand the caller the trusted data.
 */
static int coroutine_fn blkverify_read_recheck(BlkverifyRequest *r,
                                               QEMUIOVector *qiov,
                                               const uint8_t *test_buf)
{
    BDRVBlkverifyState *s = r->bs->opaque;
    QEMUIOVector raw_qiov;
    uint8_t *raw_buf;
    int ret;

    raw_buf = buffer_pool_get(s->pool, r->bytes);
    if (!raw_buf) {
        return -ENOMEM;
    }
    qemu_iovec_init_buf(&raw_qiov, raw_buf, r->bytes);
    ret = bdrv_co_preadv(r->bs->file, r->offset, r->bytes, &raw_qiov,
                         r->flags);
    if (ret == 0) {
        blkverify_compare(s, r, raw_buf, test_buf, r->bytes);
        qemu_iovec_from_buf(qiov, 0, raw_buf, r->bytes);
    }
    buffer_pool_put(s->pool, raw_buf, r->bytes);
    return ret;
}

/*
 * The raw copy is read straight into the caller's vector and the test
 * image into a private buffer from the pool; the two are then compared
 * in place, so a read costs the two reads and one compare, no copy.
 */
static int coroutine_fn blkverify_co_preadv(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov,
                                            BdrvRequestFlags flags)
{
    BDRVBlkverifyState *s = bs->opaque;
    BlkverifyRequest r = {
        .bs = bs, .op = BLKVERIFY_READ, .offset = offset, .bytes = bytes,
        .flags = flags,
    };
    QEMUIOVector test_qiov;
    BlkverifyInFlight self;
    uint8_t *test_buf;
    int ret, test_ret;

    test_buf = buffer_pool_get(s->pool, bytes);
    if (!test_buf) {
        return -ENOMEM;
    }
    qemu_iovec_init_buf(&test_qiov, test_buf, bytes);

    blkverify_serialise_begin(s, &r, &self);
    ret = blkverify_co_both(&r, qiov, &test_qiov, &test_ret);
    /* After a reported failure of the test side there is no data */
    if (ret == 0 && test_ret == 0) {
        if (qemu_iovec_find_diff_buf(qiov, test_buf, bytes) == (size_t)bytes) {
            s->stats.requests++;
            s->stats.bytes += bytes;
        } else {
            ret = blkverify_read_recheck(&r, qiov, test_buf);
        }
    }
    blkverify_serialise_end(&self);
    buffer_pool_put(s->pool, test_buf, bytes);
    return ret;
}

static int coroutine_fn blkverify_co_pwritev(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov,
                                             BdrvRequestFlags flags)
{
    BlkverifyRequest r = {
        .bs = bs, .op = BLKVERIFY_WRITE, .offset = offset, .bytes = bytes,
        .flags = flags,
    };

    return blkverify_co_modify(&r, qiov);
}

static int coroutine_fn blkverify_co_pwrite_zeroes(BlockDriverState *bs,
                                                   int64_t offset,
                                                   int64_t bytes,
                                                   BdrvRequestFlags flags)
{
    BlkverifyRequest r = {
        .bs = bs, .op = BLKVERIFY_WRITE_ZEROES, .offset = offset,
        .bytes = bytes, .flags = flags,
    };

    return blkverify_co_modify(&r, NULL);
}

static int coroutine_fn blkverify_co_pdiscard(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes)
{
    BlkverifyRequest r = {
        .bs = bs, .op = BLKVERIFY_DISCARD, .offset = offset, .bytes = bytes,
    };

    return blkverify_co_modify(&r, NULL);
}

static int coroutine_fn blkverify_co_flush(BlockDriverState *bs)
{
    BlkverifyRequest r = { .bs = bs, .op = BLKVERIFY_FLUSH };

    return blkverify_co_modify(&r, NULL);
}

/* Metadata */

static void blkverify_refresh_filename(BlockDriverState *bs)
{
    BDRVBlkverifyState *s = bs->opaque;
    const char *raw = bs->file->bs->exact_filename;
    const char *test = s->test_file->bs->exact_filename;

    /* Only the plain two-filename form can be written as a filename */
    if (s->report_mode || s->verify_writes || s->log) {
        return;
    }
    if (raw[0] && test[0] &&
        snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                 "blkverify:%s:%s", raw, test) >=
        (int)sizeof(bs->exact_filename)) {
        bs->exact_filename[0] = '\0';
    }
}

/* Statistics for qemu-io "info" */
static void blkverify_dump_info(BlockDriverState *bs, GString *out)
{
    BDRVBlkverifyState *s = bs->opaque;

    g_string_append_printf(out, "blkverify: mode %s%s\n",
                           s->report_mode ? "report" : "abort",
                           s->verify_writes ? ", verify-writes on" : "");
    g_string_append_printf(out, "blkverify: requests verified: %" PRIu64
                           "\n", s->stats.requests);
    g_string_append_printf(out, "blkverify: bytes compared: %" PRIu64 "\n",
                           s->stats.bytes);
    g_string_append_printf(out, "blkverify: mismatches: %" PRIu64 "\n",
                           s->stats.mismatches);
}

static BlockDriver bdrv_blkverify = {
    .format_name            = "blkverify",
    .protocol_name          = "blkverify",
    .instance_size          = sizeof(BDRVBlkverifyState),
    .is_filter              = true,

    .bdrv_parse_filename    = blkverify_parse_filename,
    .bdrv_open              = blkverify_open,
    .bdrv_close             = blkverify_close,
    .bdrv_reopen_prepare    = blkverify_reopen_prepare,
    .bdrv_reopen_commit     = blkverify_reopen_commit,
    .bdrv_reopen_abort      = blkverify_reopen_abort,

    .bdrv_co_preadv         = blkverify_co_preadv,
    .bdrv_co_pwritev        = blkverify_co_pwritev,
    .bdrv_co_pwrite_zeroes  = blkverify_co_pwrite_zeroes,
    .bdrv_co_pdiscard       = blkverify_co_pdiscard,
    .bdrv_co_flush          = blkverify_co_flush,

    .bdrv_getlength         = blkverify_getlength,
    .bdrv_refresh_filename  = blkverify_refresh_filename,
    .bdrv_dump_info         = blkverify_dump_info,
};

static void bdrv_blkverify_init(void)
{
    bdrv_register(&bdrv_blkverify);
}

block_init(bdrv_blkverify_init);
