/*
 * qcow2 format driver: on-disk layout, driver state and internal API
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include "block/block_int.h"
#include "qemu/coroutine.h"
#include "qemu/queue.h"

/* "QFI\xfb" */
#define QCOW_MAGIC 0x514649fbU

#define QCOW_CRYPT_NONE 0
#define QCOW_CRYPT_AES  1
#define QCOW_CRYPT_LUKS 2

#define MIN_CLUSTER_BITS 9
#define MAX_CLUSTER_BITS 21
#define DEFAULT_CLUSTER_SIZE 65536

/* Largest refcount_order the format allows (64-bit refcounts) */
#define QCOW2_MAX_REFCOUNT_ORDER 6

/* Limits that keep in-memory tables sane (the same bounds as QEMU) */
#define QCOW_MAX_REFTABLE_SIZE (8 * MiB)
#define QCOW_MAX_L1_SIZE (32 * MiB)
#define QCOW_MAX_SNAPSHOTS 65536
#define QCOW_MAX_SNAPSHOTS_SIZE (1024 * QCOW_MAX_SNAPSHOTS)
#define QCOW_MAX_SNAPSHOT_EXTRA_DATA 1024

/* Snapshot table entry: fixed part, and the extra data we know */
#define QCOW2_SNAPSHOT_HEADER_SIZE 40
#define QCOW2_SNAPSHOT_EXTRA_SIZE  24

/* L1/L2 entry flags */
#define QCOW_OFLAG_COPIED     (1ULL << 63)
#define QCOW_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW_OFLAG_ZERO       (1ULL << 0)

#define L1E_OFFSET_MASK  0x00fffffffffffe00ULL
#define L2E_OFFSET_MASK  0x00fffffffffffe00ULL
#define REFT_OFFSET_MASK 0xfffffffffffffe00ULL

/* Bits that must be zero in an L1 entry (1-8, 56-62) */
#define L1E_RESERVED_MASK 0x7f000000000001feULL
/* Bits that must be zero in a standard L2 entry (1-8, 56-61) */
#define L2E_STD_RESERVED_MASK 0x3f000000000001feULL
#define REFT_RESERVED_MASK 0x1ffULL

/* Compressed cluster descriptors count 512-byte sectors */
#define QCOW2_COMPRESSED_SECTOR_SIZE 512U
#define QCOW2_COMPRESSED_SECTOR_MASK (~(QCOW2_COMPRESSED_SECTOR_SIZE - 1ULL))

/* Header feature bits */
#define QCOW2_INCOMPAT_DIRTY_BITNR       0
#define QCOW2_INCOMPAT_CORRUPT_BITNR     1
#define QCOW2_INCOMPAT_DATA_FILE_BITNR   2
#define QCOW2_INCOMPAT_COMPRESSION_BITNR 3
#define QCOW2_INCOMPAT_EXTL2_BITNR       4
#define QCOW2_INCOMPAT_DIRTY       (1ULL << QCOW2_INCOMPAT_DIRTY_BITNR)
#define QCOW2_INCOMPAT_CORRUPT     (1ULL << QCOW2_INCOMPAT_CORRUPT_BITNR)
#define QCOW2_INCOMPAT_DATA_FILE   (1ULL << QCOW2_INCOMPAT_DATA_FILE_BITNR)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << QCOW2_INCOMPAT_COMPRESSION_BITNR)
#define QCOW2_INCOMPAT_EXTL2       (1ULL << QCOW2_INCOMPAT_EXTL2_BITNR)
/* What this driver can open */
#define QCOW2_INCOMPAT_SUPPORTED (QCOW2_INCOMPAT_DIRTY | \
                                  QCOW2_INCOMPAT_CORRUPT | \
                                  QCOW2_INCOMPAT_DATA_FILE | \
                                  QCOW2_INCOMPAT_COMPRESSION)

#define QCOW2_COMPAT_LAZY_REFCOUNTS_BITNR 0
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << QCOW2_COMPAT_LAZY_REFCOUNTS_BITNR)

#define QCOW2_AUTOCLEAR_BITMAPS_BITNR       0
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW_BITNR 1
#define QCOW2_AUTOCLEAR_BITMAPS (1ULL << QCOW2_AUTOCLEAR_BITMAPS_BITNR)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW \
    (1ULL << QCOW2_AUTOCLEAR_DATA_FILE_RAW_BITNR)

