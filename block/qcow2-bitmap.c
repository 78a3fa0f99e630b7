/*
 * qcow2 persistent dirty bitmaps: the bitmap directory, loading on open
 * and storing on close
 *
 * On disk (docs/interop/qcow2.txt, "Bitmaps"): a header extension points
 * to the bitmap directory, whose entries name a bitmap, its granularity,
 * its flags and its bitmap table; each table entry gives the data
 * cluster of one cluster's worth of bits (0: all zeroes, 1: all ones).
 * Autoclear bit 0 says the extension is valid: a writer that does not
 * know bitmaps clears it, and the bitmaps must then be ignored.
 *
 * Open reads the directory (for qemu-img info and check) and loads every
 * bitmap into the block core; a read-write open marks each one "in use"
 * on disk, so a writer that dies leaves them visibly inconsistent.  Close
 * writes every consistent persistent bitmap afresh (new tables and data
 * clusters), then a new directory and header extension, and only then
 * frees the old clusters, as QEMU does.  Inconsistent bitmaps stay on
 * disk as they are until they are removed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include "qemu/buffer-compare.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "block/block_int.h"
#include "block/qcow2.h"

/* Limits QEMU puts on bitmaps (BME_MAX_*) */
#define BME_MIN_GRANULARITY_BITS 9
#define BME_MAX_GRANULARITY_BITS 31
#define BME_MAX_TABLE_SIZE 0x8000000
#define BME_MAX_PHYS_SIZE 0x20000000
#define BME_TYPE_DIRTY_TRACKING 1

/* Directory entry layout */
#define BME_OFF_TABLE_OFFSET    0
#define BME_OFF_TABLE_SIZE      8
#define BME_OFF_FLAGS           12
#define BME_OFF_TYPE            16
#define BME_OFF_GRANULARITY     17
#define BME_OFF_NAME_SIZE       18
#define BME_OFF_EXTRA_SIZE      20

static uint64_t dir_entry_size(size_t name_size, uint32_t extra_size)
{
    return ROUND_UP((uint64_t)QCOW2_BITMAP_DIR_ENTRY_SIZE + extra_size +
                    name_size, 8);
}

void qcow2_free_bitmap_list(BDRVQcow2State *s)
{
    uint32_t i;

    if (s->bitmaps) {
        for (i = 0; i < s->nb_bitmaps; i++) {
            g_free(s->bitmaps[i].name);
        }
    }
    g_free(s->bitmaps);
    s->bitmaps = NULL;
}

/* The directory */

/*
 * QEMU's constraints on one directory entry: a table where tables may
 * be, a granularity in range, only the known flags, a short name, the
 * dirty tracking type, and (unless in use) room for the whole disk
 */
static bool check_dir_entry(BDRVQcow2State *s, const uint8_t *e)
{
    uint64_t table_offset = qcow2_ld64(e + BME_OFF_TABLE_OFFSET);
    uint32_t table_size = qcow2_ld32(e + BME_OFF_TABLE_SIZE);
    uint32_t flags = qcow2_ld32(e + BME_OFF_FLAGS);
    uint8_t bits = e[BME_OFF_GRANULARITY];
    uint64_t phys = (uint64_t)table_size * s->cluster_size;
    uint64_t len = ROUND_UP(s->size, BDRV_SECTOR_SIZE);

    if (!table_size || !table_offset ||
        offset_into_cluster(s, table_offset) ||
        table_size > BME_MAX_TABLE_SIZE ||
        bits > BME_MAX_GRANULARITY_BITS || bits < BME_MIN_GRANULARITY_BITS ||
        (flags & ~(QCOW2_BME_FLAG_IN_USE | QCOW2_BME_FLAG_AUTO)) ||
        qcow2_ld16(e + BME_OFF_NAME_SIZE) > BDRV_BITMAP_MAX_NAME_SIZE ||
        e[BME_OFF_TYPE] != BME_TYPE_DIRTY_TRACKING ||
        phys > BME_MAX_PHYS_SIZE) {
        return false;
    }
    return (flags & QCOW2_BME_FLAG_IN_USE) ||
           len <= ((phys * 8) << bits);
}

