//! The broker's wire protocol: length-prefixed JSON frames on a unix
//! stream socket.
//!
//! A frame is a 4-byte big-endian length, then that many bytes of one UTF-8
//! JSON object. A frame is at most [`MAX_FRAME`] bytes; a longer declared
//! length is refused before anything is allocated, and the body is read
//! incrementally, so a client that declares a large frame and sends little
//! costs only what it sent. Every message carries `version`; a broker
//! answers a version it does not speak with an error naming its own.
//!
//! The client sends one [`Request`] (its descriptors 0, 1 and 2 attached with
//! `SCM_RIGHTS` to the first bytes, and a fourth, its `--stdin-file`, when
//! the call says so) and reads one [`Response`]. A request
//! describes the call only: it never names a profile directory, a state
//! directory or a log (`deny_unknown_fields` refuses such a key), since the
//! broker's own configuration decides them.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::Read;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The largest frame: the largest `--params` input (8 MiB) plus room for
/// the rest of a call.
pub const MAX_FRAME: usize = 9 << 20;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub version: u32,
    pub op: Op,
}

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Op {
    /// `agentjail run`: `json` captures the output into one JSON object.
    Run {
        call: Call,
        json: bool,
        /// Whether to ask at the caller's terminal.
        #[serde(default)]
        ask: Ask,
        /// The client attached its terminal (`/dev/tty`) as the last
        /// descriptor.
        #[serde(default)]
        tty: bool,
    },
    /// `agentjail check`: `json` is `--format json`.
    Check {
        call: Call,
        json: bool,
    },
    Approvals(Approvals),
    /// `agentjail budget show`, narrowed to the roles the peer may call or
    /// approve.
    Budget {
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        role: Option<String>,
        json: bool,
    },
    /// `agentjail audit ...` on the broker's own log, for `[[auditors]]`.
    Audit(Audit),
}

/// `agentjail audit verify|head|tail` (never a path: the broker reads its
/// own log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Audit {
    Verify {
        #[serde(default)]
        head: Option<String>,
        #[serde(default)]
        after: Option<String>,
        json: bool,
    },
    Head {
        json: bool,
    },
    Tail {
        follow: bool,
        lines: usize,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        risk: Option<String>,
        #[serde(default)]
        event: Option<String>,
        json: bool,
    },
}

/// `run --interactive` (`always`), `--no-interactive` (`never`), or
/// neither (`auto`: when the caller's stdin is a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    #[default]
    Never,
    Auto,
    Always,
}

/// A tool call as the command line gave it, with `--params` already read
/// by the client (inline JSON only: never `-` or `@FILE`, which the broker
/// would read with its own rights).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    pub role: Option<String>,
    pub tool: String,
    /// `--param NAME=VALUE`, as given.
    #[serde(default)]
    pub param: Vec<String>,
    /// `--params`, as inline JSON text.
    #[serde(default)]
    pub params: Option<String>,
    #[serde(default)]
    pub extra_args: Vec<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub tokens: u64,
    /// `--stdin-file`: the client opened it (with its own rights) and
    /// attached it as a fourth descriptor; the broker reads that, never a
    /// path.
    #[serde(default)]
    pub stdin_file: bool,
}

/// `agentjail approvals ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Approvals {
    List {
        all: bool,
        json: bool,
    },
    Show {
        id: String,
        json: bool,
    },
    Approve {
        id: String,
        ttl_secs: Option<u64>,
        reason: Option<String>,
    },
    Deny {
        id: String,
        reason: Option<String>,
    },
}

/// The broker's answer: the exit code, and a message when the broker itself
/// refused or failed (the call's own messages went to the caller's stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    pub version: u32,
    pub exit_code: i32,
    #[serde(default)]
    pub message: Option<String>,
}

impl Response {
    pub fn new(exit_code: i32, message: Option<String>) -> Response {
        Response {
            version: VERSION,
            exit_code,
            message,
        }
    }
}

/// What the client sends after its request, while the call runs: a signal
/// it received (SIGINT, SIGTERM or SIGHUP), for the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub version: u32,
    pub signal: i32,
}

/// The signals a client may forward to its call.
pub const FORWARDED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the connection closed before a frame")]
    Closed,
    #[error("the connection closed {got} bytes into a {want}-byte frame")]
    Short { got: usize, want: usize },
    #[error("a frame of {0} bytes is larger than the {MAX_FRAME}-byte maximum")]
    TooLarge(u64),
    #[error("reading a frame")]
    Io(#[source] std::io::Error),
    #[error("a frame that is not a valid message: {0}")]
    Json(String),
    #[error("protocol version {got}; this broker speaks {VERSION}")]
    Version { got: u32 },
}

