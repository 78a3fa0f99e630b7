/*
 * qemu-nbd: serve a block device over the NBD protocol
 *
 * Opens one image (any node, filters included), listens on a unix socket
 * or TCP and serves it to up to --shared clients.  Without --persistent
 * the process exits once the last client has gone.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"

#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "block/nbd.h"
#include "qemu/aio.h"
#include "qemu/error-report.h"
#include "qemu/user-creatable.h"
#include "qemu/cutils.h"
#include "qemu/option.h"
#include "qobject/qdict.h"
#include "sysemu/block-backend.h"

/* Long options without a short form */
enum {
    OPTION_OBJECT = 256,
    OPTION_TLSCREDS,
    OPTION_TLSAUTHZ,
    OPTION_IMAGE_OPTS,
    OPTION_CACHE,
    OPTION_AIO,
    OPTION_DISCARD,
    OPTION_DETECT_ZEROES,
    OPTION_FORK,
    OPTION_PID_FILE,
    OPTION_SELINUX_LABEL,
};

static NBDExport *export;
static int listen_fd = -1;
static int nb_clients;
static int max_clients = 1;
static bool persistent;
static bool verbose;
static bool had_client;
static bool stop_serving;
static const char *pid_file;

static void usage(void)
{
    const char *name = error_get_progname();

    printf("Usage: %s [OPTIONS] FILE\n"
           "QEMU Disk Network Block Device Utility\n"
           "\n"
           "  -h, --help                display this help and exit\n"
           "  -V, --version             output version information and exit\n"
           "\n"
           "Connection properties:\n"
           "  -p, --port=PORT           port to listen on (default `%d')\n"
           "  -b, --bind=IFACE          interface to bind to "
           "(default `0.0.0.0')\n"
           "  -k, --socket=PATH         path to the unix socket\n"
           "  -e, --shared=NUM          device can be shared by NUM clients "
           "(default '1')\n"
           "  -t, --persistent          don't exit on the last connection\n"
           "  -v, --verbose             display extra debugging information\n"
           "  -x, --export-name=NAME    expose export by name "
           "(default is empty string)\n"
           "  -D, --description=TEXT    export a human-readable description\n"
           "\n"
           "Exposing part of the image:\n"
           "  -o, --offset=OFFSET       offset into the image\n"
           "  -A, --allocation-depth    expose the allocation depth\n"
           "  -B, --bitmap=NAME         expose a persistent dirty bitmap\n"
           "\n"
           "General purpose options:\n"
           "  --fork                    fork off the server process and "
           "exit the parent\n"
           "                            once the server is running\n"
           "  --pid-file=PATH           store the server's process ID in "
           "the given file\n"
           "\n"
           "Block device options:\n"
           "  -f, --format=FORMAT       set image format (raw, qcow2, ...)\n"
           "  -r, --read-only           export read-only\n"
           "  -s, --snapshot            use FILE as an external snapshot, "
           "redirect writes\n"
           "                            to a temporary overlay\n"
           "  -l, --load-snapshot=SNAPSHOT_PARAM\n"
           "                            load an internal snapshot inside FILE "
           "and export it\n"
           "                            read-only; SNAPSHOT_PARAM is "
           "'snapshot.id=[ID],\n"
           "                            snapshot.name=[NAME]' or '[ID_OR_NAME]'\n"
           "  -n, --nocache             disable host cache\n"
           "      --cache=MODE          set cache mode used to access the "
           "disk image, the\n"
           "                            valid options are: 'none', "
           "'writeback' (default),\n"
           "                            'writethrough', 'directsync' and "
           "'unsafe'\n"
           "      --aio=MODE            set AIO mode (native, io_uring or "
           "threads)\n"
           "      --discard=MODE        set discard mode (ignore, unmap)\n"
           "      --detect-zeroes=MODE  set detect-zeroes mode (only 'off' "
           "is supported)\n"
           "      --image-opts          treat FILE as a full set of image "
           "options\n"
           "\n"
           "Not supported: -L/--list,\n"
           "--tls-creds, --tls-authz, -T/--trace, "
           "--selinux-label,\n"
           "-c/--connect, -d/--disconnect.\n",
           name, NBD_DEFAULT_PORT);
}