/* Header extension types */
#define QCOW2_EXT_MAGIC_END              0
#define QCOW2_EXT_MAGIC_BACKING_FORMAT   0xe2792acaU
#define QCOW2_EXT_MAGIC_FEATURE_TABLE    0x6803f857U
#define QCOW2_EXT_MAGIC_CRYPTO_HEADER    0x0537be77U
#define QCOW2_EXT_MAGIC_BITMAPS          0x23852875U
#define QCOW2_EXT_MAGIC_DATA_FILE        0x44415441U

/* Compression types (header byte 104) */
#define QCOW2_COMPRESSION_TYPE_ZLIB 0
#define QCOW2_COMPRESSION_TYPE_ZSTD 1

/* Header field offsets */
#define QCOW2_HDR_MAGIC                 0
#define QCOW2_HDR_VERSION               4
#define QCOW2_HDR_BACKING_OFFSET        8
#define QCOW2_HDR_BACKING_SIZE          16
#define QCOW2_HDR_CLUSTER_BITS          20
#define QCOW2_HDR_SIZE                  24
#define QCOW2_HDR_CRYPT_METHOD          32
#define QCOW2_HDR_L1_SIZE               36
#define QCOW2_HDR_L1_OFFSET             40
#define QCOW2_HDR_REFTABLE_OFFSET       48
#define QCOW2_HDR_REFTABLE_CLUSTERS     56
#define QCOW2_HDR_NB_SNAPSHOTS          60
#define QCOW2_HDR_SNAPSHOTS_OFFSET      64
#define QCOW2_HDR_V2_LENGTH             72
#define QCOW2_HDR_INCOMPAT              72
#define QCOW2_HDR_COMPAT                80
#define QCOW2_HDR_AUTOCLEAR             88
#define QCOW2_HDR_REFCOUNT_ORDER        96
#define QCOW2_HDR_HEADER_LENGTH         100
#define QCOW2_HDR_V3_MIN_LENGTH         104
#define QCOW2_HDR_COMPRESSION_TYPE      104
/* What we write for v3: header with compression type, padded to 8 */
#define QCOW2_HDR_V3_LENGTH             112

/* Feature name table entry */
#define QCOW2_FEAT_TYPE_INCOMPATIBLE 0
#define QCOW2_FEAT_TYPE_COMPATIBLE   1
#define QCOW2_FEAT_TYPE_AUTOCLEAR    2
#define QCOW2_FEATURE_NAME_LEN       46
#define QCOW2_FEATURE_ENTRY_LEN      48

typedef struct Qcow2Feature {
    uint8_t type;
    uint8_t bit;
    char name[QCOW2_FEATURE_NAME_LEN + 1];
} Qcow2Feature;

/* A header extension we don't interpret, kept as read */
typedef struct Qcow2UnknownHeaderExtension {
    uint32_t magic;
    uint32_t len;
    QLIST_ENTRY(Qcow2UnknownHeaderExtension) next;
    uint8_t data[];
} Qcow2UnknownHeaderExtension;

/* One internal snapshot (an entry of the snapshot table) */
typedef struct QCowSnapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id_str;
    char *name;
    uint64_t disk_size;
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;            /* -1ULL when the entry has none */
    uint32_t extra_data_size;
    /* Extra data past what we know, written back as read (or NULL) */
    uint8_t *unknown_extra_data;
} QCowSnapshot;

/* Persistent dirty bitmaps: header extension and directory entries */
#define QCOW2_MAX_BITMAPS 65535
#define QCOW2_MAX_BITMAP_DIRECTORY_SIZE (1024 * QCOW2_MAX_BITMAPS)
#define QCOW2_BITMAPS_EXT_SIZE 24
#define QCOW2_BITMAP_DIR_ENTRY_SIZE 24
#define QCOW2_BME_FLAG_IN_USE (1U << 0)
#define QCOW2_BME_FLAG_AUTO   (1U << 1)

/*
 * One entry of the bitmap directory as it is on disk (qemu-img info
 * shows these; check counts their clusters).  The bitmaps themselves
 * live in the block core (block/dirty-bitmap.h) while the image is open.
 */
