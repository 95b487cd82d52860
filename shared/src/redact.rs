//! Keeps secrets out of what the service stores, answers and logs.
//!
//! Node URLs usually carry the provider's API key (in the path, the query or the user info), and
//! AWS errors name ARNs, queue URLs and account ids. [`scrub`] replaces every URL and ARN in a
//! text with a placeholder, and every literal registered with [`register_secret`] (the parts of
//! the configured node URL) wherever it appears, even without its URL around it. It is applied
//! where error text is made ([`crate::adapters::rpc`], [`crate::adapters::kms`]), again where it
//! is stored (the DynamoDB adapter), and to every log line ([`crate::telemetry`]).

use std::sync::{OnceLock, RwLock};

const URL_PLACEHOLDER: &str = "<url>";
const ARN_PLACEHOLDER: &str = "<arn>";
const SECRET_PLACEHOLDER: &str = "<secret>";
/// Shorter literals are too likely to be ordinary words to redact everywhere.
const MIN_SECRET_LEN: usize = 6;

fn secrets() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Remembers a literal that must never appear in output (for the life of the process).
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let Ok(mut known) = secrets().write() else {
        return;
    };
    if !known.iter().any(|s| s == secret) {
        known.push(secret.to_owned());
        // Longest first, so a secret that contains another is replaced whole.
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Registers the parts of a URL that may carry credentials: user info, path segments, query
/// keys' values and the fragment. The host is kept out: it is rarely secret and often common.
pub fn register_url_secrets(raw: &str) {
    let Ok(url) = url::Url::parse(raw) else {
        // Unparseable: the whole text is the only thing we know to hide.
        register_secret(raw);
        return;
    };
    register_secret(url.username());
    if let Some(password) = url.password() {
        register_secret(password);
    }
    if let Some(segments) = url.path_segments() {
        for segment in segments {
            register_secret(segment);
        }
    }
    for (key, value) in url.query_pairs() {
        register_secret(&key);
        register_secret(&value);
    }
    if let Some(query) = url.query() {
        register_secret(query);
    }
    if let Some(fragment) = url.fragment() {
        register_secret(fragment);
    }
}

/// The text with URLs, ARNs and registered secrets replaced by placeholders.
pub fn scrub(text: &str) -> String {
    let mut out = replace_tokens(text);
    if let Ok(known) = secrets().read() {
        for secret in known.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), SECRET_PLACEHOLDER);
            }
        }
    }
    out
}

/// Replaces each URL (`scheme://…`) and ARN (`arn:partition:…`) with its placeholder.
fn replace_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, end, placeholder)) = next_token(rest) {
        out.push_str(&rest[..start]);
        out.push_str(placeholder);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The first URL or ARN in `text`: its byte range and placeholder.
fn next_token(text: &str) -> Option<(usize, usize, &'static str)> {
    let url = text.find("://").map(|at| {
        let start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            // Past that character, whatever its width: text from outside is any UTF-8.
            .map_or(0, |i| {
                i + text[i..].chars().next().map_or(1, char::len_utf8)
            });
        (start, at, URL_PLACEHOLDER)
    });
    let arn = find_arn(text).map(|start| (start, start, ARN_PLACEHOLDER));
    let (start, from, placeholder) = match (url, arn) {
        (Some(u), Some(a)) => {
            if a.0 < u.0 {
                a
            } else {
                u
            }
        }
        (Some(u), None) => u,
        (None, Some(a)) => a,
        (None, None) => return None,
    };
    let end = from
        + text[from..]
            // URLs on the wire are ASCII: the first other character (a closing quote) ends one.
            .find(|c: char| {
                c.is_whitespace()
                    || !c.is_ascii()
                    || matches!(c, '"' | '\'' | '`' | '<' | '>' | '\\')
            })
            .unwrap_or(text.len() - from);
    // A URL's or ARN's last character is rarely sentence punctuation; keep that outside.
    let end = text[..end]
        .trim_end_matches(['.', ',', ';', ':', ')', ']', '}'])
        .len()
        .max(start + 1);
    Some((start, end, placeholder))
}

/// An `arn:aws…:` (any partition) at a word start.
fn find_arn(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find("arn:") {
        let start = from + at;
        let at_word_start = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if at_word_start && text[start + 4..].starts_with("aws") {
            return Some(start);
        }
        from = start + 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_arns_are_replaced_whole() {
        assert_eq!(
            scrub(
                "error sending request for url (https://eth.example.com/v3/abcdef0123?key=xyz): connection refused"
            ),
            "error sending request for url (<url>): connection refused"
        );
        assert_eq!(
            scrub(
                "User: arn:aws:sts::123456789012:assumed-role/ops/alice is not authorized. Retry."
            ),
            "User: <arn> is not authorized. Retry."
        );
        assert_eq!(
            scrub(
                "queue https://sqs.us-east-1.amazonaws.com/123456789012/q, then arn:aws-us-gov:kms:x:1:key/k"
            ),
            "queue <url>, then <arn>"
        );
        assert_eq!(
            scrub("{\"error\":\"http://user:pw@host:8545/\"}"),
            "{\"error\":\"<url>\"}"
        );
    }

    #[test]
    fn any_utf8_around_a_url_is_fine() {
        assert_eq!(scrub("“https://node.example/k”"), "“<url>”");
        assert_eq!(scrub("é://x ü"), "é<url> ü");
        assert_eq!(scrub("日本arn:aws:kms:x"), "日本<arn>");
    }

    proptest::proptest! {
        #[test]
        fn scrubbing_never_panics_and_leaves_no_url(text in "\\PC{0,64}(https?://[a-z]{1,8}/[^ ]{0,8})?\\PC{0,64}") {
            let scrubbed = scrub(&text);
            proptest::prop_assert!(!scrubbed.contains("://"), "{scrubbed}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "nonce too low: next nonce 5, tx nonce 4",
            "max fee per gas less than block base fee: maxFeePerGas: 100000000000",
            "the harness: arn or not",
            "barn:aws is not an ARN",
            "0x1c41742f",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn registered_url_parts_are_hidden_anywhere() {
        register_url_secrets("https://node.example:8545/v2/SECRETPATHpart1?apikey=SECRETQUERY9");
        assert_eq!(
            scrub("provider said: key SECRETQUERY9 over quota for SECRETPATHpart1"),
            "provider said: key <secret> over quota for <secret>"
        );
    }
}
