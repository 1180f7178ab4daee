//! Exit codes, one for each kind of failure, and the error every subcommand returns: one sentence
//! saying what failed and what to do.

use std::fmt;
use std::process::ExitCode;

/// How the command ended. The numbers are documented in the crate README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Anything not listed below (output could not be written, the server could not start).
    Failure = 1,
    /// The command line or the configuration is wrong: a flag, a variable, the secret's source.
    Usage = 2,
    /// Logto refused the app's credentials (`invalid_client`, `unauthorized_client`).
    CredentialsRejected = 3,
    /// Logto refused the request (`invalid_target`, `invalid_scope`, `access_denied`, ...).
    RequestRejected = 4,
    /// Logto could not be reached, failed, or asked to slow down: trying again later may work.
    Unavailable = 5,
    /// The Management API called by `api` answered 4xx.
    ApiClientError = 6,
    /// The Management API called by `api` answered 5xx.
    ApiServerError = 7,
    /// The token given to `inspect` is not a JWT.
    TokenMalformed = 8,
    /// The token given to `inspect --verify` does not verify.
    TokenRefused = 9,
}

/// A failure, said in one sentence that never holds a secret or a token.
#[derive(Debug)]
pub(crate) struct CliError {
    exit: Exit,
    message: String,
}

impl CliError {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub(crate) fn failure(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit as u8)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Writing to standard output or standard error failed (a closed pipe, a full disk).
pub(crate) fn output_failed(error: &std::io::Error) -> CliError {
    CliError::failure(format!("could not write the output: {error}"))
}
