//! Secrets out of anything that leaves the machine (compliance exports, notifications):
//! values of keys named like a secret, and the userinfo of URLs (`scheme://user:pass@host`),
//! become [`REDACTED`].
//!
//! - JSON ([`redact_value`], [`redact_json_line`]): every object member whose key is named
//!   like a secret ([`is_secret_key`]) has its value replaced, at any depth, whatever its
//!   type; every other string is passed through [`redact_text`].
//! - Text ([`redact_text`]): URL userinfo, and `key=value` / `key: value` / `"key": "value"`
//!   where the key is named like a secret.
//!
//! Over-redacting is the safe failure: a key such as `token_count` loses its value too.

use serde_json::Value;
use std::borrow::Cow;

/// What a secret becomes.
pub const REDACTED: &str = "***REDACTED***";

/// Parts of key names that mark a secret (compared case-insensitively, `-` read as `_`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "credential",
    "webhook",
    "authorization",
];

/// True for a key whose value is a secret: it contains password, secret, token, api_key,
/// private_key, credential(s), webhook, authorization (any case; `-` or `_`).
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    SECRET_WORDS.iter().any(|w| k.contains(w))
}

/// A cheap test for text that may need redacting: it contains `@` (URL userinfo), `\`
/// (a JSON escape could spell a key), or one of the secret words in any case. False means
/// [`redact_text`] and [`redact_json_line`] would return it unchanged.
pub fn may_need_redaction(text: &str) -> bool {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let l = c.to_ascii_lowercase();
        match l {
            b'@' | b'\\' => return true,
            b'p' | b's' | b't' | b'a' | b'c' | b'w' => {
                let rest = &b[i..];
                if SECRET_WORDS.iter().any(|w| {
                    let w = w.as_bytes();
                    w[0] == l && rest.len() >= w.len() && eq_word(&rest[..w.len()], w)
                }) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Case-insensitive, with `-` in the text matching `_` in the word.
fn eq_word(text: &[u8], word: &[u8]) -> bool {
    text.iter().zip(word).all(|(&t, &w)| {
        let t = t.to_ascii_lowercase();
        t == w || (t == b'-' && w == b'_')
    })
}

/// Redacts a JSON value in place; returns whether anything changed.
pub fn redact_value(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            let mut changed = false;
            for (k, val) in map.iter_mut() {
                if is_secret_key(k) {
                    if !val.is_null() && val.as_str() != Some(REDACTED) {
                        *val = Value::String(REDACTED.to_owned());
                        changed = true;
                    }
                } else {
                    changed |= redact_value(val);
                }
            }
            changed
        }
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= redact_value(item);
            }
            changed
        }
        Value::String(s) => match redact_text(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(r) => {
                *s = r;
                true
            }
        },
        _ => false,
    }
}

/// Redacts one line of a JSON-lines file: a JSON line is parsed, redacted and re-serialized
/// (only when something changed; otherwise the line is returned as is, byte for byte); any
/// other line is redacted as text.
pub fn redact_json_line(line: &str) -> Cow<'_, str> {
    if !may_need_redaction(line) {
        return Cow::Borrowed(line);
    }
    let t = line.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(mut v) = serde_json::from_str::<Value>(line) {
            if !redact_value(&mut v) {
                return Cow::Borrowed(line);
            }
            if let Ok(s) = serde_json::to_string(&v) {
                return Cow::Owned(s);
            }
        }
    }
    redact_text(line)
}

/// Redacts free text: URL userinfo, and values after secret-named keys (`password=x`,
/// `token: x`, `"api_key": "x"`, `secret='x'`).
pub fn redact_text(text: &str) -> Cow<'_, str> {
    if !may_need_redaction(text) {
        return Cow::Borrowed(text);
    }
    match redact_userinfo(text) {
        Cow::Borrowed(_) => redact_key_values(text),
        Cow::Owned(s) => Cow::Owned(redact_key_values(&s).into_owned()),
    }
}

fn authority_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| {
            matches!(
                c,
                b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\'
            ) || c.is_ascii_whitespace()
        })
        .map_or(b.len(), |p| from + p)
}

/// `scheme://user:pass@host` → `scheme://***REDACTED***@host` (the whole userinfo: a lone
/// user part is often a token, as in `https://TOKEN@host`).
fn redact_userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains('@') || !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(p) = text[search..].find("://") {
        let start = search + p + 3;
        let end = authority_end(b, start);
        if let Some(at) = text[start..end].rfind('@') {
            let at = start + at;
            if at > start && &text[start..at] != REDACTED {
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
                copied = at;
            }
        }
        search = end.max(start);
    }
    if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// Values after secret-named keys in text.
