//! Management API calls for threads.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use logto_m2m_proto::http::Method;
use logto_m2m_proto::{ConfigError, TokenParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ManagementApiError;
use super::exchange::{ApiResponse, Exchange, Scrubber, Settings, path_segment};
use super::pagination::Cursor;
use super::types::Application;
use crate::bearer_retry::{Replay, send_with_token_blocking};
use crate::blocking::BlockingTokenManager;
use crate::provider::BlockingTokenProvider;
use crate::transport::BlockingTransport;

/// Management API calls over a [`BlockingTransport`], with tokens from a
/// [`BlockingTokenProvider`]. See the [module documentation](super).
pub struct BlockingManagementApi<T> {
    provider: Arc<dyn BlockingTokenProvider>,
    transport: T,
    settings: Settings,
}

impl<T> fmt::Debug for BlockingManagementApi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingManagementApi")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<T: BlockingTransport> BlockingManagementApi<T> {
    /// Calls for the Logto at `endpoint` (e.g. `https://my-tenant.logto.app`), with Management
    /// API tokens from `provider`, over `transport`.
    pub fn new(provider: Arc<dyn BlockingTokenProvider>, transport: T, endpoint: &str) -> Self {
        Self {
            provider,
            transport,
            settings: Settings::new(endpoint, None),
        }
    }

    /// Calls for `manager`'s endpoint, with its tokens for the Management API chosen from the
    /// endpoint ([`token_params`](super::token_params)), over `transport` (which can be a copy of
    /// the manager's own).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the manager refuses those parameters.
    pub fn for_manager<M: BlockingTransport + 'static>(
        manager: &BlockingTokenManager<M>,
        transport: T,
    ) -> Result<Self, ConfigError> {
        Self::for_manager_with(manager, transport, super::token_params(&manager.config())?)
    }

    /// As [`for_manager`](Self::for_manager), with these token parameters (e.g.
    /// [`cloud_token_params`](super::cloud_token_params) for a tenant: refused with the reason
    /// when the manager's endpoint is that tenant's custom domain).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the manager refuses `params`.
    pub fn for_manager_with<M: BlockingTransport + 'static>(
        manager: &BlockingTokenManager<M>,
        transport: T,
        params: TokenParams,
    ) -> Result<Self, ConfigError> {
        let source = manager.source(params)?;
        let current = source.clone();
        let scrubber: Scrubber = Arc::new(move || current.request());
        Ok(Self {
            provider: Arc::new(source),
            transport,
            settings: Settings::new(manager.config().endpoint(), Some(scrubber)),
        })
    }

    /// Sets the cap on an answer's body ([`DEFAULT_MAX_RESPONSE_BYTES`](super::DEFAULT_MAX_RESPONSE_BYTES)
    /// by default).
    #[must_use]
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_response_bytes = bytes;
        self
    }

    /// Sets which requests are sent once more after a 401 ([`Replay::IdempotentMethods`] by
    /// default: not `PATCH` or `POST`).
    #[must_use]
    pub fn replay(mut self, replay: Replay) -> Self {
        self.settings.replay = replay;
        self
    }

    /// Sends a request for `path` (absolute, with its query if any, e.g. `/api/users?search=x`)
    /// with `method` and a JSON `body`, and returns the successful answer.
    ///
    /// # Errors
    ///
    /// [`ManagementApiError`]: no token, the transport failed, a 4xx or 5xx, an answer over the
    /// cap, an invalid path.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<ApiResponse, ManagementApiError> {
        let request = self.settings.build(method, path, body)?;
        let mut exchange = Exchange {
            transport: &self.transport,
        };
        let response = send_with_token_blocking(
            &*self.provider,
            &mut exchange,
            request,
            self.settings.replay,
        )
        .map_err(|e| self.settings.bearer_error(e))?;
        self.settings.read(response)
    }

    /// `GET path`, parsed as JSON into `R`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`ManagementApiError::InvalidResponse`].
    pub fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ManagementApiError> {
        self.send(Method::GET, path, None)?.json()
    }

    /// A request with `body` serialized as JSON, the answer parsed as JSON into `R`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), and [`ManagementApiError::InvalidRequest`] for a body that does
    /// not serialize.
    pub fn send_json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<R, ManagementApiError> {
        let body = serde_json::to_vec(body).map_err(|e| ManagementApiError::InvalidRequest {
            reason: format!("the body does not serialize: {e}"),
        })?;
        self.send(method, path, Some(body))?.json()
    }

    /// Every item of the paginated list at `path` (e.g. `/api/users`), fetched a page at a
    /// time as the iterator is advanced. After an error the iterator ends.
    pub fn list<I: DeserializeOwned>(&self, path: &str) -> Pages<'_, T, I> {
        Pages {
            api: self,
            cursor: Cursor::new(path),
            buffer: VecDeque::new(),
            item: PhantomData,
        }
    }

    /// Every application (`GET /api/applications`), without their secrets.
    pub fn list_applications(&self) -> Pages<'_, T, Application> {
        self.list("/api/applications")
    }

    /// Merges `custom_data` into the user's `customData` (`PATCH /api/users/{id}/custom-data`)
    /// and returns the user's `customData` after the update.
    ///
    /// A `PATCH` is not sent again after a 401 unless [`replay`](Self::replay) says
    /// [`Replay::AnyMethod`].
    ///
    /// # Errors
    ///
    /// As [`send_json`](Self::send_json); a user that does not exist is a 404
    /// ([`ApiError::code`](super::ApiError::code) `entity.not_exists_with_id`).
    pub fn update_user_custom_data(
        &self,
        user_id: &str,
        custom_data: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ManagementApiError> {
        let path = format!("/api/users/{}/custom-data", path_segment(user_id));
        self.send_json(
            Method::PATCH,
            &path,
            &serde_json::json!({ "customData": custom_data }),
        )
    }
}

