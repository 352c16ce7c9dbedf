//! `agentjail mcp serve`: what tools/list and tools/call say, approvals,
//! sessions and budgets, the output guards (in `run --json` too), and real
//! MCP clients nobody on this team wrote (the Python SDK 2.x, LangChain's
//! MCP adapters on the 1.x SDK, the MCP Inspector's CLI), installed by
//! `.ci/setup.d/mcp.sh`. The protocol's hostile cases are in
//! tests/mcp_serve_protocol.rs; the harness in tests/mcp_serve_support/.
//! Over 600 lines: one suite per front-end keeps each test's clients and
//! profiles in one place; the clients themselves are in tests/mcp_clients/.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod mcp_serve_support;

use mcp_serve_support::{meta, npm_prefix, text, venv_beside, Env, BIN};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

// --------------------------------------------------------------------------
// tools/list and tools/call
// --------------------------------------------------------------------------

#[test]
fn tools_list_shows_the_allowed_tools_with_schemas_and_hints() {
    let env = Env::new();
    let mut s = env.serve("mcp", &[]);
    s.initialize();
    let a = s.request("tools/list", json!({}));
    let tools = a["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "echo_text",
            "json_echo",
            "leak",
            "secret",
            "cat_stdin",
            "fail",
            "sleep",
            "remove"
        ]
    );
    let by = |n: &str| tools.iter().find(|t| t["name"] == json!(n)).unwrap();
    let sleep = by("sleep");
    assert_eq!(
        sleep["inputSchema"]["properties"]["seconds"]["type"],
        json!("integer")
    );
    assert_eq!(
        sleep["inputSchema"]["properties"]["seconds"]["maximum"],
        json!(60)
    );
    assert_eq!(sleep["inputSchema"]["required"], json!(["seconds"]));
    assert_eq!(sleep["inputSchema"]["additionalProperties"], json!(false));
    assert_eq!(sleep["annotations"]["readOnlyHint"], json!(true));
    let remove = by("remove");
    assert_eq!(remove["annotations"]["destructiveHint"], json!(true));
    assert_eq!(
        remove["inputSchema"]["properties"]["name"]["pattern"],
        json!("^(?:[a-z]+)$")
    );
    assert_eq!(
        remove["inputSchema"]["properties"]["name"]["default"],
        json!("x")
    );
    assert!(remove["inputSchema"].get("required").is_none(), "{remove}");
    // The denied tool is not listed, and calling it anyway is an audited denial.
    let r = s.call("hidden", json!({}));
    assert_eq!(r["isError"], json!(true));
    assert!(
        text(&r).starts_with("denied: tool `hidden` is in role `mcp`'s denied_tools"),
        "{r}"
    );
    assert_eq!(s.finish(), 0);
    let denial = env
        .records()
        .into_iter()
        .find(|r| r["tool"] == json!("hidden"))
        .expect("an audit record for the denied call");
    assert_eq!(denial["decision"], json!("deny"));
}

#[test]
fn tools_call_results_say_what_happened() {
    let env = Env::new();
    let mut s = env.serve("mcp", &["--session", "fixed-session"]);
    s.initialize();
    let ok = s.call("echo_text", json!({"text": "hello"}));
    assert_eq!(ok["isError"], json!(false), "{ok}");
    assert_eq!(text(&ok), "hello\n");
    assert_eq!(meta(&ok)["exit_code"], json!(0));
    assert!(ok.get("structuredContent").is_none());

    // output = "json": structuredContent too.
    let j = s.call("json_echo", json!({"json": "{\"n\": 3, \"ok\": true}"}));
    assert_eq!(j["structuredContent"], json!({"n": 3, "ok": true}), "{j}");

    // A non-zero exit: an error result with stderr and the code.
    let f = s.call("fail", json!({}));
    assert_eq!(f["isError"], json!(true), "{f}");
    assert_ne!(meta(&f)["exit_code"], json!(0));
    assert!(
        text(&f).contains("[stderr]") && text(&f).contains("nonexistent-for-mcp-serve"),
        "{f}"
    );
    assert!(text(&f).contains("[exit code "), "{f}");

    // Bad parameters: a string for an integer, an unknown parameter.
    let b = s.call("sleep", json!({"seconds": "1"}));
    assert_eq!(b["isError"], json!(true));
    assert!(text(&b).starts_with("bad parameters: "), "{b}");
    assert_eq!(meta(&b)["exit_code"], json!(65));
    let b = s.call("echo_text", json!({"text": "a", "extra": 1}));
    assert!(text(&b).starts_with("bad parameters: "), "{b}");

    // A screened value: denied, with the reason.
    let d = s.call("echo_text", json!({"text": "rm -rf / now"}));
    assert_eq!(d["isError"], json!(true));
    assert!(text(&d).starts_with("denied: "), "{d}");
    assert_eq!(meta(&d)["exit_code"], json!(77));

    // The role's timeout (2 s).
    let t = s.call("sleep", json!({"seconds": 30}));
    assert_eq!(t["isError"], json!(true), "{t}");
    assert!(
        text(&t).contains("timeout: tool `sleep` was killed after 2s"),
        "{t}"
    );
    assert_eq!(meta(&t)["exit_code"], json!(124));
    assert_eq!(s.finish(), 0);

    // Every call is in the log under the fixed session, the client's name as agent.
    let recs = env.records();
    assert!(
        recs.iter()
            .filter(|r| r["tool"] == json!("echo_text"))
            .count()
            >= 3
    );
    assert!(recs
        .iter()
        .filter(|r| r["tool"].is_string())
        .all(|r| r["session_id"] == json!("fixed-session")
            && r["agent_id"] == json!("mcp-serve-test")));
}

