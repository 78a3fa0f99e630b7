/*
 * quorum: keep N copies of a disk and vote on what they read
 *
 * Every write goes to all children and succeeds when at least
 * vote-threshold of them succeed.  A read (read-pattern=quorum) goes to all
 * children as well; their data is compared and the version that at least
 * vote-threshold children agree on is returned, or -EIO if none reaches
 * the threshold.  read-pattern=fifo reads from the first child instead and
 * falls back on the next one after an error.
 *
 * Options (see docs/quorum.txt):
 *   children.N.*, children.N=NODE   the children, numbered from 0
 *   vote-threshold=N                required, 1 <= N <= number of children
 *   blkverify=on                    two children, threshold 2: the first
 *                                   difference is printed and the process
 *                                   exits
 *   rewrite-corrupted=on            write the winning version back to the
 *                                   children that read something else
 *   read-pattern=quorum|fifo
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qemu/cutils.h"
#include "qemu/option.h"
#include "qemu/iov.h"
#include "qemu/buffer-compare.h"
#include "qobject/qdict.h"

#define QUORUM_OPT_VOTE_THRESHOLD "vote-threshold"
#define QUORUM_OPT_BLKVERIFY      "blkverify"
#define QUORUM_OPT_REWRITE        "rewrite-corrupted"
#define QUORUM_OPT_READ_PATTERN   "read-pattern"

#define QUORUM_CHILDREN_PREFIX    "children."

typedef enum QuorumReadPattern {
    QUORUM_READ_PATTERN_QUORUM,
    QUORUM_READ_PATTERN_FIFO,
} QuorumReadPattern;

typedef struct QuorumInFlight QuorumInFlight;

typedef struct BDRVQuorumState {
    BdrvChild **children;       /* "children.0" ... in index order */
    int num_children;
    int threshold;              /* votes (or successes) needed */
    bool is_blkverify;
    bool rewrite_corrupted;
    QuorumReadPattern read_pattern;
    QLIST_HEAD(, QuorumInFlight) in_flight;
} BDRVQuorumState;

/* The options as read, before they are applied */
typedef struct QuorumOptions {
    int threshold;
    bool is_blkverify;
    bool rewrite_corrupted;
    QuorumReadPattern read_pattern;
} QuorumOptions;

typedef enum QuorumOp {
    QUORUM_READ,
    QUORUM_WRITE,
    QUORUM_WRITE_ZEROES,
    QUORUM_REWRITE,
    QUORUM_FLUSH,
} QuorumOp;

typedef struct QuorumRequest QuorumRequest;

/* One child's part of a request */
typedef struct QuorumChildReq {
    QuorumRequest *r;
    int index;
    uint8_t *buf;           /* reads: this child's copy of the data */
    QEMUIOVector qiov;      /* over buf */
    int ret;
} QuorumChildReq;

/* A request to the quorum node, fanned out to the children */
struct QuorumRequest {
    BlockDriverState *bs;
    QuorumOp op;
    int64_t offset;
    int64_t bytes;
    QEMUIOVector *qiov;     /* the caller's data (writes) */
    QEMUIOVector *rewrite_qiov; /* the winning version (rewrites) */
    BdrvRequestFlags flags;
    QuorumChildReq *creqs;  /* one per child */
    int pending;            /* child coroutines not finished yet */
    Coroutine *waiter;      /* the caller, while it waits for them */
};

/*
 * A request in flight.  Two overlapping requests of which one modifies
 * data are not run concurrently: the children could order them
 * differently and end up disagreeing, a read could see the old data on
 * some children and the new on others, and a rewrite of corrupted data
 * could put back a version that a newer write has replaced.
 */
struct QuorumInFlight {
    int64_t offset;
    int64_t bytes;
    bool modifies;
    CoQueue waiters;
    QLIST_ENTRY(QuorumInFlight) next;
};

