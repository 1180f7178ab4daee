//! The Management API's seed data: applications and users, as Logto's JSON answers carry them.

use std::fmt;

use serde_json::{Value, json};

use crate::config::defaults;

/// The applications and users the Management API routes serve, as JSON objects in the shape of
/// Logto's answers (`GET /api/applications` carries every application's `secret`, as Logto's
/// does). Each object needs a string `id`; other fields are served as given.
///
/// `Debug` shows the ids only: the applications' secrets stay out of test output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ManagementData {
    pub(crate) applications: Vec<Value>,
    pub(crate) users: Vec<Value>,
}

impl fmt::Debug for ManagementData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|item| {
                    item.get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect()
        };
        f.debug_struct("ManagementData")
            .field("applications", &ids(&self.applications))
            .field("users", &ids(&self.users))
            .finish()
    }
}

impl ManagementData {
    /// No applications and no users.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// The sample tenant of [`Config::logto_default`](crate::Config::logto_default): three
    /// applications (the machine-to-machine app [`defaults::APP_ID`] with its secret
    /// [`defaults::APP_SECRET`], a traditional web app `web-app` with the secret `web-app-secret`,
    /// a single-page app `spa-app` with an empty secret) and three users (`user-1`, `user-2`,
    /// `user-3`, usernames `alice`, `bob`, `carol`; `user-1` has `customData`
    /// `{"plan":"free"}`).
    #[must_use]
    pub fn sample() -> Self {
        Self::empty()
            .application(Self::application_json(
                defaults::APP_ID,
                "Backend service",
                "MachineToMachine",
                defaults::APP_SECRET,
            ))
            .application(Self::application_json(
                "web-app",
                "Web app",
                "Traditional",
                "web-app-secret",
            ))
            .application(Self::application_json("spa-app", "Dashboard", "SPA", ""))
            .user(Self::user_json("user-1", "alice").with_custom_data(json!({"plan": "free"})))
            .user(Self::user_json("user-2", "bob"))
            .user(Self::user_json("user-3", "carol"))
    }

    /// Adds an application (a JSON object with a string `id`).
    #[must_use]
    pub fn application(mut self, application: impl Into<Value>) -> Self {
        self.applications.push(application.into());
        self
    }

    /// Adds a user (a JSON object with a string `id`).
    #[must_use]
    pub fn user(mut self, user: impl Into<Value>) -> Self {
        self.users.push(user.into());
        self
    }

    /// Adds several users.
    #[must_use]
    pub fn users<U: Into<Value>>(mut self, users: impl IntoIterator<Item = U>) -> Self {
        self.users.extend(users.into_iter().map(Into::into));
        self
    }

    /// The applications, in the order served.
    #[must_use]
    pub fn applications_json(&self) -> &[Value] {
        &self.applications
    }

    /// The users, in the order served (as seeded: [`TestServer::user`](crate::TestServer::user)
    /// shows a user after updates).
    #[must_use]
    pub fn users_json(&self) -> &[Value] {
        &self.users
    }

    /// An application in the shape of Logto's `GET /api/applications` items: `id`, `name`,
    /// `secret`, `description`, `type` (`MachineToMachine`, `Traditional`, `SPA`, `Native`...),
    /// `oidcClientMetadata`, `customClientMetadata`, `protectedAppMetadata`, `isThirdParty`,
    /// `createdAt`.
    #[must_use]
    pub fn application_json(id: &str, name: &str, kind: &str, secret: &str) -> Value {
        json!({
            "tenantId": "default",
            "id": id,
            "name": name,
            "secret": secret,
            "description": null,
            "type": kind,
            "oidcClientMetadata": {"redirectUris": [], "postLogoutRedirectUris": []},
            "customClientMetadata": {},
            "protectedAppMetadata": null,
            "isThirdParty": false,
            "createdAt": 1_700_000_000_000_u64,
        })
    }

    /// A user in the shape of Logto's `GET /api/users` items (no password): `id`, `username`,
    /// `primaryEmail`, `primaryPhone`, `name`, `avatar`, `customData` (`{}`), `identities`,
    /// `lastSignInAt`, `createdAt`, `updatedAt`, `profile`, `applicationId`, `isSuspended`,
    /// `hasPassword`.
    #[must_use]
    pub fn user_json(id: &str, username: &str) -> UserJson {
        UserJson(json!({
            "id": id,
            "username": username,
            "primaryEmail": format!("{username}@example.com"),
            "primaryPhone": null,
            "name": username,
            "avatar": null,
            "customData": {},
            "identities": {},
            "lastSignInAt": null,
            "createdAt": 1_700_000_000_000_u64,
            "updatedAt": 1_700_000_000_000_u64,
            "profile": {},
            "applicationId": null,
            "isSuspended": false,
            "hasPassword": false,
        }))
    }
}

/// A user's JSON from [`ManagementData::user_json`], to adjust before adding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserJson(Value);

impl UserJson {
    /// Sets the user's `customData`.
    #[must_use]
    pub fn with_custom_data(mut self, custom_data: Value) -> Self {
        if let Some(object) = self.0.as_object_mut() {
            object.insert("customData".to_owned(), custom_data);
        }
        self
    }
}

impl From<UserJson> for Value {
    fn from(user: UserJson) -> Self {
        user.0
    }
}
