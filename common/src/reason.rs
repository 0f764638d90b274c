//! State reasons as users read them: one bounded line of text. A reason is shown in every list
//! page and message, so it stays a few KB however much went wrong, and never carries bytes a
//! terminal would interpret.

/// The longest reason stored, in bytes; the rest is summarised.
pub const MAX_REASON_BYTES: usize = 4096;

/// Problems listed in a reason before the rest are counted.
pub const LISTED_PROBLEMS: usize = 30;

/// `reason` as stored: control characters and the replacement character (what undecodable
/// bytes became) dropped, at most [`MAX_REASON_BYTES`] with the cut counted.
///
/// ```
/// use odcs_common::reason::bounded;
/// assert_eq!(bounded("bad\u{1b}[31m byte\u{fffd}s"), "bad[31m bytes");
/// assert!(bounded(&"x".repeat(10_000)).ends_with("(5968 more characters)"));
/// ```
pub fn bounded(reason: &str) -> String {
    let clean: String = reason
        .chars()
        .filter(|c| !c.is_control() && *c != char::REPLACEMENT_CHARACTER)
        .collect();
    if clean.len() <= MAX_REASON_BYTES {
        return clean;
    }
    let mut cut = MAX_REASON_BYTES - 64;
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    let rest = clean[cut..].chars().count();
    format!("{}... ({rest} more characters)", &clean[..cut])
}

/// `items` joined by "; ", the tail counted rather than listed.
///
/// ```
/// use odcs_common::reason::listed;
/// let items: Vec<String> = (0..35).map(|i| i.to_string()).collect();
/// assert!(listed(&items, "; ").ends_with("; 29; and 5 more"));
/// ```
pub fn listed(items: &[String], separator: &str) -> String {
    let mut text = items
        .iter()
        .take(LISTED_PROBLEMS)
        .cloned()
        .collect::<Vec<_>>()
        .join(separator);
    if items.len() > LISTED_PROBLEMS {
        text.push_str(&format!(
            "{separator}and {} more",
            items.len() - LISTED_PROBLEMS
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_clean_reasons_are_kept() {
        assert_eq!(
            bounded("Compose is generated successfully"),
            "Compose is generated successfully"
        );
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let text = "é".repeat(5000);
        let cut = bounded(&text);
        assert!(cut.len() <= MAX_REASON_BYTES);
        assert!(cut.ends_with("more characters)"), "{cut}");
    }
}
