//! `logto-m2m demo` through the real binary: it runs the whole flow in seconds, says each step,
//! and never shows the secret or a token.

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{bare, text};
use logto_m2m_testkit::defaults;

#[test]
fn walks_through_the_flow_in_seconds_without_showing_a_secret() {
    let started = Instant::now();
    let out = bare().arg("demo").assert().success();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let stdout = text(&out.get_output().stdout);
    assert!(
        out.get_output().stderr.is_empty(),
        "{}",
        text(&out.get_output().stderr)
    );

    assert!(
        !stdout.contains(defaults::APP_SECRET),
        "the secret is redacted"
    );
    assert!(!stdout.contains("eyJ"), "no token is printed");
    assert!(
        stdout.contains("     authorization: [redacted]\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Not granted: delete:items"), "{stdout}");
    assert!(
        stdout.contains("The same token again, with no request sent to Logto."),
        "{stdout}"
    );
    assert!(
        stdout.contains("The API answered: 401, then 200; the call returns 200."),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 requests sent, 1 answered 429"),
        "{stdout}"
    );

    // The table's request counts come from the server's log; a refresh ahead sends exactly one
    // request more than the first fetch, and the cache none.
    let row = |step: &str| -> Vec<usize> {
        let line = stdout
            .lines()
            .find(|line| line.trim_start().starts_with(step))
            .unwrap_or_else(|| panic!("no row {step} in {stdout}"));
        line.split_whitespace()
            .rev()
            .take(3)
            .map(|n| n.parse().expect("a number"))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    };
    assert_eq!(row("1-2 first token"), [1, 1, 0]);
    assert_eq!(row("3 from the cache"), [1, 0, 0]);
    assert_eq!(row("4 refresh ahead")[1..], [2, 0]);
    assert!(row("4 refresh ahead")[0] >= 3);
    assert_eq!(row("5 a 401 and the invalidation"), [3, 1, 0]);
    assert_eq!(row("6 the Management API"), [1, 1, 0]);
    assert_eq!(row("7 a 429 and the recovery"), [1, 2, 1]);
    assert_eq!(row("total")[1..], [7, 1]);
    assert!(stdout.contains("(1 request to the API)"), "{stdout}");
    assert!(
        stdout.contains("     Backend service      m2m-app\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("web-app-secret"),
        "no application's secret is printed"
    );

    let filters = vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"logto-m2m-proto/[0-9.]+", "logto-m2m-proto/[version]"),
        (r"\d+\.\ds", "[secs]"),
        (r"after \d+s\.", "after [secs]."),
        (r"(4 refresh ahead +)\d+", "$1[n]"),
        (r"(total +)\d+", "$1[n]"),
    ];
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("demo", stdout);
    });
}
