#!/bin/sh
# Build a small seed corpus for the image fuzzer with our own tools:
# qcow2 images with 512-byte clusters (so they stay a few KiB) in several
# shapes.  Usage: make-seeds.sh BUILD_DIR OUT_DIR
set -e
build=$1
out=$2
img="$build/qemu-img"
io="$build/qemu-io"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
seed() {
    n=$((n + 1))
    cp "$1" "$out/seed-$n"
}

for opts in "cluster_size=512" "cluster_size=512,compat=0.10" \
            "cluster_size=512,refcount_bits=1" \
            "cluster_size=512,refcount_bits=64,lazy_refcounts=on" \
            "cluster_size=1024,compression_type=zlib"; do
    "$img" create -q -f qcow2 -o "$opts" "$tmp/a.qcow2" 64K
    seed "$tmp/a.qcow2"
    "$io" -f qcow2 -c 'write -P 0xa5 0 1536' -c 'write -z 8k 4k' \
        -c 'write -P 0x11 60k 4k' -c 'discard 0 512' "$tmp/a.qcow2" \
        > /dev/null
    seed "$tmp/a.qcow2"
done
"$img" create -q -u -f qcow2 -o cluster_size=512 -b base.img -F raw \
    "$tmp/b.qcow2" 64K
seed "$tmp/b.qcow2"
echo "$n seeds in $out"
