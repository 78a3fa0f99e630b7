/*
 * NBD client: connect to a server and negotiate an export
 *
 * Everything here runs on a blocking socket before the transmission
 * phase starts; the requests themselves are block/nbd.c's.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "qapi/error.h"
#include "block/nbd-client.h"

/* Longest option reply payload we read (a description, a context name) */
#define NBD_CLIENT_MAX_REPLY (64 * 1024)

int nbd_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -ECONNRESET;
        }
        p += n;
        len -= n;
    }
    return 0;
}

int nbd_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        len -= n;
    }
    return 0;
}

static int nbd_connect_unix(const char *path, Error **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path);
        return -EINVAL;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create socket");
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Failed to connect to '%s'", path);
        close(fd);
        return -err;
    }
    return fd;
}

static int nbd_connect_inet(const char *host, const char *port, Error **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
    };
    struct addrinfo *res, *ai;
    int err = ECONNREFUSED;
    int rc, fd = -1;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        error_setg(errp, "address resolution failed for %s:%s: %s",
                   host, port, gai_strerror(rc));
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, err, "Failed to connect to '%s:%s'",
                         host, port);
        return -err;
    }
    rc = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &rc, sizeof(rc));
    return fd;
}

int nbd_client_connect(const NBDServerAddress *addr, Error **errp)
{
    if (addr->is_unix) {
        return nbd_connect_unix(addr->path, errp);
    }
    return nbd_connect_inet(addr->host,
                            addr->port ? addr->port : G_STRINGIFY(
                                NBD_DEFAULT_PORT), errp);
}

/* Handshake I/O: any failure of the socket itself is one message */
static int nbd_hs_read(int fd, void *buf, size_t len, const char *what,
                       Error **errp)
{
    int ret = nbd_read_full(fd, buf, len);

    if (ret < 0) {
        if (ret == -ECONNRESET) {
            error_setg(errp, "Server closed the connection while reading %s",
                       what);
        } else {
            error_setg_errno(errp, -ret, "Failed to read %s", what);
        }
    }
    return ret;
}

static int nbd_send_option(int fd, uint32_t opt, const void *data,
                           uint32_t len, Error **errp)
{
    NBDOption hdr = {
        .magic = GUINT64_TO_BE(NBD_OPTS_MAGIC),
        .option = GUINT32_TO_BE(opt),
        .length = GUINT32_TO_BE(len),
    };
    int ret;

    ret = nbd_write_full(fd, &hdr, sizeof(hdr));
    if (ret == 0 && len) {
        ret = nbd_write_full(fd, data, len);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to send option %s",
                         nbd_opt_lookup(opt));
    }
    return ret;
}

/*
 * Read one option reply header for @opt and its payload (g_free it).
 * Returns 0 with *type set, or -errno.
 */
static int nbd_read_option_reply(int fd, uint32_t opt, uint32_t *type,
                                 char **payload, uint32_t *len, Error **errp)
{
    NBDOptionReply rep;
    int ret;

    *payload = NULL;
    ret = nbd_hs_read(fd, &rep, sizeof(rep), "option reply", errp);
    if (ret < 0) {
        return ret;
    }
    if (GUINT64_FROM_BE(rep.magic) != NBD_REP_MAGIC) {
        error_setg(errp, "Unexpected option reply magic");
        return -EINVAL;
    }
    if (GUINT32_FROM_BE(rep.option) != opt) {
        error_setg(errp, "Unexpected option type %u in reply to %s",
                   GUINT32_FROM_BE(rep.option), nbd_opt_lookup(opt));
        return -EINVAL;
    }
    *type = GUINT32_FROM_BE(rep.type);
    *len = GUINT32_FROM_BE(rep.length);
    if (*len > NBD_CLIENT_MAX_REPLY) {
        error_setg(errp, "Option reply of %u bytes is too long", *len);
        return -EINVAL;
    }
    *payload = g_malloc(*len + 1);
    ret = nbd_hs_read(fd, *payload, *len, "option reply payload", errp);
    if (ret < 0) {
        g_free(*payload);
        *payload = NULL;
        return ret;
    }
    (*payload)[*len] = '\0';
    return 0;
}