int coroutine_fn qcow2_co_read_bitmap_list(BlockDriverState *bs,
                                           Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *dir = NULL;
    uint64_t pos = 0, size = s->bitmap_directory_size;
    uint32_t i;
    int ret;

    dir = g_try_malloc(MAX(size, 1));
    if (!dir) {
        error_setg(errp, "Could not allocate the bitmap directory");
        return -ENOMEM;
    }
    ret = bdrv_co_pread(bs->file, s->bitmap_directory_offset, size, dir, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read bitmap directory");
        return ret;
    }
    s->bitmaps = g_new0(Qcow2BitmapInfo, s->nb_bitmaps);
    for (i = 0; i < s->nb_bitmaps; i++) {
        const uint8_t *e = dir + pos;
        uint32_t extra_size;
        uint16_t name_size;
        uint64_t entry_size;

        if (size - pos < QCOW2_BITMAP_DIR_ENTRY_SIZE) {
            break;
        }
        name_size = qcow2_ld16(e + BME_OFF_NAME_SIZE);
        extra_size = qcow2_ld32(e + BME_OFF_EXTRA_SIZE);
        entry_size = dir_entry_size(name_size, extra_size);
        if (entry_size > size - pos) {
            break;
        }
        if (!check_dir_entry(s, e)) {
            error_setg(errp, "Bitmap '%.*s' doesn't satisfy the constraints",
                       name_size, (const char *)e +
                       QCOW2_BITMAP_DIR_ENTRY_SIZE + extra_size);
            return -EINVAL;
        }
        s->bitmaps[i].table_offset = qcow2_ld64(e + BME_OFF_TABLE_OFFSET);
        s->bitmaps[i].table_size = qcow2_ld32(e + BME_OFF_TABLE_SIZE);
        s->bitmaps[i].flags = qcow2_ld32(e + BME_OFF_FLAGS);
        s->bitmaps[i].granularity_bits = e[BME_OFF_GRANULARITY];
        s->bitmaps[i].dir_pos = pos;
        s->bitmaps[i].name = g_strndup((const char *)e +
                                       QCOW2_BITMAP_DIR_ENTRY_SIZE +
                                       extra_size, name_size);
        pos += entry_size;
    }
    if (i < s->nb_bitmaps || pos != size) {
        error_setg(errp, "Broken bitmap directory: %" PRIu32 " entries "
                   "declared in %" PRIu64 " bytes", s->nb_bitmaps, size);
        return -EINVAL;
    }
    return 0;
}

/* Loading */

/* Bytes of bitmap data one cluster of a table entry holds */
static uint64_t table_entries_for(BDRVQcow2State *s,
                                  const BdrvDirtyBitmap *bitmap)
{
    return DIV_ROUND_UP(bdrv_dirty_bitmap_serialized_size(bitmap),
                        s->cluster_size);
}

