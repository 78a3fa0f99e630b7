/*
 * Protocol drivers for POSIX files ("file") and host devices ("host_device")
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>

#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/option.h"
#include "block/block_int.h"
#include "block/raw-aio.h"
#include "qemu/thread-pool.h"

#define FILE_OPT_FILENAME           "filename"
#define FILE_OPT_AIO                "aio"
#define FILE_OPT_AIO_MAX_BATCH      "aio-max-batch"
#define FILE_OPT_LOCKING            "locking"
#define FILE_OPT_EXTENT_SIZE_HINT   "extent_size_hint"

/* Largest alignment the O_DIRECT probe tries */
#define FILE_MAX_BLOCKSIZE 4096
/* Largest O_DIRECT alignment taken from the kernel's statx() answer */
#define FILE_MAX_DIO_ALIGN (64 * KiB)

/*
 * Image locking, interoperable with QEMU: an open file description holds
 * a shared OFD lock on byte RAW_LOCK_PERM_BASE + i for each permission
 * bit i it uses, and on RAW_LOCK_SHARED_BASE + i for each one it does not
 * let others have.  There is no permission graph here, so a node uses
 * what QEMU's formats ask of their file: consistent read, plus write when
 * writable, and resize when opened to resize (BDRV_O_RESIZE) or when a
 * resize or a format on top (.bdrv_add_perm) asks for it.  It shares
 * everything, until a format with its metadata in it (qcow2) takes write
 * and resize away, or raw with an offset or size takes resize away,
 * unless the image is opened with force-share (BDRV_O_NO_SHARE unset).
 */
#define RAW_LOCK_PERM_BASE      100
#define RAW_LOCK_SHARED_BASE    200

#define RAW_PERM_CONSISTENT_READ    0x1
#define RAW_PERM_WRITE              0x2
#define RAW_PERM_WRITE_UNCHANGED    0x4
#define RAW_PERM_RESIZE             0x8
#define RAW_PERM_ALL                0xf
#define RAW_PERM_BITS               4

#ifndef FS_NOCOW_FL
#define FS_NOCOW_FL 0x00800000
#endif

typedef enum FileAioMode {
    FILE_AIO_THREADS,
    FILE_AIO_NATIVE,
    FILE_AIO_IO_URING,
} FileAioMode;

typedef struct BDRVRawState {
    int fd;
    int open_flags;             /* open(2) flags of @fd */
    char *filename;
    bool is_blk;                /* a block device */

    FileAioMode aio;
    bool use_lock;              /* take QEMU-compatible image locks */
    uint64_t shared;            /* permissions the locks let others have */
    uint64_t wanted;            /* write/resize used while writable */
    bool no_share;              /* no force-share: formats may unshare */
#ifdef CONFIG_LINUX_AIO
    LinuxAioState *laio;
#endif
#ifdef CONFIG_LINUX_IO_URING
    LuringState *luring;
#endif

    /* O_DIRECT: buffer address alignment found by probing, else 1 */
    size_t buf_align;
    bool needs_alignment;

    /*
     * What the file system turned out to support; cleared from worker
     * threads the first time an operation returns ENOTSUP, so a lost
     * update only costs one more failing system call.
     */
    bool has_discard;
    bool has_write_zeroes;
    bool has_fallocate;
    /* errno of a failed fdatasync() without O_DIRECT; fails later flushes */
    int page_cache_inconsistent;
} BDRVRawState;

typedef struct BDRVRawReopenState {
    int fd;
    int open_flags;
    /* @fd is a dup() of the old one: flags and locks are shared */
    bool dup;
} BDRVRawReopenState;

typedef enum RawRequestType {
    RAW_REQ_READ,
    RAW_REQ_WRITE,
    RAW_REQ_FLUSH,
    RAW_REQ_WRITE_ZEROES,
    RAW_REQ_DISCARD,
    RAW_REQ_TRUNCATE,
} RawRequestType;

/* One request handed to a worker thread */
typedef struct RawRequest {
    BDRVRawState *s;            /* NULL for image creation */
    int fd;
    RawRequestType type;
    int64_t offset;
    int64_t bytes;
    QEMUIOVector *qiov;
    /* Read/write: bounce through an aligned buffer (O_DIRECT) */
    bool misaligned;
    size_t bounce_align;
    /* Write zeroes */
    bool may_unmap;
    bool no_fallback;
    /* Truncate */
    PreallocMode prealloc;
    Error *err;
} RawRequest;

static QemuOptsList raw_runtime_opts = {
    .name = "file",
    QEMU_OPTS_LIST_INIT(raw_runtime_opts),
    .desc = {
        {
            .name = FILE_OPT_FILENAME,
            .type = QEMU_OPT_STRING,
            .help = "File name of the image",
        },
        {
            .name = FILE_OPT_AIO,
            .type = QEMU_OPT_STRING,
            .help = "host AIO implementation (threads, native, io_uring)",
        },
        {
            .name = FILE_OPT_AIO_MAX_BATCH,
            .type = QEMU_OPT_NUMBER,
            .help = "AIO max batch size (accepted, batching is automatic)",
        },
        {
            .name = FILE_OPT_LOCKING,
            .type = QEMU_OPT_STRING,
            .help = "file locking mode (on/off/auto, default: auto)",
        },
        { /* end of list */ }
    },
};

static const char *const raw_perm_names[RAW_PERM_BITS] = {
    "consistent read", "write", "write unchanged", "resize",
};

static QemuOptsList raw_create_opts = {
    .name = "file-create-opts",
    QEMU_OPTS_LIST_INIT(raw_create_opts),
    .desc = {
        {
            .name = BLOCK_OPT_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Virtual disk size",
        },
        {
            .name = BLOCK_OPT_NOCOW,
            .type = QEMU_OPT_BOOL,
            .help = "Turn off copy-on-write (valid only on btrfs)",
        },
        {
            .name = BLOCK_OPT_PREALLOC,
            .type = QEMU_OPT_STRING,
            .help = "Preallocation mode (allowed values: off, falloc, full)",
        },
        {
            .name = FILE_OPT_EXTENT_SIZE_HINT,
            .type = QEMU_OPT_SIZE,
            .help = "Extent size hint for the image file, 0 to disable",
        },
        { /* end of list */ }
    },
};

static int64_t raw_getlength(BlockDriverState *bs);

/* Map "not supported here" errnos to -ENOTSUP */
static int raw_translate_err(int err)
{
    if (err == -ENODEV || err == -ENOSYS || err == -EOPNOTSUPP ||
        err == -ENOTTY) {
        return -ENOTSUP;
    }
    return err;
}

static int raw_fallocate(int fd, int mode, int64_t offset, int64_t len)
{
    while (fallocate(fd, mode, offset, len) < 0) {
        if (errno != EINTR) {
            return raw_translate_err(-errno);
        }
    }
    return 0;
}

/*
 * open(2) with QEMU's error texts.  O_DIRECT refused by the file system
 * gets a message of its own, since "Invalid argument" would not say why.
 */
