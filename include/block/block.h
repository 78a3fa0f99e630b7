/*
 * Block layer API for callers: opening nodes, requests, metadata.
 *
 * All offsets and lengths are int64_t bytes.  bdrv_co_* functions are
 * coroutine_fn; the same names without _co_ are synchronous wrappers that
 * run the request in a coroutine and poll the event loop until it is done.
 * The wrappers are generated from their co_wrapper/co_wrapper_mixed
 * declarations below (see docs/devel/coroutines.rst).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_H
#define BLOCK_H

#include "qemu/iov.h"
#include "qemu/option.h"
#include "qemu/coroutine.h"
#include "qapi/error.h"
#include "qobject/qdict.h"

/*
 * Markers for the wrapper generator (scripts/block-coroutine-wrapper.py).
 * co_wrapper: a no_coroutine_fn that runs PREFIX_co_NAME in a coroutine
 * and polls until it is done.  co_wrapper_mixed: the same from outside a
 * coroutine, a direct call of PREFIX_co_NAME from inside one.
 */
#define co_wrapper no_coroutine_fn
#define co_wrapper_mixed coroutine_mixed_fn

typedef struct BlockDriver BlockDriver;
typedef struct BlockDriverState BlockDriverState;
typedef struct BdrvChild BdrvChild;

/* Open flags */
#define BDRV_O_NO_SHARE    0x0001 /* don't share permissions */
#define BDRV_O_RDWR        0x0002
#define BDRV_O_RESIZE      0x0004 /* request permission for resizing */
#define BDRV_O_SNAPSHOT    0x0008 /* open a temporary overlay */
#define BDRV_O_TEMPORARY   0x0010 /* delete the file on close */
#define BDRV_O_NOCACHE     0x0020 /* O_DIRECT */
#define BDRV_O_NATIVE_AIO  0x0080 /* aio=native (libaio) */
#define BDRV_O_NO_BACKING  0x0100 /* don't open the backing file */
#define BDRV_O_NO_FLUSH    0x0200 /* cache=unsafe: flush is a no-op */
#define BDRV_O_COPY_ON_READ 0x0400
#define BDRV_O_INACTIVE    0x0800
#define BDRV_O_CHECK       0x1000 /* opened for qemu-img check */
#define BDRV_O_ALLOW_RDWR  0x2000 /* allow reopen to change from r/o */
#define BDRV_O_UNMAP       0x4000 /* discard=unmap */
#define BDRV_O_PROTOCOL    0x8000 /* open at protocol level (no probing) */
#define BDRV_O_NO_IO       0x10000 /* metadata only (qemu-img info) */
#define BDRV_O_AUTO_RDONLY 0x20000
#define BDRV_O_IO_URING    0x40000 /* aio=io_uring */
/* Open quietly: no "probing guessed raw" warning (nested children) */
#define BDRV_O_NO_PROBE_WARNING 0x80000

#define BDRV_O_CACHE_MASK  (BDRV_O_NOCACHE | BDRV_O_NO_FLUSH)

/*
 * Parse the tools' -t/--cache, aio= and discard= values into open flags
 * (and write-through for the cache mode): 0, or -1 for an unknown name.
 */
int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough);
int bdrv_parse_aio(const char *mode, int *flags);
int bdrv_parse_discard_flags(const char *mode, int *flags);

/* Longest single request and longest node, in bytes (whole sectors) */
#define BDRV_REQUEST_MAX_BYTES (INT32_MAX & ~(int64_t)(BDRV_SECTOR_SIZE - 1))
#define BDRV_MAX_LENGTH (INT64_MAX & ~(int64_t)(BDRV_SECTOR_SIZE - 1))

/* Creation option names (QemuOpts keys) shared by drivers and qemu-img */
#define BLOCK_OPT_SIZE              "size"
#define BLOCK_OPT_BACKING_FILE      "backing_file"
#define BLOCK_OPT_BACKING_FMT       "backing_fmt"
#define BLOCK_OPT_CLUSTER_SIZE      "cluster_size"
#define BLOCK_OPT_PREALLOC          "preallocation"
#define BLOCK_OPT_COMPAT_LEVEL      "compat"
#define BLOCK_OPT_LAZY_REFCOUNTS    "lazy_refcounts"
#define BLOCK_OPT_REFCOUNT_BITS     "refcount_bits"
#define BLOCK_OPT_ENCRYPT           "encryption"
#define BLOCK_OPT_ENCRYPT_FORMAT    "encrypt.format"
#define BLOCK_OPT_DATA_FILE         "data_file"
#define BLOCK_OPT_DATA_FILE_RAW     "data_file_raw"
#define BLOCK_OPT_COMPRESSION_TYPE  "compression_type"
#define BLOCK_OPT_EXTL2             "extended_l2"
#define BLOCK_OPT_NOCOW             "nocow"

