/*
 * NBD protocol driver ("nbd"): a node whose data lives on an NBD server
 *
 * One connection per node.  Any number of request coroutines send on it
 * (one at a time, under send_mutex) and then sleep; one reader coroutine
 * reads every reply, puts READ data straight into the waiting request's
 * buffers and wakes the request whose handle the reply names.  When the
 * connection breaks, the reader fails every request in flight and every
 * later request fails at once: nothing waits for a server that is gone.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "block/block_int.h"
#include "block/nbd-client.h"

#define NBD_OPT_SERVER_TYPE  "server.type"
#define NBD_OPT_SERVER_PATH  "server.path"
#define NBD_OPT_SERVER_HOST  "server.host"
#define NBD_OPT_SERVER_PORT  "server.port"
#define NBD_OPT_EXPORT       "export"

/* Requests in flight on one connection */
#define NBD_MAX_REQUESTS     16
/* Socket I/O goes through a bounce buffer of this size */
#define NBD_IO_CHUNK         (64 * KiB)

typedef struct NBDRequest {
    Coroutine *co;              /* sleeping until done */
    uint16_t type;
    uint64_t offset;
    uint32_t len;
    QEMUIOVector *qiov;         /* READ: where the data goes */
    int ret;
    bool done;
    bool waiting;               /* co sleeps in the reply wait, wake it */
    /* BLOCK_STATUS: the first extent of the reply */
    bool have_extent;
    uint32_t extent_len;
    uint32_t extent_flags;
} NBDRequest;

typedef struct BDRVNBDState {
    int fd;
    NBDServerAddress addr;
    char *export;               /* NULL: not given (the default export) */
    NBDExportInfo info;

    CoMutex send_mutex;
    CoQueue free_slots;         /* requests waiting for a slot */
    NBDRequest *requests[NBD_MAX_REQUESTS];
    unsigned in_flight;

    Coroutine *reader_co;       /* NULL once the reader has ended */
    bool reader_waiting;        /* reader sleeps until the fd is readable */
    Coroutine *send_co;         /* sender sleeps until it is writable */
    bool dead;                  /* connection broken: all requests fail */
    bool quit;                  /* closing: the reader must end */
    uint8_t *rbuf;              /* reader's bounce buffer */
} BDRVNBDState;

/* ---- Filenames and options ---- */

/* Decode %XX escapes of a URI component; NULL if malformed */
static char *nbd_uri_unescape(const char *s, size_t len)
{
    GString *out = g_string_sized_new(len);
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len) {
                g_string_free(out, true);
                return NULL;
            }
            if (!g_ascii_isxdigit(s[i + 1]) || !g_ascii_isxdigit(s[i + 2])) {
                g_string_free(out, true);
                return NULL;
            }
            g_string_append_c(out, g_ascii_xdigit_value(s[i + 1]) * 16 +
                                   g_ascii_xdigit_value(s[i + 2]));
            i += 2;
        } else {
            g_string_append_c(out, s[i]);
        }
    }
    return g_string_free(out, false);
}

/*
 * nbd[+tcp]://HOST[:PORT][/EXPORT] and nbd+unix://[/EXPORT]?socket=PATH.
 * Returns false for anything else (the caller says "No valid URL").
 */
