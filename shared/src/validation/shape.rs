//! Measures of a resolved type, in saturating arithmetic (a type can name `uint8[2^64-1]`):
//! how small its encoding can be, and how many values alloy lays out for it.
//!
//! Every type a signature can name takes at least one word: `()` and `T[0]` do not parse.

use alloy::dyn_abi::DynSolType;

pub(super) const WORD: usize = 32;

/// Words of the smallest encoding of `ty`, heads and tails together. A static type's encoding
/// is always this size; an empty `bytes`, `string` or dynamic array is its length word alone.
pub(super) fn min_words(ty: &DynSolType) -> usize {
    match ty {
        DynSolType::FixedArray(element, n) => n.saturating_mul(slot_words(element)),
        DynSolType::Tuple(members) => sum(members.iter().map(slot_words)),
        _ => 1,
    }
}

/// Words a member of a tuple or array takes at least: an offset in the head and its smallest
/// tail when dynamic, itself in the head otherwise.
pub(super) fn slot_words(ty: &DynSolType) -> usize {
    if ty.is_dynamic() {
        min_words(ty).saturating_add(1)
    } else {
        min_words(ty)
    }
}

/// Words a member of a tuple or array takes in the head: an offset when dynamic.
pub(super) fn head_words(ty: &DynSolType) -> usize {
    if ty.is_dynamic() { 1 } else { min_words(ty) }
}

/// The smallest encoding of a parameter list, in words.
pub(super) fn footprint_words(params: &[DynSolType]) -> usize {
    sum(params.iter().map(slot_words))
}

/// Values alloy lays out for `ty` before reading any data (`DynSolType::empty_dyn_token`): one
/// per tuple, array and leaf; a fixed-size array repeats its element's, and a dynamic array
/// keeps one element's as a template (copied for every element it turns out to have).
pub(super) fn layout_values(ty: &DynSolType) -> usize {
    1usize.saturating_add(match ty {
        DynSolType::Array(element) => layout_values(element),
        DynSolType::FixedArray(element, n) => n.saturating_mul(layout_values(element)),
        DynSolType::Tuple(members) => sum(members.iter().map(layout_values)),
        _ => 0,
    })
}

/// Types named in `ty`, each once: `uint8[1000]` is two, `(uint8,bool)[]` four.
pub(super) fn type_count(ty: &DynSolType) -> usize {
    1usize.saturating_add(match ty {
        DynSolType::Array(element) | DynSolType::FixedArray(element, _) => type_count(element),
        DynSolType::Tuple(members) => sum(members.iter().map(type_count)),
        _ => 0,
    })
}

pub(super) fn sum(counts: impl Iterator<Item = usize>) -> usize {
    counts.fold(0, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> DynSolType {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn measures_of_types() {
        // (type, min_words, slot_words, layout_values, type_count)
        for (name, min, slot, layout, types) in [
            ("uint256", 1, 1, 1, 1),
            ("bytes", 1, 2, 1, 1),
            ("uint8[]", 1, 2, 2, 2),
            ("uint8[3]", 3, 3, 4, 2),
            ("string[2]", 4, 5, 3, 2),
            ("(uint8,bool)", 2, 2, 3, 3),
            ("(uint8,bytes)", 3, 4, 3, 3),
            ("(uint8,bool)[4]", 8, 8, 13, 4),
            ("uint256[2][3][]", 1, 2, 11, 4),
            ("(uint256[2],(address,string))", 6, 7, 7, 6),
        ] {
            let t = ty(name);
            assert_eq!(min_words(&t), min, "min_words({name})");
            assert_eq!(slot_words(&t), slot, "slot_words({name})");
            assert_eq!(layout_values(&t), layout, "layout_values({name})");
            assert_eq!(type_count(&t), types, "type_count({name})");
        }
    }

    #[test]
    fn measures_saturate() {
        let huge = ty("uint256[18446744073709551615][18446744073709551615]");
        assert_eq!(min_words(&huge), usize::MAX);
        assert_eq!(layout_values(&huge), usize::MAX);
        let attack = ty("uint256[100000][100000][]");
        assert_eq!(min_words(&attack), 1);
        assert_eq!(layout_values(&attack), 10_000_100_002);
        assert_eq!(footprint_words(&[attack, ty("bytes")]), 4);
    }
}
