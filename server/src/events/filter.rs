//! Which events a client of `GET /api/1/events` asked for: equality filters on the compose as
//! the event shows it, as the compose list filters.

use odcs_common::compose::{ComposeState, SourceType};

use crate::error::ApiError;
use crate::events::cursor::LAST_EVENT_ID_PARAMETER;
use crate::events::hub::Facts;
use crate::listing::coded;

/// The query parameters the all-composes stream takes.
pub const PARAMETERS: [&str; 6] = [
    "owner",
    "source_type",
    "source",
    "state",
    "label",
    "compose_type",
];

/// Equality filters; an event passes when it matches every one given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    owner: Option<String>,
    source_type: Option<Option<SourceType>>,
    source: Option<String>,
    state: Option<Option<ComposeState>>,
    label: Option<String>,
    compose_type: Option<String>,
}

impl EventFilter {
    /// Parses a query string (its `last_event_id` is the stream's, not a filter); an unknown
    /// parameter or a value no compose can have is a 400
    /// naming it (a filter silently ignored would stream events the client did not ask for).
    pub fn parse(query: &str) -> Result<EventFilter, ApiError> {
        let mut filter = EventFilter::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if value.is_empty() {
                continue;
            }
            match key.as_ref() {
                LAST_EVENT_ID_PARAMETER => {}
                "owner" => filter.owner = Some(value.into_owned()),
                "source" => filter.source = Some(value.into_owned()),
                "label" => filter.label = Some(value.into_owned()),
                "compose_type" => filter.compose_type = Some(value.into_owned()),
                "source_type" => {
                    filter.source_type =
                        Some(coded("source_type", &value, SourceType::from_code_or_name)?)
                }
                "state" => {
                    filter.state = Some(coded("state", &value, ComposeState::from_code_or_name)?)
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown parameter {other:?}: the event stream filters on {}",
                        PARAMETERS.join(", ")
                    )))
                }
            }
        }
        Ok(filter)
    }

    /// Whether an event about a compose with these facts passes.
    pub fn matches(&self, facts: &Facts) -> bool {
        let text = |wanted: &Option<String>, have: &Option<String>| {
            wanted.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        let code = |wanted: Option<Option<i32>>, have: Option<i32>| match wanted {
            None => true,
            Some(None) => false,
            Some(Some(w)) => have == Some(w),
        };
        text(&self.owner, &facts.owner)
            && text(&self.source, &facts.source)
            && text(&self.label, &facts.label)
            && text(&self.compose_type, &facts.compose_type)
            && code(
                self.source_type.map(|t| t.map(SourceType::code)),
                facts.source_type,
            )
            && code(self.state.map(|s| s.map(ComposeState::code)), facts.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(owner: &str, state: ComposeState) -> Facts {
        Facts {
            owner: Some(owner.into()),
            state: Some(state.code()),
            source_type: Some(SourceType::Tag.code()),
            ..Facts::default()
        }
    }

    #[test]
    fn every_filter_given_must_match() {
        let filter = EventFilter::parse("owner=me&state=done&source_type=tag").expect("valid");
        assert!(filter.matches(&facts("me", ComposeState::Done)));
        assert!(!filter.matches(&facts("me", ComposeState::Wait)));
        assert!(!filter.matches(&facts("you", ComposeState::Done)));
        assert!(EventFilter::parse("")
            .expect("valid")
            .matches(&Facts::default()));
    }

    #[test]
    fn a_number_no_state_has_matches_nothing() {
        let filter = EventFilter::parse("state=99").expect("valid");
        assert!(!filter.matches(&facts("me", ComposeState::Done)));
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_400() {
        for query in ["page=2", "state=sleeping", "source_type=x", "order_by=id"] {
            assert!(
                matches!(EventFilter::parse(query), Err(ApiError::BadRequest(_))),
                "{query}"
            );
        }
    }
}
