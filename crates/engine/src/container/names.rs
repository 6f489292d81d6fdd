//! Generated container names, `adjective_scientist` as docker makes them (our own lists).

use rand::seq::SliceRandom;

const ADJECTIVES: &[&str] = &[
    "able", "agile", "amber", "ample", "bold", "brave", "bright", "brisk", "calm", "careful",
    "cheerful", "clever", "cosmic", "crisp", "curious", "daring", "deft", "eager", "earnest",
    "elegant", "epic", "fair", "fearless", "fond", "frank", "gallant", "gentle", "glad", "golden",
    "grand", "happy", "hardy", "honest", "humble", "jolly", "keen", "kind", "lively", "loyal",
    "lucid", "merry", "mighty", "modest", "neat", "nimble", "noble", "patient", "placid", "plucky",
    "polite", "proud", "quick", "quiet", "rapid", "ready", "serene", "sharp", "shiny", "silent",
    "sleek", "smart", "snappy", "solid", "spry", "steady", "stoic", "sturdy", "sunny", "swift",
    "tender", "tidy", "trusty", "upbeat", "valiant", "vivid", "warm", "wise", "witty", "zealous",
    "zesty",
];

const SCIENTISTS: &[&str] = &[
    "agnesi",
    "archimedes",
    "babbage",
    "bardeen",
    "bell",
    "bohr",
    "boole",
    "borg",
    "brahe",
    "cannon",
    "carson",
    "cerf",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hodgkin",
    "hopper",
    "hypatia",
    "jackson",
    "johnson",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "maxwell",
    "mayer",
    "meitner",
    "mendel",
    "mirzakhani",
    "morse",
    "newton",
    "noether",
    "pascal",
    "pasteur",
    "planck",
    "poincare",
    "ramanujan",
    "ritchie",
    "sagan",
    "shannon",
    "somerville",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "volta",
    "wiles",
    "wozniak",
    "wright",
    "yalow",
];

/// A random `adjective_scientist`; with `retry` > 0, a digit is appended as docker does.
pub fn generate(retry: u32) -> String {
    let mut rng = rand::thread_rng();
    let a = ADJECTIVES.choose(&mut rng).copied().unwrap_or("able");
    let s = SCIENTISTS.choose(&mut rng).copied().unwrap_or("turing");
    if retry > 0 {
        format!("{a}_{s}{}", rand::Rng::gen_range(&mut rng, 0..10))
    } else {
        format!("{a}_{s}")
    }
}

/// Docker's rule for user-given names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid() {
        for i in 0..200 {
            let n = generate(i % 3);
            assert!(valid(&n), "{n}");
        }
    }

    #[test]
    fn user_names_follow_docker_rule() {
        for (n, ok) in [
            ("test", true),
            ("personal-website", true),
            ("a", false),
            ("_x", false),
            ("web.1", true),
            ("has space", false),
            ("x/y", false),
        ] {
            assert_eq!(valid(n), ok, "{n}");
        }
    }
}
