//! Koji's XML-RPC dialect on top of `dxr`: keyword arguments travel as a trailing struct
//! flagged `__starstar`, `<nil/>` and `<i8>` are allowed, and `multiCall` (Koji's own
//! `system.multicall`, with the same arguments and results) batches calls.

use std::collections::BTreeMap;

use dxr::{FaultResponse, MethodCall, MethodResponse, Value};
use thiserror::Error;

/// A response the client cannot make sense of.
#[derive(Debug, Error, PartialEq)]
#[error("{0}")]
pub struct WireError(pub String);

/// A fault the hub answered with: Koji's exception class travels as the code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{} ({code}): {message}", fault_kind(*.code))]
pub struct Fault {
    /// Koji's fault code (1000 `GenericError`, 1019 `ParameterError`, ...).
    pub code: i32,
    /// The hub's message.
    pub message: String,
}

/// The Koji exception class a fault code stands for, as `koji.convertFault` maps them.
pub fn fault_kind(code: i32) -> &'static str {
    match code {
        1000 => "GenericError",
        1001 => "LockError",
        1002 => "AuthError",
        1003 => "TagError",
        1004 => "ActionNotAllowed",
        1005 => "BuildError",
        1006 => "AuthLockError",
        1007 => "AuthExpired",
        1008 => "SequenceError",
        1009 => "RetryError",
        1013 => "FunctionDeprecated",
        1014 => "ServerOffline",
        1019 => "ParameterError",
        1021 => "ConfigurationError",
        _ => "Fault",
    }
}

/// A Rust value that can be sent as an argument.
pub trait Arg {
    /// The XML-RPC value.
    fn into_value(self) -> Value;
}

impl Arg for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl Arg for &str {
    fn into_value(self) -> Value {
        Value::String(self.to_owned())
    }
}

impl Arg for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

impl Arg for bool {
    fn into_value(self) -> Value {
        Value::Boolean(self)
    }
}

impl Arg for i64 {
    fn into_value(self) -> Value {
        int_value(self)
    }
}

impl<T: Arg> Arg for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Nil, Arg::into_value)
    }
}

impl<T: Arg> Arg for Vec<T> {
    fn into_value(self) -> Value {
        Value::Array(self.into_iter().map(Arg::into_value).collect())
    }
}

/// One remote call: positional arguments, then keyword arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The hub method.
    pub method: String,
    args: Vec<Value>,
    kwargs: BTreeMap<String, Value>,
}

impl Call {
    /// A call of `method` with no arguments yet.
    pub fn new(method: &str) -> Call {
        Call {
            method: method.to_owned(),
            args: Vec::new(),
            kwargs: BTreeMap::new(),
        }
    }

    /// Adds a positional argument.
    pub fn arg(mut self, value: impl Arg) -> Call {
        self.args.push(value.into_value());
        self
    }

    /// Adds a keyword argument.
    pub fn kwarg(mut self, name: &str, value: impl Arg) -> Call {
        self.kwargs.insert(name.to_owned(), value.into_value());
        self
    }

    /// The parameters as they go on the wire.
    pub fn params(&self) -> Vec<Value> {
        let mut params = self.args.clone();
        if !self.kwargs.is_empty() {
            let mut kwargs = self.kwargs.clone();
            kwargs.insert("__starstar".into(), Value::Boolean(true));
            params.push(Value::Struct(kwargs));
        }
        params
    }

    /// The `<methodCall>` document.
    pub fn to_xml(&self) -> Result<String, WireError> {
        let call = MethodCall {
            name: self.method.as_str().into(),
            params: self.params(),
        };
        call.to_xml()
            .map(|body| format!("<?xml version=\"1.0\"?>\n{body}"))
            .map_err(|e| WireError(e.to_string()))
    }
}

/// One `multiCall` over `calls`.
pub fn multicall(calls: &[Call]) -> Call {
    let entries = calls
        .iter()
        .map(|c| {
            Value::Struct(BTreeMap::from([
                ("methodName".to_owned(), Value::String(c.method.clone())),
                ("params".to_owned(), Value::Array(c.params())),
            ]))
        })
        .collect();
    Call::new("multiCall").arg(Value::Array(entries))
}

/// Reads a `<methodResponse>`: the value or the fault.
pub fn read_response(body: &str) -> Result<Result<Value, Fault>, WireError> {
    let body = strip_declaration(body);
    if body.contains("<fault>") {
        let fault = FaultResponse::from_xml(body)
            .map_err(|e| WireError(format!("unreadable fault: {}", short(&e.to_string()))))?
            .fault;
        return Ok(Err(Fault {
            code: fault.code(),
            message: fault.string().to_owned(),
        }));
    }
    MethodResponse::from_xml(body)
        .map(|r| Ok(r.value))
        .map_err(|e| WireError(format!("unreadable response: {}", short(&e.to_string()))))
}

/// Splits a multicall result into one outcome per call.
pub fn read_multicall(
    value: Value,
    expected: usize,
) -> Result<Vec<Result<Value, Fault>>, WireError> {
    let Value::Array(entries) = value else {
        return Err(WireError("multiCall did not return an array".into()));
    };
    if entries.len() != expected {
        return Err(WireError(format!(
            "multiCall returned {} results for {expected} calls",
            entries.len()
        )));
    }
    entries
        .into_iter()
        .map(|entry| match entry {
            Value::Array(mut one) if one.len() == 1 => Ok(Ok(one.remove(0))),
            Value::Struct(fault) => Ok(Err(Fault {
                code: match fault.get("faultCode") {
                    Some(Value::Integer(c)) => *c,
                    _ => 0,
                },
                message: match fault.get("faultString") {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                },
            })),
            _ => Err(WireError("malformed multiCall entry".into())),
        })
        .collect()
}

