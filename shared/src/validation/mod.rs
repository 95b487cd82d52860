//! Validation of `POST /transaction/broadcast` bodies.
//!
//! Two layers, two kinds of error: [`RequestError`] is a body that is not the request's shape at
//! all (HTTP 400); [`CallError`] is a well-shaped request whose content is wrong (HTTP 422). Each
//! error has a stable snake_case `code()` for machines and a `Display` for humans that says
//! exactly what is wrong.
//!
//! Any request of at most [`MAX_BODY_BYTES`] is validated in bounded time and memory, whatever
//! type it names: the signature is held to the limits below before anything is decoded, the
//! allowlist is checked before the data is read, and the calldata's offsets and lengths are
//! walked, building nothing, before alloy decodes it.

mod layout;
mod request;
mod shape;
mod signature;

use std::collections::BTreeSet;

use alloy::dyn_abi::JsonAbiExt;
use alloy::primitives::{Bytes, Selector, hex};

pub use request::{BroadcastRequest, ChainRef, MAX_BODY_BYTES, RequestError, parse_request};
use signature::Signature;

/// Longest `message_type`, in characters.
pub const MAX_SIGNATURE_CHARS: usize = 1024;
/// Most parameters a function may take.
pub const MAX_PARAMETERS: usize = 32;
/// Most types a signature may name: each parameter, tuple member and array element type counts
/// once (`uint8[1000]` is two).
pub const MAX_TYPES: usize = 256;
/// Deepest nesting of tuples and arrays in one parameter (`uint256[]` is 1). alloy's decoder
/// gives up past 8 nested dynamic arrays anyway.
pub const MAX_TYPE_DEPTH: usize = 8;
/// Most 32-byte words of arguments a request can carry: a body of [`MAX_BODY_BYTES`] holds at
/// most half as many bytes of calldata, the selector included.
pub const MAX_ARGUMENT_WORDS: usize = (MAX_BODY_BYTES / 2 - 4) / 32;
/// Most values decoding may build: each tuple, array, member and element, and the element
/// template alloy gives every dynamic array. alloy spends up to about 200 bytes on each
/// (token, value and their vectors), so this keeps a validation under 1 MiB of allocation.
pub const MAX_DECODED_VALUES: usize = 3072;

/// The request is well-shaped but its content is wrong: HTTP 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error(
        "`message_type` is not a Solidity function signature ({reason}); expected e.g. `add_weight(address _addr, uint256 _weight)`"
    )]
    InvalidSignature { reason: String },
    #[error("`message_type` is {chars} characters long; the limit is {limit}")]
    SignatureTooLong { chars: usize, limit: usize },
    #[error("`{signature}` takes {count} parameters; the limit is {limit}")]
    TooManyParameters {
        signature: String,
        count: usize,
        limit: usize,
    },
    #[error(
        "`{signature}` names {count} types (each parameter, tuple member and array element type counts); the limit is {limit}"
    )]
    TooManyTypes {
        signature: String,
        count: usize,
        limit: usize,
    },
    #[error(
        "parameter {parameter} of `{signature}` nests tuples and arrays {depth} levels deep; the limit is {limit}"
    )]
    TypeTooDeep {
        signature: String,
        /// 1-based.
        parameter: usize,
        depth: usize,
        limit: usize,
    },
    #[error(
        "`{signature}` needs at least {words} words of arguments (32 bytes each), more than a request can carry ({limit})"
    )]
    TypeTooLarge {
        signature: String,
        words: usize,
        limit: usize,
    },
    #[error(
        "`{signature}` lays out {values} values before decoding any data (a fixed-size array repeats its element type); the limit is {limit}"
    )]
    TypeLayoutTooLarge {
        signature: String,
        values: usize,
        limit: usize,
    },
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
    #[error(
        "the arguments in `data` would decode as `{signature}` into more than {limit} values (each tuple, array, member and element counts, and each dynamic array its element type's layout); the limit is {limit}"
    )]
    AbiTooComplex { signature: String, limit: usize },
    #[error("message type `{signature}` is not allowed by this deployment")]
    NotAllowed { signature: String },
    /// `asked` as the request named it (bounded, see [`ChainRef`]'s `Display`).
    #[error("chain {asked} is not served here; this deployment serves {served}")]
    UnknownChain { asked: String, served: String },
}

