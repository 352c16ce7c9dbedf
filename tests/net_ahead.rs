//! A one-shot run's network namespace, made ahead while the call is decided
//! (`sandbox::net::Ahead`, root only) or by pid 1 on a thread (an
//! unprivileged launcher, or a plan that mounts `/sys`): either way the tool
//! gets a namespace of its own with only a loopback that is up, that it
//! cannot change, and that no other run shares. Hostile code runs only in
//! the probe, which refuses to act unconfined, or after `common::GUARD`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    for_each_mode, host_netns_cookie, probe_available, profiles_with, unique_number, ModeKind,
    GUARD,
};

/// The `-v` line of a run whose network namespace was made ahead.
const AHEAD: &str = "network namespace made ahead";

#[test]
fn loopback_is_up_usable_and_the_tool_cannot_take_it_down() {
    if !probe_available() {
        return;
    }
    for_each_mode(|m| {
        let mut cmd = m.command();
        cmd.arg("-v")
            .args(["run", "--json", "--role", "probe", "probe"])
            .args(["--param", "what=loopback"]);
        let o = m.execute(cmd);
        o.assert_probe_done();
        assert_eq!(o.get("lo_datagram"), "ok", "{}", o.describe());
        assert_eq!(o.get("lo_up"), "yes", "{}", o.describe());
        o.assert_failed("lo_down");
        // Root's launcher makes the namespace ahead; an unprivileged one
        // cannot enter a namespace another user namespace owns, so its pid 1
        // makes its own.
        let ahead = o.launcher_stderr.contains(AHEAD);
        assert_eq!(
            ahead,
            m.kind == ModeKind::Root,
            "[{}] made ahead: {ahead}: {}",
            m.name,
            o.describe()
        );
    });
}

#[test]
fn no_two_runs_share_a_network_namespace_nor_the_host_s() {
    // Compared by cookie: the kernel gives a freed namespace's inode number
    // to the next one made, so two runs one after the other can show the
    // same `net:[N]` without sharing anything.
    if !probe_available() {
        return;
    }
    let host = host_netns_cookie().to_string();
    for_each_mode(|m| {
        let seen: Vec<String> = (0..3)
            .map(|_| m.probe("netns", &[]).get("netns_cookie"))
            .collect();
        for (i, c) in seen.iter().enumerate() {
            assert!(c.parse::<u64>().is_ok(), "[{}] {seen:?}", m.name);
            assert_ne!(c, &host, "[{}] the host's", m.name);
            assert!(
                !seen[..i].contains(c),
                "[{}] two runs shared the namespace {c}: {seen:?}",
                m.name
            );
        }
    });
}

#[test]
fn a_plan_that_mounts_sys_makes_its_own_and_sees_only_loopback() {
    // sysfs is mounted only by an owner of the network namespace: pid 1 must
    // make this one itself, never use one made ahead.
    if !probe_available() {
        return;
    }
    let with_sys = profiles_with(&format!("netsys-{}", unique_number()), "", "sys = true");
    let script = format!("{GUARD}ls -A /sys/class/net | sed 's/^/if=/'; echo end=1");
    for_each_mode(|m| {
        let mut cmd = m.command_in(&with_sys);
        cmd.arg("-v")
            .args(["run", "--json", "--role", "probe", "sh"])
            .args(["--param", &format!("script={script}")]);
        let o = m.execute(cmd);
        assert_eq!(o.get("end"), "1", "{}", o.describe());
        let ifs: Vec<&str> = o
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("if="))
            .collect();
        assert_eq!(ifs, ["lo"], "[{}] {}", m.name, o.describe());
        assert!(
            !o.launcher_stderr.contains(AHEAD),
            "[{}] {}",
            m.name,
            o.describe()
        );
    });
}
