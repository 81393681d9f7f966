//! Finding the external tools some tests drive (Chromium, schemathesis, aiosmtpd): on `PATH`, in
//! an environment variable, or where `.ci/deps` installs them. A missing tool fails the
//! test with the command that installs it; tests never skip.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// `target/`, where test artifacts go.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .to_owned()
}

pub fn find_tool(env_var: &str, candidates: &[PathBuf], install: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .iter()
        .flat_map(|c| {
            if c.is_absolute() {
                vec![c.clone()]
            } else {
                on_path.iter().map(|dir| dir.join(c)).collect()
            }
        })
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{} not found (tried {env_var} and {candidates:?}): this test needs it. \
                 Install it with `{install}`, or run `bash .ci/deps`.",
                candidates[0].display()
            )
        })
}

pub fn chromium() -> PathBuf {
    find_tool(
        "CHROMIUM",
        &[
            "chromium".into(),
            "chromium-browser".into(),
            "google-chrome".into(),
        ],
        "apt-get install -y chromium",
    )
}

pub fn schemathesis() -> PathBuf {
    find_tool(
        "SCHEMATHESIS",
        &[
            target_dir().join("schemathesis-venv/bin/schemathesis"),
            "schemathesis".into(),
        ],
        "python3 -m venv target/schemathesis-venv && target/schemathesis-venv/bin/pip install schemathesis",
    )
}

/// The aiosmtpd SMTP server's command.
pub fn aiosmtpd() -> PathBuf {
    find_tool(
        "AIOSMTPD",
        &[
            target_dir().join("aiosmtpd-venv/bin/aiosmtpd"),
            "aiosmtpd".into(),
        ],
        "python3 -m venv target/aiosmtpd-venv && target/aiosmtpd-venv/bin/pip install aiosmtpd",
    )
}

/// Operations that take a single-use token or the current password in their body, or end
/// the session the contract runs act as: generated requests get only their documented
/// `401` or `403`, which schemathesis reports as a warning, not a failure.
const TOKEN_ONLY: [&str; 6] = [
    "POST /api/auth/refresh",
    "POST /api/auth/password",
    "POST /api/auth/password/reset",
    "POST /api/auth/verify",
    "POST /api/auth/logout",
    "POST /api/auth/logout-all",
];

/// Operations that can end the session the contract runs act as (a password change
/// does when schemathesis sends the documented example as the current password).
pub const SESSION_ENDING: &str = "/api/auth/(logout|logout-all|password)$";

/// Runs schemathesis with every check over the OpenAPI document at `document`, signed in
/// with `token`, and fails the test with its report unless it finds no issue. The
/// operations that can end the session run last.
pub fn assert_schemathesis_passes(document: &str, token: &str, max_examples: u32) {
    let others = format!("^(?!{SESSION_ENDING}).*");
    assert_schemathesis_passes_on(document, token, max_examples, &others);
    assert_schemathesis_passes_on(document, token, max_examples, &format!("^{SESSION_ENDING}"));
}

/// Runs schemathesis with every check over the operations of `document` whose path
/// matches `paths`, and fails the test unless no check fails and every operation but
/// those in [`TOKEN_ONLY`] got past authentication. The report.
pub fn assert_schemathesis_passes_on(
    document: &str,
    token: &str,
    max_examples: u32,
    paths: &str,
) -> String {
    let output = std::process::Command::new(schemathesis())
        .arg("run")
        .arg(document)
        .args(["--include-path-regex", paths])
        .args([
            "--checks",
            "all",
            "--max-examples",
            &max_examples.to_string(),
        ])
        .args(["--max-failures", "20"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && !report.contains("Failures:") && !report.contains("Errors:"),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
    // The operations listed under the authentication warning: `  - METHOD /path`.
    let refused: Vec<&str> = report
        .lines()
        .skip_while(|line| !line.starts_with("Authentication failed"))
        .take_while(|line| !line.starts_with("💡") && !line.starts_with("=="))
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter(|operation| !TOKEN_ONLY.contains(operation))
        .collect();
    assert!(
        refused.is_empty(),
        "only ever refused, though signed in: {refused:?}\n{report}"
    );
    report
}

/// Signs up the user the contract runs act as, on the app at `url`; its access token.
pub fn signup_token(url: &str) -> String {
    block_on(async {
        let response = client()
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
        body["access_token"].as_str().expect("token").to_owned()
    })
}

/// An HTTP client that fails a request after 30 s instead of hanging the test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Runs `future` to completion on a runtime of its own (the tests here are synchronous).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A port nothing listens on, as far as a test can tell.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// aiosmtpd on 127.0.0.1:`port`, saving each mail into the Maildir `maildir`, or
/// discarding it without one. Stopped when dropped.
pub struct SmtpServer(Child);

impl SmtpServer {
    /// Returns once the server says it listens; fails the test if it does not within
    /// 10 s.
    pub fn start(port: u16, maildir: Option<&Path>) -> Self {
        let mut command = Command::new(aiosmtpd());
        // `-d` logs the line that says it listens.
        command.args(["-n", "-d", "-l", &format!("127.0.0.1:{port}")]);
        match maildir {
            Some(dir) => {
                for sub in ["tmp", "new", "cur"] {
                    std::fs::create_dir_all(dir.join(sub)).unwrap();
                }
                command.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(dir);
            }
            None => {
                command.args(["-c", "aiosmtpd.handlers.Sink"]);
            }
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let stderr = child.stderr.take().expect("piped");
        let server = Self(child);
        let (listening, heard) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end, so the server never waits on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server is listening") {
                    let _ = listening.send(());
                }
            }
        });
        let limit = Duration::from_secs(10);
        heard
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("aiosmtpd did not listen on {port} within {limit:?}"));
        server
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
