/*
 * qcow2 internal snapshots: the snapshot table, and creating, applying,
 * deleting and temporarily loading snapshots
 *
 * A snapshot is a copy of the active L1 table.  Every L2 table and data
 * cluster it reaches holds one more reference, so the active image and
 * the snapshots share clusters until a write copies them (a cluster with
 * a refcount above 1 has no QCOW_OFLAG_COPIED in the active tables, and
 * the write path never writes such a cluster in place).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"

/* The fixed part of a snapshot table entry */
#define SN_HDR_L1_TABLE_OFFSET  0
#define SN_HDR_L1_SIZE          8
#define SN_HDR_ID_STR_SIZE      12
#define SN_HDR_NAME_SIZE        14
#define SN_HDR_DATE_SEC         16
#define SN_HDR_DATE_NSEC        20
#define SN_HDR_VM_CLOCK_NSEC    24
#define SN_HDR_VM_STATE_SIZE    32
#define SN_HDR_EXTRA_DATA_SIZE  36

/* The extra data we know (and always write): three 64-bit fields */
#define SN_EXTRA_VM_STATE_SIZE_LARGE 0
#define SN_EXTRA_DISK_SIZE           8
#define SN_EXTRA_ICOUNT              16

/* Write out both table caches, refcounts first (s->lock is held) */
static int coroutine_fn flush_tables(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }
    return qcow2_cache_flush(bs, s->l2_table_cache);
}

/* Table */

static int coroutine_fn write_snapshot_table(BlockDriverState *bs);

void qcow2_free_snapshots(BDRVQcow2State *s)
{
    int i;

    for (i = 0; i < s->nb_snapshots; i++) {
        g_free(s->snapshots[i].id_str);
        g_free(s->snapshots[i].name);
        g_free(s->snapshots[i].unknown_extra_data);
    }
    g_free(s->snapshots);
    s->snapshots = NULL;
    s->nb_snapshots = 0;
}

/*
 * Read the @nb entries of the table at s->snapshots_offset.  With @repair
 * (check -r all), what open refuses is dropped instead, as QEMU does: the
 * unknown extra data beyond QCOW_MAX_SNAPSHOT_EXTRA_DATA of an entry
 * (counted in *extra_dropped; the table must then be rewritten), and the
 * entries from the one that makes the table too big on (counted in
 * *nb_dropped; the caller updates the header's count).
 */
