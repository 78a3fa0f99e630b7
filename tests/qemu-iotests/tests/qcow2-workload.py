#!/usr/bin/env python3
#
# Seeded random qemu-io workload for blkverify:RAW:TEST runs
#
# Prints a qemu-io command stream (one command per line, for qemu-io's
# interactive mode reading stdin): mixed reads, pattern writes, writev and
# readv, zero writes, discards, flushes and batches of up to 32 aio
# requests, unaligned and overlapping, concentrated in a few regions of
# the disk (its start, an L2 table boundary, the 4 GiB boundary, its end)
# with a few requests scattered over the rest.  Optionally followed by a
# read-back of the whole disk in large chunks, so that blkverify compares
# every byte at the end.
#
# The same seed and options always give the same stream (the generator
# is our own, not Python's, so it does not depend on the Python version).
#
# Requests inside one aio batch are in flight together, and the order in
# which they reach each child of blkverify is not defined; so a batch
# never has two requests on the same bytes unless both are reads.  They
# may share clusters, which is what exercises concurrent allocation.
# Discards are whole clusters of the test image: qcow2 ignores the
# unaligned part of a discard while a raw file punches a hole in it, and
# both are correct.
#
# Usage (this file is not executable on purpose: ./check would take it for
# a test):
#   python3 qcow2-workload.py [--seed N] [--preset full|demo]
#                             [--requests N] [--size SIZE]
#                             [--cluster-size SIZE] [--chunk SIZE]
#                             [--compressed N] [--no-discard]
#                             [--no-read-back] [-o FILE]
#
# --compressed N starts the stream with N "write -c" commands, each on a
# distinct whole cluster inside the hot regions, so that the rest of the
# workload overwrites, zeroes and discards compressed clusters.  They are
# meant for the qcow2 image alone (blkverify has no compressed writes): a
# raw mirror gets the same lines with "-c" removed.  --no-discard leaves
# out discards (qcow2 v2 over a backing file makes discarded clusters show
# the backing file again, which a raw mirror cannot do).
#
# The presets: "full" (default) is 20000 requests on a 16 GiB disk, "demo"
# 2000 requests on 1 GiB; --requests and --size override them.  Commands
# go to FILE or stdout; a summary (seed, counts, and how many "read",
# "wrote" and "discard" lines qemu-io prints if all goes well) goes to
# stdout with -o, else to stderr.
#
# SPDX-License-Identifier: GPL-2.0-or-later
#

import argparse
import sys

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

PRESETS = {
    'full': (20000, 16 * GiB),
    'demo': (2000, 1 * GiB),
}


