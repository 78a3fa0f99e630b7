/*
 * Buffer helpers: compare, check against a fill byte, hex dump.
 *
 * The comparisons are written for throughput on equal (or all-zero)
 * data, the common case by far: they skip over matching data in large
 * steps and narrow down to the byte only inside the step that differs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/buffer-compare.h"

/* buffer_find_diff: memcmp in coarse steps, then fine ones, then bytes */
#define BUFFER_COARSE_STEP 4096
#define BUFFER_FINE_STEP   64

/* A 64-bit load that may alias any buffer (the buffers are bytes) */
typedef uint64_t __attribute__((may_alias)) BufferWord;

#define BUFFER_ONES  0x0101010101010101ULL
#define BUFFER_HIGHS 0x8080808080808080ULL

/* True if at least one of the eight bytes of @v is zero */
static inline bool word_has_zero_byte(uint64_t v)
{
    return ((v - BUFFER_ONES) & ~v & BUFFER_HIGHS) != 0;
}

static inline uint64_t load_word(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

size_t buffer_find_diff(const void *a, const void *b, size_t len)
{
    const uint8_t *pa = a, *pb = b;
    size_t pos = 0;

    while (len - pos >= BUFFER_COARSE_STEP &&
           !memcmp(pa + pos, pb + pos, BUFFER_COARSE_STEP)) {
        pos += BUFFER_COARSE_STEP;
    }
    /* Here a difference, if any, is within one coarse step of pos */
    while (len - pos >= BUFFER_FINE_STEP &&
           !memcmp(pa + pos, pb + pos, BUFFER_FINE_STEP)) {
        pos += BUFFER_FINE_STEP;
    }
    while (pos < len && pa[pos] == pb[pos]) {
        pos++;
    }
    return pos;
}

size_t buffer_diff_run(const void *a, const void *b, size_t len)
{
    const uint8_t *pa = a, *pb = b;
    size_t pos = 0;

    /* A word of the XOR without a zero byte: all eight bytes differ */
    while (len - pos >= sizeof(uint64_t) &&
           !word_has_zero_byte(load_word(pa + pos) ^ load_word(pb + pos))) {
        pos += sizeof(uint64_t);
    }
    while (pos < len && pa[pos] != pb[pos]) {
        pos++;
    }
    return pos;
}

size_t buffer_find_not_byte(const void *buf, uint8_t c, size_t len)
{
    const uint8_t *p = buf;
    const uint64_t pattern = BUFFER_ONES * c;
    size_t pos = 0;

    /* Bytes up to the first aligned word */
    while (pos < len && ((uintptr_t)(p + pos) & (sizeof(uint64_t) - 1))) {
        if (p[pos] != c) {
            return pos;
        }
        pos++;
    }
    /* Eight aligned words at a time; a mismatch stops at its block */
    while (len - pos >= 8 * sizeof(uint64_t)) {
        const BufferWord *w = (const BufferWord *)(p + pos);
        uint64_t acc = (w[0] ^ pattern) | (w[1] ^ pattern) |
                       (w[2] ^ pattern) | (w[3] ^ pattern) |
                       (w[4] ^ pattern) | (w[5] ^ pattern) |
                       (w[6] ^ pattern) | (w[7] ^ pattern);

        if (acc) {
            break;
        }
        pos += 8 * sizeof(uint64_t);
    }
    while (pos < len && p[pos] == c) {
        pos++;
    }
    return pos;
}

void qemu_hexdump_line(GString *out, uint64_t addr, const void *buf,
                       size_t len, QemuHexdumpFlags flags)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = buf;
    size_t i;

    assert(len <= QEMU_HEXDUMP_LINE_BYTES);
    g_string_append_printf(out, "%08" PRIx64 ":  ", addr);
    for (i = 0; i < len; i++) {
        g_string_append_c(out, hex[p[i] >> 4]);
        g_string_append_c(out, hex[p[i] & 0xf]);
        g_string_append_c(out, ' ');
    }
    if (flags & QEMU_HEXDUMP_PAD) {
        for (; i < QEMU_HEXDUMP_LINE_BYTES; i++) {
            g_string_append(out, "   ");
        }
    }
    g_string_append_c(out, ' ');
    for (i = 0; i < len; i++) {
        bool show = (flags & QEMU_HEXDUMP_PRINTABLE) ? g_ascii_isprint(p[i])
                                                     : g_ascii_isalnum(p[i]);

        g_string_append_c(out, show ? p[i] : '.');
    }
    g_string_append_c(out, '\n');
}

void qemu_hexdump(GString *out, const char *prefix, uint64_t addr,
                  const void *buf, size_t len, QemuHexdumpFlags flags)
{
    const uint8_t *p = buf;
    size_t done;

    for (done = 0; done < len; done += QEMU_HEXDUMP_LINE_BYTES) {
        if (prefix) {
            g_string_append(out, prefix);
        }
        qemu_hexdump_line(out, addr + done, p + done,
                          MIN(len - done, QEMU_HEXDUMP_LINE_BYTES), flags);
    }
}
