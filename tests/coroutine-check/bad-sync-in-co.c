/*
 * Must be rejected: a coroutine_fn calls a synchronous wrapper (a
 * no_coroutine_fn), which would poll the event loop from inside a
 * coroutine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/clang-tsa.h"

int no_coroutine_fn run_sync(void);

int coroutine_fn co_step(void)
{
    return run_sync();
}
