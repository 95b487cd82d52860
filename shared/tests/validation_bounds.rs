//! Every request of at most `MAX_BODY_BYTES` is validated in bounded memory, whatever its
//! `message_type` and `data`: `parse_request` + `validate_call` allocate at most 1 MiB.
//!
//! Its own test binary, because it counts allocations with a global allocator. The counter is
//! shared by every thread, so the tests take turns (`serial`) and each measures only its calls.
//! Time is left to the benchmarks: the bound on allocation is what makes time bounded too.

use std::alloc::System;
use std::sync::{Mutex, MutexGuard, PoisonError};

use alloy::dyn_abi::{DynSolType, DynSolValue, JsonAbiExt};
use alloy::json_abi::Function;
use alloy::primitives::{Address, B256, I256, U256, hex};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tx_shared::validation::{
    CallError, MAX_BODY_BYTES, MessageTypePolicy, RequestError, ValidCall, parse_request,
    validate_call,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The most one validation may allocate, in bytes, all allocations added up (not the peak).
const ALLOCATION_LIMIT: usize = 1 << 20;

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time: another test's allocations would be counted as ours.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
enum Rejection {
    Request(RequestError),
    Call(CallError),
}

impl Rejection {
    fn code(&self) -> &'static str {
        match self {
            Rejection::Request(e) => e.code(),
            Rejection::Call(e) => e.code(),
        }
    }
}

struct Validated {
    result: Result<ValidCall, Rejection>,
    bytes_allocated: usize,
}

impl Validated {
    fn code(&self) -> Option<&'static str> {
        self.result.as_ref().err().map(Rejection::code)
    }
}

fn validate(body: &[u8]) -> Validated {
    let policy = MessageTypePolicy::allow_all();
    let region = Region::new(GLOBAL);
    let result = parse_request(body)
        .map_err(Rejection::Request)
        .and_then(|request| validate_call(&request, &policy).map_err(Rejection::Call));
    let bytes_allocated = region.change().bytes_allocated;
    Validated {
        result,
        bytes_allocated,
    }
}

fn body(message_type: &str, data: &str) -> Vec<u8> {
    serde_json::json!({ "message_type": message_type, "data": data })
        .to_string()
        .into_bytes()
}

/// `0x`, the selector of `signature` (zeros if it does not parse), then `arguments`.
fn calldata(signature: &str, arguments: &[u8]) -> String {
    let selector = Function::parse(signature).map_or([0; 4], |f| f.selector().0);
    format!("0x{}{}", hex::encode(selector), hex::encode(arguments))
}

fn words(words: &[U256]) -> Vec<u8> {
    words.iter().flat_map(U256::to_be_bytes::<32>).collect()
}

/// The outcome, shortened: a failure message should not repeat a 60 KB signature.
fn summary(validated: &Validated) -> String {
    let full = match &validated.result {
        Ok(call) => format!("valid `{}`", call.function_signature),
        Err(Rejection::Request(e)) => format!("{}: {e}", e.code()),
        Err(Rejection::Call(e)) => format!("{}: {e}", e.code()),
    };
    full.chars().take(300).collect()
}

#[track_caller]
fn assert_refused(validated: &Validated, code: &str) {
    assert_eq!(validated.code(), Some(code), "{}", summary(validated));
    assert!(
        validated.bytes_allocated <= ALLOCATION_LIMIT,
        "{} bytes allocated",
        validated.bytes_allocated
    );
}

#[track_caller]
fn assert_valid(validated: &Validated) {
    assert!(validated.result.is_ok(), "{}", summary(validated));
    assert!(
        validated.bytes_allocated <= ALLOCATION_LIMIT,
        "{} bytes allocated",
        validated.bytes_allocated
    );
}

/// The reported attack: a ~150-byte request whose type alloy would lay out as 10^10 tokens
/// before reading the one word of data.
#[test]
fn the_reported_attack_is_refused_before_decoding() {
    let _serial = serial();
    let signature = "f(uint256[100000][100000][])";
    let validated = validate(&body(
        signature,
        &calldata(signature, &words(&[U256::from(32)])),
    ));
    assert_refused(&validated, "type_too_large");
}

