//! Webhook signatures, the way Stripe signs its events (the service signs its deliveries with
//! [`sign`]; a receiver checks them with [`verify`]): the header
//! `Tx-Broadcaster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, one
//! `v1` per secret in force (two while a rotation overlaps).
//!
//! A receiver verifies the raw body, before parsing it, against its endpoint's secrets, and
//! refuses a timestamp outside its tolerance (a replayed delivery):
//!
//! ```
//! use tx_broadcaster_client::webhook;
//!
//! let secret = "whsec_…";
//! let body = br#"{"event":"confirmed","transaction":{}}"#;
//! # let now = 1_800_000_000;
//! # let header = webhook::sign(&[secret], now, body);
//! // let header = request.headers()[webhook::SIGNATURE_HEADER]; now = the clock's seconds
//! match webhook::verify(&header, body, &[secret], now, webhook::DEFAULT_TOLERANCE_SECONDS) {
//!     Ok(()) => { /* a delivery from this service: parse the body, answer 2xx */ }
//!     // Anyone can post to the endpoint: refuse what isn't signed (answer 400), never panic.
//!     Err(refused) => eprintln!("refused a delivery: {refused}"),
//! }
//! # assert!(webhook::verify(&header, body, &[secret], now, 300).is_ok());
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header a delivery's signature is in.
pub const SIGNATURE_HEADER: &str = "Tx-Broadcaster-Signature";

/// How far a delivery's timestamp may be from the receiver's clock: five minutes, as Stripe's.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

/// The longest header [`verify`] reads: a timestamp and a few signatures.
const MAX_HEADER_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the delivery was signed {0} s away from now, outside the tolerance")]
    OutsideTolerance(u64),
    #[error("no signature matches any of the endpoint's secrets")]
    NoMatch,
}

/// The header value for `body` sent at `timestamp`, one `v1` per secret.
pub fn sign(secrets: &[&str], timestamp: u64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex(&mac(secret, timestamp, body).finalize().into_bytes()));
    }
    header
}

/// Whether `header` signs `body` with one of `secrets`, at a timestamp within `tolerance`
/// seconds of `now`. Comparisons are constant-time.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[&str],
    now: u64,
    tolerance: u64,
) -> Result<(), VerifyError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(VerifyError::Malformed("too long"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(VerifyError::Malformed("a part without `=`"))?;
        match key {
            "t" => {
                let t: u64 = value
                    .parse()
                    .map_err(|_| VerifyError::Malformed("`t` is not a number"))?;
                if timestamp.replace(t).is_some() {
                    return Err(VerifyError::Malformed("two timestamps"));
                }
            }
            "v1" => signatures
                .push(unhex(value).ok_or(VerifyError::Malformed("a `v1` that is not hex"))?),
            // Other schemes (a future `v2`) are not this version's.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed("no timestamp"))?;
    let skew = now.abs_diff(timestamp);
    if skew > tolerance {
        return Err(VerifyError::OutsideTolerance(skew));
    }
    // An empty secret (a setting left blank) would let anyone sign: it verifies nothing.
    let matches = secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .any(|secret| {
            let tag = mac(secret, timestamp, body);
            signatures
                .iter()
                .any(|signature| tag.clone().verify_slice(signature).is_ok())
        });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

fn mac(secret: &str, timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this can't fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"event":"confirmed"}"#;

    #[test]
    fn a_signature_verifies_with_its_secret_only_and_within_the_tolerance() {
        let header = sign(&["whsec_a"], NOW, BODY);
        assert_eq!(verify(&header, BODY, &["whsec_a"], NOW + 10, 300), Ok(()));
        assert_eq!(
            verify(&header, BODY, &["whsec_b"], NOW, 300),
            Err(VerifyError::NoMatch)
        );
        // Another body, or the same body at another time, is not signed by it.
        assert_eq!(
            verify(&header, br#"{"event":"reverted"}"#, &["whsec_a"], NOW, 300),
            Err(VerifyError::NoMatch)
        );
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert_eq!(
            verify(&moved, BODY, &["whsec_a"], NOW, 300),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(&header, BODY, &["whsec_a"], NOW + 301, 300),
            Err(VerifyError::OutsideTolerance(301))
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let header = sign(&["whsec_new", "whsec_old"], NOW, BODY);
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify(&header, BODY, &["whsec_old"], NOW, 300), Ok(()));
        assert_eq!(verify(&header, BODY, &["whsec_new"], NOW, 300), Ok(()));
    }

    #[test]
    fn an_empty_secret_verifies_nothing() {
        let header = sign(&[""], NOW, BODY);
        assert_eq!(
            verify(&header, BODY, &[""], NOW, 300),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn the_signature_is_stripes_hmac_of_timestamp_dot_body() {
        // HMAC-SHA256("key", "1.x"), computed independently (Python's hmac module).
        assert_eq!(
            sign(&["key"], 1, b"x"),
            "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }

    #[test]
    fn malformed_headers_are_refused_not_panicked_on() {
        for header in [
            "",
            "t=",
            "v1=00",
            "t=x,v1=00",
            "t=1,t=1,v1=00",
            "t=1,v1=zz",
            "t=1,v1=0",
            "garbage",
            &"t=1,".repeat(400),
        ] {
            assert!(
                verify(header, BODY, &["k"], 1, 300).is_err(),
                "{header:?} verified"
            );
        }
    }
}
