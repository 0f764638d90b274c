//! JSON values written as Python writes them (`repr`), for the reference's messages that quote
//! a request's data that way (`received: {'source': 'f40'}`, `allowed keys are: ['id', …]`).

use std::fmt::Write;

use serde_json::Value;

/// `text` as Python's `repr` of a `str`: single quotes unless the text has a single quote and
/// no double quote, backslashes and control characters escaped.
pub fn string(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `value` as Python's `repr` of what `json.loads` makes of it (object keys in `serde_json`'s
/// order, sorted, where Python keeps the request's order).
pub fn value(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(self::value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", string(k), self::value(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A list of strings as Python's `repr` of a list.
pub fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(string).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_read_as_python_prints_them() {
        assert_eq!(
            value(&json!({"source": "f40", "n": 1, "ok": true, "x": null, "l": ["a"]})),
            "{'l': ['a'], 'n': 1, 'ok': True, 'source': 'f40', 'x': None}"
        );
        assert_eq!(string("it's"), "\"it's\"");
        assert_eq!(string("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(string("line\n"), "'line\\n'");
        assert_eq!(list(["id", "owner"]), "['id', 'owner']");
    }
}
