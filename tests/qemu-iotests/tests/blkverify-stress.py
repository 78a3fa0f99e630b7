#!/usr/bin/env python3
#
# Helper of the blkverify-stress iotest.
#
#   blkverify-stress.py gen SEED REQUESTS IMAGE_SIZE > cmds
#       Write a seeded qemu-io command stream: batches of 1 to 64
#       concurrent requests (aio_read, aio_write, aio_write -z, write -z,
#       discard), each batch closed by aio_flush.  Sizes run from 1 byte to
#       1 MiB, offsets are often unaligned, and most requests of a batch
#       fall into a small window so that they overlap.
#
#   blkverify-stress.py explain SEED CMDS STDOUT STDERR
#       After a failed run: print the seed, where the run stopped and the
#       requests of that batch that touch the reported sectors, so that the
#       test's diff tells how to reproduce the failure.
#
# SPDX-License-Identifier: GPL-2.0-or-later
#

import random
import re
import sys

KIB = 1024
MIB = 1024 * KIB
MAX_REQ = 1 * MIB
PROMPT = 'qemu-io> '


def pick_size(rng):
    r = rng.random()
    if r < 0.60:
        size = rng.randint(1, 8 * KIB)
    elif r < 0.96:
        size = rng.randint(8 * KIB, 64 * KIB)
    else:
        size = rng.randint(64 * KIB, MAX_REQ)
    # Some requests in whole sectors or pages, the rest to the byte
    r = rng.random()
    if r < 0.2:
        size = max(512, size & ~511)
    elif r < 0.35:
        size = max(4 * KIB, size & ~(4 * KIB - 1))
    return size


def pick_offset(rng, window, image_size, size):
    lo, hi = window
    if rng.random() < 0.75:
        # Inside (or starting inside) the batch's hot window: overlaps
        off = rng.randint(lo, hi)
    else:
        off = rng.randint(0, image_size - 1)
    r = rng.random()
    if r < 0.2:
        off &= ~511
    elif r < 0.35:
        off &= ~(4 * KIB - 1)
    return max(0, min(off, image_size - size))


def pick_lengths(rng, size):
    """Split @size into 1 to 3 I/O vector elements (qemu-io lengths)"""
    if size < 3 or rng.random() < 0.8:
        return [size]
    n = rng.randint(2, 3)
    cuts = sorted(rng.sample(range(1, size), n - 1))
    bounds = [0] + cuts + [size]
    return [bounds[i + 1] - bounds[i] for i in range(n)]


def gen(seed, requests, image_size):
    rng = random.Random(seed)
    out = []
    done = 0
    while done < requests:
        # Queue depth: as often shallow as deep
        depth = min(int(2 ** rng.uniform(0, 6)), 64, requests - done)
        wsize = rng.choice([64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB])
        wstart = rng.randint(0, image_size - wsize)
        window = (wstart, wstart + wsize - 1)
        for _ in range(depth):
            size = pick_size(rng)
            off = pick_offset(rng, window, image_size, size)
            r = rng.random()
            if r < 0.40:
                lens = ' '.join(str(n) for n in pick_lengths(rng, size))
                out.append('aio_read -q %d %s' % (off, lens))
            elif r < 0.76:
                lens = ' '.join(str(n) for n in pick_lengths(rng, size))
                out.append('aio_write -q -P 0x%02x %d %s'
                           % (rng.randint(0, 255), off, lens))
            elif r < 0.84:
                unmap = ' -u' if rng.random() < 0.5 else ''
                out.append('aio_write -q -z%s %d %d' % (unmap, off, size))
            elif r < 0.90:
                out.append('write -q -z %d %d' % (off, size))
            else:
                out.append('discard -q %d %d' % (off, size))
        done += depth
        if rng.random() < 0.02:
            out.append('flush')
        out.append('aio_flush')
    sys.stdout.write('\n'.join(out) + '\n')


def parse_range(cmd):
    """(offset, bytes) of a request command as gen() writes them, or None"""
    words = cmd.split()
    if words[0] not in ('aio_read', 'aio_write', 'write', 'discard'):
        return None
    nums = []
    for i, w in enumerate(words[1:], 1):
        if w.startswith('-') or words[i - 1] == '-P':
            continue
        try:
            nums.append(int(w))
        except ValueError:
            return None
    if len(nums) < 2:
        return None
    return nums[0], sum(nums[1:])


def explain(seed, cmds_path, stdout_path, stderr_path):
    with open(cmds_path) as f:
        cmds = f.read().splitlines()
    with open(stdout_path, errors='replace') as f:
        stdout = f.read()
    with open(stderr_path, errors='replace') as f:
        stderr = f.read()

    err = sys.stderr
    err.write('blkverify-stress: FAILED with seed %s '
              '(rerun with BLKVERIFY_STRESS_SEED=%s)\n' % (seed, seed))
    # Each command is read after a prompt: the number of prompts tells
    # which command was running (or about to be read) when it stopped
    cur = max(0, min(stdout.count(PROMPT) - 1, len(cmds) - 1))
    err.write('blkverify-stress: stopped at command %d of %d: %s\n'
              % (cur + 1, len(cmds), cmds[cur]))
    rest = stdout.replace(PROMPT, '')
    if rest.strip():
        err.write('blkverify-stress: qemu-io output:\n' + rest)

    # The batch that was in flight: back to the previous aio_flush
    first = cur
    while first > 0 and cmds[first - 1] != 'aio_flush':
        first -= 1
    if cmds[first] == 'aio_flush' and first > 0:
        first -= 1
        while first > 0 and cmds[first - 1] != 'aio_flush':
            first -= 1

    m = re.search(r'sector_num=(\d+) nb_sectors=(\d+)', stderr)
    if m:
        lo = int(m.group(1)) * 512
        hi = lo + int(m.group(2)) * 512
        err.write('blkverify-stress: requests of the batch touching '
                  'bytes %d..%d:\n' % (lo, hi))
    else:
        lo, hi = 0, 1 << 62
        err.write('blkverify-stress: requests of the batch:\n')
    for i in range(first, cur + 1):
        rng_ = parse_range(cmds[i])
        if rng_ is None or (rng_[0] < hi and rng_[0] + rng_[1] > lo):
            err.write('  %6d: %s\n' % (i + 1, cmds[i]))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == 'gen':
        gen(int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 6 and sys.argv[1] == 'explain':
        explain(*sys.argv[2:])
    else:
        sys.stderr.write('usage: %s gen SEED REQUESTS IMAGE_SIZE\n'
                         '       %s explain SEED CMDS STDOUT STDERR\n'
                         % (sys.argv[0], sys.argv[0]))
        sys.exit(2)


if __name__ == '__main__':
    main()
