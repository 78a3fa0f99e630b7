/*
 * Worker thread pool for blocking system calls.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_THREAD_POOL_H
#define QEMU_THREAD_POOL_H

#include "qemu/aio.h"

typedef int ThreadPoolFunc(void *opaque);

/*
 * Run @func(@arg) on a worker thread; the calling coroutine yields until it
 * returns, and gets its return value.  Workers are created on demand up to
 * a fixed maximum (64) and exit after being idle for a while.
 */
int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg);

/* Number of live worker threads (for tests) */
int thread_pool_worker_count(void);

#endif /* QEMU_THREAD_POOL_H */
