//! What the functions' Rust sources say about the deployment: which crates there are, which
//! environment variables each `Config::from_env` reads (and which of them it requires), and
//! which HTTP routes each router serves. Read from the source text, the way a reviewer would.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One crate of `functions/`: its directory name, which is also its package and binary name, and
/// so the directory of its zip under `target/lambda/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FunctionCrate {
    pub name: String,
    pub package: Option<String>,
    pub dir: PathBuf,
}

/// The crates in `root/functions`.
pub fn function_crates(root: &Path) -> Vec<FunctionCrate> {
    let mut crates: Vec<FunctionCrate> = fs::read_dir(root.join("functions"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|dir| dir.join("Cargo.toml").is_file())
                .map(|dir| FunctionCrate {
                    name: dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    package: package_name(&dir.join("Cargo.toml")),
                    dir,
                })
                .collect()
        })
        .unwrap_or_default();
    crates.sort();
    crates
}

/// `name = "..."` of the `[package]` table.
fn package_name(manifest: &Path) -> Option<String> {
    let text = fs::read_to_string(manifest).ok()?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(rest) = line.strip_prefix("name")
            && let Some(value) = rest.trim_start().strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// The non-test Rust source of a crate's `src/`: every `.rs` file except `tests.rs`, each cut at
/// its `#[cfg(test)]` module.
pub fn crate_source(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    collect_rs(&dir.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| p.file_name().is_none_or(|n| n != "tests.rs"))
        .filter_map(|p| {
            let text = fs::read_to_string(&p).ok()?;
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            Some((p, code))
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The environment variables a crate reads: name => whether it is required.
///
/// A read is `env.<method>("NAME"…)` on the config's `Env` (`required`, `optional`,
/// `or_default`, and helpers such as `message_type_policy`, which take the name); a helper
/// called without a name (`env.backoff()`, `env.backoff_or(DEFAULTS)`) reads the names in its
/// own body in `shared/src/config/`, and in the bodies of the helpers it calls in turn. Only
/// `required` makes a variable required.
pub fn env_reads(root: &Path, krate: &FunctionCrate) -> BTreeMap<String, bool> {
    let mut config_files = Vec::new();
    collect_rs(&root.join("shared/src/config"), &mut config_files);
    config_files.sort();
    let shared: String = config_files
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|text| match text.find("#[cfg(test)]") {
            Some(i) => text[..i].to_owned(),
            None => text,
        })
        .collect();
    let mut reads = BTreeMap::new();
    for (_, code) in crate_source(&krate.dir) {
        for call in method_calls(&code, "env") {
            match call.name {
                Some(name) => merge_read(&mut reads, name, call.method == "required"),
                None => helper_reads(&shared, &call.method, 3, &mut reads),
            }
        }
    }
    reads
}

/// The names the helper `method` of `shared/src/config/` reads, following the helpers it calls
/// `depth` deep. What a helper's helper requires is read as optional: whether it runs at all is
/// the outer helper's choice (`chains()` reads `CHAIN_ID` only without `CHAINS`).
fn helper_reads(shared: &str, method: &str, depth: usize, reads: &mut BTreeMap<String, bool>) {
    helper_reads_within(shared, method, depth, true, reads);
}

fn helper_reads_within(
    shared: &str,
    method: &str,
    depth: usize,
    outermost: bool,
    reads: &mut BTreeMap<String, bool>,
) {
    for inner in method_calls(&function_body(shared, method), "self") {
        match inner.name {
            Some(name) => merge_read(reads, name, outermost && inner.method == "required"),
            None if depth > 0 => {
                helper_reads_within(shared, &inner.method, depth - 1, false, reads)
            }
            None => {}
        }
    }
}

fn merge_read(reads: &mut BTreeMap<String, bool>, name: String, required: bool) {
    let entry = reads.entry(name).or_insert(false);
    *entry |= required;
}

/// `receiver.method("NAME"` or `receiver.method()`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MethodCall {
    method: String,
    /// The first argument, if it is a string literal that looks like a variable name.
    name: Option<String>,
}

fn method_calls(code: &str, receiver: &str) -> Vec<MethodCall> {
    let bytes = code.as_bytes();
    let mut calls = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(receiver) {
        let start = from + found;
        from = start + receiver.len();
        let before_ok = start == 0 || !is_ident(bytes[start - 1]);
        if !before_ok {
            continue;
        }
        let rest = code[from..].trim_start();
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let rest = rest.trim_start();
        let method_len = rest.bytes().take_while(|b| is_ident(*b)).count();
        if method_len == 0 {
            continue;
        }
        let method = &rest[..method_len];
        let mut rest = rest[method_len..].trim_start();
        // A turbofish: `required::<u64>(`.
        if let Some(after) = rest.strip_prefix("::<") {
            let Some(end) = after.find('>') else {
                continue;
            };
            rest = after[end + 1..].trim_start();
        }
        let Some(args) = rest.strip_prefix('(') else {
            continue;
        };
        let args = args.trim_start();
        let name = args.strip_prefix('"').and_then(|s| {
            let end = s.find('"')?;
            let name = &s[..end];
            is_env_name(name).then(|| name.to_owned())
        });
        // A call without a name literal is a helper's (`backoff()`, `backoff_or(DEFAULTS)`).
        calls.push(MethodCall {
            method: method.to_owned(),
            name,
        });
    }
    calls
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The text of `fn name(…) { … }` (its braces balanced), or nothing.
fn function_body(code: &str, name: &str) -> String {
    let Some(start) = code.find(&format!("fn {name}(")) else {
        return String::new();
    };
    let Some(open) = code[start..].find('{').map(|i| start + i) else {
        return String::new();
    };
    match balanced(code, open, b'{', b'}') {
        Some(end) => code[open..end].to_owned(),
        None => String::new(),
    }
}

/// The bytes of `code` from `from` on that lie outside string literals, with their indexes.
fn outside_strings(code: &str, from: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
    let bytes = code.as_bytes();
    let mut i = from;
    let mut in_string = false;
    std::iter::from_fn(move || {
        while let Some(&b) = bytes.get(i) {
            let at = i;
            i += 1;
            if in_string {
                if b == b'\\' {
                    i += 1;
                } else if b == b'"' {
                    in_string = false;
                }
            } else if b == b'"' {
                in_string = true;
            } else {
                return Some((at, b));
            }
        }
        None
    })
}

/// The index just past the bracket that closes the one at `open`.
fn balanced(code: &str, open: usize, opening: u8, closing: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in outside_strings(code, open) {
        if b == opening {
            depth += 1;
        } else if b == closing {
            depth -= 1;
            if depth == 0 {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The routes a crate's axum routers serve, as `"METHOD /path"`: every
/// `.route("/path", get(…).post(…))` in its source, with the methods named at the top level of
/// the call.
pub fn routes(krate: &FunctionCrate) -> BTreeSet<String> {
    crate_source(&krate.dir)
        .iter()
        .flat_map(|(_, code)| routes_in(code))
        .collect()
}

/// The routes served by one file of a crate's `src/` (e.g. `status_page.rs`); `None` if the
/// crate has no such file.
pub fn routes_in_file(krate: &FunctionCrate, file_name: &str) -> Option<BTreeSet<String>> {
    crate_source(&krate.dir)
        .into_iter()
        .find(|(path, _)| path.file_name().is_some_and(|n| n == file_name))
        .map(|(_, code)| routes_in(&code))
}

fn routes_in(code: &str) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(".route(") {
        let open = from + found + ".route".len();
        from = open + 1;
        let Some(close) = balanced(code, open, b'(', b')') else {
            continue;
        };
        let call = &code[open + 1..close - 1];
        let call = call.trim_start();
        let Some(path) = call
            .strip_prefix('"')
            .and_then(|s| s.find('"').map(|end| &s[..end]))
        else {
            continue;
        };
        for method in top_level_methods(call) {
            routes.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    routes
}

/// Whether the string literal `"text"` occurs in the non-test source of the crate or of
/// `shared/src` (where a crate's helpers may live).
pub fn has_string_literal(root: &Path, krate: &FunctionCrate, text: &str) -> bool {
    let literal = format!("\"{text}\"");
    crate_source(&krate.dir)
        .into_iter()
        .chain(crate_source(&root.join("shared")))
        .any(|(_, code)| code.contains(&literal))
}

/// `get`, `post`, … called at depth 0 of a `.route(` call's arguments.
fn top_level_methods(args: &str) -> Vec<String> {
    const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];
    let bytes = args.as_bytes();
    let mut depth = 0i32;
    let mut found = Vec::new();
    for (i, b) in outside_strings(args, 0) {
        if b == b'(' || b == b'{' || b == b'[' {
            depth += 1;
        } else if b == b')' || b == b'}' || b == b']' {
            depth -= 1;
        } else if depth == 0 && is_ident(b) && (i == 0 || !is_ident(bytes[i - 1])) {
            // The start of a word; its other bytes follow an identifier byte and are passed over.
            let len = bytes[i..].iter().take_while(|b| is_ident(**b)).count();
            let word = &args[i..i + len];
            if METHODS.contains(&word) && args[i + len..].trim_start().starts_with('(') {
                found.push(word.to_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_calls_with_turbofish_and_line_breaks() {
        let code = r#"
            table: env.required("TABLE_NAME")?,
            limit: env
                .or_default::<u32>("SWEEP_BATCH_LIMIT", 5)?,
            url: env.optional("WEBSOCKET_URL")?,
            backoff: env.backoff()?,
            webhooks: env.backoff_or(DEFAULT_BACKOFF)?,
            other: environment.required("NOT_THIS"),
        "#;
        let calls = method_calls(code, "env");
        assert_eq!(
            calls,
            vec![
                MethodCall {
                    method: "required".into(),
                    name: Some("TABLE_NAME".into())
                },
                MethodCall {
                    method: "or_default".into(),
                    name: Some("SWEEP_BATCH_LIMIT".into())
                },
                MethodCall {
                    method: "optional".into(),
                    name: Some("WEBSOCKET_URL".into())
                },
                MethodCall {
                    method: "backoff".into(),
                    name: None
                },
                MethodCall {
                    method: "backoff_or".into(),
                    name: None
                },
            ]
        );
    }

    #[test]
    fn a_helper_reads_what_the_helpers_it_calls_read() {
        let shared = r#"
            pub fn backoff(&self) -> Result<Backoff, ConfigError> {
                self.backoff_or(Backoff::default())
            }
            pub fn backoff_or(&self, defaults: Backoff) -> Result<Backoff, ConfigError> {
                Backoff::new(self.or_default("BACKOFF_BASE_SECONDS", 2)?, self.required("MAX_ATTEMPTS")?)
            }
        "#;
        let mut reads = BTreeMap::new();
        helper_reads(shared, "backoff", 3, &mut reads);
        // Required by the inner helper, which the outer one may or may not call: optional.
        assert_eq!(
            reads,
            BTreeMap::from([
                ("BACKOFF_BASE_SECONDS".to_owned(), false),
                ("MAX_ATTEMPTS".to_owned(), false),
            ])
        );
        let mut direct = BTreeMap::new();
        helper_reads(shared, "backoff_or", 3, &mut direct);
        assert_eq!(direct.get("MAX_ATTEMPTS"), Some(&true));
    }

    #[test]
    fn route_methods_are_read_at_the_top_level_only() {
        let args = r#""/x/{id}", get(show::<S>).post(move |s| async move { s.get(1) })"#;
        assert_eq!(top_level_methods(args), vec!["get", "post"]);
    }
}
