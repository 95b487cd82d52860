//! The deployment's wiring, checked statically against `infra/*.tf` and the functions' code.
//! Each test names the rule it holds; a failure names the resource and what to change.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::sync::OnceLock;

use hcl::{Block, Body, Expression, Value};
use infra_check::code::{self, FunctionCrate};
use infra_check::terraform::{self, Infra, Instance, Reference, Resource, constant_string};

/// The only routes anyone may call without credentials (besides the status page's files): the
/// health check and the API's OpenAPI document, neither of which shows a transaction.
const PUBLIC_ROUTES: [&str; 2] = ["GET /health", "GET /openapi.json"];

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
        // The handlers decide "last attempt" from MAX_ATTEMPTS: it must be the same number,
        // the same variable as the consumer's MAX_ATTEMPTS.
        let refs = terraform::references(&max_receive);
        let attempts = max_attempts_variable(&queue_resource.name);
        assert!(
            refs.iter().any(|r| r.0 == ["var", attempts.as_str()]),
            "{}: maxReceiveCount should be var.{attempts} (its consumer's MAX_ATTEMPTS)",
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

/// The variable a queue's consumer takes its `MAX_ATTEMPTS` from: the one its redrive policy's
/// `maxReceiveCount` must be.
fn max_attempts_variable(queue_name: &str) -> String {
    let lambdas = lambdas();
    let consumers: BTreeSet<String> = mappings()
        .iter()
        .filter(|m| {
            m.resource
                .attr("event_source_arn")
                .is_some_and(|e| queues_referenced(e, m).iter().any(|q| q == queue_name))
        })
        .map(mapped_function)
        .collect();
    let variables: BTreeSet<String> = consumers
        .iter()
        .map(|function| {
            let expr = environment_variable(function, "MAX_ATTEMPTS").unwrap_or_else(|| {
                panic!("{function} consumes aws_sqs_queue.{queue_name} but has no MAX_ATTEMPTS")
            });
            infra()
                .references_in(&expr, None)
                .iter()
                .find(|r| r.starts_with(&["var"]))
                .and_then(|r| r.0.get(1).cloned())
                .unwrap_or_else(|| {
                    panic!(
                        "{function}: MAX_ATTEMPTS is set from no variable ({:?})",
                        lambdas.get(function).map(|l| l.address())
                    )
                })
        })
        .collect();
    assert_eq!(
        variables.len(),
        1,
        "aws_sqs_queue.{queue_name}'s consumers take MAX_ATTEMPTS from {variables:?}: one variable, or no consumer knows its last attempt"
    );
    variables.into_iter().next().unwrap_or_default()
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
    // A dead-letter queue nothing reads keeps its messages for inspection: an alarm must say
    // when one arrives.
    let watched = alarmed_queues();
    let dlqs = dead_letter_queues();
    for queue_resource in infra().resources_of("aws_sqs_queue") {
        let kept = dlqs.contains(&queue_resource.name) && watched.contains(&queue_resource.name);
        assert!(
            consumed.contains(&queue_resource.name) || kept,
            "{} has no event source mapping: nothing reads it (a dead-letter queue nothing reads needs an alarm on its depth)",
            queue_resource.address()
        );
    }
}

/// The queues an alarm watches by name (`aws_sqs_queue.<q>.name`, in its dimensions or a
/// metric query's).
fn alarmed_queues() -> BTreeSet<String> {
    let mut queues = BTreeSet::new();
    for alarm in infra().resources_of("aws_cloudwatch_metric_alarm") {
        terraform::walk_expressions(&alarm.body, &mut |expr| {
            for r in terraform::references(expr) {
                if r.starts_with(&["aws_sqs_queue"]) && r.0.get(2).is_some_and(|a| a == "name") {
                    queues.extend(r.0.get(1).cloned());
                }
            }
        });
    }
    queues
}

/// A consumer's Lambda timeout in seconds, and its node calls' timeout in seconds.
fn timeouts_of(function: &str) -> (f64, f64) {
    let lambdas = lambdas();
    let lambda = &lambdas[function];
    let timeout = lambda
        .resource
        .attr("timeout")
        .and_then(|e| eval(e, lambda))
        .as_ref()
        .and_then(number)
        .unwrap_or_else(|| panic!("{function}: its timeout can't be evaluated"));
    let rpc = environment_variable(function, "RPC_TIMEOUT_MS")
        .and_then(|e| eval(&e, lambda))
        .and_then(|v| match v {
            Value::String(text) => text.parse::<f64>().ok(),
            other => number(&other),
        })
        .unwrap_or_else(|| panic!("{function}: RPC_TIMEOUT_MS can't be evaluated"));
    (timeout, rpc / 1000.0)
}

/// A `pub const NAME: u64 = N;` of a function's source, as the code declares it.
fn code_constant(path: &str, name: &str) -> f64 {
    let source = std::fs::read_to_string(format!(
        "{}/../../functions/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("functions/{path}: {e}"));
    let declaration = format!("pub const {name}: u64 = ");
    source
        .lines()
        .find_map(|line| line.trim().strip_prefix(declaration.as_str()))
        .and_then(|rest| rest.trim_end_matches(';').trim().parse().ok())
        .unwrap_or_else(|| panic!("functions/{path}: no `{declaration}<n>;`"))
}

#[test]
fn consumer_timeouts_cover_their_node_calls_at_the_nodes_timeout() {
    // (function, node calls one record makes in a row as its code declares them, other work in
    // seconds): the sweeper's watchdog starts repairs for 60 s, then one repair's calls.
    for (function, calls, other) in [
        (
            "signer",
            code_constant("signer/src/lib.rs", "NODE_CALLS_PER_RECORD"),
            10.0,
        ),
        (
            "broadcaster",
            code_constant("broadcaster/src/lib.rs", "NODE_CALLS_PER_RECORD"),
            10.0,
        ),
        (
            "sweeper",
            code_constant("sweeper/src/watchdog.rs", "NODE_CALLS_PER_REPAIR"),
            60.0,
        ),
    ] {
        let (timeout, rpc) = timeouts_of(function);
        assert!(
            timeout >= calls * rpc + other,
            "{function}: a {timeout} s timeout can't hold {calls} node calls of {rpc} s and {other} s more"
        );
    }
    // The retry answers an HTTP request inside API Gateway's 30 s: it must not wait on a node.
    assert!(
        environment_variable("retry", "RPC_URL").is_none()
            && environment_variable("retry", "RPC_NODES").is_none(),
        "retry: it answers an operator inside 30 s, and a node may take longer; the broadcaster decides on chain"
    );
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
fn every_signing_key_is_secp256k1_for_signing_only_never_destroyed_and_named_by_the_chains() {
    let signing_keys: Vec<&Resource> = infra()
        .resources_of("aws_kms_key")
        .filter(|k| {
            k.attr("customer_master_key_spec")
                .and_then(constant_string)
                .as_deref()
                == Some("ECC_SECG_P256K1")
        })
        .collect();
    let names: BTreeSet<&str> = signing_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["signer", "chain_signer"]),
        "the signing keys: the default chain's lanes (signer) and every other chain's (chain_signer)"
    );
    for key in &signing_keys {
        let address = key.address();
        assert_eq!(
            key.attr("key_usage").and_then(constant_string).as_deref(),
            Some("SIGN_VERIFY"),
            "{address}: key_usage must be SIGN_VERIFY"
        );
        // A key holds an address's funds: no plan may destroy one.
        let never_destroyed = key.blocks("lifecycle").any(|b| {
            matches!(
                terraform::attr(b.body(), "prevent_destroy"),
                Some(Expression::Bool(true))
            )
        });
        assert!(
            never_destroyed,
            "{address}: lifecycle {{ prevent_destroy = true }}"
        );
        // Only the signing roles may Sign: a Deny for everyone else in the key policy.
        let policy = key
            .attr("policy")
            .and_then(|e| infra().resolve(e, None))
            .unwrap_or_else(|| panic!("{address}: no key policy"));
        let text = format!("{policy:?}");
        assert!(
            text.contains("Deny") && text.contains("kms:Sign") && text.contains("ArnNotEquals"),
            "{address}: the key policy should deny kms:Sign to every principal but the signing roles"
        );
    }
    // Each chain's keys reach the functions by their aliases, in the chains' declaration.
    for alias in ["signer", "chain_signer"] {
        let resource = infra()
            .resource("aws_kms_alias", alias)
            .unwrap_or_else(|| panic!("aws_kms_alias.{alias} is gone"));
        let target = resource
            .attr("target_key_id")
            .map(terraform::references)
            .unwrap_or_default();
        assert!(
            target
                .iter()
                .any(|r| r.starts_with(&["aws_kms_key", alias])),
            "aws_kms_alias.{alias} should name aws_kms_key.{alias}"
        );
    }
    let declared = infra()
        .locals
        .get("chains_declaration")
        .map(|e| deep_references(e, None))
        .unwrap_or_else(|| panic!("local.chains_declaration is gone"));
    for alias in ["signer", "chain_signer"] {
        assert!(
            declared
                .iter()
                .any(|r| r.starts_with(&["aws_kms_alias", alias])),
            "local.chains_declaration should name aws_kms_alias.{alias} (local.chain_key_aliases)"
        );
    }
}

#[test]
fn every_function_that_reads_the_chains_gets_one_declaration() {
    for function in ["api", "signer", "broadcaster", "sweeper"] {
        let set = environment_variable(function, "CHAINS")
            .map(|e| terraform::references(&e))
            .unwrap_or_else(|| panic!("{function}: set CHAINS (lambda.tf)"));
        assert!(
            set.iter().any(|r| r.0 == ["local", "chains_declaration"]),
            "{function}: CHAINS should be local.chains_declaration"
        );
    }
}

#[test]
fn node_urls_are_kept_in_secrets_and_never_in_an_environment() {
    let secret_variables = ["rpc_url", "rpc_nodes", "chain_nodes"];
    for (name, lambda) in lambdas() {
        let Some(variables) = lambda
            .resource
            .blocks("environment")
            .next()
            .and_then(|b| terraform::attr(b.body(), "variables"))
        else {
            continue;
        };
        let leaked: Vec<String> = deep_references(variables, lambda.each.as_ref())
            .iter()
            .filter(|r| {
                (r.0.first().map(String::as_str) == Some("var")
                    && r.0
                        .get(1)
                        .is_some_and(|v| secret_variables.contains(&v.as_str())))
                    || r.0 == ["local", "nodes_by_chain"]
            })
            .map(|r| r.0.join("."))
            .collect();
        assert!(
            leaked.is_empty(),
            "{name}: its environment is built from {leaked:?}: node URLs go in the chains' secrets"
        );
    }
    let secret = infra()
        .resource("aws_secretsmanager_secret", "nodes")
        .unwrap_or_else(|| panic!("aws_secretsmanager_secret.nodes is gone"));
    assert!(
        secret
            .attr("kms_key_id")
            .map(terraform::references)
            .unwrap_or_default()
            .iter()
            .any(|r| r.starts_with(&["aws_kms_key", "data"])),
        "aws_secretsmanager_secret.nodes: encrypt it with the data key"
    );
    let version = infra()
        .resource("aws_secretsmanager_secret_version", "nodes")
        .and_then(|v| v.attr("secret_string"))
        .map(|e| deep_references(e, None))
        .unwrap_or_default();
    assert!(
        version.iter().any(|r| r.0 == ["var", "chain_nodes"])
            && version.iter().any(|r| r.0 == ["var", "rpc_nodes"]),
        "aws_secretsmanager_secret_version.nodes should hold chain_nodes (or the one chain's rpc_nodes/rpc_url)"
    );
    let declared = infra()
        .locals
        .get("chains_declaration")
        .map(|e| deep_references(e, None))
        .unwrap_or_default();
    for kind in [
        "aws_secretsmanager_secret",
        "aws_secretsmanager_secret_version",
    ] {
        assert!(
            declared.iter().any(|r| r.starts_with(&[kind, "nodes"])),
            "local.chains_declaration should name {kind}.nodes (the secret and the version written)"
        );
    }
    // Only the roles whose code calls nodes may read the secrets, and only those.
    let reads = infra()
        .data_of("aws_iam_policy_document")
        .find(|d| d.name == "chain_nodes")
        .unwrap_or_else(|| panic!("data.aws_iam_policy_document.chain_nodes is gone"));
    let text = format!("{:?}", reads.body);
    assert!(
        text.contains("secretsmanager:GetSecretValue")
            && text.contains("aws_secretsmanager_secret"),
        "data.aws_iam_policy_document.chain_nodes: GetSecretValue on the node secrets"
    );
    for document in infra().data_of("aws_iam_policy_document") {
        let sources = document
            .attr("source_policy_documents")
            .map(terraform::references)
            .unwrap_or_default();
        let includes = sources
            .iter()
            .any(|r| r.starts_with(&["data", "aws_iam_policy_document", "chain_nodes"]));
        let calls_nodes = ["signer", "broadcaster", "sweeper"].contains(&document.name.as_str());
        assert_eq!(
            includes, calls_nodes,
            "data.aws_iam_policy_document.{}: only the signer, broadcaster and sweeper read the node secrets",
            document.name
        );
    }
}

/// A chain of `var.chains`, every attribute given (the evaluator knows no `optional` defaults).
fn chain(chain_id: u32, default: bool, lanes: u32) -> Value {
    let mut chain = hcl::Map::new();
    for (key, value) in [
        ("chain_id", Value::from(chain_id)),
        ("default", Value::Bool(default)),
        ("lanes", Value::from(lanes)),
        ("send_to", Value::from(1)),
        (
            "target_contract",
            Value::from(format!("0x{}", "7a".repeat(20))),
        ),
        ("target_contracts", Value::Object(hcl::Map::new())),
        ("allowed_message_types", Value::Null),
        ("confirmations", Value::Null),
        ("reprice_after_blocks", Value::Null),
        ("max_gas_limit", Value::Null),
        ("max_fee_per_gas_wei", Value::Null),
        ("fee_bump_percent", Value::Null),
    ] {
        chain.insert(key.to_owned(), value);
    }
    Value::Object(chain)
}

#[test]
fn the_default_chain_is_named_once_and_pinned() {
    // The default chain owns aws_kms_key.signer: a change of default would hand its keys to
    // another chain, so the default is named (exactly one) and a plan that moves it fails.
    let one_default = infra()
        .validations
        .get("chains")
        .and_then(|v| v.first())
        .unwrap_or_else(|| panic!("var.chains lost its validations"));
    let holds = |chains: Vec<(&str, Value)>| {
        let map: hcl::Map<String, Value> =
            chains.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        infra()
            .eval_with(
                &one_default.condition,
                None,
                &[("chains", Value::Object(map))],
            )
            .and_then(|v| v.as_bool())
            .unwrap_or_else(|| panic!("var.chains' first validation can't be evaluated statically"))
    };
    assert!(holds(vec![]), "no map: the one chain is its own default");
    assert!(holds(vec![
        ("base", chain(8453, true, 1)),
        ("arb", chain(42161, false, 1))
    ]));
    assert!(
        !holds(vec![
            ("base", chain(8453, false, 1)),
            ("arb", chain(42161, false, 1))
        ]),
        "none marked: refused (the first by name would change as chains are added)"
    );
    assert!(
        !holds(vec![
            ("base", chain(8453, true, 1)),
            ("arb", chain(42161, true, 1))
        ]),
        "two marked: refused"
    );
    let pin = infra()
        .resource("terraform_data", "default_chain")
        .unwrap_or_else(|| panic!("terraform_data.default_chain is gone"));
    let replaced_by = pin
        .attr("triggers_replace")
        .map(terraform::references)
        .unwrap_or_default();
    assert!(
        replaced_by
            .iter()
            .any(|r| r.0 == ["local", "default_chain"]),
        "terraform_data.default_chain: triggers_replace = the default chain's id"
    );
    assert!(
        pin.blocks("lifecycle").any(|b| matches!(
            terraform::attr(b.body(), "prevent_destroy"),
            Some(Expression::Bool(true))
        )),
        "terraform_data.default_chain: lifecycle {{ prevent_destroy = true }}"
    );
}

#[test]
fn keys_secrets_and_alarms_follow_the_chains_map() {
    // Every per-chain and per-lane resource is made from the chains' locals.
    for (kind, name, attribute, local) in [
        ("aws_kms_key", "signer", "count", "default_lanes"),
        ("aws_kms_alias", "signer", "count", "default_lanes"),
        ("aws_kms_key", "chain_signer", "for_each", "more_lanes"),
        ("aws_kms_alias", "chain_signer", "for_each", "more_lanes"),
        ("aws_secretsmanager_secret", "nodes", "for_each", "chains"),
        (
            "aws_secretsmanager_secret_version",
            "nodes",
            "for_each",
            "chains",
        ),
        (
            "aws_cloudwatch_metric_alarm",
            "signer_balance",
            "for_each",
            "all_lanes",
        ),
        (
            "aws_cloudwatch_metric_alarm",
            "nonce_stalled",
            "for_each",
            "all_lanes",
        ),
        (
            "aws_cloudwatch_metric_alarm",
            "lane_paused",
            "for_each",
            "all_lanes",
        ),
    ] {
        let made_from = infra()
            .resource(kind, name)
            .and_then(|r| r.attr(attribute))
            .map(terraform::references)
            .unwrap_or_default();
        assert!(
            made_from.iter().any(|r| r.0 == ["local", local]),
            "{kind}.{name}: {attribute} = local.{local}"
        );
    }
    let locals = |chains: Value, extra: &[(&str, Value)]| {
        let mut overrides = vec![("chains", chains)];
        overrides.extend(extra.iter().cloned());
        infra().local_values(&overrides)
    };
    // Sorted, as Terraform iterates a map.
    let keys_of = |value: Option<&Value>| -> Vec<String> {
        let mut keys: Vec<String> = value
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    };
    // Two chains: base (default, 2 lanes) and arbitrum (3 lanes).
    let mut two = hcl::Map::new();
    two.insert("arbitrum".to_owned(), chain(42161, false, 3));
    two.insert("base".to_owned(), chain(8453, true, 2));
    let values = locals(Value::Object(two), &[]);
    assert_eq!(values.get("default_chain"), Some(&Value::from("base")));
    assert_eq!(values.get("default_lanes"), Some(&Value::from(2)));
    assert_eq!(
        keys_of(values.get("more_lanes")),
        vec!["42161/1", "42161/2", "42161/3"],
        "every other chain's lanes, a key each"
    );
    assert_eq!(
        keys_of(values.get("all_lanes")),
        vec!["42161/1", "42161/2", "42161/3", "8453/1", "8453/2"],
        "every lane of every chain, an alarm each"
    );
    assert_eq!(
        values
            .get("lane_alarm_suffix")
            .and_then(Value::as_object)
            .and_then(|s| s.get("8453/1")),
        Some(&Value::from("")),
        "the default chain's first lane keeps a one-key deployment's alarm names"
    );
    assert_eq!(
        values
            .get("lane_alarm_suffix")
            .and_then(Value::as_object)
            .and_then(|s| s.get("42161/2")),
        Some(&Value::from("-chain-42161-lane-2"))
    );
    // None marked default: the first by name.
    let mut unmarked = hcl::Map::new();
    unmarked.insert("arbitrum".to_owned(), chain(42161, false, 1));
    unmarked.insert("base".to_owned(), chain(8453, false, 1));
    let values = locals(Value::Object(unmarked), &[]);
    assert_eq!(values.get("default_chain"), Some(&Value::from("arbitrum")));
    // No map: the one chain of the single-chain variables, its keys where they always were.
    let values = locals(
        Value::Object(hcl::Map::new()),
        &[("chain_id", Value::from(1)), ("lanes", Value::from(2))],
    );
    assert_eq!(values.get("default_chain"), Some(&Value::from("default")));
    assert_eq!(values.get("default_lanes"), Some(&Value::from(2)));
    assert_eq!(keys_of(values.get("more_lanes")), Vec::<String>::new());
    assert_eq!(keys_of(values.get("all_lanes")), vec!["1/1", "1/2"]);
}

#[test]
fn every_role_allowed_to_sign_is_one_the_key_policy_lets_sign() {
    // The key policy's Deny overrides any role policy: a function granted kms:Sign there but
    // missing from `signing_role_arns` fails every signature at run time.
    let kms = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/kms.tf"))
        .unwrap_or_else(|e| panic!("infra/kms.tf: {e}"));
    let list_start = kms
        .find("signing_role_arns = [")
        .unwrap_or_else(|| panic!("infra/kms.tf: no signing_role_arns list"));
    let list = &kms[list_start..];
    // The list ends at the first `]` that closes a line (the entries index with `["…"]`).
    let list = &list[..list.find("\n  ]").map_or(list.len(), |end| end + 1)];
    let mut signers = BTreeSet::new();
    for statement in all_statements() {
        if statement.allow
            && statement.actions.iter().any(|a| a == "kms:Sign")
            && let Some(function) = statement.origin.strip_prefix("aws_iam_policy_document.")
        {
            signers.insert(function.replace('_', "-"));
        }
    }
    assert!(
        signers.contains("signer"),
        "no role policy grants kms:Sign: {signers:?}"
    );
    for function in signers {
        assert!(
            list.contains(&format!("aws_iam_role.function[\"{function}\"]")),
            "{function}'s role may kms:Sign, but infra/kms.tf's signing_role_arns does not list it: the key policy denies it"
        );
    }
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

/// The branch of `cond ? a : b` that `each` selects, through nested conditionals; the
/// expression itself if it is not a conditional or its condition can't be evaluated.
fn chosen(expr: &Expression, each: Option<&(String, Value)>) -> Expression {
    match expr {
        Expression::Parenthesis(inner) => chosen(inner, each),
        Expression::Conditional(c) => {
            match infra().eval(&c.cond_expr, each).and_then(|v| v.as_bool()) {
                Some(true) => chosen(&c.true_expr, each),
                Some(false) => chosen(&c.false_expr, each),
                None => expr.clone(),
            }
        }
        other => other.clone(),
    }
}

/// References of an expression, and of the locals it names (transitively): what it is built
/// from.
fn deep_references(expr: &Expression, each: Option<&(String, Value)>) -> Vec<Reference> {
    fn walk(
        expr: &Expression,
        each: Option<&(String, Value)>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<Reference>,
    ) {
        for reference in infra().references_in(expr, each) {
            if let [root, name, ..] = reference.0.as_slice()
                && root == "local"
                && seen.insert(name.clone())
                && let Some(local) = infra().locals.get(name)
            {
                walk(local, None, seen, out);
            }
            out.push(reference);
        }
    }
    let mut out = Vec::new();
    walk(expr, each, &mut BTreeSet::new(), &mut out);
    out
}

/// The name of the `kind` resource a reference list names first (`aws_cognito_user_pool.x.id`
/// gives `x`).
fn named(references: &[Reference], kind: &str) -> Option<String> {
    references
        .iter()
        .find(|r| r.starts_with(&[kind]) && r.0.len() >= 2)
        .map(|r| r.0[1].clone())
}

/// The function behind an API Gateway v2 route's `target` (`integrations/${…integration.id}`),
/// or a REST integration instance's `uri`.
fn integrated_function(expr: &Expression, each: Option<&(String, Value)>) -> Option<String> {
    let references = infra().references_in(expr, each);
    if let Some(function) = references.iter().find_map(lambda_named_by) {
        return Some(function);
    }
    let reference = references
        .iter()
        .find(|r| r.starts_with(&["aws_apigatewayv2_integration"]) && r.0.len() >= 2)?;
    let resource = infra().resource("aws_apigatewayv2_integration", &reference.0[1])?;
    let integration = instances(resource).into_iter().find(|i| {
        i.key()
            .is_none_or(|k| reference.0.get(2).map(String::as_str) == Some(k))
    })?;
    let uri = resource.attr("integration_uri")?;
    infra()
        .references_in(uri, integration.each.as_ref())
        .iter()
        .find_map(lambda_named_by)
}

/// One route of an API Gateway v2 API (HTTP or WebSocket), per instance.
#[derive(Debug)]
struct Route {
    address: String,
    /// The `aws_apigatewayv2_api` resource it belongs to.
    api: String,
    key: String,
    authorization: String,
    /// The `aws_apigatewayv2_authorizer` resource it uses.
    authorizer: Option<String>,
    scopes: Vec<String>,
    function: Option<String>,
}

fn v2_routes() -> Vec<Route> {
    let mut routes = Vec::new();
    for resource in infra().resources_of("aws_apigatewayv2_route") {
        for route in instances(resource) {
            let each = route.each.as_ref();
            let attr = |name: &str| resource.attr(name).map(|e| chosen(e, each));
            let api = attr("api_id")
                .and_then(|e| named(&terraform::references(&e), "aws_apigatewayv2_api"))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: api_id should be an aws_apigatewayv2_api's id",
                        route.address()
                    )
                });
            let key = attr("route_key")
                .and_then(|e| eval(&e, &route))
                .map(|v| terraform::string_of(&v))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: route_key can't be evaluated statically",
                        route.address()
                    )
                });
            let authorization = match attr("authorization_type") {
                None => "NONE".to_owned(),
                Some(e) => eval(&e, &route)
                    .map(|v| terraform::string_of(&v))
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: authorization_type can't be evaluated statically",
                            route.address()
                        )
                    }),
            };
            let authorizer = attr("authorizer_id")
                .and_then(|e| named(&terraform::references(&e), "aws_apigatewayv2_authorizer"));
            let scopes = match attr("authorization_scopes").and_then(|e| eval(&e, &route)) {
                Some(Value::Array(items)) => items.iter().map(terraform::string_of).collect(),
                _ => Vec::new(),
            };
            let function = resource
                .attr("target")
                .and_then(|e| integrated_function(e, each));
            routes.push(Route {
                address: route.address(),
                api,
                key,
                authorization,
                authorizer,
                scopes,
                function,
            });
        }
    }
    routes
}

