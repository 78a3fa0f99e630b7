/*
 * Network Block Device protocol: constants, wire structures and helpers
 * shared by the server (nbd/server.c, qemu-nbd) and the client
 * (nbd/client.c, block/nbd.c).
 *
 * Values follow the NBD protocol specification (doc/proto.md of the
 * NetworkBlockDevice project).  Everything on the wire is big-endian;
 * the structs below describe the layout only, callers convert with
 * cpu_to_be*()/be*_to_cpu().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_NBD_H
#define BLOCK_NBD_H

#include <stdint.h>
#include <stdbool.h>

/* Default TCP port (IANA) */
#define NBD_DEFAULT_PORT        10809

/* Handshake magics */
#define NBD_INIT_MAGIC          0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC          0x49484156454f5054ULL /* "IHAVEOPT" */
#define NBD_CLIENT_MAGIC        0x0000420281861253ULL /* oldstyle */
#define NBD_REP_MAGIC           0x0003e889045565a9ULL /* option reply */

/* Transmission magics */
#define NBD_REQUEST_MAGIC               0x25609513
#define NBD_SIMPLE_REPLY_MAGIC          0x67446698
#define NBD_STRUCTURED_REPLY_MAGIC      0x668e33ef
#define NBD_EXTENDED_REQUEST_MAGIC      0x21e41c71
#define NBD_EXTENDED_REPLY_MAGIC        0x6e8a278c

/* Handshake flags, sent by the server (16 bits) */
#define NBD_FLAG_FIXED_NEWSTYLE         (1 << 0)
#define NBD_FLAG_NO_ZEROES              (1 << 1)

/* Client flags, sent in reply to the handshake flags (32 bits) */
#define NBD_FLAG_C_FIXED_NEWSTYLE       (1 << 0)
#define NBD_FLAG_C_NO_ZEROES            (1 << 1)

/* Transmission flags, per export (16 bits) */
#define NBD_FLAG_HAS_FLAGS              (1 << 0)
#define NBD_FLAG_READ_ONLY              (1 << 1)
#define NBD_FLAG_SEND_FLUSH             (1 << 2)
#define NBD_FLAG_SEND_FUA               (1 << 3)
#define NBD_FLAG_ROTATIONAL             (1 << 4)
#define NBD_FLAG_SEND_TRIM              (1 << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES      (1 << 6)
#define NBD_FLAG_SEND_DF                (1 << 7)
#define NBD_FLAG_CAN_MULTI_CONN         (1 << 8)
#define NBD_FLAG_SEND_RESIZE            (1 << 9)
#define NBD_FLAG_SEND_CACHE             (1 << 10)
#define NBD_FLAG_SEND_FAST_ZERO         (1 << 11)
#define NBD_FLAG_BLOCK_STAT_PAYLOAD     (1 << 12)

/* Option types (client to server, during the handshake) */
#define NBD_OPT_EXPORT_NAME             1
#define NBD_OPT_ABORT                   2
#define NBD_OPT_LIST                    3
#define NBD_OPT_PEEK_EXPORT             4 /* withdrawn */
#define NBD_OPT_STARTTLS                5
#define NBD_OPT_INFO                    6
#define NBD_OPT_GO                      7
#define NBD_OPT_STRUCTURED_REPLY        8
#define NBD_OPT_LIST_META_CONTEXT       9
#define NBD_OPT_SET_META_CONTEXT        10
#define NBD_OPT_EXTENDED_HEADERS        11

/* Option reply types */
#define NBD_REP_ERR(value)              ((UINT32_C(1) << 31) | (value))
#define NBD_REP_IS_ERR(type)            (!!((type) & (UINT32_C(1) << 31)))

#define NBD_REP_ACK                     1
#define NBD_REP_SERVER                  2
#define NBD_REP_INFO                    3
#define NBD_REP_META_CONTEXT            4

#define NBD_REP_ERR_UNSUP               NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY              NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID             NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM            NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD            NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN             NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN            NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD     NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG             NBD_REP_ERR(9)
#define NBD_REP_ERR_EXT_HEADER_REQD     NBD_REP_ERR(10)

/* Information types (NBD_OPT_INFO/GO requests and NBD_REP_INFO replies) */
#define NBD_INFO_EXPORT                 0
#define NBD_INFO_NAME                   1
#define NBD_INFO_DESCRIPTION            2
#define NBD_INFO_BLOCK_SIZE             3

/* Command types */
#define NBD_CMD_READ                    0
#define NBD_CMD_WRITE                   1
#define NBD_CMD_DISC                    2
#define NBD_CMD_FLUSH                   3
#define NBD_CMD_TRIM                    4
#define NBD_CMD_CACHE                   5
#define NBD_CMD_WRITE_ZEROES            6
#define NBD_CMD_BLOCK_STATUS            7
#define NBD_CMD_RESIZE                  8

