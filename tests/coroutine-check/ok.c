/*
 * Correct uses of the coroutine markers: this file must compile cleanly
 * under the coroutine check, which shows that the failures of the bad-*.c
 * files come from the check and not from a broken test set-up.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/clang-tsa.h"

int in_coroutine(void);
void QEMU_TSA_ASSERTS_CO assert_context(void);

void coroutine_fn co_yield(void);
void no_coroutine_fn run_sync(void);

/* A coroutine_fn may call another */
void coroutine_fn co_step(void)
{
    co_yield();
}

/* A mixed function yields only on its checked coroutine branch */
void coroutine_mixed_fn mixed(void)
{
    if (in_coroutine()) {
        assert_context();
        co_step();
        return;
    }
    run_sync();
}

/* Plain code may call wrappers and mixed functions */
void plain(void)
{
    run_sync();
    mixed();
}