static int raw_open_fd(const char *filename, int flags, Error **errp)
{
    const char *action = (flags & O_CREAT) ? "create" : "open";
    int fd, err;

    do {
        fd = open(filename, flags | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        return fd;
    }

    err = errno;
    if (err == EINVAL && (flags & O_DIRECT)) {
        int probe_fd = open(filename, (flags & ~O_DIRECT) | O_CLOEXEC, 0644);

        if (probe_fd >= 0) {
            close(probe_fd);
            error_setg(errp, "Could not %s '%s': filesystem does not "
                       "support O_DIRECT", action, filename);
            return -EINVAL;
        }
    }
    error_setg_errno(errp, err, "Could not %s '%s'", action, filename);
    return -err;
}

static int raw_lock_byte(int fd, int byte, short type)
{
    struct flock fl = {
        .l_whence   = SEEK_SET,
        .l_start    = byte,
        .l_len      = 1,
        .l_type     = type,
    };

    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 0 if no other open file description holds a lock on @byte */
static int raw_lock_test(int fd, int byte)
{
    struct flock fl = {
        .l_whence   = SEEK_SET,
        .l_start    = byte,
        .l_len      = 1,
        .l_type     = F_WRLCK,
    };

    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return -errno;
    }
    return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

/* A busy lock is the normal case of a conflict: no errno text for it */
static void raw_lock_error(Error **errp, int err, const char *what,
                           const char *perm_name)
{
    if (err == EAGAIN || err == EACCES) {
        error_setg(errp, "Failed to get %s\"%s\" lock", what, perm_name);
    } else {
        error_setg_errno(errp, err, "Failed to get %s\"%s\" lock", what,
                         perm_name);
    }
}

/*
 * Make @fd's locks say it uses @perm and shares @shared, then check that
 * no other process holds something that conflicts.  On failure @fd may
 * be left with some of the new locks; callers then close it.
 */
static int raw_set_locks(int fd, uint64_t perm, uint64_t shared,
                         const char *filename, Error **errp)
{
    int i, ret;

    for (i = 0; i < RAW_PERM_BITS; i++) {
        uint64_t bit = 1ULL << i;

        ret = raw_lock_byte(fd, RAW_LOCK_PERM_BASE + i,
                            (perm & bit) ? F_RDLCK : F_UNLCK);
        if (ret == 0) {
            ret = raw_lock_byte(fd, RAW_LOCK_SHARED_BASE + i,
                                (shared & bit) ? F_UNLCK : F_RDLCK);
        }
        if (ret < 0) {
            if (ret == -EAGAIN || ret == -EACCES) {
                error_setg(errp, "Failed to lock byte %d",
                           RAW_LOCK_PERM_BASE + i);
            } else {
                error_setg_errno(errp, -ret, "Failed to lock byte %d",
                                 RAW_LOCK_PERM_BASE + i);
            }
            return ret;
        }
    }

    for (i = 0; i < RAW_PERM_BITS; i++) {
        uint64_t bit = 1ULL << i;

        ret = 0;
        if (perm & bit) {
            ret = raw_lock_test(fd, RAW_LOCK_SHARED_BASE + i);
            if (ret < 0) {
                raw_lock_error(errp, -ret, "", raw_perm_names[i]);
            }
        }
        if (ret == 0 && !(shared & bit)) {
            ret = raw_lock_test(fd, RAW_LOCK_PERM_BASE + i);
            if (ret < 0) {
                raw_lock_error(errp, -ret, "shared ", raw_perm_names[i]);
            }
        }
        if (ret < 0) {
            error_append_hint(errp, "Is another process using the image "
                              "[%s]?\n", filename);
            return ret;
        }
    }
    return 0;
}

/* What @s uses when open with @open_flags: write and resize need O_RDWR */
static uint64_t raw_perm_for(BDRVRawState *s, int open_flags)
{
    return RAW_PERM_CONSISTENT_READ |
           ((open_flags & O_ACCMODE) == O_RDWR ? s->wanted : 0);
}

/*
 * "locking": on and auto lock (OFD locks always exist on Linux), off
 * does not
 */
static bool raw_parse_locking(const char *str, bool *use_lock, Error **errp)
{
    if (!str || !strcmp(str, "auto") || !strcmp(str, "on")) {
        *use_lock = true;
    } else if (!strcmp(str, "off")) {
        *use_lock = false;
    } else {
        error_setg(errp, "invalid parameter value: %s", str);
        return false;
    }
    return true;
}

/* open(2) flags for block layer @bdrv_flags */
static int raw_parse_flags(int bdrv_flags, bool read_write)
{
    int flags = read_write ? O_RDWR : O_RDONLY;

    if (bdrv_flags & BDRV_O_NOCACHE) {
        flags |= O_DIRECT;
    }
    return flags;
}

/*
 * Linux block devices can be set read-only (blockdev --setro) while the
 * node itself stays writable; writes would then fail with EPERM, so
 * refuse to open them read-write instead.
 */
static int raw_check_hdev_writable(int fd)
{
    struct stat st;
    int readonly = 0;

    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (!S_ISBLK(st.st_mode)) {
        return 0;
    }
    if (ioctl(fd, BLKROGET, &readonly) < 0) {
        return -errno;
    }
    return readonly ? -EACCES : 0;
}

/* O_DIRECT over NFS takes any alignment, so probing would find nothing */
static bool raw_dio_byte_aligned(int fd)
{
    struct statfs buf;

    return fstatfs(fd, &buf) == 0 && buf.f_type == NFS_SUPER_MAGIC;
}

/*
 * Probe read: true unless the kernel refuses the alignment (EINVAL).
 * Other errors (a failing disk) say nothing about alignment.
 */
static bool raw_is_io_aligned(int fd, void *buf, size_t len)
{
    ssize_t ret = pread(fd, buf, len, 0);

    return ret >= 0 || errno != EINVAL;
}

/*
 * The O_DIRECT alignments the kernel reports for @fd (statx() with
 * STATX_DIOALIGN, Linux 6.1 on): false where it does not know them.
 */
static bool raw_statx_dio_align(int fd, uint32_t *req_align,
                                size_t *mem_align)
{
#ifdef STATX_DIOALIGN
    struct statx stx;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0 ||
        !(stx.stx_mask & STATX_DIOALIGN) ||
        !is_power_of_2(stx.stx_dio_offset_align) ||
        !is_power_of_2(stx.stx_dio_mem_align) ||
        stx.stx_dio_offset_align > FILE_MAX_DIO_ALIGN ||
        stx.stx_dio_mem_align > FILE_MAX_DIO_ALIGN) {
        return false;
    }
    *req_align = stx.stx_dio_offset_align;
    *mem_align = stx.stx_dio_mem_align;
    return true;
#else
    return false;
#endif
}

/*
 * Find the request and buffer alignment O_DIRECT needs on @fd: ask the
 * kernel (statx) or the device (BLKSSZGET), otherwise try reads of
 * growing alignment.  A read that succeeds at alignment 1 proves nothing
 * (an empty file, or a hole at offset 0 after a discard, may succeed
 * regardless), so that result falls back to a safe value; the kernel's
 * answer does not depend on what the file holds.
 */
static void raw_probe_alignment(int fd, bool needs_alignment,
                                uint32_t *request_alignment,
                                size_t *buf_align, Error **errp)
{
    static const size_t alignments[] = { 1, 512, 1024, 2048, 4096 };
    size_t max_align = MAX(FILE_MAX_BLOCKSIZE, qemu_real_host_page_size());
    unsigned int sector_size;
    uint32_t req_align = 0;
    size_t mem_align = 0;
    char *buf;
    size_t i;

    if (!needs_alignment) {
        *request_alignment = 1;
        *buf_align = 1;
        return;
    }

    if (raw_statx_dio_align(fd, &req_align, &mem_align)) {
        *request_alignment = req_align;
        *buf_align = mem_align;
        return;
    }

    if (ioctl(fd, BLKSSZGET, &sector_size) == 0 && sector_size) {
        req_align = sector_size;
    }

    if (!req_align) {
        buf = qemu_memalign(max_align, max_align);
        for (i = 0; i < ARRAY_SIZE(alignments); i++) {
            if (raw_is_io_aligned(fd, buf, alignments[i])) {
                req_align = alignments[i] != 1 ? alignments[i] : max_align;
                break;
            }
        }
        qemu_vfree(buf);
    }

    buf = qemu_memalign(max_align, 2 * max_align);
    for (i = 0; i < ARRAY_SIZE(alignments); i++) {
        if (raw_is_io_aligned(fd, buf + alignments[i], max_align)) {
            mem_align = alignments[i] != 1 ? alignments[i] : req_align;
            break;
        }
    }
    qemu_vfree(buf);

    if (!req_align || !mem_align) {
        error_setg(errp, "Could not find working O_DIRECT alignment");
        error_append_hint(errp, "Try cache.direct=off\n");
        return;
    }
    *request_alignment = req_align;
    *buf_align = mem_align;
}

static bool raw_needs_alignment(int fd, int open_flags)
{
    return (open_flags & O_DIRECT) && !raw_dio_byte_aligned(fd);
}

static void raw_parse_filename(const char *filename, QDict *options,
                               Error **errp)
{
    strstart(filename, "file:", &filename);
    qdict_put_str(options, FILE_OPT_FILENAME, filename);
}

static void hdev_parse_filename(const char *filename, QDict *options,
                                Error **errp)
{
    strstart(filename, "host_device:", &filename);
    qdict_put_str(options, FILE_OPT_FILENAME, filename);
}

static bool raw_parse_aio(const char *str, int bdrv_flags, FileAioMode *mode,
                          Error **errp)
{
    if (!str) {
        if (bdrv_flags & BDRV_O_NATIVE_AIO) {
            *mode = FILE_AIO_NATIVE;
        } else if (bdrv_flags & BDRV_O_IO_URING) {
            *mode = FILE_AIO_IO_URING;
        } else {
            *mode = FILE_AIO_THREADS;
        }
    } else if (!strcmp(str, "threads")) {
        *mode = FILE_AIO_THREADS;
    } else if (!strcmp(str, "native")) {
        *mode = FILE_AIO_NATIVE;
    } else if (!strcmp(str, "io_uring")) {
        *mode = FILE_AIO_IO_URING;
    } else {
        error_setg(errp, "invalid parameter value: %s", str);
        return false;
    }
    return true;
}

/* Set up the kernel AIO backend chosen with aio= (needs s->open_flags) */
static bool raw_setup_aio(BDRVRawState *s, Error **errp)
{
    ERRP_GUARD();

    switch (s->aio) {
    case FILE_AIO_THREADS:
        return true;
    case FILE_AIO_NATIVE:
#ifdef CONFIG_LINUX_AIO
        /* Linux only does asynchronous I/O for O_DIRECT files */
        if (!(s->open_flags & O_DIRECT)) {
            error_setg(errp, "aio=native was specified, but it requires "
                       "cache.direct=on, which was not specified.");
            return false;
        }
        s->laio = laio_init(errp);
        if (!s->laio) {
            error_prepend(errp, "Unable to use native AIO: ");
            return false;
        }
        return true;
#else
        error_setg(errp, "aio=native was specified, but is not supported "
                   "in this build.");
        return false;
#endif
    case FILE_AIO_IO_URING:
#ifdef CONFIG_LINUX_IO_URING
        s->luring = luring_init(errp);
        if (!s->luring) {
            error_prepend(errp, "Unable to use io_uring: ");
            return false;
        }
        return true;
#else
        error_setg(errp, "aio=io_uring was specified, but is not supported "
                   "in this build.");
        return false;
#endif
    }
    g_assert_not_reached();
}

static void raw_teardown_aio(BDRVRawState *s)
{
#ifdef CONFIG_LINUX_AIO
    if (s->laio) {
        laio_cleanup(s->laio);
        s->laio = NULL;
    }
#endif
#ifdef CONFIG_LINUX_IO_URING
    if (s->luring) {
        luring_cleanup(s->luring);
        s->luring = NULL;
    }
#endif
}

/*
 * Open the file named by the "filename" option.  @device selects the
 * host_device flavour, which requires a character or block device where
 * "file" requires a regular file.
 *
 * Options:
 *   filename=PATH        the file (required; "file:PATH" in filename form)
 *   aio=MODE             threads (default), native (libaio; needs
 *                        cache.direct=on) or io_uring; the aio flags of
 *                        the open flags choose the default
 *   aio-max-batch=N      accepted for compatibility; batching is automatic
 *   locking=auto|on|off  QEMU-compatible image locks (auto and on lock)
 */
static int raw_open_common(BlockDriverState *bs, QDict *options, int flags,
                           bool device, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    QemuOpts *opts;
    Error *local_err = NULL;
    const char *filename = NULL;
    struct stat st;
    bool read_write;
    int ret;

    s->fd = -1;
    opts = qemu_opts_create(&raw_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        ret = -EINVAL;
        goto fail;
    }

    filename = qemu_opt_get(opts, FILE_OPT_FILENAME);
    if (!filename || !filename[0]) {
        /* Nothing to unlink for BDRV_O_TEMPORARY either */
        error_setg(errp, "The '%s' block driver requires a file name",
                   bs->drv->format_name);
        ret = -EINVAL;
        goto fail;
    }
    s->filename = g_strdup(filename);

    if (!raw_parse_aio(qemu_opt_get(opts, FILE_OPT_AIO), flags, &s->aio,
                       errp) ||
        !raw_parse_locking(qemu_opt_get(opts, FILE_OPT_LOCKING),
                           &s->use_lock, errp)) {
        ret = -EINVAL;
        goto fail;
    }
    if (flags & BDRV_O_INACTIVE) {
        /* Someone else owns the image until we are activated */
        s->use_lock = false;
    }

    read_write = (flags & BDRV_O_RDWR) && !bs->read_only;
    s->open_flags = raw_parse_flags(flags, read_write);
    ret = raw_open_fd(s->filename, s->open_flags, &local_err);
    if (ret < 0 && read_write && (flags & BDRV_O_AUTO_RDONLY) &&
        (ret == -EACCES || ret == -EPERM || ret == -EROFS)) {
        /* auto-read-only: settle for read access */
        error_free(local_err);
        local_err = NULL;
        s->open_flags = raw_parse_flags(flags, false);
        ret = raw_open_fd(s->filename, s->open_flags, &local_err);
        if (ret >= 0) {
            bs->read_only = true;
        }
    }
    if (ret < 0) {
        error_propagate(errp, local_err);
        if (ret == -EROFS) {
            ret = -EACCES;
        }
        goto fail;
    }
    s->fd = ret;

    if (s->open_flags & O_RDWR) {
        ret = raw_check_hdev_writable(s->fd);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "The device is not writable");
            goto fail;
        }
    }

    if (!raw_setup_aio(s, errp)) {
        ret = -EINVAL;
        goto fail;
    }

    if (fstat(s->fd, &st) < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not stat file");
        goto fail;
    }
    if (!device && !S_ISREG(st.st_mode)) {
        error_setg(errp, "'%s' driver requires '%s' to be a regular file",
                   bs->drv->format_name, s->filename);
        ret = -EINVAL;
        goto fail;
    }
    if (device && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
        error_setg(errp, "'%s' driver requires '%s' to be either "
                   "a character or block device",
                   bs->drv->format_name, s->filename);
        ret = -EINVAL;
        goto fail;
    }
    s->is_blk = S_ISBLK(st.st_mode);

    /* Without BDRV_O_NO_SHARE the user asked for force-share (-U) */
    s->no_share = flags & BDRV_O_NO_SHARE;
    s->shared = RAW_PERM_ALL;
    /* Resize only for who asked for it, or a format on top (see below) */
    s->wanted = RAW_PERM_WRITE |
                ((flags & BDRV_O_RESIZE) ? RAW_PERM_RESIZE : 0);
    if (s->use_lock) {
        ret = raw_set_locks(s->fd, raw_perm_for(s, s->open_flags), s->shared,
                            s->filename, errp);
        if (ret < 0) {
            goto fail;
        }
    }

    s->has_discard = true;
    s->has_write_zeroes = true;
    s->has_fallocate = S_ISREG(st.st_mode);
    if (s->is_blk && !(s->open_flags & O_DIRECT)) {
        /* BLKZEROOUT leaves stale data in the page cache */
        s->has_write_zeroes = false;
    }
    s->needs_alignment = raw_needs_alignment(s->fd, s->open_flags);
    s->buf_align = 1;

    bs->supported_write_flags = 0;
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    ret = 0;

