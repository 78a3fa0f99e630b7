/*
 * Coroutine context switching on ucontext and sigsetjmp/siglongjmp
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * glibc's fortified longjmp refuses to jump to a frame that lies on a
 * different stack, which is exactly what switching coroutines does.
 */
#ifdef _FORTIFY_SOURCE
#undef _FORTIFY_SOURCE
#endif

#include "qemu/osdep.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "qemu/coroutine.h"

#if defined(__SANITIZE_ADDRESS__)
#define COROUTINE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COROUTINE_ASAN 1
#endif
#endif

#ifdef COROUTINE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
/*
 * The code that switches stacks keeps its own locals on the real stack:
 * with detect_stack_use_after_return they would otherwise live in a fake
 * stack that is dropped when the coroutine terminates, but a pooled
 * coroutine resumes in that very frame.
 */
#define NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define NO_SANITIZE_ADDRESS
#endif

#define COROUTINE_STACK_SIZE (1 * MiB)

#ifdef COROUTINE_ASAN
/*
 * AddressSanitizer intercepts siglongjmp() and unpoisons the whole stack
 * below the jump, which would wipe the redzones of every frame that is
 * live across a yield.  The compiler's own setjmp/longjmp pair is not
 * intercepted; it needs a separate function for the jump and can only
 * deliver the value 1, so the real value travels in jump_value.
 */
typedef void *CoJmpBuf[5];

static __thread int jump_value;

#define co_setjmp(buf) (__builtin_setjmp(buf) ? jump_value : 0)

static NO_SANITIZE_ADDRESS __attribute__((noinline, noreturn))
void co_longjmp(CoJmpBuf buf, int value)
{
    jump_value = value;
    __builtin_longjmp(buf, 1);
}
#else
typedef sigjmp_buf CoJmpBuf;

#define co_setjmp(buf) sigsetjmp(buf, 0)
#define co_longjmp(buf, value) siglongjmp(buf, value)
#endif

struct CoroutineContext {
    CoJmpBuf env;
    /* Usable stack (above the guard page); NULL for a thread's context */
    void *stack;
    size_t stack_size;
    /* Whole mapping including the guard page */
    void *mapping;
    size_t mapping_size;
#ifdef COROUTINE_ASAN
    /* Stack bounds as AddressSanitizer sees them */
    const void *asan_bottom;
    size_t asan_size;
#endif
};

/* Context of the thread itself, the one that runs outside coroutines */
static __thread CoroutineContext thread_ctx;

/* Handed to coroutine_trampoline(), which makecontext() cannot pass */
static __thread struct {
    Coroutine *co;
    CoroutineContext *ctx;
    CoJmpBuf *creator_env;
} start_args;

#ifdef COROUTINE_ASAN
/* The context we are switching away from, so the far side learns its bounds */
static __thread CoroutineContext *switch_from;
#endif

/*
 * Tell AddressSanitizer we are about to switch from @from to the stack at
 * @bottom.  @fake_stack_save is NULL when the current stack is abandoned.
 */
static inline NO_SANITIZE_ADDRESS
void start_switch(CoroutineContext *from, void **fake_stack_save,
                  const void *bottom, size_t size)
{
#ifdef COROUTINE_ASAN
    switch_from = from;
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#endif
}

/* Tell AddressSanitizer the switch to the current stack has completed. */
static inline NO_SANITIZE_ADDRESS
void finish_switch(void *fake_stack_save, const void **old_bottom,
                   size_t *old_size)
{
#ifdef COROUTINE_ASAN
    const void *bottom;
    size_t size;

    __sanitizer_finish_switch_fiber(fake_stack_save, &bottom, &size);
    /*
     * The thread's own stack bounds are only known to the sanitizer, so
     * learn them the first time the thread switches away from them.
     */
    if (switch_from && !switch_from->asan_bottom) {
        switch_from->asan_bottom = bottom;
        switch_from->asan_size = size;
    }
    switch_from = NULL;
    if (old_bottom) {
        *old_bottom = bottom;
        *old_size = size;
    }
#endif
}

