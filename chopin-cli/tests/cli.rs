//! The `chopin` binary in temp directories: what `new` and `generate` write, that every
//! bad input fails with one line on stderr and leaves the files exactly as they were,
//! and that the generated Rust is formatted as rustfmt would format it. Nothing here
//! compiles a generated project (`tests/guide.rs` does).

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("chopin-cli-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create a temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `chopin args...` in `dir`.
fn chopin(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chopin"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run chopin")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Fails unless `output` is a success.
fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    );
}

/// Fails unless `output` is a failure saying one line, `error: ...`; the line.
fn failed(output: &Output) -> String {
    let stderr = stderr(output);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr.trim_end().to_owned()
}

/// Every directory and file under `dir`, with each file's bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read a dir") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path.clone());
                found.insert(path, None);
            } else {
                let bytes = fs::read(&path).expect("read a file");
                found.insert(path, Some(bytes));
            }
        }
    }
    found
}

/// A new project `app` in `temp`; its directory.
fn new_project(temp: &TempDir) -> PathBuf {
    succeeded(&chopin(&temp.0, &["new", "app"]));
    temp.0.join("app")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names of the files in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read a dir")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn new_writes_a_project_with_an_example_resource() {
    let temp = TempDir::new("new");
    let output = chopin(&temp.0, &["new", "my-app"]);
    succeeded(&output);
    let root = temp.0.join("my-app");
    for file in [
        "Cargo.toml",
        "build.rs",
        ".gitignore",
        ".env.example",
        "README.md",
        "src/main.rs",
        "src/lib.rs",
        "src/seed.rs",
        "src/fields.rs",
        "src/resources/mod.rs",
        "src/resources/notes.rs",
        "src/jobs/mod.rs",
        "src/mailers/mod.rs",
        "tests/notes.rs",
    ] {
        assert!(root.join(file).is_file(), "{file}");
    }
    let manifest = read(&root.join("Cargo.toml"));
    for line in [
        "name = \"my-app\"",
        "edition = \"2024\"",
        "chopin-core = \"0.1\"",
        "[profile.dev.package.argon2]",
        "[profile.dev.package.blake2]",
    ] {
        assert!(manifest.contains(line), "{line}\n{manifest}");
    }
    assert!(read(&root.join("src/main.rs")).contains("    my_app::project().main().await\n"));
    assert!(read(&root.join("src/lib.rs")).contains("\npub mod fields;\npub mod jobs;\n"));
    let fields = read(&root.join("src/fields.rs"));
    assert!(
        fields.starts_with("//! How the generated resources read their input"),
        "{fields}"
    );
    assert!(read(&root.join("tests/notes.rs")).contains("use my_app::project;"));
    assert!(read(&root.join("build.rs")).contains("cargo:rerun-if-changed=migrations"));
    assert!(read(&root.join("README.md")).starts_with("# my-app\n\n```bash\ncargo run "));
    assert!(read(&root.join(".env.example")).contains("\nDATABASE_URL=sqlite:app.db\n"));
    for backend in ["sqlite", "postgres"] {
        let files = names(&root.join("migrations").join(backend));
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files[0].ends_with("_create_notes.down.sql"), "{files:?}");
        assert!(files[1].ends_with("_create_notes.up.sql"), "{files:?}");
    }
    let notes = read(&root.join("src/resources/notes.rs"));
    assert!(notes.starts_with(
        "//! `/api/notes`: generated by `chopin generate resource note title:string body:text`.\n"
    ));
    // The shared helpers are imported, not repeated.
    assert!(
        notes.contains(
            "\nuse crate::fields::{Id, Paging, check, delete_error, required, string, text};\n"
        ),
        "{notes}"
    );
    assert!(!notes.contains("fn within("), "{notes}");
    // Built aside and renamed: nothing else is left in the parent.
    assert_eq!(names(&temp.0), ["my-app"]);
}

