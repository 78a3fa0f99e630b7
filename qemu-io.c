/*
 * qemu-io: exercise the block layer from the command line
 *
 * Options and the open/close/quit commands live here; everything that
 * works on an open image is in qemu-io-cmds.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>

#include "qemu-io.h"
#include "qemu/aio.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "sysemu/block-backend.h"

/* Printed by -V after the version line, as QEMU's tools do */
#define QEMU_IO_COPYRIGHT "Copyright (c) the qblk developers"

/* Long options without a short form */
enum {
    OPTION_OBJECT = 256,
    OPTION_IMAGE_OPTS,
};

/* The image all commands work on; NULL when none is open */
static BlockBackend *qemuio_blk;
/* "quit" was given: run no further commands */
static bool quit_requested;
/* --image-opts: the file argument of main and "open" is an option string */
static bool image_opts;

static void usage(void)
{
    const char *name = error_get_progname();

    printf("Usage: %s [OPTIONS]... [-c STRING]... [file]\n"
           "QEMU Disk exerciser\n"
           "\n"
           "  --object OBJECTDEF   define an object such as 'secret' for\n"
           "                       passwords and/or encryption keys\n"
           "  --image-opts         treat file as option string\n"
           "  -c, --cmd STRING     execute command with its arguments\n"
           "                       from the given string\n"
           "  -f, --format FMT     specifies the block driver to use\n"
           "  -r, --read-only      export read-only\n"
           "  -s, --snapshot       use snapshot file\n"
           "  -n, --nocache        disable host cache, short for -t none\n"
           "  -C, --copy-on-read   enable copy-on-read\n"
           "  -m, --misalign       misalign allocations for O_DIRECT\n"
           "  -k, --native-aio     use kernel AIO implementation\n"
           "                       (Linux only, prefer use of -i)\n"
           "  -i, --aio=MODE       use AIO mode (threads, native or "
           "io_uring)\n"
           "  -t, --cache=MODE     use the given cache mode for the image\n"
           "  -d, --discard=MODE   use the given discard mode for the "
           "image\n"
           "  -U, --force-share    force shared permissions\n"
           "  -h, --help           display this help and exit\n"
           "  -V, --version        output version information and exit\n"
           "\n"
           "See '%s -c help' for information on available commands.\n",
           name, name);
}

/*
 * Open @name and/or @opts (consumed) as the image.  Returns 0, or a
 * negative errno after reporting the error.
 */
static int open_image(const char *name, int flags, bool writethrough,
                      bool force_share, QDict *opts)
{
    Error *err = NULL;
    const char *value;

    if (qemuio_blk) {
        error_report("file open already, try 'help close'");
        qobject_unref(opts);
        return -EBUSY;
    }
    if (force_share) {
        if (!opts) {
            opts = qdict_new();
        }
        value = qdict_get_try_str(opts, "force-share");
        if (value && strcmp(value, "on")) {
            error_report("-U conflicts with image options");
            qobject_unref(opts);
            return -EINVAL;
        }
        qdict_put_str(opts, "force-share", "on");
    }

    /* Without -U, formats keep others from writing their metadata */
    if (!force_share) {
        flags |= BDRV_O_NO_SHARE;
    }
    qemuio_blk = blk_new_open(name, NULL, opts, flags, &err);
    if (!qemuio_blk) {
        goto fail;
    }
    blk_set_enable_write_cache(qemuio_blk, !writethrough);
    return 0;

fail:
    if (name) {
        error_prepend(&err, "can't open device %s: ", name);
    } else {
        error_prepend(&err, "can't open: ");
    }
    error_report_err(err);
    return -EINVAL;
}

/*
 * open / close / quit
 */

static int close_f(BlockBackend *blk, int argc, char **argv);
static int open_f(BlockBackend *blk, int argc, char **argv);
static int quit_f(BlockBackend *blk, int argc, char **argv);