static QemuOptsList quorum_runtime_opts = {
    .name = "quorum",
    QEMU_OPTS_LIST_INIT(quorum_runtime_opts),
    .desc = {
        {
            .name = QUORUM_OPT_VOTE_THRESHOLD,
            .type = QEMU_OPT_NUMBER,
            .help = "The number of vote needed for reaching quorum",
        },
        {
            .name = QUORUM_OPT_BLKVERIFY,
            .type = QEMU_OPT_BOOL,
            .help = "Trigger block verify mode if set",
        },
        {
            .name = QUORUM_OPT_REWRITE,
            .type = QEMU_OPT_BOOL,
            .help = "Rewrite corrupted block on read quorum",
        },
        {
            .name = QUORUM_OPT_READ_PATTERN,
            .type = QEMU_OPT_STRING,
            .help = "Allowed pattern: quorum, fifo. Quorum is default",
        },
        { /* end of list */ }
    },
};

/* Options */

/*
 * Number of children in the flat @options: "children.I" (a node
 * reference) or "children.I.*" for I = 0, 1, ... without gaps.  -EINVAL
 * if some "children." key is not part of that sequence, or if one index
 * has both a reference and options.
 */
static int quorum_count_children(QDict *options)
{
    const QDictEntry *e;
    int n, claimed = 0, others = 0;

    for (n = 0; n < INT_MAX; n++) {
        g_autofree char *key = g_strdup_printf(QUORUM_CHILDREN_PREFIX "%d",
                                               n);
        g_autofree char *prefix = g_strdup_printf("%s.", key);
        bool ref = qdict_haskey(options, key);
        int sub = qdict_count_prefixed_entries(options, prefix);

        if (!ref && !sub) {
            break;
        }
        if (ref && sub) {
            return -EINVAL;
        }
        claimed += ref ? 1 : sub;
    }
    for (e = qdict_first(options); e; e = qdict_next(options, e)) {
        if (!g_str_has_prefix(qdict_entry_key(e), QUORUM_CHILDREN_PREFIX)) {
            others++;
        }
    }
    if ((size_t)(claimed + others) != qdict_size(options)) {
        return -EINVAL;
    }
    return n;
}

/*
 * Read and check the options for @num_children children, in QEMU's
 * order: the threshold first, then the read pattern, then the modes
 * that only the quorum read pattern has (fifo ignores them).
 */
static bool quorum_read_options(QemuOpts *opts, int num_children,
                                QuorumOptions *o, Error **errp)
{
    const char *pattern;

    /*
     * The value is parsed as an unsigned 64-bit number and kept in an
     * int, as QEMU does: "-1" is refused as below 1, and only the low
     * 32 bits of a huge value count.
     */
    o->threshold = (int)(uint32_t)qemu_opt_get_number(
        opts, QUORUM_OPT_VOTE_THRESHOLD, 0);
    if (o->threshold < 1) {
        error_setg(errp, "Parameter '" QUORUM_OPT_VOTE_THRESHOLD
                   "' expects a value >= 1");
        return false;
    }
    if (o->threshold > num_children) {
        error_setg(errp, "threshold may not exceed children count");
        return false;
    }

    pattern = qemu_opt_get(opts, QUORUM_OPT_READ_PATTERN);
    if (!pattern || !strcmp(pattern, "quorum")) {
        o->read_pattern = QUORUM_READ_PATTERN_QUORUM;
    } else if (!strcmp(pattern, "fifo")) {
        o->read_pattern = QUORUM_READ_PATTERN_FIFO;
    } else {
        error_setg(errp, "Please set read-pattern as fifo or quorum");
        return false;
    }

    o->is_blkverify = false;
    o->rewrite_corrupted = false;
    if (o->read_pattern != QUORUM_READ_PATTERN_QUORUM) {
        return true;
    }
    o->is_blkverify = qemu_opt_get_bool(opts, QUORUM_OPT_BLKVERIFY, false);
    if (o->is_blkverify && (num_children != 2 || o->threshold != 2)) {
        error_setg(errp, "blkverify=on can only be set if there are "
                   "exactly two files and vote-threshold is 2");
        return false;
    }
    o->rewrite_corrupted = qemu_opt_get_bool(opts, QUORUM_OPT_REWRITE,
                                             false);
    if (o->rewrite_corrupted && o->is_blkverify) {
        error_setg(errp,
                   "rewrite-corrupted=on cannot be used with blkverify=on");
        return false;
    }
    return true;
}

