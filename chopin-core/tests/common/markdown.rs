//! The fenced code blocks of a markdown file, and matching a command's output against
//! the output a doc shows; shared by the tests that run the docs.

/// One fenced block: its info string (`bash`, `rust,no_run`, empty...), the line of
/// its opening fence (1-based) and its content.
#[derive(Debug, Clone)]
pub struct Block {
    pub language: String,
    pub line: usize,
    pub content: String,
}

/// The blocks of `markdown`, in order.
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(language)) => {
                current = Some(Block {
                    language: language.to_owned(),
                    line: index + 1,
                    content: String::new(),
                });
            }
            (Some(_), Some("")) => blocks.extend(current.take()),
            (Some(block), _) => {
                block.content.push_str(line);
                block.content.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Whether `actual` is `expected`, where `…` in `expected` matches any text.
pub fn matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// A shell transcript block's steps: each `$ ` command (joined with its `\` continuation
/// lines, a trailing `  # comment` dropped) and the output lines shown after it.
pub fn transcript(content: &str) -> Vec<(String, Vec<String>)> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut continued = false;
    for line in content.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push((String::new(), Vec::new()));
            continued = true;
            push_command(steps.last_mut(), command);
        } else if continued {
            push_command(steps.last_mut(), line.trim_start());
        } else if let Some((_, output)) = steps.last_mut() {
            output.push(line.to_owned());
        }
        continued = continued && line.ends_with('\\');
    }
    steps
}

fn push_command(step: Option<&mut (String, Vec<String>)>, line: &str) {
    if let Some((command, _)) = step {
        let line = line.split("  # ").next().unwrap_or(line).trim_end();
        command.push_str(line.strip_suffix('\\').unwrap_or(line));
    }
}

/// Whether each of `expected`'s lines matches a line of `actual`, in order (other lines,
/// such as log lines, may come between): `…` stands for any text and a timestamp
/// (`2026-11-27T03:40:00Z`) for any timestamp.
pub fn shows(expected: &[String], actual: &str) -> bool {
    let mut actual = actual.lines().map(any_time);
    expected
        .iter()
        .map(|line| any_time(line))
        .all(|want| actual.any(|got| matches(want.trim_end(), got.trim_end())))
}

/// `line` with every `YYYY-MM-DDTHH:MM:SSZ` replaced by the same placeholder.
fn any_time(line: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    let fits = |window: &[u8]| {
        window.iter().zip(SHAPE).all(|(&b, &s)| match s {
            b'd' => b.is_ascii_digit(),
            _ => b == s,
        })
    };
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes.len() - at >= SHAPE.len() && fits(&bytes[at..at + SHAPE.len()]) {
            out.push_str("<time>");
            at += SHAPE.len();
        } else {
            let ch = line[at..].chars().next().unwrap_or_default();
            out.push(ch);
            at += ch.len_utf8().max(1);
        }
    }
    out
}

/// Runs `command` with stdin closed and its output captured: whether it succeeded, its
/// stdout and its stderr. One still running after `limit` is killed and fails the test.
pub fn run_within(
    mut command: std::process::Command,
    limit: std::time::Duration,
) -> (bool, String, String) {
    use std::{io::Read, process::Stdio};
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stderr = child.stderr.take().expect("stderr");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let ok = child.wait().is_ok_and(|status| status.success());
        let _ = done.send((ok, out, errors.join().unwrap_or_default()));
    });
    finished.recv_timeout(limit).unwrap_or_else(|_| {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("{command:?} did not finish within {limit:?}")
    })
}