impl CallError {
    pub const fn code(&self) -> &'static str {
        match self {
            CallError::InvalidSignature { .. } => "invalid_message_type",
            CallError::SignatureTooLong { .. } => "signature_too_long",
            CallError::TooManyParameters { .. } => "too_many_parameters",
            CallError::TooManyTypes { .. } => "too_many_types",
            CallError::TypeTooDeep { .. } => "type_too_deep",
            // Both say the type itself is too large for any request, whatever its data.
            CallError::TypeTooLarge { .. } | CallError::TypeLayoutTooLarge { .. } => {
                "type_too_large"
            }
            CallError::InvalidHex(_) => "invalid_data_hex",
            CallError::MissingSelector { .. } => "data_too_short",
            CallError::SelectorMismatch { .. } => "selector_mismatch",
            CallError::Undecodable { .. } => "abi_decode_failed",
            CallError::AbiTooComplex { .. } => "abi_too_complex",
            CallError::NotAllowed { .. } => "message_type_not_allowed",
            CallError::UnknownChain { .. } => "unknown_chain",
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
    /// An entry is held to the same limits as a request's `message_type`.
    pub fn allow_only<I, S>(signatures: I) -> Result<Self, CallError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allowed = signatures
            .into_iter()
            .map(|sig| Signature::parse(sig.as_ref()).map(|s| s.canonical))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(MessageTypePolicy {
            allowed: Some(allowed),
        })
    }

    /// Whether `canonical` (e.g. `add_weight(address,uint256)`, no parameter names) may be sent.
    pub fn allows(&self, canonical: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.contains(canonical))
    }

    /// Whether every well-formed message type is accepted (no allowlist).
    pub fn is_allow_all(&self) -> bool {
        self.allowed.is_none()
    }
}

