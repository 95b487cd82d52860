//! The body's shape: a JSON object with two string fields and, optionally, the chain.
//!
//! The body is read straight into those fields, not into a JSON tree: a value that is not a
//! string is parsed and skipped, never stored, so a 128 KiB array where a string belongs costs
//! no more memory than a string would (a `serde_json::Value` of it is 2 MiB).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest body the API reads.
pub const MAX_BODY_BYTES: usize = 128 * 1024;

const FIELDS: [&str; 3] = ["message_type", "data", "chain"];

/// The request's fields, before their content is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastRequest {
    pub message_type: String,
    pub data: String,
    /// The chain asked for; none: the deployment's default chain.
    pub chain: Option<ChainRef>,
}

/// How a request names a chain: by id, or by name (a decimal string is an id too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainRef {
    Id(u64),
    Name(String),
}

impl ChainRef {
    /// Whether this names the chain `id` called `name`: by its id, by its id written as a
    /// decimal string, or by its name in any case.
    pub fn names(&self, id: u64, name: &str) -> bool {
        match self {
            ChainRef::Id(asked) => *asked == id,
            ChainRef::Name(asked) => {
                let asked = asked.trim();
                // Digits alone are an id (not `+8453`); names are never numbers.
                if !asked.is_empty() && asked.bytes().all(|b| b.is_ascii_digit()) {
                    asked.parse::<u64>().is_ok_and(|asked| asked == id)
                } else {
                    asked.eq_ignore_ascii_case(name)
                }
            }
        }
    }
}

impl std::fmt::Display for ChainRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainRef::Id(id) => write!(f, "{id}"),
            // A name is the client's text: quoted, and never longer than a name can be.
            ChainRef::Name(name) => {
                let shown: String = name.chars().take(40).collect();
                let more = if shown.len() < name.len() { "…" } else { "" };
                write!(f, "`{}{more}`", shown.escape_debug())
            }
        }
    }
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
    #[error(
        "unknown field `{field}`{hint}; the body takes `message_type`, `data` and, optionally, `chain`"
    )]
    UnknownField { field: String, hint: String },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("field `{field}` must be a string, got {got}")]
    NotAString {
        field: &'static str,
        got: &'static str,
    },
    #[error(
        "field `chain` must be a chain id (a whole number) or a chain's name (a string), got {0}"
    )]
    NotAChain(&'static str),
}

impl RequestError {
    pub const fn code(&self) -> &'static str {
        match self {
            RequestError::TooLarge { .. } => "body_too_large",
            RequestError::InvalidJson(_) => "invalid_json",
            RequestError::NotAnObject(_) => "body_not_object",
            RequestError::UnknownField { .. } => "unknown_field",
            RequestError::MissingField(_) => "missing_field",
            RequestError::NotAString { .. } | RequestError::NotAChain(_) => "invalid_field_type",
        }
    }
}

/// Parses a body into the request's two string fields.
pub fn parse_request(body: &[u8]) -> Result<BroadcastRequest, RequestError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::TooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let body: Body =
        serde_json::from_slice(body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
    let fields = match body {
        Body::Object(fields) => fields,
        Body::Other(kind) => return Err(RequestError::NotAnObject(kind)),
    };
    if let Some(field) = fields.first_unknown {
        return Err(RequestError::UnknownField {
            hint: misspelling_hint(&field),
            field,
        });
    }
    Ok(BroadcastRequest {
        message_type: string_field(fields.message_type, "message_type")?,
        data: string_field(fields.data, "data")?,
        chain: match fields.chain {
            None => None,
            Some(ChainField::Named(chain)) => Some(chain),
            Some(ChainField::Other(got)) => return Err(RequestError::NotAChain(got)),
        },
    })
}

