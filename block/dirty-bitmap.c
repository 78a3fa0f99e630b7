/*
 * Dirty bitmaps: a plain bit array per bitmap, one bit per granule
 *
 * The bits are kept in the serialised order qcow2 uses (granule i is bit
 * i % 8 of byte i / 8), so storing and loading copy bytes.  Bitmaps are
 * small next to their node (one bit per 64 KiB by default) and nothing
 * here needs to be faster than a byte loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"

struct BdrvDirtyBitmap {
    BlockDriverState *bs;
    uint64_t id;                /* unique for the life of the process */
    char *name;                 /* NULL: anonymous */
    uint32_t granularity;
    int granularity_bits;
    int64_t size;               /* bytes of the node covered */
    uint64_t nb_bits;
    uint8_t *bits;              /* DIV_ROUND_UP(nb_bits, 8) bytes */
    bool disabled;
    bool persistent;
    bool inconsistent;
    bool readonly;
    QTAILQ_ENTRY(BdrvDirtyBitmap) list;
};

static uint64_t next_bitmap_id = 1;

static uint64_t bits_for(int64_t size, int granularity_bits)
{
    return DIV_ROUND_UP((uint64_t)size, 1ULL << granularity_bits);
}

BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    int64_t size;

    assert(is_power_of_2(granularity) && granularity >= BDRV_SECTOR_SIZE);
    if (name && bdrv_find_dirty_bitmap(bs, name)) {
        error_setg(errp, "Bitmap already exists: %s", name);
        return NULL;
    }
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "could not get length of device");
        return NULL;
    }
    bitmap = g_new0(BdrvDirtyBitmap, 1);
    bitmap->bs = bs;
    bitmap->id = next_bitmap_id++;
    bitmap->name = g_strdup(name);
    bitmap->granularity = granularity;
    bitmap->granularity_bits = ctz64(granularity);
    bitmap->size = size;
    bitmap->nb_bits = bits_for(size, bitmap->granularity_bits);
    bitmap->bits = g_try_malloc0(MAX(DIV_ROUND_UP(bitmap->nb_bits, 8), 1));
    if (!bitmap->bits) {
        g_free(bitmap->name);
        g_free(bitmap);
        error_setg(errp, "Could not allocate the dirty bitmap");
        return NULL;
    }
    QTAILQ_INSERT_TAIL(&bs->dirty_bitmaps, bitmap, list);
    return bitmap;
}

void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    if (!bitmap) {
        return;
    }
    QTAILQ_REMOVE(&bitmap->bs->dirty_bitmaps, bitmap, list);
    g_free(bitmap->bits);
    g_free(bitmap->name);
    g_free(bitmap);
}

void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs)
{
    while (!QTAILQ_EMPTY(&bs->dirty_bitmaps)) {
        bdrv_release_dirty_bitmap(QTAILQ_FIRST(&bs->dirty_bitmaps));
    }
}

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name)
{
    BdrvDirtyBitmap *bitmap;

    QTAILQ_FOREACH(bitmap, &bs->dirty_bitmaps, list) {
        if (bitmap->name && !strcmp(bitmap->name, name)) {
            return bitmap;
        }
    }
    return NULL;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BlockDriverState *bs,
                                        BdrvDirtyBitmap *bitmap)
{
    return bitmap ? QTAILQ_NEXT(bitmap, list)
                  : QTAILQ_FIRST(&bs->dirty_bitmaps);
}

bool bdrv_has_named_bitmaps(BlockDriverState *bs)
{
    BdrvDirtyBitmap *bitmap;

    QTAILQ_FOREACH(bitmap, &bs->dirty_bitmaps, list) {
        if (bitmap->name) {
            return true;
        }
    }
    return false;
}

uint64_t bdrv_dirty_bitmap_id(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->id;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_prev(BlockDriverState *bs,
                                        BdrvDirtyBitmap *bitmap)
{
    BdrvDirtyBitmap *b, *prev = NULL;

    /* The list is short and singly walked; no back links needed */
    QTAILQ_FOREACH(b, &bs->dirty_bitmaps, list) {
        if (b == bitmap) {
            break;
        }
        prev = b;
    }
    return prev;
}

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->name;
}

uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->granularity;
}

int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->size;
}

uint64_t bdrv_dirty_bitmap_nb_bits(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->nb_bits;
}

static bool get_bit(const BdrvDirtyBitmap *bitmap, uint64_t i)
{
    return bitmap->bits[i / 8] & (1U << (i % 8));
}

uint64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bitmap)
{
    uint64_t i, count = 0;

    for (i = 0; i < bitmap->nb_bits; i++) {
        if (get_bit(bitmap, i)) {
            count++;
        }
    }
    return count << bitmap->granularity_bits;
}

bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bitmap)
{
    return !bitmap->disabled;
}

void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    bitmap->disabled = false;
}

void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    bitmap->disabled = true;
}

bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->persistent;
}

void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bitmap,
                                       bool persistent)
{
    bitmap->persistent = persistent;
}

bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->inconsistent;
}

void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bitmap)
{
    bitmap->inconsistent = true;
    bitmap->disabled = true;
}

bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->readonly;
}

void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bitmap, bool value)
{
    bitmap->readonly = value;
}

bool bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bitmap, unsigned flags,
                             Error **errp)
{
    if ((flags & BDRV_BITMAP_RO) && bitmap->readonly) {
        error_setg(errp, "Bitmap '%s' is readonly and cannot be modified",
                   bitmap->name);
        return false;
    }
    if ((flags & BDRV_BITMAP_INCONSISTENT) && bitmap->inconsistent) {
        error_setg(errp, "Bitmap '%s' is inconsistent and cannot be used",
                   bitmap->name);
        error_append_hint(errp, "Try block-dirty-bitmap-remove to delete"
                          " this bitmap from disk\n");
        return false;
    }
    return true;
}

/* Set (@value) or clear the bits [@first, @last] */
static void set_bit_range(BdrvDirtyBitmap *bitmap, uint64_t first,
                          uint64_t last, bool value)
{
    uint64_t i = first;

    while (i <= last) {
        if (i % 8 == 0 && last - i >= 7) {
            bitmap->bits[i / 8] = value ? 0xff : 0;
            i += 8;
            continue;
        }
        if (value) {
            bitmap->bits[i / 8] |= 1U << (i % 8);
        } else {
            bitmap->bits[i / 8] &= ~(1U << (i % 8));
        }
        i++;
    }
}

/* The bits of the granules touching a byte range, clamped to the size */
static bool byte_range_to_bits(const BdrvDirtyBitmap *bitmap, int64_t offset,
                               int64_t bytes, uint64_t *first,
                               uint64_t *last)
{
    if (bytes <= 0 || offset < 0 || offset >= bitmap->size) {
        return false;
    }
    bytes = MIN(bytes, bitmap->size - offset);
    *first = (uint64_t)offset >> bitmap->granularity_bits;
    *last = (uint64_t)(offset + bytes - 1) >> bitmap->granularity_bits;
    return true;
}

void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                           int64_t bytes)
{
    uint64_t first, last;

    if (byte_range_to_bits(bitmap, offset, bytes, &first, &last)) {
        set_bit_range(bitmap, first, last, true);
    }
}

/*
 * Clearing keeps a granule dirty unless the range covers all of it (the
 * last granule counts as covered up to the end of the node), as QEMU.
 */
void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                             int64_t bytes)
{
    int64_t g = bitmap->granularity;
    int64_t start, end;

    if (bytes <= 0 || offset < 0 || offset >= bitmap->size) {
        return;
    }
    end = MIN(offset + bytes, bitmap->size);
    start = ROUND_UP(offset, g);
    end = end == bitmap->size ? ROUND_UP(end, g) : QEMU_ALIGN_DOWN(end, g);
    if (end > start) {
        set_bit_range(bitmap, start / g, end / g - 1, false);
    }
}

void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    memset(bitmap->bits, 0, DIV_ROUND_UP(bitmap->nb_bits, 8));
}

bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bitmap, int64_t offset)
{
    uint64_t i;

    if (offset < 0 || offset >= bitmap->size) {
        return false;
    }
    i = (uint64_t)offset >> bitmap->granularity_bits;
    return get_bit(bitmap, i);
}

bool bdrv_dirty_bitmap_next_dirty_area(const BdrvDirtyBitmap *bitmap,
                                       int64_t end, int64_t *offset,
                                       int64_t *bytes)
{
    uint64_t i, j, last;

    end = MIN(end, bitmap->size);
    if (*offset < 0 || *offset >= end) {
        return false;
    }
    last = ((uint64_t)end - 1) >> bitmap->granularity_bits;
    i = (uint64_t)*offset >> bitmap->granularity_bits;
    while (i <= last && !get_bit(bitmap, i)) {
        i++;
    }
    if (i > last) {
        return false;
    }
    j = i;
    while (j <= last && get_bit(bitmap, j)) {
        j++;
    }
    *offset = MAX(*offset, (int64_t)(i << bitmap->granularity_bits));
    *bytes = MIN(end, (int64_t)(j << bitmap->granularity_bits)) - *offset;
    return true;
}

bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest,
                             const BdrvDirtyBitmap *src, Error **errp)
{
    uint64_t i;

    if (dest->size != src->size) {
        error_setg(errp, "Bitmaps are of different sizes (destination size "
                   "is %" PRId64 ", source size is %" PRId64 ") and can't "
                   "be merged", dest->size, src->size);
        return false;
    }
    if (dest->granularity == src->granularity) {
        for (i = 0; i < DIV_ROUND_UP(dest->nb_bits, 8); i++) {
            dest->bits[i] |= src->bits[i];
        }
        return true;
    }
    for (i = 0; i < src->nb_bits; i++) {
        if (get_bit(src, i)) {
            bdrv_set_dirty_bitmap(dest, (int64_t)(i << src->granularity_bits),
                                  src->granularity);
        }
    }
    return true;
}

void bdrv_dirty_bitmap_truncate(BdrvDirtyBitmap *bitmap, int64_t bytes)
{
    uint64_t nb_bits = bits_for(bytes, bitmap->granularity_bits);
    uint64_t old_len = DIV_ROUND_UP(bitmap->nb_bits, 8);
    uint64_t new_len = DIV_ROUND_UP(nb_bits, 8);
    uint64_t i;

    if (nb_bits < bitmap->nb_bits) {
        /* Drop the bits past the new end so that a later growth is clean */
        for (i = nb_bits; i < MIN(bitmap->nb_bits, new_len * 8); i++) {
            bitmap->bits[i / 8] &= ~(1U << (i % 8));
        }
    }
    bitmap->bits = g_realloc(bitmap->bits, MAX(new_len, 1));
    if (new_len > old_len) {
        memset(bitmap->bits + old_len, 0, new_len - old_len);
    }
    bitmap->nb_bits = nb_bits;
    bitmap->size = bytes;
}

uint64_t bdrv_dirty_bitmap_serialized_size(const BdrvDirtyBitmap *bitmap)
{
    return DIV_ROUND_UP(bitmap->nb_bits, 8);
}

void bdrv_dirty_bitmap_serialize(const BdrvDirtyBitmap *bitmap,
                                 uint8_t *buf, uint64_t start, uint64_t len)
{
    uint64_t size = bdrv_dirty_bitmap_serialized_size(bitmap);
    uint64_t n = start < size ? MIN(len, size - start) : 0;

    memcpy(buf, bitmap->bits + start, n);
    memset(buf + n, 0, len - n);
}

/* Clear the bits past nb_bits in the last byte (they have no granule) */
static void clear_tail(BdrvDirtyBitmap *bitmap)
{
    if (bitmap->nb_bits % 8) {
        bitmap->bits[bitmap->nb_bits / 8] &= (1U << (bitmap->nb_bits % 8)) - 1;
    }
}

void bdrv_dirty_bitmap_deserialize(BdrvDirtyBitmap *bitmap,
                                   const uint8_t *buf, uint64_t start,
                                   uint64_t len)
{
    uint64_t size = bdrv_dirty_bitmap_serialized_size(bitmap);

    if (start < size) {
        memcpy(bitmap->bits + start, buf, MIN(len, size - start));
        clear_tail(bitmap);
    }
}

void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bitmap,
                                        uint64_t start, uint64_t len)
{
    uint64_t size = bdrv_dirty_bitmap_serialized_size(bitmap);

    if (start < size) {
        memset(bitmap->bits + start, 0xff, MIN(len, size - start));
        clear_tail(bitmap);
    }
}

void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BdrvDirtyBitmap *bitmap;

    QTAILQ_FOREACH(bitmap, &bs->dirty_bitmaps, list) {
        if (!bitmap->disabled) {
            bdrv_set_dirty_bitmap(bitmap, offset, bytes);
        }
    }
}

uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs)
{
    BlockDriverInfo bdi;

    if (bdrv_get_info(bs, &bdi) >= 0 && bdi.cluster_size > 0) {
        return MIN(65536, MAX(4096, bdi.cluster_size));
    }
    return 4096;
}

bool bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp)
{
    if (!bs->drv || !bs->drv->bdrv_can_store_new_dirty_bitmap) {
        error_setg_errno(errp, ENOTSUP,
                         "Can't store persistent bitmaps to %s",
                         bdrv_get_node_name(bs));
        return false;
    }
    return bs->drv->bdrv_can_store_new_dirty_bitmap(bs, name, granularity,
                                                    errp);
}

bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    return bs->drv && bs->drv->bdrv_supports_persistent_dirty_bitmap &&
           bs->drv->bdrv_supports_persistent_dirty_bitmap(bs);
}

void bdrv_dirty_bitmap_truncate_all(BlockDriverState *bs, int64_t bytes)
{
    BdrvDirtyBitmap *bitmap;

    QTAILQ_FOREACH(bitmap, &bs->dirty_bitmaps, list) {
        bdrv_dirty_bitmap_truncate(bitmap, bytes);
    }
}
