//! Times and durations as people read them: RFC 3339 instants, `29m 57s` lifetimes, `in 29m 57s`
//! and `3s ago`.

use std::time::{Duration, SystemTime};

/// `at` in RFC 3339, to the second, in UTC.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// `duration` to the second, e.g. `29m 57s`; `0s` for less than a second.
pub(crate) fn duration(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// How far `at` is from `now`: `in 29m 57s`, `3s ago`, or `now`.
pub(crate) fn relative(at: SystemTime, now: SystemTime) -> String {
    match at.duration_since(now) {
        Ok(ahead) if ahead.as_secs() > 0 => format!("in {}", duration(ahead)),
        Ok(_) => "now".to_owned(),
        Err(past) if past.duration().as_secs() > 0 => format!("{} ago", duration(past.duration())),
        Err(_) => "now".to_owned(),
    }
}

/// The wall-clock time of a JWT `NumericDate` (seconds since the Unix epoch).
pub(crate) fn from_unix(seconds: u64) -> Option<SystemTime> {
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(
            rfc3339(epoch + Duration::from_secs(90)),
            "1970-01-01T00:01:30Z"
        );
        assert_eq!(duration(Duration::from_millis(1_797_400)), "29m 57s");
        let now = epoch + Duration::from_secs(1000);
        assert_eq!(relative(now + Duration::from_secs(61), now), "in 1m 1s");
        assert_eq!(relative(now - Duration::from_secs(3), now), "3s ago");
        assert_eq!(relative(now + Duration::from_millis(300), now), "now");
    }
}
