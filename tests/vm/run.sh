#!/usr/bin/env bash
# Runs agentjail's cgroup v2 resource checks in a VM: Debian's
# linux-image-amd64 kernel under qemu (TCG), an initramfs holding
# busybox-static, agentjail and its libraries, and /init (tests/vm/init.sh),
# which mounts only cgroup2 on /sys/fs/cgroup and prints one
# `AJTEST NAME PASS|FAIL DETAIL` line per check.
#
# Usage: tests/vm/run.sh [--agentjail PATH] [--log FILE]
#   --agentjail  the binary to test (default target/debug/agentjail)
#   --log        where the serial log goes (default target/vm-serial.log)
# Environment:
#   AGENTJAIL_VM_CACHE    kernel cache directory (default target/vm-cache)
#   AGENTJAIL_VM_KERNEL   use this bzImage instead of downloading the package
#   AGENTJAIL_VM_TIMEOUT  seconds the VM may run (default 300)
# Exit: 0 every check passed; 1 a check failed or the VM did not finish;
#       77 a prerequisite is missing (a `skipped: WHAT` line on stderr).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
cache=${AGENTJAIL_VM_CACHE:-$target/vm-cache}
vm_timeout=${AGENTJAIL_VM_TIMEOUT:-300}
agentjail=$target/debug/agentjail
log=

while [ $# -gt 0 ]; do
  case $1 in
    --agentjail) agentjail=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    *) echo "usage: $0 [--agentjail PATH] [--log FILE]" >&2; exit 64 ;;
  esac
done

skip() { echo "skipped: $*" >&2; exit 77; }
say() { echo "vm: $*" >&2; }

# The checks this harness must see, each exactly once, in the VM's output.
expected=(boot basic clone_into pool_clone_into memory_bomb fork_bomb cpu_quota tmpfs_memory delegated_user)

# --- prerequisites -----------------------------------------------------------
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=("qemu-system-x86_64 (apt-get install qemu-system-x86)")
command -v cpio >/dev/null || missing+=("cpio (apt-get install cpio)")
for t in gzip ldd tar timeout flock; do
  command -v $t >/dev/null || missing+=("$t")
done
busybox=
for b in /bin/busybox /usr/bin/busybox; do
  # busybox-static: no dynamic section, so `ldd` refuses it.
  if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || missing+=("a static busybox (apt-get install busybox-static)")
# util-linux's setpriv (busybox's cannot change uids) for the unprivileged run.
setpriv=$(command -v setpriv || true)
[ -n "$setpriv" ] || missing+=("setpriv (apt-get install util-linux)")
[ -x "$agentjail" ] || missing+=("the agentjail binary at $agentjail (cargo build)")
if [ "${#missing[@]}" -gt 0 ]; then
  joined=$(printf '%s; ' "${missing[@]}")
  skip "${joined%; }"
fi

