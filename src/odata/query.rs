//! All query options of a request, parsed into typed values.
//!
//! Options may be written with or without `$` and in any case, as Graph accepts.
//! Unknown `$` options, options that make no sense where they are used, repeated
//! options and malformed values are all errors: mistakes should surface in
//! development, not be silently ignored.

use super::filter::parse_filter;
use super::paging::{fingerprint, Cursor, SkipToken};
use super::schema::resolve;
use super::{EntityView, Filter, Property, QueryError};

/// Items in a page when the client does not choose, as in Graph.
pub const PAGE_SIZE: u64 = 100;
/// Largest page a client may ask for (`$top` or `Prefer: odata.maxpagesize`).
pub const MAX_TOP: u64 = 999;
/// Largest `$skip` accepted. A database reads and drops every row it skips, so a
/// deep offset costs in proportion to its depth (`$skip=900000` over a million rows
/// cost 190–360× the first page); up to this bound it costs at most a few first
/// pages. Deeper, a client follows `@odata.nextLink`, whose cursor costs the same at
/// any depth, as Graph has clients do for collections that take no `$skip` at all.
pub const MAX_SKIP: u64 = 10_000;

const KNOWN: [&str; 8] = [
    "filter",
    "select",
    "top",
    "skip",
    "skiptoken",
    "count",
    "orderby",
    "format",
];
const NOT_SUPPORTED: [&str; 8] = [
    "expand",
    "search",
    "apply",
    "compute",
    "levels",
    "deltatoken",
    "index",
    "schemaversion",
];

/// Sort direction of one `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// One `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBy {
    pub property: Property,
    pub direction: Direction,
}

/// Query options of a collection GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionQuery {
    pub filter: Option<Filter>,
    /// `None` means all properties.
    pub select: Option<Vec<Property>>,
    pub orderby: Vec<OrderBy>,
    pub count: bool,
    /// First item of this page (when `after` is `None`).
    pub offset: u64,
    /// The page starts after the row with these sort keys (keyset paging).
    pub after: Option<Cursor>,
    /// Items per page: `$top`, else `Prefer: odata.maxpagesize`, else what the
    /// `$skiptoken` was issued with, else [`PAGE_SIZE`].
    pub page_size: u64,
    /// `odata.maxpagesize` when it set the page size, for `Preference-Applied`.
    pub max_page_size_applied: Option<u64>,
    /// `$top` as the client gave it, carried into `@odata.nextLink`.
    pub top: Option<u64>,
    /// The options as the client wrote them, carried into `@odata.nextLink`.
    pub raw_filter: Option<String>,
    pub raw_select: Option<String>,
    pub raw_orderby: Option<String>,
}

/// Where one page of a collection lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageWindow {
    pub offset: u64,
    pub limit: u64,
}

impl Default for CollectionQuery {
    fn default() -> Self {
        Self {
            filter: None,
            select: None,
            orderby: Vec::new(),
            count: false,
            offset: 0,
            after: None,
            page_size: PAGE_SIZE,
            max_page_size_applied: None,
            top: None,
            raw_filter: None,
            raw_select: None,
            raw_orderby: None,
        }
    }
}

impl CollectionQuery {
    /// The page this request returns.
    pub fn window(&self) -> PageWindow {
        PageWindow {
            offset: self.offset,
            limit: self.page_size,
        }
    }

    /// The token for the page after this one, given that the store found more rows
    /// and, where it can page by keys, the last row's keys; none for `$top=0`, whose
    /// pages would never advance.
    pub fn next_token(&self, last: Option<Cursor>) -> Option<SkipToken> {
        (self.page_size > 0).then(|| SkipToken {
            offset: self.offset.saturating_add(self.page_size),
            page_size: self.page_size,
            fingerprint: fingerprint(self.raw_filter.as_deref(), self.raw_orderby.as_deref()),
            after: last,
        })
    }