typedef struct Qcow2BitmapInfo {
    char *name;
    uint32_t flags;
    uint8_t granularity_bits;
    uint64_t table_offset;      /* the bitmap table: clusters it uses */
    uint32_t table_size;        /* entries */
    uint64_t dir_pos;           /* byte offset of the entry in the directory */
    uint64_t loaded_id;         /* bdrv_dirty_bitmap_id() of it, 0: none */
} Qcow2BitmapInfo;

/* Bitmap table entries: data cluster offset, and "all ones" if none */
#define QCOW2_BME_TABLE_OFFSET_MASK 0x00fffffffffffe00ULL
#define QCOW2_BME_TABLE_RESERVED_MASK 0xff000000000001feULL

typedef enum QCow2ClusterType {
    QCOW2_CLUSTER_UNALLOCATED,
    QCOW2_CLUSTER_ZERO_PLAIN,
    QCOW2_CLUSTER_ZERO_ALLOC,
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} QCow2ClusterType;

/* Why clusters are freed: decides whether the discard is passed down */
typedef enum Qcow2DiscardType {
    QCOW2_DISCARD_NEVER = 0,
    QCOW2_DISCARD_ALWAYS,
    QCOW2_DISCARD_REQUEST,
    QCOW2_DISCARD_SNAPSHOT,
    QCOW2_DISCARD_OTHER,
    QCOW2_DISCARD_MAX,
} Qcow2DiscardType;

typedef struct Qcow2Cache Qcow2Cache;

/*
 * A guest range whose new host clusters are allocated but not yet linked
 * into the L2 table.  Writers that touch the same guest clusters wait on
 * @waiters until the link is done.
 */
typedef struct QCowInflightAlloc {
    uint64_t guest_start;       /* cluster aligned */
    uint64_t guest_end;         /* cluster aligned, exclusive */
    CoQueue waiters;
    QLIST_ENTRY(QCowInflightAlloc) next;
} QCowInflightAlloc;

/*
 * Metadata a data write must never touch (QEMU's overlap-check bits).
 * Before writing guest data (or a cached table) the driver checks the
 * target range against the kinds enabled in s->overlap_check; a hit means
 * the image is corrupt, and the write is refused.
 */
typedef enum QCow2MetadataOverlap {
    QCOW2_OL_MAIN_HEADER      = 1 << 0,
    QCOW2_OL_ACTIVE_L1        = 1 << 1,
    QCOW2_OL_ACTIVE_L2        = 1 << 2,
    QCOW2_OL_REFCOUNT_TABLE   = 1 << 3,
    QCOW2_OL_REFCOUNT_BLOCK   = 1 << 4,
    QCOW2_OL_SNAPSHOT_TABLE   = 1 << 5,
    QCOW2_OL_INACTIVE_L1      = 1 << 6,
    QCOW2_OL_INACTIVE_L2      = 1 << 7,
    QCOW2_OL_BITMAP_DIRECTORY = 1 << 8,
    QCOW2_OL_MAX_BITNR        = 9,
} QCow2MetadataOverlap;

/* The overlap-check templates: checks without I/O, then using caches */
#define QCOW2_OL_CONSTANT (QCOW2_OL_MAIN_HEADER | QCOW2_OL_ACTIVE_L1 | \
                           QCOW2_OL_REFCOUNT_TABLE | \
                           QCOW2_OL_SNAPSHOT_TABLE | \
                           QCOW2_OL_BITMAP_DIRECTORY)
#define QCOW2_OL_CACHED (QCOW2_OL_CONSTANT | QCOW2_OL_ACTIVE_L2 | \
                         QCOW2_OL_REFCOUNT_BLOCK | QCOW2_OL_INACTIVE_L1)
#define QCOW2_OL_ALL (QCOW2_OL_CACHED | QCOW2_OL_INACTIVE_L2)

typedef uint64_t Qcow2GetRefcountFunc(const void *refcount_array,
                                      uint64_t index);
typedef void Qcow2SetRefcountFunc(void *refcount_array, uint64_t index,
                                  uint64_t value);

