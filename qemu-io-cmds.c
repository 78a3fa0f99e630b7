/*
 * qemu-io commands: read, write and inspect the open image
 *
 * Every command's output, error text and result matches QEMU 7.2's
 * qemu-io, which test suites compare byte for byte (timings aside).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>
#include <signal.h>
#include <time.h>

#include "qemu-io.h"
#include "qemu/aio.h"
#include "qemu/buffer-compare.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/option.h"
#include "sysemu/block-backend.h"

/* With -m, buffers start this far past the alignment the image wants */
#define MISALIGN_OFFSET 16

/* Indices into BlockAcctStats arrays */
#define ACCT_READ  0
#define ACCT_WRITE 1

bool qemuio_misalign;

static void add_builtin_commands(void);

/*
 * Command registry
 */

/* Every known command, sorted by name (the order "help" lists them in) */
static GPtrArray *command_list;

static gint compare_command_names(gconstpointer a, gconstpointer b)
{
    const QemuIOCommand *const *ca = a;
    const QemuIOCommand *const *cb = b;

    return strcmp((*ca)->name, (*cb)->name);
}

static void add_to_list(const QemuIOCommand *cmds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        g_ptr_array_add(command_list, (gpointer)&cmds[i]);
    }
    g_ptr_array_sort(command_list, compare_command_names);
}

static GPtrArray *commands(void)
{
    if (!command_list) {
        command_list = g_ptr_array_new();
        add_builtin_commands();
    }
    return command_list;
}

void qemuio_add_commands(const QemuIOCommand *cmds, size_t n)
{
    commands();
    add_to_list(cmds, n);
}

static const QemuIOCommand *find_command(const char *name)
{
    GPtrArray *list = commands();
    guint i;

    for (i = 0; i < list->len; i++) {
        const QemuIOCommand *ct = g_ptr_array_index(list, i);

        if (!strcmp(ct->name, name) ||
            (ct->altname && !strcmp(ct->altname, name))) {
            return ct;
        }
    }
    return NULL;
}

void qemuio_command_usage(const QemuIOCommand *ct)
{
    printf("%s %s -- %s\n", ct->name, ct->args, ct->oneline);
}

/*
 * Argument parsing helpers
 */

/* A size argument ("512", "4k", "1.5M", "0x200"): the value or -errno */
static int64_t parse_size_arg(const char *s)
{
    uint64_t value;
    int ret;

    ret = qemu_strtosz(s, NULL, &value);
    if (ret < 0) {
        return ret;
    }
    if (value > INT64_MAX) {
        return -ERANGE;
    }
    return value;
}

static void report_size_error(int64_t err, const char *arg)
{
    if (err == -EINVAL) {
        printf("Parsing error: non-numeric argument, or "
               "extraneous/unrecognized suffix -- %s\n", arg);
    } else if (err == -ERANGE) {
        printf("Parsing error: argument too large -- %s\n", arg);
    } else {
        printf("Parsing error: %s\n", arg);
    }
}

/* parse_size_arg(), saying what was wrong with @arg on failure */
static int64_t parse_size_or_report(const char *arg)
{
    int64_t value = parse_size_arg(arg);

    if (value < 0) {
        report_size_error(value, arg);
    }
    return value;
}

/* A fill/verify byte given to -P: 0..255 or -1 (after saying why) */
static int parse_pattern(const char *arg)
{
    char *end;
    long pattern = strtol(arg, &end, 0);

    if (pattern < 0 || pattern > UCHAR_MAX || *end != '\0') {
        printf("%s is not a valid pattern byte\n", arg);
        return -1;
    }
    return pattern;
}

/* -b (vmstate) and -c (compressed) work in whole sectors */
static int check_sector_aligned(int64_t offset, int64_t bytes)
{
    if (!QEMU_IS_ALIGNED(offset, BDRV_SECTOR_SIZE)) {
        printf("%" PRId64 " is not a sector-aligned value for 'offset'\n",
               offset);
        return -EINVAL;
    }
    if (!QEMU_IS_ALIGNED(bytes, BDRV_SECTOR_SIZE)) {
        printf("%" PRId64 " is not a sector-aligned value for 'count'\n",
               bytes);
        return -EINVAL;
    }
    return 0;
}

/*
 * Output formatting
 */

/*
 * A byte count or rate the way qemu-io prints it: three decimals in the
 * largest binary unit not above the value, with an all-zero fraction
 * dropped ("1 MiB", "1.500 KiB", "512 bytes", "0.500000 bytes").
 */
static void format_size(double value, char *buf, size_t size)
{
    static const struct {
        int64_t unit;
        const char *suffix;
    } units[] = {
        { EiB, " EiB" }, { PiB, " PiB" }, { TiB, " TiB" },
        { GiB, " GiB" }, { MiB, " MiB" }, { KiB, " KiB" },
    };
    const char *suffix = " bytes";
    char *zeros;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(units); i++) {
        if (value >= units[i].unit) {
            break;
        }
    }
    if (i < ARRAY_SIZE(units)) {
        snprintf(buf, size, "%.3f", value / units[i].unit);
        suffix = units[i].suffix;
    } else {
        snprintf(buf, size, "%f", value);
    }
    /* Anything from ".000" on is dropped, as in QEMU */
    zeros = strstr(buf, ".000");
    if (zeros) {
        *zeros = '\0';
    }
    g_strlcat(buf, suffix, size);
}

/*
 * Elapsed time: "SS.ss sec" under a minute, otherwise (and always in
 * machine-readable form) "H:MM:SS.ss".
 */
static void format_time(const struct timespec *t, bool fixed,
                        char *buf, size_t size)
{
    unsigned int hours = t->tv_sec / 3600;
    unsigned int minutes = (t->tv_sec % 3600) / 60;
    double seconds = t->tv_sec % 60 + t->tv_nsec / 1e9;

    if (fixed || t->tv_sec) {
        snprintf(buf, size, "%u:%02u:%05.2f", hours, minutes, seconds);
    } else {
        snprintf(buf, size, "%05.2f sec", seconds);
    }
}

static void clock_now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static struct timespec time_since(const struct timespec *start,
                                  const struct timespec *end)
{
    struct timespec d = {
        .tv_sec = end->tv_sec - start->tv_sec,
        .tv_nsec = end->tv_nsec - start->tv_nsec,
    };

    if (d.tv_nsec < 0) {
        d.tv_nsec += 1000000000;
        d.tv_sec--;
    }
    return d;
}

static double per_second(double value, const struct timespec *t)
{
    return value / (t->tv_sec + t->tv_nsec / 1e9);
}

/*
 * The two-line statistics of a finished request, or with @machine one
 * line "bytes,ops,time,bytes/sec,ops/sec".
 */
