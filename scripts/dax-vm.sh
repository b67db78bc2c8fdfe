#!/usr/bin/env bash
# scripts/dax-vm.sh -- run daxkv on a real fsdax mount inside a QEMU guest with an
# emulated NVDIMM (issue 6). See docs/dax.md.
#
# Usage: scripts/dax-vm.sh [options]
#   --guest-bin PATH  use this dax_guest binary instead of building `cargo build --release
#                     --example dax_guest --example quickstart` (a `quickstart` binary
#                     beside PATH is run too)
#   --bin 'PATH [ARGS...]'
#                     EXTRA GUEST BINARY (repeatable; the hook for the crash-simulator
#                     sweep, test binaries ...). Each one runs in the
#                     first boot of every filesystem, after the dax_guest checks, with
#                     cwd = a fresh directory on the DAX mount, TMPDIR pointing there
#                     too (so tempfile-based cargo tests create their files on fsdax),
#                     and DAXVM_DAX_DIR / DAXVM_FS set. A non-zero exit fails the run.
#                     Shared libraries are found with ldd and copied into the guest.
#   --cargo-tests     also build the crate's test executables (`cargo test --release
#                     --no-run`) and run each one in the guest through the same hook,
#                     with DAXVM_TEST_ARGS as arguments (e.g. a name filter)
#   --fs 'ext4 xfs'   filesystems to test (default: both)
#   -h, --help
#
# Environment (all optional):
#   DAXVM_WORK=/tmp/daxkv-vm   work dir; kernel + base initramfs are cached there
#   DAXVM_ACCEL=auto|kvm|tcg   auto: KVM only if kvm_intel/kvm_amd is loaded AND a probe
#                              boot proves it runs our kernel, else TCG
#   DAXVM_KVM_PROBE=force      run the KVM probe even without kvm_intel/kvm_amd (testing)
#   DAXVM_TIMEOUT=240          hard limit in seconds for each QEMU boot (a healthy boot takes ~5 s)
#   DAXVM_STEP_TIMEOUT=200     limit for each program inside the guest
#   DAXVM_N=5000               keys written in boot 1, verified in boot 2
#   DAXVM_FS='ext4 xfs'        same as --fs
#   DAXVM_EXTRA_BINS           extra guest binaries, ';'-separated 'PATH ARGS' entries
#   DAXVM_GUEST_BIN            same as --guest-bin
#   DAXVM_POWERCUT=1           end boot 1 with a power cut (no umount, no sync); 0: umount
#   DAXVM_MEM=1G DAXVM_NVDIMM_SIZE=1G DAXVM_SMP=2
#   DAXVM_NVDIMM_PERSISTENCE=cpu|mem-ctrl  declare the NVDIMM's persistence domain to the
#                              guest (QEMU nvdimm-persistence; cpu = eADR: the guest's region
#                              then reports persistence_domain cpu_cache). Default: undeclared
#   DAXVM_QEMU=qemu-system-x86_64  the QEMU binary
#   DAXVM_KERNEL_ARGS          extra guest kernel command line arguments
#   DAXVM_XFS_MKFS_OPTS        extra mkfs.xfs options, e.g. '-d su=2m,sw=1' (2 MiB-aligned
#                              extents, so xfs DAX faults can use PMDs; default mkfs: PTEs)
#   DAXVM_REFRESH=1            re-download the guest kernel and rebuild the cached pieces
#   Block-level crash tier and DAX power-cut rounds (issue 16; docs/dax.md "The block-level tier"):
#   DAXVM_BLOCK=1              boot once more per fs for dm-log-writes record/replay + I/O errors
#   DAXVM_BLOCK_OPS=300        workload ops recorded (growth, cleaning, punching, reuse)
#   DAXVM_BLOCK_POINTS=25      flush/FUA points checked by the replay (0 = every one)
#   DAXVM_BLOCK_SUBSETS=1      subset images (writes since the last flush) before each point
#   DAXVM_BLOCK_SEED=1         workload seed (the image sampling seed too)
#   DAXVM_BLOCK_REPLAY_ARGS    extra `block_crash replay` flags, e.g. --only-subsets
#   DAXVM_BLOCK_PLANT=3        planted-loss images the checker must flag (0 = none)
#   DAXVM_BLOCK_IOERR=1        the I/O-error and ENOSPC scenarios (dm-flakey, a full fs)
#   DAXVM_BLOCK_MB=400         size of each guest ramdisk (data, log, replay, COW, fault)
#   DAXVM_CUT_ROUNDS=2         DAX power cuts (QEMU killed mid-workload), each verified after reboot
#   DAXVM_CUT_OPS=600          op sequence of the power-cut workload
#   DAXVM_CUT_SEED=1           seed of the power-cut workload and of the kill points
#   DAXVM_TIERS='dax cut block'  which boots run: dax = the write/verify pair, cut = the power-cut
#                              rounds, block = the block-level boot (scripts/block-crash.sh: block)
#   DAXVM_BLOCK_TIMEOUT=1500 DAXVM_BLOCK_STEP_TIMEOUT=1200   limits of the block-level boot
#   CARGO_TARGET_DIR           where cargo builds (default: <repo>/target)
#
# Exit status: 0 = every guest check passed; 1 = a check failed / a boot broke / the guest
# could not be built; 0 with a "skipped: <reason>" line = QEMU cannot run on this host.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${DAXVM_WORK:-/tmp/daxkv-vm}
ACCEL=${DAXVM_ACCEL:-auto}
BOOT_TIMEOUT=${DAXVM_TIMEOUT:-240}
STEP_TIMEOUT=${DAXVM_STEP_TIMEOUT:-200}
NKEYS=${DAXVM_N:-5000}
FSLIST=${DAXVM_FS:-ext4 xfs}
GUEST_BIN=${DAXVM_GUEST_BIN:-}
POWERCUT=${DAXVM_POWERCUT:-1}
MEM=${DAXVM_MEM:-1G}
NVDIMM_SIZE=${DAXVM_NVDIMM_SIZE:-1G}
SMP=${DAXVM_SMP:-2}
REFRESH=${DAXVM_REFRESH:-0}
QEMU=${DAXVM_QEMU:-qemu-system-x86_64}
XFS_MKFS_OPTS=${DAXVM_XFS_MKFS_OPTS:-}
CARGO_TESTS=${DAXVM_CARGO_TESTS:-0}
BLOCK=${DAXVM_BLOCK:-1}
BLOCK_OPS=${DAXVM_BLOCK_OPS:-300}
BLOCK_POINTS=${DAXVM_BLOCK_POINTS:-25}
BLOCK_SUBSETS=${DAXVM_BLOCK_SUBSETS:-1}
BLOCK_SEED=${DAXVM_BLOCK_SEED:-1}
BLOCK_REPLAY_ARGS=${DAXVM_BLOCK_REPLAY_ARGS:-}
BLOCK_PLANT=${DAXVM_BLOCK_PLANT:-3}
BLOCK_IOERR=${DAXVM_BLOCK_IOERR:-1}
BLOCK_MB=${DAXVM_BLOCK_MB:-400}
CUT_ROUNDS=${DAXVM_CUT_ROUNDS:-2}
CUT_OPS=${DAXVM_CUT_OPS:-600}
CUT_SEED=${DAXVM_CUT_SEED:-1}
BLOCK_TIMEOUT=${DAXVM_BLOCK_TIMEOUT:-1500}
BLOCK_STEP_TIMEOUT=${DAXVM_BLOCK_STEP_TIMEOUT:-1200}
TIERS=${DAXVM_TIERS:-dax cut block}
case " $TIERS " in *" cut "*) ;; *) CUT_ROUNDS=0 ;; esac
case " $TIERS " in *" block "*) ;; *) BLOCK=0 ;; esac
EXTRA=()
if [ -n "${DAXVM_EXTRA_BINS:-}" ]; then
  IFS=';' read -r -a EXTRA <<< "$DAXVM_EXTRA_BINS"