fail:
    if (ret < 0) {
        if (s->fd >= 0) {
            close(s->fd);
            s->fd = -1;
        }
        raw_teardown_aio(s);
        g_free(s->filename);
        s->filename = NULL;
    }
    if (filename && (flags & BDRV_O_TEMPORARY)) {
        /* Scratch image: gone once the last descriptor is closed */
        unlink(filename);
    }
    qemu_opts_del(opts);
    return ret;
}

/* Take @perm (if writable) and stop sharing @unshared, re-taking locks */
static int raw_add_perm(BlockDriverState *bs, uint64_t perm,
                        uint64_t unshared, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    uint64_t old_shared = s->shared;
    uint64_t old_wanted = s->wanted;
    int ret;

    s->wanted |= perm & (RAW_PERM_WRITE | RAW_PERM_RESIZE);
    if (s->no_share) {
        s->shared &= ~unshared;
    }
    if (!s->use_lock ||
        (s->shared == old_shared && s->wanted == old_wanted)) {
        return 0;
    }
    ret = raw_set_locks(s->fd, raw_perm_for(s, s->open_flags), s->shared,
                        s->filename, errp);
    if (ret < 0) {
        /* Back to what we held: other users keep what they had */
        s->shared = old_shared;
        s->wanted = old_wanted;
        raw_set_locks(s->fd, raw_perm_for(s, s->open_flags), old_shared,
                      s->filename, NULL);
    }
    return ret;
}