static const QemuIOCommand main_commands[] = {
    {
        .name       = "close",
        .altname    = "c",
        .cfunc      = close_f,
        .oneline    = "close the current open file",
    }, {
        .name       = "open",
        .altname    = "o",
        .cfunc      = open_f,
        .argmin     = 1,
        .argmax     = -1,
        .flags      = QEMUIO_CMD_NOFILE_OK,
        .args       = "[-rsCnkU] [-t cache] [-d discard] [-o options] "
                      "[path]",
        .oneline    = "open the file specified by path",
        .help       =
            "\n"
            " opens a new file in the requested mode\n"
            "\n"
            " Example:\n"
            " 'open -n -o driver=raw /tmp/data' - opens raw data file "
            "read-write, uncached\n"
            "\n"
            " Opens a file for subsequent use by all of the other qemu-io "
            "commands.\n"
            " -r, -- open file read-only\n"
            " -s, -- use snapshot file\n"
            " -C, -- use copy-on-read\n"
            " -n, -- disable host cache, short for -t none\n"
            " -U, -- force shared permissions\n"
            " -k, -- use kernel AIO implementation (Linux only, prefer use "
            "of -i)\n"
            " -i, -- use AIO mode (threads, native or io_uring)\n"
            " -t, -- use the given cache mode for the image\n"
            " -d, -- use the given discard mode for the image\n"
            " -o, -- options to be given to the block driver\n",
    }, {
        .name       = "quit",
        .altname    = "q",
        .cfunc      = quit_f,
        .argmin     = -1,       /* any arguments are ignored, as in QEMU */
        .argmax     = -1,
        .flags      = QEMUIO_CMD_GLOBAL,
        .oneline    = "exit the program",
    },
};

#define OPEN_COMMAND (&main_commands[1])

static int close_f(BlockBackend *blk, int argc, char **argv)
{
    /* Pending aio requests hold references: let them finish and print */
    blk_drain(qemuio_blk);
    blk_unref(qemuio_blk);
    qemuio_blk = NULL;
    return 0;
}

static int quit_f(BlockBackend *blk, int argc, char **argv)
{
    quit_requested = true;
    return 0;
}

static int open_f(BlockBackend *blk, int argc, char **argv)
{
    int flags = BDRV_O_UNMAP;
    bool writethrough = true;
    bool readonly = false;
    bool force_share = false;
    g_autoptr(QDict) opts = NULL;
    const char *name = NULL;
    int c;

    while ((c = getopt(argc, argv, "snCro:ki:t:d:U")) != -1) {
        switch (c) {
        case 's':
            flags |= BDRV_O_SNAPSHOT;
            break;
        case 'n':
            flags |= BDRV_O_NOCACHE;
            writethrough = false;
            break;
        case 'C':
            flags |= BDRV_O_COPY_ON_READ;
            break;
        case 'r':
            readonly = true;
            break;
        case 'k':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 't':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache option: %s", optarg);
                return -EINVAL;
            }
            break;
        case 'd':
            if (bdrv_parse_discard_flags(optarg, &flags) < 0) {
                error_report("Invalid discard option: %s", optarg);
                return -EINVAL;
            }
            break;
        case 'i':
            if (bdrv_parse_aio(optarg, &flags) < 0) {
                error_report("Invalid aio option: %s", optarg);
                return -EINVAL;
            }
            break;
        case 'o':
            if (image_opts) {
                printf("--image-opts and 'open -o' are mutually "
                       "exclusive\n");
                return -EINVAL;
            }
            if (!qemuio_parse_opts(&opts, optarg)) {
                return -EINVAL;
            }
            break;
        case 'U':
            force_share = true;
            break;
        default:
            qemuio_command_usage(OPEN_COMMAND);
            return -EINVAL;
        }
    }
    if (!readonly) {
        flags |= BDRV_O_RDWR;
    }

    if (image_opts && optind == argc - 1) {
        if (!qemuio_parse_opts(&opts, argv[optind])) {
            return -EINVAL;
        }
        optind++;
    }
    if (optind == argc - 1) {
        name = argv[optind];
    } else if (optind != argc) {
        qemuio_command_usage(OPEN_COMMAND);
        return -EINVAL;
    }

    return open_image(name, flags, writethrough, force_share,
                      g_steal_pointer(&opts));
}

