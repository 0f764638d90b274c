//! Pungi configuration files: the Python-like `kobo.conf` format Pungi reads, evaluated the way
//! kobo's `PyConfigParser` evaluates it, so the worker knows what Pungi will see (the release
//! names the compose id is made of) and can write the `pungi.json` Pungi is given.
//!
//! The format: `name = value` statements, values being strings (taken as written, with no
//! escape processing, as kobo takes them), numbers, `True`/`False`/`None`, lists, tuples,
//! dicts, earlier names, and `"format" % values` with `%s`/`%d`/`%i`/`%r`/`%(key)s`;
//! `from file import *` (or `import a, b`) reading `file.conf` beside the importing file; and
//! `global name` making `name` visible to files imported after it. Imports never leave the
//! directory tree the evaluation was rooted at, so a configuration cannot make the worker read
//! other files.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use thiserror::Error;

/// Why a configuration cannot be evaluated.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An import names a file outside the configuration's directory.
    #[error("{file}: imports {import}, which is outside the configuration's directory")]
    Outside {
        /// The importing file.
        file: String,
        /// The file it imports.
        import: String,
    },
    /// The text is not valid.
    #[error("{file}, line {line}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A value of a configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfValue {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<ConfValue>),
    /// A tuple.
    Tuple(Vec<ConfValue>),
    /// A dict, in the order it was written.
    Dict(Vec<(ConfValue, ConfValue)>),
}

impl ConfValue {
    /// The value as `json.dumps` writes it (tuples as arrays, dict keys as strings).
    pub fn to_json(&self) -> Value {
        match self {
            ConfValue::None => Value::Null,
            ConfValue::Bool(b) => Value::Bool(*b),
            ConfValue::Int(i) => Value::from(*i),
            ConfValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            ConfValue::Str(s) => Value::String(s.clone()),
            ConfValue::List(items) | ConfValue::Tuple(items) => {
                Value::Array(items.iter().map(ConfValue::to_json).collect())
            }
            ConfValue::Dict(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.json_key(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A dict key as `json.dumps` writes it.
    fn json_key(&self) -> String {
        match self {
            ConfValue::Str(s) => s.clone(),
            ConfValue::None => "null".into(),
            ConfValue::Bool(b) => b.to_string(),
            other => other.python_str(),
        }
    }

    /// What Python's `str()` gives.
    fn python_str(&self) -> String {
        match self {
            ConfValue::Str(s) => s.clone(),
            other => other.python_repr(),
        }
    }

    /// What Python's `repr()` gives.
    fn python_repr(&self) -> String {
        let join = |items: &[ConfValue]| {
            items
                .iter()
                .map(ConfValue::python_repr)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            ConfValue::None => "None".into(),
            ConfValue::Bool(true) => "True".into(),
            ConfValue::Bool(false) => "False".into(),
            ConfValue::Int(i) => i.to_string(),
            ConfValue::Float(f) if f.fract() == 0.0 && f.is_finite() => format!("{f:.1}"),
            ConfValue::Float(f) => f.to_string(),
            ConfValue::Str(s) if s.contains('\'') && !s.contains('"') => format!("\"{s}\""),
            ConfValue::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            ConfValue::List(items) => format!("[{}]", join(items)),
            ConfValue::Tuple(items) if items.len() == 1 => format!("({},)", join(items)),
            ConfValue::Tuple(items) => format!("({})", join(items)),
            ConfValue::Dict(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.python_repr(), v.python_repr()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// An evaluated configuration: its names in the order they were first set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conf {
    entries: Vec<(String, ConfValue)>,
    globals: Vec<String>,
}

impl Conf {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&ConfValue> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn set(&mut self, name: String, value: ConfValue) {
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The configuration as the JSON object Pungi's `pungi.json` holds.
    pub fn to_json(&self) -> Map<String, Value> {
        self.entries
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect()
    }

    /// Evaluates `file`, whose imports must stay under `root`.
    pub fn load(file: &Path, root: &Path) -> Result<Conf, ConfError> {
        let root = root.canonicalize().map_err(|source| ConfError::Read {
            path: root.to_owned(),
            source,
        })?;
        let file = file.canonicalize().map_err(|source| ConfError::Read {
            path: file.to_owned(),
            source,
        })?;
        load_file(&file, &root, Conf::default())
    }
}

fn load_file(file: &Path, root: &Path, initial: Conf) -> Result<Conf, ConfError> {
    let name = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let text = std::fs::read_to_string(file).map_err(|source| ConfError::Read {
        path: file.to_owned(),
        source,
    })?;
    let tokens = tokenize(&text).map_err(|(line, message)| ConfError::Syntax {
        file: name.clone(),
        line,
        message,
    })?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        file,
        name,
        root,
        conf: initial,
    };
    parser.statements()?;
    Ok(parser.conf)
}

/// `path` with `.` and `..` resolved without the filesystem.
fn lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Number(String),
    Str(String),
    Op(char),
    Newline,
    End,
}

/// Splits `text` into tokens with their lines, as Python's tokenizer would for this subset.
fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, (usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                tokens.push((Tok::Newline, line));
                line += 1;
                i += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                line += 1;
                i += 2;
            }
            c if c.is_whitespace() => i += 1,
            '"' | '\'' => {
                let start_line = line;
                let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
                let quote_len = if triple { 3 } else { 1 };
                i += quote_len;
                let mut value = String::new();
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err((start_line, "the string does not end".into()));
                    };
                    let closes = ch == c
                        && (!triple
                            || (chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c)));
                    if closes {
                        i += quote_len;
                        break;
                    }
                    if ch == '\n' {
                        if !triple {
                            return Err((start_line, "the string does not end".into()));
                        }
                        line += 1;
                    }
                    if ch == '\\' {
                        if let Some(&next) = chars.get(i + 1) {
                            value.push(ch);
                            value.push(next);
                            if next == '\n' {
                                line += 1;
                            }
                            i += 2;
                            continue;
                        }
                    }
                    value.push(ch);
                    i += 1;
                }
                tokens.push((Tok::Str(value), start_line));
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || chars[i] == '_'
                        || ((chars[i] == '+' || chars[i] == '-')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                tokens.push((Tok::Number(chars[start..i].iter().collect()), line));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                if matches!(chars.get(i), Some('"' | '\'')) {
                    return Err((line, "string prefixes are not supported".into()));
                }
                tokens.push((Tok::Name(chars[start..i].iter().collect()), line));
            }
            c => {
                tokens.push((Tok::Op(c), line));
                i += 1;
            }
        }
    }
    tokens.push((Tok::End, line));
    Ok(tokens)
}

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

struct Parser<'a> {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    file: &'a Path,
    name: String,
    root: &'a Path,
    conf: Conf,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ConfError {
        let line = self
            .tokens
            .get(self.pos.saturating_sub(1))
            .map_or(1, |t| t.1);
        ConfError::Syntax {
            file: self.name.clone(),
            line,
            message: message.into(),
        }
    }

