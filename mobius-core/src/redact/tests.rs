//! One test per format and per kind of secret the engine must remove.

use super::*;
use serde_json::json;

/// `text` redacted by `f` holds none of `gone` and all of `kept`.
fn check(out: &str, gone: &[&str], kept: &[&str]) {
    for g in gone {
        assert!(!out.contains(g), "{g:?} left in:\n{out}");
    }
    for k in kept {
        assert!(out.contains(k), "{k:?} lost from:\n{out}");
    }
}

fn doc(name: &str, text: &str) -> String {
    String::from_utf8(redact_document(name, text.as_bytes()).into_owned()).unwrap()
}

#[test]
fn secret_keys() {
    for k in [
        "password",
        "DB_PASSWORD",
        "client-secret",
        "api_token",
        "API-Key",
        "apikey",
        "x-api-key",
        "X-Auth-Token",
        "auth",
        "basic_auth",
        "oauth",
        "private_key",
        "Credentials",
        "credential",
        "slack_webhook_url",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "set-cookie",
        "session_id",
        "pass",
        "db.pwd",
        "AWS_ACCESS_KEY_ID",
    ] {
        assert!(is_secret_key(k), "{k}");
    }
    for k in [
        "user",
        "version",
        "host",
        "url",
        "dsn",
        "passive",
        "author",
        "authority",
        "compass",
        "name",
    ] {
        assert!(!is_secret_key(k), "{k}");
    }
}

#[test]
fn json_values_nested_and_urls() {
    let mut v = json!({
        "user": "app",
        "password": "hunter2",
        "nested": {"deeper": [{"api_key": "K1"}, {"credentials": {"a": 1}}]},
        "dsn": "postgres://app:pw123@db:5432/x",
        "url": "https://tok@example.com/a?b=1",
        "plain": "http://example.com/health",
        "none": {"token": null},
    });
    assert!(redact_value(&mut v));
    let s = v.to_string();
    for canary in ["hunter2", "K1", "pw123", "tok@", "\"a\":1"] {
        assert!(!s.contains(canary), "{canary} in {s}");
    }
    assert_eq!(v["dsn"], "postgres://***REDACTED***@db:5432/x");
    assert_eq!(v["url"], "https://***REDACTED***@example.com/a?b=1");
    assert_eq!(v["plain"], "http://example.com/health");
    assert_eq!(v["nested"]["deeper"][1]["credentials"], REDACTED);
    assert!(v["none"]["token"].is_null());
    assert_eq!(v["user"], "app");
    assert!(!redact_value(&mut v), "idempotent");
}

#[test]
fn json_name_value_pairs_and_escaped_json_in_strings() {
    let mut v = json!({
        "env": [{"name": "DB_PASSWORD", "value": "pair-1"}, {"name": "LOG", "value": "info"}],
        "body": "{\"password\":\"esc-2\",\"n\":1}",
        "deeper": "{\"x\": \"{\\\"token\\\":\\\"esc-3\\\"}\"}",
        "log": "line one\npassword: |\n  block-4\nend",
        "xml": "<cfg><password>xml-5</password></cfg>",
    });
    assert!(redact_value(&mut v));
    check(
        &v.to_string(),
        &["pair-1", "esc-2", "esc-3", "block-4", "xml-5"],
        &["info", "DB_PASSWORD", "line one", "end"],
    );
}

#[test]
fn lines_unchanged_are_returned_byte_for_byte() {
    let line = r#"{"type":"sample","ts":"2026-11-26T12:00:00.000Z","target":"http://127.0.0.1:8080/health","ok":true}"#;
    assert!(!may_need_redaction(line));
    assert!(matches!(redact_json_line(line), Cow::Borrowed(_)));
    // A secret word in a value, not a key: parsed, nothing to change, returned as is.
    let line = r#"{"detail": "invalid token",   "ok": false}"#;
    assert!(matches!(redact_json_line(line), Cow::Borrowed(_)));
    let line = r#"{"a":{"Token":"s3cr3t"}}"#;
    assert_eq!(
        redact_json_line(line),
        r#"{"a":{"Token":"***REDACTED***"}}"#
    );
    // An escaped key spelling a secret word is caught after parsing.
    let line = r#"{"pass\u0077ord":"s3cr3t"}"#;
    assert!(!redact_json_line(line).contains("s3cr3t"));
}