typedef struct BDRVQcow2State {
    int qcow_version;
    int cluster_bits;
    int cluster_size;
    int l2_bits;            /* log2 of L2 entries per table */
    int l2_size;            /* L2 entries per table */
    uint64_t size;          /* virtual disk size in bytes */
    uint32_t crypt_method_header;

    int l1_size;
    int l1_vm_state_index;
    uint64_t l1_table_offset;
    uint64_t *l1_table;     /* host endian */

    Qcow2Cache *l2_table_cache;
    Qcow2Cache *refcount_block_cache;

    uint64_t *refcount_table;       /* host endian */
    uint64_t refcount_table_offset;
    uint32_t refcount_table_size;   /* entries */
    uint32_t refcount_table_used;   /* no refcount block from here on */
    int refcount_order;
    int refcount_bits;
    uint64_t refcount_max;
    int refcount_block_bits;        /* log2 of entries per refblock */
    int refcount_block_size;        /* entries per refblock */
    Qcow2GetRefcountFunc *get_refcount;
    Qcow2SetRefcountFunc *set_refcount;

    /* Compressed cluster descriptor layout */
    int csize_shift;
    int csize_mask;
    uint64_t cluster_offset_mask;

    int64_t free_cluster_index;     /* no free cluster below this one */
    int64_t free_byte_offset;       /* tail of the compressed-data cluster */

    CoMutex lock;                   /* protects all metadata */
    QLIST_HEAD(, QCowInflightAlloc) inflight_allocs;

    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t header_length;
    uint8_t compression_type;
    bool use_lazy_refcounts;
    bool signaled_corruption;
    bool corrupt_stop;              /* fatal corruption: refuse all I/O */
    /*
     * More clusters in use than the file really holds (metadata
     * preallocation or a sparse copy): block status then asks the file
     * which parts of a data cluster are holes.  Decided once, at the
     * first block status query.
     */
    bool metadata_preallocation_checked;
    bool metadata_preallocation;
    bool discard_passthrough[QCOW2_DISCARD_MAX];
    unsigned int cache_clean_interval;      /* seconds, 0: never */
    int overlap_check;              /* QCow2MetadataOverlap bits */

    Qcow2Feature *feature_table;
    int nb_features;
    QLIST_HEAD(, Qcow2UnknownHeaderExtension) unknown_header_ext;

    char *image_backing_file;
    char *image_backing_format;

    /*
     * Where guest data lives: bs->file, or the external data file (the
     * "data-file" child, named by image_data_file in the header).  With
     * an external data file, data clusters sit at their guest offsets
     * and have no refcounts.
     */
    BdrvChild *data_file;
    char *image_data_file;

    int nb_snapshots;
    uint64_t snapshots_offset;
    int snapshots_size;
    QCowSnapshot *snapshots;

    /* Bitmaps extension (valid while QCOW2_AUTOCLEAR_BITMAPS is set) */
    uint32_t nb_bitmaps;
    uint64_t bitmap_directory_size;
    uint64_t bitmap_directory_offset;
    Qcow2BitmapInfo *bitmaps;       /* the directory, or NULL */

    /* Drops unused cache entries every cache_clean_interval seconds */
    QEMUTimer *cache_clean_timer;
} BDRVQcow2State;

/* Whether guest data lives in an external data file */
static inline bool has_data_file(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return !!(s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE);
}

/* Whether the external data file is a raw image of the guest disk */
static inline bool data_file_is_raw(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return !!(s->autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW);
}

/* Byte order helpers for on-disk structures (big endian) */
static inline uint64_t qcow2_ld64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_BE(v);
}

static inline uint32_t qcow2_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_BE(v);
}

static inline uint16_t qcow2_ld16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return GUINT16_FROM_BE(v);
}

