#!/usr/bin/env bash
#
# Run the blkverify seed example end to end with the tools of a build:
# create a reference image holding a pattern in its first sector and an
# all-zero test image, read through blkverify:RAW:TEST, and check that
# blkverify reported the mismatch and made qemu-io exit with status 1.
# Then a short version of the realistic scenario: a seeded random
# workload of 2,000 requests through blkverify:raw.img:test.qcow2, which
# must finish without a mismatch and leave a clean qcow2 image.
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

srcdir=$(cd "$(dirname "$0")/.." && pwd)
workload=$srcdir/tests/qemu-iotests/tests/qcow2-workload.py

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

# The realistic scenario, short: qcow2 under test against a raw mirror
run qemu-img create -f raw raw.img 1G
run qemu-img create -f qcow2 test.qcow2 1G
show_command python3 tests/qemu-iotests/tests/qcow2-workload.py --preset demo \
    --seed 1 ">" workload.txt
python3 "$workload" --preset demo --seed 1 > workload.txt 2>/dev/null
commands=$(wc -l < workload.txt)
echo "[$commands qemu-io commands]"
echo
show_command qemu-io -f raw blkverify:raw.img:test.qcow2 "<" workload.txt
qemu-io -f raw blkverify:raw.img:test.qcow2 < workload.txt \
    > "$workdir/output" 2>&1
workload_status=$?
echo "[exit status $workload_status; blkverify lines follow, if any]"
grep '^blkverify' "$workdir/output"
echo
run qemu-img check test.qcow2
check_status=$status

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
if [ "$commands" -lt 1000 ] || [ "$workload_status" -ne 0 ] ||
   grep -q '^blkverify' "$workdir/output"; then
    echo "demo: FAILED: the qcow2 workload through blkverify did not pass"
    ok=
fi
if [ "$check_status" -ne 0 ]; then
    echo "demo: FAILED: qemu-img check found problems in test.qcow2"
    ok=
fi
if [ -z "$ok" ]; then
    exit 1
fi
echo "demo: OK: blkverify reported the mismatch in sector 0 and qemu-io" \
     "exited with status 1;"
echo "demo: OK: the qcow2 workload ran through blkverify without a" \
     "mismatch and left a clean image"