#[test]
fn deep_types_are_refused() {
    let _serial = serial();
    // alloy-rs/core#490: offsets all pointing one word on, under ten levels of arrays.
    let signature = "f(uint256[][][][][][][][][][])";
    let payload = words(&[U256::from(32), U256::from(10)]).repeat(64);
    let validated = validate(&body(signature, &calldata(signature, &payload)));
    assert_refused(&validated, "type_too_deep");

    let signature = format!("f({}uint256{})", "(".repeat(9), ")".repeat(9));
    let validated = validate(&body(&signature, &calldata(&signature, &[0; 32])));
    assert_refused(&validated, "type_too_deep");
}

#[test]
fn huge_fixed_arrays_are_refused() {
    let _serial = serial();
    for signature in [
        "f(uint8[4294967295])",
        "f(uint8[18446744073709551615][2])",
        "f(bytes[100000])",
        "f((uint8,bool)[3000])",
        "f(uint256[1][1000000][])",
    ] {
        let validated = validate(&body(signature, &calldata(signature, &[0; 32])));
        assert_refused(&validated, "type_too_large");
    }
}

#[test]
fn lengths_near_two_to_the_256_are_refused() {
    let _serial = serial();
    for (signature, length) in [
        ("f(uint256[])", U256::MAX),
        ("f(uint8[4][])", U256::MAX - U256::from(1)),
        ("f(bytes)", U256::MAX),
        ("f(string)", U256::from(u64::MAX)),
        ("f(bytes[])", U256::from(1) << 255),
    ] {
        let arguments = words(&[U256::from(32), length]);
        let validated = validate(&body(signature, &calldata(signature, &arguments)));
        assert_refused(&validated, "abi_decode_failed");
    }
}

/// Every element of the outer array points at the same inner array: 2,000 words of data that
/// a lenient decoder reads as a million values.
#[test]
fn aliased_offsets_are_refused() {
    let _serial = serial();
    let signature = "f(uint256[][])";
    let (outer, inner) = (1000u64, 990u64);
    let mut arguments = vec![U256::from(32), U256::from(outer)];
    arguments.extend((0..outer).map(|_| U256::from(outer * 32)));
    arguments.push(U256::from(inner));
    arguments.extend((0..inner).map(U256::from));
    let validated = validate(&body(signature, &calldata(signature, &words(&arguments))));
    assert_refused(&validated, "abi_decode_failed");
}

#[test]
fn many_parameters_are_refused() {
    let _serial = serial();
    let signature = format!("f({})", vec!["uint8"; 10_000].join(","));
    let validated = validate(&body(&signature, &calldata(&signature, &[0; 32])));
    assert_refused(&validated, "signature_too_long");

    let signature = format!("f({})", vec!["bool"; 33].join(","));
    let validated = validate(&body(&signature, &calldata(&signature, &[0; 33 * 32])));
    assert_refused(&validated, "too_many_parameters");

    let signature = format!("f(({}))", vec!["int[][][][]"; 60].join(","));
    let validated = validate(&body(&signature, &calldata(&signature, &[0; 32])));
    assert_refused(&validated, "too_many_types");
}

/// Element types chosen for the most alloy values (and bytes) per word of calldata.
const COSTLY_ELEMENTS: [&str; 8] = [
    "uint256",
    "(uint8,uint8)",
    "(((((((uint8)))))))",
    "uint8[1][1][1][1][1][1][1]",
    "(uint8[2],(bool,(address)))",
    "uint8[64][]",
    "bytes",
    "(string,bytes[])",
];

fn array_of(element: &DynSolType, length: usize) -> DynSolValue {
    DynSolValue::Array(vec![zero_value(element); length])
}

fn zero_value(ty: &DynSolType) -> DynSolValue {
    match ty {
        DynSolType::Array(_) => DynSolValue::Array(vec![]),
        DynSolType::FixedArray(element, n) => {
            DynSolValue::FixedArray(vec![zero_value(element); *n])
        }
        DynSolType::Tuple(members) => DynSolValue::Tuple(members.iter().map(zero_value).collect()),
        DynSolType::Bytes => DynSolValue::Bytes(vec![]),
        DynSolType::String => DynSolValue::String(String::new()),
        DynSolType::Bool => DynSolValue::Bool(false),
        DynSolType::Address => DynSolValue::Address(Address::ZERO),
        &DynSolType::Uint(bits) => DynSolValue::Uint(U256::ZERO, bits),
        &DynSolType::Int(bits) => DynSolValue::Int(I256::ZERO, bits),
        &DynSolType::FixedBytes(size) => DynSolValue::FixedBytes(B256::ZERO, size),
        other => panic!("no zero value for {other}"),
    }
}

