//! Every fenced block of README.md, docs/ and this example's README, held to what it
//! shows. Rust blocks compile (doctests of `chopin_core`, or this example's source);
//! commands run against this example: `cargo run -p chopin-performance-mode` starts its
//! binary (already built by `cargo test`), `localhost:3000` and the documented ports are
//! rewritten to free ones, and the output each `$ ` line shows must come out (`…` is any
//! text). JSON error bodies are compared with a real answer, the nginx config is the one
//! `basic-api/tests/scale_out.rs` runs, and architecture.md's blocks are diagrams.
//!
//! docs/getting-started.md is followed by `chopin-core/tests/getting_started.rs`,
//! docs/cli.md by `chopin-cli/tests/guide.rs`, and
//! the basic-api README by that example's tests. The example README's wrk commands run
//! for one second each against the debug binary. The benchmark and fuzz scripts
//! (minutes of release or sanitizer builds each, on a quiet machine) are run by hand;
//! they are listed in [`BY_HAND`], so any other block that no test runs fails here.

mod common;
#[path = "../../../chopin-core/tests/common/markdown.rs"]
#[allow(dead_code, unreachable_pub)]
mod markdown;

use std::{
    collections::BTreeSet,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use chopin_core::{
    App, Config,
    sqlx::{
        SqlSafeStr,
        migrate::{Migration, MigrationType, Migrator},
    },
};
use common::{BIN, EVENT_TIMEOUT, Example, read_banner, server_url, temp_dir, terminate};
use markdown::{Block, blocks, matches, run_within, shows, transcript};

/// The docs that tests elsewhere follow: (doc, the test, how the test reads it).
const ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "docs/getting-started.md",
        "chopin-core/tests/getting_started.rs",
        "join(\"docs/getting-started.md\")",
    ),
    (
        "docs/cli.md",
        "chopin-cli/tests/guide.rs",
        "join(\"docs/cli.md\")",
    ),
    (
        "chopin-examples/basic-api/README.md",
        "chopin-examples/basic-api/tests/example.rs",
        "include_str!(\"../README.md\")",
    ),
];

/// Commands run by hand, never by the test suite: they build with LTO or sanitizers and
/// measure for minutes. Matched at the start of a command line.
const BY_HAND: &[&str] = &[
    "bench/",
    "BINARY=bench-hyper bench/",
    "BINARY=bench-axum bench/",
    "cargo install cargo-fuzz",
    "cd fuzz && ",
];