static int raw_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    return raw_open_common(bs, options, flags, false, errp);
}

static int hdev_open(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp)
{
    return raw_open_common(bs, options, flags, true, errp);
}

/* Plain filenames of host devices are picked up by "host_device" */
static int hdev_probe_device(const char *filename)
{
    struct stat st;

    if (stat(filename, &st) == 0 &&
        (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
        return 100;
    }
    return 0;
}

static void raw_close(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    raw_teardown_aio(s);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    g_free(s->filename);
    s->filename = NULL;
}

/* Set O_DIRECT on @fd (its open file description) as in @open_flags */
static int raw_set_odirect(int fd, int open_flags)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0) {
        return -errno;
    }
    fl = (fl & ~O_DIRECT) | (open_flags & O_DIRECT);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

/*
 * Reopen: a new access mode needs a new file descriptor; a change of
 * O_DIRECT alone is applied to a duplicate with fcntl().  The new
 * descriptor is validated (writable device, O_DIRECT alignment) here so
 * that commit cannot fail.
 */
static int raw_reopen_prepare(BDRVReopenState *state, Error **errp)
{
    BlockDriverState *bs = state->bs;
    BDRVRawState *s = bs->opaque;
    BDRVRawReopenState *rs;
    QemuOpts *opts;
    const char *str;
    FileAioMode aio;
    uint32_t req_align = 0;
    size_t buf_align = 0;
    int fd = -1;
    int ret;

    opts = qemu_opts_create(&raw_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, state->options, errp)) {
        ret = -EINVAL;
        goto out;
    }
    str = qemu_opt_get(opts, FILE_OPT_FILENAME);
    if (str && strcmp(str, s->filename)) {
        error_setg(errp, "Cannot change the option '%s'", FILE_OPT_FILENAME);
        ret = -EINVAL;
        goto out;
    }
    str = qemu_opt_get(opts, FILE_OPT_AIO);
    if (str) {
        if (!raw_parse_aio(str, 0, &aio, errp)) {
            ret = -EINVAL;
            goto out;
        }
        if (aio != s->aio) {
            error_setg(errp, "Cannot change the option '%s'", FILE_OPT_AIO);
            ret = -EINVAL;
            goto out;
        }
    }
    str = qemu_opt_get(opts, FILE_OPT_LOCKING);
    if (str) {
        bool use_lock;

        if (!raw_parse_locking(str, &use_lock, errp)) {
            ret = -EINVAL;
            goto out;
        }
        if (use_lock != s->use_lock) {
            error_setg(errp, "Cannot change the option '%s'",
                       FILE_OPT_LOCKING);
            ret = -EINVAL;
            goto out;
        }
    }

    rs = g_new0(BDRVRawReopenState, 1);
    rs->open_flags = raw_parse_flags(state->flags,
                                     (state->flags & BDRV_O_RDWR) &&
                                     !state->read_only);
    state->opaque = rs;

    if (rs->open_flags == s->open_flags) {
        rs->fd = s->fd;
        ret = 0;
        goto out;
    }

    /*
     * aio=native keeps working without O_DIRECT (the kernel then completes
     * requests synchronously), so unlike open, reopen allows dropping it.
     */
    /*
     * Only O_DIRECT differs: switch it on a duplicate, which keeps
     * working even if the file was unlinked (BDRV_O_TEMPORARY).
     */
    if ((rs->open_flags & O_ACCMODE) == (s->open_flags & O_ACCMODE)) {
        fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0 && raw_set_odirect(fd, rs->open_flags) < 0) {
            close(fd);
            fd = -1;
        }
        rs->dup = fd >= 0;
    }
    if (fd < 0) {
        ret = raw_open_fd(s->filename, rs->open_flags, errp);
        if (ret < 0) {
            goto fail;
        }
        fd = ret;
    }
    rs->fd = fd;

    if (rs->open_flags & O_RDWR) {
        ret = raw_check_hdev_writable(fd);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "The device is not writable");
            goto fail;
        }
    }
    if (s->use_lock && !rs->dup) {
        /*
         * The old descriptor's locks are ours too: drop them for the
         * check, or the new descriptor would conflict with them (the
         * abort takes them back)
         */
        raw_set_locks(s->fd, 0, RAW_PERM_ALL, s->filename, NULL);
        ret = raw_set_locks(fd, raw_perm_for(s, rs->open_flags), s->shared,
                            s->filename, errp);
        if (ret < 0) {
            raw_set_locks(s->fd, raw_perm_for(s, s->open_flags), s->shared,
                          s->filename, NULL);
            goto fail;
        }
    }

    /* Fail now, rather than in refresh_limits, if O_DIRECT cannot work */
    raw_probe_alignment(fd, raw_needs_alignment(fd, rs->open_flags),
                        &req_align, &buf_align, errp);
    if (req_align == 0 || buf_align == 0) {
        ret = -EINVAL;
        goto fail;
    }
    ret = 0;
    goto out;