/* Command flags (16 bits) */
#define NBD_CMD_FLAG_FUA                (1 << 0)
#define NBD_CMD_FLAG_NO_HOLE            (1 << 1)
#define NBD_CMD_FLAG_DF                 (1 << 2)
#define NBD_CMD_FLAG_REQ_ONE            (1 << 3)
#define NBD_CMD_FLAG_FAST_ZERO          (1 << 4)
#define NBD_CMD_FLAG_PAYLOAD_LEN        (1 << 5)

/* Structured reply chunk flags */
#define NBD_REPLY_FLAG_DONE             (1 << 0)

/* Structured reply chunk types */
#define NBD_REPLY_TYPE_ERR(value)       ((1 << 15) | (value))
#define NBD_REPLY_TYPE_IS_ERR(type)     (!!((type) & (1 << 15)))

#define NBD_REPLY_TYPE_NONE             0
#define NBD_REPLY_TYPE_OFFSET_DATA      1
#define NBD_REPLY_TYPE_OFFSET_HOLE      2
#define NBD_REPLY_TYPE_BLOCK_STATUS     5
#define NBD_REPLY_TYPE_BLOCK_STATUS_EXT 6
#define NBD_REPLY_TYPE_ERROR            NBD_REPLY_TYPE_ERR(1)
#define NBD_REPLY_TYPE_ERROR_OFFSET     NBD_REPLY_TYPE_ERR(2)

/* Error values on the wire (independent of the host's errno values) */
#define NBD_SUCCESS     0
#define NBD_EPERM       1
#define NBD_EIO         5
#define NBD_ENOMEM      12
#define NBD_EINVAL      22
#define NBD_ENOSPC      28
#define NBD_EOVERFLOW   75
#define NBD_ENOTSUP     95
#define NBD_ESHUTDOWN   108

/* Meta contexts */
#define NBD_META_NS_BASE                "base"
#define NBD_META_BASE_ALLOCATION        "base:allocation"
/* base:allocation status flags */
#define NBD_STATE_HOLE                  (1 << 0)
#define NBD_STATE_ZERO                  (1 << 1)
/* qemu:dirty-bitmap:NAME status flag */
#define NBD_STATE_DIRTY                 (1 << 0)

/* Limits */
#define NBD_MAX_STRING_SIZE     4096            /* names, descriptions */
#define NBD_MAX_BUFFER_SIZE     (32 * 1024 * 1024) /* READ/WRITE payload */
#define NBD_MAX_OPTION_SIZE     (64 * 1024)     /* option payload we accept */
#define NBD_MIN_BLOCK_SIZE      1
#define NBD_PREFERRED_BLOCK_SIZE 4096
#define NBD_MAX_META_CONTEXTS   16              /* per SET_META_CONTEXT */

/* Wire structures, all fields big-endian */

/* Newstyle server greeting: NBDMAGIC, IHAVEOPT, handshake flags */
typedef struct __attribute__((packed)) NBDNewstyleHello {
    uint64_t magic;         /* NBD_INIT_MAGIC */
    uint64_t opts_magic;    /* NBD_OPTS_MAGIC */
    uint16_t flags;         /* NBD_FLAG_FIXED_NEWSTYLE | ... */
} NBDNewstyleHello;

/* Option request header, followed by @length bytes of data */
typedef struct __attribute__((packed)) NBDOption {
    uint64_t magic;         /* NBD_OPTS_MAGIC */
    uint32_t option;        /* NBD_OPT_* */
    uint32_t length;
} NBDOption;

/* Option reply header, followed by @length bytes of data */
typedef struct __attribute__((packed)) NBDOptionReply {
    uint64_t magic;         /* NBD_REP_MAGIC */
    uint32_t option;
    uint32_t type;          /* NBD_REP_* */
    uint32_t length;
} NBDOptionReply;

/* Reply to NBD_OPT_EXPORT_NAME (without the 124 zero bytes) */
typedef struct __attribute__((packed)) NBDExportNameReply {
    uint64_t size;
    uint16_t flags;         /* transmission flags */
} NBDExportNameReply;

/* NBD_INFO_EXPORT payload */
typedef struct __attribute__((packed)) NBDInfoExport {
    uint16_t type;          /* NBD_INFO_EXPORT */
    uint64_t size;
    uint16_t flags;
} NBDInfoExport;

/* NBD_INFO_BLOCK_SIZE payload */
typedef struct __attribute__((packed)) NBDInfoBlockSize {
    uint16_t type;          /* NBD_INFO_BLOCK_SIZE */
    uint32_t minimum;
    uint32_t preferred;
    uint32_t maximum;
} NBDInfoBlockSize;

