/*
 * Host helpers: aligned allocation, page size, full writes, program name.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

static char *progname;

void *qemu_try_memalign(size_t alignment, size_t size)
{
    void *ptr;
    int ret;

    if (alignment < sizeof(void *)) {
        alignment = sizeof(void *);
    }
    assert(is_power_of_2(alignment));

    /* posix_memalign(0) may return NULL; callers expect a real pointer */
    if (size == 0) {
        size = alignment;
    }
    ret = posix_memalign(&ptr, alignment, size);
    if (ret != 0) {
        errno = ret;
        return NULL;
    }
    return ptr;
}

void *qemu_memalign(size_t alignment, size_t size)
{
    void *ptr = qemu_try_memalign(alignment, size);

    if (!ptr) {
        fprintf(stderr, "qemu_memalign: failed to allocate %zu bytes "
                "aligned to %zu: %s\n", size, alignment, strerror(errno));
        abort();
    }
    return ptr;
}

void qemu_vfree(void *ptr)
{
    free(ptr);
}

size_t qemu_real_host_page_size(void)
{
    static size_t page_size;

    if (!page_size) {
        long ret = sysconf(_SC_PAGESIZE);

        page_size = ret > 0 ? (size_t)ret : 4096;
    }
    return page_size;
}

int qemu_write_full(int fd, const void *buf, size_t count)
{
    const char *p = buf;

    while (count > 0) {
        ssize_t ret = write(fd, p, count);

        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (ret == 0) {
            /* A regular write never returns 0 for count > 0; don't spin */
            return -EIO;
        }
        p += ret;
        count -= ret;
    }
    return 0;
}

void error_set_progname(const char *argv0)
{
    const char *slash;

    g_free(progname);
    if (!argv0) {
        progname = NULL;
        return;
    }
    slash = strrchr(argv0, '/');
    progname = g_strdup(slash ? slash + 1 : argv0);
}

const char *error_get_progname(void)
{
    return progname ? progname : "";
}
