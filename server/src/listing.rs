//! The query string of the compose list: filters, ordering, pagination and the page links.

use actix_web::HttpRequest;
use odcs_common::api::PageMeta;
use odcs_common::compose::{ComposeState, SourceType};
use odcs_common::db::models::{ComposeFilter, ComposeOrder, OrderKey};

use crate::error::ApiError;
use crate::page_cache::PageKey;

/// Composes per page when the request does not say.
pub const DEFAULT_PER_PAGE: i64 = 10;

/// A parsed list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Equality filters.
    pub filter: ComposeFilter,
    /// Sort order.
    pub order: ComposeOrder,
    /// Page number, from 1.
    pub page: i64,
    /// Composes per page.
    pub per_page: i64,
    /// The request's parameters other than paging, kept for the page links.
    pub kept: Vec<(String, String)>,
}

impl ListQuery {
    /// Parses `query` (a raw query string); `max_per_page` caps `per_page`.
    pub fn parse(query: &str, max_per_page: i64) -> Result<ListQuery, ApiError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let text = |key: &str| get(key).map(str::to_owned);
        let source_type = get("source_type")
            .map(|v| coded("source_type", v, SourceType::from_code_or_name))
            .transpose()?;
        let state = get("state")
            .map(|v| coded("state", v, ComposeState::from_code_or_name))
            .transpose()?;
        let filter = ComposeFilter {
            owner: text("owner"),
            impossible: matches!(source_type, Some(None)) || matches!(state, Some(None)),
            source_type: source_type.flatten(),
            source: text("source"),
            state: state.flatten(),
            koji_task_id: get("koji_task_id")
                .map(|v| integer("koji_task_id", v))
                .transpose()?,
            pungi_compose_id: text("pungi_compose_id"),
            compose_type: text("compose_type"),
            label: text("label"),
        };
        let order = parse_order(get("order_by").unwrap_or("-id"))?;
        // As the reference: a page or page size that is not a number means the default.
        let number = |key: &str| get(key).and_then(|v| v.trim().parse::<i64>().ok());
        let page = number("page").unwrap_or(1).max(1);
        let per_page = match number("per_page") {
            None => DEFAULT_PER_PAGE,
            Some(n) if n < 1 => {
                return Err(ApiError::BadRequest(
                    "per_page must be greater than or equal to 1.".into(),
                ))
            }
            Some(n) => n.min(max_per_page),
        };
        let kept = pairs
            .into_iter()
            .filter(|(k, _)| k != "page" && k != "per_page" && !k.starts_with('_'))
            .collect();
        Ok(ListQuery {
            filter,
            order,
            page,
            per_page,
            kept,
        })
    }

    /// What decides the composes on this page, for [`crate::page_cache`].
    pub fn page_key(&self) -> PageKey {
        PageKey {
            filter: self.filter.clone(),
            order: self.order,
            page: self.page,
            per_page: self.per_page,
        }
    }

    /// The pagination block for a result of `total` composes, with links based on `req`.
    pub fn meta(&self, req: &HttpRequest, total: i64) -> PageMeta {
        let pages = if total == 0 {
            0
        } else {
            (total + self.per_page - 1) / self.per_page
        };
        let base = crate::proxy::external_url(req);
        let link = |page: i64| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("page", &page.to_string());
            query.append_pair("per_page", &self.per_page.to_string());
            for (k, v) in &self.kept {
                query.append_pair(k, v);
            }
            format!("{base}?{}", query.finish())
        };
        PageMeta {
            page: self.page,
            pages,
            per_page: self.per_page,
            total,
            first: link(1),
            last: link(pages),
            prev: (self.page > 1).then(|| link(self.page - 1)),
            next: (self.page < pages).then(|| link(self.page + 1)),
        }
    }
}

fn integer(key: &str, value: &str) -> Result<i64, ApiError> {
    value
        .trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{key} must be an integer, got {value:?}")))
}

/// A state or source type given by code (`2`) or by name (`done`); `None` for a number no
/// compose has (which, as in the reference, matches nothing).
pub fn coded<T>(
    key: &str,
    value: &str,
    read: fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match read(value) {
        Some(found) => Ok(Some(found)),
        None if value.trim().parse::<i64>().is_ok() => Ok(None),
        None => Err(ApiError::BadRequest(format!(
            "{key} must be a {key} name or number, got {value:?}"
        ))),
    }
}

fn parse_order(value: &str) -> Result<ComposeOrder, ApiError> {
    let (name, descending) = match value.strip_prefix('-') {
        Some(rest) if !rest.is_empty() => (rest, true),
        _ => (value, false),
    };
    // The reference's allow-list spells `source_Type` (and then fails on it): both spellings
    // sort by source type here, and the refusal quotes the reference's list word for word.
    let name = if name == "source_Type" {
        "source_type"
    } else {
        name
    };
    OrderKey::ALL
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, key)| ComposeOrder {
            key: *key,
            descending,
        })
        .ok_or_else(|| {
            let keys = OrderKey::ALL.iter().map(|(k, _)| match *k {
                "source_type" => "source_Type",
                k => k,
            });
            ApiError::BadRequest(format!(
                "An invalid order_by key was suplied, allowed keys are: {}",
                odcs_common::pyrepr::list(keys)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_list_newest_first_ten_per_page() {
        let q = ListQuery::parse("", 1000).expect("valid");
        assert_eq!(q.page, 1);
        assert_eq!(q.per_page, 10);
        assert_eq!(q.order, ComposeOrder::default());
        assert_eq!(q.filter, ComposeFilter::default());
    }

    #[test]
    fn filters_accept_codes_and_names() {
        let q = ListQuery::parse(
            "state=done&source_type=3&owner=me&order_by=source_type",
            1000,
        )
        .expect("valid");
        assert_eq!(q.filter.state, Some(ComposeState::Done));
        assert_eq!(q.filter.source_type, Some(SourceType::Repo));
        assert_eq!(q.filter.owner.as_deref(), Some("me"));
        assert_eq!(q.order.key, OrderKey::SourceType);
        assert!(!q.order.descending);
    }

    #[test]
    fn bad_parameters_are_400() {
        for query in [
            "state=abc",
            "source_type=x",
            "order_by=bogus",
            "per_page=0",
            "koji_task_id=1.5",
        ] {
            assert!(
                matches!(ListQuery::parse(query, 1000), Err(ApiError::BadRequest(_))),
                "{query}"
            );
        }
    }

    #[test]
    fn pages_that_are_not_numbers_mean_the_defaults() {
        let q = ListQuery::parse("page=abc&per_page=x", 1000).expect("valid");
        assert_eq!((q.page, q.per_page), (1, DEFAULT_PER_PAGE));
    }

    #[test]
    fn per_page_is_capped_and_page_floored() {
        let q = ListQuery::parse("per_page=5000&page=-3", 100).expect("valid");
        assert_eq!(q.per_page, 100);
        assert_eq!(q.page, 1);
    }
}
