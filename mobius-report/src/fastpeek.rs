//! A fast path for the line every monitoring log is made of: a `sample` exactly as
//! mobius-probe writes it (fields in the record's order, no escapes in its strings). Such a
//! line is read here in one pass over its bytes; anything else — another record, another
//! order, an escape, a space — is left to serde_json, so the outcome is always the one serde
//! would give. A year of samples is 3 M lines, and parsing them was most of the time a report
//! or an export took.

use crate::model::Peek;
use std::borrow::Cow;

/// [`Peek`] of `text`: the fast path when it applies, else serde_json.
pub fn peek(text: &str) -> Result<Peek<'_>, serde_json::Error> {
    match sample(text) {
        Some(p) => Ok(p),
        None => serde_json::from_str(text),
    }
}

/// The probe's `sample` line, or None when it is not exactly that shape.
fn sample(text: &str) -> Option<Peek<'_>> {
    let mut c = Cursor { s: text, i: 0 };
    c.lit(r#"{"type":"sample","seq":"#)?;
    c.uint()?;
    c.lit(r#","ts":"#)?;
    let ts = c.string()?;
    c.lit(r#","target":"#)?;
    let target = c.string()?;
    c.lit(r#","ok":"#)?;
    let ok = c.boolean()?;
    c.lit(r#","status":"#)?;
    let status = c.or_null(Cursor::uint)?;
    c.lit(r#","latency_ms":"#)?;
    let latency_ms = c.or_null(Cursor::number)?;
    c.lit(r#","error":"#)?;
    let error = c.or_null(Cursor::string)?;
    c.lit(r#","detail":"#)?;
    let detail = c.string()?;
    let mut error_rate = None;
    let mut p95_ms = None;
    if c.eat(r#","error_rate":"#) {
        error_rate = c.or_null(Cursor::number)?;
    }
    if c.eat(r#","p95_ms":"#) {
        p95_ms = c.or_null(Cursor::number)?;
    }
    if c.eat(r#","metrics":"#) {
        c.string()?;
    }
    c.lit("}")?;
    if !c
        .rest()
        .bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return None;
    }
    Some(Peek {
        kind: Some(Cow::Borrowed("sample")),
        ts: Some(Cow::Borrowed(ts)),
        target: Some(Cow::Borrowed(target)),
        ok: Some(ok),
        status,
        latency_ms,
        error: error.map(Cow::Borrowed),
        detail: Some(Cow::Borrowed(detail)),
        error_rate,
        p95_ms,
        ..Peek::default()
    })
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn lit(&mut self, lit: &str) -> Option<()> {
        self.eat(lit).then_some(())
    }

    fn or_null<T>(&mut self, f: fn(&mut Cursor<'a>) -> Option<T>) -> Option<Option<T>> {
        if self.eat("null") {
            Some(None)
        } else {
            f(self).map(Some)
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.eat("true") {
            Some(true)
        } else if self.eat("false") {
            Some(false)
        } else {
            None
        }
    }

    /// A string without escapes or control characters (those go to serde).
    fn string(&mut self) -> Option<&'a str> {
        self.lit("\"")?;
        let rest = self.rest();
        let end = rest
            .bytes()
            .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest.as_bytes()[end] != b'"' {
            return None;
        }
        self.i += end + 1;
        Some(&rest[..end])
    }

    /// JSON's grammar for a number: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number_text(&mut self) -> Option<&'a str> {
        let b = self.rest().as_bytes();
        let mut j = usize::from(b.first() == Some(&b'-'));
        let digits = |j: usize| b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        let int = digits(j);
        if int == 0 || (int > 1 && b[j] == b'0') {
            return None;
        }
        j += int;
        if b.get(j) == Some(&b'.') {
            let frac = digits(j + 1);
            if frac == 0 {
                return None;
            }
            j += 1 + frac;
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let exp = digits(j);
            if exp == 0 {
                return None;
            }
            j += exp;
        }
        let text = &self.rest()[..j];
        self.i += j;
        Some(text)
    }

    fn number(&mut self) -> Option<f64> {
        let t = self.number_text()?;
        // serde_json is exact (as Rust's parse always is) only for a mantissa below 2^53 and a
        // power of ten within 10^±22; past that it approximates. Such figures (the records
        // round theirs to 3 or 6 decimals) go to serde, so both readings always agree.
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(at) => (&t[..at], t[at + 1..].parse::<i32>().ok()?),
            None => (t, 0),
        };
        let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
        let frac = mantissa.find('.').map_or(0, |dot| mantissa.len() - dot - 1);
        let scale = i64::from(exp) - frac as i64;
        if digits > 15 || !(-22..=22).contains(&scale) {
            return None;
        }
        let x: f64 = t.parse().ok()?;
        x.is_finite().then_some(x)
    }

    fn uint(&mut self) -> Option<u64> {
        let t = self.number_text()?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(text: &str) -> Option<Peek<'_>> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn the_probes_lines_take_the_fast_path() {
        for line in [
            r#"{"type":"sample","seq":1,"ts":"2026-11-26T12:00:00.002Z","target":"http://127.0.0.1:8080/health","ok":true,"status":200,"latency_ms":1.204,"error":null,"detail":""}"#,
            r#"{"type":"sample","seq":2,"ts":"t","target":"x","ok":false,"status":null,"latency_ms":null,"error":"connect","detail":"refused","error_rate":0.05,"p95_ms":3.1,"metrics":"ok"}"#,
            r#"{"type":"sample","seq":3,"ts":"t","target":"x","ok":false,"status":503,"latency_ms":1e3,"error":"status","detail":"é","error_rate":null,"metrics":"failed"}"#,
        ] {
            let fast = sample(line).expect("fast path");
            assert_eq!(Some(fast), serde(line), "{line}");
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for line in [
            r#"{"type":"sample","seq":1,"ts":"t\u0041","target":"x","ok":true,"status":200,"latency_ms":1,"error":null,"detail":""}"#,
            r#"{"type":"sample", "seq":1,"ts":"t","target":"x","ok":true,"status":200,"latency_ms":1,"error":null,"detail":""}"#,
            r#"{"type":"sample","seq":01,"ts":"t","target":"x","ok":true,"status":200,"latency_ms":1,"error":null,"detail":""}"#,
            r#"{"type":"sample","seq":1,"ts":"t","target":"x","ok":true,"status":200,"latency_ms":1.,"error":null,"detail":""}"#,
            r#"{"type":"sample","seq":1,"ts":"t","target":"x","ok":true,"status":200,"latency_ms":1,"error":null,"detail":"","extra":1}"#,
            r#"{"type":"sample","seq":1,"ts":"t","target":"x","ok":true,"status":200,"latency_ms":1,"error":null,"detail":""} x"#,
            r#"{"type":"sample","seq":1,"ts":"t","target":"x","ok":true,"status":-2,"latency_ms":1,"error":null,"detail":""}"#,
            r#"{"type":"sample","seq":1,"ts":"t","target":"x","ok":true,"status":200,"latency_ms":1e999,"error":null,"detail":""}"#,
            r#"{"type":"verdict","ts":"t","target":"*","decision":"pass"}"#,
        ] {
            assert!(sample(line).is_none(), "{line}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Whatever the fast path accepts, serde reads the same way.
        #[test]
        fn the_fast_path_agrees_with_serde(
            seq in any::<u64>(),
            ts in "[ -~]{0,12}",
            target in "[ -~é\\\\\"]{0,16}",
            ok in any::<bool>(),
            status in proptest::option::of(0u64..1000),
            latency in proptest::option::of(-1e6f64..1e6),
            error in proptest::option::of("[a-z_]{1,8}"),
            rate in proptest::option::of(0f64..1.0),
            tail in prop_oneof![
                Just("}".to_owned()),
                Just("}\n".to_owned()),
                Just(r#","p95_ms":12.5,"metrics":"ok"}"#.to_owned()),
                Just(r#","p95_ms":null}"#.to_owned()),
                Just("} x".to_owned()),
                Just("".to_owned()),
                "[ }a-z0-9\",:.eE+-]{0,8}",
            ],
        ) {
            // Shortest round-trip text (up to 17 digits, which serde may read differently from
            // Rust's parse) and records' rounded text.
            let num = |x: Option<f64>| {
                x.map_or("null".to_owned(), |x| {
                    if seq % 2 == 0 { x.to_string() } else { format!("{x:.3}") }
                })
            };
            let line = format!(
                r#"{{"type":"sample","seq":{seq},"ts":"{ts}","target":"{target}","ok":{ok},"status":{},"latency_ms":{},"error":{},"detail":"","error_rate":{}{tail}"#,
                status.map_or("null".to_owned(), |s| s.to_string()),
                num(latency),
                error.map_or("null".to_owned(), |e| format!("\"{e}\"")),
                num(rate),
            );
            match sample(&line) {
                Some(fast) => prop_assert_eq!(Some(fast), serde(&line), "{}", line),
                // Declined lines are serde's, and peek() gives serde's answer.
                None => prop_assert_eq!(peek(&line).ok(), serde(&line)),
            }
        }
    }
}