fail:
    if (fd >= 0) {
        if (rs->dup) {
            raw_set_odirect(s->fd, s->open_flags);
        }
        close(fd);
        if (s->use_lock && !rs->dup) {
            /* What the old descriptor held, in case it was dropped */
            raw_set_locks(s->fd, raw_perm_for(s, s->open_flags), s->shared,
                          s->filename, NULL);
        }
    }
    g_free(state->opaque);
    state->opaque = NULL;
out:
    qemu_opts_del(opts);
    return ret;
}

static void raw_reopen_commit(BDRVReopenState *state)
{
    BDRVRawState *s = state->bs->opaque;
    BDRVRawReopenState *rs = state->opaque;

    if (rs->fd != s->fd) {
        close(s->fd);
        s->fd = rs->fd;
    }
    s->open_flags = rs->open_flags;
    s->needs_alignment = raw_needs_alignment(s->fd, s->open_flags);
    g_free(rs);
    state->opaque = NULL;
}

static void raw_reopen_abort(BDRVReopenState *state)
{
    BDRVRawState *s = state->bs->opaque;
    BDRVRawReopenState *rs = state->opaque;

    if (!rs) {
        return;
    }
    if (rs->fd != s->fd) {
        if (rs->dup) {
            /* The status flags were changed for both descriptors */
            raw_set_odirect(s->fd, s->open_flags);
        }
        close(rs->fd);
        if (s->use_lock && !rs->dup) {
            raw_set_locks(s->fd, raw_perm_for(s, s->open_flags), s->shared,
                          s->filename, NULL);
        }
    }
    g_free(rs);
    state->opaque = NULL;
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    uint32_t req_align = 0;
    size_t buf_align = 0;

    s->needs_alignment = raw_needs_alignment(s->fd, s->open_flags);
    raw_probe_alignment(s->fd, s->needs_alignment, &req_align, &buf_align,
                        errp);
    if (!req_align || !buf_align) {
        return;
    }
    s->buf_align = buf_align;
    bs->bl.request_alignment = req_align;
    bs->bl.min_mem_alignment = buf_align;
    bs->bl.opt_mem_alignment = MAX(buf_align, qemu_real_host_page_size());
    bs->bl.max_iov = IOV_MAX;
}

/*
 * Worker side.  These run on pool threads: they touch only the request,
 * the descriptor and the has_* hints of the driver state.
 */

/*
 * Positional vector I/O on @fd, resuming after short transfers.  Returns
 * the bytes transferred (less than requested only for reads that hit end
 * of file) or -errno.
 */
static ssize_t raw_rw_vector(int fd, bool is_write, bool odirect,
                             const struct iovec *iov, int niov,
                             int64_t offset, size_t bytes)
{
    /* A copy of the vector to advance; small ones live on the stack */
    struct iovec small[8];
    g_autofree struct iovec *heap = NULL;
    struct iovec *cur = small;
    int cnt = niov;
    size_t done = 0;

    if ((size_t)niov > G_N_ELEMENTS(small)) {
        cur = heap = g_new(struct iovec, niov);
    }
    memcpy(cur, iov, niov * sizeof(*iov));
    while (done < bytes) {
        ssize_t n;

        while (cnt > 0 && cur->iov_len == 0) {
            cur++;
            cnt--;
        }
        assert(cnt > 0);

        if (is_write) {
            n = pwritev(fd, cur, MIN(cnt, IOV_MAX), offset + done);
        } else {
            n = preadv(fd, cur, MIN(cnt, IOV_MAX), offset + done);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EINVAL && odirect && !is_write && done > 0) {
                /*
                 * O_DIRECT refuses to continue at the unaligned offset a
                 * short read at end of file left us at: that is EOF.
                 */
                break;
            }
            return -errno;
        }
        if (n == 0) {
            if (is_write) {
                return -ENOSPC;
            }
            break;
        }

        done += n;
        while (cnt > 0 && (size_t)n >= cur->iov_len) {
            n -= cur->iov_len;
            cur++;
            cnt--;
        }
        if (n > 0) {
            cur->iov_base = (char *)cur->iov_base + n;
            cur->iov_len -= n;
        }
    }
    return done;
}

static int raw_worker_rw(void *opaque)
{
    RawRequest *r = opaque;
    bool is_write = r->type == RAW_REQ_WRITE;
    bool odirect = r->s->open_flags & O_DIRECT;
    QEMUIOVector *qiov = r->qiov;
    ssize_t done;

    if (!r->misaligned) {
        done = raw_rw_vector(r->fd, is_write, odirect, qiov->iov, qiov->niov,
                             r->offset, r->bytes);
    } else {
        struct iovec iov;
        void *buf = qemu_try_memalign(r->bounce_align, r->bytes);

        if (!buf) {
            return -ENOMEM;
        }
        iov = (struct iovec) { .iov_base = buf, .iov_len = r->bytes };
        if (is_write) {
            qemu_iovec_to_buf(qiov, 0, buf, r->bytes);
        }
        done = raw_rw_vector(r->fd, is_write, odirect, &iov, 1, r->offset,
                             r->bytes);
        if (!is_write && done > 0) {
            qemu_iovec_from_buf(qiov, 0, buf, done);
        }
        qemu_vfree(buf);
    }

    if (done < 0) {
        return done;
    }
    if (done < r->bytes) {
        if (is_write) {
            return -ENOSPC;
        }
        /* Reading past end of file returns zeroes */
        qemu_iovec_memset(qiov, done, 0, r->bytes - done);
    }
    return 0;
}

static int raw_worker_flush(void *opaque)
{
    RawRequest *r = opaque;
    BDRVRawState *s = r->s;
    int ret;

    if (s->page_cache_inconsistent) {
        return -s->page_cache_inconsistent;
    }
    do {
        ret = fdatasync(r->fd);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        /*
         * After a failed fdatasync() Linux may have marked the dirty pages
         * clean although they never reached the disk, so a later flush
         * would wrongly succeed.  Keep failing (O_DIRECT has no such
         * pages).
         */
        if (!(s->open_flags & O_DIRECT)) {
            s->page_cache_inconsistent = errno;
        }
        return -errno;
    }
    return 0;
}

static int raw_zero_blkdev(RawRequest *r)
{
    BDRVRawState *s = r->s;
    uint64_t range[2] = { r->offset, r->bytes };
    int ret;

    /* BLKZEROOUT may fall back to writing zeroes in the kernel */
    if (!s->has_write_zeroes || r->no_fallback) {
        return -ENOTSUP;
    }
    while (ioctl(r->fd, BLKZEROOUT, range) < 0) {
        if (errno != EINTR) {
            ret = raw_translate_err(-errno);
            if (ret == -ENOTSUP) {
                s->has_write_zeroes = false;
            }
            return ret;
        }
    }
    return 0;
}

