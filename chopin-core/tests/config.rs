//! Configuration as a user meets it: a `.env` in the working directory, the database
//! password in what gets printed, and a configuration built in code held to the rules
//! of the variables.

mod common;

use std::time::Duration;

use chopin_core::{
    App, Config, DatabaseUrl, Environment, JwtSecret, LogFormat,
    sqlx::{
        SqlSafeStr,
        migrate::{Migration, MigrationType, Migrator},
    },
};

const PASSWORD: &str = "hunter2-secret";

/// The only test here that reads or changes the working directory.
#[test]
fn dot_env_fills_the_config_without_touching_the_environment() {
    let dir = std::env::temp_dir().join(format!("chopin-dot-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env"),
        "SERVER_BACKLOG=777\nLOG_FORMAT=json\nCHOPIN_ONLY_IN_DOT_ENV=1\n",
    )
    .unwrap();
    for var in ["SERVER_BACKLOG", "LOG_FORMAT", "CHOPIN_ONLY_IN_DOT_ENV"] {
        assert!(
            std::env::var(var).is_err(),
            "{var} is set by the test runner"
        );
    }
    let before = std::env::current_dir().unwrap();
    std::env::set_current_dir(&dir).unwrap();

    let config = Config::from_env();
    std::fs::write(dir.join(".env"), "SERVER_BACKLOG=1\nNOT A LINE\n").unwrap();
    let malformed = Config::from_env();
    std::fs::remove_file(dir.join(".env")).unwrap();
    let without = Config::from_env();

    std::env::set_current_dir(before).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let config = config.expect("config from .env");
    assert_eq!(config.backlog, 777);
    assert_eq!(config.log_format, LogFormat::Json);
    for var in ["SERVER_BACKLOG", "LOG_FORMAT", "CHOPIN_ONLY_IN_DOT_ENV"] {
        assert!(
            std::env::var(var).is_err(),
            "{var} from .env leaked into the process environment"
        );
    }
    let malformed = malformed.expect_err("malformed .env");
    assert!(malformed.is_config());
    assert!(
        malformed.to_string().starts_with("cannot read .env: "),
        "{malformed}"
    );
    assert_eq!(without.expect("no .env is fine").backlog, 1024);
}

fn assert_masked(printed: &str) {
    assert!(!printed.contains(PASSWORD), "password printed: {printed}");
}

#[tokio::test]
async fn an_unreachable_database_is_reported_without_its_password() {
    let mut config = common::config();
    // Port 1: nothing listens, the connection is refused at once.
    config.database_url = format!("postgres://app:{PASSWORD}@127.0.0.1:1/app?password={PASSWORD}")
        .parse()
        .unwrap();
    config.database_acquire_timeout = Duration::from_secs(1);
    assert_masked(&format!("{config:?}"));
    let error = tokio::time::timeout(Duration::from_secs(20), App::with_config(config))
        .await
        .expect("startup gives up")
        .expect_err("nothing listens on port 1");
    assert!(error.is_database(), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "cannot open the database at DATABASE_URL \"postgres://app:***@127.0.0.1:1/app?password=***\": "
        ),
        "{message}"
    );
    assert_masked(&message);
    assert_masked(&format!("{error:?}"));

    let scheme = "mysql://root:hunter2-secret@db/app"
        .parse::<DatabaseUrl>()
        .expect_err("unsupported scheme");
    assert!(scheme.is_config());
    assert_masked(&scheme.to_string());
}

#[tokio::test]
async fn a_running_app_and_its_migration_errors_never_show_the_password() {
    let cluster = common::postgres::cluster();
    // The test cluster trusts local connections: the password is accepted and unused.
    let url = cluster
        .fresh_database()
        .replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let mut config = common::config();
    config.database_url = format!("{url}?password={PASSWORD}").parse().unwrap();
    let app = App::with_config(config).await.expect("app");
    let printed = format!("{app:?}");
    assert_masked(&printed);
    assert!(printed.contains("postgres:***@127.0.0.1"), "{printed}");

    let broken = Migrator::with_migrations(vec![Migration::new(
        1,
        "broken".into(),
        MigrationType::Simple,
        "THIS IS NOT SQL".into_sql_str(),
        false,
    )]);
    let error = app.migrate(&broken).await.expect_err("broken migration");
    assert!(error.is_database(), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("application migration failed and was rolled back: "),
        "{error}"
    );
    assert_masked(&error.to_string());
}

#[tokio::test]
async fn a_code_built_config_is_held_to_the_rules_of_the_variables() {
    let mut production = common::config();
    production.environment = Environment::Production;
    let error = App::with_config(production.clone())
        .await
        .expect_err("no secret");
    assert!(error.is_config());
    assert!(
        error
            .to_string()
            .starts_with("JWT_SECRET is required when ENVIRONMENT=production"),
        "{error}"
    );
    production.jwt_secret = JwtSecret::new("short");
    let error = App::with_config(production.clone()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "JWT_SECRET is 5 bytes long; at least 32 are required when ENVIRONMENT=production"
    );
    production.jwt_secret = JwtSecret::new("a test secret that is at least 32 bytes");
    production.cors_origins = chopin_core::CorsOrigins::Any;
    let error = App::with_config(production).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("\"*\" is refused when ENVIRONMENT=production"),
        "{error}"
    );

    let mut forever = common::config();
    forever.request_timeout = Some(Duration::from_secs(u64::MAX));
    let error = App::with_config(forever).await.unwrap_err();
    assert!(error.is_config());
    assert!(
        error
            .to_string()
            .starts_with("invalid Config::request_timeout "),
        "{error}"
    );

    let mut tiny_head = common::config();
    tiny_head.request_head_limit = 1024;
    let error = App::with_config(tiny_head).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid Config::request_head_limit 1024 (REQUEST_HEAD_LIMIT): expected a size in bytes from 8192 to 1048576"
    );
}
