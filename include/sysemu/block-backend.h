/*
 * BlockBackend: the user-facing handle on a node graph (the tools and the
 * NBD server use it).  Adds the device-level checks (length, read-only,
 * write-through) on top of the root node.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_BACKEND_H
#define BLOCK_BACKEND_H

#include "block/block.h"

typedef struct BlockBackend BlockBackend;
typedef struct BlockAIOCB BlockAIOCB;
typedef void BlockCompletionFunc(void *opaque, int ret);

/*
 * Open @filename/@options as the root of a new backend.  As QEMU's
 * blk_new_open(); the error message for a missing file is
 * "Could not open 'x': No such file or directory".
 */
BlockBackend *blk_new_open(const char *filename, const char *reference,
                           QDict *options, int flags, Error **errp);
/* A backend over an existing node (takes a reference on @bs) */
BlockBackend *blk_new_with_bs(BlockDriverState *bs, Error **errp);
void blk_ref(BlockBackend *blk);
void blk_unref(BlockBackend *blk);
BlockDriverState *blk_bs(BlockBackend *blk);
BdrvChild *blk_root(BlockBackend *blk);

bool blk_is_read_only(BlockBackend *blk);
bool blk_is_writable(BlockBackend *blk);
/* Writethrough: with the cache disabled, every write carries FUA */
void blk_set_enable_write_cache(BlockBackend *blk, bool wce);
bool blk_enable_write_cache(BlockBackend *blk);
/* "Allow writes to block 0 of a probed raw image" is not settable here */

int64_t blk_getlength(BlockBackend *blk);
int64_t blk_nb_sectors(BlockBackend *blk);

/* Coroutine requests (bounds-checked against the device length) */
int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset,
                               int64_t bytes, QEMUIOVector *qiov,
                               BdrvRequestFlags flags);
int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags);
/* Flat-buffer forms; -EINVAL for a negative @bytes */
int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset,
                              int64_t bytes, void *buf,
                              BdrvRequestFlags flags);
int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset,
                               int64_t bytes, const void *buf,
                               BdrvRequestFlags flags);
int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                      int64_t bytes, BdrvRequestFlags flags);
/* -ENOTSUP unless the root node supports compressed writes */
int coroutine_fn blk_co_pwrite_compressed(BlockBackend *blk, int64_t offset,
                                          int64_t bytes, const void *buf);
int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset,
                                 int64_t bytes);
int coroutine_fn blk_co_flush(BlockBackend *blk);
/*
 * @size bytes at @pos of the VM state area of the root node (qemu-io
 * read -b / write -b): @size on success, -errno (-ENOTSUP if the format
 * has none)
 */
int coroutine_fn blk_co_load_vmstate(BlockBackend *blk, uint8_t *buf,
                                     int64_t pos, int size);
int coroutine_fn blk_co_save_vmstate(BlockBackend *blk, const uint8_t *buf,
                                     int64_t pos, int size);
int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset,
                                 bool exact, PreallocMode prealloc,
                                 BdrvRequestFlags flags, Error **errp);

/*
 * Synchronous forms, generated (see block/block.h); never call them in a
 * coroutine.  0 on success, -errno.
 */
int co_wrapper blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes,
                         void *buf, BdrvRequestFlags flags);
int co_wrapper blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
                          const void *buf, BdrvRequestFlags flags);
int co_wrapper blk_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
                          QEMUIOVector *qiov, BdrvRequestFlags flags);
int co_wrapper blk_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                           QEMUIOVector *qiov, BdrvRequestFlags flags);
int co_wrapper blk_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                 int64_t bytes, BdrvRequestFlags flags);
int co_wrapper blk_pwrite_compressed(BlockBackend *blk, int64_t offset,
                                     int64_t bytes, const void *buf);
int co_wrapper blk_pdiscard(BlockBackend *blk, int64_t offset,
                            int64_t bytes);
int co_wrapper blk_flush(BlockBackend *blk);
int co_wrapper blk_load_vmstate(BlockBackend *blk, uint8_t *buf,
                                int64_t pos, int size);
int co_wrapper blk_save_vmstate(BlockBackend *blk, const uint8_t *buf,
                                int64_t pos, int size);
int co_wrapper blk_truncate(BlockBackend *blk, int64_t offset, bool exact,
                            PreallocMode prealloc, BdrvRequestFlags flags,
                            Error **errp);

/*
 * Asynchronous requests: start now (the request runs in a coroutine),
 * @cb(@opaque, ret) runs from the event loop when done.  The return value
 * identifies the request; it is freed after @cb returns.
 */
BlockAIOCB *blk_aio_preadv(BlockBackend *blk, int64_t offset,
                           QEMUIOVector *qiov, BdrvRequestFlags flags,
                           BlockCompletionFunc *cb, void *opaque);
BlockAIOCB *blk_aio_pwritev(BlockBackend *blk, int64_t offset,
                            QEMUIOVector *qiov, BdrvRequestFlags flags,
                            BlockCompletionFunc *cb, void *opaque);
BlockAIOCB *blk_aio_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                  int64_t bytes, BdrvRequestFlags flags,
                                  BlockCompletionFunc *cb, void *opaque);
BlockAIOCB *blk_aio_pdiscard(BlockBackend *blk, int64_t offset,
                             int64_t bytes, BlockCompletionFunc *cb,
                             void *opaque);
BlockAIOCB *blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb,
                          void *opaque);

/* Wait for all requests of @blk to complete */
void coroutine_mixed_fn blk_drain(BlockBackend *blk);
void coroutine_mixed_fn blk_drain_all(void);
int blk_get_open_flags(BlockBackend *blk);
void *blk_blockalign(BlockBackend *blk, size_t size);

/* Accounting (requests done through this backend), for qemu-io info */
typedef struct BlockAcctStats {
    uint64_t nr_ops[4];     /* read, write, flush, discard */
    uint64_t nr_bytes[4];
    uint64_t failed_ops[4];
    uint64_t invalid_ops[4];
} BlockAcctStats;
BlockAcctStats *blk_get_stats(BlockBackend *blk);

#endif /* BLOCK_BACKEND_H */