/* Request flags */
typedef enum {
    BDRV_REQ_COPY_ON_READ   = 0x1,
    BDRV_REQ_ZERO_WRITE     = 0x2,
    BDRV_REQ_MAY_UNMAP      = 0x4,
    BDRV_REQ_FUA            = 0x10,
    BDRV_REQ_WRITE_COMPRESSED = 0x20,
    BDRV_REQ_SERIALISING    = 0x80,
    BDRV_REQ_NO_FALLBACK    = 0x100,
    BDRV_REQ_PREFETCH       = 0x200,
    BDRV_REQ_NO_WAIT        = 0x400,
    BDRV_REQ_MASK           = 0x7ff,
} BdrvRequestFlags;

/* Block status bits (bdrv_co_block_status) */
#define BDRV_BLOCK_DATA         0x01
#define BDRV_BLOCK_ZERO         0x02
#define BDRV_BLOCK_OFFSET_VALID 0x04
#define BDRV_BLOCK_RAW          0x08
#define BDRV_BLOCK_ALLOCATED    0x10
#define BDRV_BLOCK_EOF          0x20
#define BDRV_BLOCK_RECURSE      0x40

typedef enum PreallocMode {
    PREALLOC_MODE_OFF = 0,
    PREALLOC_MODE_METADATA,
    PREALLOC_MODE_FALLOC,
    PREALLOC_MODE_FULL,
    PREALLOC_MODE__MAX,
} PreallocMode;

/* "off", "metadata", ... ; returns -1 for an unknown name */
int prealloc_mode_from_str(const char *str);
const char *prealloc_mode_to_str(PreallocMode mode);

typedef struct BlockDriverInfo {
    int cluster_size;       /* 0 if not applicable */
    int64_t vm_state_offset;
    bool is_dirty;
    bool unallocated_blocks_are_zero;
} BlockDriverInfo;

/* One internal snapshot (qemu-img snapshot -l) */
typedef struct QEMUSnapshotInfo {
    char id_str[128];       /* unique snapshot id */
    char name[256];         /* user-chosen name */
    uint64_t vm_state_size; /* VM state bytes, 0 for disk-only */
    uint32_t date_sec;      /* UTC date of the snapshot */
    uint32_t date_nsec;
    uint64_t vm_clock_nsec; /* VM clock relative to boot */
    uint64_t icount;        /* record/replay step, -1ULL if none */
} QEMUSnapshotInfo;

/*
 * What a new image would take on disk (qemu-img measure): the file size
 * right after converting the data into it, and once every guest cluster
 * is written.  @bitmaps (when @has_bitmaps) is the extra room needed to
 * copy the source's persistent dirty bitmaps as well.
 */
typedef struct BlockMeasureInfo {
    uint64_t required;
    uint64_t fully_allocated;
    bool has_bitmaps;
    uint64_t bitmaps;
} BlockMeasureInfo;

typedef enum BdrvCheckMode {
    BDRV_FIX_LEAKS = 1,
    BDRV_FIX_ERRORS = 2,
} BdrvCheckMode;

typedef struct BdrvCheckResult {
    int corruptions;
    int leaks;
    int check_errors;
    int corruptions_fixed;
    int leaks_fixed;
    int64_t image_end_offset;
    struct {
        uint64_t total_clusters;
        uint64_t allocated_clusters;
        uint64_t fragmented_clusters;
        uint64_t compressed_clusters;
    } bfi;
} BdrvCheckResult;

/* Driver registry and lookup */
void bdrv_init(void);
BlockDriver *bdrv_find_format(const char *format_name);
/*
 * Protocol driver for @filename: the one named by a "proto:" prefix (when
 * @allow_protocol_prefix), else "file".  Sets errp for an unknown prefix.
 */
BlockDriver *bdrv_find_protocol(const char *filename,
                                bool allow_protocol_prefix, Error **errp);
/* Call @fn for each registered driver's format_name, sorted */
void bdrv_iterate_format(void (*fn)(void *opaque, const char *name),
                         void *opaque);
