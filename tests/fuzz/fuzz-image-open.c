/*
 * Fuzz target: open a mutated image with a format driver and read it
 *
 * The image bytes live in a memfd; the driver named by FUZZ_FORMAT at
 * build time (qcow2 by default) opens it read-only, then the harness reads
 * the start, the end and a spread of offsets, and walks block status.
 * Any crash, sanitizer report or hang is a bug: malformed images must
 * give errors.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "block/block_int.h"
#include "sysemu/block-backend.h"

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT "qcow2"
#endif

#define FUZZ_READ_SIZE (64 * KiB)
#define FUZZ_MAX_READS 32
#define FUZZ_MAX_STATUS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_read_image(BlockBackend *blk)
{
    static uint8_t buf[FUZZ_READ_SIZE];
    int64_t len = blk_getlength(blk);
    int64_t offset, pnum;
    int i;

    if (len <= 0) {
        return;
    }
    for (i = 0; i < FUZZ_MAX_READS; i++) {
        int64_t bytes = MIN(FUZZ_READ_SIZE, len);

        /* Start, end, and evenly spread points in between */
        offset = (len - bytes) / (FUZZ_MAX_READS - 1) * i;
        offset = MIN(offset, len - bytes);
        blk_pread(blk, offset, bytes, buf, 0);
    }
    /* Unaligned small reads cross cluster boundaries */
    blk_pread(blk, MIN(511, len - 1), MIN(1025, len - MIN(511, len - 1)),
              buf, 0);

    offset = 0;
    for (i = 0; i < FUZZ_MAX_STATUS && offset < len; i++) {
        if (bdrv_block_status_above(blk_bs(blk), NULL, offset, len - offset,
                                    &pnum, NULL, NULL) < 0 || pnum <= 0) {
            break;
        }
        offset += pnum;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialized;
    char path[64];
    QDict *options;
    BlockBackend *blk;
    Error *err = NULL;
    int fd;

    if (!initialized) {
        bdrv_init();
        error_set_progname("fuzz-image-open");
        initialized = true;
    }

    fd = memfd_create("fuzz-image", MFD_CLOEXEC);
    if (fd < 0 || qemu_write_full(fd, data, size) < 0) {
        abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    options = qdict_new();
    qdict_put_str(options, "driver", FUZZ_FORMAT);
    qdict_put_str(options, "file.driver", "file");
    qdict_put_str(options, "file.filename", path);
    /* Backing files named by the image must not be opened */
    blk = blk_new_open(NULL, NULL, options, BDRV_O_NO_BACKING, &err);
    if (blk) {
        fuzz_read_image(blk);
        blk_unref(blk);
    }
    error_free(err);
    close(fd);
    return 0;
}
