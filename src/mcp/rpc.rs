//! JSON-RPC 2.0 over MCP's stdio transport, one message per line, for both
//! MCP front-ends: the protocol versions they speak, the framing, and the
//! messages they write themselves.
//!
//! [`LineBuffer`] splits input into lines with a bound: a longer line is
//! skipped to its end without being kept, so no peer can make agentjail
//! allocate more than the bound. `mcp serve` feeds it from a poll loop;
//! [`LineReader`] is the same splitting over a blocking reader (`mcp wrap`).
//! [`parse`] turns one line into a [`Message`] or the JSON-RPC error to
//! answer with (`mcp serve`); [`kind`] classifies a message kept as a JSON
//! value, so that fields nobody looks at pass unchanged (`mcp wrap`).
//! Neither ever panics on any input.

use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io::{Read, Write};

/// The protocol version preferred, and every version spoken, newest first.
pub const LATEST_PROTOCOL: &str = PROTOCOL_VERSIONS[0];
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The largest message a role's MCP sessions read or write (`[mcp]
/// max_message_size`, both front-ends); `Err` names the bad setting.
pub fn max_message(role: &crate::profile::Role) -> Result<usize, String> {
    crate::units::parse_size(&role.mcp.max_message_size)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{:?} is not a size", role.mcp.max_message_size))
}

/// JSON-RPC error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// An implementation-defined server error (-32000 to -32099): too many
/// requests waiting.
pub const SERVER_BUSY: i64 = -32000;

/// One line from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(Vec<u8>),
    /// Longer than the bound; its bytes were dropped.
    TooLong(usize),
}

/// Splits what arrives on stdin into lines of at most `max` bytes, without
/// ever blocking: the server feeds it whatever one `read` returned, so it
/// can watch stdin while a call runs.
pub struct LineBuffer {
    max: usize,
    partial: Vec<u8>,
    /// Bytes of the current line already dropped (it is over `max`).
    dropped: usize,
}

impl LineBuffer {
    pub fn new(max: usize) -> Self {
        LineBuffer {
            max,
            partial: Vec::new(),
            dropped: 0,
        }
    }

    /// The complete lines in `data` (and what came before it), without
    /// their newlines.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<Line> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let (chunk, done) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (&data[..i], true),
                None => (data, false),
            };
            data = &data[chunk.len() + usize::from(done)..];
            if self.dropped == 0 && self.partial.len() + chunk.len() <= self.max {
                self.partial.extend_from_slice(chunk);
            } else {
                self.dropped += self.partial.len() + chunk.len();
                self.partial = Vec::new();
            }
            if done {
                out.push(self.take());
            }
        }
        out
    }

    /// At the end of input: a last line without its newline, if any.
    pub fn finish(&mut self) -> Option<Line> {
        (self.dropped > 0 || !self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Line {
        let line = match self.dropped {
            0 => Line::Text(std::mem::take(&mut self.partial)),
            n => Line::TooLong(n),
        };
        self.dropped = 0;
        line
    }
}

/// One read from a blocking stream ([`LineReader`]).
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// One line, without its newline (nor a CR before it); never blank.
    Line(Vec<u8>),
    /// A line over the bound: nothing of it is kept.
    TooLarge(usize),
    /// End of stream; `partial` bytes of a last line without newline were dropped.
    Eof { partial: usize },
}

/// A [`LineBuffer`] over a blocking reader: blank lines are skipped, a
/// half-sent last line is dropped.
pub struct LineReader<R> {
    inner: R,
    lines: LineBuffer,
    ready: VecDeque<Line>,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            lines: LineBuffer::new(max),
            ready: VecDeque::new(),
            eof: false,
        }
    }

    pub fn next_frame(&mut self) -> std::io::Result<Frame> {
        let mut chunk = [0u8; 16384];
        loop {
            match self.ready.pop_front() {
                Some(Line::TooLong(n)) => return Ok(Frame::TooLarge(n)),
                Some(Line::Text(mut line)) => {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if !line.iter().all(u8::is_ascii_whitespace) {
                        return Ok(Frame::Line(line));
                    }
                    continue;
                }
                None if self.eof => return Ok(Frame::Eof { partial: 0 }),
                None => {}
            }
            let n = match self.inner.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                let partial = match self.lines.finish() {
                    Some(Line::Text(t)) => t.len(),
                    Some(Line::TooLong(n)) => n,
                    None => 0,
                };
                return Ok(Frame::Eof { partial });
            }
            self.ready.extend(self.lines.feed(&chunk[..n]));
        }
    }
}