#[test]
fn new_takes_a_database_and_a_local_chopin_core() {
    let temp = TempDir::new("new-options");
    let core = temp.0.join("core");
    fs::create_dir_all(&core).expect("mkdir");
    fs::write(core.join("Cargo.toml"), "[package]\n").expect("write");
    succeeded(&chopin(
        &temp.0,
        &["new", "shop", "--db", "postgres", "--path", "core"],
    ));
    let root = temp.0.join("shop");
    let absolute = core.canonicalize().expect("canonical");
    let manifest = read(&root.join("Cargo.toml"));
    let dependency = format!("chopin-core = {{ path = \"{}\" }}", absolute.display());
    assert!(manifest.contains(&dependency), "{manifest}");
    let env = read(&root.join(".env.example"));
    assert!(
        env.contains("\nDATABASE_URL=postgres://localhost/shop\n"),
        "{env}"
    );
    assert!(env.contains("\n# DATABASE_URL=sqlite:app.db\n"), "{env}");
}

#[test]
fn new_refuses_a_directory_that_is_not_empty_and_leaves_it() {
    let temp = TempDir::new("new-exists");
    fs::create_dir_all(temp.0.join("app")).expect("mkdir");
    fs::write(temp.0.join("app/notes.txt"), "mine").expect("write");
    let before = snapshot(&temp.0);
    let error = failed(&chopin(&temp.0, &["new", "app"]));
    assert_eq!(error, "error: app exists and is not empty");
    assert_eq!(snapshot(&temp.0), before);

    // Nor inside a project.
    let root = temp.0.join("empty-parent");
    fs::create_dir_all(&root).expect("mkdir");
    succeeded(&chopin(&root, &["new", "outer"]));
    let before = snapshot(&root);
    let error = failed(&chopin(&root.join("outer/src"), &["new", "inner"]));
    assert!(error.contains("run `chopin new` outside it"), "{error}");
    assert_eq!(snapshot(&root), before);

    // An empty one is filled.
    fs::create_dir_all(temp.0.join("empty")).expect("mkdir");
    succeeded(&chopin(&temp.0, &["new", "empty"]));
    assert!(temp.0.join("empty/src/lib.rs").is_file());
}

#[test]
fn new_refuses_bad_names_and_paths_and_writes_nothing() {
    let temp = TempDir::new("new-bad");
    let before = snapshot(&temp.0);
    for args in [
        &["new", "My-App"][..],
        &["new", "9lives"],
        &["new", "sqlx"],
        &["new", "fn"],
        &["new", "app", "--path", "no/such/dir"],
        &["new", "app", "--db", "mysql"],
    ] {
        failed(&chopin(&temp.0, args));
        assert_eq!(snapshot(&temp.0), before, "{args:?}");
    }
}

#[test]
fn bad_resources_fail_in_one_line_and_change_nothing() {
    let temp = TempDir::new("bad-resources");
    let root = new_project(&temp);
    let before = snapshot(&root);
    let cases: &[(&[&str], &str)] = &[
        (
            &["book", "title:string", "rating:integr"],
            "error: rating:integr: unknown type integr (string, text, integer, bigint, float, \
             bool, timestamp, uuid, json, references)",
        ),
        (&["user", "name:string"], "error: resource name user: "),
        (
            &["order", "total:float"],
            "error: resource name order: order is a reserved word in SQL",
        ),
        (
            &["chopin_thing", "a:string"],
            "error: resource name chopin_thing: ",
        ),
        (
            &["Book", "a:string"],
            "error: resource name \"Book\" must be snake_case",
        ),
        (
            &["book", "select:string"],
            "error: select:string: select is a reserved word in SQL",
        ),
        (
            &["book", "type:string"],
            "error: type:string: type is a Rust keyword",
        ),
        (
            &["book", "id:integer"],
            "error: id:integer: every resource has id",
        ),
        (
            &["book", "user_id:bigint"],
            "error: user_id:bigint: every resource has",
        ),
        (
            &["book", "created_at:timestamp"],
            "error: created_at:timestamp: every resource has",
        ),
        (
            &["book", "a:string", "a:text"],
            "error: a:text: duplicate field a",
        ),
        (
            &["book", "a:string:uniq"],
            "error: a:string:uniq: unknown option uniq",
        ),
        (&["book", "title"], "error: title: no type"),
        (
            &["note", "title:string"],
            "error: resource note exists: src/resources/notes.rs",
        ),
        (
            &["review", "book:references", "body:text"],
            "error: book:references: no resource book; generate it first",
        ),
        (&["book"], "error: no fields: give at least one"),
    ];
    for (args, message) in cases {
        let mut full = vec!["generate", "resource"];
        full.extend_from_slice(args);
        let error = failed(&chopin(&root, &full));
        assert!(error.starts_with(message), "{args:?}: {error}");
        assert_eq!(snapshot(&root), before, "{args:?} changed the files");
    }
}

