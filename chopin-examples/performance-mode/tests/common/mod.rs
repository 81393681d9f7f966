//! Running the example binary as a user runs it, shared by the test files.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::Duration,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_chopin-performance-mode");

/// How long the example may take to start, answer or exit before a test fails.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A fresh, empty temporary directory.
pub fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "chopin-example-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A fresh working directory (no `.env`) and an environment with only `vars`.
pub fn example(vars: &[(&str, &str)]) -> Command {
    let dir = temp_dir();
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
    let (lines, banner) = mpsc::channel();
    std::thread::spawn(move || {
        let read: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(4)
            .map_while(Result::ok)
            .collect();
        let _ = lines.send(read);
    });
    match banner.recv_timeout(EVENT_TIMEOUT) {
        Ok(banner) if banner.len() == 4 => banner,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no four-line banner within {EVENT_TIMEOUT:?}: {other:?}");
        }
    }
}

pub fn server_url(banner: &[String]) -> String {
    banner[2]
        .strip_prefix("   → Server: ")
        .expect("server line")
        .to_owned()
}

/// Sends `signal` (`TERM`, `KILL`, ...) to `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// `child`'s exit status once it exits; a test failure, after SIGKILL, if that takes
/// longer than `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let pid = child.id();
    let (exited, exit) = mpsc::channel();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(move || {
            let status = child.wait();
            let _ = exited.send(());
            status
        });
        let in_time = exit.recv_timeout(timeout).is_ok();
        if !in_time {
            signal(pid, "KILL");
        }
        let status = waiter.join().expect("waiter").expect("wait");
        assert!(in_time, "the example did not exit within {timeout:?}");
        status
    })
}

/// Sends SIGTERM and waits for the example to exit.
pub fn terminate(child: &mut Child) -> ExitStatus {
    signal(child.id(), "TERM");
    wait_exit(child, EVENT_TIMEOUT)
}

/// The example running as a child process with its stderr collected, killed if the
/// test ends before it does.
pub struct Example {
    pub child: Child,
    pub url: String,
    /// `host:port`.
    pub addr: String,
    /// The four lines it printed once it listened.
    pub banner: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

/// Starts the example on a free port with `vars`.
pub fn run(vars: &[(&str, &str)]) -> Example {
    let (mut child, banner) = start(vars);
    let url = server_url(&banner);
    let addr = url.strip_prefix("http://").expect("http URL").to_owned();
    // Read as it comes: a full pipe would block the server's logging.
    let mut pipe = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    Example {
        child,
        url,
        addr,
        banner,
        stderr: Some(stderr),
    }
}

impl Example {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits for the exit.
    pub fn kill_9(&mut self) {
        signal(self.pid(), "KILL");
        wait_exit(&mut self.child, EVENT_TIMEOUT);
    }

    /// SIGTERM, and the exit status once it exits within `timeout`.
    pub fn terminate_within(&mut self, timeout: Duration) -> ExitStatus {
        signal(self.pid(), "TERM");
        wait_exit(&mut self.child, timeout)
    }

    /// Everything the example wrote to stderr; call after it exited.
    pub fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|reader| reader.join().expect("stderr reader"))
            .unwrap_or_default()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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
        let response = client
            .get(url)
            .timeout(EVENT_TIMEOUT)
            .send()
            .await
            .expect("request");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    })
}

/// This process's descriptor limit raised to the hard limit (children inherit it),
/// failing if that is below `needed`.
pub fn raise_descriptor_limit(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("limits");
    let hard: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|v| v.parse().ok())
        .expect("hard descriptor limit");
    assert!(
        hard >= needed,
        "this test needs {needed} open files per process; the hard limit is {hard} \
         (raise it, e.g. `ulimit -Hn {needed}` as root or in /etc/security/limits.conf)"
    );
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={hard}:{hard}"))
        .status()
        .expect("prlimit (util-linux)");
    assert!(status.success(), "prlimit --nofile={hard}:{hard}");
}

/// A `/proc/<pid>/status` field in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}
