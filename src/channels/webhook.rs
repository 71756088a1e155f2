//! Webhook signing and retry timing, per the Standard Webhooks spec (<https://www.standardwebhooks.com>).
//! Pure functions only: the scheduler decides when to call them and the HTTP client sends what they return.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::Duration;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix Standard Webhooks puts before the base64 key, so a secret is recognisable in logs and configs.
const SECRET_PREFIX: &str = "whsec_";

/// Key length of generated secrets: 32 bytes matches the SHA-256 block output and sits inside the 24..64 byte
/// range the spec recommends.
const SECRET_BYTES: usize = 32;

/// Signature scheme tag of symmetric HMAC-SHA256 signatures in the `webhook-signature` header.
const SIGNATURE_VERSION: &str = "v1";

/// Why a webhook could not be signed or did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    /// The secret is not `whsec_` followed by non-empty base64.
    #[error("webhook secret is not in Standard Webhooks form (\"whsec_\" followed by base64)")]
    InvalidSecret,
    /// The `webhook-timestamp` header is not a whole number of Unix seconds.
    #[error("webhook-timestamp {0:?} is not a number of seconds since the Unix epoch")]
    InvalidTimestamp(String),
    /// The message was signed longer ago than the tolerance allows (stale or replayed).
    #[error("webhook-timestamp {timestamp} is more than {tolerance_seconds} s before now ({now})")]
    TimestampTooOld {
        /// The signed timestamp.
        timestamp: i64,
        /// The verifier's clock.
        now: i64,
        /// The allowed skew.
        tolerance_seconds: i64,
    },
    /// The message claims to be signed in the future beyond the tolerance (clock skew or forgery).
    #[error("webhook-timestamp {timestamp} is more than {tolerance_seconds} s after now ({now})")]
    TimestampTooNew {
        /// The signed timestamp.
        timestamp: i64,
        /// The verifier's clock.
        now: i64,
        /// The allowed skew.
        tolerance_seconds: i64,
    },
    /// The `webhook-signature` header carries no `v1,<base64>` entry at all.
    #[error("webhook-signature carries no v1 signature")]
    NoSignature,
    /// There are v1 signatures, but none matches this secret, id, timestamp and body.
    #[error("no signature in webhook-signature matches the message")]
    NoMatchingSignature,
}

