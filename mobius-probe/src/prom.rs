//! The service's error rate and P95 from Prometheus: PromQL instant queries
//! (`GET <base>/api/v1/query?query=...`) and the reading of their answers, where every odd
//! value Prometheus can give (a value as a string, `NaN`, `±Inf`, no series, several series,
//! an API error) becomes a named problem for the sample's `detail`, never a number.

use crate::check::Metrics;
use std::time::{Duration, Instant};

/// The unit the P95 query answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum P95Unit {
    /// Milliseconds (used as is)
    Ms,
    /// Seconds, as Prometheus histograms are (multiplied by 1000)
    S,
}

impl P95Unit {
    pub fn parse(s: &str) -> Result<P95Unit, String> {
        match s {
            "ms" => Ok(P95Unit::Ms),
            "s" => Ok(P95Unit::S),
            _ => Err(format!("p95_unit is {s:?}, expected \"ms\" or \"s\"")),
        }
    }
}

/// Where and what to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromSource {
    /// The server's base URL (`http://127.0.0.1:9090`).
    pub url: String,
    pub error_rate_query: String,
    pub p95_query: Option<String>,
    pub p95_unit: P95Unit,
}

/// `<base>/api/v1/query`, whatever trailing slash the base has.
fn endpoint(base: &str) -> String {
    format!("{}/api/v1/query", base.trim_end_matches('/'))
}

/// Runs the source's queries within `budget`: the figures read, and the problems of those
/// that could not be (each named by its figure).
pub fn read(
    agent: &ureq::Agent,
    src: &PromSource,
    budget: Duration,
    max_body: u64,
) -> (Metrics, Vec<String>) {
    let t0 = Instant::now();
    let mut m = Metrics::default();
    let mut problems = Vec::new();
    match query(agent, &src.url, &src.error_rate_query, budget, max_body) {
        Ok(r) if (0.0..=1.0).contains(&r) => m.error_rate = Some(r),
        Ok(r) => problems.push(format!(
            "error_rate query: {r} is not a share between 0 and 1"
        )),
        Err(e) => problems.push(format!("error_rate query: {e}")),
    }
    if let Some(q) = &src.p95_query {
        let left = budget.saturating_sub(t0.elapsed());
        match query(agent, &src.url, q, left, max_body) {
            Ok(p) if p < 0.0 => problems.push(format!("p95 query: negative ({p})")),
            Ok(p) => {
                m.p95_ms = Some(match src.p95_unit {
                    P95Unit::Ms => p,
                    P95Unit::S => p * 1000.0,
                })
            }
            Err(e) => problems.push(format!("p95 query: {e}")),
        }
    }
    (m, problems)
}

/// One instant query: its single finite value, or what is wrong.
fn query(
    agent: &ureq::Agent,
    base: &str,
    promql: &str,
    budget: Duration,
    max_body: u64,
) -> Result<f64, String> {
    use std::io::Read;
    if budget < Duration::from_millis(1) {
        return Err("no time left in this check's timeout".into());
    }
    let resp = agent
        .get(endpoint(base))
        .query("query", promql)
        .config()
        .timeout_global(Some(budget))
        // Prometheus answers a bad query with 400 and a JSON error worth naming.
        .http_status_as_error(false)
        .build()
        .call();
    let mut resp = resp.map_err(|e| format!("Prometheus unreachable: {e}"))?;
    let status = resp.status().as_u16();
    let mut buf = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(max_body.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    if buf.len() as u64 > max_body {
        return Err(format!("answer larger than {max_body} bytes"));
    }
    parse_answer(status, &buf)
}

/// Reads an `/api/v1/query` answer (HTTP `status`, body `body`).
pub fn parse_answer(status: u16, body: &[u8]) -> Result<f64, String> {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) if !(200..=299).contains(&status) => return Err(format!("HTTP {status}")),
        Err(e) => return Err(format!("answer is not JSON: {e}")),
    };
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
    if text("status") != "success" {
        return Err(format!(
            "Prometheus error (HTTP {status}): {}: {}",
            if text("errorType").is_empty() {
                "unknown"
            } else {
                text("errorType")
            },
            excerpt(text("error"))
        ));
    }
    let data = &v["data"];
    let pair = match data["resultType"].as_str() {
        Some("vector") => {
            let result = data["result"]
                .as_array()
                .ok_or("data.result is not a list")?;
            match result.len() {
                0 => {
                    return Err(
                        "the query returns an empty vector (no series matched: not scraped yet, or no requests?)"
                            .into(),
                    )
                }
                1 => &result[0]["value"],
                n => {
                    return Err(format!(
                        "the query returns {n} series; aggregate it, e.g. sum(...)"
                    ))
                }
            }
        }
        Some("scalar") => &data["result"],
        Some(other) => {
            return Err(format!(
                "the query returns a {}, not an instant vector or scalar",
                excerpt(other)
            ))
        }
        None => return Err("the answer has no data.resultType".into()),
    };
    // A value is [unix_time, "text"]: Prometheus sends numbers as strings.
    let value = &pair[1];
    let n = match value {
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => {
                return Err("the query returns NaN (a ratio over no requests, e.g. 0/0)".into())
            }
            "+Inf" | "Inf" => return Err("the query returns +Inf".into()),
            "-Inf" => return Err("the query returns -Inf".into()),
            s => s
                .parse::<f64>()
                .map_err(|_| format!("value \"{}\" is not a number", excerpt(s)))?,
        },
        serde_json::Value::Number(n) => n.as_f64().ok_or("value is not a number")?,
        _ => return Err("the answer has no [time, value] pair".into()),
    };
    if !n.is_finite() {
        return Err(format!("the query returns {n}"));
    }
    Ok(n)
}

/// Quoted server text stays short and escaped.
fn excerpt(s: &str) -> String {
    mobius_core::fsafe::excerpt(s.as_bytes(), 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(values: &[&str]) -> String {
        let series: Vec<String> = values
            .iter()
            .map(|v| format!(r#"{{"metric":{{}},"value":[1700000000.123,"{v}"]}}"#))
            .collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            series.join(",")
        )
    }

    #[test]
    fn string_values_are_parsed() {
        assert_eq!(parse_answer(200, vector(&["0.25"]).as_bytes()), Ok(0.25));
        assert_eq!(parse_answer(200, vector(&["1e-3"]).as_bytes()), Ok(0.001));
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}"#;
        assert_eq!(parse_answer(200, scalar.as_bytes()), Ok(7.0));
    }

    #[test]
    fn odd_values_are_named() {
        let err = |body: &str| parse_answer(200, body.as_bytes()).unwrap_err();
        assert!(err(&vector(&["NaN"])).contains("NaN"));
        assert!(err(&vector(&["+Inf"])).contains("+Inf"));
        assert!(err(&vector(&["-Inf"])).contains("-Inf"));
        assert!(err(&vector(&["abc"])).contains("is not a number"));
        assert!(err(&vector(&[])).contains("empty vector"));
        assert_eq!(
            err(&vector(&["1", "2", "3"])),
            "the query returns 3 series; aggregate it, e.g. sum(...)"
        );
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(err(matrix).contains("matrix"));
    }

    #[test]
    fn api_errors_are_named() {
        let body =
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"}"#;
        let e = parse_answer(400, body.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            "Prometheus error (HTTP 400): bad_data: 1:5: parse error: unexpected"
        );
        assert_eq!(parse_answer(502, b"<html>").unwrap_err(), "HTTP 502");
        assert!(parse_answer(200, b"<html>")
            .unwrap_err()
            .starts_with("answer is not JSON"));
    }
}
