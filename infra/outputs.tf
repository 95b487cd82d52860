output "api_url" {
  description = "Base URL of the client API (e.g. <api_url>/health; every other route needs x-api-key): the custom domain if there is one, else the stage URL."
  value       = var.api_domain_name == null ? aws_api_gateway_stage.client.invoke_url : "https://${var.api_domain_name}"
}

output "api_stage_url" {
  description = "The client API's stage URL on execute-api (works with or without a custom domain)."
  value       = aws_api_gateway_stage.client.invoke_url
}

output "api_domain_target" {
  description = "With api_domain_name: point its DNS at this name (CNAME, or a Route 53 alias with api_domain_zone_id)."
  value       = var.api_domain_name == null ? null : aws_api_gateway_domain_name.client[0].regional_domain_name
}

output "api_domain_zone_id" {
  description = "With api_domain_name: the hosted zone id of api_domain_target, for a Route 53 alias record."
  value       = var.api_domain_name == null ? null : aws_api_gateway_domain_name.client[0].regional_zone_id
}

output "websocket_url" {
  description = "wss:// URL of the status page's live feed (the api passes it to the page; $connect needs ?token=<operator access token>)."
  value       = aws_apigatewayv2_stage.websocket.invoke_url
}

output "operator_api_url" {
  description = "Base URL of the operator API: the status page is <operator_api_url>/; reads and POST <operator_api_url>/admin/transactions/<id>/retry need an operator's Cognito access token (Authorization: Bearer)."
  value       = aws_apigatewayv2_api.admin.api_endpoint
}

output "operator_user_pool_id" {
  description = "Cognito user pool of the operators (aws cognito-idp admin-create-user --user-pool-id <this> ...)."
  value       = aws_cognito_user_pool.operators.id
}

output "operator_app_client_id" {
  description = "Cognito app client of the status page (public, authorization code flow with PKCE); the tokens' audience."
  value       = aws_cognito_user_pool_client.status_page.id
}

output "operator_hosted_ui_url" {
  description = "Cognito hosted UI where operators sign in (its /oauth2/authorize and /oauth2/token endpoints)."
  value       = local.operator_hosted_ui_url
}

output "operator_token_issuer" {
  description = "Issuer (iss) of the operators' tokens, as the operator API's JWT authorizer and the notifier check it."
  value       = local.operator_token_issuer
}

output "admin_role_arn" {
  description = "Role operators assume to invoke the retry function directly (IAM)."
  value       = aws_iam_role.admin.arn
}

output "retry_function_name" {
  description = "The retry function, for direct invocation with {\"transaction_id\": \"...\"}."
  value       = aws_lambda_function.function["retry"].function_name
}

output "api_key_ids" {
  description = "API key id of each client; the value: aws apigateway get-api-key --include-value --api-key <id>."
  value       = { for name, key in aws_api_gateway_api_key.client : name => key.id }
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm; subscribe your on-call to it."
  value       = aws_sns_topic.alarms.arn
}

output "data_key_arn" {
  description = "ARN of the symmetric key encrypting data at rest."
  value       = aws_kms_key.data.arn
}

output "table_name" {
  description = "DynamoDB transactions table."
  value       = aws_dynamodb_table.transactions.name
}

output "topic_arn" {
  description = "SNS topic the API publishes requests to."
  value       = aws_sns_topic.requests.arn
}

output "sign_queue_url" {
  description = "SQS queue feeding the signer."
  value       = aws_sqs_queue.sign.url
}

output "sign_priority_queue_url" {
  description = "SQS queue of admin retries that need signing (read by the signer before its backlog)."
  value       = aws_sqs_queue.sign_priority.url
}

output "sign_dlq_url" {
  description = "Dead-letter queue of the sign queue (read by the dead-letter function, which keeps its messages)."
  value       = aws_sqs_queue.sign_dlq.url
}

output "broadcast_queue_url" {
  description = "SQS queue feeding the broadcaster."
  value       = aws_sqs_queue.broadcast.url
}

output "broadcast_priority_queue_url" {
  description = "SQS queue of admin retries that need re-sending (read by the broadcaster)."
  value       = aws_sqs_queue.broadcast_priority.url
}

output "broadcast_dlq_url" {
  description = "Dead-letter queue of the broadcast queue (read by the dead-letter function, which keeps its messages)."
  value       = aws_sqs_queue.broadcast_dlq.url
}

output "kms_key_id" {
  description = "Id of the default chain's first lane's secp256k1 signing key: the signer address is derived from its public key (GET <api_url>/health shows every lane's)."
  value       = aws_kms_key.signer[0].key_id
}

output "kms_key_arn" {
  description = "ARN of the first lane's secp256k1 signing key."
  value       = aws_kms_key.signer[0].arn
}

output "signer_key_alias" {
  description = "Alias of the first lane's signing key."
  value       = aws_kms_alias.signer[0].name
}

output "kms_key_ids" {
  description = "The default chain's lanes' signing keys, lane 1 first (each address must be funded: GET <api_url>/health lists them)."
  value       = aws_kms_key.signer[*].key_id
}

output "chain_signer_key_ids" {
  description = "Every other chain's lanes' signing keys, by \"<chain id>/<lane>\" (each address must be funded on its chain)."
  value       = { for lane, key in aws_kms_key.chain_signer : lane => key.key_id }
}

output "chain_node_secrets" {
  description = "Each chain's node secret (Secrets Manager), by chain name: the node URLs live there, not in the functions' environment."
  value       = { for name, secret in aws_secretsmanager_secret.nodes : name => secret.arn }
}

output "function_names" {
  description = "Lambda function names by crate (api, signer, broadcaster, dead-letter, sweeper, retry, notifier)."
  value       = { for name, fn in aws_lambda_function.function : name => fn.function_name }
}

output "sweeper_schedule_name" {
  description = "EventBridge Scheduler schedule (in the default group) that runs the sweeper."
  value       = aws_scheduler_schedule.sweeper.name
}

output "dashboard_url" {
  description = "The operators' CloudWatch dashboard: progress per chain, stage latencies, queues and alarms."
  value       = "https://console.aws.amazon.com/cloudwatch/home?region=${data.aws_region.current.name}#dashboards/dashboard/${aws_cloudwatch_dashboard.pipeline.dashboard_name}"
}
