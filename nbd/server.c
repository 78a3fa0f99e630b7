/*
 * NBD server: fixed newstyle handshake and transmission on a BlockBackend.
 *
 * One coroutine per connection negotiates and then receives requests;
 * every request runs in a coroutine of its own, so several are in flight
 * and replies leave in completion order.  Replies are written under a
 * per-connection CoMutex so they never interleave.  Socket I/O yields to
 * the event loop on EAGAIN.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <endian.h>
#include <sys/socket.h>

#include "block/nbd.h"
#include "qemu/aio.h"
#include "qemu/coroutine.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "block/dirty-bitmap.h"
#include "qapi/error.h"
#include "sysemu/block-backend.h"

/* Requests a client may have in flight before we stop reading */
#define NBD_MAX_IN_FLIGHT       16
/*
 * Payload buffers a client keeps for reuse, and the largest one kept:
 * a copy sends a steady stream of equally sized reads or writes, and
 * allocating each one's buffer afresh maps and faults in new memory for
 * every request (large allocations come straight from mmap)
 */
#define NBD_BUF_CACHE_SLOTS     NBD_MAX_IN_FLIGHT
#define NBD_BUF_CACHE_MAX_SIZE  (2 * 1024 * 1024)
/* Extents in one BLOCK_STATUS reply */
#define NBD_MAX_EXTENTS         1024
/*
 * The meta contexts we offer and their ids (as QEMU numbers them): the
 * exported bitmaps take ids from NBD_META_ID_DIRTY_BITMAP on, in order
 */
#define NBD_META_ID_BASE_ALLOCATION 0
#define NBD_META_ID_ALLOCATION_DEPTH 1
#define NBD_META_ID_DIRTY_BITMAP    2
#define NBD_META_QEMU_DIRTY_BITMAP  "qemu:dirty-bitmap:"
#define NBD_META_QEMU_ALLOC_DEPTH   "qemu:allocation-depth"
/* At most this many bitmaps per export */
#define NBD_MAX_EXPORT_BITMAPS      (NBD_MAX_META_CONTEXTS - 2)

struct NBDExport {
    BlockBackend *blk;
    char *name;
    char *description;
    bool readonly;
    int64_t size;
    bool allocation_depth;      /* offer qemu:allocation-depth */
    BdrvDirtyBitmap *bitmaps[NBD_MAX_EXPORT_BITMAPS];
    int nr_bitmaps;
};

/* The contexts a client selected with NBD_OPT_SET_META_CONTEXT */
typedef struct NBDMetaContexts {
    bool base_allocation;
    bool allocation_depth;
    bool bitmaps[NBD_MAX_EXPORT_BITMAPS];
    int count;
} NBDMetaContexts;

struct NBDClient {
    NBDExport *exp;
    int fd;
    NBDClientCloseFunc *close_fn;
    void *opaque;

    Coroutine *recv_co;         /* waiting for the socket to be readable */
    Coroutine *send_co;         /* waiting for the socket to be writable */
    Coroutine *main_co;         /* waiting for in-flight requests */
    CoMutex send_lock;
    bool dead;                  /* the connection failed: stop I/O */

    bool no_zeroes;
    bool structured_reply;
    NBDMetaContexts meta;
    int in_flight;

    void *buf_cache[NBD_BUF_CACHE_SLOTS];
    size_t buf_cache_size[NBD_BUF_CACHE_SLOTS];
    int buf_cache_count;
};

typedef struct NBDRequest {
    NBDClient *client;
    uint64_t cookie;
    uint64_t offset;
    uint32_t length;
    uint16_t flags;
    uint16_t type;
    void *data;                 /* WRITE payload / READ buffer */
    size_t data_size;           /* bytes allocated at @data */
    int error;                  /* positive errno found while receiving */
} NBDRequest;

NBDExport *nbd_export_new(BlockBackend *blk, const char *name,
                          const char *description, bool readonly)
{
    NBDExport *exp = g_new0(NBDExport, 1);

    blk_ref(blk);
    exp->blk = blk;
    exp->name = g_strdup(name ? name : "");
    exp->description = g_strdup(description);
    exp->readonly = readonly || !blk_is_writable(blk);
    exp->size = blk_getlength(blk);
    if (exp->size < 0) {
        exp->size = 0;
    }
    return exp;
}

void nbd_export_set_allocation_depth(NBDExport *exp, bool on)
{
    exp->allocation_depth = on;
}

int nbd_export_add_bitmap(NBDExport *exp, const char *name, Error **errp)
{
    BlockDriverState *bs = blk_bs(exp->blk);
    BdrvDirtyBitmap *bm = NULL;

    /* The bitmap may live in any layer of the chain */
    while (bs) {
        bm = bdrv_find_dirty_bitmap(bs, name);
        if (bm) {
            break;
        }
        bs = bdrv_filter_or_cow_bs(bs);
    }
    if (!bm) {
        error_setg(errp, "Bitmap '%s' is not found", name);
        return -ENOENT;
    }
    if (!bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
        return -EINVAL;
    }
    if (exp->readonly && !bdrv_is_read_only(bs) &&
        bdrv_dirty_bitmap_enabled(bm)) {
        error_setg(errp,
                   "Enabled bitmap '%s' incompatible with readonly export",
                   name);
        return -EINVAL;
    }
    /* A bitmap named twice is offered twice, as QEMU does */
    if (exp->nr_bitmaps == NBD_MAX_EXPORT_BITMAPS) {
        error_setg(errp, "Too many bitmaps (at most %d)",
                   NBD_MAX_EXPORT_BITMAPS);
        return -E2BIG;
    }
    exp->bitmaps[exp->nr_bitmaps++] = bm;
    return 0;
}

