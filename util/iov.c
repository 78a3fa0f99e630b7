/*
 * I/O vectors: copying, filling, slicing, comparing and cloning
 * scatter/gather lists.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/buffer-compare.h"

size_t iov_size(const struct iovec *iov, unsigned int iov_cnt)
{
    size_t len = 0;
    unsigned int i;

    for (i = 0; i < iov_cnt; i++) {
        len += iov[i].iov_len;
    }
    return len;
}

size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt,
                    size_t offset, const void *buf, size_t bytes)
{
    size_t done = 0;
    unsigned int i;

    for (i = 0; i < iov_cnt && done < bytes; i++) {
        size_t len;

        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        len = MIN(iov[i].iov_len - offset, bytes - done);
        memcpy((char *)iov[i].iov_base + offset, (const char *)buf + done,
               len);
        done += len;
        offset = 0;
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, void *buf, size_t bytes)
{
    size_t done = 0;
    unsigned int i;

    for (i = 0; i < iov_cnt && done < bytes; i++) {
        size_t len;

        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        len = MIN(iov[i].iov_len - offset, bytes - done);
        memcpy((char *)buf + done, (const char *)iov[i].iov_base + offset,
               len);
        done += len;
        offset = 0;
    }
    return done;
}

size_t iov_memset(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, int fillc, size_t bytes)
{
    size_t done = 0;
    unsigned int i;

    for (i = 0; i < iov_cnt && done < bytes; i++) {
        size_t len;

        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        len = MIN(iov[i].iov_len - offset, bytes - done);
        memset((char *)iov[i].iov_base + offset, fillc, len);
        done += len;
        offset = 0;
    }
    return done;
}

void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint)
{
    assert(alloc_hint >= 0);
    *qiov = (QEMUIOVector) {
        .iov = alloc_hint ? g_new(struct iovec, alloc_hint) : NULL,
        .nalloc = alloc_hint,
    };
}

void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len)
{
    *qiov = (QEMUIOVector) {
        .niov = 1,
        .nalloc = -1,
        .size = len,
        .local_iov = { .iov_base = buf, .iov_len = len },
    };
    qiov->iov = &qiov->local_iov;
}

void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len)
{
    /* External and single-buffer vectors cannot grow */
    assert(qiov->nalloc != -1);

    if (qiov->niov == qiov->nalloc) {
        qiov->nalloc = 2 * qiov->nalloc + 1;
        qiov->iov = g_renew(struct iovec, qiov->iov, qiov->nalloc);
    }
    qiov->iov[qiov->niov].iov_base = base;
    qiov->iov[qiov->niov].iov_len = len;
    qiov->niov++;
    qiov->size += len;
}

void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src,
                       size_t soffset, size_t bytes)
{
    int i;

    assert(dst != src);
    for (i = 0; i < src->niov && bytes > 0; i++) {
        size_t len;

        if (soffset >= src->iov[i].iov_len) {
            soffset -= src->iov[i].iov_len;
            continue;
        }
        len = MIN(src->iov[i].iov_len - soffset, bytes);
        qemu_iovec_add(dst, (char *)src->iov[i].iov_base + soffset, len);
        bytes -= len;
        soffset = 0;
    }
    /*
     * A start beyond the end of @src is a caller bug; a length running
     * past the end is clamped, as QEMU does.
     */
    assert(bytes == 0 || soffset == 0);
}

void qemu_iovec_init_slice(QEMUIOVector *qiov, QEMUIOVector *source,
                           size_t offset, size_t bytes)
{
    assert(offset <= source->size && bytes <= source->size - offset);
    qemu_iovec_init(qiov, 0);
    qemu_iovec_concat(qiov, source, offset, bytes);
}

void qemu_iovec_destroy(QEMUIOVector *qiov)
{
    if (qiov->nalloc != -1) {
        g_free(qiov->iov);
    }
    memset(qiov, 0, sizeof(*qiov));
}

void qemu_iovec_reset(QEMUIOVector *qiov)
{
    assert(qiov->nalloc != -1);
    qiov->niov = 0;
    qiov->size = 0;
}

size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset,
                         void *buf, size_t bytes)
{
    return iov_to_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset,
                           const void *buf, size_t bytes)
{
    return iov_from_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset,
                         int fillc, size_t bytes)
{
    return iov_memset(qiov->iov, qiov->niov, offset, fillc, bytes);
}

size_t qemu_iovec_find_diff_buf(QEMUIOVector *qiov, const void *buf,
                                size_t bytes)
{
    const uint8_t *p = buf;
    size_t done = 0;
    int i;

    for (i = 0; i < qiov->niov && done < bytes; i++) {
        size_t len = MIN(qiov->iov[i].iov_len, bytes - done);
        size_t diff = buffer_find_diff(qiov->iov[i].iov_base, p + done, len);

        if (diff < len) {
            return done + diff;
        }
        done += len;
    }
    return bytes;
}