static bool nbd_parse_uri(const char *filename, QDict *options)
{
    g_autofree char *host = NULL, *port = NULL, *export = NULL;
    g_autofree char *socket_path = NULL;
    const char *rest, *auth_end, *query, *path_end;
    bool is_unix;

    if (strstart(filename, "nbd://", &rest) ||
        strstart(filename, "nbd+tcp://", &rest)) {
        is_unix = false;
    } else if (strstart(filename, "nbd+unix://", &rest)) {
        is_unix = true;
    } else {
        return false;
    }
    if (strchr(rest, '#')) {
        return false;
    }
    auth_end = rest + strcspn(rest, "/?");
    query = strchr(rest, '?');
    path_end = query ? query : rest + strlen(rest);

    /* Authority: [host] or host, then :port */
    if (auth_end > rest) {
        const char *h = rest, *h_end, *colon;

        if (is_unix || memchr(rest, '@', auth_end - rest)) {
            return false;
        }
        if (*h == '[') {
            h_end = memchr(h, ']', auth_end - h);
            if (!h_end) {
                return false;
            }
            host = g_strndup(h + 1, h_end - h - 1);
            colon = h_end + 1 < auth_end ? h_end + 1 : NULL;
            if (colon && *colon != ':') {
                return false;
            }
        } else {
            colon = memchr(h, ':', auth_end - h);
            h_end = colon ? colon : auth_end;
            host = nbd_uri_unescape(h, h_end - h);
            if (!host) {
                return false;
            }
        }
        if (colon) {
            const char *p;

            for (p = colon + 1; p < auth_end; p++) {
                if (!g_ascii_isdigit(*p)) {
                    return false;
                }
            }
            if (p > colon + 1) {
                port = g_strndup(colon + 1, auth_end - colon - 1);
            }
        }
    }
    if (!is_unix && (!host || !*host)) {
        return false;
    }

    /* Path: "/EXPORT"; "" or "/" is the default export */
    if (auth_end < path_end) {
        const char *p = auth_end;

        if (*p == '/') {
            p++;
        }
        if (p < path_end) {
            export = nbd_uri_unescape(p, path_end - p);
            if (!export) {
                return false;
            }
        }
    }

    /* Query: exactly socket=PATH for unix, nothing for tcp */
    if (is_unix) {
        if (!query || !strstart(query + 1, "socket=", &rest) ||
            strchr(rest, '&') || strchr(rest, ';')) {
            return false;
        }
        socket_path = nbd_uri_unescape(rest, strlen(rest));
        if (!socket_path) {
            return false;
        }
    } else if (query && query[1]) {
        return false;
    }

    if (is_unix) {
        qdict_put_str(options, NBD_OPT_SERVER_TYPE, "unix");
        qdict_put_str(options, NBD_OPT_SERVER_PATH, socket_path);
    } else {
        qdict_put_str(options, NBD_OPT_SERVER_TYPE, "inet");
        qdict_put_str(options, NBD_OPT_SERVER_HOST, host);
        qdict_put_str(options, NBD_OPT_SERVER_PORT,
                      port ? port : G_STRINGIFY(NBD_DEFAULT_PORT));
    }
    if (export) {
        qdict_put_str(options, NBD_OPT_EXPORT, export);
    }
    return true;
}

/* nbd:unix:PATH[:exportname=X] and nbd:HOST:PORT[:exportname=X] */
static void nbd_parse_legacy(const char *filename, QDict *options,
                             Error **errp)
{
    g_autofree char *file = g_strdup(filename);
    const char *spec, *path;
    char *export, *colon;

    export = strstr(file, ":exportname=");
    if (export) {
        *export = '\0';
        export += strlen(":exportname=");
    }
    if (!strstart(file, "nbd:", &spec)) {
        error_setg(errp, "File name string must start with 'nbd:'");
        return;
    }
    if (!*spec) {
        /* Leave it to open: "NBD server address missing" */
        goto done;
    }
    if (strstart(spec, "unix:", &path)) {
        qdict_put_str(options, NBD_OPT_SERVER_TYPE, "unix");
        qdict_put_str(options, NBD_OPT_SERVER_PATH, path);
        goto done;
    }
    colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) {
        error_setg(errp, "error parsing address '%s'", spec);
        return;
    }
    *colon = '\0';
    qdict_put_str(options, NBD_OPT_SERVER_TYPE, "inet");
    if (spec[0] == '[' && colon[-1] == ']') {
        colon[-1] = '\0';
        spec++;
    }
    qdict_put_str(options, NBD_OPT_SERVER_HOST, spec);
    qdict_put_str(options, NBD_OPT_SERVER_PORT, colon + 1);
done:
    if (export) {
        qdict_put_str(options, NBD_OPT_EXPORT, export);
    }
}

static void nbd_parse_filename(const char *filename, QDict *options,
                               Error **errp)
{
    if (qdict_haskey(options, NBD_OPT_EXPORT) ||
        qdict_haskey(options, "path") || qdict_haskey(options, "host") ||
        qdict_haskey(options, "port") ||
        qdict_count_prefixed_entries(options, "server.")) {
        error_setg(errp, "No server address or export name may be given "
                   "together with a filename");
        return;
    }
    if (strstr(filename, "://")) {
        if (!nbd_parse_uri(filename, options)) {
            error_setg(errp, "No valid URL specified");
        }
        return;
    }
    nbd_parse_legacy(filename, options, errp);
}

/* Take option @key out of @options as a new string (NULL if absent) */
static char *nbd_take_opt(QDict *options, const char *key)
{
    char *v = g_strdup(qdict_get_try_str(options, key));

    qdict_del(options, key);
    return v;
}

