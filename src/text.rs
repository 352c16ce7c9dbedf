//! Text for people and for records: terminal-safe escaping, error chains,
//! shell quoting for commands shown to a user, and the time format of
//! state files and audit records. Base layer: imports nothing of the crate.

use std::time::SystemTime;

/// Unicode format characters (general category Cf: bidi embeddings,
/// overrides and isolates, zero-width characters, the soft hyphen, the BOM,
/// tag characters, ...) and the line and paragraph separators. They are
/// invisible or reorder what a terminal shows, so a value could make a
/// human read something other than what runs.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// Makes text safe for a terminal: control characters other than newline,
/// and the format characters of [`is_hidden`], are shown as escapes
/// (`\u{1b}`, `\u{202e}`), so a value can neither forge lines or colours
/// nor reorder or hide what a human reads.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\n') || is_hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An error with its causes joined by ": ", the way `main` prints them
/// (for JSON output and audit records, where there is no anyhow). A cause
/// that the text already ends with is not added again: an error whose
/// message includes its source, and marks it as the source too, would
/// otherwise print it twice (agentjail's own errors do neither; this
/// guards the ones of other crates).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// For tests of error types: why `e`'s chain (as [`chain`] and anyhow's
/// `{:#}` print it) would repeat itself, if it would: an error whose message
/// contains its source's message, or one segment (between ": ") twice.
#[cfg(test)]
pub fn repeated_cause(e: &dyn std::error::Error) -> Option<String> {
    let mut raw = e.to_string();
    let mut level: &dyn std::error::Error = e;
    while let Some(s) = level.source() {
        let (outer, inner) = (level.to_string(), s.to_string());
        if !inner.is_empty() && outer.contains(&inner) {
            return Some(format!("{outer:?} contains its source {inner:?}"));
        }
        raw.push_str(": ");
        raw.push_str(&inner);
        level = s;
    }
    let segments: Vec<&str> = raw.split(": ").collect();
    segments.iter().enumerate().find_map(|(i, a)| {
        (a.len() > 3 && segments[i + 1..].contains(a)).then(|| format!("{raw:?} repeats {a:?}"))
    })
}

/// A count with its noun, singular for one: `1 role`, `2 roles`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Quotes an argv element for display the way a POSIX shell would read it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        s.to_string()
    } else if s.chars().any(|c| c.is_control() || is_hidden(c)) {
        // $'...' keeps control and format characters visible instead of
        // sending them to the terminal.
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && (c as u32) < 0x100 => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() || is_hidden(c) => match c as u32 {
                    n @ ..=0xffff => out.push_str(&format!("\\u{n:04x}")),
                    n => out.push_str(&format!("\\U{n:08x}")),
                },
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
    use super::{printable, shell_quote};

    #[test]
    fn printable_escapes_control_and_format_characters() {
        for (raw, shown) in [
            ("plain text\nnext", "plain text\nnext"),
            ("a\u{1b}[31mb", "a\\u{1b}[31mb"),
            ("tab\there", "tab\\there"),
            ("cr\rhere", "cr\\rhere"),
            ("safe\u{202e}exe.txt", "safe\\u{202e}exe.txt"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
            ),
            (
                "\u{2066}x\u{2067}y\u{2068}z\u{2069}",
                "\\u{2066}x\\u{2067}y\\u{2068}z\\u{2069}",
            ),
            (
                "zero\u{200b}width\u{200c}\u{200d}\u{2060}",
                "zero\\u{200b}width\\u{200c}\\u{200d}\\u{2060}",
            ),
            ("\u{200e}\u{200f}\u{61c}", "\\u{200e}\\u{200f}\\u{61c}"),
            ("soft\u{ad}hyphen\u{feff}", "soft\\u{ad}hyphen\\u{feff}"),
            ("line\u{2028}sep\u{2029}", "line\\u{2028}sep\\u{2029}"),
            ("tag\u{e0041}", "tag\\u{e0041}"),
            ("c1\u{85}\u{9b}", "c1\\u{85}\\u{9b}"),
            (
                "caf\u{e9} \u{444}\u{430}\u{439}\u{43b}",
                "caf\u{e9} \u{444}\u{430}\u{439}\u{43b}",
            ),
        ] {
            assert_eq!(printable(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn quoting_table() {
        for (raw, shown) in [
            ("plain", "plain"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("", "''"),
            ("a\u{1b}[31mb\nargv: x", "$'a\\x1b[31mb\\nargv: x'"),
            ("a\u{202e}b", "$'a\\u202eb'"),
            ("z\u{200b}", "$'z\\u200b'"),
            ("t\u{e0041}", "$'t\\U000e0041'"),
        ] {
            assert_eq!(shell_quote(raw), shown);
        }
    }
}