/// The `aws_apigatewayv2_api` resources of one protocol (`HTTP`, `WEBSOCKET`).
fn v2_apis(protocol: &str) -> BTreeSet<String> {
    infra()
        .resources_of("aws_apigatewayv2_api")
        .filter(|a| a.attr("protocol_type").and_then(constant_string).as_deref() == Some(protocol))
        .map(|a| a.name.clone())
        .collect()
}

/// The client REST API's routes, "METHOD /path" => the function its integration invokes.
fn rest_routes() -> BTreeMap<String, String> {
    let mut routes = BTreeMap::new();
    for resource in infra().resources_of("aws_api_gateway_integration") {
        for integration in instances(resource) {
            let route = integration.key().map(str::to_owned).unwrap_or_else(|| {
                panic!(
                    "{}: expected one integration per route (for_each over local.api_route_settings)",
                    integration.address()
                )
            });
            let function = resource
                .attr("uri")
                .and_then(|e| integrated_function(e, integration.each.as_ref()))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: uri should be an aws_lambda_function's invoke_arn",
                        integration.address()
                    )
                });
            routes.insert(route, function);
        }
    }
    routes
}

/// The api crate's status page routes (functions/api/src/status_page.rs): what a browser loads
/// before it can sign in.
fn status_page_routes() -> BTreeSet<String> {
    let api = crates()
        .into_iter()
        .find(|c| c.name == "api")
        .unwrap_or_else(|| panic!("functions/api is gone"));
    let routes = code::routes_in_file(&api, "status_page.rs").unwrap_or_else(|| {
        panic!("functions/api/src/status_page.rs is gone; where does the status page live now?")
    });
    assert!(
        routes.contains("GET /"),
        "functions/api/src/status_page.rs: found no GET / route; it serves {routes:?}"
    );
    routes
}

