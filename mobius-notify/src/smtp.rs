//! A minimal SMTP client (RFC 5321) over a plain TCP connection: EHLO (HELO when refused),
//! MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT, every reply code checked, every read and
//! write under a timeout. Meant for a local relay or an internal smarthost; no TLS and no
//! AUTH, so credentials are refused rather than sent in clear.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where to send: from `MOBIUS_SMTP_URL`, `smtp://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
}

impl Server {
    /// Parses `smtp://host[:port][/]` (port 25 by default; `[::1]` for IPv6).
    pub fn parse(url: &str) -> Result<Server, String> {
        let rest = url.strip_prefix("smtp://").ok_or_else(|| {
            "must be smtp://host[:port] (smtps and STARTTLS are not supported: relay through a local MTA)".to_owned()
        })?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            return Err("credentials in the URL are not supported (no AUTH over plain SMTP); use a relay that accepts this host".into());
        }
        if rest.is_empty()
            || rest.contains(['/', '?', '#'])
            || rest.chars().any(char::is_whitespace)
        {
            return Err("must be smtp://host[:port]".into());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("port '{p}' is not a number 1-65535"))?;
                (h, port)
            }
            _ => (rest, 25),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        Ok(Server {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "smtp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "smtp://{}:{}", self.host, self.port)
        }
    }
}

