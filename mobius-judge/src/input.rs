//! Reading the sample stream: lines with their numbers, borrowed from one big buffer where
//! possible; `sample` records decoded into borrowed fields; everything else checked to be a
//! JSON object with a `"type"` and passed over. The happy path allocates nothing per line;
//! the slow path (a line that does not decode) re-reads the line to say exactly what is wrong.

use mobius_core::jsonl::{JsonlError, TypeOnly};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read};

/// One health check as the judge needs it: the fields of a `sample` record
/// (`mobius_core::records::Sample`), borrowed from the input line. `detail` and fields added
/// later are skipped without being decoded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Check<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    #[serde(borrow)]
    pub target: Cow<'a, str>,
    pub ok: bool,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    #[serde(default, borrow)]
    pub error: Option<Cow<'a, str>>,
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub p95_ms: Option<f64>,
    /// Set when the probe had a metrics source for this target (`ok` or `failed`).
    #[serde(default)]
    pub metrics: Option<mobius_core::records::MetricsRead>,
    /// `ts` as milliseconds since the Unix epoch (set by [`parse_line`]).
    #[serde(skip)]
    pub ts_ms: i64,
}

impl<'a> Check<'a> {
    /// A check from an owned sample record (for library callers and tests).
    pub fn from_sample(s: &'a mobius_core::records::Sample) -> Result<Check<'a>, String> {
        let mut c = Check {
            seq: s.seq,
            ts: Cow::Borrowed(&s.ts),
            target: Cow::Borrowed(&s.target),
            ok: s.ok,
            status: s.status,
            latency_ms: s.latency_ms,
            error: s.error.map(|e| Cow::Borrowed(e.as_str())),
            error_rate: s.error_rate,
            p95_ms: s.p95_ms,
            metrics: s.metrics,
            ts_ms: 0,
        };
        c.ts_ms = validate(&c)?;
        Ok(c)
    }
}

/// What one input line holds.
#[derive(Debug)]
pub enum Parsed<'a> {
    Sample(Check<'a>),
    /// A valid record of another type (verdicts, events, ...): passed over.
    Other,
    /// An empty or whitespace-only line.
    Blank,
}

/// Decodes one line (without its `\n`). `terminated` is false for a last line without `\n`.
pub fn parse_line(text: &[u8], number: u64, terminated: bool) -> Result<Parsed<'_>, JsonlError> {
    match text.first() {
        None => return Ok(Parsed::Blank),
        Some(b) if b.is_ascii_whitespace() && text.iter().all(u8::is_ascii_whitespace) => {
            return Ok(Parsed::Blank)
        }
        _ => {}
    }
    // mobius-probe writes the tag first (`Record` is internally tagged), so a sample is known
    // by its first bytes and decoded in one pass; any other line is first read for its type.
    if !text.starts_with(br#"{"type":"sample","#) {
        match serde_json::from_slice::<TypeOnly<'_>>(text) {
            Ok(t) => match t.kind.as_deref() {
                Some("sample") => {}
                Some(k) if near_sample(k) => {
                    return Err(invalid(
                        number,
                        format!(
                            "\"type\" is {:?}, not \"sample\": a near miss is malformed, never another record type",
                            excerpt(k)
                        ),
                    ))
                }
                // Other record types are passed over, but only lines that are text: a judge
                // that skipped what it could not read would pass on input it never saw.
                Some(_) if std::str::from_utf8(text).is_err() => {
                    return Err(JsonlError::NotUtf8 { line: number })
                }
                Some(_) => return Ok(Parsed::Other),
                None => return Err(invalid(
                    number,
                    "the record has no \"type\" (a sample line starts {\"type\":\"sample\",...})"
                        .to_owned(),
                )),
            },
            Err(e) => return Err(diagnose(text, number, terminated, &e)),
        }
    }
    // One UTF-8 check of the whole line is cheaper than serde_json checking each string.
    let utf8 = match std::str::from_utf8(text) {
        Ok(s) => s,
        // Cut inside a multi-byte character: the same truncation as any other cut.
        Err(e) if !terminated && e.error_len().is_none() => {
            return Err(JsonlError::Truncated { line: number })
        }
        Err(_) => return Err(JsonlError::NotUtf8 { line: number }),
    };
    let mut check: Check<'_> =
        serde_json::from_str(utf8).map_err(|e| diagnose(text, number, terminated, &e))?;
    check.ts_ms = validate(&check).map_err(|msg| invalid(number, msg))?;
    Ok(Parsed::Sample(check))
}