/* A driver's name ("qcow2", "file", ...), as in "driver=" */
const char *bdrv_driver_name(BlockDriver *drv);
/* The creation options @drv accepts, or NULL if it cannot create images */
QemuOptsList *bdrv_driver_create_opts(BlockDriver *drv);
/* The options qemu-img amend takes for @drv, or NULL if it has none */
QemuOptsList *bdrv_driver_amend_opts(BlockDriver *drv);
/* Whether @drv can write compressed clusters (qemu-img convert -c) */
bool bdrv_driver_supports_compressed_writes(BlockDriver *drv);

/*
 * Open a node from a filename and/or options (takes ownership of
 * @options; values are strings, dotted keys for children; "driver"
 * selects the driver).  @reference names an existing node instead.
 */
BlockDriverState *bdrv_open(const char *filename, const char *reference,
                            QDict *options, int flags, Error **errp);
void bdrv_ref(BlockDriverState *bs);
void bdrv_unref(BlockDriverState *bs);
/* Detach and unref all nodes (at exit) */
void bdrv_close_all(void);
BlockDriverState *bdrv_find_node(const char *node_name);
const char *bdrv_get_node_name(const BlockDriverState *bs);

/* Change read-only state and/or options of an open node */
int bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                              Error **errp);
/*
 * Reopen with @opts (driver options, flat strings; "CHILD.KEY" for a
 * child) and @flags, all nodes or none (takes @opts)
 */
int bdrv_reopen(BlockDriverState *bs, QDict *opts, int flags, Error **errp);

bool bdrv_is_read_only(BlockDriverState *bs);
int bdrv_get_flags(BlockDriverState *bs);
const char *bdrv_get_format_name(BlockDriverState *bs);
/* The "proto:" prefix of the node's driver, or NULL for a format */
const char *bdrv_get_protocol_name(BlockDriverState *bs);
/* The node's filename (refreshed; json:{...} when not expressible) */
const char *bdrv_get_filename(BlockDriverState *bs);
void bdrv_refresh_filename(BlockDriverState *bs);
/* The plain filename as of the last refresh, or "" if there is none */
const char *bdrv_get_exact_filename(BlockDriverState *bs);
/*
 * The directory ("dir/", or "" for the current one) of the file at the
 * bottom of @bs's primary children, to which relative backing file names
 * are relative; NULL with errp set if that node has no plain filename.
 * The caller frees the result.
 */
char *bdrv_dirname(BlockDriverState *bs, Error **errp);
/* Path of @backing relative to the directory of @base_path */
char *bdrv_get_full_backing_filename_from_filename(const char *base_path,
                                                   const char *backing,
                                                   Error **errp);
/* The backing file name and format recorded in the image, or "" */
const char *bdrv_get_backing_file(BlockDriverState *bs);
const char *bdrv_get_backing_format(BlockDriverState *bs);
int64_t bdrv_getlength(BlockDriverState *bs);
int64_t bdrv_nb_sectors(BlockDriverState *bs);
int64_t bdrv_get_allocated_file_size(BlockDriverState *bs);
int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);
bool bdrv_is_encrypted(BlockDriverState *bs);
/*
 * Whether a newly created @bs reads as zeroes everywhere, so that copying
 * an image into it may skip zero areas.  False when unsure, and for nodes
 * with a backing file.
 */
bool bdrv_has_zero_init(BlockDriverState *bs);
/*
 * Internal snapshots of @bs: number of entries stored in *psn_info (g_free
 * it), or -errno (-ENOTSUP if the format has none).
 */
int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_info);
/* The first snapshot named @name into *sn_info: 0, or -ENOENT / -errno */
int bdrv_snapshot_find(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                       const char *name);
/*
 * Create a snapshot (see BlockDriver.bdrv_co_snapshot_create): 0 or
 * -errno (-ENOTSUP if the format has no snapshots)
 */
int coroutine_fn bdrv_co_snapshot_create(BlockDriverState *bs,
                                         QEMUSnapshotInfo *sn_info);
int co_wrapper bdrv_snapshot_create(BlockDriverState *bs,
                                    QEMUSnapshotInfo *sn_info);
/* Revert the active image to the snapshot with ID or name @snapshot_id */
int coroutine_fn bdrv_co_snapshot_goto(BlockDriverState *bs,
                                       const char *snapshot_id,
                                       Error **errp);
int co_wrapper bdrv_snapshot_goto(BlockDriverState *bs,
                                  const char *snapshot_id, Error **errp);
