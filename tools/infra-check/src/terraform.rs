//! The Terraform of `infra/`, parsed with `hcl-rs`, and just enough of Terraform's semantics to
//! check it statically: locals and variable defaults are evaluated (with the handful of built-in
//! functions they use), `for_each` is expanded, and references (`aws_sqs_queue.sign.arn`,
//! `aws_lambda_function.function["signer"].arn`) are read structurally. Nothing here needs a
//! provider or an AWS account.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::{TemplateExpr, TraversalOperator};
use hcl::template::Element;
use hcl::{Block, BlockLabel, Body, Expression, Map, Number, ObjectKey, Template, Value};

/// Why loading or reading the Terraform failed.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A `resource` or `data` block.
#[derive(Debug, Clone)]
pub struct Resource {
    /// `aws_sqs_queue`, `aws_iam_policy_document`, …
    pub kind: String,
    pub name: String,
    pub body: Body,
    /// The file it is in, for messages.
    pub file: String,
}

impl Resource {
    /// `kind.name`, as Terraform prints it.
    pub fn address(&self) -> String {
        format!("{}.{}", self.kind, self.name)
    }

    /// A top-level attribute.
    pub fn attr(&self, key: &str) -> Option<&Expression> {
        attr(&self.body, key)
    }

    /// Top-level blocks with this identifier (`environment`, `statement`, …).
    pub fn blocks<'a>(&'a self, identifier: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.body
            .blocks()
            .filter(move |b| b.identifier() == identifier)
    }
}

/// An attribute of a body.
pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// One instance of a resource: its `each.key` and `each.value` when it has a `for_each`.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub resource: &'a Resource,
    pub each: Option<(String, Value)>,
}

impl Instance<'_> {
    /// `kind.name` or `kind.name["key"]`.
    pub fn address(&self) -> String {
        match &self.each {
            Some((key, _)) => format!("{}[\"{key}\"]", self.resource.address()),
            None => self.resource.address(),
        }
    }

    pub fn key(&self) -> Option<&str> {
        self.each.as_ref().map(|(k, _)| k.as_str())
    }
}

/// A reference such as `aws_sqs_queue.sign_dlq.arn` or `local.function_timeouts["signer"]`,
/// as its parts: `["aws_sqs_queue", "sign_dlq", "arn"]`. An index that is not a constant string
/// (e.g. `[each.key]`) is `"*"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference(pub Vec<String>);