static int raw_zero_file(RawRequest *r)
{
    BDRVRawState *s = r->s;
    struct stat st;
    int ret;

    if (s->has_write_zeroes) {
        ret = raw_fallocate(r->fd, FALLOC_FL_ZERO_RANGE, r->offset, r->bytes);
        if (ret == -ENOTSUP) {
            s->has_write_zeroes = false;
        } else if (ret != -EINVAL) {
            return ret;
        }
        /* Some file systems want aligned ranges: try the other ways */
    }

    if (s->has_discard && s->has_fallocate) {
        ret = raw_fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            r->offset, r->bytes);
        if (ret == 0) {
            /* Allocate again: the caller did not ask to unmap */
            ret = raw_fallocate(r->fd, 0, r->offset, r->bytes);
            if (ret != -ENOTSUP) {
                return ret;
            }
            s->has_fallocate = false;
        } else if (ret == -ENOTSUP) {
            s->has_discard = false;
        } else if (ret != -EINVAL) {
            return ret;
        }
    }

    /* Beyond end of file, allocating the range is zeroing it */
    if (s->has_fallocate && fstat(r->fd, &st) == 0 &&
        r->offset >= st.st_size) {
        ret = raw_fallocate(r->fd, 0, r->offset, r->bytes);
        if (ret != -ENOTSUP) {
            return ret;
        }
        s->has_fallocate = false;
    }
    return -ENOTSUP;
}

static int raw_worker_write_zeroes(void *opaque)
{
    RawRequest *r = opaque;
    int ret;

    if (r->may_unmap) {
        /* Zero and deallocate at once; the range then reads as zeroes */
        ret = raw_fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            r->offset, r->bytes);
        if (ret != -ENOTSUP && ret != -EINVAL && ret != -EBUSY) {
            return ret;
        }
    }
    return r->s->is_blk ? raw_zero_blkdev(r) : raw_zero_file(r);
}

static int raw_worker_discard(void *opaque)
{
    RawRequest *r = opaque;
    BDRVRawState *s = r->s;
    int ret;

    if (!s->has_discard) {
        return -ENOTSUP;
    }
    if (s->is_blk) {
        uint64_t range[2] = { r->offset, r->bytes };

        ret = 0;
        while (ioctl(r->fd, BLKDISCARD, range) < 0) {
            if (errno != EINTR) {
                ret = raw_translate_err(-errno);
                break;
            }
        }
    } else {
        ret = raw_fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            r->offset, r->bytes);
    }
    if (ret == -ENOTSUP) {
        s->has_discard = false;
    }
    return ret;
}

/*
 * Write the first block of a file that was just grown from empty, so that
 * O_DIRECT alignment probing reads real data rather than a hole (which
 * may accept any alignment).  Best effort.
 */
static void raw_allocate_first_block(int fd, int64_t size)
{
    size_t len = size < FILE_MAX_BLOCKSIZE ? BDRV_SECTOR_SIZE
                                           : FILE_MAX_BLOCKSIZE;
    size_t align = MAX(FILE_MAX_BLOCKSIZE, qemu_real_host_page_size());
    void *buf;

    len = MIN(len, (size_t)size);
    buf = qemu_try_memalign(align, len);
    if (!buf) {
        return;
    }
    memset(buf, 0, len);
    while (pwrite(fd, buf, len, 0) < 0 && errno == EINTR) {
        /* retry */
    }
    qemu_vfree(buf);
}

static int raw_truncate_full(RawRequest *r, int64_t cur)
{
    const size_t chunk = 64 * KiB;
    int64_t pos = cur;
    void *buf;
    int ret = 0;

    if (ftruncate(r->fd, r->offset) < 0) {
        ret = -errno;
        error_setg_errno(&r->err, -ret, "Could not resize file");
        return ret;
    }

    buf = qemu_try_memalign(qemu_real_host_page_size(), chunk);
    if (!buf) {
        error_setg(&r->err, "Could not allocate a zero buffer");
        return -ENOMEM;
    }
    memset(buf, 0, chunk);
    while (pos < r->offset) {
        ssize_t n = pwrite(r->fd, buf, MIN(chunk, (size_t)(r->offset - pos)),
                           pos);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            error_setg_errno(&r->err, -ret,
                             "Could not write zeros for preallocation");
            goto out;
        }
        pos += n;
    }
    if (fsync(r->fd) < 0) {
        ret = -errno;
        error_setg_errno(&r->err, -ret, "Could not flush file to disk");
    }
out:
    qemu_vfree(buf);
    return ret;
}

/* Resize a regular file to exactly r->offset, preallocating growth */
static int raw_worker_truncate(void *opaque)
{
    RawRequest *r = opaque;
    struct stat st;
    int64_t cur;
    int ret;

    if (fstat(r->fd, &st) < 0) {
        ret = -errno;
        error_setg_errno(&r->err, -ret, "Could not stat file");
        return ret;
    }
    cur = st.st_size;
    if (cur > r->offset && r->prealloc != PREALLOC_MODE_OFF) {
        error_setg(&r->err, "Cannot use preallocation for shrinking files");
        return -ENOTSUP;
    }

    switch (r->prealloc) {
    case PREALLOC_MODE_OFF:
        if (ftruncate(r->fd, r->offset) < 0) {
            ret = -errno;
            error_setg_errno(&r->err, -ret, "Could not resize file");
            return ret;
        }
        if (cur == 0 && r->offset > 0) {
            raw_allocate_first_block(r->fd, r->offset);
        }
        return 0;
    case PREALLOC_MODE_FALLOC:
        if (r->offset == cur) {
            return 0;
        }
        ret = -posix_fallocate(r->fd, cur, r->offset - cur);
        if (ret < 0) {
            error_setg_errno(&r->err, -ret, "Could not preallocate new data");
            break;
        }
        if (cur == 0) {
            raw_allocate_first_block(r->fd, r->offset);
        }
        return 0;
    case PREALLOC_MODE_FULL:
        ret = raw_truncate_full(r, cur);
        if (ret == 0) {
            return 0;
        }
        break;
    default:
        error_setg(&r->err, "Unsupported preallocation mode: %s",
                   prealloc_mode_to_str(r->prealloc));
        return -ENOTSUP;
    }

    /* Failed preallocation: do not leave a half-grown file behind */
    if (ftruncate(r->fd, cur) < 0) {
        error_report("Failed to restore old file length: %s",
                     strerror(errno));
    }
    return ret;
}

/*
 * Request side (coroutines)
 */

/* Whether O_DIRECT can take @qiov's buffers as they are */
static bool raw_qiov_is_aligned(BlockDriverState *bs, QEMUIOVector *qiov)
{
    BDRVRawState *s = bs->opaque;
    size_t len_align = MAX(s->buf_align, bs->bl.request_alignment);
    int i;

    for (i = 0; i < qiov->niov; i++) {
        if (!QEMU_PTR_IS_ALIGNED(qiov->iov[i].iov_base, s->buf_align) ||
            !QEMU_IS_ALIGNED(qiov->iov[i].iov_len, len_align)) {
            return false;
        }
    }
    return true;
}

