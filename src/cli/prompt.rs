//! The terminal as the human who approves a call: the CLI's implementation
//! of `crate::run::AskHuman`. It asks on `/dev/tty` (never on the tool's
//! stdin), discards what was typed ahead, and takes only `y` or `yes`.

use crate::approval::{may_decide, ApprovalError, Person, Request};
use crate::profile::Role;
use crate::run::{AskHuman, HumanAnswer};
use crate::serve::config::Scope;
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Whether `run` may ask at the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// When stdin is a terminal and `/dev/tty` opens (and the role allows it).
    Auto,
    /// `--interactive`: always; no terminal is an error.
    Always,
    /// `--no-interactive`: never; queue a request instead.
    Never,
}

/// Asks at the controlling terminal, as `mode` allows.
pub struct Terminal {
    mode: Prompt,
    tty: Option<File>,
    broker: Option<Peer>,
}

/// Through the broker: the caller's terminal (the client opened its
/// `/dev/tty` and passed it), the caller, and its mappings; only a caller
/// the broker's `[[approvers]]` (and the role's `approval.approvers`) name
/// may answer.
struct Peer {
    tty: Option<File>,
    who: Person,
    scope: Scope,
}

impl Terminal {
    pub fn new(mode: Prompt) -> Terminal {
        Terminal {
            mode,
            tty: None,
            broker: None,
        }
    }

    /// The broker's prompt: on `tty`, the caller's terminal, answered by
    /// `who` only when `scope` lets it approve the role.
    pub fn for_peer(mode: Prompt, tty: Option<File>, who: Person, scope: Scope) -> Terminal {
        Terminal {
            mode,
            tty: None,
            broker: Some(Peer { tty, who, scope }),
        }
    }

    fn person(&self) -> Person {
        self.broker
            .as_ref()
            .map_or_else(Person::me, |b| b.who.clone())
    }
}

impl AskHuman for Terminal {
    fn available(&mut self, role: &Role) -> Result<bool, ApprovalError> {
        let mut given = self.broker.as_mut().map(|b| b.tty.take());
        let mut open = || match given.take() {
            Some(Some(tty)) => Ok(tty),
            Some(None) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the broker's client passed no terminal",
            )),
            None => std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags_noctty()
                .open("/dev/tty"),
        };
        let me = self.person();
        let by_broker = self
            .broker
            .as_ref()
            .map_or(true, |b| b.scope.may_approve(&role.name));
        let approver = may_decide(&role.approval.approvers, &me) && by_broker;
        self.tty = match self.mode {
            Prompt::Never => None,
            Prompt::Always => {
                let tty = open().map_err(ApprovalError::NoTerminal)?;
                if !approver {
                    return Err(ApprovalError::NotApprover {
                        who: me.label(),
                        role: role.name.clone(),
                        approvers: if by_broker {
                            role.approval.approvers.join(", ")
                        } else {
                            "the broker's [[approvers]] for the role".into()
                        },
                    });
                }
                Some(tty)
            }
            Prompt::Auto => {
                if !role.approval.prompt || !std::io::stdin().is_terminal() || !approver {
                    None
                } else {
                    open().ok()
                }
            }
        };
        Ok(self.tty.is_some())
    }

    fn ask(&mut self, req: &Request, timeout: Duration) -> HumanAnswer {
        let mut me = self.person();
        let channel = "the terminal".to_string();
        let Some(tty) = self.tty.as_mut() else {
            return HumanAnswer {
                approved: false,
                by: me,
                reason: "the terminal failed: not open".into(),
                channel,
            };
        };
        let question = format!(
            "\nagentjail: approval required for this call:\n{}Approve this call? [y/N] (no answer within {} means no) ",
            req.text(),
            humantime::format_duration(timeout)
        );
        let answer = ask_terminal(tty, &question, timeout);
        // The terminal's own name (/dev/pts/N) from a standard stream on it.
        me.tty = [
            nix::unistd::ttyname(std::io::stdin().as_fd()),
            nix::unistd::ttyname(std::io::stderr().as_fd()),
            nix::unistd::ttyname(tty.as_fd()),
        ]
        .into_iter()
        .find_map(Result::ok)
        .map(|p| p.display().to_string());
        let (approved, why) = match &answer {
            Answer::Yes => (true, format!("{} answered yes at the terminal", me.label())),
            Answer::No(text) => (
                false,
                format!("{} answered {text:?} at the terminal", me.label()),
            ),
            Answer::Eof => (false, "the terminal closed without an answer".to_string()),
            Answer::Timeout => (
                false,
                format!("no answer within {}", humantime::format_duration(timeout)),
            ),
            Answer::Failed(e) => (false, format!("the terminal failed: {e}")),
        };
        let _ = writeln!(tty, "{}", if approved { "approved" } else { "denied" });
        HumanAnswer {
            approved,
            by: me,
            reason: why,
            channel,
        }
    }
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Yes,
    No(String),
    Eof,
    Timeout,
    Failed(String),
}

/// Shows `question` on the terminal and reads one line, for at most
/// `timeout`. What was typed before the question is discarded, so an answer
/// cannot be typed ahead.
fn ask_terminal(tty: &mut File, question: &str, timeout: Duration) -> Answer {
    let _ = nix::sys::termios::tcflush(tty.as_fd(), nix::sys::termios::FlushArg::TCIFLUSH);
    if let Err(e) = tty
        .write_all(crate::text::printable(question).as_bytes())
        .and_then(|()| tty.flush())
    {
        return Answer::Failed(e.to_string());
    }
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = writeln!(tty);
            return Answer::Timeout;
        }
        let ms = u16::try_from(left.as_millis().clamp(1, 60_000)).unwrap_or(60_000);
        let mut fds = [nix::poll::PollFd::new(
            tty.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Answer::Failed(e.to_string()),
        }
        let mut buf = [0u8; 256];
        match tty.read(&mut buf) {
            Ok(0) => return Answer::Eof,
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if let Some(end) = line.iter().position(|&b| b == b'\n' || b == b'\r') {
                    let text = String::from_utf8_lossy(&line[..end]).trim().to_string();
                    return match text.to_ascii_lowercase().as_str() {
                        "y" | "yes" => Answer::Yes,
                        _ => Answer::No(text),
                    };
                }
                if line.len() > 4096 {
                    return Answer::No(String::from_utf8_lossy(&line).into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Answer::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn terminal_answers() {
        // A pty pair stands in for the terminal.
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut master = File::from(pty.master);
        let mut slave = File::from(pty.slave);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            master.write_all(b"yes\n").unwrap();
            let mut shown = vec![0u8; 4096];
            let n = master.read(&mut shown).unwrap();
            (master, String::from_utf8_lossy(&shown[..n]).into_owned())
        });
        let a = ask_terminal(&mut slave, "Approve? ", Duration::from_secs(10));
        assert_eq!(a, Answer::Yes);
        let (_master, shown) = writer.join().unwrap();
        assert!(shown.contains("Approve?"), "{shown:?}");
        let started = Instant::now();
        let a = ask_terminal(&mut slave, "Approve? ", Duration::from_millis(300));
        assert_eq!(a, Answer::Timeout);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
