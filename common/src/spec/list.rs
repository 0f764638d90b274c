//! The list values of a compose request, as the reference keeps them: space separated in one
//! column, where a list that was not given (`NULL`) differs from an empty one (`""`).

use std::collections::BTreeSet;

/// A list of words that remembers whether it was given at all, so a stored row reads back
/// exactly as it was written and the API shows `null` or `""` as the reference does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WordList {
    given: bool,
    items: Vec<String>,
}

impl WordList {
    /// A list that was not given.
    pub const NONE: WordList = WordList {
        given: false,
        items: Vec::new(),
    };

    /// A given list.
    pub fn new(items: Vec<String>) -> WordList {
        WordList { given: true, items }
    }

    /// A given list or none.
    pub fn from_option(items: Option<Vec<String>>) -> WordList {
        items.map_or(WordList::NONE, WordList::new)
    }

    /// The list stored as `stored` (`None`: not given).
    ///
    /// ```
    /// use odcs_common::spec::WordList;
    /// assert_eq!(WordList::from_stored(Some("a  b")).as_slice(), ["a", "b"]);
    /// assert!(!WordList::from_stored(None).is_given());
    /// ```
    pub fn from_stored(stored: Option<&str>) -> WordList {
        match stored {
            None => WordList::NONE,
            Some(text) => WordList::new(text.split_whitespace().map(str::to_owned).collect()),
        }
    }

    /// How the list is stored: its words joined by spaces, `None` when not given.
    pub fn to_stored(&self) -> Option<String> {
        self.given.then(|| self.items.join(" "))
    }

    /// Whether the request gave the list (perhaps empty).
    pub fn is_given(&self) -> bool {
        self.given
    }

    /// Whether it has no items (given empty, or not given).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items.
    pub fn as_slice(&self) -> &[String] {
        &self.items
    }

    /// The items as a set, for comparisons where order and repeats do not matter.
    pub fn as_set(&self) -> BTreeSet<&str> {
        self.items.iter().map(String::as_str).collect()
    }

    /// The items, when given.
    pub fn to_option(&self) -> Option<Vec<String>> {
        self.given.then(|| self.items.clone())
    }
}

impl From<Vec<String>> for WordList {
    fn from(items: Vec<String>) -> Self {
        WordList::new(items)
    }
}

/// Signing keys packages must be signed with, most preferred first; `""` accepts unsigned
/// packages, and no keys at all accepts any package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Sigkeys(Vec<String>);

impl Sigkeys {
    /// The keys, in order of preference.
    pub fn new(keys: Vec<String>) -> Sigkeys {
        Sigkeys(keys)
    }

    /// The keys stored as `stored`: split on single spaces, so the empty key that allows
    /// unsigned packages survives (`" K"` is `["", "K"]`); empty text is no keys.
    ///
    /// ```
    /// use odcs_common::spec::Sigkeys;
    /// assert_eq!(Sigkeys::from_stored(" K").as_slice(), ["", "K"]);
    /// assert!(Sigkeys::from_stored("").accepts_any());
    /// ```
    pub fn from_stored(stored: &str) -> Sigkeys {
        if stored.is_empty() {
            return Sigkeys::default();
        }
        Sigkeys(stored.split(' ').map(str::to_owned).collect())
    }

    /// How the keys are stored: joined by single spaces.
    pub fn to_stored(&self) -> String {
        self.0.join(" ")
    }

    /// Whether the unsigned copy of any package will do: no keys, or only the empty key (a
    /// Koji RPM always has an unsigned copy; a file in a repository is what it is).
    pub fn accepts_any(&self) -> bool {
        self.0.iter().all(String::is_empty)
    }

    /// The keys, most preferred first.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The keys as a set, for comparisons of requests.
    pub fn as_set(&self) -> BTreeSet<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_through_their_column() {
        for stored in [None, Some(""), Some("a"), Some("a b c")] {
            assert_eq!(WordList::from_stored(stored).to_stored().as_deref(), stored);
        }
        for stored in ["", "K", " K", "A B", "A "] {
            assert_eq!(Sigkeys::from_stored(stored).to_stored(), stored);
        }
    }

    #[test]
    fn only_the_empty_key_accepts_any_package() {
        assert!(Sigkeys::new(vec![String::new()]).accepts_any());
        assert!(!Sigkeys::new(vec![String::new(), "K".into()]).accepts_any());
    }
}