/// The longest array of each costly element type that still validates stays under the limit,
/// and one element more is refused, not decoded.
#[test]
fn the_largest_valid_calls_stay_within_the_limit() {
    let _serial = serial();
    for element in COSTLY_ELEMENTS {
        let signature = format!("f({element}[])");
        let function = Function::parse(&signature).unwrap_or_else(|e| panic!("{signature}: {e}"));
        let element_type: DynSolType = element.parse().unwrap_or_else(|e| panic!("{element}: {e}"));
        let request = |length: usize| {
            let data = function
                .abi_encode_input(&[array_of(&element_type, length)])
                .unwrap_or_else(|e| panic!("{signature}: {e}"));
            body(&signature, &hex::encode_prefixed(data))
        };
        // The longest that validates: valid at `low`, not at `high`.
        let (mut low, mut high) = (0, 1);
        while validate(&request(high)).result.is_ok() {
            (low, high) = (high, high * 2);
        }
        while high - low > 1 {
            let mid = (low + high) / 2;
            if validate(&request(mid)).result.is_ok() {
                low = mid;
            } else {
                high = mid;
            }
        }
        assert!(low > 0, "{signature}: not even one element validates");
        assert_valid(&validate(&request(low)));
        let refused = validate(&request(low + 1));
        assert!(
            matches!(refused.code(), Some("abi_too_complex" | "body_too_large")),
            "{signature} with {} elements: {}",
            low + 1,
            summary(&refused)
        );
        assert!(refused.bytes_allocated <= ALLOCATION_LIMIT);
    }
}

#[test]
fn a_full_body_of_uint256_validates() {
    let _serial = serial();
    let signature = "f(uint256[])";
    let function = Function::parse(signature).unwrap_or_else(|e| panic!("{e}"));
    let fits = (MAX_BODY_BYTES / 2 - 200) / 32;
    let data = function
        .abi_encode_input(&[array_of(&DynSolType::Uint(256), fits)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_valid(&validate(&body(signature, &hex::encode_prefixed(data))));
}

// ---- Hostile signatures and calldata ----

fn leaf_type() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "uint256", "uint8", "int", "address", "bool", "bytes32", "bytes", "string", "function",
        ][..],
    )
    .prop_map(str::to_owned)
}

fn array_suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("[]".to_owned()),
        2 => (1u64..=4).prop_map(|n| format!("[{n}]")),
        2 => prop::sample::select(&[100, 1_000, 65_536, 100_000, 4_294_967_295, 1 << 40, u64::MAX][..])
            .prop_map(|n| format!("[{n}]")),
    ]
}

fn hostile_type() -> impl Strategy<Value = String> {
    leaf_type().prop_recursive(10, 200, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 1..6).prop_map(|members| format!("({})", members.join(","))),
            (inner, vec(array_suffix(), 1..4))
                .prop_map(|(ty, dims)| format!("{ty}{}", dims.concat())),
        ]
    })
}

fn huge_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..10,
        Just(100_000),
        Just(u32::MAX.into()),
        Just(u64::MAX)
    ]
}

fn hostile_signature() -> impl Strategy<Value = String> {
    prop_oneof![
        // Within every limit, so that the calldata is what is hostile.
        3 => vec(valid_type(), 1..5).prop_map(|params| signature_of(&params)),
        1 => (0usize..=6).prop_map(|d| format!("f(uint256{})", "[]".repeat(d + 1))),
        2 => vec(hostile_type(), 0..8).prop_map(|params| format!("f({})", params.join(","))),
        // Nested far past any limit.
        1 => (leaf_type(), 1usize..64)
            .prop_map(|(ty, d)| format!("f({}{ty}{})", "(".repeat(d), ")".repeat(d))),
        1 => (leaf_type(), 1usize..300, array_suffix())
            .prop_map(|(ty, d, dim)| format!("f({ty}{})", dim.repeat(d))),
        // Wide.
        1 => (leaf_type(), 1usize..12_000).prop_map(|(ty, n)| format!("f({})", vec![ty; n].join(","))),
        // The reported shape, and its cousins.
        1 => (huge_size(), huge_size(), leaf_type())
            .prop_map(|(a, b, ty)| format!("f({ty}[{a}][{b}][])")),
    ]
}