static void print_report(const char *op, const struct timespec *t,
                         int64_t offset, int64_t count, int64_t total,
                         int ops, bool machine)
{
    char amount[64], rate[64], when[64];

    format_time(t, machine, when, sizeof(when));
    if (machine) {
        printf("%" PRId64 ",%d,%s,%.3f,%.3f\n", total, ops, when,
               per_second(total, t), per_second(ops, t));
        return;
    }
    format_size(total, amount, sizeof(amount));
    format_size(per_second(total, t), rate, sizeof(rate));
    printf("%s %" PRId64 "/%" PRId64 " bytes at offset %" PRId64 "\n",
           op, total, count, offset);
    printf("%s, %d ops; %s (%s/sec and %.4f ops/sec)\n",
           amount, ops, when, rate, per_second(ops, t));
}

/* Hex and ASCII dump, 16 bytes a line, addresses counted from @offset */
static void dump_buffer(const uint8_t *buf, int64_t offset, int64_t len)
{
    g_autoptr(GString) out = g_string_new(NULL);

    qemu_hexdump(out, NULL, offset, buf, len, 0);
    fputs(out->str, stdout);
}

/* Print the verification failure and return false if any byte differs */
static bool verify_pattern(const uint8_t *buf, int pattern, int64_t offset,
                           int64_t len)
{
    if (buffer_find_not_byte(buf, pattern, len) != (size_t)len) {
        printf("Pattern verification failed at offset %" PRId64
               ", %" PRId64 " bytes\n", offset, len);
        return false;
    }
    return true;
}

/*
 * I/O buffers
 */

static void *io_buffer_new(BlockBackend *blk, size_t len, int fill)
{
    size_t skew = qemuio_misalign ? MISALIGN_OFFSET : 0;
    uint8_t *buf = blk_blockalign(blk, len + skew);

    memset(buf, fill, len + skew);
    return buf + skew;
}

static void io_buffer_free(void *buf)
{
    if (buf) {
        qemu_vfree((uint8_t *)buf - (qemuio_misalign ? MISALIGN_OFFSET : 0));
    }
}

/*
 * A buffer of @len bytes filled with the contents of @path, repeated as
 * often as needed; NULL (after saying why, on stderr) if the file cannot
 * be read or is empty.
 */
static void *io_buffer_from_file(BlockBackend *blk, size_t len,
                                 const char *path)
{
    FILE *f = fopen(path, "r");
    uint8_t *buf;
    size_t got, done;

    if (!f) {
        perror(path);
        return NULL;
    }
    buf = io_buffer_new(blk, len, 0);
    got = fread(buf, 1, len, f);
    if (ferror(f)) {
        perror(path);
        goto fail;
    }
    if (got == 0) {
        fprintf(stderr, "%s: file is empty\n", path);
        goto fail;
    }
    fclose(f);

    for (done = got; done < len; done += MIN(got, len - done)) {
        memcpy(buf + done, buf, MIN(got, len - done));
    }
    return buf;

fail:
    fclose(f);
    io_buffer_free(buf);
    return NULL;
}

/*
 * Build @qiov over one buffer filled with @fill, with one element per
 * length argument in @lens.  Returns the buffer, or NULL after printing
 * what is wrong with the lengths.
 */
static void *io_vector_new(BlockBackend *blk, QEMUIOVector *qiov,
                           char **lens, int n, int fill)
{
    g_autofree int64_t *sizes = g_new(int64_t, n);
    int64_t total = 0;
    uint8_t *buf, *p;
    int i;

    for (i = 0; i < n; i++) {
        int64_t len = parse_size_or_report(lens[i]);

        if (len < 0) {
            return NULL;
        }
        if (len > BDRV_REQUEST_MAX_BYTES) {
            printf("Argument '%s' exceeds maximum size %" PRIu64 "\n",
                   lens[i], (uint64_t)BDRV_REQUEST_MAX_BYTES);
            return NULL;
        }
        if (total > BDRV_REQUEST_MAX_BYTES - len) {
            printf("The total number of bytes exceed the maximum size %"
                   PRIu64 "\n", (uint64_t)BDRV_REQUEST_MAX_BYTES);
            return NULL;
        }
        sizes[i] = len;
        total += len;
    }

    qemu_iovec_init(qiov, n);
    buf = p = io_buffer_new(blk, total, fill);
    for (i = 0; i < n; i++) {
        qemu_iovec_add(qiov, p, sizes[i]);
        p += sizes[i];
    }
    return buf;
}

/* Parse "off len" of a single-range command; false after an error */
static bool parse_range(char **argv, int64_t *offset, int64_t *bytes,
                        int *ret)
{
    *offset = parse_size_or_report(argv[0]);
    if (*offset < 0) {
        *ret = *offset;
        return false;
    }
    *bytes = parse_size_or_report(argv[1]);
    if (*bytes < 0) {
        *ret = *bytes;
        return false;
    }
    return true;
}

/* OFFSET LENGTH of one request: also no longer than a request may be */
static bool parse_request_range(char **argv, int64_t *offset,
                                int64_t *bytes, int *ret)
{
    if (!parse_range(argv, offset, bytes, ret)) {
        return false;
    }
    if (*bytes > BDRV_REQUEST_MAX_BYTES) {
        printf("length cannot exceed %" PRIu64 ", given %s\n",
               (uint64_t)BDRV_REQUEST_MAX_BYTES, argv[1]);
        *ret = -EINVAL;
        return false;
    }
    return true;
}

/*
 * read
 */

static int read_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("read");
    bool machine = false, quiet = false, dump = false, vmstate = false;
    bool verify = false, have_voff = false, have_vlen = false;
    int64_t offset, bytes, voff = 0, vlen = 0;
    struct timespec start, end, t;
    uint8_t *buf;
    int pattern = 0;
    int c, ret;

    while ((c = getopt(argc, argv, "bCl:pP:qs:v")) != -1) {
        switch (c) {
        case 'b':
            vmstate = true;
            break;
        case 'C':
            machine = true;
            break;
        case 'l':
            have_vlen = true;
            vlen = parse_size_or_report(optarg);
            if (vlen < 0) {
                return vlen;
            }
            break;
        case 'p':
            /* Accepted and ignored, as in QEMU */
            break;
        case 'P':
            verify = true;
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            have_voff = true;
            voff = parse_size_or_report(optarg);
            if (voff < 0) {
                return voff;
            }
            break;
        case 'v':
            dump = true;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind != argc - 2) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    if (!parse_request_range(&argv[optind], &offset, &bytes, &ret)) {
        return ret;
    }
    if (!verify && (have_vlen || have_voff)) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    if (!have_vlen) {
        vlen = bytes - voff;
    }
    if (vlen < 0 || vlen + voff > bytes) {
        printf("pattern verification range exceeds end of read data\n");
        return -EINVAL;
    }
    if (vmstate) {
        ret = check_sector_aligned(offset, bytes);
        if (ret < 0) {
            return ret;
        }
    }

    buf = io_buffer_new(blk, bytes, 0xab);
    clock_now(&start);
    if (vmstate) {
        ret = blk_load_vmstate(blk, buf, offset, bytes);
    } else {
        ret = blk_pread(blk, offset, bytes, buf, 0);
    }
    clock_now(&end);

    if (ret < 0) {
        printf("read failed: %s\n", strerror(-ret));
        goto out;
    }
    if (verify && !verify_pattern(buf + voff, pattern, offset + voff, vlen)) {
        ret = -EINVAL;
    }
    if (quiet) {
        goto out;
    }
    if (dump) {
        dump_buffer(buf, offset, bytes);
    }
    t = time_since(&start, &end);
    print_report("read", &t, offset, bytes, bytes, 1, machine);

out:
    io_buffer_free(buf);
    return ret;
}