static int coroutine_fn do_read_snapshots(BlockDriverState *bs, uint32_t nb,
                                          bool repair, uint32_t *nb_dropped,
                                          int *extra_dropped, Error **errp)
{
    ERRP_GUARD();
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset = s->snapshots_offset;
    uint64_t table_length = 0;
    uint32_t i;
    int ret;

    qcow2_free_snapshots(s);
    s->snapshots = g_new0(QCowSnapshot, MAX(nb, 1));
    s->nb_snapshots = 0;
    for (i = 0; i < nb; i++) {
        uint8_t h[QCOW2_SNAPSHOT_HEADER_SIZE];
        uint8_t extra[QCOW2_SNAPSHOT_EXTRA_SIZE] = { 0 };
        QCowSnapshot *sn = &s->snapshots[i];
        uint64_t entry_offset = offset;
        uint32_t known, on_disk_extra;
        uint16_t id_len, name_len;

        /* Every entry starts 8-byte aligned */
        offset = ROUND_UP(offset, 8);
        table_length = ROUND_UP(table_length, 8);
        ret = bdrv_co_pread(bs->file, offset, sizeof(h), h, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            return ret;
        }
        offset += sizeof(h);
        s->nb_snapshots = i + 1;

        sn->l1_table_offset = qcow2_ld64(h + SN_HDR_L1_TABLE_OFFSET);
        sn->l1_size = qcow2_ld32(h + SN_HDR_L1_SIZE);
        id_len = qcow2_ld16(h + SN_HDR_ID_STR_SIZE);
        name_len = qcow2_ld16(h + SN_HDR_NAME_SIZE);
        sn->date_sec = qcow2_ld32(h + SN_HDR_DATE_SEC);
        sn->date_nsec = qcow2_ld32(h + SN_HDR_DATE_NSEC);
        sn->vm_clock_nsec = qcow2_ld64(h + SN_HDR_VM_CLOCK_NSEC);
        sn->vm_state_size = qcow2_ld32(h + SN_HDR_VM_STATE_SIZE);
        sn->extra_data_size = qcow2_ld32(h + SN_HDR_EXTRA_DATA_SIZE);
        on_disk_extra = sn->extra_data_size;

        if (sn->extra_data_size > QCOW_MAX_SNAPSHOT_EXTRA_DATA) {
            if (!repair) {
                error_setg(errp, "Too much extra metadata in snapshot table "
                           "entry %" PRIu32, i);
                error_append_hint(errp, "You can force-remove this extra "
                                  "metadata with qemu-img check -r all\n");
                return -EFBIG;
            }
            error_printf("Discarding too much extra metadata in snapshot "
                         "table entry %" PRIu32 " (%" PRIu32 " > %d)\n",
                         i, sn->extra_data_size,
                         QCOW_MAX_SNAPSHOT_EXTRA_DATA);
            (*extra_dropped)++;
            sn->extra_data_size = QCOW_MAX_SNAPSHOT_EXTRA_DATA;
        }

        known = MIN(sn->extra_data_size, sizeof(extra));
        ret = bdrv_co_pread(bs->file, offset, known, extra, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            return ret;
        }
        if (known >= SN_EXTRA_VM_STATE_SIZE_LARGE + 8) {
            sn->vm_state_size = qcow2_ld64(extra +
                                           SN_EXTRA_VM_STATE_SIZE_LARGE);
        }
        /* Older writers recorded neither the disk size nor the icount */
        sn->disk_size = known >= SN_EXTRA_DISK_SIZE + 8 ?
            qcow2_ld64(extra + SN_EXTRA_DISK_SIZE) : s->size;
        sn->icount = known >= SN_EXTRA_ICOUNT + 8 ?
            qcow2_ld64(extra + SN_EXTRA_ICOUNT) : -1ULL;

        /* Extra data of later versions is kept, and written back as is */
        if (sn->extra_data_size > sizeof(extra)) {
            uint32_t unknown = sn->extra_data_size - sizeof(extra);

            sn->unknown_extra_data = g_malloc(unknown);
            ret = bdrv_co_pread(bs->file, offset + known, unknown,
                                sn->unknown_extra_data, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to read snapshot table");
                return ret;
            }
        }
        /* What was dropped is skipped: the names follow all of it */
        offset += on_disk_extra;

        sn->id_str = g_malloc0(id_len + 1);
        sn->name = g_malloc0(name_len + 1);
        ret = bdrv_co_pread(bs->file, offset, id_len, sn->id_str, 0);
        if (ret >= 0) {
            offset += id_len;
            ret = bdrv_co_pread(bs->file, offset, name_len, sn->name, 0);
            offset += name_len;
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            return ret;
        }

        table_length += sizeof(h) + sn->extra_data_size + id_len + name_len;
        if (table_length > QCOW_MAX_SNAPSHOTS_SIZE ||
            offset - s->snapshots_offset > INT_MAX) {
            if (!repair) {
                error_setg(errp, "Snapshot table is too big");
                error_append_hint(errp, "You can force-remove all %" PRIu32
                                  " overhanging snapshots with qemu-img check "
                                  "-r all\n", nb - i);
                return -EFBIG;
            }
            error_printf("Discarding %" PRIu32 " overhanging snapshots "
                         "(snapshot table is too big)\n", nb - i);
            *nb_dropped += nb - i;
            /* This entry goes too; the rest of the table leaks */
            g_free(sn->id_str);
            g_free(sn->name);
            g_free(sn->unknown_extra_data);
            memset(sn, 0, sizeof(*sn));
            s->nb_snapshots = i;
            offset = entry_offset;
            break;
        }
    }
    s->snapshots_size = offset - s->snapshots_offset;
    return 0;
}

int coroutine_fn qcow2_read_snapshots(BlockDriverState *bs, uint32_t nb,
                                      Error **errp)
{
    return do_read_snapshots(bs, nb, false, NULL, NULL, errp);
}

/* Where the header says the table is: QCOW2_HDR_NB_SNAPSHOTS, then offset */
static bool snapshot_table_valid(BDRVQcow2State *s, uint32_t nb,
                                 uint64_t offset, Error **errp)
{
    if (nb > QCOW_MAX_SNAPSHOTS) {
        error_setg(errp, "snapshot table too large");
        return false;
    }
    if (INT64_MAX - (uint64_t)nb * QCOW2_SNAPSHOT_HEADER_SIZE < offset ||
        offset_into_cluster(s, offset)) {
        error_setg(errp, "snapshot table offset invalid");
        return false;
    }
    return true;
}

