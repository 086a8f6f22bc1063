//! Which values of a smoke run are secrets, and the records as they may leave the process:
//! secret-named variables and captures, the variables and literal words of secret-like
//! headers, all masked by the one known-value masker of mobius-core.

use crate::spec::{self, Spec};
use mobius_core::records::{SmokeCheck, SmokeFailure};
use mobius_core::redact::{is_secret_key, Redactor};
use std::collections::BTreeSet;

/// Whether a variable's value is a secret: a secret-like name (the one list of
/// [`is_secret_key`]), or used in the value of a secret-like header.
pub(crate) fn is_secret_name(used_in_secret_headers: &BTreeSet<String>, name: &str) -> bool {
    is_secret_key(name) || used_in_secret_headers.contains(name)
}

/// The variables that secret-like headers (`Authorization`, `X-API-Key`, `Cookie`, ...) use,
/// whatever their names; the literal words of those headers' values (a token written into
/// the spec) go into `redactor`, but for the scheme word (`Bearer`).
pub(crate) fn secret_header_vars(spec: &Spec, redactor: &mut Redactor) -> BTreeSet<String> {
    const SCHEMES: &[&str] = &["bearer", "basic", "token", "digest", "negotiate", "ntlm"];
    let mut names = BTreeSet::new();
    for c in &spec.checks {
        for (header, value) in &c.headers {
            if !is_secret_key(header) {
                continue;
            }
            names.extend(spec::template_names(value).into_iter().map(str::to_owned));
            if let Ok(literal) = spec::substitute(value, &|_| Some(" ".to_owned())) {
                for word in literal.split_whitespace() {
                    if !SCHEMES.contains(&word.to_ascii_lowercase().as_str()) {
                        redactor.add(word);
                    }
                }
            }
        }
    }
    names
}

/// The redacted form of a record: what leaves the process.
pub(crate) fn redacted(c: &SmokeCheck, r: &Redactor) -> SmokeCheck {
    SmokeCheck {
        name: r.apply(&c.name),
        url: r.apply(&c.url),
        failures: c
            .failures
            .iter()
            .map(|f| SmokeFailure {
                expectation: r.apply(&f.expectation),
                expected: r.apply(&f.expected),
                actual: r.apply(&f.actual),
            })
            .collect(),
        ..c.clone()
    }
}
