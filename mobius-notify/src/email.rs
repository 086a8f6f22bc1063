//! The email channel's settings and delivery: reads `MOBIUS_SMTP_URL`, the addresses, the
//! credentials and the CA from the environment, checks them (a bad one is a usage error
//! naming it), sends through [`crate::smtp`], and keeps the credentials out of every message.

use crate::{env_var, scrub, smtp, Error};
use mobius_core::fsafe;
use mobius_core::redact::REDACTED;
use std::path::PathBuf;
use std::time::Duration;

/// A rendered mail and the raw settings it goes out with.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// `MOBIUS_SMTP_URL`
    pub url: &'a str,
    /// `MOBIUS_EMAIL_FROM`
    pub from: &'a str,
    /// `MOBIUS_EMAIL_TO`
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Sends `mail`; returns where it went (the server, no credentials) and the reply code.
pub fn send(mail: &Outgoing<'_>, timeout: Duration) -> Result<(String, u16), Error> {
    let server = smtp::Server::parse(mail.url).map_err(|msg| Error::BadSetting {
        var: "MOBIUS_SMTP_URL",
        msg: scrub(&msg, None),
    })?;
    let from = smtp::parse_mailbox(mail.from).map_err(|msg| Error::BadSetting {
        var: "MOBIUS_EMAIL_FROM",
        msg,
    })?;
    let to = smtp::parse_mailboxes(mail.to).map_err(|msg| Error::BadSetting {
        var: "MOBIUS_EMAIL_TO",
        msg,
    })?;
    let creds = smtp_credentials()?;
    let ca = smtp_ca()?;
    let trust = match &ca {
        Some(pem) => smtp::Trust::Pem(pem),
        None => smtp::Trust::Public,
    };
    let host = helo_name();
    let m = smtp::Mail {
        from: &from,
        to: &to,
        subject: mail.subject,
        body: mail.body,
        helo: &host,
    };
    let code =
        smtp::send(&server, &m, creds.as_ref(), &trust, timeout).map_err(|e| Error::Send {
            channel: "email",
            msg: scrub_credentials(&e.to_string(), creds.as_ref()),
        })?;
    Ok((server.to_string(), code))
}

/// `MOBIUS_SMTP_USERNAME` and `MOBIUS_SMTP_PASSWORD`: both or neither (exit 2).
fn smtp_credentials() -> Result<Option<smtp::Credentials>, Error> {
    match (
        env_var("MOBIUS_SMTP_USERNAME"),
        std::env::var("MOBIUS_SMTP_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
    ) {
        (Some(username), Some(password)) => Ok(Some(smtp::Credentials { username, password })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::BadSetting {
            var: "MOBIUS_SMTP_PASSWORD",
            msg: "not set, but MOBIUS_SMTP_USERNAME is: set both or neither".into(),
        }),
        (None, Some(_)) => Err(Error::BadSetting {
            var: "MOBIUS_SMTP_USERNAME",
            msg: "not set, but MOBIUS_SMTP_PASSWORD is: set both or neither".into(),
        }),
    }
}

/// The PEM text of `MOBIUS_SMTP_CACERT`, opened like every input (no FIFO, size-limited).
fn smtp_ca() -> Result<Option<Vec<u8>>, Error> {
    let Some(path) = std::env::var_os("MOBIUS_SMTP_CACERT").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let label = format!("MOBIUS_SMTP_CACERT {}", path.display());
    let pem = fsafe::read_input(&path, fsafe::Kind::Text).map_err(|source| Error::Read {
        path: label.clone(),
        source,
    })?;
    smtp::check_pem(&pem).map_err(|msg| Error::BadCaCert { path: label, msg })?;
    Ok(Some(pem))
}

/// A message about a delivery, with the SMTP password (and the username, and the AUTH PLAIN
/// token a server might echo) replaced, then the shared redaction rules.
pub fn scrub_credentials(msg: &str, creds: Option<&smtp::Credentials>) -> String {
    let mut s = msg.to_owned();
    if let Some(c) = creds {
        s = s.replace(&c.password, REDACTED);
        // A short username ("ops") would blank out ordinary words; it is not the secret.
        if c.username.len() >= 4 {
            s = s.replace(&c.username, REDACTED);
        }
    }
    scrub(&s, None)
}

/// This host's name for EHLO: letters, digits, `-` and `.` only.
fn helo_name() -> String {
    let host = mobius_core::history::actor().host;
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_scrubbed() {
        let c = smtp::Credentials {
            username: "mobius-bot".into(),
            password: "hunter2-XYZ".into(),
        };
        let s = scrub_credentials("535 bad login mobius-bot / hunter2-XYZ", Some(&c));
        assert!(!s.contains("hunter2") && !s.contains("mobius-bot"), "{s}");
        assert!(format!("{c:?}").contains("REDACTED"));
    }
}
