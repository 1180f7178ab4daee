//! The command line: every subcommand and flag, as clap parses them.
//!
//! The doc comments here are the `--help` text, read in a terminal: variable names stay bare.
#![allow(clippy::doc_markdown, rustdoc::bare_urls)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Get Logto machine-to-machine tokens, inspect them, and see the whole client-credentials flow
/// run against an in-process Logto-compatible server.
///
/// Configuration comes from the environment (LOGTO_ENDPOINT, LOGTO_APP_ID, LOGTO_APP_SECRET,
/// LOGTO_RESOURCE, LOGTO_SCOPES, LOGTO_ORGANIZATION_ID, LOGTO_AUTH_METHOD,
/// LOGTO_ALLOW_INSECURE_HTTP); flags override it. The app secret is never taken from the command
/// line: set LOGTO_APP_SECRET, or pass --secret-file or --secret-stdin.
#[derive(Debug, Parser)]
#[command(
    name = "logto-m2m",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Get an access token and print it (or its header value, or what is known about it).
    Token(TokenArgs),
    /// Call Logto's Management API and print its JSON answer (secrets masked), like `gh api`.
    Api(ApiArgs),
    /// Decode an access token and print its header and claims (verified only with --verify).
    Inspect(InspectArgs),
    /// Run the whole flow against an in-process test server and say what happens at each step.
    Demo,
    /// The Logto-compatible test server, for other programs' tests.
    Testkit {
        /// What to do with it.
        #[command(subcommand)]
        command: TestkitCommand,
    },
    /// Print a shell completion script (e.g. `logto-m2m completions bash > ~/.bash_completion.d/logto-m2m`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Where Logto is and who the app is: flags over the `LOGTO_*` variables.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// Logto's base URL, e.g. https://your-tenant.logto.app [default: $LOGTO_ENDPOINT]
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// The machine-to-machine app's id [default: $LOGTO_APP_ID]
    #[arg(long, value_name = "ID")]
    pub(crate) app_id: Option<String>,
    /// Read the app secret from this file (its first line) instead of $LOGTO_APP_SECRET
    #[arg(long, value_name = "PATH", conflicts_with = "secret_stdin")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Read the app secret from standard input (its first line) instead of $LOGTO_APP_SECRET
    #[arg(long)]
    pub(crate) secret_stdin: bool,
}

/// What token to ask for: flags instead of `LOGTO_RESOURCE`, `LOGTO_ORGANIZATION_ID` and
/// `LOGTO_SCOPES`.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The API resource indicator [default: $LOGTO_RESOURCE]
    #[arg(long, value_name = "URI", conflicts_with = "management_api")]
    pub(crate) resource: Option<String>,
    /// A token for Logto's Management API (Logto Cloud or self-hosted, told from the endpoint)
    #[arg(long, conflicts_with = "organization")]
    pub(crate) management_api: bool,
    /// The organization id (with --resource: an organization-level API resource) [default: $LOGTO_ORGANIZATION_ID]
    #[arg(long, value_name = "ID")]
    pub(crate) organization: Option<String>,
    /// A scope to ask for; repeat for more [default: $LOGTO_SCOPES, separated by spaces]
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
}

/// `logto-m2m token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) connection: Connection,
    #[command(flatten)]
    pub(crate) target: Target,
    /// What to print on standard output
    #[arg(long, value_enum, default_value_t = TokenFormat::Token)]
    pub(crate) format: TokenFormat,
}

/// `logto-m2m api`.
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    #[command(flatten)]
    pub(crate) connection: Connection,
    /// The method (GET by default, POST with --data) and the path under the endpoint, e.g.
    /// `/api/applications` or `PATCH /api/users/ID/custom-data`
    #[arg(value_name = "[METHOD] PATH", num_args = 1..=2, required = true)]
    pub(crate) words: Vec<String>,
    /// The JSON body: the JSON itself, @FILE for a file's content, or - for standard input
    #[arg(long, value_name = "JSON")]
    pub(crate) data: Option<String>,
    /// A query parameter, KEY=VALUE (encoded); repeat for more
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) query: Vec<String>,
    /// Follow Logto's pagination (page, page_size, Total-Number) and print every item as one
    /// JSON array
    #[arg(long, conflicts_with = "data")]
    pub(crate) paginate: bool,
    /// Print the values of fields that carry secrets (secret, *Secret, *_secret, password...)
    /// instead of masking them
    #[arg(long)]
    pub(crate) show_secrets: bool,
    /// The Logto Cloud tenant whose Management API to call [default: told from the endpoint:
    /// the tenant of https://TENANT.logto.app, else a self-hosted Logto]. Logto Cloud issues
    /// Management API tokens only from https://TENANT.logto.app, so with a custom domain as the
    /// endpoint this is refused, with the reason
    #[arg(long, value_name = "ID")]
    pub(crate) tenant: Option<String>,
}

/// What `logto-m2m token` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TokenFormat {
    /// The access token alone
    Token,
    /// The `Authorization` header's value: `Bearer <token>`
    Header,
    /// What is known about the token, as JSON, without the token itself
    Json,
    /// The same JSON with the token, as `access_token`
    JsonWithToken,
}

/// `logto-m2m inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The access token (a `Bearer ` prefix is ignored); `-` or nothing reads standard input
    #[arg(value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// Verify it as an API protected by Logto does: the signature by the key set of Logto's
    /// endpoint, the issuer, the audience and the times
    #[arg(long)]
    pub(crate) verify: bool,
    /// With --verify: Logto's base URL, whose keys must have signed the token [default: $LOGTO_ENDPOINT]
    #[arg(long, value_name = "URL", requires = "verify")]
    pub(crate) endpoint: Option<String>,
    /// With --verify: the API resource the token must be for [default: $LOGTO_RESOURCE, else the token's own audience]
    #[arg(long, value_name = "URI", requires = "verify")]
    pub(crate) resource: Option<String>,
    /// With --verify: the organization the token must be for [default: $LOGTO_ORGANIZATION_ID]
    #[arg(long, value_name = "ID", requires = "verify")]
    pub(crate) organization: Option<String>,
}

/// `logto-m2m testkit ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TestkitCommand {
    /// Serve the test server on 127.0.0.1 until Ctrl-C, and print how to reach it.
    Serve(ServeArgs),
}

/// `logto-m2m testkit serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The port to listen on (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// The lifetime of the example API's tokens, in seconds (Logto's default: 1800)
    #[arg(long, value_name = "SECONDS")]
    pub(crate) token_ttl: Option<u64>,
}
