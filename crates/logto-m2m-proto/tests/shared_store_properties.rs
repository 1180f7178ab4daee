//! Random sequences over a fleet of one to three replicas (each a `TokenCache` built
//! `with_shared_store`) sharing one simulated store and one simulated token endpoint: polls, store
//! reads answered honestly or with the entry missing, tampered with, written under another app
//! secret, copied from another key or as any bytes, locks won or held, store failures and
//! timeouts, waits, lost or failing writes, token answers and failures, cancellations,
//! invalidations, time moves, suspends, and wall clocks skewed up to half of `max_clock_skew`
//! (30 s or 60 s) either way and stepped within it. The simulation and its oracles are the
//! `state_machine` fuzz target's (`fuzz/src/checks/shared_flight.rs`): no token handed out past
//! its real expiry less its margin by the true clock, nor one the endpoint did not issue for that
//! key, nor a refused or invalidated one; one live flight per key per replica; `poll_timeout`
//! honest. A second property bounds the token requests of a healthy fleet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/checks/mod.rs"]
mod checks;

use std::time::Duration;

use checks::Mode;
use checks::shared_flight::{Fleet, MAX_SKEWS};
use checks::state_machine::{Answer, Op, Ops, PolicyInput, StateMachineInput, check};
use checks::wire::{Byte, Bytes};
use logto_m2m_proto::CachePolicy;
use proptest::prelude::*;

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        6 => (0u8..12, 0u8..8).prop_map(|(expires_in, form)| Answer::Token { expires_in, form }),
        2 => Just(Answer::Retryable),
        1 => Just(Answer::Rejection),
        1 => Just(Answer::CredentialsRejected),
        1 => any::<u16>().prop_map(|retry_after| Answer::Throttled { retry_after }),
        1 => Just(Answer::Garbage),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let small = || 0u8..8;
    prop_oneof![
        6 => small().prop_map(|key| Op::Poll { key }),
        4 => (small(), answer()).prop_map(|(ticket, answer)| Op::Respond { ticket, answer }),
        1 => (small(), any::<u8>()).prop_map(|(ticket, kind)| Op::TransportError { ticket, kind }),
        1 => small().prop_map(|ticket| Op::Cancel { ticket }),
        1 => (small(), any::<u8>()).prop_map(|(key, token)| Op::Invalidate { key, token }),
        4 => (0u8..4, any::<u8>()).prop_map(|(scale, amount)| Op::Advance { scale, amount }),
        1 => any::<u8>().prop_map(|value| Op::Jitter { value }),
        1 => (0u8..4, 0u8..3).prop_map(|(key, offset)| Op::JumpToTimeout { key, offset }),
        1 => (small(), answer()).prop_map(|(spent, answer)| Op::Replay { spent, answer }),
        1 => (0u8..4, any::<u8>()).prop_map(|(scale, amount)| Op::Suspend { scale, amount }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(scale, amount)| Op::WallBack { scale, amount }),
        8 => (small(), any::<u8>()).prop_map(|(step, how)| Op::StoreAnswer { step, how }),
        1 => (small(), proptest::collection::vec(any::<u8>(), 0..120))
            .prop_map(|(step, entry)| Op::StoreEntry { step, entry: Bytes(entry) }),
        2 => (small(), any::<u8>()).prop_map(|(step, kind)| Op::StoreFail { step, kind }),
        3 => small().prop_map(|replica| Op::Switch { replica }),
        1 => any::<u8>().prop_map(|mode| Op::StoreMode { mode }),
    ]
}

/// A policy byte for `max_keys` 1 to 3, 1 to 3 replicas and either skew.
fn fleet_policy() -> impl Strategy<Value = PolicyInput> {
    (0u8..3, 1u8..4, 0u8..2, any::<u8>(), 0u8..4).prop_map(
        |(keys, replicas, skew, margin, in_flight)| PolicyInput {
            keys: Byte(keys + 3 * replicas + 12 * skew),
            margin: Byte(margin),
            in_flight: Byte(in_flight),
            ..PolicyInput::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn replicas_sharing_a_store_keep_the_invariants(
        policy in fleet_policy(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        prop_assert!(policy.replicas() > 0);
        let input = StateMachineInput { policy, ops: Ops(ops) };
        check(&input, Mode::Strict);
    }
}

/// One step of a healthy fleet: replica `replica % n` polls `key % 3` and its flight is carried
/// out at once with an honest store and an endpoint that answers with an hour's token, after the
/// true clock moved `advance` seconds.
#[derive(Debug, Clone)]
struct Healthy {
    replica: usize,
    key: usize,
    advance: u64,
}

fn healthy() -> impl Strategy<Value = Healthy> {
    (
        0usize..8,
        0usize..3,
        prop_oneof![0u64..5, 5u64..600, 600u64..4000],
    )
        .prop_map(|(replica, key, advance)| Healthy {
            replica,
            key,
            advance,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// With a healthy store and endpoint, each key's tokens cost at most one request per
    /// refresh period across the fleet. The bound: a token of lifetime `L` (3600 s) sent at `t`
    /// is refreshed by no replica before `t + 0.7 × (L - margin) - 2 × max_clock_skew` (the
    /// earliest refresh point with the default jitter, counted by an adopter whose clock makes the
    /// entry's expiry up to the skew allowance plus the clocks' difference early), so over a
    /// span `T` a key costs at most `1 + T / (0.7 × (L - margin) - 2 × max_clock_skew)`
    /// requests, whatever the number of replicas and their polling.
    #[test]
    fn a_healthy_fleet_sends_one_request_per_key_per_refresh_period(
        replicas in 1usize..4,
        skew in 0u8..2,
        steps in proptest::collection::vec(healthy(), 1..200),
    ) {
        let policy = CachePolicy::default();
        let mut fleet = Fleet::new(policy, replicas, skew);
        let max_skew = MAX_SKEWS[usize::from(skew)];
        let usable = Duration::from_secs(3600) - policy.expiry_margin;
        let period = usable.mul_f64(0.7) - 2 * max_skew;
        for step in steps {
            fleet.advance(Duration::from_secs(step.advance));
            let r = step.replica % replicas;
            fleet.poll(r, step.key);
            fleet.drive_healthy(r, step.key);
            let bound = 1 + usize::try_from(fleet.elapsed().as_secs() / period.as_secs()).unwrap();
            for (key, sent) in fleet.sent_per_key().iter().enumerate() {
                prop_assert!(
                    *sent <= bound,
                    "key {key}: {sent} requests in {:?} (bound {bound})",
                    fleet.elapsed()
                );
            }
        }
    }
}
