//! Running the example binary as a user runs it, shared by the test files.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_chopin-performance-mode");

/// A fresh working directory (no `.env`) and an environment with only `vars`.
pub fn example(vars: &[(&str, &str)]) -> Command {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "chopin-example-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts the example on a free port and returns it with the four banner lines.
pub fn start(vars: &[(&str, &str)]) -> (Child, Vec<String>) {
    let mut all = vec![("SERVER_PORT", "0")];
    all.extend_from_slice(vars);
    let mut child = example(&all).spawn().expect("spawn example");
    let banner = read_banner(&mut child);
    (child, banner)
}

/// The four banner lines the example prints once it listens.
pub fn read_banner(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .lines()
        .take(4)
        .map(|line| line.expect("utf-8 banner"))
        .collect()
}

pub fn server_url(banner: &[String]) -> String {
    banner[2]
        .strip_prefix("   → Server: ")
        .expect("server line")
        .to_owned()
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the example did not exit within 5 s of SIGTERM");
}

/// Sends SIGTERM, expects a clean exit, and returns everything the example logged.
pub fn stop_and_read_stderr(child: &mut Child) -> String {
    assert!(terminate(child).success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    stderr
}

pub fn get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let response = client.get(url).send().await.expect("request");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    })
}
