//! `agentjail audit verify | head | tail`: checking and reading the
//! hash-chained audit log written by [`crate::audit`].

use super::AppError;
use crate::audit;
use crate::audit::verify::{
    chain_head, default_series, open_read, parse_mark, settled_size, verify_files, ReadError,
    Verdict,
};
use crate::cli::{AuditCommand, Format};
use crate::run::Context;
use crate::text::printable;
use serde_json::{json, Value};
use std::collections::VecDeque;

use std::io::{BufRead, IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

/// `audit verify`: the chain is intact, but damage was mended.
const MENDED: i32 = 2;

/// Runs one `agentjail audit` command.
pub fn dispatch(ctx: &Context, cmd: &AuditCommand) -> Result<i32, AppError> {
    match cmd {
        AuditCommand::Verify {
            paths,
            head,
            after,
            format,
        } => verify(ctx, paths, head.as_deref(), after.as_deref(), *format),
        AuditCommand::Head { format } => head(ctx, *format),
        AuditCommand::Tail {
            follow,
            lines,
            role,
            session,
            risk,
            event,
            format,
        } => {
            let filter = Filter {
                role: role.clone(),
                session: session.clone(),
                risk: risk.clone(),
                event: event.clone(),
            };
            tail(ctx, *follow, *lines, &filter, *format)
        }
    }
}

fn log_path(ctx: &Context) -> Result<PathBuf, ReadError> {
    match &ctx.audit_log {
        Some(p) => Ok(p.clone()),
        None => Ok(audit::default_path()?),
    }
}

fn verify(
    ctx: &Context,
    paths: &[PathBuf],
    head: Option<&str>,
    after: Option<&str>,
    format: Format,
) -> Result<i32, AppError> {
    let head = head.map(|h| parse_mark("--head", h)).transpose()?;
    let after = after.map(|h| parse_mark("--after", h)).transpose()?;
    let paths = if paths.is_empty() {
        default_series(&log_path(ctx)?)
    } else {
        paths.to_vec()
    };
    let verdict = verify_files(&paths, after, head);
    let mut out = std::io::stdout().lock();
    let code = match &verdict {
        Verdict::Intact {
            records,
            first_seq,
            head,
            mended,
        } => {
            match format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    json!({
                        "intact": true,
                        "records": records,
                        "files": paths,
                        "first_seq": first_seq,
                        "head": {"seq": head.0, "hash": head.1},
                        "mended": mended.iter().map(|m| json!({
                            "path": m.path, "line": m.line, "lines": m.lines,
                            "bytes": m.bytes, "sha256": m.sha256, "cause": m.cause,
                            "by_seq": m.by_seq, "by_path": m.by_path, "by_line": m.by_line,
                        })).collect::<Vec<_>>(),
                    })
                ),
                Format::Text => writeln!(
                    out,
                    "intact: {records} records{} in {} file{}; head {}:{}",
                    first_seq
                        .map(|f| format!(" (seq {f}..{})", head.0))
                        .unwrap_or_default(),
                    paths.len(),
                    if paths.len() == 1 { "" } else { "s" },
                    head.0,
                    head.1
                ),
            }
            .map_err(AppError::Output)?;
            if format == Format::Text {
                for m in mended {
                    writeln!(
                        out,
                        "{}",
                        printable(&format!(
                            "mended: {} line {}: {} byte(s) in {} line(s) were not a whole record \
                             ({}; sha256 {}), mended by seq {} at {} line {}",
                            m.path.display(),
                            m.line,
                            m.bytes,
                            m.lines,
                            m.cause,
                            m.sha256,
                            m.by_seq,
                            m.by_path.display(),
                            m.by_line
                        ))
                    )
                    .map_err(AppError::Output)?;
                }
            }
            if mended.is_empty() {
                crate::exit::OK
            } else {
                MENDED
            }
        }
        Verdict::Broken(b) => {
            match format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    json!({
                        "intact": false,
                        "path": b.path,
                        "line": b.line,
                        "seq": b.seq,
                        "problem": b.problem,
                        "message": b.message,
                    })
                ),
                Format::Text => writeln!(
                    out,
                    "{}",
                    printable(&format!(
                        "broken: {}{}{}: {}: {}",
                        b.path.display(),
                        if b.line > 0 {
                            format!(" line {}", b.line)
                        } else {
                            String::new()
                        },
                        b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
                        b.problem,
                        b.message
                    ))
                ),
            }
            .map_err(AppError::Output)?;
            1
        }
    };
    Ok(code)
}