    /// The next token, newlines included.
    fn next_raw(&mut self) -> Tok {
        let tok = self.tokens.get(self.pos).map_or(Tok::End, |t| t.0.clone());
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    /// The next token that is not a newline.
    fn next(&mut self) -> Tok {
        loop {
            match self.next_raw() {
                Tok::Newline => continue,
                tok => return tok,
            }
        }
    }

    fn peek_raw(&self) -> Tok {
        self.tokens.get(self.pos).map_or(Tok::End, |t| t.0.clone())
    }

    fn statements(&mut self) -> Result<(), ConfError> {
        loop {
            let mut tok = self.next();
            if tok == Tok::Name("from".into()) {
                self.import()?;
                continue;
            }
            let global = tok == Tok::Name("global".into());
            if global {
                tok = self.next();
            }
            let name = match tok {
                Tok::End => return Ok(()),
                Tok::Name(name) if KEYWORDS.contains(&name.as_str()) => {
                    return Err(self.error(format!("cannot assign to a python keyword: {name}")))
                }
                Tok::Name(name) => name,
                other => return Err(self.error(format!("expected a name, found {other:?}"))),
            };
            if name.starts_with('_') {
                return Err(self.error(format!("names starting with _ cannot be set: {name}")));
            }
            let value = if global {
                self.conf.globals.push(name.clone());
                ConfValue::None
            } else {
                match self.next() {
                    Tok::Op('=') => {}
                    other => return Err(self.error(format!("expected =, found {other:?}"))),
                }
                let tok = self.next();
                self.value(tok, false)?
            };
            self.conf.set(name, value);
        }
    }

    fn import(&mut self) -> Result<(), ConfError> {
        let mut module = String::new();
        loop {
            match self.next() {
                Tok::Name(n) if n == "import" => break,
                Tok::Name(n) | Tok::Number(n) | Tok::Str(n) => module.push_str(&n),
                Tok::Op(c) => module.push(c),
                Tok::Newline | Tok::End => return Err(self.error("an import without `import`")),
            }
        }
        let mut names = Vec::new();
        loop {
            match self.next_raw() {
                Tok::Newline | Tok::End => break,
                Tok::Op(',') => {}
                Tok::Op('*') => names.push("*".to_owned()),
                Tok::Name(n) => names.push(n),
                other => return Err(self.error(format!("cannot import {other:?}"))),
            }
        }
        let dir = self.file.parent().unwrap_or(self.root);
        let wanted = dir.join(format!("{module}.conf"));
        let outside = || ConfError::Outside {
            file: self.name.clone(),
            import: format!("{module}.conf"),
        };
        if !lexically(&wanted).starts_with(self.root) {
            return Err(outside());
        }
        let path = match wanted.canonicalize() {
            Ok(path) if path.starts_with(self.root) => path,
            Ok(_) => return Err(outside()),
            Err(source) => {
                return Err(ConfError::Read {
                    path: wanted,
                    source,
                })
            }
        };
        let mut initial = Conf::default();
        for global in &self.conf.globals {
            if let Some(value) = self.conf.get(global) {
                initial.set(global.clone(), value.clone());
            }
        }
        initial.globals = self.conf.globals.clone();
        let imported = load_file(&path, self.root, initial)?;
        for global in &imported.globals {
            if !self.conf.globals.contains(global) {
                self.conf.globals.push(global.clone());
            }
        }
        if names.iter().any(|n| n == "*") {
            for (k, v) in imported.entries {
                self.conf.set(k, v);
            }
        } else {
            for name in names {
                let value = imported.get(&name).cloned().ok_or_else(|| {
                    self.error(format!("cannot import {name} from {module}.conf"))
                })?;
                self.conf.set(name, value);
            }
        }
        Ok(())
    }

    /// The value starting at `tok`; `key` restricts it to what a dict key may be.
    fn value(&mut self, tok: Tok, key: bool) -> Result<ConfValue, ConfError> {
        match tok {
            Tok::Op('-') => match self.next() {
                Tok::Number(n) => Ok(match self.number(&n)? {
                    ConfValue::Int(i) => ConfValue::Int(-i),
                    ConfValue::Float(f) => ConfValue::Float(-f),
                    other => other,
                }),
                other => Err(self.error(format!("expected a number after -, found {other:?}"))),
            },
            Tok::Name(n) => match n.as_str() {
                "True" => Ok(ConfValue::Bool(true)),
                "False" => Ok(ConfValue::Bool(false)),
                "None" => Ok(ConfValue::None),
                _ => match self.conf.get(&n) {
                    Some(value) if !n.starts_with('_') => Ok(value.clone()),
                    _ => Err(self.error(format!("undefined variable {n:?}"))),
                },
            },
            Tok::Number(n) => self.number(&n),
            Tok::Str(s) => {
                if self.peek_raw() != Tok::Op('%') {
                    return Ok(ConfValue::Str(s));
                }
                self.next_raw();
                let tok = self.next();
                let args = self.value(tok, false)?;
                format(&s, &args)
                    .map(ConfValue::Str)
                    .map_err(|m| self.error(m))
            }
            Tok::Op('{') if !key => self.dict(),
            Tok::Op('[') if !key => Ok(ConfValue::List(self.items(']')?)),
            Tok::Op('(') if !key => Ok(ConfValue::Tuple(self.items(')')?)),
            other => Err(self.error(format!("expected a value, found {other:?}"))),
        }
    }

    fn number(&self, text: &str) -> Result<ConfValue, ConfError> {
        let clean = text.replace('_', "");
        let parsed = if clean.contains('.') || clean.contains(['e', 'E']) {
            clean.parse().map(ConfValue::Float).ok()
        } else {
            clean.parse().map(ConfValue::Int).ok()
        };
        parsed.ok_or_else(|| self.error(format!("invalid number {text}")))
    }

    fn skip_commas(&mut self, mut tok: Tok) -> Tok {
        while tok == Tok::Op(',') {
            tok = self.next();
        }
        tok
    }

    fn items(&mut self, close: char) -> Result<Vec<ConfValue>, ConfError> {
        let mut items = Vec::new();
        loop {
            let tok = self.next();
            let tok = self.skip_commas(tok);
            if tok == Tok::Op(close) {
                return Ok(items);
            }
            if tok == Tok::End {
                return Err(self.error(format!("missing {close}")));
            }
            items.push(self.value(tok, false)?);
        }
    }

    fn dict(&mut self) -> Result<ConfValue, ConfError> {
        let mut entries: Vec<(ConfValue, ConfValue)> = Vec::new();
        loop {
            let tok = self.next();
            let tok = self.skip_commas(tok);
            if tok == Tok::Op('}') {
                return Ok(ConfValue::Dict(entries));
            }
            if tok == Tok::End {
                return Err(self.error("missing }"));
            }
            let key = self.value(tok, true)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(self.error(format!("duplicate dict key {}", key.python_repr())));
            }
            match self.next() {
                Tok::Op(':') => {}
                other => return Err(self.error(format!("expected :, found {other:?}"))),
            }
            let tok = self.next();
            let value = self.value(tok, false)?;
            entries.push((key, value));
        }
    }
}

