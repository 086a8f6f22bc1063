//! CSV that is safe to open in a spreadsheet: RFC 4180 quoting (the csv crate), and every
//! field that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab
//! or CR) prefixed with `'`. Negative numbers get the prefix too: a number-looking text is
//! the lesser harm.

use std::borrow::Cow;
use std::io::{self, Write};

/// The field as written: prefixed with `'` when it could start a formula.
pub fn safe(field: &str) -> Cow<'_, str> {
    match field.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{field}")),
        _ => Cow::Borrowed(field),
    }
}

/// Writes rows of text fields, each made safe.
pub struct CsvOut<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvOut<W> {
    pub fn new(out: W, header: &[&str]) -> io::Result<CsvOut<W>> {
        let mut w = CsvOut {
            inner: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(out),
        };
        w.row(header.iter().map(|s| (*s).to_owned()))?;
        Ok(w)
    }

    pub fn row<I, S>(&mut self, fields: I) -> io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<String> = fields
            .into_iter()
            // Cells come from history details and verify problems: redacted first.
            .map(|f| safe(&mobius_core::redact::redact_text(f.as_ref())).into_owned())
            .collect();
        self.inner.write_record(&cells).map_err(csv_io)
    }

    pub fn finish(self) -> io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// A number for a CSV cell: empty for none, up to `digits` decimals without trailing zeros.
pub fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let s = format!("{x:.digits$}");
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                s
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_fields_are_prefixed() {
        for (input, want) in [
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+1", "'+1"),
            ("-5", "'-5"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("plain", "plain"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(safe(input), want);
        }
    }

    #[test]
    fn rfc4180_quoting_round_trips() {
        let mut w = CsvOut::new(Vec::new(), &["a", "b"]).unwrap();
        w.row(["x,y", "say \"hi\"\nbye"]).unwrap();
        w.row(["=1+1", "ok"]).unwrap();
        let bytes = w.finish().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("a,b\r\n\"x,y\",\"say \"\"hi\"\"\nbye\"\r\n"));
        let mut r = csv::Reader::from_reader(&bytes[..]);
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(&rows[0][1], "say \"hi\"\nbye");
        assert_eq!(&rows[1][0], "'=1+1");
    }

    #[test]
    fn numbers() {
        assert_eq!(num(Some(0.75), 4), "0.75");
        assert_eq!(num(Some(12.0), 3), "12");
        assert_eq!(num(Some(19.05), 3), "19.05");
        assert_eq!(num(None, 3), "");
        assert_eq!(num(Some(f64::NAN), 3), "");
    }
}