fi

while [ $# -gt 0 ]; do
  case $1 in
    --guest-bin) GUEST_BIN=$2; shift 2 ;;
    --bin) EXTRA+=("$2"); shift 2 ;;
    --fs) FSLIST=$2; shift 2 ;;
    --cargo-tests) CARGO_TESTS=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "dax-vm: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
say() { printf '[dax-vm %6ss] %s\n' "$(elapsed)" "$*"; }
die() { say "ERROR: $*"; echo "dax-vm: FAILED: $*"; exit 1; }
skip() { say "skipped: $*"; echo "dax-vm: skipped: $*"; exit 0; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
PIDFILE=$WORK/qemu.pid

# ------------------------------------------------------------------ QEMU lifetime
# Kill the QEMU we started (by the PID it wrote, after checking that PID is still our
# QEMU) on every exit path, including INT/TERM from CI.
kill_qemu() {
  local pid
  [ -s "$PIDFILE" ] || return 0
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -F "daxvm:$WORK" >/dev/null; then
    kill "$pid" 2>/dev/null || true
    sleep 1
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}
trap 'kill_qemu' EXIT
trap 'say "interrupted"; kill_qemu; exit 130' INT TERM

# ------------------------------------------------------------------ 1. host packages
need_cmd() { command -v "$1" >/dev/null 2>&1; }
ensure_packages() {
  local want=() p
  need_cmd "$QEMU" || want+=(qemu-system-x86)
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -x depmod >/dev/null || want+=(busybox-static)
  need_cmd cpio || want+=(cpio)
  need_cmd mke2fs || want+=(e2fsprogs)
  case " $FSLIST " in *" xfs "*) need_cmd mkfs.xfs || want+=(xfsprogs) ;; esac
  need_cmd gzip || want+=(gzip)
  need_cmd dmsetup || want+=(dmsetup)      # device-mapper tool for the block-level tier
  [ ${#want[@]} -eq 0 ] && return 0
  say "installing host packages: ${want[*]}"
  if [ "$(id -u)" != 0 ]; then
    if need_cmd sudo && sudo -n true 2>/dev/null; then SUDO=sudo; else SUDO=; fi
  else SUDO=; fi
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    $SUDO apt-get update -qq > "$WORK/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${want[@]}" >> "$WORK/apt.log" 2>&1 || say "apt-get install failed (see $WORK/apt.log)"
  fi
}
ensure_packages
need_cmd "$QEMU" || skip "$QEMU is not installed and could not be installed (apt: qemu-system-x86)"
QEMU_VERSION=$("$QEMU" --version 2>/dev/null | head -1) || skip "$QEMU does not run on this host"
[ -n "$QEMU_VERSION" ] || skip "$QEMU does not run on this host"
for c in cpio mke2fs gzip dmsetup; do need_cmd $c || die "host tool '$c' is missing"; done
[ -x /bin/busybox ] || die "/bin/busybox (busybox-static) is missing"
/bin/busybox --list | grep -x depmod >/dev/null || die "/bin/busybox has no depmod applet (need busybox-static)"
case " $FSLIST " in *" xfs "*) need_cmd mkfs.xfs || die "mkfs.xfs (xfsprogs) is missing" ;; esac
say "host: $QEMU_VERSION; work dir $WORK"

# ------------------------------------------------------------------ 2. guest binaries
# Built first: a compile error should fail fast, before any download.
if [ -z "$GUEST_BIN" ]; then
  need_cmd cargo || die "cargo not found (or pass --guest-bin)"
  TD=${CARGO_TARGET_DIR:-$REPO/target}
  say "building: cargo build --release --example dax_guest --example quickstart --example block_crash (target dir $TD)"
  (cd "$REPO" && CARGO_TARGET_DIR=$TD cargo build --release --example dax_guest --example quickstart --example block_crash) \
    > "$WORK/cargo-build.log" 2>&1 || { tail -40 "$WORK/cargo-build.log"; die "cargo build of the examples failed"; }
  GUEST_BIN=$TD/release/examples/dax_guest
  # The crash-simulator sweep in ADR mode runs in every write boot too (issue 6).
  case " $TIERS " in *" dax "*)
    say "building: cargo build --release --features cli --bin daxkv (ADR crash sweep in the guest)"
    (cd "$REPO" && CARGO_TARGET_DIR=$TD cargo build --release --features cli --bin daxkv) \
      >> "$WORK/cargo-build.log" 2>&1 || { tail -40 "$WORK/cargo-build.log"; die "cargo build of the daxkv CLI failed"; }
    EXTRA+=("$TD/release/daxkv crashtest --model adr --seeds 2 --ops 30 --threads 2") ;;
  esac
fi
# the quickstart example runs too when it sits beside dax_guest (always, when we built it)
QUICKSTART_BIN=$(dirname "$GUEST_BIN")/quickstart
[ -x "$QUICKSTART_BIN" ] || QUICKSTART_BIN=
# the block-level tier's program, beside dax_guest
BLOCK_BIN=$(dirname "$GUEST_BIN")/block_crash
if [ ! -x "$BLOCK_BIN" ]; then
  BLOCK_BIN=
  if [ "$BLOCK" = 1 ] || [ "$CUT_ROUNDS" -gt 0 ]; then die "block_crash is missing beside $GUEST_BIN (build --example block_crash, or DAXVM_BLOCK=0 DAXVM_CUT_ROUNDS=0)"; fi
fi
[ -x "$GUEST_BIN" ] || die "guest binary $GUEST_BIN is missing or not executable"
if [ "$CARGO_TESTS" = 1 ]; then
  TD=${CARGO_TARGET_DIR:-$REPO/target}
  say "building test executables: cargo test --release --no-run"
  (cd "$REPO" && CARGO_TARGET_DIR=$TD cargo test --release --no-run --message-format=json) \
    > "$WORK/cargo-tests.json" 2> "$WORK/cargo-tests.log" || { tail -40 "$WORK/cargo-tests.log"; die "cargo test --no-run failed"; }
  while read -r exe; do
    EXTRA+=("$exe ${DAXVM_TEST_ARGS:-}")
  done < <(grep '"test":true' "$WORK/cargo-tests.json" | grep -o '"executable":"[^"]*"' | cut -d'"' -f4)
fi
for e in "${EXTRA[@]}"; do
  read -r p _ <<< "$e"
  [ -x "$p" ] || die "extra guest binary '$p' is missing or not executable"
done

