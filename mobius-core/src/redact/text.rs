//! Redaction of free text (one message, one line, or a short text): the passes run in order,
//! each on the output of the one before: PEM private-key blocks, URL userinfo,
//! `Bearer <token>`, XML elements named like a secret, then values after secret-named keys.

use super::REDACTED;
use super::{is_header_key, is_masked, is_secret_key, may_need_redaction, names_a_secret};
use std::borrow::Cow;

/// Redacts free text (see the module help of [`super`]).
pub fn redact_text(text: &str) -> Cow<'_, str> {
    if !may_need_redaction(text) {
        return Cow::Borrowed(text);
    }
    let passes: [fn(&str) -> Cow<'_, str>; 5] = [
        redact_pem,
        redact_userinfo,
        redact_bearer,
        |t| redact_xml(t).0,
        redact_key_values,
    ];
    let mut cur: Cow<'_, str> = Cow::Borrowed(text);
    for pass in passes {
        let next = match pass(&cur) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        if let Some(s) = next {
            cur = Cow::Owned(s);
        }
    }
    cur
}

/// Replaces byte ranges (sorted, not overlapping) of `text` by [`REDACTED`].
pub(crate) fn replace_ranges<'a>(text: &'a str, ranges: &[(usize, usize)]) -> Cow<'a, str> {
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for &(s, e) in ranges {
        out.push_str(&text[copied..s]);
        out.push_str(REDACTED);
        copied = e;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where a PEM private key begins in `text` at or after `from`: (start of `-----BEGIN`,
/// end of its line's `-----`).
pub(crate) fn pem_begin(text: &str, from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    while let Some(p) = text[at..].find("-----BEGIN ") {
        let s = at + p;
        let label_start = s + "-----BEGIN ".len();
        let label_end = text[label_start..]
            .find("-----")
            .map_or(text.len(), |e| label_start + e);
        let label = &text[label_start..label_end];
        if label.len() <= 80 && label.to_ascii_uppercase().contains("PRIVATE KEY") {
            return Some((s, (label_end + 5).min(text.len())));
        }
        at = label_start;
    }
    None
}

/// The end of a PEM block's `-----END ...-----` at or after `from`.
pub(crate) fn pem_end(text: &str, from: usize) -> Option<usize> {
    let p = from + text[from..].find("-----END ")?;
    let after = p + "-----END ".len();
    Some(
        text[after..]
            .find("-----")
            .map_or(text.len(), |e| after + e + 5),
    )
}

/// The whole block from `-----BEGIN ... PRIVATE KEY-----` to its END line (or the end of
/// the text, when it has none) becomes [`REDACTED`].
fn redact_pem(text: &str) -> Cow<'_, str> {
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some((s, head_end)) = pem_begin(text, from) {
        let e = pem_end(text, head_end).unwrap_or(text.len());
        ranges.push((s, e));
        from = e;
    }
    replace_ranges(text, &ranges)
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
    let mut ranges = Vec::new();
    let mut search = 0;
    while let Some(p) = text[search..].find("://") {
        let start = search + p + 3;
        let end = authority_end(b, start);
        if let Some(at) = text[start..end].rfind('@') {
            let at = start + at;
            if at > start && !is_masked(&text[start..at]) {
                ranges.push((start, at));
            }
        }
        search = end.max(start);
    }
    replace_ranges(text, &ranges)
}

/// Ends a bare (unquoted) token: whitespace, quotes, escapes, markup and separators.
fn ends_token(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'\\' | b'<' | b'>' | b'&' | b',' | b';')
}