#[test]
fn a_resource_whose_table_exists_is_refused() {
    let temp = TempDir::new("table-exists");
    let root = new_project(&temp);
    let sql = "CREATE TABLE IF NOT EXISTS books (id INTEGER PRIMARY KEY);\n";
    fs::write(root.join("migrations/sqlite/1_books.up.sql"), sql).expect("write");
    let before = snapshot(&root);
    let error = failed(&chopin(
        &root,
        &["generate", "resource", "book", "title:string"],
    ));
    assert_eq!(
        error,
        "error: resource book: a migration creates the table books already"
    );
    assert_eq!(snapshot(&root), before);
}

#[test]
fn a_project_without_src_fields_rs_is_refused() {
    let temp = TempDir::new("no-fields");
    let root = new_project(&temp);
    // As `chopin new` made projects before it wrote src/fields.rs.
    fs::remove_file(root.join("src/fields.rs")).expect("rm src/fields.rs");
    let before = snapshot(&root);
    let error = failed(&chopin(
        &root,
        &["generate", "resource", "book", "title:string"],
    ));
    assert!(
        error.starts_with("error: src/fields.rs is missing: "),
        "{error}"
    );
    assert!(error.contains("pub mod fields;"), "{error}");
    assert_eq!(snapshot(&root), before);
}

#[test]
fn a_write_that_cannot_happen_changes_nothing() {
    let temp = TempDir::new("cannot-write");
    let root = new_project(&temp);
    // `tests` a file: tests/books.rs cannot be written, after the migrations would be.
    fs::remove_dir_all(root.join("tests")).expect("rm tests");
    fs::write(root.join("tests"), "in the way").expect("write");
    let before = snapshot(&root);
    failed(&chopin(
        &root,
        &["generate", "resource", "book", "title:string"],
    ));
    assert_eq!(snapshot(&root), before);
}

#[test]
fn generating_outside_a_project_is_refused() {
    let temp = TempDir::new("outside");
    let error = failed(&chopin(
        &temp.0,
        &["generate", "resource", "book", "title:string"],
    ));
    let dir = temp.0.canonicalize().expect("canonical");
    assert_eq!(
        error,
        format!(
            "error: not in a Chopin project (no src/resources/mod.rs above {})",
            dir.display()
        )
    );
    let error = failed(&chopin(&temp.0, &["routes"]));
    assert!(error.starts_with("error: no Cargo.toml in "), "{error}");
    assert!(names(&temp.0).is_empty());
}