/* Fill s->addr and s->export from the options (consuming them) */
static bool nbd_read_options(BDRVNBDState *s, QDict *options, Error **errp)
{
    g_autofree char *type = NULL, *path = NULL, *host = NULL, *port = NULL;
    g_autofree char *legacy_path = NULL, *legacy_host = NULL;
    g_autofree char *legacy_port = NULL;

    type = nbd_take_opt(options, NBD_OPT_SERVER_TYPE);
    path = nbd_take_opt(options, NBD_OPT_SERVER_PATH);
    host = nbd_take_opt(options, NBD_OPT_SERVER_HOST);
    port = nbd_take_opt(options, NBD_OPT_SERVER_PORT);
    legacy_path = nbd_take_opt(options, "path");
    legacy_host = nbd_take_opt(options, "host");
    legacy_port = nbd_take_opt(options, "port");
    s->export = nbd_take_opt(options, NBD_OPT_EXPORT);
    qdict_del(options, "filename");

    if (qdict_haskey(options, "tls-creds") ||
        qdict_haskey(options, "tls-hostname")) {
        error_setg(errp, "NBD over TLS is not supported");
        return false;
    }

    if (legacy_path || legacy_host || legacy_port) {
        if (type || path || host || port) {
            error_setg(errp, "Cannot use 'server' and path/host/port at the "
                       "same time");
            return false;
        }
        if (legacy_path && legacy_host) {
            error_setg(errp, "path and host may not be used at the same "
                       "time");
            return false;
        }
        if (legacy_path) {
            if (legacy_port) {
                error_setg(errp, "port may not be used without host");
                return false;
            }
            type = g_strdup("unix");
            path = g_steal_pointer(&legacy_path);
        } else if (legacy_host) {
            type = g_strdup("inet");
            host = g_steal_pointer(&legacy_host);
            port = legacy_port ? g_steal_pointer(&legacy_port)
                               : g_strdup(G_STRINGIFY(NBD_DEFAULT_PORT));
        }
    }

    if (!type) {
        if (path || host || port) {
            error_setg(errp, "Parameter 'type' is missing");
        } else {
            error_setg(errp, "NBD server address missing");
        }
        return false;
    }
    if (!strcmp(type, "unix")) {
        if (!path) {
            error_setg(errp, "Parameter 'path' is missing");
            return false;
        }
        s->addr.is_unix = true;
        s->addr.path = g_steal_pointer(&path);
    } else if (!strcmp(type, "inet")) {
        if (!host) {
            error_setg(errp, "Parameter 'host' is missing");
            return false;
        }
        if (!port) {
            error_setg(errp, "Parameter 'port' is missing");
            return false;
        }
        s->addr.host = g_steal_pointer(&host);
        s->addr.port = g_steal_pointer(&port);
    } else {
        error_setg(errp, "Parameter 'server.type' does not accept value "
                   "'%s'", type);
        return false;
    }
    if (s->export && strlen(s->export) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export name too long to send to server");
        return false;
    }
    return true;
}

/* ---- Socket I/O in coroutines ---- */

static void nbd_read_ready(void *opaque);
static void nbd_write_ready(void *opaque);

static void nbd_update_handlers(BDRVNBDState *s)
{
    aio_set_fd_handler(qemu_get_aio_context(), s->fd,
                       s->reader_waiting ? nbd_read_ready : NULL,
                       s->send_co ? nbd_write_ready : NULL, s);
}

static void nbd_read_ready(void *opaque)
{
    BDRVNBDState *s = opaque;

    s->reader_waiting = false;
    nbd_update_handlers(s);
    aio_co_wake(s->reader_co);
}

static void nbd_write_ready(void *opaque)
{
    BDRVNBDState *s = opaque;
    Coroutine *co = s->send_co;

    s->send_co = NULL;
    nbd_update_handlers(s);
    aio_co_wake(co);
}

