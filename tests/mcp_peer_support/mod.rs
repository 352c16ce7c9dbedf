//! What the `mcp serve` and `mcp wrap` harnesses share: an agentjail MCP
//! process spoken to line by line, the clients' install locations, and
//! reading tool results and audit logs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

/// A hang guard, not a timing assertion: an answer that needs longer is broken.
pub const WAIT: Duration = Duration::from_secs(60);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$AGENTJAIL_TEST_NPM`, or the build tree's.
pub fn npm_prefix() -> PathBuf {
    std::env::var_os("AGENTJAIL_TEST_NPM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/ci/npm"))
}

/// `$AGENTJAIL_TEST_VENV`, or the build tree's.
pub fn test_venv() -> PathBuf {
    std::env::var_os("AGENTJAIL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/ci/venv"))
}

/// `$AGENTJAIL_TEST_VENV-SUFFIX`: the venv of one pinned client set.
pub fn venv_beside(suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}-{suffix}", test_venv().display()))
}

/// A running agentjail MCP process: its stdin, and its stdout's lines.
pub struct Peer {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Peer {
    /// Starts `cmd` with piped stdin and stdout; stderr is inherited.
    pub fn start(mut cmd: Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    pub fn send(&mut self, msg: &Value) {
        let mut b = serde_json::to_vec(msg).unwrap();
        b.push(b'\n');
        self.send_raw(&b);
    }

    /// The next message it wrote.
    pub fn recv(&self) -> Value {
        match self.lines.recv_timeout(WAIT) {
            Ok(l) => serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")),
            Err(RecvTimeoutError::Timeout) => panic!("no answer from agentjail"),
            Err(RecvTimeoutError::Disconnected) => panic!("agentjail closed its stdout"),
        }
    }

    /// Closes stdin and returns the exit code.
    pub fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

/// The text parts of a tools/call result, joined by newlines.
pub fn content_text(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The records of a JSON-lines audit log (none when it does not exist).
pub fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
