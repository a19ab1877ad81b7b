//! JSON text written straight into a response buffer, for the bodies served most
//! (entities and pages of them).
//!
//! serde_json writes every string, key or value, through one escaping routine
//! that costs about a hundred instructions a call before it looks at a byte; a
//! page of ten connections makes some two hundred such calls, a quarter of the
//! request's instructions. Here a string is checked for anything to escape in
//! one pass the compiler vectorizes, and copied as it is when there is nothing,
//! which is every key and nearly every value this service writes.

use serde::Serialize;

/// A JSON text being written.
pub struct JsonOut {
    buf: Vec<u8>,
}

impl JsonOut {
    /// An empty text, with room for `capacity` bytes before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        JsonOut {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// The text written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Starts an object; members follow through [`Object::key`].
    pub fn object(&mut self) -> Object<'_> {
        self.buf.push(b'{');
        Object {
            out: self,
            empty: true,
        }
    }

    /// Starts an array; items follow through [`Array::item`].
    pub fn array(&mut self) -> Array<'_> {
        self.buf.push(b'[');
        Array {
            out: self,
            empty: true,
        }
    }

    /// A string value, escaped as RFC 8259 requires.
    pub fn string(&mut self, s: &str) {
        self.buf.push(b'"');
        if is_plain(s) {
            self.buf.extend_from_slice(s.as_bytes());
        } else {
            escape_into(&mut self.buf, s);
        }
        self.buf.push(b'"');
    }

    /// `null`.
    pub fn null(&mut self) {
        self.buf.extend_from_slice(b"null");
    }

    /// `true` or `false`.
    pub fn bool(&mut self, b: bool) {
        self.buf
            .extend_from_slice(if b { b"true" } else { b"false" });
    }

    /// An integer.
    pub fn int(&mut self, n: impl itoa::Integer) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Text the caller knows is valid JSON where a value goes (a fixed fragment).
    pub fn raw(&mut self, json: &str) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    /// Any other value, through serde_json (structured values, which are rare).
    pub fn value(&mut self, v: &impl Serialize) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut self.buf, v)
    }
}

/// An object being written; `}` is written by [`Object::end`].
pub struct Object<'a> {
    out: &'a mut JsonOut,
    empty: bool,
}

impl Object<'_> {
    /// Writes the member name; the value is written next, into what this returns.
    pub fn key(&mut self, name: &str) -> &mut JsonOut {
        if !std::mem::take(&mut self.empty) {
            self.out.buf.push(b',');
        }
        self.out.string(name);
        self.out.buf.push(b':');
        self.out
    }

    pub fn end(self) {
        self.out.buf.push(b'}');
    }
}

/// An array being written; `]` is written by [`Array::end`].
pub struct Array<'a> {
    out: &'a mut JsonOut,
    empty: bool,
}

impl Array<'_> {
    /// The next item is written into what this returns.
    pub fn item(&mut self) -> &mut JsonOut {
        if !std::mem::take(&mut self.empty) {
            self.out.buf.push(b',');
        }
        self.out
    }

    pub fn end(self) {
        self.out.buf.push(b']');
    }
}

/// Whether `s` can be written between quotes as it is. No early exit, so that the
/// loop is vectorized: the strings are short and nearly always plain.
fn is_plain(s: &str) -> bool {
    s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    })
}

/// The quote, the backslash and the control characters escaped, as serde_json
/// escapes them (short forms where JSON has one, else `\u00XX`); everything else,
/// including non-ASCII, as it is.
fn escape_into(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => 0,
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        match short {
            0 => buf.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            c => buf.extend_from_slice(&[b'\\', c]),
        }
    }
    buf.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(f: impl FnOnce(&mut JsonOut)) -> String {
        let mut out = JsonOut::with_capacity(0);
        f(&mut out);
        String::from_utf8(out.into_bytes()).unwrap()
    }

    #[test]
    fn objects_and_arrays_separate_their_members() {
        let text = written(|out| {
            let mut o = out.object();
            o.key("a").int(1);
            o.key("b").null();
            let mut a = o.key("c").array();
            a.item().bool(true);
            a.item().string("x\"y");
            a.item().object().end();
            a.end();
            o.key("d").raw("[]");
            o.key("e").value(&serde_json::json!({"f": [1.5]})).unwrap();
            o.end();
        });
        assert_eq!(
            text,
            r#"{"a":1,"b":null,"c":[true,"x\"y",{}],"d":[],"e":{"f":[1.5]}}"#
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["c"][1],
            "x\"y"
        );
        assert_eq!(written(|out| out.array().end()), "[]");
        assert_eq!(written(|out| out.int(i64::MIN)), i64::MIN.to_string());
    }

    #[test]
    fn every_control_character_is_escaped() {
        for c in (0u8..0x20).chain([b'"', b'\\', b'/', 0x7f]) {
            let s = format!("a{}b", char::from(c));
            assert_eq!(
                written(|out| out.string(&s)),
                serde_json::to_string(&s).unwrap(),
                "{c:#x}"
            );
        }
    }

    proptest! {
        /// Written exactly as serde_json writes it, so a body reads back the same
        /// whichever path wrote it.
        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in any::<String>()) {
            prop_assert_eq!(written(|out| out.string(&s)), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn mostly_plain_strings_too(s in "[a-z \"\\\\\n\t\u{1}\u{7f}é😀]{0,40}") {
            prop_assert_eq!(written(|out| out.string(&s)), serde_json::to_string(&s).unwrap());
        }
    }
}