/* Reader side: exactly @len bytes, -ECONNRESET on end of stream */
static int coroutine_fn nbd_co_recv(BDRVNBDState *s, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n;

        if (s->quit) {
            return -ESHUTDOWN;
        }
        n = recv(s->fd, p, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                s->reader_waiting = true;
                nbd_update_handlers(s);
                qemu_coroutine_yield();
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

/* Reader side: @len bytes into @qiov at @qiov_offset (NULL: discard) */
static int coroutine_fn nbd_co_recv_qiov(BDRVNBDState *s, QEMUIOVector *qiov,
                                         size_t qiov_offset, size_t len)
{
    while (len > 0) {
        size_t n = MIN(len, NBD_IO_CHUNK);
        int ret = nbd_co_recv(s, s->rbuf, n);

        if (ret < 0) {
            return ret;
        }
        if (qiov) {
            qemu_iovec_from_buf(qiov, qiov_offset, s->rbuf, n);
            qiov_offset += n;
        }
        len -= n;
    }
    return 0;
}

/* Sender side (send_mutex held): exactly @len bytes */
static int coroutine_fn nbd_co_send(BDRVNBDState *s, const void *buf,
                                    size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n;

        if (s->dead) {
            return -EIO;
        }
        n = send(s->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                s->send_co = qemu_coroutine_self();
                nbd_update_handlers(s);
                qemu_coroutine_yield();
                continue;
            }
            return -errno;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* ---- The reader ---- */

/*
 * @req is complete.  Its coroutine is woken only if it already sleeps
 * waiting for the reply; one that is still sending (or waiting for the
 * send lock) finds req->done when it gets there.
 */
static void nbd_request_done(NBDRequest *req)
{
    req->done = true;
    if (req->waiting) {
        req->waiting = false;
        aio_co_wake(req->co);
    }
}

/*
 * The connection is unusable: fail every request in flight (and, through
 * s->dead, every later one).  Said once, unless we are closing anyway.
 */
static void nbd_connection_lost(BDRVNBDState *s, const char *why)
{
    int i;

    if (!s->dead && !s->quit) {
        error_report("NBD connection to the server lost: %s", why);
    }
    s->dead = true;
    shutdown(s->fd, SHUT_RDWR);
    for (i = 0; i < NBD_MAX_REQUESTS; i++) {
        NBDRequest *req = s->requests[i];

        if (req && !req->done) {
            req->ret = -EIO;
            nbd_request_done(req);
        }
    }
    if (s->send_co) {
        Coroutine *co = s->send_co;

        s->send_co = NULL;
        aio_co_wake(co);
    }
    s->reader_waiting = false;
    nbd_update_handlers(s);
    qemu_co_queue_restart_all(&s->free_slots);
}

static NBDRequest *nbd_find_request(BDRVNBDState *s, uint64_t handle)
{
    if (handle >= NBD_MAX_REQUESTS || !s->requests[handle] ||
        s->requests[handle]->done) {
        return NULL;
    }
    return s->requests[handle];
}

/* A simple reply; -errno with *why set for a protocol error */
static int coroutine_fn nbd_co_simple_reply(BDRVNBDState *s, const char **why)
{
    NBDSimpleReply rep;
    NBDRequest *req;
    uint32_t err;
    int ret;

    ret = nbd_co_recv(s, (char *)&rep + 4, sizeof(rep) - 4);
    if (ret < 0) {
        return ret;
    }
    req = nbd_find_request(s, GUINT64_FROM_BE(rep.cookie));
    if (!req) {
        *why = "reply for an unknown handle";
        return -EINVAL;
    }
    err = GUINT32_FROM_BE(rep.error);
    if (err) {
        req->ret = -nbd_errno_from_wire(err);
    } else if (req->type == NBD_CMD_READ) {
        if (s->info.structured_reply) {
            *why = "simple reply with data after structured replies were "
                   "negotiated";
            return -EINVAL;
        }
        ret = nbd_co_recv_qiov(s, req->qiov, 0, req->len);
        if (ret < 0) {
            return ret;
        }
    } else if (req->type == NBD_CMD_BLOCK_STATUS) {
        *why = "simple reply to NBD_CMD_BLOCK_STATUS";
        return -EINVAL;
    }
    nbd_request_done(req);
    return 0;
}

/* The payload of one structured reply chunk of @len bytes for @req */
static int coroutine_fn nbd_co_chunk(BDRVNBDState *s, NBDRequest *req,
                                     uint16_t type, uint32_t len,
                                     const char **why)
{
    uint64_t offset;
    int ret;

    switch (type) {
    case NBD_REPLY_TYPE_NONE:
        if (len) {
            *why = "NBD_REPLY_TYPE_NONE with a payload";
            return -EINVAL;
        }
        return 0;

    case NBD_REPLY_TYPE_OFFSET_DATA:
    case NBD_REPLY_TYPE_OFFSET_HOLE: {
        uint32_t data_len;

        if (req->type != NBD_CMD_READ ||
            len < sizeof(offset) + (type == NBD_REPLY_TYPE_OFFSET_HOLE ?
                                    4 : 1) ||
            (type == NBD_REPLY_TYPE_OFFSET_HOLE && len != 12)) {
            *why = "invalid read chunk";
            return -EINVAL;
        }
        ret = nbd_co_recv(s, &offset, sizeof(offset));
        if (ret < 0) {
            return ret;
        }
        offset = GUINT64_FROM_BE(offset);
        if (type == NBD_REPLY_TYPE_OFFSET_HOLE) {
            ret = nbd_co_recv(s, &data_len, 4);
            if (ret < 0) {
                return ret;
            }
            data_len = GUINT32_FROM_BE(data_len);
        } else {
            data_len = len - sizeof(offset);
        }
        if (offset < req->offset || data_len == 0 ||
            offset - req->offset > req->len ||
            data_len > req->len - (offset - req->offset)) {
            *why = "read chunk outside the request";
            return -EINVAL;
        }
        if (type == NBD_REPLY_TYPE_OFFSET_HOLE) {
            qemu_iovec_memset(req->qiov, offset - req->offset, 0, data_len);
            return 0;
        }
        return nbd_co_recv_qiov(s, req->qiov, offset - req->offset,
                                data_len);
    }

    case NBD_REPLY_TYPE_BLOCK_STATUS: {
        struct {
            uint32_t id;
            NBDExtent ext;
        } QEMU_PACKED bs;

        if (req->type != NBD_CMD_BLOCK_STATUS || len < sizeof(bs) ||
            (len - 4) % sizeof(NBDExtent)) {
            *why = "invalid block status chunk";
            return -EINVAL;
        }
        ret = nbd_co_recv(s, &bs, sizeof(bs));
        if (ret < 0) {
            return ret;
        }
        if (GUINT32_FROM_BE(bs.id) != s->info.context_id ||
            req->have_extent || !bs.ext.length) {
            *why = "unexpected block status chunk";
            return -EINVAL;
        }
        req->have_extent = true;
        req->extent_len = GUINT32_FROM_BE(bs.ext.length);
        req->extent_flags = GUINT32_FROM_BE(bs.ext.flags);
        /* We asked for one extent; ignore any more */
        return nbd_co_recv_qiov(s, NULL, 0, len - sizeof(bs));
    }

    default:
        if (NBD_REPLY_TYPE_IS_ERR(type)) {
            NBDStructuredError e;
            uint16_t msg_len;
            uint32_t err;

            if (len < sizeof(e)) {
                *why = "error chunk too short";
                return -EINVAL;
            }
            ret = nbd_co_recv(s, &e, sizeof(e));
            if (ret < 0) {
                return ret;
            }
            err = GUINT32_FROM_BE(e.error);
            msg_len = GUINT16_FROM_BE(e.message_length);
            if (!err || msg_len > len - sizeof(e)) {
                *why = "invalid error chunk";
                return -EINVAL;
            }
            if (!req->ret) {
                req->ret = -nbd_errno_from_wire(err);
            }
            /* The message (and an offset) are not passed on */
            return nbd_co_recv_qiov(s, NULL, 0, len - sizeof(e));
        }
        *why = "unknown structured reply chunk type";
        return -EINVAL;
    }
}

static int coroutine_fn nbd_co_structured_reply(BDRVNBDState *s,
                                                const char **why)
{
    NBDStructuredReplyChunk chunk;
    NBDRequest *req;
    uint16_t flags, type;
    uint32_t len;
    int ret;

    if (!s->info.structured_reply) {
        *why = "structured reply that was not negotiated";
        return -EINVAL;
    }
    ret = nbd_co_recv(s, (char *)&chunk + 4, sizeof(chunk) - 4);
    if (ret < 0) {
        return ret;
    }
    flags = GUINT16_FROM_BE(chunk.flags);
    type = GUINT16_FROM_BE(chunk.type);
    len = GUINT32_FROM_BE(chunk.length);
    req = nbd_find_request(s, GUINT64_FROM_BE(chunk.cookie));
    if (!req) {
        *why = "reply for an unknown handle";
        return -EINVAL;
    }
    if (len > NBD_MAX_BUFFER_SIZE + 64) {
        *why = "chunk too long";
        return -EINVAL;
    }
    ret = nbd_co_chunk(s, req, type, len, why);
    if (ret < 0) {
        return ret;
    }
    if (flags & NBD_REPLY_FLAG_DONE) {
        if (req->type == NBD_CMD_BLOCK_STATUS && !req->ret &&
            !req->have_extent) {
            *why = "block status reply without an extent";
            return -EINVAL;
        }
        nbd_request_done(req);
    }
    return 0;
}

static void coroutine_fn nbd_reader_entry(void *opaque)
{
    BDRVNBDState *s = opaque;
    const char *why = NULL;
    int ret = 0;

    while (!s->quit && ret == 0) {
        uint32_t magic;

        ret = nbd_co_recv(s, &magic, sizeof(magic));
        if (ret < 0) {
            break;
        }
        switch (GUINT32_FROM_BE(magic)) {
        case NBD_SIMPLE_REPLY_MAGIC:
            ret = nbd_co_simple_reply(s, &why);
            break;
        case NBD_STRUCTURED_REPLY_MAGIC:
            ret = nbd_co_structured_reply(s, &why);
            break;
        default:
            why = "invalid reply magic";
            ret = -EINVAL;
            break;
        }
    }
    if (!why) {
        why = ret == -ECONNRESET ? "server closed the connection"
                                 : g_strerror(-ret);
    }
    nbd_connection_lost(s, why);
    s->reader_co = NULL;
}

/* ---- Requests ---- */

/*
 * Send one request (with @wqiov as payload for WRITE) and wait for its
 * reply; @req carries what the reader fills in.  0 or -errno.
 */
static int coroutine_fn nbd_co_request(BlockDriverState *bs, NBDRequest *req,
                                       uint16_t type, uint16_t flags,
                                       uint64_t offset, uint32_t len,
                                       QEMUIOVector *wqiov)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequestHeader hdr;
    int slot, ret;

    while (!s->dead && s->in_flight == NBD_MAX_REQUESTS) {
        qemu_co_queue_wait(&s->free_slots);
    }
    if (s->dead) {
        return -EIO;
    }
    for (slot = 0; s->requests[slot]; slot++) {
        /* a free slot exists: in_flight < NBD_MAX_REQUESTS */
    }
    req->co = qemu_coroutine_self();
    req->type = type;
    req->offset = offset;
    req->len = len;
    req->ret = 0;
    req->done = false;
    req->waiting = false;
    s->requests[slot] = req;
    s->in_flight++;

    hdr = (NBDRequestHeader) {
        .magic = GUINT32_TO_BE(NBD_REQUEST_MAGIC),
        .flags = GUINT16_TO_BE(flags),
        .type = GUINT16_TO_BE(type),
        .cookie = GUINT64_TO_BE(slot),
        .offset = GUINT64_TO_BE(offset),
        .length = GUINT32_TO_BE(len),
    };
    qemu_co_mutex_lock(&s->send_mutex);
    ret = nbd_co_send(s, &hdr, sizeof(hdr));
    if (ret == 0 && wqiov) {
        g_autofree uint8_t *buf = g_malloc(MIN(len, NBD_IO_CHUNK));
        size_t done;

        for (done = 0; done < len && ret == 0; done += NBD_IO_CHUNK) {
            size_t n = MIN(len - done, NBD_IO_CHUNK);

            qemu_iovec_to_buf(wqiov, done, buf, n);
            ret = nbd_co_send(s, buf, n);
        }
    }
    qemu_co_mutex_unlock(&s->send_mutex);
    if (ret < 0 && !s->dead) {
        /* The reader sees the shut-down socket and fails us all */
        shutdown(s->fd, SHUT_RDWR);
    }

    while (!req->done) {
        req->waiting = true;
        qemu_coroutine_yield();
    }
    s->requests[slot] = NULL;
    s->in_flight--;
    qemu_co_queue_next(&s->free_slots);
    return req->ret;
}

static int coroutine_fn nbd_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    NBDRequest req = { .qiov = qiov };

    if (!bytes) {
        return 0;
    }
    return nbd_co_request(bs, &req, NBD_CMD_READ, 0, offset, bytes, NULL);
}

static int coroutine_fn nbd_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest req = { 0 };
    uint16_t nflags = 0;

    if (!bytes) {
        return 0;
    }
    if ((flags & BDRV_REQ_FUA) && (s->info.flags & NBD_FLAG_SEND_FUA)) {
        nflags |= NBD_CMD_FLAG_FUA;
    }
    return nbd_co_request(bs, &req, NBD_CMD_WRITE, nflags, offset, bytes,
                          qiov);
}

