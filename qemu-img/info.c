/*
 * qemu-img info and snapshot: describe an image (and its backing chain)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>
#include <time.h>

#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "sysemu/block-backend.h"
#include "qemu-img.h"

/* What qemu-img info reports about one image (QEMU's ImageInfo) */
typedef struct ImgImageInfo {
    char *filename;
    char *format;
    bool has_dirty_flag;
    bool dirty_flag;
    bool has_actual_size;
    int64_t actual_size;
    int64_t virtual_size;
    int64_t cluster_size;          /* 0: none */
    bool encrypted;
    char *backing_filename;        /* NULL: no backing file */
    char *full_backing_filename;   /* NULL: cannot be determined */
    char *backing_filename_format;
    QDict *format_specific;        /* {"type": ..., "data": {...}} */
    QEMUSnapshotInfo *snapshots;   /* internal snapshots (g_new array) */
    int nb_snapshots;
} ImgImageInfo;

static void img_image_info_free(ImgImageInfo *info)
{
    g_free(info->filename);
    g_free(info->format);
    g_free(info->backing_filename);
    g_free(info->full_backing_filename);
    g_free(info->backing_filename_format);
    if (info->format_specific) {
        qobject_unref(info->format_specific);
    }
    g_free(info->snapshots);
    g_free(info);
}

/* The backing file name resolved against the image's directory */
static char *img_full_backing_filename(BlockDriverState *bs)
{
    g_autofree char *dir = NULL;
    const char *backing = bdrv_get_backing_file(bs);

    if (g_path_is_absolute(backing) ||
        backing[strcspn(backing, ":/")] == ':') {
        /* Absolute, or "proto:..." before any slash: used as it is */
        return g_strdup(backing);
    }
    dir = bdrv_dirname(bs, NULL);
    if (!dir) {
        return NULL;
    }
    return g_strconcat(dir, backing, NULL);
}

/* Gather what qemu-img info shows about @bs */
static ImgImageInfo *img_collect_info(BlockDriverState *bs, Error **errp)
{
    ImgImageInfo *info;
    BlockDriverInfo bdi;
    Error *local_err = NULL;
    int64_t size;
    int ret;

    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "Can't get image size '%s'",
                         bdrv_get_exact_filename(bs));
        return NULL;
    }

    info = g_new0(ImgImageInfo, 1);
    bdrv_refresh_filename(bs);
    info->filename = g_strdup(bdrv_get_filename(bs));
    info->format = g_strdup(bdrv_get_format_name(bs));
    info->virtual_size = size;
    info->actual_size = bdrv_get_allocated_file_size(bs);
    info->has_actual_size = info->actual_size >= 0;
    info->encrypted = bdrv_is_encrypted(bs);
    if (bdrv_get_info(bs, &bdi) >= 0) {
        info->cluster_size = bdi.cluster_size;
        info->has_dirty_flag = true;
        info->dirty_flag = bdi.is_dirty;
    }

    info->format_specific = bdrv_get_specific_info(bs, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        img_image_info_free(info);
        return NULL;
    }

    ret = bdrv_snapshot_list(bs, &info->snapshots);
    if (ret < 0 && ret != -ENOTSUP && ret != -ENOMEDIUM) {
        error_setg_errno(errp, -ret, "Can't list snapshots of device ''");
        img_image_info_free(info);
        return NULL;
    }
    info->nb_snapshots = MAX(ret, 0);

    if (bdrv_get_backing_file(bs)[0]) {
        info->backing_filename = g_strdup(bdrv_get_backing_file(bs));
        info->full_backing_filename = img_full_backing_filename(bs);
        if (bdrv_get_backing_format(bs)[0]) {
            info->backing_filename_format =
                g_strdup(bdrv_get_backing_format(bs));
        }
    }
    return info;
}