static int coroutine_fn raw_co_prw(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, QEMUIOVector *qiov,
                                   RawRequestType type)
{
    BDRVRawState *s = bs->opaque;
    bool misaligned = false;
    RawRequest r;

    if (s->fd < 0) {
        return -EIO;
    }
    assert(qiov->size == (size_t)bytes);

    if (s->needs_alignment && !raw_qiov_is_aligned(bs, qiov)) {
        /* Kernel AIO cannot take these buffers: bounce on a worker */
        misaligned = true;
    } else if (qiov->niov <= IOV_MAX) {
#ifdef CONFIG_LINUX_IO_URING
        if (s->luring) {
            return luring_co_submit(s->luring, s->fd, offset, qiov,
                                    type == RAW_REQ_WRITE ? RAW_AIO_WRITE
                                                          : RAW_AIO_READ);
        }
#endif
#ifdef CONFIG_LINUX_AIO
        if (s->laio) {
            return laio_co_submit(s->laio, s->fd, offset, qiov,
                                  type == RAW_REQ_WRITE ? RAW_AIO_WRITE
                                                        : RAW_AIO_READ);
        }
#endif
    }

    r = (RawRequest) {
        .s              = s,
        .fd             = s->fd,
        .type           = type,
        .offset         = offset,
        .bytes          = bytes,
        .qiov           = qiov,
        .misaligned     = misaligned,
        .bounce_align   = MAX(s->buf_align, qemu_real_host_page_size()),
    };
    return thread_pool_submit_co(raw_worker_rw, &r);
}

static int coroutine_fn raw_co_flush_to_disk(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    RawRequest r;

    if (s->fd < 0) {
        return -EIO;
    }
#ifdef CONFIG_LINUX_IO_URING
    if (s->luring && !s->page_cache_inconsistent) {
        return luring_co_submit(s->luring, s->fd, 0, NULL, RAW_AIO_FLUSH);
    }
#endif
    r = (RawRequest) {
        .s      = s,
        .fd     = s->fd,
        .type   = RAW_REQ_FLUSH,
    };
    return thread_pool_submit_co(raw_worker_flush, &r);
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    return raw_co_prw(bs, offset, bytes, qiov, RAW_REQ_READ);
}

static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    int ret;

    ret = raw_co_prw(bs, offset, bytes, qiov, RAW_REQ_WRITE);
    /*
     * supported_write_flags is 0, so the core normally flushes for FUA
     * itself; honour the flag anyway if it reaches us.
     */
    if (ret == 0 && (flags & BDRV_REQ_FUA)) {
        ret = raw_co_flush_to_disk(bs);
    }
    return ret;
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BDRVRawState *s = bs->opaque;
    RawRequest r;

    if (s->fd < 0) {
        return -EIO;
    }
    r = (RawRequest) {
        .s              = s,
        .fd             = s->fd,
        .type           = RAW_REQ_WRITE_ZEROES,
        .offset         = offset,
        .bytes          = bytes,
        .may_unmap      = flags & BDRV_REQ_MAY_UNMAP,
        .no_fallback    = flags & BDRV_REQ_NO_FALLBACK,
    };
    return thread_pool_submit_co(raw_worker_write_zeroes, &r);
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs,
                                        int64_t offset, int64_t bytes)
{
    BDRVRawState *s = bs->opaque;
    RawRequest r;

    if (s->fd < 0) {
        return -EIO;
    }
    r = (RawRequest) {
        .s      = s,
        .fd     = s->fd,
        .type   = RAW_REQ_DISCARD,
        .offset = offset,
        .bytes  = bytes,
    };
    return thread_pool_submit_co(raw_worker_discard, &r);
}

/* Resize @fd on a worker; errors from the worker land in @errp here */
static int coroutine_fn raw_regular_truncate(BDRVRawState *s, int fd,
                                             int64_t offset,
                                             PreallocMode prealloc,
                                             Error **errp)
{
    RawRequest r = {
        .s          = s,
        .fd         = fd,
        .type       = RAW_REQ_TRUNCATE,
        .offset     = offset,
        .prealloc   = prealloc,
    };
    int ret;

    ret = thread_pool_submit_co(raw_worker_truncate, &r);
    if (r.err) {
        error_propagate(errp, r.err);
    }
    return ret;
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;
    int64_t cur_length;

    if (fstat(s->fd, &st) < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Failed to fstat() the file");
        return -err;
    }

    /* Like QEMU, resizing takes the "resize" lock if it is not held yet */
    if (!(s->wanted & RAW_PERM_RESIZE)) {
        int ret = raw_add_perm(bs, RAW_PERM_RESIZE, 0, errp);

        if (ret < 0) {
            return ret;
        }
    }

    if (S_ISREG(st.st_mode)) {
        /* Regular files always get exactly @offset */
        return raw_regular_truncate(s, s->fd, offset, prealloc, errp);
    }

    if (prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Preallocation mode '%s' unsupported for this "
                   "non-regular file", prealloc_mode_to_str(prealloc));
        return -ENOTSUP;
    }
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
        error_setg(errp, "Resizing this file is not supported");
        return -ENOTSUP;
    }

    cur_length = raw_getlength(bs);
    if (offset != cur_length && exact) {
        error_setg(errp, "Cannot resize device files");
        return -ENOTSUP;
    }
    if (offset > cur_length) {
        error_setg(errp, "Cannot grow device files");
        return -EINVAL;
    }
    return 0;
}

/*
 * Where does the extent containing @start end?  Sets *@data and *@hole
 * and returns 0: *@data == @start means @start is in data that continues
 * up to *@hole; *@hole == @start means @start is in a hole that ends at
 * *@data.  -ENXIO means a hole running to end of file (or @start past
 * it); other errors mean nothing is known.
 */
static int raw_find_allocation(int fd, off_t start, off_t *data, off_t *hole)
{
    off_t offs;

    offs = lseek(fd, start, SEEK_DATA);
    if (offs < 0) {
        return -errno;
    }
    if (offs < start) {
        return -EIO;            /* lseek() broke its contract */
    }
    if (offs > start) {
        *hole = start;
        *data = offs;
        return 0;
    }

    /* In data; find where it ends */
    offs = lseek(fd, start, SEEK_HOLE);
    if (offs < 0) {
        /* ENXIO: truncated under our feet; a trailing hole now */
        return -errno;
    }
    if (offs < start) {
        return -EIO;
    }
    if (offs == start) {
        /* A hole was punched between the two calls */
        return -EBUSY;
    }
    *data = start;
    *hole = offs;
    return 0;
}

static int coroutine_fn raw_co_block_status(BlockDriverState *bs,
                                            bool want_zero,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum, int64_t *map,
                                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;
    uint32_t align = MAX(bs->bl.request_alignment, 1);
    off_t data = 0, hole = 0;
    int ret;

    if (s->fd < 0) {
        return -EIO;
    }

    *map = offset;
    *file = bs;
    if (!want_zero) {
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }

    ret = raw_find_allocation(s->fd, offset, &data, &hole);
    if (ret == -ENXIO) {
        /* Trailing hole */
        *pnum = bytes;
        ret = BDRV_BLOCK_ZERO;
    } else if (ret < 0) {
        /* No information: assume data */
        *pnum = bytes;
        ret = BDRV_BLOCK_DATA;
    } else if (data == offset) {
        /*
         * Data up to the next hole; a data extent ending in a partial
         * block at end of file is reported up to the aligned end.
         */
        *pnum = MIN(ROUND_UP(hole - offset, align), bytes);
        ret = BDRV_BLOCK_DATA;
    } else {
        *pnum = MIN(data - offset, bytes);
        ret = BDRV_BLOCK_ZERO;
    }
    return ret | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;
    uint64_t size;
    off_t end;

    if (s->fd < 0) {
        return -EIO;
    }
    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    if (S_ISREG(st.st_mode)) {
        return st.st_size;
    }
    if (S_ISBLK(st.st_mode) && ioctl(s->fd, BLKGETSIZE64, &size) == 0) {
        return size;
    }
    end = lseek(s->fd, 0, SEEK_END);
    return end < 0 ? -errno : end;
}