# ------------------------------------------------------------------ 3. guest kernel
# linux-image-amd64 (a metapackage) names the real image package in its Depends. It is
# only downloaded and unpacked with dpkg -x, never installed on the host.
KDIR=$WORK/kernel
if [ "$REFRESH" = 1 ]; then rm -rf "$KDIR" "$WORK"/base-*.cpio.gz; fi
fetch_kernel() {
  rm -rf "$KDIR.tmp"; mkdir -p "$KDIR.tmp/debs"
  local img
  (cd "$KDIR.tmp/debs" && apt-get download linux-image-amd64) > "$WORK/kernel-download.log" 2>&1 || {
    say "apt-get download failed, refreshing the package lists once"
    apt-get update -qq >> "$WORK/kernel-download.log" 2>&1 || true
    (cd "$KDIR.tmp/debs" && apt-get download linux-image-amd64) >> "$WORK/kernel-download.log" 2>&1 \
      || { cat "$WORK/kernel-download.log"; die "cannot download linux-image-amd64"; }
  }
  img=$(dpkg-deb -f "$KDIR.tmp"/debs/linux-image-amd64_*.deb Depends | sed 's/ *(.*//; s/[,|].*//; s/ //g')
  say "guest kernel package: $img"
  (cd "$KDIR.tmp/debs" && apt-get download "$img") >> "$WORK/kernel-download.log" 2>&1 \
    || { cat "$WORK/kernel-download.log"; die "cannot download $img"; }
  dpkg -x "$KDIR.tmp/debs/${img}"_*.deb "$KDIR.tmp/root"
  rm -rf "$KDIR.tmp/debs"
  mv "$KDIR.tmp" "$KDIR"
}
if ! ls "$KDIR"/root/boot/vmlinuz-* >/dev/null 2>&1; then
  rm -rf "$KDIR"
  say "fetching the guest kernel (apt-get download + dpkg -x, not installed on the host)"
  fetch_kernel
fi
VMLINUZ=$(ls "$KDIR"/root/boot/vmlinuz-* | head -1)
KVER=${VMLINUZ##*/vmlinuz-}
KMOD=$KDIR/root/lib/modules/$KVER
# the .deb has no modules.dep (its postinst would run depmod); busybox depmod makes one
[ -s "$KMOD/modules.dep" ] || /bin/busybox depmod -b "$KDIR/root" "$KVER"
for opt in FS_DAX FS_DAX_PMD ZONE_DEVICE; do
  grep -q "^CONFIG_$opt=y" "$KDIR/root/boot/config-$KVER" || die "guest kernel $KVER lacks CONFIG_$opt=y"
done
say "guest kernel $KVER (FS_DAX=y FS_DAX_PMD=y ZONE_DEVICE=y)"

# ------------------------------------------------------------------ 4. initramfs
# Two concatenated newc archives (the kernel unpacks them in order):
#   base-<hash>.cpio.gz  busybox, modules + modules.dep, mke2fs/mkfs.xfs + libs   (cached)
#   payload.cpio.gz      /init, dax_guest, extra binaries + their libs            (every run)

# copy_elf ROOT FILE DEST: copy an executable and every shared library ldd names (plus the
# loader) into ROOT at their host paths.
copy_elf() {
  local root=$1 file=$2 dest=$3 lib
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$file" "$root$dest"
  if ldd "$file" >/dev/null 2>&1; then
    for lib in $(ldd "$file" | grep -oE '(^|[[:space:]])/[^[:space:]]+' | tr -d '[:blank:]'); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  fi
}
pack() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) > "$2"; }

# modules the guest needs: NVDIMM (ACPI NFIT -> libnvdimm -> nd_pmem), ext4, xfs, crc32c
WANT_MODS="nfit nd_pmem ext4 xfs crc32c_generic crc32c-intel dm-mod dm-log-writes dm-snapshot dm-flakey brd"
declare -A SEEN=()
MODFILES=()
add_mod() { # $1: path relative to $KMOD, deps first
  [ -n "${SEEN[$1]:-}" ] && return 0
  SEEN[$1]=1
  local d
  for d in $(grep -E "^$1:" "$KMOD/modules.dep" | cut -d: -f2); do add_mod "$d"; done
  MODFILES+=("$1")
}
for m in $WANT_MODS; do
  p=$(grep -E "(^|/)${m}\.ko(\.xz|\.zst|\.gz)?:" "$KMOD/modules.dep" | cut -d: -f1 | head -1)
  if [ -z "$p" ]; then
    case $m in crc32c-intel) continue ;; esac   # optional accelerator
    grep -q "^CONFIG_$(echo "$m" | tr 'a-z-' 'A-Z_')=y" "$KDIR/root/boot/config-$KVER" && continue
    die "module $m not found in guest kernel $KVER"
  fi
  add_mod "$p"
done
MKFS_TOOLS="mke2fs"
need_cmd mkfs.xfs && MKFS_TOOLS="$MKFS_TOOLS mkfs.xfs"   # always, so --fs does not change the cache key
MKFS_TOOLS="$MKFS_TOOLS dmsetup"                           # the block-level tier's device-mapper tool
BASE_KEY=$( { echo "$KVER $WANT_MODS $MKFS_TOOLS v1"; sha256sum /bin/busybox;
             for t in $MKFS_TOOLS; do sha256sum "$(command -v "$t")"; done; } | sha256sum | cut -c1-16)
BASE=$WORK/base-$BASE_KEY.cpio.gz
if [ ! -s "$BASE" ]; then
  say "building base initramfs (busybox, ${#MODFILES[@]} modules, $MKFS_TOOLS)"
  R=$WORK/base-root; rm -rf "$R"
  mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt/dax,lib/modules/"$KVER"}
  copy_elf "$R" /bin/busybox /bin/busybox
  for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
  for p in "${MODFILES[@]}"; do
    mkdir -p "$R/lib/modules/$KVER/$(dirname "$p")"
    cp "$KMOD/$p" "$R/lib/modules/$KVER/$p"
    case $p in
      *.xz) xz -d "$R/lib/modules/$KVER/$p" ;;
      *.zst) zstd -q -d --rm "$R/lib/modules/$KVER/$p" ;;
      *.gz) gzip -d "$R/lib/modules/$KVER/$p" ;;
    esac
  done
  /bin/busybox depmod -b "$R" "$KVER"
  # real e2fsprogs/xfsprogs binaries in /sbin (busybox's mke2fs applet is ext2-only)
  for t in $MKFS_TOOLS; do rm -f "$R/sbin/$t" "$R/bin/$t"; copy_elf "$R" "$(command -v "$t")" "/sbin/$t"; done
  [ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$R/etc/"
  pack "$R" "$BASE.tmp" && mv "$BASE.tmp" "$BASE"
  rm -rf "$R"
else
  say "base initramfs cached: $(basename "$BASE")"
fi

# ---- the guest's /init (busybox sh, PID 1). Kernel command line knobs:
#   daxvm.mode=probe|write|verify  daxvm.fs=ext4|xfs  daxvm.n=N  daxvm.powercut=0|1
#   daxvm.step_timeout=S
# Every check prints "PASS <name>" or "FAIL <name>: why"; the host counts them.
build_payload() {
  local R=$WORK/payload-root i=0 e p args name
  rm -rf "$R"; mkdir -p "$R/daxvm/bin" "$R/daxvm/extra"
  cat > "$R/init" <<'EOF_INIT'
#!/bin/sh
export PATH=/daxvm/bin:/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
MODE=write; FS=ext4; N=1000; POWERCUT=1; STEP_TIMEOUT=500; FAILS=0; XFS_OPTS=
BARGS=; BOPS=300; BPOINTS=25; BSUBSETS=1; BSEED=1; BPLANT=3; BIOERR=1; BMB=400; CUTOPS=600; CUTSEED=1; ACKED=0; ROUND=1
for a in $(cat /proc/cmdline); do
  case $a in
    daxvm.bops=*) BOPS=${a#*=} ;; daxvm.bpoints=*) BPOINTS=${a#*=} ;; daxvm.bsubsets=*) BSUBSETS=${a#*=} ;;
    daxvm.bseed=*) BSEED=${a#*=} ;; daxvm.bplant=*) BPLANT=${a#*=} ;; daxvm.bioerr=*) BIOERR=${a#*=} ;;
    daxvm.bmb=*) BMB=${a#*=} ;; daxvm.cutops=*) CUTOPS=${a#*=} ;; daxvm.cutseed=*) CUTSEED=${a#*=} ;;
    daxvm.acked=*) ACKED=${a#*=} ;; daxvm.round=*) ROUND=${a#*=} ;;
    daxvm.bargs=*) BARGS=$(echo "${a#*=}" | tr ':' ' ') ;;
    daxvm.mode=*) MODE=${a#*=} ;; daxvm.fs=*) FS=${a#*=} ;; daxvm.n=*) N=${a#*=} ;;
    daxvm.powercut=*) POWERCUT=${a#*=} ;; daxvm.step_timeout=*) STEP_TIMEOUT=${a#*=} ;;
    daxvm.xfs_opts=*) XFS_OPTS=$(echo "${a#*=}" | tr ':' ' ') ;;
  esac
