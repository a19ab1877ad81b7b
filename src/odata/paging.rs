//! `$skiptoken`: an opaque, tamper-evident paging cursor.
//!
//! It records where the next page starts, the page size it was issued with, and a
//! fingerprint of the `$filter`/`$orderby` it was issued for, so it cannot be replayed
//! against a different query. A checksum makes edits detectable; the token grants
//! nothing a client could not ask for with `$skip`, so it needs no secret, which also
//! lets any server process over a shared database accept any other's tokens.

use super::QueryError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

const VERSION: &str = "2";

/// A decoded, verified paging cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipToken {
    /// Index of the first item of the page this token asks for.
    pub offset: u64,
    /// The page size of the request it was issued for.
    pub page_size: u64,
    /// Which query the token belongs to.
    pub fingerprint: u64,
}

impl SkipToken {
    /// Encodes the token for `@odata.nextLink`.
    pub fn encode(&self) -> String {
        let body = format!(
            "{VERSION}.{}.{}.{:016x}",
            self.offset, self.page_size, self.fingerprint
        );
        let sum = checksum(&body);
        URL_SAFE_NO_PAD.encode(format!("{body}.{sum}"))
    }

    /// Decodes and verifies a token a client sent back.
    pub fn decode(token: &str) -> Result<Self, QueryError> {
        let invalid = || {
            QueryError::new(
                "The $skiptoken is not valid; copy @odata.nextLink unchanged to get the next page.",
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (body, sum) = text.rsplit_once('.').ok_or_else(invalid)?;
        if checksum(body) != sum {
            return Err(invalid());
        }
        let mut parts = body.split('.');
        let (Some(VERSION), Some(offset), Some(page_size), Some(fp), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid());
        };
        let offset = offset.parse().map_err(|_| invalid())?;
        let page_size = page_size.parse().map_err(|_| invalid())?;
        let fingerprint = u64::from_str_radix(fp, 16).map_err(|_| invalid())?;
        Ok(SkipToken {
            offset,
            page_size,
            fingerprint,
        })
    }
}

/// Identifies a query's `$filter` and `$orderby`, as the client wrote them.
pub fn fingerprint(filter: Option<&str>, orderby: Option<&str>) -> u64 {
    let mut h = Sha256::new();
    h.update(filter.unwrap_or("").as_bytes());
    h.update([0]);
    h.update(orderby.unwrap_or("").as_bytes());
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn checksum(body: &str) -> String {
    let d = Sha256::digest(format!("cloudpc-partners/skiptoken/{body}").as_bytes());
    format!(
        "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        d[0], d[1], d[2], d[3], d[4], d[5]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for t in [
            SkipToken {
                offset: 100,
                page_size: 100,
                fingerprint: 7,
            },
            SkipToken {
                offset: 200,
                page_size: 250,
                fingerprint: u64::MAX,
            },
        ] {
            assert_eq!(SkipToken::decode(&t.encode()).unwrap(), t);
        }
    }

    #[test]
    fn any_edit_is_detected() {
        let good = SkipToken {
            offset: 100,
            page_size: 900,
            fingerprint: 42,
        }
        .encode();
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(&good).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(raw.replacen("100", "500", 1));
        assert!(SkipToken::decode(&forged).is_err());
        assert!(SkipToken::decode("not a token").is_err());
        assert!(SkipToken::decode("").is_err());
        let mut flipped = good.clone().into_bytes();
        flipped[3] ^= 1;
        assert!(SkipToken::decode(&String::from_utf8_lossy(&flipped)).is_err());
    }

    #[test]
    fn fingerprints_tell_queries_apart() {
        assert_ne!(fingerprint(Some("a"), None), fingerprint(None, Some("a")));
        assert_eq!(
            fingerprint(Some("a"), Some("b")),
            fingerprint(Some("a"), Some("b"))
        );
    }
}