void nbd_export_free(NBDExport *exp)
{
    if (exp) {
        blk_unref(exp->blk);
        g_free(exp->name);
        g_free(exp->description);
        g_free(exp);
    }
}

static uint16_t nbd_export_flags(NBDExport *exp)
{
    uint16_t flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
                     NBD_FLAG_SEND_DF | NBD_FLAG_SEND_CACHE;

    if (exp->readonly) {
        flags |= NBD_FLAG_READ_ONLY | NBD_FLAG_CAN_MULTI_CONN;
    } else {
        flags |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
                 NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
    }
    return flags;
}

/*
 * Socket I/O
 */

static void nbd_update_fd_handlers(NBDClient *client);

static void nbd_fd_readable(void *opaque)
{
    NBDClient *client = opaque;
    Coroutine *co = client->recv_co;

    client->recv_co = NULL;
    nbd_update_fd_handlers(client);
    if (co) {
        aio_co_wake(co);
    }
}

static void nbd_fd_writable(void *opaque)
{
    NBDClient *client = opaque;
    Coroutine *co = client->send_co;

    client->send_co = NULL;
    nbd_update_fd_handlers(client);
    if (co) {
        aio_co_wake(co);
    }
}

static void nbd_update_fd_handlers(NBDClient *client)
{
    aio_set_fd_handler(qemu_get_aio_context(), client->fd,
                       client->recv_co ? nbd_fd_readable : NULL,
                       client->send_co ? nbd_fd_writable : NULL, client);
}

