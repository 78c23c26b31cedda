//! The README's first example, compiled and run as it is shown.

// The example is a whole program: its `main` is called by the test below.
include!("support/readme_example.rs");

#[test]
fn the_first_example_runs() {
    main().expect("the README's first example runs");
}

#[test]
fn the_readme_shows_the_example_that_is_tested() {
    let readme = include_str!("../README.md");
    let first = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|block| block.split("\n```").next())
        .expect("the README has a rust block");
    assert_eq!(
        first.trim(),
        include_str!("support/readme_example.rs").trim(),
        "the README's first example and tests/support/readme_example.rs differ"
    );
}
