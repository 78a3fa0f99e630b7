/*
 * The contract between the block core and block drivers.
 *
 * Hooks named bdrv_co_* are called in coroutine context and may yield;
 * their implementations are declared coroutine_fn (the pointers here
 * say coroutine_fn_ptr, see qemu/clang-tsa.h).  They must call the
 * bdrv_co_* forms of the block layer, never the synchronous wrappers,
 * which are no_coroutine_fn unless declared co_wrapper_mixed.  The other
 * hooks (open, close, reopen, probe ...) run outside a coroutine or, for
 * nodes opened during image creation, inside one: they may only use
 * co_wrapper_mixed wrappers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_INT_H
#define BLOCK_INT_H

#include "block/block.h"
#include "qemu/aio.h"
#include "qemu/queue.h"
#include "block/dirty-bitmap.h"

#define BLOCK_PROBE_BUF_SIZE 2048

/* What a child is to its parent (QEMU's BdrvChildRole bits) */
typedef enum BdrvChildRole {
    BDRV_CHILD_DATA      = (1 << 0),  /* guest data lives here */
    BDRV_CHILD_METADATA  = (1 << 1),  /* format metadata lives here */
    BDRV_CHILD_FILTERED  = (1 << 2),  /* the child of a filter */
    BDRV_CHILD_COW       = (1 << 3),  /* backing file */
    BDRV_CHILD_PRIMARY   = (1 << 4),  /* the "file" of a format or filter */
    BDRV_CHILD_IMAGE     = BDRV_CHILD_DATA | BDRV_CHILD_METADATA,
} BdrvChildRole;

typedef struct BlockLimits {
    /*
     * Alignment requirement in bytes for offset and length of I/O; a power
     * of two not larger than 64 KiB (the core makes every request obey it,
     * bouncing or doing read-modify-write as needed).  0 means 1.
     */
    uint32_t request_alignment;
    /* Maximum bytes per discard / preferred alignment; 0 = no limit / 1 */
    int64_t max_pdiscard;
    uint32_t pdiscard_alignment;
    /* Maximum bytes per write-zeroes / preferred alignment */
    int64_t max_pwrite_zeroes;
    uint32_t pwrite_zeroes_alignment;
    /* Optimal and maximum transfer in bytes (0 = no preference / limit) */
    uint32_t opt_transfer;
    uint64_t max_transfer;
    /* Memory alignment for buffers (O_DIRECT) */
    size_t min_mem_alignment;
    size_t opt_mem_alignment;
    int max_iov;
} BlockLimits;

typedef enum BdrvTrackedRequestType {
    BDRV_TRACKED_READ,
    BDRV_TRACKED_WRITE,
    BDRV_TRACKED_DISCARD,
    BDRV_TRACKED_TRUNCATE,
} BdrvTrackedRequestType;

typedef struct BdrvTrackedRequest {
    BlockDriverState *bs;
    int64_t offset;
    int64_t bytes;
    BdrvTrackedRequestType type;
    bool serialising;
    int64_t overlap_offset;   /* range widened to request_alignment */
    int64_t overlap_bytes;
    QLIST_ENTRY(BdrvTrackedRequest) list;
    Coroutine *co;
    CoQueue wait_queue;       /* coroutines waiting for this to finish */
    struct BdrvTrackedRequest *waiting_for;
} BdrvTrackedRequest;

typedef struct BDRVReopenState BDRVReopenState;

struct BlockDriver {
    /* Identity */
    const char *format_name;
    int instance_size;          /* size of bs->opaque */
    /* A filter: one child (file or a named one) whose data it passes on */
    bool is_filter;
    /* Protocol drivers: prefix before ':' in filenames ("nbd", "file") */
    const char *protocol_name;
    /* Formats that can have a backing file */
    bool supports_backing;
    /* Options the driver needs even if empty in the filename form */
    const char *const *mutable_opts;