/// An address for the envelope and the headers: no spaces, angle brackets or control
/// characters (so it cannot inject a command or a header), one `@`.
pub fn check_address(a: &str) -> Result<(), String> {
    let ok = a.matches('@').count() == 1
        && !a.starts_with('@')
        && !a.ends_with('@')
        && a.len() <= 254
        && !a
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'));
    if ok {
        Ok(())
    } else {
        Err(format!("{a:?} is not an email address"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot connect to {server}")]
    Connect {
        server: String,
        #[source]
        source: io::Error,
    },
    #[error("{server}: connection failed during {step}")]
    Io {
        server: String,
        step: String,
        #[source]
        source: io::Error,
    },
    #[error("{server} refused {step}: {reply}")]
    Refused {
        server: String,
        step: String,
        reply: String,
    },
    #[error("{server} answered {step} with something that is not an SMTP reply: {reply:?}")]
    Garbled {
        server: String,
        step: String,
        reply: String,
    },
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Mail<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    /// The name this host gives in EHLO.
    pub helo: &'a str,
}

struct Session {
    server: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    /// Reads one (possibly multi-line) reply: its code and its text.
    fn reply(&mut self, step: &str) -> Result<(u16, String), SmtpError> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|source| self.io(step, source))?;
            if n == 0 {
                return Err(self.io(
                    step,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ),
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let b = line.as_bytes();
            let code = line
                .get(..3)
                .filter(|c| c.bytes().all(|d| d.is_ascii_digit()))
                .and_then(|c| c.parse::<u16>().ok());
            let (Some(code), true) = (code, b.len() == 3 || matches!(b.get(3), Some(b' ' | b'-')))
            else {
                return Err(SmtpError::Garbled {
                    server: self.server.clone(),
                    step: step.to_owned(),
                    reply: line.chars().take(200).collect(),
                });
            };
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line.get(4..).unwrap_or_default());
            if b.get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
    }

    fn io(&self, step: &str, source: io::Error) -> SmtpError {
        SmtpError::Io {
            server: self.server.clone(),
            step: step.to_owned(),
            source,
        }
    }

    /// Sends a command (or data) and checks the reply's code is one of `ok`.
    fn command(&mut self, step: &str, data: &[u8], ok: &[u16]) -> Result<u16, SmtpError> {
        self.writer
            .write_all(data)
            .and_then(|()| self.writer.flush())
            .map_err(|source| self.io(step, source))?;
        self.expect(step, ok)
    }

    fn expect(&mut self, step: &str, ok: &[u16]) -> Result<u16, SmtpError> {
        let (code, text) = self.reply(step)?;
        if ok.contains(&code) {
            Ok(code)
        } else {
            Err(SmtpError::Refused {
                server: self.server.clone(),
                step: step.to_owned(),
                reply: format!("{code} {text}").chars().take(300).collect(),
            })
        }
    }
}

/// Sends `mail` to `server`; returns the code of the reply that accepted the message (250).
pub fn send(server: &Server, mail: &Mail<'_>, timeout: Duration) -> Result<u16, SmtpError> {
    let name = server.to_string();
    let connect_err = |source| SmtpError::Connect {
        server: name.clone(),
        source,
    };
    let addrs: Vec<_> = (server.host.as_str(), server.port)
        .to_socket_addrs()
        .map_err(connect_err)?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let stream = stream.ok_or_else(|| connect_err(last))?;
    let setup = stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .and_then(|()| stream.try_clone());
    let writer = setup.map_err(connect_err)?;
    let mut s = Session {
        server: name,
        reader: BufReader::new(stream),
        writer,
    };
    s.expect("the greeting", &[220])?;
    let ehlo = format!("EHLO {}\r\n", mail.helo);
    if let Err(e) = s.command("EHLO", ehlo.as_bytes(), &[250]) {
        // An old server that does not know EHLO answers 5xx; HELO is the fallback RFC 5321 names.
        match e {
            SmtpError::Refused { .. } => {
                s.command("HELO", format!("HELO {}\r\n", mail.helo).as_bytes(), &[250])?;
            }
            other => return Err(other),
        }
    }
    s.command(
        "MAIL FROM",
        format!("MAIL FROM:<{}>\r\n", mail.from).as_bytes(),
        &[250],
    )?;
    for to in mail.to {
        s.command(
            &format!("RCPT TO:<{to}>"),
            format!("RCPT TO:<{to}>\r\n").as_bytes(),
            &[250, 251],
        )?;
    }
    s.command("DATA", b"DATA\r\n", &[354])?;
    let mut data = dot_stuff(&message(mail, SystemTime::now()));
    data.push_str(".\r\n");
    let code = s.command("the message", data.as_bytes(), &[250])?;
    // The message is accepted; a server that hangs up without answering QUIT changes nothing.
    let _ = s.command("QUIT", b"QUIT\r\n", &[221]);
    Ok(code)
}

/// The message: headers and body, lines ended by CRLF, the body's line ends normalised.
pub fn message(mail: &Mail<'_>, now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut m = String::new();
    m.push_str(&format!("Date: {}\r\n", rfc5322_date(secs)));
    m.push_str(&format!("From: <{}>\r\n", mail.from));
    let to: Vec<String> = mail.to.iter().map(|t| format!("<{t}>")).collect();
    m.push_str(&format!("To: {}\r\n", to.join(", ")));
    m.push_str(&format!("Subject: {}\r\n", encode_header(mail.subject)));
    m.push_str(&format!(
        "Message-ID: <mobius-notify.{secs}.{}@{}>\r\n",
        std::process::id(),
        mail.helo
    ));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    m.push_str("Content-Transfer-Encoding: 8bit\r\n");
    m.push_str("Auto-Submitted: auto-generated\r\n\r\n");
    for line in mail.body.lines() {
        m.push_str(line);
        m.push_str("\r\n");
    }
    m
}

/// RFC 5321 §4.5.2: a line that starts with `.` gets one more, so only the final `.` ends
/// the data. Expects CRLF line ends.
pub fn dot_stuff(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len() + 16);
    for line in msg.split_inclusive("\r\n") {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    out
}

/// A subject line as a header value: one line; non-ASCII text as an RFC 2047 encoded word.
pub fn encode_header(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.is_ascii() {
        one_line
    } else {
        format!("=?UTF-8?B?{}?=", base64(one_line.as_bytes()))
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Thu, 26 Nov 2026 19:23:24 +0000` for seconds since the epoch (UTC).
fn rfc5322_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = mobius_core::time::civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Server::parse("smtp://127.0.0.1:2525").unwrap(),
            Server {
                host: "127.0.0.1".into(),
                port: 2525
            }
        );
        assert_eq!(Server::parse("smtp://mail.example/").unwrap().port, 25);
        assert_eq!(Server::parse("smtp://[::1]:26").unwrap().host, "::1");
        assert_eq!(
            Server::parse("smtp://[::1]:26").unwrap().to_string(),
            "smtp://[::1]:26"
        );
        for bad in [
            "smtps://h",
            "http://h",
            "smtp://",
            "smtp://u:p@h",
            "smtp://h:0",
            "smtp://h:x",
            "smtp://h/x",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        check_address("ops@example.com").unwrap();
        for bad in [
            "",
            "a",
            "a@b@c",
            "a b@c",
            "a@b\r\nRCPT TO:<x@y>",
            "<a@b>",
            "@b",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dot_stuffing_and_message() {
        assert_eq!(
            dot_stuff(".a\r\nb\r\n..c\r\n.\r\n"),
            "..a\r\nb\r\n...c\r\n..\r\n"
        );
        let to = vec!["a@x".to_owned(), "b@x".to_owned()];
        let m = message(
            &Mail {
                from: "m@x",
                to: &to,
                subject: "Rolled back\r\nBcc: evil@x",
                body: "line 1\n.hidden\nline 3",
                helo: "web1",
            },
            UNIX_EPOCH + Duration::from_secs(1_795_721_004),
        );
        assert!(
            m.starts_with("Date: Thu, 26 Nov 2026 19:23:24 +0000\r\n"),
            "{m}"
        );
        assert!(m.contains("\r\nTo: <a@x>, <b@x>\r\n"));
        assert!(
            m.contains("\r\nSubject: Rolled back  Bcc: evil@x\r\n"),
            "{m}"
        );
        assert!(
            m.ends_with("\r\n\r\nline 1\r\n.hidden\r\nline 3\r\n"),
            "{m}"
        );
        assert!(dot_stuff(&m).contains("\r\n..hidden\r\n"));
    }

    #[test]
    fn encoded_words() {
        assert_eq!(encode_header("plain"), "plain");
        assert_eq!(encode_header("Zurück ✓"), "=?UTF-8?B?WnVyw7xjayDinJM=?=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
