//! The example binary as a user starts it (`cargo run -p chopin-basic-api`, nothing
//! set): its banner, then schemathesis over its OpenAPI document finds no 5xx and no
//! answer that breaks the document, and SIGTERM stops it cleanly.

#[path = "../../../chopin-core/tests/common/markdown.rs"]
#[allow(dead_code, unreachable_pub)]
mod markdown;
#[path = "../../../chopin-core/tests/common/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

const LIMIT: Duration = Duration::from_secs(30);

fn start() -> (Child, Vec<String>) {
    // A fresh working directory: no `.env`, the SQLite file created there.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = tools::target_dir().join("tmp").join(format!(
        "basic-api-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("working directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chopin-basic-api"))
        .env_clear()
        .env("SERVER_PORT", "0")
        // Schemathesis signs in hundreds of times from one address.
        .env("AUTH_RATE_LIMIT_PER_MINUTE", "1000000")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the example");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, banner) = mpsc::channel();
    std::thread::spawn(move || {
        let lines_read: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(4)
            .map_while(Result::ok)
            .collect();
        let _ = lines.send(lines_read);
    });
    let banner = banner.recv_timeout(LIMIT).expect("the banner in time");
    (child, banner)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "not stopped within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The contract user's token, with a post of theirs to read, update and delete.
fn signup_with_post(url: &str) -> String {
    let token = tools::signup_token(url);
    tools::block_on(async {
        let created = tools::client()
            .post(format!("{url}/api/posts"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"title": "Seed", "body": "For the contract run."}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
    });
    token
}

#[test]
fn starts_with_nothing_set_and_holds_to_its_document() {
    let (mut child, banner) = start();
    assert_eq!(banner.len(), 4, "{banner:?}");
    assert_eq!(banner[0], "🎹 Chopin Basic API Example");
    assert_eq!(banner[1], "   → Mode: standard");
    let url = banner[2]
        .strip_prefix("   → Server: ")
        .expect("server line")
        .to_owned();
    assert_eq!(banner[3], format!("   → API docs: {url}/api-docs"));

    let token = signup_with_post(&url);
    tools::assert_schemathesis_passes(&format!("{url}/api-docs/openapi.json"), &token, 60);
    assert!(terminate(&mut child).success(), "exit 0 after draining");
}

/// README.md's blocks as a reader runs them: `cargo run -p chopin-basic-api` (the binary
/// `cargo test` built, on a free port), the banner it prints, and each `$ ` command
/// against it (`localhost:3000` rewritten, `TOKEN` a signed-up user's) printing what the
/// README shows (`…` is any text). A block of another kind fails the test.
#[test]
fn its_readme_holds() {
    let readme = include_str!("../README.md");
    let mut server: Option<(Child, Vec<String>)> = None;
    for block in markdown::blocks(readme) {
        let at = format!("README.md:{}", block.line);
        match (block.language.as_str(), block.content.trim()) {
            ("bash", "cargo run -p chopin-basic-api") => server = Some(start()),
            ("", shown) if shown.starts_with("🎹 ") => {
                let (_, banner) = server.as_ref().expect("`cargo run` before the banner");
                let url = banner[2]
                    .strip_prefix("   → Server: ")
                    .expect("server line");
                let shown = shown.replace("http://127.0.0.1:3000", url);
                assert!(
                    shown.lines().eq(banner.iter().map(String::as_str)),
                    "{at}: {banner:?}"
                );
            }
            ("text", shown) if shown.starts_with("$ ") => {
                let (_, banner) = server.as_ref().expect("`cargo run` before the commands");
                let url = banner[2]
                    .strip_prefix("   → Server: http://")
                    .expect("server line");
                let token = tools::signup_token(&format!("http://{url}"));
                for (command, expected) in markdown::transcript(shown) {
                    let mut bash = Command::new("bash");
                    bash.args(["-c", &command.replace("localhost:3000", url)])
                        .env("TOKEN", &token);
                    let (_, output, _) = markdown::run_within(bash, LIMIT);
                    assert!(
                        !expected.is_empty() && markdown::shows(&expected, &output),
                        "{at}: `{command}` printed\n{output}\nexpected\n{}",
                        expected.join("\n")
                    );
                }
            }
            _ => panic!("{at}: no test runs or checks this block"),
        }
    }
    let (mut child, _) = server.expect("the README starts the example");
    assert!(terminate(&mut child).success(), "exit 0 after draining");
}
