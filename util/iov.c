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

void qemu_iovec_init_external(QEMUIOVector *qiov, struct iovec *iov,
                              int niov)
{
    assert(niov >= 0);
    *qiov = (QEMUIOVector) {
        .iov = iov,
        .niov = niov,
        .nalloc = -1,
        .size = iov_size(iov, niov),
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

bool qemu_iovec_is_zero(QEMUIOVector *qiov, size_t offset, size_t bytes)
{
    int i;

    assert(offset <= qiov->size && bytes <= qiov->size - offset);
    for (i = 0; i < qiov->niov && bytes > 0; i++) {
        size_t len;

        if (offset >= qiov->iov[i].iov_len) {
            offset -= qiov->iov[i].iov_len;
            continue;
        }
        len = MIN(qiov->iov[i].iov_len - offset, bytes);
        if (!buffer_is_zero((unsigned char *)qiov->iov[i].iov_base + offset,
                            len)) {
            return false;
        }
        bytes -= len;
        offset = 0;
    }
    return true;
}

ssize_t qemu_iovec_compare(QEMUIOVector *a, QEMUIOVector *b)
{
    int ia = 0, ib = 0;
    size_t oa = 0, ob = 0;   /* offsets inside the current elements */
    size_t pos = 0;

    assert(a->size == b->size);

    /* Walk both vectors in lockstep, one common chunk at a time */
    while (pos < a->size) {
        const unsigned char *pa, *pb;
        size_t len, i;

        while (oa == a->iov[ia].iov_len) {
            ia++;
            oa = 0;
        }
        while (ob == b->iov[ib].iov_len) {
            ib++;
            ob = 0;
        }
        pa = (const unsigned char *)a->iov[ia].iov_base + oa;
        pb = (const unsigned char *)b->iov[ib].iov_base + ob;
        len = MIN(a->iov[ia].iov_len - oa, b->iov[ib].iov_len - ob);

        i = buffer_find_diff(pa, pb, len);
        if (i < len) {
            return pos + i;
        }
        oa += len;
        ob += len;
        pos += len;
    }
    return -1;
}

typedef struct IOVectorSortElem {
    int src_index;
    uintptr_t start;
    uintptr_t end;
} IOVectorSortElem;

static int sort_elem_cmp(const void *a, const void *b)
{
    const IOVectorSortElem *ea = a;
    const IOVectorSortElem *eb = b;

    if (ea->start != eb->start) {
        return ea->start < eb->start ? -1 : 1;
    }
    /* Stable order for equal bases keeps the result deterministic */
    return ea->src_index - eb->src_index;
}

/*
 * The union of @src's memory ranges is laid out in @buf in address order,
 * each maximal run of overlapping ranges as one contiguous block.  An
 * element then maps to its run's block at the same distance from the run's
 * start, so two elements sharing bytes in @src share the same bytes in
 * @dest.  Elements that do not overlap anything get disjoint regions.
 */
void qemu_iovec_clone(QEMUIOVector *dest, const QEMUIOVector *src,
                      void *buf)
{
    IOVectorSortElem *elems;
    char **mapped;
    size_t buf_off = 0;
    int i;

    if (src->niov == 0) {
        return;
    }
    elems = g_new(IOVectorSortElem, src->niov);
    mapped = g_new(char *, src->niov);

    for (i = 0; i < src->niov; i++) {
        elems[i].src_index = i;
        elems[i].start = (uintptr_t)src->iov[i].iov_base;
        elems[i].end = elems[i].start + src->iov[i].iov_len;
    }
    qsort(elems, src->niov, sizeof(elems[0]), sort_elem_cmp);

    i = 0;
    while (i < src->niov) {
        uintptr_t run_start = elems[i].start;
        uintptr_t run_end = elems[i].end;
        int j;

        /* Extend the run while the next range starts inside it */
        for (j = i + 1; j < src->niov && elems[j].start < run_end; j++) {
            run_end = MAX(run_end, elems[j].end);
        }
        for (; i < j; i++) {
            mapped[elems[i].src_index] =
                (char *)buf + buf_off + (elems[i].start - run_start);
        }
        buf_off += run_end - run_start;
    }
    assert(buf_off <= src->size);

    for (i = 0; i < src->niov; i++) {
        qemu_iovec_add(dest, mapped[i], src->iov[i].iov_len);
    }
    g_free(mapped);
    g_free(elems);
}
