//! The example binary as a user runs it: banner, routes, signals and bad settings.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    EVENT_TIMEOUT, example, get, read_banner, server_url, start, stop_and_read_stderr, terminate,
};

#[test]
fn prints_the_banner_serves_and_exits_cleanly_on_sigterm() {
    let (mut child, banner) = start(&[]);
    let url = server_url(&banner);
    let port = url.rsplit(':').next().expect("port");
    assert_eq!(
        banner,
        [
            "🎹 Chopin Performance Mode Example".to_owned(),
            "   → Mode: standard".to_owned(),
            format!("   → Server: http://127.0.0.1:{port}"),
            format!("   → API docs: http://127.0.0.1:{port}/api-docs"),
        ]
    );

    assert_eq!(
        get(&format!("{url}/json")),
        (200, r#"{"message":"Hello, World!"}"#.to_owned())
    );
    assert_eq!(
        get(&format!("{url}/plaintext")),
        (200, "Hello, World!".to_owned())
    );
    let (status, welcome) = get(&format!("{url}/"));
    assert_eq!(status, 200);
    assert!(welcome.contains(r#""mode":"standard""#), "{welcome}");

    let stderr = stop_and_read_stderr(&mut child);
    assert!(stderr.contains("JWT_SECRET is not set"), "{stderr}");
}

#[test]
fn performance_mode_serves_and_exits_cleanly_on_sigterm() {
    let (mut child, banner) = start(&[("SERVER_MODE", "performance")]);
    assert_eq!(banner[1], "   → Mode: performance");
    let url = server_url(&banner);
    assert_eq!(
        get(&format!("{url}/json")),
        (200, r#"{"message":"Hello, World!"}"#.to_owned())
    );
    let (status, welcome) = get(&format!("{url}/"));
    assert_eq!(status, 200);
    assert!(welcome.contains(r#""mode":"performance""#), "{welcome}");
    assert!(terminate(&mut child).success());
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("descriptors")
        .count()
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports in USER_HZ, 100 on every mainstream configuration.
    ticks as f64 / 100.0
}

#[test]
fn running_out_of_file_descriptors_backs_off_and_recovers() {
    for mode in ["performance", "standard"] {
        let command = example(&[("SERVER_MODE", mode), ("SERVER_PORT", "0")]);
        let program = command.get_program().to_owned();
        // Relaunch under a small descriptor limit so accepting soon fails with EMFILE.
        let mut limited = Command::new("prlimit");
        limited
            .arg("--nofile=48:48")
            .arg(program)
            .env_clear()
            .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .current_dir(command.get_current_dir().expect("dir"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = limited.spawn().expect("prlimit");
        // Every log line, read as it comes (a full pipe would stall the server); the
        // accept error is the event that says the descriptors ran out.
        let stderr = child.stderr.take().expect("stderr");
        let (lines, logged) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let url = server_url(&read_banner(&mut child));
        let addr = url.strip_prefix("http://").expect("addr").to_owned();

        let hogs: Vec<std::net::TcpStream> = (0..80)
            .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
            .collect();
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match logged.recv_timeout(left) {
                Ok(line) if line.contains("accept failed") && line.contains("os error 24") => break,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "{mode}: never ran out of descriptors ({} open); its log:\n{}",
                    open_descriptors(child.id()),
                    seen.join("\n")
                ),
            }
        }
        let before = cpu_seconds(child.id());
        std::thread::sleep(Duration::from_secs(1));
        let spent = cpu_seconds(child.id()) - before;
        assert!(
            spent < 0.5,
            "{mode}: {spent} CPU-seconds in 1 s while out of descriptors"
        );

        // Freed descriptors let it accept again: the next request is answered, within
        // the request's timeout.
        drop(hogs);
        assert_eq!(get(&format!("{url}/plaintext")).0, 200, "{mode}: recovered");
        assert!(terminate(&mut child).success());
    }
}

/// Runs the example expecting it to refuse to start, and returns its one-line complaint.
fn refused(vars: &[(&str, &str)]) -> String {
    let output = example(vars).output().expect("run example");
    assert!(!output.status.success(), "started with {vars:?}");
    assert!(output.stdout.is_empty(), "no banner when refusing to start");
    let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("JWT_SECRET is not set"))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    lines[0].to_owned()
}

#[test]
fn bad_settings_stop_startup_with_one_clear_line() {
    assert_eq!(
        refused(&[("SERVER_MODE", "fast")]),
        r#"Error: invalid SERVER_MODE "fast": expected "standard" or "performance""#
    );
    for port in ["abc", "70000"] {
        assert_eq!(
            refused(&[("SERVER_PORT", port)]),
            format!(
                "Error: invalid SERVER_PORT \"{port}\": expected a port number from 0 to 65535 (0 picks a free port)"
            )
        );
    }
    let production = refused(&[("ENVIRONMENT", "production")]);
    assert!(
        production.starts_with("Error: JWT_SECRET is required when ENVIRONMENT=production"),
        "{production}"
    );
    let short = refused(&[("ENVIRONMENT", "production"), ("JWT_SECRET", "too-short")]);
    assert!(
        short.starts_with("Error: JWT_SECRET is 9 bytes long; at least 32"),
        "{short}"
    );
    assert!(!short.contains("too-short"), "{short}");
    assert_eq!(
        refused(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]),
        r#"Error: invalid DATABASE_URL "mysql://root:***@db/app": expected a URL such as sqlite:./app.db, sqlite::memory: or postgres://user:pass@host/db"#
    );
    assert_eq!(
        refused(&[("REQUEST_TIMEOUT_SECS", "18446744073709551615")]),
        r#"Error: invalid REQUEST_TIMEOUT_SECS "18446744073709551615": expected a whole number of seconds from 0 to 86400 (0 disables)"#
    );
    let unreachable = refused(&[
        ("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/app"),
        ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
    ]);
    assert!(
        unreachable.starts_with(
            r#"Error: cannot open the database at DATABASE_URL "postgres://app:***@127.0.0.1:1/app": "#
        ),
        "{unreachable}"
    );
    assert!(!unreachable.contains("hunter2"), "{unreachable}");
    assert_eq!(
        refused(&[("DATABASE_URL", "sqlite:/no/such/dir/app.db")]),
        r#"Error: cannot open the database at DATABASE_URL "sqlite:/no/such/dir/app.db": error returned from database: (code: 14) unable to open database file"#
    );
}

#[test]
fn creates_its_sqlite_database_and_serves_auth() {
    let (mut child, banner) = start(&[]);
    let url = server_url(&banner);
    let dir = std::fs::read_link(format!("/proc/{}/cwd", child.id())).expect("its directory");
    assert!(
        dir.join("app.db").exists(),
        "sqlite:./app.db created on first start"
    );
    let (status, _) = get(&format!("{url}/api/auth/me"));
    assert_eq!(status, 401);
    assert!(terminate(&mut child).success());
}

#[test]
fn port_in_use_stops_startup() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let line = refused(&[("SERVER_PORT", &port)]);
    assert!(
        line.starts_with(&format!("Error: cannot listen on 127.0.0.1:{port}")),
        "{line}"
    );
    assert!(line.contains("in use"), "{line}");
}

#[test]
fn reads_settings_from_dot_env() {
    let mut command = example(&[]);
    let dir = command.get_current_dir().expect("dir").to_owned();
    std::fs::write(dir.join(".env"), "SERVER_MODE=turbo\n").expect("write .env");
    let output = command.output().expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"invalid SERVER_MODE "turbo""#),
        "{stderr}"
    );
}

#[test]
fn the_environment_wins_over_dot_env() {
    let mut command = example(&[("SERVER_PORT", "0"), ("SERVER_MODE", "performance")]);
    let dir = command.get_current_dir().expect("dir").to_owned();
    std::fs::write(dir.join(".env"), "SERVER_MODE=turbo\nLOG_FORMAT=json\n").expect("write .env");
    let mut child = command.spawn().expect("spawn example");
    let banner = read_banner(&mut child);
    assert_eq!(
        banner[1], "   → Mode: performance",
        "set in the environment"
    );
    let stderr = stop_and_read_stderr(&mut child);
    let warning = stderr
        .lines()
        .find(|l| l.contains("JWT_SECRET is not set"))
        .unwrap_or_else(|| panic!("no warning in\n{stderr}"));
    assert!(
        warning.starts_with('{'),
        "LOG_FORMAT=json from .env: {warning}"
    );
}

#[test]
fn debug_logging_traces_each_request() {
    for mode in ["standard", "performance"] {
        let (mut child, banner) = start(&[("SERVER_MODE", mode), ("RUST_LOG", "debug")]);
        let url = server_url(&banner);
        assert_eq!(get(&format!("{url}/")).0, 200);
        let stderr = stop_and_read_stderr(&mut child);
        let traced = stderr
            .lines()
            .find(|l| l.contains("finished processing request"))
            .unwrap_or_else(|| panic!("{mode}: no request trace in\n{stderr}"));
        assert!(traced.contains("status=200"), "{traced}");
        assert!(traced.contains("uri=/"), "{traced}");
    }
}