static int coroutine_fn nbd_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest req = { 0 };
    uint16_t nflags = 0;

    if (!(s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES)) {
        return -ENOTSUP;
    }
    if ((flags & BDRV_REQ_NO_FALLBACK) &&
        !(s->info.flags & NBD_FLAG_SEND_FAST_ZERO)) {
        return -ENOTSUP;
    }
    if (!bytes) {
        return 0;
    }
    if ((flags & BDRV_REQ_FUA) && (s->info.flags & NBD_FLAG_SEND_FUA)) {
        nflags |= NBD_CMD_FLAG_FUA;
    }
    if (!(flags & BDRV_REQ_MAY_UNMAP)) {
        nflags |= NBD_CMD_FLAG_NO_HOLE;
    }
    if (flags & BDRV_REQ_NO_FALLBACK) {
        nflags |= NBD_CMD_FLAG_FAST_ZERO;
    }
    return nbd_co_request(bs, &req, NBD_CMD_WRITE_ZEROES, nflags, offset,
                          bytes, NULL);
}

static int coroutine_fn nbd_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest req = { 0 };

    /* Discard is a hint: without TRIM there is nothing to do */
    if (!(s->info.flags & NBD_FLAG_SEND_TRIM) || !bytes) {
        return 0;
    }
    return nbd_co_request(bs, &req, NBD_CMD_TRIM, 0, offset, bytes, NULL);
}

