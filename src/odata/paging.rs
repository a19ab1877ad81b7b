//! `$skiptoken`: an opaque, tamper-evident paging cursor.
//!
//! It records where the next page starts, the page size it was issued with, and a
//! fingerprint of the `$filter`/`$orderby` it was issued for, so it cannot be replayed
//! against a different query. Where the sort keys are stored values, "where the next
//! page starts" is the last row's keys (keyset paging: page N costs what page 1 does,
//! and rows added or removed meanwhile never shift it); otherwise it is an offset.
//! A checksum makes edits detectable; the token grants nothing a client could not
//! ask for with `$filter` or `$skip`, so it needs no secret, which also lets any
//! server process over a shared database accept any other's tokens.

use super::QueryError;
use crate::edm::Scalar;
use crate::json::JsonOut;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

const VERSION: &str = "3";

/// The sort keys of the last row of a page, in sort order, ending with the
/// table's unique tie-breakers: the next page starts strictly after them.
pub type Cursor = Vec<Scalar>;

/// A decoded, verified paging cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipToken {
    /// Index of the first item of the page this token asks for.
    pub offset: u64,
    /// The page size of the request it was issued for.
    pub page_size: u64,
    /// Which query the token belongs to.
    pub fingerprint: u64,
    /// Where the page starts by its keys; `None` when the sort is not by stored values.
    pub after: Option<Cursor>,
}

impl SkipToken {
    /// Encodes the token for `@odata.nextLink`. Every page that has a next one
    /// makes one, so it is written without intermediate JSON values or strings; the
    /// text is the same as ever (tokens already issued stay valid, whichever
    /// version of the server issued them).
    pub fn encode(&self) -> String {
        use std::fmt::Write;
        let mut body = String::with_capacity(160);
        // Writing to a String cannot fail.
        let _ = write!(
            body,
            "{VERSION}.{}.{}.{:016x}.",
            self.offset, self.page_size, self.fingerprint
        );
        match &self.after {
            Some(keys) => URL_SAFE_NO_PAD.encode_string(encode_keys(keys), &mut body),
            None => body.push('-'),
        }
        let sum = checksum(&body);
        body.push('.');
        body.push_str(&sum);
        URL_SAFE_NO_PAD.encode(body)
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
        let (Some(VERSION), Some(offset), Some(page_size), Some(fp), Some(after), None) = (
            parts.next(),
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
        let after = match after {
            "-" => None,
            keys => {
                let json = URL_SAFE_NO_PAD.decode(keys).map_err(|_| invalid())?;
                let value: serde_json::Value =
                    serde_json::from_slice(&json).map_err(|_| invalid())?;
                Some(decode_keys(&value).ok_or_else(invalid)?)
            }
        };
        Ok(SkipToken {
            offset,
            page_size,
            fingerprint,
            after,
        })
    }
}

/// Keys as JSON, each tagged with its kind so it decodes to the same value.
fn encode_keys(keys: &[Scalar]) -> Vec<u8> {
    let mut out = JsonOut::with_capacity(64);
    let mut all = out.array();
    for k in keys {
        let mut pair = all.item().array();
        match k {
            Scalar::Null => pair.item().string("n"),
            Scalar::Bool(b) => {
                pair.item().string("b");
                pair.item().bool(*b);
            }
            Scalar::Text(t) => {
                pair.item().string("s");
                pair.item().string(t);
            }
            Scalar::Time(t) => {
                pair.item().string("t");
                pair.item().int(crate::clock::to_millis(*t));
            }
            Scalar::Enum(v) => {
                pair.item().string("e");
                pair.item().int(*v);
            }
            Scalar::Json(v) => {
                pair.item().string("j");
                // A JSON value serializes without fail into memory.
                let _ = pair.item().value(v);
            }
        }
        pair.end();
    }
    all.end();
    out.into_bytes()
}

fn decode_keys(value: &serde_json::Value) -> Option<Cursor> {
    value
        .as_array()?
        .iter()
        .map(|k| {
            let k = k.as_array()?;
            Some(match (k.first()?.as_str()?, k.get(1)) {
                ("n", None) => Scalar::Null,
                ("b", Some(v)) => Scalar::Bool(v.as_bool()?),
                ("s", Some(v)) => Scalar::Text(v.as_str()?.to_owned()),
                ("t", Some(v)) => Scalar::Time(crate::clock::from_millis(v.as_i64()?)),
                ("e", Some(v)) => Scalar::Enum(v.as_i64()?),
                ("j", Some(v)) => Scalar::Json(v.clone()),
                _ => return None,
            })
        })
        .collect()
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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = Sha256::new()
        .chain_update(b"cloudpc-partners/skiptoken/")
        .chain_update(body.as_bytes())
        .finalize();
    d[..6]
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
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
                after: None,
            },
            SkipToken {
                offset: 200,
                page_size: 250,
                fingerprint: u64::MAX,
                after: Some(vec![
                    Scalar::Null,
                    Scalar::Bool(true),
                    Scalar::Text("a.b'c".into()),
                    Scalar::Time(crate::clock::from_millis(1_764_000_000_123)),
                    Scalar::Enum(3),
                ]),
            },
        ] {
            assert_eq!(SkipToken::decode(&t.encode()).unwrap(), t);
        }
    }

    /// Tokens already handed out (by this version or another process) must stay
    /// valid: the encoding never changes within a version.
    #[test]
    fn the_encoding_is_stable() {
        let keyed = SkipToken {
            offset: 20,
            page_size: 10,
            fingerprint: 0x0123_4567_89ab_cdef,
            after: Some(vec![
                Scalar::Null,
                Scalar::Bool(false),
                Scalar::Text("a\"b é".into()),
                Scalar::Time(crate::clock::from_millis(1_764_000_000_123)),
                Scalar::Enum(2),
                Scalar::Json(serde_json::json!({"x": [1, "y"]})),
            ]),
        };
        let golden = "My4yMC4xMC4wMTIzNDU2Nzg5YWJjZGVmLlcxc2liaUpkTEZzaVlpSXNabUZzYzJWZExGc2ljeUlzSW1GY0ltSWd3NmtpWFN4YkluUWlMREUzTmpRd01EQXdNREF4TWpOZExGc2laU0lzTWwwc1d5SnFJaXg3SW5naU9sc3hMQ0o1SWwxOVhWMC5iNTJjYTM1NjkzZjM";
        assert_eq!(keyed.encode(), golden);
        assert_eq!(SkipToken::decode(golden).unwrap(), keyed);
        let offset = SkipToken {
            offset: 5,
            page_size: 5,
            fingerprint: 1,
            after: None,
        };
        assert_eq!(
            offset.encode(),
            "My41LjUuMDAwMDAwMDAwMDAwMDAwMS4tLjY1MjcxNGI2MzlmNA"
        );
    }

    #[test]
    fn any_edit_is_detected() {
        let good = SkipToken {
            offset: 100,
            page_size: 900,
            fingerprint: 42,
            after: None,
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
