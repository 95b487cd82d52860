//! What a million transactions cost on AWS, from the requests counted per transaction.
//!
//! Prices: us-east-1 list prices (on-demand, no free tier), as written below; check them
//! against the AWS pricing pages before relying on them.

use std::collections::BTreeMap;

/// One price, for the page.
#[derive(Debug, Clone, Copy)]
pub struct Price {
    pub service: &'static str,
    pub what: &'static str,
    pub dollars: f64,
    pub per: &'static str,
}

pub const API_GATEWAY_HTTP_PER_MILLION: f64 = 1.00;
pub const LAMBDA_REQUESTS_PER_MILLION: f64 = 0.20;
/// arm64, as `infra/` deploys.
pub const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// `lambda_memory_mb` in `infra/variables.tf`.
pub const LAMBDA_MEMORY_GB: f64 = 0.25;
pub const SQS_PER_MILLION: f64 = 0.40;
pub const SNS_PUBLISH_PER_MILLION: f64 = 0.50;
pub const DYNAMODB_WRU_PER_MILLION: f64 = 0.625;
pub const DYNAMODB_RRU_PER_MILLION: f64 = 0.125;
/// "Asymmetric requests except RSA 2048": $0.15 per 10,000.
pub const KMS_ASYMMETRIC_PER_MILLION: f64 = 15.0;

pub const PRICES: [Price; 9] = [
    Price {
        service: "API Gateway",
        what: "HTTP API requests",
        dollars: API_GATEWAY_HTTP_PER_MILLION,
        per: "million requests",
    },
    Price {
        service: "Lambda",
        what: "requests",
        dollars: LAMBDA_REQUESTS_PER_MILLION,
        per: "million invocations",
    },
    Price {
        service: "Lambda",
        what: "duration, arm64",
        dollars: LAMBDA_ARM64_PER_GB_SECOND,
        per: "GB-second (256 MB functions)",
    },
    Price {
        service: "SQS",
        what: "standard queue requests (each ≤ 64 KB; a batch of 10 is one)",
        dollars: SQS_PER_MILLION,
        per: "million requests",
    },
    Price {
        service: "SNS",
        what: "standard topic publishes (delivery to SQS is free)",
        dollars: SNS_PUBLISH_PER_MILLION,
        per: "million publishes",
    },
    Price {
        service: "DynamoDB",
        what: "on-demand write request units",
        dollars: DYNAMODB_WRU_PER_MILLION,
        per: "million WRU",
    },
    Price {
        service: "DynamoDB",
        what: "on-demand read request units",
        dollars: DYNAMODB_RRU_PER_MILLION,
        per: "million RRU",
    },
    Price {
        service: "KMS",
        what: "asymmetric (ECC) requests: Sign, GetPublicKey",
        dollars: KMS_ASYMMETRIC_PER_MILLION,
        per: "million requests",
    },
    Price {
        service: "DynamoDB Streams",
        what: "GetRecords by a Lambda trigger",
        dollars: 0.0,
        per: "free",
    },
];

/// DynamoDB request units one request consumes, for a transaction item of `item_bytes`
/// (the other items, nonce counters and idempotency keys, are under 1 KB): writes bill 1 WRU
/// per KB, transactional writes twice that for each of their two items, strongly consistent
/// reads 1 RRU per 4 KB, index queries (eventually consistent) half that.
pub fn dynamodb_units(operation: &str, item_bytes: usize) -> (f64, f64) {
    let write = item_bytes.div_ceil(1024).max(1) as f64;
    let read = item_bytes.div_ceil(4096).max(1) as f64;
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => (write, 0.0),
        "TransactWriteItems" => (2.0 * (write + 1.0), 0.0),
        "GetItem" => (0.0, read),
        "Query" | "Scan" => (0.0, 0.5 * read),
        "TransactGetItems" => (0.0, 2.0 * read),
        "BatchGetItem" => (0.0, read),
        _ => (0.0, 0.0),
    }
}

/// Dollars per million transactions, by service.
#[derive(Debug, Clone, Default)]
pub struct Bill {
    pub by_service: BTreeMap<&'static str, f64>,
}

impl Bill {
    pub fn total(&self) -> f64 {
        self.by_service.values().sum()
    }
}

/// The bill of a million transactions, each making `per_transaction` requests, costing
/// `lambda_invocations` invocations and `handler_seconds` of billed duration.
pub fn per_million(
    per_transaction: &BTreeMap<(String, String), f64>,
    lambda_invocations: f64,
    handler_seconds: f64,
    item_bytes: usize,
) -> Bill {
    let million = 1_000_000.0;
    let mut by_service: BTreeMap<&'static str, f64> = BTreeMap::new();
    for ((service, operation), n) in per_transaction {
        let dollars = match service.as_str() {
            "SQS" => n * SQS_PER_MILLION,
            "SNS" => n * SNS_PUBLISH_PER_MILLION,
            "KMS" => n * KMS_ASYMMETRIC_PER_MILLION,
            "DynamoDB" => {
                let (wru, rru) = dynamodb_units(operation, item_bytes);
                n * (wru * DYNAMODB_WRU_PER_MILLION + rru * DYNAMODB_RRU_PER_MILLION)
            }
            _ => 0.0,
        };
        let key = match service.as_str() {
            "SQS" => "SQS",
            "SNS" => "SNS",
            "KMS" => "KMS",
            "DynamoDB" => "DynamoDB",
            _ => "other",
        };
        *by_service.entry(key).or_default() += dollars;
    }
    by_service.insert("API Gateway", API_GATEWAY_HTTP_PER_MILLION);
    by_service.insert(
        "Lambda",
        lambda_invocations * LAMBDA_REQUESTS_PER_MILLION
            + handler_seconds * LAMBDA_MEMORY_GB * LAMBDA_ARM64_PER_GB_SECOND * million,
    );
    Bill { by_service }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_item_size() {
        assert_eq!(dynamodb_units("UpdateItem", 900), (1.0, 0.0));
        assert_eq!(dynamodb_units("UpdateItem", 1500), (2.0, 0.0));
        assert_eq!(dynamodb_units("TransactWriteItems", 900), (4.0, 0.0));
        assert_eq!(dynamodb_units("GetItem", 1500), (0.0, 1.0));
        assert_eq!(dynamodb_units("Query", 1500), (0.0, 0.5));
    }

    #[test]
    fn a_million_sqs_requests_cost_forty_cents() {
        let per_tx = BTreeMap::from([(("SQS".to_owned(), "SendMessage".to_owned()), 1.0)]);
        let bill = per_million(&per_tx, 0.0, 0.0, 500);
        assert!((bill.by_service["SQS"] - 0.40).abs() < 1e-9);
        assert!((bill.by_service["API Gateway"] - 1.0).abs() < 1e-9);
    }
}