/*
 * Interactive input
 *
 * Lines are read with read(2) into our own buffer rather than through
 * stdio, so that waiting for input can run the event loop (aio requests
 * complete and print meanwhile) without stdio holding lines the event
 * loop cannot see.
 */

typedef struct InputReader {
    GString *pending;           /* read but not yet returned */
    bool eof;
    bool readable;
    bool pollable;              /* stdin is a pipe, tty or socket */
} InputReader;

static void input_readable(void *opaque)
{
    InputReader *in = opaque;

    in->readable = true;
}

/* Wait, running the event loop, until stdin has something to read */
static void wait_for_input(InputReader *in)
{
    AioContext *ctx = qemu_get_aio_context();

    if (!in->pollable) {
        /* Regular files are always readable; just run what is ready */
        while (aio_poll(ctx, false)) {
            /* dispatch everything that is ready */
        }
        return;
    }
    in->readable = false;
    aio_set_fd_handler(ctx, STDIN_FILENO, input_readable, NULL, in);
    while (!in->readable) {
        aio_poll(ctx, true);
    }
    aio_set_fd_handler(ctx, STDIN_FILENO, NULL, NULL, NULL);
}

/* The next line without its newline (g_free it), or NULL at the end */
static char *fetch_line(InputReader *in)
{
    /* Like QEMU's main loop wait at the prompt: run what is ready */
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* dispatch everything that is ready */
    }

    for (;;) {
        char *nl = memchr(in->pending->str, '\n', in->pending->len);
        char chunk[4096];
        ssize_t n;

        if (nl) {
            size_t len = nl - in->pending->str;
            char *line = g_strndup(in->pending->str, len);

            g_string_erase(in->pending, 0, len + 1);
            return line;
        }
        if (in->eof) {
            /* A last line without a newline still counts */
            if (in->pending->len) {
                char *line = g_strdup(in->pending->str);

                g_string_truncate(in->pending, 0);
                return line;
            }
            return NULL;
        }

        wait_for_input(in);
        n = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            in->eof = true;
        } else {
            g_string_append_len(in->pending, chunk, n);
        }
    }
}

static bool stdin_is_pollable(void)
{
    struct stat st;

    if (fstat(STDIN_FILENO, &st) < 0) {
        return false;
    }
    return S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) ||
           S_ISSOCK(st.st_mode);
}

/*
 * Run the -c commands, or without any, commands from stdin after a
 * "qemu-io> " prompt until "quit" or the end of input.  Returns the
 * result of the last command that failed, or 0.
 */
static int command_loop(GPtrArray *commands)
{
    InputReader in = { .pending = g_string_new(NULL) };
    int last_error = 0;
    guint i;
    int ret;

    if (commands->len) {
        for (i = 0; i < commands->len && !quit_requested; i++) {
            ret = qemuio_command(qemuio_blk, g_ptr_array_index(commands, i));
            if (ret < 0) {
                last_error = ret;
            }
        }
        g_string_free(in.pending, TRUE);
        return last_error;
    }

    in.pollable = stdin_is_pollable();
    while (!quit_requested) {
        g_autofree char *line = NULL;

        printf("%s> ", error_get_progname());
        fflush(stdout);
        line = fetch_line(&in);
        if (!line) {
            break;
        }
        ret = qemuio_command(qemuio_blk, line);
        if (ret < 0) {
            last_error = ret;
        }
    }
    g_string_free(in.pending, TRUE);
    return last_error;
}

/*
 * QEMU's main loop ignores SIGPIPE and blocks SIGUSR1, SIGIO, SIGALRM
 * and SIGBUS (it takes them through a signalfd), so "sigraise" of one of
 * those has no effect there.  Do the same, before any thread exists.
 */