/// The items of a paginated list, a page at a time: an [`Iterator`] of
/// `Result<I, ManagementApiError>`, from [`BlockingManagementApi::list`].
pub struct Pages<'a, T, I> {
    api: &'a BlockingManagementApi<T>,
    cursor: Cursor,
    buffer: VecDeque<I>,
    item: PhantomData<fn() -> I>,
}

impl<T, I> fmt::Debug for Pages<'_, T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("cursor", &self.cursor)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl<T: BlockingTransport, I: DeserializeOwned> Pages<'_, T, I> {
    /// Asks for pages of `page_size` items (1 to 100;
    /// [`DEFAULT_PAGE_SIZE`](super::DEFAULT_PAGE_SIZE) by default).
    #[must_use]
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.cursor.set_page_size(page_size);
        self
    }

    /// How many items the list has in all (Logto's `Total-Number`), once a page arrived.
    #[must_use]
    pub fn total(&self) -> Option<u64> {
        self.cursor.total()
    }

    /// The next page's items, or `None` after the last page.
    pub fn next_page(&mut self) -> Option<Result<Vec<I>, ManagementApiError>> {
        let path = self.cursor.next_path()?;
        let page = self
            .api
            .send(Method::GET, &path, None)
            .and_then(|response| {
                let items: Vec<I> = response.json()?;
                Ok((items, response.total_number()))
            });
        match page {
            Ok((items, total)) => {
                self.cursor.record(items.len(), total);
                Some(Ok(items))
            }
            Err(e) => {
                self.cursor.fail();
                Some(Err(e))
            }
        }
    }
}

impl<T: BlockingTransport, I: DeserializeOwned> Iterator for Pages<'_, T, I> {
    type Item = Result<I, ManagementApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Each turn takes an item or fetches a page; the cursor ends after a bounded number.
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(Ok(item));
            }
            match self.next_page()? {
                Ok(items) => self.buffer.extend(items),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
