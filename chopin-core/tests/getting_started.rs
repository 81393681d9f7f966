//! docs/getting-started.md, followed as written (see `common/follow.rs` for the three
//! things that differ from a reader's machine). `cargo install` installs into a
//! directory of the test's own, first on the guide's `PATH`.

#[path = "common/follow.rs"]
#[allow(dead_code, unreachable_pub)]
mod follow;
#[path = "common/markdown.rs"]
#[allow(dead_code, unreachable_pub)]
mod markdown;

use std::fs;

use follow::{Guide, workspace};
use markdown::matches;

#[test]
fn the_getting_started_guide_works_as_written() {
    let doc = fs::read_to_string(workspace().join("docs/getting-started.md")).expect("the guide");
    let root = std::env::temp_dir().join(format!("chopin-getting-started-{}", std::process::id()));
    let mut guide = Guide::new(&root);
    let home = root.join("cargo-home");
    guide.add_to_path(&home.join("bin"));
    (guide.envs).push(("CARGO_INSTALL_ROOT".to_owned(), home.display().to_string()));
    guide.follow(&doc);
    assert!(guide.server.is_some(), "the guide runs the app");
    drop(guide);
    let _ = fs::remove_dir_all(&root);
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