static void block_signals_like_qemu(void)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGIO);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "cmd", required_argument, NULL, 'c' },
        { "format", required_argument, NULL, 'f' },
        { "read-only", no_argument, NULL, 'r' },
        { "snapshot", no_argument, NULL, 's' },
        { "nocache", no_argument, NULL, 'n' },
        { "copy-on-read", no_argument, NULL, 'C' },
        { "misalign", no_argument, NULL, 'm' },
        { "native-aio", no_argument, NULL, 'k' },
        { "aio", required_argument, NULL, 'i' },
        { "discard", required_argument, NULL, 'd' },
        { "cache", required_argument, NULL, 't' },
        { "trace", required_argument, NULL, 'T' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    g_autoptr(GPtrArray) commands = g_ptr_array_new();
    int flags = BDRV_O_UNMAP;
    bool writethrough = true;
    bool readonly = false;
    bool force_share = false;
    const char *format = NULL;
    QDict *opts = NULL;
    int c, ret;

    error_set_progname(argv[0]);
    block_signals_like_qemu();

    while ((c = getopt_long(argc, argv, "hVc:d:f:rsnCmki:t:T:U",
                            long_options, NULL)) != -1) {
        switch (c) {
        case 's':
            flags |= BDRV_O_SNAPSHOT;
            break;
        case 'n':
            flags |= BDRV_O_NOCACHE;
            writethrough = false;
            break;
        case 'C':
            flags |= BDRV_O_COPY_ON_READ;
            break;
        case 'd':
            if (bdrv_parse_discard_flags(optarg, &flags) < 0) {
                error_report("Invalid discard option: %s", optarg);
                exit(1);
            }
            break;
        case 'f':
            format = optarg;
            break;
        case 'c':
            g_ptr_array_add(commands, optarg);
            break;
        case 'r':
            readonly = true;
            break;
        case 'm':
            qemuio_misalign = true;
            break;
        case 'k':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 'i':
            if (bdrv_parse_aio(optarg, &flags) < 0) {
                error_report("Invalid aio option: %s", optarg);
                exit(1);
            }
            break;
        case 't':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache option: %s", optarg);
                exit(1);
            }
            break;
        case 'T':
            error_report("tracing (-T/--trace) is not supported");
            exit(1);
        case OPTION_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case 'V':
            /* QEMU's layout: the version, then the copyright line */
            printf("%s version %s (qblk)\n" QEMU_IO_COPYRIGHT "\n",
                   error_get_progname(), QEMU_VERSION);
            exit(0);
        case 'h':
            usage();
            exit(0);
        case 'U':
            force_share = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        default:
            usage();
            exit(1);
        }
    }

    if (argc - optind > 1) {
        usage();
        exit(1);
    }
    if (format && image_opts) {
        error_report("--image-opts and -f are mutually exclusive");
        exit(1);
    }

    bdrv_init();
    qemuio_add_commands(main_commands, ARRAY_SIZE(main_commands));

    if (!readonly) {
        flags |= BDRV_O_RDWR;
    }
    if (argc - optind == 1) {
        const char *name = argv[optind];

        if (image_opts) {
            if (!qemuio_parse_opts(&opts, name)) {
                exit(1);
            }
            name = NULL;
        } else if (format) {
            opts = qdict_new();
            qdict_put_str(opts, "driver", format);
        }
        if (open_image(name, flags, writethrough, force_share, opts) < 0) {
            exit(1);
        }
    }

    ret = command_loop(commands);

    /*
     * Requests started by aio_* commands complete (and print) here, also
     * those still held at breakpoints
     */
    qemuio_watchdog_begin();
    if (qemuio_blk) {
        blk_drain(qemuio_blk);
    }
    bdrv_drain_all();
    blk_unref(qemuio_blk);
    qemuio_blk = NULL;
    bdrv_close_all();
    qemuio_watchdog_end();
    return ret < 0 ? 1 : 0;
}
