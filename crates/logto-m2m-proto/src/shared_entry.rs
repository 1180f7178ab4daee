//! A token as an entry of the shared store: versioned, and sealed so that the store can be read by
//! anyone without giving a token away.
//!
//! ```text
//! "lm2m" | version (1 byte) | credentials fingerprint (16) | nonce (24) | XChaCha20-Poly1305(plaintext) + tag (16)
//! ```
//!
//! - The key is `HKDF-SHA256(ikm = app secret, salt = "logto-m2m shared entry v1", info = store key
//!   id)`: only a holder of the app secret can open or write an entry, and each token key has its
//!   own encryption key.
//! - The associated data is the header (magic, version, fingerprint) and the store key id: an entry
//!   copied to another key, or with its header changed, does not open.
//! - The fingerprint in clear tells an entry written under another app secret (a rotation) from a
//!   forged one; it is a keyed hash, so it reveals nothing of the secret.
//! - The plaintext (JSON) holds the token, its type, the wall-clock time its request was sent, its
//!   lifetime, its scopes, and the publisher's refresh point (as an offset from the send time), so
//!   that the fleet refreshes where the publisher would have, not at the earliest of every
//!   replica's own points. It is zeroized after use, as is every buffer that held the token.
//! - The nonce comes from the caller: 192 random bits, so random nonces never collide in practice.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::request::TokenRequest;
use crate::scopes::Scopes;
use crate::secret::AccessToken;
use crate::shared_store::{EntryRefusal, StoreKey};
use crate::token::{Token, TokenType};

const MAGIC: &[u8; 4] = b"lm2m";
const VERSION: u8 = 1;
const FINGERPRINT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = MAGIC.len() + 1 + FINGERPRINT_LEN;
const TAG_LEN: usize = 16;
const HKDF_SALT: &[u8] = b"logto-m2m shared entry v1";
/// No token entry is anywhere near this; a larger value is refused before any work.
const MAX_ENTRY_LEN: usize = 64 * 1024;

/// The plaintext of an entry.
#[derive(Serialize)]
struct Plain<'a> {
    /// The access token.
    t: &'a str,
    /// The token type, as the server sent it (normalised).
    y: &'a str,
    /// When its request was sent, by the publisher's wall clock, in milliseconds since the epoch.
    i: u64,
    /// Its lifetime in milliseconds.
    l: u64,
    /// The publisher's refresh point, in milliseconds after the send time.
    r: u64,
    /// The granted scopes, space-separated.
    g: &'a str,
    /// The scopes asked for and not granted, space-separated.
    n: &'a str,
}

/// The plaintext of an entry, as read back.
#[derive(Deserialize, Zeroize)]
#[zeroize(drop)]
struct OwnedPlain {
    t: String,
    y: String,
    i: u64,
    l: u64,
    r: u64,
    g: String,
    n: String,
}

/// An opened entry: its token by this process's clocks, and the publisher's refresh point by them.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) token: Token,
    pub(crate) refresh_at: Instant,
    pub(crate) refresh_at_wall: SystemTime,
}

fn cipher(request: &TokenRequest, key: &StoreKey) -> XChaCha20Poly1305 {
    let secret = request.config().app_secret().expose_secret().as_bytes();
    let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 8160: the `Err` is never taken.
    let _ = hkdf.expand(key.id().as_bytes(), okm.as_mut_slice());
    XChaCha20Poly1305::new(okm.as_slice().into())
}

fn header(request: &TokenRequest) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    let fingerprint = request.key().credentials();
    for (to, from) in header.iter_mut().zip(
        MAGIC
            .iter()
            .chain(std::iter::once(&VERSION))
            .chain(fingerprint.as_bytes().iter()),
    ) {
        *to = *from;
    }
    header
}

fn associated_data(header: &[u8], key: &StoreKey) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + key.id().len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(key.id().as_bytes());
    aad
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn token_type_str(token_type: &TokenType) -> &str {
    match token_type {
        TokenType::Bearer => "Bearer",
        TokenType::DPoP => "DPoP",
        TokenType::Other(other) => other,
    }
}