#[test]
fn the_apis_expose_exactly_the_routes_the_routers_serve() {
    // Every route of every API, by the function it invokes.
    let mut exposed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (route, function) in rest_routes() {
        exposed.entry(function).or_default().insert(route);
    }
    let http_apis = v2_apis("HTTP");
    for route in v2_routes()
        .into_iter()
        .filter(|r| http_apis.contains(&r.api))
    {
        let function = route.function.clone().unwrap_or_else(|| {
            panic!(
                "{}: its target should be an integration with an aws_lambda_function",
                route.address
            )
        });
        exposed.entry(function).or_default().insert(route.key);
    }
    assert!(
        exposed.contains_key("api") && exposed.contains_key("retry"),
        "expected routes to the api and retry functions, found {exposed:?}"
    );
    for krate in crates() {
        let served = code::routes(&krate);
        let exposed = exposed.remove(&krate.name).unwrap_or_default();
        let hidden: Vec<_> = served.difference(&exposed).collect();
        let dangling: Vec<_> = exposed.difference(&served).collect();
        assert!(
            hidden.is_empty() && dangling.is_empty(),
            "the APIs and functions/{}'s router disagree: served but exposed by no API {hidden:?}, exposed but not served {dangling:?}",
            krate.name
        );
    }
    assert!(
        exposed.is_empty(),
        "routes go to functions with no crate: {exposed:?}"
    );
}