/// Encodes one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(msg).map_err(|e| FrameError::Json(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len() as u64));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    // MAX_FRAME fits in a u32.
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads one frame's body, after `have` bytes of it (the length prefix
/// first) already read. Never allocates more than [`MAX_FRAME`] bytes.
pub fn read_frame(r: &mut dyn Read, have: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut head = [0u8; 4];
    let pre = have.len().min(4);
    head[..pre].copy_from_slice(&have[..pre]);
    read_full(r, &mut head[pre..], pre, 4)?;
    let want = u32::from_be_bytes(head) as u64;
    if want > MAX_FRAME as u64 {
        return Err(FrameError::TooLarge(want));
    }
    let want = want as usize;
    let mut body = have[pre..].to_vec();
    if body.len() > want {
        return Err(FrameError::Json("bytes after the frame".into()));
    }
    // Grow by doubling, never past the declared length: what is allocated
    // follows what arrived, and stays within MAX_FRAME.
    let mut chunk = [0u8; 16 << 10];
    while body.len() < want {
        let n = (want - body.len()).min(chunk.len());
        let got = match r.read(&mut chunk[..n]) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FrameError::Io(e)),
        };
        if body.capacity() < body.len() + got {
            let target = (body.capacity() * 2).max(body.len() + got).min(want);
            body.reserve_exact(target - body.len());
        }
        body.extend_from_slice(&chunk[..got]);
    }
    if body.len() < want {
        return Err(FrameError::Short {
            got: body.len() + 4,
            want: want + 4,
        });
    }
    Ok(body)
}

fn read_full(
    r: &mut dyn Read,
    buf: &mut [u8],
    before: usize,
    want: usize,
) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if before + got == 0 => return Err(FrameError::Closed),
            Ok(0) => {
                return Err(FrameError::Short {
                    got: before + got,
                    want,
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

/// Decodes a frame's body as a message of this version.
pub fn decode<T: DeserializeOwned + Versioned>(body: &[u8]) -> Result<T, FrameError> {
    // The version first, so a newer client gets the version error, not a
    // complaint about a field it added.
    #[derive(Deserialize)]
    struct Only {
        version: u32,
    }
    let v: Only = serde_json::from_slice(body).map_err(|e| FrameError::Json(e.to_string()))?;
    if v.version != VERSION {
        return Err(FrameError::Version { got: v.version });
    }
    let msg: T = serde_json::from_slice(body).map_err(|e| FrameError::Json(e.to_string()))?;
    debug_assert_eq!(msg.version(), VERSION);
    Ok(msg)
}

/// A message that carries a protocol version.
pub trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for Request {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for Control {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for Response {
    fn version(&self) -> u32 {
        self.version
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req() -> Request {
        Request {
            version: VERSION,
            op: Op::Run {
                call: Call {
                    role: Some("files_agent".into()),
                    tool: "echo_text".into(),
                    param: vec!["text=hi".into()],
                    ..Call::default()
                },
                json: true,
                ask: Ask::Never,
                tty: false,
            },
        }
    }

    #[test]
    fn round_trip() {
        let frame = encode(&req()).unwrap();
        let body = read_frame(&mut &frame[..], &[]).unwrap();
        assert_eq!(decode::<Request>(&body).unwrap(), req());
        // The first bytes may have been read already (with the descriptors).
        let body = read_frame(&mut &frame[3..], &frame[..3]).unwrap();
        assert_eq!(decode::<Request>(&body).unwrap(), req());
        let body = read_frame(&mut &frame[9..], &frame[..9]).unwrap();
        assert_eq!(decode::<Request>(&body).unwrap(), req());
    }

    #[test]
    fn a_request_cannot_name_the_brokers_paths() {
        for key in ["profiles", "state_dir", "audit_log"] {
            let mut v = serde_json::to_value(req()).unwrap();
            v["op"]["run"]["call"][key] = serde_json::json!("/tmp/mine");
            let e = decode::<Request>(&serde_json::to_vec(&v).unwrap()).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
            let mut v = serde_json::to_value(req()).unwrap();
            v[key] = serde_json::json!("/tmp/mine");
            assert!(decode::<Request>(&serde_json::to_vec(&v).unwrap()).is_err());
        }
    }

    #[test]
    fn bad_frames() {
        let big = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(
            read_frame(&mut &big[..], &[]),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            read_frame(&mut &[][..], &[]),
            Err(FrameError::Closed)
        ));
        assert!(matches!(
            read_frame(&mut &[0, 0][..], &[]),
            Err(FrameError::Short { .. })
        ));
        let half = [0, 0, 0, 10, b'{', b'"'];
        assert!(matches!(
            read_frame(&mut &half[..], &[]),
            Err(FrameError::Short { .. })
        ));
        let body = br#"{"version":2,"op":{"approvals":{"list":{"all":false,"json":false}}}}"#;
        assert!(matches!(
            decode::<Request>(body),
            Err(FrameError::Version { got: 2 })
        ));
        assert!(matches!(
            decode::<Request>(b"[1,2]"),
            Err(FrameError::Json(_))
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_nor_overallocate(bytes in proptest::collection::vec(any::<u8>(), 0..512), split in 0usize..8) {
            let split = split.min(bytes.len());
            if let Ok(body) = read_frame(&mut &bytes[split..], &bytes[..split]) {
                prop_assert!(body.capacity() <= MAX_FRAME);
                let _ = decode::<Request>(&body);
                let _ = decode::<Response>(&body);
            }
        }

        #[test]
        fn random_lengths_never_allocate_more_than_the_maximum(len in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = len.to_be_bytes().to_vec();
            bytes.extend_from_slice(&tail);
            match read_frame(&mut &bytes[..], &[]) {
                Ok(body) => prop_assert!(body.len() == len as usize && body.capacity() <= MAX_FRAME),
                Err(FrameError::TooLarge(n)) => prop_assert!(n > MAX_FRAME as u64),
                Err(FrameError::Short { got, .. }) => prop_assert!(got <= bytes.len()),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }

        #[test]
        fn random_json_never_panics(text in "\\PC{0,200}") {
            let _ = decode::<Request>(text.as_bytes());
        }
    }
}