static void quorum_apply_options(BDRVQuorumState *s, const QuorumOptions *o)
{
    s->threshold = o->threshold;
    s->is_blkverify = o->is_blkverify;
    s->rewrite_corrupted = o->rewrite_corrupted;
    s->read_pattern = o->read_pattern;
}

static void quorum_close_children(BlockDriverState *bs)
{
    BDRVQuorumState *s = bs->opaque;
    int i;

    for (i = 0; i < s->num_children; i++) {
        bdrv_unref_child(bs, s->children[i]);
    }
    g_free(s->children);
    s->children = NULL;
    s->num_children = 0;
}

/*
 * Open children.0 ... children.N-1.  Each is opened as any node is (a
 * format is probed when none is given), or is a reference to an existing
 * node.  With rewrite-corrupted every child must be writable.
 */
static bool quorum_open_children(BlockDriverState *bs, QDict *options,
                                 int num_children, Error **errp)
{
    BDRVQuorumState *s = bs->opaque;
    int i;

    s->children = g_new0(BdrvChild *, num_children);
    for (i = 0; i < num_children; i++) {
        g_autofree char *name = g_strdup_printf(QUORUM_CHILDREN_PREFIX "%d",
                                                i);
        BdrvChild *child;

        child = bdrv_open_child(NULL, options, name, bs, BDRV_CHILD_DATA, 0,
                                false, errp);
        if (!child) {
            quorum_close_children(bs);
            return false;
        }
        s->children[s->num_children++] = child;
        if (s->rewrite_corrupted && bdrv_is_read_only(child->bs)) {
            error_setg(errp, "Block node is read-only");
            quorum_close_children(bs);
            return false;
        }
        /*
         * As in QEMU, nobody else may write to or resize a child: the
         * children would differ.  So an image that is two children of a
         * writable quorum fails on the image lock of the second one.
         */
        if (bdrv_add_perm(child->bs, 0, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                          errp) < 0) {
            quorum_close_children(bs);
            return false;
        }
    }
    return true;
}

/*
 * A node cannot be two children of one writable quorum: each child
 * takes write permission and shares none, so QEMU refuses the second
 * use with a permission conflict.  Its report names the last child that
 * is a repeat and the most recent earlier use of the same node.
 */
static bool quorum_check_repeated_children(BlockDriverState *bs,
                                           Error **errp)
{
    BDRVQuorumState *s = bs->opaque;
    int i, j;

    if (bdrv_is_read_only(bs)) {
        return true;
    }
    for (j = s->num_children - 1; j > 0; j--) {
        for (i = j - 1; i >= 0; i--) {
            BdrvChild *a = s->children[i], *b = s->children[j];

            if (a->bs != b->bs) {
                continue;
            }
            error_setg(errp, "Permission conflict on node '%s': permissions "
                       "'write' are both required by node '%s' (uses node "
                       "'%s' as '%s' child) and unshared by node '%s' (uses "
                       "node '%s' as '%s' child).",
                       bdrv_get_node_name(a->bs), bdrv_get_node_name(bs),
                       bdrv_get_node_name(a->bs), a->name,
                       bdrv_get_node_name(bs), bdrv_get_node_name(b->bs),
                       b->name);
            return false;
        }
    }
    return true;
}

/* A zero-write flag goes down only if every child honours it */
static void quorum_refresh_flags(BlockDriverState *bs)
{
    BDRVQuorumState *s = bs->opaque;
    BdrvRequestFlags zero_flags =
        BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    int i;

    for (i = 0; i < s->num_children; i++) {
        zero_flags &= s->children[i]->bs->supported_zero_flags;
    }
    bs->supported_write_flags = 0;
    bs->supported_zero_flags = zero_flags;
}

/*
 * Open: count the children, check the options (the same messages, in
 * the same order, as QEMU's), then open the children.
 */