/// A parsed message.
#[derive(Debug, PartialEq)]
pub enum Message {
    /// A request: it gets exactly one response.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification: no response.
    Notification { method: String, params: Value },
    /// A response from the client, to a request of the server's
    /// (`elicitation/create`): its id and its `result` (null for an error).
    Response { id: Value, result: Value },
    /// A blank line: ignored.
    Empty,
}

/// A JSON-RPC error to send back, with the id it answers (null when the
/// request's id could not be read).
#[derive(Debug, PartialEq)]
pub struct RpcError {
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(id: Value, code: i64, message: impl Into<String>) -> Self {
        RpcError {
            id,
            code,
            message: message.into(),
        }
    }
}

/// Parses one line.
pub fn parse(line: &[u8]) -> Result<Message, RpcError> {
    let text = match std::str::from_utf8(line) {
        Ok(t) => t.trim(),
        Err(_) => {
            return Err(RpcError::new(
                Value::Null,
                PARSE_ERROR,
                "parse error: not UTF-8",
            ))
        }
    };
    if text.is_empty() {
        return Ok(Message::Empty);
    }
    let v: Value = serde_json::from_str(text).map_err(|e| {
        RpcError::new(
            Value::Null,
            PARSE_ERROR,
            format!("parse error: {}", crate::text::shorten(&e.to_string(), 200)),
        )
    })?;
    let Value::Object(m) = v else {
        let what = if v.is_array() {
            "batches are not supported (MCP 2025-06-18 and later send one message per line)"
        } else {
            "a message must be a JSON object"
        };
        return Err(RpcError::new(Value::Null, INVALID_REQUEST, what));
    };
    message(m)
}

fn message(mut m: Map<String, Value>) -> Result<Message, RpcError> {
    let id = m.remove("id");
    let answer_id = match &id {
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        _ => Value::Null,
    };
    if m.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(RpcError::new(
            answer_id,
            INVALID_REQUEST,
            "invalid request: `jsonrpc` must be \"2.0\"",
        ));
    }
    let Some(method) = m.remove("method") else {
        if m.contains_key("result") || m.contains_key("error") {
            return Ok(Message::Response {
                id: id.unwrap_or(Value::Null),
                result: m.remove("result").unwrap_or(Value::Null),
            });
        }
        return Err(RpcError::new(
            answer_id,
            INVALID_REQUEST,
            "invalid request: no `method`",
        ));
    };
    let Value::String(method) = method else {
        return Err(RpcError::new(
            answer_id,
            INVALID_REQUEST,
            "invalid request: `method` must be a string",
        ));
    };
    let params = m.remove("params").unwrap_or(Value::Null);
    if !matches!(params, Value::Object(_) | Value::Null) {
        return Err(RpcError::new(
            answer_id,
            INVALID_PARAMS,
            "invalid params: `params` must be an object",
        ));
    }
    match id {
        None => Ok(Message::Notification { method, params }),
        Some(Value::String(_) | Value::Number(_)) => Ok(Message::Request {
            id: answer_id,
            method,
            params,
        }),
        Some(_) => Err(RpcError::new(
            Value::Null,
            INVALID_REQUEST,
            "invalid request: `id` must be a string or a number",
        )),
    }
}