done
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "DAXVM: $*"; }
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS+1)); }
finish() { # $1: "powercut" = reboot(RB_POWER_OFF) without sync or umount
  log "RESULT fs=$FS mode=$MODE fails=$FAILS uptime=$(up)s"
  if [ "$1" = powercut ]; then
    log "END fails=$FAILS (power cut: no umount, no sync)"; poweroff -f -n
  else
    umount /mnt/dax 2>/dev/null; sync; log "END fails=$FAILS"; poweroff -f
  fi
  sleep 10
}
# kernel DAX tracepoints (fs_dax/*): count PMD/PTE faults and DAX writebacks per step
T=/sys/kernel/tracing; TRACE=0
trace_setup() {
  mount -t tracefs nodev $T 2>/dev/null
  [ -d $T/events/fs_dax ] || { log "no fs_dax tracepoints"; return; }
  echo 16384 > $T/buffer_size_kb
  for e in dax_pmd_fault_done dax_pte_fault_done dax_writeback_range dax_writeback_one; do
    [ -e $T/events/fs_dax/$e/enable ] && echo 1 > $T/events/fs_dax/$e/enable
  done
  echo > $T/trace; TRACE=1
}
trace_report() { # $1: step name. Prints the counts and clears the buffer.
  [ $TRACE = 1 ] || return 0
  grep -v '^#' $T/trace > /tmp/trace.txt; echo > $T/trace
  TR_PMD=$(grep -c 'dax_pmd_fault_done:.*NOPAGE' /tmp/trace.txt)
  TR_PMD_FB=$(grep -c 'dax_pmd_fault_done:.*FALLBACK' /tmp/trace.txt)
  TR_PTE=$(grep -c 'dax_pte_fault_done:' /tmp/trace.txt)
  TR_WBR=$(grep -c 'dax_writeback_range:' /tmp/trace.txt)
  TR_WB1=$(grep -c 'dax_writeback_one:' /tmp/trace.txt)
  log "trace $1: pmd_faults(NOPAGE)=$TR_PMD pmd_fallbacks=$TR_PMD_FB pte_faults=$TR_PTE dax_writeback_range=$TR_WBR dax_writeback_one=$TR_WB1"
}
# run NAME CMD...: run a program with a time limit; a non-zero exit is a FAIL
run() {
  local name=$1 rc; shift
  log "BEGIN $name: $*"
  [ $TRACE = 1 ] && echo > $T/trace
  timeout -s KILL "$STEP_TIMEOUT" "$@"; rc=$?
  log "EXIT $name rc=$rc uptime=$(up)s"
  trace_report "$name"
  [ $rc = 0 ] || fail "$name: exit status $rc"
  return $rc
}
# ---- the block-level tier (daxvm.mode=block; issue 16, docs/dax.md "The block-level tier").
# ram0 data, ram1 dm-log-writes log, ram2 replay target, ram3 snapshot COW, ram4 fault device.
# No udev in the guest: libdevmapper makes its own nodes; dmnode finds /dev/dm-N by name.
export DM_DISABLE_UDEV=1
dmnode() { for d in /sys/block/dm-*; do [ "$(cat $d/dm/name 2>/dev/null)" = "$1" ] && { echo /dev/${d##*/}; return 0; }; done; return 1; }
mkfs_on() { # DEV: a small filesystem (ext4 64 MiB; xfs needs 300 MiB), no discards
  case $FS in
    ext4) /sbin/mke2fs -q -F -t ext4 -b 4096 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$1" 64M ;;
    xfs) /sbin/mkfs.xfs -q -f -K -m reflink=0 -d size=320m "$1" ;;
  esac
}
BLOCK_IMAGES=0; BLOCK_LOST=0; IOERR_PASSED=0
block_record_replay() {
  local sect lw
  sect=$(cat /sys/block/ram0/size)
  dmsetup create logw --table "0 $sect log-writes /dev/ram0 /dev/ram1" || { fail "$FS/block: dmsetup create log-writes"; return 1; }
  lw=$(dmnode logw) || { fail "$FS/block: no node for logw"; return 1; }
  mkfs_on "$lw" || { fail "$FS/block: mkfs on log-writes"; return 1; }
  block_crash mark logw mkfs || fail "$FS/block: mark"
  mkdir -p /mnt/rec /mnt/img
  mount -t $FS "$lw" /mnt/rec || { fail "$FS/block: mount log-writes device"; return 1; }
  log "block: recording $BOPS ops on $FS over dm-log-writes ($lw -> ram0, log ram1)"
  run "$FS/block-record" block_crash workload /mnt/rec/daxkv --seed $BSEED --ops $BOPS --mark logw --coverage
  umount /mnt/rec || fail "$FS/block: umount"
  log "block: log-writes status: $(dmsetup status logw)"
  dmsetup remove logw || fail "$FS/block: dmsetup remove logw"
  run "$FS/block-replay" block_crash replay --log /dev/ram1 --dev /dev/ram2 --cow /dev/ram3 --fs $FS \
    --seed $BSEED --ops $BOPS --points $BPOINTS --subsets $BSUBSETS --img-seed $BSEED --plant-loss $BPLANT --keep-going $BARGS \
    > /tmp/replay.out 2>&1
  cat /tmp/replay.out
  set -- $(grep '^BLOCKLEVEL' /tmp/replay.out | sed 's/[a-z]*=//g')
  BLOCK_IMAGES=$((BLOCK_IMAGES + ${2:-0})); BLOCK_LOST=$((BLOCK_LOST + ${3:-0}))
}
# ---- I/O errors: dm-flakey over ram4 (flk-set switches the table), and a full filesystem
FLK=
flk_up() { # fresh filesystem on the fault device, mounted on /mnt/io
  umount /mnt/io 2>/dev/null; dmsetup remove flk 2>/dev/null
  dmsetup create flk --table "0 $(cat /sys/block/ram4/size) linear /dev/ram4 0" || return 1
  FLK=$(dmnode flk) && mkfs_on "$FLK" && mkdir -p /mnt/io && mount -t $FS "$FLK" /mnt/io
}
flk_remount() { # the device healthy again, every cached block dropped, the filesystem recovered
  umount /mnt/io || log "umount /mnt/io failed"
  blockdev --flushbufs "$FLK" 2>/dev/null
  flk-set linear || return 1
  echo 3 > /proc/sys/vm/drop_caches
  mount -t $FS "$FLK" /mnt/io
}
scenario() { # NAME: counts as passed when its steps added no FAIL
  SC_NAME=$1; SC_FAILS=$FAILS; log "I/O-error scenario $FS/$1"
}
scenario_end() {
  if [ $FAILS = $SC_FAILS ]; then IOERR_PASSED=$((IOERR_PASSED + 1)); pass "$FS/ioerr/$SC_NAME: scenario passed"
  else echo "FAIL $FS/ioerr/$SC_NAME: scenario failed"; FAILS=$((FAILS+1)); fi
}
block_ioerr() {
  flk_up || { fail "$FS/ioerr: setup of the fault device"; return 1; }
  # 1. EIO on every write and flush from op 40 on (puts): Io/Poisoned, then a clean reopen
  scenario eio-puts
  run "$FS/ioerr-eio-puts" block_crash ioerr /mnt/io/a --seed 7 --ops 200 --fault-at 40 --mode eio --fault-cmd "flk-set error_writes"
  flk_remount || fail "$FS/ioerr: remount after error_writes"
  run "$FS/ioerr-eio-puts-reopen" block_crash verify /mnt/io/a --seed 7 --ops 200 --acked 40 --exact --name "$FS/ioerr/eio-puts reopen"
  scenario_end
  # 2. EIO from op 119 on: a compaction (cleaning copies + commit) is the first op to fail
  scenario eio-compact
  run "$FS/ioerr-eio-compact" block_crash ioerr /mnt/io/b --seed 8 --ops 200 --fault-at 119 --mode eio --fault-cmd "flk-set error_writes"
  flk_remount || fail "$FS/ioerr: remount after error_writes"
  run "$FS/ioerr-eio-compact-reopen" block_crash verify /mnt/io/b --seed 8 --ops 200 --acked 119 --exact --name "$FS/ioerr/eio-compact reopen"
  scenario_end
  # 3. writes silently dropped from op 60 on (a device that lies, then loses power)
  scenario drop-writes
  run "$FS/ioerr-drop" block_crash ioerr /mnt/io/c --seed 9 --ops 200 --fault-at 60 --mode drop --fault-cmd "flk-set drop_writes"
  flk_remount || fail "$FS/ioerr: remount after drop_writes"
  run "$FS/ioerr-drop-reopen" block_crash verify /mnt/io/c --seed 9 --ops 200 --acked 60 --name "$FS/ioerr/drop-writes reopen"
  scenario_end
  # 4. ENOSPC at growth: the filesystem filled but for 6 MiB
  scenario enospc
  flk_up || fail "$FS/ioerr: fresh filesystem for ENOSPC"
  avail=$(df -m /mnt/io | awk 'NR==2 {print $4}')
  fallocate -l $(( (avail - 6) * 1048576 )) /mnt/io/filler || fail "$FS/ioerr: fallocate filler ($avail MiB free)"
  log "enospc: $(df -m /mnt/io | awk 'NR==2 {print $4}') MiB left free"
  run "$FS/ioerr-enospc" block_crash enospc /mnt/io/d --filler /mnt/io/filler
  scenario_end
  umount /mnt/io; dmsetup remove flk
}
block_tier() {
  for m in dm-mod dm-log-writes dm-snapshot dm-flakey; do modprobe $m || fail "modprobe $m"; done
  modprobe brd rd_nr=5 rd_size=$((BMB * 1024)) || { fail "modprobe brd"; return; }
  block_record_replay
  [ "$BIOERR" = 1 ] && block_ioerr
  log "BLOCKTIER fs=$FS images=$BLOCK_IMAGES lost=$BLOCK_LOST ioerr_passed=$IOERR_PASSED"
}
log "guest up: kernel $(uname -r), mode=$MODE fs=$FS n=$N, clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource), uptime=$(up)s"
if [ "$MODE" = probe ]; then log "PROBE OK"; poweroff -f; sleep 10; fi
grep -o -w -E 'clwb|clflushopt' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/^/DAXVM: cpu flush instructions: /'; echo

modprobe -a crc32c_generic crc32c-intel 2>/dev/null
if [ "$MODE" = block ]; then modprobe $FS || fail "modprobe $FS"; block_tier; finish; fi
for m in nfit nd_pmem $FS; do modprobe "$m" || fail "modprobe $m"; done

# 1. the NVDIMM namespace. Label-less QEMU NVDIMMs come up "raw" (no struct pages: not
#    DAX-capable). Turn it into fsdax through sysfs, as `ndctl create-namespace -m fsdax`
#    does; the pfn info block written to the NVDIMM makes later boots come up fsdax.
NS=/sys/bus/nd/devices/namespace0.0
i=0; while [ ! -e $NS ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -e $NS ] || { fail "nvdimm: no namespace0.0"; dmesg | tail -20; finish; }
log "namespace0.0 mode=$(cat $NS/mode) size=$(cat $NS/size)"
if [ "$MODE" = daxcut ] && [ "$ROUND" != 1 ]; then MODE_NS=verify
elif [ "$MODE" = daxcut-verify ]; then MODE_NS=verify
elif [ "$MODE" = daxcut ]; then MODE_NS=write
else MODE_NS=$MODE; fi
if [ "$MODE_NS" = verify ]; then
  # sysfs calls fsdax "memory" (pfn device, struct pages on the device); ndctl says fsdax
  case $(cat $NS/mode) in
    memory|fsdax) pass "namespace came back as fsdax (mode=$(cat $NS/mode): pfn info block persisted)" ;;
    *) fail "namespace mode is $(cat $NS/mode) after reboot, expected fsdax (memory)" ;;
  esac