// --------------------------------------------------------------------------
// head
// --------------------------------------------------------------------------

fn head(ctx: &Context, format: Format) -> Result<i32, AppError> {
    let path = log_path(ctx)?;
    let (seq, hash) = chain_head(&path)?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", json!({"seq": seq, "hash": hash, "path": path})),
        Format::Text => writeln!(out, "{seq}:{hash}"),
    }
    .map_err(AppError::Output)?;
    Ok(crate::exit::OK)
}

// --------------------------------------------------------------------------
// tail
// --------------------------------------------------------------------------

/// Which records `tail` shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub role: Option<String>,
    pub session: Option<String>,
    pub risk: Option<String>,
    pub event: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.session.is_none() && self.risk.is_none() && self.event.is_none()
    }

    pub fn matches(&self, r: &Value) -> bool {
        let is = |key: &str, want: &Option<String>| {
            want.as_deref()
                .map_or(true, |w| r.get(key).and_then(Value::as_str) == Some(w))
        };
        is("role", &self.role)
            && is("session_id", &self.session)
            && is("risk_level", &self.risk)
            && is("event_type", &self.event)
    }
}

struct Style {
    colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// A decision's first reason (`RULE: MESSAGE`) as shown after the decision:
/// without its rule when that only repeats the decision (`needs_approval`,
/// `bad_parameter`) or the message's first word (`budget: budget exceeded`).
fn without_stutter<'a>(decision: &str, reason: &'a str) -> &'a str {
    match reason.split_once(": ") {
        Some((rule, message))
            if rule == decision
                || decision.strip_suffix('s') == Some(rule)
                || message.starts_with(rule) =>
        {
            message
        }
        _ => reason,
    }
}