static int quorum_open(BlockDriverState *bs, QDict *options, int flags,
                       Error **errp)
{
    BDRVQuorumState *s = bs->opaque;
    QuorumOptions o;
    QemuOpts *opts;
    int num_children;
    int ret = -EINVAL;

    QLIST_INIT(&s->in_flight);
    num_children = quorum_count_children(options);
    if (num_children < 0) {
        error_setg(errp, "Option children is not a valid array");
        return -EINVAL;
    }
    if (num_children < 1) {
        error_setg(errp, "Number of provided children must be 1 or more");
        return -EINVAL;
    }

    opts = qemu_opts_create(&quorum_runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp) ||
        !quorum_read_options(opts, num_children, &o, errp)) {
        goto out;
    }
    quorum_apply_options(s, &o);
    if (!quorum_open_children(bs, options, num_children, errp)) {
        goto out;
    }
    if (!quorum_check_repeated_children(bs, errp)) {
        quorum_close_children(bs);
        goto out;
    }
    quorum_refresh_flags(bs);
    ret = 0;
out:
    qemu_opts_del(opts);
    return ret;
}

/*
 * QEMU's quorum cannot be reopened at all (not even to change read-only
 * or cache flags), and says so in the block core's words.
 */
static int quorum_reopen_prepare(BDRVReopenState *state, Error **errp)
{
    error_setg(errp, "Block format '%s' used by node '%s' does not support "
               "reopening files", state->bs->drv->format_name,
               bdrv_get_node_name(state->bs));
    return -ENOTSUP;
}

static void quorum_close(BlockDriverState *bs)
{
    quorum_close_children(bs);
}

/* Running one request on the children */

static bool quorum_conflicts(QuorumInFlight *a, QuorumInFlight *b)
{
    if (!a->modifies && !b->modifies) {
        return false;
    }
    return a->offset < b->offset + b->bytes &&
           b->offset < a->offset + a->bytes;
}

static void coroutine_fn quorum_serialise_begin(BDRVQuorumState *s,
                                                QuorumInFlight *self,
                                                int64_t offset,
                                                int64_t bytes,
                                                bool modifies)
{
    QuorumInFlight *other;
    bool retry;

    *self = (QuorumInFlight) {
        .offset = offset,
        .bytes = bytes,
        .modifies = modifies,
    };
    qemu_co_queue_init(&self->waiters);
    do {
        retry = false;
        QLIST_FOREACH(other, &s->in_flight, next) {
            if (quorum_conflicts(self, other)) {
                qemu_co_queue_wait(&other->waiters);
                retry = true;
                break;
            }
        }
    } while (retry);
    QLIST_INSERT_HEAD(&s->in_flight, self, next);
}

static void quorum_serialise_end(QuorumInFlight *self)
{
    QLIST_REMOVE(self, next);
    qemu_co_queue_restart_all(&self->waiters);
}

/* Issue @c's part of its request's current operation */
static int coroutine_fn quorum_do_child(QuorumChildReq *c)
{
    QuorumRequest *r = c->r;
    BDRVQuorumState *s = r->bs->opaque;
    BdrvChild *child = s->children[c->index];

    switch (r->op) {
    case QUORUM_READ:
        return bdrv_co_preadv(child, r->offset, r->bytes, &c->qiov, 0);
    case QUORUM_WRITE:
        return bdrv_co_pwritev(child, r->offset, r->bytes, r->qiov,
                               r->flags);
    case QUORUM_WRITE_ZEROES:
        return bdrv_co_pwrite_zeroes(child, r->offset, r->bytes, r->flags);
    case QUORUM_REWRITE:
        return bdrv_co_pwritev(child, r->offset, r->bytes, r->rewrite_qiov,
                               0);
    case QUORUM_FLUSH:
        return bdrv_co_flush(child->bs);
    }
    g_assert_not_reached();
}

static void coroutine_fn quorum_child_entry(void *opaque)
{
    QuorumChildReq *c = opaque;
    QuorumRequest *r = c->r;

    c->ret = quorum_do_child(c);
    if (--r->pending == 0 && r->waiter) {
        aio_co_wake(r->waiter);
    }
}

/*
 * Run @op on the children for which @which is true (all if NULL), each
 * in its own coroutine, and wait until all have finished.
 */