/// `Sample`, ` sample`, `SAMPLE\n`: meant as a sample, but not one.
fn near_sample(kind: &str) -> bool {
    kind.trim().eq_ignore_ascii_case("sample")
}

/// A short, escaped excerpt of bad input for a message.
fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn invalid(line: u64, msg: String) -> JsonlError {
    JsonlError::Invalid { line, msg }
}

/// The checks serde's types cannot express. Returns the time in milliseconds.
fn validate(c: &Check<'_>) -> Result<i64, String> {
    if c.target.is_empty() {
        return Err("sample `target` is empty".to_owned());
    }
    if let Some(v) = c.latency_ms {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!(
                "sample `latency_ms` is {v}: it must be a non-negative number of milliseconds, or null when no request was sent"
            ));
        }
    }
    if let Some(v) = c.p95_ms {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!(
                "sample `p95_ms` is {v}: it must be a non-negative number of milliseconds, or absent"
            ));
        }
    }
    if let Some(v) = c.error_rate {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!(
                "sample `error_rate` is {v}: it must be a share between 0 and 1 (0.05 = 5%), or absent"
            ));
        }
    }
    ts_millis(&c.ts).ok_or_else(|| {
        format!(
            "sample `ts` {:?} is not an RFC 3339 UTC time such as 2026-11-26T12:00:00.123Z",
            shorten(&c.ts)
        )
    })
}

/// Milliseconds since the Unix epoch of an RFC 3339 UTC time. The shape every MOBIUS tool
/// writes (`2026-11-26T12:00:00.123Z`) is read by hand, since it is on the hot path; any
/// other RFC 3339 form goes through humantime.
pub fn ts_millis(s: &str) -> Option<i64> {
    fast_ts_millis(s.as_bytes()).or_else(|| mobius_core::time::rfc3339_millis(s))
}

fn fast_ts_millis(b: &[u8]) -> Option<i64> {
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        // Leap seconds and the like: leave them to the general parser.
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Explains a line serde could not decode: not JSON (with a hint for NaN/Infinity), cut
/// short, not an object, no type, or which sample field has the wrong type.
fn diagnose(text: &[u8], number: u64, terminated: bool, err: &serde_json::Error) -> JsonlError {
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            if !terminated && e.is_eof() {
                return JsonlError::Truncated { line: number };
            }
            if std::str::from_utf8(text).is_err() && !e.is_eof() && e.is_syntax() {
                return JsonlError::NotUtf8 { line: number };
            }
            let mut msg = format!("not valid JSON: {}", describe(&e));
            let lossy = String::from_utf8_lossy(text);
            if ["NaN", "Infinity", "inf"].iter().any(|w| lossy.contains(w)) {
                msg.push_str(
                    "; NaN and Infinity are not JSON numbers (a missing latency is written null)",
                );
            }
            return invalid(number, msg);
        }
    };
    let Some(obj) = value.as_object() else {
        if !terminated {
            return JsonlError::Truncated { line: number };
        }
        return invalid(number, format!("not a JSON object but {}", kind_of(&value)));
    };
    match obj.get("type") {
        None => {
            return invalid(
                number,
                "the record has no \"type\" (a sample line starts {\"type\":\"sample\",...})"
                    .to_owned(),
            )
        }
        Some(Value::String(t)) if t == "sample" => {}
        Some(Value::String(_)) => return invalid(number, describe(err)),
        Some(other) => {
            return invalid(
                number,
                format!("\"type\" must be a string, got {}", show(other)),
            )
        }
    }
    let field = |name: &str| obj.get(name).unwrap_or(&Value::Null);
    let missing = |name: &str| !obj.contains_key(name);
    for name in ["seq", "ts", "target", "ok"] {
        if missing(name) {
            return invalid(number, format!("sample has no `{name}`"));
        }
    }
    let checks: [(&str, bool, &str); 9] = [
        ("seq", field("seq").is_u64(), "a whole number"),
        ("ts", field("ts").is_string(), "an RFC 3339 time string"),
        ("target", field("target").is_string(), "a string"),
        ("ok", field("ok").is_boolean(), "true or false"),
        (
            "status",
            field("status").is_null()
                || field("status")
                    .as_u64()
                    .is_some_and(|s| s <= u64::from(u16::MAX)),
            "an HTTP status number or null",
        ),
        (
            "latency_ms",
            field("latency_ms").is_null() || field("latency_ms").is_number(),
            "a number of milliseconds, or null when no request was sent",
        ),
        (
            "error",
            field("error").is_null() || field("error").is_string(),
            "null or an error class such as \"timeout\"",
        ),
        (
            "error_rate",
            field("error_rate").is_null() || field("error_rate").is_number(),
            "a share between 0 and 1, or absent",
        ),
        (
            "p95_ms",
            field("p95_ms").is_null() || field("p95_ms").is_number(),
            "a number of milliseconds, or absent",
        ),
    ];
    for (name, good, expected) in checks {
        if !good {
            return invalid(
                number,
                format!(
                    "sample `{name}` must be {expected}, got {}",
                    show(field(name))
                ),
            );
        }
    }
    invalid(number, describe(err))
}