/*
 * The protocol has no resize: an export keeps its size.  A request for
 * at most that size that need not be exact leaves the export as it is
 * (the node's length stays the export's), as QEMU's client does.
 */
static int coroutine_fn nbd_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVNBDState *s = bs->opaque;

    if (exact && offset != (int64_t)s->info.size) {
        error_setg(errp, "Cannot resize NBD nodes");
        return -ENOTSUP;
    }
    if (offset > (int64_t)s->info.size) {
        error_setg(errp, "Cannot grow NBD nodes");
        return -EINVAL;
    }
    return 0;
}

static int coroutine_fn nbd_co_flush(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest req = { 0 };

    if (!(s->info.flags & NBD_FLAG_SEND_FLUSH)) {
        return 0;
    }
    return nbd_co_request(bs, &req, NBD_CMD_FLUSH, 0, 0, 0, NULL);
}

/*
 * With base:allocation, the server's first extent; without it every byte
 * is data, as far as we can tell.
 */
static int coroutine_fn nbd_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest req = { 0 };
    uint32_t align = bs->bl.request_alignment ? bs->bl.request_alignment : 1;
    uint32_t len;
    int ret;

    *map = offset;
    *file = bs;
    if (!s->info.base_allocation) {
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    len = MIN(bytes, QEMU_ALIGN_DOWN(UINT32_MAX, align));
    ret = nbd_co_request(bs, &req, NBD_CMD_BLOCK_STATUS,
                         NBD_CMD_FLAG_REQ_ONE, offset, len, NULL);
    if (ret < 0) {
        return ret;
    }
    *pnum = MIN(req.extent_len, len);
    if (*pnum < len && *pnum % align) {
        /* Keep the core's alignment promise; round down, at least one */
        *pnum = *pnum < align ? align : QEMU_ALIGN_DOWN(*pnum, align);
    }
    return (req.extent_flags & NBD_STATE_HOLE ? 0 : BDRV_BLOCK_DATA) |
           (req.extent_flags & NBD_STATE_ZERO ? BDRV_BLOCK_ZERO : 0) |
           BDRV_BLOCK_OFFSET_VALID;
}

