/*
 * Kernel asynchronous I/O backends of the file-posix driver (aio=native
 * with libaio, aio=io_uring with liburing).
 *
 * Each backend instance belongs to one file node: it owns a kernel
 * context (an io_context_t and its eventfd, or an io_uring ring), which it
 * registers with the event loop.  A request is submitted from a coroutine,
 * which yields until the completion handler wakes it with aio_co_wake().
 * Submissions made while the event loop is busy are batched into one
 * system call from a bottom half.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_RAW_AIO_H
#define BLOCK_RAW_AIO_H

#include "qemu/iov.h"
#include "qemu/coroutine.h"
#include "qapi/error.h"

typedef enum RawAioType {
    RAW_AIO_READ,
    RAW_AIO_WRITE,
    RAW_AIO_FLUSH,          /* fdatasync; io_uring only */
} RawAioType;

#ifdef CONFIG_LINUX_AIO
typedef struct LinuxAioState LinuxAioState;

/* Create a context and register it with the event loop; NULL on error */
LinuxAioState *laio_init(Error **errp);
/* Unregister and free; no request may be in flight */
void laio_cleanup(LinuxAioState *s);
/*
 * Read or write @qiov at @offset of @fd (normally opened with O_DIRECT,
 * buffers and lengths then suitably aligned; without it the kernel
 * completes the request before io_submit() returns).  A read that ends
 * early at end of file has its tail zero-filled.  Returns 0 or -errno.
 */
int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, int64_t offset,
                                QEMUIOVector *qiov, RawAioType type);
#endif

#ifdef CONFIG_LINUX_IO_URING
typedef struct LuringState LuringState;

/* Set up a ring and register it with the event loop; NULL on error */
LuringState *luring_init(Error **errp);
/* Unregister and free; no request may be in flight */
void luring_cleanup(LuringState *s);
/*
 * Read, write or flush (@qiov NULL, @offset ignored) @fd.  Short
 * transfers are resubmitted for the remainder; a read that reaches end
 * of file has its tail zero-filled.  Returns 0 or -errno.
 */
int coroutine_fn luring_co_submit(LuringState *s, int fd, int64_t offset,
                                  QEMUIOVector *qiov, RawAioType type);
#endif

#endif /* BLOCK_RAW_AIO_H */