elif [ "$(cat $NS/mode)" = raw ]; then
  echo namespace0.0 > /sys/bus/nd/drivers/nd_pmem/unbind 2>/dev/null
  PFN=/sys/bus/nd/devices/$(cat /sys/bus/nd/devices/region0/pfn_seed)
  echo namespace0.0 > $PFN/namespace
  cat /proc/sys/kernel/random/uuid > $PFN/uuid      # without a uuid the bind fails (ENODEV)
  echo 2097152 > $PFN/align
  echo pmem > $PFN/mode                             # struct pages stored on the device
  echo "${PFN##*/}" > /sys/bus/nd/drivers/nd_pmem/bind || fail "nvdimm: bind ${PFN##*/}"
  log "namespace0.0 converted raw -> $(cat $NS/mode) (align 2M)"
fi
i=0; while [ ! -b /dev/pmem0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -b /dev/pmem0 ] || { fail "nvdimm: no /dev/pmem0"; dmesg | tail -20; finish; }
[ "$(cat /sys/block/pmem0/queue/dax)" = 1 ] && pass "/dev/pmem0 is DAX-capable (queue/dax=1, mode $(cat $NS/mode))" \
  || fail "/dev/pmem0 queue/dax=$(cat /sys/block/pmem0/queue/dax)"

