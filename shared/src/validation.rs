//! Validation of `POST /transaction/broadcast` bodies.
//!
//! Two layers, two kinds of error: [`RequestError`] is a body that is not the request's shape at
//! all (HTTP 400); [`CallError`] is a well-shaped request whose content is wrong (HTTP 422). Each
//! error has a stable snake_case `code()` for machines and a `Display` for humans that says
//! exactly what is wrong.

use std::collections::BTreeSet;

use alloy::dyn_abi::{JsonAbiExt, Specifier};
use alloy::json_abi::Function;
use alloy::primitives::{Bytes, Selector, hex};
use serde_json::{Map, Value};

/// The largest body the API reads.
pub const MAX_BODY_BYTES: usize = 128 * 1024;

const FIELDS: [&str; 2] = ["message_type", "data"];

/// The request's two fields, as strings, before their content is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastRequest {
    pub message_type: String,
    pub data: String,
}

/// The body is not a broadcast request: HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("request body must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("unknown field `{field}`{hint}; the body takes exactly `message_type` and `data`")]
    UnknownField { field: String, hint: String },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("field `{field}` must be a string, got {got}")]
    NotAString {
        field: &'static str,
        got: &'static str,
    },
}

impl RequestError {
    pub const fn code(&self) -> &'static str {
        match self {
            RequestError::TooLarge { .. } => "body_too_large",
            RequestError::InvalidJson(_) => "invalid_json",
            RequestError::NotAnObject(_) => "body_not_object",
            RequestError::UnknownField { .. } => "unknown_field",
            RequestError::MissingField(_) => "missing_field",
            RequestError::NotAString { .. } => "invalid_field_type",
        }
    }
}

/// The request is well-shaped but its content is wrong: HTTP 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error(
        "`message_type` is not a Solidity function signature ({reason}); expected e.g. `add_weight(address _addr, uint256 _weight)`"
    )]
    InvalidSignature { reason: String },
    #[error("`data` is not 0x-prefixed hex: {0}")]
    InvalidHex(String),
    #[error("`data` is {len} bytes long; it must start with the 4-byte function selector")]
    MissingSelector { len: usize },
    #[error(
        "selector mismatch: `{signature}` has selector {expected} but `data` starts with {found}"
    )]
    SelectorMismatch {
        signature: String,
        expected: Selector,
        found: Selector,
    },
    #[error("the arguments in `data` do not ABI-decode as `{signature}`: {reason}")]
    Undecodable { signature: String, reason: String },
    #[error("message type `{signature}` is not allowed by this deployment")]
    NotAllowed { signature: String },
}

impl CallError {
    pub const fn code(&self) -> &'static str {
        match self {
            CallError::InvalidSignature { .. } => "invalid_message_type",
            CallError::InvalidHex(_) => "invalid_data_hex",
            CallError::MissingSelector { .. } => "data_too_short",
            CallError::SelectorMismatch { .. } => "selector_mismatch",
            CallError::Undecodable { .. } => "abi_decode_failed",
            CallError::NotAllowed { .. } => "message_type_not_allowed",
        }
    }
}

/// A validated call: what the rest of the system stores and signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCall {
    /// As the client wrote it, parameter names included.
    pub message_type: String,
    /// Canonical form, e.g. `add_weight(address,uint256)`.
    pub function_signature: String,
    pub selector: Selector,
    pub data: Bytes,
}

/// Which message types a deployment accepts: every well-formed one, or an allowlist of
/// canonical signatures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageTypePolicy {
    allowed: Option<BTreeSet<String>>,
}

impl MessageTypePolicy {
    pub fn allow_all() -> Self {
        MessageTypePolicy { allowed: None }
    }

    /// An allowlist. Entries may carry parameter names; they are compared in canonical form.
    pub fn allow_only<I, S>(signatures: I) -> Result<Self, CallError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allowed = signatures
            .into_iter()
            .map(|sig| parse_signature(sig.as_ref()).map(|f| f.signature()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(MessageTypePolicy {
            allowed: Some(allowed),
        })
    }

    fn allows(&self, canonical: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.contains(canonical))
    }
}

/// Parses a body into the request's two string fields.
pub fn parse_request(body: &[u8]) -> Result<BroadcastRequest, RequestError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::TooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(RequestError::NotAnObject(json_kind(&value)));
    };
    if let Some(field) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(RequestError::UnknownField {
            hint: misspelling_hint(field),
            field: field.clone(),
        });
    }
    Ok(BroadcastRequest {
        message_type: string_field(&object, "message_type")?,
        data: string_field(&object, "data")?,
    })
}