impl Reference {
    pub fn starts_with(&self, parts: &[&str]) -> bool {
        self.0.len() >= parts.len() && self.0.iter().zip(parts).all(|(a, b)| a == b)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A variable's `validation` block.
#[derive(Debug, Clone)]
pub struct Validation {
    pub condition: Expression,
    pub error_message: Expression,
}

/// Everything in `infra/*.tf`.
#[derive(Debug)]
pub struct Infra {
    pub dir: PathBuf,
    pub resources: Vec<Resource>,
    pub data: Vec<Resource>,
    pub locals: BTreeMap<String, Expression>,
    /// Each variable's default, if it has one.
    pub variables: BTreeMap<String, Option<Expression>>,
    /// Each variable's validation blocks.
    pub validations: BTreeMap<String, Vec<Validation>>,
    /// Every top-level block of every file, for scans that look everywhere.
    pub bodies: Vec<(String, Body)>,
}

impl Infra {
    /// Parses every `*.tf` file of `dir`.
    pub fn load(dir: &Path) -> Result<Infra, Error> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(|e| Error(format!("{}: {e}", dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "tf"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error(format!("no .tf files in {}", dir.display())));
        }
        let mut infra = Infra {
            dir: dir.to_owned(),
            resources: Vec::new(),
            data: Vec::new(),
            locals: BTreeMap::new(),
            variables: BTreeMap::new(),
            validations: BTreeMap::new(),
            bodies: Vec::new(),
        };
        for path in files {
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text =
                fs::read_to_string(&path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
            let body: Body =
                hcl::parse(&text).map_err(|e| Error(format!("{}: {e}", path.display())))?;
            for block in body.blocks() {
                let labels: Vec<String> = block.labels().iter().map(label).collect();
                match (block.identifier(), labels.as_slice()) {
                    ("resource", [kind, name]) => infra.resources.push(Resource {
                        kind: kind.clone(),
                        name: name.clone(),
                        body: block.body().clone(),
                        file: file.clone(),
                    }),
                    ("data", [kind, name]) => infra.data.push(Resource {
                        kind: kind.clone(),
                        name: name.clone(),
                        body: block.body().clone(),
                        file: file.clone(),
                    }),
                    ("locals", []) => {
                        for a in block.body().attributes() {
                            infra.locals.insert(a.key().to_owned(), a.expr().clone());
                        }
                    }
                    ("variable", [name]) => {
                        infra
                            .variables
                            .insert(name.clone(), attr(block.body(), "default").cloned());
                        let validations = block
                            .body()
                            .blocks()
                            .filter(|b| b.identifier() == "validation")
                            .filter_map(|b| {
                                Some(Validation {
                                    condition: attr(b.body(), "condition")?.clone(),
                                    error_message: attr(b.body(), "error_message")?.clone(),
                                })
                            })
                            .collect();
                        infra.validations.insert(name.clone(), validations);
                    }
                    _ => {}
                }
            }
            infra.bodies.push((file, body));
        }
        Ok(infra)
    }

    /// Resources of one kind.
    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// Data sources of one kind.
    pub fn data_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.data.iter().filter(move |r| r.kind == kind)
    }

    pub fn resource(&self, kind: &str, name: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }

    /// The variables' defaults, with `overrides` on top. Variables without a default are null.
    pub fn variable_values(&self, overrides: &[(&str, Value)]) -> Map<String, Value> {
        let ctx = functions();
        let mut values: Map<String, Value> = self
            .variables
            .iter()
            .map(|(name, default)| {
                let value = default
                    .as_ref()
                    .and_then(|e| e.evaluate(&ctx).ok())
                    .unwrap_or(Value::Null);
                (name.clone(), value)
            })
            .collect();
        for (name, value) in overrides {
            values.insert((*name).to_owned(), value.clone());
        }
        values
    }

    /// Whether the variable's validation blocks accept `value` (the other variables at their
    /// defaults): `Ok(())`, or the error message of the first condition that fails. `None` if a
    /// condition can't be evaluated statically (e.g. it calls `can` or `regex`).
    pub fn validate(&self, variable: &str, value: Value) -> Option<Result<(), String>> {
        let overrides = [(variable, value)];
        for validation in self.validations.get(variable)? {
            let accepted = self.eval_with(&validation.condition, None, &overrides)?;
            if accepted.as_bool()? {
                continue;
            }
            let message = self
                .eval_with(&validation.error_message, None, &overrides)
                .map(|m| string_of(&m))
                .unwrap_or_else(|| format!("{:?}", validation.error_message));
            return Some(Err(message));
        }
        Some(Ok(()))
    }

    /// Every reference an expression makes, with the indexes that are not constants evaluated
    /// under `each` (`aws_lambda_function.function[each.key]` of the `"api"` instance is
    /// `aws_lambda_function.function.api`); an index that can't be evaluated is `"*"`.
    pub fn references_in(
        &self,
        expr: &Expression,
        each: Option<&(String, Value)>,
    ) -> Vec<Reference> {
        let mut found = Vec::new();
        let index = |e: &Expression| {
            constant_string(e).or_else(|| self.eval(e, each).map(|v| string_of(&v)))
        };
        collect_references(expr, &mut found, &index);
        found
    }

    /// Every local that can be evaluated from variables and other locals alone (not those that
    /// refer to resources), under the given variable overrides.
    pub fn local_values(&self, overrides: &[(&str, Value)]) -> Map<String, Value> {
        let vars = Value::Object(self.variable_values(overrides));
        let mut known: Map<String, Value> = Map::new();
        loop {
            let mut progress = false;
            for (name, expr) in &self.locals {
                if known.contains_key(name) {
                    continue;
                }
                let mut ctx = functions();
                ctx.declare_var("var", vars.clone());
                ctx.declare_var("local", Value::Object(known.clone()));
                if let Ok(value) = expr.evaluate(&ctx) {
                    known.insert(name.clone(), value);
                    progress = true;
                }
            }
            if !progress {
                return known;
            }
        }
    }

    /// Evaluates an expression with the variables' defaults, the evaluable locals and, for a
    /// resource instance, `each`. `None` if it refers to anything else (resources, data).
    pub fn eval(&self, expr: &Expression, each: Option<&(String, Value)>) -> Option<Value> {
        self.eval_with(expr, each, &[])
    }

    /// [`Infra::eval`] with some variables overridden.
    pub fn eval_with(
        &self,
        expr: &Expression,
        each: Option<&(String, Value)>,
        overrides: &[(&str, Value)],
    ) -> Option<Value> {
        let mut ctx = functions();
        ctx.declare_var("var", Value::Object(self.variable_values(overrides)));
        ctx.declare_var("local", Value::Object(self.local_values(overrides)));
        if let Some((key, value)) = each {
            let mut object = Map::new();
            object.insert("key".to_owned(), Value::String(key.clone()));
            object.insert("value".to_owned(), value.clone());
            ctx.declare_var("each", Value::Object(object));
        }
        expr.evaluate(&ctx).ok()
    }

    /// The instances of a resource: one per `for_each` entry, or the resource itself. `None` if
    /// its `for_each` can't be evaluated statically, or it has a `count` that isn't a number.
    pub fn instances<'a>(&self, resource: &'a Resource) -> Option<Vec<Instance<'a>>> {
        if let Some(for_each) = resource.attr("for_each") {
            let entries = match self.eval(for_each, None) {
                Some(Value::Object(map)) => map.into_iter().collect(),
                Some(Value::Array(items)) => items
                    .into_iter()
                    .map(|v| (string_of(&v), v))
                    .collect::<Vec<_>>(),
                Some(_) => return None,
                // A map of references (`{ sign = aws_sqs_queue.sign_dlq.arn }`): its keys are
                // known, its values only at apply time.
                None => self
                    .object_keys(for_each, None)?
                    .into_iter()
                    .map(|k| (k, Value::Null))
                    .collect(),
            };
            return Some(
                entries
                    .into_iter()
                    .map(|each| Instance {
                        resource,
                        each: Some(each),
                    })
                    .collect(),
            );
        }
        Some(vec![Instance {
            resource,
            each: None,
        }])
    }