/*
 * An error reply to @opt: the message for the user, with what the server
 * said as a hint.  Returns -errno.
 */
static int nbd_option_error(uint32_t opt, uint32_t type, const char *msg,
                            uint32_t len, Error **errp)
{
    switch (type) {
    case NBD_REP_ERR_UNKNOWN:
        error_setg(errp, "Requested export not available");
        break;
    case NBD_REP_ERR_POLICY:
        error_setg(errp, "Denied by server for option %u (%s)",
                   opt, nbd_opt_lookup(opt));
        break;
    case NBD_REP_ERR_TLS_REQD:
        error_setg(errp, "TLS negotiation required before option %u (%s)",
                   opt, nbd_opt_lookup(opt));
        break;
    case NBD_REP_ERR_SHUTDOWN:
        error_setg(errp, "Server shutting down before option %u (%s)",
                   opt, nbd_opt_lookup(opt));
        break;
    default:
        error_setg(errp, "Option %u (%s) failed: %s",
                   opt, nbd_opt_lookup(opt), nbd_rep_lookup(type));
        break;
    }
    if (len) {
        error_append_hint(errp, "server reported: %s\n", msg);
    }
    return -EINVAL;
}

/*
 * NBD_OPT_STRUCTURED_REPLY: true if the server acknowledged, false if it
 * refused; -errno for a broken conversation.
 */
static int nbd_negotiate_structured(int fd, Error **errp)
{
    g_autofree char *payload = NULL;
    uint32_t type, len;
    int ret;

    ret = nbd_send_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, errp);
    if (ret < 0) {
        return ret;
    }
    ret = nbd_read_option_reply(fd, NBD_OPT_STRUCTURED_REPLY, &type,
                                &payload, &len, errp);
    if (ret < 0) {
        return ret;
    }
    if (type == NBD_REP_ACK) {
        return 1;
    }
    if (NBD_REP_IS_ERR(type)) {
        return 0;
    }
    error_setg(errp, "Unexpected reply %s to NBD_OPT_STRUCTURED_REPLY",
               nbd_rep_lookup(type));
    return -EINVAL;
}

static void put_be32(GByteArray *a, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    g_byte_array_append(a, (guint8 *)&v, 4);
}

static void put_be16(GByteArray *a, uint16_t v)
{
    v = GUINT16_TO_BE(v);
    g_byte_array_append(a, (guint8 *)&v, 2);
}

/* NBD_OPT_SET_META_CONTEXT for base:allocation on @info->name */
static int nbd_negotiate_meta(int fd, NBDExportInfo *info, Error **errp)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    const char *ctx = NBD_META_BASE_ALLOCATION;
    int ret;

    put_be32(a, strlen(info->name));
    g_byte_array_append(a, (guint8 *)info->name, strlen(info->name));
    put_be32(a, 1);
    put_be32(a, strlen(ctx));
    g_byte_array_append(a, (guint8 *)ctx, strlen(ctx));
    ret = nbd_send_option(fd, NBD_OPT_SET_META_CONTEXT, a->data, a->len,
                          errp);
    if (ret < 0) {
        return ret;
    }
    for (;;) {
        g_autofree char *payload = NULL;
        uint32_t type, len;

        ret = nbd_read_option_reply(fd, NBD_OPT_SET_META_CONTEXT, &type,
                                    &payload, &len, errp);
        if (ret < 0) {
            return ret;
        }
        if (type == NBD_REP_ACK) {
            return 0;
        }
        if (NBD_REP_IS_ERR(type)) {
            /* No block status then; the export may still be fine */
            return 0;
        }
        if (type != NBD_REP_META_CONTEXT || len < 4) {
            error_setg(errp, "Unexpected reply %s to "
                       "NBD_OPT_SET_META_CONTEXT", nbd_rep_lookup(type));
            return -EINVAL;
        }
        if (len - 4 == strlen(ctx) && !memcmp(payload + 4, ctx, len - 4)) {
            uint32_t id;

            memcpy(&id, payload, 4);
            info->context_id = GUINT32_FROM_BE(id);
            info->base_allocation = true;
        }
    }
}

