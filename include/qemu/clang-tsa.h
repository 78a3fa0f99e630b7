/*
 * Coroutine context as a clang thread-safety capability.
 *
 * "Running inside a coroutine" is modelled as holding a global capability,
 * coroutine_ctx.  A coroutine_fn requires it, a no_coroutine_fn excludes
 * it, and clang's -Wthread-safety then reports every call that crosses the
 * line the wrong way: a coroutine_fn called from plain code, or a function
 * that must not run in a coroutine called from one.  Nothing here exists
 * at run time; the capability object is only ever named in attributes.
 *
 * Other compilers see the markers as documentation only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_CLANG_TSA_H
#define QEMU_CLANG_TSA_H

#ifdef __clang__

typedef struct __attribute__((capability("coroutine"))) CoroutineCap {
    char unused;
} CoroutineCap;

/* Never defined: it is named in attributes, never read or written. */
extern CoroutineCap coroutine_ctx;

#define QEMU_TSA_REQUIRES_CO \
    __attribute__((requires_capability(coroutine_ctx)))
#define QEMU_TSA_EXCLUDES_CO \
    __attribute__((locks_excluded(coroutine_ctx)))
#define QEMU_TSA_ASSERTS_CO \
    __attribute__((assert_capability(coroutine_ctx)))
#define QEMU_TSA_MARK(name) __attribute__((annotate(name)))

#else

#define QEMU_TSA_REQUIRES_CO
#define QEMU_TSA_EXCLUDES_CO
#define QEMU_TSA_ASSERTS_CO
#define QEMU_TSA_MARK(name)

#endif

/*
 * May yield: call only from coroutine context (from another coroutine_fn,
 * or after qemu_coroutine_assert_context()).
 */
#define coroutine_fn QEMU_TSA_REQUIRES_CO QEMU_TSA_MARK("coroutine_fn")

/*
 * Callable inside or outside a coroutine.  Such a function yields only on
 * a branch guarded by qemu_in_coroutine(), which starts with
 * qemu_coroutine_assert_context() so that its coroutine calls check.
 */
#define coroutine_mixed_fn QEMU_TSA_MARK("coroutine_mixed_fn")

/*
 * Must not be called from a coroutine: it polls the event loop (a
 * synchronous wrapper) or blocks the thread.
 */
#define no_coroutine_fn QEMU_TSA_EXCLUDES_CO QEMU_TSA_MARK("no_coroutine_fn")

/*
 * The same promise for a function pointer or function type (BlockDriver
 * hooks, CoroutineEntry).  clang checks attributes on functions only, so
 * this form documents the contract without claiming a check: the
 * functions stored in such pointers are declared with coroutine_fn and
 * checked there.
 */
#define coroutine_fn_ptr QEMU_TSA_MARK("coroutine_fn")

#endif /* QEMU_CLANG_TSA_H */
