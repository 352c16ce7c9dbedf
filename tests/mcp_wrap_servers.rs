#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `agentjail mcp wrap` in front of real third-party servers:
//! `@modelcontextprotocol/server-filesystem` from $AGENTJAIL_TEST_NPM and
//! `mcp-server-sqlite` from $AGENTJAIL_TEST_SERVERS_VENV, one of them driven
//! by the Python SDK (mcp 2.x, $AGENTJAIL_TEST_VENV-mcp2); all installed by
//! .ci/setup.d/mcp-wrap.sh. With the policy loosened, the sandbox still
//! keeps host files and the network out of the server's reach.

mod common;
mod mcp_wrap_support;

use mcp_wrap_support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

#[test]
fn filesystem_server_read_allowed_write_hidden_path_rule_enforced() {
    let Some((env, js, f)) = fs_test("fs") else {
        return;
    };
    env.role("fs", &fs_binds(&f), &fs_read_rules(&f));
    let mut s = env.wrap(
        "fs",
        "filesystem",
        &["/usr/bin/node", &js.display().to_string(), &f],
    );
    let init = s.initialize();
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    let mut names = s.tool_names();
    names.sort();
    assert_eq!(names, ["list_allowed_directories", "read_text_file"]);
    let (text, err) = text_of(&s.call("read_text_file", json!({"path": format!("{f}/hello.txt")})));
    assert!(
        !err && text.contains("hello from the bound directory"),
        "{text}"
    );
    // A write tool the role does not name: hidden, and refused when called.
    let target = format!("{f}/written.txt");
    let (text, err) = text_of(&s.call("write_file", json!({"path": target, "content": "x"})));
    assert!(err && text.contains("not named in role `fs`"), "{text}");
    // Paths outside the rule.
    for p in [
        "/etc/passwd".to_string(),
        format!("{f}/../secret"),
        format!("{f}/sub/x"),
    ] {
        let (text, err) = text_of(&s.call("read_text_file", json!({"path": p})));
        assert!(err && text.starts_with("agentjail: "), "{p}: {text}");
    }
    assert_eq!(s.finish(), 0);
    assert!(!Path::new(&target).exists());
    let results = env
        .records()
        .into_iter()
        .filter(|r| r["event_type"] == "tool_result" && r["tool"] == "filesystem/read_text_file")
        .count();
    assert_eq!(results, 1, "only the allowed read reached the server");
}

#[test]
fn loosened_policy_the_sandbox_still_stops_host_files_and_network() {
    let Some((env, js, f)) = fs_test("loose") else {
        return;
    };
    // A host file outside every bind, readable by anyone on the host.
    let secret = env.dir.join("host-secret.txt");
    std::fs::write(&secret, "the host's secret\n").unwrap();
    chmod(&secret, 0o644);
    env.role(
        "loose",
        &fs_binds(&f),
        "[mcp.tools.read_text_file]\nrisk = \"read\"\nparams.path = { type = \"string\" }\n\
         [mcp.tools.read]\nrisk = \"read\"\nparams.path = { type = \"string\" }\n\
         [mcp.tools.connect]\nrisk = \"read\"\nparams.host = { type = \"string\" }\nparams.port = { type = \"integer\" }\n",
    );
    // The server itself allows everything under /.
    let mut s = env.wrap(
        "loose",
        "filesystem",
        &["/usr/bin/node", &js.display().to_string(), "/"],
    );
    s.initialize();
    assert!(s.tool_names().contains(&"read_text_file".to_string()));
    let (text, err) = text_of(&s.call("read_text_file", json!({"path": format!("{f}/hello.txt")})));
    assert!(
        !err && text.contains("hello from the bound directory"),
        "{text}"
    );
    let (text, err) = text_of(&s.call(
        "read_text_file",
        json!({"path": secret.display().to_string()}),
    ));
    assert!(
        err && !text.contains("secret\n") && !text.contains("the host's"),
        "{text}"
    );
    assert!(
        !text.starts_with("agentjail:"),
        "the server was asked: {text}"
    );
    assert_eq!(s.finish(), 0);
    // The network: a listener on the host's loopback is out of reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut s = env.wrap("loose", "hostile", &[PY, &hostile(), "probe"]);
    s.initialize();
    s.tool_names();
    let (text, err) = text_of(&s.call("connect", json!({"host": "127.0.0.1", "port": port})));
    assert!(err && text.contains("connect failed"), "{text}");
    let (text, err) = text_of(&s.call("read", json!({"path": secret.display().to_string()})));
    assert!(err && text.contains("read failed"), "{text}");
    assert_eq!(s.finish(), 0);
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock)
    );
    assert_eq!(env.server_calls().len(), 2, "both calls reached the server");
}

