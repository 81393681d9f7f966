//! The example binary as a user starts it (`cargo run -p chopin-basic-api`, nothing
//! set): its banner, then schemathesis over its OpenAPI document finds no 5xx and no
//! answer that breaks the document, and SIGTERM stops it cleanly.

#[path = "../../../chopin-core/tests/common/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

const LIMIT: Duration = Duration::from_secs(30);

fn start() -> (Child, Vec<String>) {
    // A fresh working directory: no `.env`, the SQLite file created there.
    let dir = tools::target_dir()
        .join("tmp")
        .join(format!("basic-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("working directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chopin-basic-api"))
        .env_clear()
        .env("SERVER_PORT", "0")
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

fn signup_token(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(LIMIT)
            .build()
            .expect("client");
        let response = http
            .post(format!("{url}/api/auth/signup"))
            .json(&serde_json::json!({
                "email": "contract@example.com",
                "username": "contract",
                "password": "correct horse battery",
            }))
            .send()
            .await
            .expect("signup");
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("JSON");
        let token = body["access_token"].as_str().expect("token").to_owned();
        // A post to read, update and delete.
        let created = http
            .post(format!("{url}/api/posts"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"title": "Seed", "body": "For the contract run."}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
        token
    })
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

    let token = signup_token(&url);
    tools::assert_schemathesis_passes(&format!("{url}/api-docs/openapi.json"), &token, 60);
    assert!(terminate(&mut child).success(), "exit 0 after draining");
}
