//! The method label: the standard HTTP methods, and `_OTHER` for the rest.

/// The method label of methods outside the standard set (OTel convention).
pub const OTHER_METHOD: &str = "_OTHER";

/// Every method label, by index.
pub(crate) const METHODS: [&str; 10] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    OTHER_METHOD,
];

/// Index of a method label in [`METHODS`]; anything non-standard is `_OTHER`.
#[inline]
pub(crate) fn method_index(method: &str) -> usize {
    match method {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "CONNECT" => 5,
        "OPTIONS" => 6,
        "TRACE" => 7,
        "PATCH" => 8,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_and_the_rest() {
        assert_eq!(METHODS[method_index("GET")], "GET");
        assert_eq!(METHODS[method_index("PATCH")], "PATCH");
        assert_eq!(METHODS[method_index("PURGE")], OTHER_METHOD);
        assert_eq!(METHODS[method_index("get")], OTHER_METHOD);
    }
}
