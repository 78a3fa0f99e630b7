/*
 * Buffer pool: aligned I/O buffers reused from request to request
 *
 * A driver that needs a private buffer per request (blkverify reads the
 * image under test into one) takes it from a pool instead of the
 * allocator, so that the steady state allocates nothing and touches no
 * fresh pages.  Buffers come in power-of-two size classes; a returned
 * buffer waits on its class's free list until the next request of that
 * class.  A pool belongs to one thread (the AioContext of its user).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_BUFFER_POOL_H
#define QEMU_BUFFER_POOL_H

typedef struct BufferPool BufferPool;

/*
 * A pool of buffers aligned to @alignment (a power of two) that keeps at
 * most @max_cached bytes of free buffers.  Requests larger than
 * BUFFER_POOL_MAX_POOLED bytes bypass the pool.
 */
BufferPool *buffer_pool_new(size_t alignment, size_t max_cached);

/* Free @pool and every free buffer it holds; no buffer may be out */
void buffer_pool_free(BufferPool *pool);

/* Largest buffer the pool keeps for reuse */
#define BUFFER_POOL_MAX_POOLED (4 * 1024 * 1024)

/*
 * A buffer of at least @size bytes (contents undefined), or NULL when
 * memory is exhausted.  Give it back with buffer_pool_put().
 */
void *buffer_pool_get(BufferPool *pool, size_t size);

/* Return @buf, which buffer_pool_get(@pool, @size) handed out */
void buffer_pool_put(BufferPool *pool, void *buf, size_t size);

#endif /* QEMU_BUFFER_POOL_H */