class Rng:
    """splitmix64: small, fast, and the same everywhere"""

    def __init__(self, seed):
        self.state = seed & 0xffffffffffffffff

    def next(self):
        self.state = (self.state + 0x9e3779b97f4a7c15) & 0xffffffffffffffff
        z = self.state
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & 0xffffffffffffffff
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & 0xffffffffffffffff
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform in [0, n) (the modulo bias is negligible for our n)"""
        return self.next() % n

    def percent(self, p):
        return self.below(100) < p


def parse_size(text):
    units = {'': 1, 'b': 1, 'k': KiB, 'm': MiB, 'g': GiB, 't': 1024 * GiB}
    text = text.strip()
    suffix = text[-1:].lower() if text[-1:].isalpha() else ''
    number = text[:-1] if suffix else text
    try:
        value = int(number, 0) * units[suffix]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError('invalid size: %s' % text)
    if value <= 0:
        raise argparse.ArgumentTypeError('size must be positive: %s' % text)
    return value


class Workload:
    def __init__(self, rng, size, cluster, discard=True):
        self.rng = rng
        self.size = size
        self.cluster = cluster
        self.discard = discard
        self.out = []
        self.counts = dict(read=0, write=0, zero=0, discard=0, flush=0,
                           compressed=0, batches=0, queued=0, max_depth=0)
        self.requests = 0
        self.regions = self.make_regions()

    def make_regions(self):
        """Hot regions (start, length) and their weights"""
        span = max(self.cluster, min(4 * MiB, self.size // 8))
        span -= span % self.cluster
        l2_span = self.cluster * (self.cluster // 8)
        starts = [0, l2_span - span // 2, 4 * GiB - span // 2,
                  self.size - span]
        regions = []
        for start in starts:
            start = max(0, min(start, self.size - span))
            start -= start % self.cluster
            if (start, span) not in regions:
                regions.append((start, span))
        return regions

    def pick_range(self):
        """A request's offset and length (unaligned, clipped to the disk)"""
        rng = self.rng
        if rng.percent(3):
            start, length = 0, self.size        # anywhere on the disk
        else:
            start, length = self.regions[rng.below(len(self.regions))]
        off = start + rng.below(length)
        r = rng.below(100)
        if r < 25:
            off -= off % 512
        elif r < 45:
            off -= off % self.cluster
            if rng.percent(30) and off > 0:
                off -= 1 + rng.below(512)       # straddle a cluster start
        r = rng.below(100)
        if r < 40:
            n = 1 + rng.below(4 * KiB)
        elif r < 60:
            n = 512 * (1 + rng.below(16))
        elif r < 75:
            n = 4 * KiB * (1 + rng.below(16))
        elif r < 92:
            n = self.cluster * (1 + rng.below(4))
        else:
            n = 1 + rng.below(1 * MiB)
        off = min(off, self.size - 1)
        return off, min(n, self.size - off)

    def pick_clusters(self):
        """A cluster-aligned range (the end of the disk may be partial)"""
        off, _ = self.pick_range()
        off -= off % self.cluster
        n = self.cluster * (1 + self.rng.below(8))
        return off, min(n, self.size - off)

    def pattern(self):
        return '-P 0x%02x' % (1 + self.rng.below(255))

    def emit(self, cmd, kind):
        self.out.append(cmd)
        self.counts[kind] += 1
        self.requests += 1

    def sync_request(self):
        rng = self.rng
        r = rng.below(100)
        if r < 35:
            off, n = self.pick_range()
            if rng.percent(10) and n >= 2:
                cut = 1 + rng.below(n - 1)
                self.emit('readv %d %d %d' % (off, cut, n - cut), 'read')
            else:
                self.emit('read %d %d' % (off, n), 'read')
        elif r < 80:
            off, n = self.pick_range()
            fua = '-f ' if rng.percent(5) else ''
            if rng.percent(10) and n >= 2:
                cut = 1 + rng.below(n - 1)
                self.emit('writev %s%s %d %d %d' % (fua, self.pattern(), off,
                                                    cut, n - cut), 'write')
            else:
                self.emit('write %s%s %d %d' % (fua, self.pattern(), off, n),
                          'write')
        elif r < 90:
            off, n = self.pick_range()
            if rng.percent(30):
                off, n = self.pick_clusters()
            unmap = '-u ' if rng.percent(50) else ''
            self.emit('write -z %s%d %d' % (unmap, off, n), 'zero')
        elif r < 97:
            if not self.discard:
                self.emit('flush', 'flush')
                return
            off, n = self.pick_clusters()
            self.emit('discard %d %d' % (off, n), 'discard')
        else:
            self.emit('flush', 'flush')

    def compressed_writes(self, count):
        """Whole clusters written compressed, each at most once"""
        done = set()
        for _attempt in range(count * 8):
            if len(done) == count:
                break
            off, _ = self.pick_range()
            off -= off % self.cluster
            if off in done or off + self.cluster > self.size:
                continue
            done.add(off)
            self.emit('write -c %s %d %d' % (self.pattern(), off,
                                             self.cluster), 'compressed')

    def aio_batch(self, limit):
        """Up to 32 requests in flight; only reads may share bytes"""
        rng = self.rng
        depth = min(2 + rng.below(31), limit)
        reads, writes = [], []

        def overlaps(a, ranges):
            return any(a[0] < b[1] and b[0] < a[1] for b in ranges)

        queued = 0
        for _ in range(depth):
            for _attempt in range(8):
                off, n = self.pick_range()
                rng_ = (off, off + n)
                r = rng.below(100)
                if r < 40:
                    if overlaps(rng_, writes):
                        continue
                    reads.append(rng_)
                    self.emit('aio_read %d %d' % (off, n), 'read')
                elif r < 90:
                    if overlaps(rng_, writes) or overlaps(rng_, reads):
                        continue
                    writes.append(rng_)
                    self.emit('aio_write %s %d %d' % (self.pattern(), off, n),
                              'write')
                else:
                    if overlaps(rng_, writes) or overlaps(rng_, reads):
                        continue
                    writes.append(rng_)
                    self.emit('aio_write -z %d %d' % (off, n), 'zero')
                queued += 1
                break
        self.out.append('aio_flush')
        self.counts['batches'] += 1
        self.counts['queued'] += queued
        self.counts['max_depth'] = max(self.counts['max_depth'], queued)

    def generate(self, nr_requests, compressed=0):
        self.compressed_writes(compressed)
        while self.requests < nr_requests:
            left = nr_requests - self.requests
            if left >= 2 and self.rng.percent(5):
                self.aio_batch(left)
            else:
                self.sync_request()
        # Everything written must reach both images before the read-back
        self.out.append('flush')

    def read_back(self, chunk):
        off = 0
        reads = 0
        while off < self.size:
            n = min(chunk, self.size - off)
            self.out.append('read %d %d' % (off, n))
            off += n
            reads += 1
        return reads


