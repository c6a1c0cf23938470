//! Just enough JSON output: objects of string fields, written by hand to keep the command free of
//! dependencies.

use std::fmt::Write;

/// One JSON object, built field by field.
pub struct Object(String);

impl Object {
    pub fn new(source: &str, event: &str) -> Self {
        let mut object = Object(String::with_capacity(96));
        object.0.push('{');
        object.field("source", source).field("event", event)
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_string(&mut self.0, key);
        self.0.push(':');
    }

    pub fn field(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.0, value);
        self
    }

    pub fn number(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        // Infallible: writing to a String.
        let _ = write!(self.0, "{value}");
        self
    }

    /// A number, or `null` when absent.
    pub fn maybe_number(mut self, key: &str, value: Option<i64>) -> Self {
        match value {
            Some(v) => self.number(key, v),
            None => {
                self.key(key);
                self.0.push_str("null");
                self
            }
        }
    }

    /// An object without the source/event pair (for query answers).
    pub fn plain() -> Self {
        Object(String::from("{"))
    }

    /// The object as one line, newline included.
    pub fn line(mut self) -> String {
        self.0.push_str("}\n");
        self.0
    }
}

fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                // Infallible: writing to a String.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings() {
        let line = Object::new("watcher", "created")
            .field("name", "a\"b\\c\n\u{1}é")
            .line();
        let numbers = Object::plain()
            .number("nsid", 3)
            .maybe_number("pid", None)
            .line();
        assert_eq!(numbers, "{\"nsid\":3,\"pid\":null}\n");
        assert_eq!(
            line,
            "{\"source\":\"watcher\",\"event\":\"created\",\"name\":\"a\\\"b\\\\c\\n\\u0001é\"}\n"
        );
    }
}
