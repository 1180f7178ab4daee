//! The commands of the four operations, and what their replies mean: shared by the blocking and
//! the async side, which only differ in how they send them.

use std::sync::LazyLock;
use std::time::Duration;

use logto_m2m::StoreError;
use logto_m2m_proto::{LockOwner, StoreKey, StoreView, StoreWrite};
use redis::{Cmd, Script, ScriptInvocation, Value};

use crate::error::unexpected_reply;
use crate::key_names::KeyNames;

/// `read`: the entry and the lock in one round trip.
pub(crate) fn read(names: &KeyNames, key: &StoreKey) -> Cmd {
    let mut cmd = redis::cmd("MGET");
    cmd.arg(names.entry(key)).arg(names.lock(key));
    cmd
}

/// What `MGET entry lock` found.
pub(crate) fn read_reply(reply: Value) -> Result<StoreView, StoreError> {
    let Value::Array(values) = reply else {
        return Err(unexpected_reply("MGET"));
    };
    let mut values = values.into_iter();
    let (Some(entry), Some(lock), None) = (values.next(), values.next(), values.next()) else {
        return Err(unexpected_reply("MGET"));
    };
    let entry = match entry {
        Value::Nil => None,
        Value::BulkString(bytes) => Some(bytes),
        _ => return Err(unexpected_reply("MGET")),
    };
    let locked = !matches!(lock, Value::Nil);
    Ok(StoreView::new(entry, locked))
}

/// `try_lock`: `SET lock owner NX PX ttl`. A ttl under a millisecond takes the lock for one
/// (Redis refuses `PX 0`).
pub(crate) fn try_lock(names: &KeyNames, key: &StoreKey, owner: &LockOwner, ttl: Duration) -> Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(names.lock(key))
        .arg(owner.to_hex())
        .arg("NX")
        .arg("PX")
        .arg(millis(ttl).max(1));
    cmd
}

/// Whether `SET NX` took the lock: `OK` if it did, nil if someone holds it.
pub(crate) fn try_lock_reply(reply: &Value) -> Result<bool, StoreError> {
    match reply {
        Value::Okay => Ok(true),
        Value::SimpleString(status) if status == "OK" => Ok(true),
        Value::Nil => Ok(false),
        _ => Err(unexpected_reply("SET NX")),
    }
}

/// The write script: stores the entry with its time to live and publishes the key's id (if an
/// entry is given), then deletes the lock if it still holds the releasing owner. Returns the
/// number of locks deleted (0 or 1).
///
/// KEYS: entry, lock. ARGV: entry bytes ("" for none), ttl in ms ("0" for no entry), channel,
/// key id, owner ("" for none).
const WRITE_SCRIPT: &str = r"
if ARGV[2] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) == ARGV[5] then
  return redis.call('DEL', KEYS[2])
end
return 0
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(WRITE_SCRIPT));

/// Whether `write` has anything to do: an entry with at least a millisecond to live, or a lock to
/// release. An entry whose ttl rounds down to 0 ms is not stored (it would outlive its token,
/// and Redis refuses `PX 0`).
pub(crate) fn write_is_empty(write: &StoreWrite) -> bool {
    entry_ttl_ms(write) == 0 && write.release.is_none()
}

fn entry_ttl_ms(write: &StoreWrite) -> u64 {
    write.entry.as_ref().map_or(0, |entry| millis(entry.ttl))
}

/// The invocation of the write script for `write`.
pub(crate) fn write<'a>(names: &KeyNames, write: &StoreWrite) -> ScriptInvocation<'a> {
    let ttl_ms = entry_ttl_ms(write);
    let bytes: &[u8] = match &write.entry {
        Some(entry) if ttl_ms > 0 => &entry.bytes,
        _ => &[],
    };
    let owner = write
        .release
        .map(|owner| owner.to_hex())
        .unwrap_or_default();
    let mut invocation = SCRIPT.prepare_invoke();
    invocation
        .key(names.entry(&write.key))
        .key(names.lock(&write.key))
        .arg(bytes)
        .arg(ttl_ms)
        .arg(names.channel())
        .arg(write.key.id())
        .arg(owner);
    invocation
}

/// The write script's reply: the number of locks it deleted.
pub(crate) fn write_reply(reply: &Value) -> Result<(), StoreError> {
    match reply {
        Value::Int(0 | 1) => Ok(()),
        _ => Err(unexpected_reply("the write script")),
    }
}

/// `duration` in whole milliseconds (rounded down, saturating).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_the_wrong_shape_are_refused_not_trusted() {
        assert!(read_reply(Value::Nil).is_err());
        assert!(read_reply(Value::Array(vec![Value::Nil])).is_err());
        assert!(read_reply(Value::Array(vec![Value::Int(1), Value::Nil])).is_err());
        assert!(read_reply(Value::Array(vec![Value::Nil, Value::Nil, Value::Nil])).is_err());
        let view = read_reply(Value::Array(vec![
            Value::BulkString(b"sealed".to_vec()),
            Value::BulkString(b"owner".to_vec()),
        ]));
        assert!(
            matches!(view, Ok(view) if view.entry.as_deref() == Some(&b"sealed"[..]) && view.locked)
        );
        assert!(try_lock_reply(&Value::Int(1)).is_err());
        assert!(write_reply(&Value::Int(7)).is_err());
        assert!(write_reply(&Value::Okay).is_err());
    }
}
