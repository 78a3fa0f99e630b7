/*
 * I/O vectors: scatter/gather lists of (base, len) pairs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_IOV_H
#define QEMU_IOV_H

/* Total byte length of @iov */
size_t iov_size(const struct iovec *iov, unsigned int iov_cnt);
/* Copy @bytes from @buf into @iov starting at byte @offset; returns copied */
size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt,
                    size_t offset, const void *buf, size_t bytes);
/* Copy @bytes from @iov (starting at @offset) into @buf; returns copied */
size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, void *buf, size_t bytes);
/* Fill @bytes of @iov from @offset with @fillc; returns filled */
size_t iov_memset(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, int fillc, size_t bytes);

typedef struct QEMUIOVector {
    struct iovec *iov;
    int niov;
    int nalloc;     /* -1: a single-buffer vector, not grown or freed */
    size_t size;
    struct iovec local_iov;   /* storage for qemu_iovec_init_buf() */
} QEMUIOVector;

void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint);
/* A single-buffer vector that needs no destroy */
void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len);
static inline void *qemu_iovec_buf(QEMUIOVector *qiov)
{
    return qiov->local_iov.iov_base;
}
/*
 * @qiov becomes a view of @bytes of @source starting at @offset (it
 * references the same memory; destroy it when done).
 */
void qemu_iovec_init_slice(QEMUIOVector *qiov, QEMUIOVector *source,
                           size_t offset, size_t bytes);
void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len);
/* Append @bytes of @src starting at @soffset to @dst */
void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src,
                       size_t soffset, size_t bytes);
void qemu_iovec_destroy(QEMUIOVector *qiov);
void qemu_iovec_reset(QEMUIOVector *qiov);

size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset,
                         void *buf, size_t bytes);
size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset,
                           const void *buf, size_t bytes);
size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset,
                         int fillc, size_t bytes);

/*
 * Offset of the first byte at which the first @bytes of @qiov differ
 * from @buf, or @bytes when they are equal (compared in place, at the
 * speed of buffer_find_diff()).
 */
size_t qemu_iovec_find_diff_buf(QEMUIOVector *qiov, const void *buf,
                                size_t bytes);

#endif /* QEMU_IOV_H */