    /*
     * Format probing: score 0..100 for the first bytes of an image
     * (@buf_size up to BLOCK_PROBE_BUF_SIZE).  Highest score wins.
     */
    int (*bdrv_probe)(const uint8_t *buf, int buf_size,
                      const char *filename);
    /*
     * Protocol drivers for host devices: score 0..100 for a plain
     * @filename without a "proto:" prefix (host_device claims /dev nodes
     * that are block or character devices).  Highest score wins over
     * "file".
     */
    int (*bdrv_probe_device)(const char *filename);
    /*
     * Protocol drivers: turn "proto:rest" into options in @options.
     * Called only when no "filename"-conflicting options are present.
     */
    void (*bdrv_parse_filename)(const char *filename, QDict *options,
                                Error **errp);
    /*
     * Open.  @options holds the remaining (flat, string) options; the
     * driver removes what it consumes (usually qemu_opts_absorb_qdict),
     * and the core reports what is left as unsupported.  Formats open
     * their protocol child with bdrv_open_file_child() or
     * bdrv_open_child().  Returns 0 or -errno with errp set.
     */
    int (*bdrv_open)(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp);
    void (*bdrv_close)(BlockDriverState *bs);

    /*
     * Reopen: prepare may fail and must not change state visibly; commit
     * applies and cannot fail; abort undoes prepare.  @state->options has
     * the new driver options (flat strings): the core has already taken
     * out its own (read-only, cache.*, ...) and each child's "CHILD.*"
     * (those go to the child's own reopen); whatever prepare leaves in it
     * is refused.
     *
     * A reopen covers a node and the children it drags along (see
     * bdrv_reopen()).  All of them are prepared, parents before children,
     * before any is committed: while a node's prepare runs its children
     * still have their old state.  If any prepare fails, every node
     * already prepared gets abort (so abort may follow a successful
     * prepare of this node because another node failed).  Commits run
     * children first, so a parent's commit sees its children committed.
     */
    int (*bdrv_reopen_prepare)(BDRVReopenState *state,
                               Error **errp);
    void (*bdrv_reopen_commit)(BDRVReopenState *state);
    void (*bdrv_reopen_abort)(BDRVReopenState *state);

    /*
     * I/O.  The core guarantees: offset and bytes aligned to
     * bl.request_alignment, bytes <= bl.max_transfer (when set), the
     * request inside the node's length (except for formats' own
     * metadata), flags restricted to supported_write_flags /
     * supported_zero_flags, and no overlapping serialising request in
     * flight.  Return 0 or -errno; never print.
     */
    int coroutine_fn_ptr (*bdrv_co_preadv)(BlockDriverState *bs,
                                       int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov,
                                       BdrvRequestFlags flags);
    int coroutine_fn_ptr (*bdrv_co_pwritev)(BlockDriverState *bs,
                                        int64_t offset, int64_t bytes,
                                        QEMUIOVector *qiov,
                                        BdrvRequestFlags flags);
    /* Compressed write of whole clusters (qemu-img convert -c) */
    int coroutine_fn_ptr (*bdrv_co_pwritev_compressed)(BlockDriverState *bs,
                                                   int64_t offset,
                                                   int64_t bytes,
                                                   QEMUIOVector *qiov);
    /*
     * Efficiently zero a range; -ENOTSUP makes the core fall back to
     * writing a zeroed buffer (unless BDRV_REQ_NO_FALLBACK).
     */
    int coroutine_fn_ptr (*bdrv_co_pwrite_zeroes)(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes,
                                              BdrvRequestFlags flags);
    /* Discard (advisory): -ENOTSUP is treated as success by the core */
    int coroutine_fn_ptr (*bdrv_co_pdiscard)(BlockDriverState *bs,
                                         int64_t offset, int64_t bytes);
    /* Flush the driver's caches to the OS, then the OS to disk */
    int coroutine_fn_ptr (*bdrv_co_flush_to_os)(BlockDriverState *bs);
    int coroutine_fn_ptr (*bdrv_co_flush_to_disk)(BlockDriverState *bs);
    /* Formats/filters may instead handle the whole flush themselves */
    int coroutine_fn_ptr (*bdrv_co_flush)(BlockDriverState *bs);
    /*
     * Status of [offset, offset+bytes): BDRV_BLOCK_* and *pnum (> 0).  The
     * core calls this aligned to request_alignment.  Without this hook the
     * core reports DATA|ALLOCATED for protocols and passes through to the
     * file/filtered child for formats and filters.  @want_zero: the
     * caller cares about precise ZERO status (may be slower).
     */
    int coroutine_fn_ptr (*bdrv_co_block_status)(BlockDriverState *bs,
                                             bool want_zero,
                                             int64_t offset, int64_t bytes,
                                             int64_t *pnum, int64_t *map,
                                             BlockDriverState **file);
    int coroutine_fn_ptr (*bdrv_co_truncate)(BlockDriverState *bs,
                                         int64_t offset, bool exact,
                                         PreallocMode prealloc,
                                         BdrvRequestFlags flags,
                                         Error **errp);

