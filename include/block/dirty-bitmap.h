/*
 * Dirty bitmaps: which parts of a node were written since a point in time
 *
 * A bitmap has one bit per granule (a power of two of at least 512
 * bytes) of its node.  Writes, write-zeroes and discards through the node
 * set the bits of its enabled bitmaps.  Persistent bitmaps are stored by
 * the format driver (qcow2) when the image is closed; an inconsistent one
 * was found in use on disk (its writer did not close the image) and its
 * contents cannot be trusted: it may only be removed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_DIRTY_BITMAP_H
#define BLOCK_DIRTY_BITMAP_H

#include "block/block.h"

typedef struct BdrvDirtyBitmap BdrvDirtyBitmap;

/* Longest bitmap name (bytes), as QEMU */
#define BDRV_BITMAP_MAX_NAME_SIZE 1023

/* What an operation may not meet (bdrv_dirty_bitmap_check) */
typedef enum BdrvBitmapCheck {
    BDRV_BITMAP_RO = 1,
    BDRV_BITMAP_INCONSISTENT = 2,
} BdrvBitmapCheck;
#define BDRV_BITMAP_DEFAULT (BDRV_BITMAP_RO | BDRV_BITMAP_INCONSISTENT)
#define BDRV_BITMAP_ALLOW_RO BDRV_BITMAP_INCONSISTENT

/*
 * A new, empty and enabled bitmap named @name (NULL: anonymous) over the
 * current length of @bs; NULL with "Bitmap already exists: NAME" if @bs
 * has one of that name.
 */
BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp);
void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap);
/* All bitmaps of @bs (when it closes) */
void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs);

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name);
/* Iteration in creation order: start with NULL, ends with NULL */
BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BlockDriverState *bs,
                                        BdrvDirtyBitmap *bitmap);
/* The same backwards: start with NULL (the newest) */
BdrvDirtyBitmap *bdrv_dirty_bitmap_prev(BlockDriverState *bs,
                                        BdrvDirtyBitmap *bitmap);
bool bdrv_has_named_bitmaps(BlockDriverState *bs);
/* Never reused while the process runs (a released bitmap's id is gone) */
uint64_t bdrv_dirty_bitmap_id(const BdrvDirtyBitmap *bitmap);

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap);
uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap);
/* Bytes of the node it covers */
int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap);
/* Number of bits (granules) */
uint64_t bdrv_dirty_bitmap_nb_bits(const BdrvDirtyBitmap *bitmap);
/* Bytes covered by set bits (the last granule counted to the end) */
uint64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bitmap);

bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bitmap);
void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bitmap);
void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bitmap,
                                       bool persistent);
bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bitmap, bool value);

/*
 * Whether @bitmap may be used by an operation that refuses @flags
 * (BdrvBitmapCheck bits); false with QEMU's message if not.
 */
bool bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bitmap, unsigned flags,
                             Error **errp);

/* The writes hook: mark [@offset, @offset + @bytes) in enabled bitmaps */
void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes);
/* Set or clear the granules touching a byte range of one bitmap */
void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                           int64_t bytes);
void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                             int64_t bytes);
void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap);
/* Whether the granule holding byte @offset is dirty */
bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bitmap, int64_t offset);
/*
 * The first dirty area starting at or after *@offset and before @end:
 * true with *@offset and *@bytes set (clamped to the node's size).
 */
bool bdrv_dirty_bitmap_next_dirty_area(const BdrvDirtyBitmap *bitmap,
                                       int64_t end, int64_t *offset,
                                       int64_t *bytes);

/*
 * OR @src into @dest (granularities may differ; sizes must match)
 */
bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest,
                             const BdrvDirtyBitmap *src, Error **errp);
/* Resize to the node's new length (bits past the end are dropped) */
void bdrv_dirty_bitmap_truncate(BdrvDirtyBitmap *bitmap, int64_t bytes);
/* All bitmaps of @bs, after it was resized (block/io.c) */
void bdrv_dirty_bitmap_truncate_all(BlockDriverState *bs, int64_t bytes);

/*
 * Serialised form, as qcow2 stores it: bit i (granule i) is bit i % 8 of
 * byte i / 8.  @start is a byte offset into that form, @len its length.
 */
void bdrv_dirty_bitmap_serialize(const BdrvDirtyBitmap *bitmap,
                                 uint8_t *buf, uint64_t start, uint64_t len);
void bdrv_dirty_bitmap_deserialize(BdrvDirtyBitmap *bitmap,
                                   const uint8_t *buf, uint64_t start,
                                   uint64_t len);
/* Set every bit of a serialised range (all-ones table entries) */
void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bitmap,
                                        uint64_t start, uint64_t len);
/* Bytes of the serialised form */
uint64_t bdrv_dirty_bitmap_serialized_size(const BdrvDirtyBitmap *bitmap);

/* The granularity of a new bitmap without -g: the cluster size, 4k-64k */
uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs);
/* Whether the node's format can hold persistent bitmaps */
bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs);
/*
 * Whether the format can store a new persistent bitmap; false with
 * QEMU's message otherwise.
 */
bool bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp);

#endif /* BLOCK_DIRTY_BITMAP_H */
