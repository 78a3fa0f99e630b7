/*
 * Must be rejected: a coroutine_mixed_fn calls a coroutine_fn without
 * first establishing (assert_context()) that it runs in a coroutine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/clang-tsa.h"

int in_coroutine(void);
void coroutine_fn co_yield(void);

void coroutine_mixed_fn mixed(void)
{
    if (in_coroutine()) {
        co_yield();
    }
}