/// The example's release binary as a by-hand benchmark starts it, in the background.
const RELEASE_BINARY: &str = "taskset -c 0 target/release/chopin-performance-mode &";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace")
        .to_owned()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(workspace().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// What the blocks of one file have started so far.
#[derive(Default)]
struct Session {
    server: Option<Example>,
    token: Option<String>,
}

impl Session {
    /// `command` aimed at the running example (started if none runs yet) instead of the
    /// documented `127.0.0.1:3000` or `localhost:3000`.
    fn aim(&mut self, command: &str) -> String {
        let address = self.address();
        command
            .replace("127.0.0.1:3000", &address)
            .replace("localhost:3000", &address)
    }

    /// The running example's `host:port`, started in standard mode if none runs yet.
    fn address(&mut self) -> String {
        if self.server.is_none() {
            self.start(&[]);
        }
        self.server
            .as_ref()
            .map(|s| s.addr.clone())
            .unwrap_or_default()
    }

    fn start(&mut self, vars: &[(&str, &str)]) {
        if let Some(mut old) = self.server.take() {
            assert!(terminate(&mut old.child).success(), "exit 0 on SIGTERM");
        }
        self.server = Some(common::run(vars));
    }
}

/// Checks every block of `file`, failing with all the blocks that do not hold.
fn check(file: &str) {
    let markdown = read(file);
    let mut session = Session::default();
    let mut failures = Vec::new();
    for block in blocks(&markdown) {
        if let Err(why) = check_block(file, &block, &mut session) {
            failures.push(format!("{file}:{} ({}): {why}", block.line, block.language));
        }
    }
    if let Some(mut server) = session.server.take() {
        assert!(terminate(&mut server.child).success(), "exit 0 on SIGTERM");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check_block(file: &str, block: &Block, session: &mut Session) -> Result<(), String> {
    let language = block.language.as_str();
    let content = block.content.as_str();
    match language {
        "rust" | "rust,no_run" if file.starts_with("chopin-examples/") => excerpt_of_main(content),
        "rust" | "rust,no_run" => doctested(file),
        "json" => error_body(content, session),
        "nginx" if file == "docs/deployment.md" => nginx_is_tested(),
        "" | "text" if file == "docs/architecture.md" => Ok(()),
        "" if content.starts_with("🎹 ") => banner(content, session),
        "text" if content.starts_with("$ cargo install --path chopin-cli") => {
            followed_elsewhere(content)
        }
        "text" if content.starts_with("$ ") => run_transcript(content, session),
        "text" if content.starts_with("Error: application migration failed") => {
            migration_failure(content)
        }
        "bash" if content.starts_with("# .env\n") => dot_env(content),
        "bash" => commands(content, session),
        _ => Err("no test runs or checks this block".into()),
    }
}

/// A transcript of the `chopin` command: each of its commands (split at `&&`) is one
/// that docs/getting-started.md or docs/cli.md runs, and those guides are followed as
/// written by their tests.
fn followed_elsewhere(content: &str) -> Result<(), String> {
    let guides: Vec<String> = ["docs/getting-started.md", "docs/cli.md"]
        .iter()
        .flat_map(|doc| blocks(&read(doc)))
        .filter(|block| block.language == "bash")
        .map(|block| block.content)
        .collect();
    for (command, _) in transcript(content) {
        for part in command.split("&&").map(str::trim) {
            let base = part.split(" --path ").next().unwrap_or(part);
            if !guides
                .iter()
                .any(|block| block.lines().any(|l| l.trim().starts_with(base)))
            {
                return Err(format!("no guide runs `{part}`"));
            }
        }
    }
    Ok(())
}

/// Rust blocks of README.md and docs/ are doctests of `chopin_core` (src/lib.rs
/// includes the file).
fn doctested(file: &str) -> Result<(), String> {
    let lib = read("chopin-core/src/lib.rs");
    let include = format!("#[doc = include_str!(\"../../{file}\")]");
    let doctests = lib
        .split("mod documentation_examples")
        .nth(1)
        .unwrap_or_default();
    if doctests.contains(&include) {
        Ok(())
    } else {
        Err(format!(
            "src/lib.rs does not compile {file}'s Rust blocks as doctests"
        ))
    }
}

/// A Rust block of this example's README is an excerpt of `src/main.rs`: its code lines
/// appear there in order (layout aside; comment lines and trailing comments are the
/// README's own).
fn excerpt_of_main(content: &str) -> Result<(), String> {
    // rustfmt's trailing commas aside too.
    let squeeze = |s: &str| {
        s.split_whitespace()
            .collect::<String>()
            .replace(",}", "}")
            .replace(",)", ")")
    };
    let main = squeeze(&read("chopin-examples/performance-mode/src/main.rs"));
    let mut from = 0;
    for line in content.lines() {
        let code = squeeze(line.split(" // ").next().unwrap_or(line));
        if code.is_empty() || code.starts_with("//") {
            continue;
        }
        match main[from..].find(&code) {
            Some(at) => from += at + code.len(),
            None => return Err(format!("not in src/main.rs (in this order): {line}")),
        }
    }
    Ok(())
}

fn nginx_is_tested() -> Result<(), String> {
    let test = read("chopin-examples/basic-api/tests/scale_out.rs");
    if test.contains("include_str!(\"../../../docs/deployment.md\")") {
        Ok(())
    } else {
        Err("basic-api/tests/scale_out.rs no longer runs nginx with this config".into())
    }
}

/// A JSON error body is the one the example sends for the same error: same fields and
/// values, the request id of the same shape.
fn error_body(content: &str, session: &mut Session) -> Result<(), String> {
    let shown: serde_json::Value = serde_json::from_str(content).map_err(|e| e.to_string())?;
    let address = session.address();
    let request = match shown["status"].as_u64() {
        Some(404) => {
            let path = shown["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("no route for "))
                .ok_or("a 404 whose message is not `no route for PATH`")?;
            format!("curl -s http://{address}{path}")
        }
        // One byte over the default 2 MiB body limit.
        Some(413) => format!(
            "head -c 2097153 /dev/zero | curl -s http://{address}/api/auth/signup \
             -H 'content-type: application/json' --data-binary @-"
        ),
        _ => return Err("no request in this test produces this error".into()),
    };
    let (ok, output) = shell(&request, &[]);
    let actual: serde_json::Value =
        serde_json::from_str(&output).map_err(|e| format!("{e}: {output} ({ok})"))?;
    let id_shape = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|id| id.split_once('-'))
            .is_some_and(|(a, b)| {
                a.len() == 16
                    && a.bytes().all(|c| c.is_ascii_hexdigit())
                    && !b.is_empty()
                    && b.bytes().all(|c| c.is_ascii_alphanumeric())
            })
    };
    let without_id = |v: &serde_json::Value| {
        let mut v = v.clone();
        v.as_object_mut().map(|o| o.remove("request_id"));
        v
    };
    if without_id(&shown) == without_id(&actual)
        && id_shape(&shown["request_id"])
        && id_shape(&actual["request_id"])
    {
        Ok(())
    } else {
        Err(format!("the example answers {actual}"))
    }
}

/// The banner block: the one the last `cargo run` printed, its port aside.
fn banner(content: &str, session: &Session) -> Result<(), String> {
    let server = session.server.as_ref().ok_or("no `cargo run` before it")?;
    let expected = content.replace("http://127.0.0.1:3000", &server.url);
    if expected
        .lines()
        .eq(server.banner.iter().map(String::as_str))
    {
        Ok(())
    } else {
        Err(format!("the example printed {:?}", server.banner))
    }
}

/// `bash .ci/deps && cargo test --workspace` is what `.ci/run` runs; `cargo run` starts
/// the example; `curl` lines run against it and must answer 2xx, or the status their
/// comment starts with.
fn commands(content: &str, session: &mut Session) -> Result<(), String> {
    let mut joined = String::new();
    for line in content.lines() {
        joined.push_str(line.strip_suffix('\\').unwrap_or(line));
        if line.ends_with('\\') {
            continue;
        }
        let line = std::mem::take(&mut joined);
        let (command, comment) = match line.split_once("  # ") {
            Some((command, comment)) => (command.trim(), comment.trim()),
            None => (line.trim(), ""),
        };
        if command.is_empty() || command.starts_with('#') {
            continue;
        }
        if BY_HAND.iter().any(|prefix| command.starts_with(prefix)) {
            continue;
        }
        if command == "bash .ci/deps && cargo test --workspace" {
            let ci = read(".ci/run");
            if !(ci.contains("\nbash .ci/deps\n") && ci.contains("\ncargo test --workspace")) {
                return Err(".ci/run does not run the test command".into());
            }
        } else if let Some(vars) = command.strip_suffix(RELEASE_BINARY) {
            // The binary `cargo test` built stands in for the release one.
            session.start(&variables(vars).ok_or("a malformed variable")?);
        } else if command.starts_with("taskset -c 1 wrk ") {
            // One second instead of ten: the command works and every answer is a 2xx.
            let command = session.aim(command).replace("-d10s", "-d1s");
            let script = format!("cd '{}' && {command}", workspace().display());
            let (ok, output) = shell(&script, &[]);
            if !ok || !output.contains(" requests in ") || output.contains("Non-2xx") {
                return Err(format!("`{command}` printed:\n{output}"));
            }
        } else if let Some(vars) = cargo_run(command) {
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, *v)).collect();
            session.start(&vars);
        } else if command.starts_with("curl ") {
            let command = session.aim(command);
            let (_, output) = shell(
                &format!("{command} -s -o /dev/null -w '%{{http_code}}'"),
                &[],
            );
            let wanted = comment
                .get(..3)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
            let fine = match wanted {
                Some(status) => output == status,
                None => output.starts_with('2'),
            };
            if !fine {
                return Err(format!("`{command}` answered {output}"));
            }
        } else {
            return Err(format!("no test runs `{command}`"));
        }
    }
    Ok(())
}