static int coroutine_fn load_bitmap_data(BlockDriverState *bs,
                                         const Qcow2BitmapInfo *bm,
                                         BdrvDirtyBitmap *bitmap,
                                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *table = NULL;
    g_autofree uint8_t *buf = NULL;
    uint64_t nb = table_entries_for(s, bitmap);
    uint64_t i;
    int ret;

    if (bm->table_size != nb || bm->table_size > BME_MAX_TABLE_SIZE ||
        offset_into_cluster(s, bm->table_offset)) {
        error_setg_errno(errp, EINVAL, "Could not read bitmap '%s' from "
                         "image", bm->name);
        return -EINVAL;
    }
    if (!nb) {
        return 0;
    }
    table = g_try_new(uint64_t, nb);
    buf = g_try_malloc(s->cluster_size);
    if (!table || !buf) {
        error_setg(errp, "Could not allocate the bitmap table");
        return -ENOMEM;
    }
    ret = bdrv_co_pread(bs->file, bm->table_offset, nb * 8, table, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read bitmap '%s' from image",
                         bm->name);
        return ret;
    }
    for (i = 0; i < nb; i++) {
        uint64_t entry = GUINT64_FROM_BE(table[i]);
        uint64_t offset = entry & QCOW2_BME_TABLE_OFFSET_MASK;
        uint64_t start = i * s->cluster_size;

        if ((entry & QCOW2_BME_TABLE_RESERVED_MASK) ||
            offset_into_cluster(s, offset) || (offset && (entry & 1))) {
            error_setg_errno(errp, EINVAL, "Could not read bitmap '%s' from "
                             "image", bm->name);
            return -EINVAL;
        }
        if (offset) {
            ret = bdrv_co_pread(bs->file, offset, s->cluster_size, buf, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not read bitmap '%s' "
                                 "from image", bm->name);
                return ret;
            }
            bdrv_dirty_bitmap_deserialize(bitmap, buf, start,
                                          s->cluster_size);
        } else if (entry & 1) {
            bdrv_dirty_bitmap_deserialize_ones(bitmap, start,
                                               s->cluster_size);
        }
    }
    return 0;
}

/* Write the flags of every directory entry where they are on disk */
static int coroutine_fn write_dir_flags(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t i;
    int ret;

    for (i = 0; i < s->nb_bitmaps; i++) {
        uint8_t buf[4];

        qcow2_st32(buf, s->bitmaps[i].flags);
        ret = bdrv_co_pwrite(bs->file, s->bitmap_directory_offset +
                             s->bitmaps[i].dir_pos + BME_OFF_FLAGS, 4, buf,
                             0);
        if (ret < 0) {
            return ret;
        }
    }
    return bdrv_co_flush(bs->file->bs);
}

int coroutine_fn qcow2_co_load_bitmaps(BlockDriverState *bs, int flags,
                                       Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool rw = (flags & BDRV_O_RDWR) && !(flags & BDRV_O_INACTIVE);
    bool needs_update = false;
    uint32_t i;
    int ret;

    if (!s->bitmaps) {
        return 0;
    }
    for (i = 0; i < s->nb_bitmaps; i++) {
        Qcow2BitmapInfo *bm = &s->bitmaps[i];
        BdrvDirtyBitmap *bitmap;

        bitmap = bdrv_create_dirty_bitmap(bs, 1U << bm->granularity_bits,
                                          bm->name, errp);
        if (!bitmap) {
            ret = -EINVAL;
            goto fail;
        }
        bm->loaded_id = bdrv_dirty_bitmap_id(bitmap);
        /* The node's length is not known to the core yet while it opens */
        bdrv_dirty_bitmap_truncate(bitmap, ROUND_UP(s->size,
                                                    BDRV_SECTOR_SIZE));
        bdrv_dirty_bitmap_set_persistence(bitmap, true);
        if (bm->flags & QCOW2_BME_FLAG_IN_USE) {
            /* Its writer never stored it: the contents are unusable */
            bdrv_dirty_bitmap_set_inconsistent(bitmap);
        } else {
            ret = load_bitmap_data(bs, bm, bitmap, errp);
            if (ret < 0) {
                goto fail;
            }
            bm->flags |= QCOW2_BME_FLAG_IN_USE;
            needs_update = true;
        }
        if (!(bm->flags & QCOW2_BME_FLAG_AUTO)) {
            bdrv_disable_dirty_bitmap(bitmap);
        }
        if (!rw) {
            bdrv_dirty_bitmap_set_readonly(bitmap, true);
        }
    }
    if (needs_update && rw) {
        ret = write_dir_flags(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Can't update bitmap directory");
            goto fail;
        }
    } else if (needs_update) {
        /* Not written: the directory in memory stays what is on disk */
        for (i = 0; i < s->nb_bitmaps; i++) {
            BdrvDirtyBitmap *bitmap = bdrv_find_dirty_bitmap(bs,
                                                    s->bitmaps[i].name);

            if (bitmap && !bdrv_dirty_bitmap_inconsistent(bitmap)) {
                s->bitmaps[i].flags &= ~QCOW2_BME_FLAG_IN_USE;
            }
        }
    }
    return 0;

fail:
    bdrv_release_all_dirty_bitmaps(bs);
    return ret;
}

