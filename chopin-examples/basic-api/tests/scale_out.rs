//! Two instances of the example behind nginx, sharing one PostgreSQL database and one
//! `JWT_SECRET`, on loopback (docs/deployment.md): a token from one is accepted by the
//! other, a post written through nginx is read from each, nginx keeps answering with no
//! 5xx when an instance is killed, and the restarted instance takes traffic again; a
//! rolling restart of both, one at a time, fails not one request of a client that reads
//! and writes through nginx all along.
//!
//! Needs PostgreSQL's server binaries and nginx (`bash .ci/deps` installs both).

#[path = "../../../chopin-core/tests/common/postgres.rs"]
#[allow(dead_code, unreachable_pub)]
mod postgres;

use std::{
    collections::HashSet,
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use reqwest::Client;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);
const SECRET: &str = "a secret shared by every instance, 32+ bytes";

/// One instance of the example, stopped when dropped.
struct Instance {
    child: Child,
    port: u16,
}

impl Instance {
    fn start(database_url: &str, port: u16) -> Self {
        Self::start_in("standard", database_url, port)
    }

    fn start_in(mode: &str, database_url: &str, port: u16) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chopin-basic-api"))
            .env_clear()
            .env("SERVER_MODE", mode)
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", SECRET)
            .env("SERVER_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start an instance");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, banner) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout).lines().map_while(Result::ok);
            let read: Vec<String> = stdout.by_ref().take(4).collect();
            let _ = lines.send(read);
            // Kept open until the instance exits: a closed pipe would fail its prints.
            stdout.for_each(drop);
        });
        let banner = banner.recv_timeout(LIMIT).expect("the banner in time");
        let port = banner
            .get(2)
            .and_then(|line| line.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {banner:?}"));
        Self { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as a process manager stops it, and its exit status once it has drained.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(sent.success(), "kill -TERM");
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit within {LIMIT:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Returns once `/readyz` answers `200`, as a deploy script waits for a new instance.
    async fn ready(&self, http: &Client) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let answer = http.get(self.url("/readyz")).send().await;
            if answer.is_ok_and(|answer| answer.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "not ready within {LIMIT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// nginx in front of `upstreams`, from a config generated into a temp dir.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(upstreams: &[u16]) -> Self {
        // One directory per nginx: the tests of this file run at once.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nginx-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let port = free_port();
        let d = dir.display();
        let config = format!(
            "daemon off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{}}}\n",
            documented_config(upstreams, port)
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        let child = Command::new(nginx())
            .arg("-c")
            .arg(&file)
            .arg("-p")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + LIMIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx listening within {LIMIT:?}; log: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What nginx logged (warnings and errors), for a failure's message.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master stops its workers before it exits, where
        // SIGKILL would leave them running, listening on the port.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `upstream` and `server` blocks docs/deployment.md shows, as written, with the
/// instances' and nginx's loopback ports put in for 3001, 3002 and 80.
fn documented_config(upstreams: &[u16], port: u16) -> String {
    let doc = include_str!("../../../docs/deployment.md");
    let block = doc
        .split("```nginx\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/deployment.md has an nginx block");
    assert_eq!(
        upstreams.len(),
        2,
        "the documented config has two instances"
    );
    let rewritten = block
        .replace("127.0.0.1:3001", &format!("127.0.0.1:{}", upstreams[0]))
        .replace("127.0.0.1:3002", &format!("127.0.0.1:{}", upstreams[1]))
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
    for (from, to) in [("3001", upstreams[0]), ("3002", upstreams[1]), ("80", port)] {
        assert!(
            rewritten.contains(&format!("127.0.0.1:{to}")),
            "the documented config no longer has {from} where the test expects it"
        );
    }
    rewritten
}

fn nginx() -> PathBuf {
    [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
    .expect("nginx not found: install it with `apt-get install -y nginx`, or run `bash .ci/deps`")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The per-process prefix of the request ids an instance generates: it tells which
/// instance answered a request that went through nginx.
fn id_prefix(response: &reqwest::Response) -> String {
    let id = response.headers()["x-request-id"].to_str().expect("ASCII");
    id.split('-').next().expect("prefix").to_owned()
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(LIMIT)
        .build()
        .expect("client")
}

/// Signs `name@example.com` up at `signup_url`; the access token.
async fn sign_up(http: &Client, signup_url: &str, name: &str) -> String {
    let email = format!("{name}@example.com");
    let signup: Value = http
        .post(signup_url)
        .json(&json!({"email": email, "username": name, "password": "correct horse battery"}))
        .send()
        .await
        .expect("signup")
        .json()
        .await
        .expect("JSON");
    signup["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_nginx_share_tokens_and_posts_and_survive_one_dying() {
    let database = postgres::cluster().fresh_database();
    let mut a = Instance::start(&database, 0);
    let b = Instance::start(&database, 0);
    let nginx = Nginx::start(&[a.port, b.port]);
    let http = client();

    // A token issued by A is accepted by B.
    let token = sign_up(&http, &a.url("/api/auth/signup"), "ada").await;
    let me = http
        .get(b.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me on B");
    assert_eq!(me.status(), 200);

    // A post written through nginx is read back from each instance directly.
    let created = http
        .post(nginx.url("/api/posts"))
        .bearer_auth(&token)
        .json(&json!({"title": "Everywhere", "body": "One database."}))
        .send()
        .await
        .expect("create through nginx");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("JSON");
    let path = format!("/api/posts/{}", created["id"]);
    for instance in [&a, &b] {
        let read: Value = http
            .get(instance.url(&path))
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("JSON");
        assert_eq!(read, created);
    }

    // Reads through nginx while A dies: every one answered, none with a 5xx.
    let a_prefix = id_prefix(&http.get(a.url("/api/posts")).send().await.expect("A"));
    let mut statuses = Vec::new();
    for i in 0..300 {
        if i == 100 {
            a.kill_9();
        }
        let response = http
            .get(nginx.url("/api/posts?per_page=5"))
            .send()
            .await
            .expect("through nginx");
        statuses.push(response.status().as_u16());
    }
    let failures: Vec<&u16> = statuses.iter().filter(|s| **s >= 500).collect();
    assert!(failures.is_empty(), "5xx during failover: {failures:?}");
    assert!(statuses.iter().all(|s| *s == 200));

    // A, restarted on its port, takes traffic again.
    let port = a.port;
    drop(a);
    let a = Instance::start(&database, port);
    let restarted = id_prefix(&http.get(a.url("/api/posts")).send().await.expect("A again"));
    assert_ne!(restarted, a_prefix, "a new process");
    let deadline = Instant::now() + LIMIT;
    loop {
        let response = http
            .get(nginx.url("/api/posts?per_page=1"))
            .send()
            .await
            .expect("through nginx");
        assert_eq!(response.status(), 200);
        if id_prefix(&response) == restarted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nginx never sent a request to the restarted A"
        );
    }
}

/// What the client loop saw: how many answers, the failures, and which processes
/// answered (by request-id prefix).
#[derive(Default)]
struct Seen {
    answers: usize,
    failures: Vec<String>,
    prefixes: HashSet<String>,
}

/// Reads and writes through nginx until `stop`: a page of posts, and every fourth
/// request a new post. Any answer but the expected status, or no answer, is a failure.
async fn client_loop(
    http: Client,
    nginx: String,
    token: String,
    seen: Arc<Mutex<Seen>>,
    progress: tokio::sync::watch::Sender<usize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    for i in 0.. {
        if *stop.borrow_and_update() {
            return;
        }
        let (what, expected, sent) = if i % 4 == 3 {
            let post = http
                .post(format!("{nginx}/api/posts"))
                .bearer_auth(&token)
                .json(
                    &json!({"title": format!("Rolling {i}"), "body": "Written during a deploy."}),
                );
            ("POST /api/posts", 201, post.send().await)
        } else {
            let get = http.get(format!("{nginx}/api/posts?per_page=5"));
            ("GET /api/posts", 200, get.send().await)
        };
        let failure = match sent {
            Ok(response) if response.status() == expected => {
                let prefix = id_prefix(&response);
                match response.bytes().await {
                    Ok(_) => {
                        let mut seen = seen.lock().expect("seen");
                        seen.answers += 1;
                        seen.prefixes.insert(prefix);
                        None
                    }
                    Err(err) => Some(format!("{what}: body cut: {err}")),
                }
            }
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                Some(format!("{what}: {status} {body}"))
            }
            Err(err) => Some(format!("{what}: no answer: {err:?}")),
        };
        if let Some(failure) = failure {
            seen.lock().expect("seen").failures.push(failure);
        }
        progress.send_modify(|n| *n += 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_nginx_fails_no_request() {
    const CLIENTS: usize = 4;
    /// Requests the clients make between two steps of the deploy, so that each step
    /// happens under traffic.
    const BETWEEN_STEPS: usize = 100;
    let database = postgres::cluster().fresh_database();
    // One of each mode: both drain through the same nginx.
    let modes = ["standard", "performance"];
    let mut instances = modes.map(|mode| Instance::start_in(mode, &database, 0));
    let nginx = Nginx::start(&[instances[0].port, instances[1].port]);
    let http = client();
    let token = sign_up(&http, &nginx.url("/api/auth/signup"), "roll").await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (progress, mut made) = tokio::sync::watch::channel(0);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client_loop(
                http.clone(),
                nginx.url(""),
                token.clone(),
                Arc::clone(&seen),
                progress.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    let mut traffic = async |what: &str| {
        let target = *made.borrow() + BETWEEN_STEPS;
        tokio::time::timeout(LIMIT, made.wait_for(|n| *n >= target))
            .await
            .unwrap_or_else(|_| panic!("no traffic {what} within {LIMIT:?}"))
            .expect("clients running");
    };

    traffic("before the deploy").await;
    for (instance, mode) in instances.iter_mut().zip(modes) {
        let port = instance.port;
        let exit = tokio::task::block_in_place(|| instance.terminate());
        assert!(exit.success(), "{mode}: exit {exit} after SIGTERM");
        traffic("while an instance is down").await;
        *instance = Instance::start_in(mode, &database, port);
        instance.ready(&http).await;
        // nginx's checks are passive: it tries an instance that failed again only once
        // `fail_timeout` has passed. Until then the other must stay up.
        let healthz = http.get(instance.url("/healthz")).send().await;
        let prefix = id_prefix(&healthz.expect("healthz"));
        let deadline = Instant::now() + LIMIT;
        while !seen.lock().expect("seen").prefixes.contains(&prefix) {
            assert!(
                Instant::now() < deadline,
                "{mode}: nginx never sent a request to the restarted instance; its log:\n{}",
                nginx.log()
            );
            traffic("until the restarted instance answers through nginx").await;
        }
    }
    stop.send_replace(true);
    for client in clients {
        tokio::time::timeout(LIMIT, client)
            .await
            .expect("a client stops")
            .expect("client task");
    }
    let seen = seen.lock().expect("seen");
    println!(
        "{} answers through nginx across the rolling restart",
        seen.answers
    );
    assert!(
        seen.failures.is_empty(),
        "{} of {} requests failed during the rolling restart: {:?}\nnginx's log:\n{}",
        seen.failures.len(),
        seen.answers + seen.failures.len(),
        &seen.failures[..seen.failures.len().min(10)],
        nginx.log()
    );
}