static inline void qcow2_st64(void *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

static inline void qcow2_st32(void *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

static inline void qcow2_st16(void *p, uint16_t v)
{
    v = GUINT16_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

/* Cluster arithmetic */
static inline int64_t start_of_cluster(BDRVQcow2State *s, int64_t offset)
{
    return offset & ~((int64_t)s->cluster_size - 1);
}

static inline int64_t offset_into_cluster(BDRVQcow2State *s, int64_t offset)
{
    return offset & (s->cluster_size - 1);
}

static inline uint64_t size_to_clusters(BDRVQcow2State *s, uint64_t size)
{
    return (size + (s->cluster_size - 1)) >> s->cluster_bits;
}

static inline int64_t size_to_l1(BDRVQcow2State *s, int64_t size)
{
    int shift = s->cluster_bits + s->l2_bits;
    return (size + (1ULL << shift) - 1) >> shift;
}

static inline int offset_to_l1_index(BDRVQcow2State *s, uint64_t offset)
{
    return offset >> (s->l2_bits + s->cluster_bits);
}

static inline int offset_to_l2_index(BDRVQcow2State *s, int64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_size - 1);
}

static inline QCow2ClusterType qcow2_get_cluster_type(BDRVQcow2State *s,
                                                      uint64_t l2_entry)
{
    if (l2_entry & QCOW_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    } else if ((l2_entry & QCOW_OFLAG_ZERO) && s->qcow_version >= 3) {
        if (l2_entry & L2E_OFFSET_MASK) {
            return QCOW2_CLUSTER_ZERO_ALLOC;
        }
        return QCOW2_CLUSTER_ZERO_PLAIN;
    } else if (!(l2_entry & L2E_OFFSET_MASK)) {
        /*
         * Offset 0 is a valid one in an external data file; its clusters
         * all have QCOW_OFLAG_COPIED (refcount 1), which tells them apart
         */
        if ((s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) &&
            (l2_entry & QCOW_OFLAG_COPIED)) {
            return QCOW2_CLUSTER_NORMAL;
        }
        return QCOW2_CLUSTER_UNALLOCATED;
    }
    return QCOW2_CLUSTER_NORMAL;
}

static inline bool qcow2_cluster_is_allocated(QCow2ClusterType type)
{
    return type == QCOW2_CLUSTER_COMPRESSED ||
        type == QCOW2_CLUSTER_NORMAL ||
        type == QCOW2_CLUSTER_ZERO_ALLOC;
}

/* Pure refcount-array accessors for refcount_order 0..6 (unit tested) */
extern Qcow2GetRefcountFunc *const qcow2_get_refcount_funcs[7];
extern Qcow2SetRefcountFunc *const qcow2_set_refcount_funcs[7];

/* Compressed descriptor helpers (pure) */
void qcow2_compressed_layout(int cluster_bits, int *csize_shift,
                             int *csize_mask, uint64_t *offset_mask);
/* Host byte range [*start, *start + *len) a compressed descriptor covers */
void qcow2_parse_compressed_descriptor(BDRVQcow2State *s, uint64_t l2_entry,
                                       uint64_t *start, uint64_t *len);

/*
 * qcow2-header.c: the bottom unit (header flags, corruption, overlap
 * checks).  It calls no other qcow2 unit; the cache calls only it, the
 * refcount code it and the cache, the cluster code those and the
 * refcount code, and qcow2.c all of them.
 */
int coroutine_fn qcow2_write_header_field(BlockDriverState *bs, int offset,
                                          const void *buf, int len);
/* Write the incompatible feature bits @value (s is not updated) */
int coroutine_fn qcow2_write_incompat(BlockDriverState *bs, uint64_t value);
/* Set the dirty bit (lazy refcounts) before the first unflushed update */
int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs);
/*
 * Append one header extension (magic, length, @len bytes of @data padded
 * to 8) at *pos of the header cluster @buf of @size bytes and advance
 * *pos; false, with nothing written, if it does not fit.
 */
bool qcow2_put_header_ext(uint8_t *buf, size_t size, size_t *pos,
                          uint32_t magic, const void *data, uint32_t len);
/*
 * Report corruption once.  @fatal (on a writable image) sets the corrupt
 * bit and stops all further I/O; otherwise only the message is printed.
 */
void coroutine_mixed_fn qcow2_signal_corruption(BlockDriverState *bs,
                                                bool fatal, int64_t offset,
                                                int64_t size,
                                                const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);
/*
 * The first metadata kind (a QCow2MetadataOverlap bit) enabled in
 * s->overlap_check and not in @ign that [offset, offset + size) overlaps;
 * 0 if none.  No I/O: inactive L2 tables are not looked at.
 */
int qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                 int64_t offset, int64_t size);
/* The same, marking the image corrupt and returning -EIO on a hit */
int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size);