/* Delete the snapshot with ID @snapshot_id and name @name (NULL: any) */
int coroutine_fn bdrv_co_snapshot_delete(BlockDriverState *bs,
                                         const char *snapshot_id,
                                         const char *name, Error **errp);
int co_wrapper bdrv_snapshot_delete(BlockDriverState *bs,
                                    const char *snapshot_id,
                                    const char *name, Error **errp);
/*
 * The VM state area saved with internal snapshots: qiov->size bytes at
 * @pos.  0 or -errno (-ENOTSUP if the format has no such area).
 */
int coroutine_fn bdrv_co_readv_vmstate(BlockDriverState *bs,
                                       QEMUIOVector *qiov, int64_t pos);
int coroutine_fn bdrv_co_writev_vmstate(BlockDriverState *bs,
                                        QEMUIOVector *qiov, int64_t pos);
/*
 * Let reads of the read-only @bs see a snapshot (qemu-img convert -l):
 * the one with ID @snapshot_id and name @name (NULL: any)
 */
int bdrv_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                           const char *name, Error **errp);
/* The same with an ID, or failing that a name */
int bdrv_snapshot_load_tmp_by_id_or_name(BlockDriverState *bs,
                                         const char *id_or_name,
                                         Error **errp);
/* See BlockDriver.bdrv_get_specific_info; NULL if none (caller unrefs) */
QDict *bdrv_get_specific_info(BlockDriverState *bs, Error **errp);
/*
 * Append what qemu-io's "info" prints after the common lines: the extra
 * lines of @bs's driver, then those of the nodes below it through its
 * primary ("file") children (blkverify's statistics, for example).
 */
void bdrv_dump_info(BlockDriverState *bs, GString *out);
/* Primary data child: file for formats and filters, or NULL */
BlockDriverState *bdrv_filter_or_cow_bs(BlockDriverState *bs);
BlockDriverState *bdrv_backing_chain_next(BlockDriverState *bs);
/* @bs itself, or the first node below it (via "file") that is no filter */
BlockDriverState *bdrv_skip_filters(BlockDriverState *bs);
bool bdrv_supports_compressed_writes(BlockDriverState *bs);

/*
 * Image creation (qemu-img create): @drv's bdrv_co_create_opts, or
 * -ENOTSUP if it has none.  The _file form picks the protocol driver from
 * @filename.
 */
int coroutine_fn bdrv_co_create(BlockDriver *drv, const char *filename,
                                QemuOpts *opts, Error **errp);
int co_wrapper bdrv_create(BlockDriver *drv, const char *filename,
                           QemuOpts *opts, Error **errp);
int coroutine_fn bdrv_co_create_file(const char *filename, QemuOpts *opts,
                                     Error **errp);

/*
 * Sizes of a new image of format @drv made with the creation options
 * @opts: empty, of the size in @opts, or converted from @in_bs (then
 * @opts has no size).  Returns a BlockMeasureInfo for the caller to
 * g_free, or NULL with errp set (also when @drv cannot measure).
 */
BlockMeasureInfo *bdrv_measure(BlockDriver *drv, QemuOpts *opts,
                               BlockDriverState *in_bs, Error **errp);

/* Requests */
int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags);
int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset,
                                     BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset,
                                 int64_t bytes, QEMUIOVector *qiov,
                                 BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset,
                               int64_t bytes, void *buf,
                               BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset,
                                int64_t bytes, const void *buf,
                                BdrvRequestFlags flags);
/* Like bdrv_co_pwrite, then flush (for metadata updates) */
int coroutine_fn bdrv_co_pwrite_sync(BdrvChild *child, int64_t offset,
                                     int64_t bytes, const void *buf,
                                     BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset,
                                       int64_t bytes,
                                       BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset,
                                  int64_t bytes);
int coroutine_fn bdrv_co_flush(BlockDriverState *bs);
int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset,
                                  bool exact, PreallocMode prealloc,
                                  BdrvRequestFlags flags, Error **errp);
/*
 * Allocation status of [offset, offset + bytes) in @bs alone: returns
 * BDRV_BLOCK_* bits or -errno; *pnum is the length of the extent with
 * that status (at least 1 byte unless offset is at the end).  *map and
 * *file are set when BDRV_BLOCK_OFFSET_VALID.
 */
int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum,
                                      int64_t *map,
                                      BlockDriverState **file);
