//! `agentjail mcp serve`, the protocol: hostile input first (malformed,
//! oversized, half-sent, replayed lines, a flood while a call runs),
//! version negotiation, a tool that reads stdin, cancellation, a client
//! that hangs up, a server that is killed, bad start-up options. The
//! results, the output guards and the real clients are in
//! tests/mcp_serve.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod mcp_serve_support;

use mcp_serve_support::{text, Env, Server, WAIT};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

// --------------------------------------------------------------------------
// Hostile input first
// --------------------------------------------------------------------------

#[test]
fn malformed_oversized_and_unknown_messages_get_errors_and_later_requests_still_work() {
    let env = Env::new();
    let mut s = env.serve("mcp", &[]);
    let cases: &[(&[u8], i64)] = &[
        (b"{not json\n", -32700),
        (b"\xff\xfe\n", -32700),
        (
            b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n",
            -32600,
        ),
        (b"\"just a string\"\n", -32600),
        (b"{\"id\":7,\"method\":\"ping\"}\n", -32600),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"ping\"}\n",
            -32600,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\",\"params\":[1]}\n",
            -32602,
        ),
    ];
    for (line, code) in cases {
        s.send_raw(line);
        let a = s.read();
        assert_eq!(
            a["error"]["code"],
            json!(code),
            "{a} for {:?}",
            String::from_utf8_lossy(line)
        );
    }
    // A line longer than the bound: refused unread, the next line still parsed.
    let mut big = vec![b'x'; 5 << 20];
    big.push(b'\n');
    s.send_raw(&big);
    let a = s.read();
    assert_eq!(a["error"]["code"], json!(-32600), "{a}");
    assert!(
        a["error"]["message"].as_str().unwrap().contains("refused"),
        "{a}"
    );
    // Unknown methods, the 2026 discovery probe among them: -32601 with the id.
    for m in ["server/discover", "resources/list", "no/such/method"] {
        let a = s.request(m, json!({}));
        assert_eq!(a["error"]["code"], json!(-32601), "{a}");
    }
    // Bad tools/call params: an error, not a crash.
    let a = s.request("tools/call", json!({"arguments": {}}));
    assert_eq!(a["error"]["code"], json!(-32602), "{a}");
    let a = s.request("tools/call", json!({"name": "echo_text", "arguments": [1]}));
    assert_eq!(a["error"]["code"], json!(-32602), "{a}");
    // Notifications and client responses get no answer: the next answer is the ping's.
    s.send_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}\n");
    s.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}\n\n");
    let a = s.request("ping", json!({}));
    assert_eq!(a["result"], json!({}), "{a}");
    // Half a request, then (later) the rest: one request, answered once.
    s.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":\"half\",");
    std::thread::sleep(Duration::from_millis(100));
    s.send_raw(b"\"method\":\"ping\"}\n");
    let a = s.read();
    assert_eq!(a["id"], json!("half"), "{a}");
    // A replayed id is answered each time (ids are the client's business).
    for _ in 0..2 {
        s.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\n");
        assert_eq!(s.read()["id"], json!(9));
    }
    // A last request without its newline is still answered, then the server ends cleanly.
    s.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":\"last\",\"method\":\"ping\"}");
    drop(s.peer.stdin.take());
    let a = s.read();
    assert_eq!(a["id"], json!("last"), "{a}");
    assert_eq!(s.finish(), 0);
}

#[test]
fn initialize_never_answers_a_version_it_does_not_speak() {
    let env = Env::new();
    let mut s = env.serve("mcp", &[]);
    let a = s.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}}),
    );
    assert_eq!(a["result"]["protocolVersion"], json!("2025-06-18"), "{a}");
    assert_eq!(
        a["result"]["capabilities"]["tools"]["listChanged"],
        json!(false)
    );
    assert_eq!(a["result"]["serverInfo"]["name"], json!("agentjail"));
    for asked in ["1999-01-01", "2026-07-28"] {
        let a = s.request(
            "initialize",
            json!({"protocolVersion": asked, "capabilities": {}}),
        );
        assert_eq!(a["result"]["protocolVersion"], json!("2025-11-25"), "{a}");
    }
    let a = s.request("initialize", json!({"capabilities": {}}));
    assert_eq!(a["error"]["code"], json!(-32602), "{a}");
    assert_eq!(s.finish(), 0);
}

