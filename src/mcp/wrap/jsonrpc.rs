//! Line-delimited JSON-RPC framing for the stdio transport: a reader that
//! never holds more than one message's bound in memory, and the messages
//! the firewall writes itself (errors and refused tool results).
//!
//! Messages are kept as `serde_json::Value` so that every field the
//! firewall does not look at (`_meta`, extensions, fields of a newer
//! protocol revision) passes through exactly as sent.

use serde_json::{json, Value};
use std::io::{BufRead, Write};

/// JSON-RPC error codes the firewall answers with.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// One read from a stream.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// One line, without its newline.
    Line(Vec<u8>),
    /// A line over the bound: its first bytes were read and the rest
    /// skipped up to the newline; nothing of it is kept.
    TooLarge(usize),
    /// End of stream; `partial` bytes of a last line without newline were dropped.
    Eof { partial: usize },
}

/// Reads newline-delimited messages of at most `max` bytes each.
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader { inner, max }
    }

    pub fn next_frame(&mut self) -> std::io::Result<Frame> {
        let mut line: Vec<u8> = Vec::new();
        let mut skipped = 0usize;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(Frame::Eof {
                    partial: line.len() + skipped,
                });
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if skipped > 0 || line.len() + chunk.len() > self.max {
                skipped += line.len() + chunk.len();
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
            let used = done.unwrap_or(buf.len());
            self.inner.consume(used);
            if done.is_some() {
                if skipped > 0 {
                    return Ok(Frame::TooLarge(skipped));
                }
                // A CR before the newline is tolerated; blank lines are skipped.
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    line.clear();
                    continue;
                }
                return Ok(Frame::Line(line));
            }
        }
    }
}

/// Writes one message as one line and flushes it.
pub fn write_message(out: &mut dyn Write, msg: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    text.push(b'\n');
    out.write_all(&text)?;
    out.flush()
}

/// A JSON-RPC error response.
pub fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A tools/call result the firewall gives instead of the server: the
/// reason as text, `isError` set.
pub fn refused_result(id: &Value, reason: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": {
            "content": [{"type": "text", "text": format!("agentjail: {reason}")}],
            "isError": true
        }
    })
}

/// What kind of JSON-RPC message a value is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    Request { method: &'a str },
    Notification { method: &'a str },
    Response,
    Invalid(&'static str),
}

pub fn kind(msg: &Value) -> Kind<'_> {
    let Some(obj) = msg.as_object() else {
        return Kind::Invalid("a message must be a JSON object");
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Kind::Invalid("jsonrpc must be \"2.0\"");
    }
    let id_ok = |v: &Value| v.is_string() || v.is_i64() || v.is_u64();
    match (obj.get("method"), obj.get("id")) {
        (Some(Value::String(m)), None) => Kind::Notification { method: m },
        (Some(Value::String(m)), Some(id)) if id_ok(id) => Kind::Request { method: m },
        (Some(Value::String(_)), Some(_)) => Kind::Invalid("id must be a string or an integer"),
        (Some(_), _) => Kind::Invalid("method must be a string"),
        (None, Some(id))
            if id_ok(id) && (obj.contains_key("result") ^ obj.contains_key("error")) =>
        {
            Kind::Response
        }
        (None, _) => Kind::Invalid("neither a request, a notification nor a response"),
    }
}

/// The key a request id is tracked under (`1` and `"1"` differ).
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = LineReader::new(std::io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        loop {
            let f = r.next_frame().unwrap();
            let end = matches!(f, Frame::Eof { .. });
            out.push(f);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn lines_oversized_and_half_sent() {
        let f = frames(b"{\"a\":1}\r\n\n0123456789abc\n{}\n{\"half", 8);
        assert_eq!(
            f,
            [
                Frame::Line(b"{\"a\":1}".to_vec()),
                Frame::TooLarge(13),
                Frame::Line(b"{}".to_vec()),
                Frame::Eof { partial: 6 },
            ]
        );
    }

    #[test]
    fn kinds() {
        let k = |s: &str| {
            let v: Value = serde_json::from_str(s).unwrap();
            format!("{:?}", kind(&v))
        };
        assert!(k(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).starts_with("Request"));
        assert!(k(r#"{"jsonrpc":"2.0","method":"x"}"#).starts_with("Notification"));
        assert_eq!(k(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#), "Response");
        assert!(k(r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#).starts_with("Invalid"));
        assert!(k(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).starts_with("Invalid"));
        assert!(k(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#).starts_with("Invalid"));
        assert!(k("[1]").starts_with("Invalid"));
    }
}
