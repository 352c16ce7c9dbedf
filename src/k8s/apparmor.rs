//! The pod's AppArmor profile (`--apparmor localhost`, the default; text
//! for `apparmor_parser`, written with `--apparmor-out FILE`).
//!
//! A runtime's default profile (`runtime/default`, docker-default) denies
//! `mount`, so agentjail cannot build a call's sandbox under it and refuses
//! every call; `Unconfined` drops the container's AppArmor layer. This
//! profile allows what the launcher needs to build each call's sandbox
//! (mount, remount, umount, pivot_root, the user namespace's maps) and keeps
//! docker-default's denials around them: no writes to /proc/sys but the
//! user namespace's own limits (/proc/sys/user), to /sys but the cgroup
//! tree, nothing of /proc/kcore, /proc/sysrq-trigger, /sys/firmware or
//! /sys/kernel/security, signals and ptrace reads only among the pod's own
//! processes (and signals from the runtime). Files, network and
//! capabilities are left to the other layers: the container drops every
//! capability, and agentjail confines each call with its mount namespace,
//! Landlock, seccomp and the network namespace. `mount` is not narrowed
//! further because the kernel already limits a process without
//! capabilities in the node's user namespace to the filesystems a user
//! namespace may mount (tmpfs, proc, devpts, mqueue, bind mounts).
//!
//! ABI 3.0 (AppArmor 3, Debian 12, and accepted by AppArmor 4): it has no
//! `userns` rule; a kernel that mediates user namespace creation for
//! confined profiles (AppArmor 4 policy, e.g. Ubuntu 24.04 with
//! `kernel.apparmor_restrict_unprivileged_userns=1`) needs `userns,` and
//! `abi <abi/4.0>,` added (said in the profile's own comment).

use super::names::Names;

/// The profile's name on the nodes, as the pod's `localhostProfile`.
pub fn profile_name(names: &Names) -> String {
    format!("agentjail-{}", names.base)
}

/// The profile's text.
pub fn profile_text(names: &Names) -> String {
    let name = profile_name(names);
    let role = &names.role;
    format!(
        "# AppArmor profile {name} for the pod of agentjail role {role}, written by
# `agentjail k8s render --apparmor-out FILE`. Load it on every node that may run the
# pod (apparmor_parser -r FILE); the pod's securityContext.appArmorProfile is
# Localhost {name}.
#
# It allows what agentjail needs to build each call's sandbox (mount, umount,
# pivot_root, the user namespace's maps) and keeps docker-default's denials around
# it. Files, network and capabilities are left to the container (which drops every
# capability) and to agentjail's per-call mount namespace, Landlock, seccomp and
# network namespace.
#
# On AppArmor 4 kernels that mediate user namespace creation (Ubuntu 24.04's
# kernel.apparmor_restrict_unprivileged_userns=1), replace the abi line with
# `abi <abi/4.0>,` and add `userns,` to the profile.
abi <abi/3.0>,

profile {name} flags=(attach_disconnected,mediate_deleted) {{
  file,
  network,
  capability,
  unix,

  # The per-call sandbox: a user namespace, its own mounts, pivot_root.
  mount,
  remount,
  umount,
  pivot_root,

  # Signals and ptrace reads among the pod's own processes; signals from the runtime.
  signal (send, receive) peer={name},
  signal (receive) peer=unconfined,
  ptrace (read, readby) peer={name},

  # docker-default's denials, but for what the launcher writes: its children's
  # /proc/PID/{{uid_map,gid_map,setgroups}}, /proc/self/oom_score_adj, the user
  # namespace's limits under /proc/sys/user, and cgroups under /sys/fs/cgroup.
  deny /proc/sys/[^u]** wklx,
  deny /proc/sysrq-trigger rwklx,
  deny /proc/kcore rwklx,
  deny /sys/[^f]** wklx,
  deny /sys/f[^s]** wklx,
  deny /sys/fs/[^c]** wklx,
  deny /sys/fs/c[^g]** wklx,
  deny /sys/fs/cg[^r]** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
}}
"
    )
}