fn strip_declaration(body: &str) -> &str {
    let body = body.trim_start();
    match body.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map_or(body, |end| rest[end + 2..].trim_start()),
        None => body,
    }
}

fn short(text: &str) -> &str {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// Typed access to the fields of a struct a hub returned.
pub struct Record<'a>(pub &'a BTreeMap<String, Value>);

impl<'a> Record<'a> {
    /// The record in `value`, which must be a struct.
    pub fn of(value: &'a Value, what: &str) -> Result<Record<'a>, WireError> {
        match value {
            Value::Struct(map) => Ok(Record(map)),
            _ => Err(WireError(format!("{what} is not a struct"))),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.0.get(key) {
            None | Some(Value::Nil) => None,
            Some(v) => Some(v),
        }
    }

    /// An integer field (`i4` or `i8`); missing or nil is an error.
    pub fn int(&self, key: &str) -> Result<i64, WireError> {
        self.opt_int(key)?
            .ok_or_else(|| WireError(format!("field {key} is missing")))
    }

    /// An integer field that may be nil.
    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, WireError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_int(v)
                .map(Some)
                .ok_or_else(|| WireError(format!("field {key} is not an integer"))),
        }
    }

    /// A string field; missing or nil is an error.
    pub fn string(&self, key: &str) -> Result<String, WireError> {
        self.opt_string(key)?
            .ok_or_else(|| WireError(format!("field {key} is missing")))
    }

    /// A string field that may be nil.
    pub fn opt_string(&self, key: &str) -> Result<Option<String>, WireError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(WireError(format!("field {key} is not a string"))),
        }
    }

    /// A boolean field; missing or nil reads as false.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(Value::Boolean(true)))
    }
}

/// An integer value in either width.
pub fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => Some(i64::from(*i)),
        Value::Long(l) => Some(*l),
        _ => None,
    }
}

/// An integer as Koji's marshaller sends it: `i4` when it fits, else `i8`.
pub fn int_value(n: i64) -> Value {
    i32::try_from(n).map_or(Value::Long(n), Value::Integer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_arguments_travel_as_a_flagged_struct() {
        let xml = Call::new("listTaggedRPMS")
            .arg("f40-build")
            .kwarg("latest", true)
            .kwarg("event", 5_000_000_000_i64)
            .kwarg("arch", Value::Nil)
            .to_xml()
            .expect("encodes");
        assert!(xml.contains("<methodName>listTaggedRPMS</methodName>"));
        assert!(xml.contains("<name>__starstar</name><value><boolean>1</boolean></value>"));
        assert!(xml.contains("<i8>5000000000</i8>"));
        assert!(
            xml.contains("<name>arch</name><value><nil/></value>")
                || xml.contains("<name>arch</name><value><nil></nil></value>")
                || xml.contains("<name>arch</name><value><nil /></value>"),
            "{xml}"
        );
    }

    #[test]
    fn faults_carry_code_and_message() {
        let body = "<?xml version='1.0'?>\n<methodResponse><fault><value><struct>\
            <member><name>faultCode</name><value><int>1000</int></value></member>\
            <member><name>faultString</name><value><string>No such build: x-1-1</string></value></member>\
            </struct></value></fault></methodResponse>";
        let fault = read_response(body).expect("parses").expect_err("a fault");
        assert_eq!(fault.code, 1000);
        assert_eq!(
            fault.to_string(),
            "GenericError (1000): No such build: x-1-1"
        );
    }

    #[test]
    fn python_style_values_are_read() {
        let body = "<?xml version='1.0'?>\n<methodResponse><params><param><value><struct>\
            <member><name>id</name><value><int>7</int></value></member>\
            <member><name>big</name><value><i8>9000000000</i8></value></member>\
            <member><name>arches</name><value><nil/></value></member>\
            <member><name>name</name><value>bare string</value></member>\
            </struct></value></param></params></methodResponse>";
        let value = read_response(body).expect("parses").expect("a value");
        let record = Record::of(&value, "tag").expect("struct");
        assert_eq!(record.int("id"), Ok(7));
        assert_eq!(record.int("big"), Ok(9_000_000_000));
        assert_eq!(record.opt_string("arches"), Ok(None));
        assert_eq!(record.string("name").as_deref(), Ok("bare string"));
        assert!(record.int("missing").is_err());
    }

    #[test]
    fn multicall_results_split_into_values_and_faults() {
        let value = Value::Array(vec![
            Value::Array(vec![Value::Integer(1)]),
            Value::Struct(BTreeMap::from([
                ("faultCode".to_owned(), Value::Integer(1019)),
                ("faultString".to_owned(), Value::String("bad".into())),
            ])),
        ]);
        let results = read_multicall(value, 2).expect("splits");
        assert_eq!(results[0], Ok(Value::Integer(1)));
        assert_eq!(results[1].as_ref().expect_err("fault").code, 1019);
        assert!(read_multicall(Value::Array(vec![]), 1).is_err());
    }

    #[test]
    fn multicall_wraps_each_call() {
        let xml = multicall(&[Call::new("getLastEvent"), Call::new("getTag").arg("t")])
            .to_xml()
            .expect("encodes");
        assert!(xml.contains("<methodName>multiCall</methodName>"));
        assert_eq!(xml.matches("<name>methodName</name>").count(), 2);
    }
}