/* -l snapshot.id=...,snapshot.name=... */
static QemuOptsList snapshot_opts = {
    .name = "snapshot",
    QEMU_OPTS_LIST_INIT(snapshot_opts),
    .desc = {
        { .name = "snapshot.id", .type = QEMU_OPT_STRING,
          .help = "Internal snapshot ID" },
        { .name = "snapshot.name", .type = QEMU_OPT_STRING,
          .help = "Internal snapshot name" },
        { /* end of list */ }
    },
};

static void unsupported(const char *opt)
{
    error_report("%s is not supported", opt);
    exit(EXIT_FAILURE);
}

static void maybe_exit(void)
{
    if (!persistent && had_client && nb_clients == 0) {
        stop_serving = true;
        aio_notify(qemu_get_aio_context());
    }
}

static void client_closed(NBDClient *client, void *opaque)
{
    nb_clients--;
    if (verbose) {
        error_report("client disconnected (%d left)", nb_clients);
    }
    maybe_exit();
}

static void accept_client(void *opaque)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    if (nb_clients >= max_clients) {
        /* Over the --shared limit: hang up at once, as QEMU does */
        close(fd);
        return;
    }
    nb_clients++;
    had_client = true;
    if (verbose) {
        error_report("client connected (%d now)", nb_clients);
    }
    nbd_client_new(export, fd, client_closed, NULL);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        error_report("socket path too long: %s", path);
        return -1;
    }
    pstrcpy(sa.sun_path, sizeof(sa.sun_path), path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_report("Failed to create socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 16) < 0) {
        error_report("Failed to bind socket to %s: %s", path,
                     strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int listen_tcp(const char *host, const char *port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE,
    };
    struct addrinfo *res, *ai;
    int fd = -1, err;

    err = getaddrinfo(host, port, &hints, &res);
    if (err) {
        error_report("address resolution failed for %s:%s: %s", host, port,
                     gai_strerror(err));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int on = 1;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 16) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        error_report("Failed to bind socket to %s:%s: %s", host, port,
                     strerror(errno));
    }
    freeaddrinfo(res);
    return fd;
}

/* SIGTERM/SIGINT/SIGHUP: leave the main loop through a self-pipe */
static int signal_pipe[2] = { -1, -1 };

static void termsig_handler(int sig)
{
    int saved_errno = errno;

    if (write(signal_pipe[1], "", 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved_errno;
}

static void termsig_read(void *opaque)
{
    char buf[16];

    while (read(signal_pipe[0], buf, sizeof(buf)) > 0) {
        /* drain */
    }
    stop_serving = true;
}

static void setup_termsig(void)
{
    struct sigaction act = { .sa_handler = termsig_handler,
                             .sa_flags = SA_RESTART };

    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        error_report("Failed to create pipe: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    aio_set_fd_handler(qemu_get_aio_context(), signal_pipe[0], termsig_read,
                       NULL, NULL);
    sigemptyset(&act.sa_mask);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGHUP, &act, NULL);
}

static bool write_pid_file(const char *path)
{
    g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
    g_autoptr(GError) gerr = NULL;

    if (!g_file_set_contents(path, text, -1, &gerr)) {
        error_report("Failed to write pid file %s: %s", path,
                     gerr->message);
        return false;
    }
    return true;
}

/*
 * -o: a raw node with that offset on top of the opened image, which then
 * replaces it in a new BlockBackend (as QEMU does)
 */
static BlockBackend *open_offset(BlockBackend *blk, uint64_t offset,
                                 int flags)
{
    BlockDriverState *bs = blk_bs(blk);
    BlockDriverState *raw;
    g_autofree char *num = g_strdup_printf("%" PRIu64, offset);
    QDict *opts;
    Error *err = NULL;

    if (offset > INT64_MAX) {
        error_report("Parameter 'offset' expects a non-negative number "
                     "below 2^64");
        error_printf("Optional suffix k, M, G, T, P or E means kilo-, "
                     "mega-, giga-, tera-, peta-\n"
                     "and exabytes, respectively.\n");
        exit(EXIT_FAILURE);
    }
    opts = qdict_new();
    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file", bdrv_get_node_name(bs));
    qdict_put_str(opts, "offset", num);
    /* The raw node takes the image over from the old BlockBackend */
    bdrv_ref(bs);
    blk_unref(blk);
    raw = bdrv_open(NULL, NULL, opts, flags | BDRV_O_NO_SHARE, &err);
    bdrv_unref(bs);
    if (!raw) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    blk = blk_new_with_bs(raw, &err);
    bdrv_unref(raw);
    if (!blk) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    return blk;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "bind", required_argument, NULL, 'b' },
        { "port", required_argument, NULL, 'p' },
        { "socket", required_argument, NULL, 'k' },
        { "offset", required_argument, NULL, 'o' },
        { "read-only", no_argument, NULL, 'r' },
        { "allocation-depth", no_argument, NULL, 'A' },
        { "bitmap", required_argument, NULL, 'B' },
        { "connect", required_argument, NULL, 'c' },
        { "disconnect", no_argument, NULL, 'd' },
        { "list", no_argument, NULL, 'L' },
        { "snapshot", no_argument, NULL, 's' },
        { "load-snapshot", required_argument, NULL, 'l' },
        { "nocache", no_argument, NULL, 'n' },
        { "cache", required_argument, NULL, OPTION_CACHE },
        { "aio", required_argument, NULL, OPTION_AIO },
        { "discard", required_argument, NULL, OPTION_DISCARD },
        { "detect-zeroes", required_argument, NULL, OPTION_DETECT_ZEROES },
        { "shared", required_argument, NULL, 'e' },
        { "format", required_argument, NULL, 'f' },
        { "persistent", no_argument, NULL, 't' },
        { "verbose", no_argument, NULL, 'v' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "export-name", required_argument, NULL, 'x' },
        { "description", required_argument, NULL, 'D' },
        { "tls-creds", required_argument, NULL, OPTION_TLSCREDS },
        { "tls-authz", required_argument, NULL, OPTION_TLSAUTHZ },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "trace", required_argument, NULL, 'T' },
        { "fork", no_argument, NULL, OPTION_FORK },
        { "pid-file", required_argument, NULL, OPTION_PID_FILE },
        { "selinux-label", required_argument, NULL, OPTION_SELINUX_LABEL },
        { NULL, 0, NULL, 0 }
    };
    const char *bindto = NULL;
    const char *port = NULL;
    const char *sockpath = NULL;
    const char *format = NULL;
    const char *export_name = "";
    const char *description = NULL;
    bool readonly = false;
    QemuOpts *sn_opts = NULL;
    const char *sn_id_or_name = NULL;
    bool image_opts = false;
    bool fork_process = false;
    bool writethrough = false;
    int flags = BDRV_O_RDWR;
    int ready_pipe[2] = { -1, -1 };
    g_autofree char *port_buf = NULL;
    BlockBackend *blk;
    QDict *opts = NULL;
    Error *err = NULL;
    const char *filename;
    bool alloc_depth = false;
    uint64_t dev_offset = 0;
    g_autoptr(GPtrArray) bitmaps = g_ptr_array_new();
    char *end;
    int c;

    error_set_progname(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    while ((c = getopt_long(argc, argv, "hVb:p:k:o:rAB:c:dLsl:nT:e:f:tvx:D:",
                            long_options, NULL)) != -1) {
        switch (c) {
        case 'b':
            bindto = optarg;
            break;
        case 'p':
            port = optarg;
            break;
        case 'k':
            sockpath = optarg;
            if (sockpath[0] != '/') {
                error_report("socket path must be absolute");
                exit(EXIT_FAILURE);
            }
            break;
        case 'r':
            readonly = true;
            flags &= ~BDRV_O_RDWR;
            break;
        case 's':
            flags |= BDRV_O_SNAPSHOT;
            break;
        case 'n':
            flags |= BDRV_O_NOCACHE;
            break;
        case OPTION_CACHE:
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache mode '%s'", optarg);
                exit(EXIT_FAILURE);
            }
            break;
        case OPTION_AIO:
            if (bdrv_parse_aio(optarg, &flags) < 0) {
                error_report("Invalid aio mode '%s'", optarg);
                exit(EXIT_FAILURE);
            }
            break;
        case OPTION_DISCARD:
            if (bdrv_parse_discard_flags(optarg, &flags) < 0) {
                error_report("Invalid discard mode '%s'", optarg);
                exit(EXIT_FAILURE);
            }
            break;
        case OPTION_DETECT_ZEROES:
            if (strcmp(optarg, "off")) {
                error_report("--detect-zeroes=%s is not supported", optarg);
                exit(EXIT_FAILURE);
            }
            break;
        case 'e':
            max_clients = strtol(optarg, &end, 0);
            if (*end || max_clients < 1) {
                error_report("Invalid shared device number '%s'", optarg);
                exit(EXIT_FAILURE);
            }
            break;
        case 'f':
            format = optarg;
            break;
        case 't':
            persistent = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 'x':
            export_name = optarg;
            if (strlen(export_name) > NBD_MAX_STRING_SIZE) {
                error_report("export name '%s' too long", export_name);
                exit(EXIT_FAILURE);
            }
            break;
        case 'D':
            description = optarg;
            if (strlen(description) > NBD_MAX_STRING_SIZE) {
                error_report("export description '%s' too long",
                             description);
                exit(EXIT_FAILURE);
            }
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_FORK:
            fork_process = true;
            break;
        case OPTION_PID_FILE:
            pid_file = optarg;
            break;
        case 'o':
            if (qemu_strtou64(optarg, NULL, 0, &dev_offset) < 0) {
                error_report("Invalid offset '%s'", optarg);
                exit(EXIT_FAILURE);
            }
            break;
        case 'A':
            alloc_depth = true;
            break;
        case 'B':
            g_ptr_array_add(bitmaps, optarg);
            break;
        case 'c':
            unsupported("-c/--connect");
            break;
        case 'd':
            unsupported("-d/--disconnect");
            break;
        case 'L':
            unsupported("-L/--list");
            break;
        case 'l':
            /* Either form exports the snapshot read-only, as QEMU */
            if (strstart(optarg, "snapshot.", NULL)) {
                qemu_opts_del(sn_opts);
                sn_opts = qemu_opts_parse_noisily(&snapshot_opts, optarg,
                                                  false);
                if (!sn_opts) {
                    error_report("Failed in parsing snapshot param `%s'",
                                 optarg);
                    exit(EXIT_FAILURE);
                }
            } else {
                sn_id_or_name = optarg;
            }
            readonly = true;
            flags &= ~BDRV_O_RDWR;
            break;
        case 'T':
            unsupported("-T/--trace");
            break;
        case OPTION_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case OPTION_TLSCREDS:
            unsupported("--tls-creds");
            break;
        case OPTION_TLSAUTHZ:
            unsupported("--tls-authz");
            break;
        case OPTION_SELINUX_LABEL:
            unsupported("--selinux-label");
            break;
        case 'V':
            printf("%s version %s (qblk)\n"
                   "Copyright (c) the qblk developers\n",
                   error_get_progname(), QEMU_VERSION);
            exit(EXIT_SUCCESS);
        case 'h':
            usage();
            exit(EXIT_SUCCESS);
        default:
            error_printf("Try `%s --help' for more information.\n",
                         error_get_progname());
            exit(EXIT_FAILURE);
        }
    }
    if (argc - optind != 1) {
        error_report("Invalid number of arguments");
        error_printf("Try `%s --help' for more information.\n",
                     error_get_progname());
        exit(EXIT_FAILURE);
    }
    filename = argv[optind];
    if (sockpath && (bindto || port)) {
        error_report("-k and -b/-p are mutually exclusive");
        exit(EXIT_FAILURE);
    }
    if (format && image_opts) {
        error_report("--image-opts and -f are mutually exclusive");
        exit(EXIT_FAILURE);
    }

    bdrv_init();
    if (image_opts) {
        opts = keyval_parse(filename, NULL, &err);
        if (!opts) {
            error_report_err(err);
            exit(EXIT_FAILURE);
        }
        filename = NULL;
    } else if (format) {
        opts = qdict_new();
        qdict_put_str(opts, "driver", format);
    }
    /* The image is not shared with writers its format would not allow */
    blk = blk_new_open(filename, NULL, opts, flags | BDRV_O_NO_SHARE, &err);
    if (!blk) {
        error_prepend(&err, "Failed to blk_new_open '%s': ", argv[optind]);
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    blk_set_enable_write_cache(blk, !writethrough);

    if (sn_opts || sn_id_or_name) {
        int ret;

        if (sn_opts) {
            ret = bdrv_snapshot_load_tmp(blk_bs(blk),
                                         qemu_opt_get(sn_opts, "snapshot.id"),
                                         qemu_opt_get(sn_opts,
                                                      "snapshot.name"),
                                         &err);
            qemu_opts_del(sn_opts);
        } else {
            ret = bdrv_snapshot_load_tmp_by_id_or_name(blk_bs(blk),
                                                       sn_id_or_name, &err);
        }
        if (ret < 0) {
            error_prepend(&err, "Failed to load snapshot: ");
            error_report_err(err);
            exit(EXIT_FAILURE);
        }
    }

    if (dev_offset) {
        blk = open_offset(blk, dev_offset, flags);
        blk_set_enable_write_cache(blk, !writethrough);
    }
    export = nbd_export_new(blk, export_name, description, readonly);
    blk_unref(blk);
    nbd_export_set_allocation_depth(export, alloc_depth);
    /* Last -B first, as QEMU orders them */
    for (guint i = bitmaps->len; i-- > 0;) {
        if (nbd_export_add_bitmap(export, bitmaps->pdata[i], &err) < 0) {
            /* QEMU's qemu-nbd prints no hint here */
            error_report("%s", error_get_pretty(err));
            error_free(err);
            /* Closing the image stores its bitmaps back, not in use */
            nbd_export_free(export);
            exit(EXIT_FAILURE);
        }
    }

    if (sockpath) {
        listen_fd = listen_unix(sockpath);
    } else {
        if (!port) {
            port = port_buf = g_strdup_printf("%d", NBD_DEFAULT_PORT);
        }
        listen_fd = listen_tcp(bindto ? bindto : "0.0.0.0", port);
    }
    if (listen_fd < 0) {
        nbd_export_free(export);
        exit(EXIT_FAILURE);
    }

    if (fork_process) {
        pid_t pid;

        if (pipe(ready_pipe) < 0) {
            error_report("Failed to create pipe: %s", strerror(errno));
            exit(EXIT_FAILURE);
        }
        pid = fork();
        if (pid < 0) {
            error_report("Failed to fork: %s", strerror(errno));
            exit(EXIT_FAILURE);
        }
        if (pid > 0) {
            char byte;
            ssize_t n;

            /* The parent exits once the server says it is running */
            close(ready_pipe[1]);
            do {
                n = read(ready_pipe[0], &byte, 1);
            } while (n < 0 && errno == EINTR);
            _exit(n == 1 ? EXIT_SUCCESS : EXIT_FAILURE);
        }
        close(ready_pipe[0]);
        setsid();
    }

    if (pid_file && !write_pid_file(pid_file)) {
        nbd_export_free(export);
        exit(EXIT_FAILURE);
    }
    aio_set_fd_handler(qemu_get_aio_context(), listen_fd, accept_client,
                       NULL, NULL);

    if (fork_process) {
        int devnull = open("/dev/null", O_RDWR);

        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            close(devnull);
        }
        if (write(ready_pipe[1], "", 1) != 1) {
            exit(EXIT_FAILURE);
        }
        close(ready_pipe[1]);
    }

    setup_termsig();
    while (!stop_serving) {
        aio_poll(qemu_get_aio_context(), true);
    }

    aio_set_fd_handler(qemu_get_aio_context(), listen_fd, NULL, NULL, NULL);
    close(listen_fd);
    if (sockpath) {
        unlink(sockpath);
    }
    if (pid_file) {
        unlink(pid_file);
    }
    if (nb_clients > 0) {
        /* Stopped by a signal with clients connected: they just go away */
        exit(EXIT_SUCCESS);
    }
    blk_drain_all();
    nbd_export_free(export);
    return EXIT_SUCCESS;
}
