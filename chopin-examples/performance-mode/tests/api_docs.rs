//! `/api-docs` of the running example: the page renders in headless Chromium with every
//! other host unreachable, and the document holds up against schemathesis.
//!
//! Chromium and schemathesis are found on `PATH`, in `CHROMIUM` / `SCHEMATHESIS`, or (for
//! schemathesis) in `target/schemathesis-venv`; `bash .ci/deps` installs both.

mod common;
// Finding Chromium and schemathesis, shared with the other examples' tests.
#[path = "../../../chopin-core/tests/common/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use common::{get, server_url, start, terminate};
use tools::{chromium, target_dir};

/// Headless Chromium that can reach 127.0.0.1 and nothing else.
fn headless(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // Any other host fails to resolve: a CDN asset would be missing.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

#[test]
fn docs_page_renders_offline_in_headless_chromium() {
    let (mut child, banner) = start(&[]);
    let url = server_url(&banner);
    let docs = banner[3]
        .strip_prefix("   → API docs: ")
        .expect("docs line")
        .to_owned();
    let profile = tempdir("chromium-profile");

    let output = headless(&profile)
        // Console messages on stderr: the page's own CSP must block nothing it needs.
        .args(["--enable-logging=stderr", "--v=0"])
        .arg("--dump-dom")
        .arg(&docs)
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
    let console = String::from_utf8_lossy(&output.stderr);
    assert!(
        !console.contains("Content Security Policy"),
        "the page's Content-Security-Policy blocked part of it:\n{console}"
    );
    for operation in [
        r#"data-path="/api/auth/signup""#,
        r#"data-path="/api/auth/login""#,
        r#"data-path="/api/auth/me""#,
        r#"data-path="/api/hello""#,
        r#"data-path="/json""#,
    ] {
        assert!(
            dom.contains(operation),
            "the rendered page lists {operation}; DOM ({} bytes):\n{}\nstderr:\n{}",
            dom.len(),
            dom.chars().take(2000).collect::<String>(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(dom.contains("Chopin application"), "the title renders");

    let screenshot = target_dir().join("test-artifacts/api-docs.png");
    std::fs::create_dir_all(screenshot.parent().expect("dir")).expect("artifact dir");
    let _ = std::fs::remove_file(&screenshot);
    let status = headless(&profile)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&docs)
        .output()
        .expect("run chromium")
        .status;
    assert!(status.success());
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG"),
        "a PNG at {}",
        screenshot.display()
    );
    assert!(
        png.len() > 20_000,
        "a rendered page, not a blank one: {} bytes",
        png.len()
    );

    // Offline by construction too: the page and its scripts name no other host.
    for asset in ["/api-docs/", "/api-docs/swagger-initializer.js"] {
        let (status, text) = get(&format!("{url}{asset}"));
        assert_eq!(status, 200, "{asset}");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset}: {text}"
        );
    }
    assert!(terminate(&mut child).success());
}

#[test]
fn the_document_holds_against_schemathesis() {
    // The example as a user starts it: SQLite file in its working directory; only the
    // auth routes' limit per address is lifted, as schemathesis signs in hundreds of times.
    let (mut child, banner) = start(&[("AUTH_RATE_LIMIT_PER_MINUTE", "1000000")]);
    // Read and dropped: a full pipe would block the server's log writes (the mails of
    // the signups, logged without SMTP_URL, among them).
    let mut stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = server_url(&banner);
    let (status, document) = get(&format!("{url}/api-docs/openapi.json"));
    assert_eq!(status, 200);
    assert!(document.contains(r#""openapi":"3.1.0""#), "{document}");

    let token = tools::signup_token(&url);
    tools::assert_schemathesis_passes(&format!("{url}/api-docs/openapi.json"), &token, 150);
    assert!(terminate(&mut child).success());
}

fn tempdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
