//! A `message_type` parsed, resolved, and held to the limits on its shape.
//!
//! alloy's decoder lays out a value for everything a type holds before it reads a byte of data
//! (a fixed-size array repeats its element N times), so a short request naming a huge type used
//! to make it allocate until the process died. Every limit here is a property of the signature
//! alone: a request that breaks one is refused before its data is even hex-decoded, and an
//! allowlist entry that breaks one is refused at start-up.

use alloy::dyn_abi::{DynSolType, Specifier};
use alloy::json_abi::Function;

use super::shape::{footprint_words, layout_values, sum, type_count};
use super::{
    CallError, MAX_ARGUMENT_WORDS, MAX_DECODED_VALUES, MAX_PARAMETERS, MAX_SIGNATURE_CHARS,
    MAX_TYPE_DEPTH, MAX_TYPES,
};

/// A function signature within every limit.
#[derive(Debug)]
pub(super) struct Signature {
    pub(super) function: Function,
    /// Canonical form, e.g. `add_weight(address,uint256)`.
    pub(super) canonical: String,
    /// The parameters' types.
    pub(super) params: Vec<DynSolType>,
}

impl Signature {
    pub(super) fn parse(message_type: &str) -> Result<Self, CallError> {
        let chars = message_type.chars().count();
        if chars > MAX_SIGNATURE_CHARS {
            return Err(CallError::SignatureTooLong {
                chars,
                limit: MAX_SIGNATURE_CHARS,
            });
        }
        let trimmed = message_type.trim();
        if trimmed.is_empty() {
            return Err(CallError::InvalidSignature {
                reason: "it is empty".into(),
            });
        }
        let function = Function::parse(trimmed).map_err(|e| CallError::InvalidSignature {
            reason: e.to_string(),
        })?;
        let canonical = function.signature();
        if function.inputs.len() > MAX_PARAMETERS {
            return Err(CallError::TooManyParameters {
                signature: canonical,
                count: function.inputs.len(),
                limit: MAX_PARAMETERS,
            });
        }
        // The parser accepts any identifier as a type (it could name a struct); an ABI call
        // needs every parameter to be a real ABI type, so `adress` is a typo, not a struct.
        let params = function
            .inputs
            .iter()
            .map(|param| {
                param.resolve().map_err(|e| CallError::InvalidSignature {
                    reason: format!("parameter type `{}`: {e}", param.ty),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_shape(&canonical, &params)?;
        Ok(Signature {
            function,
            canonical,
            params,
        })
    }
}

/// The limits on what the parameters' types may cost, whatever the data.
fn check_shape(signature: &str, params: &[DynSolType]) -> Result<(), CallError> {
    for (index, ty) in params.iter().enumerate() {
        let depth = ty.nesting_depth();
        if depth > MAX_TYPE_DEPTH {
            return Err(CallError::TypeTooDeep {
                signature: signature.to_owned(),
                parameter: index + 1,
                depth,
                limit: MAX_TYPE_DEPTH,
            });
        }
    }
    let count = sum(params.iter().map(type_count));
    if count > MAX_TYPES {
        return Err(CallError::TooManyTypes {
            signature: signature.to_owned(),
            count,
            limit: MAX_TYPES,
        });
    }
    let words = footprint_words(params);
    if words > MAX_ARGUMENT_WORDS {
        return Err(CallError::TypeTooLarge {
            signature: signature.to_owned(),
            words,
            limit: MAX_ARGUMENT_WORDS,
        });
    }
    let values = sum(params.iter().map(layout_values));
    if values > MAX_DECODED_VALUES {
        return Err(CallError::TypeLayoutTooLarge {
            signature: signature.to_owned(),
            values,
            limit: MAX_DECODED_VALUES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(message_type: &str) -> (&'static str, String) {
        match Signature::parse(message_type) {
            Ok(s) => panic!("expected a refusal, got {}", s.canonical),
            Err(e) => (e.code(), e.to_string()),
        }
    }

    fn list(ty: &str, n: usize) -> String {
        vec![ty; n].join(",")
    }

    #[test]
    fn signatures_within_the_limits_parse() {
        for ok in [
            "ping()",
            "add_weight(address _addr, uint256 _weight)",
            &format!("f({})", list("bool", MAX_PARAMETERS)),
            &format!("f(uint8{})", "[]".repeat(MAX_TYPE_DEPTH)),
            &format!("f({}uint8{})", "(".repeat(8), ")".repeat(8)),
            "f(uint256[2047])",
            "f(bytes32[1023][2])",
        ] {
            assert!(Signature::parse(ok).is_ok(), "{ok}");
        }
        // Tab and space padding is trimmed, but counts towards the length.
        let padded = format!("{}ping()", " ".repeat(MAX_SIGNATURE_CHARS - 6));
        assert!(Signature::parse(&padded).is_ok());
    }

    #[test]
    fn a_long_signature_is_refused_unparsed() {
        let long = format!("f({})", list("uint8", 10_000));
        let (code, message) = refusal(&long);
        assert_eq!(code, "signature_too_long");
        assert_eq!(
            message,
            "`message_type` is 60002 characters long; the limit is 1024"
        );
        // Characters, not bytes.
        assert!(
            Signature::parse(&format!("f() {}", "é".repeat(600)))
                .is_err_and(|e| e.code() == "invalid_message_type")
        );
    }

    #[test]
    fn too_many_parameters() {
        let (code, message) = refusal(&format!("f({})", list("bool", 33)));
        assert_eq!(code, "too_many_parameters");
        assert_eq!(
            message,
            format!(
                "`f({})` takes 33 parameters; the limit is 32",
                list("bool", 33)
            )
        );
    }

    #[test]
    fn too_deep() {
        let (code, message) = refusal("f(bool,uint256[][][][][][][][][][])");
        assert_eq!(code, "type_too_deep");
        assert_eq!(
            message,
            "parameter 2 of `f(bool,uint256[][][][][][][][][][])` nests tuples and arrays 10 levels deep; the limit is 8"
        );
        let tuples = format!("f({}uint8{})", "(".repeat(9), ")".repeat(9));
        assert_eq!(refusal(&tuples).0, "type_too_deep");
        let mixed = "f((uint8[],(bytes[2],(bool[][])[])[])[][])";
        assert_eq!(refusal(mixed).0, "type_too_deep");
    }

    #[test]
    fn too_many_types() {
        let signature = format!("f(({}))", list("int[][][][]", 60));
        let (code, message) = refusal(&signature);
        assert_eq!(code, "too_many_types");
        assert!(
            message.ends_with(
                "names 301 types (each parameter, tuple member and array element type counts); the limit is 256"
            ),
            "{message}"
        );
    }

    #[test]
    fn too_large_to_encode_in_any_request() {
        let (code, message) = refusal("f(uint8[4294967295])");
        assert_eq!(code, "type_too_large");
        assert_eq!(
            message,
            "`f(uint8[4294967295])` needs at least 4294967295 words of arguments (32 bytes each), more than a request can carry (2047)"
        );
        assert_eq!(refusal("f(uint256[2048])").0, "type_too_large");
        assert_eq!(refusal("f(string[1024])").0, "type_too_large");
        assert_eq!(
            refusal("f(uint8[18446744073709551615][2])").0,
            "type_too_large"
        );
    }

    #[test]
    fn too_large_to_lay_out() {
        let (code, message) = refusal("f(uint256[100000][100000][])");
        assert_eq!(code, "type_too_large");
        assert_eq!(
            message,
            "`f(uint256[100000][100000][])` lays out 10000100002 values before decoding any data (a fixed-size array repeats its element type); the limit is 3072"
        );
        // Small enough to encode, but not to lay out: the template of a dynamic array costs
        // the same whether the array has elements or not.
        assert_eq!(refusal("f(uint8[1][4000][])").0, "type_too_large");
        assert_eq!(refusal("f(((uint8),(bool))[1000])").0, "type_too_large");
    }
}
