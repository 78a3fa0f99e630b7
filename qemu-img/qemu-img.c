/*
 * qemu-img: create and manage disk images (command dispatch and "create")
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qemu/option.h"
#include "qapi/error.h"
#include "block/block.h"
#include "qemu-img.h"

#define QEMU_IMG_VERSION "qemu-img version " QEMU_VERSION " (qblk)\n"
#define QEMU_IMG_COPYRIGHT "Copyright (c) the qblk developers\n"

typedef struct ImgCmd {
    const char *name;
    int (*handler)(int argc, char **argv);
    /* Synopsis for --help */
    const char *syntax;
} ImgCmd;

static int img_create(int argc, char **argv);

/* QEMU's subcommands, in the order QEMU lists them */
static const ImgCmd img_cmds[] = {
    { "amend", img_amend,
      "amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] "
      "[-t cache] [--force] -o options filename" },
    { "bench", img_bench,
      "bench [-c count] [-d depth] [-f fmt] "
      "[--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] "
      "[-o offset] [--pattern=pattern] [-q] [-s buffer_size] "
      "[-S step_size] [-t cache] [-w] [-U] filename" },
    { "bitmap", img_bitmap,
      "bitmap (--merge SOURCE | --add | --remove | --clear | --enable | "
      "--disable)... [-b source_file [-F source_fmt]] [-g granularity] "
      "[--object objectdef] [--image-opts | -f fmt] filename bitmap" },
    { "check", img_check,
      "check [--object objectdef] [--image-opts] [-q] [-f fmt] [--output=ofmt] "
      "[-r [leaks | all]] [-T src_cache] [-U] filename" },
    { "commit", img_commit,
      "commit [--object objectdef] [--image-opts] [-q] [-f fmt] [-t cache] "
      "[-b base] [-r rate_limit] [-d] [-p] filename" },
    { "compare", img_compare,
      "compare [--object objectdef] [--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] "
      "[-s] [-U] filename1 filename2" },
    { "convert", img_convert,
      "convert [--object objectdef] [--image-opts] [--target-image-opts] [--target-is-zero] "
      "[--bitmaps] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] "
      "[-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] "
      "[-l snapshot_param] [-S sparse_size] [-r rate_limit] "
      "[-m num_coroutines] [-W] [--salvage] "
      "filename [filename2 [...]] output_filename" },
    { "create", img_create,
      "create [--object objectdef] [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] "
      "[-o options] filename [size]" },
    { "dd", img_dd,
      "dd [--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] "
      "[count=blocks] [skip=blocks] if=input of=output" },
    { "info", img_info,
      "info [--object objectdef] [--image-opts] [-f fmt] [--output=ofmt] [--backing-chain] [-U] "
      "filename" },
    { "map", img_map,
      "map [--object objectdef] [--image-opts] [-f fmt] [--start-offset=offset] "
      "[--max-length=len] [--output=ofmt] [-U] filename" },
    { "measure", img_measure,
      "measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | "
      "[--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] "
      "filename]" },
    { "snapshot", img_snapshot,
      "snapshot [--object objectdef] [--image-opts] [-U] [-q] "
      "[-l | -a snapshot | -c snapshot | -d snapshot] filename" },
    { "rebase", img_rebase,
      "rebase [--object objectdef] [--image-opts] [-U] [-q] [-f fmt] "
      "[-t cache] [-T src_cache] [-p] [-u] -b backing_file "
      "[-F backing_fmt] filename" },
    { "resize", img_resize,
      "resize [--object objectdef] [--image-opts] [-f fmt] [--preallocation=prealloc] [-q] "
      "[--shrink] filename [+ | -]size" },
    { NULL, NULL, NULL },
};

static void print_format_name(void *opaque, const char *name)
{
    printf(" %s", name);
}

/* Print the usage text (QEMU's layout, our commands) and exit */
void img_help(void)
{
    const ImgCmd *cmd;

    printf(QEMU_IMG_VERSION QEMU_IMG_COPYRIGHT
           "usage: qemu-img [standard options] command [command options]\n"
           "QEMU disk image utility\n"
           "\n"
           "    '-h', '--help'       display this help and exit\n"
           "    '-V', '--version'    output version information and exit\n"
           "\n"
           "Command syntax:\n");
    for (cmd = img_cmds; cmd->name; cmd++) {
        printf("  %s\n", cmd->syntax);
    }
    printf("\n"
           "Command parameters:\n"
           "  'filename' is a disk image filename\n"
           "  'fmt' is the disk image format. It is guessed automatically "
           "in most cases\n"
           "  'size' is the disk image size in bytes. Optional suffixes\n"
           "    'k' or 'K' (kilobyte, 1024), 'M' (megabyte, 1024k), "
           "'G' (gigabyte, 1024M),\n"
           "    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and "
           "'E' (exabyte, 1024P)  are\n"
           "    supported. 'b' is ignored.\n"
           "  'options' is a comma separated list of format specific "
           "options in a\n"
           "    name=value format. Use -o help for an overview of the "
           "options supported by\n"
           "    the used format\n"
           "  '-u' allows unsafe backing chains. For image creation, allow "
           "creating without\n"
           "       attempting to open the backing file.\n"
           "  '-h' with or without a command shows this help and lists the "
           "supported formats\n"
           "  '-q' use Quiet mode - do not print any output (except errors)\n"
           "\n"
           "Supported formats:");
    bdrv_iterate_format(print_format_name, NULL);
    printf("\n");
    exit(EXIT_SUCCESS);
}