#[test]
fn text_key_values_and_userinfo() {
    let cases = [
        ("password=hunter2 user=x", "password=***REDACTED*** user=x"),
        ("TOKEN: abc,next", "TOKEN: ***REDACTED***,next"),
        (
            r#"<prop name="x" api_key="k-9"/>"#,
            r#"<prop name="x" api_key="***REDACTED***"/>"#,
        ),
        (
            "connect to postgres://u:p@db/x failed",
            "connect to postgres://***REDACTED***@db/x failed",
        ),
        (r#""secret": "a\"b" }"#, r#""secret": "***REDACTED***" }"#),
        ("mail ops@example.com", "mail ops@example.com"),
        ("nothing here", "nothing here"),
        (
            "GET /x?access_token=qp-1&page=2",
            "GET /x?access_token=***REDACTED***&page=2",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(redact_text(input), want, "{input}");
    }
    assert_eq!(
        redact_text("a https://x:y@h1/ b ftp://z@h2 c"),
        "a https://***REDACTED***@h1/ b ftp://***REDACTED***@h2 c"
    );
    // Already redacted text stays as it is.
    let once = redact_text("password=x https://u:p@h").into_owned();
    assert_eq!(redact_text(&once), once);
}

#[test]
fn authorization_headers_lose_their_whole_value_whatever_the_scheme() {
    for (input, gone) in [
        ("Authorization: Bearer tok-1", "tok-1"),
        ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (
            "Proxy-Authorization: Digest user=\"u\", nonce=\"n-2\"",
            "n-2",
        ),
        ("Authorization: token gh-3 extra", "gh-3"),
        ("Cookie: sid=c-4; theme=dark", "theme=dark"),
        ("Set-Cookie: session=c-5; Path=/; HttpOnly", "c-5"),
        ("X-API-Key: k-6", "k-6"),
        ("X-Auth-Token: k-7", "k-7"),
        ("sent bearer tok-8 to the server", "tok-8"),
        (r#"{"Authorization":"Bearer tok-9"}"#, "tok-9"),
        ("curl -H 'Authorization: Bearer tok-10'", "tok-10"),
    ] {
        let out = redact_text(input);
        check(&out, &[gone], &[]);
        assert!(out.contains(REDACTED), "{out}");
    }
    assert_eq!(
        redact_text("Authorization: Bearer tok-1"),
        format!("Authorization: {REDACTED}")
    );
}

#[test]
fn escaped_json_and_xml_inside_text() {
    for (input, gone) in [
        (r#"body: {\"password\":\"e-1\"}"#, "e-1"),
        (r#"{\\\"token\\\": \\\"e-2\\\"}"#, "e-2"),
        ("&lt;password&gt;e-3&lt;/password&gt;", "e-3"),
        ("{&quot;api_key&quot;:&quot;e-4&quot;}", "e-4"),
        ("password=&quot;e-5&quot;", "e-5"),
        (r#"{\u0022secret\u0022:\u0022e-6\u0022}"#, "e-6"),
    ] {
        check(&redact_text(input), &[gone], &[]);
    }
}

#[test]
fn xml_elements_attributes_and_named_pairs() {
    let xml = r#"<?xml version="1.0"?>
<config>
  <db host="db1" password="x-attr"/>
  <ns:Password>x-elem</ns:Password>
  <token><![CDATA[x-cdata]]></token>
  <add key="DbPassword" value="x-pair"/>
  <entry name="api_key">x-entry</entry>
  <secret>
    x-multi
  </secret>
  <user>app</user>
</config>
"#;
    check(
        &doc("app.xml", xml),
        &[
            "x-attr", "x-elem", "x-cdata", "x-pair", "x-entry", "x-multi",
        ],
        &["db1", "<user>app</user>", "DbPassword"],
    );
}

#[test]
fn yaml_values_block_scalars_and_nested_secrets() {
    let yaml = "\
db:
  host: db1
  password: y-plain
  token: \"y-quoted\"
tls:
  private_key: |
    y-block-1
    y-block-2
  cert: public
notes: >
  folded text
secret_text: >-
  y-folded
credentials:
  user: y-user
  pass: y-nested
env:
  - name: DB_PASSWORD
    value: y-pair
  - name: LOG
    value: info
after: kept
";
    check(
        &doc("app.yaml", yaml),
        &[
            "y-plain",
            "y-quoted",
            "y-block-1",
            "y-block-2",
            "y-folded",
            "y-user",
            "y-nested",
            "y-pair",
        ],
        &[
            "db1",
            "cert: public",
            "folded text",
            "value: info",
            "after: kept",
        ],
    );
}

#[test]
fn ini_and_env_files() {
    let ini = "\
[database]
host = db1
password = i with spaces
; api_key = i-comment
[smtp]
user=mail
secret_key='i-quoted'
";
    check(
        &doc("app.ini", ini),
        &["i with spaces", "i-comment", "i-quoted"],
        &["host = db1", "user=mail", "[smtp]"],
    );
    let env = "LOG_LEVEL=info\nAPI_TOKEN=e1\nexport DB_PASSWORD=\"e 2\"\nexport AUTH=e3\nSTRIPE_APIKEY='e4'\n";
    let out = doc(".env", env);
    check(
        &out,
        &["e1", "e 2", "e3", "e4"],
        &["LOG_LEVEL=info", "export DB_PASSWORD="],
    );
    assert!(
        out.starts_with("LOG_LEVEL=info\nAPI_TOKEN=***REDACTED***\n"),
        "{out}"
    );
}

#[test]
fn pem_private_keys_are_removed_whole() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAp-1\nabcp-2==\n-----END RSA PRIVATE KEY-----\n";
    let cert = "-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n";
    let both = format!("{cert}{pem}");
    let out = doc("tls.pem", &both);
    check(&out, &["p-1", "p-2", "BEGIN RSA"], &["MIIcert"]);
    // In one line of text (escaped newlines), in a value, in a key file of any content.
    let escaped = pem.replace('\n', "\\n");
    check(
        &redact_text(&format!("key: \"{escaped}\"")),
        &["p-1", "p-2"],
        &[],
    );
    check(
        &redact_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn-3"),
        &["b3Blbn-3"],
        &[],
    );
    let env = format!("PRIVATE_KEY=\"{}\"\nNEXT=1\n", pem.trim_end());
    check(&doc("app.env", &env), &["p-1", "p-2"], &["NEXT=1"]);
    assert_eq!(
        doc("server.key", "anything at all"),
        format!("{REDACTED}\n")
    );
    assert_eq!(doc("id_ed25519", "k"), format!("{REDACTED}\n"));
}

#[test]
fn files_that_do_not_parse_are_redacted_line_by_line() {
    let broken = "{\"password\": \"u-1\",\n  \"token\": u-2\n  oops <<\nsecret=u-3\n";
    check(&doc("app.json", broken), &["u-1", "u-2", "u-3"], &["oops"]);
    let bin = b"\xff\xfepassword=u-4\n";
    let out = redact_document("blob.cfg", bin);
    assert!(!String::from_utf8_lossy(&out).contains("u-4"));
}

#[test]
fn documents_without_secrets_are_returned_byte_for_byte() {
    let json = b"{\n  \"health_url\": \"http://127.0.0.1/health\"\n}\n";
    assert!(matches!(
        redact_document("app.json", json),
        Cow::Borrowed(_)
    ));
    let yaml = b"a: 1\nb: two\n";
    assert!(matches!(redact_document("x.yaml", yaml), Cow::Borrowed(_)));
}

#[test]
fn known_values_and_masks() {
    let mut r = Redactor::default();
    r.add("abc");
    r.add("abcdef");
    r.add("");
    assert_eq!(r.apply("x abcdef y abc z"), "x *** y *** z");
    assert_eq!(r.apply("nothing"), "nothing");
    // A mask is left alone by the text rules.
    assert_eq!(r.apply("Bearer abc"), "Bearer ***");
    assert_eq!(r.apply("password=q"), format!("password={REDACTED}"));
}

#[test]
fn non_json_line_is_redacted_as_text() {
    assert_eq!(
        redact_json_line("{not json password=pw1"),
        "{not json password=***REDACTED***"
    );
}

#[test]
fn the_trigger_table_finds_what_a_plain_search_finds() {
    // The plain search the look-up tables replace.
    let plain = |t: &str| {
        let b = t.as_bytes();
        b.iter().any(|c| matches!(c, b'@' | b'\\' | b'&'))
            || (0..b.len()).any(|i| {
                TRIGGER_WORDS
                    .iter()
                    .any(|w| b.len() - i >= w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w))
            })
    };
    let mut cases: Vec<String> = [
        r#"{"type":"sample","target":"http://h/health","ok":true,"status":200}"#,
        "PASSWORD=x",
        "xPwD",
        "the ses",
        "sid",
        "si",
        "jw",
        "tail: Bearer",
        "k",
        "",
        "café secret",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for w in TRIGGER_WORDS {
        let w = std::str::from_utf8(w).unwrap();
        cases.push(format!("..{}..", w.to_uppercase()));
        cases.push(w[..w.len() - 1].to_owned());
        cases.push(format!("x{}", &w[1..]));
    }
    for c in &cases {
        assert_eq!(may_need_redaction(c), plain(c), "{c:?}");
    }
}