/* ImageInfo as QEMU's schema lays it out (members in schema order) */
static QDict *img_info_to_qdict(const ImgImageInfo *info)
{
    QDict *dict = qdict_new();

    qdict_put_str(dict, "filename", info->filename);
    qdict_put_str(dict, "format", info->format);
    if (info->has_dirty_flag) {
        qdict_put_bool(dict, "dirty-flag", info->dirty_flag);
    }
    if (info->has_actual_size) {
        qdict_put_int(dict, "actual-size", info->actual_size);
    }
    qdict_put_int(dict, "virtual-size", info->virtual_size);
    if (info->cluster_size) {
        qdict_put_int(dict, "cluster-size", info->cluster_size);
    }
    if (info->encrypted) {
        qdict_put_bool(dict, "encrypted", true);
    }
    if (info->backing_filename) {
        qdict_put_str(dict, "backing-filename", info->backing_filename);
        if (info->full_backing_filename) {
            qdict_put_str(dict, "full-backing-filename",
                          info->full_backing_filename);
        }
        if (info->backing_filename_format) {
            qdict_put_str(dict, "backing-filename-format",
                          info->backing_filename_format);
        }
    }
    if (info->nb_snapshots) {
        QList *list = qlist_new();
        int i;

        for (i = 0; i < info->nb_snapshots; i++) {
            const QEMUSnapshotInfo *sn = &info->snapshots[i];
            QDict *entry = qdict_new();

            qdict_put_str(entry, "id", sn->id_str);
            qdict_put_str(entry, "name", sn->name);
            qdict_put_int(entry, "vm-state-size", sn->vm_state_size);
            qdict_put_int(entry, "date-sec", sn->date_sec);
            qdict_put_int(entry, "date-nsec", sn->date_nsec);
            qdict_put_int(entry, "vm-clock-sec",
                          sn->vm_clock_nsec / 1000000000);
            qdict_put_int(entry, "vm-clock-nsec",
                          sn->vm_clock_nsec % 1000000000);
            if (sn->icount != -1ULL) {
                qdict_put_int(entry, "icount", sn->icount);
            }
            qlist_append(list, entry);
        }
        qdict_put(dict, "snapshots", list);
    }
    if (info->format_specific) {
        qdict_put_obj(dict, "format-specific",
                      qobject_ref(QOBJECT(info->format_specific)));
    }
    return dict;
}

/*
 * Human form of format-specific data: one "key: value" line per member,
 * dashes in keys shown as spaces, nested containers indented by four
 * more spaces and list elements shown as "[i]:".
 */
static void img_dump_qobject(int indent, QObject *obj);

static void img_dump_member(int indent, const char *label, QObject *value)
{
    bool composite = qobject_type(value) == QTYPE_QDICT ||
                     qobject_type(value) == QTYPE_QLIST;

    printf("%*s%s:%c", indent * 4, "", label, composite ? '\n' : ' ');
    img_dump_qobject(indent + 1, value);
    if (!composite) {
        printf("\n");
    }
}

static void img_dump_qobject(int indent, QObject *obj)
{
    switch (qobject_type(obj)) {
    case QTYPE_QNUM: {
        g_autofree char *num = qnum_to_string(qobject_to(QNum, obj));

        printf("%s", num);
        break;
    }
    case QTYPE_QSTRING:
        printf("%s", qstring_get_str(qobject_to(QString, obj)));
        break;
    case QTYPE_QBOOL:
        printf("%s", qbool_get_bool(qobject_to(QBool, obj)) ? "true"
                                                            : "false");
        break;
    case QTYPE_QNULL:
        printf("null");
        break;
    case QTYPE_QDICT: {
        QDict *dict = qobject_to(QDict, obj);
        const QDictEntry *e;

        for (e = qdict_first(dict); e; e = qdict_next(dict, e)) {
            g_autofree char *label = g_strdup(qdict_entry_key(e));

            g_strdelimit(label, "-", ' ');
            img_dump_member(indent, label, qdict_entry_value(e));
        }
        break;
    }
    case QTYPE_QLIST: {
        QList *list = qobject_to(QList, obj);
        size_t i;

        for (i = 0; i < qlist_size(list); i++) {
            g_autofree char *label = g_strdup_printf("[%zu]", i);

            img_dump_member(indent, label, qlist_get(list, i));
        }
        break;
    }
    default:
        g_assert_not_reached();
    }
}

/*
 * One line (without newline) of a snapshot table, or its header for
 * @sn NULL: id, name, VM state size, local date, VM clock, icount.
 */
static void img_dump_snapshot(const QEMUSnapshotInfo *sn)
{
    char date[32], clock[64], icount[32] = "";
    g_autofree char *size = NULL;
    time_t secs;
    struct tm tm;
    uint64_t clk;

    if (!sn) {
        printf("%-10s%-17s%8s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE",
               "VM CLOCK", "ICOUNT");
        return;
    }
    secs = sn->date_sec;
    localtime_r(&secs, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    clk = sn->vm_clock_nsec / 1000000000;
    snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d", (int)(clk / 3600),
             (int)((clk / 60) % 60), (int)(clk % 60),
             (int)((sn->vm_clock_nsec / 1000000) % 1000));
    if (sn->icount != -1ULL) {
        snprintf(icount, sizeof(icount), "%" PRId64, (int64_t)sn->icount);
    }
    size = size_to_str(sn->vm_state_size);
    printf("%-9s %-16s %8s%20s%13s%11s", sn->id_str, sn->name, size, date,
           clock, icount);
}