/// Python's `format % args` for the conversions configurations use.
fn format(template: &str, args: &ConfValue) -> Result<String, String> {
    let positional: Vec<ConfValue> = match args {
        ConfValue::Tuple(items) => items.clone(),
        ConfValue::Dict(_) => Vec::new(),
        other => vec![other.clone()],
    };
    let mut next_arg = positional.iter();
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let value = match chars.peek() {
            Some('%') => {
                chars.next();
                out.push('%');
                continue;
            }
            Some('(') => {
                chars.next();
                let key: String = chars.by_ref().take_while(|&c| c != ')').collect();
                let ConfValue::Dict(entries) = args else {
                    return Err("format requires a dict".into());
                };
                entries
                    .iter()
                    .find(|(k, _)| *k == ConfValue::Str(key.clone()))
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("no key {key:?} to format"))?
            }
            _ => next_arg
                .next()
                .cloned()
                .ok_or("not enough arguments for format string")?,
        };
        match chars.next() {
            Some('s') => out.push_str(&value.python_str()),
            Some('r') => out.push_str(&value.python_repr()),
            Some('d' | 'i') => match value {
                ConfValue::Int(i) => out.push_str(&i.to_string()),
                ConfValue::Bool(b) => out.push_str(if b { "1" } else { "0" }),
                ConfValue::Float(f) => out.push_str(&(f.trunc() as i64).to_string()),
                other => return Err(format!("%d format: a number is required, not {other:?}")),
            },
            other => return Err(format!("unsupported format character {other:?}")),
        }
    }
    if next_arg.next().is_some() {
        return Err("not all arguments converted during string formatting".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(files: &[(&str, &str)]) -> Result<Value, ConfError> {
        let dir = std::env::temp_dir().join(format!("kobo-conf-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, text).expect("write");
        }
        let result = Conf::load(&dir.join(files[0].0), &dir).map(|c| Value::Object(c.to_json()));
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn values_evaluate_as_kobo_evaluates_them() {
        let conf = eval(&[(
            "pungi.conf",
            r#"
# a comment
release_name = "Fedora"   # trailing comment
release_short = 'F'
release_version = "%s.%d" % ("41", 2)
release_is_layered = False
count = -3
ratio = 1.5
nothing = None
name = release_name
variants = [
    "Server",
    'Everything',
]
pair = ("a", 1,)
single = (1)
gather = {
    "^Server$": {"*": ["pkg"]},
    1: True,
}
path = "%(short)s-%(v)s" % {"short": release_short, "v": release_version}
raw = "a\nb"
long = """x
y"""
"#,
        )])
        .expect("valid");
        assert_eq!(
            conf,
            json!({
                "release_name": "Fedora",
                "release_short": "F",
                "release_version": "41.2",
                "release_is_layered": false,
                "count": -3,
                "ratio": 1.5,
                "nothing": null,
                "name": "Fedora",
                "variants": ["Server", "Everything"],
                "pair": ["a", 1],
                "single": [1],
                "gather": {"^Server$": {"*": ["pkg"]}, "1": true},
                "path": "F-41.2",
                "raw": "a\\nb",
                "long": "x\ny",
            })
        );
    }

    #[test]
    fn imports_and_globals_follow_kobo() {
        let conf = eval(&[
            ("pungi.conf", "global koji_profile\nkoji_profile = 'odcs'\nfrom sub/raw_config import *\nrelease_short = 'OVR'\n"),
            ("sub/raw_config.conf", "release_short = 'RAW'\nprofile_seen = koji_profile\nfrom extra import only, other\n"),
            ("sub/extra.conf", "only = 1\nother = [2]\nnot_imported = 3\n"),
        ])
        .expect("valid");
        assert_eq!(
            conf,
            json!({"koji_profile": "odcs", "release_short": "OVR", "profile_seen": "odcs",
                   "only": 1, "other": [2]})
        );
    }

    #[test]
    fn bad_configurations_are_refused_with_their_line() {
        let cases = [
            (
                "a = 1\nb = undefined\n",
                "line 2: undefined variable \"undefined\"",
            ),
            ("a = {'k': 1, 'k': 2}\n", "duplicate dict key 'k'"),
            ("class = 1\n", "cannot assign to a python keyword: class"),
            ("a = 'open\n", "line 1: the string does not end"),
            ("a = '%s %s' % ('x',)\n", "not enough arguments"),
            ("_private = 1\n", "names starting with _"),
            ("a = r'x'\n", "string prefixes"),
        ];
        for (text, expected) in cases {
            let error = eval(&[("pungi.conf", text)]).expect_err(text).to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn imports_cannot_leave_the_configuration_directory() {
        let outside = std::env::temp_dir().join("kobo-conf-outside.conf");
        std::fs::write(&outside, "secret = 1\n").expect("write");
        let error =
            eval(&[("pungi.conf", "from ../kobo-conf-outside import *\n")]).expect_err("outside");
        assert!(matches!(error, ConfError::Outside { .. }), "{error}");
        let _ = std::fs::remove_file(outside);
    }
}