/// Seals `token` (fetched with `request`) for `key`, with `nonce`, and its publisher's refresh
/// point `refresh_offset` after its send time. `None` for a token that cannot be written (sent
/// before the epoch by the wall clock, which no real clock is).
pub(crate) fn seal(
    token: &Token,
    refresh_offset: Duration,
    request: &TokenRequest,
    key: &StoreKey,
    nonce: [u8; NONCE_LEN],
) -> Option<Vec<u8>> {
    let issued = token.sent_at_wall().duration_since(UNIX_EPOCH).ok()?;
    let granted = token.granted_scopes().to_wire();
    let not_granted = token.not_granted_scopes().to_wire();
    let plain = Zeroizing::new(
        serde_json::to_vec(&Plain {
            t: token.access_token().expose_secret(),
            y: token_type_str(token.token_type()),
            i: millis(issued),
            l: millis(token.lifetime()),
            r: millis(refresh_offset),
            g: &granted,
            n: &not_granted,
        })
        .ok()?,
    );
    let header = header(request);
    let aad = associated_data(&header, key);
    let sealed = cipher(request, key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .ok()?;
    let mut entry = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
    entry.extend_from_slice(&header);
    entry.extend_from_slice(&nonce);
    entry.extend_from_slice(&sealed);
    Some(entry)
}

/// Opens `entry` for `request`'s key at `key`, at `now` / `wall_now`, with replicas' clocks
/// disagreeing by up to `max_skew`: the token, its expiry moved `max_skew` earlier and kept by
/// this process's clocks, and the publisher's refresh point by them (not moved: the skew only
/// ever shortens a token's end). The caller still checks the token's usable life against its
/// margin.
pub(crate) fn open(
    entry: &[u8],
    request: &TokenRequest,
    key: &StoreKey,
    now: Instant,
    wall_now: SystemTime,
    max_skew: Duration,
) -> Result<Opened, EntryRefusal> {
    if entry.len() > MAX_ENTRY_LEN || entry.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(EntryRefusal::Malformed);
    }
    let (header, rest) = entry.split_at(HEADER_LEN);
    let (magic, rest_of_header) = header.split_at(MAGIC.len());
    let (version, fingerprint) = rest_of_header.split_at(1);
    if magic != MAGIC {
        return Err(EntryRefusal::Malformed);
    }
    if version != [VERSION] {
        return Err(EntryRefusal::UnknownVersion);
    }
    if fingerprint != request.key().credentials().as_bytes() {
        return Err(EntryRefusal::OtherCredentials);
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| EntryRefusal::Malformed)?;
    let aad = associated_data(header, key);
    let plain = Zeroizing::new(
        cipher(request, key)
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| EntryRefusal::Forged)?,
    );
    let mut fields: OwnedPlain =
        serde_json::from_slice(&plain).map_err(|_| EntryRefusal::Malformed)?;
    let token = adopt(&mut fields, now, wall_now, max_skew);
    fields.zeroize();
    token
}

/// The token of an opened entry, and its publisher's refresh point, by this process's clocks.
fn adopt(
    fields: &mut OwnedPlain,
    now: Instant,
    wall_now: SystemTime,
    max_skew: Duration,
) -> Result<Opened, EntryRefusal> {
    let lifetime = Duration::from_millis(fields.l);
    let issued = UNIX_EPOCH
        .checked_add(Duration::from_millis(fields.i))
        .ok_or(EntryRefusal::Malformed)?;
    let refresh_at_wall = issued
        .checked_add(Duration::from_millis(fields.r))
        .ok_or(EntryRefusal::Malformed)?;
    // By the monotonic clock: as far from now as by the wall clock (now, once it has passed).
    let refresh_at = match refresh_at_wall.duration_since(wall_now) {
        Ok(ahead) => now.checked_add(ahead).ok_or(EntryRefusal::Malformed)?,
        Err(_) => now,
    };
    let expires_at_wall = issued
        .checked_add(lifetime)
        // Another replica's clock may be this much ahead: count the expiry that much earlier.
        .and_then(|expiry| expiry.checked_sub(max_skew))
        .ok_or(EntryRefusal::Malformed)?;
    let left = expires_at_wall
        .duration_since(wall_now)
        .map_err(|_| EntryRefusal::Expired)?;
    if left.is_zero() {
        return Err(EntryRefusal::Expired);
    }
    if left > lifetime {
        return Err(EntryRefusal::FromTheFuture);
    }
    let expires_at = now.checked_add(left).ok_or(EntryRefusal::Malformed)?;
    // The request was sent `lifetime` before the expiry; if this process's monotonic clock does
    // not reach back that far (it started since), the lifetime is counted from now instead, which
    // only moves the refresh point earlier.
    let (sent_at, lifetime) = match expires_at.checked_sub(lifetime) {
        Some(sent_at) => (sent_at, lifetime),
        None => (now, left),
    };
    let sent_at_wall = expires_at_wall
        .checked_sub(lifetime)
        .ok_or(EntryRefusal::Malformed)?;
    let granted_scopes = Scopes::from_wire(&fields.g);
    let not_granted_scopes = Scopes::from_wire(&fields.n);
    let token = Token {
        access_token: AccessToken::new(std::mem::take(&mut fields.t)),
        token_type: TokenType::parse(&fields.y),
        sent_at,
        sent_at_wall,
        lifetime,
        expires_at,
        expires_at_wall,
        granted_scopes,
        not_granted_scopes,
        extra: serde_json::Map::new(),
        warnings: Vec::new(),
    };
    Ok(Opened {
        token,
        refresh_at,
        refresh_at_wall,
    })
}
