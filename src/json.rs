//! Reading JSON field by field: a text is parsed once into a tree, and each reader takes
//! the fields it needs with typed getters. Two kinds of getters: lenient ones for answers of
//! services we do not run (a missing field, `null` and a field of another type read alike, as
//! absent; each parser says what it cannot do without), and strict ones for what callers and
//! our own parts send ([`FromJson`]: a field of the wrong type is an error naming it). One
//! generic tree instead of a derived deserializer per type: much less code in the upload.

use serde_json::Value;

/// A value read from JSON by hand (request bodies, commands between our parts); the error
/// says which field is wrong and how.
pub trait FromJson: Sized {
    fn from_json(f: Field) -> Result<Self, String>;
}

/// A JSON value as it is.
impl FromJson for Value {
    fn from_json(f: Field) -> Result<Self, String> {
        Ok(f.value().clone())
    }
}

/// A JSON string.
impl FromJson for String {
    fn from_json(f: Field) -> Result<Self, String> {
        f.str()
            .map(str::to_owned)
            .ok_or_else(|| "expected a string".into())
    }
}

/// An array, each item read as a `T`.
impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(f: Field) -> Result<Self, String> {
        if !f.is_array() {
            return Err("expected an array".into());
        }
        f.items().map(T::from_json).collect()
    }
}

/// Parses `text` and reads it as a `T`: `Err(None)` when it is not JSON, `Err(Some(why))`
/// when it is JSON of another shape.
pub fn read<T: FromJson>(text: &str) -> Result<T, Option<String>> {
    let value = parse(text).ok_or(None)?;
    T::from_json(Field::of(&value)).map_err(Some)
}

fn wrong(key: &str, want: &str) -> String {
    format!("`{key}` must be {want}")
}

fn missing(key: &str) -> String {
    format!("missing field `{key}`")
}

/// What an absent field reads as.
static ABSENT: Value = Value::Null;

/// A place in a parsed JSON text: an object, an array, a scalar, or nothing.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a>(&'a Value);

/// Parses a JSON text (`None`: it is not JSON).
pub fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

impl<'a> Field<'a> {
    pub fn of(value: &'a Value) -> Self {
        Field(value)
    }