/// `Bearer <token>` anywhere (any case): the token, whatever the header around it.
fn redact_bearer(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i + 6 < b.len() {
        if b[i..i + 6].eq_ignore_ascii_case(b"bearer")
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        {
            let mut j = i + 6;
            let ws = j;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            // `%20` and `+`: the same header written into a URL or a form.
            if j == ws && b[j..].starts_with(b"%20") {
                j += 3;
            } else if j == ws && b.get(j) == Some(&b'+') {
                j += 1;
            }
            if j > ws {
                let vs = j;
                while j < b.len() && !ends_token(b[j]) {
                    j += 1;
                }
                if j > vs && !is_masked(&text[vs..j]) {
                    ranges.push((vs, j));
                }
            }
            i = j.max(i + 6);
        } else {
            i += 1;
        }
    }
    replace_ranges(text, &ranges)
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// Quotes as they appear in text: plain, backslash-escaped (any depth), and XML/HTML or
/// JSON `\u` escaped. Returns the quote's length at `i`.
fn quote_at(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' | b'\'' => Some(1),
        b'\\' => {
            let mut j = i;
            while j < b.len() && b[j] == b'\\' {
                j += 1;
            }
            match b.get(j) {
                Some(b'"' | b'\'') => Some(j + 1 - i),
                Some(b'u') if b[j..].starts_with(b"u0022") || b[j..].starts_with(b"u0027") => {
                    Some(j + 5 - i)
                }
                _ => None,
            }
        }
        b'&' => ["&quot;", "&apos;", "&#34;", "&#39;", "&#x22;", "&#x27;"]
            .iter()
            .find(|q| {
                b[i..].len() >= q.len() && b[i..i + q.len()].eq_ignore_ascii_case(q.as_bytes())
            })
            .map(|q| q.len()),
        _ => None,
    }
}

/// The end of a value opened by a plain quote `q` at `vs - 1`, backslash escapes honoured.
fn plain_quote_end(b: &[u8], vs: usize, q: u8) -> usize {
    let mut k = vs;
    while k < b.len() && b[k] != q {
        if b[k] == b'\\' {
            k += 1;
        }
        k += 1;
    }
    k.min(b.len())
}

