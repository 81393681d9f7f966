//! docs/getting-started.md, followed as written: its shell blocks run in order in a
//! temp dir, its `// file:` blocks are written where they say, `cargo run` starts the
//! app, and each shell block followed by a `text` block must print that text (`…`
//! stands for anything).
//!
//! Three things differ from a reader's machine, all visible here: the clone comes from
//! this checkout instead of GitHub (no internet), the app listens on a free port
//! instead of 3000 (the commands' `localhost:3000` is rewritten to it), and the new
//! crate starts from this workspace's `Cargo.lock`, so it builds with the versions
//! Chopin is tested with (and reuses a build directory under `target/`).

#[path = "common/markdown.rs"]
#[allow(dead_code, unreachable_pub)]
mod markdown;

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use markdown::{Block, blocks, matches, run_within};

/// A fresh build of the new crate and its dependencies takes minutes on two cores.
const BUILD_LIMIT: Duration = Duration::from_secs(1200);
const LIMIT: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// Runs `script` with bash in `dir`, failing the test after `limit`; its stdout.
fn bash(dir: &Path, script: &str, limit: Duration, envs: &[(&str, &str)]) -> String {
    let mut bash = Command::new("bash");
    bash.args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .envs(envs.iter().copied());
    let (ok, stdout, stderr) = run_within(bash, limit);
    assert!(
        ok,
        "step failed:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_getting_started_guide_works_as_written() {
    let doc = fs::read_to_string(workspace().join("docs/getting-started.md")).expect("the guide");
    // Outside the workspace: a crate under it would be taken for a missing member.
    let root = std::env::temp_dir().join(format!("chopin-getting-started-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).expect("temp dir");
    let target = workspace().join("target/getting-started");
    let target = target.to_str().expect("UTF-8 path");
    let envs = [("CARGO_TARGET_DIR", target)];

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut dir = root.clone();
    let mut server = None;
    let mut last_output: Option<String> = None;
    for Block {
        language, content, ..
    } in blocks(&doc)
    {
        match language.as_str() {
            "bash" if content.trim() == "cargo run" => {
                // The workspace's versions, then a build within its limit, then the app.
                fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock");
                bash(&dir, "cargo build", BUILD_LIMIT, &envs);
                let child = Command::new(Path::new(target).join("debug/notes"))
                    .current_dir(&dir)
                    .env("SERVER_PORT", port.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start the app");
                server = Some(Server(child));
                let deadline = Instant::now() + LIMIT;
                while std::net::TcpStream::connect(&address).is_err() {
                    assert!(
                        Instant::now() < deadline,
                        "the app did not listen within {LIMIT:?}"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
                last_output = None;
            }
            "bash" if content.starts_with("git clone ") => {
                let repository = workspace();
                let script = format!("git clone -q {} chopin", repository.display());
                bash(&dir, &script, LIMIT, &envs);
                last_output = None;
            }
            "bash" => {
                let script = content.replace("localhost:3000", &address);
                let limit = if script.contains("cargo ") {
                    BUILD_LIMIT
                } else {
                    LIMIT
                };
                last_output = Some(bash(&dir, &script, limit, &envs));
                // A `cd` in the step moves the next steps too.
                for line in content.lines() {
                    if let Some(to) = line.trim().strip_prefix("cd ") {
                        dir = dir.join(to);
                    }
                }
            }
            "text" => {
                if let Some(output) = last_output.take() {
                    assert!(
                        matches(content.trim(), output.trim()),
                        "expected (… is anything):\n{content}\ngot:\n{output}"
                    );
                }
            }
            _ => {
                if let Some(path) = content
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("// file: "))
                {
                    fs::write(dir.join(path), &content).expect("write the file");
                }
            }
        }
    }
    assert!(server.is_some(), "the guide runs the app");
}

#[test]
fn wildcard_matching() {
    assert!(matches("a…c", "abbbc"));
    assert!(matches("abc", "abc"));
    assert!(!matches("abc", "abd"));
    assert!(matches(
        "{\"id\":\"…\",\"n\":1}",
        "{\"id\":\"x-1\",\"n\":1}"
    ));
    assert!(!matches("a…c", "ab"));
}