#[test]
fn resources_are_registered_and_get_their_migrations() {
    let temp = TempDir::new("resources");
    let root = new_project(&temp);
    succeeded(&chopin(
        &root,
        &["generate", "resource", "book", "title:string"],
    ));
    // From a subdirectory, with the alias.
    let args = [
        "g",
        "resource",
        "review",
        "book:references",
        "body:text",
        "rating:integer?",
    ];
    succeeded(&chopin(&root.join("src"), &args));

    let registry = read(&root.join("src/resources/mod.rs"));
    assert!(
        registry.contains("\nmod books;\nmod notes;\nmod reviews;\n"),
        "{registry}"
    );
    assert!(
        registry.contains(
            "    OpenApiRouter::new()\n        .merge(books::routes())\n        \
             .merge(notes::routes())\n        .merge(reviews::routes())\n"
        ),
        "{registry}"
    );
    let mut versions = Vec::new();
    for table in ["notes", "books", "reviews"] {
        let mut found = Vec::new();
        for backend in ["sqlite", "postgres"] {
            for direction in ["up", "down"] {
                let suffix = format!("_create_{table}.{direction}.sql");
                let dir = root.join("migrations").join(backend);
                let name = names(&dir)
                    .into_iter()
                    .find(|n| n.ends_with(&suffix))
                    .unwrap_or_else(|| panic!("{backend}: no {suffix}"));
                found.push(
                    name.split('_')
                        .next()
                        .map(str::to_owned)
                        .unwrap_or_default(),
                );
            }
        }
        found.dedup();
        assert_eq!(found.len(), 1, "one version per resource: {found:?}");
        versions.push(found[0].parse::<u64>().expect("a number"));
    }
    // Made within a second or two, still in order.
    assert!(
        versions[0] < versions[1] && versions[1] < versions[2],
        "{versions:?}"
    );

    let up = read(&first_with(
        &root.join("migrations/postgres"),
        "_create_reviews.up.sql",
    ));
    assert!(
        up.contains("book_id    BIGINT  NOT NULL REFERENCES books (id),"),
        "{up}"
    );
    assert!(
        up.contains("user_id    BIGINT  NOT NULL REFERENCES chopin_users (id) ON DELETE CASCADE"),
        "{up}"
    );
    assert!(
        up.contains("GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
        "{up}"
    );
    let down = read(&first_with(
        &root.join("migrations/sqlite"),
        "_create_reviews.down.sql",
    ));
    assert_eq!(down, "DROP TABLE reviews;\n");

    let module = read(&root.join("src/resources/reviews.rs"));
    assert!(module.starts_with(
        "//! `/api/reviews`: generated by `chopin generate resource review book:references \
         body:text rating:integer?`.\n"
    ));
    // The tests create the book a review refers to, with the book's own fields.
    let tests = read(&root.join("tests/reviews.rs"));
    assert!(
        tests.contains("const BOOKS: &str = \"/api/books\";"),
        "{tests}"
    );
    assert!(
        tests.contains("\"book_id\": create_book(app, user).await?[\"id\"],"),
        "{tests}"
    );
    assert!(
        tests.contains("\"title\": format!(\"title {n}\"),"),
        "{tests}"
    );
}

/// The file of `dir` whose name ends with `suffix`.
fn first_with(dir: &Path, suffix: &str) -> PathBuf {
    names(dir)
        .into_iter()
        .find(|n| n.ends_with(suffix))
        .map(|n| dir.join(n))
        .unwrap_or_else(|| panic!("no {suffix} in {}", dir.display()))
}

#[test]
fn jobs_mailers_and_migrations_are_generated_and_registered() {
    let temp = TempDir::new("items");
    let root = new_project(&temp);
    succeeded(&chopin(&root, &["generate", "job", "send_digest"]));
    succeeded(&chopin(&root, &["generate", "job", "cleanup"]));
    let jobs = read(&root.join("src/jobs/mod.rs"));
    assert!(
        jobs.contains("pub mod cleanup;\npub mod send_digest;\n"),
        "{jobs}"
    );
    assert!(
        jobs.contains(
            "    app.job::<cleanup::Cleanup>()\n        .job::<send_digest::SendDigest>()\n"
        ),
        "{jobs}"
    );
    assert!(read(&root.join("src/jobs/send_digest.rs")).contains("impl Job for SendDigest {"));

    succeeded(&chopin(&root, &["generate", "mailer", "welcome"]));
    assert!(read(&root.join("src/mailers/mod.rs")).ends_with("\npub mod welcome;\n"));
    let mailer = read(&root.join("src/mailers/welcome.rs"));
    assert!(
        mailer.contains("impl Template for Welcome<'_> {"),
        "{mailer}"
    );
    assert!(mailer.contains("pub async fn send(state: &AppState, to: &str, name: &str)"));

    succeeded(&chopin(&root, &["generate", "migration", "add_index"]));
    for backend in ["sqlite", "postgres"] {
        let up = read(&first_with(
            &root.join("migrations").join(backend),
            "_add_index.up.sql",
        ));
        // Comments only: it runs as it is on both backends.
        assert!(up.lines().all(|line| line.starts_with("--")), "{up}");
    }

    let before = snapshot(&root);
    for args in [
        &["generate", "job", "send_digest"][..],
        &["generate", "job", "Bad"],
        &["generate", "job", "fn"],
        &["generate", "mailer", "welcome"],
        &["generate", "mailer", "template"],
        &["generate", "migration", "Add-Index"],
    ] {
        failed(&chopin(&root, args));
        assert_eq!(snapshot(&root), before, "{args:?}");
    }
}

#[test]
fn every_command_has_help() {
    let temp = TempDir::new("help");
    for args in [
        &["--help"][..],
        &["new", "--help"],
        &["generate", "--help"],
        &["g", "--help"],
        &["generate", "resource", "--help"],
        &["generate", "migration", "--help"],
        &["generate", "job", "--help"],
        &["generate", "mailer", "--help"],
        &["help", "db"],
        &["help", "routes"],
        &["help", "openapi"],
        &["help", "doctor"],
        &["help", "user"],
        &["help", "jobs"],
    ] {
        let output = chopin(&temp.0, args);
        succeeded(&output);
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Usage: chopin"), "{args:?}: {help}");
    }
    let help = String::from_utf8_lossy(&chopin(&temp.0, &["--help"]).stdout).into_owned();
    assert!(help.contains("build and run the project's app"), "{help}");
    let resource = chopin(&temp.0, &["generate", "resource", "--help"]);
    assert!(String::from_utf8_lossy(&resource.stdout).contains("other:references"));
}

#[test]
fn unknown_commands_fail_in_one_line() {
    let temp = TempDir::new("unknown");
    failed(&chopin(&temp.0, &["frobnicate"]));
    failed(&chopin(&temp.0, &["new"]));
    failed(&chopin(&temp.0, &["generate", "widget", "x"]));
}

/// The generated Rust as rustfmt (the toolchain's, with the edition the projects use)
/// would write it, for short and for the longest names, every field type and option.
#[test]
fn generated_rust_is_formatted() {
    let temp = TempDir::new("fmt");
    let root = new_project(&temp);
    let long = "abcdefghijklmnopqrstuvwx";
    let resources: Vec<Vec<String>> = vec![
        words(
            "book title:string:unique pages:integer? published:bool rating:float isbn:uuid? \
               released_at:timestamp meta:json?",
        ),
        words("review book:references body:text stars:bigint"),
        words(&format!(
            "{long} {long}:string:unique bcdefghijklmnopqrstuvwxy:text? \
             cdefghijklmnopqrstuvwxyz:bool? defghijklmnopqrstuvwxyza:json \
             efghijklmnopqrstuvwxyzab:timestamp? fghijklmnopqrstuvwxyzabc:uuid:unique \
             ghijklmnopqrstuvwxyzabcd:integer hijklmnopqrstuvwxyzabcde:bigint?"
        )),
        words(&format!(
            "zyxwvutsrqponmlkjihgfedc {long}:references review:references? book:references:unique"
        )),
        words("x b:integer?"),
        words("y c:bigint:unique d:integer"),
        words("z j:json flag:bool?"),
        words("w u:uuid"),
        // No check at all, and one reader of a column each.
        words("v f:float?"),
        words("u b:bool?"),
        words("t j:json?"),
        words(
            "everything s:string? t:text i:integer? g:bigint f:float? b:bool? at:timestamp \
             u:uuid? j:json? k:json book:references",
        ),
    ];
    for resource in &resources {
        let mut args = vec!["generate", "resource"];
        args.extend(resource.iter().map(String::as_str));
        succeeded(&chopin(&root, &args));
    }
    for args in [
        ["job", "b"],
        ["job", long],
        ["mailer", "c"],
        ["mailer", long],
    ] {
        succeeded(&chopin(&root, &["generate", args[0], args[1]]));
    }
    // src/lib.rs takes in src/fields.rs and src/resources/, and src/resources/ every
    // resource's module; src/fields.rs is named as well, lest it be left out.
    let mut files = vec![
        "src/lib.rs".to_owned(),
        "src/fields.rs".to_owned(),
        "src/main.rs".to_owned(),
        "build.rs".to_owned(),
    ];
    files.extend(
        names(&root.join("tests"))
            .into_iter()
            .map(|n| format!("tests/{n}")),
    );
    let output = Command::new("rustfmt")
        .args(["--check", "--edition", "2024"])
        .args(&files)
        .current_dir(&root)
        .output()
        .expect("rustfmt, which comes with the Rust toolchain, must be installed");
    assert!(
        output.status.success(),
        "not as rustfmt formats it:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}
