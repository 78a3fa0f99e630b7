/*
 * qcow2 external data files: opening the "data-file" child
 *
 * An image with the incompatible feature "external data file" keeps its
 * guest data in a second file; the qcow2 file holds only metadata.  Data
 * clusters sit in the data file at their guest offsets and have no
 * refcounts.  With the autoclear feature "raw external data" the data
 * file is also a valid raw image of the guest disk.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "block/qcow2.h"

#define QCOW2_OPT_DATA_FILE "data-file"

static BdrvChild *qcow2_open_data_child(BlockDriverState *bs,
                                        const char *filename,
                                        QDict *options, bool allow_none,
                                        Error **errp)
{
    /* Like the file: a protocol node, that takes our discards */
    return bdrv_open_child(filename, options, QCOW2_OPT_DATA_FILE, bs,
                           BDRV_CHILD_DATA, BDRV_O_PROTOCOL | BDRV_O_UNMAP,
                           allow_none, errp);
}

int qcow2_open_data_file(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    ERRP_GUARD();
    BDRVQcow2State *s = bs->opaque;
    bool wanted = s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE;

    if (flags & BDRV_O_NO_IO) {
        /*
         * No I/O (qemu-img info): the data file is not opened, so that
         * looking at an untrusted image opens no file it names
         */
        s->data_file = wanted ? NULL : bs->file;
        qdict_extract_subqdict(options, NULL, QCOW2_OPT_DATA_FILE ".");
        qdict_del(options, QCOW2_OPT_DATA_FILE);
        return 0;
    }

    s->data_file = qcow2_open_data_child(bs, NULL, options, true, errp);
    if (*errp) {
        s->data_file = NULL;
        return -EINVAL;
    }
    if (!wanted) {
        if (s->data_file) {
            error_setg(errp, "'data-file' can only be set for images with "
                       "an external data file");
            return -EINVAL;
        }
        s->data_file = bs->file;
        if (data_file_is_raw(bs)) {
            error_setg(errp, "data-file-raw requires a data file");
            return -EINVAL;
        }
        return 0;
    }

    if (!s->data_file && s->image_data_file) {
        /*
         * As QEMU: the name an image records is a local file name, opened
         * as given (relative to the working directory).  It is never
         * parsed: an untrusted image cannot name a protocol (nbd:,
         * null-co://) or a json: description.
         */
        qdict_put_str(options, QCOW2_OPT_DATA_FILE ".driver", "file");
        qdict_put_str(options, QCOW2_OPT_DATA_FILE ".filename",
                      s->image_data_file);
        s->data_file = qcow2_open_data_child(bs, NULL, options, false, errp);
        if (!s->data_file) {
            return -EINVAL;
        }
    }
    if (!s->data_file) {
        error_setg(errp, "'data-file' is required for this image");
        return -EINVAL;
    }
    /* No guest data in the qcow2 file itself */
    bs->file->role &= ~BDRV_CHILD_DATA;
    return 0;
}

void qcow2_close_data_file(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->data_file && s->data_file != bs->file) {
        bdrv_unref_child(bs, s->data_file);
    }
    s->data_file = NULL;
    g_free(s->image_data_file);
    s->image_data_file = NULL;
}

void qcow2_delete_new_file(const char *filename)
{
    BlockDriver *proto = bdrv_find_protocol(filename, true, NULL);

    /* Only local files can be removed (QEMU's file driver alone can) */
    if (proto && !strcmp(proto->format_name, "file")) {
        if (g_str_has_prefix(filename, "file:")) {
            filename += strlen("file:");
        }
        unlink(filename);
    }
}

BlockDriverState *coroutine_fn qcow2_co_create_data_file(const char *name,
                                                         Error **errp)
{
    BlockDriver *proto;
    QemuOpts *opts;
    int ret;

    proto = bdrv_find_protocol(name, true, errp);
    if (!proto) {
        return NULL;
    }
    if (!proto->create_opts) {
        error_setg(errp, "Driver '%s' does not support image creation",
                   proto->format_name);
        return NULL;
    }
    /* Empty: growing the new image to its size grows the data file */
    opts = qemu_opts_create(proto->create_opts, NULL, 0, &error_abort);
    ret = bdrv_co_create(proto, name, opts, errp);
    qemu_opts_del(opts);
    if (ret < 0) {
        return NULL;
    }
    return bdrv_open(name, NULL, NULL,
                     BDRV_O_RDWR | BDRV_O_RESIZE | BDRV_O_PROTOCOL, errp);
}
