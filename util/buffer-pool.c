/*
 * Buffer pool: aligned I/O buffers reused from request to request
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/buffer-pool.h"

/* The smallest class; smaller requests get a buffer of this size */
#define BUFFER_POOL_MIN_SHIFT 12
#define BUFFER_POOL_MAX_SHIFT 22
#define BUFFER_POOL_CLASSES (BUFFER_POOL_MAX_SHIFT - BUFFER_POOL_MIN_SHIFT + 1)

G_STATIC_ASSERT(BUFFER_POOL_MAX_POOLED == 1 << BUFFER_POOL_MAX_SHIFT);

/* A free buffer's first bytes link it into its class's list */
typedef struct FreeBuffer {
    struct FreeBuffer *next;
} FreeBuffer;

struct BufferPool {
    size_t alignment;
    size_t max_cached;
    size_t cached;                      /* bytes on the free lists */
    FreeBuffer *free[BUFFER_POOL_CLASSES];
};

BufferPool *buffer_pool_new(size_t alignment, size_t max_cached)
{
    BufferPool *pool = g_new0(BufferPool, 1);

    assert(alignment && !(alignment & (alignment - 1)));
    pool->alignment = MAX(alignment, sizeof(void *));
    pool->max_cached = max_cached;
    return pool;
}

void buffer_pool_free(BufferPool *pool)
{
    int i;

    if (!pool) {
        return;
    }
    for (i = 0; i < BUFFER_POOL_CLASSES; i++) {
        while (pool->free[i]) {
            FreeBuffer *b = pool->free[i];

            pool->free[i] = b->next;
            qemu_vfree(b);
        }
    }
    g_free(pool);
}

/* The class of a @size byte request, or -1 if it is not pooled */
static int buffer_pool_class(size_t size)
{
    int shift = BUFFER_POOL_MIN_SHIFT;

    if (size > BUFFER_POOL_MAX_POOLED) {
        return -1;
    }
    while (((size_t)1 << shift) < size) {
        shift++;
    }
    return shift - BUFFER_POOL_MIN_SHIFT;
}

void *buffer_pool_get(BufferPool *pool, size_t size)
{
    int c = buffer_pool_class(size);
    FreeBuffer *b;

    if (c < 0) {
        return qemu_try_memalign(pool->alignment, size);
    }
    b = pool->free[c];
    if (b) {
        pool->free[c] = b->next;
        pool->cached -= (size_t)1 << (c + BUFFER_POOL_MIN_SHIFT);
        return b;
    }
    return qemu_try_memalign(pool->alignment,
                             (size_t)1 << (c + BUFFER_POOL_MIN_SHIFT));
}

void buffer_pool_put(BufferPool *pool, void *buf, size_t size)
{
    int c = buffer_pool_class(size);
    size_t class_size;
    FreeBuffer *b = buf;

    if (!buf) {
        return;
    }
    if (c < 0) {
        qemu_vfree(buf);
        return;
    }
    class_size = (size_t)1 << (c + BUFFER_POOL_MIN_SHIFT);
    if (pool->cached + class_size > pool->max_cached) {
        qemu_vfree(buf);
        return;
    }
    b->next = pool->free[c];
    pool->free[c] = b;
    pool->cached += class_size;
}