    /// Follows `local.x`, `local.x.y` and `local.x[each.key]` to the expression it names, through
    /// object literals and `merge(...)`, without evaluating anything else.
    pub fn resolve(&self, expr: &Expression, each: Option<&(String, Value)>) -> Option<Expression> {
        match expr {
            Expression::Parenthesis(inner) => self.resolve(inner, each),
            Expression::Traversal(traversal) => {
                let Expression::Variable(root) = &traversal.expr else {
                    return Some(expr.clone());
                };
                if root.as_str() != "local" {
                    return Some(expr.clone());
                }
                let mut operators = traversal.operators.iter();
                let Some(TraversalOperator::GetAttr(name)) = operators.next() else {
                    return None;
                };
                let mut current = self.resolve(self.locals.get(name.as_str())?, each)?;
                for op in operators {
                    let key = match op {
                        TraversalOperator::GetAttr(id) => id.as_str().to_owned(),
                        TraversalOperator::Index(index) => string_of(&self.eval(index, each)?),
                        _ => return None,
                    };
                    current = self.resolve(&self.member(&current, &key, each)?, each)?;
                }
                Some(current)
            }
            other => Some(other.clone()),
        }
    }

    /// The member `key` of an object literal or `merge(...)` of them (or a local naming one).
    pub fn member(
        &self,
        expr: &Expression,
        key: &str,
        each: Option<&(String, Value)>,
    ) -> Option<Expression> {
        match self.resolve(expr, each)? {
            Expression::Object(object) => object
                .iter()
                .find(|(k, _)| object_key(k).as_deref() == Some(key))
                .map(|(_, v)| v.clone()),
            Expression::FuncCall(call) if call.name.name.as_str() == "merge" => call
                .args
                .iter()
                .rev()
                .find_map(|arg| self.member(arg, key, each)),
            _ => None,
        }
    }

