#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod cli;
mod demo;
mod describe;
mod exit;
mod inspect;
mod json_colours;
mod serve;
mod settings;
mod times;
mod token;
mod verification;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, TestkitCommand};
use crate::exit::{CliError, output_failed};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {error}");
            error.exit_code()
        }
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Token(args) => token::run(args),
        Command::Api(args) => api::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Demo => demo::run(),
        Command::Testkit {
            command: TestkitCommand::Serve(args),
        } => serve::run(args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "logto-m2m", &mut script);
            std::io::stdout()
                .lock()
                .write_all(&script)
                .map_err(|error| output_failed(&error))
        }
    }
}