/* "Snapshot list:" and the table, one line per snapshot */
static void img_dump_snapshot_list(const QEMUSnapshotInfo *tab, int n)
{
    int i;

    printf("Snapshot list:\n");
    img_dump_snapshot(NULL);
    printf("\n");
    for (i = 0; i < n; i++) {
        img_dump_snapshot(&tab[i]);
        printf("\n");
    }
}

static void img_dump_human_info(const ImgImageInfo *info)
{
    g_autofree char *vsize = size_to_str(info->virtual_size);
    g_autofree char *dsize = info->has_actual_size
                             ? size_to_str(info->actual_size)
                             : g_strdup("unavailable");

    printf("image: %s\n"
           "file format: %s\n"
           "virtual size: %s (%" PRId64 " bytes)\n"
           "disk size: %s\n",
           info->filename, info->format, vsize, info->virtual_size, dsize);
    if (info->encrypted) {
        printf("encrypted: yes\n");
    }
    if (info->cluster_size) {
        printf("cluster_size: %" PRId64 "\n", info->cluster_size);
    }
    if (info->has_dirty_flag && info->dirty_flag) {
        printf("cleanly shut down: no\n");
    }
    if (info->backing_filename) {
        printf("backing file: %s", info->backing_filename);
        if (!info->full_backing_filename) {
            printf(" (cannot determine actual path)");
        } else if (strcmp(info->backing_filename,
                          info->full_backing_filename)) {
            printf(" (actual path: %s)", info->full_backing_filename);
        }
        printf("\n");
        if (info->backing_filename_format) {
            printf("backing file format: %s\n",
                   info->backing_filename_format);
        }
    }
    if (info->nb_snapshots) {
        img_dump_snapshot_list(info->snapshots, info->nb_snapshots);
    }
    if (info->format_specific) {
        g_autoptr(QObject) ordered =
            img_qemu_order(QOBJECT(info->format_specific));
        QObject *data = qdict_get(qobject_to(QDict, ordered), "data");

        printf("Format specific information:\n");
        if (data) {
            img_dump_qobject(1, data);
        }
    }
}

/*
 * Open @filename (and with @chain, its backing files one by one, each
 * without its own backing chain) and collect their descriptions.
 * Returns NULL after reporting an error.
 */
static GPtrArray *img_collect_info_list(bool image_opts,
                                        const char *filename,
                                        const char *fmt, bool chain,
                                        bool force_share)
{
    g_autoptr(GPtrArray) list =
        g_ptr_array_new_with_free_func((GDestroyNotify)img_image_info_free);
    g_autoptr(GHashTable) seen =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    while (filename) {
        BlockBackend *blk;
        ImgImageInfo *info;
        Error *local_err = NULL;

        if (g_hash_table_contains(seen, filename)) {
            error_report("Backing file '%s' creates an infinite loop.",
                         filename);
            return NULL;
        }
        g_hash_table_add(seen, g_strdup(filename));

        blk = img_open(image_opts, filename, fmt,
                       BDRV_O_NO_BACKING | BDRV_O_NO_IO, false, false,
                       force_share);
        if (!blk) {
            return NULL;
        }
        info = img_collect_info(blk_bs(blk), &local_err);
        blk_unref(blk);
        if (!info) {
            error_report_err(local_err);
            return NULL;
        }
        g_ptr_array_add(list, info);

        /* The file name and format options apply to the top image only */
        filename = NULL;
        fmt = NULL;
        image_opts = false;
        if (chain && info->backing_filename) {
            if (!info->full_backing_filename) {
                error_report("Could not determine absolute backing "
                             "filename, but backing filename '%s' present",
                             info->backing_filename);
                return NULL;
            }
            filename = info->full_backing_filename;
            fmt = info->backing_filename_format;
        }
    }
    return g_steal_pointer(&list);
}

