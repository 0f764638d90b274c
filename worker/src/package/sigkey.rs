//! Signing-key ids as users and build systems write them: short (8 hex digits) or long, any
//! case, `""` for "unsigned is acceptable".

/// Whether a package signed by `found` (a short key id; `None`: unsigned) is accepted by the
/// requested `key` (short or long id; empty accepts unsigned packages only).
pub fn key_accepts(key: &str, found: Option<&str>) -> bool {
    match found {
        None => key.is_empty(),
        Some(found) => {
            !key.is_empty()
                && key
                    .to_ascii_lowercase()
                    .ends_with(&found.to_ascii_lowercase())
        }
    }
}

/// `keys` for a message, `""` shown as `(unsigned)`.
pub fn describe_keys(keys: &[String]) -> String {
    keys.iter()
        .map(|k| {
            if k.is_empty() {
                "(unsigned)"
            } else {
                k.as_str()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_short_ids_in_any_case_accept_the_short_id_found() {
        assert!(key_accepts("A15B79CC", Some("a15b79cc")));
        assert!(key_accepts("f8d1c2e3a15b79cc", Some("a15b79cc")));
        assert!(!key_accepts("deadbeef", Some("a15b79cc")));
        assert!(key_accepts("", None));
        assert!(!key_accepts("", Some("a15b79cc")));
        assert!(!key_accepts("a15b79cc", None));
        assert_eq!(
            describe_keys(&["abc".into(), String::new()]),
            "abc, (unsigned)"
        );
    }
}
