/*
 * Unit tests for qcow2 refcount helpers and refcount structure growth,
 * format-specific information and the snapshot list
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "sysemu/block-backend.h"
#include "block/qcow2.h"
#include "qobject/qjson.h"

/* Every width stores and reads back its full range without touching
 * neighbouring entries */
static void test_refcount_accessors(void)
{
    int order;

    for (order = 0; order <= QCOW2_MAX_REFCOUNT_ORDER; order++) {
        Qcow2GetRefcountFunc *get = qcow2_get_refcount_funcs[order];
        Qcow2SetRefcountFunc *set = qcow2_set_refcount_funcs[order];
        int bits = 1 << order;
        uint64_t max = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
        uint8_t buf[64];
        uint64_t n = sizeof(buf) * 8 / bits;
        uint64_t i;

        memset(buf, 0, sizeof(buf));
        for (i = 0; i < n; i++) {
            g_assert_cmpuint(get(buf, i), ==, 0);
        }
        set(buf, 1, max);
        g_assert_cmpuint(get(buf, 0), ==, 0);
        g_assert_cmpuint(get(buf, 1), ==, max);
        g_assert_cmpuint(get(buf, 2), ==, 0);

        for (i = 0; i < n; i++) {
            set(buf, i, (i * 7 + 3) & max);
        }
        for (i = 0; i < n; i++) {
            g_assert_cmpuint(get(buf, i), ==, (i * 7 + 3) & max);
        }
        set(buf, n - 1, 0);
        g_assert_cmpuint(get(buf, n - 2), ==, ((n - 2) * 7 + 3) & max);
        g_assert_cmpuint(get(buf, n - 1), ==, 0);
    }
}

/* 16-bit refcounts are big-endian on disk */
static void test_refcount_byte_order(void)
{
    uint8_t buf[4] = { 0 };

    qcow2_set_refcount_funcs[4](buf, 1, 0x1234);
    g_assert_cmpuint(buf[2], ==, 0x12);
    g_assert_cmpuint(buf[3], ==, 0x34);
    qcow2_set_refcount_funcs[0](buf, 3, 1);
    g_assert_cmpuint(buf[0], ==, 0x08);
}

/* Compressed descriptors: layout per cluster size, and the sector range */
static void test_compressed_descriptor(void)
{
    BDRVQcow2State s = { 0 };
    uint64_t start, len, entry;

    qcow2_compressed_layout(16, &s.csize_shift, &s.csize_mask,
                            &s.cluster_offset_mask);
    g_assert_cmpint(s.csize_shift, ==, 54);
    g_assert_cmpint(s.csize_mask, ==, 0xff);
    g_assert_cmpuint(s.cluster_offset_mask, ==, (1ULL << 54) - 1);

    /* 0x11f0 + 0x20 bytes spans sectors 8 and 9: one additional sector */
    entry = QCOW_OFLAG_COMPRESSED | 0x11f0 | (1ULL << s.csize_shift);
    qcow2_parse_compressed_descriptor(&s, entry, &start, &len);
    g_assert_cmpuint(start, ==, 0x1000);
    g_assert_cmpuint(len, ==, 0x400);

    qcow2_compressed_layout(9, &s.csize_shift, &s.csize_mask,
                            &s.cluster_offset_mask);
    g_assert_cmpint(s.csize_shift, ==, 61);
    g_assert_cmpint(s.csize_mask, ==, 1);
}

static void test_cluster_types(void)
{
    BDRVQcow2State s = { .qcow_version = 3 };

    g_assert_cmpint(qcow2_get_cluster_type(&s, 0), ==,
                    QCOW2_CLUSTER_UNALLOCATED);
    g_assert_cmpint(qcow2_get_cluster_type(&s, QCOW_OFLAG_ZERO), ==,
                    QCOW2_CLUSTER_ZERO_PLAIN);
    g_assert_cmpint(qcow2_get_cluster_type(&s, 0x10000 | QCOW_OFLAG_ZERO),
                    ==, QCOW2_CLUSTER_ZERO_ALLOC);
    g_assert_cmpint(qcow2_get_cluster_type(&s, 0x10000 | QCOW_OFLAG_COPIED),
                    ==, QCOW2_CLUSTER_NORMAL);
    g_assert_cmpint(qcow2_get_cluster_type(&s, QCOW_OFLAG_COMPRESSED | 1),
                    ==, QCOW2_CLUSTER_COMPRESSED);
    /* v2 has no zero flag */
    s.qcow_version = 2;
    g_assert_cmpint(qcow2_get_cluster_type(&s, QCOW_OFLAG_ZERO), ==,
                    QCOW2_CLUSTER_UNALLOCATED);
}