int coroutine_fn qcow2_check_read_snapshot_table(BlockDriverState *bs,
                                                 BdrvCheckResult *res,
                                                 BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    g_autoptr(Error) local_err = NULL;
    bool repair = fix & BDRV_FIX_ERRORS;
    uint32_t nb, nb_dropped = 0;
    int extra_dropped = 0;
    uint8_t ptr[12];
    int ret, i;

    /* Open left the table alone in check mode: the header says where */
    qcow2_free_snapshots(s);
    s->snapshots_offset = 0;
    s->snapshots_size = 0;
    ret = bdrv_co_pread(bs->file, QCOW2_HDR_NB_SNAPSHOTS, sizeof(ptr), ptr, 0);
    if (ret < 0) {
        res->check_errors++;
        error_printf("ERROR failed to read the snapshot table pointer from "
                     "the image header: %s\n", strerror(-ret));
        return ret;
    }
    nb = qcow2_ld32(ptr);
    if (nb > QCOW_MAX_SNAPSHOTS && repair) {
        error_printf("Discarding %" PRIu32 " overhanging snapshots\n",
                     nb - QCOW_MAX_SNAPSHOTS);
        nb_dropped = nb - QCOW_MAX_SNAPSHOTS;
        nb = QCOW_MAX_SNAPSHOTS;
    }
    if (!snapshot_table_valid(s, nb, qcow2_ld64(ptr + 4), &local_err)) {
        res->check_errors++;
        error_prepend(&local_err, "ERROR ");
        error_report_err(g_steal_pointer(&local_err));
        if (nb > QCOW_MAX_SNAPSHOTS) {
            error_printf("You can force-remove all %" PRIu32 " overhanging "
                         "snapshots with qemu-img check -r all\n",
                         nb - QCOW_MAX_SNAPSHOTS);
        }
        return nb > QCOW_MAX_SNAPSHOTS ? -EFBIG : -EINVAL;
    }

    s->snapshots_offset = qcow2_ld64(ptr + 4);
    ret = do_read_snapshots(bs, nb, repair, &nb_dropped, &extra_dropped,
                            &local_err);
    if (ret < 0) {
        res->check_errors++;
        error_prepend(&local_err, "ERROR failed to read the snapshot table: ");
        error_report_err(g_steal_pointer(&local_err));
        /* Nothing read: nothing for the refcount check to count */
        qcow2_free_snapshots(s);
        s->snapshots_offset = 0;
        s->snapshots_size = 0;
        return ret;
    }
    res->corruptions += nb_dropped + extra_dropped;

    if (nb_dropped) {
        /*
         * The header's count first: the refcount check counts what the
         * header points to (the dropped entries' clusters now leak)
         */
        uint8_t count[4];

        qcow2_st32(count, s->nb_snapshots);
        ret = bdrv_co_pwrite_sync(bs->file, QCOW2_HDR_NB_SNAPSHOTS,
                                  sizeof(count), count, 0);
        if (ret < 0) {
            res->check_errors++;
            error_printf("ERROR failed to update the snapshot count in the "
                         "image header: %s\n", strerror(-ret));
            return ret;
        }
        res->corruptions_fixed += nb_dropped;
        res->corruptions -= nb_dropped;
    }

    /* A version 3 entry has at least the large VM state and disk sizes */
    if (s->qcow_version >= 3) {
        for (i = 0; i < s->nb_snapshots; i++) {
            if (s->snapshots[i].extra_data_size < 16) {
                res->corruptions++;
                error_printf("%s snapshot table entry %d is incomplete\n",
                             repair ? "Repairing" : "ERROR", i);
            }
        }
    }
    return 0;
}

int coroutine_fn qcow2_check_fix_snapshot_table(BlockDriverState *bs,
                                                BdrvCheckResult *res,
                                                BdrvCheckMode fix)
{
    int ret;

    if (!res->corruptions || !(fix & BDRV_FIX_ERRORS)) {
        return 0;
    }
    ret = write_snapshot_table(bs);
    if (ret < 0) {
        res->check_errors++;
        error_printf("ERROR failed to update snapshot table: %s\n",
                     strerror(-ret));
        return ret;
    }
    res->corruptions_fixed += res->corruptions;
    res->corruptions = 0;
    return 0;
}

/* Bytes the table takes when written as we write it */
static int64_t snapshot_table_size(BDRVQcow2State *s)
{
    int64_t size = 0;
    int i;

    for (i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];

        size = ROUND_UP(size, 8);
        size += QCOW2_SNAPSHOT_HEADER_SIZE +
            MAX(sn->extra_data_size, QCOW2_SNAPSHOT_EXTRA_SIZE) +
            strlen(sn->id_str) + strlen(sn->name);
        if (size > QCOW_MAX_SNAPSHOTS_SIZE) {
            return -EFBIG;
        }
    }
    return size;
}

/*
 * Write s->snapshots to newly allocated clusters, point the header at
 * them and free the old table.  Until the header is written, the image
 * on disk is the old one (the new table's clusters at worst leak).
 */