fn describe(e: &serde_json::Error) -> String {
    // serde_json appends "at line 1 column N"; the line is ours, the column is worth keeping.
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &msg[..i], e.column()),
        None => msg,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn show(v: &Value) -> String {
    shorten(&v.to_string()).into_owned()
}

fn shorten(s: &str) -> Cow<'_, str> {
    const MAX: usize = 60;
    if s.len() <= MAX {
        return Cow::Borrowed(s);
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

/// A line of input, borrowed from the reader.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// 1-based line number.
    pub number: u64,
    /// The line without `\n` (and without a `\r` before it).
    pub bytes: &'a [u8],
    /// False for a last line that ends without `\n`: possibly cut short.
    pub terminated: bool,
}

/// Errors of [`Lines::next_line`].
#[derive(Debug)]
pub enum LineError<E> {
    /// Reading failed at this line number.
    Read(u64, io::Error),
    /// A line longer than [`MAX_LINE`].
    TooLong(u64),
    /// The hook run before a read that may block failed.
    Hook(E),
}

/// No record comes near this; a longer line is refused so memory stays bounded.
pub const MAX_LINE: usize = 1 << 20;

/// Numbered lines from a reader, borrowed from a large buffer when a line lies wholly inside
/// it (almost always), copied only when it straddles two reads.
pub struct Lines<R> {
    inner: BufReader<R>,
    carry: Vec<u8>,
    number: u64,
    pending_consume: usize,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R) -> Lines<R> {
        Lines::with_capacity(256 * 1024, inner)
    }

    pub fn with_capacity(capacity: usize, inner: R) -> Lines<R> {
        Lines {
            inner: BufReader::with_capacity(capacity, inner),
            carry: Vec::new(),
            number: 0,
            pending_consume: 0,
        }
    }

    /// The number of the last line returned.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// The next line, or `None` at the end. `before_block` runs before each read of the
    /// underlying reader, which may block (a live pipe): the caller flushes its output there,
    /// so verdicts reach the next tool as soon as the input pauses.
    pub fn next_line<E>(
        &mut self,
        mut before_block: impl FnMut() -> Result<(), E>,
    ) -> Result<Option<RawLine<'_>>, LineError<E>> {
        if self.pending_consume > 0 {
            self.inner.consume(self.pending_consume);
            self.pending_consume = 0;
        }
        self.carry.clear();
        loop {
            if self.inner.buffer().is_empty() {
                before_block().map_err(LineError::Hook)?;
            }
            let (found, len) = match self.inner.fill_buf() {
                Ok(avail) => (find_newline(avail), avail.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LineError::Read(self.number + 1, e)),
            };
            if len == 0 {
                if self.carry.is_empty() {
                    return Ok(None);
                }
                self.number += 1;
                return Ok(Some(RawLine {
                    number: self.number,
                    bytes: strip_cr(&self.carry),
                    terminated: false,
                }));
            }
            match found {
                Some(i) if self.carry.is_empty() => {
                    self.number += 1;
                    self.pending_consume = i + 1;
                    return Ok(Some(RawLine {
                        number: self.number,
                        bytes: strip_cr(&self.inner.buffer()[..i]),
                        terminated: true,
                    }));
                }
                Some(i) => {
                    self.carry.extend_from_slice(&self.inner.buffer()[..i]);
                    self.inner.consume(i + 1);
                    self.number += 1;
                    if self.carry.len() > MAX_LINE {
                        return Err(LineError::TooLong(self.number));
                    }
                    return Ok(Some(RawLine {
                        number: self.number,
                        bytes: strip_cr(&self.carry),
                        terminated: true,
                    }));
                }
                None => {
                    self.carry.extend_from_slice(self.inner.buffer());
                    self.inner.consume(len);
                    if self.carry.len() > MAX_LINE {
                        return Err(LineError::TooLong(self.number + 1));
                    }
                }
            }
        }
    }
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// The first `\n`, eight bytes at a time (std's fast memchr is not public).
fn find_newline(hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ NL;
        // A zero byte in x is a '\n' in the input; the lowest flagged byte is always a real one.
        let hits = x.wrapping_sub(LO) & !x & HI;
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| base + p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_line(extra: &str) -> String {
        format!(
            r#"{{"type":"sample","seq":1,"ts":"2026-11-26T12:00:00.123Z","target":"http://x/health","ok":true,"status":200,"latency_ms":3.5,"error":null,"detail":"200 OK"{extra}}}"#
        )
    }

    fn err_of(line: &str) -> String {
        parse_line(line.as_bytes(), 7, true)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn decodes_a_sample_without_copying_its_strings() {
        let line = sample_line(r#","error_rate":0.01,"p95_ms":12.5"#);
        let Parsed::Sample(c) = parse_line(line.as_bytes(), 1, true).unwrap() else {
            panic!("not a sample")
        };
        assert!(matches!(c.target, Cow::Borrowed("http://x/health")));
        assert_eq!(c.ts_ms, 1_795_694_400_123);
        assert_eq!((c.ok, c.status, c.latency_ms), (true, Some(200), Some(3.5)));
        assert_eq!((c.error_rate, c.p95_ms), (Some(0.01), Some(12.5)));
    }

    #[test]
    fn near_misses_of_sample_and_lines_that_are_not_text_are_malformed() {
        for line in [
            r#"{"type":"Sample","seq":1}"#,
            r#"{"type":" sample","seq":1}"#,
            r#"{"type":"SAMPLE\n","seq":1}"#,
            r#"{"seq":1,"type":"sample "}"#,
        ] {
            match parse_line(line.as_bytes(), 4, true) {
                Err(JsonlError::Invalid { line: 4, msg }) => {
                    assert!(msg.contains("near miss"), "{line}: {msg}")
                }
                other => panic!("{line}: {other:?}"),
            }
        }
        let mut bad = br#"{"type":"verdict","reason":""#.to_vec();
        bad.extend_from_slice(b"\xff\xfe\"}");
        assert!(matches!(
            parse_line(&bad, 9, true),
            Err(JsonlError::NotUtf8 { line: 9 })
        ));
    }

    #[test]
    fn sample_with_type_not_first_is_still_a_sample() {
        let line = r#"{"seq":1,"ts":"2026-11-26T12:00:00Z","target":"t","ok":false,"status":null,"latency_ms":null,"error":"dns","type":"sample"}"#;
        let Parsed::Sample(c) = parse_line(line.as_bytes(), 1, true).unwrap() else {
            panic!("not a sample")
        };
        assert_eq!(c.ts_ms, 1_795_694_400_000);
        assert_eq!(c.error.as_deref(), Some("dns"));
    }

    #[test]
    fn other_records_and_blank_lines_are_passed_over() {
        for line in [
            r#"{"type":"verdict","ts":"x","ok":"not a bool here"}"#,
            r#"{"type":"future_thing","x":[1,2,{"y":null}]}"#,
        ] {
            assert!(matches!(
                parse_line(line.as_bytes(), 1, true),
                Ok(Parsed::Other)
            ));
        }
        assert!(matches!(parse_line(b"", 1, true), Ok(Parsed::Blank)));
        assert!(matches!(parse_line(b"  \t", 1, true), Ok(Parsed::Blank)));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let cases = [
            ("hello", "line 7: not valid JSON: expected value"),
            ("[1,2]", "line 7: not a JSON object but an array"),
            ("\"sample\"", "line 7: not a JSON object but a string"),
            (r#"{"seq":1}"#, "line 7: the record has no \"type\""),
            (r#"{"type":7}"#, "line 7: \"type\" must be a string, got 7"),
            (
                r#"{"type":"sample","ts":"2026-11-26T12:00:00.000Z","target":"t","ok":true}"#,
                "sample has no `seq`",
            ),
            (
                &sample_line("").replace("\"ok\":true", "\"ok\":\"yes\""),
                "sample `ok` must be true or false, got \"yes\"",
            ),
            (
                &sample_line("").replace("\"ok\":true", "\"ok\":1"),
                "sample `ok` must be true or false, got 1",
            ),
            (
                &sample_line("").replace("3.5", "-5"),
                "sample `latency_ms` is -5: it must be a non-negative number",
            ),
            (
                &sample_line("").replace("3.5", "\"slow\""),
                "sample `latency_ms` must be a number of milliseconds",
            ),
            (
                &sample_line("").replace("3.5", "NaN"),
                "NaN and Infinity are not JSON numbers",
            ),
            (
                &sample_line("").replace("3.5", "1e999"),
                "not valid JSON: number out of range",
            ),
            (
                &sample_line(r#","error_rate":5"#),
                "sample `error_rate` is 5: it must be a share between 0 and 1",
            ),
            (
                &sample_line("").replace("2026-11-26T12:00:00.123Z", "yesterday"),
                "sample `ts` \"yesterday\" is not an RFC 3339 UTC time",
            ),
            (
                &sample_line("").replace("\"status\":200", "\"status\":70000"),
                "sample `status` must be an HTTP status number or null, got 70000",
            ),
        ];
        for (line, want) in cases {
            let got = err_of(line);
            assert!(got.contains(want), "{line}\n  got:  {got}\n  want: {want}");
            assert!(got.starts_with("line 7: "), "{got}");
        }
    }

    #[test]
    fn an_unterminated_cut_line_is_truncation_but_a_complete_one_is_fine() {
        let line = sample_line("");
        let cut = &line.as_bytes()[..line.len() / 2];
        assert!(matches!(
            parse_line(cut, 9, false),
            Err(JsonlError::Truncated { line: 9 })
        ));
        assert!(matches!(
            parse_line(line.as_bytes(), 9, false),
            Ok(Parsed::Sample(_))
        ));
        // The same cut line with a newline after it was written whole, and is just bad JSON.
        assert!(matches!(
            parse_line(cut, 9, true),
            Err(JsonlError::Invalid { line: 9, .. })
        ));
    }

    #[test]
    fn fast_time_parser_agrees_with_humantime() {
        for s in [
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T23:59:59.999Z",
            "2026-11-26T12:00:00.123Z",
            "2100-03-01T00:00:00.001Z",
            "2400-12-31T12:34:56.789Z",
        ] {
            assert_eq!(
                fast_ts_millis(s.as_bytes()),
                mobius_core::time::rfc3339_millis(s),
                "{s}"
            );
        }
        // Shapes the fast path leaves to humantime.
        assert_eq!(ts_millis("2026-11-26T12:00:00Z"), Some(1_795_694_400_000));
        assert_eq!(ts_millis("2026-11-26T12:00:00.5Z"), Some(1_795_694_400_500));
        assert_eq!(fast_ts_millis(b"2026-02-30T12:00:00.000Z"), None);
        assert_eq!(ts_millis("2026-02-30T12:00:00.000Z"), None);
        assert_eq!(ts_millis("2026-11-26 12:00:00"), None);
    }

    #[test]
    fn lines_are_numbered_and_cr_stripped() {
        let mut r = Lines::with_capacity(8, &b"ab\r\n\nlonger than eight\nend"[..]);
        let mut got = Vec::new();
        while let Some(l) = r.next_line(|| Ok::<(), ()>(())).unwrap() {
            got.push((
                l.number,
                String::from_utf8(l.bytes.to_vec()).unwrap(),
                l.terminated,
            ));
        }
        assert_eq!(
            got,
            vec![
                (1, "ab".to_owned(), true),
                (2, String::new(), true),
                (3, "longer than eight".to_owned(), true),
                (4, "end".to_owned(), false),
            ]
        );
    }

    proptest! {
        #[test]
        fn find_newline_equals_position(bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..100)) {
            prop_assert_eq!(find_newline(&bytes), bytes.iter().position(|&b| b == b'\n'));
        }

        #[test]
        fn fast_time_parser_matches_humantime_everywhere(ms in 0i64..8_000_000_000_000) {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
            let s = mobius_core::time::rfc3339(t);
            prop_assert_eq!(fast_ts_millis(s.as_bytes()), Some(ms));
        }
    }
}
