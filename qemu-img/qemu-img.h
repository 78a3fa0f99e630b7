/*
 * qemu-img: declarations shared by the subcommand files
 *
 * Every subcommand other than "create" lives in its own file in qemu-img/
 * and is reached through qemu-img.c's dispatch table.  The helpers here
 * (common.c) give all of them QEMU's command line conventions:
 * the same option errors, the same way of opening images, the same
 * progress display and the same JSON layout.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_IMG_H
#define QEMU_IMG_H

#include "qobject/qobject.h"
#include "sysemu/block-backend.h"

/* Value of --output */
typedef enum ImgOutputFormat {
    IMG_OUTPUT_HUMAN,
    IMG_OUTPUT_JSON,
} ImgOutputFormat;

/* Long options without a short form, shared by the subcommands */
enum {
    IMG_OPT_OUTPUT = 256,
    IMG_OPT_BACKING_CHAIN,
    IMG_OPT_OBJECT,
    IMG_OPT_IMAGE_OPTS,
    IMG_OPT_PATTERN,
    IMG_OPT_FLUSH_INTERVAL,
    IMG_OPT_NO_DRAIN,
    IMG_OPT_TARGET_IMAGE_OPTS,
    IMG_OPT_PREALLOCATION,
    IMG_OPT_SHRINK,
    IMG_OPT_SALVAGE,
    IMG_OPT_TARGET_IS_ZERO,
    IMG_OPT_START_OFFSET,
    IMG_OPT_MAX_LENGTH,
    IMG_OPT_BITMAPS,
    IMG_OPT_SKIP_BROKEN_BITMAPS,
};

/* The subcommands (argv[0] is the command name, getopt is reset) */
int img_info(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_check(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_map(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_dd(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_bitmap(int argc, char **argv);

/*
 * The image of @bs's backing chain (below @bs) whose name, as its
 * overlay records it, is @name: both taken relative to the overlay's
 * directory and made canonical (protocol names compared as they are).
 * NULL if there is none.  As QEMU's bdrv_find_backing_image().
 */
BlockDriverState *img_find_backing_image(BlockDriverState *bs,
                                         const char *name);

/*
 * Command line errors: print "qemu-img: <message>" and the hint to use
 * --help, then exit with status 1.
 */
void QEMU_NORETURN G_GNUC_PRINTF(1, 2) img_error_exit(const char *fmt, ...);
/* The one operand left after the options, or exit with QEMU's message */
const char *img_one_filename(int argc, char **argv);
void QEMU_NORETURN img_missing_argument(const char *option);
void QEMU_NORETURN img_unrecognized_option(const char *option);
/* The usage text (qemu-img.c, which owns the command table); exits 0 */
void QEMU_NORETURN img_help(void);

/* Parse --output=human|json; false (after reporting) for anything else */
bool img_parse_output_format(const char *arg, ImgOutputFormat *fmt);

/*
 * Parse a size ("4k", "1.5M", "512") named @name in messages; the value,
 * or a negative errno after reporting QEMU's error text.
 */
int64_t img_cvtnum(const char *name, const char *value);
/* The same, accepting only values in [@min, @max] (non-negative) */
int64_t img_cvtnum_full(const char *name, const char *value, int64_t min,
                        int64_t max);

/*
 * -o handling: append @list to *@options (joined with ','), rejecting
 * lists that would not join safely ("Invalid option list: ..."); whether
 * a list asks for help ("help" or "?"); and the "-o help" text for
 * format @fmt (plus the protocol options for @filename when given).
 * The last returns the exit status.
 */
bool img_accumulate_options(char **options, const char *list);
bool img_has_help_option(const char *list);
int img_print_option_help(const char *filename, const char *fmt);

/* printf unless @quiet */
int G_GNUC_PRINTF(2, 3) img_qprintf(bool quiet, const char *fmt, ...);

/*
 * Open an image the way QEMU's qemu-img does: @filename is a file name
 * (format @fmt, probed when NULL) or, with @image_opts, an option string
 * "key=value,..." whose first bare element is the "file" key.  Errors
 * are reported as "Could not open '<filename>': <reason>".  The write
 * cache is enabled unless @writethrough.  @force_share is -U.
 */
BlockBackend *img_open(bool image_opts, const char *filename,
                       const char *fmt, int flags, bool writethrough,
                       bool quiet, bool force_share);
/* As img_open() for a file name, with extra open @options (taken over) */
BlockBackend *img_open_file(const char *filename, QDict *options,
                            const char *fmt, int flags, bool writethrough,
                            bool quiet, bool force_share);

/*
 * Print @obj as qemu-img --output=json does, followed by a newline.
 * QEMU 7.2 kept dictionaries in a hash table, so its JSON lists keys in
 * hash order, not in insertion order; this reproduces that order.
 * @obj must have been built with keys inserted in QEMU's schema order
 * (that order decides between keys that share a hash bucket).
 */
void img_print_json(QObject *obj);
/* A copy of @obj whose dictionaries iterate in QEMU 7.2's order */
QObject *img_qemu_order(QObject *obj);

/*
 * -p progress display: "    (12.34/100%)\r" lines on stdout.
 * img_progress_print(delta, 0) sets the progress to @delta percent;
 * with @max > 0 it adds @delta percent of @max.  A line is printed when
 * the value moved by more than @min_skip, or reached 0 or 100.
 * img_progress_end() ends the display with a newline.
 */
void img_progress_init(bool enabled, float min_skip);
void img_progress_print(float delta, int max);
void img_progress_end(void);

#endif /* QEMU_IMG_H */