#[test]
fn approval_is_pending_then_runs_once() {
    let env = Env::new();
    let mut s = env.serve("mcp", &[]);
    s.initialize();
    let p = s.call("remove", json!({"name": "abc"}));
    assert_eq!(p["isError"], json!(true));
    assert!(text(&p).starts_with("approval required: "), "{p}");
    assert_eq!(meta(&p)["exit_code"], json!(75));
    let id = meta(&p)["approval"]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cmd = meta(&p)["approval"]["approve_command"].as_str().unwrap();
    assert!(cmd.ends_with(&format!("approvals approve {id}")), "{cmd}");
    assert!(text(&p).contains(cmd), "{p}");
    // Asking again queues nothing new: the same request is named.
    let again = s.call("remove", json!({"name": "abc"}));
    assert_eq!(meta(&again)["approval"]["request_id"], json!(id));
    let o = env
        .command(false, &["approvals", "approve", &id])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ran = s.call("remove", json!({"name": "abc"}));
    assert_eq!(ran["isError"], json!(false), "{ran}");
    let third = s.call("remove", json!({"name": "abc"}));
    assert!(
        text(&third).starts_with("approval required: "),
        "ran twice: {third}"
    );
    assert_eq!(s.finish(), 0);
}

/// Calls `remove` and answers the server's `elicitation/create` with
/// `answer`; the call's result.
fn call_with_elicitation(s: &mut mcp_serve_support::Server, name: &str, answer: Value) -> Value {
    let call = json!({"jsonrpc": "2.0", "id": name, "method": "tools/call",
                      "params": {"name": "remove", "arguments": {"name": name}}});
    s.send_raw(format!("{call}\n").as_bytes());
    let ask = s.read();
    assert_eq!(ask["method"], json!("elicitation/create"), "{ask}");
    let message = ask["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("tool `remove`") && message.contains(name),
        "{ask}"
    );
    let schema = &ask["params"]["requestedSchema"];
    assert_eq!(
        schema["properties"]["approve"]["type"],
        json!("boolean"),
        "{ask}"
    );
    let reply = json!({"jsonrpc": "2.0", "id": ask["id"], "result": answer});
    s.send_raw(format!("{reply}\n").as_bytes());
    let a = s.read();
    assert_eq!(a["id"], json!(name), "{a}");
    a["result"].clone()
}

#[test]
fn elicitation_asks_the_clients_human_only_where_the_role_allows_it() {
    let env = Env::new();
    let mut s = env.serve("mcp_elicit", &[]);
    s.initialize_with(json!({"elicitation": {}}));
    let yes = json!({"action": "accept", "content": {"approve": true}});
    let r = call_with_elicitation(&mut s, "abc", yes);
    assert_eq!(r["isError"], json!(false), "{r}");
    let no = json!({"action": "accept", "content": {"approve": false}});
    let r = call_with_elicitation(&mut s, "abd", no);
    assert!(
        text(&r).starts_with("denied: not approved: declined through the MCP client"),
        "{r}"
    );
    let r = call_with_elicitation(&mut s, "abe", json!({"action": "decline"}));
    assert_eq!(r["isError"], json!(true), "{r}");
    assert_eq!(s.finish(), 0);
    let approvals: Vec<Value> = env
        .records()
        .into_iter()
        .filter(|r| r["event_type"] == json!("approval"))
        .collect();
    assert_eq!(approvals.len(), 3, "{approvals:?}");
    // Without the capability, or in a role without approval.from_client, nobody is
    // asked: the request is queued.
    for (role, caps) in [
        ("mcp_elicit", json!({})),
        ("mcp", json!({"elicitation": {}})),
    ] {
        let mut s = env.serve(role, &[]);
        s.initialize_with(caps);
        let r = s.call("remove", json!({"name": "abf"}));
        assert!(text(&r).starts_with("approval required: "), "{role}: {r}");
        assert_eq!(s.finish(), 0);
    }
}