fn string_field(field: Option<Field>, name: &'static str) -> Result<String, RequestError> {
    match field {
        None => Err(RequestError::MissingField(name)),
        Some(Field::String(s)) => Ok(s),
        Some(Field::Other(got)) => Err(RequestError::NotAString { field: name, got }),
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

/// A body, as far as validation looks at it.
enum Body {
    Object(Fields),
    /// Any other JSON value, by kind (`"an array"`, …).
    Other(&'static str),
}

/// What the object holds. As with a JSON map, a repeated key keeps its last value.
#[derive(Default)]
struct Fields {
    message_type: Option<Field>,
    data: Option<Field>,
    chain: Option<ChainField>,
    /// The alphabetically first unknown key, the one a sorted JSON map would name first.
    first_unknown: Option<String>,
}

enum Field {
    String(String),
    /// Not a string: its kind.
    Other(&'static str),
}

/// The `chain` field: a chain named, or another kind of value.
enum ChainField {
    Named(ChainRef),
    Other(&'static str),
}

/// A JSON value read to its end and dropped.
struct Skipped;

/// Answers every JSON value with its kind, reading containers to the end (so a syntax error
/// anywhere is still an error) without storing them.
macro_rules! visit_kinds {
    ($output:ty, $wrap:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$output, E> {
            Ok($wrap("a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$output, E> {
            Ok($wrap("a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$output, E> {
            Ok($wrap("a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$output, E> {
            Ok($wrap("a number"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$output, E> {
            Ok($wrap("null"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$output, A::Error> {
            while seq.next_element::<Skipped>()?.is_some() {}
            Ok($wrap("an array"))
        }
    };
}

// Through `deserialize_any`, like a `serde_json::Value`, so what is skipped is held to the same
// rules (`IgnoredAny` would let `1e999` through).
impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SkipVisitor;
        impl<'de> Visitor<'de> for SkipVisitor {
            type Value = Skipped;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            visit_kinds!(Skipped, |_| Skipped);
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skipped, A::Error> {
                while map.next_entry::<Skipped, Skipped>()?.is_some() {}
                Ok(Skipped)
            }
        }
        deserializer.deserialize_any(SkipVisitor)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            visit_kinds!(Field, Field::Other);
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Field, E> {
                Ok(Field::String(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Field, E> {
                Ok(Field::String(s))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
                while map.next_entry::<Skipped, Skipped>()?.is_some() {}
                Ok(Field::Other("an object"))
            }
        }
        deserializer.deserialize_any(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for ChainField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChainVisitor;
        impl<'de> Visitor<'de> for ChainVisitor {
            type Value = ChainField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            // serde_json hands a non-negative integer to `visit_u64`, a negative one to
            // `visit_i64`, and any other number (past `u64::MAX` too) to `visit_f64`.
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<ChainField, E> {
                Ok(ChainField::Named(ChainRef::Id(id)))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ChainField, E> {
                Ok(ChainField::Other("a negative number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ChainField, E> {
                Ok(ChainField::Other(
                    "a number with a fraction or an exponent, or past 64 bits",
                ))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ChainField, E> {
                Ok(ChainField::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ChainField, E> {
                Ok(ChainField::Other("null"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ChainField, E> {
                Ok(ChainField::Named(ChainRef::Name(s.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ChainField, A::Error> {
                while seq.next_element::<Skipped>()?.is_some() {}
                Ok(ChainField::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChainField, A::Error> {
                while map.next_entry::<Skipped, Skipped>()?.is_some() {}
                Ok(ChainField::Other("an object"))
            }
        }
        deserializer.deserialize_any(ChainVisitor)
    }
}

/// An object key, borrowed from the body when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            visit_kinds!(Body, Body::Other);
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Body, E> {
                Ok(Body::Other("a string"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
                let mut fields = Fields::default();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match key.as_ref() {
                        "message_type" => fields.message_type = Some(map.next_value()?),
                        "data" => fields.data = Some(map.next_value()?),
                        "chain" => fields.chain = Some(map.next_value()?),
                        other => {
                            map.next_value::<Skipped>()?;
                            if fields
                                .first_unknown
                                .as_deref()
                                .is_none_or(|first| other < first)
                            {
                                fields.first_unknown = Some(key.into_owned());
                            }
                        }
                    }
                }
                Ok(Body::Object(fields))
            }
        }
        deserializer.deserialize_any(BodyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_400(body: &[u8]) -> &'static str {
        match parse_request(body) {
            Ok(r) => panic!("expected a 400, got {r:?}"),
            Err(e) => e.code(),
        }
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
        let huge = format!(
            "{{\"message_type\": \"f()\", \"data\": \"0x{}\"}}",
            "00".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(code_400(huge.as_bytes()), "body_too_large");
    }

    #[test]
    fn bad_request_messages_name_the_problem() {
        let misnamed = parse_request(b"{\"messageType\": \"f()\", \"data\": \"0x\"}");
        assert_eq!(
            misnamed.err().map(|e| e.to_string()),
            Some("unknown field `messageType` (did you mean `message_type`?); the body takes `message_type`, `data` and, optionally, `chain`".into())
        );
        let wrong_type = parse_request(b"{\"message_type\": \"f()\", \"data\": 7}");
        assert_eq!(
            wrong_type.err().map(|e| e.to_string()),
            Some("field `data` must be a string, got a number".into())
        );
    }

    #[test]
    fn values_are_named_by_kind() {
        for (value, kind) in [
            ("true", "a boolean"),
            ("-1", "a number"),
            ("1.5e3", "a number"),
            ("null", "null"),
            ("[1, [2, {\"a\": [3]}]]", "an array"),
            ("{\"a\": {\"b\": []}}", "an object"),
        ] {
            let body = format!("{{\"message_type\": {value}, \"data\": \"0x\"}}");
            assert_eq!(
                parse_request(body.as_bytes()),
                Err(RequestError::NotAString {
                    field: "message_type",
                    got: kind
                }),
                "{value}"
            );
            if kind != "an object" {
                assert_eq!(
                    parse_request(value.as_bytes()),
                    Err(RequestError::NotAnObject(kind)),
                    "{value}"
                );
            }
        }
    }

    #[test]
    fn skipped_values_must_still_be_json() {
        for body in [
            "{\"message_type\": [1, 2,], \"data\": \"0x\"}",
            "{\"message_type\": \"f()\", \"data\": \"0x\", \"x\": {\"a\" 1}}",
            "{\"message_type\": [1e999], \"data\": \"0x\"}",
            "[1, 2] trailing",
        ] {
            assert_eq!(code_400(body.as_bytes()), "invalid_json", "{body}");
        }
    }

    #[test]
    fn keys_behave_as_in_a_json_map() {
        // A repeated key keeps its last value.
        let twice = parse_request(b"{\"data\": 1, \"message_type\": \"f()\", \"data\": \"0x\"}");
        assert_eq!(
            twice,
            Ok(BroadcastRequest {
                message_type: "f()".into(),
                data: "0x".into(),
                chain: None,
            })
        );
        // Escaped keys are the same keys.
        let escaped = parse_request(b"{\"message\\u005ftype\": \"f()\", \"data\": \"0x\"}");
        assert!(escaped.is_ok(), "{escaped:?}");
        // Of several unknown keys, the alphabetically first is named.
        let unknown = parse_request(b"{\"zeta\": 1, \"Alpha\": 2, \"beta\": 3}");
        assert_eq!(
            unknown.err().map(|e| e.to_string()),
            Some("unknown field `Alpha`; the body takes `message_type`, `data` and, optionally, `chain`".into())
        );
    }

    #[test]
    fn a_chain_is_named_by_id_or_name_and_nothing_else() {
        let chain_of = |value: &str| {
            parse_request(
                format!("{{\"message_type\": \"f()\", \"data\": \"0x\", \"chain\": {value}}}")
                    .as_bytes(),
            )
            .map(|r| r.chain)
            .map_err(|e| (e.code(), e.to_string()))
        };
        assert_eq!(chain_of("8453"), Ok(Some(ChainRef::Id(8453))));
        assert_eq!(
            chain_of("\"base\""),
            Ok(Some(ChainRef::Name("base".into())))
        );
        assert_eq!(
            parse_request(b"{\"message_type\": \"f()\", \"data\": \"0x\"}").map(|r| r.chain),
            Ok(None)
        );
        for (value, got) in [
            ("-1", "a negative number"),
            (
                "1.5",
                "a number with a fraction or an exponent, or past 64 bits",
            ),
            (
                "1e3",
                "a number with a fraction or an exponent, or past 64 bits",
            ),
            (
                "18446744073709551616",
                "a number with a fraction or an exponent, or past 64 bits",
            ),
            ("null", "null"),
            ("true", "a boolean"),
            ("[8453]", "an array"),
            ("{\"id\": 8453}", "an object"),
        ] {
            let (code, message) = chain_of(value).err().unwrap_or_default();
            assert_eq!(code, "invalid_field_type", "{value}");
            assert!(message.ends_with(got), "{value}: {message}");
        }
        let misspelt =
            parse_request(b"{\"message_type\": \"f()\", \"data\": \"0x\", \"Chain\": 1}");
        assert!(
            misspelt
                .err()
                .is_some_and(|e| e.to_string().contains("(did you mean `chain`?)"))
        );
        for (asked, names_base) in [
            (ChainRef::Id(8453), true),
            (ChainRef::Name("BASE ".into()), true),
            (ChainRef::Name("8453".into()), true),
            (ChainRef::Id(1), false),
            (ChainRef::Name("1".into()), false),
            (ChainRef::Name("ethereum".into()), false),
            (ChainRef::Name("+8453".into()), false),
            (ChainRef::Name("08453".into()), true),
        ] {
            assert_eq!(asked.names(8453, "base"), names_base, "{asked:?}");
        }
        // A name is shown as the client's text, bounded and escaped.
        let long = ChainRef::Name(format!("{}\n", "x".repeat(100))).to_string();
        assert_eq!(long, format!("`{}…`", "x".repeat(40)));
        assert_eq!(ChainRef::Name("a\nb".into()).to_string(), "`a\\nb`");
    }
}
