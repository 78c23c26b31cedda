//! Bisection of failed batches: a batch the inner service fails is split in
//! halves and each half retried, down to `bisect_on_error(max_depth)` splits,
//! so the items that make it fail are isolated and the rest succeed.
//!
//! One poison item in a batch of `n = 2^k` items, with `max_depth >= k`, costs
//! `2k` extra inner calls: at each level one half succeeds and the other fails
//! and is split again, until the poison item fails alone.

/// Whether a failed batch of `len` items at split depth `depth` is split again.
pub(crate) fn should_split(len: usize, depth: u32, max_depth: u32) -> bool {
    len >= 2 && depth < max_depth
}

/// Splits `items` in two halves: `items` keeps the first, the second is returned.
pub(crate) fn split_half<T>(items: &mut Vec<T>) -> Vec<T> {
    items.split_off(items.len() / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_until_single_or_depth() {
        assert!(should_split(2, 0, 1));
        assert!(!should_split(2, 1, 1));
        assert!(!should_split(1, 0, 8));
        assert!(!should_split(64, 0, 0));
    }

    #[test]
    fn halves() {
        let mut v: Vec<u32> = (0..5).collect();
        let back = split_half(&mut v);
        assert_eq!(v, [0, 1]);
        assert_eq!(back, [2, 3, 4]);
    }
}