static void coroutine_fn quorum_co_run(QuorumRequest *r, QuorumOp op,
                                       const bool *which)
{
    BDRVQuorumState *s = r->bs->opaque;
    int i;

    r->op = op;
    /* One for this loop, so that no child wakes us before we wait */
    r->pending = 1;
    for (i = 0; i < s->num_children; i++) {
        if (which && !which[i]) {
            continue;
        }
        r->pending++;
        qemu_coroutine_enter(qemu_coroutine_create(quorum_child_entry,
                                                   &r->creqs[i]));
    }
    r->pending--;
    if (r->pending) {
        r->waiter = qemu_coroutine_self();
        while (r->pending) {
            qemu_coroutine_yield();
        }
        r->waiter = NULL;
    }
}

static QuorumRequest *quorum_request_new(BlockDriverState *bs,
                                         int64_t offset, int64_t bytes,
                                         QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    BDRVQuorumState *s = bs->opaque;
    QuorumRequest *r = g_new0(QuorumRequest, 1);
    int i;

    *r = (QuorumRequest) {
        .bs = bs,
        .offset = offset,
        .bytes = bytes,
        .qiov = qiov,
        .flags = flags,
        .creqs = g_new0(QuorumChildReq, s->num_children),
    };
    for (i = 0; i < s->num_children; i++) {
        r->creqs[i].r = r;
        r->creqs[i].index = i;
    }
    return r;
}

static void quorum_request_free(QuorumRequest *r)
{
    BDRVQuorumState *s = r->bs->opaque;
    int i;

    for (i = 0; i < s->num_children; i++) {
        qemu_vfree(r->creqs[i].buf);
    }
    g_free(r->creqs);
    g_free(r);
}

/* Votes */

/*
 * The winner of a vote among @n candidates, given as the number of votes
 * of each: the most votes wins, and of equals the candidate that came
 * last, as in QEMU (whose list of versions puts each new one first).
 */
static int quorum_vote_winner(const int *votes, int n)
{
    int i, winner = -1;

    for (i = 0; i < n; i++) {
        if (winner < 0 || votes[i] >= votes[winner]) {
            winner = i;
        }
    }
    return winner;
}

/*
 * The error to return when too few children succeeded: the error code
 * most children returned (of equals, the one first seen last).  0 if no
 * child failed.
 */
static int quorum_vote_error(QuorumRequest *r)
{
    BDRVQuorumState *s = r->bs->opaque;
    g_autofree int *codes = g_new0(int, s->num_children);
    g_autofree int *votes = g_new0(int, s->num_children);
    int i, j, n = 0;

    for (i = 0; i < s->num_children; i++) {
        int ret = r->creqs[i].ret;

        if (!ret) {
            continue;
        }
        for (j = 0; j < n && codes[j] != ret; j++) {
            /* look for an equal code */
        }
        if (j == n) {
            codes[n++] = ret;
        }
        votes[j]++;
    }
    return n ? codes[quorum_vote_winner(votes, n)] : 0;
}

static int quorum_count_successes(QuorumRequest *r)
{
    BDRVQuorumState *s = r->bs->opaque;
    int i, n = 0;

    for (i = 0; i < s->num_children; i++) {
        n += r->creqs[i].ret == 0;
    }
    return n;
}

/* Outcome of a write or flush: enough successes, or the voted error */
static int quorum_result(QuorumRequest *r)
{
    BDRVQuorumState *s = r->bs->opaque;

    if (quorum_count_successes(r) >= s->threshold) {
        return 0;
    }
    return quorum_vote_error(r);
}

/*
 * blkverify mode: the first differing byte of the two children's data
 * ends the process, as in QEMU (the only way this driver ever reports
 * anything on its own).
 */
static void quorum_blkverify_check(QuorumRequest *r)
{
    uint8_t *a = r->creqs[0].buf, *b = r->creqs[1].buf;
    size_t diff = buffer_find_diff(a, b, r->bytes);

    if (diff == (size_t)r->bytes) {
        return;
    }
    fprintf(stderr, "quorum: offset=%" PRIu64 " bytes=%" PRIu64
            " contents mismatch at offset %" PRIu64 "\n",
            (uint64_t)r->offset, (uint64_t)r->bytes,
            (uint64_t)(r->offset + diff));
    exit(1);
}

/*
 * Vote on the data the children read.  Returns the index of a child
 * holding the winning version, or -EIO if no version has enough votes;
 * @bad is set for the children whose data differs from the winner's.
 */