/*
 * readv / writev
 */

static int readv_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("readv");
    bool machine = false, quiet = false, dump = false, verify = false;
    struct timespec start, end, t;
    QEMUIOVector qiov;
    int64_t offset;
    uint8_t *buf;
    int pattern = 0;
    int c, ret;

    while ((c = getopt(argc, argv, "CP:qv")) != -1) {
        switch (c) {
        case 'C':
            machine = true;
            break;
        case 'P':
            verify = true;
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'v':
            dump = true;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind > argc - 2) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    offset = parse_size_or_report(argv[optind]);
    if (offset < 0) {
        return offset;
    }
    optind++;

    buf = io_vector_new(blk, &qiov, &argv[optind], argc - optind, 0xab);
    if (!buf) {
        return -EINVAL;
    }

    clock_now(&start);
    ret = blk_preadv(blk, offset, qiov.size, &qiov, 0);
    clock_now(&end);

    if (ret < 0) {
        printf("readv failed: %s\n", strerror(-ret));
        goto out;
    }
    if (verify && !verify_pattern(buf, pattern, offset, qiov.size)) {
        ret = -EINVAL;
    }
    if (quiet) {
        goto out;
    }
    if (dump) {
        dump_buffer(buf, offset, qiov.size);
    }
    t = time_since(&start, &end);
    print_report("read", &t, offset, qiov.size, qiov.size, 1, machine);

out:
    qemu_iovec_destroy(&qiov);
    io_buffer_free(buf);
    return ret;
}

static int writev_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("writev");
    bool machine = false, quiet = false;
    BdrvRequestFlags flags = 0;
    struct timespec start, end, t;
    QEMUIOVector qiov;
    int64_t offset;
    uint8_t *buf;
    int pattern = 0xcd;
    int c, ret;

    while ((c = getopt(argc, argv, "CfqP:")) != -1) {
        switch (c) {
        case 'C':
            machine = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'q':
            quiet = true;
            break;
        case 'P':
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind > argc - 2) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    offset = parse_size_or_report(argv[optind]);
    if (offset < 0) {
        return offset;
    }
    optind++;

    buf = io_vector_new(blk, &qiov, &argv[optind], argc - optind, pattern);
    if (!buf) {
        return -EINVAL;
    }

    clock_now(&start);
    ret = blk_pwritev(blk, offset, qiov.size, &qiov, flags);
    clock_now(&end);

    if (ret < 0) {
        printf("writev failed: %s\n", strerror(-ret));
    } else if (!quiet) {
        t = time_since(&start, &end);
        print_report("wrote", &t, offset, qiov.size, qiov.size, 1, machine);
    }

    qemu_iovec_destroy(&qiov);
    io_buffer_free(buf);
    return ret;
}

/*
 * write
 */

