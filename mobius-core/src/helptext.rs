//! `--help` text that reads well at any terminal width. The tools' long descriptions are
//! written as plain text wrapped at ~90 columns in the source; left to clap, a narrower
//! terminal re-wraps each source line on its own and leaves a stub of two words on every
//! other line. Here each paragraph is joined back into one logical line and wrapped once at the
//! width clap will use, with list items keeping their hanging indent, and indented lines
//! (examples, tables) left exactly as written.

/// The width help is laid out at: `COLUMNS` if set, else the terminal's, else 100; at most 100
/// (long lines are hard to read) and at least 40.
pub fn width() -> usize {
    let w = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .unwrap_or(100);
    w.clamp(40, 100)
}

/// One source line's shape.
struct Line<'a> {
    indent: usize,
    /// Where a wrapped continuation starts: after a list marker, else at the indent.
    hang: usize,
    text: &'a str,
    /// Starts an item of its own (a list item, a table row, `name: what it is`): never joined
    /// to the line before.
    item: bool,
    /// An example: a command or a record, never joined or re-wrapped, only broken where a
    /// shell or a JSON reader allows when it is too long.
    code: bool,
}

fn shape(line: &str) -> Line<'_> {
    let text = line.trim_start();
    let indent = line.len() - text.len();
    let mut marker = list_marker(text);
    if marker == 0 && indent > 0 {
        marker = definition_column(text);
    }
    let named = indent > 0 && marker == 0 && is_named_item(text);
    Line {
        indent,
        hang: indent + marker,
        text,
        item: marker > 0 || named,
        code: indent > 0 && marker == 0 && !named && looks_like_code(text),
    }
}

/// `error: timeout | connect ...`, `status: null when ...`: an indented line that defines a
/// name.
fn is_named_item(text: &str) -> bool {
    let name = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"_/.-".contains(b))
        .count();
    name > 0 && text[name..].starts_with(": ")
}

fn looks_like_code(text: &str) -> bool {
    const STARTS: [&str; 11] = [
        "mobius-",
        "scripts/",
        "./",
        "cargo ",
        "sed ",
        "sha256sum",
        "--",
        "ls ",
        "curl ",
        "LATEST",
        "for ",
    ];
    text.starts_with(['{', '[', '"', '$', '/', '<', '|', '#', '}', ']'])
        || STARTS.iter().any(|s| text.starts_with(s))
}

/// The width of a list marker and the space after it (`1. `, `- `, `* `), or 0.
fn list_marker(text: &str) -> usize {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &text[digits..];
    let mark = if digits > 0 && (rest.starts_with(". ") || rest.starts_with(") ")) {
        digits + 1
    } else if digits > 0 && rest.starts_with("  ") {
        // A table row such as the exit codes' "  0  success: ...".
        digits
    } else if rest.starts_with("- ") || rest.starts_with("* ") {
        1
    } else {
        return 0;
    };
    mark + text[mark..].bytes().take_while(|b| *b == b' ').count()
}

/// In an indented two-column table row (`term    what it means`), where the second column
/// starts (counted from the term), or 0: after a short term and two spaces, or anywhere after
/// four (a comment beside an example).
fn definition_column(text: &str) -> usize {
    let Some(gap) = text.find("  ") else {
        return 0;
    };
    let spaces = text[gap..].bytes().take_while(|b| *b == b' ').count();
    if (gap > 32 && spaces < 4) || gap + spaces >= text.len() {
        return 0;
    }
    gap + spaces
}