/// One line for one record.
pub fn render_text(r: &Value, colour: bool) -> String {
    let style = Style { colour };
    let s = |k: &str| -> String {
        match r.get(k) {
            Some(Value::String(v)) => printable(v).replace('\n', "\\n"),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    };
    let event = s("event_type");
    let mut status = match event.as_str() {
        "decision" => {
            let d = s("decision");
            let code = match d.as_str() {
                "allow" => "32",
                "needs_approval" => "33",
                _ => "31",
            };
            let mut t = style.paint(code, &d);
            if r.get("severity").and_then(Value::as_str) == Some("critical") {
                t.push(' ');
                t.push_str(&style.paint("1;31", "CRITICAL"));
            }
            if r.get("dry_run").and_then(Value::as_bool) == Some(true) {
                t.push_str(" (check)");
            }
            if d != "allow" {
                if let Some(first) = r["reasons"].as_array().and_then(|a| a.first()) {
                    t.push_str(": ");
                    let first = without_stutter(&d, first.as_str().unwrap_or_default());
                    t.push_str(&printable(first).replace('\n', "\\n"));
                }
            }
            t
        }
        "tool_result" => {
            let res = s("result");
            let code = if res == "success" { "32" } else { "31" };
            let mut t = style.paint(code, &res);
            if let Some(ms) = r.get("duration_ms").and_then(Value::as_u64) {
                t.push_str(&format!(" {ms}ms"));
            }
            if r.get("oom_killed").and_then(Value::as_bool) == Some(true) {
                t.push_str(" oom");
            }
            t
        }
        "error" => style.paint("31", &format!("error: {}", s("error"))),
        _ => {
            let mut words = vec![s("approval_status"), s("result")];
            // An approval record's status and result are often the same word.
            words.dedup();
            words.retain(|x| !x.is_empty());
            words.join(" ")
        }
    };
    for (key, label) in [("agent_id", "agent"), ("session_id", "session")] {
        let v = s(key);
        if !v.is_empty() {
            status.push_str(&format!(" {label}={v}"));
        }
    }
    let risk = s("risk_level");
    format!(
        "{} {:>6} {:<11} {}/{}{} {}",
        s("timestamp"),
        format!("#{}", s("seq")),
        event,
        s("role"),
        s("tool"),
        if risk.is_empty() {
            String::new()
        } else {
            format!(" [{risk}]")
        },
        status
    )
}

fn tail(
    ctx: &Context,
    follow: bool,
    lines: usize,
    filter: &Filter,
    format: Format,
) -> Result<i32, AppError> {
    let path = log_path(ctx)?;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let emit = |line: &[u8], out: &mut std::io::StdoutLock| -> Result<(), AppError> {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            tracing::warn!("skipping a line of {} that is not JSON", path.display());
            return Ok(());
        };
        if !filter.matches(&v) {
            return Ok(());
        }
        match format {
            Format::Json => out.write_all(line).and_then(|()| out.write_all(b"\n")),
            Format::Text => writeln!(out, "{}", render_text(&v, colour)),
        }
        .map_err(AppError::Output)
    };
    let mut file = match open_read(&path) {
        Ok(f) => Some(f),
        Err(ReadError::Read { source, .. })
            if follow && source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut pos = 0u64;
    if let Some(f) = &mut file {
        let size = settled_size(f, &path)?;
        let read_err = |source| ReadError::Read {
            path: path.clone(),
            source,
        };
        // Stream the file; keep only the last `lines` matching lines.
        let mut reader = std::io::BufReader::with_capacity(1 << 20, f.take(size));
        let mut last: VecDeque<Vec<u8>> = VecDeque::with_capacity(lines.min(4096) + 1);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(read_err)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break; // the end, or an incomplete last line
            }
            pos += n as u64;
            line.pop();
            if line.is_empty() || lines == 0 {
                continue;
            }
            let wanted = filter.is_empty()
                || serde_json::from_slice::<Value>(&line).is_ok_and(|v| filter.matches(&v));
            if wanted {
                if last.len() == lines {
                    last.pop_front();
                }
                last.push_back(line.clone());
            }
        }
        let mut out = std::io::stdout().lock();
        for line in last {
            emit(&line, &mut out)?;
        }
    }
    if !follow {
        return Ok(crate::exit::OK);
    }
    let mut pending: Vec<u8> = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = std::fs::metadata(&path).ok();
        let reopened = match (&file, &now) {
            (Some(f), Some(m)) => f
                .metadata()
                .map(|fm| fm.ino() != m.ino() || fm.dev() != m.dev() || m.len() < pos)
                .unwrap_or(true),
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let mut out = std::io::stdout().lock();
        // Read what is left in the current file first (a rotated file may
        // still have gained its last lines).
        if let Some(f) = &mut file {
            let mut more = Vec::new();
            if f.seek(SeekFrom::Start(pos)).is_ok() && f.read_to_end(&mut more).is_ok() {
                pos += more.len() as u64;
                pending.extend_from_slice(&more);
                while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    let line = &line[..line.len() - 1];
                    if !line.is_empty() {
                        emit(line, &mut out)?;
                    }
                }
            }
        }
        if reopened {
            file = open_read(&path).ok();
            pos = 0;
            pending.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn marks_parse() {
        let m = parse_mark("--head", &format!("12:{}", audit::GENESIS)).unwrap();
        assert_eq!(m.seq, 12);
        for bad in ["12", "x:00", "1:abc", ""] {
            assert!(parse_mark("--head", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_lines_are_plain_without_a_terminal() {
        let r = json!({"timestamp": "2024-01-01T00:00:00.000Z", "seq": 3, "event_type": "decision",
            "role": "r", "tool": "t", "risk_level": "read", "decision": "deny",
            "reasons": ["tool: \u{1b}[31mbad"], "severity": "critical", "session_id": "S"});
        assert_eq!(
            render_text(&r, false),
            "2024-01-01T00:00:00.000Z     #3 decision    r/t [read] deny CRITICAL: tool: \\u{1b}[31mbad session=S"
        );
        assert!(render_text(&r, true).contains("\x1b[31mdeny\x1b[0m"));
    }
}
