#!/usr/bin/env python3
#
# A misbehaving NBD client for the qemu-nbd tests: each case opens a new
# connection to the unix socket given as the first argument, breaks the
# protocol in one way and prints what the server answered.  Every socket
# operation has a timeout, so a server that hangs fails the test instead
# of blocking it.
#
# Usage: nbd-hostile.py SOCKET [readonly]
#
# SPDX-License-Identifier: GPL-2.0-or-later

import socket
import struct
import sys

NBDMAGIC = 0x4e42444d41474943
IHAVEOPT = 0x49484156454f5054
REP_MAGIC = 0x0003e889045565a9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698

OPT_STARTTLS = 5
OPT_GO = 7
OPT_UNKNOWN = 0x4242

CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2

ERRNAMES = {0: 'OK', 1: 'EPERM', 5: 'EIO', 22: 'EINVAL', 28: 'ENOSPC'}


def recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def closed(s):
    """True if the server hangs up (EOF) without sending anything more"""
    try:
        return s.recv(1) == b''
    except ConnectionResetError:
        return True


def connect(path, flags=3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    magic, opts, hflags = struct.unpack('>QQH', recv_exact(s, 18))
    assert magic == NBDMAGIC and opts == IHAVEOPT
    s.sendall(struct.pack('>I', flags))
    return s


def send_opt(s, opt, data=b''):
    s.sendall(struct.pack('>QII', IHAVEOPT, opt, len(data)) + data)


def recv_rep(s):
    magic, opt, typ, length = struct.unpack('>QIII', recv_exact(s, 20))
    assert magic == REP_MAGIC
    return opt, typ, recv_exact(s, length)


def go(path):
    """A connection in transmission phase, simple replies; returns (s, size)"""
    s = connect(path)
    send_opt(s, OPT_GO, struct.pack('>IH', 0, 0))
    size = None
    while True:
        opt, typ, data = recv_rep(s)
        if typ == 3 and struct.unpack('>H', data[:2])[0] == 0:
            size = struct.unpack('>Q', data[2:10])[0]
        if typ == 1:
            return s, size
        assert typ & 0x80000000 == 0, 'GO failed'


def request(s, typ, offset, length, flags=0, cookie=1, data=b''):
    s.sendall(struct.pack('>IHHQQI', REQUEST_MAGIC, flags, typ, cookie,
                          offset, length) + data)


def reply(s):
    magic, err, cookie = struct.unpack('>IIQ', recv_exact(s, 16))
    assert magic == SIMPLE_REPLY_MAGIC
    return err, cookie


def show(name, result):
    print('%s: %s' % (name, result))


def errname(err):
    return ERRNAMES.get(err, str(err))


def main():
    path = sys.argv[1]
    readonly = len(sys.argv) > 2 and sys.argv[2] == 'readonly'

    if readonly:
        s, size = go(path)
        request(s, CMD_WRITE, 0, 512, data=b'\xab' * 512)
        show('write on a read-only export', errname(reply(s)[0]))
        request(s, 4, 0, 512)
        show('trim on a read-only export', errname(reply(s)[0]))
        request(s, 6, 0, 512)
        show('write zeroes on a read-only export', errname(reply(s)[0]))
        request(s, CMD_READ, 0, 512)
        err, _ = reply(s)
        recv_exact(s, 512)
        show('read on a read-only export', errname(err))
        request(s, CMD_DISC, 0, 0)
        show('disconnect', 'closed' if closed(s) else 'still open')
        return

    s = connect(path, flags=0)
    show('client without fixed newstyle', 'closed' if closed(s) else 'open')

    s = connect(path)
    send_opt(s, OPT_UNKNOWN, b'junk')
    show('unknown option', hex(recv_rep(s)[1]))
    send_opt(s, OPT_STARTTLS)
    show('starttls', hex(recv_rep(s)[1]))
    s.sendall(struct.pack('>QII', 0x1234, OPT_GO, 0))
    show('bad option magic', 'closed' if closed(s) else 'open')

    s, size = go(path)
    request(s, CMD_READ, size, 512, cookie=7)
    err, cookie = reply(s)
    show('read past the end', '%s cookie %d' % (errname(err), cookie))
    request(s, CMD_READ, 2 ** 64 - 512, 1024)
    show('read with a wrapping range', errname(reply(s)[0]))
    request(s, CMD_WRITE, size - 256, 512, data=b'\0' * 512)
    show('write past the end', errname(reply(s)[0]))
    request(s, CMD_READ, 0, 64 * 1024 * 1024)
    show('read of 64 MiB', errname(reply(s)[0]))
    request(s, 99, 0, 512)
    show('unknown command', errname(reply(s)[0]))
    request(s, CMD_READ, 0, 512, flags=0x8000)
    show('unknown command flag', errname(reply(s)[0]))
    request(s, 7, 0, 512)
    show('block status without a context', errname(reply(s)[0]))
    request(s, CMD_READ, 0, 512, cookie=42)
    err, cookie = reply(s)
    recv_exact(s, 512)
    show('good read after the errors', '%s cookie %d' % (errname(err),
                                                          cookie))
    s.sendall(struct.pack('>IHHQQI', 0xdeadbeef, 0, CMD_READ, 1, 0, 512))
    show('bad request magic', 'closed' if closed(s) else 'open')

    s, size = go(path)
    request(s, CMD_WRITE, 0, 64 * 1024 * 1024)
    show('write of 64 MiB', 'closed' if closed(s) else 'open')

    s, size = go(path)
    request(s, CMD_WRITE, 0, 65536, data=b'\xcd' * 1000)
    s.close()
    show('disconnect in the middle of a write payload', 'done')

    s, size = go(path)
    for cookie in range(1, 9):
        request(s, CMD_READ, cookie * 4096, 4096, cookie=cookie)
    s.close()
    show('disconnect with reads in flight', 'done')

    s, size = go(path)
    request(s, CMD_READ, 0, 512, cookie=5)
    err, cookie = reply(s)
    recv_exact(s, 512)
    show('server still serving', '%s cookie %d' % (errname(err), cookie))
    request(s, CMD_DISC, 0, 0)
    show('disconnect', 'closed' if closed(s) else 'still open')


if __name__ == '__main__':
    main()
