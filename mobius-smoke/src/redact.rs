//! Secrets out of every output: each known secret value becomes `***`.

/// Variable names that hold secrets whatever their source (`api_token`, `DB_PASSWORD`, ...).
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["token", "password", "secret"]
        .iter()
        .any(|w| n.contains(w))
}

pub const MASK: &str = "***";

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn add(&mut self, value: &str) {
        if value.is_empty() || self.secrets.iter().any(|s| s == value) {
            return;
        }
        self.secrets.push(value.to_owned());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert!(
            is_secret_name("api_TOKEN") && is_secret_name("Password") && is_secret_name("secret")
        );
        assert!(!is_secret_name("user") && !is_secret_name("version"));
        let mut r = Redactor::default();
        r.add("abc");
        r.add("abcdef");
        r.add("");
        assert_eq!(r.apply("x abcdef y abc z"), "x *** y *** z");
        assert_eq!(r.apply("nothing"), "nothing");
    }
}