    /* Metadata */
    int64_t (*bdrv_getlength)(BlockDriverState *bs);
    int64_t (*bdrv_get_allocated_file_size)(BlockDriverState *bs);
    int (*bdrv_get_info)(BlockDriverState *bs, BlockDriverInfo *bdi);
    /*
     * Whether the node, just created, reads as zeroes everywhere (see
     * bdrv_has_zero_init(); not asked for nodes with a backing file).
     * Without the hook the answer is false.
     */
    bool (*bdrv_has_zero_init)(BlockDriverState *bs);
    /* Set bs->bl; the core first inherits limits from children */
    void (*bdrv_refresh_limits)(BlockDriverState *bs, Error **errp);
    /*
     * Fill bs->exact_filename if the node can be described by a plain
     * filename; otherwise leave it empty and the core uses json:{...}.
     */
    void (*bdrv_refresh_filename)(BlockDriverState *bs);
    /*
     * Image locking: a parent needs the BLK_PERM_* bits @perm on this
     * node and lets nobody else have those in @unshared (a format keeps
     * its metadata in it: write and resize).  Protocol drivers that lock
     * images re-take their locks, filters pass the request on to their
     * file; -errno and errp on a conflict.  Use bdrv_add_perm().
     */
    int (*bdrv_add_perm)(BlockDriverState *bs, uint64_t perm,
                         uint64_t unshared, Error **errp);
    /*
     * Format-specific information as QEMU's ImageInfoSpecific in JSON
     * form: {"type": "qcow2", "data": {"compat": "1.1", ...}} with QEMU's
     * key names and value types.  NULL if there is none.
     */
    QDict *(*bdrv_get_specific_info)(BlockDriverState *bs, Error **errp);
    /* Internal snapshots: see bdrv_snapshot_list() */
    int (*bdrv_snapshot_list)(BlockDriverState *bs,
                              QEMUSnapshotInfo **psn_info);
    /*
     * Create a snapshot of the active image as described by @sn_info (an
     * empty id_str asks for the next free ID, which is stored back).
     * -errno on failure, nothing reported.
     */
    int coroutine_fn_ptr (*bdrv_co_snapshot_create)(BlockDriverState *bs,
                                                QEMUSnapshotInfo *sn_info);
    /*
     * Make the snapshot with ID or (failing that) name @snapshot_id the
     * active image.  -ENOENT if there is none; details of other failures
     * may be printed with error_report(), as QEMU's driver does.
     */
    int coroutine_fn_ptr (*bdrv_co_snapshot_goto)(BlockDriverState *bs,
                                              const char *snapshot_id);
    /*
     * Delete the snapshot matching @snapshot_id and @name (either may be
     * NULL to match any); -errno with @errp set on failure.
     */
    int coroutine_fn_ptr (*bdrv_co_snapshot_delete)(BlockDriverState *bs,
                                                const char *snapshot_id,
                                                const char *name,
                                                Error **errp);
    /*
     * The VM state area: qiov->size bytes at @pos (>= 0, in range of
     * int64_t).  -errno on failure.
     */
    int coroutine_fn_ptr (*bdrv_co_load_vmstate)(BlockDriverState *bs,
                                             QEMUIOVector *qiov,
                                             int64_t pos);
    int coroutine_fn_ptr (*bdrv_co_save_vmstate)(BlockDriverState *bs,
                                             QEMUIOVector *qiov,
                                             int64_t pos);
    /*
     * Read-only nodes: reads see the snapshot matching @snapshot_id and
     * @name (either may be NULL) until the node is closed.  -ENOENT if
     * there is none; -errno with @errp set on failure.
     */
    int (*bdrv_snapshot_load_tmp)(BlockDriverState *bs,
                                  const char *snapshot_id,
                                  const char *name, Error **errp);
    /* Extra lines for qemu-io "info" (printed after the common ones) */
    void (*bdrv_dump_info)(BlockDriverState *bs, GString *out);
    /*
     * Persistent dirty bitmaps: whether a new bitmap @name of
     * @granularity bytes could be stored in the image when it closes;
     * false with the reason in @errp.  Without the hook the core refuses
     * with "Can't store persistent bitmaps to NODE".
     */
    /* Whether the image can hold persistent bitmaps at all */
    bool (*bdrv_supports_persistent_dirty_bitmap)(BlockDriverState *bs);
    bool (*bdrv_can_store_new_dirty_bitmap)(BlockDriverState *bs,
                                            const char *name,
                                            uint32_t granularity,
                                            Error **errp);
    int coroutine_fn_ptr (*bdrv_co_check)(BlockDriverState *bs,
                                      BdrvCheckResult *result,
                                      BdrvCheckMode fix);
    /*
     * Record @backing_file (NULL: none) and @backing_fmt (NULL: none;
     * never without a file) as the backing file of the image, for the
     * next open (qemu-img rebase).  The open backing child is not
     * changed, nor are bs->backing_file/backing_format (the core updates
     * those on success).  Returns 0, -ENOSPC if the name does not fit in
     * the header, -EINVAL for a name the format refuses, or -errno.
     * Without the hook the core returns -ENOTSUP.
     */
    int coroutine_fn_ptr (*bdrv_co_change_backing_file)(
        BlockDriverState *bs, const char *backing_file,
        const char *backing_fmt);
    /*
     * Drop all data of the image so that it reads as its backing file
     * (or zeroes) everywhere (qemu-img commit).  No request is in flight.
     * Returns 0 or -errno; the core flushes afterwards and reports.
     * Without the hook the core returns -ENOTSUP.
     */
    int coroutine_fn_ptr (*bdrv_co_make_empty)(BlockDriverState *bs);