fn hostile_word() -> impl Strategy<Value = U256> {
    prop_oneof![
        // Offsets, small and plausible, free to alias one another.
        (0u64..64).prop_map(|k| U256::from(k * 32)),
        (0u64..4096).prop_map(U256::from),
        // Lengths near 2^256.
        (0u64..4).prop_map(|k| U256::MAX - U256::from(k)),
        prop::sample::select(vec![
            U256::from(u32::MAX),
            U256::from(u64::MAX),
            U256::from(1) << 64,
            U256::from(1) << 255,
        ]),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ]
}

fn hostile_arguments() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(hostile_word(), 0..64).prop_map(|w| words(&w)),
        // A short pattern repeated: offsets that point into one another (alloy-rs/core#490).
        (vec(hostile_word(), 1..4), 1usize..600).prop_map(|(pattern, n)| words(&pattern).repeat(n)),
        vec(any::<u8>(), 0..512),
    ]
}

/// A signature and its arguments, hostile either way.
fn hostile_call() -> impl Strategy<Value = (String, Vec<u8>)> {
    prop_oneof![
        (hostile_signature(), hostile_arguments()),
        // A valid call with a few words overwritten: offsets and lengths wrong deep inside.
        (
            valid_call(),
            vec((any::<prop::sample::Index>(), hostile_word()), 1..4)
        )
            .prop_map(|((signature, values), edits)| {
                let mut arguments = encode(&signature, &values);
                let words = arguments.len() / 32;
                for (index, word) in edits {
                    if words > 0 {
                        let at = index.index(words) * 32;
                        arguments[at..at + 32].copy_from_slice(&word.to_be_bytes::<32>());
                    }
                }
                (signature, arguments)
            }),
    ]
}

fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..2048),
        // Large JSON values where a string is expected.
        (1usize..60_000).prop_map(|n| {
            format!(r#"{{"message_type":[{}0],"data":"0x"}}"#, "0,".repeat(n)).into_bytes()
        }),
        (1usize..40_000).prop_map(|n| {
            format!(
                r#"{{"message_type":"f()","data":[{}{{}}]}}"#,
                "{},".repeat(n)
            )
            .into_bytes()
        }),
        (1usize..10_000).prop_map(|n| {
            let keys: Vec<String> = (0..n).map(|k| format!(r#""k{k}":0"#)).collect();
            format!("{{{}}}", keys.join(",")).into_bytes()
        }),
        // Escaped characters, which the JSON reader must copy.
        (1usize..20_000).prop_map(|n| {
            format!(
                r#"{{"message_type":"{}","data":"0x"}}"#,
                r"\u0028".repeat(n)
            )
            .into_bytes()
        }),
        (1usize..200).prop_map(|n| {
            format!(
                r#"{{"message_type":"f()","data":{}0{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
            .into_bytes()
        }),
    ]
}

// ---- Valid calls, to show the limits refuse nothing ordinary ----

fn valid_type() -> impl Strategy<Value = DynSolType> {
    let leaf = prop_oneof![
        Just(DynSolType::Bool),
        Just(DynSolType::Address),
        Just(DynSolType::Bytes),
        Just(DynSolType::String),
        (1usize..=32).prop_map(|n| DynSolType::Uint(n * 8)),
        (1usize..=32).prop_map(|n| DynSolType::Int(n * 8)),
        (1usize..=32).prop_map(DynSolType::FixedBytes),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|ty| DynSolType::Array(Box::new(ty))),
            (inner.clone(), 1usize..=3).prop_map(|(ty, n)| DynSolType::FixedArray(Box::new(ty), n)),
            vec(inner, 1..4).prop_map(DynSolType::Tuple),
        ]
    })
}

