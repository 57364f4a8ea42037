//! Sign-in sessions and sign-in throttling as rules over times: the store
//! keeps the rows, these functions say what they mean.

/// How long a session lives: `idle_ms` since it was last used, and
/// `absolute_ms` since sign-in however busy it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_ms: i64,
    pub absolute_ms: i64,
}

/// A session's last use is written at most this often: a page view per
/// second would otherwise be a write per second.
pub const TOUCH_EVERY_MS: i64 = 60_000;

impl Default for SessionPolicy {
    /// A working day of idleness; a week at most.
    fn default() -> Self {
        SessionPolicy {
            idle_ms: 8 * 3600 * 1000,
            absolute_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionVerdict {
    /// Still good; `touch` when its last use should be written now.
    Alive {
        touch: bool,
    },
    Expired,
}

impl SessionPolicy {
    pub fn check(&self, created_at: i64, last_seen_at: i64, now: i64) -> SessionVerdict {
        if now - created_at >= self.absolute_ms || now - last_seen_at >= self.idle_ms {
            return SessionVerdict::Expired;
        }
        SessionVerdict::Alive {
            touch: now - last_seen_at >= TOUCH_EVERY_MS,
        }
    }
}

/// How many failed sign-ins a key (an account, an address) may have in a
/// window before it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub per_account: usize,
    pub per_ip: usize,
    pub window_ms: i64,
}

impl Default for ThrottlePolicy {
    /// Five tries an account in 15 minutes stops guessing without locking a
    /// forgetful user out for long; an office behind one address gets 30.
    fn default() -> Self {
        ThrottlePolicy {
            per_account: 5,
            per_ip: 30,
            window_ms: 15 * 60 * 1000,
        }
    }
}

/// How long a key must wait, given its failures' times (newest first, at
/// least the `limit` newest in the window), or `None` when it may try now.
pub fn throttle_wait(
    failures_newest_first: &[i64],
    limit: usize,
    window_ms: i64,
    now: i64,
) -> Option<i64> {
    if limit == 0 {
        return None;
    }
    let recent: Vec<i64> = failures_newest_first
        .iter()
        .copied()
        .filter(|t| now - t < window_ms)
        .collect();
    if recent.len() < limit {
        return None;
    }
    // The wait ends when the limit-th newest failure leaves the window.
    let oldest_counted = recent.get(limit - 1).copied()?;
    Some((oldest_counted + window_ms - now).max(1))
}

/// A wait shown to a person: whole minutes, rounded up, at least one.
pub fn wait_minutes(wait_ms: i64) -> i64 {
    ((wait_ms + 59_999) / 60_000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_session_ends_when_idle_or_too_old_and_is_touched_once_a_minute() {
        let p = SessionPolicy {
            idle_ms: 1000 * 60 * 30,
            absolute_ms: 1000 * 3600 * 12,
        };
        assert_eq!(
            p.check(0, 0, 10_000),
            SessionVerdict::Alive { touch: false }
        );
        assert_eq!(p.check(0, 0, 61_000), SessionVerdict::Alive { touch: true });
        assert_eq!(p.check(0, 0, 1000 * 60 * 30), SessionVerdict::Expired);
        let busy_all_day = 1000 * 3600 * 12;
        assert_eq!(
            p.check(0, busy_all_day - 1000, busy_all_day),
            SessionVerdict::Expired
        );
    }

    #[test]
    fn the_fifth_failure_in_the_window_makes_the_account_wait() {
        let w = 15 * 60_000;
        let now = 100 * 60_000;
        let four: Vec<i64> = (1..=4).map(|i| now - i * 60_000).collect();
        assert_eq!(throttle_wait(&four, 5, w, now), None);
        let five: Vec<i64> = (0..5).map(|i| now - i * 60_000).collect();
        // The oldest of the five was 4 minutes ago: 11 minutes to go.
        assert_eq!(throttle_wait(&five, 5, w, now), Some(11 * 60_000));
        assert_eq!(wait_minutes(11 * 60_000), 11);
        assert_eq!(wait_minutes(1), 1);
        let old: Vec<i64> = (0..5).map(|i| now - w - i).collect();
        assert_eq!(throttle_wait(&old, 5, w, now), None);
    }

    proptest! {
        #[test]
        fn a_wait_never_outlasts_the_window(times in proptest::collection::vec(0i64..1_000_000, 0..20), limit in 1usize..8) {
            let mut t = times;
            t.sort_unstable_by(|a, b| b.cmp(a));
            let now = 1_000_000;
            if let Some(wait) = throttle_wait(&t, limit, 600_000, now) {
                prop_assert!(wait > 0 && wait <= 600_000);
                // After waiting, the same failures no longer block.
                prop_assert_eq!(throttle_wait(&t, limit, 600_000, now + wait), None);
            }
        }
    }
}
