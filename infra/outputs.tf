output "api_url" {
  description = "Base URL of the HTTP API (e.g. <api_url>/health)."
  value       = aws_apigatewayv2_stage.default.invoke_url
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

output "sign_dlq_url" {
  description = "Dead-letter queue of the sign queue (read by the dead-letter function, which keeps its messages)."
  value       = aws_sqs_queue.sign_dlq.url
}

output "broadcast_queue_url" {
  description = "SQS queue feeding the broadcaster."
  value       = aws_sqs_queue.broadcast.url
}

output "broadcast_dlq_url" {
  description = "Dead-letter queue of the broadcast queue (read by the dead-letter function, which keeps its messages)."
  value       = aws_sqs_queue.broadcast_dlq.url
}

output "kms_key_id" {
  description = "Id of the secp256k1 signing key."
  value       = aws_kms_key.signer.key_id
}

output "kms_key_arn" {
  description = "ARN of the secp256k1 signing key."
  value       = aws_kms_key.signer.arn
}

output "signer_key_alias" {
  description = "Alias of the signing key."
  value       = aws_kms_alias.signer.name
}

output "function_names" {
  description = "Lambda function names by role (api, signer, broadcaster, dead-letter, sweeper)."
  value       = { for name, fn in aws_lambda_function.function : name => fn.function_name }
}

output "sweeper_schedule_name" {
  description = "EventBridge Scheduler schedule (in the default group) that runs the sweeper."
  value       = aws_scheduler_schedule.sweeper.name
}
