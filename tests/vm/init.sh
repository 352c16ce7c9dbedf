#!/bin/sh
# /init of the cgroup v2 test VM (tests/vm/run.sh builds the initramfs).
# Stage 1 makes the root a bind mount of the initramfs: pivot_root, which
# the sandbox uses, refuses rootfs itself.
# Stage 2 mounts proc, sysfs, devtmpfs, /tmp and ONLY cgroup2, runs each
# check through agentjail and prints `AJTEST NAME PASS|FAIL DETAIL`, then
# `AJDONE`, and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

if [ "$1" != stage2 ]; then
  # What switch_root does, without copying or deleting anything: the root
  # becomes a bind mount of rootfs, which pivot_root accepts.
  mount --bind / /mnt
  cd /mnt
  mount --move . /
  exec chroot . /init stage2
  echo "AJTEST boot FAIL entering the bind-mounted root failed"
  poweroff -f
fi

# The firmware's escape sequences end without a newline.
echo
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# Kernel messages (the OOM killer's) would interleave with the result lines.
echo 1 >/proc/sys/kernel/printk

P=/etc/agentjail-vm
CG=/sys/fs/cgroup
pass=0
fail=0
result() { # NAME PASS|FAIL DETAIL
  echo "AJTEST $1 $2 $3 (at $(cut -d" " -f1 /proc/uptime)s)"
  if [ "$2" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}

# A value from agentjail's one-line JSON: `jget KEY` prints the value after
# the first "KEY": (a string with its quotes and escapes, or up to the next
# comma or brace). Top-level keys come first: serde_json sorts them, and
# "stderr", "stdout" and "oom_killed" precede "truncated" and "usage".
jget() {
  printf '%s\n' "$J" | awk -v k="\"$1\":" '{
    i = index($0, k); if (!i) exit
    s = substr($0, i + length(k))
    if (substr(s, 1, 1) != "\"") { sub(/[,}].*/, "", s); print s; exit }
    for (j = 2; j <= length(s); j++) {
      c = substr(s, j, 1)
      if (c == "\\") j++
      else if (c == "\"") break
    }
    print substr(s, 1, j)
  }'
}

# Runs the `sh` tool in ROLE with SCRIPT; sets J (the JSON) and RC.
run() { # NAME ROLE SCRIPT
  J=$(agentjail --profiles $P --audit-log /tmp/audit.log run --json --role "$2" sh \
    --param script="$3" 2>/tmp/agentjail.err)
  RC=$?
  echo "AJJSON $1 rc=$RC $J"
  if [ -s /tmp/agentjail.err ]; then sed "s/^/AJERR $1 /" /tmp/agentjail.err; fi
}

# Checks every run shares: (e) cgroup v2 with memory, cpu and pids applied;
# (f) no run-* directory left anywhere. Prints the problems, nothing when fine.
common() {
  [ -n "$NO_RUN_JSON" ] || common_json
  left=$(find $CG -type d -name 'run-*' | tr '\n' ' ')
  [ -z "$left" ] && return
  echo "left behind: $left"
}
common_json() {
  v=$(jget version)
  [ "$v" = '"v2"' ] || echo "cgroup.version=$v"
  applied=$(printf '%s\n' "$J" | sed -n 's/.*"applied":\[\([^]]*\)\].*/\1/p')
  for c in memory cpu pids; do
    case ",$applied," in *\"$c\"*) ;; *) echo "applied=[$applied] lacks $c" ;; esac
  done
}

check() { # NAME CONDITION-PROBLEMS...
  name=$1
  shift
  problems="$*$(common | tr '\n' ';')"
  if [ -z "$problems" ]; then
    result "$name" PASS "$DETAIL"
  else
    result "$name" FAIL "$problems ($DETAIL)"
  fi
}

# --- boot: only cgroup2 is mounted, offering the controllers the runs need ---
ctrls=$(cat $CG/cgroup.controllers)
p=
[ "$(grep -c ' cgroup' /proc/mounts)" = 1 ] && grep -q " $CG cgroup2 " /proc/mounts ||
  p="$p cgroup mounts: $(grep cgroup /proc/mounts | tr '\n' ';');"
for c in memory cpu pids; do
  case " $ctrls " in *" $c "*) ;; *) p="$p no $c controller;" ;; esac
