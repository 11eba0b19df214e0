//! A loop that stops making progress while looking healthy is caught: the
//! worker's liveness probe fails naming the stuck step, and the harness's
//! watchdog report names it too (with every thread's stack).

use std::time::Duration;

use bv_e2e::{Options, TestApp, reserve_port};

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_step_fails_liveness_and_is_named() {
    let port = reserve_port();
    let app = TestApp::spawn_with(
        Options::default().with("worker.http_addr", format!("127.0.0.1:{port}")),
    )
    .await;
    let healthz = || async {
        let response = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert!(
        bv_e2e::eventually(Duration::from_secs(10), || async {
            healthz().await.0 == 200
        })
        .await
    );

    // A step that was allowed no time at all is held: it is stuck.
    let step = bv_runtime::progress::busy(
        "consumer 7",
        "awaiting a reply that never comes",
        Duration::ZERO,
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, body) = healthz().await;
    assert_eq!(status, 503);
    assert!(
        body.contains("consumer 7: awaiting a reply that never comes for"),
        "{body}"
    );
    let report = tokio::task::spawn_blocking(bv_e2e::watchdog::dump)
        .await
        .unwrap();
    assert!(
        report.contains("consumer 7: awaiting a reply that never comes"),
        "{report}"
    );
    assert!(report.contains("thread stacks"), "{report}");
    if std::process::Command::new("gdb")
        .arg("--version")
        .output()
        .is_ok()
    {
        assert!(report.contains("Thread "), "gdb's stacks: {report}");
    }

    drop(step);
    assert_eq!(healthz().await.0, 200, "live again once the step ends");
    drop(app);
}
