//! Per-call overhead of `agentjail mcp wrap`: the median time of one
//! `tools/call` through the firewall (decision, gate, two audit records,
//! output guards, the sandboxed server) against the same call to the same
//! server started directly. Run as root: `cargo bench --bench mcp_wrap`
//! (builds the release binary first). N calls each, after 20 warm-up calls.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const N: usize = 500;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median_call_us(mut cmd: Command) -> f64 {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| unreachable!());
    let mut out = BufReader::new(child.stdout.take().unwrap_or_else(|| unreachable!()));
    let mut id = 0u64;
    let mut request = move |method: &str, params: Value| -> Value {
        id += 1;
        let m = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(stdin, "{m}").unwrap_or_else(|e| panic!("write: {e}"));
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("the server closed its stdout");
            }
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["id"] == json!(id) {
                return v;
            }
        }
    };
    request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
    );
    request("tools/list", json!({}));
    let mut times = Vec::with_capacity(N);
    for i in 0..N + 20 {
        let t = Instant::now();
        let r = request(
            "tools/call",
            json!({"name": "greet", "arguments": {"name": "bench"}}),
        );
        if i >= 20 {
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        assert!(r["result"]["isError"] != json!(true), "{r}");
    }
    drop(request);
    let _ = child.wait();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    if !Command::new("cargo")
        .args(["build", "--release", "-q"])
        .current_dir(repo())
        .status()
        .is_ok_and(|s| s.success())
    {
        panic!("cargo build --release failed");
    }
    let bin = repo().join("target/release/agentjail");
    let server = repo().join("tests/mcp_servers/hostile.py");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(profiles.join("roles")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        repo().join("profiles/tools.toml"),
        profiles.join("tools.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        profiles.join("roles/bench.toml"),
        format!(
            "allowed_tools = []\n[mcp.tools.greet]\nrisk = \"read\"\nparams.name = {{ type = \"string\" }}\n[sandbox]\nnetwork = \"none\"\nbinds = [{{ source = \"{}\", mode = \"ro\" }}]\n",
            server.parent().unwrap_or_else(|| unreachable!()).display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut direct = Command::new("/usr/bin/python3");
    direct.arg(&server).arg("probe");
    let mut wrapped = Command::new(&bin);
    wrapped
        .args([
            "mcp",
            "wrap",
            "--role",
            "bench",
            "--name",
            "bench",
            "--",
            "/usr/bin/python3",
        ])
        .arg(&server)
        .arg("probe")
        .env("AGENTJAIL_PROFILES", &profiles)
        .env("AGENTJAIL_STATE_DIR", dir.path().join("state"))
        .env("AGENTJAIL_AUDIT_LOG", dir.path().join("audit.jsonl"))
        .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0");
    let d = median_call_us(direct);
    let w = median_call_us(wrapped);
    println!("tools/call median over {N} calls: direct {d:.0} us, through mcp wrap {w:.0} us, overhead {:.0} us", w - d);
}
