//! The one redaction engine of the MOBIUS tools: whatever leaves the machine or lands in a
//! shared file (export bundles, notifications, smoke records and JUnit reports, probe
//! samples, judge reasons, rollback records, monitor logs) passes through here first.
//!
//! - Keys ([`is_secret_key`]): one list for every tool and format: password, passwd,
//!   passphrase, pwd, secret, token, api_key/apikey, private_key, access/signing/encryption
//!   keys, credential(s), webhook, auth (not author/authority), authorization, cookie,
//!   session (any case; `-`, `.` and spaces read as `_`).
//! - JSON ([`redact_value`], [`redact_json_line`]): the whole value of a secret-named member
//!   at any depth, whatever its type; the `value` of `{"name": "<secret name>", "value": ..}`
//!   pairs; strings holding JSON are redacted as JSON, every other string as text.
//! - Text ([`redact_text`], module `text`): PEM private-key blocks (whole), URL userinfo,
//!   `Bearer <token>`, the whole value of Authorization/Proxy-Authorization/Cookie-style
//!   headers, `key=value` / `key: value` / `"key": "value"` with plain, backslash-escaped or
//!   `&quot;`-escaped quotes, and XML `<password>x</password>` (also `&lt;`-escaped).
//! - Documents ([`redact_document`], [`LineRedactor`], module `lines`): a config file of any
//!   format: JSON is parsed; anything else (YAML, INI, .env, XML, properties, files that do
//!   not parse) is redacted line by line with the state that multi-line secrets need: YAML
//!   block scalars and nested values under a secret key, PEM blocks, XML elements spanning
//!   lines, and `KEY = value to the end of the line`. Key files (`*.key`, `*.p12`, `id_rsa`,
//!   ...) never leave: their whole content is replaced.
//! - Known values ([`Redactor`]): values a tool knows to be secret (smoke's `--secret` and
//!   secret-named variables and captures) are masked wherever they appear, then the text rules
//!   run as well.
//!
//! Over-redacting is the safe failure: a key such as `token_count` loses its value too.

mod lines;
mod text;

#[cfg(test)]
mod tests;

pub use lines::{redact_lines, LineRedactor};
pub use text::redact_text;

use serde_json::Value;
use std::borrow::Cow;

/// What a secret becomes.
pub const REDACTED: &str = "***REDACTED***";

/// What a known secret value becomes ([`Redactor`]).
pub const MASK: &str = "***";

/// Parts of key names that mark a secret (compared case-insensitively, `-` `.` and spaces
/// read as `_`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "access_key",
    "accesskey",
    "signing_key",
    "encryption_key",
    "master_key",
    "client_key",
    "credential",
    "webhook",
    "authorization",
    "cookie",
    "session",
];

/// Keys that are secrets only when they are the whole name (`pass: x`), since as parts of
/// a name they are too common (`passive`, `compass`).
const SECRET_NAMES: &[&str] = &["pass", "jwt", "sid"];

/// Words whose presence makes text worth scanning (see [`may_need_redaction`]): every
/// secret word is found through one of them.
const TRIGGER_WORDS: &[&[u8]] = &[
    b"pass",
    b"pwd",
    b"secret",
    b"token",
    b"key",
    b"credential",
    b"webhook",
    b"auth",
    b"cookie",
    b"session",
    b"bearer",
    b"private",
    b"jwt",
    b"sid",
];

