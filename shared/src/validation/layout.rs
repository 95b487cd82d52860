//! The calldata's layout, walked before alloy decodes it.
//!
//! alloy's decoder follows offsets leniently: every element of an array may point at the same
//! bytes, so a few kilobytes can decode into millions of values. This walk reads each offset and
//! length with checked arithmetic and bounds checks, refuses any offset that is not where the
//! canonical encoding puts its value (a canonical encoding never aliases, overlaps, skips or goes
//! back, and anything else would be refused afterwards as non-canonical), and counts the values
//! alloy will build against [`MAX_DECODED_VALUES`]. It allocates nothing and stops as soon as
//! the count is over, so its own time is bounded by the same number.

use alloy::dyn_abi::DynSolType;
use alloy::primitives::U256;

use super::MAX_DECODED_VALUES;
use super::shape::{WORD, footprint_words, head_words, layout_values, min_words, slot_words, sum};

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The arguments are not laid out as the canonical encoding of the parameters: why.
    Malformed(String),
    /// Decoding them would build more than [`MAX_DECODED_VALUES`] values.
    TooComplex,
}

/// Checks that `arguments` are laid out as the canonical encoding of `params` would be, and
/// that decoding them builds at most [`MAX_DECODED_VALUES`] values. Trailing bytes are left to
/// the exact re-encoding check that follows.
pub(super) fn check(params: &[DynSolType], arguments: &[u8]) -> Result<(), Refusal> {
    check_within(params, arguments, MAX_DECODED_VALUES)
}

fn check_within(params: &[DynSolType], arguments: &[u8], budget: usize) -> Result<(), Refusal> {
    let needed = footprint_words(params).saturating_mul(WORD);
    if arguments.len() < needed {
        return Err(Refusal::Malformed(format!(
            "the arguments are {} bytes long; the parameters need at least {needed}",
            arguments.len()
        )));
    }
    let mut walk = Walk {
        data: arguments,
        values: 0,
        budget,
    };
    walk.tuple(params, 0).map(drop)
}

struct Walk<'a> {
    data: &'a [u8],
    /// Values alloy would build for what has been walked so far.
    values: usize,
    budget: usize,
}