#[test]
fn each_server_process_is_its_own_session_unless_fixed() {
    let env = Env::new();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut s = env.serve("mcp", &[]);
        s.initialize();
        s.call("echo_text", json!({"text": "x"}));
        assert_eq!(s.finish(), 0);
        let recs = env.records();
        let last = recs
            .iter()
            .rev()
            .find(|r| r["tool"] == json!("echo_text"))
            .unwrap();
        sessions.push(last["session_id"].as_str().unwrap().to_string());
    }
    assert!(
        sessions.iter().all(|s| s.starts_with("mcp-")),
        "{sessions:?}"
    );
    assert_ne!(sessions[0], sessions[1]);
}

#[test]
fn budgets_count_per_mcp_session() {
    let env = Env::new();
    let mut s = env.serve("mcp_budget", &[]);
    s.initialize();
    for _ in 0..2 {
        let r = s.call("echo_text", json!({"text": "x"}));
        assert_eq!(r["isError"], json!(false), "{r}");
    }
    let r = s.call("echo_text", json!({"text": "x"}));
    assert_eq!(r["isError"], json!(true), "{r}");
    assert!(
        text(&r).starts_with("denied: ") && text(&r).contains("max_api_calls"),
        "{r}"
    );
    assert_eq!(meta(&r)["exit_code"], json!(77));
    assert_eq!(s.finish(), 0);
    // A new server process is a new session with a budget of its own ...
    let mut s = env.serve("mcp_budget", &[]);
    s.initialize();
    let r = s.call("echo_text", json!({"text": "x"}));
    assert_eq!(r["isError"], json!(false), "{r}");
    assert_eq!(s.finish(), 0);
    // ... unless --session names one that is spent.
    let mut s = env.serve("mcp_budget", &["--session", "spent"]);
    s.initialize();
    for _ in 0..2 {
        s.call("echo_text", json!({"text": "x"}));
    }
    assert_eq!(s.finish(), 0);
    let mut s = env.serve("mcp_budget", &["--session", "spent"]);
    s.initialize();
    let r = s.call("echo_text", json!({"text": "x"}));
    assert_eq!(r["isError"], json!(true), "{r}");
    assert_eq!(s.finish(), 0);
}

// --------------------------------------------------------------------------
// Output guards (shared with run --json)
// --------------------------------------------------------------------------

#[test]
fn output_guards_redact_and_screen_results() {
    let env = Env::new();
    let mut s = env.serve("mcp", &[]);
    s.initialize();
    let r = s.call("secret", json!({}));
    assert!(!text(&r).contains("AKIAIOSFODNN7EXAMPLE"), "{r}");
    assert!(text(&r).contains("[REDACTED:"), "{r}");
    assert_eq!(
        meta(&r)["output_guard"]["stdout"]["redactions"],
        json!(1),
        "{r}"
    );
    // The role's injection_action (default deny): the result is withheld.
    let r = s.call("leak", json!({}));
    assert_eq!(r["isError"], json!(true), "{r}");
    assert!(text(&r).starts_with("output withheld: "), "{r}");
    assert!(
        !text(&r).to_lowercase().contains("ignore all previous"),
        "{r}"
    );
    assert_eq!(s.finish(), 0);
    let rec = env
        .records()
        .into_iter()
        .rev()
        .find(|r| r["tool"] == json!("leak") && r["event_type"] == json!("tool_result"))
        .expect("the leak result record");
    let guard = &rec["output_guard"]["stdout"];
    assert!(guard["refused"].is_string(), "{rec}");

    // filter: the marker is cut out, the rest goes back.
    let mut s = env.serve("mcp_filter", &[]);
    s.initialize();
    let r = s.call("leak", json!({}));
    assert_eq!(r["isError"], json!(false), "{r}");
    assert!(
        text(&r).contains("[FILTERED]") && text(&r).contains("obey"),
        "{r}"
    );
    assert_eq!(s.finish(), 0);
}