/// `[VAR=value ...] cargo run -p chopin-performance-mode [--release]`: its variables.
/// `--release` is dropped: the test runs the binary `cargo test` built.
fn cargo_run(command: &str) -> Option<Vec<(&str, &str)>> {
    let (vars, rest) = command.split_once("cargo run -p chopin-performance-mode")?;
    if !matches!(rest, "" | " --release") {
        return None;
    }
    variables(vars)
}

/// `VAR=value ...` as pairs; `None` if a word is not one.
fn variables(words: &str) -> Option<Vec<(&str, &str)>> {
    words
        .split_whitespace()
        .map(|pair| pair.split_once('='))
        .collect()
}

/// `.env` in the working directory configures the example as the block says.
fn dot_env(content: &str) -> Result<(), String> {
    let dir = temp_dir();
    std::fs::write(dir.join(".env"), content).map_err(|e| e.to_string())?;
    let mut child = common::example(&[("SERVER_PORT", "0")])
        .current_dir(&dir)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let banner = read_banner(&mut child);
    let _ = server_url(&banner);
    assert!(terminate(&mut child).success(), "exit 0 on SIGTERM");
    let mode = content
        .lines()
        .find_map(|l| l.strip_prefix("SERVER_MODE="))
        .ok_or("no SERVER_MODE in the block")?;
    if banner[1] == format!("   → Mode: {mode}") {
        Ok(())
    } else {
        Err(format!("the example started with {banner:?}"))
    }
}