/*
 * Small clusters and wide refcounts make one refcount block cover only
 * 64 clusters, so writing a few MiB creates many blocks and grows the
 * refcount table several times; the image must stay consistent.
 */
static void test_refcount_growth(void)
{
    g_autofree char *dir = g_dir_make_tmp("qcow2-refcount-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "t.qcow2", NULL);
    BlockDriver *drv = bdrv_find_format("qcow2");
    QemuOptsList *list;
    QemuOpts *opts;
    BlockBackend *blk;
    BdrvCheckResult res = { 0 };
    g_autofree uint8_t *buf = g_malloc(1 * MiB);
    g_autofree uint8_t *rbuf = g_malloc(1 * MiB);
    int64_t off;
    int ret;

    g_assert_nonnull(dir);
    g_assert_nonnull(drv);
    list = qemu_opts_append(NULL, drv->create_opts);
    opts = qemu_opts_create(list, NULL, 0, &error_abort);
    qemu_opt_set(opts, "size", "8M", &error_abort);
    qemu_opt_set(opts, "cluster_size", "512", &error_abort);
    qemu_opt_set(opts, "refcount_bits", "64", &error_abort);
    ret = bdrv_create(drv, path, opts, &error_abort);
    g_assert_cmpint(ret, ==, 0);
    qemu_opts_del(opts);
    qemu_opts_free(list);

    blk = blk_new_open(path, NULL, NULL, BDRV_O_RDWR, &error_abort);
    for (off = 0; off < 4 * MiB; off += 1 * MiB) {
        memset(buf, 0x40 + off / MiB, 1 * MiB);
        ret = blk_pwrite(blk, off, 1 * MiB, buf, 0);
        g_assert_cmpint(ret, ==, 0);
    }
    for (off = 0; off < 4 * MiB; off += 1 * MiB) {
        memset(buf, 0x40 + off / MiB, 1 * MiB);
        ret = blk_pread(blk, off, 1 * MiB, rbuf, 0);
        g_assert_cmpint(ret, ==, 0);
        g_assert(memcmp(buf, rbuf, 1 * MiB) == 0);
    }
    ret = bdrv_check(blk_bs(blk), &res, 0);
    g_assert_cmpint(ret, ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    g_assert_cmpint(res.check_errors, ==, 0);
    g_assert_cmpuint(res.bfi.allocated_clusters, ==, 4 * MiB / 512);
    blk_unref(blk);

    unlink(path);
    rmdir(dir);
}

static int aio_pending;

static void aio_done(void *opaque, int ret)
{
    g_assert_cmpint(ret, ==, 0);
    aio_pending--;
}

/*
 * Concurrent writes to disjoint bytes of the same unallocated clusters
 * must serialise their cluster allocations: afterwards every byte holds
 * what was written and no cluster is leaked or shared.
 */
static void test_concurrent_allocation(void)
{
    g_autofree char *dir = g_dir_make_tmp("qcow2-alloc-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "t.qcow2", NULL);
    BlockDriver *drv = bdrv_find_format("qcow2");
    const int64_t span = 4 * 65536, nreq = 16;
    g_autofree uint8_t *expect = g_malloc0(span);
    g_autofree uint8_t *got = g_malloc(span);
    uint8_t *bufs[16];
    QEMUIOVector qiovs[16];
    QemuOptsList *list;
    QemuOpts *opts;
    BlockBackend *blk;
    BdrvCheckResult res = { 0 };
    uint32_t seed = 12345;
    int round, i, ret;

    list = qemu_opts_append(NULL, drv->create_opts);
    opts = qemu_opts_create(list, NULL, 0, &error_abort);
    qemu_opt_set(opts, "size", "4M", &error_abort);
    ret = bdrv_create(drv, path, opts, &error_abort);
    g_assert_cmpint(ret, ==, 0);
    qemu_opts_del(opts);
    qemu_opts_free(list);

    blk = blk_new_open(path, NULL, NULL, BDRV_O_RDWR, &error_abort);
    for (round = 0; round < 8; round++) {
        int64_t base = round * span;
        int64_t slice = span / nreq;

        for (i = 0; i < nreq; i++) {
            int64_t off, len;

            seed = seed * 1103515245 + 12345;
            off = i * slice + (seed >> 8) % (slice / 2);
            len = 1 + (seed >> 4) % (slice / 2);
            bufs[i] = g_malloc(len);
            memset(bufs[i], round * nreq + i + 1, len);
            memcpy(expect + off, bufs[i], len);
            qemu_iovec_init_buf(&qiovs[i], bufs[i], len);
            aio_pending++;
            blk_aio_pwritev(blk, base + off, &qiovs[i], 0, aio_done, NULL);
        }
        while (aio_pending) {
            aio_poll(qemu_get_aio_context(), true);
        }
        for (i = 0; i < nreq; i++) {
            g_free(bufs[i]);
        }
        ret = blk_pread(blk, base, span, got, 0);
        g_assert_cmpint(ret, ==, 0);
        g_assert(memcmp(expect, got, span) == 0);
        memset(expect, 0, span);
    }
    ret = bdrv_check(blk_bs(blk), &res, 0);
    g_assert_cmpint(ret, ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    blk_unref(blk);

    unlink(path);
    rmdir(dir);
}

/* Create a qcow2 image at @path with @size and "key=value,..." options */
static void create_image(const char *path, const char *size,
                         const char *extra)
{
    BlockDriver *drv = bdrv_find_format("qcow2");
    QemuOptsList *list = qemu_opts_append(NULL, drv->create_opts);
    QemuOpts *opts = qemu_opts_create(list, NULL, 0, &error_abort);
    g_auto(GStrv) kv = g_strsplit(extra, ",", -1);
    int i, ret;

    qemu_opt_set(opts, "size", size, &error_abort);
    for (i = 0; kv[i] && kv[i][0]; i++) {
        g_auto(GStrv) pair = g_strsplit(kv[i], "=", 2);

        qemu_opt_set(opts, pair[0], pair[1], &error_abort);
    }
    ret = bdrv_create(drv, path, opts, &error_abort);
    g_assert_cmpint(ret, ==, 0);
    qemu_opts_del(opts);
    qemu_opts_free(list);
}

/* Compact JSON of the format-specific information of image @path */
static char *specific_info_json(const char *path)
{
    BlockBackend *blk = blk_new_open(path, NULL, NULL, 0, &error_abort);
    QDict *info = bdrv_get_specific_info(blk_bs(blk), &error_abort);
    GString *json;

    g_assert_nonnull(info);
    json = qobject_to_json(QOBJECT(info));
    qobject_unref(info);
    blk_unref(blk);
    return g_string_free(json, false);
}

/* Keys, types and order as QEMU 7.2's qemu-img info --output=json */
static void test_specific_info(void)
{
    static const struct {
        const char *opts;
        const char *json;
    } cases[] = {
        { "",
          "{\"type\": \"qcow2\", \"data\": {\"compat\": \"1.1\", "
          "\"compression-type\": \"zlib\", \"lazy-refcounts\": false, "
          "\"refcount-bits\": 16, \"corrupt\": false, "
          "\"extended-l2\": false}}" },
        { "compat=0.10",
          "{\"type\": \"qcow2\", \"data\": {\"compat\": \"0.10\", "
          "\"compression-type\": \"zlib\", \"refcount-bits\": 16}}" },
        { "lazy_refcounts=on,refcount_bits=1,compression_type=zstd",
          "{\"type\": \"qcow2\", \"data\": {\"compat\": \"1.1\", "
          "\"compression-type\": \"zstd\", \"lazy-refcounts\": true, "
          "\"refcount-bits\": 1, \"corrupt\": false, "
          "\"extended-l2\": false}}" },
    };
    g_autofree char *dir = g_dir_make_tmp("qcow2-info-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "t.qcow2", NULL);
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *json = NULL;

#ifndef CONFIG_ZSTD
        if (strstr(cases[i].opts, "zstd")) {
            continue;
        }
#endif
        create_image(path, "1M", cases[i].opts);
        json = specific_info_json(path);
        g_assert_cmpstr(json, ==, cases[i].json);
        unlink(path);
    }
    rmdir(dir);
}

/* Append one snapshot table entry to @t */
static void put_snapshot(GByteArray *t, const char *id, const char *name,
                         uint32_t extra_len, uint64_t icount)
{
    uint8_t h[40], extra[24];
    static const uint8_t pad[8];

    memset(h, 0, sizeof(h));
    qcow2_st64(h, 3 * 65536);           /* the active L1 table */
    qcow2_st32(h + 8, 1);
    qcow2_st16(h + 12, strlen(id));
    qcow2_st16(h + 14, strlen(name));
    qcow2_st32(h + 16, 1700000000);     /* date */
    qcow2_st32(h + 20, 123456789);
    qcow2_st64(h + 24, 3723000000000ULL);   /* 1:02:03 of VM clock */
    qcow2_st32(h + 32, 4096);           /* 32-bit VM state size */
    qcow2_st32(h + 36, extra_len);
    qcow2_st64(extra, 1ULL << 33);      /* 64-bit VM state size */
    qcow2_st64(extra + 8, 1 * MiB);     /* disk size */
    qcow2_st64(extra + 16, icount);
    g_byte_array_append(t, h, sizeof(h));
    g_byte_array_append(t, extra, extra_len);
    g_byte_array_append(t, (const uint8_t *)id, strlen(id));
    g_byte_array_append(t, (const uint8_t *)name, strlen(name));
    g_byte_array_append(t, pad, ROUND_UP(t->len, 8) - t->len);
}

/*
 * The snapshot list reports every table entry; the VM state size and
 * instruction count come from the extra data when it has them.
 */
static void test_snapshot_list(void)
{
    g_autofree char *dir = g_dir_make_tmp("qcow2-snap-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "t.qcow2", NULL);
    g_autoptr(GByteArray) t = g_byte_array_new();
    g_autofree QEMUSnapshotInfo *sn = NULL;
    uint8_t hdr[12];
    BlockBackend *blk;
    int fd, n;

    create_image(path, "1M", "");
    put_snapshot(t, "1", "first", 24, 42);
    put_snapshot(t, "2", "no-icount", 16, 0);
    put_snapshot(t, "10", "old", 0, 0);

    /* The table goes into the cluster after the L1 table */
    fd = open(path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, t->data, t->len, 4 * 65536), ==, t->len);
    qcow2_st32(hdr, 3);
    qcow2_st64(hdr + 4, 4 * 65536);
    g_assert_cmpint(pwrite(fd, hdr, sizeof(hdr), QCOW2_HDR_NB_SNAPSHOTS),
                    ==, sizeof(hdr));
    close(fd);

    blk = blk_new_open(path, NULL, NULL, 0, &error_abort);
    n = bdrv_snapshot_list(blk_bs(blk), &sn);
    g_assert_cmpint(n, ==, 3);
    g_assert_cmpstr(sn[0].id_str, ==, "1");
    g_assert_cmpstr(sn[0].name, ==, "first");
    g_assert_cmpuint(sn[0].vm_state_size, ==, 1ULL << 33);
    g_assert_cmpuint(sn[0].date_sec, ==, 1700000000);
    g_assert_cmpuint(sn[0].date_nsec, ==, 123456789);
    g_assert_cmpuint(sn[0].vm_clock_nsec, ==, 3723000000000ULL);
    g_assert_cmpuint(sn[0].icount, ==, 42);
    g_assert_cmpstr(sn[1].name, ==, "no-icount");
    g_assert_cmpuint(sn[1].vm_state_size, ==, 1ULL << 33);
    g_assert_cmpuint(sn[1].icount, ==, -1ULL);
    g_assert_cmpstr(sn[2].id_str, ==, "10");
    g_assert_cmpstr(sn[2].name, ==, "old");
    g_assert_cmpuint(sn[2].vm_state_size, ==, 4096);
    g_assert_cmpuint(sn[2].icount, ==, -1ULL);
    blk_unref(blk);

    /* No snapshots: an empty list */
    unlink(path);
    create_image(path, "1M", "");
    blk = blk_new_open(path, NULL, NULL, 0, &error_abort);
    g_free(sn);
    n = bdrv_snapshot_list(blk_bs(blk), &sn);
    g_assert_cmpint(n, ==, 0);
    g_assert_null(sn);
    blk_unref(blk);

    unlink(path);
    rmdir(dir);
}

/*
 * A metadata cache much smaller than the image's tables: every request
 * evicts tables, so lookups, evictions and write-back of dirty tables
 * (and the hash index of the cache) are exercised on every step.
 */
static void test_small_caches(void)
{
    g_autofree char *dir = g_dir_make_tmp("qcow2-cache-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "t.qcow2", NULL);
    const int64_t size = 64 * MiB, chunk = 3000;
    const int nreq = 400;
    g_autofree uint8_t *buf = g_malloc(chunk);
    g_autofree uint8_t *rbuf = g_malloc(chunk);
    int64_t offsets[400];
    BdrvCheckResult res = { 0 };
    BlockBackend *blk;
    QDict *opts;
    uint32_t seed = 4242;
    int i, pass, ret;

    /* 4k clusters: 32 L2 tables; 64-bit refcounts: a block per 2 MiB */
    create_image(path, "64M", "cluster_size=4096,refcount_bits=64");
    for (pass = 0; pass < 2; pass++) {
        opts = qdict_new();
        qdict_put_str(opts, "l2-cache-size", "8k");
        qdict_put_str(opts, "refcount-cache-size", "16k");
        qdict_put_str(opts, "cache-clean-interval", "0");
        blk = blk_new_open(path, NULL, opts, BDRV_O_RDWR, &error_abort);
        for (i = 0; i < nreq && pass == 0; i++) {
            seed = seed * 1103515245 + 12345;
            offsets[i] = ((seed >> 4) % (size / chunk)) * chunk;
            memset(buf, i + 1, chunk);
            ret = blk_pwrite(blk, offsets[i], chunk, buf, 0);
            g_assert_cmpint(ret, ==, 0);
        }
        /* Later writes win where chunks were written twice */
        for (i = nreq - 1; i >= 0; i--) {
            int j;

            for (j = i + 1; j < nreq && offsets[j] != offsets[i]; j++) {
                continue;
            }
            if (j < nreq) {
                continue;
            }
            memset(buf, i + 1, chunk);
            ret = blk_pread(blk, offsets[i], chunk, rbuf, 0);
            g_assert_cmpint(ret, ==, 0);
            g_assert(memcmp(buf, rbuf, chunk) == 0);
        }
        ret = bdrv_check(blk_bs(blk), &res, 0);
        g_assert_cmpint(ret, ==, 0);
        g_assert_cmpint(res.corruptions, ==, 0);
        g_assert_cmpint(res.leaks, ==, 0);
        blk_unref(blk);
    }

    unlink(path);
    rmdir(dir);
}

/*
 * A lost refcount block leaves every cluster it covered with refcount 0:
 * repairing rebuilds the whole refcount structure, after which the image
 * is clean and the data unchanged.
 */
static void test_rebuild(void)
{
    g_autofree char *dir = g_dir_make_tmp("qcow2-rebuild-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "t.qcow2", NULL);
    g_autofree uint8_t *buf = g_malloc(256 * KiB);
    g_autofree uint8_t *rbuf = g_malloc(256 * KiB);
    static const uint8_t zero[8];
    BdrvCheckResult res = { 0 };
    BlockBackend *blk;
    uint8_t hdr[8];
    int fd, ret;

    create_image(path, "4M", "cluster_size=4096");
    blk = blk_new_open(path, NULL, NULL, BDRV_O_RDWR, &error_abort);
    memset(buf, 0x6b, 256 * KiB);
    g_assert_cmpint(blk_pwrite(blk, 1 * MiB, 256 * KiB, buf, 0), ==, 0);
    blk_unref(blk);

    /* Drop the pointer to the first refcount block */
    fd = open(path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, hdr, 8, QCOW2_HDR_REFTABLE_OFFSET), ==, 8);
    g_assert_cmpint(pwrite(fd, zero, 8, qcow2_ld64(hdr)), ==, 8);
    close(fd);

    blk = blk_new_open(path, NULL, NULL, BDRV_O_RDWR | BDRV_O_CHECK,
                       &error_abort);
    ret = bdrv_check(blk_bs(blk), &res, BDRV_FIX_LEAKS | BDRV_FIX_ERRORS);
    g_assert_cmpint(ret, ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.corruptions_fixed, >, 0);
    g_assert_cmpint(res.check_errors, ==, 0);
    memset(&res, 0, sizeof(res));
    ret = bdrv_check(blk_bs(blk), &res, 0);
    g_assert_cmpint(ret, ==, 0);
    g_assert_cmpint(res.corruptions + res.leaks + res.check_errors, ==, 0);
    g_assert_cmpint(blk_pread(blk, 1 * MiB, 256 * KiB, rbuf, 0), ==, 0);
    g_assert(memcmp(buf, rbuf, 256 * KiB) == 0);
    blk_unref(blk);

    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    g_test_add_func("/qcow2/refcount/accessors", test_refcount_accessors);
    g_test_add_func("/qcow2/refcount/byte-order", test_refcount_byte_order);
    g_test_add_func("/qcow2/compressed-descriptor",
                    test_compressed_descriptor);
    g_test_add_func("/qcow2/cluster-types", test_cluster_types);
    g_test_add_func("/qcow2/refcount/growth", test_refcount_growth);
    g_test_add_func("/qcow2/concurrent-allocation",
                    test_concurrent_allocation);
    g_test_add_func("/qcow2/specific-info", test_specific_info);
    g_test_add_func("/qcow2/snapshot-list", test_snapshot_list);
    g_test_add_func("/qcow2/small-caches", test_small_caches);
    g_test_add_func("/qcow2/refcount/rebuild", test_rebuild);
    return g_test_run();
}
