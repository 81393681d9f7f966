//! An application's binary as `chopin new` lays it out: `Project::main` serves, or
//! runs the command given (`db migrate`, `jobs`, `doctor`, ...). Its one job always
//! fails, so it ends dead; `tests/commands.rs` runs the binary's commands on it.
//!
//! ```text
//! DATABASE_URL=sqlite:./app.db cargo run -p chopin-core --example commands -- jobs
//! ```

use std::process::ExitCode;

use chopin_core::{
    App, AppState, Error, Project,
    jobs::{Job, JobError},
    serde::{Deserialize, Serialize},
};

/// Refused by the mail server, every time.
#[derive(Serialize, Deserialize)]
#[serde(crate = "chopin_core::serde")]
struct Refused {
    to: String,
}

impl Job for Refused {
    const NAME: &'static str = "refused";
    const MAX_ATTEMPTS: u32 = 1;

    async fn run(self, _: AppState) -> Result<(), JobError> {
        Err(format!("the mail server refused {}", self.to).into())
    }
}

async fn build(app: App) -> Result<App, Error> {
    Ok(app.job::<Refused>())
}

#[tokio::main]
async fn main() -> ExitCode {
    Project::new(build).main().await
}