/// Checks that `data` is a call of `message_type` that the deployment accepts.
pub fn validate_call(
    request: &BroadcastRequest,
    policy: &MessageTypePolicy,
) -> Result<ValidCall, CallError> {
    let function = parse_signature(&request.message_type)?;
    let signature = function.signature();
    let data = decode_hex(&request.data)?;
    let Some((selector, arguments)) = data.split_first_chunk::<4>() else {
        return Err(CallError::MissingSelector { len: data.len() });
    };
    let expected = function.selector();
    if selector != &expected.0 {
        return Err(CallError::SelectorMismatch {
            signature,
            expected,
            found: Selector::from(*selector),
        });
    }
    check_arguments(&function, &signature, arguments)?;
    if !policy.allows(&signature) {
        return Err(CallError::NotAllowed { signature });
    }
    Ok(ValidCall {
        message_type: request.message_type.clone(),
        function_signature: signature,
        selector: expected,
        data: data.into(),
    })
}

fn parse_signature(message_type: &str) -> Result<Function, CallError> {
    let trimmed = message_type.trim();
    if trimmed.is_empty() {
        return Err(CallError::InvalidSignature {
            reason: "it is empty".into(),
        });
    }
    let function = Function::parse(trimmed).map_err(|e| CallError::InvalidSignature {
        reason: e.to_string(),
    })?;
    // The parser accepts any identifier as a type (it could name a struct); an ABI call needs
    // every parameter to be a real ABI type, so `adress` is a typo, not a struct.
    for param in &function.inputs {
        param.resolve().map_err(|e| CallError::InvalidSignature {
            reason: format!("parameter type `{}`: {e}", param.ty),
        })?;
    }
    Ok(function)
}

fn decode_hex(data: &str) -> Result<Vec<u8>, CallError> {
    let Some(digits) = data.strip_prefix("0x") else {
        return Err(CallError::InvalidHex("it must start with `0x`".into()));
    };
    if let Some((at, bad)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(CallError::InvalidHex(format!(
            "`{bad}` at position {} is not a hex digit",
            at + 2
        )));
    }
    if digits.len() % 2 != 0 {
        return Err(CallError::InvalidHex(format!(
            "it has an odd number of hex digits ({})",
            digits.len()
        )));
    }
    hex::decode(digits).map_err(|e| CallError::InvalidHex(e.to_string()))
}

/// The arguments must decode, and decode *exactly*: re-encoding the decoded values must give
/// back the same bytes, which rules out trailing garbage and non-canonical encodings.
fn check_arguments(
    function: &Function,
    signature: &str,
    arguments: &[u8],
) -> Result<(), CallError> {
    let undecodable = |reason: String| CallError::Undecodable {
        signature: signature.to_owned(),
        reason,
    };
    let values = function
        .abi_decode_input(arguments)
        .map_err(|e| undecodable(e.to_string()))?;
    let canonical = function
        .abi_encode_input_raw(&values)
        .map_err(|e| undecodable(e.to_string()))?;
    if canonical == arguments {
        return Ok(());
    }
    Err(undecodable(
        match arguments.strip_prefix(canonical.as_slice()) {
            Some(extra) => format!(
                "{} unexpected trailing bytes after the arguments",
                extra.len()
            ),
            None => format!(
                "the arguments are not canonically encoded ({} bytes given, the canonical encoding is {} bytes)",
                arguments.len(),
                canonical.len()
            ),
        },
    ))
}