# 2. filesystem + mount -o dax
if [ "$MODE_NS" = write ]; then
  case $FS in
    ext4) /sbin/mke2fs -q -F -t ext4 -b 4096 /dev/pmem0 ;;   # full path: busybox sh
    xfs) /sbin/mkfs.xfs -q -f -m reflink=0 $XFS_OPTS /dev/pmem0 ;;  # prefers its ext2-only applet
  esac || { fail "mkfs.$FS"; finish; }
  log "mkfs.$FS done uptime=$(up)s"
fi
mount -t $FS -o dax /dev/pmem0 /mnt/dax || { fail "mount -t $FS -o dax"; dmesg | tail -20; finish; }
MNT=$(grep ' /mnt/dax ' /proc/mounts)
log "mount: $MNT"
case ",$(echo "$MNT" | cut -d' ' -f4)," in
  *,dax=always,*) pass "$FS mounted with dax=always" ;;
  *,dax,*) pass "$FS mounted with dax" ;;
  *) fail "$FS mount options lack dax: $MNT" ;;
esac
dmesg | grep -iE 'dax|pmem' | grep -viE 'command line|daxvm' | tail -5 | sed 's/^/DAXVM: dmesg: /'

# 3. the tests
trace_setup
if [ "$MODE" = write ]; then
  run "$FS/write" dax_guest write /mnt/dax "$N"
  # the same, but the process exits without close(): only Immediate durability keeps it
  mkdir -p /mnt/dax/unclosed && run "$FS/write-no-close" dax_guest write /mnt/dax/unclosed "$N" --no-close
  mkdir -p /tmp/control && run "$FS/control-tmpfs" dax_guest control /tmp/control
  if [ -x /daxvm/bin/quickstart ]; then
    mkdir -p /mnt/dax/quickstart && run "$FS/quickstart" quickstart /mnt/dax/quickstart
  fi
  if mkdir -p /mnt/dax/bench && run "$FS/bench" dax_guest bench /mnt/dax/bench && [ $TRACE = 1 ]; then
    # the Msync half of the bench msyncs a DAX file: that must be the kernel's DAX writeback
    [ "$TR_WBR" -gt 0 ] && pass "$FS/bench: msync on the DAX file ran dax_writeback_mapping_range ($TR_WBR calls, $TR_WB1 entries flushed)" \
      || fail "$FS/bench: no dax_writeback_range trace event during the Msync bench"
  fi
  # ---- EXTRA GUEST BINARIES HOOK (scripts/dax-vm.sh --bin / DAXVM_EXTRA_BINS) ----
  i=0
  while read -r bin args; do
    [ -n "$bin" ] || continue
    i=$((i+1)); d=/mnt/dax/extra-$i; mkdir -p $d
    (cd $d && export TMPDIR=$d DAXVM_DAX_DIR=$d DAXVM_FS=$FS && run "$FS/extra:${bin##*/}" "$bin" $args)
    [ $? = 0 ] || FAILS=$((FAILS+1))
  done < /daxvm/extra.list
  # keep the store for boot 2; drop the rest so boot 2 reads only guest.db
  rm -rf /mnt/dax/bench /mnt/dax/quickstart /mnt/dax/extra-*
  if [ "$POWERCUT" = 1 ]; then finish powercut; fi
elif [ "$MODE" = verify ]; then
  run "$FS/verify" dax_guest verify /mnt/dax "$N"
  run "$FS/verify-no-close" dax_guest verify /mnt/dax/unclosed "$N"
elif [ "$MODE" = daxcut ]; then
  # DAX power-cut round: verify the last round's acknowledged ops, go on until the host kills QEMU
  log "daxcut round $ROUND: $ACKED ops acknowledged before the last cut"
  run "$FS/daxcut-round$ROUND" block_crash daxround /mnt/dax/cut --seed $CUTSEED --ops $CUTOPS --acked $ACKED
elif [ "$MODE" = daxcut-verify ]; then
  run "$FS/daxcut-verify" block_crash verify /mnt/dax/cut --seed $CUTSEED --ops $CUTOPS --acked $ACKED --name "$FS/daxcut final"
fi
finish
EOF_INIT
  chmod 755 "$R/init"
  copy_elf "$R" "$GUEST_BIN" /daxvm/bin/dax_guest
  [ -z "$QUICKSTART_BIN" ] || copy_elf "$R" "$QUICKSTART_BIN" /daxvm/bin/quickstart
  [ -z "$BLOCK_BIN" ] || copy_elf "$R" "$BLOCK_BIN" /daxvm/bin/block_crash
  # flk-set linear|error_writes|drop_writes: switch the fault device's table (dm-flakey, always down)
  cat > "$R/daxvm/bin/flk-set" <<'EOF_FLK'
#!/bin/sh
S=$(cat /sys/block/ram4/size)
case $1 in
  linear) T="0 $S linear /dev/ram4 0" ;;
  error_writes|drop_writes) T="0 $S flakey /dev/ram4 0 0 3600 1 $1" ;;
  *) echo "flk-set: unknown mode $1" >&2; exit 2 ;;
esac
dmsetup suspend flk && dmsetup load flk --table "$T" && dmsetup resume flk
EOF_FLK
  chmod 755 "$R/daxvm/bin/flk-set"
  : > "$R/daxvm/extra.list"
  for e in "${EXTRA[@]}"; do
    read -r p args <<< "$e"
    i=$((i+1)); name=/daxvm/extra/$i-$(basename "$p")
    copy_elf "$R" "$p" "$name"
    printf '%s %s\n' "$name" "$args" >> "$R/daxvm/extra.list"
  done
  pack "$R" "$WORK/payload.cpio.gz"
  cat "$BASE" "$WORK/payload.cpio.gz" > "$WORK/initrd.gz"
  rm -rf "$R"
}
build_payload
say "initramfs: $(du -h "$WORK/initrd.gz" | cut -f1) (dax_guest: $GUEST_BIN; quickstart: ${QUICKSTART_BIN:-none}; ${#EXTRA[@]} extra binaries)"

