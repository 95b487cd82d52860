//! The deployment's wiring, checked statically against `infra/*.tf` and the functions' code.
//! Each test names the rule it holds; a failure names the resource and what to change.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::sync::OnceLock;

use hcl::{Block, Body, Expression, Value};
use infra_check::code::{self, FunctionCrate};
use infra_check::terraform::{self, Infra, Instance, Reference, Resource, constant_string};

fn infra() -> &'static Infra {
    static INFRA: OnceLock<Infra> = OnceLock::new();
    INFRA.get_or_init(|| {
        Infra::load(&infra_check::workspace_root().join("infra"))
            .unwrap_or_else(|e| panic!("infra/ does not parse: {e}"))
    })
}

fn crates() -> Vec<FunctionCrate> {
    let crates = code::function_crates(&infra_check::workspace_root());
    assert!(!crates.is_empty(), "no crates found in functions/");
    crates
}

fn instances(resource: &Resource) -> Vec<Instance<'_>> {
    infra().instances(resource).unwrap_or_else(|| {
        panic!(
            "{} ({}): its for_each can't be evaluated statically",
            resource.address(),
            resource.file
        )
    })
}

fn eval(expr: &Expression, instance: &Instance<'_>) -> Option<Value> {
    infra().eval(expr, instance.each.as_ref())
}

fn number(value: &Value) -> Option<f64> {
    value.as_number().and_then(|n| n.as_f64())
}

/// The Lambda function instances, by function name key (`api`, `signer`, …).
fn lambdas() -> BTreeMap<String, Instance<'static>> {
    let mut lambdas = BTreeMap::new();
    for resource in infra().resources_of("aws_lambda_function") {
        for instance in instances(resource) {
            let key = instance
                .key()
                .map(str::to_owned)
                .unwrap_or_else(|| resource.name.clone());
            lambdas.insert(key, instance);
        }
    }
    lambdas
}