static NO_SANITIZE_ADDRESS void coroutine_trampoline(void)
{
    Coroutine *co = start_args.co;
    CoroutineContext *self = start_args.ctx;
    CoJmpBuf *creator_env = start_args.creator_env;
    const void *creator_bottom = NULL;
    size_t creator_size = 0;
    void *fake_stack_save = NULL;

    finish_switch(NULL, &creator_bottom, &creator_size);

    /*
     * Save a jump buffer to come back here, then return to the creator at
     * once: from now on the cheap longjmp path is used both ways.
     */
    if (!co_setjmp(self->env)) {
        start_switch(self, &fake_stack_save, creator_bottom, creator_size);
        co_longjmp(*creator_env, 1);
    }
    finish_switch(fake_stack_save, NULL, NULL);

    qemu_coroutine_body(co);
}

NO_SANITIZE_ADDRESS
CoroutineContext *qemu_coroutine_context_new(Coroutine *co)
{
    CoroutineContext *ctx = g_new0(CoroutineContext, 1);
    size_t page = qemu_real_host_page_size();
    ucontext_t uc;
    CoJmpBuf old_env;
    void *fake_stack_save = NULL;

    ctx->mapping_size = COROUTINE_STACK_SIZE + page;
    ctx->mapping = mmap(NULL, ctx->mapping_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ctx->mapping == MAP_FAILED) {
        fprintf(stderr, "Failed to allocate coroutine stack: %s\n",
                strerror(errno));
        abort();
    }
    /* Stacks grow down: an overflow runs into this inaccessible page */
    if (mprotect(ctx->mapping, page, PROT_NONE) < 0) {
        fprintf(stderr, "Failed to set up coroutine stack guard page: %s\n",
                strerror(errno));
        abort();
    }
    ctx->stack = (char *)ctx->mapping + page;
    ctx->stack_size = COROUTINE_STACK_SIZE;
#ifdef COROUTINE_ASAN
    ctx->asan_bottom = ctx->stack;
    ctx->asan_size = ctx->stack_size;
#endif

    if (getcontext(&uc) < 0) {
        fprintf(stderr, "getcontext failed: %s\n", strerror(errno));
        abort();
    }
    /* The trampoline never returns, so there is nothing to link to */
    uc.uc_link = NULL;
    uc.uc_stack.ss_sp = ctx->stack;
    uc.uc_stack.ss_size = ctx->stack_size;
    uc.uc_stack.ss_flags = 0;
    makecontext(&uc, coroutine_trampoline, 0);

    start_args.co = co;
    start_args.ctx = ctx;
    start_args.creator_env = &old_env;

    /*
     * The trampoline sets up its jump buffer and jumps straight back, so
     * setcontext() is enough: swapcontext() would save a context nobody
     * returns to (and draws a warning from AddressSanitizer).
     */
    if (!co_setjmp(old_env)) {
        start_switch(NULL, &fake_stack_save, ctx->stack, ctx->stack_size);
        setcontext(&uc);
        fprintf(stderr, "setcontext failed: %s\n", strerror(errno));
        abort();
    }
    finish_switch(fake_stack_save, NULL, NULL);
    return ctx;
}

void qemu_coroutine_context_free(CoroutineContext *ctx)
{
    if (!ctx) {
        return;
    }
#ifdef COROUTINE_ASAN
    /* Do not leave stale redzones behind for whoever maps this range next */
    ASAN_UNPOISON_MEMORY_REGION(ctx->stack, ctx->stack_size);
#endif
    munmap(ctx->mapping, ctx->mapping_size);
    g_free(ctx);
}

CoroutineContext *qemu_coroutine_thread_context(void)
{
    return &thread_ctx;
}

NO_SANITIZE_ADDRESS
CoroutineAction qemu_coroutine_switch(CoroutineContext *from,
                                      CoroutineContext *to,
                                      CoroutineAction action)
{
    void *fake_stack_save = NULL;
    int ret;

    ret = co_setjmp(from->env);
    if (ret == 0) {
#ifdef COROUTINE_ASAN
        start_switch(from,
                     action == COROUTINE_TERMINATE ? NULL : &fake_stack_save,
                     to->asan_bottom, to->asan_size);
#endif
        co_longjmp(to->env, action);
    }
    finish_switch(fake_stack_save, NULL, NULL);
    return ret;
}