    /// The field `key` of this object (absent when this is no object or has no such field).
    pub fn get(self, key: &str) -> Field<'a> {
        Field(self.0.get(key).unwrap_or(&ABSENT))
    }

    /// This field as text.
    pub fn str(self) -> Option<&'a str> {
        self.0.as_str()
    }

    /// The text field `key`, owned.
    pub fn text(self, key: &str) -> Option<String> {
        self.get(key).str().map(str::to_string)
    }

    /// The integer field `key`.
    pub fn int(self, key: &str) -> Option<i64> {
        self.get(key).0.as_i64()
    }

    /// The non-negative integer field `key`.
    pub fn uint(self, key: &str) -> Option<u64> {
        self.get(key).0.as_u64()
    }

    /// The boolean field `key`.
    pub fn bool(self, key: &str) -> Option<bool> {
        self.get(key).0.as_bool()
    }

    /// Whether the boolean field `key` is `true` (absent is `false`).
    pub fn flag(self, key: &str) -> bool {
        self.bool(key) == Some(true)
    }

    /// Whether this field is absent (or `null`).
    pub fn is_absent(self) -> bool {
        self.0.is_null()
    }

    /// This field's items, when it is an array; none otherwise.
    pub fn items(self) -> impl Iterator<Item = Field<'a>> {
        self.0
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(Field)
    }

    /// Whether this field is an array.
    pub fn is_array(self) -> bool {
        self.0.is_array()
    }

    /// This field as a JSON value.
    pub fn value(self) -> &'a Value {
        self.0
    }

    /// The text field `key`, which may be absent (or `null`) but nothing else.
    pub fn opt_string(self, key: &str) -> Result<Option<String>, String> {
        match self.get(key).0 {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(wrong(key, "a string")),
        }
    }

    /// The text field `key`, which must be there.
    pub fn string(self, key: &str) -> Result<String, String> {
        self.opt_string(key)?.ok_or_else(|| missing(key))
    }

    /// The integer field `key`, which may be absent (or `null`) but nothing else.
    pub fn opt_i64(self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key).0 {
            Value::Null => Ok(None),
            v => v.as_i64().map(Some).ok_or_else(|| wrong(key, "an integer")),
        }
    }

    /// The integer field `key`, which must be there.
    pub fn i64(self, key: &str) -> Result<i64, String> {
        self.opt_i64(key)?.ok_or_else(|| missing(key))
    }

    /// The field `key` read by `read` (a name it knows), which may be absent (or `null`).
    pub fn opt_named<T>(self, key: &str, read: fn(&str) -> Option<T>) -> Result<Option<T>, String> {
        match self.opt_string(key)? {
            None => Ok(None),
            Some(name) => read(&name)
                .map(Some)
                .ok_or_else(|| format!("unknown `{key}`: {name}")),
        }
    }

    /// The field `key` read by `read` (a name it knows), which must be there.
    pub fn named<T>(self, key: &str, read: fn(&str) -> Option<T>) -> Result<T, String> {
        self.opt_named(key, read)?.ok_or_else(|| missing(key))
    }

    /// The object field `key` read as a `T`, which must be there.
    pub fn object<T: FromJson>(self, key: &str) -> Result<T, String> {
        let f = self.get(key);
        if !f.0.is_object() {
            return Err(wrong(key, "an object"));
        }
        T::from_json(f)
    }

    /// This field as an object, or an error.
    pub fn require_object(self) -> Result<Self, String> {
        if self.0.is_object() {
            Ok(self)
        } else {
            Err("expected an object".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_and_mistyped_fields_read_alike() {
        let v = parse(r#"{"a":"x","n":5,"neg":-2,"t":true,"z":null,"list":[{"k":1},{"k":2}]}"#)
            .unwrap();
        let f = Field::of(&v);
        assert_eq!(f.text("a").as_deref(), Some("x"));
        assert_eq!(f.text("n"), None, "a number is not text");
        assert_eq!(f.int("n"), Some(5));
        assert_eq!(f.uint("neg"), None);
        assert_eq!(f.int("neg"), Some(-2));
        assert!(f.flag("t") && !f.flag("a") && !f.flag("missing"));
        assert!(f.get("z").is_absent() && f.get("missing").is_absent());
        assert_eq!(f.get("missing").get("deeper").text("x"), None);
        let ks: Vec<i64> = f.get("list").items().filter_map(|i| i.int("k")).collect();
        assert_eq!(ks, vec![1, 2]);
        assert_eq!(f.get("a").items().count(), 0, "text has no items");
        assert!(parse("not json").is_none());
    }

    #[test]
    fn strict_getters_name_the_wrong_field() {
        let v = parse(r#"{"s":"x","n":5,"z":null,"o":{"s":"y"}}"#).unwrap();
        let f = Field::of(&v);
        assert_eq!(f.string("s").unwrap(), "x");
        assert_eq!(f.opt_string("z").unwrap(), None);
        assert_eq!(f.opt_string("missing").unwrap(), None);
        assert_eq!(f.string("n").unwrap_err(), "`n` must be a string");
        assert_eq!(f.string("missing").unwrap_err(), "missing field `missing`");
        assert_eq!(f.opt_i64("n").unwrap(), Some(5));
        assert_eq!(f.opt_i64("s").unwrap_err(), "`s` must be an integer");
        assert_eq!(f.i64("n").unwrap(), 5);
        assert_eq!(f.i64("z").unwrap_err(), "missing field `z`");
        let parse_x = |s: &str| (s == "x").then_some(1);
        assert_eq!(f.named("s", parse_x).unwrap(), 1);
        assert_eq!(f.named("o", parse_x).unwrap_err(), "`o` must be a string");
        assert_eq!(
            f.get("o").named("s", parse_x).unwrap_err(),
            "unknown `s`: y"
        );
        assert!(f.require_object().is_ok() && f.get("s").require_object().is_err());
    }
}
