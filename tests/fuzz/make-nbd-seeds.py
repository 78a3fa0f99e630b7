#!/usr/bin/env python3
# Seed corpus for fuzz-nbd-server: client streams that get through the
# handshake in the usual ways and then send a mix of requests.
# Usage: make-nbd-seeds.py OUT_DIR
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import struct
import sys

IHAVEOPT = 0x49484156454f5054
REQ = 0x25609513


def opt(o, data=b''):
    return struct.pack('>QII', IHAVEOPT, o, len(data)) + data


def req(typ, offset, length, flags=0, cookie=1, data=b''):
    return struct.pack('>IHHQQI', REQ, flags, typ, cookie, offset,
                       length) + data


def go(infos=(1, 2, 3)):
    return opt(7, struct.pack('>IH', 0, len(infos)) +
               b''.join(struct.pack('>H', i) for i in infos))


def meta(o, queries):
    body = struct.pack('>II', 0, len(queries))
    for q in queries:
        body += struct.pack('>I', len(q)) + q
    return opt(o, body)


flags = struct.pack('>I', 3)
requests = (req(0, 0, 4096, cookie=1) +
            req(1, 4096, 512, flags=1, cookie=2, data=b'\xa5' * 512) +
            req(6, 8192, 65536, flags=2, cookie=3) +
            req(4, 65536, 4096, cookie=4) +
            req(3, 0, 0, cookie=5) +
            req(5, 0, 4096, cookie=6) +
            req(7, 0, 1 << 20, flags=8, cookie=7) +
            req(0, 67108864 - 512, 1024, cookie=8) +
            req(2, 0, 0))

seeds = [
    flags + opt(0x42, b'x') + opt(5) + opt(3) + opt(1, b''),
    flags + opt(1, b'') + req(0, 0, 512) + req(2, 0, 0),
    flags + go() + requests,
    flags + opt(8) + meta(9, []) + meta(10, [b'base:allocation']) + go() +
    requests,
    flags + opt(8) + meta(9, [b'base:']) + opt(6, struct.pack('>IH', 0, 0)) +
    go(()) + req(0, 0, 65536, flags=4) + req(99, 0, 0) + req(2, 0, 0),
    struct.pack('>I', 1) + opt(2),
]

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for i, s in enumerate(seeds):
    with open(os.path.join(out, 'nbd-seed-%d' % (i + 1)), 'wb') as f:
        f.write(s)
