# Operators sign in with Cognito: a user pool of their own, whose users only an
# administrator creates (`aws cognito-idp admin-create-user`, docs/deploy.md).
# The status page signs in through the pool's hosted UI (authorization code
# flow with PKCE: a browser keeps no secret) and sends the access token to the
# operator API (admin.tf), whose JWT authorizer checks it, and to the WebSocket
# API (websocket.tf), whose $connect authorizer, the notifier, checks it too.

locals {
  # The tokens' `iss`: what the JWT authorizer and the notifier accept.
  operator_token_issuer = "https://cognito-idp.${local.region}.amazonaws.com/${aws_cognito_user_pool.operators.id}"

  operator_auth_domain_prefix = coalesce(var.operator_auth_domain_prefix, "${local.prefix}-${local.account_id}")
  operator_hosted_ui_url      = "https://${aws_cognito_user_pool_domain.operators.domain}.auth.${local.region}.amazoncognito.com"

  # The page is served by the operator API itself unless var.status_page_urls
  # says otherwise.
  status_page_urls = length(var.status_page_urls) > 0 ? var.status_page_urls : ["${aws_apigatewayv2_api.admin.api_endpoint}/"]

  # Scope every operator route requires: only access tokens carry scopes, so an
  # ID token (which has the same audience) is refused.
  operator_token_scopes = ["openid"]
}

resource "aws_cognito_user_pool" "operators" {
  name                = "${local.prefix}-operators"
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"

  # Nobody signs up: an administrator creates each operator, who gets a
  # temporary password by e-mail and must replace it at the first sign-in.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  username_configuration {
    case_sensitive = false
  }

  auto_verified_attributes = ["email"]

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  # Every operator sets up an authenticator app (TOTP) at the first sign-in;
  # the hosted UI shows the QR code. No SMS: it would need an SNS role, and
  # SIM swaps make it the weaker factor.
  mfa_configuration = "ON"

  software_token_mfa_configuration {
    enabled = true
  }

  # A lost password or authenticator goes through an administrator
  # (admin-set-user-password), not through the operator's mailbox.
  account_recovery_setting {
    recovery_mechanism {
      name     = "admin_only"
      priority = 1
    }
  }
}

# The status page's app client: a public client (no secret), authorization code
# flow only, tokens valid for an hour and refreshable for a working day.
resource "aws_cognito_user_pool_client" "status_page" {
  name         = "${local.prefix}-status-page"
  user_pool_id = aws_cognito_user_pool.operators.id

  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = local.status_page_urls
  logout_urls                          = local.status_page_urls

  # Sign-in happens in the hosted UI only; the page's own JavaScript may just
  # refresh its tokens.
  explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]

  access_token_validity  = 60
  id_token_validity      = 60
  refresh_token_validity = 12
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "hours"
  }

  enable_token_revocation       = true
  prevent_user_existence_errors = "ENABLED"
}

# The hosted UI: https://<prefix>.auth.<region>.amazoncognito.com.
resource "aws_cognito_user_pool_domain" "operators" {
  domain       = local.operator_auth_domain_prefix
  user_pool_id = aws_cognito_user_pool.operators.id

  lifecycle {
    precondition {
      condition     = length(regexall("aws|amazon|cognito", local.operator_auth_domain_prefix)) == 0 && length(local.operator_auth_domain_prefix) <= 63
      error_message = "The hosted UI's domain prefix (${local.operator_auth_domain_prefix}) must not contain aws, amazon or cognito, and has at most 63 characters: set operator_auth_domain_prefix."
    }
  }
}