    /// `@odata.nextLink`, the one way every collection writes it: the collection's
    /// URL `base` (no query) with `keep` (parameters the next call repeats as they were
    /// sent, such as a function's aliases `@a=…`), then the options the client gave,
    /// as written, with the position folded into `$skiptoken` (and `$skip` gone,
    /// since the token carries it).
    pub fn next_link(&self, base: &str, keep: &[(&str, &str)], token: &SkipToken) -> String {
        let mut q = String::with_capacity(base.len() + 256);
        q.push_str(base);
        q.push('?');
        let start = q.len();
        let encoded =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut option = |name: &str, value: &str| {
            if q.len() > start {
                q.push('&');
            }
            q.push_str(name);
            q.push('=');
            q.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        };
        for (name, value) in keep {
            option(&encoded(name), value);
        }
        if let Some(f) = &self.raw_filter {
            option("$filter", f);
        }
        if let Some(s) = &self.raw_select {
            option("$select", s);
        }
        if let Some(o) = &self.raw_orderby {
            option("$orderby", o);
        }
        if self.count {
            option("$count", "true");
        }
        if let Some(top) = self.top {
            option("$top", itoa::Buffer::new().format(top));
        }
        // The longest value here, and URL-safe base64 already: written as it is.
        if q.len() > start {
            q.push('&');
        }
        q.push_str("$skiptoken=");
        q.push_str(&token.encode());
        q
    }
}

/// Query options of a single-entity GET: only `$select`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityQuery {
    pub select: Option<Vec<Property>>,
    pub raw_select: Option<String>,
}

/// Query options of `/$count`: only `$filter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountQuery {
    pub filter: Option<Filter>,
}

/// The options present in a query string, by canonical name.
struct Options {
    pairs: Vec<(&'static str, String)>,
}

impl Options {
    fn parse(raw: Option<&str>, allowed: &[&str], target: &str) -> Result<Self, QueryError> {
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let bare = name.strip_prefix('$').unwrap_or(&name).to_ascii_lowercase();
            let Some(canonical) = KNOWN.iter().find(|k| **k == bare) else {
                if let Some(ns) = NOT_SUPPORTED.iter().find(|k| **k == bare) {
                    return Err(QueryError::new(format!(
                        "The query option '${ns}' is not supported on {target}."
                    )));
                }
                if name.starts_with('$') {
                    return Err(QueryError::new(format!(
                        "The query parameter '{name}' is not supported; the system query options here are {}.",
                        allowed.iter().map(|a| format!("${a}")).collect::<Vec<_>>().join(", ")
                    )));
                }
                // Not an OData option: a custom query option, which OData lets services ignore.
                continue;
            };
            if *canonical == "format" {
                check_format(&value)?;
                continue;
            }
            if !allowed.contains(canonical) {
                return Err(QueryError::new(format!(
                    "The query option '${canonical}' is not supported on {target}."
                )));
            }
            if pairs.iter().any(|(n, _)| n == canonical) {
                return Err(QueryError::new(format!(
                    "The query option '${canonical}' is given more than once; give it once."
                )));
            }
            pairs.push((canonical, value.into_owned()));
        }
        Ok(Self { pairs })
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.pairs.iter().position(|(n, _)| *n == name)?;
        Some(self.pairs.swap_remove(i).1)
    }
}

