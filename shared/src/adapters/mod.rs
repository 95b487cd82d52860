//! Implementations of [`crate::ports`] over real services.

pub mod dynamo;
pub mod kms;
pub mod memory;
pub mod node_errors;
pub mod pool;
pub mod rpc;
pub mod secrets;
pub mod sns;
pub mod sqs;