impl Walk<'_> {
    fn count(&mut self, values: usize) -> Result<(), Refusal> {
        self.values = self.values.saturating_add(values);
        if self.values > self.budget {
            return Err(Refusal::TooComplex);
        }
        Ok(())
    }

    fn tuple(&mut self, members: &[DynSolType], base: usize) -> Result<usize, Refusal> {
        let head_bytes = sum(members.iter().map(head_words)).saturating_mul(WORD);
        self.sequence(members.iter(), base, head_bytes)
    }

    fn elements(&mut self, element: &DynSolType, n: usize, base: usize) -> Result<usize, Refusal> {
        let head_bytes = n.saturating_mul(head_words(element)).saturating_mul(WORD);
        self.sequence(std::iter::repeat_n(element, n), base, head_bytes)
    }

    /// Walks a sequence encoded at `base`: the members' heads in order, then the dynamic
    /// members' tails, each starting where the one before it ended. Returns where it ends.
    fn sequence<'t>(
        &mut self,
        members: impl Iterator<Item = &'t DynSolType>,
        base: usize,
        head_bytes: usize,
    ) -> Result<usize, Refusal> {
        let mut tail = self.end_of(base, head_bytes)?;
        let mut head = base;
        for member in members {
            if member.is_dynamic() {
                let offset = self.word_at(head)?;
                if usize::try_from(offset)
                    .ok()
                    .and_then(|o| base.checked_add(o))
                    != Some(tail)
                {
                    return Err(Refusal::Malformed(format!(
                        "the offset at byte {head} is {offset}, but the canonical encoding has {} there (each offset points just past the value before it)",
                        tail - base
                    )));
                }
                tail = self.value(member, tail)?;
                head += WORD;
            } else {
                head = self.value(member, head)?;
            }
        }
        Ok(tail)
    }

    /// Walks a value of type `ty` encoded at `at`; returns where its encoding ends.
    fn value(&mut self, ty: &DynSolType, at: usize) -> Result<usize, Refusal> {
        match ty {
            DynSolType::Bytes | DynSolType::String => {
                self.count(1)?;
                let length = self.word_at(at)?;
                let start = at + WORD;
                let available = self.data.len() - start;
                match usize::try_from(length)
                    .ok()
                    .and_then(|len| len.checked_next_multiple_of(WORD))
                {
                    Some(padded) if padded <= available => Ok(start + padded),
                    _ => Err(Refusal::Malformed(format!(
                        "the `{ty}` at byte {at} is {length} bytes long, but only {available} bytes follow"
                    ))),
                }
            }
            DynSolType::Array(element) => {
                // The array, and the element template alloy gives it, elements or not.
                self.count(layout_values(ty))?;
                let length = self.word_at(at)?;
                let start = at + WORD;
                let available = self.data.len() - start;
                let element_bytes = slot_words(element).saturating_mul(WORD).max(1);
                match usize::try_from(length) {
                    Ok(n) if n.saturating_mul(element_bytes) <= available => {
                        self.elements(element, n, start)
                    }
                    _ => Err(Refusal::Malformed(format!(
                        "the array at byte {at} has {length} elements, but the {available} bytes that follow hold at most {}",
                        available / element_bytes
                    ))),
                }
            }
            DynSolType::FixedArray(element, n) if ty.is_dynamic() => {
                self.count(1)?;
                self.elements(element, *n, at)
            }
            DynSolType::Tuple(members) if ty.is_dynamic() => {
                self.count(1)?;
                self.tuple(members, at)
            }
            // A static value, laid out whole and in place.
            _ => {
                self.count(layout_values(ty))?;
                self.end_of(at, min_words(ty).saturating_mul(WORD))
            }
        }
    }

    fn word_at(&self, at: usize) -> Result<U256, Refusal> {
        let end = self.end_of(at, WORD)?;
        Ok(U256::from_be_slice(&self.data[at..end]))
    }

    /// `at + len`, if the arguments reach that far.
    fn end_of(&self, at: usize, len: usize) -> Result<usize, Refusal> {
        at.checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| {
                Refusal::Malformed(format!(
                    "the arguments are {} bytes long, but {len} bytes are needed from byte {at}",
                    self.data.len()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::dyn_abi::DynSolValue;
    use alloy::primitives::Address;

    fn params(types: &[&str]) -> Vec<DynSolType> {
        types
            .iter()
            .map(|t| t.parse().unwrap_or_else(|e| panic!("{t}: {e}")))
            .collect()
    }

    fn words(words: &[u64]) -> Vec<u8> {
        words
            .iter()
            .flat_map(|w| U256::from(*w).to_be_bytes::<32>())
            .collect()
    }

    fn uint(n: u64) -> DynSolValue {
        DynSolValue::Uint(U256::from(n), 256)
    }

    fn malformed(types: &[&str], arguments: &[u8]) -> String {
        match check(&params(types), arguments) {
            Err(Refusal::Malformed(reason)) => reason,
            other => panic!("expected a malformed layout, got {other:?}"),
        }
    }

    #[test]
    fn canonical_encodings_pass() {
        let cases: Vec<(Vec<&str>, Vec<DynSolValue>)> = vec![
            (vec![], vec![]),
            (
                vec!["uint256", "address"],
                vec![uint(1), DynSolValue::Address(Address::ZERO)],
            ),
            (
                vec!["bytes", "string", "bytes"],
                vec![
                    DynSolValue::Bytes(vec![7; 33]),
                    DynSolValue::String(String::new()),
                    DynSolValue::Bytes(vec![1]),
                ],
            ),
            (
                vec!["uint256[][]", "uint8[2]"],
                vec![
                    DynSolValue::Array(vec![
                        DynSolValue::Array(vec![uint(1), uint(2)]),
                        DynSolValue::Array(vec![]),
                        DynSolValue::Array(vec![uint(3)]),
                    ]),
                    DynSolValue::FixedArray(vec![
                        DynSolValue::Uint(U256::from(1), 8),
                        DynSolValue::Uint(U256::from(2), 8),
                    ]),
                ],
            ),
            (
                vec!["(uint256,string[2],(bytes,bool)[])"],
                vec![DynSolValue::Tuple(vec![
                    uint(9),
                    DynSolValue::FixedArray(vec![
                        DynSolValue::String("a".into()),
                        DynSolValue::String("bc".repeat(20)),
                    ]),
                    DynSolValue::Array(vec![DynSolValue::Tuple(vec![
                        DynSolValue::Bytes(vec![]),
                        DynSolValue::Bool(true),
                    ])]),
                ])],
            ),
        ];
        for (types, values) in cases {
            let encoded = DynSolValue::Tuple(values).abi_encode_params();
            assert_eq!(check(&params(&types), &encoded), Ok(()), "{types:?}");
            // Trailing bytes are not this walk's business.
            let mut longer = encoded.clone();
            longer.extend([0; 5]);
            assert_eq!(check(&params(&types), &longer), Ok(()), "{types:?}");
        }
    }

    #[test]
    fn aliased_overlapping_and_skipping_offsets_are_refused() {
        // Two `bytes` whose offsets point at the same tail.
        let aliased = words(&[64, 64, 1, 0]);
        assert_eq!(
            malformed(&["bytes", "bytes"], &aliased),
            "the offset at byte 32 is 64, but the canonical encoding has 128 there (each offset points just past the value before it)"
        );
        // Out of order: the second value first.
        let swapped = words(&[128, 64, 1, 0, 1, 0]);
        assert!(
            malformed(&["bytes", "bytes"], &swapped).starts_with("the offset at byte 0 is 128")
        );
        // A gap before the first tail.
        let gap = words(&[64, 0, 0]);
        assert!(malformed(&["bytes"], &gap).starts_with("the offset at byte 0 is 64"));
        // Elements of an array aliasing one inner array.
        let inner_aliased = words(&[32, 3, 96, 96, 96, 1, 5, 0, 0]);
        assert!(
            malformed(&["uint256[][]"], &inner_aliased).starts_with(
                "the offset at byte 96 is 96, but the canonical encoding has 160 there"
            )
        );
        // An offset near 2^256.
        let mut huge = vec![0xff; 32];
        huge.extend(words(&[0]));
        assert!(malformed(&["bytes"], &huge).contains(&U256::MAX.to_string()));
    }

    #[test]
    fn lengths_past_the_data_are_refused() {
        let mut max_length = words(&[32]);
        max_length.extend([0xff; 32]);
        assert_eq!(
            malformed(&["uint256[]"], &max_length),
            format!(
                "the array at byte 32 has {} elements, but the 0 bytes that follow hold at most 0",
                U256::MAX
            )
        );
        assert_eq!(
            malformed(&["bytes"], &max_length),
            format!(
                "the `bytes` at byte 32 is {} bytes long, but only 0 bytes follow",
                U256::MAX
            )
        );
        // `usize::MAX` bytes would overflow when padded to a word.
        let padded_overflow = words(&[32, u64::MAX]);
        assert!(malformed(&["string"], &padded_overflow).starts_with("the `string` at byte 32"));
        // Each element needs its own words: 3 `uint256[2]` need 192 bytes.
        let short = words(&[32, 3, 1, 2, 3, 4, 5]);
        assert_eq!(
            malformed(&["uint256[2][]"], &short),
            "the array at byte 32 has 3 elements, but the 160 bytes that follow hold at most 2"
        );
    }

    #[test]
    fn truncated_arguments_are_refused() {
        assert_eq!(
            malformed(&["address", "uint256"], &[0; 63]),
            "the arguments are 63 bytes long; the parameters need at least 64"
        );
        assert_eq!(
            malformed(&["bytes"], &words(&[32, 40, 0])),
            "the `bytes` at byte 32 is 40 bytes long, but only 32 bytes follow"
        );
        assert_eq!(
            malformed(&["bytes", "bytes"], &words(&[64, 128, 32, 0xaa])),
            "the arguments are 128 bytes long, but 32 bytes are needed from byte 128"
        );
    }

    #[test]
    fn values_are_counted_as_alloy_builds_them() {
        let count = |types: &[&str], arguments: &[u8], budget: usize| {
            check_within(&params(types), arguments, budget)
        };
        // uint256[] of 3: the array, its template, 3 elements.
        let three = words(&[32, 3, 1, 2, 3]);
        assert_eq!(count(&["uint256[]"], &three, 5), Ok(()));
        assert_eq!(count(&["uint256[]"], &three, 4), Err(Refusal::TooComplex));
        // An empty `uint8[64][]` still costs its template: 1 + 65.
        let empty = words(&[32, 0]);
        assert_eq!(count(&["uint8[64][]"], &empty, 66), Ok(()));
        assert_eq!(
            count(&["uint8[64][]"], &empty, 65),
            Err(Refusal::TooComplex)
        );
        // Many empty inner arrays, each with its own copy of the template.
        let outer = 500u64;
        let mut nested = vec![32, outer];
        nested.extend((0..outer).map(|i| outer * 32 + i * 32));
        nested.extend((0..outer).map(|_| 0));
        assert_eq!(
            check(&params(&["uint8[64][][]"]), &words(&nested)),
            Err(Refusal::TooComplex)
        );
        assert_eq!(check(&params(&["uint8[][]"]), &words(&nested)), Ok(()));
    }
}