/// Joins each paragraph's hand-wrapped lines and wraps them again at `width`, list items and
/// table rows with their hanging indent; examples stay as written unless too long.
pub fn reflow(text: &str, width: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut cur: Option<Logical> = None;
    // A JSON record example being gathered from its source lines: (indent, text).
    let mut record: Option<(usize, String)> = None;
    let flush =
        |cur: &mut Option<Logical>, record: &mut Option<(usize, String)>, out: &mut Vec<String>| {
            if let Some(l) = cur.take() {
                wrap_into(&l.prefix, &l.words, l.hang, width, out);
            }
            if let Some((indent, text)) = record.take() {
                break_code(&text, indent, width, out);
            }
        };
    for raw in text.lines() {
        let line = shape(raw);
        if line.text.is_empty() {
            flush(&mut cur, &mut record, &mut out);
            out.push(String::new());
            continue;
        }
        let text = line.text.trim_end();
        if let Some((indent, joined)) = record.as_mut() {
            if line.code && line.indent == *indent + 1 && text.starts_with(['"', '}']) {
                joined.push_str(text);
                continue;
            }
        }
        if let Some(l) = cur.as_mut() {
            // "Heading: text" whose paragraph goes on indented below it.
            if l.named
                && l.hang == l.indent
                && line.indent == l.indent + 2
                && !line.item
                && !line.code
            {
                l.hang = line.indent;
            }
            // A list item's continuation joins even when it starts like code (`--flag ...`).
            if !line.item && line.indent == l.hang && (!line.code || l.marked) {
                l.words.push(' ');
                l.words.push_str(text);
                continue;
            }
        }
        flush(&mut cur, &mut record, &mut out);
        if line.code {
            if text.starts_with("{\"type\"") {
                record = Some((line.indent, raw.trim_end().to_owned()));
            } else {
                break_code(raw.trim_end(), line.indent, width, &mut out);
            }
            continue;
        }
        // The marker (and a table row's gap) is kept as written.
        let split = text
            .char_indices()
            .nth(line.hang - line.indent)
            .map_or(text.len(), |(i, _)| i);
        cur = Some(Logical {
            indent: line.indent,
            hang: line.hang,
            prefix: format!("{}{}", " ".repeat(line.indent), &text[..split]),
            words: text[split..].to_owned(),
            named: is_named_item(text),
            marked: line.hang > line.indent,
        });
    }
    flush(&mut cur, &mut record, &mut out);
    out.join("\n")
}

/// A paragraph or item being gathered from its source lines.
struct Logical {
    indent: usize,
    hang: usize,
    /// The first line's indent and marker, kept as written.
    prefix: String,
    words: String,
    /// Starts `Name: ...`.
    named: bool,
    /// Has a list marker or a table row's first column.
    marked: bool,
}

/// An example too long for the width, broken where its reader allows: a record after a comma
/// (continued one column in), a command before an option or after a pipe (continued with a
/// backslash, four columns in).
fn break_code(line: &str, indent: usize, width: usize, out: &mut Vec<String>) {
    if line.chars().count() <= width {
        out.push(line.to_owned());
        return;
    }
    let json = line.trim_start().starts_with(['{', '[', '"']);
    let (pad, join) = if json {
        (indent + 1, "")
    } else {
        (indent + 4, " \\")
    };
    // Split into pieces that may start a line.
    let mut pieces: Vec<&str> = Vec::new();
    let mut start = 0;
    let bytes = line.as_bytes();
    for i in 1..bytes.len() {
        let cut = if json {
            bytes[i - 1] == b',' && bytes[i] != b' '
        } else {
            (bytes[i - 1] == b' ' && line[i..].starts_with("--"))
                || (i >= 2 && bytes[i - 2..i] == *b"| ")
        };
        if cut && line.is_char_boundary(i) {
            pieces.push(&line[start..i]);
            start = i;
        }
    }
    pieces.push(&line[start..]);
    let mut cur = String::new();
    for piece in pieces {
        let piece_len = piece.trim_end().chars().count();
        if !cur.is_empty() && cur.chars().count() + piece_len + join.len() > width {
            out.push(format!("{}{join}", cur.trim_end()));
            cur = " ".repeat(pad);
        }
        cur.push_str(piece);
    }
    out.push(cur.trim_end().to_owned());
}

/// Greedy wrap of one logical line: the first line after `prefix`, the rest at `hang`.
fn wrap_into(prefix: &str, text: &str, hang: usize, width: usize, out: &mut Vec<String>) {
    let mut line = prefix.to_owned();
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > width {
            out.push(std::mem::replace(&mut line, " ".repeat(hang)));
            empty = true;
        }
        if !empty && !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push(line.trim_end().to_owned());
}

