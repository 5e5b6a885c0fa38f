//! Making text safe in each output format. After `vocabulary` no client
//! string should reach a report, but every format still escapes everything
//! it prints, so a gap in the vocabulary cannot become an injection.

/// HTML text and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Markdown inline text (CommonMark + GFM tables): every ASCII punctuation
/// character is backslash-escaped, so no HTML, link, image, emphasis,
/// heading, list marker, entity or table pipe can form; line breaks and
/// other control characters (and U+2028/2029) become spaces, so a value can
/// never start a new line. `:` is escaped too, which breaks GFM's bare-URL
/// autolinks (`https://…`, `www.…` need an unescaped `:` or `.`).
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
            out.push(c);
        } else if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// Markdown for this program's own prose: only the characters that could
/// start markup in running text are escaped, so it stays readable as text.
pub fn markdown_prose(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\`*_[]<>|&#!".contains(c) {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// One CSV cell (RFC 4180), neutralised against formula injection as OWASP
/// describes: a cell starting with `=`, `+`, `-`, `@`, tab or CR gets a
/// leading `'`. A cell that is exactly a number (which this program writes
/// itself) is left as a number.
pub fn csv(s: &str) -> String {
    let is_number = {
        let digits = s.strip_prefix('-').unwrap_or(s);
        !digits.is_empty()
            && digits.bytes().filter(|b| *b == b'.').count() <= 1
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && !digits.starts_with('.')
            && !digits.ends_with('.')
    };
    let cell = if !is_number && s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if cell.contains([',', '"', '\n', '\r', '\t']) || cell.starts_with('\'') {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_formulas_are_neutralised() {
        for (input, want) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("+cmd|' /C calc'!A0", "\"'+cmd|' /C calc'!A0\""),
            ("-2+3", "\"'-2+3\""),
            ("@SUM(1+1)", "\"'@SUM(1+1)\""),
            ("\t=1", "\"'\t=1\""),
            ("\r=1", "\"'\r=1\""),
            ("a,b", "\"a,b\""),
            ("plain", "plain"),
            ("12", "12"),
            ("-0.25", "-0.25"),
            ("-", "\"'-\""),
            ("-1-1", "\"'-1-1\""),
        ] {
            assert_eq!(csv(input), want, "{input:?}");
        }
    }

    /// Every ASCII punctuation character is escaped by the backslash before
    /// it (which is itself escaped when it is data).
    pub fn inert_markdown(out: &str) -> bool {
        let mut chars = out.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if !chars.next().is_some_and(|n| n.is_ascii_punctuation()) {
                    return false;
                }
            } else if c.is_ascii_punctuation() || c.is_control() {
                return false;
            }
        }
        true
    }

    #[test]
    fn markdown_cannot_form_markup() {
        let out = markdown("<img src=x onerror=alert(1)>|[a](http://e.vil)\n# H ![p](x) <!-- `c` &amp; www.e.vil \\");
        assert!(!out.contains('\n'));
        assert!(inert_markdown(&out), "{out}");
        assert!(!inert_markdown("a <b"));
        assert!(!inert_markdown("a \\\\<b"));
        assert_eq!(markdown("App Created"), "App Created");
        assert_eq!(markdown("a\u{2028}b\rc"), "a b c");
    }

    #[test]
    fn html_is_inert() {
        assert_eq!(html("<script>'\"&"), "&lt;script&gt;&#39;&quot;&amp;");
    }
}