    /*
     * qemu-img amend: amend_opts lists the options it takes; the hook
     * applies those set in @opts to the open image (no request in
     * flight), reporting progress through @status_cb when not NULL.
     * Returns 0 or -errno with errp set.  Drivers without the hook
     * cannot be amended.
     */
    QemuOptsList *amend_opts;
    int coroutine_fn_ptr (*bdrv_co_amend_options)(
        BlockDriverState *bs, QemuOpts *opts,
        BlockDriverAmendStatusCB *status_cb, void *cb_opaque, bool force,
        Error **errp);

    /* Creation: create_opts lists options in the order they are printed */
    QemuOptsList *create_opts;
    int coroutine_fn_ptr (*bdrv_co_create_opts)(BlockDriver *drv,
                                            const char *filename,
                                            QemuOpts *opts, Error **errp);
    /*
     * qemu-img measure: the sizes of a new image made with the creation
     * options @opts, empty (@in_bs NULL, the size is in @opts) or
     * holding the data of @in_bs (any format, opened read-only; its
     * length is the size).  The driver takes its options out of @opts
     * and reports bad values with errp as its create would.  Runs outside
     * a coroutine; may query @in_bs (length, block status).  Returns a
     * g_new0'd BlockMeasureInfo, or NULL with errp set.
     */
    BlockMeasureInfo *(*bdrv_measure)(QemuOpts *opts,
                                      BlockDriverState *in_bs,
                                      Error **errp);