fn redact_key_values(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !is_key_byte(b[i]) {
            i += 1;
            continue;
        }
        let ks = i;
        while i < b.len() && is_key_byte(b[i]) {
            i += 1;
        }
        if !is_secret_key(&text[ks..i]) {
            continue;
        }
        // After the key: an optional closing quote, spaces, `=` or `:`, spaces.
        let mut j = i;
        if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
            j += 1;
        }
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j >= b.len() || !(b[j] == b'=' || b[j] == b':') {
            continue;
        }
        j += 1;
        if j < b.len() && b[j] == b'/' {
            // `token://...` is a URL scheme, not an assignment.
            continue;
        }
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j >= b.len() {
            continue;
        }
        let (vs, ve, next) = match b[j] {
            q @ (b'"' | b'\'') => {
                let mut k = j + 1;
                while k < b.len() && b[k] != q {
                    if b[k] == b'\\' {
                        k += 1;
                    }
                    k += 1;
                }
                let ve = k.min(b.len());
                (j + 1, ve, (ve + 1).min(b.len()))
            }
            _ => {
                let mut k = j;
                while k < b.len()
                    && !b[k].is_ascii_whitespace()
                    && !matches!(b[k], b',' | b';' | b'&' | b'<' | b'>' | b'}' | b']' | b'"')
                {
                    k += 1;
                }
                (j, k, k)
            }
        };
        if ve > vs && &text[vs..ve] != REDACTED {
            out.push_str(&text[copied..vs]);
            out.push_str(REDACTED);
            copied = ve;
        }
        i = next.max(i);
    }
    if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "DB_PASSWORD",
            "client-secret",
            "api_token",
            "API-Key",
            "apikey",
            "private_key",
            "Credentials",
            "slack_webhook_url",
            "Authorization",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["user", "version", "host", "url", "dsn", "passive"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn json_values_nested_and_urls() {
        let mut v = json!({
            "user": "app",
            "password": "hunter2",
            "nested": {"deeper": [{"api_key": "K1"}, {"credentials": {"a": 1}}]},
            "dsn": "postgres://app:pw123@db:5432/x",
            "url": "https://tok@example.com/a?b=1",
            "plain": "http://example.com/health",
            "none": {"token": null},
        });
        assert!(redact_value(&mut v));
        let s = v.to_string();
        for canary in ["hunter2", "K1", "pw123", "tok@", "\"a\":1"] {
            assert!(!s.contains(canary), "{canary} in {s}");
        }
        assert_eq!(v["dsn"], "postgres://***REDACTED***@db:5432/x");
        assert_eq!(v["url"], "https://***REDACTED***@example.com/a?b=1");
        assert_eq!(v["plain"], "http://example.com/health");
        assert_eq!(v["nested"]["deeper"][1]["credentials"], REDACTED);
        assert!(v["none"]["token"].is_null());
        assert_eq!(v["user"], "app");
        assert!(!redact_value(&mut v), "idempotent");
    }

    #[test]
    fn lines_unchanged_are_returned_byte_for_byte() {
        let line = r#"{"type":"sample","ts":"2026-11-26T12:00:00.000Z","target":"http://127.0.0.1:8080/health","ok":true}"#;
        assert!(!may_need_redaction(line));
        assert!(matches!(redact_json_line(line), Cow::Borrowed(_)));
        // A secret word in a value, not a key: parsed, nothing to change, returned as is.
        let line = r#"{"detail": "invalid token",   "ok": false}"#;
        assert!(matches!(redact_json_line(line), Cow::Borrowed(_)));
        let line = r#"{"a":{"Token":"s3cr3t"}}"#;
        assert_eq!(
            redact_json_line(line),
            r#"{"a":{"Token":"***REDACTED***"}}"#
        );
        // An escaped key spelling a secret word is caught after parsing.
        let line = r#"{"pass\u0077ord":"s3cr3t"}"#;
        assert!(!redact_json_line(line).contains("s3cr3t"));
    }

    #[test]
    fn text_key_values_and_userinfo() {
        let cases = [
            ("password=hunter2 user=x", "password=***REDACTED*** user=x"),
            ("TOKEN: abc,next", "TOKEN: ***REDACTED***,next"),
            (
                r#"<prop name="x" api_key="k-9"/>"#,
                r#"<prop name="x" api_key="***REDACTED***"/>"#,
            ),
            (
                "connect to postgres://u:p@db/x failed",
                "connect to postgres://***REDACTED***@db/x failed",
            ),
            (r#""secret": "a\"b" }"#, r#""secret": "***REDACTED***" }"#),
            ("mail ops@example.com", "mail ops@example.com"),
            ("nothing here", "nothing here"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_text(input), want, "{input}");
        }
        assert_eq!(
            redact_text("a https://x:y@h1/ b ftp://z@h2 c"),
            "a https://***REDACTED***@h1/ b ftp://***REDACTED***@h2 c"
        );
        // Already redacted text stays as it is.
        let once = redact_text("password=x https://u:p@h").into_owned();
        assert_eq!(redact_text(&once), once);
    }

    #[test]
    fn non_json_line_is_redacted_as_text() {
        assert_eq!(
            redact_json_line("{not json password=pw1"),
            "{not json password=***REDACTED***"
        );
    }
}