/*
 * qcow2-data-file.c: the external data file.  Open sets s->data_file
 * (bs->file when the image has none) from the "data-file" option or the
 * name in the header; errp set and -errno on failure.
 */
int qcow2_open_data_file(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp);
/* Drop the data file child and name (open failures and close) */
void qcow2_close_data_file(BlockDriverState *bs);
/*
 * Create the (empty) data file @name for a new image and open it; its
 * node's filename is the name the image records
 */
BlockDriverState *coroutine_fn qcow2_co_create_data_file(const char *name,
                                                         Error **errp);
/*
 * Remove the image file @filename just created, when its data file could
 * not be made (local files only; errors are ignored, as in QEMU)
 */
void qcow2_delete_new_file(const char *filename);

/* qcow2-measure.c: BlockDriver.bdrv_measure */
BlockMeasureInfo *qcow2_measure(QemuOpts *opts, BlockDriverState *in_bs,
                                Error **errp);

/* qcow2.c */
/*
 * Open, close and reopen run these in a coroutine; the synchronous
 * wrappers are generated (co_wrapper_mixed: open and close may also run
 * inside a coroutine, e.g. while an image is created).
 */
/* Read the image's metadata (the steps of open) */
int coroutine_fn qcow2_co_do_open(BlockDriverState *bs, QDict *options,
                                  int flags, Error **errp);
int co_wrapper_mixed qcow2_do_open(BlockDriverState *bs, QDict *options,
                                   int flags, Error **errp);
/* Write out caches and mark the image clean (close, reopen read-only) */
int coroutine_fn qcow2_co_write_out_metadata(BlockDriverState *bs);
int co_wrapper_mixed qcow2_write_out_metadata(BlockDriverState *bs);
/* Flush both caches; *failed names the one that could not be flushed */
int coroutine_fn qcow2_co_flush_cache_tables(BlockDriverState *bs,
                                             const char **failed);
int co_wrapper_mixed qcow2_flush_cache_tables(BlockDriverState *bs,
                                              const char **failed);
ssize_t coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                         size_t dest_size, const void *src,
                                         size_t src_size);

/*
 * qcow2-bitmap.c (above qcow2-refcount.c): persistent dirty bitmaps
 */
/* Read the bitmap directory the header extension names (s->bitmaps) */
int coroutine_fn qcow2_co_read_bitmap_list(BlockDriverState *bs,
                                           Error **errp);
void qcow2_free_bitmap_list(BDRVQcow2State *s);
/*
 * Create a block-core bitmap for every directory entry and load its
 * contents; a read-write open marks them in use on disk
 */
int coroutine_fn qcow2_co_load_bitmaps(BlockDriverState *bs, int flags,
                                       Error **errp);
/* Write every persistent bitmap, a new directory and header extension */
int coroutine_fn qcow2_co_store_bitmaps(BlockDriverState *bs, Error **errp);
int co_wrapper_mixed qcow2_store_bitmaps(BlockDriverState *bs, Error **errp);
/* Read-only to read-write: mark the loaded bitmaps in use on disk */
int coroutine_fn qcow2_co_reopen_bitmaps_rw(BlockDriverState *bs,
                                            Error **errp);
int co_wrapper_mixed qcow2_reopen_bitmaps_rw(BlockDriverState *bs,
                                             Error **errp);
bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs);
bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, Error **errp);

/*
 * qcow2-backing.c (above qcow2-cluster.c): the BlockDriver hooks of
 * qemu-img rebase and commit
 */
/* Rewrite the header with a new backing file name and format (or none) */
int coroutine_fn qcow2_co_change_backing_file(BlockDriverState *bs,
                                              const char *backing_file,
                                              const char *backing_fmt);
/* Drop every cluster of the active image (it then reads as its backing) */
int coroutine_fn qcow2_co_make_empty(BlockDriverState *bs);

/* The feature name table new headers carry (qcow2.c) */
extern const Qcow2Feature qcow2_known_features[];
extern const size_t qcow2_nb_known_features;