done
DETAIL="kernel $(uname -r); controllers: $ctrls"
if [ -z "$p" ]; then result boot PASS "$DETAIL"; else result boot FAIL "$p ($DETAIL)"; fi

echo "AJDOCTOR begin (at $(cut -d" " -f1 /proc/uptime)s)"
agentjail doctor 2>&1
echo "AJDOCTOR end (exit $?)"

# --- basic: a run works and is confined ---
run basic basic 'echo hello'
out=$(jget stdout)
ll=$(jget landlock)
sc=$(jget seccomp)
DETAIL="rc=$RC stdout=$out landlock=$ll seccomp=$sc"
p=
[ "$RC" = 0 ] || p="$p exit $RC;"
[ "$out" = '"hello\n"' ] || p="$p stdout $out;"
[ "$sc" = true ] || p="$p seccomp $sc;"
check basic "$p"

# --- clone_into: on v2 a one-shot run's pid 1 is made in its namespaces
# inside the run's cgroup (clone3 with CLONE_INTO_CGROUP), not moved
# there; the run still works ---
J=$(agentjail -v --profiles $P --audit-log /tmp/audit.log run --json --role basic sh \
  --param script='echo in' 2>/tmp/clone.err)
RC=$?
echo "AJJSON clone_into rc=$RC $J"
sed "s/^/AJERR clone_into /" /tmp/clone.err
line=$(grep 'sandbox: pid 1 (host pid' /tmp/clone.err)
DETAIL="rc=$RC stdout=$(jget stdout): $line"
p=
[ "$RC" = 0 ] || p="$p exit $RC;"
[ "$(jget stdout)" = '"in\n"' ] || p="$p stdout $(jget stdout);"
case $line in *"cloned in new namespaces into the run's cgroup (CLONE_INTO_CGROUP)"*) ;; *) p="$p not cloned into the cgroup;" ;; esac
check clone_into "$p"

# --- pool_clone_into: `mcp serve --pool 1` makes its prepared sandbox inside
# the call's cgroup too, and the second call is served by it ---
I='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"vm","version":"1"}}}'
call() { # ID
  printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"sh","arguments":{"script":"echo warm"}}}\n' "$1"
}
(printf '%s\n' "$I"; call 2; sleep 10; call 3; sleep 10) |
  agentjail -vv --profiles $P --audit-log /tmp/audit.log mcp serve --role basic --pool 1 \
    >/tmp/pool.out 2>/tmp/pool.err
RC=$?
sed "s/^/AJJSON pool_clone_into /" /tmp/pool.out
grep -E 'pool:|prepared sandbox|ERROR|WARN' /tmp/pool.err | sed "s/^/AJERR pool_clone_into /"
J=$(grep '"id":3' /tmp/pool.out)
DETAIL="rc=$RC; $(grep -c "into the run's cgroup" /tmp/pool.err) prepared sandbox(es) cloned in"
p=
[ "$RC" = 0 ] || p="$p exit $RC;"
grep -q "pool: pid 1 .* cloned in new namespaces into the run's cgroup (CLONE_INTO_CGROUP)" /tmp/pool.err ||
  p="$p no prepared sandbox cloned into its cgroup;"
grep -q 'a prepared sandbox serves this call' /tmp/pool.err || p="$p no call served by a prepared sandbox;"
case $J in *'"isError":false'*'warm'*|*'warm'*'"isError":false'*) ;; *) p="$p call 3: $J;" ;; esac
# (mcp serve's answer is not `run --json`: its cgroup version and limits
# are checked on the clone_into run above, not here.)
NO_RUN_JSON=1
check pool_clone_into "$p"
NO_RUN_JSON=

# --- (a) memory bomb with memory 32Mi: exit 137, oom_killed ---
run memory_bomb mem 'x=a; while true; do x=$x$x; done'
oom=$(jget oom_killed)
peak=$(jget memory_peak)
DETAIL="rc=$RC exit_code=$(jget exit_code) oom_killed=$oom memory_peak=$peak"
p=
[ "$RC" = 137 ] || p="$p exit $RC, not 137;"
[ "$oom" = true ] || p="$p oom_killed $oom;"
case $peak in '' | null) ;; *) [ "$peak" -le $((32 << 20)) ] || p="$p memory_peak $peak > 32Mi;" ;; esac
check memory_bomb "$p"