fn normalize(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '-' | '.' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// True for a key whose value is a secret, in every tool and format (see the module help).
pub fn is_secret_key(key: &str) -> bool {
    let k = normalize(key);
    let k = k.trim_matches('_');
    SECRET_WORDS.iter().any(|w| k.contains(w)) || SECRET_NAMES.contains(&k) || has_auth(k)
}

/// `auth`, `x_auth_token`, `oauth`, `basic_auth`, but not `author` or `authority`.
fn has_auth(k: &str) -> bool {
    k.match_indices("auth")
        .any(|(i, _)| !k[i + 4..].starts_with("or"))
}

/// Headers whose whole value is the secret, spaces and all (`Authorization: Basic x`,
/// `Cookie: a=1; b=2`).
pub fn is_header_key(key: &str) -> bool {
    let k = normalize(key);
    k.contains("authorization") || k.contains("cookie")
}

/// A cheap test for text that may need redacting: it contains `@` (URL userinfo), `\` or
/// `&` (an escape could spell a key), or one of the trigger words in any case. False means
/// [`redact_text`] and [`redact_json_line`] would return it unchanged.
pub fn may_need_redaction(text: &str) -> bool {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        // One table look-up per byte: most bytes start no trigger word, and those that do
        // are checked against only the words they start (this runs on every exported line).
        let words = TRIGGER_STARTS[usize::from(c)];
        if words == 0 {
            continue;
        }
        if words == ALWAYS {
            return true;
        }
        // Every word has at least 3 letters: none starts at the last byte.
        let Some(&next) = b.get(i + 1) else {
            return false;
        };
        let rest = &b[i..];
        let mut m = words & TRIGGER_SECONDS[usize::from(next)];
        while m != 0 {
            let w = TRIGGER_WORDS[m.trailing_zeros() as usize];
            if rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w) {
                return true;
            }
            m &= m - 1;
        }
    }
    false
}

/// In [`TRIGGER_STARTS`]: the byte itself is reason enough (`@`, a backslash, `&`).
const ALWAYS: u32 = u32::MAX;

/// For each byte, the trigger words (bit i: `TRIGGER_WORDS[i]`) that start with it in any
/// case, or [`ALWAYS`].
const TRIGGER_STARTS: [u32; 256] = {
    let mut t = letter_masks(0);
    t[b'@' as usize] = ALWAYS;
    t[b'\\' as usize] = ALWAYS;
    t[b'&' as usize] = ALWAYS;
    t
};

/// The same for the second letter: with it, most candidates are dismissed by one AND.
const TRIGGER_SECONDS: [u32; 256] = letter_masks(1);

/// For each byte, the trigger words whose letter `at` it is, in any case.
const fn letter_masks(at: usize) -> [u32; 256] {
    assert!(TRIGGER_WORDS.len() < 32);
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < TRIGGER_WORDS.len() {
        assert!(TRIGGER_WORDS[i].len() >= 3);
        let c = TRIGGER_WORDS[i][at].to_ascii_lowercase();
        t[c as usize] |= 1 << i;
        t[c.to_ascii_uppercase() as usize] |= 1 << i;
        i += 1;
    }
    t
}

/// A value that is already a mask (`***`, `***REDACTED***`): left as it is.
pub(crate) fn is_masked(v: &str) -> bool {
    let v = v.trim();
    v == REDACTED || (!v.is_empty() && v.bytes().all(|c| c == b'*'))
}

/// Member names that hold the value of a `{"name": "DB_PASSWORD", "value": "x"}` pair.
const PAIR_VALUES: &[&str] = &["value", "val", "data", "content", "default"];
/// Member names that say what such a pair is.
const PAIR_NAMES: &[&str] = &["name", "key", "header", "variable", "var", "id"];

/// True for an identifier-like string (`DB_PASSWORD`, `X-API-Key`) naming a secret: the
/// name half of a name/value pair.
pub(crate) fn names_a_secret(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        && is_secret_key(s)
}

