//! Email over SMTP with the `lettre` crate (sync transport, rustls). This module decides the
//! policy; lettre speaks the protocol and builds the MIME message (quoted-printable or base64
//! bodies so no line passes 998 octets, RFC 2047 subjects, RFC 5322 dates and Message-IDs).
//!
//! Policy: `smtps://` is TLS from the first byte; `smtp://` upgrades with STARTTLS whenever
//! the server offers it, and *requires* it when credentials are set: a password is never
//! sent in clear. Certificates are checked against the public (Mozilla) roots built in, or,
//! with `MOBIUS_SMTP_CACERT`, against that PEM file only (a private CA).

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials as LettreCredentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{SmtpTransport, Transport};
use std::time::Duration;

/// Where to send: from `MOBIUS_SMTP_URL`, `smtp://host[:port]` or `smtps://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the start (RFC 8314), not STARTTLS.
    pub implicit_tls: bool,
}

impl Server {
    /// Parses `smtp://host[:port][/]` (port 25) or `smtps://host[:port][/]` (port 465);
    /// `[::1]` for IPv6.
    pub fn parse(url: &str) -> Result<Server, String> {
        let (rest, implicit_tls, default_port) = if let Some(r) = url.strip_prefix("smtps://") {
            (r, true, 465)
        } else if let Some(r) = url.strip_prefix("smtp://") {
            (r, false, 25)
        } else {
            return Err(
                "must be smtp://host[:port] (STARTTLS) or smtps://host[:port] (TLS)".into(),
            );
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            return Err("credentials in the URL are not read: set MOBIUS_SMTP_USERNAME and MOBIUS_SMTP_PASSWORD".into());
        }
        if rest.is_empty()
            || rest.contains(['/', '?', '#'])
            || rest.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("must be smtp://host[:port] or smtps://host[:port]".into());
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
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        Ok(Server {
            host: host.to_owned(),
            port,
            implicit_tls,
        })
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// One address, `ops@example.com` or `Ops Team <ops@example.com>`. Control characters are
/// refused before lettre sees it, so nothing can end a header or an SMTP command early.
pub fn parse_mailbox(a: &str) -> Result<Mailbox, String> {
    let a = a.trim();
    let bad = || format!("{a:?} is not an email address (addr@domain or Name <addr@domain>)");
    if a.is_empty() || a.chars().any(char::is_control) {
        return Err(bad());
    }
    a.parse::<Mailbox>().map_err(|_| bad())
}

/// A comma-separated list of addresses; commas inside quotes (`"Ops, Team" <o@x>`) or angle
/// brackets do not split. The first bad one is named.
pub fn parse_mailboxes(list: &str) -> Result<Vec<Mailbox>, String> {
    let mut parts = Vec::new();
    let (mut cur, mut quoted, mut angle) = (String::new(), false, false);
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    let boxes = parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| parse_mailbox(p))
        .collect::<Result<Vec<_>, _>>()?;
    if boxes.is_empty() {
        return Err("no recipient in it".into());
    }
    Ok(boxes)
}

/// SMTP AUTH credentials, from `MOBIUS_SMTP_USERNAME` / `MOBIUS_SMTP_PASSWORD` only.
/// Debug never shows them.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([REDACTED])")
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): autoresponders must not answer it.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Mail<'a> {
    pub from: &'a Mailbox,
    pub to: &'a [Mailbox],
    pub subject: &'a str,
    pub body: &'a str,
    /// The name this host gives in EHLO.
    pub helo: &'a str,
}

/// The MIME message: text/plain UTF-8, the transfer encoding chosen by lettre (7bit when
/// every line is short ASCII, else quoted-printable or base64).
pub fn message(mail: &Mail<'_>) -> Result<Message, String> {
    let subject: String = mail
        .subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut b = Message::builder()
        .from(mail.from.clone())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .header(AutoSubmitted);
    for t in mail.to {
        b = b.to(t.clone());
    }
    b.body(mail.body.to_owned()).map_err(|e| e.to_string())
}

/// Why a mail was not delivered; every text is scrubbed of the credentials by the caller.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("{server} does not offer STARTTLS: refusing to send MOBIUS_SMTP_USERNAME/MOBIUS_SMTP_PASSWORD in clear (use smtps:// or a server with STARTTLS)")]
    CleartextRefused { server: String },
    #[error("TLS with {server} failed: {msg}{hint}")]
    Tls {
        server: String,
        msg: String,
        hint: &'static str,
    },
    #[error("{server} refused the login: {msg}")]
    Auth { server: String, msg: String },
    #[error("{server}: {msg}")]
    Other { server: String, msg: String },
}

/// What the TLS layer trusts.
pub enum Trust<'a> {
    /// The public roots built in (webpki-roots).
    Public,
    /// Only the certificates of this PEM text.
    Pem(&'a [u8]),
}

/// Checks a PEM file's text holds a certificate lettre can load.
pub fn check_pem(pem: &[u8]) -> Result<(), String> {
    let has_cert = std::str::from_utf8(pem)
        .map(|t| t.contains("-----BEGIN CERTIFICATE-----"))
        .unwrap_or(false);
    if !has_cert {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into());
    }
    Certificate::from_pem(pem)
        .map(|_| ())
        .map_err(|e| format!("not a valid PEM certificate: {e}"))
}

fn tls_parameters(host: &str, trust: &Trust<'_>) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(host.to_owned());
    if let Trust::Pem(pem) = trust {
        let cert = Certificate::from_pem(pem).map_err(|e| e.to_string())?;
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| e.to_string())
}

