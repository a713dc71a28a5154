//! Reading the JSON answers of services we do not run (Bitbucket, GitHub, the sandbox
//! provider) field by field: an answer is parsed once into a tree, and each parser takes the
//! fields it needs with typed getters. A missing field, `null` and a field of another type
//! read alike, as absent; each parser says which fields it cannot do without. (One generic
//! tree instead of a derived deserializer per answer type: much less code in the upload.)

use serde_json::Value;

/// What an absent field reads as.
static ABSENT: Value = Value::Null;

/// A place in a parsed answer: an object, an array, a scalar, or nothing.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a>(&'a Value);

/// Parses an answer's text (`None`: it is not JSON).
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
}