static int quorum_vote_data(QuorumRequest *r, bool *bad)
{
    BDRVQuorumState *s = r->bs->opaque;
    g_autofree int *version = g_new0(int, s->num_children);
    g_autofree int *first = g_new0(int, s->num_children);
    g_autofree int *votes = g_new0(int, s->num_children);
    int i, j, n = 0, w;

    /* Group the children that read successfully by identical contents */
    for (i = 0; i < s->num_children; i++) {
        version[i] = -1;
        if (r->creqs[i].ret) {
            continue;
        }
        for (j = 0; j < n; j++) {
            if (!memcmp(r->creqs[first[j]].buf, r->creqs[i].buf, r->bytes)) {
                break;
            }
        }
        if (j == n) {
            first[n++] = i;
        }
        version[i] = j;
        votes[j]++;
    }

    w = quorum_vote_winner(votes, n);
    if (votes[w] < s->threshold) {
        return -EIO;
    }
    for (i = 0; i < s->num_children; i++) {
        bad[i] = version[i] >= 0 && version[i] != w;
    }
    return first[w];
}

/* read-pattern=quorum: read all children, vote, repair if asked to */
static int coroutine_fn quorum_co_read_quorum(QuorumRequest *r)
{
    BDRVQuorumState *s = r->bs->opaque;
    g_autofree bool *bad = g_new0(bool, s->num_children);
    QEMUIOVector winner_qiov;
    int i, winner;

    for (i = 0; i < s->num_children; i++) {
        QuorumChildReq *c = &r->creqs[i];

        c->buf = qemu_try_blockalign(s->children[i]->bs, r->bytes);
        if (!c->buf) {
            return -ENOMEM;
        }
        qemu_iovec_init_buf(&c->qiov, c->buf, r->bytes);
    }

    quorum_co_run(r, QUORUM_READ, NULL);
    if (quorum_count_successes(r) < s->threshold) {
        return quorum_vote_error(r);
    }
    if (s->is_blkverify) {
        quorum_blkverify_check(r);
    }
    winner = quorum_vote_data(r, bad);
    if (winner < 0) {
        return winner;
    }
    qemu_iovec_from_buf(r->qiov, 0, r->creqs[winner].buf, r->bytes);

    if (s->rewrite_corrupted) {
        /* A repair is only an attempt: its errors are not the reader's */
        for (i = 0; i < s->num_children && !bad[i]; i++) {
            /* look for a child to repair */
        }
        if (i < s->num_children) {
            qemu_iovec_init_buf(&winner_qiov, r->creqs[winner].buf,
                                r->bytes);
            r->rewrite_qiov = &winner_qiov;
            quorum_co_run(r, QUORUM_REWRITE, bad);
        }
    }
    return 0;
}

/* read-pattern=fifo: the first child that reads without an error */
static int coroutine_fn quorum_co_read_fifo(QuorumRequest *r)
{
    BDRVQuorumState *s = r->bs->opaque;
    int i, ret = -EIO;

    for (i = 0; i < s->num_children; i++) {
        ret = bdrv_co_preadv(s->children[i], r->offset, r->bytes, r->qiov,
                             0);
        if (ret == 0) {
            break;
        }
    }
    return ret;
}

/* I/O callbacks */

static int coroutine_fn quorum_co_preadv(BlockDriverState *bs,
                                         int64_t offset, int64_t bytes,
                                         QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    BDRVQuorumState *s = bs->opaque;
    QuorumRequest *r = quorum_request_new(bs, offset, bytes, qiov, flags);
    QuorumInFlight self;
    int ret;

    quorum_serialise_begin(s, &self, offset, bytes, false);
    if (s->read_pattern == QUORUM_READ_PATTERN_QUORUM) {
        ret = quorum_co_read_quorum(r);
    } else {
        ret = quorum_co_read_fifo(r);
    }
    quorum_serialise_end(&self);
    quorum_request_free(r);
    return ret;
}