fn value_of(ty: &DynSolType) -> BoxedStrategy<DynSolValue> {
    match ty {
        DynSolType::Bool => any::<bool>().prop_map(DynSolValue::Bool).boxed(),
        DynSolType::Address => any::<[u8; 20]>()
            .prop_map(|a| DynSolValue::Address(Address::from(a)))
            .boxed(),
        DynSolType::Bytes => vec(any::<u8>(), 0..70).prop_map(DynSolValue::Bytes).boxed(),
        DynSolType::String => "[a-z\u{e9}\u{1f600}]{0,40}"
            .prop_map(DynSolValue::String)
            .boxed(),
        &DynSolType::Uint(bits) => any::<[u8; 32]>()
            .prop_map(move |w| DynSolValue::Uint(U256::from_be_bytes(w) >> (256 - bits), bits))
            .boxed(),
        &DynSolType::Int(bits) => any::<[u8; 32]>()
            .prop_map(move |w| {
                DynSolValue::Int(I256::from_raw(U256::from_be_bytes(w)).asr(256 - bits), bits)
            })
            .boxed(),
        &DynSolType::FixedBytes(size) => any::<[u8; 32]>()
            .prop_map(move |mut w| {
                w[size..].fill(0);
                DynSolValue::FixedBytes(B256::from(w), size)
            })
            .boxed(),
        DynSolType::Array(element) => vec(value_of(element), 0..4)
            .prop_map(DynSolValue::Array)
            .boxed(),
        DynSolType::FixedArray(element, n) => vec(value_of(element), *n)
            .prop_map(DynSolValue::FixedArray)
            .boxed(),
        DynSolType::Tuple(members) => members
            .iter()
            .map(value_of)
            .collect::<Vec<_>>()
            .prop_map(DynSolValue::Tuple)
            .boxed(),
        other => panic!("no values for {other}"),
    }
}

/// The arguments of a call of `signature` (no selector).
fn encode(signature: &str, values: &[DynSolValue]) -> Vec<u8> {
    let function = Function::parse(signature).unwrap_or_else(|e| panic!("{signature}: {e}"));
    function
        .abi_encode_input_raw(values)
        .unwrap_or_else(|e| panic!("{signature}: {e}"))
}

fn signature_of(params: &[DynSolType]) -> String {
    let names: Vec<String> = params.iter().map(DynSolType::to_string).collect();
    format!("f({})", names.join(","))
}

fn valid_call() -> impl Strategy<Value = (String, Vec<DynSolValue>)> {
    vec(valid_type(), 0..6).prop_flat_map(|types| {
        let values: Vec<_> = types.iter().map(value_of).collect();
        (Just(signature_of(&types)), values)
    })
}

/// Runs `test` on 256 cases of `strategy`, holding the turn for the whole run: proptest
/// generates each case between our measurements, and those allocations must not land in
/// another test's.
fn check<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let _serial = serial();
    let config = ProptestConfig {
        // Integration tests have no `src/` beside them to keep regressions in.
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{e}");
    }
}

fn within_limit(validated: &Validated) -> Result<(), TestCaseError> {
    prop_assert!(
        validated.bytes_allocated <= ALLOCATION_LIMIT,
        "{} bytes allocated: {}",
        validated.bytes_allocated,
        summary(validated),
    );
    Ok(())
}

#[test]
fn hostile_calls_stay_within_the_limit() {
    check(hostile_call(), |(signature, arguments)| {
        within_limit(&validate(&body(
            &signature,
            &calldata(&signature, &arguments),
        )))
    });
}

#[test]
fn hostile_bodies_stay_within_the_limit() {
    check(hostile_body(), |body| within_limit(&validate(&body)));
}

#[test]
fn ordinary_calls_validate() {
    check(valid_call(), |(signature, values)| {
        let validated = validate(&body(
            &signature,
            &calldata(&signature, &encode(&signature, &values)),
        ));
        prop_assert!(validated.result.is_ok(), "{}", summary(&validated));
        prop_assert!(validated.bytes_allocated <= ALLOCATION_LIMIT);
        Ok(())
    });
}
