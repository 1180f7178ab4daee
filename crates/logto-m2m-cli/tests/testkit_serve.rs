//! `logto-m2m testkit serve` as a child process: other programs reach it with what it prints, and
//! Ctrl-C stops it cleanly.

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{VARS, bare, is_jwt, text};
use logto_m2m_testkit::defaults;

/// A running `testkit serve`, killed if a test fails before stopping it.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("logto-m2m"));
    for var in VARS {
        command.env_remove(var);
    }
    let mut child = command
        .args(["testkit", "serve"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("its standard output");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Served { child, lines }
}

impl Served {
    /// The `NAME=value` lines of the banner, read until the blank line that ends them.
    fn variables(&self) -> HashMap<String, String> {
        let mut variables = HashMap::new();
        let mut banner = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("the banner ends: {banner:?}"));
            if let Some((name, value)) = line.split_once('=') {
                variables.insert(name.to_owned(), value.to_owned());
            } else if line.is_empty() && !variables.is_empty() {
                return variables;
            }
            banner.push(line);
        }
    }

    /// Sends `signal` and waits (at most 20 s) for the exit status and the last line printed.
    fn stop_with(mut self, signal: &str) -> (i32, String) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                break status.code().expect("an exit code, not a signal");
            }
            assert!(Instant::now() < deadline, "the server stops on {signal}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let last = self.lines.iter().last().unwrap_or_default();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        assert!(stderr.is_empty(), "{stderr}");
        (code, last)
    }
}

#[test]
fn prints_what_to_set_serves_tokens_and_stops_on_ctrl_c() {
    let served = serve(&[]);
    let vars = served.variables();
    let endpoint = vars["LOGTO_ENDPOINT"].clone();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert_eq!(vars["LOGTO_APP_ID"], defaults::APP_ID);
    assert_eq!(vars["LOGTO_APP_SECRET"], defaults::APP_SECRET);
    assert_eq!(vars["LOGTO_RESOURCE"], defaults::RESOURCE);

    // Another program configured with what it printed gets a token.
    let out = bare()
        .envs(&vars)
        .args(["token", "--format", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(json["lifetime_secs"], defaults::RESOURCE_TTL);
    let out = bare().envs(&vars).arg("token").assert().success();
    let token = text(&out.get_output().stdout);
    assert!(is_jwt(token.trim_end()));
    let out = bare()
        .args(["inspect", token.trim_end()])
        .assert()
        .success();
    assert!(
        text(&out.get_output().stdout).contains(&format!("  iss              {endpoint}/oidc\n"))
    );

    let (code, last) = served.stop_with("-INT");
    assert_eq!(code, 0);
    assert_eq!(last, "Stopped after 2 token requests.");
    // The port is free again.
    let addr = endpoint.trim_start_matches("http://");
    std::net::TcpListener::bind(addr).expect("the port was released");
}

#[test]
fn listens_on_the_port_asked_for_with_the_lifetime_asked_for_and_stops_on_sigterm() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("its address").port()
    };
    let served = serve(&["--port", &port.to_string(), "--token-ttl", "90"]);
    let vars = served.variables();
    assert_eq!(vars["LOGTO_ENDPOINT"], format!("http://127.0.0.1:{port}"));
    let out = bare()
        .envs(&vars)
        .args(["token", "--format", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(json["lifetime_secs"], 90);

    // A second server on the same port cannot start, and says what to do.
    let out = bare()
        .args(["testkit", "serve", "--port", &port.to_string()])
        .assert()
        .code(1);
    let stderr = text(&out.get_output().stderr);
    assert!(stderr.contains("choose another with --port"), "{stderr}");

    let (code, last) = served.stop_with("-TERM");
    assert_eq!(code, 0);
    assert_eq!(last, "Stopped after 1 token request.");
}
