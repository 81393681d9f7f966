//! `doctor`: one line per check, with what to do about a problem.

use super::Failure;
use crate::{
    config::{Config, Environment, JWT_SECRET_MIN_LEN},
    db, mail,
    project::Project,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failed: usize,
}

impl Report {
    fn line(&mut self, outcome: Outcome, check: &str, detail: impl AsRef<str>) {
        let mark = match outcome {
            Outcome::Ok => "ok",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
        };
        if outcome == Outcome::Fail {
            self.failed += 1;
        }
        println!("{mark:<5} {check}: {}", detail.as_ref());
    }
}

pub(super) async fn run(project: &Project) -> Result<(), Failure> {
    let mut report = Report { failed: 0 };
    // The same rules as startup: parsing, then the rules that join settings.
    let config = match Config::from_env().and_then(|c| c.validate().map(|()| c)) {
        Ok(config) => config,
        Err(e) => {
            report.line(
                Outcome::Fail,
                "configuration",
                format!("{e} (fix it in the environment or .env)"),
            );
            return Err("1 check failed".into());
        }
    };
    report.line(
        Outcome::Ok,
        "configuration",
        format!(
            "ENVIRONMENT={}, SERVER_MODE={}, DATABASE_URL={}",
            config.environment, config.mode, config.database_url
        ),
    );
    jwt_secret(&config, &mut report);
    database(project, &config, &mut report).await;
    smtp(&config, &mut report).await;
    match report.failed {
        0 => Ok(()),
        1 => Err("1 check failed".into()),
        n => Err(format!("{n} checks failed").into()),
    }
}

fn jwt_secret(config: &Config, report: &mut Report) {
    let secret = &config.jwt_secret;
    let bytes = secret.as_bytes();
    let mut distinct = bytes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let development = config.environment == Environment::Development;
    let outcome = if development {
        Outcome::Warn
    } else {
        Outcome::Fail
    };
    if secret.is_generated() {
        report.line(
            outcome,
            "JWT_SECRET",
            "not set: a random secret per process, so tokens do not survive a restart; set it to `openssl rand -base64 48`",
        );
    } else if bytes.len() < JWT_SECRET_MIN_LEN {
        report.line(
            outcome,
            "JWT_SECRET",
            format!(
                "{} bytes, shorter than {JWT_SECRET_MIN_LEN}; set it to `openssl rand -base64 48`",
                bytes.len()
            ),
        );
    } else if distinct.len() < 16 {
        report.line(
            outcome,
            "JWT_SECRET",
            format!(
                "only {} different characters: it looks typed, not random; set it to `openssl rand -base64 48`",
                distinct.len()
            ),
        );
    } else {
        report.line(Outcome::Ok, "JWT_SECRET", format!("{} bytes", bytes.len()));
    }
}

async fn database(project: &Project, config: &Config, report: &mut Report) {
    let (pool, backend) = match db::connect(config).await {
        Ok(opened) => opened,
        Err(e) => {
            report.line(
                Outcome::Fail,
                "database",
                format!("{e}; check DATABASE_URL and that the server runs"),
            );
            return;
        }
    };
    report.line(Outcome::Ok, "database", "reachable");
    let mut pending = Vec::new();
    let mut unknown = Vec::new();
    let framework = db::framework(backend);
    for migrator in [Some(&framework), project.migrator(config)]
        .into_iter()
        .flatten()
    {
        match db::entries(&pool, migrator).await {
            Ok(entries) => {
                for entry in entries {
                    match (entry.applied, entry.in_build) {
                        (false, _) => {
                            pending.push(format!("{} {}", entry.version, entry.description))
                        }
                        (true, false) => unknown.push(entry.version.to_string()),
                        (true, true) => {}
                    }
                }
            }
            Err(e) => {
                report.line(
                    Outcome::Fail,
                    "migrations",
                    format!("cannot read them: {e}"),
                );
                pool.close().await;
                return;
            }
        }
    }
    if pending.is_empty() {
        report.line(Outcome::Ok, "migrations", "all applied");
    } else {
        report.line(
            Outcome::Warn,
            "migrations",
            format!(
                "{} pending ({}): run `chopin db migrate`, or start the app, which applies them",
                pending.len(),
                pending.join(", ")
            ),
        );
    }
    if !unknown.is_empty() {
        report.line(
            Outcome::Warn,
            "migrations",
            format!(
                "applied but not in this build: {} (a newer build migrated this database)",
                unknown.join(", ")
            ),
        );
    }
    pool.close().await;
}

async fn smtp(config: &Config, report: &mut Report) {
    let production = config.environment == Environment::Production;
    match mail::check_smtp(config).await {
        None if production => report.line(
            Outcome::Fail,
            "mail",
            "SMTP_URL is not set: mail is only logged; \
             set it (e.g. smtps://user:pass@mail.example.com:465)",
        ),
        None => report.line(
            Outcome::Ok,
            "mail",
            "SMTP_URL not set: mail goes to the log (and MAIL_DIR if set)",
        ),
        Some(Ok(())) => report.line(Outcome::Ok, "mail", format!("{} answers", config.smtp_url)),
        Some(Err(e)) => report.line(
            Outcome::Fail,
            "mail",
            format!(
                "{} does not answer: {e}; check SMTP_URL and that the server runs",
                config.smtp_url
            ),
        ),
    }
}
