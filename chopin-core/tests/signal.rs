//! A SIGTERM that arrives after `bind` but before `run` (while a caller prints its
//! banner, say) drains the server instead of killing the process. Alone in its file: the
//! signal goes to the whole test process.

mod common;

use chopin_core::ServerMode;
use common::{app, config_in, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_between_bind_and_run_drains_instead_of_killing() {
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        let server = app(config_in(mode)).await.bind().await.expect("bind");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -TERM");
        within("the server to drain on SIGTERM and return", server.run())
            .await
            .unwrap_or_else(|err| panic!("{mode:?}: {err}"));
    }
}