/* Transmission request (compact header), followed by data for WRITE */
typedef struct __attribute__((packed)) NBDRequestHeader {
    uint32_t magic;         /* NBD_REQUEST_MAGIC */
    uint16_t flags;         /* NBD_CMD_FLAG_* */
    uint16_t type;          /* NBD_CMD_* */
    uint64_t cookie;        /* "handle" in older texts */
    uint64_t offset;
    uint32_t length;
} NBDRequestHeader;

/* Simple reply, followed by data for a successful READ */
typedef struct __attribute__((packed)) NBDSimpleReply {
    uint32_t magic;         /* NBD_SIMPLE_REPLY_MAGIC */
    uint32_t error;         /* NBD_E* */
    uint64_t cookie;
} NBDSimpleReply;

/* Structured reply chunk header, followed by @length bytes of payload */
typedef struct __attribute__((packed)) NBDStructuredReplyChunk {
    uint32_t magic;         /* NBD_STRUCTURED_REPLY_MAGIC */
    uint16_t flags;         /* NBD_REPLY_FLAG_* */
    uint16_t type;          /* NBD_REPLY_TYPE_* */
    uint64_t cookie;
    uint32_t length;
} NBDStructuredReplyChunk;

/* NBD_REPLY_TYPE_OFFSET_DATA payload header, followed by the data */
typedef struct __attribute__((packed)) NBDStructuredReadData {
    uint64_t offset;
} NBDStructuredReadData;

/* NBD_REPLY_TYPE_OFFSET_HOLE payload */
typedef struct __attribute__((packed)) NBDStructuredReadHole {
    uint64_t offset;
    uint32_t length;
} NBDStructuredReadHole;

/* NBD_REPLY_TYPE_ERROR payload header, followed by @message_length bytes */
typedef struct __attribute__((packed)) NBDStructuredError {
    uint32_t error;         /* NBD_E* */
    uint16_t message_length;
} NBDStructuredError;

/* NBD_REPLY_TYPE_BLOCK_STATUS payload: context id, then descriptors */
typedef struct __attribute__((packed)) NBDStructuredMeta {
    uint32_t context_id;
} NBDStructuredMeta;

typedef struct __attribute__((packed)) NBDExtent {
    uint32_t length;
    uint32_t flags;         /* NBD_STATE_* for base:allocation */
} NBDExtent;

/* Sizes on the wire */
#define NBD_REQUEST_SIZE        sizeof(NBDRequestHeader)        /* 28 */
#define NBD_SIMPLE_REPLY_SIZE   sizeof(NBDSimpleReply)          /* 16 */
#define NBD_CHUNK_HEADER_SIZE   sizeof(NBDStructuredReplyChunk) /* 20 */

/* nbd/common.c */

/* Host errno (positive) to the NBD wire value; unknown values -> NBD_EINVAL */
uint32_t nbd_errno_to_wire(int err);
/* NBD wire value to a host errno (positive), unknown values -> EINVAL */
int nbd_errno_from_wire(uint32_t err);

/* Names for debug output and error messages; "<unknown>" if unknown */
const char *nbd_opt_lookup(uint32_t opt);
const char *nbd_rep_lookup(uint32_t rep);
const char *nbd_info_lookup(uint16_t info);
const char *nbd_cmd_lookup(uint16_t cmd);
const char *nbd_reply_type_lookup(uint16_t type);
const char *nbd_err_lookup(uint32_t err);   /* wire value */

/* nbd/server.c */

typedef struct BlockBackend BlockBackend;
typedef struct NBDExport NBDExport;
typedef struct NBDClient NBDClient;

/*
 * An export of @blk (a reference is taken) under @name, with an optional
 * @description.  @readonly refuses writes with EPERM even if @blk is
 * writable.
 */
NBDExport *nbd_export_new(BlockBackend *blk, const char *name,
                          const char *description, bool readonly);
void nbd_export_free(NBDExport *exp);

/* Offer the "qemu:allocation-depth" meta context */
void nbd_export_set_allocation_depth(NBDExport *exp, bool on);

/*
 * Offer the dirty bitmap @name (searched for down the backing chain) as
 * the "qemu:dirty-bitmap:@name" meta context; 0, or -errno with QEMU's
 * message in @errp
 */
typedef struct Error Error;
int nbd_export_add_bitmap(NBDExport *exp, const char *name, Error **errp);

/* Called from the event loop once a client is gone and its fd closed */
typedef void NBDClientCloseFunc(NBDClient *client, void *opaque);

/*
 * Serve @exp on the connected socket @fd (ownership passes to the server,
 * the fd is made non-blocking): the handshake, then requests until the
 * client disconnects or breaks the protocol.  @close_fn(@opaque) runs
 * when the connection is torn down, after every request has finished.
 */
NBDClient *nbd_client_new(NBDExport *exp, int fd,
                          NBDClientCloseFunc *close_fn, void *opaque);

#endif /* BLOCK_NBD_H */