static int coroutine_fn write_snapshot_table(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t size = snapshot_table_size(s);
    int64_t table_offset = 0;
    g_autofree uint8_t *buf = NULL;
    uint64_t pos = 0;
    uint8_t hdr[12];
    int i, ret;

    if (size < 0) {
        return size;
    }
    if (size > 0) {
        buf = g_malloc0(size);
        for (i = 0; i < s->nb_snapshots; i++) {
            QCowSnapshot *sn = &s->snapshots[i];
            size_t id_len = strlen(sn->id_str);
            size_t name_len = strlen(sn->name);
            uint32_t extra_size = MAX(sn->extra_data_size,
                                      QCOW2_SNAPSHOT_EXTRA_SIZE);
            uint8_t *p;

            pos = ROUND_UP(pos, 8);
            p = buf + pos;
            qcow2_st64(p + SN_HDR_L1_TABLE_OFFSET, sn->l1_table_offset);
            qcow2_st32(p + SN_HDR_L1_SIZE, sn->l1_size);
            qcow2_st16(p + SN_HDR_ID_STR_SIZE, id_len);
            qcow2_st16(p + SN_HDR_NAME_SIZE, name_len);
            qcow2_st32(p + SN_HDR_DATE_SEC, sn->date_sec);
            qcow2_st32(p + SN_HDR_DATE_NSEC, sn->date_nsec);
            qcow2_st64(p + SN_HDR_VM_CLOCK_NSEC, sn->vm_clock_nsec);
            /* The 32-bit field holds the low bits; the extra data all */
            qcow2_st32(p + SN_HDR_VM_STATE_SIZE, (uint32_t)sn->vm_state_size);
            qcow2_st32(p + SN_HDR_EXTRA_DATA_SIZE, extra_size);
            p += QCOW2_SNAPSHOT_HEADER_SIZE;
            qcow2_st64(p + SN_EXTRA_VM_STATE_SIZE_LARGE, sn->vm_state_size);
            qcow2_st64(p + SN_EXTRA_DISK_SIZE, sn->disk_size);
            qcow2_st64(p + SN_EXTRA_ICOUNT, sn->icount);
            p += QCOW2_SNAPSHOT_EXTRA_SIZE;
            if (sn->unknown_extra_data) {
                memcpy(p, sn->unknown_extra_data,
                       extra_size - QCOW2_SNAPSHOT_EXTRA_SIZE);
            }
            p += extra_size - QCOW2_SNAPSHOT_EXTRA_SIZE;
            memcpy(p, sn->id_str, id_len);
            memcpy(p + id_len, sn->name, name_len);
            pos = p + id_len + name_len - buf;
        }

        table_offset = qcow2_alloc_clusters(bs, size);
        if (table_offset < 0) {
            return table_offset;
        }
        /* The refcounts of the new table go to disk before the table */
        ret = flush_tables(bs);
        if (ret < 0) {
            goto fail;
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, table_offset, size);
        if (ret < 0) {
            goto fail;
        }
        ret = bdrv_co_pwrite_sync(bs->file, table_offset, size, buf, 0);
        if (ret < 0) {
            goto fail;
        }
    }

    /* nb_snapshots and snapshots_offset are adjacent: one write */
    qcow2_st32(hdr, s->nb_snapshots);
    qcow2_st64(hdr + 4, table_offset);
    ret = qcow2_write_header_field(bs, QCOW2_HDR_NB_SNAPSHOTS, hdr,
                                   sizeof(hdr));
    if (ret < 0) {
        goto fail;
    }

    if (s->snapshots_size) {
        qcow2_free_clusters(bs, s->snapshots_offset, s->snapshots_size,
                            QCOW2_DISCARD_SNAPSHOT);
    }
    s->snapshots_offset = table_offset;
    s->snapshots_size = size;
    return 0;

fail:
    if (size > 0) {
        qcow2_free_clusters(bs, table_offset, size, QCOW2_DISCARD_NEVER);
    }
    return ret;
}

/* Lookup */

static int find_snapshot_by_id_and_name(BDRVQcow2State *s, const char *id,
                                        const char *name)
{
    int i;

    for (i = 0; i < s->nb_snapshots; i++) {
        if ((!id || !strcmp(s->snapshots[i].id_str, id)) &&
            (!name || !strcmp(s->snapshots[i].name, name))) {
            return i;
        }
    }
    return -1;
}

/* An ID matches before a name does */
static int find_snapshot_by_id_or_name(BDRVQcow2State *s, const char *str)
{
    int i = find_snapshot_by_id_and_name(s, str, NULL);

    return i >= 0 ? i : find_snapshot_by_id_and_name(s, NULL, str);
}

/* One more than the largest numeric ID */
static void new_snapshot_id(BDRVQcow2State *s, char *buf, size_t size)
{
    unsigned long max = 0;
    int i;

    for (i = 0; i < s->nb_snapshots; i++) {
        unsigned long id = strtoul(s->snapshots[i].id_str, NULL, 10);

        max = MAX(max, id);
    }
    snprintf(buf, size, "%lu", max + 1);
}

/* The checks QEMU makes before using a snapshot's L1 table */
static int check_snapshot_l1(BDRVQcow2State *s, QCowSnapshot *sn,
                             Error **errp)
{
    if (sn->l1_size > QCOW_MAX_L1_SIZE / sizeof(uint64_t)) {
        error_setg(errp, "Snapshot L1 table too large");
        return -EFBIG;
    }
    if ((uint64_t)INT64_MAX - (uint64_t)sn->l1_size * sizeof(uint64_t) <
        sn->l1_table_offset ||
        offset_into_cluster(s, sn->l1_table_offset)) {
        error_setg(errp, "Snapshot L1 table offset invalid");
        return -EINVAL;
    }
    return 0;
}

