# Thin wrapper around meson + ninja.
BUILD ?= build
SANBUILD ?= build-san
TSABUILD ?= build-tsa
FUZZBUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_SEED ?= 1
NINJA ?= ninja

.PHONY: all deps check check-unit check-iotests check-iotests-aio \
        check-sanitizers \
        check-coroutines check-layers demo demo-guest bench fuzz clean \
        distclean

all: $(BUILD)/build.ninja
	$(NINJA) -C $(BUILD)

$(BUILD)/build.ninja:
	./configure --builddir=$(BUILD)

$(SANBUILD)/build.ninja:
	./configure --builddir=$(SANBUILD) --enable-sanitizers

$(TSABUILD)/build.ninja:
	./configure --builddir=$(TSABUILD) --cc=clang \
	    --extra-meson-args=-Dcoroutine_check=true

# Installs (apt-get, sudo) only what is missing; a no-op otherwise.
# --guest: the emulator, kernel and busybox of the slow iotest
# guest-blkverify.
deps:
	@scripts/install-deps --guest --check >/dev/null || \
	    scripts/install-deps --guest

# Everything: unit tests and iotests on the normal build, then the same
# suite under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# clang build that checks the coroutine markers, and the include rules.
check: deps
	$(MAKE) all
	$(MAKE) -k check-layers check-unit check-iotests check-iotests-aio \
	    check-sanitizers check-coroutines

# The include rules of docs/devel/layout.rst
check-layers:
	scripts/check-layers

check-unit: all
	meson test -C $(BUILD) --suite unit --print-errorlogs

IOTEST_FORMATS ?= raw qcow2
# nbd: the tests that support it run on images exported by our qemu-nbd
IOTEST_PROTOCOLS ?= file nbd

check-iotests: all
	cd tests/qemu-iotests && rc=0; for proto in $(IOTEST_PROTOCOLS); do \
	    for fmt in $(IOTEST_FORMATS); do \
	    QEMU_BUILD_DIR=$(abspath $(BUILD)) ./check -$$proto -$$fmt || rc=1; \
	done; done; exit $$rc

# The file-protocol suite again with O_DIRECT (cache=none) through the
# kernel AIO backends: Linux AIO and io_uring (aio=threads with O_DIRECT
# is the path both fall back to for buffers they cannot take)
IOTEST_AIO_MODES ?= native:none io_uring:none

check-iotests-aio: all
	cd tests/qemu-iotests && rc=0; for mode in $(IOTEST_AIO_MODES); do \
	    for fmt in $(IOTEST_FORMATS); do \
	    AIOMODE=$${mode%%:*} CACHEMODE=$${mode#*:} \
	    QEMU_BUILD_DIR=$(abspath $(BUILD)) ./check -x slow -file -$$fmt || \
	    rc=1; \
	done; done; exit $$rc

check-sanitizers: $(SANBUILD)/build.ninja
	$(NINJA) -C $(SANBUILD)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C $(SANBUILD) --suite unit --print-errorlogs
	cd tests/qemu-iotests && rc=0; for fmt in $(IOTEST_FORMATS); do \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    QEMU_BUILD_DIR=$(abspath $(SANBUILD)) ./check -x slow -$$fmt || rc=1; \
	done; exit $$rc

# Compile everything with clang -Wthread-safety: a coroutine_fn called
# outside a coroutine, or a synchronous wrapper called inside one, is an
# error.  Then prove on small examples that the check does catch them.
check-coroutines: $(TSABUILD)/build.ninja
	$(NINJA) -C $(TSABUILD)
	meson test -C $(TSABUILD) --suite coroutine-check --print-errorlogs

demo: deps
	$(MAKE) all
	scripts/demo.sh $(abspath $(BUILD))

# A guest on an NBD export of blkverify:raw.img:test.qcow2 (see
# docs/devel/guest-scenario.rst).  QEMU_NBD=PATH picks the server; until
# ours is built, Debian's qemu-nbd serves test.qcow2 alone.
QEMU_NBD ?= $(abspath $(BUILD))/qemu-nbd

demo-guest: deps
	$(MAKE) all
	@nbd=$(QEMU_NBD); if [ ! -x "$$nbd" ]; then \
	    echo "demo-guest: $$nbd not built; using /usr/bin/qemu-nbd" \
	        "without blkverify"; nbd=/usr/bin/qemu-nbd; fi; \
	scripts/guest/run-scenario "$$nbd" $(abspath $(BUILD))

bench: deps
	$(MAKE) all
	tests/bench/run $(abspath $(BUILD))

# Coverage-guided fuzzing of image parsing (clang + libFuzzer)
fuzz:
	scripts/install-deps --fuzz
	$(MAKE) all
	[ -f $(FUZZBUILD)/build.ninja ] || ./configure --builddir=$(FUZZBUILD) \
	    --cc=clang --extra-meson-args=-Dfuzzing=true
	$(NINJA) -C $(FUZZBUILD) tests/fuzz/fuzz-image-open \
	    tests/fuzz/fuzz-nbd-server
	tests/fuzz/run $(abspath $(BUILD)) $(abspath $(FUZZBUILD)) $(FUZZ_SECONDS) \
	    $(FUZZ_RUNS) $(FUZZ_SEED)

clean:
	-$(NINJA) -C $(BUILD) clean
	-$(NINJA) -C $(SANBUILD) clean
	-$(NINJA) -C $(TSABUILD) clean

distclean:
	rm -rf $(BUILD) $(SANBUILD) $(FUZZBUILD) $(TSABUILD)