/* Read exactly @len bytes: 0, or -EIO on EOF/error (the connection dies) */
static int coroutine_fn nbd_co_read(NBDClient *client, void *buf,
                                    size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n;

        if (client->dead) {
            return -EIO;
        }
        n = recv(client->fd, p, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            client->recv_co = qemu_coroutine_self();
            nbd_update_fd_handlers(client);
            qemu_coroutine_yield();
            continue;
        }
        if (n <= 0) {
            client->dead = true;
            return -EIO;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* Read and throw away @len bytes */
static int coroutine_fn nbd_co_drop(NBDClient *client, size_t len)
{
    char buf[4096];

    while (len > 0) {
        size_t chunk = MIN(len, sizeof(buf));

        if (nbd_co_read(client, buf, chunk) < 0) {
            return -EIO;
        }
        len -= chunk;
    }
    return 0;
}

/* Write all of @iov: 0, or -EIO (the connection dies) */
static int coroutine_fn nbd_co_writev(NBDClient *client, struct iovec *iov,
                                      int niov)
{
    while (niov > 0) {
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = niov };
        ssize_t n;

        if (client->dead) {
            return -EIO;
        }
        n = sendmsg(client->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            client->send_co = qemu_coroutine_self();
            nbd_update_fd_handlers(client);
            qemu_coroutine_yield();
            continue;
        }
        if (n < 0) {
            client->dead = true;
            return -EIO;
        }
        while (niov > 0 && (size_t)n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            niov--;
        }
        if (niov > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return 0;
}

static int coroutine_fn nbd_co_write(NBDClient *client, const void *buf,
                                     size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return nbd_co_writev(client, &iov, 1);
}

/*
 * Handshake
 */

/* Send an option reply with @len bytes of @data */
static int coroutine_fn nbd_co_send_rep(NBDClient *client, uint32_t opt,
                                        uint32_t type, const void *data,
                                        uint32_t len)
{
    NBDOptionReply rep = {
        .magic = htobe64(NBD_REP_MAGIC),
        .option = htobe32(opt),
        .type = htobe32(type),
        .length = htobe32(len),
    };
    struct iovec iov[2] = {
        { .iov_base = &rep, .iov_len = sizeof(rep) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    return nbd_co_writev(client, iov, len ? 2 : 1);
}

static int coroutine_fn nbd_co_send_rep_err(NBDClient *client, uint32_t opt,
                                            uint32_t type, const char *msg)
{
    return nbd_co_send_rep(client, opt, type, msg, strlen(msg));
}

static NBDExport *nbd_find_export(NBDClient *client, const char *name)
{
    return strcmp(client->exp->name, name) ? NULL : client->exp;
}

/* A cursor over an option's payload */
typedef struct NBDOptData {
    const uint8_t *p;
    uint32_t left;
    bool bad;
} NBDOptData;

static uint32_t opt_get32(NBDOptData *d)
{
    uint32_t v;

    if (d->left < 4) {
        d->bad = true;
        return 0;
    }
    memcpy(&v, d->p, 4);
    d->p += 4;
    d->left -= 4;
    return be32toh(v);
}

static uint16_t opt_get16(NBDOptData *d)
{
    uint16_t v;

    if (d->left < 2) {
        d->bad = true;
        return 0;
    }
    memcpy(&v, d->p, 2);
    d->p += 2;
    d->left -= 2;
    return be16toh(v);
}

/* A length-prefixed string, NUL-terminated copy; NULL if malformed */
static char *opt_get_string(NBDOptData *d)
{
    uint32_t len = opt_get32(d);
    char *s;

    if (d->bad || len > d->left || len > NBD_MAX_STRING_SIZE) {
        d->bad = true;
        return NULL;
    }
    s = g_strndup((const char *)d->p, len);
    d->p += len;
    d->left -= len;
    return s;
}

/* NBD_OPT_INFO / NBD_OPT_GO; returns 1 when GO succeeded, 0, or -EIO */
static int coroutine_fn nbd_co_opt_info(NBDClient *client, uint32_t opt,
                                        NBDOptData *d)
{
    g_autofree char *name = opt_get_string(d);
    bool want_name = false, want_desc = false, want_bs = false;
    NBDExport *exp;
    uint16_t n;

    n = opt_get16(d);
    if (d->bad || d->left != n * 2u) {
        return nbd_co_send_rep_err(client, opt, NBD_REP_ERR_INVALID,
                                   "malformed info request");
    }
    while (n--) {
        switch (opt_get16(d)) {
        case NBD_INFO_NAME:
            want_name = true;
            break;
        case NBD_INFO_DESCRIPTION:
            want_desc = true;
            break;
        case NBD_INFO_BLOCK_SIZE:
            want_bs = true;
            break;
        default:
            break;
        }
    }
    exp = nbd_find_export(client, name);
    if (!exp) {
        return nbd_co_send_rep_err(client, opt, NBD_REP_ERR_UNKNOWN,
                                   "export not found");
    }
    if (want_name) {
        size_t len = strlen(exp->name);
        g_autofree uint8_t *buf = g_malloc(2 + len);

        buf[0] = 0;
        buf[1] = NBD_INFO_NAME;
        memcpy(buf + 2, exp->name, len);
        if (nbd_co_send_rep(client, opt, NBD_REP_INFO, buf, 2 + len) < 0) {
            return -EIO;
        }
    }
    if (want_desc && exp->description) {
        size_t len = strlen(exp->description);
        g_autofree uint8_t *buf = g_malloc(2 + len);

        buf[0] = 0;
        buf[1] = NBD_INFO_DESCRIPTION;
        memcpy(buf + 2, exp->description, len);
        if (nbd_co_send_rep(client, opt, NBD_REP_INFO, buf, 2 + len) < 0) {
            return -EIO;
        }
    }
    if (want_bs) {
        NBDInfoBlockSize bs = {
            .type = htobe16(NBD_INFO_BLOCK_SIZE),
            .minimum = htobe32(NBD_MIN_BLOCK_SIZE),
            .preferred = htobe32(NBD_PREFERRED_BLOCK_SIZE),
            .maximum = htobe32(NBD_MAX_BUFFER_SIZE),
        };

        if (nbd_co_send_rep(client, opt, NBD_REP_INFO, &bs, sizeof(bs)) < 0) {
            return -EIO;
        }
    }
    {
        NBDInfoExport info = {
            .type = htobe16(NBD_INFO_EXPORT),
            .size = htobe64(exp->size),
            .flags = htobe16(nbd_export_flags(exp)),
        };

        if (nbd_co_send_rep(client, opt, NBD_REP_INFO, &info,
                            sizeof(info)) < 0) {
            return -EIO;
        }
    }
    if (nbd_co_send_rep(client, opt, NBD_REP_ACK, NULL, 0) < 0) {
        return -EIO;
    }
    return opt == NBD_OPT_GO;
}

/* One NBD_REP_META_CONTEXT reply; LIST gives every context id 0 */
static int coroutine_fn nbd_co_send_meta_context(NBDClient *client,
                                                 uint32_t opt,
                                                 const char *ctx, uint32_t id)
{
    size_t len = strlen(ctx);
    g_autofree uint8_t *buf = g_malloc(4 + len);
    uint32_t be_id = htobe32(opt == NBD_OPT_LIST_META_CONTEXT ? 0 : id);

    memcpy(buf, &be_id, 4);
    memcpy(buf + 4, ctx, len);
    return nbd_co_send_rep(client, opt, NBD_REP_META_CONTEXT, buf, 4 + len);
}

/*
 * Mark in @meta what @query selects.  An empty name in a namespace (or in
 * qemu:dirty-bitmap:) selects everything in it, for LIST only; unknown
 * queries select nothing.
 */
static void nbd_meta_query(NBDExport *exp, bool list, const char *query,
                           NBDMetaContexts *meta)
{
    int i;

    if (strstart(query, NBD_META_NS_BASE ":", &query)) {
        if ((list && !*query) || !strcmp(query, "allocation")) {
            meta->base_allocation = true;
        }
        return;
    }
    if (!strstart(query, "qemu:", &query)) {
        return;
    }
    if (!*query) {
        if (list) {
            meta->allocation_depth = exp->allocation_depth;
            memset(meta->bitmaps, 1, exp->nr_bitmaps);
        }
        return;
    }
    if (!strcmp(query, "allocation-depth")) {
        meta->allocation_depth = exp->allocation_depth;
        return;
    }
    if (!strstart(query, "dirty-bitmap:", &query)) {
        return;
    }
    if (!*query) {
        if (list) {
            memset(meta->bitmaps, 1, exp->nr_bitmaps);
        }
        return;
    }
    for (i = 0; i < exp->nr_bitmaps; i++) {
        if (!strcmp(bdrv_dirty_bitmap_name(exp->bitmaps[i]), query)) {
            meta->bitmaps[i] = true;
            return;
        }
    }
}

/* NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT */
static int coroutine_fn nbd_co_opt_meta(NBDClient *client, uint32_t opt,
                                        NBDOptData *d)
{
    g_autofree char *name = opt_get_string(d);
    bool list = opt == NBD_OPT_LIST_META_CONTEXT;
    NBDMetaContexts meta = { 0 };
    NBDExport *exp;
    uint32_t n;
    int i;

    if (!client->structured_reply) {
        return nbd_co_send_rep_err(client, opt, NBD_REP_ERR_INVALID,
                                   "structured replies not negotiated");
    }
    if (!list) {
        /* A new SET replaces the old selection, even if it fails */
        client->meta = (NBDMetaContexts) { 0 };
    }
    n = opt_get32(d);
    if (d->bad) {
        return nbd_co_send_rep_err(client, opt, NBD_REP_ERR_INVALID,
                                   "malformed meta context request");
    }
    exp = nbd_find_export(client, name);
    if (!exp) {
        return nbd_co_send_rep_err(client, opt, NBD_REP_ERR_UNKNOWN,
                                   "export not found");
    }
    if (n == 0 && list) {
        meta.base_allocation = true;
        meta.allocation_depth = exp->allocation_depth;
        memset(meta.bitmaps, 1, exp->nr_bitmaps);
    }
    while (n--) {
        g_autofree char *query = opt_get_string(d);

        if (!query) {
            return nbd_co_send_rep_err(client, opt, NBD_REP_ERR_INVALID,
                                       "malformed meta context query");
        }
        nbd_meta_query(exp, list, query, &meta);
    }
    if (d->left) {
        return nbd_co_send_rep_err(client, opt, NBD_REP_ERR_INVALID,
                                   "trailing data in meta context request");
    }
    if (meta.base_allocation) {
        if (nbd_co_send_meta_context(client, opt, NBD_META_BASE_ALLOCATION,
                                     NBD_META_ID_BASE_ALLOCATION) < 0) {
            return -EIO;
        }
        meta.count++;
    }
    if (meta.allocation_depth) {
        if (nbd_co_send_meta_context(client, opt, NBD_META_QEMU_ALLOC_DEPTH,
                                     NBD_META_ID_ALLOCATION_DEPTH) < 0) {
            return -EIO;
        }
        meta.count++;
    }
    for (i = 0; i < exp->nr_bitmaps; i++) {
        g_autofree char *ctx = NULL;

        if (!meta.bitmaps[i]) {
            continue;
        }
        ctx = g_strconcat(NBD_META_QEMU_DIRTY_BITMAP,
                          bdrv_dirty_bitmap_name(exp->bitmaps[i]), NULL);
        if (nbd_co_send_meta_context(client, opt, ctx,
                                     NBD_META_ID_DIRTY_BITMAP + i) < 0) {
            return -EIO;
        }
        meta.count++;
    }
    if (!list) {
        client->meta = meta;
    }
    return nbd_co_send_rep(client, opt, NBD_REP_ACK, NULL, 0);
}

static int coroutine_fn nbd_co_opt_list(NBDClient *client)
{
    NBDExport *exp = client->exp;
    size_t len = strlen(exp->name);
    g_autofree uint8_t *buf = g_malloc(4 + len);
    uint32_t be_len = htobe32(len);

    memcpy(buf, &be_len, 4);
    memcpy(buf + 4, exp->name, len);
    if (nbd_co_send_rep(client, NBD_OPT_LIST, NBD_REP_SERVER, buf,
                        4 + len) < 0) {
        return -EIO;
    }
    return nbd_co_send_rep(client, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* Reply to NBD_OPT_EXPORT_NAME: size, flags and (maybe) 124 zero bytes */
static int coroutine_fn nbd_co_export_name(NBDClient *client,
                                           const char *name)
{
    uint8_t zeroes[124] = { 0 };
    NBDExportNameReply rep;
    struct iovec iov[2] = {
        { .iov_base = &rep, .iov_len = sizeof(rep) },
        { .iov_base = zeroes, .iov_len = sizeof(zeroes) },
    };
    NBDExport *exp = nbd_find_export(client, name);

    if (!exp) {
        /* The protocol has no way to refuse: hang up */
        return -EINVAL;
    }
    rep.size = htobe64(exp->size);
    rep.flags = htobe16(nbd_export_flags(exp));
    return nbd_co_writev(client, iov, client->no_zeroes ? 1 : 2);
}

/* 0 when the client entered transmission, negative to hang up */
static int coroutine_fn nbd_co_negotiate(NBDClient *client)
{
    NBDNewstyleHello hello = {
        .magic = htobe64(NBD_INIT_MAGIC),
        .opts_magic = htobe64(NBD_OPTS_MAGIC),
        .flags = htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES),
    };
    uint32_t cflags;

    if (nbd_co_write(client, &hello, sizeof(hello)) < 0 ||
        nbd_co_read(client, &cflags, sizeof(cflags)) < 0) {
        return -EIO;
    }
    cflags = be32toh(cflags);
    if (!(cflags & NBD_FLAG_C_FIXED_NEWSTYLE) ||
        (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))) {
        /* Only fixed newstyle clients; anything else cannot be answered */
        return -EINVAL;
    }
    client->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

    for (;;) {
        g_autofree uint8_t *data = NULL;
        NBDOptData d;
        NBDOption o;
        uint32_t opt, len;
        int ret;

        if (nbd_co_read(client, &o, sizeof(o)) < 0) {
            return -EIO;
        }
        if (be64toh(o.magic) != NBD_OPTS_MAGIC) {
            return -EINVAL;
        }
        opt = be32toh(o.option);
        len = be32toh(o.length);
        if (len > NBD_MAX_OPTION_SIZE) {
            if (opt == NBD_OPT_EXPORT_NAME || len > NBD_MAX_BUFFER_SIZE ||
                nbd_co_drop(client, len) < 0 ||
                nbd_co_send_rep_err(client, opt, NBD_REP_ERR_TOO_BIG,
                                    "option too long") < 0) {
                return -EINVAL;
            }
            continue;
        }
        data = g_malloc(len + 1);
        if (nbd_co_read(client, data, len) < 0) {
            return -EIO;
        }
        data[len] = 0;
        d = (NBDOptData) { .p = data, .left = len };

        switch (opt) {
        case NBD_OPT_EXPORT_NAME:
            if (memchr(data, 0, len)) {
                return -EINVAL;
            }
            return nbd_co_export_name(client, (char *)data);
        case NBD_OPT_ABORT:
            nbd_co_send_rep(client, opt, NBD_REP_ACK, NULL, 0);
            return -ECONNRESET;
        case NBD_OPT_LIST:
            ret = len ? nbd_co_send_rep_err(client, opt, NBD_REP_ERR_INVALID,
                                            "list takes no data")
                      : nbd_co_opt_list(client);
            break;
        case NBD_OPT_STARTTLS:
            ret = nbd_co_send_rep_err(client, opt, NBD_REP_ERR_POLICY,
                                      "TLS not configured");
            break;
        case NBD_OPT_INFO:
        case NBD_OPT_GO:
            ret = nbd_co_opt_info(client, opt, &d);
            if (ret == 1) {
                return 0;
            }
            break;
        case NBD_OPT_STRUCTURED_REPLY:
            if (len) {
                ret = nbd_co_send_rep_err(client, opt, NBD_REP_ERR_INVALID,
                                          "structured reply takes no data");
            } else {
                client->structured_reply = true;
                ret = nbd_co_send_rep(client, opt, NBD_REP_ACK, NULL, 0);
            }
            break;
        case NBD_OPT_LIST_META_CONTEXT:
        case NBD_OPT_SET_META_CONTEXT:
            ret = nbd_co_opt_meta(client, opt, &d);
            break;
        default:
            ret = nbd_co_send_rep_err(client, opt, NBD_REP_ERR_UNSUP,
                                      "option not supported");
            break;
        }
        if (ret < 0) {
            return ret;
        }
    }
}

/*
 * Transmission
 */

/* A payload buffer of at least @len bytes for @req, reused if possible */
static void nbd_buf_get(NBDClient *client, NBDRequest *req, size_t len)
{
    size_t size = MAX(len, 1);
    int i;

    for (i = 0; i < client->buf_cache_count; i++) {
        if (client->buf_cache_size[i] >= size) {
            int last = --client->buf_cache_count;

            req->data = client->buf_cache[i];
            req->data_size = client->buf_cache_size[i];
            client->buf_cache[i] = client->buf_cache[last];
            client->buf_cache_size[i] = client->buf_cache_size[last];
            return;
        }
    }
    req->data = blk_blockalign(client->exp->blk, size);
    req->data_size = size;
}

/* Give @req's buffer back, to the cache or to the allocator */
static void nbd_buf_put(NBDClient *client, NBDRequest *req)
{
    if (!req->data) {
        return;
    }
    if (req->data_size <= NBD_BUF_CACHE_MAX_SIZE &&
        client->buf_cache_count < NBD_BUF_CACHE_SLOTS) {
        int n = client->buf_cache_count++;

        client->buf_cache[n] = req->data;
        client->buf_cache_size[n] = req->data_size;
    } else {
        qemu_vfree(req->data);
    }
    req->data = NULL;
}

static int coroutine_fn nbd_co_send_simple(NBDClient *client,
                                           uint64_t cookie, int err,
                                           const void *data, size_t len)
{
    NBDSimpleReply rep = {
        .magic = htobe32(NBD_SIMPLE_REPLY_MAGIC),
        .error = htobe32(nbd_errno_to_wire(err)),
        .cookie = htobe64(cookie),
    };
    struct iovec iov[2] = {
        { .iov_base = &rep, .iov_len = sizeof(rep) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    return nbd_co_writev(client, iov, len ? 2 : 1);
}

/* One structured chunk with a header part @hdr and data @data */
static int coroutine_fn nbd_co_send_chunk(NBDClient *client, uint64_t cookie,
                                          uint16_t flags, uint16_t type,
                                          const void *hdr, size_t hdr_len,
                                          const void *data, size_t len)
{
    NBDStructuredReplyChunk chunk = {
        .magic = htobe32(NBD_STRUCTURED_REPLY_MAGIC),
        .flags = htobe16(flags),
        .type = htobe16(type),
        .cookie = htobe64(cookie),
        .length = htobe32(hdr_len + len),
    };
    struct iovec iov[3] = {
        { .iov_base = &chunk, .iov_len = sizeof(chunk) },
        { .iov_base = (void *)hdr, .iov_len = hdr_len },
        { .iov_base = (void *)data, .iov_len = len },
    };

    return nbd_co_writev(client, iov, 3);
}

static int coroutine_fn nbd_co_send_error(NBDClient *client, NBDRequest *req,
                                          int err)
{
    NBDStructuredError e = {
        .error = htobe32(nbd_errno_to_wire(err)),
        .message_length = 0,
    };

    if (client->structured_reply &&
        (req->type == NBD_CMD_READ || req->type == NBD_CMD_BLOCK_STATUS)) {
        return nbd_co_send_chunk(client, req->cookie, NBD_REPLY_FLAG_DONE,
                                 NBD_REPLY_TYPE_ERROR, &e, sizeof(e),
                                 NULL, 0);
    }
    return nbd_co_send_simple(client, req->cookie, err, NULL, 0);
}

static uint32_t nbd_status_flags(int ret)
{
    return (ret & BDRV_BLOCK_DATA ? 0 : NBD_STATE_HOLE) |
           (ret & BDRV_BLOCK_ZERO ? NBD_STATE_ZERO : 0);
}

/* Extents collected for one BLOCK_STATUS chunk, in host order */
typedef struct NBDExtentList {
    NBDExtent *ext;
    int count;
    int max;
} NBDExtentList;

/* Append an extent, merging it with the last one; false when full */
static bool nbd_extent_add(NBDExtentList *l, uint64_t length, uint32_t flags)
{
    while (length) {
        uint32_t len = MIN(length, UINT32_MAX);

        if (l->count > 0 && l->ext[l->count - 1].flags == flags &&
            (uint64_t)l->ext[l->count - 1].length + len <= UINT32_MAX) {
            l->ext[l->count - 1].length += len;
        } else if (l->count == l->max) {
            return false;
        } else {
            l->ext[l->count++] = (NBDExtent) { .length = len, .flags = flags };
        }
        length -= len;
    }
    return true;
}

static int coroutine_fn nbd_co_base_extents(BlockDriverState *bs,
                                            uint64_t offset, uint64_t end,
                                            NBDExtentList *l)
{
    while (offset < end) {
        int64_t pnum;
        int ret;

        ret = bdrv_co_block_status_above(bs, NULL, offset, end - offset,
                                         &pnum, NULL, NULL);
        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0) {
            break;
        }
        if (!nbd_extent_add(l, pnum, nbd_status_flags(ret))) {
            break;
        }
        offset += pnum;
    }
    return 0;
}

/*
 * The layer that allocates [@offset, @offset + *@pnum): 1 for @bs, 2 for
 * its backing file and so on, 0 if none does; *@pnum is set to the extent.
 * A backing file that ends before @offset allocates the rest.
 */
static int coroutine_fn nbd_co_alloc_depth(BlockDriverState *bs,
                                           uint64_t offset, uint64_t bytes,
                                           int64_t *pnum)
{
    int depth = 1;

    *pnum = bytes;
    for (; bs; bs = bdrv_filter_or_cow_bs(bs), depth++) {
        int64_t n;
        int ret = bdrv_co_is_allocated(bs, offset, *pnum, &n);

        if (ret < 0) {
            return ret;
        }
        if (n <= 0) {
            /*
             * Past the end of a shorter backing file: its zeroes count as
             * allocated there (QEMU's rule)
             */
            return depth > 1 ? depth : -EIO;
        }
        *pnum = n;
        if (ret) {
            return depth;
        }
    }
    return 0;
}

static int coroutine_fn nbd_co_depth_extents(BlockDriverState *bs,
                                             uint64_t offset, uint64_t end,
                                             NBDExtentList *l)
{
    while (offset < end) {
        int64_t pnum;
        int ret = nbd_co_alloc_depth(bs, offset, end - offset, &pnum);

        if (ret < 0) {
            return ret;
        }
        if (!nbd_extent_add(l, pnum, ret)) {
            break;
        }
        offset += pnum;
    }
    return 0;
}

static void nbd_bitmap_extents(BdrvDirtyBitmap *bm, uint64_t offset,
                               uint64_t end, NBDExtentList *l)
{
    int64_t start = offset;

    for (;;) {
        int64_t dirty = start, bytes;

        if (!bdrv_dirty_bitmap_next_dirty_area(bm, end, &dirty, &bytes)) {
            break;
        }
        if (!nbd_extent_add(l, dirty - start, 0) ||
            !nbd_extent_add(l, bytes, NBD_STATE_DIRTY)) {
            return;
        }
        start = dirty + bytes;
    }
    nbd_extent_add(l, end - start, 0);
}

/* One BLOCK_STATUS chunk for @id, DONE if @last; called under send_lock */
static int coroutine_fn nbd_co_send_extents(NBDClient *client,
                                            NBDRequest *req, uint32_t id,
                                            NBDExtentList *l, bool last)
{
    NBDStructuredMeta meta = { .context_id = htobe32(id) };
    int i;

    for (i = 0; i < l->count; i++) {
        l->ext[i].length = htobe32(l->ext[i].length);
        l->ext[i].flags = htobe32(l->ext[i].flags);
    }
    return nbd_co_send_chunk(client, req->cookie,
                             last ? NBD_REPLY_FLAG_DONE : 0,
                             NBD_REPLY_TYPE_BLOCK_STATUS, &meta, sizeof(meta),
                             l->ext, l->count * sizeof(NBDExtent));
}

/*
 * BLOCK_STATUS: one chunk per selected context, in the order the contexts
 * were announced.  The extents are all collected first, so that an error
 * is reported before any chunk went out.
 */
static int coroutine_fn nbd_co_block_status(NBDClient *client,
                                            NBDRequest *req)
{
    NBDExport *exp = client->exp;
    NBDMetaContexts *meta = &client->meta;
    BlockDriverState *bs = blk_bs(exp->blk);
    int max = req->flags & NBD_CMD_FLAG_REQ_ONE ? 1 : NBD_MAX_EXTENTS;
    uint64_t end = req->offset + req->length;
    NBDExtentList lists[2 + NBD_MAX_EXPORT_BITMAPS];
    uint32_t ids[2 + NBD_MAX_EXPORT_BITMAPS];
    int n = 0, i, ret = 0;

    if (meta->base_allocation) {
        ids[n] = NBD_META_ID_BASE_ALLOCATION;
        lists[n] = (NBDExtentList) { .ext = g_new(NBDExtent, max),
                                     .max = max };
        ret = nbd_co_base_extents(bs, req->offset, end, &lists[n++]);
    }
    if (ret == 0 && meta->allocation_depth) {
        ids[n] = NBD_META_ID_ALLOCATION_DEPTH;
        lists[n] = (NBDExtentList) { .ext = g_new(NBDExtent, max),
                                     .max = max };
        ret = nbd_co_depth_extents(bs, req->offset, end, &lists[n++]);
    }
    for (i = 0; ret == 0 && i < exp->nr_bitmaps; i++) {
        if (!meta->bitmaps[i]) {
            continue;
        }
        ids[n] = NBD_META_ID_DIRTY_BITMAP + i;
        lists[n] = (NBDExtentList) { .ext = g_new(NBDExtent, max),
                                     .max = max };
        nbd_bitmap_extents(exp->bitmaps[i], req->offset, end, &lists[n++]);
    }
    for (i = 0; ret == 0 && i < n; i++) {
        if (lists[i].count == 0) {
            ret = -EIO;
        }
    }
    if (ret == 0) {
        qemu_co_mutex_lock(&client->send_lock);
        for (i = 0; i < n; i++) {
            nbd_co_send_extents(client, req, ids[i], &lists[i], i == n - 1);
        }
        qemu_co_mutex_unlock(&client->send_lock);
    }
    for (i = 0; i < n; i++) {
        g_free(lists[i].ext);
    }
    return ret;
}

/* Run @req against the export; a negative errno to report, else 0 */
static int coroutine_fn nbd_co_handle(NBDClient *client, NBDRequest *req)
{
    BlockBackend *blk = client->exp->blk;
    BdrvRequestFlags flags = 0;
    int ret;

    if (req->flags & NBD_CMD_FLAG_FUA) {
        flags |= BDRV_REQ_FUA;
    }
    switch (req->type) {
    case NBD_CMD_READ:
        nbd_buf_get(client, req, req->length);
        ret = blk_co_pread(blk, req->offset, req->length, req->data, 0);
        if (ret < 0) {
            return ret;
        }
        qemu_co_mutex_lock(&client->send_lock);
        if (client->structured_reply && req->length) {
            NBDStructuredReadData hdr = { .offset = htobe64(req->offset) };

            nbd_co_send_chunk(client, req->cookie, NBD_REPLY_FLAG_DONE,
                              NBD_REPLY_TYPE_OFFSET_DATA, &hdr, sizeof(hdr),
                              req->data, req->length);
        } else {
            nbd_co_send_simple(client, req->cookie, 0, req->data,
                               req->length);
        }
        qemu_co_mutex_unlock(&client->send_lock);
        return 0;
    case NBD_CMD_WRITE:
        ret = blk_co_pwrite(blk, req->offset, req->length, req->data, flags);
        break;
    case NBD_CMD_FLUSH:
        ret = blk_co_flush(blk);
        break;
    case NBD_CMD_TRIM:
        ret = blk_co_pdiscard(blk, req->offset, req->length);
        if (ret == 0 && (req->flags & NBD_CMD_FLAG_FUA)) {
            ret = blk_co_flush(blk);
        }
        break;
    case NBD_CMD_WRITE_ZEROES:
        if (!(req->flags & NBD_CMD_FLAG_NO_HOLE)) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
        if (req->flags & NBD_CMD_FLAG_FAST_ZERO) {
            flags |= BDRV_REQ_NO_FALLBACK;
        }
        ret = blk_co_pwrite_zeroes(blk, req->offset, req->length, flags);
        break;
    case NBD_CMD_CACHE:
        /* Advisory; the data is read through on demand anyway */
        ret = 0;
        break;
    case NBD_CMD_BLOCK_STATUS:
        return nbd_co_block_status(client, req);
    default:
        ret = -EINVAL;
        break;
    }
    if (ret < 0) {
        return ret;
    }
    qemu_co_mutex_lock(&client->send_lock);
    nbd_co_send_simple(client, req->cookie, 0, NULL, 0);
    qemu_co_mutex_unlock(&client->send_lock);
    return 0;
}

static void coroutine_fn nbd_co_request_entry(void *opaque)
{
    NBDRequest *req = opaque;
    NBDClient *client = req->client;
    int ret = -req->error;

    if (ret == 0) {
        ret = nbd_co_handle(client, req);
    }
    if (ret < 0) {
        qemu_co_mutex_lock(&client->send_lock);
        nbd_co_send_error(client, req, -ret);
        qemu_co_mutex_unlock(&client->send_lock);
    }
    nbd_buf_put(client, req);
    g_free(req);
    client->in_flight--;
    if (client->main_co) {
        Coroutine *co = client->main_co;

        client->main_co = NULL;
        aio_co_wake(co);
    }
}

/*
 * Check a request against the protocol and the export.  Returns 0 (the
 * request may run), a positive errno for an error reply, or a negative
 * value when the connection must be dropped.
 */
static int nbd_check_request(NBDClient *client, NBDRequest *req)
{
    NBDExport *exp = client->exp;
    uint16_t allowed = 0;
    bool writes = false;
    bool sized = true;

    switch (req->type) {
    case NBD_CMD_READ:
        if (req->length > NBD_MAX_BUFFER_SIZE) {
            return EINVAL;
        }
        if (client->structured_reply) {
            allowed = NBD_CMD_FLAG_DF;
        }
        break;
    case NBD_CMD_WRITE:
        if (req->length > NBD_MAX_BUFFER_SIZE) {
            /* The payload cannot be taken in: the stream is lost */
            return -EINVAL;
        }
        allowed = NBD_CMD_FLAG_FUA;
        writes = true;
        break;
    case NBD_CMD_FLUSH:
        sized = false;
        break;
    case NBD_CMD_TRIM:
        allowed = NBD_CMD_FLAG_FUA;
        writes = true;
        break;
    case NBD_CMD_WRITE_ZEROES:
        allowed = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
                  NBD_CMD_FLAG_FAST_ZERO;
        writes = true;
        break;
    case NBD_CMD_CACHE:
        break;
    case NBD_CMD_BLOCK_STATUS:
        if (!client->meta.count || req->length == 0) {
            return EINVAL;
        }
        allowed = NBD_CMD_FLAG_REQ_ONE;
        break;
    default:
        return EINVAL;
    }
    if (req->flags & ~allowed) {
        return EINVAL;
    }
    if (sized && (req->offset > (uint64_t)exp->size ||
                  req->length > (uint64_t)exp->size - req->offset)) {
        return writes ? ENOSPC : EINVAL;
    }
    if (writes && exp->readonly) {
        return EPERM;
    }
    return 0;
}

/* Receive one request; 1 after DISC, 0 to continue, negative to drop */
static int coroutine_fn nbd_co_receive_one(NBDClient *client)
{
    NBDRequestHeader h;
    NBDRequest *req;
    Coroutine *co;
    int ret;

    if (nbd_co_read(client, &h, sizeof(h)) < 0) {
        return -EIO;
    }
    if (be32toh(h.magic) != NBD_REQUEST_MAGIC) {
        return -EINVAL;
    }
    req = g_new0(NBDRequest, 1);
    *req = (NBDRequest) {
        .client = client,
        .cookie = be64toh(h.cookie),
        .offset = be64toh(h.offset),
        .length = be32toh(h.length),
        .flags = be16toh(h.flags),
        .type = be16toh(h.type),
    };
    if (req->type == NBD_CMD_DISC) {
        g_free(req);
        return 1;
    }
    ret = nbd_check_request(client, req);
    if (ret < 0) {
        g_free(req);
        return ret;
    }
    req->error = ret;
    if (req->type == NBD_CMD_WRITE) {
        /* The payload follows whether or not the request is valid */
        nbd_buf_get(client, req, req->length);
        if (nbd_co_read(client, req->data, req->length) < 0) {
            nbd_buf_put(client, req);
            g_free(req);
            return -EIO;
        }
    }
    client->in_flight++;
    co = qemu_coroutine_create(nbd_co_request_entry, req);
    aio_co_wake(co);
    return 0;
}

/* Wait until fewer than @limit requests are in flight */
static void coroutine_fn nbd_co_wait_in_flight(NBDClient *client, int limit)
{
    while (client->in_flight >= limit && client->in_flight > 0) {
        client->main_co = qemu_coroutine_self();
        qemu_coroutine_yield();
    }
}

static void nbd_client_close_bh(void *opaque)
{
    NBDClient *client = opaque;
    int i;

    aio_set_fd_handler(qemu_get_aio_context(), client->fd, NULL, NULL,
                       NULL);
    close(client->fd);
    for (i = 0; i < client->buf_cache_count; i++) {
        qemu_vfree(client->buf_cache[i]);
    }
    if (client->close_fn) {
        client->close_fn(client, client->opaque);
    }
    g_free(client);
}

static void coroutine_fn nbd_co_client_entry(void *opaque)
{
    NBDClient *client = opaque;

    if (nbd_co_negotiate(client) == 0) {
        for (;;) {
            nbd_co_wait_in_flight(client, NBD_MAX_IN_FLIGHT);
            if (nbd_co_receive_one(client) != 0) {
                break;
            }
        }
    }
    /* No more requests: stop further I/O, let the in-flight ones end */
    shutdown(client->fd, SHUT_RD);
    nbd_co_wait_in_flight(client, 1);
    aio_bh_schedule_oneshot(qemu_get_aio_context(), nbd_client_close_bh,
                            client);
}

NBDClient *nbd_client_new(NBDExport *exp, int fd,
                          NBDClientCloseFunc *close_fn, void *opaque)
{
    NBDClient *client = g_new0(NBDClient, 1);
    Coroutine *co;

    *client = (NBDClient) {
        .exp = exp,
        .fd = fd,
        .close_fn = close_fn,
        .opaque = opaque,
    };
    qemu_co_mutex_init(&client->send_lock);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    co = qemu_coroutine_create(nbd_co_client_entry, client);
    aio_co_wake(co);
    return client;
}