#[test]
fn sqlite_server_read_query_allowed_write_query_hidden() {
    if !sandbox_ok() {
        return;
    }
    let venv = servers_venv();
    let exe = venv.join("bin/mcp-server-sqlite");
    if !exe.is_file() {
        common::skip(&format!(
            "mcp-server-sqlite not installed at {} (run .ci/setup.d/mcp-wrap.sh)",
            exe.display()
        ));
        return;
    }
    let o = Command::new(venv.join("bin/python"))
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .unwrap();
    // The python the venv is made from, unless the sandbox sees it anyway.
    let base = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let base_bind = if base == "/usr" {
        String::new()
    } else {
        format!(", {{ source = \"{base}\", mode = \"ro\" }}")
    };
    let env = Env::new("sqlite");
    let db = env.dir.join("data/test.db").display().to_string();
    env.role(
        "sql",
        &format!(
            "{{ source = \"{}\", mode = \"ro\" }}{base_bind}",
            venv.display()
        ),
        "[mcp.tools.read_query]\nrisk = \"read\"\nparams.query = { type = \"string\", pattern = '(?i)\\s*select\\b[^;]*' }\n\
         [mcp.tools.list_tables]\nrisk = \"read\"\n",
    );
    let mut s = env.wrap(
        "sql",
        "sqlite",
        &[&exe.display().to_string(), "--db-path", &db],
    );
    s.initialize();
    let mut names = s.tool_names();
    names.sort();
    assert_eq!(names, ["list_tables", "read_query"]);
    let (text, err) = text_of(&s.call("read_query", json!({"query": "SELECT 41 + 1 AS answer"})));
    assert!(!err && text.contains("42"), "{text}");
    let (text, err) = text_of(&s.call("write_query", json!({"query": "CREATE TABLE t (x)"})));
    assert!(err && text.contains("not named in role `sql`"), "{text}");
    let (text, err) = text_of(&s.call("read_query", json!({"query": "DELETE FROM t; SELECT 1"})));
    assert!(err && text.starts_with("agentjail: "), "{text}");
    assert_eq!(s.finish(), 0);
}

#[test]
fn python_sdk_client_through_the_firewall() {
    let python = peer::venv_beside("mcp2").join("bin/python");
    if !python.is_file() {
        common::skip(&format!(
            "the mcp 2.x client venv {} is missing (run .ci/setup.d/mcp-wrap.sh)",
            python.display()
        ));
        return;
    }
    let Some((env, js, f)) = fs_test("sdk") else {
        return;
    };
    env.role("fs", &fs_binds(&f), &fs_read_rules(&f));
    let spec = json!({
        "command": BIN,
        "args": ["mcp", "wrap", "--role", "fs", "--name", "filesystem", "--", "/usr/bin/node", js, f],
        "env": {
            "AGENTJAIL_PROFILES": env.dir.join("profiles"),
            "AGENTJAIL_STATE_DIR": env.dir.join("state"),
            "AGENTJAIL_AUDIT_LOG": env.dir.join("audit.jsonl"),
            "AGENTJAIL_AUDIT_APPEND_ONLY": "0",
            "PATH": "/usr/bin:/bin",
        },
    });
    let o = Command::new(&python)
        .arg(repo().join("tests/mcp_servers/sdk_client.py"))
        .env("MCP_SERVER", spec.to_string())
        .env("MCP_FILES", &f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the SDK client failed: {err}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["protocol"], "2025-11-25", "{v}");
    assert_eq!(
        v["client"],
        json!(["list_allowed_directories", "read_text_file"])
    );
}
