/*
 * Fuzz target: the NBD server's handshake and request parser
 *
 * The input is what a client sends: it is written into one end of a
 * socket pair while the server (nbd/server.c) serves a null-co export on
 * the other end; everything the server answers is read and dropped.  The
 * run ends when the server closes the connection, which it must do once
 * the input is exhausted.  Any crash, sanitizer report, leak or hang is a
 * bug: a client must not be able to do more than lose its connection.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <sys/socket.h>

#include "block/nbd.h"
#include "qemu/aio.h"
#include "qemu/error-report.h"
#include "sysemu/block-backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct FuzzPeer {
    int fd;
    const uint8_t *data;
    size_t left;
    bool closed;        /* the server tore the connection down */
} FuzzPeer;

static void fuzz_peer_update(FuzzPeer *p);

static void fuzz_peer_readable(void *opaque)
{
    FuzzPeer *p = opaque;
    char buf[65536];

    while (recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        /* drop the server's answers */
    }
}

static void fuzz_peer_writable(void *opaque)
{
    FuzzPeer *p = opaque;
    ssize_t n = send(p->fd, p->data, p->left, MSG_DONTWAIT | MSG_NOSIGNAL);

    if (n > 0) {
        p->data += n;
        p->left -= n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        p->left = 0;
    }
    if (p->left == 0) {
        /* End of input: the server sees EOF */
        shutdown(p->fd, SHUT_WR);
    }
    fuzz_peer_update(p);
}

static void fuzz_peer_update(FuzzPeer *p)
{
    aio_set_fd_handler(qemu_get_aio_context(), p->fd, fuzz_peer_readable,
                       p->left ? fuzz_peer_writable : NULL, p);
}

static void fuzz_client_closed(NBDClient *client, void *opaque)
{
    FuzzPeer *p = opaque;

    p->closed = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static NBDExport *exp;
    FuzzPeer peer = { .data = data, .left = size };
    int fds[2];

    if (!exp) {
        QDict *options = qdict_new();
        BlockBackend *blk;
        Error *err = NULL;

        bdrv_init();
        error_set_progname("fuzz-nbd-server");
        qdict_put_str(options, "driver", "null-co");
        qdict_put_str(options, "size", "67108864");
        qdict_put_str(options, "read-zeroes", "on");
        blk = blk_new_open(NULL, NULL, options, BDRV_O_RDWR, &err);
        if (!blk) {
            error_report_err(err);
            abort();
        }
        exp = nbd_export_new(blk, "", "fuzz export", false);
        blk_unref(blk);
    }

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        abort();
    }
    peer.fd = fds[0];
    fcntl(peer.fd, F_SETFL, fcntl(peer.fd, F_GETFL) | O_NONBLOCK);
    if (size == 0) {
        shutdown(peer.fd, SHUT_WR);
    }
    fuzz_peer_update(&peer);
    nbd_client_new(exp, fds[1], fuzz_client_closed, &peer);
    while (!peer.closed) {
        aio_poll(qemu_get_aio_context(), true);
    }
    aio_set_fd_handler(qemu_get_aio_context(), peer.fd, NULL, NULL, NULL);
    close(peer.fd);
    return 0;
}
