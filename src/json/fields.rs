//! Reading a JSON object sent by a client, field by field: each getter takes one
//! field as a type (absent and `null` both read as `None`), and `finish` refuses
//! whatever no getter asked for, naming what is understood. Every request body is
//! read through this, so one rule holds everywhere:
//!
//! **A key holding `@` is an OData annotation** (`@odata.type`, `@odata.context`,
//! `name@odata.type`, …): it carries no data and is ignored, unless a reader asks for
//! it by name with [`Fields::annotation`].
//!
//! Errors are sentences a person can act on, naming the field by its path from the
//! body (`'agentSetting.agentUrl'`); the layers above turn them into a 400.

use serde_json::{Map, Value};

/// A JSON value's kind, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a Boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether a key is an OData annotation rather than a field.
pub fn is_annotation(key: &str) -> bool {
    key.contains('@')
}

/// The fields of one JSON object, read one at a time.
#[derive(Debug)]
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    /// How fields are named in messages: empty for a body, `agentSetting.` below it.
    prefix: String,
    /// The fields asked for, in the order asked.
    asked: Vec<&'a str>,
}

impl<'a> Fields<'a> {
    /// The fields of a request body.
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self::under(object, String::new())
    }

    /// The fields of `value`, the object a client sent as `name` (say
    /// `agentSetting`); anything but an object is refused by that name.
    pub fn of(value: &'a Value, name: &str) -> Result<Self, String> {
        match value {
            Value::Object(m) => Ok(Self::under(m, format!("{name}."))),
            other => Err(format!("'{name}' must be an object, not {}.", kind(other))),
        }
    }

    fn under(object: &'a Map<String, Value>, prefix: String) -> Self {
        Fields {
            object,
            prefix,
            asked: Vec::new(),
        }
    }

    /// `field` as messages name it, quoted: `'agentSetting.agentUrl'`.
    pub fn name(&self, field: &str) -> String {
        format!("'{}{field}'", self.prefix)
    }

    /// Item `index` of the array `field`, as messages name it and as the prefix of
    /// its own fields: `agentSetting.installParameters[0]`, unquoted.
    pub fn item(&self, field: &str, index: usize) -> String {
        format!("{}{field}[{index}]", self.prefix)
    }

    /// The message for a required field left out (or null): `what` says what to give.
    pub fn missing(&self, field: &str, what: &str) -> String {
        format!("{} is required: {what}.", self.name(field))
    }

    /// The message for a field of the wrong kind.
    pub fn wrong(&self, field: &str, expected: &str, got: &Value) -> String {
        format!(
            "{} must be {expected}, not {}.",
            self.name(field),
            kind(got)
        )
    }

    /// `field` as sent, `null` included; `None` when absent.
    pub fn raw(&mut self, field: &'a str) -> Option<&'a Value> {
        self.asked.push(field);
        self.object.get(field)
    }

    /// `field`, with `null` read as absent.
    pub fn value(&mut self, field: &'a str) -> Option<&'a Value> {
        self.raw(field).filter(|v| !v.is_null())
    }

    /// An annotation such as `@odata.type`, which the rule above would ignore.
    pub fn annotation(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key)
    }

    pub fn str(&mut self, field: &'a str) -> Result<Option<&'a str>, String> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(field, "a string", other)),
        }
    }

    pub fn bool(&mut self, field: &'a str) -> Result<Option<bool>, String> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(field, "true or false", other)),
        }
    }

    /// A number, integral or not.
    pub fn f64(&mut self, field: &'a str) -> Result<Option<f64>, String> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.wrong(field, "a number", other)),
        }
    }

    /// A whole number from 0 up.
    pub fn u64(&mut self, field: &'a str) -> Result<Option<u64>, String> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) => Ok(Some(n)),
                None => Err(format!(
                    "{} must be a whole number from 0 up; {n} is not.",
                    self.name(field)
                )),
            },
            Some(other) => Err(self.wrong(field, "a whole number", other)),
        }
    }

    pub fn array(&mut self, field: &'a str) -> Result<Option<&'a [Value]>, String> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(field, "an array", other)),
        }
    }

    /// A nested object, read with its own `Fields` (named below this one's).
    pub fn object(&mut self, field: &'a str) -> Result<Option<Fields<'a>>, String> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Self::under(m, format!("{}{field}.", self.prefix)))),
            Some(other) => Err(self.wrong(field, "an object", other)),
        }
    }

    /// Refuses a field no getter asked for (annotations aside), naming the ones
    /// understood.
    pub fn finish(self) -> Result<(), String> {
        self.finish_with(|unknown, known| {
            format!(
                "{unknown} is not understood here; give {}.",
                match known.is_empty() {
                    true => "no fields".to_owned(),
                    false => known.join(", "),
                }
            )
        })
    }

    /// Leaves whatever no getter asked for, unread and unrefused: only for objects
    /// whose unknown fields Graph itself ignores (a `$batch` item, where
    /// msgraph-core for Python sends `depends_on`). Said by name, so a reader that
    /// does not refuse the rest says so.
    pub fn ignore_rest(self) {}

    /// As [`finish`](Self::finish), with the caller's sentence for an unknown field,
    /// given its quoted name and the fields understood.
    pub fn finish_with(self, message: impl FnOnce(&str, &[&str]) -> String) -> Result<(), String> {
        match self
            .object
            .keys()
            .find(|k| !is_annotation(k) && !self.asked.contains(&k.as_str()))
        {
            None => Ok(()),
            Some(unknown) => {
                let mut known = self.asked.clone();
                known.dedup();
                Err(message(&self.name(unknown), &known))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn getters_read_types_and_treat_null_as_absent() {
        let v =
            json!({"s": "x", "b": true, "n": 3, "f": 1.5, "a": [1], "o": {"k": "v"}, "z": null});
        let mut f = Fields::of(&v, "thing").unwrap();
        assert_eq!(f.str("s"), Ok(Some("x")));
        assert_eq!(f.bool("b"), Ok(Some(true)));
        assert_eq!(f.u64("n"), Ok(Some(3)));
        assert_eq!(f.f64("f"), Ok(Some(1.5)));
        assert_eq!(f.array("a").map(|a| a.map(<[Value]>::len)), Ok(Some(1)));
        let mut inner = f.object("o").unwrap().unwrap();
        assert_eq!(inner.str("k"), Ok(Some("v")));
        assert_eq!(inner.name("k"), "'thing.o.k'");
        assert_eq!(f.str("z"), Ok(None));
        assert_eq!(f.str("absent"), Ok(None));
        assert_eq!(f.finish(), Ok(()));
    }

    #[test]
    fn a_wrong_kind_names_the_field_and_what_it_got() {
        let v = json!({"b": "yes", "n": -1, "o": [1]});
        let mut f = Fields::of(&v, "thing").unwrap();
        assert_eq!(
            f.bool("b").unwrap_err(),
            "'thing.b' must be true or false, not a string."
        );
        assert!(f.u64("n").unwrap_err().contains("from 0 up; -1"));
        assert_eq!(
            f.object("o").unwrap_err(),
            "'thing.o' must be an object, not an array."
        );
        assert_eq!(
            Fields::of(&json!(1), "thing").unwrap_err(),
            "'thing' must be an object, not a number."
        );
    }

    #[test]
    fn finish_refuses_unknown_fields_but_not_annotations() {
        let body = json!({"a": 1, "@odata.type": "#x", "a@odata.type": "y", "c": 2});
        let m = body.as_object().unwrap();
        let mut f = Fields::new(m);
        f.raw("a");
        f.raw("b");
        assert_eq!(f.annotation("@odata.type"), Some(&json!("#x")));
        assert_eq!(
            f.finish().unwrap_err(),
            "'c' is not understood here; give a, b."
        );
        let mut f = Fields::new(m);
        f.raw("c");
        f.raw("a");
        assert_eq!(f.finish(), Ok(()));
        let empty = Map::new();
        let f = Fields::new(m);
        assert_eq!(
            f.finish().unwrap_err(),
            "'a' is not understood here; give no fields."
        );
        assert_eq!(Fields::new(&empty).finish(), Ok(()));
    }
}
