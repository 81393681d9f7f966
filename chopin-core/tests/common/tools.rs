//! Finding the external tools some tests drive (Chromium, schemathesis): on `PATH`, in
//! an environment variable, or where `.ci/deps` installs them. A missing tool fails the
//! test with the command that installs it; tests never skip.

use std::path::{Path, PathBuf};

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
