/*
 * Buffer helpers: compare two buffers, check a buffer against a fill
 * byte, and dump bytes in qemu-io's hex format.
 *
 * Every tool or driver that looks at data byte by byte (blkverify's
 * comparison, qemu-io's pattern checks, qemu-img compare and convert's
 * zero detection) goes through these, so there is one fast
 * implementation and one output format.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_BUFFER_COMPARE_H
#define QEMU_BUFFER_COMPARE_H

/*
 * Offset of the first byte at which @a and @b differ, or @len when their
 * first @len bytes are equal.
 */
size_t buffer_find_diff(const void *a, const void *b, size_t len);

/*
 * Length of the run of differing bytes at the start of @a and @b: the
 * number of leading positions i < @len with a[i] != b[i].  Together with
 * buffer_find_diff() this walks the differing runs of two buffers.
 */
size_t buffer_diff_run(const void *a, const void *b, size_t len);

/* Offset of the first byte of @buf that is not @c, or @len if none is */
size_t buffer_find_not_byte(const void *buf, uint8_t c, size_t len);

/* True if the first @len bytes of @buf are all zero (true for @len 0) */
static inline bool buffer_is_zero(const void *buf, size_t len)
{
    return buffer_find_not_byte(buf, 0, len) == len;
}

/* Bytes per line of a hex dump */
#define QEMU_HEXDUMP_LINE_BYTES 16

typedef enum QemuHexdumpFlags {
    /* Pad a short line so that its text column lines up with full ones */
    QEMU_HEXDUMP_PAD = 1 << 0,
    /*
     * Show every printable ASCII character in the text column; without
     * it only letters and digits are shown (qemu-io -v), the rest as '.'
     */
    QEMU_HEXDUMP_PRINTABLE = 1 << 1,
} QemuHexdumpFlags;

/*
 * Append one line "AAAAAAAA:  xx xx ... xx  text\n" for @len bytes of
 * @buf (at most QEMU_HEXDUMP_LINE_BYTES), labelled with address @addr.
 */
void qemu_hexdump_line(GString *out, uint64_t addr, const void *buf,
                       size_t len, QemuHexdumpFlags flags);

/*
 * Append as many lines as @len bytes need, the first labelled @addr,
 * each starting with @prefix (may be NULL).
 */
void qemu_hexdump(GString *out, const char *prefix, uint64_t addr,
                  const void *buf, size_t len, QemuHexdumpFlags flags);

#endif /* QEMU_BUFFER_COMPARE_H */