/* ---- Open and close ---- */

static void nbd_free_state(BDRVNBDState *s)
{
    g_free(s->addr.path);
    g_free(s->addr.host);
    g_free(s->addr.port);
    g_free(s->export);
    g_free(s->rbuf);
    s->addr = (NBDServerAddress) { 0 };
    s->export = NULL;
    s->rbuf = NULL;
}

/*
 * Options:
 *   server.type=unix|inet, server.path=PATH (unix), server.host=HOST and
 *   server.port=PORT (inet); path/host/port as older spellings of the
 *   same; export=NAME (default: the server's default export)
 */
static int nbd_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    bool in_transmission = false;
    int ret;

    s->fd = -1;
    if (!nbd_read_options(s, options, errp)) {
        ret = -EINVAL;
        goto fail;
    }
    ret = nbd_client_connect(&s->addr, errp);
    if (ret < 0) {
        goto fail;
    }
    s->fd = ret;

    s->info = (NBDExportInfo) {
        .name = s->export ? s->export : "",
        .request_structured = true,
        .request_allocation = true,
    };
    ret = nbd_client_handshake(s->fd, &s->info, errp);
    if (ret < 0) {
        goto fail;
    }
    in_transmission = true;

    if ((s->info.flags & NBD_FLAG_READ_ONLY) && !bs->read_only) {
        if (!(flags & BDRV_O_AUTO_RDONLY)) {
            error_setg_errno(errp, EACCES, "Could not open image");
            ret = -EACCES;
            goto fail;
        }
        bs->read_only = true;
    }
    if (s->info.flags & NBD_FLAG_SEND_FUA) {
        bs->supported_write_flags = BDRV_REQ_FUA;
        bs->supported_zero_flags |= BDRV_REQ_FUA;
    }
    if (s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES) {
        bs->supported_zero_flags |= BDRV_REQ_MAY_UNMAP;
        if (s->info.flags & NBD_FLAG_SEND_FAST_ZERO) {
            bs->supported_zero_flags |= BDRV_REQ_NO_FALLBACK;
        }
    }

    if (fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK) < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not make the socket "
                         "non-blocking");
        goto fail;
    }
    qemu_co_mutex_init(&s->send_mutex);
    qemu_co_queue_init(&s->free_slots);
    s->rbuf = g_malloc(NBD_IO_CHUNK);
    s->reader_co = qemu_coroutine_create(nbd_reader_entry, s);
    /* It reads until the socket would block and then waits for the fd */
    qemu_coroutine_enter(s->reader_co);
    return 0;

fail:
    if (s->fd >= 0) {
        if (in_transmission) {
            /* The export was open: say goodbye properly */
            NBDRequestHeader hdr = {
                .magic = GUINT32_TO_BE(NBD_REQUEST_MAGIC),
                .type = GUINT16_TO_BE(NBD_CMD_DISC),
            };

            nbd_write_full(s->fd, &hdr, sizeof(hdr));
        }
        close(s->fd);
        s->fd = -1;
    }
    nbd_free_state(s);
    return ret;
}

static void nbd_close(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    if (!s->dead) {
        NBDRequestHeader hdr = {
            .magic = GUINT32_TO_BE(NBD_REQUEST_MAGIC),
            .type = GUINT16_TO_BE(NBD_CMD_DISC),
        };

        /* Nothing is in flight now; a short blocking send is fine */
        fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) & ~O_NONBLOCK);
        nbd_write_full(s->fd, &hdr, sizeof(hdr));
    }
    s->quit = true;
    shutdown(s->fd, SHUT_RDWR);
    if (s->reader_co) {
        /* Let it see s->quit and end */
        s->reader_waiting = false;
        nbd_update_handlers(s);
        qemu_coroutine_enter(s->reader_co);
    }
    aio_set_fd_handler(qemu_get_aio_context(), s->fd, NULL, NULL, NULL);
    close(s->fd);
    s->fd = -1;
    nbd_free_state(s);
}