int img_info(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, IMG_OPT_OUTPUT },
        { "backing-chain", no_argument, NULL, IMG_OPT_BACKING_CHAIN },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgOutputFormat output_format = IMG_OUTPUT_HUMAN;
    const char *filename, *fmt = NULL, *output = NULL;
    bool chain = false, image_opts = false, force_share = false;
    g_autoptr(GPtrArray) list = NULL;
    guint i;
    int c;

    while ((c = getopt_long(argc, argv, ":f:hU", long_options,
                            NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case IMG_OPT_OUTPUT:
            output = optarg;
            break;
        case IMG_OPT_BACKING_CHAIN:
            chain = true;
            break;
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case IMG_OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    filename = img_one_filename(argc, argv);
    if (output && !img_parse_output_format(output, &output_format)) {
        return 1;
    }

    list = img_collect_info_list(image_opts, filename, fmt, chain,
                                 force_share);
    if (!list) {
        return 1;
    }

    if (output_format == IMG_OUTPUT_HUMAN) {
        for (i = 0; i < list->len; i++) {
            if (i) {
                printf("\n");
            }
            img_dump_human_info(g_ptr_array_index(list, i));
        }
    } else if (chain) {
        QList *qlist = qlist_new();

        for (i = 0; i < list->len; i++) {
            qlist_append(qlist,
                         img_info_to_qdict(g_ptr_array_index(list, i)));
        }
        img_print_json(QOBJECT(qlist));
        qobject_unref(qlist);
    } else {
        g_autoptr(QDict) dict = img_info_to_qdict(g_ptr_array_index(list, 0));

        img_print_json(QOBJECT(dict));
    }
    return 0;
}

/* qemu-img snapshot */

typedef enum ImgSnapshotAction {
    IMG_SNAPSHOT_NONE,
    IMG_SNAPSHOT_LIST,
    IMG_SNAPSHOT_APPLY,
    IMG_SNAPSHOT_CREATE,
    IMG_SNAPSHOT_DELETE,
} ImgSnapshotAction;

/*
 * List, create, apply or delete internal snapshots; formats without them
 * fail as QEMU's do.
 */
int img_snapshot(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgSnapshotAction action = IMG_SNAPSHOT_NONE;
    const char *filename, *snapshot_name = NULL;
    bool quiet = false, image_opts = false, force_share = false;
    int flags = BDRV_O_RDWR;
    BlockBackend *blk;
    Error *err = NULL;
    int ret = 0;
    int c;

    while ((c = getopt_long(argc, argv, ":la:c:d:hqU", long_options,
                            NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'l':
        case 'a':
        case 'c':
        case 'd':
            if (action != IMG_SNAPSHOT_NONE) {
                img_error_exit("Cannot mix '-l', '-a', '-c', '-d'");
            }
            if (c == 'l') {
                action = IMG_SNAPSHOT_LIST;
                flags &= ~BDRV_O_RDWR;
            } else {
                action = c == 'a' ? IMG_SNAPSHOT_APPLY :
                         c == 'c' ? IMG_SNAPSHOT_CREATE : IMG_SNAPSHOT_DELETE;
                snapshot_name = optarg;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            force_share = true;
            break;
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case IMG_OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    filename = img_one_filename(argc, argv);

    blk = img_open(image_opts, filename, NULL, flags, false, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }

    switch (action) {
    case IMG_SNAPSHOT_NONE:
        break;
    case IMG_SNAPSHOT_LIST: {
        QEMUSnapshotInfo *tab = NULL;
        int n = bdrv_snapshot_list(blk_bs(blk), &tab);

        /* Nothing at all is printed without snapshots */
        if (n > 0) {
            img_dump_snapshot_list(tab, n);
        }
        g_free(tab);
        break;
    }
    case IMG_SNAPSHOT_CREATE: {
        QEMUSnapshotInfo sn = { .icount = 0 };
        gint64 now = g_get_real_time();

        pstrcpy(sn.name, sizeof(sn.name), snapshot_name);
        sn.date_sec = now / G_USEC_PER_SEC;
        sn.date_nsec = (now % G_USEC_PER_SEC) * 1000;
        ret = bdrv_snapshot_create(blk_bs(blk), &sn);
        if (ret) {
            error_report("Could not create snapshot '%s': %d (%s)",
                         snapshot_name, ret, strerror(-ret));
            ret = 1;
        }
        break;
    }
    case IMG_SNAPSHOT_APPLY:
        ret = bdrv_snapshot_goto(blk_bs(blk), snapshot_name, &err);
        if (ret) {
            error_prepend(&err, "Could not apply snapshot '%s': ",
                          snapshot_name);
            error_report_err(err);
            ret = 1;
        }
        break;
    case IMG_SNAPSHOT_DELETE: {
        QEMUSnapshotInfo sn;

        /* As in QEMU, looked up by name only */
        if (bdrv_snapshot_find(blk_bs(blk), &sn, snapshot_name) < 0) {
            error_report("Could not delete snapshot '%s': snapshot not "
                         "found", snapshot_name);
            ret = 1;
        } else if (bdrv_snapshot_delete(blk_bs(blk), sn.id_str, sn.name,
                                        &err) < 0) {
            error_prepend(&err, "Could not delete snapshot '%s': ",
                          snapshot_name);
            error_report_err(err);
            ret = 1;
        }
        break;
    }
    }
    blk_unref(blk);
    return ret;
}