/// A `$ ` transcript: each command runs in a fresh directory with only `PATH` and what
/// it sets; `cargo run -p chopin-performance-mode` is the example's binary, `TOKEN` the
/// last token a command printed. Ports 3000 and 5432 become a free port (held by the
/// test when the output says it is in use) and a closed one.
fn run_transcript(content: &str, session: &mut Session) -> Result<(), String> {
    let held = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let busy = held.local_addr().map_err(|e| e.to_string())?.port();
    let closed = free_port().to_string();
    for (command, expected) in transcript(content) {
        let expected: Vec<String> = expected
            .iter()
            .map(|l| l.replace(":5432", &format!(":{closed}")))
            .collect();
        let command = command.replace(":5432", &format!(":{closed}"));
        let output = if command.starts_with("curl ") {
            let command = session.aim(&command);
            let token = session.token.clone().unwrap_or_default();
            shell(&command, &[("TOKEN", &token)]).1
        } else if let Some((vars, _)) = command.split_once("cargo run -p chopin-performance-mode") {
            let in_use = expected
                .iter()
                .any(|l| l.contains("Address already in use"));
            let port = if in_use { busy } else { free_port() };
            let script = format!("cd '{}' && {vars} \"$EXAMPLE\" 2>&1", temp_dir().display());
            let (_, output) = shell_within(
                &script,
                &[("EXAMPLE", BIN), ("SERVER_PORT", &port.to_string())],
                EVENT_TIMEOUT,
            );
            output.replace(&format!(":{port}"), ":3000")
        } else {
            return Err(format!("no test runs `{command}`"));
        };
        if let Some(token) = output
            .split("\"access_token\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            session.token = Some(token.to_owned());
        }
        if expected.is_empty() || !shows(&expected, &output) {
            return Err(format!(
                "`{command}` printed:\n{output}\nexpected (… is anything):\n{}",
                expected.join("\n")
            ));
        }
    }
    drop(held);
    Ok(())
}

