//! `SHUTDOWN_DELAY_SECS` and the signals, in both modes: after SIGTERM, `/readyz`
//! answers `503` while the server still accepts and serves, and a second signal starts
//! the drain at once; after SIGINT (Ctrl-C) the drain starts at once. Alone in its file:
//! a signal goes to the whole test process.

mod common;

use std::time::Duration;

use chopin_core::ServerMode;
use common::{EVENT_TIMEOUT, app, client, config_in, within};

fn signal_self(signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), std::process::id().to_string()])
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{signal}");
}

async fn status(url: String) -> u16 {
    let response = client().get(url).timeout(EVENT_TIMEOUT).send().await;
    response.expect("an answer").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_announces_the_drain_and_sigint_or_a_second_signal_starts_it() {
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        for (first, second) in [("TERM", Some("TERM")), ("TERM", Some("INT")), ("INT", None)] {
            let mut config = config_in(mode);
            // Far longer than the test waits for the server to stop: only a signal can
            // end the window in time.
            config.shutdown_delay = EVENT_TIMEOUT * 10;
            let server = app(config).await.bind().await.expect("bind");
            let base = format!("http://{}", server.local_addr());
            let running = tokio::spawn(server.run());
            assert_eq!(status(format!("{base}/readyz")).await, 200, "{mode}");

            signal_self(first);
            if let Some(second) = second {
                within("/readyz to answer 503 after SIGTERM", async {
                    while status(format!("{base}/readyz")).await != 503 {}
                })
                .await;
                assert_eq!(status(format!("{base}/healthz")).await, 200, "{mode}");
                assert!(!running.is_finished(), "{mode}: stopped within the window");
                signal_self(second);
            }
            within(&format!("{mode}: the drain after SIG{first}"), running)
                .await
                .expect("server task")
                .unwrap_or_else(|err| panic!("{mode}: {err}"));
            assert!(
                client()
                    .get(format!("{base}/healthz"))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .is_err(),
                "{mode}: the listener is closed"
            );
        }
    }
}
