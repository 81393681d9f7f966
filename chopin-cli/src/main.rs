//! `chopin`: creates Chopin projects, generates their resources, migrations, jobs and
//! mailers, and runs their app's own commands.
//!
//! # Layout
//!
//! - `new`: `chopin new`, a project built aside and renamed into place.
//! - `generate`: `chopin generate`, the files of a resource, migration, job or mailer.
//! - `forward`: the app's commands (`db`, `routes`, ...), run through `cargo run`.
//! - `project`: the project a command runs in, and what the generator reads from it.
//! - `resource`: a resource's fields as the command line gives them; `names`: what
//!   things may be called and the forms their names take.
//! - `templates`: the text of every generated file, laid out as rustfmt would (`layout`).
//! - `changes`: writing a command's files all together or not at all.
//! - `error`: a failure as one line.

mod changes;
mod error;
mod forward;
mod generate;
mod layout;
mod names;
mod new;
mod project;
mod resource;
mod templates;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand, error::ErrorKind};

use crate::{
    error::{Error, Result},
    templates::project::Db,
};

const FIELDS_HELP: &str = "\
Fields are name:type, with ? to make one optional and :unique to make it unique:

  string     1 to 255 characters        timestamp  RFC 3339 date and time
  text       1 to 65,535 characters     uuid       8-4-4-4-12 hex digits
  integer    32 bits                    json       any JSON value
  bigint     64 bits                    bool       true or false
  float      a double
  other:references   the id of a row of the resource `other`, generated before

Example: chopin generate resource book title:string:unique pages:integer? author:references";

#[derive(Parser)]
#[command(
    name = "chopin",
    version,
    about = "Create Chopin projects and generate their code",
    after_help = "db, routes, openapi, doctor, user and jobs build and run the project's app \
                  (`cargo run -- COMMAND ...` in its directory), whose binary implements them: \
                  `chopin db --help` is the app's help."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a project in the new directory NAME, with an example resource
    New {
        /// The package name: a lowercase letter, then lowercase letters, digits, `_`, `-`
        name: String,
        /// The database .env.example and the README set up
        #[arg(long, value_enum, default_value_t = Db::Sqlite)]
        db: Db,
        /// Depend on the chopin-core at this path instead of crates.io
        #[arg(long, value_name = "PATH_TO_CHOPIN_CORE")]
        path: Option<PathBuf>,
    },
    /// Generate a resource, migration, job or mailer in the current project
    #[command(subcommand, visible_alias = "g")]
    Generate(Generate),
    /// Migrate, roll back, reset or seed the database (builds and runs the app)
    #[command(disable_help_flag = true)]
    Db(AppArgs),
    /// List every route (builds and runs the app)
    #[command(disable_help_flag = true)]
    Routes(AppArgs),
    /// Write the OpenAPI document (builds and runs the app)
    #[command(disable_help_flag = true)]
    Openapi(AppArgs),
    /// Check the configuration and the database (builds and runs the app)
    #[command(disable_help_flag = true)]
    Doctor(AppArgs),
    /// Manage accounts (builds and runs the app)
    #[command(disable_help_flag = true)]
    User(AppArgs),
    /// Show the job queue, retry or discard dead jobs (builds and runs the app)
    #[command(disable_help_flag = true)]
    Jobs(AppArgs),
}

/// The arguments of a command the app answers, passed on as they are, `--help` included.
#[derive(Args)]
struct AppArgs {
    /// Passed to the app as they are: `--help` gives the app's help
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<String>,
}

#[derive(Subcommand)]
enum Generate {
    /// A resource: its table, CRUD routes under /api/PLURAL with their docs, and tests
    #[command(after_help = FIELDS_HELP)]
    Resource {
        /// Singular and snake_case: book, book_review
        name: String,
        /// name:type[?][:unique]
        #[arg(value_name = "FIELD")]
        fields: Vec<String>,
    },
    /// An empty migration for SQLite and PostgreSQL, up and down, to fill in
    Migration {
        /// snake_case: add_subtitle_to_books
        name: String,
    },
    /// A background job in src/jobs/, registered with the app
    Job {
        /// snake_case: send_digest
        name: String,
    },
    /// A mail and the function that sends it, in src/mailers/
    Mailer {
        /// snake_case: welcome
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    let (command, app_args) = match cli.command {
        Command::New { name, db, path } => {
            let dir = new::new(&cwd, &name, db, path.as_deref())?;
            println!("created {}", dir.display());
            println!("next: cd {name} && cargo run");
            return Ok(ExitCode::SUCCESS);
        }
        Command::Generate(what) => {
            let changes = match what {
                Generate::Resource { name, fields } => generate::resource(&cwd, &name, &fields)?,
                Generate::Migration { name } => generate::migration(&cwd, &name)?,
                Generate::Job { name } => generate::job(&cwd, &name)?,
                Generate::Mailer { name } => generate::mailer(&cwd, &name)?,
            };
            let written: Vec<PathBuf> = changes.paths().map(Path::to_owned).collect();
            changes.apply()?;
            for path in written {
                println!(
                    "wrote {}",
                    path.strip_prefix(&cwd).unwrap_or(&path).display()
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Db(args) => ("db", args),
        Command::Routes(args) => ("routes", args),
        Command::Openapi(args) => ("openapi", args),
        Command::Doctor(args) => ("doctor", args),
        Command::User(args) => ("user", args),
        Command::Jobs(args) => ("jobs", args),
    };
    forward::forward(&cwd, command, &app_args.args).map(ExitCode::from)
}

/// A clap error message in one line: its lines up to the usage, joined.
fn one_line(message: &str) -> String {
    let mut out = String::new();
    let lines = message
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty());
    for line in lines {
        if !out.is_empty() {
            out += if out.ends_with(':') { " " } else { "; " };
        }
        out += line.strip_prefix("error: ").unwrap_or(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn clap_errors_fit_one_line() {
        let message = "error: the following required arguments were not provided:\n  <NAME>\n\n\
                       Usage: chopin new <NAME>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(message),
            "the following required arguments were not provided: <NAME>"
        );
    }
}
