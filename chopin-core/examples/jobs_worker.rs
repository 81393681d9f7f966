//! A worker process: with `JOBS_ONLY=on` the app runs the jobs stored in its database
//! and serves no HTTP, so web and workers scale apart. Its job records each run in a
//! `job_runs` table, which `tests/jobs_process.rs` creates and reads.
//!
//! ```text
//! DATABASE_URL=sqlite:./app.db JOBS_ONLY=on cargo run -p chopin-core --example jobs_worker
//! ```

use std::time::Duration;

use chopin_core::{
    App, AppState,
    jobs::{Job, JobError},
    serde::{Deserialize, Serialize},
};

/// Works for `work_ms`, then records that `key` ran.
#[derive(Serialize, Deserialize)]
#[serde(crate = "chopin_core::serde")]
struct Record {
    key: String,
    work_ms: u64,
}

impl Job for Record {
    const NAME: &'static str = "record";
    const TIMEOUT: Duration = Duration::from_secs(2);

    async fn run(self, state: AppState) -> Result<(), JobError> {
        tokio::time::sleep(Duration::from_millis(self.work_ms)).await;
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis();
        chopin_core::sqlx::query("INSERT INTO job_runs (key, at) VALUES ($1, $2)")
            .bind(&self.key)
            .bind(i64::try_from(at)?)
            .execute(state.db())
            .await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), chopin_core::Error> {
    App::new().await?.job::<Record>().run().await
}