static int write_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("write");
    bool machine = false, quiet = false, vmstate = false;
    bool zeroes = false, compressed = false, has_pattern = false;
    const char *source = NULL;
    BdrvRequestFlags flags = 0;
    struct timespec start, end, t;
    int64_t offset, bytes;
    uint8_t *buf = NULL;
    int pattern = 0xcd;
    int c, ret;

    while ((c = getopt(argc, argv, "bcCfnpP:quzs:")) != -1) {
        switch (c) {
        case 'b':
            vmstate = true;
            break;
        case 'c':
            compressed = true;
            break;
        case 'C':
            machine = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'n':
            flags |= BDRV_REQ_NO_FALLBACK;
            break;
        case 'p':
            /* Accepted and ignored, as in QEMU */
            break;
        case 'P':
            has_pattern = true;
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            source = optarg;
            break;
        case 'u':
            flags |= BDRV_REQ_MAY_UNMAP;
            break;
        case 'z':
            zeroes = true;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind != argc - 2) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    if (vmstate && zeroes) {
        printf("-b and -z cannot be specified at the same time\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_FUA) && (vmstate || compressed)) {
        printf("-f and -b or -c cannot be specified at the same time\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_NO_FALLBACK) && !zeroes) {
        printf("-n requires -z to be specified\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) && !zeroes) {
        printf("-u requires -z to be specified\n");
        return -EINVAL;
    }
    if (zeroes + has_pattern + (source != NULL) > 1) {
        printf("Only one of -z, -P, and -s can be specified at the same "
               "time\n");
        return -EINVAL;
    }
    if (!parse_range(&argv[optind], &offset, &bytes, &ret)) {
        return ret;
    }
    /* -n takes away the bounce buffer, so the length is not limited */
    if (bytes > BDRV_REQUEST_MAX_BYTES && !(flags & BDRV_REQ_NO_FALLBACK)) {
        printf("length cannot exceed %" PRIu64 " without -n, given %s\n",
               (uint64_t)BDRV_REQUEST_MAX_BYTES, argv[optind + 1]);
        return -EINVAL;
    }
    if (vmstate || compressed) {
        ret = check_sector_aligned(offset, bytes);
        if (ret < 0) {
            return ret;
        }
    }

    if (source) {
        buf = io_buffer_from_file(blk, bytes, source);
        if (!buf) {
            return -EINVAL;
        }
    } else if (!zeroes) {
        buf = io_buffer_new(blk, bytes, pattern);
    }

    clock_now(&start);
    if (vmstate) {
        ret = blk_save_vmstate(blk, buf, offset, bytes);
    } else if (zeroes) {
        ret = blk_pwrite_zeroes(blk, offset, bytes, flags);
    } else if (compressed) {
        ret = blk_pwrite_compressed(blk, offset, bytes, buf);
    } else {
        ret = blk_pwrite(blk, offset, bytes, buf, flags);
    }
    clock_now(&end);

    if (ret < 0) {
        printf("write failed: %s\n", strerror(-ret));
    } else if (!quiet) {
        t = time_since(&start, &end);
        print_report("wrote", &t, offset, bytes, bytes, 1, machine);
    }

    io_buffer_free(buf);
    return ret;
}

/*
 * aio_read / aio_write / aio_flush
 *
 * The request is started and the command returns; the result lines are
 * printed by the completion callback, from whatever later waits on the
 * event loop (the next synchronous command, aio_flush, sleep, or the
 * drain at exit).
 */

typedef struct AioRequest {
    BlockBackend *blk;
    QEMUIOVector qiov;
    uint8_t *buf;               /* NULL for write zeroes */
    int64_t offset;
    int64_t bytes;
    bool quiet;
    bool machine;
    bool dump;
    bool verify;
    int pattern;
    struct timespec start;
} AioRequest;

static void aio_request_free(AioRequest *req)
{
    if (req->buf) {
        qemu_iovec_destroy(&req->qiov);
        io_buffer_free(req->buf);
    }
    g_free(req);
}

static void aio_report(AioRequest *req, const char *op)
{
    struct timespec end, t;

    clock_now(&end);
    t = time_since(&req->start, &end);
    print_report(op, &t, req->offset, req->bytes, req->bytes, 1,
                 req->machine);
}

static void aio_read_done(void *opaque, int ret)
{
    AioRequest *req = opaque;

    if (ret < 0) {
        /* QEMU names the vectored read here */
        printf("readv failed: %s\n", strerror(-ret));
    } else {
        if (req->verify) {
            verify_pattern(req->buf, req->pattern, req->offset, req->bytes);
        }
        if (!req->quiet) {
            if (req->dump) {
                dump_buffer(req->buf, req->offset, req->bytes);
            }
            aio_report(req, "read");
        }
    }
    aio_request_free(req);
}

static void aio_write_done(void *opaque, int ret)
{
    AioRequest *req = opaque;

    if (ret < 0) {
        printf("aio_write failed: %s\n", strerror(-ret));
    } else if (!req->quiet) {
        aio_report(req, "wrote");
    }
    aio_request_free(req);
}

static int aio_read_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("aio_read");
    g_autofree AioRequest *req = g_new0(AioRequest, 1);
    AioRequest *started;
    int c;

    req->blk = blk;
    while ((c = getopt(argc, argv, "CP:iqv")) != -1) {
        switch (c) {
        case 'C':
            req->machine = true;
            break;
        case 'P':
            req->verify = true;
            req->pattern = parse_pattern(optarg);
            if (req->pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'i':
            printf("injecting invalid read request\n");
            blk_get_stats(blk)->invalid_ops[ACCT_READ]++;
            return 0;
        case 'q':
            req->quiet = true;
            break;
        case 'v':
            req->dump = true;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind > argc - 2) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    req->offset = parse_size_or_report(argv[optind]);
    if (req->offset < 0) {
        return req->offset;
    }
    optind++;

    req->buf = io_vector_new(blk, &req->qiov, &argv[optind], argc - optind,
                             0xab);
    if (!req->buf) {
        blk_get_stats(blk)->invalid_ops[ACCT_READ]++;
        return -EINVAL;
    }
    req->bytes = req->qiov.size;

    /* From here on the completion callback owns the request */
    started = g_steal_pointer(&req);
    clock_now(&started->start);
    blk_aio_preadv(blk, started->offset, &started->qiov, 0, aio_read_done,
                   started);
    return 0;
}

static int aio_write_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("aio_write");
    g_autofree AioRequest *req = g_new0(AioRequest, 1);
    AioRequest *started;
    BdrvRequestFlags flags = 0;
    bool zeroes = false;
    int pattern = 0xcd;
    int c;

    req->blk = blk;
    while ((c = getopt(argc, argv, "CfiqP:uz")) != -1) {
        switch (c) {
        case 'C':
            req->machine = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'q':
            req->quiet = true;
            break;
        case 'u':
            flags |= BDRV_REQ_MAY_UNMAP;
            break;
        case 'P':
            /*
             * QEMU 7.2 never records that -P was given here, so "-z -P"
             * is accepted and the pattern is ignored; we do the same.
             */
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'i':
            printf("injecting invalid write request\n");
            blk_get_stats(blk)->invalid_ops[ACCT_WRITE]++;
            return 0;
        case 'z':
            zeroes = true;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind > argc - 2) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    if (zeroes && optind != argc - 2) {
        printf("-z supports only a single length parameter\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) && !zeroes) {
        printf("-u requires -z to be specified\n");
        return -EINVAL;
    }
    req->offset = parse_size_or_report(argv[optind]);
    if (req->offset < 0) {
        return req->offset;
    }
    optind++;

    if (zeroes) {
        req->bytes = parse_size_or_report(argv[optind]);
        if (req->bytes < 0) {
            return req->bytes;
        }
        started = g_steal_pointer(&req);
        clock_now(&started->start);
        blk_aio_pwrite_zeroes(blk, started->offset, started->bytes, flags,
                              aio_write_done, started);
        return 0;
    }

    req->buf = io_vector_new(blk, &req->qiov, &argv[optind], argc - optind,
                             pattern);
    if (!req->buf) {
        blk_get_stats(blk)->invalid_ops[ACCT_WRITE]++;
        return -EINVAL;
    }
    req->bytes = req->qiov.size;

    started = g_steal_pointer(&req);
    clock_now(&started->start);
    blk_aio_pwritev(blk, started->offset, &started->qiov, flags,
                    aio_write_done, started);
    return 0;
}

static int aio_flush_f(BlockBackend *blk, int argc, char **argv)
{
    /* blk_drain() also waits for the completion callbacks of @blk */
    blk_drain(blk);
    blk_drain_all();
    return 0;
}

/*
 * flush, discard, truncate, length, info
 */

static int flush_f(BlockBackend *blk, int argc, char **argv)
{
    return blk_flush(blk);
}

static int discard_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("discard");
    bool machine = false, quiet = false;
    struct timespec start, end, t;
    int64_t offset, bytes;
    int c, ret;

    while ((c = getopt(argc, argv, "Cq")) != -1) {
        switch (c) {
        case 'C':
            machine = true;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind != argc - 2) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    if (!parse_request_range(&argv[optind], &offset, &bytes, &ret)) {
        return ret;
    }

    clock_now(&start);
    ret = blk_pdiscard(blk, offset, bytes);
    clock_now(&end);

    if (ret < 0) {
        printf("discard failed: %s\n", strerror(-ret));
    } else if (!quiet) {
        t = time_since(&start, &end);
        print_report("discard", &t, offset, bytes, bytes, 1, machine);
    }
    return ret;
}

static int truncate_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("truncate");
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    Error *err = NULL;
    int64_t offset;
    int c, mode, ret;

    while ((c = getopt(argc, argv, "m:")) != -1) {
        switch (c) {
        case 'm':
            mode = prealloc_mode_from_str(optarg);
            if (mode < 0) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return -EINVAL;
            }
            prealloc = mode;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind >= argc) {
        /* QEMU 7.2 crashes here; a usage message is kinder */
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    offset = parse_size_arg(argv[optind]);
    if (offset < 0) {
        /* QEMU names argv[1] here even after -m; keep its output */
        report_size_error(offset, argv[1]);
        return offset;
    }

    ret = blk_truncate(blk, offset, false, prealloc, 0, &err);
    if (ret < 0) {
        error_report_err(err);
    }
    return ret;
}

static int length_f(BlockBackend *blk, int argc, char **argv)
{
    char size[64];
    int64_t len = blk_getlength(blk);

    if (len < 0) {
        printf("getlength: %s\n", strerror(-len));
        return len;
    }
    format_size(len, size, sizeof(size));
    printf("%s\n", size);
    return 0;
}

static int info_f(BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    BlockDriverInfo bdi = { 0 };
    g_autoptr(GString) extra = g_string_new(NULL);
    char cluster[64], vmstate[64];
    int ret;

    /* A protocol driver used as the top node prints its name twice */
    if (bdrv_get_format_name(bs)) {
        printf("format name: %s\n", bdrv_get_format_name(bs));
    }
    if (bdrv_get_protocol_name(bs)) {
        printf("format name: %s\n", bdrv_get_protocol_name(bs));
    }

    ret = bdrv_get_info(bs, &bdi);
    if (ret) {
        return ret;
    }
    format_size(bdi.cluster_size, cluster, sizeof(cluster));
    format_size(bdi.vm_state_offset, vmstate, sizeof(vmstate));
    printf("cluster size: %s\n", cluster);
    printf("vm state offset: %s\n", vmstate);

    /* The node's own extra lines, then those of filters below it */
    bdrv_dump_info(bs, extra);
    fputs(extra->str, stdout);
    return 0;
}

/*
 * alloc, map
 */

static int alloc_f(BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t start, offset, bytes, remaining, pnum, allocated = 0;
    char where[64];
    int ret;

    start = offset = parse_size_or_report(argv[1]);
    if (offset < 0) {
        return offset;
    }
    if (argc == 3) {
        bytes = parse_size_or_report(argv[2]);
        if (bytes < 0) {
            return bytes;
        }
    } else {
        bytes = BDRV_SECTOR_SIZE;
    }

    /* The count is cut short at the end of the image */
    remaining = bytes;
    while (remaining) {
        ret = bdrv_is_allocated(bs, offset, remaining, &pnum);
        if (ret < 0) {
            printf("is_allocated failed: %s\n", strerror(-ret));
            return ret;
        }
        if (pnum == 0) {
            bytes -= remaining;
            break;
        }
        if (ret) {
            allocated += pnum;
        }
        offset += pnum;
        remaining -= pnum;
    }

    format_size(start, where, sizeof(where));
    printf("%" PRId64 "/%" PRId64 " bytes allocated at offset %s\n",
           allocated, bytes, where);
    return 0;
}

/*
 * Status (allocated or not) of the extent at @offset, merged with the
 * following extents of the same status; *pnum is the merged length.
 */
static int map_extent(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum)
{
    int64_t num;
    int ret, first;

    first = bdrv_is_allocated(bs, offset, bytes, &num);
    if (first < 0) {
        return first;
    }
    *pnum = num;
    while (bytes > 0) {
        offset += num;
        bytes -= num;
        ret = bdrv_is_allocated(bs, offset, bytes, &num);
        if (ret != first || !num) {
            break;
        }
        *pnum += num;
    }
    return first;
}

static int map_f(BlockBackend *blk, int argc, char **argv)
{
    int64_t offset = 0, remaining, num;
    char len_str[64], off_str[64];
    int ret;

    remaining = blk_getlength(blk);
    if (remaining < 0) {
        error_report("Failed to query image length: %s",
                     strerror(-remaining));
        return remaining;
    }

    while (remaining) {
        ret = map_extent(blk_bs(blk), offset, remaining, &num);
        if (ret < 0) {
            error_report("Failed to get allocation status: %s",
                         strerror(-ret));
            return ret;
        }
        if (!num) {
            error_report("Unexpected end of image");
            return -EIO;
        }
        format_size(num, len_str, sizeof(len_str));
        format_size(offset, off_str, sizeof(off_str));
        printf("%s (0x%" PRIx64 ") bytes %s at offset %s (0x%" PRIx64 ")\n",
               len_str, num, ret ? "    allocated" : "not allocated",
               off_str, offset);
        offset += num;
        remaining -= num;
    }
    return 0;
}

/*
 * reopen
 */

static int reopen_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct = find_command("reopen");
    BlockDriverState *bs = blk_bs(blk);
    int flags = bdrv_get_flags(bs);
    bool writethrough = !blk_enable_write_cache(blk);
    bool rw_given = false, cache_given = false;
    g_autoptr(QDict) opts = NULL;
    Error *err = NULL;
    int c;

    while ((c = getopt(argc, argv, "c:o:rw")) != -1) {
        switch (c) {
        case 'c':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache option: %s", optarg);
                return -EINVAL;
            }
            cache_given = true;
            break;
        case 'o':
            if (!qemuio_parse_opts(&opts, optarg)) {
                return -EINVAL;
            }
            break;
        case 'r':
        case 'w':
            if (rw_given) {
                error_report("Only one -r/-w option may be given");
                return -EINVAL;
            }
            if (c == 'r') {
                flags &= ~BDRV_O_RDWR;
            } else {
                flags |= BDRV_O_RDWR;
            }
            rw_given = true;
            break;
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind != argc) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    if (!opts) {
        opts = qdict_new();
    }

    /* The block core applies "read-only" and the cache options itself */
    if (qdict_haskey(opts, "read-only") && rw_given) {
        error_report("Cannot set both -r/-w and 'read-only'");
        return -EINVAL;
    }
    if ((qdict_haskey(opts, "cache.direct") ||
         qdict_haskey(opts, "cache.no-flush")) && cache_given) {
        error_report("Cannot set both -c and the cache options");
        return -EINVAL;
    }

    if (!(flags & BDRV_O_RDWR)) {
        /* Nothing may be writing while the node drops write access */
        blk_drain(blk);
    }
    if (bdrv_reopen(bs, g_steal_pointer(&opts), flags, &err) < 0) {
        error_report_err(err);
        return -EINVAL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return 0;
}

/*
 * Option strings for open/reopen -o and --image-opts
 */

/* Any key, as QEMU's qemu-io takes them: the block layer checks them */
static QemuOptsList qemuio_image_opts = {
    .name = "image",
    QEMU_OPTS_LIST_INIT(qemuio_image_opts),
    .desc = {
        { /* end of list */ }
    },
};

bool qemuio_parse_opts(QDict **opts, const char *str)
{
    QemuOpts *qopts;

    /*
     * QEMU's option parser, not keyval: keys are not checked here
     * ("children.00", "children.-1" reach the driver, which names the
     * problem), and a key may repeat (the last one wins)
     */
    qopts = qemu_opts_parse_noisily(&qemuio_image_opts, str, false);
    if (!qopts) {
        return false;
    }
    *opts = qemu_opts_to_qdict(qopts, *opts);
    qemu_opts_del(qopts);
    return true;
}

/*
 * blkdebug breakpoints
 */

static int break_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_breakpoint(blk_bs(blk), argv[1], argv[2]);

    if (ret < 0) {
        printf("Could not set breakpoint: %s\n", strerror(-ret));
    }
    return ret;
}

static int remove_break_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_remove_breakpoint(blk_bs(blk), argv[1]);

    if (ret < 0) {
        printf("Could not remove breakpoint %s: %s\n", argv[1],
               strerror(-ret));
    }
    return ret;
}

static int resume_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_resume(blk_bs(blk), argv[1]);

    if (ret < 0) {
        printf("Could not resume request: %s\n", strerror(-ret));
    }
    return ret;
}

/*
 * Wait until a request is suspended at breakpoint @tag.  QEMU waits even
 * when nothing can get there any more (no I/O in flight, the requests
 * left waiting for suspended ones); that fails here instead of hanging.
 */
static int wait_break_f(BlockBackend *blk, int argc, char **argv)
{
    AioContext *ctx = qemu_get_aio_context();

    while (!bdrv_debug_is_suspended(blk_bs(blk), argv[1])) {
        if (aio_poll(ctx, false)) {
            continue;
        }
        if (!bdrv_protocol_io_in_flight()) {
            printf("Could not wait for breakpoint %s: %s\n", argv[1],
                   strerror(EDEADLK));
            return -EDEADLK;
        }
        aio_poll(ctx, true);
    }
    return 0;
}

/*
 * abort, sigraise, sleep
 */

static int abort_f(BlockBackend *blk, int argc, char **argv)
{
    abort();
}

static int sigraise_f(BlockBackend *blk, int argc, char **argv)
{
    int64_t sig = parse_size_arg(argv[1]);

    if (sig < 0) {
        report_size_error(sig, argv[1]);
        return sig;
    }
    if (sig > NSIG) {
        printf("signal argument '%s' is too large to be a valid signal\n",
               argv[1]);
        return -EINVAL;
    }
    /* The signal may end the process without flushing stdio */
    fflush(stdout);
    fflush(stderr);
    raise(sig);
    return 0;
}

static void sleep_expired(void *opaque)
{
    bool *expired = opaque;

    *expired = true;
}

static int sleep_f(BlockBackend *blk, int argc, char **argv)
{
    AioContext *ctx = qemu_get_aio_context();
    QEMUTimer *timer;
    bool expired = false;
    char *end;
    long ms;

    ms = strtol(argv[1], &end, 0);
    if (ms < 0 || *end != '\0') {
        printf("%s is not a valid number\n", argv[1]);
        return -EINVAL;
    }

    /* Keep the event loop running: aio requests complete meanwhile */
    timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                          sleep_expired, &expired);
    timer_mod(timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
              (int64_t)ms * SCALE_MS);
    while (!expired) {
        aio_poll(ctx, true);
    }
    timer_free(timer);
    return 0;
}

/*
 * help
 */

static void help_oneline(const char *name, const QemuIOCommand *ct)
{
    printf("%s ", name);
    if (ct->args) {
        printf("%s ", ct->args);
    }
    printf("-- %s\n", ct->oneline);
}

static int help_f(BlockBackend *blk, int argc, char **argv)
{
    const QemuIOCommand *ct;

    if (argc == 1) {
        GPtrArray *list = commands();
        guint i;

        for (i = 0; i < list->len; i++) {
            ct = g_ptr_array_index(list, i);
            help_oneline(ct->name, ct);
        }
        printf("\nUse 'help commandname' for extended help.\n");
        return 0;
    }

    ct = find_command(argv[1]);
    if (!ct) {
        printf("command %s not found\n", argv[1]);
        return -EINVAL;
    }
    /* Named as asked, so "help r" says "r [-abCqv] ..." */
    help_oneline(argv[1], ct);
    if (ct->help) {
        fputs(ct->help, stdout);
    }
    return 0;
}

/*
 * Running a command line
 */

static void report_arg_count(const QemuIOCommand *ct, const char *name,
                             int nargs)
{
    if (ct->argmax == -1) {
        fprintf(stderr, "bad argument count %d to %s, expected at least %d "
                "arguments\n", nargs, name, ct->argmin);
    } else if (ct->argmin == ct->argmax) {
        fprintf(stderr, "bad argument count %d to %s, expected %d "
                "arguments\n", nargs, name, ct->argmin);
    } else {
        fprintf(stderr, "bad argument count %d to %s, expected between %d "
                "and %d arguments\n", nargs, name, ct->argmin, ct->argmax);
    }
}

static int run_command(BlockBackend *blk, const QemuIOCommand *ct,
                       int argc, char **argv)
{
    int nargs = argc - 1;

    if (!blk && !(ct->flags & (QEMUIO_CMD_GLOBAL | QEMUIO_CMD_NOFILE_OK))) {
        fprintf(stderr, "no file open, try 'help open'\n");
        return -EINVAL;
    }
    if (nargs < ct->argmin || (ct->argmax != -1 && nargs > ct->argmax)) {
        report_arg_count(ct, argv[0], nargs);
        return -EINVAL;
    }
    /*
     * QEMU asks for write permission before running such a command, and
     * that fails on a read-only node with this message.
     */
    if ((ct->flags & QEMUIO_CMD_WRITE) && !blk_is_writable(blk)) {
        error_report("Block node is read-only");
        return -EPERM;
    }

    /* Zero (not 1) makes glibc's getopt forget the previous command */
    optind = 0;
    return ct->cfunc(blk, argc, argv);
}

/*
 * No command may wait forever on requests held at breakpoints: nobody
 * can type "resume" while it waits.  A synchronous request overlapping a
 * held one, aio_flush, close, reopen and the end of qemu-io all wait for
 * requests that may depend on held ones.  While such a command runs, a
 * timer looks every QEMUIO_WATCHDOG_MS: when requests are held and
 * nothing else has moved since its last look, they are resumed (blkdebug
 * prints it), which is what a user would have had to do.  wait_break and
 * sleep are not waits for requests and do not arm it.
 */
#define QEMUIO_WATCHDOG_MS 50

static QEMUTimer *watchdog_timer;
static uint64_t watchdog_progress;
static int watchdog_depth;

static void watchdog_arm(void)
{
    timer_mod(watchdog_timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
              QEMUIO_WATCHDOG_MS * SCALE_MS);
}

static void watchdog_tick(void *opaque)
{
    if (bdrv_requests_stalled(&watchdog_progress)) {
        bdrv_debug_resume_all();
    }
    watchdog_arm();
}

void qemuio_watchdog_begin(void)
{
    if (watchdog_depth++) {
        return;
    }
    if (!watchdog_timer) {
        watchdog_timer = aio_timer_new(qemu_get_aio_context(),
                                       QEMU_CLOCK_REALTIME, SCALE_NS,
                                       watchdog_tick, NULL);
    }
    /* The first look only takes the count: nothing is stalled yet */
    watchdog_progress = UINT64_MAX;
    watchdog_arm();
}

void qemuio_watchdog_end(void)
{
    assert(watchdog_depth > 0);
    if (--watchdog_depth == 0) {
        timer_del(watchdog_timer);
    }
}

int qemuio_command(BlockBackend *blk, const char *cmd)
{
    g_autofree char *line = g_strdup(cmd);
    g_autoptr(GPtrArray) words = g_ptr_array_new();
    const QemuIOCommand *ct;
    char *rest = line;
    char *word;
    int ret;

    /* Words are separated by single spaces only (not tabs), as in QEMU */
    while ((word = strsep(&rest, " ")) != NULL) {
        if (*word) {
            g_ptr_array_add(words, word);
        }
    }
    if (!words->len) {
        return 0;
    }
    g_ptr_array_add(words, NULL);

    ct = find_command(g_ptr_array_index(words, 0));
    if (!ct) {
        fprintf(stderr, "command \"%s\" not found\n",
                (char *)g_ptr_array_index(words, 0));
        return -EINVAL;
    }
    if (ct->cfunc == wait_break_f || ct->cfunc == sleep_f) {
        return run_command(blk, ct, words->len - 1, (char **)words->pdata);
    }
    qemuio_watchdog_begin();
    ret = run_command(blk, ct, words->len - 1, (char **)words->pdata);
    qemuio_watchdog_end();
    return ret;
}

/*
 * The command table (open, close and quit live in qemu-io.c).  The help
 * texts are QEMU 7.2's output, reproduced exactly.
 */

static const QemuIOCommand builtin_commands[] = {
    {
        .name       = "abort",
        .cfunc      = abort_f,
        .flags      = QEMUIO_CMD_NOFILE_OK,
        .oneline    = "simulate a program crash using abort(3)",
    }, {
        .name       = "aio_flush",
        .cfunc      = aio_flush_f,
        .oneline    = "completes all outstanding aio requests",
    }, {
        .name       = "aio_read",
        .cfunc      = aio_read_f,
        .argmin     = 2,
        .argmax     = -1,
        .args       = "[-Ciqv] [-P pattern] off len [len..]",
        .oneline    = "asynchronously reads a number of bytes",
        .help       =
            "\n"
            " asynchronously reads a range of bytes from the given offset\n"
            "\n"
            " Example:\n"
            " 'aio_read -v 512 1k 1k ' - dumps 2 kilobytes read from 512 "
            "bytes into the file\n"
            "\n"
            " Reads a segment of the currently open file, optionally "
            "dumping it to the\n"
            " standard output stream (with -v option) for subsequent "
            "inspection.\n"
            " The read is performed asynchronously and the aio_flush "
            "command must be\n"
            " used to ensure all outstanding aio requests have been "
            "completed.\n"
            " Note that due to its asynchronous nature, this command will "
            "be\n"
            " considered successful once the request is submitted, "
            "independently\n"
            " of potential I/O errors or pattern mismatches.\n"
            " -C, -- report statistics in a machine parsable format\n"
            " -P, -- use a pattern to verify read data\n"
            " -i, -- treat request as invalid, for exercising stats\n"
            " -v, -- dump buffer to standard output\n"
            " -q, -- quiet mode, do not show I/O statistics\n"
            "\n",
    }, {
        .name       = "aio_write",
        .cfunc      = aio_write_f,
        .argmin     = 2,
        .argmax     = -1,
        .flags      = QEMUIO_CMD_WRITE,
        .args       = "[-Cfiquz] [-P pattern] off len [len..]",
        .oneline    = "asynchronously writes a number of bytes",
        .help       =
            "\n"
            " asynchronously writes a range of bytes from the given offset "
            "source\n"
            " from multiple buffers\n"
            "\n"
            " Example:\n"
            " 'aio_write 512 1k 1k' - writes 2 kilobytes at 512 bytes into "
            "the open file\n"
            "\n"
            " Writes into a segment of the currently open file, using a "
            "buffer\n"
            " filled with a set pattern (0xcdcdcdcd).\n"
            " The write is performed asynchronously and the aio_flush "
            "command must be\n"
            " used to ensure all outstanding aio requests have been "
            "completed.\n"
            " Note that due to its asynchronous nature, this command will "
            "be\n"
            " considered successful once the request is submitted, "
            "independently\n"
            " of potential I/O errors or pattern mismatches.\n"
            " -P, -- use different pattern to fill file\n"
            " -C, -- report statistics in a machine parsable format\n"
            " -f, -- use Force Unit Access semantics\n"
            " -i, -- treat request as invalid, for exercising stats\n"
            " -q, -- quiet mode, do not show I/O statistics\n"
            " -u, -- with -z, allow unmapping\n"
            " -z, -- write zeroes using blk_aio_pwrite_zeroes\n"
            "\n",
    }, {
        .name       = "alloc",
        .altname    = "a",
        .cfunc      = alloc_f,
        .argmin     = 1,
        .argmax     = 2,
        .args       = "offset [count]",
        .oneline    = "checks if offset is allocated in the file",
    }, {
        .name       = "break",
        .cfunc      = break_f,
        .argmin     = 2,
        .argmax     = 2,
        .args       = "event tag",
        .oneline    = "sets a breakpoint on event and tags the stopped "
                      "request as tag",
    }, {
        .name       = "discard",
        .altname    = "d",
        .cfunc      = discard_f,
        .argmin     = 2,
        .argmax     = -1,
        .flags      = QEMUIO_CMD_WRITE,
        .args       = "[-Cq] off len",
        .oneline    = "discards a number of bytes at a specified offset",
        .help       =
            "\n"
            " discards a range of bytes from the given offset\n"
            "\n"
            " Example:\n"
            " 'discard 512 1k' - discards 1 kilobyte from 512 bytes into "
            "the file\n"
            "\n"
            " Discards a segment of the currently open file.\n"
            " -C, -- report statistics in a machine parsable format\n"
            " -q, -- quiet mode, do not show I/O statistics\n"
            "\n",
    }, {
        .name       = "flush",
        .altname    = "f",
        .cfunc      = flush_f,
        .oneline    = "flush all in-core file state to disk",
    }, {
        .name       = "help",
        .altname    = "?",
        .cfunc      = help_f,
        .argmin     = 0,
        .argmax     = 1,
        .flags      = QEMUIO_CMD_GLOBAL,
        .args       = "[command]",
        .oneline    = "help for one or all commands",
    }, {
        .name       = "info",
        .altname    = "i",
        .cfunc      = info_f,
        .oneline    = "prints information about the current file",
    }, {
        .name       = "length",
        .altname    = "l",
        .cfunc      = length_f,
        .oneline    = "gets the length of the current file",
    }, {
        .name       = "map",
        .cfunc      = map_f,
        .args       = "",
        .oneline    = "prints the allocated areas of a file",
    }, {
        .name       = "read",
        .altname    = "r",
        .cfunc      = read_f,
        .argmin     = 2,
        .argmax     = -1,
        .args       = "[-abCqv] [-P pattern [-s off] [-l len]] off len",
        .oneline    = "reads a number of bytes at a specified offset",
        .help       =
            "\n"
            " reads a range of bytes from the given offset\n"
            "\n"
            " Example:\n"
            " 'read -v 512 1k' - dumps 1 kilobyte read from 512 bytes into "
            "the file\n"
            "\n"
            " Reads a segment of the currently open file, optionally "
            "dumping it to the\n"
            " standard output stream (with -v option) for subsequent "
            "inspection.\n"
            " -b, -- read from the VM state rather than the virtual disk\n"
            " -C, -- report statistics in a machine parsable format\n"
            " -l, -- length for pattern verification (only with -P)\n"
            " -p, -- ignored for backwards compatibility\n"
            " -P, -- use a pattern to verify read data\n"
            " -q, -- quiet mode, do not show I/O statistics\n"
            " -s, -- start offset for pattern verification (only with -P)\n"
            " -v, -- dump buffer to standard output\n"
            "\n",
    }, {
        .name       = "readv",
        .cfunc      = readv_f,
        .argmin     = 2,
        .argmax     = -1,
        .args       = "[-Cqv] [-P pattern] off len [len..]",
        .oneline    = "reads a number of bytes at a specified offset",
        .help       =
            "\n"
            " reads a range of bytes from the given offset into multiple "
            "buffers\n"
            "\n"
            " Example:\n"
            " 'readv -v 512 1k 1k ' - dumps 2 kilobytes read from 512 bytes "
            "into the file\n"
            "\n"
            " Reads a segment of the currently open file, optionally "
            "dumping it to the\n"
            " standard output stream (with -v option) for subsequent "
            "inspection.\n"
            " Uses multiple iovec buffers if more than one byte range is "
            "specified.\n"
            " -C, -- report statistics in a machine parsable format\n"
            " -P, -- use a pattern to verify read data\n"
            " -v, -- dump buffer to standard output\n"
            " -q, -- quiet mode, do not show I/O statistics\n"
            "\n",
    }, {
        .name       = "remove_break",
        .cfunc      = remove_break_f,
        .argmin     = 1,
        .argmax     = 1,
        .args       = "tag",
        .oneline    = "remove a breakpoint by tag",
    }, {
        .name       = "reopen",
        .cfunc      = reopen_f,
        .argmin     = 0,
        .argmax     = -1,
        .args       = "[(-r|-w)] [-c cache] [-o options]",
        .oneline    = "reopens an image with new options",
        .help       =
            "\n"
            " Changes the open options of an already opened image\n"
            "\n"
            " Example:\n"
            " 'reopen -o lazy-refcounts=on' - activates lazy refcount "
            "writeback on a qcow2 image\n"
            "\n"
            " -r, -- Reopen the image read-only\n"
            " -w, -- Reopen the image read-write\n"
            " -c, -- Change the cache mode to the given value\n"
            " -o, -- Changes block driver options (cf. 'open' command)\n"
            "\n",
    }, {
        .name       = "resume",
        .cfunc      = resume_f,
        .argmin     = 1,
        .argmax     = 1,
        .args       = "tag",
        .oneline    = "resumes the request tagged as tag",
    }, {
        .name       = "sigraise",
        .cfunc      = sigraise_f,
        .argmin     = 1,
        .argmax     = 1,
        .flags      = QEMUIO_CMD_NOFILE_OK,
        .args       = "signal",
        .oneline    = "raises a signal",
        .help       =
            "\n"
            " raises the given signal\n"
            "\n"
            " Example:\n"
            " 'sigraise " G_STRINGIFY(SIGTERM) "' - raises SIGTERM\n"
            "\n"
            " Invokes raise(signal), where \"signal\" is the mandatory "
            "integer argument\n"
            " given to sigraise.\n"
            "\n",
    }, {
        .name       = "sleep",
        .cfunc      = sleep_f,
        .argmin     = 1,
        .argmax     = 1,
        .flags      = QEMUIO_CMD_NOFILE_OK,
        .oneline    = "waits for the given value in milliseconds",
    }, {
        .name       = "truncate",
        .altname    = "t",
        .cfunc      = truncate_f,
        .argmin     = 1,
        .argmax     = 3,
        .flags      = QEMUIO_CMD_WRITE,
        .args       = "[-m prealloc_mode] off",
        .oneline    = "truncates the current file at the given offset",
    }, {
        .name       = "wait_break",
        .cfunc      = wait_break_f,
        .argmin     = 1,
        .argmax     = 1,
        .args       = "tag",
        .oneline    = "waits for the suspension of a request",
    }, {
        .name       = "write",
        .altname    = "w",
        .cfunc      = write_f,
        .argmin     = 2,
        .argmax     = -1,
        .flags      = QEMUIO_CMD_WRITE,
        .args       = "[-bcCfnquz] [-P pattern | -s source_file] off len",
        .oneline    = "writes a number of bytes at a specified offset",
        .help       =
            "\n"
            " writes a range of bytes from the given offset\n"
            "\n"
            " Example:\n"
            " 'write 512 1k' - writes 1 kilobyte at 512 bytes into the open "
            "file\n"
            "\n"
            " Writes into a segment of the currently open file, using a "
            "buffer\n"
            " filled with a set pattern (0xcdcdcdcd).\n"
            " -b, -- write to the VM state rather than the virtual disk\n"
            " -c, -- write compressed data with blk_write_compressed\n"
            " -f, -- use Force Unit Access semantics\n"
            " -n, -- with -z, don't allow slow fallback\n"
            " -p, -- ignored for backwards compatibility\n"
            " -P, -- use different pattern to fill file\n"
            " -s, -- use a pattern file to fill the write buffer\n"
            " -C, -- report statistics in a machine parsable format\n"
            " -q, -- quiet mode, do not show I/O statistics\n"
            " -u, -- with -z, allow unmapping\n"
            " -z, -- write zeroes using blk_co_pwrite_zeroes\n"
            "\n",
    }, {
        .name       = "writev",
        .cfunc      = writev_f,
        .argmin     = 2,
        .argmax     = -1,
        .flags      = QEMUIO_CMD_WRITE,
        .args       = "[-Cfq] [-P pattern] off len [len..]",
        .oneline    = "writes a number of bytes at a specified offset",
        .help       =
            "\n"
            " writes a range of bytes from the given offset source from "
            "multiple buffers\n"
            "\n"
            " Example:\n"
            " 'writev 512 1k 1k' - writes 2 kilobytes at 512 bytes into the "
            "open file\n"
            "\n"
            " Writes into a segment of the currently open file, using a "
            "buffer\n"
            " filled with a set pattern (0xcdcdcdcd).\n"
            " -P, -- use different pattern to fill file\n"
            " -C, -- report statistics in a machine parsable format\n"
            " -f, -- use Force Unit Access semantics\n"
            " -q, -- quiet mode, do not show I/O statistics\n"
            "\n",
    },
};

static void add_builtin_commands(void)
{
    add_to_list(builtin_commands, ARRAY_SIZE(builtin_commands));
}