/// Sends `mail`; returns the code of the reply that accepted it (250).
pub fn send(
    server: &Server,
    mail: &Mail<'_>,
    creds: Option<&Credentials>,
    trust: &Trust<'_>,
    timeout: Duration,
) -> Result<u16, SmtpError> {
    let name = server.to_string();
    let other = |msg: String| SmtpError::Other {
        server: name.clone(),
        msg,
    };
    let message = message(mail).map_err(|m| other(format!("cannot build the message: {m}")))?;
    let params = tls_parameters(&server.host, trust).map_err(|msg| SmtpError::Tls {
        server: name.clone(),
        msg,
        hint: "",
    })?;
    let tls = if server.implicit_tls {
        Tls::Wrapper(params)
    } else if creds.is_some() {
        Tls::Required(params)
    } else {
        Tls::Opportunistic(params)
    };
    let mut b = SmtpTransport::builder_dangerous(server.host.as_str())
        .port(server.port)
        .tls(tls)
        .timeout(Some(timeout))
        .hello_name(ClientId::Domain(mail.helo.to_owned()));
    if let Some(c) = creds {
        b = b
            .credentials(LettreCredentials::new(
                c.username.clone(),
                c.password.clone(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    match b.build().send(&message) {
        Ok(resp) => Ok(u16::from(resp.code())),
        Err(e) => Err(classify(&name, &e, creds.is_some(), timeout)),
    }
}

fn classify(
    server: &str,
    e: &lettre::transport::smtp::Error,
    with_creds: bool,
    timeout: Duration,
) -> SmtpError {
    let mut msg = one_line(&e.to_string());
    let server = server.to_owned();
    // A read past the socket timeout surfaces as EAGAIN ("os error 11"): say what it means.
    if e.is_timeout() || msg.contains("os error 11") || msg.contains("timed out") {
        msg = format!(
            "no answer within {} ({msg}; smtps:// to a STARTTLS port, or smtp:// to an smtps one?)",
            humantime::format_duration(timeout)
        );
    }
    if with_creds && msg.contains("STARTTLS is not supported") {
        return SmtpError::CleartextRefused { server };
    }
    if e.is_tls() || msg.contains("certificate") || msg.contains("tls") {
        let hint = if msg.contains("certificate") || msg.contains("Certificate") {
            " (a private CA? set MOBIUS_SMTP_CACERT to its PEM file)"
        } else {
            ""
        };
        return SmtpError::Tls { server, msg, hint };
    }
    if with_creds
        && (msg.contains("authentication")
            || msg.contains("(535)")
            || msg.contains("(534)")
            || msg.contains("(530)")
            || msg.contains("No compatible"))
    {
        return SmtpError::Auth { server, msg };
    }
    SmtpError::Other { server, msg }
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    s.chars().take(400).collect()
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
                port: 2525,
                implicit_tls: false,
            }
        );
        assert_eq!(Server::parse("smtp://mail.example/").unwrap().port, 25);
        let s = Server::parse("smtps://mail.example").unwrap();
        assert!(s.implicit_tls);
        assert_eq!(s.port, 465);
        assert_eq!(s.to_string(), "smtps://mail.example:465");
        assert_eq!(Server::parse("smtp://[::1]:26").unwrap().host, "::1");
        assert_eq!(
            Server::parse("smtp://[::1]:26").unwrap().to_string(),
            "smtp://[::1]:26"
        );
        for bad in [
            "http://h",
            "smtp://",
            "smtps://",
            "smtp://u:p@h",
            "smtp://h:0",
            "smtp://h:x",
            "smtp://h/x",
            "smtp://h\r\n",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        parse_mailbox("ops@example.com").unwrap();
        let m = parse_mailbox("Ops Team <ops@example.com>").unwrap();
        assert_eq!(m.email.to_string(), "ops@example.com");
        assert_eq!(m.name.as_deref(), Some("Ops Team"));
        for bad in [
            "",
            "a",
            "a@b@c",
            "a b@c",
            "a@b\r\nRCPT TO:<x@y>",
            "@b",
            "<a@b",
        ] {
            assert!(parse_mailbox(bad).is_err(), "{bad:?}");
        }
        let list = parse_mailboxes("\"Ops, Team\" <ops@x.org>, b@x.org ,").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name.as_deref(), Some("Ops, Team"));
        let err = parse_mailboxes("a@x.org, nope").unwrap_err();
        assert!(err.contains("\"nope\""), "{err}");
        assert!(parse_mailboxes(" , ").is_err());
    }

    #[test]
    fn message_encodes_long_and_non_ascii_lines() {
        let from = parse_mailbox("Mobius <m@x.org>").unwrap();
        let to = vec![parse_mailbox("a@x.org").unwrap()];
        let long = "é".repeat(3000) + &"x".repeat(5000);
        let body = format!("line 1\n.hidden\n{long}\n");
        let m = message(&Mail {
            from: &from,
            to: &to,
            subject: "Zurück ✓ rolled back\r\nBcc: evil@x",
            body: &body,
            helo: "web1",
        })
        .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.is_ascii(), "{raw}");
        assert!(raw.split("\r\n").all(|l| l.len() <= 998), "a line > 998");
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
        assert!(
            raw.to_ascii_lowercase().contains("subject: =?utf-8?"),
            "{raw}"
        );
    }

    #[test]
    fn pem_is_checked() {
        assert!(check_pem(b"hello").is_err());
        assert!(check_pem(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }
}
