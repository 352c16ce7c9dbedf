//! The harness of tests/mcp_wrap.rs and tests/mcp_wrap_servers.rs: one
//! test's own profiles, state and log ([`Env`]), `agentjail mcp wrap` driven
//! by a raw JSON-RPC client ([`Session`], one message a line), and where the
//! third-party servers are installed.

#![allow(dead_code, unused_imports)]

#[path = "../mcp_peer_support/mod.rs"]
pub mod peer;

use peer::Peer;
pub use peer::{npm_prefix, repo, test_venv, WAIT};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_agentjail");
pub const PY: &str = "/usr/bin/python3";

pub fn hostile() -> String {
    repo()
        .join("tests/mcp_servers/hostile.py")
        .display()
        .to_string()
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// One test's own profiles, state and audit log.
pub struct Env {
    pub dir: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Env {
        let dir = repo()
            .join("target/mcp-wrap-tests")
            .join(format!("{name}-{}", crate::common::unique_number()));
        std::fs::create_dir_all(dir.join("profiles/roles")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        for d in ["", "profiles", "profiles/roles"] {
            chmod(&dir.join(d), 0o755);
        }
        // The hostile server (uid 65534 in the sandbox) logs its calls here.
        chmod(&dir.join("data"), 0o777);
        std::fs::copy(
            repo().join("profiles/tools.toml"),
            dir.join("profiles/tools.toml"),
        )
        .unwrap();
        Env { dir }
    }

    /// Writes role `name`: `body` is the [mcp] part and anything else; the
    /// sandbox binds the test servers and `binds` (TOML inline tables).
    pub fn role(&self, name: &str, binds: &str, body: &str) {
        self.role_with(name, binds, body, "");
    }

    /// [`Env::role`] with more `[sandbox]` lines.
    pub fn role_with(&self, name: &str, binds: &str, body: &str, sandbox: &str) {
        let text = format!(
            "allowed_tools = []\n{body}\n[sandbox]\n{sandbox}\nnetwork = \"none\"\npass_env = [\"HOSTILE_LOG\"]\nbinds = [ {{ source = \"{}\", mode = \"ro\" }}, {{ source = \"{}\", mode = \"rw\" }}, {binds} ]\n",
            repo().join("tests/mcp_servers").display(),
            self.dir.join("data").display()
        );
        std::fs::write(self.dir.join(format!("profiles/roles/{name}.toml")), text).unwrap();
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("AGENTJAIL_PROFILES", self.dir.join("profiles"))
            .env("AGENTJAIL_STATE_DIR", self.dir.join("state"))
            .env("AGENTJAIL_AUDIT_LOG", self.dir.join("audit.jsonl"))
            .env("AGENTJAIL_AUDIT_APPEND_ONLY", "0")
            .env_remove("AGENTJAIL_ROLE")
            .env_remove("AGENTJAIL_BROKER");
        c
    }

    pub fn wrap(&self, role: &str, name: &str, server: &[&str]) -> Session {
        self.wrap_with(role, name, &[], server)
    }

    /// [`Env::wrap`] with more options of `mcp wrap` (`--session ID`).
    pub fn wrap_with(&self, role: &str, name: &str, options: &[&str], server: &[&str]) -> Session {
        let mut c = self.command();
        c.args(["mcp", "wrap", "--role", role, "--name", name])
            .args(options)
            .arg("--")
            .args(server)
            .env("HOSTILE_LOG", self.dir.join("data/calls.jsonl"));
        Session {
            peer: Peer::start(c),
            next: 1,
        }
    }

    pub fn records(&self) -> Vec<Value> {
        peer::read_records(&self.dir.join("audit.jsonl"))
    }

    /// Tool calls the hostile server received.
    pub fn server_calls(&self) -> Vec<Value> {
        peer::read_records(&self.dir.join("data/calls.jsonl"))
    }

    pub fn agentjail(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.command().args(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub struct Session {
    peer: Peer,
    next: u64,
}

impl Session {
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.peer.send_raw(bytes);
    }

    pub fn send(&mut self, msg: &Value) {
        self.peer.send(msg);
    }

    /// The next message from the firewall.
    pub fn recv(&mut self) -> Value {
        self.peer.recv()
    }

    /// The answer to the message with `id` (notifications are skipped).
    pub fn answer(&mut self, id: &Value) -> Value {
        loop {
            let m = self.recv();
            if m.get("id") == Some(id) && m.get("method").is_none() {
                return m;
            }
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = json!(self.next);
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.answer(&id)
    }

    pub fn initialize(&mut self) -> Value {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "mcp_wrap test", "version": "1"}}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        r
    }

    pub fn tool_names(&mut self) -> Vec<String> {
        let r = self.request("tools/list", json!({}));
        r["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("no tools: {r}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
    }

    /// Closes stdin and waits for agentjail's exit code.
    pub fn finish(self) -> i32 {
        self.peer.finish()
    }
}

/// The text of a tools/call result and whether it is an error.
pub fn text_of(r: &Value) -> (String, bool) {
    let res = &r["result"];
    (
        peer::content_text(res),
        res["isError"].as_bool() == Some(true),
    )
}

/// Whether this host can run the sandbox at all (root, namespaces).
pub fn sandbox_ok() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        crate::common::skip("mcp wrap tests run as root");
        return false;
    }
    true
}

pub const GREET: &str =
    "[mcp.tools.greet]\nrisk = \"read\"\nparams.name = { type = \"string\", max_length = 40 }\n";

/// `$AGENTJAIL_TEST_SERVERS_VENV`, or `$AGENTJAIL_TEST_VENV-mcp-servers`.
pub fn servers_venv() -> PathBuf {
    std::env::var_os("AGENTJAIL_TEST_SERVERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| peer::venv_beside("mcp-servers"))
}

/// The filesystem server's entry point, or a skip.
pub fn filesystem_server() -> Option<PathBuf> {
    let js =
        npm_prefix().join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    if js.is_file() && Path::new("/usr/bin/node").exists() {
        Some(js)
    } else {
        crate::common::skip(&format!(
            "@modelcontextprotocol/server-filesystem not installed at {} (run .ci/setup.d/mcp-wrap.sh) or no /usr/bin/node",
            js.display()
        ));
        None
    }
}

/// A directory of files the server is given (bound read-only).
pub fn files_dir(env: &Env) -> PathBuf {
    let d = env.dir.join("files");
    std::fs::create_dir_all(&d).unwrap();
    chmod(&d, 0o755);
    std::fs::write(d.join("hello.txt"), "hello from the bound directory\n").unwrap();
    chmod(&d.join("hello.txt"), 0o644);
    d
}

/// The start of a filesystem-server test: the test's env, the server's
/// entry point and the bound directory of files; None when skipped.
pub fn fs_test(name: &str) -> Option<(Env, PathBuf, String)> {
    if !sandbox_ok() {
        return None;
    }
    let js = filesystem_server()?;
    let env = Env::new(name);
    let files = files_dir(&env).display().to_string();
    Some((env, js, files))
}

/// The binds the filesystem server needs: its npm prefix and the files.
pub fn fs_binds(files: &str) -> String {
    format!(
        "{{ source = \"{}\", mode = \"ro\" }}, {{ source = \"{files}\", mode = \"ro\" }}",
        npm_prefix().display()
    )
}

/// Reads of single files in `files`, and list_allowed_directories.
pub fn fs_read_rules(files: &str) -> String {
    format!(
        "[mcp.tools.read_text_file]\nrisk = \"read\"\nparams.path = {{ type = \"path\", pattern = \"^{files}/[^/]+$\" }}\n[mcp.tools.list_allowed_directories]\nrisk = \"read\"\n"
    )
}