    /// The keys of an object-valued expression (an object literal, `merge(...)` of them, or a
    /// local naming one), without evaluating its values.
    pub fn object_keys(
        &self,
        expr: &Expression,
        each: Option<&(String, Value)>,
    ) -> Option<BTreeSet<String>> {
        match self.resolve(expr, each)? {
            Expression::Object(object) => object.keys().map(object_key).collect(),
            Expression::FuncCall(call) if call.name.name.as_str() == "merge" => {
                let mut keys = BTreeSet::new();
                for arg in &call.args {
                    keys.extend(self.object_keys(arg, each)?);
                }
                Some(keys)
            }
            other => match self.eval(&other, each)? {
                Value::Object(map) => Some(map.keys().cloned().collect()),
                _ => None,
            },
        }
    }
}

/// The text of a block label.
fn label(label: &BlockLabel) -> String {
    match label {
        BlockLabel::Identifier(id) => id.as_str().to_owned(),
        BlockLabel::String(s) => s.clone(),
    }
}

/// An object key as a string, if it is a constant.
pub fn object_key(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Identifier(id) => Some(id.as_str().to_owned()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
        ObjectKey::Expression(Expression::TemplateExpr(t)) => {
            let template = Template::from_expr(t).ok()?;
            match template.elements() {
                [Element::Literal(s)] => Some(s.clone()),
                [] => Some(String::new()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A value as Terraform would turn it into a string key.
pub fn string_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The constant string of an expression: a plain string, or a template without interpolations.
pub fn constant_string(expr: &Expression) -> Option<String> {
    object_key(&ObjectKey::Expression(expr.clone()))
}

/// Every reference an expression makes, wherever it is nested. An index that is not a constant
/// string is `"*"` (see [`Infra::references_in`] to evaluate it).
pub fn references(expr: &Expression) -> Vec<Reference> {
    let mut found = Vec::new();
    collect_references(expr, &mut found, &constant_string);
    found
}

/// The text of an index expression, if it can be known.
type IndexText<'a> = dyn Fn(&Expression) -> Option<String> + 'a;

fn collect_references(expr: &Expression, found: &mut Vec<Reference>, index_text: &IndexText<'_>) {
    let recurse =
        |e: &Expression, found: &mut Vec<Reference>| collect_references(e, found, index_text);
    match expr {
        Expression::Variable(v) => found.push(Reference(vec![v.as_str().to_owned()])),
        Expression::Traversal(t) => {
            if let Expression::Variable(root) = &t.expr {
                let mut parts = vec![root.as_str().to_owned()];
                for op in &t.operators {
                    match op {
                        TraversalOperator::GetAttr(id) => parts.push(id.as_str().to_owned()),
                        TraversalOperator::Index(index) => {
                            parts.push(index_text(index).unwrap_or_else(|| "*".to_owned()));
                            recurse(index, found);
                        }
                        TraversalOperator::LegacyIndex(i) => parts.push(i.to_string()),
                        TraversalOperator::AttrSplat | TraversalOperator::FullSplat => {
                            parts.push("*".to_owned())
                        }
                    }
                }
                found.push(Reference(parts));
            } else {
                recurse(&t.expr, found);
                for op in &t.operators {
                    if let TraversalOperator::Index(index) = op {
                        recurse(index, found);
                    }
                }
            }
        }
        Expression::Array(items) => items.iter().for_each(|e| recurse(e, found)),
        Expression::Object(object) => {
            for (k, v) in object {
                if let ObjectKey::Expression(k) = k {
                    recurse(k, found);
                }
                recurse(v, found);
            }
        }
        Expression::TemplateExpr(t) => template_references(t, found, index_text),
        Expression::FuncCall(call) => call.args.iter().for_each(|e| recurse(e, found)),
        Expression::Parenthesis(inner) => recurse(inner, found),
        Expression::Conditional(c) => {
            recurse(&c.cond_expr, found);
            recurse(&c.true_expr, found);
            recurse(&c.false_expr, found);
        }
        Expression::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => recurse(&u.expr, found),
            hcl::expr::Operation::Binary(b) => {
                recurse(&b.lhs_expr, found);
                recurse(&b.rhs_expr, found);
            }
        },
        Expression::ForExpr(f) => {
            recurse(&f.collection_expr, found);
            if let Some(k) = &f.key_expr {
                recurse(k, found);
            }
            recurse(&f.value_expr, found);
            if let Some(c) = &f.cond_expr {
                recurse(c, found);
            }
        }
        _ => {}
    }
}

fn template_references(t: &TemplateExpr, found: &mut Vec<Reference>, index_text: &IndexText<'_>) {
    let Ok(template) = Template::from_expr(t) else {
        return;
    };
    for element in template.elements() {
        if let Element::Interpolation(i) = element {
            collect_references(&i.expr, found, index_text);
        }
    }
}

/// Every expression nested in a body: attributes and blocks, recursively, and each
/// sub-expression of those.
pub fn walk_expressions<'a>(body: &'a Body, visit: &mut dyn FnMut(&'a Expression)) {
    for a in body.attributes() {
        walk_expression(a.expr(), visit);
    }
    for b in body.blocks() {
        walk_expressions(b.body(), visit);
    }
}

fn walk_expression<'a>(expr: &'a Expression, visit: &mut dyn FnMut(&'a Expression)) {
    visit(expr);
    match expr {
        Expression::Array(items) => items.iter().for_each(|e| walk_expression(e, visit)),
        Expression::Object(object) => object.values().for_each(|e| walk_expression(e, visit)),
        Expression::FuncCall(call) => call.args.iter().for_each(|e| walk_expression(e, visit)),
        Expression::Parenthesis(inner) => walk_expression(inner, visit),
        Expression::Conditional(c) => {
            walk_expression(&c.true_expr, visit);
            walk_expression(&c.false_expr, visit);
        }
        Expression::ForExpr(f) => walk_expression(&f.value_expr, visit),
        _ => {}
    }
}

// --- the built-in functions the locals use ---------------------------------------------------

/// A context with the Terraform functions that `infra/`'s locals and defaults call.
fn functions() -> Context<'static> {
    let mut ctx = Context::new();
    let variadic = |f| FuncDef::builder().variadic_param(ParamType::Any).build(f);
    for (name, f) in [
        ("min", tf_min as fn(FuncArgs) -> Result<Value, String>),
        ("max", tf_max),
        ("pow", tf_pow),
        ("sum", tf_sum),
        ("ceil", tf_ceil),
        ("floor", tf_floor),
        ("tostring", tf_tostring),
        ("concat", tf_concat),
        ("flatten", tf_flatten),
        ("range", tf_range),
        ("join", tf_join),
        ("split", tf_split),
        ("trimprefix", tf_trimprefix),
        ("length", tf_length),
        ("keys", tf_keys),
        ("values", tf_values),
        ("merge", tf_merge),
        ("toset", tf_toset),
        ("setunion", tf_setunion),
        ("contains", tf_contains),
        ("alltrue", tf_alltrue),
        ("strcontains", tf_strcontains),
    ] {
        ctx.declare_func(name, variadic(f));
    }
    ctx
}

fn number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| "not a number".to_owned()),
        Value::String(s) => s.parse().map_err(|_| format!("`{s}` is not a number")),
        other => Err(format!("{other} is not a number")),
    }
}