/// The function instance a reference such as `aws_lambda_function.function["signer"].arn`
/// names.
fn lambda_named_by(reference: &Reference) -> Option<String> {
    match reference.0.as_slice() {
        [kind, name, rest @ ..] if kind == "aws_lambda_function" => {
            let lambdas = lambdas();
            match rest.first() {
                Some(key) if lambdas.contains_key(key) => Some(key.clone()),
                _ if lambdas.contains_key(name) => Some(name.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `aws_sqs_queue.<name>` references in an expression, resolved through `each.value` of the
/// instance (a `for_each` over queue references).
fn queues_referenced(expr: &Expression, instance: &Instance<'_>) -> Vec<String> {
    let mut exprs = vec![expr.clone()];
    if terraform::references(expr)
        .iter()
        .any(|r| r.starts_with(&["each", "value"]))
        && let Some(for_each) = instance.resource.attr("for_each")
        && let (Some(key), Some(Expression::Object(object))) =
            (instance.key(), infra().resolve(for_each, None))
    {
        exprs.extend(
            object
                .iter()
                .filter(|(k, _)| terraform::object_key(k).as_deref() == Some(key))
                .map(|(_, v)| v.clone()),
        );
    }
    exprs
        .iter()
        .flat_map(terraform::references)
        .filter(|r| r.starts_with(&["aws_sqs_queue"]) && r.0.len() >= 2)
        .map(|r| r.0[1].clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The queue's redrive policy: (DLQ resource name, maxReceiveCount expression).
fn redrive(queue: &Resource) -> Option<(String, Expression)> {
    let Expression::FuncCall(call) = queue.attr("redrive_policy")? else {
        panic!(
            "{}: redrive_policy should be jsonencode({{ deadLetterTargetArn = ..., maxReceiveCount = ... }})",
            queue.address()
        );
    };
    let Some(Expression::Object(policy)) = call.args.first() else {
        panic!(
            "{}: redrive_policy is not jsonencode of an object",
            queue.address()
        );
    };
    let field = |name: &str| {
        policy
            .iter()
            .find(|(k, _)| terraform::object_key(k).as_deref() == Some(name))
            .map(|(_, v)| v.clone())
    };
    let target = field("deadLetterTargetArn").unwrap_or_else(|| {
        panic!(
            "{}: redrive_policy has no deadLetterTargetArn",
            queue.address()
        )
    });
    let dlq = terraform::references(&target)
        .into_iter()
        .find(|r| r.starts_with(&["aws_sqs_queue"]) && r.0.len() == 3 && r.0[2] == "arn")
        .map(|r| r.0[1].clone())
        .unwrap_or_else(|| {
            panic!(
                "{}: deadLetterTargetArn should be aws_sqs_queue.<dlq>.arn",
                queue.address()
            )
        });
    let max_receive = field("maxReceiveCount")
        .unwrap_or_else(|| panic!("{}: redrive_policy has no maxReceiveCount", queue.address()));
    Some((dlq, max_receive))
}

fn queue(name: &str) -> &'static Resource {
    infra()
        .resource("aws_sqs_queue", name)
        .unwrap_or_else(|| panic!("aws_sqs_queue.{name} is referenced but not defined"))
}

fn queue_number(queue: &Resource, attribute: &str, default: f64) -> f64 {
    match queue.attr(attribute) {
        None => default,
        Some(expr) => infra()
            .eval(expr, None)
            .as_ref()
            .and_then(number)
            .unwrap_or_else(|| {
                panic!(
                    "{}.{attribute} can't be evaluated statically",
                    queue.address()
                )
            }),
    }
}

fn dead_letter_queues() -> BTreeSet<String> {
    infra()
        .resources_of("aws_sqs_queue")
        .filter_map(redrive)
        .map(|(dlq, _)| dlq)
        .collect()
}

fn is_sqs_mapping(mapping: &Instance<'_>) -> bool {
    mapping
        .resource
        .attr("event_source_arn")
        .is_some_and(|e| !queues_referenced(e, mapping).is_empty())
}

fn mappings() -> Vec<Instance<'static>> {
    infra()
        .resources_of("aws_lambda_event_source_mapping")
        .flat_map(instances)
        .collect()
}

fn mapped_function(mapping: &Instance<'_>) -> String {
    let expr = mapping
        .resource
        .attr("function_name")
        .unwrap_or_else(|| panic!("{}: no function_name", mapping.address()));
    terraform::references(expr)
        .iter()
        .find_map(lambda_named_by)
        .unwrap_or_else(|| {
            panic!(
                "{}: function_name should refer to an aws_lambda_function",
                mapping.address()
            )
        })
}

// --- functions ---------------------------------------------------------------------------------

#[test]
fn every_function_crate_has_a_lambda_built_from_its_zip() {
    let lambdas = lambdas();
    for krate in crates() {
        assert_eq!(
            krate.package.as_deref(),
            Some(krate.name.as_str()),
            "functions/{}: the package name must be the directory name (it names the binary, and so target/lambda/<name>/bootstrap.zip)",
            krate.name
        );
        let lambda = lambdas.get(&krate.name).unwrap_or_else(|| {
            panic!(
                "functions/{} has no aws_lambda_function in infra/ (add it to local.function_timeouts in main.tf); functions there: {:?}",
                krate.name,
                lambdas.keys().collect::<Vec<_>>()
            )
        });
        let filename = lambda
            .resource
            .attr("filename")
            .and_then(|e| eval(e, lambda))
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        assert!(
            filename.ends_with(&format!("/{}/bootstrap.zip", krate.name)),
            "{}: filename should be <lambda_zip_dir>/{}/bootstrap.zip, is `{filename}`",
            lambda.address(),
            krate.name
        );
    }
}

#[test]
fn every_function_has_a_log_group_with_retention_and_tracing() {
    for (name, lambda) in lambdas() {
        let tracing = lambda
            .resource
            .blocks("tracing_config")
            .next()
            .and_then(|b| terraform::attr(b.body(), "mode"))
            .and_then(constant_string);
        assert_eq!(
            tracing.as_deref(),
            Some("Active"),
            "{name}: tracing_config.mode should be Active"
        );
    }
    for group in infra().resources_of("aws_cloudwatch_log_group") {
        assert!(
            group.attr("retention_in_days").is_some(),
            "{}: set retention_in_days (var.log_retention_days)",
            group.address()
        );
        assert!(
            group.attr("kms_key_id").is_some(),
            "{}: encrypt it with the data key (kms_key_id)",
            group.address()
        );
    }
}

/// The environment variables Terraform sets for each function, by function.
fn terraform_environment() -> BTreeMap<String, BTreeSet<String>> {
    lambdas()
        .into_iter()
        .map(|(name, lambda)| {
            let variables = lambda
                .resource
                .blocks("environment")
                .next()
                .and_then(|b| terraform::attr(b.body(), "variables"))
                .map(|expr| {
                    infra()
                        .object_keys(expr, lambda.each.as_ref())
                        .unwrap_or_else(|| {
                            panic!(
                                "{}: can't tell which environment variables it sets (keep them an object literal, merge() of them, or a local naming one)",
                                lambda.address()
                            )
                        })
                })
                .unwrap_or_default();
            (name, variables)
        })
        .collect()
}

#[test]
fn terraform_sets_every_variable_the_code_requires() {
    let root = infra_check::workspace_root();
    let environment = terraform_environment();
    for krate in crates() {
        let reads = code::env_reads(&root, &krate);
        assert!(
            !reads.is_empty(),
            "functions/{}: found no `env.required(\"…\")` reads; has Config::from_env moved?",
            krate.name
        );
        let Some(set) = environment.get(&krate.name) else {
            continue; // every_function_crate_has_a_lambda_built_from_its_zip reports it
        };
        let missing: Vec<&String> = reads
            .iter()
            .filter(|(name, required)| **required && !set.contains(*name))
            .map(|(name, _)| name)
            .collect();
        assert!(
            missing.is_empty(),
            "functions/{} requires {missing:?}, which infra/ does not set (local.function_environment[\"{}\"] in lambda.tf)",
            krate.name,
            krate.name
        );
    }
}

#[test]
fn terraform_sets_no_variable_the_code_does_not_read() {
    let root = infra_check::workspace_root();
    let environment = terraform_environment();
    for krate in crates() {
        let reads = code::env_reads(&root, &krate);
        let Some(set) = environment.get(&krate.name) else {
            continue;
        };
        // RUST_LOG is read by the tracing subscriber; AWS_* by the SDK and lambda_http.
        let unknown: Vec<&String> = set
            .iter()
            .filter(|name| {
                !reads.contains_key(*name) && *name != "RUST_LOG" && !name.starts_with("AWS_")
            })
            .collect();
        assert!(
            unknown.is_empty(),
            "infra/ sets {unknown:?} for {}, which its code never reads (misspelt, or left over?); it reads {:?}",
            krate.name,
            reads.keys().collect::<Vec<_>>()
        );
    }
}

// --- queues --------------------------------------------------------------------------------------

#[test]
fn every_work_queue_redrives_to_a_dead_letter_queue() {
    let dlqs = dead_letter_queues();
    assert!(!dlqs.is_empty(), "no queue has a redrive policy");
    for queue_resource in infra().resources_of("aws_sqs_queue") {
        if dlqs.contains(&queue_resource.name) {
            assert!(
                queue_resource.attr("redrive_policy").is_none(),
                "{} is a dead-letter queue with a redrive policy of its own",
                queue_resource.address()
            );
            continue;
        }
        let (dlq, max_receive) = redrive(queue_resource).unwrap_or_else(|| {
            panic!(
                "{} has no redrive_policy: every queue that is not a DLQ needs one",
                queue_resource.address()
            )
        });
        // The handlers decide "last attempt" from MAX_ATTEMPTS: it must be the same number.
        let refs = terraform::references(&max_receive);
        assert!(
            refs.iter().any(|r| r.0 == ["var", "max_attempts"]),
            "{}: maxReceiveCount should be var.max_attempts (the functions' MAX_ATTEMPTS)",
            queue_resource.address()
        );
        let source_retention = queue_number(queue_resource, "message_retention_seconds", 345_600.0);
        let dlq_retention = queue_number(queue(&dlq), "message_retention_seconds", 345_600.0);
        assert!(
            dlq_retention > source_retention,
            "aws_sqs_queue.{dlq} keeps messages {dlq_retention} s, not longer than its source {} ({source_retention} s): a dead letter keeps its first enqueue time",
            queue_resource.address()
        );
    }
}

#[test]
fn priority_queues_share_their_main_queue_dead_letter_queue() {
    for queue_resource in infra().resources_of("aws_sqs_queue") {
        let Some(main) = queue_resource.name.strip_suffix("_priority") else {
            continue;
        };
        let (priority_dlq, _) = redrive(queue_resource)
            .unwrap_or_else(|| panic!("{} has no redrive policy", queue_resource.address()));
        let (main_dlq, _) = redrive(queue(main))
            .unwrap_or_else(|| panic!("aws_sqs_queue.{main} has no redrive policy"));
        assert_eq!(
            priority_dlq,
            main_dlq,
            "{} should redrive to the same DLQ as aws_sqs_queue.{main}",
            queue_resource.address()
        );
    }
}

#[test]
fn every_queue_has_a_consumer_and_its_visibility_is_six_times_the_consumer_timeout() {
    let lambdas = lambdas();
    let mut consumed = BTreeSet::new();
    for mapping in mappings().iter().filter(|m| is_sqs_mapping(m)) {
        let function = mapped_function(mapping);
        let lambda = &lambdas[&function];
        let timeout = lambda
            .resource
            .attr("timeout")
            .and_then(|e| eval(e, lambda))
            .as_ref()
            .and_then(number)
            .unwrap_or(3.0);
        let source = mapping
            .resource
            .attr("event_source_arn")
            .unwrap_or_else(|| panic!("{}: no event_source_arn", mapping.address()));
        for queue_name in queues_referenced(source, mapping) {
            let visibility = queue_number(queue(&queue_name), "visibility_timeout_seconds", 30.0);
            assert!(
                visibility >= 6.0 * timeout,
                "aws_sqs_queue.{queue_name}: visibility timeout {visibility} s is under 6x the {function} function's timeout ({timeout} s)"
            );
            consumed.insert(queue_name);
        }
    }
    for queue_resource in infra().resources_of("aws_sqs_queue") {
        assert!(
            consumed.contains(&queue_resource.name),
            "{} has no event source mapping: nothing reads it",
            queue_resource.address()
        );
    }
}

#[test]
fn every_event_source_mapping_reports_batch_item_failures() {
    let all = mappings();
    assert!(!all.is_empty(), "no event source mappings");
    for mapping in &all {
        let types = mapping
            .resource
            .attr("function_response_types")
            .and_then(|e| eval(e, mapping));
        let reports = types.as_ref().and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
        });
        assert!(
            reports,
            "{}: function_response_types must include ReportBatchItemFailures",
            mapping.address()
        );
        if is_sqs_mapping(mapping) {
            let concurrency = mapping
                .resource
                .blocks("scaling_config")
                .next()
                .and_then(|b| terraform::attr(b.body(), "maximum_concurrency"));
            assert!(
                concurrency.is_some(),
                "{}: set scaling_config.maximum_concurrency",
                mapping.address()
            );
        }
    }
}

// --- IAM and keys ---------------------------------------------------------------------------------

/// One policy statement: (where, effect, actions, not_actions, resources).
#[derive(Debug)]
struct Statement {
    origin: String,
    allow: bool,
    actions: Vec<String>,
    not_actions: bool,
    resources: Vec<String>,
}

impl Statement {
    fn allows_everything(&self) -> bool {
        self.allow
            && (self.not_actions || self.actions.iter().any(|a| a == "*"))
            && self.resources.iter().any(|r| r == "*")
    }
}

/// The strings of a list expression: evaluated if it can be, otherwise its constant elements.
fn strings(expr: &Expression) -> Vec<String> {
    if let Some(value) = infra().eval(expr, None) {
        return match value {
            Value::Array(items) => items.iter().map(terraform::string_of).collect(),
            other => vec![terraform::string_of(&other)],
        };
    }
    match expr {
        Expression::Array(items) => items.iter().filter_map(constant_string).collect(),
        other => constant_string(other).into_iter().collect(),
    }
}

fn document_statements(origin: &str, body: &Body) -> Vec<Statement> {
    let mut blocks: Vec<&Block> = body
        .blocks()
        .filter(|b| b.identifier() == "statement")
        .collect();
    for dynamic in body.blocks().filter(|b| b.identifier() == "dynamic") {
        blocks.extend(
            dynamic
                .body()
                .blocks()
                .filter(|b| b.identifier() == "content"),
        );
    }
    blocks
        .into_iter()
        .map(|b| {
            let body = b.body();
            let list = |key| terraform::attr(body, key).map(strings).unwrap_or_default();
            Statement {
                origin: origin.to_owned(),
                allow: terraform::attr(body, "effect")
                    .and_then(constant_string)
                    .is_none_or(|e| e == "Allow"),
                actions: list("actions"),
                not_actions: terraform::attr(body, "not_actions").is_some(),
                resources: list("resources"),
            }
        })
        .collect()
}

/// Statements written as `jsonencode({ Statement = [...] })`, e.g. key policies.
fn json_statements(origin: &str, expr: &Expression, out: &mut Vec<Statement>) {
    let Expression::Object(object) = expr else {
        return;
    };
    let field = |o: &hcl::Object<hcl::ObjectKey, Expression>, name: &str| {
        o.iter()
            .find(|(k, _)| terraform::object_key(k).as_deref() == Some(name))
            .map(|(_, v)| v.clone())
    };
    let Some(statements) = field(object, "Statement") else {
        return;
    };
    let statements = match statements {
        Expression::Array(items) => items,
        single => vec![single],
    };
    for statement in statements {
        let Expression::Object(s) = statement else {
            continue;
        };
        out.push(Statement {
            origin: origin.to_owned(),
            allow: field(&s, "Effect")
                .and_then(|e| constant_string(&e))
                .is_none_or(|e| e == "Allow"),
            actions: field(&s, "Action").map(|e| strings(&e)).unwrap_or_default(),
            not_actions: field(&s, "NotAction").is_some(),
            resources: field(&s, "Resource")
                .map(|e| strings(&e))
                .unwrap_or_default(),
        });
    }
}

fn all_statements() -> Vec<Statement> {
    let mut statements = Vec::new();
    for document in infra().data_of("aws_iam_policy_document") {
        statements.extend(document_statements(&document.address(), &document.body));
    }
    for (file, body) in &infra().bodies {
        terraform::walk_expressions(body, &mut |expr| {
            if let Expression::FuncCall(call) = expr
                && call.name.name.as_str() == "jsonencode"
                && let Some(arg) = call.args.first()
            {
                json_statements(file, arg, &mut statements);
            }
        });
    }
    statements
}

#[test]
fn no_iam_statement_allows_every_action_on_every_resource() {
    let statements = all_statements();
    assert!(
        statements.len() > 10,
        "found only {} policy statements; is the scan still reading infra/?",
        statements.len()
    );
    for statement in &statements {
        assert!(
            !statement.allows_everything(),
            "{}: a statement allows every action on every resource: {statement:?}",
            statement.origin
        );
    }
    for kind in [
        "aws_iam_role_policy_attachment",
        "aws_iam_policy_attachment",
    ] {
        for attachment in infra().resources_of(kind) {
            let arn = attachment
                .attr("policy_arn")
                .map(|e| format!("{e:?}"))
                .unwrap_or_default();
            assert!(
                !arn.contains("AdministratorAccess") && !arn.contains("PowerUserAccess"),
                "{}: attaches an administrator policy",
                attachment.address()
            );
        }
    }
}

#[test]
fn the_signing_key_is_secp256k1_for_signing_only_and_used_by_every_key_id() {
    let signing_keys: Vec<&Resource> = infra()
        .resources_of("aws_kms_key")
        .filter(|k| {
            k.attr("customer_master_key_spec")
                .and_then(constant_string)
                .as_deref()
                == Some("ECC_SECG_P256K1")
        })
        .collect();
    let [key] = signing_keys.as_slice() else {
        panic!(
            "expected exactly one aws_kms_key with customer_master_key_spec = \"ECC_SECG_P256K1\", found {}",
            signing_keys.len()
        );
    };
    assert_eq!(
        key.attr("key_usage").and_then(constant_string).as_deref(),
        Some("SIGN_VERIFY"),
        "{}: key_usage must be SIGN_VERIFY",
        key.address()
    );
    // Every function's KMS_KEY_ID is that key.
    for (name, lambda) in lambdas() {
        let kms_key_id = lambda
            .resource
            .blocks("environment")
            .next()
            .and_then(|b| terraform::attr(b.body(), "variables"))
            .and_then(|e| infra().member(e, "KMS_KEY_ID", lambda.each.as_ref()));
        if let Some(expr) = kms_key_id {
            assert!(
                terraform::references(&expr)
                    .iter()
                    .any(|r| r.starts_with(&["aws_kms_key", &key.name])),
                "{name}: KMS_KEY_ID should be aws_kms_key.{}'s id",
                key.name
            );
        }
    }
    // Only the signing roles may Sign: a Deny for everyone else in the key policy.
    let policy = key
        .attr("policy")
        .and_then(|e| infra().resolve(e, None))
        .unwrap_or_else(|| panic!("{}: no key policy", key.address()));
    let text = format!("{policy:?}");
    assert!(
        text.contains("Deny") && text.contains("kms:Sign") && text.contains("ArnNotEquals"),
        "{}: the key policy should deny kms:Sign to every principal but the signing roles",
        key.address()
    );
}

#[test]
fn data_at_rest_uses_the_customer_managed_data_key() {
    let data_keys: Vec<&Resource> = infra()
        .resources_of("aws_kms_key")
        .filter(|k| k.attr("customer_master_key_spec").is_none())
        .collect();
    let [key] = data_keys.as_slice() else {
        panic!(
            "expected one symmetric aws_kms_key for data at rest, found {}",
            data_keys.len()
        );
    };
    assert!(
        key.attr("enable_key_rotation")
            .and_then(|e| infra().eval(e, None))
            .and_then(|v| v.as_bool())
            == Some(true),
        "{}: enable_key_rotation should be true",
        key.address()
    );
    let uses_key = |expr: Option<&Expression>| {
        expr.is_some_and(|e| {
            terraform::references(e)
                .iter()
                .any(|r| r.starts_with(&["aws_kms_key", &key.name]))
        })
    };
    for table in infra().resources_of("aws_dynamodb_table") {
        let sse = table
            .blocks("server_side_encryption")
            .next()
            .unwrap_or_else(|| panic!("{}: no server_side_encryption", table.address()));
        assert!(
            uses_key(terraform::attr(sse.body(), "kms_key_arn")),
            "{}: encrypt it with aws_kms_key.{}",
            table.address(),
            key.name
        );
        let pitr = table
            .blocks("point_in_time_recovery")
            .next()
            .and_then(|b| terraform::attr(b.body(), "enabled"));
        assert!(
            matches!(pitr, Some(Expression::Bool(true))),
            "{}: point-in-time recovery must be on",
            table.address()
        );
        let ttl = table
            .blocks("ttl")
            .next()
            .and_then(|b| terraform::attr(b.body(), "attribute_name"))
            .and_then(constant_string);
        assert_eq!(
            ttl.as_deref(),
            Some("expires_at"),
            "{}: TTL on expires_at",
            table.address()
        );
    }
    for (kind, attribute) in [
        ("aws_sqs_queue", "kms_master_key_id"),
        ("aws_sns_topic", "kms_master_key_id"),
        ("aws_lambda_function", "kms_key_arn"),
    ] {
        for resource in infra().resources_of(kind) {
            assert!(
                uses_key(resource.attr(attribute)),
                "{}: set {attribute} to aws_kms_key.{}",
                resource.address(),
                key.name
            );
        }
    }
}

// --- APIs ---------------------------------------------------------------------------------------

/// The routes a local names, as "METHOD /path" keys (a map's keys or a set's elements).
fn routes_of_local(name: &str) -> BTreeSet<String> {
    let expr = infra()
        .locals
        .get(name)
        .unwrap_or_else(|| panic!("local.{name} is gone"));
    match infra().eval(expr, None) {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        Some(Value::Array(items)) => items.iter().map(terraform::string_of).collect(),
        _ => panic!("local.{name} can't be evaluated statically"),
    }
}

#[test]
fn the_apis_expose_exactly_the_routes_the_routers_serve() {
    let root = infra_check::workspace_root();
    for (crate_name, local) in [("api", "api_routes"), ("retry", "admin_routes")] {
        let Some(krate) = code::function_crates(&root)
            .into_iter()
            .find(|c| c.name == crate_name)
        else {
            continue;
        };
        let served = code::routes(&krate);
        assert!(
            !served.is_empty(),
            "functions/{crate_name}: found no .route(…) calls"
        );
        let exposed = routes_of_local(local);
        let hidden: Vec<_> = served.difference(&exposed).collect();
        let dangling: Vec<_> = exposed.difference(&served).collect();
        assert!(
            hidden.is_empty() && dangling.is_empty(),
            "local.{local} and functions/{crate_name}'s router disagree: served but not exposed {hidden:?}, exposed but not served {dangling:?}"
        );
    }
}

#[test]
fn submitting_a_transaction_always_needs_an_api_key() {
    let settings = infra()
        .locals
        .get("api_route_settings")
        .unwrap_or_else(|| panic!("local.api_route_settings is gone"));
    for public_reads in [true, false] {
        let overrides = [("public_reads", Value::Bool(public_reads))];
        let value = infra()
            .eval_with(settings, None, &overrides)
            .unwrap_or_else(|| panic!("local.api_route_settings can't be evaluated"));
        let required = value
            .as_object()
            .and_then(|o| o.get("POST /transaction/broadcast"))
            .and_then(Value::as_object)
            .and_then(|r| r.get("api_key_required"))
            .and_then(Value::as_bool);
        assert_eq!(
            required,
            Some(true),
            "POST /transaction/broadcast must need an API key (public_reads = {public_reads})"
        );
    }
    let method = infra()
        .resource("aws_api_gateway_method", "route")
        .unwrap_or_else(|| panic!("aws_api_gateway_method.route is gone"));
    let refs = method
        .attr("api_key_required")
        .map(terraform::references)
        .unwrap_or_default();
    assert!(
        refs.iter()
            .any(|r| r.0 == ["each", "value", "api_key_required"]),
        "aws_api_gateway_method.route: api_key_required should be each.value.api_key_required"
    );
    assert!(
        infra()
            .resources_of("aws_api_gateway_usage_plan")
            .next()
            .is_some()
            && infra()
                .resources_of("aws_api_gateway_api_key")
                .next()
                .is_some(),
        "per-client rate limits need API keys and usage plans"
    );
}

#[test]
fn every_http_api_route_needs_iam_or_a_token() {
    let http_apis: BTreeSet<String> = infra()
        .resources_of("aws_apigatewayv2_api")
        .filter(|a| a.attr("protocol_type").and_then(constant_string).as_deref() == Some("HTTP"))
        .map(|a| a.name.clone())
        .collect();
    for route in infra().resources_of("aws_apigatewayv2_route") {
        let api = route
            .attr("api_id")
            .map(terraform::references)
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.starts_with(&["aws_apigatewayv2_api"]))
            .map(|r| r.0[1].clone())
            .unwrap_or_default();
        if !http_apis.contains(&api) {
            continue; // the WebSocket API's routes are public on purpose (websocket.tf)
        }
        let authorization = route
            .attr("authorization_type")
            .and_then(constant_string)
            .unwrap_or_else(|| "NONE".to_owned());
        assert!(
            ["AWS_IAM", "JWT", "CUSTOM"].contains(&authorization.as_str()),
            "{} on the HTTP API {api}: authorization_type is {authorization}",
            route.address()
        );
    }
}

// --- checkov ------------------------------------------------------------------------------------

#[test]
fn checkov_skips_are_listed_with_reasons_in_one_place() {
    let dir = infra_check::workspace_root().join("infra");
    for (file, _) in &infra().bodies {
        let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(
            !text.contains("checkov:skip"),
            "infra/{file}: skip checkov checks in infra/.checkov.yaml, with the reason, not inline"
        );
    }
    let config = fs::read_to_string(dir.join(".checkov.yaml"))
        .unwrap_or_else(|e| panic!("infra/.checkov.yaml: {e}"));
    let lines: Vec<&str> = config.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(check) = line.strip_prefix("- CKV") else {
            continue;
        };
        // Walk up over the other skips of the same group to its comment.
        let reason = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.starts_with("- CKV"))
            .is_some_and(|l| l.starts_with('#'));
        assert!(
            reason,
            "infra/.checkov.yaml: CKV{check} is skipped without a reason above it"
        );
    }
}