/* The 8 bytes of size and 2 of flags that INFO_EXPORT and EXPORT_NAME give */
static void nbd_set_export(NBDExportInfo *info, const char *p)
{
    uint64_t size;
    uint16_t flags;

    memcpy(&size, p, 8);
    memcpy(&flags, p + 8, 2);
    info->size = GUINT64_FROM_BE(size);
    info->flags = GUINT16_FROM_BE(flags);
}

static bool is_pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

/*
 * NBD_OPT_GO.  Returns 1 when the export is open, 0 when the server does
 * not know the option (the caller falls back to EXPORT_NAME), -errno.
 */
static int nbd_opt_go(int fd, NBDExportInfo *info, Error **errp)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    bool have_export = false;
    int ret;

    put_be32(a, strlen(info->name));
    g_byte_array_append(a, (guint8 *)info->name, strlen(info->name));
    put_be16(a, 1);
    put_be16(a, NBD_INFO_BLOCK_SIZE);
    ret = nbd_send_option(fd, NBD_OPT_GO, a->data, a->len, errp);
    if (ret < 0) {
        return ret;
    }
    for (;;) {
        g_autofree char *payload = NULL;
        uint32_t type, len;
        uint16_t info_type;

        ret = nbd_read_option_reply(fd, NBD_OPT_GO, &type, &payload, &len,
                                    errp);
        if (ret < 0) {
            return ret;
        }
        if (type == NBD_REP_ACK) {
            if (!have_export) {
                error_setg(errp, "Server did not describe the export");
                return -EINVAL;
            }
            return 1;
        }
        if (type == NBD_REP_ERR_UNSUP) {
            return 0;
        }
        if (NBD_REP_IS_ERR(type)) {
            return nbd_option_error(NBD_OPT_GO, type, payload, len, errp);
        }
        if (type != NBD_REP_INFO || len < 2) {
            error_setg(errp, "Unexpected reply %s to NBD_OPT_GO",
                       nbd_rep_lookup(type));
            return -EINVAL;
        }
        memcpy(&info_type, payload, 2);
        switch (GUINT16_FROM_BE(info_type)) {
        case NBD_INFO_EXPORT:
            if (len != sizeof(NBDInfoExport)) {
                error_setg(errp, "Invalid NBD_INFO_EXPORT length %u", len);
                return -EINVAL;
            }
            nbd_set_export(info, payload + 2);
            have_export = true;
            break;
        case NBD_INFO_BLOCK_SIZE: {
            NBDInfoBlockSize bs;

            if (len != sizeof(bs)) {
                error_setg(errp, "Invalid NBD_INFO_BLOCK_SIZE length %u", len);
                return -EINVAL;
            }
            memcpy(&bs, payload, sizeof(bs));
            info->min_block = GUINT32_FROM_BE(bs.minimum);
            info->opt_block = GUINT32_FROM_BE(bs.preferred);
            info->max_block = GUINT32_FROM_BE(bs.maximum);
            if (!is_pow2(info->min_block) || info->min_block > 64 * KiB) {
                error_setg(errp, "Server minimum block size %u is not a "
                           "power of two up to 64 KiB", info->min_block);
                return -EINVAL;
            }
            if (info->max_block < info->min_block) {
                error_setg(errp, "Server maximum block size %u is smaller "
                           "than its minimum %u", info->max_block,
                           info->min_block);
                return -EINVAL;
            }
            break;
        }
        default:
            /* Names and descriptions are of no use to the driver */
            break;
        }
    }
}