/// The migration failure docs/database.md shows: an app whose second migration fails.
fn migration_failure(content: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let error = runtime.block_on(async {
        let mut config = Config::default();
        config.port = 0;
        config.database_url = "sqlite::memory:".parse().expect("URL");
        let app = App::with_config(config).await.map_err(|e| e.to_string())?;
        let migration = |version, sql: &'static str| {
            Migration::new(
                version,
                format!("m{version}").into(),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        };
        let migrator = Migrator::with_migrations(vec![
            migration(1, "CREATE TABLE notes (id INTEGER PRIMARY KEY)"),
            migration(2, "THIS IS NOT SQL"),
        ]);
        match app.migrate(&migrator).await {
            Ok(_) => Err("the broken migration applied".to_owned()),
            Err(error) => Ok(format!("Error: {error}")),
        }
    })?;
    if matches(content.trim(), &error) {
        Ok(())
    } else {
        Err(format!("the app says {error}"))
    }
}

/// Runs `script` with bash; whether it succeeded, and its stdout.
fn shell(script: &str, envs: &[(&str, &str)]) -> (bool, String) {
    shell_within(script, envs, EVENT_TIMEOUT)
}

fn shell_within(script: &str, envs: &[(&str, &str)], limit: Duration) -> (bool, String) {
    let mut bash = Command::new("bash");
    bash.args(["-c", script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(envs.iter().copied());
    let (ok, stdout, _) = run_within(bash, limit);
    (ok, stdout)
}

#[test]
fn every_doc_is_checked_by_a_test() {
    let listed = Command::new("git")
        .args(["ls-files", "*.md"])
        .current_dir(workspace())
        .output()
        .expect("git ls-files");
    assert!(listed.status.success(), "git ls-files failed");
    let all: BTreeSet<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(all.contains("README.md"), "{all:?}");
    for (doc, test, reads) in ELSEWHERE {
        assert!(read(test).contains(reads), "{test} no longer follows {doc}");
    }
    let checked: BTreeSet<String> = CHECKED
        .iter()
        .copied()
        .chain(ELSEWHERE.iter().map(|(doc, _, _)| *doc))
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = all.difference(&checked).collect();
    assert!(missing.is_empty(), "docs no test checks: {missing:?}");
}

const CHECKED: &[&str] = &[
    "README.md",
    "docs/api.md",
    "docs/architecture.md",
    "docs/configuration.md",
    "docs/database.md",
    "docs/deployment.md",
    "docs/errors.md",
    "docs/jobs.md",
    "docs/mail.md",
    "docs/performance.md",
    "docs/security.md",
    "chopin-examples/performance-mode/README.md",
];

#[test]
fn readme() {
    check("README.md");
}

#[test]
fn example_readme() {
    check("chopin-examples/performance-mode/README.md");
}

#[test]
fn docs() {
    for file in CHECKED.iter().filter(|f| f.starts_with("docs/")) {
        check(file);
    }
}

#[test]
fn a_block_no_test_runs_fails() {
    let mut session = Session::default();
    let unknown = Block {
        language: "bash".into(),
        line: 1,
        content: "rm -rf /tmp/nothing-here\n".into(),
    };
    assert!(check_block("README.md", &unknown, &mut session).is_err());
    let unknown = Block {
        language: "python".into(),
        line: 1,
        content: "print(1)\n".into(),
    };
    assert!(check_block("docs/api.md", &unknown, &mut session).is_err());
}
