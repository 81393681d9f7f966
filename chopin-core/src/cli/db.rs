//! `db migrate|rollback|status|reset|seed`.

use super::{DbCommand, Failure};
use crate::{
    config::{Config, Environment},
    db,
    project::Project,
};

pub(super) async fn run(project: &Project, command: DbCommand) -> Result<(), Failure> {
    let config = Config::from_env()?;
    match command {
        DbCommand::Migrate => migrate(project, &config).await,
        DbCommand::Rollback { steps } => rollback(project, &config, steps).await,
        DbCommand::Status => status(project, &config).await,
        DbCommand::Reset { force } => {
            if config.environment != Environment::Development && !force {
                return Err(format!(
                    "db reset drops every table: refused when ENVIRONMENT={} (pass --force to reset anyway)",
                    config.environment
                )
                .into());
            }
            let dropped = db::drop_all_tables(&config).await?;
            println!("dropped {dropped} tables");
            migrate(project, &config).await?;
            seed(project, config).await
        }
        DbCommand::Seed => seed(project, config).await,
    }
}

/// Applies Chopin's migrations, then the application's, printing each one applied.
async fn migrate(project: &Project, config: &Config) -> Result<(), Failure> {
    let pool = db::open(config).await?;
    let Some(migrator) = project.migrator(config) else {
        println!("Chopin's migrations are applied; this project has no migrations of its own");
        return Ok(());
    };
    let pending: Vec<db::Entry> = (db::entries(&pool, migrator).await?.into_iter())
        .filter(|e| !e.applied)
        .collect();
    db::run_app_migrations(&pool, migrator).await?;
    if pending.is_empty() {
        println!("nothing to migrate: every migration is applied");
    }
    for entry in pending {
        println!("applied {} {}", entry.version, entry.description);
    }
    pool.close().await;
    Ok(())
}

async fn rollback(project: &Project, config: &Config, steps: u32) -> Result<(), Failure> {
    let migrator = project
        .migrator(config)
        .ok_or("this project has no migrations to roll back (Project::migrations)")?;
    let pool = db::open(config).await?;
    let undone = db::rollback(&pool, migrator, steps as usize).await?;
    if undone.is_empty() {
        println!("nothing to roll back: no migration of this project is applied");
    }
    for entry in undone {
        println!("rolled back {} {}", entry.version, entry.description);
    }
    pool.close().await;
    Ok(())
}

/// The application's migrations, then a summary of Chopin's; nothing is applied.
async fn status(project: &Project, config: &Config) -> Result<(), Failure> {
    let (pool, backend) = db::connect(config).await?;
    if let Some(migrator) = project.migrator(config) {
        for entry in db::entries(&pool, migrator).await? {
            let state = if entry.applied { "applied" } else { "pending" };
            println!("{state:<8} {} {}", entry.version, entry.description);
        }
    } else {
        println!("this project has no migrations of its own");
    }
    let chopin = db::entries(&pool, &db::framework(backend)).await?;
    let applied = chopin.iter().filter(|e| e.applied).count();
    println!(
        "Chopin's own migrations: {applied} of {} applied",
        chopin.len()
    );
    pool.close().await;
    Ok(())
}

async fn seed(project: &Project, config: Config) -> Result<(), Failure> {
    let app = project.app(config).await?;
    let seeded = project
        .run_seed(app.state().clone())
        .await
        .map_err(|e| format!("the seed function failed: {e}"))?;
    if !seeded {
        return Err("this project has no seed function (Project::seed)".into());
    }
    println!("seeded");
    app.state().db().close().await;
    Ok(())
}
