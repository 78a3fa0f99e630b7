#!/usr/bin/env bash
#
# Compare our qemu-io with QEMU 7.2's, invocation by invocation.
#
# Usage: QEMU_IO=path/to/our/qemu-io ref-compare.sh [CASES-FILE]
#
# Every line of CASES-FILE (default: ref-cases.txt next to this script)
# is one qemu-io invocation: its arguments, split like shell words.  A
# line "stdin:TEXT -- ARGS" also feeds printf's expansion of TEXT to
# stdin (interactive mode); otherwise stdin is empty.  Blank lines and
# lines starting with '#' are ignored.
#
# Each invocation runs twice, once per qemu-io, each time in a fresh
# directory holding the same scratch images:
#   raw.img     1 MiB of zeroes
#   data.img    1 MiB: 0x41 in [0, 512), "qblk" repeated in [64k, 68k),
#               0xff in [1020k, 1M), zeroes elsewhere
#   copy.img    identical to data.img (the raw side of blkverify)
#   q.qcow2     1 MiB qcow2 (made by the reference qemu-img when present)
#               with data at [64k, 68k) and [512k, 640k)
#   pat3        the 3 bytes "abc" (for write -s)
#   empty.pat   an empty file
# Timings and the program path are filtered out, then stdout, stderr and
# the exit status are compared.  Differences are printed per case; the
# exit status is 1 if any case differs.  Without the reference binary
# the script says why and exits 0.
#
# Environment: QEMU_IO (ours, required unless build/qemu-io exists),
# REF_QEMU_IO (default /usr/bin/qemu-io), REF_QEMU_IMG (default
# /usr/bin/qemu-img), REF_TIMEOUT (seconds per run, default 30).
#
# SPDX-License-Identifier: GPL-2.0-or-later
#

here=$(cd "$(dirname "$0")" && pwd)
cases=${1:-$here/ref-cases.txt}
ref=${REF_QEMU_IO:-/usr/bin/qemu-io}
ref_img=${REF_QEMU_IMG:-/usr/bin/qemu-img}
limit=${REF_TIMEOUT:-30}
ours=${QEMU_IO:-$here/../../build/qemu-io}

if [ ! -x "$ref" ]; then
    echo "skipped: reference qemu-io ($ref) is not installed"
    exit 0
fi
if [ ! -x "$ours" ]; then
    echo "$ours: not found; set QEMU_IO to our qemu-io" >&2
    exit 2
fi
if [ ! -r "$cases" ]; then
    echo "$cases: cannot read" >&2
    exit 2
fi
ours=$(cd "$(dirname "$ours")" && pwd)/$(basename "$ours")

scratch=$(mktemp -d -t ref-compare.XXXXXX) || exit 2
trap 'rm -rf "$scratch"' EXIT

# The master copy of the scratch images
make_images()
{
    local d=$1

    mkdir -p "$d"
    truncate -s 1M "$d/raw.img"
    truncate -s 1M "$d/data.img"
    head -c 512 /dev/zero | tr '\0' 'A' |
        dd of="$d/data.img" conv=notrunc status=none
    yes qblk | tr -d '\n' | head -c 4096 |
        dd of="$d/data.img" bs=1k seek=64 conv=notrunc status=none
    head -c 4096 /dev/zero | tr '\0' '\377' |
        dd of="$d/data.img" bs=1k seek=1020 conv=notrunc status=none
    cp "$d/data.img" "$d/copy.img"
    printf 'abc' > "$d/pat3"
    : > "$d/empty.pat"
    if [ -x "$ref_img" ]; then
        "$ref_img" create -q -f qcow2 "$d/q.qcow2" 1M &&
            "$ref" -f qcow2 -c 'write -q -P 0x11 64k 4k' \
                -c 'write -q -P 0x22 512k 128k' "$d/q.qcow2" >/dev/null
    fi
}

# Remove what legitimately differs between runs and binaries
filter()
{
    local rate='[-+0-9.a-z]+'

    sed -E \
        -e 's/ ops; [0-9:.]+( sec)? \([^)]*\/sec and [^)]* ops\/sec\)$/ ops; TIMING/' \
        -e "s/^([0-9]+,[0-9]+),[0-9]+:[0-9]{2}:[0-9.]+,$rate,$rate\$/\\1,TIMING/" \
        -e "s#^$1:#qemu-io:#"
}

# The usage text is ours (no --object/-T, no QEMU links): compare only
# that it was printed
filter_usage()
{
    sed -e '/^Usage: /,/^See .* -c help. for information/c\<usage>' \
        -e '/^See <https:\/\/qemu.org\/contribute\/report-a-bug>/d' \
        -e '/^More information on the QEMU project at/d' |
    sed -e '/^<usage>$/{N;s/^<usage>\n$/<usage>/;}'
}

# By design, blkverify probes its test child silently (the project's
# seed example must print exactly one line); QEMU warns about it.  The
# test child in these cases is always data.img.
filter_test_child_warning()
{
    case "$*" in
    *blkverify:*) ;;
    *) cat; return ;;
    esac
    sed -e "/^WARNING: Image format was not specified for 'data.img' and probing guessed raw.\$/,+2d"
}

# run BINARY DIR STDIN-TEXT ARGS... : output in DIR/result
run_one()
{
    local bin=$1 dir=$2 input=$3
    shift 3

    (
        cd "$dir" || exit 2
        ulimit -c 0
        if [ -n "$input" ]; then
            printf "$input" > stdin.txt
        else
            : > stdin.txt
        fi
        { ( exec timeout "$limit" "$bin" "$@" <stdin.txt >stdout.txt \
            2>stderr.txt ); } 2>/dev/null
        rc=$?
        {
            echo "--- stdout"
            # Our extension: "info" shows blkverify's statistics
            filter_usage < stdout.txt | filter "$bin" |
                sed -e '/^blkverify: \(mode\|requests\|bytes\|mismatches\)/d'
            echo "--- stderr"
            filter "$bin" < stderr.txt | filter_test_child_warning "$@"
            echo "--- exit $rc"
        } > result
    )
}

make_images "$scratch/master"

total=0
failed=0
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    case "$line" in
        ''|'#'*) continue ;;
    esac
    input=
    argline=$line
    if [[ "$line" == stdin:* ]]; then
        input=${line#stdin:}
        input=${input%% -- *}
        argline=${line#* -- }
    fi
    eval "set -- $argline"
    total=$((total + 1))

    rm -rf "$scratch/ref" "$scratch/ours"
    cp -r "$scratch/master" "$scratch/ref"
    cp -r "$scratch/master" "$scratch/ours"
    run_one "$ref" "$scratch/ref" "$input" "$@"
    run_one "$ours" "$scratch/ours" "$input" "$@"

    if ! cmp -s "$scratch/ref/result" "$scratch/ours/result"; then
        failed=$((failed + 1))
        echo "=== DIFFERS (line $lineno): $line"
        diff -u --label reference --label ours \
            "$scratch/ref/result" "$scratch/ours/result" | tail -n +3
        echo
    fi
done < "$cases"

echo "$((total - failed))/$total cases identical"
[ "$failed" -eq 0 ]
