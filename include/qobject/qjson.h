/*
 * JSON text <-> QObject.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QJSON_H
#define QJSON_H

#include "qapi/error.h"
#include "qobject/qobject.h"

/* Parse one JSON value; trailing garbage is an error */
QObject *qobject_from_json(const char *string, Error **errp);
/* Compact form {"a": 1, "b": [2, 3]} as QEMU prints it */
GString *qobject_to_json(const QObject *obj);
/*
 * Pretty form as QEMU's qobject_to_json_pretty() (4-space indentation,
 * "key": value), used by qemu-img --output=json.
 */
GString *qobject_to_json_pretty(const QObject *obj, bool pretty);

#endif /* QJSON_H */