/// Parses the query string of a collection GET; `max_page_size` is the client's
/// `Prefer: odata.maxpagesize`, if it sent one.
pub fn parse_collection(
    raw: Option<&str>,
    shape: &EntityView,
    max_page_size: Option<u64>,
) -> Result<CollectionQuery, QueryError> {
    let target = format!("the {} collection", shape.set_name);
    // A collection takes every option this service knows.
    let mut o = Options::parse(raw, &KNOWN, &target)?;
    let raw_filter = o.take("filter");
    let raw_select = o.take("select");
    let raw_orderby = o.take("orderby");
    let filter = raw_filter
        .as_deref()
        .map(|f| parse_filter(f, shape))
        .transpose()?;
    let select = raw_select
        .as_deref()
        .map(|s| parse_select(s, shape))
        .transpose()?;
    let orderby = raw_orderby
        .as_deref()
        .map(|s| parse_orderby(s, shape))
        .transpose()?
        .unwrap_or_default();
    let count = match o.take("count") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(QueryError::new(format!(
                "Invalid value '{v}' for $count; use true or false."
            )))
        }
    };
    let top = o
        .take("top")
        .map(|v| number("$top", &v, MAX_TOP))
        .transpose()?;
    let skip = o
        .take("skip")
        .map(|v| match number("$skip", &v, u64::MAX) {
            Ok(n) if n > MAX_SKIP => Err(QueryError::new(format!(
                "$skip={n} is beyond the largest $skip this service accepts ({MAX_SKIP}): a deep offset makes the database read and drop every row before it. To walk a large collection, follow @odata.nextLink from page to page; its cursor costs the same at any depth."
            ))),
            other => other,
        })
        .transpose()?;
    let token = match o.take("skiptoken") {
        Some(token) => {
            if skip.is_some() {
                return Err(QueryError::new(
                    "$skiptoken cannot be combined with $skip: the token already carries the position; follow @odata.nextLink as it is.",
                ));
            }
            let t = SkipToken::decode(&token)?;
            if t.fingerprint != fingerprint(raw_filter.as_deref(), raw_orderby.as_deref()) {
                return Err(QueryError::new(
                    "The $skiptoken was issued for a different $filter or $orderby; follow @odata.nextLink as it is.",
                ));
            }
            Some(t)
        }
        None => None,
    };
    let max_page_size = max_page_size.map(|n| n.clamp(1, MAX_TOP));
    let page_size = top
        .or(max_page_size)
        .or(token.as_ref().map(|t| t.page_size.clamp(1, MAX_TOP)))
        .unwrap_or(PAGE_SIZE);
    Ok(CollectionQuery {
        filter,
        select,
        orderby,
        count,
        offset: token.as_ref().map_or(skip.unwrap_or(0), |t| t.offset),
        after: token.and_then(|t| t.after),
        page_size,
        max_page_size_applied: if top.is_none() { max_page_size } else { None },
        top,
        raw_filter,
        raw_select,
        raw_orderby,
    })
}

/// Parses the query string of a single-entity GET.
pub fn parse_entity(raw: Option<&str>, shape: &EntityView) -> Result<EntityQuery, QueryError> {
    let target = format!(
        "a single {} entity; it accepts only $select",
        shape.set_name
    );
    let mut o = Options::parse(raw, &["select"], &target)?;
    let raw_select = o.take("select");
    let select = raw_select
        .as_deref()
        .map(|s| parse_select(s, shape))
        .transpose()?;
    Ok(EntityQuery { select, raw_select })
}

/// Parses the query string of `/$count`.
pub fn parse_count(raw: Option<&str>, shape: &EntityView) -> Result<CountQuery, QueryError> {
    let target = format!("{}/$count; it accepts only $filter", shape.set_name);
    let mut o = Options::parse(raw, &["filter"], &target)?;
    let filter = o
        .take("filter")
        .map(|f| parse_filter(&f, shape))
        .transpose()?;
    Ok(CountQuery { filter })
}

/// Rejects options on requests that take none (POST, PATCH, DELETE).
pub fn parse_none(raw: Option<&str>, target: &str) -> Result<(), QueryError> {
    Options::parse(raw, &[], target).map(|_| ())
}

/// `$format`: this service answers JSON only, which Graph's `json` (or the media
/// type, with any parameters) asks for; any other format is refused.
fn check_format(v: &str) -> Result<(), QueryError> {
    let essence = v.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("json") || essence.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(QueryError::new(format!(
        "The $format '{v}' is not supported; this service answers JSON only ($format=json or application/json)."
    )))
}

fn number(option: &str, v: &str, max: u64) -> Result<u64, QueryError> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| {
            QueryError::new(format!(
                "Invalid value '{v}' for {option}; it must be a whole number from 0 to {max}."
            ))
        })
}

