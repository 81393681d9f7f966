//! The commands of an application's own binary: [`Project::main`] serves, or runs one
//! of `db`, `routes`, `openapi`, `doctor`, `user` and `jobs` against the application
//! (the `chopin` command forwards these to `cargo run --`).

mod admin;
mod db;
mod doctor;
mod inspect;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{config::Config, project::Project, telemetry};

/// What a command fails with: its message is printed as one line.
type Failure = Box<dyn std::error::Error>;

#[derive(Debug, Parser)]
#[command(
    about = "Serves the application (no command), or runs one of its commands",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the application (the default): standard or performance mode, by SERVER_MODE.
    Serve,
    /// Migrate, roll back, reset or seed the database at DATABASE_URL.
    #[command(subcommand)]
    Db(DbCommand),
    /// List every route: method, path, auth, who answers it, summary.
    Routes,
    /// Write the OpenAPI document (JSON) to stdout or a file.
    Openapi {
        /// The file to write instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check the configuration, the database, migrations, the JWT secret and SMTP.
    Doctor,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Show job counts and dead jobs; retry or discard a dead job.
    Jobs {
        #[command(subcommand)]
        command: Option<JobsCommand>,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply Chopin's and the application's pending migrations.
    Migrate,
    /// Undo the latest application migrations with their down steps.
    Rollback {
        /// How many to undo.
        #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
    },
    /// List the application's migrations, applied or pending.
    Status,
    /// Drop every table, migrate and seed: refused unless ENVIRONMENT=development.
    Reset {
        /// Reset whatever ENVIRONMENT says.
        #[arg(long)]
        force: bool,
    },
    /// Run the project's seed function (Project::seed).
    Seed,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a verified account; the password is read from a prompt, or from stdin's
    /// first line when stdin is not a terminal.
    Create {
        /// Its email address.
        #[arg(long)]
        email: String,
        /// Its username.
        #[arg(long)]
        username: String,
        /// user, moderator or admin.
        #[arg(long, default_value = "user")]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Counts per queue and the dead jobs (the default).
    List {
        /// How many dead jobs to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Give a dead job a fresh set of attempts.
    Retry {
        /// The dead job's id.
        id: i64,
    },
    /// Delete a dead job.
    Discard {
        /// The dead job's id.
        id: i64,
    },
}

impl Project {
    /// The application's `main`: with no arguments (or `serve`) it serves, configured
    /// from the environment and `.env`; otherwise it runs the command given
    /// (`db migrate`, `db rollback [N]`, `db status`, `db reset`, `db seed`, `routes`,
    /// `openapi`, `doctor`, `user create`, `jobs`; `--help` lists them). A failure is
    /// printed as one line on stderr and exits with status 1; a bad argument exits
    /// with status 2.
    pub async fn main(self) -> ExitCode {
        let cli = match Cli::try_parse() {
            Ok(cli) => cli,
            Err(e) => {
                let _ = e.print();
                return match e.use_stderr() {
                    true => ExitCode::from(2),
                    false => ExitCode::SUCCESS,
                };
            }
        };
        match run(&self, cli.command.unwrap_or(Command::Serve)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(project: &Project, command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve => {
            let config = Config::from_env()?;
            telemetry::init(&config);
            project.app(config).await?.run().await?;
            Ok(())
        }
        Command::Db(command) => db::run(project, command).await,
        Command::Routes => inspect::routes(project).await,
        Command::Openapi { output } => inspect::openapi(project, output).await,
        Command::Doctor => doctor::run(project).await,
        Command::User(UserCommand::Create {
            email,
            username,
            role,
        }) => admin::create_user(project, &email, &username, &role).await,
        Command::Jobs { command } => match command.unwrap_or(JobsCommand::List { limit: 20 }) {
            JobsCommand::List { limit } => admin::jobs(project, limit).await,
            JobsCommand::Retry { id } => admin::retry(project, id).await,
            JobsCommand::Discard { id } => admin::discard(project, id).await,
        },
    }
}