fn from_f64(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::Number(Number::from(x as i64))
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn numbers(args: &FuncArgs) -> Result<Vec<f64>, String> {
    args.iter().map(number).collect()
}

fn tf_min(args: FuncArgs) -> Result<Value, String> {
    let n = numbers(&args)?;
    n.into_iter()
        .reduce(f64::min)
        .map(from_f64)
        .ok_or_else(|| "min of nothing".to_owned())
}

fn tf_max(args: FuncArgs) -> Result<Value, String> {
    let n = numbers(&args)?;
    n.into_iter()
        .reduce(f64::max)
        .map(from_f64)
        .ok_or_else(|| "max of nothing".to_owned())
}

fn tf_pow(args: FuncArgs) -> Result<Value, String> {
    match numbers(&args)?.as_slice() {
        [base, exp] => Ok(from_f64(base.powf(*exp))),
        _ => Err("pow takes two numbers".to_owned()),
    }
}

fn list(args: &FuncArgs, i: usize) -> Result<&Vec<Value>, String> {
    args.get(i)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("argument {i} is not a list"))
}

fn text(args: &FuncArgs, i: usize) -> Result<&str, String> {
    args.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("argument {i} is not a string"))
}

fn tf_sum(args: FuncArgs) -> Result<Value, String> {
    let mut total = 0.0;
    for v in list(&args, 0)? {
        total += number(v)?;
    }
    Ok(from_f64(total))
}

