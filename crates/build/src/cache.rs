//! The key of a build cache entry.

use berth_image::digest::Digest;

/// The cache key of a step: a digest over
/// - `parent_chain`: the chain ID of the layer stack the step runs on (`None` for `scratch`),
/// - `instruction_text`: the step's text after expansion, heredoc bodies included
///   ([`crate::plan::Step::cache_text`]),
/// - `sources`: the content hash of COPY/ADD sources ([`crate::context::hash_sources`]),
/// - `build_env`: the `K=V` build args RUN sees ([`crate::plan::Step::build_args`]), in the
///   order given (the planner sorts them).
///
/// Every field is length-prefixed, so no two different inputs share an encoding.
pub fn cache_key(
    parent_chain: Option<&Digest>,
    instruction_text: &str,
    sources: Option<&Digest>,
    build_env: &[String],
) -> Digest {
    let mut rec: Vec<u8> = Vec::with_capacity(256 + instruction_text.len());
    let mut field = |tag: u8, bytes: &[u8]| {
        rec.push(tag);
        rec.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        rec.extend_from_slice(bytes);
    };
    field(b'v', b"berth-build-cache-v1");
    match parent_chain {
        Some(d) => field(b'p', d.to_string().as_bytes()),
        None => field(b'P', b""),
    }
    field(b'i', instruction_text.as_bytes());
    match sources {
        Some(d) => field(b's', d.to_string().as_bytes()),
        None => field(b'S', b""),
    }
    field(b'n', &(build_env.len() as u64).to_le_bytes());
    for e in build_env {
        field(b'e', e.as_bytes());
    }
    Digest::of(&rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_changes_the_key() {
        let parent = Digest::of(b"parent");
        let other = Digest::of(b"other");
        let src = Digest::of(b"src");
        let env = vec!["A=1".to_owned()];
        let base = cache_key(Some(&parent), "RUN x", Some(&src), &env);
        assert_eq!(base, cache_key(Some(&parent), "RUN x", Some(&src), &env));
        let variants = [
            cache_key(None, "RUN x", Some(&src), &env),
            cache_key(Some(&other), "RUN x", Some(&src), &env),
            cache_key(Some(&parent), "RUN y", Some(&src), &env),
            cache_key(Some(&parent), "RUN x", None, &env),
            cache_key(Some(&parent), "RUN x", Some(&other), &env),
            cache_key(Some(&parent), "RUN x", Some(&src), &[]),
            cache_key(Some(&parent), "RUN x", Some(&src), &["A=2".to_owned()]),
            cache_key(
                Some(&parent),
                "RUN x",
                Some(&src),
                &["A=1".to_owned(), String::new()],
            ),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(*v, base, "variant {i}");
        }
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        let a = cache_key(None, "RUN a", None, &["b".to_owned(), "c".to_owned()]);
        let b = cache_key(None, "RUN a", None, &["bc".to_owned()]);
        assert_ne!(a, b);
    }
}
