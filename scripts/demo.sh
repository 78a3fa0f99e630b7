#!/usr/bin/env bash
#
# Run the blkverify seed example end to end with the tools of a build:
# create a reference image holding a pattern in its first sector and an
# all-zero test image, read through blkverify:RAW:TEST, and check that
# blkverify reported the mismatch and made qemu-io exit with status 1.
#
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: scripts/demo.sh BUILD_DIR

set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || {
    echo "demo: build directory '$1' not found" >&2
    exit 2
}
for tool in qemu-img qemu-io; do
    if [ ! -x "$build/$tool" ]; then
        echo "demo: $build/$tool not built (run 'make' first)" >&2
        exit 2
    fi
done

workdir=$(mktemp -d -t blkverify-demo.XXXXXX) || exit 2
trap 'rm -rf "$workdir"' EXIT
cd "$workdir" || exit 2

# Tools are called by their plain names in the transcript
PATH=$build:$PATH
export PATH

# The command line as one would type it: arguments with spaces quoted
show_command()
{
    local arg line="$"
    for arg; do
        case "$arg" in
        *[[:space:]]*) line="$line '$arg'" ;;
        *) line="$line $arg" ;;
        esac
    done
    echo "$line"
}

# run CMD... -- print the command, run it, print its output and status
run()
{
    show_command "$@"
    "$@" >"$workdir/output" 2>&1
    status=$?
    cat "$workdir/output"
    echo "[exit status $status]"
    echo
}

run qemu-img create raw.img 1M
run qemu-io -c 'write -P 0xcd 0 512' raw.img
run qemu-img create test.img 1M
run qemu-io -c 'read 0 512' blkverify:raw.img:test.img
mismatch_status=$status
mismatch_output=$(cat "$workdir/output")
run qemu-io -f raw -c 'read -v 0 32' raw.img

expected="blkverify: read sector_num=0 nb_sectors=4"
expected="$expected contents mismatch in sector 0"
ok=y
if ! grep -qxF "$expected" <<<"$mismatch_output"; then
    echo "demo: FAILED: blkverify did not print: $expected"
    ok=
fi
if [ "$mismatch_status" -ne 1 ]; then
    echo "demo: FAILED: qemu-io exited with status $mismatch_status, not 1"
    ok=
fi
if [ -z "$ok" ]; then
    exit 1
fi
echo "demo: OK: blkverify reported the mismatch in sector 0 and qemu-io" \
     "exited with status 1"