fn tf_ceil(args: FuncArgs) -> Result<Value, String> {
    Ok(from_f64(
        number(args.first().ok_or("ceil of nothing")?)?.ceil(),
    ))
}

fn tf_floor(args: FuncArgs) -> Result<Value, String> {
    Ok(from_f64(
        number(args.first().ok_or("floor of nothing")?)?.floor(),
    ))
}

fn tf_tostring(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(string_of(
        args.first().ok_or("tostring of nothing")?,
    )))
}

fn tf_concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for i in 0..args.len() {
        out.extend(list(&args, i)?.iter().cloned());
    }
    Ok(Value::Array(out))
}

/// Lists of lists, to any depth, as one list.
fn tf_flatten(args: FuncArgs) -> Result<Value, String> {
    fn flatten_into(value: &Value, out: &mut Vec<Value>) {
        match value {
            Value::Array(items) => items.iter().for_each(|item| flatten_into(item, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    flatten_into(&Value::Array(list(&args, 0)?.to_vec()), &mut out);
    Ok(Value::Array(out))
}

fn tf_range(args: FuncArgs) -> Result<Value, String> {
    let (start, end, step) = match numbers(&args)?.as_slice() {
        [end] => (0.0, *end, 1.0),
        [start, end] => (*start, *end, 1.0),
        [start, end, step] => (*start, *end, *step),
        _ => return Err("range takes one to three numbers".to_owned()),
    };
    if step == 0.0 {
        return Err("range step is zero".to_owned());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
        out.push(from_f64(x));
        x += step;
    }
    Ok(Value::Array(out))
}

fn tf_join(args: FuncArgs) -> Result<Value, String> {
    let separator = text(&args, 0)?;
    let parts: Vec<String> = list(&args, 1)?.iter().map(string_of).collect();
    Ok(Value::String(parts.join(separator)))
}

fn tf_split(args: FuncArgs) -> Result<Value, String> {
    let separator = text(&args, 0)?;
    Ok(Value::Array(
        text(&args, 1)?
            .split(separator)
            .map(|s| Value::String(s.to_owned()))
            .collect(),
    ))
}

fn tf_trimprefix(args: FuncArgs) -> Result<Value, String> {
    let s = text(&args, 0)?;
    Ok(Value::String(
        s.strip_prefix(text(&args, 1)?).unwrap_or(s).to_owned(),
    ))
}

fn tf_length(args: FuncArgs) -> Result<Value, String> {
    let n = match args.first() {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        Some(Value::String(s)) => s.chars().count(),
        _ => return Err("length of a non-collection".to_owned()),
    };
    Ok(Value::from(n as u64))
}

fn object(args: &FuncArgs, i: usize) -> Result<&Map<String, Value>, String> {
    args.get(i)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("argument {i} is not an object"))
}

fn tf_keys(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(
        object(&args, 0)?
            .keys()
            .map(|k| Value::String(k.clone()))
            .collect(),
    ))
}

fn tf_values(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(object(&args, 0)?.values().cloned().collect()))
}

fn tf_merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = Map::new();
    for i in 0..args.len() {
        for (k, v) in object(&args, i)? {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn set_of(items: impl IntoIterator<Item = Value>) -> Value {
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    for v in items {
        seen.entry(string_of(&v)).or_insert(v);
    }
    Value::Array(seen.into_values().collect())
}

fn tf_toset(args: FuncArgs) -> Result<Value, String> {
    Ok(set_of(list(&args, 0)?.iter().cloned()))
}

fn tf_setunion(args: FuncArgs) -> Result<Value, String> {
    let mut all = Vec::new();
    for i in 0..args.len() {
        all.extend(list(&args, i)?.iter().cloned());
    }
    Ok(set_of(all))
}

fn tf_contains(args: FuncArgs) -> Result<Value, String> {
    let needle = args.get(1).ok_or("contains needs two arguments")?;
    Ok(Value::Bool(list(&args, 0)?.contains(needle)))
}

fn tf_alltrue(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(
        list(&args, 0)?.iter().all(|v| v.as_bool() == Some(true)),
    ))
}

fn tf_strcontains(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(text(&args, 0)?.contains(text(&args, 1)?)))
}