    /* Debugging (blkdebug) */
    void (*bdrv_debug_event)(BlockDriverState *bs, BlkdebugEvent event);
    int (*bdrv_debug_breakpoint)(BlockDriverState *bs, const char *event,
                                 const char *tag);
    int (*bdrv_debug_remove_breakpoint)(BlockDriverState *bs,
                                        const char *tag);
    /* For these two, a NULL @tag means any suspended request */
    int (*bdrv_debug_resume)(BlockDriverState *bs, const char *tag);
    bool (*bdrv_debug_is_suspended)(BlockDriverState *bs, const char *tag);

    /* Flags the driver honours natively (others are emulated or masked) */
    BdrvRequestFlags supported_write_flags;
    BdrvRequestFlags supported_zero_flags;

    QLIST_ENTRY(BlockDriver) list;
};

struct BDRVReopenState {
    BlockDriverState *bs;
    int flags;
    bool read_only;
    QDict *options;
    void *opaque;
};

struct BdrvChild {
    BlockDriverState *bs;       /* the child node */
    BlockDriverState *parent;   /* NULL when the parent is a BlockBackend */
    char *name;                 /* "file", "backing", "raw", "test", ... */
    BdrvChildRole role;
    QLIST_ENTRY(BdrvChild) next;         /* in parent->children */
    QLIST_ENTRY(BdrvChild) next_parent;  /* in bs->parents */
};

struct BlockDriverState {
    BlockDriver *drv;
    void *opaque;               /* driver state, instance_size bytes */
    int open_flags;
    bool read_only;
    bool probed;                /* format chosen by probing */
    bool encrypted;
    int refcnt;

    char filename[PATH_MAX];        /* what to show the user */
    char exact_filename[PATH_MAX];  /* plain filename or "" */
    char node_name[32];
    char backing_file[PATH_MAX];    /* as recorded in the image */
    char backing_format[16];
    char auto_backing_file[PATH_MAX];

    QDict *options;             /* all options the node was opened with */
    QDict *explicit_options;
    QDict *full_open_options;   /* for json:{} filenames */
    QDict *json_options;        /* flat, typed: from a json: filename */

    BdrvChild *file;            /* protocol/primary child, or NULL */
    BdrvChild *backing;         /* backing file, or NULL */
    QLIST_HEAD(, BdrvChild) children;
    QLIST_HEAD(, BdrvChild) parents;

    BlockLimits bl;
    int64_t total_sectors;      /* cached length in sectors (rounded up) */
    int64_t total_bytes;        /* cached exact length in bytes */

    BdrvRequestFlags supported_write_flags;
    BdrvRequestFlags supported_zero_flags;

    /* Request tracking (block/io.c) */
    QLIST_HEAD(, BdrvTrackedRequest) tracked_requests;
    unsigned int in_flight;
    unsigned int serialising_in_flight;
    bool enable_write_cache;    /* false: writes get BDRV_REQ_FUA */
    bool copy_on_read;          /* every read gets BDRV_REQ_COPY_ON_READ */
    /*
     * Write generations: every write-type request (write, write-zeroes,
     * discard, truncate) bumps write_gen when it ends, successful or
     * not; a successful flush records the generation it started at.
     * A flush with nothing written since skips the driver's
     * flush_to_disk, so a node that was not written is never flushed.
     */
    unsigned int write_gen;
    unsigned int flushed_gen;
    bool active_flush_req;      /* flushes run one at a time, in order */
    CoQueue flush_queue;

