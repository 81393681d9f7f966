//! The files of a new project (`chopin new`), besides its example resource and the
//! generator's `mod.rs` files.

use super::Text;

/// Which database `.env.example` and the README start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Db {
    Sqlite,
    Postgres,
}

/// Where `chopin-core` comes from.
pub(crate) enum Core {
    /// crates.io.
    Registry,
    /// A local checkout's `chopin-core` directory, absolute.
    Path(String),
}

/// `Cargo.toml`. The dependencies' features are the Chopin workspace's, so a project
/// built with that workspace's target directory reuses its compiled dependencies.
pub(crate) fn cargo_toml(package: &str, core: &Core) -> String {
    let core = match core {
        Core::Registry => "chopin-core = \"0.1\"".to_owned(),
        Core::Path(path) => format!("chopin-core = {{ path = {} }}", toml_string(path)),
    };
    format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
publish = false

[dependencies]
axum = {{ version = "0.8", default-features = false, features = ["http1", "json", "query", "tokio", "matched-path", "original-uri", "tower-log"] }}
{core}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
sqlx = {{ version = "0.9", default-features = false, features = ["any", "macros", "migrate", "postgres", "runtime-tokio", "sqlite-bundled"] }}
tokio = {{ version = "1", features = ["macros", "net", "rt", "rt-multi-thread", "signal", "sync", "time"] }}
tracing = "0.1"
utoipa = {{ version = "6", default-features = false, features = ["macros"] }}
utoipa-axum = "0.3"

# Password hashing is deliberately expensive; unoptimised it would dominate test time.
[profile.dev.package.argon2]
opt-level = 3

[profile.dev.package.blake2]
opt-level = 3
"#
    )
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) const BUILD_RS: &str = r#"//! `sqlx::migrate!` embeds `migrations/` when the crate is built: a new or changed
//! migration must rebuild it.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
"#;

pub(crate) const GITIGNORE: &str = "/target
# The SQLite database and its journal files.
*.db
*.db-*
# Settings of this machine, secrets among them.
.env
.env.local
# Mail written by MAIL_DIR in development.
mail/
";

/// `.env.example`, for `cp .env.example .env`.
pub(crate) fn env_example(ident: &str, db: Db) -> String {
    let (sqlite, postgres) = match db {
        Db::Sqlite => ("", "# "),
        Db::Postgres => ("# ", ""),
    };
    format!(
        "# Settings for development: `cp .env.example .env`, then adjust. .env is not committed;
# every variable is in chopin-core's docs/configuration.md.

# SQLite (the default, a file created if missing) or PostgreSQL (`createdb {ident}` first).
{sqlite}DATABASE_URL=sqlite:app.db
{postgres}DATABASE_URL=postgres://localhost/{ident}

# The key that signs access tokens, 32 bytes or more; required outside development. Unset
# in development, a random one is made at each start (tokens die with the process).
# JWT_SECRET=

ENVIRONMENT=development
SERVER_PORT=3000

# `cargo test` gives each test a fresh SQLite database in memory. Set this to a PostgreSQL
# server instead, where each test gets a database of its own:
# TEST_DATABASE_URL=postgres://localhost/postgres
"
    )
}