/* Storing */

/* A directory entry to write */
typedef struct StoreEntry {
    BdrvDirtyBitmap *bitmap;
    Qcow2BitmapInfo info;       /* name borrowed */
    bool fresh;                 /* tables written now */
} StoreEntry;

/* Inconsistent bitmaps keep their entry (and clusters) as they are */
static bool kept_entry(const StoreEntry *e)
{
    return bdrv_dirty_bitmap_inconsistent(e->bitmap);
}

/* The persistent bitmap of @bs with @id (0 never matches) */
static BdrvDirtyBitmap *find_bitmap_by_id(BlockDriverState *bs, uint64_t id)
{
    BdrvDirtyBitmap *bitmap = NULL;

    while (id && (bitmap = bdrv_dirty_bitmap_next(bs, bitmap))) {
        if (bdrv_dirty_bitmap_id(bitmap) == id) {
            return bdrv_dirty_bitmap_get_persistence(bitmap) ? bitmap : NULL;
        }
    }
    return NULL;
}

/* Whether @bitmap came from (or was stored to) the directory on disk */
static bool is_loaded(BDRVQcow2State *s, const BdrvDirtyBitmap *bitmap)
{
    uint32_t i;

    for (i = 0; s->bitmaps && i < s->nb_bitmaps; i++) {
        if (s->bitmaps[i].loaded_id == bdrv_dirty_bitmap_id(bitmap)) {
            return true;
        }
    }
    return false;
}

/* Write the data clusters and the table of @bitmap; fills @info */
static int coroutine_fn store_bitmap(BlockDriverState *bs,
                                     BdrvDirtyBitmap *bitmap,
                                     Qcow2BitmapInfo *info)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t nb = table_entries_for(s, bitmap);
    g_autofree uint64_t *table = g_new0(uint64_t, MAX(nb, 1));
    g_autofree uint8_t *buf = g_malloc(s->cluster_size);
    int64_t offset;
    uint64_t i;
    int ret;

    info->granularity_bits = ctz64(bdrv_dirty_bitmap_granularity(bitmap));
    info->flags = bdrv_dirty_bitmap_enabled(bitmap) ? QCOW2_BME_FLAG_AUTO
                                                    : 0;
    info->table_size = nb;
    info->table_offset = 0;
    for (i = 0; i < nb; i++) {
        bdrv_dirty_bitmap_serialize(bitmap, buf, i * s->cluster_size,
                                    s->cluster_size);
        if (buffer_is_zero(buf, s->cluster_size)) {
            continue;
        }
        offset = qcow2_alloc_clusters(bs, s->cluster_size);
        if (offset < 0) {
            ret = offset;
            goto fail;
        }
        table[i] = offset;
        ret = bdrv_co_pwrite(bs->file, offset, s->cluster_size, buf, 0);
        if (ret < 0) {
            goto fail;
        }
    }
    if (!nb) {
        return 0;
    }
    offset = qcow2_alloc_clusters(bs, nb * 8);
    if (offset < 0) {
        ret = offset;
        goto fail;
    }
    info->table_offset = offset;
    for (i = 0; i < nb; i++) {
        table[i] = GUINT64_TO_BE(table[i]);
    }
    ret = bdrv_co_pwrite(bs->file, offset, nb * 8, table, 0);
    if (ret < 0) {
        for (i = 0; i < nb; i++) {
            table[i] = GUINT64_FROM_BE(table[i]);
        }
        goto fail;
    }
    return 0;

fail:
    for (i = 0; i < nb; i++) {
        if (table[i]) {
            qcow2_free_clusters(bs, table[i], s->cluster_size,
                                QCOW2_DISCARD_ALWAYS);
        }
    }
    if (info->table_offset) {
        qcow2_free_clusters(bs, info->table_offset, nb * 8,
                            QCOW2_DISCARD_OTHER);
        info->table_offset = 0;
    }
    return ret;
}