/* Refcounts */

/*
 * Set QCOW_OFLAG_COPIED in @entry exactly when @refcount is 1; true if
 * the entry changed.
 */
static bool set_copied_flag(uint64_t *entry, uint64_t refcount)
{
    uint64_t old = *entry;

    if (refcount == 1) {
        *entry |= QCOW_OFLAG_COPIED;
    } else {
        *entry &= ~QCOW_OFLAG_COPIED;
    }
    return *entry != old;
}

/* The L2 table at @l2_offset: refcounts of its clusters and their flags */
static int coroutine_fn update_l2_refcounts(BlockDriverState *bs,
                                            uint64_t l2_offset, int addend)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2;
    int i, ret;

    ret = qcow2_cache_get(bs, s->l2_table_cache, l2_offset, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    for (i = 0; i < s->l2_size; i++) {
        uint64_t entry = GUINT64_FROM_BE(l2[i]);
        uint64_t start, len, refcount;

        switch (qcow2_get_cluster_type(s, entry)) {
        case QCOW2_CLUSTER_COMPRESSED:
            /* Compressed clusters never carry the flag */
            if (addend) {
                qcow2_parse_compressed_descriptor(s, entry, &start, &len);
                ret = qcow2_update_refcount_range(bs, start, len, 1,
                                                  addend < 0,
                                                  QCOW2_DISCARD_SNAPSHOT);
                if (ret < 0) {
                    goto out;
                }
            }
            continue;
        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            start = entry & L2E_OFFSET_MASK;
            if (offset_into_cluster(s, start)) {
                qcow2_signal_corruption(bs, true, -1, -1, "Cluster "
                                        "allocation offset %#" PRIx64
                                        " unaligned (L2 offset: %#" PRIx64
                                        ", L2 index: %#x)", start,
                                        l2_offset, i);
                ret = -EIO;
                goto out;
            }
            if (addend) {
                ret = qcow2_update_refcount_range(bs, start, 1, 1,
                                                  addend < 0,
                                                  QCOW2_DISCARD_SNAPSHOT);
                if (ret < 0) {
                    goto out;
                }
            }
            ret = qcow2_get_refcount(bs, start >> s->cluster_bits,
                                     &refcount);
            if (ret < 0) {
                goto out;
            }
            break;
        default:
            continue;
        }
        if (set_copied_flag(&entry, refcount)) {
            l2[i] = GUINT64_TO_BE(entry);
            qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        }
    }
    ret = 0;
out:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    return ret;
}

/*
 * Add @addend (1, -1, or 0 to only fix the flags) to the refcount of every
 * cluster the L1 table at @l1_offset reaches: its L2 tables and their
 * data clusters.  Afterwards QCOW_OFLAG_COPIED is set in the entries that
 * point at a cluster with refcount 1, and cleared in the others.  The
 * active table is the one in memory; another one is read from disk.
 * With @write_back, a table whose flags changed is written back (and the
 * active one updated in memory); without, it is left alone: that is for
 * the old active table once the new one is on disk at the same offset.
 */
static int coroutine_fn update_snapshot_refcount(BlockDriverState *bs,
                                                 uint64_t l1_offset,
                                                 uint32_t l1_size,
                                                 int addend,
                                                 bool write_back)
{
    BDRVQcow2State *s = bs->opaque;
    bool active = l1_offset == s->l1_table_offset;
    g_autofree uint64_t *l1 = NULL;
    bool l1_modified = false;
    uint32_t i;
    int ret;

    if (!l1_size) {
        return 0;
    }
    l1 = g_try_new(uint64_t, l1_size);
    if (!l1) {
        return -ENOMEM;
    }
    if (active) {
        memcpy(l1, s->l1_table, l1_size * sizeof(uint64_t));
    } else {
        ret = bdrv_co_pread(bs->file, l1_offset, l1_size * sizeof(uint64_t),
                            l1, 0);
        if (ret < 0) {
            return ret;
        }
        for (i = 0; i < l1_size; i++) {
            l1[i] = GUINT64_FROM_BE(l1[i]);
        }
    }

    for (i = 0; i < l1_size; i++) {
        uint64_t l2_offset = l1[i] & L1E_OFFSET_MASK;
        uint64_t refcount;

        if (!l2_offset) {
            continue;
        }
        if (offset_into_cluster(s, l2_offset)) {
            qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#"
                                    PRIx64 " unaligned (L1 index: %#"
                                    PRIx32 ")", l2_offset, i);
            return -EIO;
        }
        ret = update_l2_refcounts(bs, l2_offset, addend);
        if (ret < 0) {
            return ret;
        }
        if (addend) {
            ret = qcow2_update_refcount_range(bs, l2_offset, 1, 1,
                                              addend < 0,
                                              QCOW2_DISCARD_SNAPSHOT);
            if (ret < 0) {
                return ret;
            }
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits,
                                 &refcount);
        if (ret < 0) {
            return ret;
        }
        l1_modified |= set_copied_flag(&l1[i], refcount);
    }

    /* Table updates reach the disk before the L1 entries that use them */
    ret = flush_tables(bs);
    if (ret < 0) {
        return ret;
    }
    if (l1_modified && write_back) {
        g_autofree uint64_t *be = g_new(uint64_t, l1_size);

        for (i = 0; i < l1_size; i++) {
            be[i] = GUINT64_TO_BE(l1[i]);
        }
        if (active) {
            ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                                l1_offset,
                                                l1_size * sizeof(uint64_t));
            if (ret < 0) {
                return ret;
            }
        }
        ret = bdrv_co_pwrite_sync(bs->file, l1_offset,
                                  l1_size * sizeof(uint64_t), be, 0);
        if (ret < 0) {
            return ret;
        }
        if (active) {
            memcpy(s->l1_table, l1, l1_size * sizeof(uint64_t));
        }
    }
    return 0;
}

