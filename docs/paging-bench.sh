#!/usr/bin/env bash
# Cold-cache warming: mmapkit prefetch against vmtouch -t and cat, on a tree
# of many small files and on one big file. Usage:
#
#   go build -o /tmp/mmapkit ./cmd/mmapkit
#   bash docs/paging-bench.sh /tmp/mmapkit /var/tmp/paging-bench [rounds] [targets]
#
# targets: "tree big.bin" (the default), or one of them. NICE=-19 runs every
# tool at that niceness (root), so that other load on a shared machine
# disturbs the comparison less; the default is 0.
# It creates DIR/tree (10,000 files of 64 KiB in 100 directories) and
# DIR/big.bin (4 GiB) once. Each round evicts with `mmapkit evict` before
# every tool (no root needed; drop_caches would disturb the whole machine),
# and the tools take turns in a different order each round. It prints every
# time, the medians and the speed-ups over vmtouch, and the load before and
# after: on a shared machine the absolute numbers mean little, the ratios
# within a round more. Each time is followed by the CPU time (user + system)
# the tool took, which other load disturbs much less than the elapsed time.
set -euo pipefail
M=$1
DIR=$2
ROUNDS=${3:-5}
TARGETS=${4:-tree big.bin}
command -v vmtouch >/dev/null || { echo "needs vmtouch (apt-get install vmtouch)"; exit 1; }
# fio (apt-get install fio), if present, measures the disk itself for comparison.
mkdir -p "$DIR"
if [ ! -d "$DIR/tree" ]; then
  for d in $(seq -w 0 99); do
    mkdir -p "$DIR/tree.new/d$d"
    for f in $(seq -w 0 99); do head -c 65536 /dev/urandom > "$DIR/tree.new/d$d/f$f.bin"; done
  done
  mv "$DIR/tree.new" "$DIR/tree"
fi
if [ ! -f "$DIR/big.bin" ] && [[ " $TARGETS " == *" big.bin "* ]]; then
  head -c 4G /dev/urandom > "$DIR/big.bin.new" && mv "$DIR/big.bin.new" "$DIR/big.bin"
fi
sync

NICE=${NICE:-0}
secs() { nice -n "$NICE" /usr/bin/time -f '%e %U %S' "$@" 2>&1 >/dev/null | tail -1; }
cold() { "$M" evict -s -r "$1" >/dev/null; }
run() { # tool target
  cold "$2"
  case $1 in
    vmtouch) secs vmtouch -tq "$2" ;;
    cat) secs sh -c "find '$2' -type f -print0 | xargs -0 cat > /dev/null" ;;
    mmapkit) secs "$M" prefetch -s -r "$2" ;;
  esac
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $M prefetch -s -r TARGET  vs  vmtouch -tq TARGET  vs  find TARGET -type f | xargs cat  (nice $NICE)"
for target in $TARGETS; do
  declare -A all=() cpu=()
  tools=(vmtouch cat mmapkit)
  for r in $(seq "$ROUNDS"); do
    line="$target round $r:"
    for k in 0 1 2; do
      tool=${tools[$(((k + r) % 3))]}
      read -r t u s < <(run "$tool" "$DIR/$target")
      c=$(awk "BEGIN {printf \"%.2f\", $u + $s}")
      all[$tool]+="$t "
      cpu[$tool]+="$c "
      line+=" $tool $t s (cpu $c s)"
    done
    echo "$line"
  done
  if command -v fio >/dev/null; then
    # The disk's own rate for the same bytes: fio reads them with O_DIRECT
    # (no page cache, so no eviction needed), 32 requests in flight; its
    # I/O time, without its start-up.
    case $target in
      big.bin) io=(--filename="$DIR/$target" --bs=1m) ;;
      *) io=(--opendir="$DIR/$target" --bs=64k --file_service_type=sequential --openfiles=512) ;;
    esac
    disk=$(for r in $(seq "$ROUNDS"); do
      fio --name=disk "${io[@]}" --rw=read --direct=1 --ioengine=libaio --iodepth=32 --minimal 2>/dev/null |
        awk -F';' 'NF > 10 {printf "%.2f\n", $9 / 1000}'
    done | median)
    echo "$target disk: fio O_DIRECT at queue depth 32 reads the same bytes in $disk s (median of $ROUNDS)"
  fi
  med() { echo "$1" | tr ' ' '\n' | grep . | median; }
  mv=$(med "${all[vmtouch]}") mc=$(med "${all[cat]}") mm=$(med "${all[mmapkit]}")
  echo "$target medians: vmtouch -t $mv s, cat $mc s, mmapkit prefetch $mm s;" \
    "mmapkit is $(awk "BEGIN {printf \"%.1f\", $mv / $mm}")x vmtouch, $(awk "BEGIN {printf \"%.1f\", $mc / $mm}")x cat;" \
    "CPU: vmtouch $(med "${cpu[vmtouch]}") s, cat $(med "${cpu[cat]}") s, mmapkit $(med "${cpu[mmapkit]}") s"
  unset all cpu
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