/* qcow2-amend.c: BlockDriver.amend_opts and bdrv_co_amend_options */
extern QemuOptsList qcow2_amend_opts;
int coroutine_fn qcow2_co_amend_options(BlockDriverState *bs, QemuOpts *opts,
                                        BlockDriverAmendStatusCB *status_cb,
                                        void *cb_opaque, bool force,
                                        Error **errp);

/* qcow2-refcount.c */
int coroutine_fn qcow2_refcount_init(BlockDriverState *bs, Error **errp);
void qcow2_refcount_close(BlockDriverState *bs);
int coroutine_fn qcow2_get_refcount(BlockDriverState *bs,
                                    int64_t cluster_index,
                                    uint64_t *refcount);
int coroutine_fn qcow2_update_cluster_refcount(BlockDriverState *bs,
                                               int64_t cluster_index,
                                               uint64_t addend,
                                               bool decrease,
                                               Qcow2DiscardType type);
int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs,
                                          uint64_t size);
int64_t coroutine_fn qcow2_alloc_clusters_at(BlockDriverState *bs,
                                             uint64_t offset,
                                             uint64_t nb_clusters);
int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, int size);
void coroutine_fn qcow2_free_clusters(BlockDriverState *bs, int64_t offset,
                                      int64_t size, Qcow2DiscardType type);
void coroutine_fn qcow2_free_any_cluster(BlockDriverState *bs,
                                         uint64_t l2_entry,
                                         Qcow2DiscardType type);
int coroutine_fn qcow2_update_refcount_range(BlockDriverState *bs,
                                             int64_t offset, int64_t length,
                                             uint64_t addend, bool decrease,
                                             Qcow2DiscardType type);
int64_t coroutine_fn qcow2_move_refcount_table(BlockDriverState *bs,
                                               int64_t cluster,
                                               int64_t cover_clusters);
int coroutine_fn qcow2_check_refcounts(BlockDriverState *bs,
                                       BdrvCheckResult *res,
                                       BdrvCheckMode fix);
int coroutine_fn qcow2_shrink_reftable(BlockDriverState *bs);
int64_t coroutine_fn qcow2_get_last_cluster(BlockDriverState *bs,
                                            int64_t size);
/* qcow2-cluster.c */
int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs,
                                     uint64_t min_size, bool exact_size);
int coroutine_fn qcow2_shrink_l1_table(BlockDriverState *bs,
                                       uint64_t new_l1_size);
int coroutine_fn qcow2_get_host_offset(BlockDriverState *bs,
                                       uint64_t offset, uint64_t *bytes,
                                       uint64_t *host_offset,
                                       QCow2ClusterType *type);

/*
 * Where a write of [offset, offset + bytes) goes.  For an allocating
 * write, @alloc is set: the caller writes the data (with the COW areas
 * around it) to @host_offset, then calls qcow2_alloc_link_l2().  With
 * @keep_old, the host clusters are the preallocated zero clusters the
 * entries had already (nothing was allocated, nothing is freed).
 */
typedef struct QCowWriteMap {
    uint64_t guest_offset;      /* == offset */
    uint64_t bytes;             /* bytes of the request covered */
    uint64_t host_offset;       /* where guest_offset's data goes */
    bool alloc;
    bool keep_old;
    /* Allocation only: whole clusters [alloc_guest_start, +nb_clusters) */
    uint64_t alloc_guest_start;
    uint64_t alloc_host_start;
    int nb_clusters;
    uint64_t cow_start_bytes;   /* bytes before guest_offset to fill */
    uint64_t cow_end_bytes;     /* bytes after the request to fill */
    QCowInflightAlloc inflight;
} QCowWriteMap;

/*
 * Map the start of a write.  New clusters go to @want_host when it is
 * nonzero and free there (the host cluster after the previous part of
 * the same request, as QEMU keeps requests contiguous).
 */
int coroutine_fn qcow2_alloc_host_offset(BlockDriverState *bs,
                                         uint64_t offset, uint64_t bytes,
                                         uint64_t want_host,
                                         QCowWriteMap *m);
int coroutine_fn qcow2_alloc_link_l2(BlockDriverState *bs, QCowWriteMap *m);
void coroutine_fn qcow2_alloc_abort(BlockDriverState *bs, QCowWriteMap *m);
void coroutine_fn qcow2_wait_inflight(BlockDriverState *bs, uint64_t offset,
                                      uint64_t bytes);