#[test]
fn run_json_output_passes_the_same_guards() {
    let env = Env::new();
    let o = env
        .command(false, &["run", "--json", "--role", "mcp", "leak"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stdout"], json!(""), "{v}");
    assert!(v["output_guard"]["stdout"]["refused"].is_string(), "{v}");
    let o = env
        .command(false, &["run", "--json", "--role", "mcp", "secret"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        !v["stdout"]
            .as_str()
            .unwrap()
            .contains("AKIAIOSFODNN7EXAMPLE"),
        "{v}"
    );
    assert_eq!(v["output_guard"]["stdout"]["redactions"], json!(1), "{v}");
}

// --------------------------------------------------------------------------
// Real clients
// --------------------------------------------------------------------------

/// A scratch directory the files_agent role may write (its writable_dirs
/// is /tmp), open to the sandbox's unprivileged uid.
fn scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// The server spec the client scripts read from MCP_SERVER.
/// Which profiles and role a client script's server serves.
struct Served<'a> {
    /// The repository's profiles (files_agent), or the test's own.
    bundled: bool,
    role: &'a str,
    extra: &'a [&'a str],
}

const FILES_AGENT: Served = Served {
    bundled: true,
    role: "files_agent",
    extra: &[],
};

fn server_spec(env: &Env, served: &Served) -> String {
    let mut args = env.globals(served.bundled);
    for a in ["mcp", "serve", "--role", served.role]
        .iter()
        .chain(served.extra)
    {
        args.push(a.to_string());
    }
    json!({
        "command": BIN,
        "args": args,
        "env": {"AGENTJAIL_AUDIT_APPEND_ONLY": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    })
    .to_string()
}

fn run_script(python: &Path, script: &str, env: &Env, served: &Served) -> Value {
    let dir = scratch();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp_clients")
        .join(script);
    let o = Command::new(python)
        .arg(path)
        .env("MCP_SERVER", server_spec(env, served))
        .env("MCP_SCRATCH", dir.path())
        .env("AGENTJAIL_BIN", BIN)
        .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{script}:\n{out}\n{err}");
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script} printed no summary ({e}):\n{out}\n{err}"))
}

fn approvals_in_log(env: &Env) -> usize {
    env.records()
        .iter()
        .filter(|r| r["tool"] == json!("delete_file") && r["event_type"] == json!("tool_result"))
        .count()
}

/// The python of the venv `suffix`, or None after reporting the skip.
fn client_python(suffix: &str) -> Option<PathBuf> {
    let python = venv_beside(suffix).join("bin/python");
    if python.exists() {
        return Some(python);
    }
    common::skip(&format!("{} (run .ci/setup.d/mcp.sh)", python.display()));
    None
}

#[test]
fn python_sdk_2_session_and_auto_client() {
    let Some(python) = client_python("mcp2") else {
        return;
    };
    let env = Env::new();
    let summary = run_script(&python, "sdk_client.py", &env, &FILES_AGENT);
    assert_eq!(
        summary["session_protocol"],
        json!("2025-11-25"),
        "{summary}"
    );
    assert_ne!(summary["session"]["request"], summary["client"]["request"]);
    // One delete ran per connection style, each after its approval.
    assert_eq!(approvals_in_log(&env), 2);
    // Client in auto mode probed server/discover first and fell back: two
    // server processes, two sessions.
    let sessions: std::collections::BTreeSet<String> = env
        .records()
        .iter()
        .filter_map(|r| r["session_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
}

#[test]
fn python_sdk_2_elicitation() {
    let Some(python) = client_python("mcp2") else {
        return;
    };
    let env = Env::new();
    let served = Served {
        bundled: false,
        role: "mcp_elicit",
        extra: &[],
    };
    let summary = run_script(&python, "elicit_client.py", &env, &served);
    assert_eq!(summary["asked"], json!(2), "{summary}");
    let approvals = env
        .records()
        .into_iter()
        .filter(|r| r["event_type"] == json!("approval"))
        .count();
    assert_eq!(approvals, 2);
}

#[test]
fn langchain_mcp_adapters_on_sdk_1() {
    let Some(python) = client_python("mcp1") else {
        return;
    };
    let env = Env::new();
    // The adapter starts a server per call: the session is fixed.
    let served = Served {
        extra: &["--session", "langchain"],
        ..FILES_AGENT
    };
    let summary = run_script(&python, "langchain_client.py", &env, &served);
    assert!(summary["request"].is_string(), "{summary}");
    assert_eq!(approvals_in_log(&env), 1);
}

#[test]
fn mcp_inspector_cli() {
    let npm = npm_prefix();
    let inspector = npm.join("node_modules/.bin/mcp-inspector");
    if !inspector.exists() {
        common::skip(&format!("{} (run .ci/setup.d/mcp.sh)", inspector.display()));
        return;
    }
    let env = Env::new();
    let dir = scratch();
    let name = "inspected";
    std::fs::write(dir.path().join(name), "").unwrap();
    let scratch_dir = dir.path().display().to_string();
    // The inspector starts a server per invocation: the session is fixed.
    let run = |method: &[&str]| -> Value {
        let mut c = Command::new(&inspector);
        c.arg("--cli")
            .args(["-e", "AGENTJAIL_AUDIT_APPEND_ONLY=0", BIN])
            .args(env.globals(true))
            .args([
                "mcp",
                "serve",
                "--role",
                "files_agent",
                "--session",
                "inspector",
            ])
            .args(method);
        let o = c.output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let list = run(&["--method", "tools/list"]);
    let names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"echo_text") && !names.contains(&"shell_exec"),
        "{names:?}"
    );
    let ok = run(&[
        "--method",
        "tools/call",
        "--tool-name",
        "echo_text",
        "--tool-arg",
        "text=inspected",
    ]);
    assert_eq!(ok["isError"], json!(false), "{ok}");
    assert_eq!(text(&ok), "inspected\n");
    let denied = run(&[
        "--method",
        "tools/call",
        "--tool-name",
        "echo_text",
        "--tool-arg",
        "text=cat /etc/shadow",
    ]);
    assert_eq!(denied["isError"], json!(true), "{denied}");
    assert!(text(&denied).starts_with("denied: "), "{denied}");
    let delete = [
        "--method",
        "tools/call",
        "--tool-name",
        "delete_file",
        "--tool-arg",
        &format!("dir={scratch_dir}"),
        "--tool-arg",
        &format!("name={name}"),
    ];
    let pending = run(&delete);
    assert!(
        text(&pending).starts_with("approval required: "),
        "{pending}"
    );
    let id = meta(&pending)["approval"]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(dir.path().join(name).exists());
    let o = env
        .command(true, &["approvals", "approve", &id])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ran = run(&delete);
    assert_eq!(ran["isError"], json!(false), "{ran}");
    assert!(!dir.path().join(name).exists());
    let again = run(&delete);
    assert!(text(&again).starts_with("approval required: "), "{again}");
}

/// A tool whose catalog entry allows extra arguments takes them as
/// `extra_args`, checked by the policy like `run`'s; others refuse them.
#[test]
fn extra_args_are_served_with_their_rules() {
    let env = Env::new();
    let mut s = env.serve("mcp_extra", &[]);
    s.initialize();
    let list = s.request("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let schema =
        |n: &str| tools.iter().find(|t| t["name"] == json!(n)).unwrap()["inputSchema"].clone();
    let x = &schema("echo_opts")["properties"]["extra_args"];
    assert_eq!(x["type"], json!("array"), "{x}");
    assert_eq!(x["maxItems"], json!(2), "{x}");
    assert!(schema("echo_text")["properties"]
        .get("extra_args")
        .is_none());
    let ok = s.call("echo_opts", json!({"extra_args": ["-n", "abc"]}));
    assert_eq!(ok["isError"], json!(false), "{ok}");
    assert_eq!(text(&ok).trim_end(), "listed -n abc");
    for (bad, why) in [
        (json!(["-a", "-b", "-c"]), "bad parameters"),
        (json!(["A B"]), "bad parameters"),
        (
            json!(["$(id)"]),
            "denied: parameter `extra[1]` contains suspicious value",
        ),
    ] {
        let r = s.call("echo_opts", json!({ "extra_args": bad }));
        assert_eq!(r["isError"], json!(true), "{bad}: {r}");
        assert!(text(&r).contains(why), "{bad}: {r}");
    }
    let r = s.call("echo_text", json!({"text": "a", "extra_args": ["-n"]}));
    assert_eq!(r["isError"], json!(true), "{r}");
    for bad in [json!("-n"), json!([1])] {
        let a = s.request(
            "tools/call",
            json!({"name": "echo_opts", "arguments": {"extra_args": bad}}),
        );
        assert_eq!(a["error"]["code"], json!(-32602), "{a}");
    }
    assert_eq!(s.finish(), 0);
    let recs = env.records();
    assert!(
        recs.iter().any(|r| r["extra_args"] == json!(["-n", "abc"])),
        "{recs:?}"
    );
}