/* Free a bitmap table and the data clusters it points to */
static void coroutine_fn free_bitmap_clusters(BlockDriverState *bs,
                                              const Qcow2BitmapInfo *bm)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *table = NULL;
    uint32_t i;

    if (!bm->table_size || !bm->table_offset) {
        return;
    }
    table = g_try_new(uint64_t, bm->table_size);
    if (table && bdrv_co_pread(bs->file, bm->table_offset,
                               (int64_t)bm->table_size * 8, table, 0) >= 0) {
        for (i = 0; i < bm->table_size; i++) {
            uint64_t entry = GUINT64_FROM_BE(table[i]);
            uint64_t offset = entry & QCOW2_BME_TABLE_OFFSET_MASK;

            if (offset && !(entry & QCOW2_BME_TABLE_RESERVED_MASK) &&
                !offset_into_cluster(s, offset)) {
                /* As QEMU: freed bitmap data is always discarded */
                qcow2_free_clusters(bs, offset, s->cluster_size,
                                    QCOW2_DISCARD_ALWAYS);
            }
        }
    }
    qcow2_free_clusters(bs, bm->table_offset, (int64_t)bm->table_size * 8,
                        QCOW2_DISCARD_OTHER);
}

/*
 * The header cluster with the bitmaps extension replaced (dropped when
 * @nb is 0) and the autoclear bit to match.  The other extensions keep
 * their order, the bitmaps one goes last, then the end marker and the
 * backing file name.
 */
static int coroutine_fn write_header_ext(BlockDriverState *bs, uint32_t nb,
                                         uint64_t dir_size,
                                         uint64_t dir_offset)
{
    BDRVQcow2State *s = bs->opaque;
    size_t size = s->cluster_size;
    size_t hdr_len = s->header_length;
    g_autofree uint8_t *in = g_malloc(size);
    g_autofree uint8_t *out = g_malloc0(size);
    uint64_t name_off, autoclear;
    uint32_t name_len;
    size_t end, in_pos, pos;
    int ret;

    ret = bdrv_co_pread(bs->file, 0, size, in, 0);
    if (ret < 0) {
        return ret;
    }
    if (hdr_len > size) {
        return -EINVAL;
    }
    name_off = qcow2_ld64(in + QCOW2_HDR_BACKING_OFFSET);
    name_len = qcow2_ld32(in + QCOW2_HDR_BACKING_SIZE);
    if (name_off && (name_off > size || name_len > size - name_off)) {
        return -EINVAL;
    }
    end = name_off ? name_off : size;
    memcpy(out, in, hdr_len);
    in_pos = pos = hdr_len;
    while (in_pos + 8 <= end) {
        uint32_t magic = qcow2_ld32(in + in_pos);
        uint32_t len = qcow2_ld32(in + in_pos + 4);
        size_t need = 8 + ROUND_UP((size_t)len, 8);

        if (magic == QCOW2_EXT_MAGIC_END || len > end - in_pos - 8) {
            break;
        }
        if (magic != QCOW2_EXT_MAGIC_BITMAPS) {
            if (need > size - pos) {
                return -ENOSPC;
            }
            memcpy(out + pos, in + in_pos, 8 + len);
            pos += need;
        }
        in_pos += need;
    }
    if (nb) {
        if (8 + QCOW2_BITMAPS_EXT_SIZE > size - pos) {
            return -ENOSPC;
        }
        qcow2_st32(out + pos, QCOW2_EXT_MAGIC_BITMAPS);
        qcow2_st32(out + pos + 4, QCOW2_BITMAPS_EXT_SIZE);
        qcow2_st32(out + pos + 8, nb);
        qcow2_st32(out + pos + 12, 0);
        qcow2_st64(out + pos + 16, dir_size);
        qcow2_st64(out + pos + 24, dir_offset);
        pos += 8 + QCOW2_BITMAPS_EXT_SIZE;
    }
    if (8 > size - pos) {
        return -ENOSPC;
    }
    pos += 8;   /* end marker: zeroes */
    if (name_off) {
        if (name_len > size - pos) {
            return -ENOSPC;
        }
        memcpy(out + pos, in + name_off, name_len);
        qcow2_st64(out + QCOW2_HDR_BACKING_OFFSET, pos);
    }
    autoclear = s->autoclear_features & ~QCOW2_AUTOCLEAR_BITMAPS;
    if (nb) {
        autoclear |= QCOW2_AUTOCLEAR_BITMAPS;
    }
    qcow2_st64(out + QCOW2_HDR_AUTOCLEAR, autoclear);
    ret = bdrv_co_pwrite_sync(bs->file, 0, size, out, 0);
    if (ret < 0) {
        return ret;
    }
    s->autoclear_features = autoclear;
    return 0;
}

