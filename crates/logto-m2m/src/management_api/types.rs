//! Typed items of the Management API's answers.

use serde::Deserialize;

/// An application, as `GET /api/applications` lists it, without its secret: Logto's answer
/// carries every application's `secret`, and this type has no field for it, so parsing drops it
/// (and the answer's bytes are zeroized).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Application {
    /// The application id (its `client_id`).
    pub id: String,
    /// The name.
    pub name: String,
    /// The description, if any.
    #[serde(default)]
    pub description: Option<String>,
    /// The type.
    #[serde(rename = "type")]
    pub application_type: ApplicationType,
    /// Whether it is a third-party application.
    #[serde(default)]
    pub is_third_party: bool,
    /// When it was created, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub created_at: Option<u64>,
}

/// An application's type, as Logto names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum ApplicationType {
    /// `Native`.
    Native,
    /// `SPA`: a single-page app.
    #[serde(rename = "SPA")]
    Spa,
    /// `Traditional`: a server-rendered web app.
    Traditional,
    /// `MachineToMachine`.
    MachineToMachine,
    /// `Protected`: an app behind Logto's protected app proxy.
    Protected,
    /// `SAML`.
    #[serde(rename = "SAML")]
    Saml,
    /// A type this version does not know.
    #[serde(other)]
    Other,
}