/// A fresh secret in Standard Webhooks form: `"whsec_"` + base64 of 32 random bytes.
///
/// The bytes come from the operating system's generator, since the secret is the only thing proving a webhook
/// came from us.
#[must_use]
pub fn generate_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// Signs one message: `"v1," + base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}"))`, where the key is the
/// base64-decoded part of `secret` after `"whsec_"`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, SigningError> {
    let mac = keyed_mac(secret, msg_id, timestamp, body)?;
    Ok(format!("{SIGNATURE_VERSION},{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// The three headers a signed delivery carries: `webhook-id`, `webhook-timestamp` and `webhook-signature`.
///
/// `msg_id` must stay the same across retries of one delivery: receivers use it as the idempotency key.
pub fn headers(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], SigningError> {
    let signature = sign(secret, msg_id, timestamp, body)?;
    Ok([
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ])
}

/// Verifies a delivery the way a receiver does, so tests and the "test your endpoint" tooling check exactly what
/// subscribers will check.
///
/// The timestamp must lie within `tolerance_seconds` of `now` on either side; the signature header may hold
/// several space-separated entries (during secret rotation) and one `v1` entry matching is enough. Signatures are
/// compared in constant time.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), SigningError> {
    let timestamp: i64 =
        timestamp_header.trim().parse().map_err(|_| SigningError::InvalidTimestamp(timestamp_header.to_owned()))?;
    // Saturating: both values come from outside and must not be able to overflow into a panic.
    let tolerance_seconds = tolerance_seconds.max(0);
    let age = now.saturating_sub(timestamp);
    if age > tolerance_seconds {
        return Err(SigningError::TimestampTooOld { timestamp, now, tolerance_seconds });
    }
    if age < -tolerance_seconds {
        return Err(SigningError::TimestampTooNew { timestamp, now, tolerance_seconds });
    }

    let mac = keyed_mac(secret, msg_id, timestamp, body)?;
    let mut saw_v1 = false;
    for entry in signature_header.split_whitespace() {
        let Some((version, encoded)) = entry.split_once(',') else { continue };
        if version != SIGNATURE_VERSION {
            // Other schemes (e.g. v1a, asymmetric) may sit beside ours; they are not ours to judge.
            continue;
        }
        saw_v1 = true;
        let Ok(candidate) = BASE64.decode(encoded) else { continue };
        if mac.clone().verify_slice(&candidate).is_ok() {
            return Ok(());
        }
    }
    Err(if saw_v1 { SigningError::NoMatchingSignature } else { SigningError::NoSignature })
}

/// An HMAC already fed with the signed content, ready to finalize or to verify against.
fn keyed_mac(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<HmacSha256, SigningError> {
    let key = decode_secret(secret)?;
    let mut mac = HmacSha256::new_from_slice(&key).map_err(|_| SigningError::InvalidSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The raw key behind a `whsec_` secret. An empty key is refused: HMAC would accept it, but it proves nothing.
fn decode_secret(secret: &str) -> Result<Vec<u8>, SigningError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(SigningError::InvalidSecret)?;
    match BASE64.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(SigningError::InvalidSecret),
    }
}

/// When to try a failed webhook delivery again: exponential backoff with jitter, then give up.
///
/// The ceiling doubles from `base` per attempt up to `cap`; the actual delay is drawn from the upper half of the
/// ceiling (`[ceiling / 2, ceiling]`) so a receiver that comes back after an outage is not hit by every pending
/// delivery at the same instant, while the schedule still keeps its overall shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Ceiling of the delay after the first failure.
    pub base: Duration,
    /// No single delay is longer than this.
    pub cap: Duration,
    /// A delivery whose next attempt would fall later than this after its first attempt is dead.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 30 s doubling, at most 2 h between attempts, about 24 h in all (design section 6).
    fn default() -> Self {
        Self { base: Duration::seconds(30), cap: Duration::hours(2), give_up_after: Duration::hours(24) }
    }
}

impl RetryPolicy {
    /// The longest delay the schedule allows after `attempts` attempts (before jitter): `base * 2^(attempts - 1)`,
    /// capped at `cap`. Never negative, and never decreasing as `attempts` grows.
    pub fn delay_ceiling(&self, attempts: u32) -> Duration {
        let zero = Duration::zero();
        let cap = self.cap.max(zero);
        let base = self.base.max(zero).min(cap);
        // 2^30 already exceeds any sensible cap / base ratio; the exponent is bounded so the multiplier fits i32.
        let exponent = attempts.saturating_sub(1).min(30);
        base.checked_mul(1_i32 << exponent).map_or(cap, |delay| delay.min(cap))
    }

    /// The delay before the next attempt, jittered within `[ceiling / 2, ceiling]` from `rng`, or `None` when
    /// `elapsed_since_first` plus that delay passes `give_up_after`: the delivery is then dead.
    ///
    /// `attempts` counts the attempts made so far (1 after the first failure).
    pub fn next_delay(&self, attempts: u32, elapsed_since_first: Duration, rng: &mut impl Rng) -> Option<Duration> {
        let ceiling_ms = self.delay_ceiling(attempts).num_milliseconds();
        let delay = Duration::try_milliseconds(rng.gen_range(ceiling_ms / 2..=ceiling_ms))?;
        let next_attempt_at = elapsed_since_first.checked_add(&delay)?;
        (next_attempt_at <= self.give_up_after).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    // The published Standard Webhooks test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn verify_vector(secret: &str, signature: &str, body: &[u8], now: i64, tolerance: i64) -> Result<(), SigningError> {
        verify(secret, MSG_ID, &TIMESTAMP.to_string(), signature, body, now, tolerance)
    }

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        assert_eq!(sign(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap(), SIGNATURE);
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature() {
        let headers = headers(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap();
        assert_eq!(
            headers,
            [
                ("webhook-id", MSG_ID.to_owned()),
                ("webhook-timestamp", "1614265330".to_owned()),
                ("webhook-signature", SIGNATURE.to_owned()),
            ]
        );
    }

    #[test]
    fn receiver_accepts_the_vector_at_signing_time() {
        assert_eq!(verify_vector(SECRET, SIGNATURE, BODY, TIMESTAMP, 300), Ok(()));
    }

    #[test]
    fn receiver_rejects_a_tampered_body() {
        let tampered = br#"{"test": 2432232315}"#;
        assert_eq!(verify_vector(SECRET, SIGNATURE, tampered, TIMESTAMP, 300), Err(SigningError::NoMatchingSignature));
    }

    #[test]
    fn receiver_rejects_another_subscriptions_secret() {
        let other = generate_secret();
        assert_eq!(verify_vector(&other, SIGNATURE, BODY, TIMESTAMP, 300), Err(SigningError::NoMatchingSignature));
    }

    #[test]
    fn receiver_rejects_a_message_signed_ten_minutes_ago_with_five_minutes_tolerance() {
        let now = TIMESTAMP + 600;
        assert_eq!(
            verify_vector(SECRET, SIGNATURE, BODY, now, 300),
            Err(SigningError::TimestampTooOld { timestamp: TIMESTAMP, now, tolerance_seconds: 300 })
        );
    }

    #[test]
    fn receiver_rejects_a_message_from_the_future() {
        let now = TIMESTAMP - 600;
        assert_eq!(
            verify_vector(SECRET, SIGNATURE, BODY, now, 300),
            Err(SigningError::TimestampTooNew { timestamp: TIMESTAMP, now, tolerance_seconds: 300 })
        );
    }

    #[test]
    fn receiver_accepts_when_one_of_several_signatures_matches() {
        // What a receiver sees while a subscription's secret is being rotated: old and new signatures side by side,
        // plus an entry of a scheme it does not know.
        let other = sign(&generate_secret(), MSG_ID, TIMESTAMP, BODY).unwrap();
        let header = format!("{other} v1a,c2lnbmF0dXJl v1,not-base64! {SIGNATURE}");
        assert_eq!(verify_vector(SECRET, &header, BODY, TIMESTAMP, 300), Ok(()));
    }

    #[test]
    fn verify_names_what_is_wrong() {
        assert_eq!(verify_vector(SECRET, "", BODY, TIMESTAMP, 300), Err(SigningError::NoSignature));
        assert_eq!(verify_vector(SECRET, "v1a,c2lnbmF0dXJl", BODY, TIMESTAMP, 300), Err(SigningError::NoSignature));
        assert_eq!(
            verify(SECRET, MSG_ID, "yesterday", SIGNATURE, BODY, TIMESTAMP, 300),
            Err(SigningError::InvalidTimestamp("yesterday".to_owned()))
        );
        assert_eq!(
            verify_vector("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SIGNATURE, BODY, TIMESTAMP, 300),
            Err(SigningError::InvalidSecret)
        );
        // Extreme inputs are rejected, not overflowed.
        assert!(matches!(
            verify(SECRET, MSG_ID, &i64::MIN.to_string(), SIGNATURE, BODY, i64::MAX, 300),
            Err(SigningError::TimestampTooOld { .. })
        ));
        assert!(matches!(
            verify(SECRET, MSG_ID, &i64::MAX.to_string(), SIGNATURE, BODY, i64::MIN, i64::MIN),
            Err(SigningError::TimestampTooNew { .. })
        ));
    }

    #[test]
    fn sign_refuses_malformed_secrets() {
        for secret in ["", "whsec_", "whsec_not base64!", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            assert_eq!(sign(secret, MSG_ID, TIMESTAMP, BODY), Err(SigningError::InvalidSecret), "{secret:?}");
        }
    }

    #[test]
    fn generated_secrets_are_standard_webhooks_form_and_distinct() {
        let first = generate_secret();
        let second = generate_secret();
        assert_ne!(first, second);
        let key = decode_secret(&first).unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
        let signature = sign(&first, MSG_ID, TIMESTAMP, BODY).unwrap();
        assert_eq!(verify(&first, MSG_ID, "1614265330", &signature, BODY, TIMESTAMP, 0), Ok(()));
    }

    #[test]
    fn default_schedule_starts_at_thirty_seconds_and_caps_at_two_hours() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_ceiling(1), Duration::seconds(30));
        assert_eq!(policy.delay_ceiling(2), Duration::minutes(1));
        assert_eq!(policy.delay_ceiling(8), Duration::seconds(30 * 128));
        assert_eq!(policy.delay_ceiling(9), Duration::hours(2));
        assert_eq!(policy.delay_ceiling(u32::MAX), Duration::hours(2));
    }

    #[test]
    fn a_receiver_down_for_good_is_given_up_on_after_twenty_to_twenty_four_hours() {
        let policy = RetryPolicy::default();
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut elapsed = Duration::zero();
            let mut attempts = 1;
            while let Some(delay) = policy.next_delay(attempts, elapsed, &mut rng) {
                elapsed += delay;
                attempts += 1;
                assert!(attempts < 100, "seed {seed}: never gave up");
            }
            assert!(elapsed >= Duration::hours(20), "seed {seed}: dead after only {elapsed}");
            assert!(elapsed <= Duration::hours(24), "seed {seed}: still retrying at {elapsed}");
        }
    }

    proptest! {
        #[test]
        fn delays_stay_within_a_non_decreasing_ceiling(
            attempts in 1u32..200,
            elapsed_minutes in 0i64..(24 * 60),
            seed in any::<u64>(),
        ) {
            let policy = RetryPolicy::default();
            let ceiling = policy.delay_ceiling(attempts);
            prop_assert!(ceiling <= policy.delay_ceiling(attempts + 1));
            prop_assert!(ceiling <= policy.cap);
            let elapsed = Duration::minutes(elapsed_minutes);
            let mut rng = StdRng::seed_from_u64(seed);
            if let Some(delay) = policy.next_delay(attempts, elapsed, &mut rng) {
                prop_assert!(delay >= ceiling / 2 && delay <= ceiling, "{delay} outside [{}, {ceiling}]", ceiling / 2);
                prop_assert!(elapsed + delay <= policy.give_up_after);
            } else {
                prop_assert!(elapsed + ceiling > policy.give_up_after);
            }
        }

        #[test]
        fn odd_policies_never_panic(
            base_ms in any::<i32>(),
            cap_ms in any::<i32>(),
            attempts in any::<u32>(),
            elapsed_ms in any::<i64>(),
            seed in any::<u64>(),
        ) {
            let policy = RetryPolicy {
                base: Duration::milliseconds(base_ms.into()),
                cap: Duration::milliseconds(cap_ms.into()),
                give_up_after: Duration::hours(24),
            };
            let mut rng = StdRng::seed_from_u64(seed);
            let delay = policy.next_delay(attempts, Duration::milliseconds(elapsed_ms / 1_000), &mut rng);
            prop_assert!(delay.is_none_or(|d| d >= Duration::zero()));
        }
    }
}