/// Every text of `cmd` a person reads in `--help`, laid out for `width`, and clap told to use
/// that width so it does not wrap them a second time.
pub fn prepare(mut cmd: clap::Command, width: usize) -> clap::Command {
    cmd = cmd.term_width(width).max_term_width(width);
    let texts = [
        cmd.get_about().map(|s| s.to_string()),
        cmd.get_long_about().map(|s| s.to_string()),
        cmd.get_after_help().map(|s| s.to_string()),
        cmd.get_after_long_help().map(|s| s.to_string()),
    ];
    let [about, long_about, after, after_long] = texts.map(|t| t.map(|t| reflow(&t, width)));
    if let Some(t) = about {
        cmd = cmd.about(t);
    }
    if let Some(t) = long_about {
        cmd = cmd.long_about(t);
    }
    if let Some(t) = after {
        cmd = cmd.after_help(t);
    }
    if let Some(t) = after_long {
        cmd = cmd.after_long_help(t);
    }
    cmd
}

/// For each tool's unit tests: every text of its `--help` is laid out within `width` columns
/// by [`reflow`], so clap never splits a line of it; an example or table row that is too long
/// fails here, naming the line.
pub fn assert_fits<A: clap::CommandFactory>(width: usize) {
    let cmd = prepare(crate::args::command_unprepared::<A>(), width);
    let texts = [
        cmd.get_about(),
        cmd.get_long_about(),
        cmd.get_after_help(),
        cmd.get_after_long_help(),
    ];
    let long: Vec<String> = texts
        .into_iter()
        .flatten()
        .flat_map(|t| t.to_string().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| line.chars().count() > width)
        .collect();
    assert!(
        long.is_empty(),
        "{}: help lines longer than {width} columns would be split:\n{}",
        cmd.get_name(),
        long.join("\n")
    );
}

/// In a tool's `lib.rs`: `mobius_core::help_fits_test!(Args);` adds a unit test that its
/// `--help` texts fit 80 columns (see [`assert_fits`]).
#[macro_export]
macro_rules! help_fits_test {
    ($args:ty) => {
        #[cfg(test)]
        #[test]
        fn help_texts_fit_80_columns() {
            $crate::helptext::assert_fits::<$args>(80);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
Reads JSON lines on stdin (the probe's records; other record types are passed over) and
writes verdict lines on stdout: one when a rule fires.

Rules, in this order:
  1. consecutive_failures: fires at the check that makes N failed
     checks in a row (default: at the 3rd).
  2. success_rate: from check 5 on.

Example:
  mobius-probe --env staging --duration 60m | mobius-judge --follow --duration 60m";

    #[test]
    fn paragraphs_wrap_once_and_lists_keep_their_hang() {
        let out = reflow(SRC, 50);
        for line in out.lines() {
            assert!(line.chars().count() <= 50, "{line:?}");
        }
        assert!(out.contains("\n     checks in a row") || out.contains("\n     makes N"));
        // Too long for 50 columns: broken after the pipe, as a shell reads it.
        assert!(
            out.contains("\n  mobius-probe --env staging --duration 60m | \\\n"),
            "{out}"
        );
        // At 100 it fits and stays as written.
        assert!(reflow(SRC, 100)
            .contains("\n  mobius-probe --env staging --duration 60m | mobius-judge --follow"));
        assert!(out.contains("\n  2. success_rate: from check 5 on."));
        // Joined: no line break inside "and writes".
        let wide = reflow(SRC, 100);
        assert!(wide.contains("checks in a row (default"), "{wide}");
        assert!(!wide.contains("N failed\n"), "{wide}");
    }

    #[test]
    fn no_stub_lines() {
        let out = reflow(SRC, 60);
        let lines: Vec<&str> = out.lines().collect();
        for pair in lines.windows(2) {
            let next = pair[1].trim_start();
            if pair[0].is_empty() || next.is_empty() || pair[0].ends_with(['\\', ':']) {
                continue;
            }
            if list_marker(next) > 0 {
                continue;
            }
            let first = next.split(' ').next().unwrap_or("");
            assert!(
                pair[0].len() + 1 + first.len() > 60,
                "{:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}