static int coroutine_fn quorum_co_modify(BlockDriverState *bs, QuorumOp op,
                                         int64_t offset, int64_t bytes,
                                         QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    BDRVQuorumState *s = bs->opaque;
    QuorumRequest *r = quorum_request_new(bs, offset, bytes, qiov, flags);
    QuorumInFlight self;
    int ret;

    quorum_serialise_begin(s, &self, offset, bytes, true);
    quorum_co_run(r, op, NULL);
    quorum_serialise_end(&self);
    ret = quorum_result(r);
    quorum_request_free(r);
    return ret;
}

static int coroutine_fn quorum_co_pwritev(BlockDriverState *bs,
                                          int64_t offset, int64_t bytes,
                                          QEMUIOVector *qiov,
                                          BdrvRequestFlags flags)
{
    return quorum_co_modify(bs, QUORUM_WRITE, offset, bytes, qiov, flags);
}

static int coroutine_fn quorum_co_pwrite_zeroes(BlockDriverState *bs,
                                                int64_t offset,
                                                int64_t bytes,
                                                BdrvRequestFlags flags)
{
    return quorum_co_modify(bs, QUORUM_WRITE_ZEROES, offset, bytes, NULL,
                            flags);
}

/* Flush every child; it worked if it worked on vote-threshold of them */
static int coroutine_fn quorum_co_flush(BlockDriverState *bs)
{
    QuorumRequest *r = quorum_request_new(bs, 0, 0, NULL, 0);
    int ret;

    quorum_co_run(r, QUORUM_FLUSH, NULL);
    ret = quorum_result(r);
    quorum_request_free(r);
    return ret;
}

/*
 * Children holding the same data may still describe it differently, so
 * a range is reported as zeroes only if every child says it is (for the
 * shortest extent any of them gives), and as data otherwise (for the
 * longest extent a child gives data).  A child's error makes the whole
 * range data.
 */
static int coroutine_fn quorum_co_block_status(BlockDriverState *bs,
                                               bool want_zero,
                                               int64_t offset, int64_t bytes,
                                               int64_t *pnum, int64_t *map,
                                               BlockDriverState **file)
{
    BDRVQuorumState *s = bs->opaque;
    int64_t pnum_zero = bytes, pnum_data = 0;
    int i;

    for (i = 0; i < s->num_children; i++) {
        int64_t n;
        int ret = bdrv_co_block_status_above(s->children[i]->bs, NULL, offset,
                                             bytes, &n, NULL, NULL);

        if (ret < 0) {
            pnum_data = bytes;
            break;
        }
        if (ret & BDRV_BLOCK_ZERO) {
            pnum_zero = MIN(pnum_zero, n);
        } else {
            pnum_data = MAX(pnum_data, n);
        }
    }
    if (pnum_data) {
        *pnum = pnum_data;
        return BDRV_BLOCK_DATA;
    }
    *pnum = pnum_zero;
    return BDRV_BLOCK_ZERO;
}

/* Metadata */

/* The children's common length; -EIO if they differ */
static int64_t quorum_getlength(BlockDriverState *bs)
{
    BDRVQuorumState *s = bs->opaque;
    int64_t len;
    int i;

    len = bdrv_getlength(s->children[0]->bs);
    if (len < 0) {
        return len;
    }
    for (i = 1; i < s->num_children; i++) {
        int64_t other = bdrv_getlength(s->children[i]->bs);

        if (other < 0) {
            return other;
        }
        if (other != len) {
            return -EIO;
        }
    }
    return len;
}

static BlockDriver bdrv_quorum = {
    .format_name            = "quorum",
    .instance_size          = sizeof(BDRVQuorumState),

    .bdrv_open              = quorum_open,
    .bdrv_close             = quorum_close,
    .bdrv_reopen_prepare    = quorum_reopen_prepare,

    .bdrv_co_preadv         = quorum_co_preadv,
    .bdrv_co_pwritev        = quorum_co_pwritev,
    .bdrv_co_pwrite_zeroes  = quorum_co_pwrite_zeroes,
    .bdrv_co_flush          = quorum_co_flush,
    .bdrv_co_block_status   = quorum_co_block_status,

    .bdrv_getlength         = quorum_getlength,
};

static void bdrv_quorum_init(void)
{
    bdrv_register(&bdrv_quorum);
}

block_init(bdrv_quorum_init);