/// Checks that `data` is a call of `message_type` that the deployment accepts.
///
/// In order, each step bounded before the next runs: the signature's length, its parse and the
/// limits on its types; the allowlist; the hex; the selector; the arguments' layout and the
/// number of values they decode into; and last alloy's decoding and exact re-encoding.
pub fn validate_call(
    request: &BroadcastRequest,
    policy: &MessageTypePolicy,
) -> Result<ValidCall, CallError> {
    let signature = Signature::parse(&request.message_type)?;
    if !policy.allows(&signature.canonical) {
        return Err(CallError::NotAllowed {
            signature: signature.canonical,
        });
    }
    let data = decode_hex(&request.data)?;
    let Some((selector, arguments)) = data.split_first_chunk::<4>() else {
        return Err(CallError::MissingSelector { len: data.len() });
    };
    let expected = signature.function.selector();
    if selector != &expected.0 {
        return Err(CallError::SelectorMismatch {
            signature: signature.canonical,
            expected,
            found: Selector::from(*selector),
        });
    }
    check_arguments(&signature, arguments)?;
    Ok(ValidCall {
        message_type: request.message_type.clone(),
        function_signature: signature.canonical,
        selector: expected,
        data: data.into(),
    })
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
/// back the same bytes, which rules out trailing garbage and non-canonical encodings. Their
/// layout is walked first, so what alloy builds is bounded by the data.
fn check_arguments(signature: &Signature, arguments: &[u8]) -> Result<(), CallError> {
    let undecodable = |reason: String| CallError::Undecodable {
        signature: signature.canonical.clone(),
        reason,
    };
    layout::check(&signature.params, arguments).map_err(|refusal| match refusal {
        layout::Refusal::Malformed(reason) => undecodable(reason),
        layout::Refusal::TooComplex => CallError::AbiTooComplex {
            signature: signature.canonical.clone(),
            limit: MAX_DECODED_VALUES,
        },
    })?;
    let values = signature
        .function
        .abi_decode_input(arguments)
        .map_err(|e| undecodable(e.to_string()))?;
    let canonical = signature
        .function
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::dyn_abi::DynSolValue;
    use alloy::json_abi::Function;
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
            chain: None,
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

    #[test]
    fn the_allowlist_is_checked_before_the_data_is_read() {
        let policy = MessageTypePolicy::allow_only(["ping()"]).unwrap_or_else(|e| panic!("{e}"));
        for data in ["not hex", "0x", "0xdeadbeef", &add_weight_data()] {
            let request = BroadcastRequest {
                message_type: "f(uint256[10][10][])".into(),
                data: data.into(),
                chain: None,
            };
            assert_eq!(
                validate_call(&request, &policy).map_err(|e| e.code()),
                Err("message_type_not_allowed"),
                "{data}"
            );
        }
        // The limits come first: they hold whatever the deployment allows.
        let request = BroadcastRequest {
            message_type: "f(uint256[100000][100000][])".into(),
            data: "0x".into(),
            chain: None,
        };
        assert_eq!(
            validate_call(&request, &policy).map_err(|e| e.code()),
            Err("type_too_large")
        );
    }

    #[test]
    fn allowlist_entries_are_held_to_the_limits() {
        let refused = MessageTypePolicy::allow_only(["ping()", "f(uint8[4294967295])"]);
        assert_eq!(refused.map_err(|e| e.code()), Err("type_too_large"));
    }

    #[test]
    fn policies_say_what_they_allow() {
        let all = MessageTypePolicy::allow_all();
        assert!(all.is_allow_all());
        assert!(all.allows("anything(uint256)"));
        let some = MessageTypePolicy::allow_only(["add_weight(address who, uint256 howMuch)"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!some.is_allow_all());
        assert!(some.allows("add_weight(address,uint256)"));
        assert!(!some.allows("add_weight(address who, uint256 howMuch)"));
        assert!(!some.allows("ping()"));
        let none =
            MessageTypePolicy::allow_only(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!none.is_allow_all());
        assert!(!none.allows("ping()"));
    }

    #[test]
    fn signature_limits_are_422_with_their_own_codes() {
        let data = add_weight_data();
        for (message_type, code) in [
            (
                format!("f({})", vec!["uint8"; 300].join(",")),
                "signature_too_long",
            ),
            (
                format!("f({})", vec!["bool"; 33].join(",")),
                "too_many_parameters",
            ),
            (
                format!("f(({}))", vec!["int[][][][]"; 60].join(",")),
                "too_many_types",
            ),
            ("f(uint8[][][][][][][][][])".to_owned(), "type_too_deep"),
            ("f(uint8[4294967295])".to_owned(), "type_too_large"),
            ("f(uint256[100000][100000][])".to_owned(), "type_too_large"),
        ] {
            assert_eq!(code_422(&message_type, &data).0, code, "{message_type}");
        }
    }

    #[test]
    fn aliased_offsets_are_abi_decode_failed() {
        // Both `bytes` point at the same tail: a lenient decoder reads it twice.
        let function = Function::parse("f(bytes,bytes)").unwrap_or_else(|e| panic!("{e}"));
        let words: Vec<u8> = [64u64, 64, 1, 0]
            .iter()
            .flat_map(|w| U256::from(*w).to_be_bytes::<32>())
            .collect();
        let data = format!("{}{}", function.selector(), hex::encode(words));
        let (code, message) = code_422("f(bytes,bytes)", &data);
        assert_eq!(code, "abi_decode_failed");
        assert_eq!(
            message,
            "the arguments in `data` do not ABI-decode as `f(bytes,bytes)`: the offset at byte 32 is 64, but the canonical encoding has 128 there (each offset points just past the value before it)"
        );
    }

    #[test]
    fn too_many_decoded_values_is_abi_too_complex() {
        // 1,000 empty `uint8[8][]`, each carrying a 9-value template: 10,002 values from 2,002
        // words.
        let signature = "f(uint8[8][][])";
        let function = Function::parse(signature).unwrap_or_else(|e| panic!("{e}"));
        let data = function
            .abi_encode_input(&[DynSolValue::Array(vec![DynSolValue::Array(vec![]); 1000])])
            .unwrap_or_else(|e| panic!("{e}"));
        let (code, message) = code_422(signature, &hex::encode_prefixed(data));
        assert_eq!(code, "abi_too_complex");
        assert_eq!(
            message,
            "the arguments in `data` would decode as `f(uint8[8][][])` into more than 3072 values (each tuple, array, member and element counts, and each dynamic array its element type's layout); the limit is 3072"
        );
    }
}