#[test]
fn no_client_route_answers_without_an_api_key_but_the_public_ones() {
    let expr = infra()
        .locals
        .get("api_route_settings")
        .unwrap_or_else(|| panic!("local.api_route_settings is gone"));
    // Nothing a deployment sets may open a route: the settings depend on no variable.
    let variables: Vec<String> = deep_references(expr, None)
        .into_iter()
        .filter(|r| r.starts_with(&["var"]))
        .map(|r| r.to_string())
        .collect();
    assert!(
        variables.is_empty(),
        "local.api_route_settings depends on {variables:?}: whether a client route needs an API key must not be a setting"
    );
    let settings = infra()
        .eval(expr, None)
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_else(|| panic!("local.api_route_settings can't be evaluated"));
    assert!(
        settings.contains_key("POST /transaction/broadcast"),
        "the client API has no POST /transaction/broadcast"
    );
    for (route, setting) in &settings {
        let required = setting
            .as_object()
            .and_then(|r| r.get("api_key_required"))
            .and_then(Value::as_bool);
        let expected = !PUBLIC_ROUTES.contains(&route.as_str());
        assert_eq!(
            required,
            Some(expected),
            "client API {route}: api_key_required should be {expected} (only {PUBLIC_ROUTES:?} answer without a key)"
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
    let methods: BTreeSet<String> = instances(method)
        .iter()
        .filter_map(|m| m.key().map(str::to_owned))
        .collect();
    assert_eq!(
        methods,
        settings.keys().cloned().collect(),
        "aws_api_gateway_method.route should have one instance per local.api_route_settings entry"
    );
    // The status page is the operators': it is not served to clients.
    let page: Vec<_> = status_page_routes()
        .into_iter()
        .filter(|r| settings.contains_key(r))
        .collect();
    assert!(
        page.is_empty(),
        "the client API serves the status page's {page:?}: it belongs on the operator API"
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

/// The Cognito user pool and app client a JWT authorizer trusts: (pool, client).
fn jwt_authorizer_trust(authorizer: &Resource) -> (String, String) {
    let config = authorizer
        .blocks("jwt_configuration")
        .next()
        .unwrap_or_else(|| panic!("{}: no jwt_configuration", authorizer.address()));
    let issuer = terraform::attr(config.body(), "issuer")
        .map(|e| deep_references(e, None))
        .unwrap_or_default();
    let pool = named(&issuer, "aws_cognito_user_pool").unwrap_or_else(|| {
        panic!(
            "{}: the issuer should be the operators' user pool (https://cognito-idp.<region>.amazonaws.com/<pool id>)",
            authorizer.address()
        )
    });
    let audience = terraform::attr(config.body(), "audience")
        .map(|e| deep_references(e, None))
        .unwrap_or_default();
    let client = named(&audience, "aws_cognito_user_pool_client").unwrap_or_else(|| {
        panic!(
            "{}: the audience should be the status page's app client id",
            authorizer.address()
        )
    });
    let client_pool = infra()
        .resource("aws_cognito_user_pool_client", &client)
        .and_then(|c| c.attr("user_pool_id"))
        .and_then(|e| named(&terraform::references(e), "aws_cognito_user_pool"));
    assert_eq!(
        client_pool.as_deref(),
        Some(pool.as_str()),
        "aws_cognito_user_pool_client.{client} should belong to aws_cognito_user_pool.{pool}, the authorizer's issuer"
    );
    (pool, client)
}

#[test]
fn every_operator_read_and_retry_route_has_the_jwt_authorizer() {
    let http_apis = v2_apis("HTTP");
    let routes: Vec<Route> = v2_routes()
        .into_iter()
        .filter(|r| http_apis.contains(&r.api))
        .collect();
    let mut open: BTreeSet<String> = status_page_routes();
    open.extend(PUBLIC_ROUTES.map(str::to_owned));
    for needed in [
        "GET /transactions",
        "GET /transactions/{id}",
        "GET /transactions/stats",
        "POST /admin/transactions/{id}/retry",
    ] {
        assert!(
            routes.iter().any(|r| r.key == needed),
            "the operator API has no {needed} route"
        );
    }
    for route in &routes {
        if route.authorization == "NONE" {
            assert!(
                open.contains(&route.key),
                "{} ({}): only the status page's files and {PUBLIC_ROUTES:?} may answer without an operator's token",
                route.address,
                route.key
            );
            continue;
        }
        assert_eq!(
            route.authorization, "JWT",
            "{} ({}): operator routes use the Cognito JWT authorizer",
            route.address, route.key
        );
        let name = route.authorizer.clone().unwrap_or_else(|| {
            panic!(
                "{} ({}): JWT without an authorizer_id",
                route.address, route.key
            )
        });
        let authorizer = infra()
            .resource("aws_apigatewayv2_authorizer", &name)
            .unwrap_or_else(|| panic!("aws_apigatewayv2_authorizer.{name} is not defined"));
        assert_eq!(
            authorizer
                .attr("authorizer_type")
                .and_then(constant_string)
                .as_deref(),
            Some("JWT"),
            "{}: authorizer_type should be JWT",
            authorizer.address()
        );
        jwt_authorizer_trust(authorizer);
        // Only access tokens carry scopes: requiring one refuses ID tokens, which have the
        // same audience.
        assert!(
            !route.scopes.is_empty(),
            "{} ({}): require a scope (authorization_scopes), so that only access tokens pass",
            route.address,
            route.key
        );
    }
    // CORS, if any, names origins: never "*".
    for api in infra()
        .resources_of("aws_apigatewayv2_api")
        .filter(|a| http_apis.contains(&a.name))
    {
        let mut wildcard = false;
        terraform::walk_expressions(&api.body, &mut |e| {
            wildcard |= constant_string(e).is_some_and(|s| s.contains('*'));
        });
        assert!(
            !wildcard,
            "{}: no wildcard in its CORS configuration (allow only the status page's origin)",
            api.address()
        );
    }
}

#[test]
fn the_websocket_connect_route_needs_the_token_authorizer() {
    let websocket_apis = v2_apis("WEBSOCKET");
    let routes: Vec<Route> = v2_routes()
        .into_iter()
        .filter(|r| websocket_apis.contains(&r.api))
        .collect();
    let connect = routes
        .iter()
        .find(|r| r.key == "$connect")
        .unwrap_or_else(|| panic!("the WebSocket API has no $connect route"));
    for route in routes.iter().filter(|r| r.key != "$connect") {
        assert!(
            route.key == "$disconnect" || route.authorization != "NONE",
            "{} ({}): only $disconnect may be without authorization",
            route.address,
            route.key
        );
    }
    assert_eq!(
        connect.authorization, "CUSTOM",
        "{}: $connect should use the Lambda token authorizer (authorization_type CUSTOM)",
        connect.address
    );
    let name = connect
        .authorizer
        .clone()
        .unwrap_or_else(|| panic!("{}: $connect has no authorizer_id", connect.address));
    let authorizer = infra()
        .resource("aws_apigatewayv2_authorizer", &name)
        .unwrap_or_else(|| panic!("aws_apigatewayv2_authorizer.{name} is not defined"));
    let address = authorizer.address();
    assert_eq!(
        authorizer
            .attr("authorizer_type")
            .and_then(constant_string)
            .as_deref(),
        Some("REQUEST"),
        "{address}: authorizer_type should be REQUEST"
    );
    assert_eq!(
        authorizer.attr("identity_sources").map(strings),
        Some(vec!["route.request.querystring.token".to_owned()]),
        "{address}: the token comes as ?token=… (a browser sends no headers on a WebSocket handshake)"
    );
    let function = authorizer
        .attr("authorizer_uri")
        .and_then(|e| integrated_function(e, None));
    assert_eq!(
        function.as_deref(),
        Some("notifier"),
        "{address}: the notifier is the authorizer"
    );
    let ttl = authorizer
        .attr("authorizer_result_ttl_in_seconds")
        .and_then(|e| infra().eval(e, None))
        .as_ref()
        .and_then(number)
        .unwrap_or(0.0);
    assert!(
        ttl <= 300.0,
        "{address}: cache results for at most 300 s, not {ttl}"
    );
    // API Gateway may invoke the notifier as this authorizer.
    let permitted = infra().resources_of("aws_lambda_permission").any(|p| {
        let function = p
            .attr("function_name")
            .map(terraform::references)
            .unwrap_or_default();
        let source = p
            .attr("source_arn")
            .map(terraform::references)
            .unwrap_or_default();
        function.iter().find_map(lambda_named_by).as_deref() == Some("notifier")
            && named(&source, "aws_apigatewayv2_authorizer").as_deref() == Some(name.as_str())
    });
    assert!(
        permitted,
        "no aws_lambda_permission lets API Gateway invoke the notifier as {address} (source_arn <execution_arn>/authorizers/<id>)"
    );
    // The notifier checks tokens of the pool and client the operator API trusts.
    let jwt = infra()
        .resources_of("aws_apigatewayv2_authorizer")
        .find(|a| {
            a.attr("authorizer_type")
                .and_then(constant_string)
                .as_deref()
                == Some("JWT")
        })
        .unwrap_or_else(|| panic!("no JWT authorizer for the operator API"));
    let (pool, client) = jwt_authorizer_trust(jwt);
    for (variable, kind, expected) in [
        ("COGNITO_ISSUER", "aws_cognito_user_pool", &pool),
        ("COGNITO_CLIENT_ID", "aws_cognito_user_pool_client", &client),
    ] {
        let set = environment_variable("notifier", variable)
            .map(|e| deep_references(&e, None))
            .unwrap_or_else(|| panic!("the notifier needs {variable} (lambda.tf)"));
        assert_eq!(
            named(&set, kind).as_deref(),
            Some(expected.as_str()),
            "the notifier's {variable} should come from {kind}.{expected}, as the operator API's JWT authorizer's"
        );
    }
    let issuer_of = |e: Option<&Expression>| e.and_then(|e| infra().resolve(e, None));
    let jwt_issuer = jwt
        .blocks("jwt_configuration")
        .next()
        .and_then(|b| terraform::attr(b.body(), "issuer"));
    assert_eq!(
        issuer_of(environment_variable("notifier", "COGNITO_ISSUER").as_ref()),
        issuer_of(jwt_issuer),
        "the notifier's COGNITO_ISSUER and the JWT authorizer's issuer should be the same expression"
    );
}

/// The expression Terraform sets for one environment variable of one function.
fn environment_variable(function: &str, name: &str) -> Option<Expression> {
    let lambdas = lambdas();
    let lambda = lambdas.get(function)?;
    let variables = lambda
        .resource
        .blocks("environment")
        .next()
        .and_then(|b| terraform::attr(b.body(), "variables"))?;
    infra().member(variables, name, lambda.each.as_ref())
}

// --- what may be signed, and what it may cost ------------------------------------------------

fn list_of(items: &[&str]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|s| Value::String((*s).to_owned()))
            .collect(),
    )
}

fn accepts(variable: &str, value: Value) -> bool {
    infra()
        .validate(variable, value.clone())
        .unwrap_or_else(|| {
            panic!(
                "var.{variable}: its validation conditions can't be evaluated statically (keep them to length, alltrue, contains, strcontains, comparisons)"
            )
        })
        .is_ok()
}

#[test]
fn the_message_type_allowlist_is_required_and_never_empty() {
    assert!(
        infra().variables.contains_key("allowed_message_types"),
        "var.allowed_message_types is gone"
    );
    assert!(
        infra().variables["allowed_message_types"].is_none(),
        "var.allowed_message_types must have no default: a deployment names what it may sign"
    );
    for (value, expected) in [
        (list_of(&[]), false),
        (list_of(&[""]), false),
        (list_of(&["a(uint256);b(uint256)"]), false),
        (list_of(&["*", "add_weight(address,uint256)"]), false),
        (list_of(&["add_weight(address,uint256)"]), true),
        (
            list_of(&["add_weight(address,uint256)", "transfer(address,uint256)"]),
            true,
        ),
        (list_of(&["*"]), true),
    ] {
        assert_eq!(
            accepts("allowed_message_types", value.clone()),
            expected,
            "var.allowed_message_types = {value}: its validation should {} it",
            if expected { "accept" } else { "refuse" }
        );
    }
    // Both the api and the signer check it.
    for function in ["api", "signer"] {
        let set = environment_variable(function, "ALLOWED_MESSAGE_TYPES")
            .map(|e| deep_references(&e, None))
            .unwrap_or_else(|| panic!("{function}: set ALLOWED_MESSAGE_TYPES (lambda.tf)"));
        assert!(
            set.iter().any(|r| r.0 == ["var", "allowed_message_types"]),
            "{function}: ALLOWED_MESSAGE_TYPES should come from var.allowed_message_types"
        );
    }
}

#[test]
fn spend_limits_reach_the_signer() {
    for (function, name, variable) in [
        ("signer", "MAX_GAS_LIMIT", "max_gas_limit"),
        ("signer", "MAX_FEE_PER_GAS_WEI", "max_fee_per_gas_wei"),
        ("broadcaster", "MAX_FEE_PER_GAS_WEI", "max_fee_per_gas_wei"),
        // The watchdog judges a lane underfunded by what one transaction may cost.
        ("sweeper", "MAX_GAS_LIMIT", "max_gas_limit"),
        ("sweeper", "MAX_FEE_PER_GAS_WEI", "max_fee_per_gas_wei"),
    ] {
        let set = environment_variable(function, name)
            .map(|e| deep_references(&e, None))
            .unwrap_or_else(|| panic!("{function}: set {name} (lambda.tf)"));
        assert!(
            set.iter().any(|r| r.0 == ["var", variable]),
            "{function}: {name} should come from var.{variable}"
        );
    }
    let number_value = |n: f64| Value::from(n);
    assert!(
        !accepts("max_gas_limit", number_value(21000.0)),
        "var.max_gas_limit must be above 21000"
    );
    assert!(
        !accepts("max_gas_limit", number_value(30000.5)),
        "var.max_gas_limit must be a whole number"
    );
    assert!(
        accepts("max_gas_limit", number_value(21001.0)),
        "var.max_gas_limit = 21001 should be accepted"
    );
    let default = infra().variable_values(&[])["max_gas_limit"].clone();
    assert!(
        accepts("max_gas_limit", default.clone()),
        "var.max_gas_limit's default {default} is refused by its own validation"
    );
    assert!(
        !accepts("low_balance_alarm_ether", number_value(-0.01)),
        "var.low_balance_alarm_ether must be at least 0"
    );
    assert!(
        accepts("low_balance_alarm_ether", number_value(0.0)),
        "var.low_balance_alarm_ether = 0 should be accepted"
    );
}

/// The metric the nonce watchdog publishes per lane (EMF) and the balance alarms watch.
const BALANCE_NAMESPACE: &str = "TxBroadcaster";
const BALANCE_METRIC: &str = "SignerBalanceEther";
const BALANCE_DIMENSION: &str = "ChainId";
const LANE_DIMENSION: &str = "Lane";

#[test]
fn the_signer_balance_alarm_watches_tx_broadcaster_signer_balance_ether() {
    let alarms: Vec<&Resource> = infra()
        .resources_of("aws_cloudwatch_metric_alarm")
        .filter(|a| {
            a.attr("namespace").and_then(constant_string).as_deref() == Some(BALANCE_NAMESPACE)
                && a.attr("metric_name").and_then(constant_string).as_deref()
                    == Some(BALANCE_METRIC)
        })
        .collect();
    let [alarm] = alarms.as_slice() else {
        panic!(
            "expected one aws_cloudwatch_metric_alarm on {BALANCE_NAMESPACE}/{BALANCE_METRIC}, found {}",
            alarms.len()
        );
    };
    let address = alarm.address();
    let constant = |name: &str| alarm.attr(name).and_then(constant_string);
    assert_eq!(
        constant("comparison_operator").as_deref(),
        Some("LessThanThreshold"),
        "{address}: alarm below the threshold"
    );
    // The watchdog reports every lane every minute: no data means nobody watches it.
    assert_eq!(
        constant("treat_missing_data").as_deref(),
        Some("breaching"),
        "{address}: a lane nobody reports on is an alarm"
    );
    let threshold = alarm
        .attr("threshold")
        .map(terraform::references)
        .unwrap_or_default();
    assert!(
        threshold
            .iter()
            .any(|r| r.0 == ["var", "low_balance_alarm_ether"]),
        "{address}: threshold should be var.low_balance_alarm_ether"
    );
    // One alarm per lane of every chain, by the chain's id and the lane's position (its
    // address is known only at run time).
    for (dimension, from) in [(BALANCE_DIMENSION, "chain_id"), (LANE_DIMENSION, "lane")] {
        let references = alarm
            .attr("dimensions")
            .and_then(|e| infra().member(e, dimension, None))
            .map(|e| terraform::references(&e))
            .unwrap_or_default();
        assert!(
            references.iter().any(|r| r.0 == ["each", "value", from]),
            "{address}: dimensions should have {dimension} = tostring(each.value.{from})"
        );
    }
    let actions = alarm
        .attr("alarm_actions")
        .map(|e| deep_references(e, None))
        .unwrap_or_default();
    assert!(
        actions
            .iter()
            .any(|r| r.starts_with(&["aws_sns_topic", "alarms"])),
        "{address}: alarm_actions should notify the alarm topic (local.alarm_actions)"
    );
}

#[test]
fn the_watchdog_publishes_the_balance_metric_the_alarms_watch() {
    let root = infra_check::workspace_root();
    let sweeper = crates()
        .into_iter()
        .find(|c| c.name == "sweeper")
        .unwrap_or_else(|| panic!("functions/sweeper is gone"));
    for literal in [
        BALANCE_NAMESPACE,
        BALANCE_METRIC,
        BALANCE_DIMENSION,
        LANE_DIMENSION,
    ] {
        assert!(
            code::has_string_literal(&root, &sweeper, literal),
            "functions/sweeper (or shared/src) never names \"{literal}\": the nonce watchdog should publish {BALANCE_NAMESPACE}/{BALANCE_METRIC} with the dimensions {BALANCE_DIMENSION} and {LANE_DIMENSION} (an EMF log line), which infra/alarms.tf watches"
        );
    }
}

#[test]
fn operators_are_created_by_an_administrator_and_sign_in_with_mfa() {
    let pools: Vec<&Resource> = infra().resources_of("aws_cognito_user_pool").collect();
    assert!(!pools.is_empty(), "no Cognito user pool for the operators");
    for pool in pools {
        let address = pool.address();
        let admin_only = pool
            .blocks("admin_create_user_config")
            .next()
            .and_then(|b| terraform::attr(b.body(), "allow_admin_create_user_only"));
        assert!(
            matches!(admin_only, Some(Expression::Bool(true))),
            "{address}: only administrators create operators (allow_admin_create_user_only = true)"
        );
        let mfa = pool.attr("mfa_configuration").and_then(constant_string);
        assert!(
            matches!(mfa.as_deref(), Some("ON" | "OPTIONAL")),
            "{address}: mfa_configuration should be ON (or OPTIONAL), is {mfa:?}"
        );
        let minimum_length = pool
            .blocks("password_policy")
            .next()
            .and_then(|b| terraform::attr(b.body(), "minimum_length"))
            .and_then(|e| infra().eval(e, None))
            .as_ref()
            .and_then(number)
            .unwrap_or(8.0);
        assert!(
            minimum_length >= 12.0,
            "{address}: passwords of at least 12 characters, not {minimum_length}"
        );
    }
    for client in infra().resources_of("aws_cognito_user_pool_client") {
        let address = client.address();
        assert!(
            matches!(
                client.attr("generate_secret"),
                Some(Expression::Bool(false))
            ),
            "{address}: a browser keeps no secret (generate_secret = false)"
        );
        assert_eq!(
            client.attr("allowed_oauth_flows").map(strings),
            Some(vec!["code".to_owned()]),
            "{address}: the authorization code flow (with PKCE) only"
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

#[test]
fn the_signer_may_park_a_waiting_transaction_on_its_own_queue() {
    // A wait (funds, fees above the cap) is a fresh, delayed message on the sign queue: without
    // `sqs:SendMessage` there, every wait would burn a delivery and end in review on AWS.
    let signer = infra()
        .data_of("aws_iam_policy_document")
        .find(|d| d.name == "signer")
        .unwrap_or_else(|| panic!("data.aws_iam_policy_document.signer is gone"));
    let grants = signer
        .body
        .blocks()
        .filter(|b| b.identifier() == "statement")
        .any(|statement| {
            let body = statement.body();
            let sends = terraform::attr(body, "actions")
                .map(strings)
                .unwrap_or_default()
                .iter()
                .any(|a| a == "sqs:SendMessage");
            let to_sign_queue = terraform::attr(body, "resources")
                .map(terraform::references)
                .unwrap_or_default()
                .iter()
                .any(|r| {
                    r.0.starts_with(&["aws_sqs_queue".to_owned(), "sign".to_owned()])
                });
            sends && to_sign_queue
        });
    assert!(
        grants,
        "the signer's policy must allow sqs:SendMessage on aws_sqs_queue.sign"
    );
}

#[test]
fn persisting_waits_raise_an_alarm() {
    let waiting: Vec<&Resource> = infra()
        .resources_of("aws_cloudwatch_metric_alarm")
        .filter(|a| {
            a.attr("namespace").and_then(constant_string).as_deref() == Some(BALANCE_NAMESPACE)
                && a.attr("metric_name").and_then(constant_string).as_deref()
                    == Some("TransactionsWaiting")
        })
        .collect();
    assert_eq!(
        waiting.len(),
        1,
        "expected one alarm on {BALANCE_NAMESPACE}/TransactionsWaiting"
    );
    let root = infra_check::workspace_root();
    let signer = crates()
        .into_iter()
        .find(|c| c.name == "signer")
        .unwrap_or_else(|| panic!("functions/signer is gone"));
    assert!(
        code::has_string_literal(&root, &signer, "TransactionsWaiting"),
        "the code never publishes TransactionsWaiting, which infra/alarms.tf watches"
    );
}

#[test]
fn every_index_the_code_queries_exists_and_the_api_may_query_it() {
    let table = infra()
        .resource("aws_dynamodb_table", "transactions")
        .unwrap_or_else(|| panic!("aws_dynamodb_table.transactions is gone"));
    let declared: Vec<String> = table
        .body
        .blocks()
        .filter(|b| b.identifier() == "global_secondary_index")
        .filter_map(|b| terraform::attr(b.body(), "name").and_then(constant_string))
        .collect();
    let iam = std::fs::read_to_string(infra_check::workspace_root().join("infra/iam.tf"))
        .unwrap_or_else(|e| panic!("infra/iam.tf: {e}"));
    for index in [
        tx_shared_index::BY_STATUS,
        tx_shared_index::BY_CREATED,
        tx_shared_index::BY_CLIENT,
    ] {
        assert!(
            declared.iter().any(|d| d == index),
            "the code queries the index `{index}`, which infra/storage.tf does not declare"
        );
        assert!(
            iam.contains(&format!("\"{index}\"")),
            "infra/iam.tf's local.index_arn does not name `{index}`: the api may not query it"
        );
    }
}

/// The index names `shared/src/adapters/dynamo/` queries (kept in step by the test below).
mod tx_shared_index {
    pub(super) const BY_STATUS: &str = "by_status";
    pub(super) const BY_CREATED: &str = "by_created";
    pub(super) const BY_CLIENT: &str = "by_client";
}

#[test]
fn the_index_names_above_are_the_codes() {
    let dynamo = std::fs::read_to_string(
        infra_check::workspace_root().join("shared/src/adapters/dynamo/mod.rs"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (constant, name) in [
        ("INDEX_BY_STATUS", tx_shared_index::BY_STATUS),
        ("INDEX_BY_CREATED", tx_shared_index::BY_CREATED),
        ("INDEX_BY_CLIENT", tx_shared_index::BY_CLIENT),
    ] {
        assert!(
            dynamo.contains(&format!("pub const {constant}: &str = \"{name}\";")),
            "shared/src/adapters/dynamo/mod.rs no longer defines {constant} = \"{name}\""
        );
    }
}

#[test]
fn the_dashboard_charts_every_progress_metric_the_code_publishes_and_every_alarm() {
    let locals = infra().local_values(&[]);
    let names = |local: &str| -> Vec<String> {
        locals
            .get(local)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("local.{local} can't be evaluated"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let counts: Vec<String> = tx_shared::metrics::PROGRESS_COUNTS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(names("progress_counts"), counts);
    let seconds: Vec<String> = tx_shared::metrics::PROGRESS_SECONDS
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    assert_eq!(names("progress_seconds"), seconds);
    assert_eq!(
        names("webhook_metrics"),
        tx_shared::metrics::WEBHOOK_METRICS
    );
    assert_eq!(
        locals.get("metrics_namespace").and_then(Value::as_str),
        Some(tx_shared::metrics::NAMESPACE)
    );
    // Every alarm resource, whatever it watches, is on the dashboard.
    let listed = infra()
        .locals
        .get("dashboard_alarms")
        .unwrap_or_else(|| panic!("no local.dashboard_alarms"));
    let referenced: BTreeSet<String> = infra()
        .references_in(listed, None)
        .iter()
        .filter(|r| r.starts_with(&["aws_cloudwatch_metric_alarm"]))
        .filter_map(|r| r.0.get(1).cloned())
        .collect();
    let alarms: BTreeSet<String> = infra()
        .resources_of("aws_cloudwatch_metric_alarm")
        .map(|r| r.name.clone())
        .collect();
    assert!(!alarms.is_empty());
    assert_eq!(referenced, alarms, "alarms missing from the dashboard");
    assert!(
        infra()
            .resource("aws_cloudwatch_dashboard", "pipeline")
            .is_some()
    );
}