/*
 * Open the backing file of a new image (relative to the new image's
 * directory, without its own backing chain and without doing I/O) to
 * check it exists and to learn its size; its format is probed when
 * @backing_fmt is NULL, only to name it in the error that follows.
 */
static int64_t backing_file_size(const char *filename,
                                 const char *backing_file,
                                 const char *backing_fmt, Error **errp)
{
    ERRP_GUARD();
    g_autofree char *full = NULL;
    BlockDriverState *bs;
    QDict *options = NULL;
    int64_t size;

    /* A new image in the current directory: the name as given */
    if (!strchr(filename, '/') || backing_file[0] == '/') {
        full = g_strdup(backing_file);
    } else {
        full = bdrv_get_full_backing_filename_from_filename(filename,
                                                            backing_file,
                                                            errp);
        if (!full) {
            return -EINVAL;
        }
    }
    if (backing_fmt) {
        options = qdict_new();
        qdict_put_str(options, "driver", backing_fmt);
    }
    bs = bdrv_open(full, NULL, options,
                   BDRV_O_NO_BACKING | BDRV_O_NO_IO |
                   BDRV_O_NO_PROBE_WARNING, errp);
    if (!bs) {
        error_append_hint(errp, "Could not open backing image.\n");
        return -EINVAL;
    }
    if (!backing_fmt) {
        error_setg(errp, "Backing file specified without backing format");
        error_append_hint(errp, "Detected format of %s.\n",
                          bdrv_get_format_name(bs));
        bdrv_unref(bs);
        return -EINVAL;
    }
    size = bdrv_getlength(bs);
    bdrv_unref(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "Could not get size of '%s'",
                         backing_file);
    }
    return size;
}

/*
 * Create @filename in format @fmt: merge the format's and the protocol's
 * create options, apply -o @options, the size and the backing file, print
 * the "Formatting ..." line and call the driver.
 */