/// The end of a `{...}` or `[...]` value starting at `vs` (brackets counted, strings not
/// parsed: a stray bracket in a string over-redacts, the safe way).
fn bracket_end(b: &[u8], vs: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(vs) {
        match c {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    b.len()
}

/// Where the value of a secret key starting at `vs` ends, and where scanning goes on:
/// quoted (with any kind of quote), a JSON object or array, or a bare token (for header
/// keys: the rest of the line).
pub(crate) fn value_span(b: &[u8], vs: usize, header: bool) -> (usize, usize, usize) {
    if let Some(q) = quote_at(b, vs) {
        let s = vs + q;
        let e = if q == 1 {
            plain_quote_end(b, s, b[vs])
        } else {
            let quote = &b[vs..vs + q];
            b[s..]
                .windows(q)
                .position(|w| w == quote)
                .map_or(b.len(), |p| s + p)
        };
        return (s, e, (e + q).min(b.len()));
    }
    if matches!(b.get(vs), Some(b'{' | b'[')) {
        let e = bracket_end(b, vs);
        return (vs, e, e);
    }
    let mut k = vs;
    while k < b.len() {
        let c = b[k];
        let stop = if header {
            // The rest of the line, quotes and all (over-redacting is the safe side); an
            // escape ends it, as `\n` in escaped text is the line's end.
            matches!(c, b'\n' | b'\r' | b'\\')
        } else {
            ends_token(c) || matches!(c, b'}' | b']' | b'>')
        };
        if stop {
            break;
        }
        k += 1;
    }
    (vs, k, k)
}

/// Values after secret-named keys: `password=x`, `token: x`, `"api_key": "x"`,
/// `\"secret\":\"x\"`, `&quot;pwd&quot;:&quot;x&quot;`, `Authorization: Basic x y`.
fn redact_key_values(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
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
        let key = &text[ks..i];
        if !is_secret_key(key) {
            continue;
        }
        // After the key: its closing quote if any, spaces, `=` or `:`, spaces.
        let mut j = i;
        if let Some(q) = quote_at(b, j) {
            j += q;
        }
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j >= b.len() || !(b[j] == b'=' || b[j] == b':') {
            continue;
        }
        j += 1;
        if b[j..].starts_with(b"//") {
            // `token://...` is a URL scheme, not an assignment.
            continue;
        }
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j >= b.len() || b[j] == b'\n' || b[j] == b'\r' {
            continue;
        }
        let (vs, ve, next) = value_span(b, j, is_header_key(key));
        if ve > vs && !is_masked(&text[vs..ve]) {
            ranges.push((vs, ve));
        }
        i = next.max(i);
    }
    replace_ranges(text, &ranges)
}

/// The length of an XML tag opener (`<` or `&lt;`) at `i`.
fn tag_open_at(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'<' {
        Some(1)
    } else if b[i..].len() >= 4 && b[i..i + 4].eq_ignore_ascii_case(b"&lt;") {
        Some(4)
    } else {
        None
    }
}

/// The length of an XML tag closer (`>` or `&gt;`) at `i`.
fn tag_close_at(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'>' {
        Some(1)
    } else if b[i..].len() >= 4 && b[i..i + 4].eq_ignore_ascii_case(b"&gt;") {
        Some(4)
    } else {
        None
    }
}

/// The next tag opener at or after `from`.
fn next_tag(b: &[u8], from: usize) -> Option<usize> {
    (from..b.len()).find(|&k| tag_open_at(b, k).is_some())
}

/// XML elements holding secrets: `<password>x</password>` (any namespace prefix, any
/// attributes, CDATA, `&lt;`-escaped markup), and elements whose `name`/`key` attribute
/// names a secret (`<add key="DbPassword" value="x"/>`): their other attribute values and
/// their content. Returns whether a secret element is left open at the end of the text
/// (its content goes on in the next line).
pub(crate) fn redact_xml(text: &str) -> (Cow<'_, str>, bool) {
    if !text.contains('<') && !text.to_ascii_lowercase().contains("&lt;") {
        return (Cow::Borrowed(text), false);
    }
    let b = text.as_bytes();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut open = false;
    let mut i = 0;
    while let Some(t) = next_tag(b, i) {
        let Some(ol) = tag_open_at(b, t) else { break };
        let ns = t + ol;
        let mut ne = ns;
        while ne < b.len() && (is_key_byte(b[ne]) || b[ne] == b':') {
            ne += 1;
        }
        if ne == ns {
            i = ns;
            continue;
        }
        let name = &text[ns..ne];
        let local = name.rsplit(':').next().unwrap_or(name);
        // The tag's end, and its attributes.
        let mut k = ne;
        let mut close = None;
        while k < b.len() {
            if let Some(cl) = tag_close_at(b, k) {
                close = Some((k, cl));
                break;
            }
            if tag_open_at(b, k).is_some() {
                break;
            }
            k += 1;
        }
        let attrs_end = close.map_or(k, |(k, _)| k);
        let (attr_ranges, named_secret) = secret_attributes(text, ne, attrs_end);
        let secret = is_secret_key(local) || named_secret;
        if named_secret {
            ranges.extend(attr_ranges);
        }
        let Some((ce, cl)) = close else {
            i = attrs_end.max(ne);
            continue;
        };
        let self_closing = ce > 0 && b[ce - 1] == b'/';
        let cs = ce + cl;
        i = cs;
        if !secret || self_closing {
            continue;
        }
        let (vs, ve) = if text[cs..].starts_with("<![CDATA[") {
            let s = cs + 9;
            (s, text[s..].find("]]>").map_or(b.len(), |p| s + p))
        } else {
            (cs, next_tag(b, cs).unwrap_or(b.len()))
        };
        if ve == b.len() {
            open = true;
        }
        let content = &text[vs..ve];
        if !content.trim().is_empty() && !is_masked(content) {
            ranges.push((vs, ve));
        }
        i = ve;
    }
    ranges.sort_unstable();
    ranges.dedup_by(|later, earlier| later.0 < earlier.1);
    (replace_ranges(text, &ranges), open)
}

/// The quoted attribute values in `text[from..to]`; whether a `name`/`key`/`id` attribute
/// names a secret (then every other value is one).
fn secret_attributes(text: &str, from: usize, to: usize) -> (Vec<(usize, usize)>, bool) {
    let b = text.as_bytes();
    let mut values = Vec::new();
    let mut named = false;
    let mut k = from;
    while k < to {
        if !is_key_byte(b[k]) {
            k += 1;
            continue;
        }
        let ks = k;
        while k < to && (is_key_byte(b[k]) || b[k] == b':') {
            k += 1;
        }
        let attr = text[ks..k].to_ascii_lowercase();
        if k >= to || b[k] != b'=' {
            continue;
        }
        if quote_at(b, k + 1).is_none() {
            continue;
        }
        let (vs, ve, next) = value_span(b, k + 1, false);
        let ve = ve.min(to);
        let v = &text[vs..ve];
        if matches!(attr.as_str(), "name" | "key" | "id") && names_a_secret(v) {
            named = true;
        } else if ve > vs && !is_masked(v) {
            values.push((vs, ve));
        }
        k = next.max(k + 1);
    }
    (values, named)
}
