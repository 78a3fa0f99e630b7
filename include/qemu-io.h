/*
 * qemu-io: the command table shared by qemu-io.c and qemu-io-cmds.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_IO_H
#define QEMU_IO_H

#include "sysemu/block-backend.h"

/*
 * A command handler gets the open backend (NULL when no file is open and
 * the command allows that) and its words, argv[0] being the command name
 * as typed.  It returns 0 on success or a negative errno; any failure
 * makes qemu-io exit with status 1 at the end.
 */
typedef int QemuIOCmdFunc(BlockBackend *blk, int argc, char **argv);

/* Runs whether or not a file is open (help, quit) */
#define QEMUIO_CMD_GLOBAL       0x1
/* May run without an open file (open, sleep, sigraise, abort) */
#define QEMUIO_CMD_NOFILE_OK    0x2
/* Modifies the image: refused while the image is read-only */
#define QEMUIO_CMD_WRITE        0x4

typedef struct QemuIOCommand {
    const char *name;
    const char *altname;        /* one-word alias, or NULL */
    QemuIOCmdFunc *cfunc;
    int argmin;                 /* number of words after the name */
    int argmax;                 /* -1: no upper bound */
    int flags;                  /* QEMUIO_CMD_* */
    const char *args;           /* synopsis of the arguments, or NULL */
    const char *oneline;        /* what "help" prints after "--" */
    const char *help;           /* printed by "help NAME", or NULL */
} QemuIOCommand;

/* Make the commands of @cmds (@n entries) known; the table must persist */
void qemuio_add_commands(const QemuIOCommand *cmds, size_t n);

/*
 * Split @cmd into words at single spaces and run it on @blk.  Returns the
 * command's result: 0, or a negative errno (also for an unknown command
 * or a wrong number of arguments).
 */
int qemuio_command(BlockBackend *blk, const char *cmd);

/*
 * Around a wait for requests outside a command (the end of qemu-io):
 * requests held at breakpoints are resumed when nothing else can move.
 */
void qemuio_watchdog_begin(void);
void qemuio_watchdog_end(void);

/* Print "name args -- oneline" for @ct (the answer to bad options) */
void qemuio_command_usage(const QemuIOCommand *ct);

/*
 * Merge the option string @str ("key=value,...", ",," for a comma;
 * "flag" and "noflag" are accepted with QEMU's deprecation warning) into
 * *@opts, creating it if NULL.  Later keys win.  Returns false after
 * reporting an error.
 */
bool qemuio_parse_opts(QDict **opts, const char *str);

/* -m: offset every I/O buffer by 16 bytes from its natural alignment */
extern bool qemuio_misalign;

#endif /* QEMU_IO_H */
