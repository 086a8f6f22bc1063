//! Environment names. A name becomes part of paths (`config/<env>/`, `history/<env>.jsonl`),
//! so anything that could escape a directory or confuse a shell is refused before any file is
//! touched: `^[a-z][a-z0-9_-]{0,31}$`.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid environment name {shown}: {why}")]
pub struct EnvNameError {
    shown: String,
    why: &'static str,
}

impl EnvName {
    pub fn parse(s: &str) -> Result<EnvName, EnvNameError> {
        // Debug formatting makes newlines, NULs and empty strings visible in the message.
        let err = |why| EnvNameError {
            shown: format!("{s:?}"),
            why,
        };
        let mut chars = s.chars();
        match chars.next() {
            None => return Err(err("it is empty")),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(err("it must start with a lowercase letter a-z"))
            }
            Some(_) => {}
        }
        if s.len() > 32 {
            return Err(err("it is longer than 32 characters"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
            return Err(err("only a-z, 0-9, '_' and '-' are allowed"));
        }
        Ok(EnvName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = EnvNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EnvName::parse(s)
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EnvName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "production",
            "staging",
            "prod-eu",
            "a",
            "env_2",
            &"a".repeat(32),
        ] {
            assert!(EnvName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_dangerous_names() {
        for bad in [
            "",
            "../prod",
            "prod;rm -rf /",
            "-rf",
            "Prod",
            "prod\n",
            "prod/x",
            "1prod",
            "prod x",
            "pröd",
            "prod\0",
            &"a".repeat(33),
        ] {
            assert!(EnvName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn message_shows_the_input_and_the_problem() {
        let e = EnvName::parse("../prod").unwrap_err().to_string();
        assert!(e.contains("\"../prod\""), "{e}");
        assert!(e.contains("lowercase"), "{e}");
    }

    proptest! {
        #[test]
        fn accepted_names_are_safe_path_components(s in "\\PC{0,40}") {
            if let Ok(name) = EnvName::parse(&s) {
                prop_assert!(!name.as_str().contains('/'));
                prop_assert!(!name.as_str().contains(".."));
                prop_assert!(!name.as_str().starts_with('-'));
                prop_assert!(name.as_str().len() <= 32);
            }
        }
    }
}