    /* Dirty bitmaps (block/dirty-bitmap.c), set by writes to this node */
    QTAILQ_HEAD(, BdrvDirtyBitmap) dirty_bitmaps;

    QTAILQ_ENTRY(BlockDriverState) node_list;
};

/* Registration; block_init(fn) runs fn at start-up */
void bdrv_register(BlockDriver *bdrv);
#define block_init(function) \
    static void __attribute__((constructor)) do_block_init_ ## function(void) \
    { \
        function(); \
    }

/*
 * Open the child named @bdref_key of @parent from @filename and/or the
 * "@bdref_key.*" options in @options (a string value "@bdref_key" is a
 * node reference).  Extracted options are removed from @options.
 * @allow_none: returns NULL without error if nothing was specified.
 * @flags are the child's open flags (BDRV_O_PROTOCOL for a plain file).
 */
BdrvChild *bdrv_open_child(const char *filename, QDict *options,
                           const char *bdref_key,
                           BlockDriverState *parent, BdrvChildRole role,
                           int flags, bool allow_none, Error **errp);
/* Shorthand: open bs->file ("file" child) for a format driver */
/*
 * Permissions as QEMU's image locks name them (one lock byte each, in
 * this order): what a user of a node does and may let others do.
 */
#define BLK_PERM_CONSISTENT_READ    0x1
#define BLK_PERM_WRITE              0x2
#define BLK_PERM_WRITE_UNCHANGED    0x4
#define BLK_PERM_RESIZE             0x8
#define BLK_PERM_ALL                0xf

/* Ask @bs (see .bdrv_add_perm) for @perm, unsharing @unshared; 0 if moot */
int bdrv_add_perm(BlockDriverState *bs, uint64_t perm, uint64_t unshared,
                  Error **errp);

int bdrv_open_file_child(const char *filename, QDict *options,
                         const char *bdref_key, BlockDriverState *parent,
                         Error **errp);
/* Attach an already open @child_bs (takes a reference) */
BdrvChild *bdrv_attach_child(BlockDriverState *parent,
                             BlockDriverState *child_bs,
                             const char *child_name, BdrvChildRole role,
                             Error **errp);
void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child);
/*
 * Open the backing file named in bs->backing_file (relative to the
 * image's directory) unless BDRV_O_NO_BACKING or "backing" options say
 * otherwise.
 */
int bdrv_open_backing_file(BlockDriverState *bs, QDict *parent_options,
                           const char *bdref_key, Error **errp);

/*
 * The format whose probe scores @buf highest (raw's probe scores 1, so
 * this is never NULL while raw is registered).
 */
BlockDriver *bdrv_probe_format(const uint8_t *buf, int buf_size,
                               const char *filename);

/* All nodes in creation order: start with NULL, ends with NULL */
BlockDriverState *bdrv_next_all_states(BlockDriverState *bs);
/* True while any node has a request in flight (drain) */
bool bdrv_any_in_flight(void);

/* Recompute bs->bl (inherit from children, then drv->bdrv_refresh_limits) */
void bdrv_refresh_limits(BlockDriverState *bs, Error **errp);
/* Re-read the length after a size change */
int bdrv_refresh_total_sectors(BlockDriverState *bs, int64_t hint);

/* Default flush/status for filters forwarding to their one child */
int coroutine_fn bdrv_co_block_status_from_file(BlockDriverState *bs,
                                                bool want_zero,
                                                int64_t offset,
                                                int64_t bytes,
                                                int64_t *pnum, int64_t *map,
                                                BlockDriverState **file);

/* Create options shared by every protocol/format: size only */
extern QemuOptsList bdrv_create_opts_simple;

#endif /* BLOCK_INT_H */
