//! Reading JSON. What we write and read ourselves (request bodies, commands between our
//! parts, socket attachments, cached listings) is read by serde's derived `Deserialize` of
//! the same type that writes it, through [`read`]: one definition per wire name, and an
//! error that names the field at fault. Answers of services we do not run are read field by
//! field with [`Field`]'s getters: lenient ones (a missing field, `null` and a field of another
//! type read alike, as absent; each parser says what it cannot do without) and strict ones
//! for a field we need, which may be absent but is an error when it has another type.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses `text` and reads it as a `T`: `Err(None)` when it is not JSON, `Err(Some(why))`
/// when it is JSON of another shape (`why` names the field, e.g. ``page.limit: invalid
/// type: string "x", expected u32``).
pub fn read<T: DeserializeOwned>(text: &str) -> Result<T, Option<String>> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(e) if e.classify() != serde_json::error::Category::Data => Err(None),
        // Read again, only to say where: tracking the path costs on every field.
        Err(e) => Err(Some(
            where_wrong::<T>(text).unwrap_or_else(|| e.to_string()),
        )),
    }
}

/// What is wrong with `text` as a `T`, with the path of the field at fault.
fn where_wrong<T: DeserializeOwned>(text: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let e = serde_path_to_error::deserialize::<_, T>(&mut de).err()?;
    Some(match e.path().to_string().as_str() {
        "." => e.inner().to_string(),
        path => format!("{path}: {}", e.inner()),
    })
}

/// Whether `text` is a JSON object (its first token is `{`; [`read`] says whether the rest
/// is JSON): derived readers also take a struct's fields as an array, which no body,
/// command or attachment of ours is.
pub fn is_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
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

    /// The text field `key` of a field we need: absent (or `null`) is `None`, a value of
    /// another type is an error naming it.
    pub fn need_text(self, key: &str) -> Result<Option<&'a str>, String> {
        match self.get(key).0 {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(format!("`{key}` must be a string")),
        }
    }

    /// The array field `key` of a field we need: its items (none when absent or `null`), or
    /// an error naming it when it holds another type.
    pub fn need_items(self, key: &str) -> Result<impl Iterator<Item = Field<'a>>, String> {
        let f = self.get(key);
        if f.is_absent() || f.is_array() {
            Ok(f.items())
        } else {
            Err(format!("`{key}` must be an array"))
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
    fn needed_fields_may_be_absent_but_not_mistyped() {
        let v = parse(r#"{"s":"x","n":5,"z":null,"a":[1,2],"o":{}}"#).unwrap();
        let f = Field::of(&v);
        assert_eq!(f.need_text("s"), Ok(Some("x")));
        assert_eq!(f.need_text("z"), Ok(None));
        assert_eq!(f.need_text("missing"), Ok(None));
        assert_eq!(f.need_text("n"), Err("`n` must be a string".into()));
        assert_eq!(f.need_items("a").map(Iterator::count), Ok(2));
        assert_eq!(f.need_items("missing").map(Iterator::count), Ok(0));
        assert_eq!(
            f.need_items("o").map(Iterator::count),
            Err("`o` must be an array".into())
        );
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Pair {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Inner {
        limit: u32,
    }

    #[test]
    fn derived_readers_name_the_wrong_field() {
        assert_eq!(
            read::<Pair>(r#"{"name":"a","inner":{"limit":3}}"#),
            Ok(Pair {
                name: "a".into(),
                inner: Some(Inner { limit: 3 })
            })
        );
        let err = read::<Pair>(r#"{"name":"a","inner":{"limit":"x"}}"#).unwrap_err();
        assert!(
            err.as_deref()
                .unwrap()
                .starts_with("inner.limit: invalid type"),
            "{err:?}"
        );
        let err = read::<Pair>(r#"{"inner":null}"#).unwrap_err();
        assert_eq!(
            err.as_deref(),
            Some("missing field `name` at line 1 column 14")
        );
        assert_eq!(read::<Pair>("{"), Err(None));
        assert_eq!(read::<Pair>(r#"{"name":"a"} x"#), Err(None));
        assert!(is_object(" {}") && !is_object("[]"));
    }
}
