//! [`TransactionSigner`] over an AWS KMS `ECC_SECG_P256K1` key, through alloy's AWS signer.
//! The private key never leaves KMS.
//!
//! The signer is built lazily: `AwsSigner::new` calls `GetPublicKey`, and a cold start should
//! not wait on the network for a key it may not need yet.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::Address;
use alloy::signers::Signer as _;
use alloy::signers::aws::AwsSigner;
use aws_sdk_kms::Client;
use tokio::sync::OnceCell;

use crate::ports::{SignError, Signature, TransactionSigner};

#[derive(Debug)]
pub struct KmsSigner {
    client: Client,
    key_id: String,
    signer: OnceCell<AwsSigner>,
}

impl KmsSigner {
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
                    .map_err(|e| classify(&format!("KMS key {}: {e:?}", self.key_id)))
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
        let signature = signer
            .sign_hash(&tx.signature_hash())
            .await
            .map_err(|e| classify(&format!("{e:?}")))?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        Ok(Signature {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
        })
    }
}

/// KMS failures: a disabled, deleted or wrong key will not fix itself; everything else
/// (throttling, timeouts, internal errors) may. The detail is scrubbed: SDK errors name ARNs,
/// account ids and endpoints.
fn classify(detail: &str) -> SignError {
    let detail = &crate::redact::scrub(detail);
    const PERMANENT: [&str; 6] = [
        "DisabledException",
        "NotFoundException",
        "InvalidKeyUsageException",
        "KMSInvalidStateException",
        "AccessDeniedException",
        "IncorrectKeyException",
    ];
    if PERMANENT.iter().any(|code| detail.contains(code)) {
        SignError::Failed(detail.to_owned())
    } else {
        SignError::Unavailable(detail.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_failures_are_classified() {
        assert!(classify("ThrottlingException: slow down").is_retryable());
        assert!(classify("dispatch failure: timeout").is_retryable());
        assert!(!classify("DisabledException: key is disabled").is_retryable());
        assert!(!classify("KMSInvalidStateException: pending deletion").is_retryable());
    }
}
