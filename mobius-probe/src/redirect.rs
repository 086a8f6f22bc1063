//! Where a redirect leads: the `Location` of a 3xx answer resolved against the URL that gave
//! it (RFC 3986 §5.2), or the reason it cannot be followed.
//!
//! The probe follows redirects itself rather than leaving it to ureq, so that a Location
//! that is not an HTTP(S) URL (`file:///etc/passwd`, `ftp://...`) or not a URL at all
//! (`http://[::1`) is a `redirect` failure naming it — ureq requests such a value as a path
//! on the same host and reports whatever that host answers — and so that a redirect whose
//! target fails still carries the status and latency of the answer that redirected.

use ureq::http::uri::{Authority, PathAndQuery, Scheme};
use ureq::http::Uri;

/// Why a Location cannot be followed, for a `redirect` failure's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not valid as a URI reference (bytes outside visible ASCII, bad authority ...).
    Malformed(&'static str),
    /// An absolute URL of another scheme.
    Scheme(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Malformed(why) => write!(f, "malformed Location ({why})"),
            Refused::Scheme(s) => write!(f, "scheme {s}: is not HTTP(S), so it was not followed"),
        }
    }
}

/// The URL `location` points to, seen from `base`.
pub fn resolve(base: &Uri, location: &[u8]) -> Result<Uri, Refused> {
    // RFC 3986 references are visible ASCII; a space, a control byte or UTF-8 is not one
    // (ureq would percent-guess; a probe should say the service is broken).
    if location.is_empty() {
        return Err(Refused::Malformed("empty"));
    }
    if !location.iter().all(|b| b.is_ascii_graphic()) {
        return Err(Refused::Malformed(
            "holds a space, a control character or a non-ASCII byte",
        ));
    }
    let loc = std::str::from_utf8(location).map_err(|_| Refused::Malformed("not ASCII"))?;
    // The fragment is the client's business and never sent.
    let loc = loc.split('#').next().unwrap_or_default();
    let base_scheme = base.scheme().cloned().unwrap_or(Scheme::HTTP);

    if let Some(scheme) = scheme_of(loc) {
        let lower = scheme.to_ascii_lowercase();
        if lower != "http" && lower != "https" {
            return Err(Refused::Scheme(lower));
        }
        let rest = &loc[scheme.len() + 1..];
        let Some(after) = rest.strip_prefix("//") else {
            return Err(Refused::Malformed("an http(s) URL without //host"));
        };
        let scheme: Scheme = lower
            .parse()
            .map_err(|_| Refused::Malformed("bad scheme"))?;
        return absolute(scheme, after);
    }
    if let Some(after) = loc.strip_prefix("//") {
        return absolute(base_scheme, after);
    }
    let authority = base
        .authority()
        .cloned()
        .ok_or(Refused::Malformed("the base has no host"))?;
    let (ref_path, query) = match loc.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (loc, None),
    };
    let base_path = base.path();
    let path = if ref_path.is_empty() {
        base_path.to_owned()
    } else if ref_path.starts_with('/') {
        remove_dot_segments(ref_path)
    } else {
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        let merged = if dir.is_empty() {
            format!("/{ref_path}")
        } else {
            format!("{dir}{ref_path}")
        };
        remove_dot_segments(&merged)
    };
    let query = match query {
        Some(q) => Some(q.to_owned()),
        None if ref_path.is_empty() => base.query().map(str::to_owned),
        None => None,
    };
    build(base_scheme, authority, &path, query.as_deref())
}

/// The scheme of an absolute reference: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
fn scheme_of(loc: &str) -> Option<&str> {
    let end = loc.find(':')?;
    let s = &loc[..end];
    let mut chars = s.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        // A ':' after a '/' or '?' belongs to the path or query ("/a:b").
        && !s.contains(['/', '?']))
    .then_some(s)
}

/// `scheme://` + `after` (authority, path, query).
fn absolute(scheme: Scheme, after: &str) -> Result<Uri, Refused> {
    let cut = after.find(['/', '?']).unwrap_or(after.len());
    let (auth, rest) = after.split_at(cut);
    if auth.is_empty() {
        return Err(Refused::Malformed("no host"));
    }
    let authority: Authority = auth
        .parse()
        .map_err(|_| Refused::Malformed("bad host or port"))?;
    if authority.host().is_empty() {
        return Err(Refused::Malformed("no host"));
    }
    // http's Authority takes any digits as a port; one past 65535 names no port at all.
    let a = authority.as_str();
    if let Some(port) = a.rfind(':').map(|i| &a[i + 1..]) {
        if !port.contains(']') && !port.is_empty() && port.parse::<u16>().is_err() {
            return Err(Refused::Malformed("bad port"));
        }
    }
    if authority.as_str().contains('@') {
        // Credentials handed out by a redirect are not ours to send (nor to print).
        return Err(Refused::Malformed("holds user credentials"));
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        remove_dot_segments(path)
    };
    build(scheme, authority, &path, query)
}

fn build(
    scheme: Scheme,
    authority: Authority,
    path: &str,
    query: Option<&str>,
) -> Result<Uri, Refused> {
    let pq = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let pq: PathAndQuery = pq
        .parse()
        .map_err(|_| Refused::Malformed("bad path or query"))?;
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(pq)
        .build()
        .map_err(|_| Refused::Malformed("not a URL"))
}

/// RFC 3986 §5.2.4 on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_dir = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing_dir = i == last,
            ".." => {
                out.pop();
                trailing_dir = i == last;
            }
            s => {
                out.push(s);
                trailing_dir = false;
            }
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing_dir || s.is_empty() {
        s.push('/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, loc: &str) -> Result<String, Refused> {
        resolve(&base.parse().unwrap(), loc.as_bytes()).map(|u| u.to_string())
    }

    #[test]
    fn references_resolve_as_rfc_3986_says() {
        // The examples of RFC 3986 §5.4.1 that apply to HTTP, from http://a/b/c/d;p?q.
        let base = "http://a/b/c/d;p?q";
        for (loc, want) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/../h", "http://a/b/c/h"),
            ("HTTPS://x:8443/y", "https://x:8443/y"),
        ] {
            assert_eq!(r(base, loc).as_deref(), Ok(want), "{loc}");
        }
        assert_eq!(
            r("https://h:1/a", "//other/x").as_deref(),
            Ok("https://other/x")
        );
    }

    #[test]
    fn other_schemes_and_broken_locations_are_refused() {
        for (loc, want) in [
            ("file:///etc/passwd", Refused::Scheme("file".into())),
            ("ftp://example.com/x", Refused::Scheme("ftp".into())),
            ("javascript:alert(1)", Refused::Scheme("javascript".into())),
            ("gopher://h/", Refused::Scheme("gopher".into())),
        ] {
            assert_eq!(r("http://a/b", loc), Err(want), "{loc}");
        }
        for loc in [
            "",
            "http://[::1",
            "http://a b/",
            "http:/nohost",
            "http://",
            "http://:80/x",
            "http://h:99999/",
            "http://user:pw@h/",
            "/caf\u{e9}",
            "/x\ty",
        ] {
            assert!(
                matches!(r("http://a/b", loc), Err(Refused::Malformed(_))),
                "{loc:?}: {:?}",
                r("http://a/b", loc)
            );
        }
    }
}
