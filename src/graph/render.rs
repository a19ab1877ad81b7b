//! JSON representations exactly as the seed pages show them, for either view.

use crate::connections::{Connection, Listing};
use crate::edm::json::ScalarJson;
use crate::edm::{Derived, Source};
use crate::http::respond::{Collection, EntityResponse, SerializedJson};
use crate::odata::{CollectionQuery, EntityView, Property, SkipToken};
use axum::http::StatusCode;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// The path of an entity set below the service root.
pub fn set_path(shape: &EntityView) -> String {
    format!("deviceManagement/virtualEndpoint/{}", shape.set_name)
}

/// `@odata.context` for a collection or (with `entity`) a single entity.
pub fn context_url(
    shape: &EntityView,
    base: &str,
    select: Option<&[Property]>,
    entity: bool,
) -> String {
    let mut s = format!("{base}/$metadata#{}", set_path(shape));
    if let Some(props) = select {
        let names: Vec<&str> = props.iter().map(|p| shape.name(p)).collect();
        s.push_str(&format!("({})", names.join(",")));
    }
    if entity {
        s.push_str("/$entity");
    }
    s
}

/// One entity as JSON, serialized straight from the record (no `Value` tree):
/// `@odata.context` (for a single entity), `@odata.type`, `@odata.etag`, then the
/// properties (all, or the selected ones) in the description's order.
struct EntityJson<'a> {
    shape: &'a EntityView,
    conn: &'a Connection,
    select: Option<&'a [Property]>,
    context: Option<&'a str>,
}

impl Serialize for EntityJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(context) = self.context {
            m.serialize_entry("@odata.context", context)?;
        }
        m.serialize_entry(
            "@odata.type",
            &format_args!("#{}", self.shape.qualified_type()),
        )?;
        m.serialize_entry("@odata.etag", &self.conn.record.etag())?;
        let mut put =
            |p: Property| m.serialize_entry(self.shape.name(p), &PropertyJson(p, self.conn));
        match self.select {
            Some(chosen) => chosen.iter().copied().try_for_each(&mut put)?,
            None => self.shape.properties().try_for_each(&mut put)?,
        }
        m.end()
    }
}

/// One property's value.
struct PropertyJson<'a>(Property, &'a Connection);

impl Serialize for PropertyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (p, conn) = (self.0, self.1);
        match p.source {
            Source::Key => s.collect_str(&conn.record.id),
            Source::Column(_) => ScalarJson(conn.record.values.get(p.name), &p.edm).serialize(s),
            Source::Derived(Derived::Status) => s.serialize_str(conn.health.status.as_str()),
            Source::Derived(Derived::StatusDetails) => s.serialize_str(&conn.health.details),
        }
    }
}

/// A page: `@odata.context`, `@odata.count`, `value`, `@odata.nextLink`.
struct PageJson<'a> {
    context: String,
    count: Option<u64>,
    items: Vec<EntityJson<'a>>,
    next_link: Option<String>,
}

impl Serialize for PageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("@odata.context", &self.context)?;
        if let Some(n) = self.count {
            m.serialize_entry("@odata.count", &n)?;
        }
        m.serialize_entry("value", &self.items)?;
        if let Some(link) = &self.next_link {
            m.serialize_entry("@odata.nextLink", link)?;
        }
        m.end()
    }
}

/// A single-entity response: 200 with its `ETag`.
pub fn entity(
    shape: &EntityView,
    base: &str,
    conn: &Connection,
    select: Option<&[Property]>,
) -> EntityResponse {
    entity_with(StatusCode::OK, shape, base, conn, select)
}

fn entity_with(
    status: StatusCode,
    shape: &EntityView,
    base: &str,
    conn: &Connection,
    select: Option<&[Property]>,
) -> EntityResponse {
    let context = context_url(shape, base, select, true);
    let json = EntityJson {
        shape,
        conn,
        select,
        context: Some(&context),
    };
    EntityResponse {
        body: SerializedJson::of(status, &json),
        etag: conn.record.etag(),
        location: None,
    }
}

/// A create's response: 201, with the new entity's `Location`.
pub fn created(shape: &EntityView, base: &str, conn: &Connection) -> EntityResponse {
    EntityResponse {
        location: Some(format!("{base}/{}/{}", set_path(shape), conn.record.id)),
        ..entity_with(StatusCode::CREATED, shape, base, conn, None)
    }
}

/// A page of a collection, with `@odata.count` and `@odata.nextLink` as they apply.
pub fn collection(
    shape: &EntityView,
    base: &str,
    q: &CollectionQuery,
    listing: &Listing,
) -> Collection {
    let select = q.select.as_deref();
    let page = PageJson {
        context: context_url(shape, base, select, false),
        count: listing.count,
        items: listing
            .items
            .iter()
            .map(|conn| EntityJson {
                shape,
                conn,
                select,
                context: None,
            })
            .collect(),
        next_link: q
            .next_token(listing.next_after.clone())
            .filter(|_| listing.more)
            .map(|token| next_link(shape, base, q, token)),
    };
    Collection {
        body: SerializedJson::of(StatusCode::OK, &page),
        max_page_size_applied: q.max_page_size_applied,
    }
}

/// `@odata.nextLink`: the same options, with the paging folded into `$skiptoken`.
fn next_link(shape: &EntityView, base: &str, q: &CollectionQuery, token: SkipToken) -> String {
    format!("{base}/{}?{}", set_path(shape), q.next_link_query(&token))
}
