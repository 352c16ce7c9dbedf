//! The forms of a text that screening matches against. An agent that wants
//! past a pattern spaces it out (`rm  -rf`), hides it in comments
//! (`DROP/**/TABLE`), in shell syntax (`rm${IFS}-rf`), behind invisible or
//! look-alike characters (a soft hyphen, a Cyrillic `о`, fullwidth letters).
//! [`views`] gives the text as sent plus its normal forms, so a pattern
//! written for the plain text matches every disguise of it.
//!
//! Screening is a defence in depth, not a boundary: no normal form can know
//! every language a tool speaks. What a tool may do is bounded by its
//! parameter specs, the role's data access and the sandbox.

use unicode_normalization::UnicodeNormalization;

/// The text as sent, then its normal form, then the normal form with SQL
/// comments removed (when that differs). Matching any view is a hit.
///
/// The normal form is: Unicode NFKC; format characters (zero-width, soft
/// hyphen, bidi controls: `crate::text::is_hidden`) and other invisible
/// marks removed; lower case; the common look-alikes of Latin letters,
/// quotes and dashes mapped to them; `${IFS}` and `$IFS` read as a space;
/// empty quotes (`''`, `""`) and backslashes before letters removed; runs of
/// white space collapsed to one space; no space just inside `<` and `>`.
pub fn views(text: &str) -> Vec<String> {
    let folded = fold(text);
    let normal = collapse(&folded);
    let uncommented = collapse(&strip_sql_comments(&folded));
    let mut out = vec![text.to_string()];
    for v in [normal, uncommented] {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The normal form of [`views`], without the SQL comment removal.
pub fn normal_form(text: &str) -> String {
    collapse(&fold(text))
}

/// The normal form before white space is collapsed.
fn fold(text: &str) -> String {
    let folded: String = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.nfkc()
            .filter(|&c| !invisible(c))
            .flat_map(char::to_lowercase)
            .map(latin_look_alike)
            .collect()
    };
    shell_words(&folded)
}

/// Characters that show nothing: format characters, combining grapheme
/// joiner, variation selectors, Hangul fillers.
fn invisible(c: char) -> bool {
    crate::text::is_hidden(c)
        || matches!(
            c,
            '\u{34f}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{3164}'
                | '\u{ffa0}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{e0100}'..='\u{e01ef}'
        )
}

/// The Latin letter (or ASCII mark) that a lower-case Cyrillic, Greek or
/// Armenian letter, or a typographic quote or dash, is commonly mistaken
/// for. Fullwidth and mathematical letters are already Latin after NFKC.
fn latin_look_alike(c: char) -> char {
    match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'п' => 'n',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' => 't',
        'ц' => 'u',
        'ѵ' => 'v',
        'ԝ' | 'ѡ' => 'w',
        'х' => 'x',
        'у' | 'ү' => 'y',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ϲ' => 'c',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' | 'σ' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'γ' => 'y',
        'ζ' => 'z',
        // Armenian
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        // Quotes, dashes, slashes and the like
        '‘' | '’' | '‚' | '‛' | '′' | 'ʼ' => '\'',
        '“' | '”' | '„' | '‟' | '″' => '"',
        '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '⁃' => '-',
        '∕' | '⁄' => '/',
        'ǀ' | '∣' => '|',
        other => other,
    }
}

/// Reads the shell's word-splitting tricks as what they stand for.
fn shell_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest
            .strip_prefix("${ifs}")
            .or_else(|| rest.strip_prefix("$ifs"))
        {
            out.push(' ');
            // `$IFS$9`: an empty positional parameter ends the name.
            let b = after.as_bytes();
            rest = if b.len() >= 2 && b[0] == b'$' && b[1].is_ascii_digit() {
                &after[2..]
            } else {
                after
            };
            continue;
        }
        if rest.starts_with("''") || rest.starts_with("\"\"") {
            rest = &rest[2..];
            continue;
        }
        if c == '\\' && rest[1..].starts_with(|n: char| n.is_alphanumeric()) {
            rest = &rest[1..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Removes `/* ... */` (an unterminated one to the end) and `-- ...` up to a
/// line break, each read as a space.
fn strip_sql_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix("/*") {
            out.push(' ');
            rest = body.find("*/").map_or("", |end| &body[end + 2..]);
        } else if let Some(body) = rest.strip_prefix("--") {
            match body.find('\n') {
                Some(end) => {
                    out.push(' ');
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("--");
                    rest = body;
                }
            }
        } else {
            let Some(c) = rest.chars().next() else { break };
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Runs of white space become one space; no space right inside `<`, `</`
/// and `>`.
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        let after_open = out.ends_with('<') || out.ends_with("</");
        if space && !out.is_empty() && !after_open && c != '>' {
            out.push(' ');
        }
        space = false;
        if c == '/' && out.ends_with("< ") {
            out.pop();
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms_table() {
        for (raw, normal) in [
            ("rm  -rf /", "rm -rf /"),
            ("rm\t-rf\n/", "rm -rf /"),
            ("RM -RF", "rm -rf"),
            ("rm${IFS}-rf${IFS}/", "rm -rf /"),
            ("rm$IFS$9-rf", "rm -rf"),
            ("r''m -r\"\"f", "rm -rf"),
            ("r\\m -rf", "rm -rf"),
            ("ign\u{43e}re", "ignore"),
            ("\u{410}DMIN", "admin"),
            ("ig\u{ad}nore", "ignore"),
            ("ig\u{200b}no\u{200d}re\u{2060}", "ignore"),
            ("a\u{202e}b\u{2066}c\u{2069}", "abc"),
            ("\u{ff52}\u{ff4d} -rf", "rm -rf"),
            ("\u{1d42b}\u{1d426}", "rm"),
            ("you\u{2019}re now", "you're now"),
            ("rm \u{2014}rf", "rm -rf"),
            ("< system >", "<system>"),
            ("< / system >", "</system>"),
            ("a < b", "a <b"),
            ("\u{a0}x\u{3000}y", "x y"),
            ("plain text", "plain text"),
        ] {
            assert_eq!(normal_form(raw), normal, "{raw:?}");
        }
    }

    #[test]
    fn sql_comments_are_a_view_of_their_own() {
        for (raw, view) in [
            ("DROP/**/TABLE t", "drop table t"),
            ("DROP/* x */TABLE t", "drop table t"),
            ("drop -- x\n table t", "drop table t"),
            ("drop/* unterminated", "drop"),
        ] {
            let v = views(raw);
            assert!(v.iter().any(|x| x == view), "{raw:?}: {v:?}");
        }
        // Without a line break `--` is kept: it is an option, not a comment.
        assert_eq!(views("rm --recursive --force"), ["rm --recursive --force"]);
        // Both forms are kept when a line break follows options.
        let v = views("rm --recursive --force\nx");
        assert!(v.iter().any(|x| x == "rm --recursive --force x"), "{v:?}");
    }
}
