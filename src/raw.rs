//! Writing JSON: [`Raw`] holds one JSON value as text (a sandbox event as the sandbox sent
//! it, a row already rendered), and [`Object`] writes a JSON object field by field, its values
//! by serde or as such texts, never parsing them again. Answers, frames and stored events are
//! written this way rather than built as `serde_json::Value` trees (`json!`): less code in the
//! upload and no tree to allocate. (serde_json's own `RawValue` needs its `raw_value`
//! feature, which links a typed deserializer and its error formatting: about 15 KB gzip.)

use serde::Serialize;

/// One JSON value as text, written verbatim into frames and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw(String);

impl Raw {
    /// `text` must be one JSON value: a text that was parsed as JSON, or that serde wrote
    /// (stored events are both). It is not checked again.
    pub fn trusted(text: String) -> Raw {
        Raw(text)
    }

    /// `value` written as JSON (`null` if it cannot be: serde's plain data always can).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Raw {
        Raw(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A JSON array of `items`.
    pub fn array<'a>(items: impl IntoIterator<Item = &'a Raw>) -> Raw {
        let mut text = String::new();
        push_array(&mut text, items);
        Raw(text)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Writes `[item,item,...]` onto `out`.
fn push_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a Raw>) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_str());
    }
    out.push(']');
}

/// A JSON object written field by field. Keys are our own wire names (no character in them
/// needs escaping); values are serde values, [`Raw`] texts, lists of them, or objects.
#[must_use]
pub struct Object(String);

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

impl Object {
    pub fn new() -> Object {
        Object(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        debug_assert!(!key.contains(['"', '\\']), "key {key} needs escaping");
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(key);
        self.0.push_str("\":");
    }

    /// A field whose value serde writes.
    pub fn field<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Object {
        self.key(key);
        self.0.push_str(Raw::of(value).as_str());
        self
    }

    /// A field whose value is a JSON text.
    pub fn raw(mut self, key: &str, value: &Raw) -> Object {
        self.key(key);
        self.0.push_str(value.as_str());
        self
    }

    /// A field whose value is an array of JSON texts.
    pub fn raws<'a>(mut self, key: &str, items: impl IntoIterator<Item = &'a Raw>) -> Object {
        self.key(key);
        push_array(&mut self.0, items);
        self
    }

    /// A field whose value is another object.
    pub fn object(mut self, key: &str, value: Object) -> Object {
        self.key(key);
        self.0.push_str(&value.end());
        self
    }

    /// The object's JSON text.
    pub fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }

    /// The object as a JSON text to embed elsewhere.
    pub fn into_raw(self) -> Raw {
        Raw(self.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn writes_values_and_texts_as_one_valid_object() {
        let events = [
            Raw::trusted(r#"{"type":"token","n":1.10}"#.into()),
            Raw::of(&json!({"a": [1, "two"]})),
        ];
        let text = Object::new()
            .field("type", "history_page")
            .raws("items", &events)
            .field("hasMore", &true)
            .field("cursor", &None::<String>)
            .raw("event", &events[0])
            .object("replay", Object::new().raws("events", []))
            .field("quote", "say \"hi\"\n")
            .end();
        // The raw text is kept byte for byte (serde would write 1.1).
        assert!(text.contains(r#""items":[{"type":"token","n":1.10},"#));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "history_page",
                "items": [{"type": "token", "n": 1.1}, {"a": [1, "two"]}],
                "hasMore": true,
                "cursor": null,
                "event": {"type": "token", "n": 1.1},
                "replay": {"events": []},
                "quote": "say \"hi\"\n",
            })
        );
        assert_eq!(Object::new().end(), "{}");
    }
}