# ------------------------------------------------------------------ 5. boots
LOGDIR=$WORK/logs; rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
# boot LOG IMG TIMEOUT ACCEL_ARGS KERNEL_ARGS: one QEMU run, serial console to LOG.
# QEMU runs in the background under `timeout` so a TERM to this script is handled at once.
# An optional 6th argument N is a power cut: QEMU is killed (SIGKILL) once the guest has
# printed N `ACK` lines, wherever the workload is.
boot() {
  local log=$1 img=$2 tmo=$3 accel=$4 kargs=$5 cut=${6:-0} pid rc=0 qpid i=0
  rm -f "$PIDFILE"
  # loglevel 5 and all-CPU backtraces: a guest soft lockup (seen once in the ext4 verify boot)
  # prints its stacks to the boot log.
  # shellcheck disable=SC2086
  # exec: no subshell left to print "Killed" when a power cut SIGKILLs QEMU (timeout re-raises it)
  ( exec timeout --kill-after=5 "$tmo" "$QEMU" $accel -smp "$SMP" \
    -machine "pc,nvdimm=on${DAXVM_NVDIMM_PERSISTENCE:+,nvdimm-persistence=$DAXVM_NVDIMM_PERSISTENCE}" -m "${BOOT_MEM:-$MEM}",slots=2,maxmem=8G \
    -object memory-backend-file,id=mem1,share=on,mem-path="$img",size="$NVDIMM_SIZE",align=2M \
    -device nvdimm,id=nvdimm1,memdev=mem1 \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
    -append "console=ttyS0 loglevel=5 panic=-1 softlockup_all_cpu_backtrace=1 $kargs ${DAXVM_KERNEL_ARGS:-}" \
    -display none -nodefaults -serial stdio -monitor none -no-reboot \
    -name "daxvm:$WORK" -pidfile "$PIDFILE" \
    < /dev/null > "$log" 2>&1 ) &
  pid=$!
  if [ "$cut" -gt 0 ]; then
    # bounded: the QEMU run itself is under `timeout`; poll its console every 0.1 s
    while kill -0 "$pid" 2>/dev/null && [ $i -lt $((tmo * 10 + 100)) ]; do
      if [ "$(grep -ac '^ACK ' "$log" 2>/dev/null || true)" -ge "$cut" ]; then
        qpid=$(cat "$PIDFILE" 2>/dev/null || true)
        if [ -n "$qpid" ] && { tr '\0' ' ' < "/proc/$qpid/cmdline"; } 2>/dev/null | grep -F "daxvm:$WORK" >/dev/null; then
          kill -9 "$qpid" 2>/dev/null || true
          CUT_KILLED=1
        fi
        break
      fi
      sleep 0.1; i=$((i + 1))
    done
  fi
  # (stderr: bash would report the job "Killed" after a power cut, which is intended)
  wait "$pid" 2>/dev/null || rc=$?
  kill_qemu
  return $rc
}

# accelerator: KVM only when a normal kvm_intel/kvm_amd host is present AND a probe boot
# of our kernel succeeds (some hosts expose /dev/kvm through e.g. kvm_pvm, which cannot
# run a stock kernel: the guest hangs). Otherwise TCG (software emulation).
TCG_ARGS="-accel tcg,thread=multi -cpu max"
KVM_ARGS="-accel kvm -cpu host"
kvm_mods=""
for m in /sys/module/kvm_*; do [ -e "$m" ] && kvm_mods="${kvm_mods:+$kvm_mods }${m##*/}"; done
case $ACCEL in
  tcg) ACCEL_ARGS=$TCG_ARGS; why="requested" ;;
  kvm) ACCEL_ARGS=$KVM_ARGS; why="requested" ;;
  auto)
    ACCEL=tcg; ACCEL_ARGS=$TCG_ARGS
    if [ -r /dev/kvm ] && [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ] \
         || [ "${DAXVM_KVM_PROBE:-}" = force ]; }; then
      # a stock kernel under working KVM reaches /init in ~1 s; 45 s is generous
      truncate -s "$NVDIMM_SIZE" "$WORK/probe.img"
      if boot "$LOGDIR/kvm-probe.log" "$WORK/probe.img" "${DAXVM_KVM_PROBE_TIMEOUT:-45}" "$KVM_ARGS" "daxvm.mode=probe" \
         && grep -aq 'DAXVM: PROBE OK' "$LOGDIR/kvm-probe.log"; then
        ACCEL=kvm; ACCEL_ARGS=$KVM_ARGS; why="KVM probe boot succeeded"
      else why="KVM probe boot failed (${kvm_mods:-no kvm modules}; log $LOGDIR/kvm-probe.log)"; fi
      rm -f "$WORK/probe.img"
    else why="no kvm_intel/kvm_amd host module (loaded: ${kvm_mods:-none})"; fi ;;
  *) die "DAXVM_ACCEL must be auto, kvm or tcg" ;;
esac
say "accelerator: $ACCEL ($why)"

TOTAL_PASS=0; TOTAL_FAIL=0; PROBLEMS=()
# show the guest's lines (no kernel printk lines) and count PASS/FAIL
report() {
  local tag=$1 log=$2 rc=$3 p f
  tr -d '\r' < "$log" | grep -avE '^\[ *[0-9]+\.[0-9]+\]|^$|^qemu-system-x86_64: warning: TCG doesn' \
    | sed "s|^|  [$tag] |" || true
  p=$(tr -d '\r' < "$log" | grep -ac '^PASS ' || true)
  f=$(tr -d '\r' < "$log" | grep -ac '^FAIL ' || true)
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    PROBLEMS+=("$tag: QEMU killed by the ${BOOT_TIMEOUT}s timeout"); TOTAL_FAIL=$((TOTAL_FAIL + 1))
  elif ! tr -d '\r' < "$log" | grep -a '^DAXVM: END ' >/dev/null; then
    PROBLEMS+=("$tag: guest did not finish (QEMU rc=$rc; see $log)"); TOTAL_FAIL=$((TOTAL_FAIL + 1))
    tail -30 "$log" | sed "s|^|  [$tag tail] |"
  fi
  [ "$f" = 0 ] || PROBLEMS+=("$tag: $f guest check(s) failed")
}

