//! The retry schedule: what comes after an attempt.
//!
//! Computed from what is persisted (attempts in the current schedule and when
//! it began), so a restarted worker continues the same schedule. Delays grow
//! exponentially with jitter (backon), capped at `max_delay`; a receiver's
//! `Retry-After` is honoured up to `retry_after_max`; the schedule ends after
//! `max_age` (or `max_attempts`), and the delivery is marked failed.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bv_store::deliveries::Next;
use chrono::{DateTime, Utc};

use crate::settings::DeliverySettings;

/// What an attempt's result says about retrying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Worth trying again; the receiver may have asked for a delay.
    Retry {
        retry_after: Option<Duration>,
    },
    /// Will never succeed (410 Gone, permanent SMTP error, refused target).
    GiveUp,
}

#[derive(Clone, Debug)]
pub struct Policy {
    settings: DeliverySettings,
}

impl Policy {
    pub fn new(settings: DeliverySettings) -> Self {
        Policy { settings }
    }

    /// The delay before retry number `n` (1 = the first retry).
    pub fn delay(&self, n: u32) -> Duration {
        let s = &self.settings;
        let nominal = ExponentialBuilder::default()
            .with_min_delay(s.initial_delay)
            .with_factor(s.factor)
            .with_max_delay(s.max_delay)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(n.saturating_sub(1) as usize)
            .unwrap_or(s.max_delay);
        nominal.min(s.max_delay)
    }

    /// Decides the delivery's next state after attempt number `attempt` of the
    /// schedule that began at `schedule_started_at`.
    pub fn decide(
        &self,
        verdict: &Verdict,
        attempt: u32,
        schedule_started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Next {
        let s = &self.settings;
        let retry_after = match verdict {
            Verdict::Success => return Next::Succeeded,
            Verdict::GiveUp => return Next::Failed,
            Verdict::Retry { retry_after } => retry_after,
        };
        if s.max_attempts > 0 && attempt >= s.max_attempts {
            return Next::Failed;
        }
        let mut delay = self.delay(attempt);
        if let Some(asked) = retry_after {
            delay = delay.max((*asked).min(s.retry_after_max));
        }
        let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        let ends = schedule_started_at
            + chrono::Duration::from_std(s.max_age).unwrap_or(chrono::Duration::MAX);
        if next > ends {
            Next::Failed
        } else {
            Next::RetryAt(next)
        }
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate, RFC 850 and asctime: the three forms HTTP allows.
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    (at - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeliverySettings {
        DeliverySettings {
            initial_delay: Duration::from_secs(5),
            factor: 3.0,
            max_delay: Duration::from_secs(10 * 3600),
            max_age: Duration::from_secs(3 * 24 * 3600),
            max_attempts: 0,
            timeout: Duration::from_secs(15),
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(5),
            concurrency: 4,
            per_host_concurrency: 2,
            retry_after_max: Duration::from_secs(3600),
        }
    }

    #[test]
    fn delays_grow_from_seconds_to_hours_within_the_jitter_band() {
        let p = Policy::new(settings());
        for (n, nominal) in [(1, 5), (2, 15), (3, 45), (4, 135), (8, 10935)] {
            let d = p.delay(n).as_secs_f64();
            assert!(
                d >= nominal as f64 && d < 2.0 * nominal as f64,
                "retry {n}: {d}s"
            );
        }
        assert_eq!(p.delay(30), Duration::from_secs(10 * 3600), "capped");
    }

    #[test]
    fn the_schedule_gives_up_after_max_age() {
        let p = Policy::new(settings());
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let retry = Verdict::Retry { retry_after: None };
        assert!(matches!(
            p.decide(&retry, 1, start, start),
            Next::RetryAt(_)
        ));
        let late = start + chrono::Duration::days(3) - chrono::Duration::seconds(1);
        assert_eq!(p.decide(&retry, 20, start, late), Next::Failed);
    }

    #[test]
    fn outcomes_map_to_states() {
        let p = Policy::new(settings());
        let now = Utc::now();
        assert_eq!(p.decide(&Verdict::Success, 1, now, now), Next::Succeeded);
        assert_eq!(p.decide(&Verdict::GiveUp, 1, now, now), Next::Failed);
        let limited = Policy::new(DeliverySettings {
            max_attempts: 3,
            ..settings()
        });
        let retry = Verdict::Retry { retry_after: None };
        assert!(matches!(
            limited.decide(&retry, 2, now, now),
            Next::RetryAt(_)
        ));
        assert_eq!(limited.decide(&retry, 3, now, now), Next::Failed);
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let p = Policy::new(settings());
        let now = Utc::now();
        let asked = |secs| Verdict::Retry {
            retry_after: Some(Duration::from_secs(secs)),
        };
        let Next::RetryAt(at) = p.decide(&asked(600), 1, now, now) else {
            panic!()
        };
        assert!((at - now).num_seconds() >= 600);
        let Next::RetryAt(at) = p.decide(&asked(86_400), 1, now, now) else {
            panic!()
        };
        assert!(
            (at - now).num_seconds() <= 3600,
            "clamped to retry_after_max"
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now: DateTime<Utc> = "2015-10-21T07:27:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now),
            Some(Duration::from_secs(60)),
            "RFC 850"
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:00 2015", now),
            Some(Duration::from_secs(60)),
            "asctime"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
