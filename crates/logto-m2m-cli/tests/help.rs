//! The help text, as a user reads it: every subcommand and flag, and no flag for the secret.

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{bare, text};

#[test]
fn the_help_lists_every_subcommand_and_the_token_flags() {
    let out = bare().arg("--help").assert().success();
    insta::assert_snapshot!("help", text(&out.get_output().stdout));

    let out = bare().args(["token", "--help"]).assert().success();
    let help = text(&out.get_output().stdout);
    assert!(
        !help.contains("--secret "),
        "no flag takes the secret itself"
    );
    insta::assert_snapshot!("help_token", help);

    let out = bare().args(["api", "--help"]).assert().success();
    insta::assert_snapshot!("help_api", text(&out.get_output().stdout));
}