#[test]
fn a_tool_cannot_read_the_protocol_stream() {
    let env = Env::new();
    let mut s = env.serve("mcp", &[]);
    s.initialize();
    // The request after cat_stdin is already on stdin when the tool runs.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "cat_stdin", "arguments": {}}});
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    s.send_raw(format!("{call}\n{ping}\n").as_bytes());
    // The ping may be answered while the call runs: take both, by id.
    let (a, b) = (s.read(), s.read());
    let (call_answer, ping_answer) = if a["id"] == json!(1) { (a, b) } else { (b, a) };
    assert_eq!(call_answer["id"], json!(1), "{call_answer}");
    assert_eq!(
        call_answer["result"]["isError"],
        json!(false),
        "{call_answer}"
    );
    assert_eq!(text(&call_answer["result"]), "", "{call_answer}");
    assert_eq!(ping_answer["id"], json!(2), "{ping_answer}");
    assert_eq!(s.finish(), 0);
}

/// A call is answered as soon as its process has sent the result, before
/// that process has exited: the server reaps it later. Later calls must
/// still reap the earlier ones (no zombie piles up over a session).
#[test]
fn answered_calls_are_reaped_while_the_session_goes_on() {
    let env = Env::new();
    let mut s = env.serve("mcp", &[]);
    s.initialize();
    for _ in 0..8 {
        let a = s.call("cat_stdin", json!({}));
        assert_eq!(a["isError"], json!(false), "{a}");
    }
    // The server reaps as it wakes: each round trip wakes it.
    let server = s.peer.child.id();
    let zombies = || -> Vec<u32> {
        common::descendants_with(server, "")
            .into_iter()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|st| st.rsplit_once(") ").map(|(_, r)| r.starts_with('Z')))
                    .unwrap_or(false)
            })
            .collect()
    };
    let reaped = common::poll_until(WAIT, || {
        let a = s.request("ping", json!({}));
        assert!(a.get("result").is_some(), "{a}");
        zombies().is_empty()
    });
    assert!(reaped, "unreaped processes of the server: {:?}", zombies());
    assert_eq!(s.finish(), 0);
}

/// A number for a `nap` that no other test naps for, and its host argv.
fn unique_nap() -> (u64, Vec<String>) {
    let n = 10_000 + common::unique_number() % 90_000;
    (n, vec!["sleep".to_string(), n.to_string()])
}

fn napping(argv: &[String]) -> bool {
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    !common::host_processes(&argv).is_empty()
}

/// A server of role mcp_long with a long `nap` call (request `id`) running
/// in its sandbox; the nap's host argv.
fn napping_server(env: &Env, id: Value) -> (Server, Vec<String>) {
    let mut s = env.serve("mcp_long", &[]);
    s.initialize();
    let (n, argv) = unique_nap();
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": "nap", "arguments": {"seconds": n}}});
    s.send_raw(format!("{call}\n").as_bytes());
    assert!(
        common::poll_until(WAIT, || napping(&argv)),
        "the nap never started"
    );
    (s, argv)
}

/// The nap's result record: stopped, not timed out.
fn stopped_nap(env: &Env) -> Value {
    let rec = env
        .records()
        .into_iter()
        .find(|r| r["tool"] == json!("nap") && r["event_type"] == json!("tool_result"))
        .expect("the stopped call's result record");
    assert_eq!(rec["timed_out"], json!(false), "{rec}");
    rec
}

