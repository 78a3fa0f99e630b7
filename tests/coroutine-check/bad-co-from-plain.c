/*
 * Must be rejected: a plain function calls a coroutine_fn.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/clang-tsa.h"

void coroutine_fn co_yield(void);

void plain(void)
{
    co_yield();
}
