//! Text from the log on its way into markup. A log is hostile input: a target, detail or
//! reason may hold `<script>`, `]]>`, quotes, control characters (which XML forbids even
//! as references) or a secret. Every such string passes through [`text`] once: redacted,
//! control characters shown as `\xNN`, then `& < > " '` as entities, so the page stays
//! well-formed XML and no text becomes markup.

use mobius_core::redact::redact_text;
use mobius_core::text::escape_str;

/// `s` as it may stand in element content or an attribute value.
pub fn text(s: &str) -> String {
    let shown = escape_str(&redact_text(s));
    let mut out = String::with_capacity(shown.len() + 8);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not control characters to Rust, but not allowed in XML 1.0 either.
            '\u{fffe}' | '\u{ffff}' => out.push_str("\\ufffe"),
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_controls_are_neutralised() {
        let s = text("<script>alert(1)</script> ]]> \u{1b}[2J \"q\" 'a' & \u{0}");
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('\u{1b}'));
        assert!(s.contains("&lt;script&gt;") && s.contains("]]&gt;"));
        assert!(s.contains("\\x1b") && s.contains("\\x00"));
    }
}