fn parse_select(s: &str, shape: &EntityView) -> Result<Vec<Property>, QueryError> {
    let mut out: Vec<Property> = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item == "*" {
            return Ok(shape.properties().collect());
        }
        if item.is_empty() {
            return Err(QueryError::new(
                "Parsing OData Select and Expand failed: $select has an empty item; list property names separated by commas.",
            ));
        }
        let p = resolve(shape, item, "Parsing OData Select and Expand failed")?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    // Render in schema order, whatever order the client listed them in.
    Ok(shape.properties().filter(|p| out.contains(p)).collect())
}

fn parse_orderby(s: &str, shape: &EntityView) -> Result<Vec<OrderBy>, QueryError> {
    let mut out: Vec<OrderBy> = Vec::new();
    for item in s.split(',').map(str::trim) {
        let mut words = item.split_whitespace();
        let Some(name) = words.next() else {
            return Err(QueryError::new(
                "Invalid $orderby: it has an empty item; list property names, each optionally followed by asc or desc.",
            ));
        };
        let property = resolve(shape, name, "Invalid $orderby")?;
        if !property.sortable {
            return Err(QueryError::new(format!(
                "Invalid $orderby: the property '{}' does not support sorting.",
                shape.name(property)
            )));
        }
        let direction = match words.next() {
            None => Direction::Asc,
            Some(d) if d.eq_ignore_ascii_case("asc") => Direction::Asc,
            Some(d) if d.eq_ignore_ascii_case("desc") => Direction::Desc,
            Some(d) => {
                return Err(QueryError::new(format!(
                    "Invalid $orderby: '{d}' after '{name}' is not a direction; use asc or desc."
                )))
            }
        };
        if let Some(extra) = words.next() {
            return Err(QueryError::new(format!(
                "Invalid $orderby: unexpected '{extra}' in '{item}'; separate keys with commas."
            )));
        }
        if out.iter().any(|o| o.property == property) {
            return Err(QueryError::new(format!(
                "Invalid $orderby: '{name}' appears more than once."
            )));
        }
        out.push(OrderBy {
            property,
            direction,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema;
    const S: &EntityView = &schema::PARTNERS;

    fn prop(name: &str) -> Property {
        S.lookup(name).unwrap()
    }

    fn coll(q: &str) -> Result<CollectionQuery, QueryError> {
        parse_collection(Some(q), S, None)
    }

    #[test]
    fn a_next_link_repeats_the_options_and_what_it_is_told_to_keep() {
        let q = coll("$filter=enableConnection%20eq%20true&$top=2&$count=true&$skip=4").unwrap();
        let token = q.next_token(None).unwrap();
        let link = q.next_link("https://h/beta/x", &[("@a", "it's 1&2")], &token);
        let (base, query) = link.split_once('?').unwrap();
        assert_eq!(base, "https://h/beta/x");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        // $skip is gone: the token carries the position.
        assert_eq!(names, ["@a", "$filter", "$count", "$top", "$skiptoken"]);
        assert_eq!(pairs[0].1, "it's 1&2");
        assert_eq!(pairs[1].1, "enableConnection eq true");
        assert_eq!(pairs[4].1, token.encode());
        let bare = coll("").unwrap();
        let link = bare.next_link("https://h/p", &[], &bare.next_token(None).unwrap());
        assert!(link.starts_with("https://h/p?$skiptoken="), "{link}");
    }

    #[test]
    fn names_with_or_without_dollar_and_encoded() {
        let q = coll("%24top=5&skip=2&$COUNT=true&select=id,partnerId").unwrap();
        assert_eq!(
            q.window(),
            PageWindow {
                offset: 2,
                limit: 5
            }
        );
        assert!(q.count);
        assert_eq!(q.select, Some(vec![prop("id"), prop("partnerId")]));
    }

    #[test]
    fn top_is_the_page_size_and_tokens_keep_it() {
        let q = coll("$top=250").unwrap();
        assert_eq!(
            q.window(),
            PageWindow {
                offset: 0,
                limit: 250
            }
        );
        let t = q.next_token(None).unwrap();
        assert_eq!((t.offset, t.page_size), (250, 250));
        // The nextLink repeats $top beside the token.
        let q2 = coll(&format!("$top=250&$skiptoken={}", t.encode())).unwrap();
        assert_eq!(
            q2.window(),
            PageWindow {
                offset: 250,
                limit: 250
            }
        );
        // A token alone pages with the size it was issued for.
        let q3 = coll(&format!(
            "$skiptoken={}",
            q2.next_token(None).unwrap().encode()
        ))
        .unwrap();
        assert_eq!(
            q3.window(),
            PageWindow {
                offset: 500,
                limit: 250
            }
        );
        assert_eq!(
            coll("").unwrap().window(),
            PageWindow {
                offset: 0,
                limit: 100
            }
        );
        // $skip is a one-off offset.
        assert_eq!(coll("$skip=10000").unwrap().window().offset, MAX_SKIP);
        let deep = coll("$skip=10001").unwrap_err();
        assert!(deep.message.contains("@odata.nextLink"), "{}", deep.message);
        let q4 = coll("$skip=7&$top=5").unwrap();
        assert_eq!(
            q4.window(),
            PageWindow {
                offset: 7,
                limit: 5
            }
        );
        assert_eq!(q4.next_token(None).unwrap().offset, 12);
        // $top=0 answers no items and never a next page.
        assert_eq!(coll("$top=0").unwrap().next_token(None), None);
    }

    #[test]
    fn max_page_size_applies_unless_top_is_given() {
        let q = parse_collection(None, S, Some(10)).unwrap();
        assert_eq!((q.page_size, q.max_page_size_applied), (10, Some(10)));
        let q = parse_collection(Some("$top=3"), S, Some(10)).unwrap();
        assert_eq!((q.page_size, q.max_page_size_applied), (3, None));
        let q = parse_collection(None, S, Some(5000)).unwrap();
        assert_eq!(q.page_size, MAX_TOP);
    }

    #[test]
    fn format_json_is_accepted_and_others_refused() {
        assert!(coll("$format=json").is_ok());
        assert!(coll("$format=application/json;odata.metadata=minimal").is_ok());
        assert!(parse_entity(Some("$format=json"), S).is_ok());
        assert!(coll("$format=xml")
            .unwrap_err()
            .message
            .contains("JSON only"));
    }

    #[test]
    fn skiptoken_is_bound_to_its_query() {
        let q = coll("$filter=enableConnection eq true").unwrap();
        let t = q.next_token(None).unwrap().encode();
        assert!(coll(&format!("$filter=enableConnection eq true&$skiptoken={t}")).is_ok());
        let e = coll(&format!("$filter=enableConnection eq false&$skiptoken={t}")).unwrap_err();
        assert!(e.message.contains("different $filter"));
        assert!(coll(&format!(
            "$filter=enableConnection eq true&$skiptoken={t}&$skip=3"
        ))
        .is_err());
    }

    #[test]
    fn bad_options_are_named() {
        let m = |q: &str| coll(q).unwrap_err().message;
        assert!(m("$top=-1").contains("$top"));
        assert!(m("$top=1000").contains("0 to 999"));
        assert!(m("$skip=x").contains("$skip"));
        assert!(m("$count=yes").contains("$count"));
        assert!(m("$expand=x").contains("'$expand' is not supported"));
        assert!(m("$search=x").contains("'$search' is not supported"));
        assert!(m("$bogus=1").contains("'$bogus'"));
        assert!(m("$top=1&top=2").contains("more than once"));
        assert!(m("$select=nope").contains(
            "Could not find a property named 'nope' on type 'microsoft.graph.cloudPcExternalPartner'"
        ));
        assert!(m("$select=id,,partnerId").contains("empty item"));
        assert!(m("$orderby=partnerId sideways").contains("not a direction"));
        assert!(m("$orderby=statusDetails").contains("does not support sorting"));
        assert!(m("$orderby=id,id").contains("more than once"));
        assert!(m("$skiptoken=abc").contains("$skiptoken is not valid"));
        // A custom (non-$) option that is not an OData option is ignored.
        assert!(coll("api-version=1").is_ok());
    }

    #[test]
    fn select_star_and_schema_order() {
        assert_eq!(coll("$select=*").unwrap().select.unwrap().len(), 7);
        assert_eq!(
            coll("$select=statusDetails,ID").unwrap().select,
            Some(vec![prop("id"), prop("statusDetails")])
        );
    }

    #[test]
    fn orderby_keys() {
        assert_eq!(
            coll("$orderby=lastSyncDateTime desc, partnerId")
                .unwrap()
                .orderby,
            vec![
                OrderBy {
                    property: prop("lastSyncDateTime"),
                    direction: Direction::Desc
                },
                OrderBy {
                    property: prop("partnerId"),
                    direction: Direction::Asc
                },
            ]
        );
    }

    #[test]
    fn entity_and_count_accept_only_their_options() {
        assert!(parse_entity(Some("$select=id"), S).is_ok());
        assert!(parse_entity(Some("$top=1"), S)
            .unwrap_err()
            .message
            .contains("only $select"));
        assert!(parse_count(Some("$filter=enableConnection"), S).is_ok());
        assert!(parse_count(Some("$select=id"), S)
            .unwrap_err()
            .message
            .contains("only $filter"));
        assert!(parse_none(Some("$top=1"), "a POST").is_err());
    }

    /// The query-option parsers as one hostile client drives them: 100,000 cases of
    /// filter-like, orderby-like and select-like text and tampered tokens, on every
    /// view. None may panic; every refusal is a QueryError (a 400).
    mod fuzz {
        use super::*;
        use crate::model::schema::{ACTION_REPORTS, ACTION_RESULTS, SETTINGS};
        use proptest::prelude::*;

        fn fragment() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("(".to_owned()),
                Just(")".to_owned()),
                Just(",".to_owned()),
                Just("'".to_owned()),
                Just(" and ".to_owned()),
                Just(" or ".to_owned()),
                Just("not ".to_owned()),
                Just(" eq ".to_owned()),
                Just(" gt ".to_owned()),
                Just(" in ".to_owned()),
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("partnerId".to_owned()),
                Just("connectionStatus".to_owned()),
                Just("state".to_owned()),
                Just("'healthy'".to_owned()),
                Just("2020-01-01T00:00:00Z".to_owned()),
                Just(" desc".to_owned()),
                Just("*".to_owned()),
                Just("microsoft.graph.cloudPcExternalPartnerStatus'".to_owned()),
                Just("%00".to_owned()),
                Just("&".to_owned()),
                Just("=".to_owned()),
                Just("$".to_owned()),
                Just("@a".to_owned()),
                "\\PC{0,6}",
            ]
        }

        fn text() -> impl Strategy<Value = String> {
            proptest::collection::vec(fragment(), 0..12).prop_map(|parts| parts.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 100_000, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn parsers_never_panic(filter in text(), orderby in text(), select in text(), token in text(), top in text()) {
                let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                let raw = format!(
                    "$filter={}&$orderby={}&$select={}&$top={}",
                    enc(&filter), enc(&orderby), enc(&select), enc(&top)
                );
                for view in [S, &SETTINGS, &ACTION_RESULTS, &ACTION_REPORTS] {
                    let _ = parse_collection(Some(&raw), view, None);
                    let _ = parse_collection(Some(&format!("$skiptoken={}", enc(&token))), view, Some(7));
                    let _ = parse_entity(Some(&format!("$select={}", enc(&select))), view);
                    let _ = parse_count(Some(&format!("$filter={}", enc(&filter))), view);
                }
                let _ = SkipToken::decode(&token);
            }
        }
    }
}