/// Writes one message as a line and flushes it.
pub fn send(out: &mut dyn Write, v: &Value) -> std::io::Result<()> {
    // serde_json escapes control characters, so the line holds no newline.
    let mut line = serde_json::to_vec(v)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error(e: &RpcError) -> Value {
    error_response(&e.id, e.code, &e.message)
}

/// A JSON-RPC error response.
pub fn error_response(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A tools/call result agentjail gives instead of running the tool: the
/// reason as text, `isError` set.
pub fn refused_result(id: &Value, reason: &str) -> Value {
    result(
        id,
        json!({
            "content": [{"type": "text", "text": format!("agentjail: {reason}")}],
            "isError": true
        }),
    )
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

    /// Feeds `input` in pieces of `step` bytes.
    fn lines(input: &[u8], max: usize, step: usize) -> Vec<Line> {
        let mut b = LineBuffer::new(max);
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            out.extend(b.feed(piece));
        }
        out.extend(b.finish());
        out
    }

    #[test]
    fn lines_are_split_and_bounded_however_they_arrive() {
        let want = vec![
            Line::Text(b"ab".to_vec()),
            Line::TooLong(10),
            Line::Text(b"cd".to_vec()),
            Line::Text(Vec::new()),
            Line::Text(b"last".to_vec()),
        ];
        for step in [1, 2, 3, 5, 100] {
            assert_eq!(
                lines(b"ab\n0123456789\ncd\n\nlast", 5, step),
                want,
                "step {step}"
            );
        }
        assert_eq!(lines(b"", 5, 1), vec![]);
        assert_eq!(lines(b"0123456789", 5, 4), vec![Line::TooLong(10)]);
        assert_eq!(lines(b"12345\n", 5, 1), vec![Line::Text(b"12345".to_vec())]);
    }

    #[test]
    fn requests_notifications_and_responses() {
        let r = parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert_eq!(
            r,
            Message::Request {
                id: json!(1),
                method: "ping".into(),
                params: Value::Null
            }
        );
        let n = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(n, Message::Notification { .. }));
        let x = parse(br#"{"jsonrpc":"2.0","id":"a","result":{"x":1}}"#).unwrap();
        assert_eq!(
            x,
            Message::Response {
                id: json!("a"),
                result: json!({"x": 1})
            }
        );
        let e = parse(br#"{"jsonrpc":"2.0","id":"b","error":{"code":1,"message":"no"}}"#);
        assert_eq!(
            e.unwrap(),
            Message::Response {
                id: json!("b"),
                result: Value::Null
            }
        );
        assert_eq!(parse(b"  ").unwrap(), Message::Empty);
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        let cases: &[(&[u8], i64, Value)] = &[
            (b"{", PARSE_ERROR, Value::Null),
            (b"\xff\xfe", PARSE_ERROR, Value::Null),
            (b"[1,2]", INVALID_REQUEST, Value::Null),
            (b"42", INVALID_REQUEST, Value::Null),
            (br#"{"id":3,"method":"ping"}"#, INVALID_REQUEST, json!(3)),
            (br#"{"jsonrpc":"2.0","id":3}"#, INVALID_REQUEST, json!(3)),
            (
                br#"{"jsonrpc":"2.0","id":3,"method":7}"#,
                INVALID_REQUEST,
                json!(3),
            ),
            (
                br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                br#"{"jsonrpc":"2.0","id":4,"method":"ping","params":[1]}"#,
                INVALID_PARAMS,
                json!(4),
            ),
        ];
        for (input, code, id) in cases {
            let e = parse(input).unwrap_err();
            assert_eq!(e.code, *code, "{}", String::from_utf8_lossy(input));
            assert_eq!(&e.id, id, "{}", String::from_utf8_lossy(input));
        }
    }

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
    fn frames_oversized_blank_and_half_sent() {
        let f = frames(b"{\"a\":1}\r\n\n \n0123456789abc\n{}\n{\"half", 8);
        assert_eq!(
            f,
            [
                Frame::Line(b"{\"a\":1}".to_vec()),
                Frame::TooLarge(13),
                Frame::Line(b"{}".to_vec()),
                Frame::Eof { partial: 6 },
            ]
        );
        assert_eq!(frames(b"0123456789", 8), [Frame::Eof { partial: 10 }]);
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

    #[test]
    fn sent_lines_hold_one_message() {
        let mut out = Vec::new();
        send(&mut out, &json!({"text": "a\nb"})).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