# count_log LOG: PASS/FAIL lines of a boot whose end is not checked (a power-cut round)
count_log() {
  local p f
  p=$(tr -d '\r' < "$1" | grep -ac '^PASS ' || true)
  f=$(tr -d '\r' < "$1" | grep -ac '^FAIL ' || true)
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f))
  [ "$f" = 0 ] || PROBLEMS+=("$2: $f guest check(s) failed")
}
declare -A CUT_SUMMARY=()
for fs in $FSLIST; do
  case $fs in ext4|xfs) ;; *) die "unsupported filesystem '$fs' (ext4 or xfs)" ;; esac
  img=$WORK/nvdimm-$fs.img
  rm -f "$img"; truncate -s "$NVDIMM_SIZE" "$img"      # fresh, sparse, raw namespace
  DAX_MODES="write verify"
  case " $TIERS " in *" dax "*) ;; *) DAX_MODES= ;; esac
  for mode in $DAX_MODES; do
    tb=$(date +%s.%N); rc=0
    say "boot: $fs/$mode (timeout ${BOOT_TIMEOUT}s)"
    boot "$LOGDIR/$fs-$mode.log" "$img" "$BOOT_TIMEOUT" "$ACCEL_ARGS" \
      "daxvm.mode=$mode daxvm.fs=$fs daxvm.n=$NKEYS daxvm.powercut=$POWERCUT daxvm.step_timeout=$STEP_TIMEOUT${XFS_MKFS_OPTS:+ daxvm.xfs_opts=$(echo "$XFS_MKFS_OPTS" | tr ' ' ':')}" || rc=$?
    say "boot: $fs/$mode finished in $(awk -v a="$tb" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s (QEMU rc=$rc, log $LOGDIR/$fs-$mode.log)"
    report "$fs/$mode" "$LOGDIR/$fs-$mode.log" "$rc"
  done

  # DAX power cuts: QEMU killed during a CacheLine workload, then the next boot verifies
  # every op acknowledged on the console before the kill and goes on writing.
  if [ "$CUT_ROUNDS" -gt 0 ]; then
    cimg=$WORK/nvdimm-$fs-cut.img
    rm -f "$cimg"; truncate -s "$NVDIMM_SIZE" "$cimg"
    acked=0; killed=0
    for r in $(seq 1 "$CUT_ROUNDS"); do
      # seeded kill point: after 20..219 ACK lines of this boot
      k=$(( (CUT_SEED * 7919 + r * 104729 + ${#fs} * 31) % 200 + 20 ))
      tb=$(date +%s.%N); rc=0; CUT_KILLED=0; l=$LOGDIR/$fs-cut$r.log
      say "boot: $fs/daxcut round $r: kill QEMU after $k acknowledged ops ($acked acknowledged before)"
      boot "$l" "$cimg" "$BOOT_TIMEOUT" "$ACCEL_ARGS" \
        "daxvm.mode=daxcut daxvm.round=$r daxvm.acked=$acked daxvm.fs=$fs daxvm.cutops=$CUT_OPS daxvm.cutseed=$CUT_SEED daxvm.step_timeout=$STEP_TIMEOUT" "$k" || rc=$?
      last=$(tr -d '\r' < "$l" | grep -a '^ACK ' | tail -1 | cut -d' ' -f2 || true)
      ver=$(tr -d '\r' < "$l" | grep -a '^VERIFIED ' | tail -1 | cut -d' ' -f2 || true)
      say "boot: $fs/daxcut round $r finished in $(awk -v a="$tb" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s (QEMU rc=$rc, killed=$CUT_KILLED, verified ${ver:-none}, last ACK ${last:-none})"
      tr -d '\r' < "$l" | grep -avE '^\[ *[0-9]+\.[0-9]+\]|^$|^ACK |^qemu-system-x86_64: (warning|terminating)' | sed "s|^|  [$fs/cut$r] |" || true
      count_log "$l" "$fs/cut$r"
      if [ "$CUT_KILLED" = 1 ]; then killed=$((killed + 1))
      elif ! tr -d '\r' < "$l" | grep -aq 'all .* ops done'; then
        PROBLEMS+=("$fs/cut$r: neither killed nor finished (QEMU rc=$rc; see $l)"); TOTAL_FAIL=$((TOTAL_FAIL + 1))
      fi
      [ -n "$ver" ] && [ "$ver" -gt "$acked" ] && acked=$ver
      [ -n "$last" ] && [ "$last" -gt "$acked" ] && acked=$last
    done
    tb=$(date +%s.%N); rc=0
    say "boot: $fs/daxcut-verify ($acked ops acknowledged before the last cut)"
    boot "$LOGDIR/$fs-cutverify.log" "$cimg" "$BOOT_TIMEOUT" "$ACCEL_ARGS" \
      "daxvm.mode=daxcut-verify daxvm.acked=$acked daxvm.fs=$fs daxvm.cutops=$CUT_OPS daxvm.cutseed=$CUT_SEED daxvm.powercut=0 daxvm.step_timeout=$STEP_TIMEOUT" || rc=$?
    say "boot: $fs/daxcut-verify finished in $(awk -v a="$tb" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s (QEMU rc=$rc)"
    report "$fs/cutverify" "$LOGDIR/$fs-cutverify.log" "$rc"
    CUT_SUMMARY[$fs]="$CUT_ROUNDS rounds, $killed power cuts mid-workload, $acked ops acknowledged, final verify $(tr -d '\r' < "$LOGDIR/$fs-cutverify.log" | grep -aq '^PASS .*daxcut final' && echo passed || echo FAILED)"
    rm -f "$cimg"
  fi

  # the block-level tier: dm-log-writes record + replay, I/O errors (page cache, no DAX)
  if [ "$BLOCK" = 1 ]; then
    tb=$(date +%s.%N); rc=0; l=$LOGDIR/$fs-block.log
    say "boot: $fs/block (timeout ${BLOCK_TIMEOUT}s; $BLOCK_OPS ops, $BLOCK_POINTS flush points, $BLOCK_SUBSETS subsets each, seed $BLOCK_SEED)"
    BOOT_MEM=2G boot "$l" "$img" "$BLOCK_TIMEOUT" "$ACCEL_ARGS" \
      "daxvm.mode=block daxvm.fs=$fs daxvm.bops=$BLOCK_OPS daxvm.bpoints=$BLOCK_POINTS daxvm.bsubsets=$BLOCK_SUBSETS daxvm.bseed=$BLOCK_SEED daxvm.bplant=$BLOCK_PLANT daxvm.bioerr=$BLOCK_IOERR daxvm.bmb=$BLOCK_MB${BLOCK_REPLAY_ARGS:+ daxvm.bargs=$(echo "$BLOCK_REPLAY_ARGS" | tr ' ' ':')} daxvm.powercut=0 daxvm.step_timeout=$BLOCK_STEP_TIMEOUT" || rc=$?
    say "boot: $fs/block finished in $(awk -v a="$tb" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s (QEMU rc=$rc, log $l)"
    report "$fs/block" "$l" "$rc"
  fi
done

# ------------------------------------------------------------------ 6. summary
echo
say "summary (accelerator $ACCEL, kernel $KVER, n=$NKEYS, powercut=$POWERCUT):"
for fs in $FSLIST; do
  [ -f "$LOGDIR/$fs-write.log" ] || continue
  tr -d '\r' < "$LOGDIR/$fs-write.log" | grep -a -e '^BENCH' -e 'DAXVM: trace' | sed "s/^DAXVM: //; s/^/  $fs: /" || true
done
for fs in $FSLIST; do
  [ -z "${CUT_SUMMARY[$fs]:-}" ] || echo "dax power cuts $fs: ${CUT_SUMMARY[$fs]}"
done
for p in "${PROBLEMS[@]}"; do echo "  problem: $p"; done
# one line per filesystem for the block-level tier (issue 16)
for fs in $FSLIST; do
  [ "$BLOCK" = 1 ] || continue
  bt=$(tr -d '\r' < "$LOGDIR/$fs-block.log" 2>/dev/null | grep -a '^DAXVM: BLOCKTIER ' | tail -1 || true)
  if [ -n "$bt" ]; then
    bi=$(echo "$bt" | sed 's/.* images=\([0-9]*\).*/\1/'); bl=$(echo "$bt" | sed 's/.* lost=\([0-9]*\).*/\1/')
    be=$(echo "$bt" | sed 's/.* ioerr_passed=\([0-9]*\).*/\1/')
    echo "block-level $fs: $bi crash images, $bl acknowledged writes lost, $be I/O-error scenarios passed"
  else
    echo "block-level $fs: 0 crash images, unknown acknowledged writes lost, 0 I/O-error scenarios passed (the block boot did not finish)"
  fi
done
echo "dax-vm: $TOTAL_PASS passed, $TOTAL_FAIL failed"
say "total runtime $(elapsed)s"
[ "$TOTAL_FAIL" = 0 ] && [ "$TOTAL_PASS" -gt 0 ]