/// `README.md`: the project's two commands first.
pub(crate) fn readme(package: &str, db: Db) -> String {
    let setup = match db {
        Db::Sqlite => "A [Chopin](https://github.com/chopin-rs/chopin) application, on SQLite \
                       (`app.db`, created at the\nfirst run) unless `DATABASE_URL` says \
                       otherwise: `cp .env.example .env` to change its settings.\n\
                       `TEST_DATABASE_URL=postgres://...` runs the tests on PostgreSQL."
            .to_owned(),
        Db::Postgres => format!(
            "A [Chopin](https://github.com/chopin-rs/chopin) application, on PostgreSQL: \
             `cp .env.example .env`\nand `createdb {}` first. \
             `TEST_DATABASE_URL=postgres://...` runs the tests on PostgreSQL\ntoo \
             (without it, on SQLite in memory).",
            package.replace('-', "_")
        ),
    };
    format!(
        "# {package}

```bash
cargo run     # serves on http://127.0.0.1:3000, API docs at http://127.0.0.1:3000/api-docs
cargo test    # every test, each on a fresh database
```

{setup}

## Generating code

`chopin` (`cargo install chopin-cli`, or `cargo install --path chopin-cli` in a Chopin
checkout) writes code and registers it, inside this directory:

```bash
chopin generate resource book title:string:unique pages:integer?
chopin generate resource review book:references body:text rating:integer?
chopin generate migration add_subtitle_to_books
chopin generate job send_digest
chopin generate mailer welcome
```

- `resource NAME field:type...`: a table (migrations for SQLite and PostgreSQL), CRUD
  routes under `/api/PLURAL` with their OpenAPI documentation, and their tests in
  `tests/PLURAL.rs`. Types: `string`, `text`, `integer`, `bigint`, `float`, `bool`,
  `timestamp`, `uuid`, `json`, and `other:references` (a row of the resource `other`).
  `?` makes a field optional, `:unique` unique.
- `migration NAME`: an empty migration for both backends, to fill in.
- `job NAME`: a background job in `src/jobs/`, registered with the app.
- `mailer NAME`: a mail template and its `send` function in `src/mailers/`.

`src/resources/mod.rs`, `src/jobs/mod.rs` and `src/mailers/mod.rs` belong to the
generator, which rewrites them from the files beside them.

## The app's commands

`chopin` runs these through the app (`cargo run -- ...` does the same):

```bash
chopin db migrate            # apply the migrations (the server also does at startup)
chopin db rollback           # undo the last one (`rollback 3`: the last three)
chopin db status             # which are applied
chopin db seed               # run src/seed.rs
chopin db reset --force      # drop everything, migrate, seed
chopin routes                # every route
chopin openapi --output openapi.json
chopin user create --email ada@example.com --username ada --role admin
chopin jobs                  # the job queue; `jobs retry ID`, `jobs discard ID`
chopin doctor                # check the configuration and the database
```

## Layout

- `src/lib.rs`: `project()`, the application told once, for `main`, the tests and `chopin`.
- `src/resources/`: one module per resource, its model, checks and handlers.
- `src/fields.rs`: what the resources share to read their input (paging, ids, each field
  type's check); `chopin generate resource` imports from it by name. Yours to change.
- `src/jobs/`, `src/mailers/`: background jobs and mails.
- `src/seed.rs`: what `chopin db seed` writes.
- `migrations/sqlite/`, `migrations/postgres/`: the same tables in each backend's SQL.
- `tests/`: the API's tests, through `chopin_core::testing::TestApp` (no socket).
"
    )
}

/// `src/main.rs`.
pub(crate) fn main_rs(ident: &str) -> String {
    format!(
        "//! Serves the app (`cargo run`), or runs one of its commands: `cargo run -- db migrate`,
//! `chopin db migrate`, `cargo run -- --help`.

#[tokio::main]
async fn main() -> std::process::ExitCode {{
    {ident}::project().main().await
}}
"
    )
}

/// `src/lib.rs`.
pub(crate) fn lib_rs(package: &str) -> String {
    let mut out = Text::default();
    out.line(format!(
        "//! {package}, a Chopin application. [`project`] puts it together once: `main` serves it,"
    ));
    out.line(
        "//! the tests run it (`chopin_core::testing::TestApp`) and the `chopin` command acts on",
    );
    out.line("//! it (`chopin db migrate`, `chopin routes`, ...).");
    out.line("//!");
    out.line("//! # Layout");
    out.line("//!");
    out.line("//! - `resources`: one module per resource and its routes under `/api`, written by");
    out.line("//!   `chopin generate resource`.");
    out.line(
        "//! - [`fields`]: how the resources read their input (paging, ids, each field type's",
    );
    out.line("//!   check), shared by them and yours to change.");
    out.line("//! - [`jobs`]: background jobs (`chopin generate job`).");
    out.line("//! - [`mailers`]: mails (`chopin generate mailer`).");
    out.line("//! - `seed`: what `chopin db seed` writes.");
    out.line(
        "//! - `migrations/sqlite`, `migrations/postgres`: the tables, in each backend's SQL.",
    );
    out.line("");
    out.line("pub mod fields;");
    out.line("pub mod jobs;");
    out.line("pub mod mailers;");
    out.line("mod resources;");
    out.line("mod seed;");
    out.line("");
    out.line("use chopin_core::{App, Error, Migrations, Project};");
    out.line("");
    out.line(
        "/// The tables, one set of migrations per backend (their SQL differs), embedded when the",
    );
    out.line("/// crate is built.");
    out.line("pub static MIGRATIONS: Migrations = Migrations {");
    out.line("    sqlite: sqlx::migrate!(\"migrations/sqlite\"),");
    out.line("    postgres: sqlx::migrate!(\"migrations/postgres\"),");
    out.line("};");
    out.line("");
    out.line(
        "/// The application: what `main` serves, what the tests run (`TestApp::new(project())`),",
    );
    out.line("/// and what `chopin db`, `chopin routes` and the app's other commands act on.");
    out.line("pub fn project() -> Project {");
    out.line("    Project::new(build).migrations(&MIGRATIONS).seed(seed::run)");
    out.line("}");
    out.line("");
    out.line(
        "/// Adds the jobs and the resources' documented routes to `app`, whose migrations are",
    );
    out.line("/// applied already.");
    out.line("async fn build(app: App) -> Result<App, Error> {");
    out.line("    let app = jobs::register(app);");
    out.line("    let routes = resources::routes().with_state(app.state().clone());");
    out.line("    Ok(app.api_router(routes))");
    out.line("}");
    out.finish()
}

pub(crate) const SEED_RS: &str = r#"//! What `chopin db seed` (and `chopin db reset`) writes into a migrated database.

use chopin_core::{AppState, SeedError};

/// Writes the rows a fresh database starts with. It runs again at every `chopin db seed`,
/// so it must write only what is missing. Nothing yet; an admin account, for instance:
///
/// ```text
/// let admin: Option<i64> = sqlx::query_scalar("SELECT id FROM chopin_users WHERE email = $1")
///     .bind("admin@example.com")
///     .fetch_optional(state.db())
///     .await?;
/// if admin.is_none() {
///     let password = std::env::var("ADMIN_PASSWORD")?;
///     let email = "admin@example.com";
///     chopin_core::auth::create_user(&state, email, "admin", &password, Role::Admin).await?;
/// }
/// ```
pub(crate) async fn run(state: AppState) -> Result<(), SeedError> {
    // Nothing to write yet.
    let _ = state;
    Ok(())
}
"#;
