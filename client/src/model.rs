//! What the client sends that is its own: the filters of a compose listing. Composes, pages and
//! compose requests are the shapes every part of ODCS shares (`odcs_common::api`,
//! `odcs_common::request`, `odcs_common::spec`).

use std::collections::BTreeMap;

/// Filters and paging of `GET /api/1/composes/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeFilter {
    /// Field → value (owner, source_type, source, state, label, compose_type, ...).
    pub fields: BTreeMap<String, String>,
    /// Sort key, `-` prefixed for descending.
    pub order_by: Option<String>,
    /// Page, from 1.
    pub page: Option<u32>,
    /// Items per page.
    pub per_page: Option<u32>,
}

impl ComposeFilter {
    /// The query parameters.
    pub fn query(&self) -> Vec<(String, String)> {
        let mut query: Vec<(String, String)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(order) = &self.order_by {
            query.push(("order_by".into(), order.clone()));
        }
        if let Some(page) = self.page {
            query.push(("page".into(), page.to_string()));
        }
        if let Some(per_page) = self.per_page {
            query.push(("per_page".into(), per_page.to_string()));
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_query_parameters() {
        let mut filter = ComposeFilter {
            order_by: Some("-id".into()),
            page: Some(2),
            ..ComposeFilter::default()
        };
        filter.fields.insert("state".into(), "done".into());
        assert_eq!(
            filter.query(),
            [
                ("state".to_owned(), "done".to_owned()),
                ("order_by".to_owned(), "-id".to_owned()),
                ("page".to_owned(), "2".to_owned())
            ]
        );
    }
}