static int coroutine_fn store_bitmaps_locked(BlockDriverState *bs,
                                             Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree StoreEntry *entries = NULL;
    g_autofree bool *kept = NULL;
    g_autofree uint8_t *dir = NULL;
    BdrvDirtyBitmap *bitmap = NULL;
    uint32_t nb = 0, i;
    uint64_t dir_size = 0, pos = 0;
    int64_t dir_offset = 0, len;
    int ret;

    while ((bitmap = bdrv_dirty_bitmap_next(bs, bitmap))) {
        if (bdrv_dirty_bitmap_get_persistence(bitmap)) {
            nb++;
        }
    }
    if (!nb && !s->nb_bitmaps) {
        return 0;
    }
    len = bdrv_getlength(bs);
    if (len < 0) {
        error_setg_errno(errp, -len, "Could not get the image length");
        return len;
    }
    entries = g_new0(StoreEntry, MAX(nb, 1));
    kept = g_new0(bool, MAX(s->nb_bitmaps, 1));
    nb = 0;
    /*
     * QEMU's order: the bitmaps the image had, in directory order, then
     * the new ones, newest first
     */
    for (i = 0; s->bitmaps && i < s->nb_bitmaps; i++) {
        bitmap = find_bitmap_by_id(bs, s->bitmaps[i].loaded_id);
        if (!bitmap) {
            continue;
        }
        if (bdrv_dirty_bitmap_inconsistent(bitmap)) {
            kept[i] = true;
            entries[nb].info = s->bitmaps[i];
            entries[nb].info.name = (char *)bdrv_dirty_bitmap_name(bitmap);
            entries[nb++].bitmap = bitmap;
            continue;
        }
        entries[nb++].bitmap = bitmap;
    }
    bitmap = NULL;
    while ((bitmap = bdrv_dirty_bitmap_prev(bs, bitmap))) {
        if (bdrv_dirty_bitmap_get_persistence(bitmap) &&
            !bdrv_dirty_bitmap_inconsistent(bitmap) &&
            !is_loaded(s, bitmap)) {
            entries[nb++].bitmap = bitmap;
        }
    }
    for (i = 0; i < nb; i++) {
        StoreEntry *e = &entries[i];
        const char *name = bdrv_dirty_bitmap_name(e->bitmap);

        if (!kept_entry(e)) {
            if (bdrv_dirty_bitmap_size(e->bitmap) != len) {
                bdrv_dirty_bitmap_truncate(e->bitmap, len);
            }
            if (!table_entries_for(s, e->bitmap)) {
                /*
                 * An empty disk gives an empty table, which QEMU can
                 * neither write nor open: fail as it does
                 */
                error_setg(errp, "No memory");
                ret = -ENOMEM;
                goto fail;
            }
            ret = store_bitmap(bs, e->bitmap, &e->info);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to write bitmap '%s'",
                                 name);
                goto fail;
            }
            e->fresh = true;
        }
        e->info.name = (char *)name;
        e->info.loaded_id = bdrv_dirty_bitmap_id(e->bitmap);
        dir_size += dir_entry_size(strlen(name), 0);
    }

    if (nb) {
        dir = g_malloc0(dir_size);
        for (i = 0; i < nb; i++) {
            uint8_t *p = dir + pos;
            size_t name_len = strlen(entries[i].info.name);

            qcow2_st64(p + BME_OFF_TABLE_OFFSET, entries[i].info.table_offset);
            qcow2_st32(p + BME_OFF_TABLE_SIZE, entries[i].info.table_size);
            qcow2_st32(p + BME_OFF_FLAGS, entries[i].info.flags);
            p[BME_OFF_TYPE] = BME_TYPE_DIRTY_TRACKING;
            p[BME_OFF_GRANULARITY] = entries[i].info.granularity_bits;
            qcow2_st16(p + BME_OFF_NAME_SIZE, name_len);
            qcow2_st32(p + BME_OFF_EXTRA_SIZE, 0);
            memcpy(p + QCOW2_BITMAP_DIR_ENTRY_SIZE, entries[i].info.name,
                   name_len);
            entries[i].info.dir_pos = pos;
            pos += dir_entry_size(name_len, 0);
        }
        dir_offset = qcow2_alloc_clusters(bs, dir_size);
        if (dir_offset < 0) {
            ret = dir_offset;
            dir_offset = 0;
            error_setg_errno(errp, -ret, "Failed to allocate the bitmap "
                             "directory");
            goto fail;
        }
        ret = bdrv_co_pwrite(bs->file, dir_offset, dir_size, dir, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to write the bitmap "
                             "directory");
            goto fail;
        }
    }

    /* Refcounts of everything new are on disk before the header names it */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret >= 0) {
        ret = write_header_ext(bs, nb, dir_size, dir_offset);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the bitmaps header "
                         "extension");
        goto fail;
    }

    /* The new directory is in use: the old clusters can go */
    for (i = 0; s->bitmaps && i < s->nb_bitmaps; i++) {
        if (!kept[i]) {
            free_bitmap_clusters(bs, &s->bitmaps[i]);
        }
    }
    if (s->bitmaps && s->nb_bitmaps) {
        qcow2_free_clusters(bs, s->bitmap_directory_offset,
                            s->bitmap_directory_size, QCOW2_DISCARD_OTHER);
    }
    qcow2_free_bitmap_list(s);
    s->nb_bitmaps = nb;
    s->bitmap_directory_offset = dir_offset;
    s->bitmap_directory_size = dir_size;
    if (nb) {
        s->bitmaps = g_new0(Qcow2BitmapInfo, nb);
        for (i = 0; i < nb; i++) {
            s->bitmaps[i] = entries[i].info;
            s->bitmaps[i].name = g_strdup(entries[i].info.name);
        }
    }
    return 0;

