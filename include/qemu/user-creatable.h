/*
 * --object: user-creatable objects given on a tool's command line
 *
 * Every tool takes QEMU's "--object TYPE,id=ID,..." (or a JSON object
 * with "qom-type").  The only type we have is "secret", a named piece of
 * data (passwords, keys) that other options refer to by id; every other
 * type is refused by name.  "--object help" lists the types and
 * "--object TYPE,help" a type's properties.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_USER_CREATABLE_H
#define QEMU_USER_CREATABLE_H

#include "qapi/error.h"

/*
 * Create the object @optarg describes.  Returns false with @errp set on
 * error; for a help request prints the help to stdout, sets *@help and
 * returns true.
 */
bool user_creatable_add_from_str(const char *optarg, bool *help,
                                 Error **errp);

/*
 * The "--object" option of a tool: create the object, or print the help
 * it asks for and exit(0), or report the error and exit(1), as QEMU's
 * tools do.
 */
void user_creatable_process_cmdline(const char *optarg);

/*
 * The data of secret @id: @len bytes at *@data (g_free() it), with a NUL
 * after them.  False with @errp set if there is no such secret.
 */
bool qcrypto_secret_lookup(const char *id, uint8_t **data, size_t *len,
                           Error **errp);

/* The data of secret @id as a string (g_free() it), or NULL with @errp */
char *qcrypto_secret_lookup_as_utf8(const char *id, Error **errp);

/* Forget every object (for tests) */
void user_creatable_cleanup(void);

#endif /* QEMU_USER_CREATABLE_H */
