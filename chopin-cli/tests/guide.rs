//! docs/cli.md followed as written on SQLite and on PostgreSQL (see
//! `chopin-core/tests/common/follow.rs` for what differs from a reader's machine; here
//! also `chopin new` gets `--path` to this checkout, and `--db postgres` with
//! `DATABASE_URL` and `TEST_DATABASE_URL` set for the PostgreSQL run). Then the project
//! it generated is served: its resources answer over HTTP, refuse a user who does not
//! own a row, and schemathesis finds nothing over its document.

#[path = "../../chopin-core/tests/common/follow.rs"]
#[allow(dead_code, unreachable_pub)]
mod follow;
#[path = "../../chopin-core/tests/common/markdown.rs"]
#[allow(dead_code, unreachable_pub)]
mod markdown;
#[path = "../../chopin-core/tests/common/postgres.rs"]
#[allow(dead_code, unreachable_pub)]
mod postgres;
#[path = "../../chopin-core/tests/common/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

use std::{fs, path::Path};

use follow::{Guide, workspace};
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Database {
    Sqlite,
    Postgres,
}

fn follow_the_cli_guide(database: Database) {
    let doc = fs::read_to_string(workspace().join("docs/cli.md")).expect("docs/cli.md");
    let root = std::env::temp_dir().join(format!(
        "chopin-cli-guide-{database:?}-{}",
        std::process::id()
    ));
    let mut guide = Guide::new(&root);
    let chopin = Path::new(env!("CARGO_BIN_EXE_chopin"));
    guide.add_to_path(chopin.parent().expect("the binary's directory"));
    let checkout = workspace().join("chopin-core");
    let mut new_options = format!(" --path {}", checkout.display());
    if database == Database::Postgres {
        let cluster = postgres::cluster();
        let url = cluster.fresh_database();
        guide.envs.push(("DATABASE_URL".to_owned(), url));
        let server = cluster.url("postgres");
        guide.envs.push(("TEST_DATABASE_URL".to_owned(), server));
        new_options.push_str(" --db postgres");
    }
    guide.rewrite = Box::new(move |script: &str| {
        (script.lines())
            .map(|line| match line.trim_start().starts_with("chopin new ") {
                true => format!("{line}{new_options}"),
                false => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    guide.follow(&doc);

    // The project the guide generated, served as `cargo run` serves it, with the auth
    // routes' rate limit lifted as for every contract run: schemathesis signs in
    // hundreds of times a minute.
    (guide.envs).push((
        "AUTH_RATE_LIMIT_PER_MINUTE".to_owned(),
        "1000000".to_owned(),
    ));
    guide.start();
    let base = format!("http://{}", guide.address);
    tools::block_on(serves_its_resources(&base));
    let token = tools::signup_token(&base);
    tools::assert_schemathesis_passes(&format!("{base}/api-docs/openapi.json"), &token, 30);
    drop(guide);
    let _ = fs::remove_dir_all(&root);
}

/// A create, a read, a delete refused while a row refers to the book, and an update
/// refused to a user who does not own the row.
async fn serves_its_resources(base: &str) {
    let client = tools::client();
    let mut tokens = Vec::new();
    for name in ["owner", "other"] {
        let signup = client
            .post(format!("{base}/api/auth/signup"))
            .json(&json!({"email": format!("{name}@example.com"), "username": name, "password": "correct horse battery"}))
            .send()
            .await
            .expect("signup");
        assert_eq!(signup.status(), 201);
        let body: Value = signup.json().await.expect("JSON");
        tokens.push(body["access_token"].as_str().expect("token").to_owned());
    }
    let book = json!({"title": "Dune", "pages": 412});
    let created = client
        .post(format!("{base}/api/books"))
        .bearer_auth(&tokens[0])
        .json(&book)
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("JSON");
    assert_eq!(created["title"], "Dune");
    let id = created["id"].as_i64().expect("an id");

    let read: Value = (client.get(format!("{base}/api/books/{id}")).send().await)
        .expect("read")
        .json()
        .await
        .expect("JSON");
    assert_eq!(read, created);

    let review = json!({"book_id": id, "body": "Long.", "rating": 4});
    let reviewed = client
        .post(format!("{base}/api/reviews"))
        .bearer_auth(&tokens[1])
        .json(&review)
        .send()
        .await
        .expect("review");
    assert_eq!(reviewed.status(), 201);

    // A book a review refers to stays.
    let refused = client
        .delete(format!("{base}/api/books/{id}"))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .expect("delete");
    assert_eq!(refused.status(), 409);

    let refused = client
        .put(format!("{base}/api/books/{id}"))
        .bearer_auth(&tokens[1])
        .json(&json!({"title": "Mine now", "pages": 1}))
        .send()
        .await
        .expect("update");
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"], "forbidden");
}

#[test]
fn the_cli_guide_works_as_written_on_sqlite() {
    follow_the_cli_guide(Database::Sqlite);
}

#[test]
fn the_cli_guide_works_as_written_on_postgres() {
    follow_the_cli_guide(Database::Postgres);
}
