//! The baseline for bench/judge.sh: reads stdin line by line (one reused buffer, as the judge
//! does) and only parses each line with serde_json, checking nothing and deciding nothing.
//!
//! `parse_only [--ignored | --value | --sample] < samples.jsonl`
//! - `--ignored` (default): into `serde::de::IgnoredAny` — full JSON validation, no values
//!   built. This is "bare serde_json parsing", the benchmark's baseline.
//! - `--value`: into `serde_json::Value` (allocates a map per line).
//! - `--sample`: into the owned `mobius_core::records::Record` (allocates the strings).
use serde::de::IgnoredAny;
use std::io::{BufRead, BufReader};

fn main() {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "--ignored".to_owned());
    let mut input = BufReader::with_capacity(256 * 1024, std::io::stdin().lock());
    let mut line = Vec::with_capacity(1024);
    let mut n = 0u64;
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("parse_only: read failed: {e}");
                std::process::exit(4);
            }
        }
        let ok = match mode.as_str() {
            "--ignored" => serde_json::from_slice::<IgnoredAny>(&line).is_ok(),
            "--value" => serde_json::from_slice::<serde_json::Value>(&line).is_ok(),
            "--sample" => serde_json::from_slice::<mobius_core::records::Record>(&line).is_ok(),
            other => {
                eprintln!("parse_only: unknown mode {other} (--ignored, --value, --sample)");
                std::process::exit(2);
            }
        };
        if !ok {
            eprintln!("parse_only: line {} does not parse", n + 1);
            std::process::exit(3);
        }
        n += 1;
    }
    eprintln!("parse_only: {n} lines");
}