#[test]
fn a_cancelled_call_is_stopped_and_never_answered() {
    let env = Env::new();
    let (mut s, argv) = napping_server(&env, json!("slow"));
    // While it runs a request waits its turn ...
    let echo = json!({"jsonrpc": "2.0", "id": "echo", "method": "tools/call",
                      "params": {"name": "echo_text", "arguments": {"text": "after"}}});
    s.send_raw(format!("{echo}\n").as_bytes());
    // ... and so do 63 more; beyond that bound requests are refused at once.
    let mut flood = String::new();
    for i in 0..70 {
        flood.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":\"f{i}\",\"method\":\"tools/list\"}}\n"
        ));
    }
    s.send_raw(flood.as_bytes());
    for i in 63..70 {
        let a = s.read();
        assert_eq!(a["id"], json!(format!("f{i}")), "{a}");
        assert_eq!(a["error"]["code"], json!(-32000), "{a}");
    }
    // A ping is answered at once.
    let a = s.request("ping", json!({}));
    assert_eq!(a["result"], json!({}));
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": "slow"}});
    s.send_raw(format!("{cancel}\n").as_bytes());
    // The cancelled call is never answered: next come the waiting requests, in order.
    let a = s.read();
    assert_eq!(
        a["id"],
        json!("echo"),
        "the cancelled call was answered: {a}"
    );
    assert_eq!(text(&a["result"]), "after\n", "{a}");
    for i in 0..63 {
        let a = s.read();
        assert_eq!(a["id"], json!(format!("f{i}")), "{a}");
        assert!(a["result"]["tools"].is_array(), "{a}");
    }
    assert!(
        common::poll_until(WAIT, || !napping(&argv)),
        "the nap still runs"
    );
    assert_eq!(s.finish(), 0);
    let rec = stopped_nap(&env);
    assert!(
        rec["signal"] == json!(15) || rec["exit_code"] == json!(143),
        "{rec}"
    );
}

#[test]
fn a_client_that_hangs_up_stops_the_call_in_flight() {
    let env = Env::new();
    let (s, argv) = napping_server(&env, json!(1));
    assert_eq!(s.finish(), 0);
    assert!(!napping(&argv), "the nap outlived the server");
    stopped_nap(&env);
}

#[test]
fn a_killed_server_takes_its_call_with_it() {
    let env = Env::new();
    let (mut s, argv) = napping_server(&env, json!(1));
    s.peer.child.kill().unwrap();
    s.peer.child.wait().unwrap();
    assert!(
        common::poll_until(WAIT, || !napping(&argv)),
        "the nap outlived the killed server"
    );
    // The call's process writes the result record as it ends.
    let recorded = || {
        env.records()
            .iter()
            .any(|r| r["tool"] == json!("nap") && r["event_type"] == json!("tool_result"))
    };
    assert!(common::poll_until(WAIT, recorded), "no result record");
    stopped_nap(&env);
}

/// `[mcp] max_message_size` bounds `mcp serve`'s lines as it does
/// `mcp wrap`'s.
#[test]
fn the_roles_max_message_size_bounds_lines() {
    let env = Env::new();
    let mut s = env.serve("mcp_small", &[]);
    s.initialize();
    let mut line = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{{\"name\":\"echo_text\",\"arguments\":{{\"text\":\"{}\"}}}}}}\n",
        "y".repeat(3000)
    );
    s.send_raw(line.as_bytes());
    let a = s.read();
    assert_eq!(a["error"]["code"], json!(-32600), "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 2048"),
        "{a}"
    );
    line = "y".repeat(1000);
    let r = s.call("echo_text", json!({ "text": line }));
    assert_eq!(r["isError"], json!(false), "{r}");
    assert_eq!(s.finish(), 0);
}

#[test]
fn an_unknown_role_or_bad_option_ends_with_one_line() {
    let env = Env::new();
    let o = env
        .command(false, &["mcp", "serve", "--role", "nope"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(77));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(
            "agentjail: unknown role `nope`; known roles: mcp, mcp_budget, mcp_elicit, mcp_empty, mcp_extra, mcp_filter, mcp_long, mcp_small"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(o.stdout.is_empty());
    let long = "s".repeat(300);
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &["mcp", "serve", "--role", "mcp", "--session", &long],
            64,
            "agentjail: --session must be at most",
        ),
        (
            &["mcp", "serve", "--role", "mcp_empty"],
            77,
            "agentjail: role `mcp_empty` allows no catalog tool",
        ),
        (
            &["mcp", "serve", "--role", ""],
            77,
            "agentjail: unknown role ``",
        ),
        (&["mcp", "serve"], 64, "error: "),
    ];
    for (args, code, first) in cases {
        let o = env
            .command(false, args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.starts_with(first), "{args:?}: {err}");
        if code != 64 || args.len() > 2 {
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}