# --- (b) fork bomb with pids 16: capped, ends before the 60 s timeout ---
run fork_bomb pids 'b() { if [ $1 -gt 0 ]; then b $(($1 - 1)) & b $(($1 - 1)) & wait; else sleep 3; fi; }; b 8'
pp=$(jget pids_peak)
to=$(jget timed_out)
DETAIL="rc=$RC pids_peak=$pp timed_out=$to duration_ms=$(jget duration_ms) stderr=$(jget stderr | cut -c1-80)"
p=
[ "$RC" != 124 ] || p="$p timed out;"
[ "$to" = false ] || p="$p timed_out $to;"
case $pp in
  '' | null) p="$p pids_peak not reported;" ;;
  # (the limit itself: pid 1 is the first process in the run's cgroup)
  *) [ "$pp" -le 16 ] || p="$p pids_peak $pp > 16;" ;;
esac
printf '%s\n' "$J" | grep -q "can't fork" || p="$p no refused fork in stderr;"
check fork_bomb "$p"

# --- (c) CPU hog with cpu 500m for 2 s: cpu_usec / duration in 0.4..0.6 ---
run cpu_quota cpu "timeout 2 sh -c 'while :; do :; done'"
us=$(jget cpu_usec)
ms=$(jget duration_ms)
p=
case $us in '' | null) p="$p cpu_usec not reported;" ;; esac
case $ms in '' | null | 0) p="$p duration_ms $ms;" ;; esac
if [ -z "$p" ]; then
  permille=$((us / ms))
  [ "$permille" -ge 400 ] && [ "$permille" -le 600 ] || p="$p ratio 0.$permille outside 0.4..0.6;"
fi
DETAIL="rc=$RC cpu_usec=$us duration_ms=$ms ratio=$((${us:-0} / ${ms:-1}))/1000"
check cpu_quota "$p"

# --- (d) tmpfs pages count: 50 MiB into /tmp with memory 32Mi, tmp_size 60Mi ---
run tmpfs_memory tmpfs 'dd if=/dev/zero of=/tmp/fill bs=1M count=50 && echo wrote-all'
oom=$(jget oom_killed)
DETAIL="rc=$RC exit_code=$(jget exit_code) oom_killed=$oom memory_peak=$(jget memory_peak) stdout=$(jget stdout)"
p=
[ "$oom" = true ] || p="$p oom_killed $oom;"
check tmpfs_memory "$p"

# --- unprivileged: uid 1000 alone in a cgroup delegated to it (what systemd's
# Delegate=yes gives); agentjail moves itself into a leaf there and runs the
# memory bomb in a sibling cgroup ---
D=$CG/user-1000
mkdir $D && chown -R 1000:1000 $D
echo "+memory +cpu +pids" >$CG/cgroup.subtree_control
run_uid() { # NAME ROLE SCRIPT: as `run`, as uid 1000 in $D (the only process there)
  J=$(sh -c 'echo $$ >'$D'/cgroup.procs && exec setpriv.ul --reuid 1000 --regid 1000 --clear-groups \
    agentjail --profiles '$P' --audit-log /tmp/audit-1000.log run --json --role "$1" sh --param script="$2"' \
    - "$2" "$3" 2>/tmp/agentjail.err)
  RC=$?
  echo "AJJSON $1 rc=$RC $J"
  if [ -s /tmp/agentjail.err ]; then sed "s/^/AJERR $1 /" /tmp/agentjail.err; fi
}
run_uid delegated_user mem 'x=a; while true; do x=$x$x; done'
oom=$(jget oom_killed)
DETAIL="rc=$RC oom_killed=$oom memory_peak=$(jget memory_peak) $D: $(ls -d $D/*/ 2>/dev/null | tr '\n' ' ')"
p=
[ "$RC" = 137 ] || p="$p exit $RC, not 137;"
[ "$oom" = true ] || p="$p oom_killed $oom;"
[ -d $D/agentjail-launcher ] || p="$p no launcher leaf in $D;"
check delegated_user "$p"

if [ "$fail" -gt 0 ]; then
  echo "AJDMESG begin"
  dmesg | tail -n 60
  echo "AJDMESG end"
fi
echo "AJDONE pass=$pass fail=$fail"
sync
poweroff -f