# --- the kernel --------------------------------------------------------------
mkdir -p "$cache"
kernel=${AGENTJAIL_VM_KERNEL:-}
if [ -z "$kernel" ]; then
  command -v apt-cache >/dev/null && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    skip "apt-get and dpkg-deb, to download linux-image-amd64"
  # The meta package depends on the versioned image package.
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
  if [ -z "$pkg" ]; then
    # No package lists (apt-get update not run): use a kernel cached earlier.
    kernel=$(ls -1 "$cache"/vmlinuz-* 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$kernel" ] || skip "the linux-image-amd64 package (apt-cache knows no linux-image-amd64: run apt-get update)"
    say "apt-cache knows no linux-image-amd64; using the cached $kernel"
  else
    kver=${pkg#linux-image-}
    kernel=$cache/vmlinuz-$kver
    if [ ! -s "$kernel" ]; then
      (
        flock 9
        if [ ! -s "$kernel" ]; then
          say "downloading $pkg"
          dl=$(mktemp -d "$cache/dl.XXXXXX")
          # `apt-get download` writes into the current directory; as root it
          # warns that _apt cannot write there, which is harmless.
          if ! (cd "$dl" && apt-get download -q "$pkg" >&2 2>"$dl/err"); then
            cat "$dl/err" >&2
            rm -rf "$dl"
            exit 77
          fi
          deb=$(ls "$dl"/*.deb)
          dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dl" --wildcards './boot/vmlinuz-*'
          mv "$dl"/boot/vmlinuz-* "$kernel.part"
          rm -f "$cache"/vmlinuz-*-amd64 # kernels of earlier package versions
          mv "$kernel.part" "$kernel"
          rm -rf "$dl"
        fi
      ) 9>"$cache/.lock" || skip "the kernel package $pkg (apt-get download failed)"
    fi
  fi
fi
[ -s "$kernel" ] || skip "a kernel image at $kernel"
say "kernel $(basename "$kernel")"

# --- the initramfs -----------------------------------------------------------
mkdir -p "$target"
work=$(mktemp -d "$target/vm-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{dev,proc,sys,tmp,etc,root,mnt,run}
# Merged /usr, as on the host: the sandbox binds /bin, /sbin, /lib* too.
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp"

# Copies a file to the same path under the root, following symlinks.
put() {
  mkdir -p "$root$(dirname "$2")"
  cp -L "$1" "$root$2"
}
# Copies what `ldd` lists for a binary (libraries and the loader, at their paths).
put_libs() {
  local f
  for f in $(ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p'); do
    [ -e "$root$f" ] || put "$f" "$f"
  done
}

put "$busybox" /usr/bin/busybox
for a in $("$busybox" --list-full); do
  # bin/x and sbin/x live under usr/ here; the links point at /usr/bin/busybox.
  case $a in usr/*) p=$a ;; *) p=usr/$a ;; esac
  [ -e "$root/$p" ] || ln -s /usr/bin/busybox "$root/$p"
done

if command -v strip >/dev/null; then
  strip -o "$root/usr/bin/agentjail" "$agentjail"
else
  cp "$agentjail" "$root/usr/bin/agentjail"
fi
put_libs "$agentjail"
put "$setpriv" /usr/bin/setpriv.ul
put_libs "$setpriv"

# The sandbox builds its /etc from an allow-list of host files (plus its own
# passwd, group, hosts): a host /etc holding none of them breaks the run
# ("writing /tmp/etc/passwd: ENOENT"), so give it two.
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
printf 'multi on\n' >"$root/etc/host.conf"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

# Profiles: one tool (`sh -c SCRIPT`) and one role per check.
prof=$root/etc/agentjail-vm
mkdir -p "$prof/roles"
cat >"$prof/tools.toml" <<'TOML'
[tools.sh]
risk = "read"
command = ["/bin/sh", "-c", "{script}"]
params.script = { type = "string" }
TOML
role() { # NAME TIMEOUT MEMORY CPU PIDS TMP_SIZE
  cat >"$prof/roles/$1.toml" <<TOML
allowed_tools = ["sh"]
[limits]
timeout_seconds = $2
[screening]
injection_patterns = []
suspicious_values = []
suspicious_patterns = []
[sandbox]
memory = "$3"
cpu = "$4"
pids = $5
tmp_size = "$6"
ephemeral_storage = "100Mi"
max_file_size = "100Mi"
TOML
}
role basic 30 64Mi 1000m 32 8Mi
role mem 60 32Mi 1000m 32 8Mi
role pids 60 256Mi 1000m 16 8Mi
role cpu 30 64Mi 500m 32 8Mi
role tmpfs 60 32Mi 1000m 32 60Mi

cp "$here/init.sh" "$root/init"
chmod 755 "$root/init"

initrd=$work/initramfs.gz
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$initrd"
say "initramfs $(($(stat -c %s "$initrd") / 1024)) KiB"

# --- the VM ------------------------------------------------------------------
[ -n "$log" ] || log=$target/vm-serial.log
: >"$log"
say "booting (timeout ${vm_timeout}s; KVM is not used)"
start=$(date +%s)
set +e
timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 \
  -accel tcg -cpu max -m 1024 -smp 2 \
  -nodefaults -nographic -no-reboot -serial stdio -monitor none \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
  </dev/null 2>&1 | tr -d '\r' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
secs=$(($(date +%s) - start))
say "the VM ran ${secs}s (qemu exit $qemu_rc)"

# --- the verdict -------------------------------------------------------------
fail=0
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
  echo "vm: FAIL the VM did not power off within ${vm_timeout}s" >&2
  fail=1
fi
if ! grep -q '^AJDONE' "$log"; then
  echo "vm: FAIL /init did not finish (no AJDONE line)" >&2
  fail=1
fi
for t in "${expected[@]}"; do
  n=$(grep -c "^AJTEST $t PASS" "$log" || true)
  if [ "$n" -ne 1 ]; then
    echo "vm: FAIL check $t: $(grep "^AJTEST $t " "$log" || echo 'no result')" >&2
    fail=1
  fi
done
if grep -q '^AJTEST .* FAIL' "$log"; then
  grep '^AJTEST .* FAIL' "$log" | sed 's/^/vm: /' >&2
  fail=1
fi
if [ "$fail" -ne 0 ]; then
  echo "vm: FAILED (serial log: $log)" >&2
  exit 1
fi
echo "vm: all ${#expected[@]} checks passed in ${secs}s" >&2