int coroutine_fn qcow2_alloc_compressed_cluster_offset(BlockDriverState *bs,
                                                       uint64_t offset,
                                                       int compressed_size,
                                                       uint64_t *host_offset);
int coroutine_fn qcow2_cluster_zeroize(BlockDriverState *bs,
                                       uint64_t offset, uint64_t bytes,
                                       int flags);
int coroutine_fn qcow2_cluster_discard(BlockDriverState *bs,
                                       uint64_t offset, uint64_t bytes,
                                       Qcow2DiscardType type,
                                       bool full_discard);
int coroutine_fn qcow2_link_data_area(BlockDriverState *bs,
                                      uint64_t guest_offset,
                                      uint64_t host_offset,
                                      uint64_t nb_clusters);
int coroutine_fn qcow2_preallocate_metadata(BlockDriverState *bs,
                                            uint64_t offset,
                                            uint64_t new_length,
                                            uint64_t *end_host);

/*
 * qcow2-snapshot.c: internal snapshots (above the cluster unit, used by
 * qcow2.c only)
 */
/* Read the @nb entries of the table at s->snapshots_offset (open) */
int coroutine_fn qcow2_read_snapshots(BlockDriverState *bs, uint32_t nb,
                                      Error **errp);
void qcow2_free_snapshots(BDRVQcow2State *s);
/*
 * Check (open with BDRV_O_CHECK does not read the table): read the table,
 * dropping what cannot be kept when repairing; after the refcount check,
 * rewrite it if the read counted corruptions and @fix allows
 */
int coroutine_fn qcow2_check_read_snapshot_table(BlockDriverState *bs,
                                                 BdrvCheckResult *res,
                                                 BdrvCheckMode fix);
int coroutine_fn qcow2_check_fix_snapshot_table(BlockDriverState *bs,
                                                BdrvCheckResult *res,
                                                BdrvCheckMode fix);
int coroutine_fn qcow2_co_snapshot_create(BlockDriverState *bs,
                                          QEMUSnapshotInfo *sn_info);
int coroutine_fn qcow2_co_snapshot_goto(BlockDriverState *bs,
                                        const char *snapshot_id);
int coroutine_fn qcow2_co_snapshot_delete(BlockDriverState *bs,
                                          const char *snapshot_id,
                                          const char *name, Error **errp);
int qcow2_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_info);
/* The VM state area, past the guest disk (qemu-io read -b, write -b) */
int coroutine_fn qcow2_co_load_vmstate(BlockDriverState *bs,
                                       QEMUIOVector *qiov, int64_t pos);
int coroutine_fn qcow2_co_save_vmstate(BlockDriverState *bs,
                                       QEMUIOVector *qiov, int64_t pos);
/* Read-only opens only: reads see the snapshot from now on */
int qcow2_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                            const char *name, Error **errp);

/* qcow2-cache.c */
Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               int table_size);
void qcow2_cache_destroy(Qcow2Cache *c);
int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c,
                                 uint64_t offset, void **table);
int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                                       uint64_t offset, void **table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table);
int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c);
int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
int coroutine_fn qcow2_cache_set_dependency(BlockDriverState *bs,
                                            Qcow2Cache *c,
                                            Qcow2Cache *dependency);
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset);
/* Drop every clean entry (the caller flushed first) */
void qcow2_cache_empty(Qcow2Cache *c);
/*
 * Write the dirty L2 tables and refcount blocks, then drop every entry of
 * both caches (before metadata is rewritten behind them)
 */
int coroutine_fn qcow2_co_empty_caches(BlockDriverState *bs);
/*
 * Drop the clean entries nobody used since the previous call, and give
 * their memory back (the cache-clean-interval timer)
 */
void qcow2_cache_clean_unused(Qcow2Cache *c);
bool qcow2_cache_is_dirty(Qcow2Cache *c);
void qcow2_cache_set_is_l2(Qcow2Cache *c, bool is_l2);
/* Number of tables the cache holds */
int qcow2_cache_num_tables(Qcow2Cache *c);

#endif /* BLOCK_QCOW2_H */