def main():
    parser = argparse.ArgumentParser(
        description='Seeded random qemu-io workload for blkverify')
    parser.add_argument('--seed', type=int, default=1,
                        help='random seed (default 1)')
    parser.add_argument('--preset', choices=sorted(PRESETS), default='full',
                        help='full: 20000 requests on 16G; '
                             'demo: 2000 requests on 1G')
    parser.add_argument('--requests', type=int,
                        help='number of requests (overrides the preset)')
    parser.add_argument('--size', type=parse_size,
                        help='disk size (overrides the preset)')
    parser.add_argument('--cluster-size', type=parse_size, default=64 * KiB,
                        help='cluster size of the image under test '
                             '(default 64k)')
    parser.add_argument('--chunk', type=parse_size, default=64 * MiB,
                        help='request size of the read-back (default 64M)')
    parser.add_argument('--compressed', type=int, default=0, metavar='N',
                        help='begin with N compressed cluster writes')
    parser.add_argument('--no-discard', action='store_true',
                        help='no discard requests')
    parser.add_argument('--no-read-back', action='store_true',
                        help='do not read the whole disk at the end')
    parser.add_argument('-o', '--output', help='write commands to this file')
    args = parser.parse_args()

    nr_requests, size = PRESETS[args.preset]
    if args.requests is not None:
        nr_requests = args.requests
    if args.size is not None:
        size = args.size
    cluster = args.cluster_size
    if cluster & (cluster - 1) or not 512 <= cluster <= 2 * MiB:
        parser.error('cluster size must be a power of two from 512 to 2M')
    if nr_requests < 0 or args.compressed < 0:
        parser.error('number of requests must not be negative')

    w = Workload(Rng(args.seed), size, cluster, not args.no_discard)
    w.generate(nr_requests, args.compressed)
    read_back = 0 if args.no_read_back else w.read_back(args.chunk)

    text = '\n'.join(w.out) + '\n'
    if args.output:
        with open(args.output, 'w') as f:
            f.write(text)
        log = sys.stdout
    else:
        sys.stdout.write(text)
        log = sys.stderr

    c = w.counts
    comp = ''
    if c['compressed']:
        comp = '%d compressed writes, ' % c['compressed']
    print('qcow2-workload: seed %d, %d requests on %d bytes: %s%d reads, '
          '%d writes, %d zero writes, %d discards, %d flushes; '
          '%d aio batches of %d requests (depth up to %d)' %
          (args.seed, w.requests, size, comp, c['read'], c['write'],
           c['zero'], c['discard'], c['flush'], c['batches'], c['queued'],
           c['max_depth']), file=log)
    print('qcow2-workload: expect %d "read", %d "wrote" and %d "discard" '
          'lines (%d of the reads are the read-back)' %
          (c['read'] + read_back, c['write'] + c['zero'] + c['compressed'],
           c['discard'], read_back), file=log)
    return 0


if __name__ == '__main__':
    sys.exit(main())
