//! [`TransactionSigner`] over an AWS KMS `ECC_SECG_P256K1` key, through alloy's AWS signer.
//! The private key never leaves KMS.
//!
//! The signer is built lazily: `AwsSigner::new` calls `GetPublicKey`, and a cold start should
//! not wait on the network for a key it may not need yet.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::Address;
use alloy::signers::Signer as _;
use alloy::signers::aws::{AwsSigner, AwsSignerError};
use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata as _;
use tokio::sync::OnceCell;

use crate::lanes::KeyPool;
use crate::ports::{SignError, Signature, TransactionSigner};

#[derive(Debug)]
pub struct KmsSigner {
    client: Client,
    key_id: String,
    signer: OnceCell<AwsSigner>,
}

impl KmsSigner {
    /// A declared chain's keys, a lane each, lane 1 first.
    pub fn lanes_of(client: &Client, chain: &crate::config::ChainDecl) -> KeyPool<KmsSigner> {
        KeyPool::new(
            chain
                .keys
                .iter()
                .map(|id| KmsSigner::new(client.clone(), id))
                .collect(),
        )
    }

    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        KmsSigner {
            client,
            key_id: key_id.into(),
            signer: OnceCell::new(),
        }
    }

    async fn signer(&self) -> Result<&AwsSigner, SignError> {
        self.signer
            .get_or_try_init(|| async {
                AwsSigner::new(self.client.clone(), self.key_id.clone(), None)
                    .await
                    .map_err(|e| classified(&e, Some(&e)))
            })
            .await
    }
}

impl TransactionSigner for KmsSigner {
    async fn address(&self) -> Result<Address, SignError> {
        Ok(self.signer().await?.address())
    }

    async fn sign(&self, tx: TxEip1559) -> Result<Signature, SignError> {
        let signer = self.signer().await?;
        let signature = signer.sign_hash(&tx.signature_hash()).await.map_err(|e| {
            let aws = match &e {
                alloy::signers::Error::Other(inner) => inner.downcast_ref::<AwsSignerError>(),
                _ => None,
            };
            classified(&e, aws)
        })?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        Ok(Signature {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
        })
    }
}

/// KMS error codes that will not pass by themselves: the key is disabled, deleted, pending
/// deletion, of the wrong kind, or not ours to use.
const PERMANENT_CODES: [&str; 6] = [
    "DisabledException",
    "NotFoundException",
    "InvalidKeyUsageException",
    "KMSInvalidStateException",
    "AccessDeniedException",
    "IncorrectKeyException",
];

/// KMS failures, classified from the typed error: the service's error code where KMS answered,
/// a key that can't be read as secp256k1 for good; everything else (throttling, timeouts,
/// internal errors, a missing signature in an answer) may pass. The detail kept is the error's
/// text and its sources, scrubbed: SDK errors name ARNs, account ids and endpoints.
fn classified(err: &dyn std::error::Error, aws: Option<&AwsSignerError>) -> SignError {
    let permanent = aws.is_some_and(|e| match e {
        AwsSignerError::Sign(sdk) => is_permanent_code(sdk.code()),
        AwsSignerError::GetPublicKey(sdk) => is_permanent_code(sdk.code()),
        AwsSignerError::K256(_)
        | AwsSignerError::Spki(_)
        | AwsSignerError::Hex(_)
        | AwsSignerError::PublicKeyNotFound => true,
        _ => false,
    });
    let mut detail = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    let detail = crate::redact::scrub(&detail);
    if permanent {
        SignError::Failed(detail)
    } else {
        SignError::Unavailable(detail)
    }
}

fn is_permanent_code(code: Option<&str>) -> bool {
    code.is_some_and(|code| PERMANENT_CODES.contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kms::error::ErrorMetadata;
    use aws_sdk_kms::operation::sign::SignError as KmsSignError;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn service_error(code: &str) -> AwsSignerError {
        let error = KmsSignError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("arn:aws:kms:us-east-1:123456789012:key/abc says no")
                .build(),
        );
        let response = Response::new(
            StatusCode::try_from(400).unwrap_or_else(|e| panic!("{e}")),
            SdkBody::empty(),
        );
        AwsSignerError::Sign(SdkError::service_error(error, response))
    }

    #[test]
    fn kms_failures_are_classified_from_their_code() {
        for code in PERMANENT_CODES {
            let e = service_error(code);
            assert!(!classified(&e, Some(&e)).is_retryable(), "{code}");
        }
        for code in [
            "ThrottlingException",
            "KMSInternalException",
            "DependencyTimeoutException",
        ] {
            let e = service_error(code);
            assert!(classified(&e, Some(&e)).is_retryable(), "{code}");
        }
        // A key that is not secp256k1 never will be.
        let e = AwsSignerError::PublicKeyNotFound;
        assert!(!classified(&e, Some(&e)).is_retryable());
        // No typed error at all: it may pass.
        let other = std::io::Error::other("connection reset");
        assert!(classified(&other, None).is_retryable());
    }

    #[test]
    fn the_detail_names_no_arn() {
        let e = service_error("AccessDeniedException");
        let text = classified(&e, Some(&e)).to_string();
        assert!(!text.contains("arn:aws"), "{text}");
        assert!(!text.contains("123456789012"), "{text}");
    }
}