/* Status across the backing chain from @bs down to (excluding) @base */
int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum, int64_t *map,
                                            BlockDriverState **file);
/* 1 if allocated in @bs itself (not a backing file), 0 if not, -errno */
int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum);
/*
 * 1 if allocated anywhere between @top and @base (exclusive; NULL for the
 * whole chain), with *pnum the extent; 0 if not; -errno.
 */
int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *top,
                                            BlockDriverState *base,
                                            bool include_base,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum);

/*
 * Synchronous wrappers, generated from these declarations by
 * scripts/block-coroutine-wrapper.py: each runs the bdrv_co_ function of
 * the same name in a new coroutine and polls the event loop until it has
 * finished.  co_wrapper ones must not be called in a coroutine (call the
 * bdrv_co_ version there); co_wrapper_mixed ones call the bdrv_co_
 * version directly when they are.  0 on success (not a byte count),
 * -errno.
 */
int co_wrapper_mixed bdrv_pread(BdrvChild *child, int64_t offset,
                                int64_t bytes, void *buf,
                                BdrvRequestFlags flags);
int co_wrapper_mixed bdrv_flush(BlockDriverState *bs);
int co_wrapper bdrv_block_status(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes, int64_t *pnum, int64_t *map,
                                 BlockDriverState **file);
int co_wrapper_mixed bdrv_block_status_above(BlockDriverState *bs,
                                             BlockDriverState *base,
                                             int64_t offset, int64_t bytes,
                                             int64_t *pnum, int64_t *map,
                                             BlockDriverState **file);
int co_wrapper bdrv_is_allocated(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes, int64_t *pnum);
int co_wrapper bdrv_is_allocated_above(BlockDriverState *top,
                                       BlockDriverState *base,
                                       bool include_base, int64_t offset,
                                       int64_t bytes, int64_t *pnum);
/* Zeroes *res, then runs the driver's check (-ENOTSUP without one) */
int coroutine_fn bdrv_co_check(BlockDriverState *bs, BdrvCheckResult *res,
                               BdrvCheckMode fix);
int co_wrapper bdrv_check(BlockDriverState *bs, BdrvCheckResult *res,
                          BdrvCheckMode fix);

/*
 * qemu-img rebase: record @backing_file (NULL: none) and @backing_fmt as
 * the backing file of @bs's image.  -EINVAL for a format without a file,
 * or no format when @require_fmt; -ENOTSUP if the format cannot; else
 * the driver's result.  On success bs->backing_file/format follow (the
 * open backing node stays).
 */
int coroutine_fn bdrv_co_change_backing_file(BlockDriverState *bs,
                                             const char *backing_file,
                                             const char *backing_fmt,
                                             bool require_fmt);
int co_wrapper bdrv_change_backing_file(BlockDriverState *bs,
                                        const char *backing_file,
                                        const char *backing_fmt,
                                        bool require_fmt);
/*
 * qemu-img amend: change the format options in @opts (parsed from
 * bdrv_driver_amend_opts()) of @bs's image in place.  @status_cb, if not
 * NULL, is called with the work done so far and the total work.
 * @force allows changes the driver would otherwise refuse as unsafe.
 * -ENOTSUP (with QEMU's message) for a driver without amendment.
 */
typedef void BlockDriverAmendStatusCB(BlockDriverState *bs, int64_t offset,
                                      int64_t total_work_size,
                                      void *opaque);
int coroutine_fn bdrv_co_amend_options(BlockDriverState *bs, QemuOpts *opts,
                                       BlockDriverAmendStatusCB *status_cb,
                                       void *cb_opaque, bool force,
                                       Error **errp);
int co_wrapper bdrv_amend_options(BlockDriverState *bs, QemuOpts *opts,
                                  BlockDriverAmendStatusCB *status_cb,
                                  void *cb_opaque, bool force, Error **errp);

/*
 * qemu-img commit: drop all data of @bs so that it reads as its backing
 * file, then flush.  -ENOTSUP (with errp set) if the format cannot.
 */
int coroutine_fn bdrv_co_make_empty(BlockDriverState *bs, Error **errp);
int co_wrapper bdrv_make_empty(BlockDriverState *bs, Error **errp);

/* Wait until no request is in flight on any node */
void coroutine_mixed_fn bdrv_drain_all(void);