static int64_t raw_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

/*
 * A new regular file is sparse and reads as zeroes; a host device keeps
 * whatever it held (bdrv_host_device leaves the hook out).
 */
static bool raw_has_zero_init(BlockDriverState *bs)
{
    return true;
}

static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return 0;
}

static void raw_refresh_filename(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int len;

    len = snprintf(bs->exact_filename, sizeof(bs->exact_filename), "%s",
                   s->filename);
    if (len < 0 || (size_t)len >= sizeof(bs->exact_filename)) {
        bs->exact_filename[0] = '\0';
    }
}

/* Best-effort file attributes for a new image; failures are not fatal */
static void raw_set_create_attrs(int fd, bool nocow, uint64_t hint,
                                 bool has_hint)
{
    struct fsxattr attr;
    int flags;
    int ret;

    if (nocow && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
        /* Only takes effect on btrfs, and only on an empty file */
        flags |= FS_NOCOW_FL;
        ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }

    ret = ioctl(fd, FS_IOC_FSGETXATTR, &attr);
    if (ret == 0) {
        attr.fsx_xflags |= FS_XFLAG_EXTSIZE;
        attr.fsx_extsize = hint;
        ret = ioctl(fd, FS_IOC_FSSETXATTR, &attr);
    }
    if (ret < 0 && has_hint && hint) {
        warn_report("Failed to set extent size hint: %s", strerror(errno));
    }
}

/*
 * Create (or truncate) @filename and size it.  Options: size, nocow,
 * preallocation (off, falloc, full), extent_size_hint (default 1 MiB).
 */
static int coroutine_fn raw_co_create_opts(BlockDriver *drv,
                                           const char *filename,
                                           QemuOpts *opts, Error **errp)
{
    g_autofree char *prealloc_str = NULL;
    int64_t size;
    uint64_t hint;
    bool has_hint, nocow;
    int prealloc;
    int fd, ret;

    strstart(filename, "file:", &filename);

    size = ROUND_UP(qemu_opt_get_size_del(opts, BLOCK_OPT_SIZE, 0),
                    BDRV_SECTOR_SIZE);
    has_hint = qemu_opt_find(opts, FILE_OPT_EXTENT_SIZE_HINT);
    hint = qemu_opt_get_size_del(opts, FILE_OPT_EXTENT_SIZE_HINT, 1 * MiB);
    nocow = qemu_opt_get_bool_del(opts, BLOCK_OPT_NOCOW, false);
    prealloc_str = qemu_opt_get_del(opts, BLOCK_OPT_PREALLOC);
    prealloc = prealloc_str ? prealloc_mode_from_str(prealloc_str)
                            : PREALLOC_MODE_OFF;
    if (prealloc < 0) {
        error_setg(errp, "invalid parameter value: %s", prealloc_str);
        return -EINVAL;
    }
    if (hint > UINT32_MAX) {
        error_setg(errp, "Extent size hint is too large");
        return -EINVAL;
    }

    fd = raw_open_fd(filename, O_RDWR | O_CREAT, errp);
    if (fd < 0) {
        return fd;
    }

    /*
     * We write and resize, and nobody else may resize until the file has
     * the size asked for.  (Closing the file drops the locks.)
     */
    ret = raw_set_locks(fd, RAW_PERM_WRITE | RAW_PERM_RESIZE,
                        RAW_PERM_ALL & ~RAW_PERM_RESIZE, filename, errp);
    if (ret == 0) {
        /* Start from an empty file so that no old data survives */
        ret = raw_regular_truncate(NULL, fd, 0, PREALLOC_MODE_OFF, errp);
    }
    if (ret == 0) {
        raw_set_create_attrs(fd, nocow, hint, has_hint);
        ret = raw_regular_truncate(NULL, fd, size, prealloc, errp);
    }

    if (close(fd) < 0 && ret == 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not close the new file");
    }
    return ret;
}

static BlockDriver bdrv_file = {
    .format_name                    = "file",
    .protocol_name                  = "file",
    .instance_size                  = sizeof(BDRVRawState),

    .bdrv_parse_filename            = raw_parse_filename,
    .bdrv_open                      = raw_open,
    .bdrv_close                     = raw_close,
    .bdrv_reopen_prepare            = raw_reopen_prepare,
    .bdrv_reopen_commit             = raw_reopen_commit,
    .bdrv_reopen_abort              = raw_reopen_abort,

    .bdrv_co_preadv                 = raw_co_preadv,
    .bdrv_co_pwritev                = raw_co_pwritev,
    .bdrv_co_flush_to_disk          = raw_co_flush_to_disk,
    .bdrv_co_pwrite_zeroes          = raw_co_pwrite_zeroes,
    .bdrv_co_pdiscard               = raw_co_pdiscard,
    .bdrv_co_block_status           = raw_co_block_status,
    .bdrv_co_truncate               = raw_co_truncate,

    .bdrv_getlength                 = raw_getlength,
    .bdrv_get_allocated_file_size   = raw_get_allocated_file_size,
    .bdrv_has_zero_init             = raw_has_zero_init,
    .bdrv_get_info                  = raw_get_info,
    .bdrv_add_perm                  = raw_add_perm,
    .bdrv_refresh_limits            = raw_refresh_limits,
    .bdrv_refresh_filename          = raw_refresh_filename,

    .create_opts                    = &raw_create_opts,
    .bdrv_co_create_opts            = raw_co_create_opts,
};

static BlockDriver bdrv_host_device = {
    .format_name                    = "host_device",
    .protocol_name                  = "host_device",
    .instance_size                  = sizeof(BDRVRawState),
    .bdrv_probe_device              = hdev_probe_device,

    .bdrv_parse_filename            = hdev_parse_filename,
    .bdrv_open                      = hdev_open,
    .bdrv_close                     = raw_close,
    .bdrv_reopen_prepare            = raw_reopen_prepare,
    .bdrv_reopen_commit             = raw_reopen_commit,
    .bdrv_reopen_abort              = raw_reopen_abort,

    .bdrv_co_preadv                 = raw_co_preadv,
    .bdrv_co_pwritev                = raw_co_pwritev,
    .bdrv_co_flush_to_disk          = raw_co_flush_to_disk,
    .bdrv_co_pwrite_zeroes          = raw_co_pwrite_zeroes,
    .bdrv_co_pdiscard               = raw_co_pdiscard,
    .bdrv_co_block_status           = raw_co_block_status,
    .bdrv_co_truncate               = raw_co_truncate,

    .bdrv_getlength                 = raw_getlength,
    .bdrv_get_allocated_file_size   = raw_get_allocated_file_size,
    .bdrv_get_info                  = raw_get_info,
    .bdrv_add_perm                  = raw_add_perm,
    .bdrv_refresh_limits            = raw_refresh_limits,
    .bdrv_refresh_filename          = raw_refresh_filename,
};

static void bdrv_file_init(void)
{
    bdrv_register(&bdrv_file);
    bdrv_register(&bdrv_host_device);
}

block_init(bdrv_file_init);