static int nbd_reopen_prepare(BDRVReopenState *state, Error **errp)
{
    BDRVNBDState *s = state->bs->opaque;

    if (!state->read_only && (s->info.flags & NBD_FLAG_READ_ONLY)) {
        error_setg(errp, "Cannot reopen a read-only NBD export read-write");
        return -EACCES;
    }
    return 0;
}

/*
 * The server's block sizes: its minimum is our alignment, its maximum
 * (or the protocol's buffer limit) the largest request.  Without a
 * minimum, sub-sector requests are used only where they are needed: an
 * export whose size is not a multiple of 512, or block status, which
 * may report extents of any size.
 */
static void nbd_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    uint32_t min = s->info.min_block;
    uint32_t max = NBD_MAX_BUFFER_SIZE;

    if (s->info.max_block && s->info.max_block < max) {
        max = s->info.max_block;
    }
    if (!min) {
        min = (s->info.size % BDRV_SECTOR_SIZE || s->info.base_allocation) ?
              1 : BDRV_SECTOR_SIZE;
    }
    bs->bl.request_alignment = min;
    bs->bl.max_transfer = QEMU_ALIGN_DOWN(max, min);
    bs->bl.max_pwrite_zeroes = QEMU_ALIGN_DOWN(max, min);
    bs->bl.max_pdiscard = QEMU_ALIGN_DOWN(INT32_MAX, min);
    if (s->info.opt_block > min) {
        bs->bl.opt_transfer = s->info.opt_block;
    }
}

static int64_t nbd_getlength(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    return s->info.size;
}

/* An NBD export may hold anything: never assume zeroes */
static bool nbd_has_zero_init(BlockDriverState *bs)
{
    return false;
}

static void nbd_refresh_filename(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    const char *export = s->export;
    int n;

    if (s->addr.is_unix) {
        n = snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                     "nbd+unix://%s%s?socket=%s", export ? "/" : "",
                     export ? export : "", s->addr.path);
    } else if (!strcmp(s->addr.port, G_STRINGIFY(NBD_DEFAULT_PORT))) {
        n = snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                     "nbd://%s%s%s", s->addr.host, export ? "/" : "",
                     export ? export : "");
    } else {
        n = snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                     "nbd://%s:%s%s%s", s->addr.host, s->addr.port,
                     export ? "/" : "", export ? export : "");
    }
    if (n < 0 || (size_t)n >= sizeof(bs->exact_filename)) {
        bs->exact_filename[0] = '\0';
    }
}

#define NBD_DRIVER(name, proto)                                         \
    {                                                                   \
        .format_name                    = name,                         \
        .protocol_name                  = proto,                        \
        .instance_size                  = sizeof(BDRVNBDState),         \
                                                                        \
        .bdrv_parse_filename            = nbd_parse_filename,           \
        .bdrv_open                      = nbd_open,                     \
        .bdrv_close                     = nbd_close,                    \
        .bdrv_reopen_prepare            = nbd_reopen_prepare,           \
                                                                        \
        .bdrv_co_preadv                 = nbd_co_preadv,                \
        .bdrv_co_pwritev                = nbd_co_pwritev,               \
        .bdrv_co_pwrite_zeroes          = nbd_co_pwrite_zeroes,         \
        .bdrv_co_pdiscard               = nbd_co_pdiscard,              \
        .bdrv_co_flush_to_disk          = nbd_co_flush,                 \
        .bdrv_co_truncate               = nbd_co_truncate,              \
        .bdrv_co_block_status           = nbd_co_block_status,          \
                                                                        \
        .bdrv_getlength                 = nbd_getlength,                \
        .bdrv_has_zero_init             = nbd_has_zero_init,            \
        .bdrv_refresh_limits            = nbd_refresh_limits,           \
        .bdrv_refresh_filename          = nbd_refresh_filename,         \
    }

/* One driver, three URI schemes (the "nbd:" legacy form is "nbd") */
static BlockDriver bdrv_nbd = NBD_DRIVER("nbd", "nbd");
static BlockDriver bdrv_nbd_tcp = NBD_DRIVER("nbd", "nbd+tcp");
static BlockDriver bdrv_nbd_unix = NBD_DRIVER("nbd", "nbd+unix");

static void bdrv_nbd_init(void)
{
    bdrv_register(&bdrv_nbd);
    bdrv_register(&bdrv_nbd_tcp);
    bdrv_register(&bdrv_nbd_unix);
}

block_init(bdrv_nbd_init);