/* Buffers suitably aligned for @bs (O_DIRECT); free with qemu_vfree() */
void *qemu_blockalign(BlockDriverState *bs, size_t size);
void *qemu_blockalign0(BlockDriverState *bs, size_t size);
void *qemu_try_blockalign(BlockDriverState *bs, size_t size);
size_t bdrv_opt_mem_align(BlockDriverState *bs);
size_t bdrv_min_mem_align(BlockDriverState *bs);

/*
 * Request limits of @bs (see BlockLimits in block_int.h): every request
 * its driver sees is aligned to the request alignment (at least 1 once
 * the node is open); the optimal transfer and the discard alignment are 0
 * when the driver has no preference.
 */
uint32_t bdrv_get_request_alignment(BlockDriverState *bs);
uint32_t bdrv_get_opt_transfer(BlockDriverState *bs);
uint32_t bdrv_get_pdiscard_alignment(BlockDriverState *bs);

/* Debug events raised by drivers (blkdebug acts on them) */
typedef enum BlkdebugEvent {
    BLKDBG_L1_UPDATE,
    BLKDBG_L1_GROW_ALLOC_TABLE,
    BLKDBG_L1_GROW_WRITE_TABLE,
    BLKDBG_L1_GROW_ACTIVATE_TABLE,
    BLKDBG_L2_LOAD,
    BLKDBG_L2_UPDATE,
    BLKDBG_L2_UPDATE_COMPRESSED,
    BLKDBG_L2_ALLOC_COW_READ,
    BLKDBG_L2_ALLOC_WRITE,
    BLKDBG_READ_AIO,
    BLKDBG_READ_BACKING_AIO,
    BLKDBG_READ_COMPRESSED,
    BLKDBG_WRITE_AIO,
    BLKDBG_WRITE_COMPRESSED,
    BLKDBG_VMSTATE_LOAD,
    BLKDBG_VMSTATE_SAVE,
    BLKDBG_COW_READ,
    BLKDBG_COW_WRITE,
    BLKDBG_REFTABLE_LOAD,
    BLKDBG_REFTABLE_GROW,
    BLKDBG_REFTABLE_UPDATE,
    BLKDBG_REFBLOCK_LOAD,
    BLKDBG_REFBLOCK_UPDATE,
    BLKDBG_REFBLOCK_UPDATE_PART,
    BLKDBG_REFBLOCK_ALLOC,
    BLKDBG_REFBLOCK_ALLOC_HOOKUP,
    BLKDBG_REFBLOCK_ALLOC_WRITE,
    BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS,
    BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE,
    BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE,
    BLKDBG_CLUSTER_ALLOC,
    BLKDBG_CLUSTER_ALLOC_BYTES,
    BLKDBG_CLUSTER_FREE,
    BLKDBG_FLUSH_TO_OS,
    BLKDBG_FLUSH_TO_DISK,
    BLKDBG_PWRITEV_RMW_HEAD,
    BLKDBG_PWRITEV_RMW_AFTER_HEAD,
    BLKDBG_PWRITEV_RMW_TAIL,
    BLKDBG_PWRITEV_RMW_AFTER_TAIL,
    BLKDBG_PWRITEV,
    BLKDBG_PWRITEV_ZERO,
    BLKDBG_PWRITEV_DONE,
    BLKDBG_EMPTY_IMAGE_PREPARE,
    BLKDBG_L1_SHRINK_WRITE_TABLE,
    BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS,
    BLKDBG_COR_WRITE,
    BLKDBG_CLUSTER_ALLOC_SPACE,
    BLKDBG_NONE,
    BLKDBG__MAX,
} BlkdebugEvent;

/* QEMU's names for the events ("l1_update", ...), indexed by event */
extern const char *const BlkdebugEvent_str[BLKDBG__MAX];

void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event);
#define BLKDBG_EVENT(child, evt) do {                   \
        if (child) {                                    \
            bdrv_debug_event((child)->bs, evt);         \
        }                                               \
    } while (0)

/* Breakpoints for qemu-io break/resume (forwarded to blkdebug) */
int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag);
int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag);
int bdrv_debug_resume(BlockDriverState *bs, const char *tag);
bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag);

/*
 * For tools that wait on requests while some are held at breakpoints:
 * whether any is held, letting all of them go on (returns how many), and
 * whether nothing can progress any more (see block/io.c).
 */
bool bdrv_debug_any_suspended(void);
int bdrv_debug_resume_all(void);
bool bdrv_protocol_io_in_flight(void);
bool bdrv_requests_stalled(uint64_t *progress);

#endif /* BLOCK_H */