fail:
    for (i = 0; i < nb; i++) {
        if (entries[i].fresh) {
            free_bitmap_clusters(bs, &entries[i].info);
        }
    }
    if (dir_offset > 0) {
        qcow2_free_clusters(bs, dir_offset, dir_size, QCOW2_DISCARD_OTHER);
    }
    return ret;
}

int coroutine_fn qcow2_co_store_bitmaps(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap *bitmap = NULL;
    int ret;

    if (bdrv_is_read_only(bs) || s->corrupt_stop) {
        return 0;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = store_bitmaps_locked(bs, errp);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    /*
     * Stored: what follows (close, or a reopen read-only) must not
     * change them unseen
     */
    while ((bitmap = bdrv_dirty_bitmap_next(bs, bitmap))) {
        if (bdrv_dirty_bitmap_get_persistence(bitmap)) {
            bdrv_dirty_bitmap_set_readonly(bitmap, true);
        }
    }
    return 0;
}

/*
 * A read-only image turns writable: its bitmaps may change from now on,
 * so (as in QEMU) the loaded ones with valid contents are marked in use
 * on disk and may then be written.  Inconsistent ones stay read-only.
 */
int coroutine_fn qcow2_co_reopen_bitmaps_rw(BlockDriverState *bs,
                                            Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree bool *marked = NULL;
    bool needs_update = false;
    uint32_t i;
    int ret;

    if (!s->bitmaps || !s->nb_bitmaps) {
        return 0;
    }
    marked = g_new0(bool, s->nb_bitmaps);
    for (i = 0; i < s->nb_bitmaps; i++) {
        BdrvDirtyBitmap *bitmap = find_bitmap_by_id(bs,
                                                    s->bitmaps[i].loaded_id);

        if (!bitmap || (s->bitmaps[i].flags & QCOW2_BME_FLAG_IN_USE)) {
            continue;
        }
        s->bitmaps[i].flags |= QCOW2_BME_FLAG_IN_USE;
        marked[i] = needs_update = true;
    }
    if (!needs_update) {
        return 0;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = write_dir_flags(bs);
    qemu_co_mutex_unlock(&s->lock);
    for (i = 0; i < s->nb_bitmaps; i++) {
        BdrvDirtyBitmap *bitmap;

        if (!marked[i]) {
            continue;
        }
        if (ret < 0) {
            /* Not in use on disk: they stay read-only */
            s->bitmaps[i].flags &= ~QCOW2_BME_FLAG_IN_USE;
            continue;
        }
        bitmap = find_bitmap_by_id(bs, s->bitmaps[i].loaded_id);
        bdrv_dirty_bitmap_set_readonly(bitmap, false);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Can't update bitmap directory");
    }
    return ret;
}

/* New bitmaps */

bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->qcow_version >= 3;
}

bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, Error **errp)
{
    ERRP_GUARD();
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap *bitmap = NULL;
    uint64_t count = 0, dir_size = 0;
    int bits = ctz64(granularity);
    int64_t len = bdrv_getlength(bs);
    uint64_t nb_bits, table_size;

    if (s->qcow_version < 3) {
        /*
         * Without the autoclear bit, a writer that knows nothing of
         * bitmaps could not tell us it changed the image
         */
        error_setg(errp, "Cannot store dirty bitmaps in qcow2 v2 files");
        goto fail;
    }
    if (len < 0) {
        error_setg_errno(errp, -len, "Can't get size of image");
        goto fail;
    }
    if (bits > BME_MAX_GRANULARITY_BITS) {
        error_setg(errp, "Granularity exceeds maximum (%llu bytes)",
                   1ULL << BME_MAX_GRANULARITY_BITS);
        goto fail;
    }
    if (bits < BME_MIN_GRANULARITY_BITS) {
        error_setg(errp, "Granularity is under minimum (%llu bytes)",
                   1ULL << BME_MIN_GRANULARITY_BITS);
        goto fail;
    }
    nb_bits = DIV_ROUND_UP((uint64_t)len, granularity);
    table_size = DIV_ROUND_UP(DIV_ROUND_UP(nb_bits, 8), s->cluster_size);
    if (table_size > BME_MAX_TABLE_SIZE ||
        table_size * s->cluster_size > BME_MAX_PHYS_SIZE) {
        error_setg(errp, "Too much space will be occupied by the bitmap. "
                   "Use larger granularity");
        goto fail;
    }
    if (strlen(name) > BDRV_BITMAP_MAX_NAME_SIZE) {
        error_setg(errp, "Name length exceeds maximum (%u characters)",
                   BDRV_BITMAP_MAX_NAME_SIZE);
        goto fail;
    }
    while ((bitmap = bdrv_dirty_bitmap_next(bs, bitmap))) {
        if (bdrv_dirty_bitmap_get_persistence(bitmap)) {
            count++;
            dir_size += dir_entry_size(
                strlen(bdrv_dirty_bitmap_name(bitmap)), 0);
        }
    }
    if (count >= QCOW2_MAX_BITMAPS) {
        error_setg(errp, "Maximum number of persistent bitmaps is already "
                   "reached");
        goto fail;
    }
    if (dir_size + dir_entry_size(strlen(name), 0) >
        QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Not enough space in the bitmap directory");
        goto fail;
    }
    return true;

fail:
    error_prepend(errp, "Can't make bitmap '%s' persistent in '%s': ",
                  name, bdrv_get_node_name(bs));
    return false;
}