/// Redacts a JSON value in place; returns whether anything changed.
pub fn redact_value(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            let pair_secret = map.iter().any(|(k, v)| {
                PAIR_NAMES.contains(&k.to_ascii_lowercase().as_str())
                    && v.as_str().is_some_and(names_a_secret)
            });
            let mut changed = false;
            for (k, val) in map.iter_mut() {
                let secret = is_secret_key(k)
                    || (pair_secret && PAIR_VALUES.contains(&k.to_ascii_lowercase().as_str()));
                if secret {
                    if !val.is_null() && !val.as_str().is_some_and(is_masked) {
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
        Value::String(s) => match redact_string(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(r) => {
                *s = r;
                true
            }
        },
        _ => false,
    }
}

/// A string inside JSON: JSON text in it (escaped JSON, once unescaped by the parser) is
/// redacted as JSON; several lines as a document; one line as text.
fn redact_string(s: &str) -> Cow<'_, str> {
    if !may_need_redaction(s) {
        return Cow::Borrowed(s);
    }
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
            if !redact_value(&mut inner) {
                return Cow::Borrowed(s);
            }
            if let Ok(out) = serde_json::to_string(&inner) {
                return Cow::Owned(out);
            }
            return Cow::Owned(REDACTED.to_owned());
        }
    }
    if s.contains('\n') {
        redact_lines(s)
    } else {
        redact_text(s)
    }
}

/// A record with every string in it redacted as in [`redact_value`] (through its JSON form).
/// Meant for records whose field names are not secret-like: a field whose redacted value no
/// longer fits its type keeps the record as it was, strings and all, so a record type with
/// such a field must redact that field itself.
pub fn redact_record<T: serde::Serialize + serde::de::DeserializeOwned>(rec: T) -> T {
    let Ok(mut v) = serde_json::to_value(&rec) else {
        return rec;
    };
    if !redact_value(&mut v) {
        return rec;
    }
    serde_json::from_value(v).unwrap_or(rec)
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

/// File names whose whole content is a key: never copied, whatever they hold.
pub fn is_key_file(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    const EXT: &[&str] = &[
        ".key",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".p8",
        ".pk8",
        ".ppk",
        ".gpg",
        ".asc",
    ];
    EXT.iter().any(|e| lower.ends_with(e))
        || lower.starts_with("id_rsa")
        || lower.starts_with("id_dsa")
        || lower.starts_with("id_ecdsa")
        || lower.starts_with("id_ed25519")
}

/// Redacts a whole file named `name` (its format is read from the name and the content):
/// key files become [`REDACTED`]; JSON is parsed and redacted (returned byte for byte when
/// nothing changed); everything else, and JSON that does not parse, line by line
/// ([`LineRedactor`]). Bytes that are not UTF-8 are replaced (U+FFFD) first.
pub fn redact_document<'a>(name: &str, bytes: &'a [u8]) -> Cow<'a, [u8]> {
    if is_key_file(name) {
        return Cow::Owned(format!("{REDACTED}\n").into_bytes());
    }
    let text = String::from_utf8_lossy(bytes);
    let t = text.trim_start();
    if name.to_ascii_lowercase().ends_with(".json") || t.starts_with('{') || t.starts_with('[') {
        if let Ok(mut v) = serde_json::from_str::<Value>(&text) {
            if !redact_value(&mut v) {
                return match text {
                    Cow::Borrowed(_) => Cow::Borrowed(bytes),
                    Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                };
            }
            if let Ok(mut s) = serde_json::to_vec_pretty(&v) {
                s.push(b'\n');
                return Cow::Owned(s);
            }
        }
    }
    match (redact_lines(&text), &text) {
        (Cow::Borrowed(_), Cow::Borrowed(_)) => Cow::Borrowed(bytes),
        (r, _) => Cow::Owned(r.into_owned().into_bytes()),
    }
}

/// Known secret values (smoke's `--secret`, secret-named variables and captures), masked as
/// [`MASK`] wherever they appear; [`Redactor::apply`] then runs the text rules too.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn add(&mut self, value: &str) {
        if value.is_empty() || self.secrets.iter().any(|s| s == value) {
            return;
        }
        self.secrets.push(value.to_owned());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Known values masked, then [`redact_text`] (multi-line text: [`redact_lines`]).
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        let red = if out.contains('\n') {
            redact_lines(&out)
        } else {
            redact_text(&out)
        };
        match red {
            Cow::Borrowed(_) => out,
            Cow::Owned(s) => s,
        }
    }
}
