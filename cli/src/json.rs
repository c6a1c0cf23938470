//! Just enough JSON output: objects of string fields, written by hand (a JSON crate would bring
//! more than the command needs, and no rule for names that are not UTF-8). Every line is valid
//! JSON whatever the bytes: strings are escaped, and names (bytes from the kernel or the file
//! system) follow one rule, so that the exact bytes can always be recovered: a name that is
//! UTF-8 is its field's string; one that is not is its lossy text (U+FFFD for each invalid
//! sequence) in that field, and its exact bytes as hex in a field of the same key with `_hex`
//! appended.

use std::fmt::Write;

use nsmon::Name;

/// One JSON object, built field by field.
pub struct Object(String);

thread_local! {
    /// A line's buffer handed back by [`recycle`], for the next [`Object::new`]: the command
    /// writes a line per event, and one allocation per line showed in its profile.
    static SPARE: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// Hands `line`'s buffer back once it has been written, for the next line to reuse.
pub fn recycle(mut line: String) {
    line.clear();
    SPARE.with(|spare| spare.set(line));
}

impl Object {
    pub fn new(source: &str, event: &str) -> Self {
        // The buffer of a line written already (see `recycle`), or room for a route or link
        // line (about 170 bytes) without growing.
        let mut buffer = SPARE.with(std::cell::Cell::take);
        if buffer.capacity() == 0 {
            buffer.reserve(256);
        }
        let mut object = Object(buffer);
        object.0.push('{');
        object.field("source", source).field("event", event)
    }

    /// Starts the field `key`: one of the command's own names (ASCII letters, digits and `_`),
    /// which needs no escaping.
    // Inlined, as are the setters below: a key is a literal, whose copy then has a known
    // length (a few moves, not a call to memcpy). A line has a dozen.
    #[inline(always)]
    fn key(&mut self, key: &str) {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(key);
        // One character at a time: a short copy of unknown length is a call to memcpy.
        self.0.push('"');
        self.0.push(':');
    }

    #[inline(always)]
    pub fn field(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.0, value);
        self
    }

    #[inline(always)]
    pub fn number(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        push_decimal(&mut self.0, value);
        self
    }

    /// A string field holding an IP address (with `/prefix` when given), written in place:
    /// an address's text needs no escaping.
    pub fn address(mut self, key: &str, address: std::net::IpAddr, prefix: Option<u8>) -> Self {
        self.key(key);
        self.0.push('"');
        match address {
            // By hand: the formatter's machinery cost more than the rest of a route's line.
            std::net::IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.0.push('.');
                    }
                    push_decimal(&mut self.0, i64::from(octet));
                }
            }
            std::net::IpAddr::V6(v6) => {
                // Infallible: writing to a String.
                let _ = write!(self.0, "{v6}");
            }
        }
        if let Some(prefix) = prefix {
            self.0.push('/');
            push_decimal(&mut self.0, i64::from(prefix));
        }
        self.0.push('"');
        self
    }

    /// A number, or `null` when absent.
    #[inline(always)]
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

    /// A name, by the rule in the module docs: `key` (text), plus `key_hex` when not UTF-8.
    pub fn name(self, key: &str, name: &Name) -> Self {
        match name.to_str() {
            Some(text) => self.field(key, text),
            None => self
                .field(key, &name.to_string_lossy())
                .field(&format!("{key}_hex"), &hex(name.as_bytes())),
        }
    }

    /// A list of names: `key` an array of their text, plus `key_hex` (the hex of every one, in
    /// the same order) when any is not UTF-8.
    pub fn names(mut self, key: &str, names: &[Name]) -> Self {
        let array = |out: &mut String, text: &dyn Fn(&Name) -> String| {
            out.push('[');
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(out, &text(name));
            }
            out.push(']');
        };
        self.key(key);
        array(&mut self.0, &|n| n.to_string_lossy().into_owned());
        if names.iter().any(|n| !n.is_utf8()) {
            self.key(&format!("{key}_hex"));
            array(&mut self.0, &|n| hex(n.as_bytes()));
        }
        self
    }

    /// A list of unsigned numbers (or of lists of them: `width` numbers each when above 1).
    pub fn numbers(mut self, key: &str, values: &[u64], width: usize) -> Self {
        self.key(key);
        self.0.push('[');
        for (i, chunk) in values.chunks(width.max(1)).enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let text: Vec<String> = chunk.iter().map(u64::to_string).collect();
            match width {
                0 | 1 => self.0.push_str(&text.join(",")),
                _ => {
                    // Infallible: writing to a String.
                    let _ = write!(self.0, "[{}]", text.join(","));
                }
            }
        }
        self.0.push(']');
        self
    }

    /// Bytes as one hex string.
    pub fn hex(self, key: &str, bytes: &[u8]) -> Self {
        self.field(key, &hex(bytes))
    }

    /// An unsigned number (all 64 bits: JSON numbers have no limit), or `null` when absent.
    pub fn maybe_unsigned(mut self, key: &str, value: Option<u64>) -> Self {
        self.key(key);
        match value {
            // Infallible: writing to a String.
            Some(v) => {
                let _ = write!(self.0, "{v}");
            }
            None => self.0.push_str("null"),
        }
        self
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

/// Lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Infallible: writing to a String.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `value` in decimal, without the formatter's machinery (a line is mostly numbers).
fn push_decimal(out: &mut String, value: i64) {
    // Most of a line's numbers (scopes, protocols, tables, octets) have at most three digits.
    if let Ok(small @ 0..=999) = u16::try_from(value) {
        let digit = |n: u16| char::from(b'0' + (n % 10) as u8);
        if small >= 100 {
            out.push(digit(small / 100));
        }
        if small >= 10 {
            out.push(digit(small / 10));
        }
        out.push(digit(small));
        return;
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// Whether JSON needs `b` escaped in a string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// `s` as a JSON string: the runs that need no escape copied whole (every byte that does is
/// ASCII, so each run ends on a character boundary); a string with none, the common case, at
/// once after a scan without branches.
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().fold(false, |any, b| any | needs_escape(b)) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        match escaped {
            "" => {
                // Infallible: writing to a String.
                let _ = write!(out, "\\u{b:04x}");
            }
            escaped => out.push_str(escaped),
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
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
        for n in [0, 7, -1, 10, 4_294_967_295, i64::MIN, i64::MAX] {
            let line = Object::plain().number("n", n).line();
            assert_eq!(line, format!("{{\"n\":{n}}}\n"));
        }
        for (a, prefix, text) in [
            ("0.0.0.0", None, "0.0.0.0"),
            ("203.0.113.255", Some(32), "203.0.113.255/32"),
            ("2001:db8::1", Some(64), "2001:db8::1/64"),
        ] {
            let line = Object::plain()
                .address("a", a.parse().unwrap(), prefix)
                .line();
            assert_eq!(line, format!("{{\"a\":\"{text}\"}}\n"));
        }
        let lists = Object::plain()
            .numbers("pids", &[1, 2], 1)
            .numbers("fds", &[7, 3, 8, 4], 2)
            .numbers("none", &[], 2)
            .line();
        assert_eq!(
            lists,
            "{\"pids\":[1,2],\"fds\":[[7,3],[8,4]],\"none\":[]}\n"
        );
        assert_eq!(
            line,
            "{\"source\":\"watcher\",\"event\":\"created\",\"name\":\"a\\\"b\\\\c\\n\\u0001é\"}\n"
        );
    }

    #[test]
    fn names_that_are_not_utf8_keep_their_bytes_in_hex() {
        let bad = Name::from(&b"x\xfe\"y"[..]);
        let line = Object::plain()
            .name("name", &bad)
            .name("ok", &Name::from("br0"))
            .line();
        assert_eq!(
            line,
            "{\"name\":\"x\u{fffd}\\\"y\",\"name_hex\":\"78fe2279\",\"ok\":\"br0\"}\n"
        );
        let list = Object::plain()
            .names("alt", &[Name::from("a"), bad.clone()])
            .names("none", &[])
            .line();
        assert_eq!(
            list,
            "{\"alt\":[\"a\",\"x\u{fffd}\\\"y\"],\"alt_hex\":[\"61\",\"78fe2279\"],\"none\":[]}\n"
        );
    }
}
