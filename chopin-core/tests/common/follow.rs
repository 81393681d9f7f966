//! Follows a guide as written: its shell blocks run in order with bash in a temp dir,
//! its `// file:` blocks are written where they say, `cargo run` builds and starts the
//! app, and each shell block followed by a `text` block must print that text (stdout
//! and stderr together; `…` stands for anything). A block whose text shows an
//! `error: ` line must fail; any other must succeed.
//!
//! What differs from a reader's machine, all visible here: a `git clone` of Chopin
//! clones this checkout (no internet), the app listens on a free port instead of 3000
//! (`localhost:3000` in commands is rewritten to it), each new crate starts from this
//! workspace's `Cargo.lock`, so it builds with the versions Chopin is tested with, and
//! every build shares one target directory under `target/`.

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::markdown::{Block, blocks, matches, run_within};

/// A fresh build of a new crate and its dependencies takes minutes on two cores.
pub const BUILD_LIMIT: Duration = Duration::from_secs(1200);
pub const LIMIT: Duration = Duration::from_secs(60);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// The target directory every generated or guided project builds in.
pub fn shared_target() -> PathBuf {
    workspace().join("target/generated")
}

/// A running app, stopped when dropped.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where a guide is being followed.
pub struct Guide {
    /// The directory the next block runs in (a `cd` moves it).
    pub dir: PathBuf,
    /// Variables every command gets.
    pub envs: Vec<(String, String)>,
    /// The app started by the last `cargo run`, and its address.
    pub server: Option<Server>,
    pub address: String,
    /// Applied to each shell block before it runs (e.g. to pick a database).
    pub rewrite: Box<dyn Fn(&str) -> String>,
}

impl Guide {
    /// A guide followed from `root` (emptied first, outside the workspace: a crate under
    /// it would be taken for a missing member).
    pub fn new(root: &Path) -> Self {
        let _ = fs::remove_dir_all(root);
        fs::create_dir_all(root).expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let target = shared_target().to_str().expect("UTF-8 path").to_owned();
        Self {
            dir: root.to_owned(),
            envs: vec![
                ("CARGO_TARGET_DIR".to_owned(), target),
                ("SERVER_PORT".to_owned(), port.to_string()),
            ],
            server: None,
            address: format!("127.0.0.1:{port}"),
            rewrite: Box::new(str::to_owned),
        }
    }

    /// Puts `dir` first on `PATH`.
    pub fn add_to_path(&mut self, dir: &Path) {
        let path = std::env::var("PATH").unwrap_or_default();
        self.envs
            .push(("PATH".to_owned(), format!("{}:{path}", dir.display())));
    }

    /// Runs `script` with bash in the current directory within `limit`: whether it
    /// succeeded, and its stdout and stderr together.
    pub fn run(&self, script: &str, limit: Duration) -> (bool, String) {
        let mut bash = Command::new("bash");
        let script = format!("set -euo pipefail\n{{\n{script}\n}} 2>&1");
        bash.args(["-c", &script])
            .current_dir(&self.dir)
            .envs(self.envs.iter().map(|(k, v)| (k, v)));
        let (ok, stdout, _) = run_within(bash, limit);
        (ok, stdout)
    }

    /// Runs `script`, failing the test unless it succeeds; its output.
    pub fn run_ok(&self, script: &str, limit: Duration) -> String {
        let (ok, output) = self.run(script, limit);
        assert!(
            ok,
            "step failed in {}:\n{script}\noutput:\n{output}",
            self.dir.display()
        );
        output
    }

    /// Follows `doc` from its first block to its last.
    pub fn follow(&mut self, doc: &str) {
        let all = blocks(doc);
        let mut index = 0;
        while index < all.len() {
            let Block {
                language, content, ..
            } = &all[index];
            index += 1;
            let shown = all
                .get(index)
                .filter(|next| next.language == "text")
                .map(|next| next.content.trim().to_owned());
            match language.as_str() {
                "bash" if content.trim() == "cargo run" => self.start(),
                "bash" if content.starts_with("git clone ") => {
                    // The clone comes from this checkout; the block's other lines run as
                    // written.
                    let rest: Vec<&str> = content.lines().skip(1).collect();
                    let clone = format!("git clone -q {} chopin", workspace().display());
                    let script = format!("{clone}\n{}", rest.join("\n"));
                    self.run_ok(&script, BUILD_LIMIT);
                }
                "bash" => {
                    let script = (self.rewrite)(content).replace("localhost:3000", &self.address);
                    let limit = if script.contains("cargo ") || script.contains("chopin ") {
                        BUILD_LIMIT
                    } else {
                        LIMIT
                    };
                    let (ok, output) = self.run(&script, limit);
                    let must_fail = shown
                        .as_ref()
                        .is_some_and(|s| s.lines().any(|l| l.starts_with("error: ")));
                    assert!(
                        ok != must_fail,
                        "{} in {}:\n{script}\noutput:\n{output}",
                        if must_fail {
                            "expected to fail"
                        } else {
                            "step failed"
                        },
                        self.dir.display()
                    );
                    if let Some(shown) = &shown {
                        assert!(
                            matches(shown, output.trim()),
                            "expected (… is anything):\n{shown}\ngot:\n{output}"
                        );
                        index += 1;
                    }
                    // A `cd` in the step moves the next steps too.
                    for line in content.lines() {
                        if let Some(to) = line.trim().strip_prefix("cd ") {
                            self.dir = self.dir.join(to);
                        }
                    }
                    self.pin_versions();
                }
                _ => {
                    if let Some(path) = content
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("// file: "))
                    {
                        fs::write(self.dir.join(path), content).expect("write the file");
                    }
                }
            }
        }
    }

    /// A new crate in the current directory starts from this workspace's `Cargo.lock`.
    fn pin_versions(&self) {
        let lock = self.dir.join("Cargo.lock");
        if self.dir.join("Cargo.toml").exists() && !lock.exists() {
            fs::copy(workspace().join("Cargo.lock"), &lock).expect("lock");
        }
    }

    /// `cargo run`: this workspace's versions, a build within its limit, then the app
    /// (named after the package) until it listens.
    pub fn start(&mut self) {
        self.server = None;
        self.pin_versions();
        self.run_ok("cargo build", BUILD_LIMIT);
        let manifest = fs::read_to_string(self.dir.join("Cargo.toml")).expect("Cargo.toml");
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("the package's name");
        let child = Command::new(shared_target().join("debug").join(name))
            .current_dir(&self.dir)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the app");
        self.server = Some(Server(child));
        let deadline = Instant::now() + LIMIT;
        while std::net::TcpStream::connect(&self.address).is_err() {
            assert!(
                Instant::now() < deadline,
                "the app did not listen within {LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
