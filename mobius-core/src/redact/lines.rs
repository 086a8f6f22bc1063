//! Redaction of documents line by line (YAML, INI, .env, properties, XML, logs, files that
//! do not parse): each line goes through [`redact_text`], with the state that secrets
//! spanning lines need: inside a PEM private key, inside a YAML block scalar or nested value
//! under a secret key, inside an XML element named like a secret, and the `value:` after a
//! `name: DB_PASSWORD` line. A line that starts with a secret key (`password = a b c`,
//! `export TOKEN=x`, `secret: x # note`) loses everything after the `=` or `:`.

use super::redact_text;
use super::text::{pem_begin, pem_end, redact_xml, replace_ranges, value_span};
use super::{is_header_key, is_masked, is_secret_key, names_a_secret, REDACTED};
use std::borrow::Cow;

/// The state carried from one line to the next; feed it every line in order.
#[derive(Debug, Clone, Default)]
pub struct LineRedactor {
    /// Inside a PEM private key.
    pem: bool,
    /// Lines indented more than this column belong to a secret key's value (YAML).
    block: Option<usize>,
    /// Inside an XML element named like a secret, until the next tag.
    xml: bool,
    /// The column of a `name: <secret name>` key: a `value:` key there is a secret.
    pair: Option<(usize, u8)>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// A line that starts with a key: (column of the key, the key, offset just after the `=`
/// or `:`). Accepts `- key:`, `export KEY=`, `"key":`, `[key] =`-free INI and comments
/// (`# password=x` is still a secret written down).
fn leading_key(line: &str) -> Option<(usize, &str, usize)> {
    let b = line.as_bytes();
    let mut i = indent(line);
    while i < b.len() && matches!(b[i], b'#' | b';' | b'-' | b' ' | b'\t') {
        i += 1;
    }
    if line[i..].starts_with("export ") {
        i += 7;
    }
    let quoted = matches!(b.get(i), Some(b'"' | b'\''));
    if quoted {
        i += 1;
    }
    let ks = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'-' | b'.')) {
        i += 1;
    }
    if i == ks {
        return None;
    }
    let key = &line[ks..i];
    if quoted && matches!(b.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    match b.get(i) {
        Some(b'=' | b':') if !line[i + 1..].starts_with("//") => Some((ks, key, i + 1)),
        _ => None,
    }
}

impl LineRedactor {
    /// Redacts one line (without its line ending).
    pub fn line<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        if self.pem {
            if let Some(e) = pem_end(line, 0) {
                self.pem = false;
                let rest = &line[e..];
                return Cow::Owned(format!("{REDACTED}{}", self.line(rest)));
            }
            return Cow::Borrowed(REDACTED);
        }
        if let Some(col) = self.block {
            let t = line.trim();
            if t.is_empty() {
                return Cow::Borrowed(line);
            }
            if indent(line) > col || (indent(line) == col && t.starts_with("- ")) {
                return Cow::Owned(format!("{}{REDACTED}", &line[..indent(line)]));
            }
            self.block = None;
        }
        if self.xml {
            let (rest_at, closed) = match line.find('<') {
                Some(p) => (p, true),
                None => match line.to_ascii_lowercase().find("&lt;") {
                    Some(p) => (p, true),
                    None => (line.len(), false),
                },
            };
            if !closed {
                return Cow::Borrowed(REDACTED);
            }
            self.xml = false;
            let rest = &line[rest_at..];
            return Cow::Owned(format!("{REDACTED}{}", self.line(rest)));
        }
        let out = self.keyed(line);
        // State for the next lines, from what this line leaves open.
        if let Some((b, _)) = pem_begin(line, 0) {
            if pem_end(line, b).is_none() {
                self.pem = true;
            }
        }
        if redact_xml(line).1 {
            self.xml = true;
        }
        out
    }

    /// A line starting with a key: a secret key's whole value, a block opened by it, or the
    /// name half of a name/value pair; any other line as text.
    fn keyed<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        let Some((col, key, after)) = leading_key(line) else {
            self.pair = None;
            return redact_text(line);
        };
        let rest = line[after..].trim();
        let lower = key.to_ascii_lowercase();
        let pair_value = match self.pair.take() {
            Some((c, n)) if c == col => {
                let is_value = matches!(lower.as_str(), "value" | "val" | "data");
                if !is_value && n > 0 {
                    self.pair = Some((c, n - 1));
                }
                is_value
            }
            _ => false,
        };
        if matches!(lower.as_str(), "name" | "key" | "id")
            && names_a_secret(rest.trim_matches(['"', '\'']))
        {
            self.pair = Some((col, 3));
            return redact_text(line);
        }
        if !(pair_value || is_secret_key(key)) {
            return redact_text(line);
        }
        let block_indicator = rest.is_empty()
            || rest.starts_with('|')
            || rest.starts_with('>')
            || rest.starts_with('&')
            || rest.starts_with('#');
        if block_indicator {
            self.block = Some(col);
            if rest.is_empty() {
                return Cow::Borrowed(line);
            }
            return Cow::Owned(format!("{}{REDACTED}", &line[..after]));
        }
        let b = line.as_bytes();
        let mut vs = after;
        while vs < b.len() && (b[vs] == b' ' || b[vs] == b'\t') {
            vs += 1;
        }
        let quoted = matches!(b[vs], b'"' | b'\'' | b'{' | b'[');
        let (s, e) = if quoted {
            let (s, e, _) = value_span(b, vs, is_header_key(key));
            (s, e)
        } else {
            (vs, line.trim_end().len())
        };
        if e <= s || is_masked(&line[s..e]) {
            return redact_text(line);
        }
        let red = replace_ranges(line, &[(s, e)]).into_owned();
        match redact_text(&red) {
            Cow::Borrowed(_) => Cow::Owned(red),
            Cow::Owned(r) => Cow::Owned(r),
        }
    }
}

/// Redacts a multi-line text with a fresh [`LineRedactor`]; line endings are kept.
pub fn redact_lines(text: &str) -> Cow<'_, str> {
    let mut r = LineRedactor::default();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for piece in text.split_inclusive('\n') {
        let (body, end) = match piece.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match piece.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (piece, ""),
            },
        };
        let red = r.line(body);
        if let Cow::Owned(_) = red {
            changed = true;
        }
        out.push_str(&red);
        out.push_str(end);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}
