//! Business rules as pure functions: delivery-status ordering, retry backoff.

use crate::inbound::closed_set;

closed_set!(
    /// Where a sent message stands, as the channel reports it.
    MessageStatus {
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        /// A voice message was listened to (WhatsApp).
        Played = "played",
        Failed = "failed",
    }
);

impl MessageStatus {
    /// A message's state only moves to a higher rank; `Failed` outranks
    /// everything, so it is terminal.
    pub fn rank(self) -> i64 {
        match self {
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read => 3,
            MessageStatus::Played => 4,
            MessageStatus::Failed => 100,
        }
    }
}

/// Rank of a delivery status as the channel wrote it; statuses we do not
/// know (kept in the history for inspection) never apply.
pub fn status_rank(status: &str) -> Option<i64> {
    MessageStatus::parse(status).map(MessageStatus::rank)
}

/// The status a message takes when it arrives after some of its statuses
/// (out-of-order webhooks): the highest-ranked known one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyStatus {
    pub status: String,
    pub rank: i64,
    pub at: i64,
    pub error_code: Option<i64>,
}

/// Picks the highest-ranked of `(status, occurred_at, error_code)` seen
/// before the message; unknown statuses never apply.
pub fn best_status(seen: &[(String, i64, Option<i64>)]) -> Option<EarlyStatus> {
    let mut best: Option<EarlyStatus> = None;
    for (status, at, error_code) in seen {
        if let Some(rank) = status_rank(status)
            && best.as_ref().is_none_or(|b| rank > b.rank)
        {
            best = Some(EarlyStatus {
                status: status.clone(),
                rank,
                at: *at,
                error_code: *error_code,
            });
        }
    }
    best
}

/// Delay before an inbound event that failed `attempts` times is tried again:
/// exponential from 2 s, capped at 10 minutes, so a broken dependency is not
/// hammered and a transient one recovers quickly.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 16) as u32;
    2_000_i64
        .saturating_mul(2_i64.saturating_pow(exp))
        .min(600_000)
}

/// Outcome of a failed processing attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    RetryAt(i64),
    Dead,
}

pub fn after_failure(attempts_so_far: i64, max_attempts: i64, now_ms: i64) -> FailureOutcome {
    let attempts = attempts_so_far + 1;
    if attempts >= max_attempts {
        FailureOutcome::Dead
    } else {
        FailureOutcome::RetryAt(now_ms + retry_delay_ms(attempts - 1))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// Whether a status update moves a message whose current rank is
    /// `current`: the rule the store's conditional update applies in SQL.
    fn status_moves_forward(current: i64, next: &str) -> bool {
        status_rank(next).is_some_and(|r| r > current)
    }

    #[test]
    fn early_statuses_give_the_highest_known_one() {
        let seen = |v: &[(&str, i64)]| -> Vec<(String, i64, Option<i64>)> {
            v.iter().map(|(s, at)| (s.to_string(), *at, None)).collect()
        };
        assert_eq!(best_status(&[]), None);
        assert_eq!(best_status(&seen(&[("deleted", 1), ("typing", 2)])), None);
        let b = best_status(&seen(&[("read", 30), ("sent", 10), ("delivered", 20)])).unwrap();
        assert_eq!((b.status.as_str(), b.rank, b.at), ("read", 3, 30));
        let failed = vec![
            ("read".to_string(), 30, None),
            ("failed".to_string(), 5, Some(131_047)),
        ];
        let b = best_status(&failed).unwrap();
        assert_eq!((b.status.as_str(), b.error_code), ("failed", Some(131_047)));
    }

    #[test]
    fn statuses_only_move_forward_and_failed_is_terminal() {
        assert!(status_moves_forward(0, "sent"));
        assert!(status_moves_forward(1, "delivered"));
        assert!(status_moves_forward(1, "read"));
        assert!(!status_moves_forward(3, "delivered"));
        assert!(!status_moves_forward(2, "delivered"));
        assert!(status_moves_forward(3, "failed"));
        assert!(!status_moves_forward(100, "read"));
        assert!(!status_moves_forward(0, "deleted"));
    }

    #[test]
    fn failures_back_off_then_die() {
        assert_eq!(after_failure(0, 3, 1000), FailureOutcome::RetryAt(3000));
        assert_eq!(after_failure(1, 3, 1000), FailureOutcome::RetryAt(5000));
        assert_eq!(after_failure(2, 3, 1000), FailureOutcome::Dead);
        assert_eq!(retry_delay_ms(40), 600_000);
    }

    proptest! {
        #[test]
        fn any_order_of_statuses_ends_at_the_highest(order in proptest::sample::subsequence(vec!["sent", "delivered", "read", "failed"], 1..=4).prop_shuffle()) {
            let mut rank = 0;
            for s in &order {
                if status_moves_forward(rank, s) {
                    rank = status_rank(s).unwrap_or(rank);
                }
            }
            let max = order.iter().filter_map(|s| status_rank(s)).max().unwrap_or(0);
            prop_assert_eq!(rank, max);
        }

        #[test]
        fn retry_delay_is_monotonic_and_bounded(a in 0i64..100) {
            prop_assert!(retry_delay_ms(a) <= retry_delay_ms(a + 1));
            prop_assert!(retry_delay_ms(a) <= 600_000);
            prop_assert!(retry_delay_ms(a) >= 2_000);
        }
    }
}