fn string_field(object: &Map<String, Value>, field: &'static str) -> Result<String, RequestError> {
    match object.get(field) {
        None => Err(RequestError::MissingField(field)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(RequestError::NotAString {
            field,
            got: json_kind(other),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `messageType`, `message-type`, `MESSAGE_TYPE` … are all `message_type` misspelt.
fn misspelling_hint(field: &str) -> String {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    FIELDS
        .iter()
        .find(|known| squash(known) == squash(field))
        .map(|known| format!(" (did you mean `{known}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::dyn_abi::DynSolValue;
    use alloy::primitives::{Address, U256};

    const ADD_WEIGHT: &str = "add_weight(address _addr, uint256 _weight)";

    fn add_weight_data() -> String {
        let function = Function::parse(ADD_WEIGHT).unwrap_or_else(|e| panic!("{e}"));
        let encoded = function
            .abi_encode_input(&[
                DynSolValue::Address(Address::repeat_byte(0x11)),
                DynSolValue::Uint(U256::from(42u64), 256),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        hex::encode_prefixed(encoded)
    }

    fn body(message_type: &str, data: &str) -> Vec<u8> {
        serde_json::json!({ "message_type": message_type, "data": data })
            .to_string()
            .into_bytes()
    }

    fn validate(message_type: &str, data: &str) -> Result<ValidCall, CallError> {
        let request = parse_request(&body(message_type, data)).unwrap_or_else(|e| panic!("{e}"));
        validate_call(&request, &MessageTypePolicy::allow_all())
    }

    fn code_400(body: &[u8]) -> &'static str {
        match parse_request(body) {
            Ok(r) => panic!("expected a 400, got {r:?}"),
            Err(e) => e.code(),
        }
    }

    fn code_422(message_type: &str, data: &str) -> (&'static str, String) {
        match validate(message_type, data) {
            Ok(c) => panic!("expected a 422, got {c:?}"),
            Err(e) => (e.code(), e.to_string()),
        }
    }

    #[test]
    fn add_weight_selector_is_the_documented_one() {
        let call = validate(ADD_WEIGHT, &add_weight_data()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(call.function_signature, "add_weight(address,uint256)");
        assert_eq!(call.selector.to_string(), "0x1c41742f");
        assert_eq!(call.message_type, ADD_WEIGHT);
    }

    #[test]
    fn bodies_that_are_not_requests_are_400() {
        assert_eq!(code_400(b"not json"), "invalid_json");
        assert_eq!(code_400(b""), "invalid_json");
        assert_eq!(code_400(b"{\"message_type\": \"f()\""), "invalid_json");
        assert_eq!(code_400(b"[]"), "body_not_object");
        assert_eq!(code_400(b"\"a string\""), "body_not_object");
        assert_eq!(code_400(b"null"), "body_not_object");
        assert_eq!(code_400(b"{\"data\": \"0x\"}"), "missing_field");
        assert_eq!(code_400(b"{\"message_type\": \"f()\"}"), "missing_field");
        assert_eq!(code_400(b"{}"), "missing_field");
        assert_eq!(
            code_400(b"{\"message_type\": 1, \"data\": \"0x\"}"),
            "invalid_field_type"
        );
        assert_eq!(
            code_400(b"{\"message_type\": \"f()\", \"data\": null}"),
            "invalid_field_type"
        );
        assert_eq!(
            code_400(b"{\"message_type\": \"f()\", \"data\": [\"0x\"]}"),
            "invalid_field_type"
        );
        assert_eq!(
            code_400(b"{\"messageType\": \"f()\", \"data\": \"0x\"}"),
            "unknown_field"
        );
        assert_eq!(
            code_400(b"{\"message_type\": \"f()\", \"data\": \"0x\", \"to\": \"0x\"}"),
            "unknown_field"
        );
        let huge = body("f()", &format!("0x{}", "00".repeat(MAX_BODY_BYTES)));
        assert_eq!(code_400(&huge), "body_too_large");
    }

    #[test]
    fn bad_request_messages_name_the_problem() {
        let misnamed = parse_request(b"{\"messageType\": \"f()\", \"data\": \"0x\"}");
        assert_eq!(
            misnamed.err().map(|e| e.to_string()),
            Some("unknown field `messageType` (did you mean `message_type`?); the body takes exactly `message_type` and `data`".into())
        );
        let wrong_type = parse_request(b"{\"message_type\": \"f()\", \"data\": 7}");
        assert_eq!(
            wrong_type.err().map(|e| e.to_string()),
            Some("field `data` must be a string, got a number".into())
        );
    }

    #[test]
    fn unparseable_signatures_are_422() {
        let data = add_weight_data();
        for bad in [
            "",
            "   ",
            "add_weight",
            "add_weight(address,uint256",
            "add_weight(adress,uint256)",
            "add_weight(uint257)",
            "1add(uint256)",
            "event Transfer(address,address,uint256)",
        ] {
            assert_eq!(code_422(bad, &data).0, "invalid_message_type", "{bad:?}");
        }
    }

    #[test]
    fn data_that_is_not_0x_hex_is_422() {
        for bad in [
            "",
            "1c41742f",
            "0x1c41742g",
            "0x1c4",
            "0X1c41742f",
            "0x 1c41742f",
        ] {
            assert_eq!(code_422(ADD_WEIGHT, bad).0, "invalid_data_hex", "{bad:?}");
        }
        assert_eq!(code_422(ADD_WEIGHT, "0x").0, "data_too_short");
        assert_eq!(code_422(ADD_WEIGHT, "0x1c4174").0, "data_too_short");
    }

    #[test]
    fn selector_mismatch_says_expected_and_found() {
        let data = add_weight_data().replacen("0x1c41742f", "0xdeadbeef", 1);
        let (code, message) = code_422(ADD_WEIGHT, &data);
        assert_eq!(code, "selector_mismatch");
        assert_eq!(
            message,
            "selector mismatch: `add_weight(address,uint256)` has selector 0x1c41742f but `data` starts with 0xdeadbeef"
        );
    }

    #[test]
    fn arguments_must_decode_exactly() {
        let good = add_weight_data();
        // Truncated.
        assert_eq!(
            code_422(ADD_WEIGHT, &good[..good.len() - 2]).0,
            "abi_decode_failed"
        );
        // Only the selector.
        assert_eq!(code_422(ADD_WEIGHT, "0x1c41742f").0, "abi_decode_failed");
        // Trailing bytes.
        let (code, message) = code_422(ADD_WEIGHT, &format!("{good}00"));
        assert_eq!(code, "abi_decode_failed");
        assert!(message.contains("1 unexpected trailing bytes"), "{message}");
        // Dirty high bytes in an address word.
        let dirty = format!("0x1c41742fff{}", &good[12..]);
        assert_eq!(code_422(ADD_WEIGHT, &dirty).0, "abi_decode_failed");
    }

    #[test]
    fn rich_signatures_validate() {
        let cases: Vec<(&str, Vec<DynSolValue>)> = vec![
            (
                "submit((uint256,address)[] items, bytes memo, string note)",
                vec![
                    DynSolValue::Array(vec![DynSolValue::Tuple(vec![
                        DynSolValue::Uint(U256::from(7u64), 256),
                        DynSolValue::Address(Address::repeat_byte(2)),
                    ])]),
                    DynSolValue::Bytes(vec![1, 2, 3]),
                    DynSolValue::String("hello".into()),
                ],
            ),
            (
                "function setAll(uint8[3] fixedArr, bytes32 id, bool on) external",
                vec![
                    DynSolValue::FixedArray(vec![
                        DynSolValue::Uint(U256::from(1u64), 8),
                        DynSolValue::Uint(U256::from(2u64), 8),
                        DynSolValue::Uint(U256::from(3u64), 8),
                    ]),
                    DynSolValue::FixedBytes(alloy::primitives::B256::repeat_byte(9), 32),
                    DynSolValue::Bool(true),
                ],
            ),
            ("ping()", vec![]),
            (
                "nested(string[][] names, (bytes,(int256,address)) deep)",
                vec![
                    DynSolValue::Array(vec![DynSolValue::Array(vec![DynSolValue::String(
                        "a".into(),
                    )])]),
                    DynSolValue::Tuple(vec![
                        DynSolValue::Bytes(vec![0xff; 40]),
                        DynSolValue::Tuple(vec![
                            DynSolValue::Int(alloy::primitives::I256::MINUS_ONE, 256),
                            DynSolValue::Address(Address::ZERO),
                        ]),
                    ]),
                ],
            ),
        ];
        for (signature, values) in cases {
            let function =
                Function::parse(signature).unwrap_or_else(|e| panic!("{signature}: {e}"));
            let data = function
                .abi_encode_input(&values)
                .unwrap_or_else(|e| panic!("{signature}: {e}"));
            let call = validate(signature, &hex::encode_prefixed(&data))
                .unwrap_or_else(|e| panic!("{signature}: {e}"));
            assert_eq!(call.data.as_ref(), data.as_slice());
            assert_eq!(call.function_signature, function.signature());
        }
    }

    #[test]
    fn allowlists_compare_canonical_signatures() {
        let policy = MessageTypePolicy::allow_only(["add_weight(address who, uint256 howMuch)"])
            .unwrap_or_else(|e| panic!("{e}"));
        let request = BroadcastRequest {
            message_type: ADD_WEIGHT.into(),
            data: add_weight_data(),
        };
        assert!(validate_call(&request, &policy).is_ok());

        let other = MessageTypePolicy::allow_only(["ping()"]).unwrap_or_else(|e| panic!("{e}"));
        let err = validate_call(&request, &other).err();
        assert_eq!(
            err.as_ref().map(CallError::code),
            Some("message_type_not_allowed")
        );
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(
                "message type `add_weight(address,uint256)` is not allowed by this deployment"
                    .into()
            )
        );
        assert!(MessageTypePolicy::allow_only(["nonsense("]).is_err());
    }
}
