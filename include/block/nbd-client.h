/*
 * NBD client: connecting to a server and the handshake (nbd/client.c),
 * for the "nbd" block driver (block/nbd.c)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_NBD_CLIENT_H
#define BLOCK_NBD_CLIENT_H

#include "block/nbd.h"
#include "qapi/error.h"

/* Where the server listens */
typedef struct NBDServerAddress {
    bool is_unix;
    char *path;             /* unix socket */
    char *host;             /* inet */
    char *port;             /* inet, default NBD_DEFAULT_PORT */
} NBDServerAddress;

/* What the client asks for and what the handshake found */
typedef struct NBDExportInfo {
    /* In */
    const char *name;           /* export name, "" for the default */
    bool request_structured;    /* negotiate structured replies */
    bool request_allocation;    /* and the base:allocation context */

    /* Out */
    uint64_t size;
    uint16_t flags;             /* transmission flags */
    uint32_t min_block;         /* 0: the server told nothing */
    uint32_t opt_block;
    uint32_t max_block;
    bool structured_reply;
    bool base_allocation;
    uint32_t context_id;        /* of base:allocation */
} NBDExportInfo;

/*
 * Connect a blocking stream socket to @addr.  Returns the fd or -errno
 * with @errp set ("Failed to connect to '...': ...").
 */
int nbd_client_connect(const NBDServerAddress *addr, Error **errp);

/*
 * Run the handshake on the blocking socket @fd: fixed newstyle with
 * NBD_OPT_GO (NBD_OPT_EXPORT_NAME for servers without it) or oldstyle.
 * Returns 0 or -errno with @errp set.
 */
int nbd_client_handshake(int fd, NBDExportInfo *info, Error **errp);

/* Read or write exactly @len bytes on a blocking socket: 0 or -errno */
int nbd_read_full(int fd, void *buf, size_t len);
int nbd_write_full(int fd, const void *buf, size_t len);

#endif /* BLOCK_NBD_CLIENT_H */
