//! JSON lines on the wire (docs/CONTRACT.md §2): one object per line, `\n`-terminated, flushed
//! line by line so a pipe sees each record at once. Reading errors carry the line number,
//! because "line 40213: expected `,`" is what lets an operator fix a saved log.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{self, BufRead, Write};

/// Writes one record per line and flushes after each. A closed pipe surfaces as an
/// `io::ErrorKind::BrokenPipe` error, which [`crate::exit::finish`] treats as a clean exit.
pub struct JsonlWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out,
            buf: Vec::with_capacity(512),
        }
    }

    pub fn write<T: Serialize + ?Sized>(&mut self, record: &T) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, record).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        // One write per line: readers of a pipe or an O_APPEND file never see half a record.
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("line {line}: read failed")]
    Io {
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 { line: u64 },
    #[error("line {line}: truncated (no newline at the end and not a complete JSON object)")]
    Truncated { line: u64 },
    #[error("line {line}: not a JSON object")]
    NotObject { line: u64 },
    #[error("line {line}: {msg}")]
    Invalid { line: u64, msg: String },
}

impl JsonlError {
    pub fn line(&self) -> u64 {
        match self {
            JsonlError::Io { line, .. }
            | JsonlError::NotUtf8 { line }
            | JsonlError::Truncated { line }
            | JsonlError::NotObject { line }
            | JsonlError::Invalid { line, .. } => *line,
        }
    }
}

/// One line of input, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: u64,
    /// The line without its `\n` (and without a `\r` before it).
    pub text: &'a str,
    /// False for a last line that ends without `\n`: possibly cut short by a crash.
    pub terminated: bool,
}

impl Line<'_> {
    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// Decodes the line into `T`. A failure on an unterminated last line is reported as
    /// truncation, since that is almost always what it is.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, JsonlError> {
        let trimmed = self.text.trim_start();
        if !trimmed.starts_with('{') {
            return Err(if self.terminated {
                JsonlError::NotObject { line: self.number }
            } else {
                JsonlError::Truncated { line: self.number }
            });
        }
        serde_json::from_str(self.text).map_err(|e| {
            if !self.terminated && e.is_eof() {
                JsonlError::Truncated { line: self.number }
            } else {
                JsonlError::Invalid {
                    line: self.number,
                    msg: describe_json_error(&e),
                }
            }
        })
    }
}

fn describe_json_error(e: &serde_json::Error) -> String {
    // serde_json appends "at line 1 column N"; the line is always 1 here, so keep the column.
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &msg[..i], e.column()),
        None => msg,
    }
}

/// Reads lines with their numbers, reusing one buffer.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(1024),
            number: 0,
        }
    }

    /// The number of the last line returned.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, JsonlError> {
        self.buf.clear();
        let n = loop {
            match self.inner.read_until(b'\n', &mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(JsonlError::Io {
                        line: self.number + 1,
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        let mut bytes = &self.buf[..];
        let terminated = bytes.last() == Some(&b'\n');
        if terminated {
            bytes = &bytes[..bytes.len() - 1];
            if bytes.last() == Some(&b'\r') {
                bytes = &bytes[..bytes.len() - 1];
            }
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| JsonlError::NotUtf8 { line: self.number })?;
        Ok(Some(Line {
            number: self.number,
            text,
            terminated,
        }))
    }
}

/// Just the `"type"` of a record, for readers that pass over types they do not handle.
#[derive(Debug, serde::Deserialize)]
pub struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Option<std::borrow::Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn writer_writes_one_line_per_record() {
        let mut w = JsonlWriter::new(Vec::new());
        w.write(&serde_json::json!({"type": "x", "a": 1})).unwrap();
        w.write(&serde_json::json!({"type": "y"})).unwrap();
        let out = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(out, "{\"a\":1,\"type\":\"x\"}\n{\"type\":\"y\"}\n");
    }

    #[test]
    fn reader_numbers_lines_and_flags_truncation() {
        let input = b"{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":";
        let mut r = LineReader::new(&input[..]);
        let l1 = r.next_line().unwrap().unwrap();
        assert_eq!((l1.number, l1.text, l1.terminated), (1, "{\"a\":1}", true));
        assert!(r.next_line().unwrap().unwrap().is_blank());
        let l3 = r.next_line().unwrap().unwrap();
        assert_eq!(l3.text, "{\"a\":2}");
        let l4 = r.next_line().unwrap().unwrap();
        assert!(!l4.terminated);
        let err = l4.parse::<Value>().unwrap_err();
        assert!(matches!(err, JsonlError::Truncated { line: 4 }), "{err}");
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn parse_errors_name_line_and_column() {
        let mut r = LineReader::new(&b"{\"a\":1}\n{\"a\" 1}\n[1]\n"[..]);
        r.next_line().unwrap();
        let e = r
            .next_line()
            .unwrap()
            .unwrap()
            .parse::<Value>()
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("line 2: "), "{msg}");
        assert!(msg.contains("column"), "{msg}");
        let e = r
            .next_line()
            .unwrap()
            .unwrap()
            .parse::<Value>()
            .unwrap_err();
        assert!(matches!(e, JsonlError::NotObject { line: 3 }));
    }

    #[test]
    fn complete_last_line_without_newline_is_accepted() {
        let mut r = LineReader::new(&b"{\"a\":1}"[..]);
        let l = r.next_line().unwrap().unwrap();
        assert!(!l.terminated);
        assert!(l.parse::<Value>().is_ok());
    }

    #[test]
    fn type_only_reads_the_type() {
        let t: TypeOnly<'_> = serde_json::from_str("{\"type\":\"sample\",\"x\":[1,2]}").unwrap();
        assert_eq!(t.kind.as_deref(), Some("sample"));
    }
}