/* Create, apply, delete */

int coroutine_fn qcow2_co_snapshot_create(BlockDriverState *bs,
                                          QEMUSnapshotInfo *sn_info)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot sn = { 0 };
    QCowSnapshot *new_list;
    g_autofree uint64_t *l1 = NULL;
    int64_t l1_offset = 0;
    uint64_t l1_bytes;
    int i, ret;

    /* Data clusters in a data file have no refcounts to share */
    if (has_data_file(bs)) {
        return -ENOTSUP;
    }
    if (s->nb_snapshots >= QCOW_MAX_SNAPSHOTS) {
        return -EFBIG;
    }
    qemu_co_mutex_lock(&s->lock);

    if (!sn_info->id_str[0]) {
        new_snapshot_id(s, sn_info->id_str, sizeof(sn_info->id_str));
    }
    if (find_snapshot_by_id_and_name(s, sn_info->id_str, NULL) >= 0) {
        ret = -EEXIST;
        goto out;
    }

    sn.id_str = g_strdup(sn_info->id_str);
    sn.name = g_strdup(sn_info->name);
    sn.disk_size = s->size;
    sn.vm_state_size = sn_info->vm_state_size;
    sn.date_sec = sn_info->date_sec;
    sn.date_nsec = sn_info->date_nsec;
    sn.vm_clock_nsec = sn_info->vm_clock_nsec;
    sn.icount = sn_info->icount;
    sn.extra_data_size = QCOW2_SNAPSHOT_EXTRA_SIZE;

    /* The snapshot's copy of the active L1 table */
    sn.l1_size = s->l1_size;
    l1_bytes = (uint64_t)s->l1_size * sizeof(uint64_t);
    if (l1_bytes) {
        l1_offset = qcow2_alloc_clusters(bs, l1_bytes);
        if (l1_offset < 0) {
            ret = l1_offset;
            goto out;
        }
        l1 = g_new(uint64_t, s->l1_size);
        for (i = 0; i < s->l1_size; i++) {
            /* Once the refcounts are raised, nothing is exclusive */
            l1[i] = GUINT64_TO_BE(s->l1_table[i] & ~QCOW_OFLAG_COPIED);
        }
        ret = flush_tables(bs);
        if (ret >= 0) {
            ret = qcow2_pre_write_overlap_check(bs, 0, l1_offset, l1_bytes);
        }
        if (ret >= 0) {
            ret = bdrv_co_pwrite_sync(bs->file, l1_offset, l1_bytes, l1, 0);
        }
        if (ret < 0) {
            qcow2_free_clusters(bs, l1_offset, l1_bytes,
                                QCOW2_DISCARD_NEVER);
            goto out;
        }
    }
    sn.l1_table_offset = l1_offset;

    /*
     * Raise the refcounts (and clear the COPIED flags of the active
     * tables) and have that on disk before the snapshot table names the
     * new L1 table: a crash in between only leaks clusters.
     */
    ret = update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                   1, true);
    if (ret < 0) {
        goto out;
    }

    new_list = g_new(QCowSnapshot, s->nb_snapshots + 1);
    if (s->nb_snapshots) {
        memcpy(new_list, s->snapshots,
               s->nb_snapshots * sizeof(QCowSnapshot));
    }
    new_list[s->nb_snapshots] = sn;
    g_free(s->snapshots);
    s->snapshots = new_list;
    s->nb_snapshots++;
    ret = write_snapshot_table(bs);
    if (ret < 0) {
        /* The entry is not on disk: forget it (its clusters leak) */
        s->nb_snapshots--;
        goto out;
    }
    sn.id_str = sn.name = NULL;     /* owned by the table now */

    /*
     * The VM state is in the snapshot now; the active image need not keep
     * it, and would otherwise copy it on the next write there.
     */
    if (sn.vm_state_size) {
        ret = qcow2_cluster_discard(bs, (uint64_t)s->l1_vm_state_index <<
                                    (s->cluster_bits + s->l2_bits),
                                    ROUND_UP(sn.vm_state_size,
                                             s->cluster_size),
                                    QCOW2_DISCARD_NEVER, false);
        if (ret < 0) {
            goto out;
        }
    }
    ret = flush_tables(bs);

