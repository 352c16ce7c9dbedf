//! Text for people and for records: terminal-safe escaping, error chains,
//! shell quoting for commands shown to a user, and the time format of
//! state files and audit records. Base layer: imports nothing of the crate.

use std::time::SystemTime;

/// Makes text safe for a terminal: control characters other than newline
/// are shown as escapes, so a value cannot forge lines or colours.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An error with its causes joined by ": ", the way `main` prints them
/// (for JSON output and audit records, where there is no anyhow).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Quotes an argv element for display the way a POSIX shell would read it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        s.to_string()
    } else if s.chars().any(char::is_control) {
        // $'...' keeps control characters visible instead of sending them to the terminal.
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// At most `max` characters of `s`, with `…` and the full length when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}… ({} bytes)", s.len())
}

/// The time now, as the state files and audit records write it.
pub fn now_text() -> String {
    time_text(SystemTime::now())
}

/// A time as the state files and audit records write it (RFC 3339, milliseconds).
pub fn time_text(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting_table() {
        for (raw, shown) in [
            ("plain", "plain"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("", "''"),
            ("a\u{1b}[31mb\nargv: x", "$'a\\x1b[31mb\\nargv: x'"),
        ] {
            assert_eq!(shell_quote(raw), shown);
        }
    }
}
