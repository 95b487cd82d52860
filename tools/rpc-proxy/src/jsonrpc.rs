//! Just enough JSON-RPC to see which methods a request calls and to answer errors in the
//! node's place. The body itself is forwarded untouched.

use serde_json::{Value, json};

use crate::config::RpcErrorKind;

/// Counted under this name when a body is not JSON-RPC, or a call names no method.
pub const UNREADABLE_METHOD: &str = "(unreadable)";

/// The calls in one HTTP request: one for a single request, several for a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Calls {
    pub(crate) batch: bool,
    pub(crate) calls: Vec<Call>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) method: String,
    /// `null` when the request has none, which is also what an error answer then carries.
    pub(crate) id: Value,
}

impl Calls {
    /// Reads a body; anything that is not JSON counts as one unreadable call, so the node
    /// still gets to answer it.
    pub(crate) fn read(body: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => Calls {
                batch: true,
                calls: items.iter().map(Call::read).collect(),
            },
            Ok(single) => Calls {
                batch: false,
                calls: vec![Call::read(&single)],
            },
            Err(_) => Calls {
                batch: false,
                calls: vec![Call {
                    method: UNREADABLE_METHOD.to_owned(),
                    id: Value::Null,
                }],
            },
        }
    }

    pub(crate) fn methods(&self) -> impl Iterator<Item = &str> {
        self.calls.iter().map(|call| call.method.as_str())
    }

    /// The answer a node gives when every call fails with `kind`: one error object, or an
    /// array of them for a batch, each with its call's id.
    pub(crate) fn error_answer(&self, kind: RpcErrorKind) -> Value {
        let errors: Vec<Value> = self
            .calls
            .iter()
            .map(|call| {
                json!({
                    "jsonrpc": "2.0",
                    "id": call.id,
                    "error": { "code": kind.code(), "message": kind.message() },
                })
            })
            .collect();
        if self.batch {
            Value::Array(errors)
        } else {
            errors.into_iter().next().unwrap_or(Value::Null)
        }
    }
}

impl Call {
    fn read(value: &Value) -> Self {
        Call {
            method: value
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or(UNREADABLE_METHOD)
                .to_owned(),
            id: value.get("id").cloned().unwrap_or(Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_error_answer_carries_the_request_id() {
        let calls = Calls::read(
            br#"{"jsonrpc":"2.0","id":"abc","method":"eth_sendRawTransaction","params":[]}"#,
        );
        assert_eq!(
            calls.error_answer(RpcErrorKind::NonceTooLow),
            json!({"jsonrpc":"2.0","id":"abc","error":{"code":-32000,"message":"nonce too low"}})
        );
    }

    #[test]
    fn a_batch_error_answer_has_one_error_per_call() {
        let calls = Calls::read(
            br#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber"}]"#,
        );
        assert_eq!(
            calls.methods().collect::<Vec<_>>(),
            ["eth_chainId", "eth_blockNumber"]
        );
        assert_eq!(
            calls.error_answer(RpcErrorKind::Internal),
            json!([
                {"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error"}},
                {"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"internal error"}},
            ])
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_one_unreadable_call() {
        let calls = Calls::read(b"not json");
        assert_eq!(calls.methods().collect::<Vec<_>>(), [UNREADABLE_METHOD]);
        assert_eq!(
            calls.error_answer(RpcErrorKind::AlreadyKnown)["id"],
            Value::Null
        );
    }
}