/* NBD_OPT_EXPORT_NAME, the end of the handshake for older servers */
static int nbd_opt_export_name(int fd, NBDExportInfo *info, bool no_zeroes,
                               Error **errp)
{
    char buf[10 + 124];
    int ret;

    ret = nbd_send_option(fd, NBD_OPT_EXPORT_NAME, info->name,
                          strlen(info->name), errp);
    if (ret < 0) {
        return ret;
    }
    ret = nbd_hs_read(fd, buf, no_zeroes ? 10 : sizeof(buf),
                      "export information", errp);
    if (ret < 0) {
        return ret;
    }
    nbd_set_export(info, buf);
    return 0;
}

int nbd_client_handshake(int fd, NBDExportInfo *info, Error **errp)
{
    uint64_t magic;
    uint16_t hs_flags;
    uint32_t client_flags;
    int ret;

    info->structured_reply = false;
    info->base_allocation = false;
    info->min_block = info->opt_block = info->max_block = 0;

    ret = nbd_hs_read(fd, &magic, 8, "initial magic", errp);
    if (ret < 0) {
        return ret;
    }
    if (GUINT64_FROM_BE(magic) != NBD_INIT_MAGIC) {
        error_setg(errp, "Invalid magic received");
        return -EINVAL;
    }
    ret = nbd_hs_read(fd, &magic, 8, "server magic", errp);
    if (ret < 0) {
        return ret;
    }
    magic = GUINT64_FROM_BE(magic);

    if (magic == NBD_CLIENT_MAGIC) {
        /* Oldstyle: size, 32-bit flags (transmission flags low), zeroes */
        char buf[8 + 4 + 124];
        uint32_t flags;

        if (*info->name) {
            error_setg(errp, "Server does not support non-empty export "
                       "names");
            return -EINVAL;
        }
        ret = nbd_hs_read(fd, buf, sizeof(buf), "export information", errp);
        if (ret < 0) {
            return ret;
        }
        memcpy(&info->size, buf, 8);
        info->size = GUINT64_FROM_BE(info->size);
        memcpy(&flags, buf + 8, 4);
        info->flags = GUINT32_FROM_BE(flags) & 0xffff;
        return 0;
    }
    if (magic != NBD_OPTS_MAGIC) {
        error_setg(errp, "Bad server magic received");
        return -EINVAL;
    }

    ret = nbd_hs_read(fd, &hs_flags, 2, "server flags", errp);
    if (ret < 0) {
        return ret;
    }
    hs_flags = GUINT16_FROM_BE(hs_flags);
    client_flags = 0;
    if (hs_flags & NBD_FLAG_FIXED_NEWSTYLE) {
        client_flags |= NBD_FLAG_C_FIXED_NEWSTYLE;
    }
    if (hs_flags & NBD_FLAG_NO_ZEROES) {
        client_flags |= NBD_FLAG_C_NO_ZEROES;
    }
    client_flags = GUINT32_TO_BE(client_flags);
    ret = nbd_write_full(fd, &client_flags, 4);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to send client flags");
        return ret;
    }

    if (!(hs_flags & NBD_FLAG_FIXED_NEWSTYLE)) {
        /* Unfixed newstyle servers need not answer options at all */
        return nbd_opt_export_name(fd, info, hs_flags & NBD_FLAG_NO_ZEROES,
                                   errp);
    }

    if (info->request_structured) {
        ret = nbd_negotiate_structured(fd, errp);
        if (ret < 0) {
            return ret;
        }
        info->structured_reply = ret;
        if (info->structured_reply && info->request_allocation) {
            ret = nbd_negotiate_meta(fd, info, errp);
            if (ret < 0) {
                return ret;
            }
        }
    }

    ret = nbd_opt_go(fd, info, errp);
    if (ret < 0) {
        return ret;
    }
    if (ret == 0) {
        ret = nbd_opt_export_name(fd, info, hs_flags & NBD_FLAG_NO_ZEROES,
                                  errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}