static bool img_create_image(const char *filename, const char *fmt,
                             const char *base_filename, const char *base_fmt,
                             const char *options, uint64_t img_size,
                             bool open_backing, bool quiet, Error **errp)
{
    BlockDriver *drv, *proto_drv;
    QemuOptsList *create_opts = NULL;
    QemuOpts *opts = NULL;
    const char *backing_file, *backing_fmt;
    Error *create_err = NULL;
    int64_t size;
    int ret;
    bool ok = false;

    drv = bdrv_find_format(fmt);
    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return false;
    }
    if (!bdrv_driver_create_opts(drv)) {
        error_setg(errp, "Format driver '%s' does not support image creation",
                   fmt);
        return false;
    }
    proto_drv = bdrv_find_protocol(filename, true, errp);
    if (!proto_drv) {
        return false;
    }
    if (!bdrv_driver_create_opts(proto_drv)) {
        error_setg(errp, "Protocol driver '%s' does not support image "
                   "creation", bdrv_driver_name(proto_drv));
        return false;
    }

    create_opts = qemu_opts_append(create_opts, bdrv_driver_create_opts(drv));
    create_opts = qemu_opts_append(create_opts,
                                   bdrv_driver_create_opts(proto_drv));
    opts = qemu_opts_create(create_opts, NULL, 0, &error_abort);

    if (options && !qemu_opts_do_parse(opts, options, NULL, errp)) {
        goto out;
    }

    if (!qemu_opt_find(opts, BLOCK_OPT_SIZE)) {
        if (img_size != UINT64_MAX) {
            qemu_opt_set_number(opts, BLOCK_OPT_SIZE, img_size,
                                &error_abort);
        }
    } else if (img_size != UINT64_MAX) {
        error_setg(errp, "The image size must be specified only once");
        goto out;
    }

    if (base_filename &&
        !qemu_opt_set(opts, BLOCK_OPT_BACKING_FILE, base_filename, NULL)) {
        error_setg(errp, "Backing file not supported for file format '%s'",
                   fmt);
        goto out;
    }
    if (base_fmt &&
        !qemu_opt_set(opts, BLOCK_OPT_BACKING_FMT, base_fmt, NULL)) {
        error_setg(errp, "Backing file format not supported for file "
                   "format '%s'", fmt);
        goto out;
    }

    backing_file = qemu_opt_get(opts, BLOCK_OPT_BACKING_FILE);
    backing_fmt = qemu_opt_get(opts, BLOCK_OPT_BACKING_FMT);
    if (backing_file) {
        if (!strcmp(filename, backing_file)) {
            error_setg(errp, "Error: Trying to create an image with the "
                       "same filename as the backing file");
            goto out;
        }
        if (backing_file[0] == '\0') {
            error_setg(errp, "Expected backing file name, got empty string");
            goto out;
        }
    }

    /*
     * The backing file must exist and have a known format, and without a
     * size a new overlay takes the backing file's size; -u skips opening
     * it.
     */
    if (backing_file && open_backing) {
        size = backing_file_size(filename, backing_file, backing_fmt, errp);
        if (size < 0) {
            goto out;
        }
        if (!qemu_opt_find(opts, BLOCK_OPT_SIZE)) {
            qemu_opt_set_number(opts, BLOCK_OPT_SIZE, size, &error_abort);
        }
    } else if (backing_file && !backing_fmt) {
        error_setg(errp, "Backing file specified without backing format");
        goto out;
    }
    if (!qemu_opt_find(opts, BLOCK_OPT_SIZE)) {
        error_setg(errp, "Image creation needs a size parameter");
        goto out;
    }

    if (!quiet) {
        printf("Formatting '%s', fmt=%s", filename, fmt);
        qemu_opts_print(opts, " ");
        printf("\n");
        fflush(stdout);
    }

    ret = bdrv_create(drv, filename, opts, &create_err);
    if (ret == -EFBIG) {
        /* Clearer than whatever the driver said: the user chose the size */
        error_free(create_err);
        error_setg(errp, "The image size is too large for file format '%s'%s",
                   fmt, qemu_opt_get_size(opts, BLOCK_OPT_CLUSTER_SIZE, 0) ?
                   " (try using a larger cluster size)" : "");
        goto out;
    }
    if (ret < 0) {
        error_propagate(errp, create_err);
        goto out;
    }
    ok = true;

out:
    qemu_opts_del(opts);
    qemu_opts_free(create_opts);
    return ok;
}

static int img_create(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, IMG_OPT_OBJECT },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = "raw";
    const char *base_fmt = NULL;
    const char *base_filename = NULL;
    const char *filename;
    g_autofree char *options = NULL;
    uint64_t img_size = UINT64_MAX;
    bool quiet = false;
    bool open_backing = true;
    Error *local_err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, ":F:b:f:ho:qu", long_options,
                            NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'F':
            base_fmt = optarg;
            break;
        case 'b':
            base_filename = optarg;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'o':
            if (!img_accumulate_options(&options, optarg)) {
                return 1;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case IMG_OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case 'u':
            open_backing = false;
            break;
        }
    }

    /* The filename is optional for -o help (it adds protocol options) */
    filename = optind < argc ? argv[optind] : NULL;
    if (options && img_has_help_option(options)) {
        return img_print_option_help(filename, fmt);
    }
    if (optind >= argc) {
        img_error_exit("Expecting image file name");
    }
    optind++;

    if (optind < argc) {
        int64_t sval = img_cvtnum("image size", argv[optind++]);

        if (sval < 0) {
            return 1;
        }
        img_size = sval;
    }
    if (optind != argc) {
        img_error_exit("Unexpected argument: %s", argv[optind]);
    }

    if (!img_create_image(filename, fmt, base_filename, base_fmt, options,
                          img_size, open_backing, quiet, &local_err)) {
        error_prepend(&local_err, "%s: ", filename);
        error_report_err(local_err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    const ImgCmd *cmd;
    const char *cmdname;
    int c;

    error_set_progname(argv[0]);
    if (argc < 2) {
        img_error_exit("Not enough arguments");
    }
    bdrv_init();

    /* Global options stop at the command name ('+') */
    while ((c = getopt_long(argc, argv, "+:hV", long_options, NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'V':
            printf(QEMU_IMG_VERSION QEMU_IMG_COPYRIGHT);
            return 0;
        }
    }
    if (optind >= argc) {
        img_error_exit("Not enough arguments");
    }

    /* The command sees its own name as argv[0]; restart getopt for it */
    cmdname = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 0;

    for (cmd = img_cmds; cmd->name; cmd++) {
        if (!strcmp(cmdname, cmd->name)) {
            return cmd->handler(argc, argv);
        }
    }
    img_error_exit("Command not found: %s", cmdname);
}