out:
    g_free(sn.id_str);
    g_free(sn.name);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* Called with s->lock held */
static int coroutine_fn snapshot_goto_locked(BlockDriverState *bs,
                                             QCowSnapshot *sn)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *l1 = NULL;
    uint64_t cur_bytes, sn_bytes;
    int i, ret;

    /* The active table must hold all of the snapshot's, padded with 0 */
    ret = qcow2_grow_l1_table(bs, sn->l1_size, true);
    if (ret < 0) {
        error_report("Failed to grow L1 table: %s", strerror(-ret));
        return ret;
    }
    cur_bytes = (uint64_t)s->l1_size * sizeof(uint64_t);
    sn_bytes = (uint64_t)sn->l1_size * sizeof(uint64_t);
    l1 = g_try_malloc0(MAX(cur_bytes, 1));
    if (!l1) {
        return -ENOMEM;
    }
    if (sn_bytes) {
        ret = bdrv_co_pread(bs->file, sn->l1_table_offset, sn_bytes, l1, 0);
        if (ret < 0) {
            return ret;
        }
    }

    /*
     * Take the new references before the on-disk active table changes,
     * drop the old ones only after it did: whatever happens in between,
     * no cluster in use has a refcount too low.
     */
    ret = update_snapshot_refcount(bs, sn->l1_table_offset, sn->l1_size,
                                   1, true);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset, cur_bytes);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_co_pwrite_sync(bs->file, s->l1_table_offset, cur_bytes, l1,
                              0);
    if (ret < 0) {
        return ret;
    }
    /* The old active table is still in memory: drop its references */
    ret = update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                   -1, false);
    for (i = 0; i < s->l1_size; i++) {
        s->l1_table[i] = GUINT64_FROM_BE(l1[i]);
    }
    if (ret < 0) {
        return ret;
    }
    /* Fix the COPIED flags of the new active tables */
    return update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                   0, true);
}

int coroutine_fn qcow2_co_snapshot_goto(BlockDriverState *bs,
                                        const char *snapshot_id)
{
    BDRVQcow2State *s = bs->opaque;
    Error *local_err = NULL;
    QCowSnapshot *sn;
    uint64_t disk_size;
    int index, ret;

    index = find_snapshot_by_id_or_name(s, snapshot_id);
    if (index < 0) {
        return -ENOENT;
    }
    sn = &s->snapshots[index];
    ret = check_snapshot_l1(s, sn, &local_err);
    if (ret < 0) {
        error_report_err(local_err);
        return ret;
    }

    /* The disk takes the size it had when the snapshot was taken */
    disk_size = sn->disk_size;
    if (disk_size != s->size) {
        /* No parent edge to truncate through: resize the node itself */
        ret = bs->drv->bdrv_co_truncate(bs, disk_size, true,
                                        PREALLOC_MODE_OFF, 0, &local_err);
        if (ret == 0) {
            ret = bdrv_refresh_total_sectors(bs, disk_size);
        }
        if (ret < 0) {
            error_report_err(local_err);
            return ret;
        }
        /* Resizing may have reallocated the table */
        sn = &s->snapshots[index];
    }

    qemu_co_mutex_lock(&s->lock);
    ret = snapshot_goto_locked(bs, sn);
    if (ret >= 0) {
        ret = flush_tables(bs);
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

int coroutine_fn qcow2_co_snapshot_delete(BlockDriverState *bs,
                                          const char *snapshot_id,
                                          const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot sn;
    int index, ret;

    qemu_co_mutex_lock(&s->lock);
    index = find_snapshot_by_id_and_name(s, snapshot_id, name);
    if (index < 0) {
        error_setg(errp, "Can't find the snapshot");
        ret = -ENOENT;
        goto out;
    }
    sn = s->snapshots[index];
    ret = check_snapshot_l1(s, &sn, errp);
    if (ret < 0) {
        goto out;
    }

    /* Out of the table first: from then on, a failure only leaks */
    memmove(s->snapshots + index, s->snapshots + index + 1,
            (s->nb_snapshots - index - 1) * sizeof(sn));
    s->nb_snapshots--;
    ret = write_snapshot_table(bs);
    if (ret < 0) {
        /* Put it back where it was */
        memmove(s->snapshots + index + 1, s->snapshots + index,
                (s->nb_snapshots - index) * sizeof(sn));
        s->snapshots[index] = sn;
        s->nb_snapshots++;
        error_setg_errno(errp, -ret, "Failed to remove snapshot from "
                         "snapshot list");
        goto out;
    }
    g_free(sn.id_str);
    g_free(sn.name);
    g_free(sn.unknown_extra_data);

    ret = update_snapshot_refcount(bs, sn.l1_table_offset, sn.l1_size,
                                   -1, false);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to free the cluster and L1 "
                         "table");
        goto out;
    }
    if (sn.l1_size) {
        qcow2_free_clusters(bs, sn.l1_table_offset,
                            (uint64_t)sn.l1_size * sizeof(uint64_t),
                            QCOW2_DISCARD_SNAPSHOT);
    }
    /* Clusters only the snapshot shared with us are ours alone again */
    ret = update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                   0, true);
    if (ret >= 0) {
        ret = flush_tables(bs);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update snapshot status in "
                         "disk");
    }
out:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/*
 * Read-only opens: make the snapshot's L1 table the one reads go
 * through.  The disk size stays what it was at open, as in QEMU.
 */
int qcow2_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                            const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot *sn;
    uint64_t *l1;
    uint64_t bytes;
    uint32_t i;
    int index, ret;

    assert(bs->read_only);
    index = find_snapshot_by_id_and_name(s, snapshot_id, name);
    if (index < 0) {
        error_setg(errp, "Can't find snapshot");
        return -ENOENT;
    }
    sn = &s->snapshots[index];
    ret = check_snapshot_l1(s, sn, errp);
    if (ret < 0) {
        return ret;
    }
    bytes = (uint64_t)sn->l1_size * sizeof(uint64_t);
    l1 = g_try_malloc0(MAX(bytes, 1));
    if (!l1) {
        error_setg(errp, "Failed to allocate the snapshot's L1 table");
        return -ENOMEM;
    }
    if (bytes) {
        ret = bdrv_pread(bs->file, sn->l1_table_offset, bytes, l1, 0);
        if (ret < 0) {
            error_setg(errp, "Failed to read l1 table for snapshot");
            g_free(l1);
            return ret;
        }
    }
    for (i = 0; i < sn->l1_size; i++) {
        l1[i] = GUINT64_FROM_BE(l1[i]);
    }
    /* Cached L2 tables are shared or clean: they stay valid */
    g_free(s->l1_table);
    s->l1_table = l1;
    s->l1_size = sn->l1_size;
    s->l1_table_offset = sn->l1_table_offset;
    return 0;
}

/* VM state */

/* The area starts at the first L1 entry past the disk */
static uint64_t vm_state_offset(BDRVQcow2State *s)
{
    return (uint64_t)s->l1_vm_state_index << (s->cluster_bits + s->l2_bits);
}

int coroutine_fn qcow2_co_load_vmstate(BlockDriverState *bs,
                                       QEMUIOVector *qiov, int64_t pos)
{
    BDRVQcow2State *s = bs->opaque;

    if ((uint64_t)pos > (uint64_t)INT64_MAX - vm_state_offset(s) -
        qiov->size) {
        return -EFBIG;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_VMSTATE_LOAD);
    return bs->drv->bdrv_co_preadv(bs, vm_state_offset(s) + pos,
                                   qiov->size, qiov, 0);
}

int coroutine_fn qcow2_co_save_vmstate(BlockDriverState *bs,
                                       QEMUIOVector *qiov, int64_t pos)
{
    BDRVQcow2State *s = bs->opaque;

    if ((uint64_t)pos > (uint64_t)INT64_MAX - vm_state_offset(s) -
        qiov->size) {
        return -EFBIG;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_VMSTATE_SAVE);
    return bs->drv->bdrv_co_pwritev(bs, vm_state_offset(s) + pos,
                                    qiov->size, qiov, 0);
}

int qcow2_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_info)
{
    BDRVQcow2State *s = bs->opaque;
    QEMUSnapshotInfo *tab;
    int i;

    *psn_info = NULL;
    if (!s->nb_snapshots) {
        return 0;
    }
    tab = g_new0(QEMUSnapshotInfo, s->nb_snapshots);
    for (i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];

        pstrcpy(tab[i].id_str, sizeof(tab[i].id_str), sn->id_str);
        pstrcpy(tab[i].name, sizeof(tab[i].name), sn->name);
        tab[i].vm_state_size = sn->vm_state_size;
        tab[i].date_sec = sn->date_sec;
        tab[i].date_nsec = sn->date_nsec;
        tab[i].vm_clock_nsec = sn->vm_clock_nsec;
        tab[i].icount = sn->icount;
    }
    *psn_info = tab;
    return s->nb_snapshots;
}
