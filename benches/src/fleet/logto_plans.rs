//! Logto Cloud's figures a fleet's token requests are set beside (from Logto's system limits and
//! pricing pages): a dev tenant's hard cap, the Pro plan's included tokens and price beyond them,
//! and the rate limit per tenant.

use super::ratio;

/// Dev tenant: access tokens a month, a hard cap.
pub const DEV_TENANT_CAP: u64 = 50_000;
/// Pro plan: access tokens a month included.
pub const PRO_INCLUDED: u64 = 50_000;
/// Pro plan: US dollars per 100 access tokens beyond those included.
pub const PRO_USD_PER_100: f64 = 0.08;
/// Token requests per 10 s per tenant before `429`.
pub const RATE_LIMIT_PER_10S: usize = 200;
/// The days of a month of requests.
const DAYS: f64 = 30.0;

/// How a month of `requests` fares on a dev tenant: the share of the cap, or the day it is reached.
#[must_use]
pub fn dev_tenant(requests: u64) -> String {
    if requests <= DEV_TENANT_CAP {
        return format!("fits ({:.0} %)", 100.0 * ratio(requests, DEV_TENANT_CAP));
    }
    let day = DAYS * ratio(DEV_TENANT_CAP, requests);
    format!("cap reached on day {:.0}", day.ceil())
}

/// What a month of `requests` costs on Pro beyond its included tokens, in US dollars.
#[must_use]
pub fn pro_overage(requests: u64) -> String {
    let over = requests.saturating_sub(PRO_INCLUDED);
    format!("${:.2}", ratio(over, 100) * PRO_USD_PER_100)
}

/// The most requests in 10 s, marked when over the rate limit.
#[must_use]
pub fn rate_limit(busiest: usize) -> String {
    if busiest <= RATE_LIMIT_PER_10S {
        busiest.to_string()
    } else {
        format!("{busiest} (429s)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_a_month_beside_the_plans() {
        assert_eq!(dev_tenant(25_000), "fits (50 %)");
        assert_eq!(dev_tenant(100_000), "cap reached on day 15");
        assert_eq!(pro_overage(40_000), "$0.00");
        assert_eq!(pro_overage(150_000), "$80.00");
        assert_eq!(rate_limit(200), "200");
        assert_eq!(rate_limit(201), "201 (429s)");
    }
}
