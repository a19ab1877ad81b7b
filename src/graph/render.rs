//! JSON representations exactly as the seed pages show them, for either view.

use crate::connections::{Connection, Listing};
use crate::edm::json::ScalarJson;
use crate::edm::{Derived, Source};
use crate::http::respond::{Collection, EntityResponse, SerializedJson};
use crate::odata::{CollectionQuery, EntityView, Property, SkipToken};
use axum::http::StatusCode;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// About what one entity and a page's own members take as JSON: the buffer a
/// response is written into starts this large rather than growing by copies.
const ENTITY_BYTES: usize = 512;
const PAGE_BYTES: usize = 768;

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
    /// `#microsoft.graph.<type>`, made once per response.
    odata_type: &'a str,
    conn: &'a Connection,
    select: Option<&'a [Property]>,
    context: Option<&'a str>,
}

/// A record's ETag, `W/"<version>"`, written into `buf`: a page of connections would
/// otherwise format a string per item.
fn etag_in(version: i64, buf: &mut [u8; 28]) -> &str {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version).as_bytes();
    let end = 3 + digits.len() + 1;
    buf[..3].copy_from_slice(b"W/\"");
    buf[3..end - 1].copy_from_slice(digits);
    buf[end - 1] = b'"';
    // ASCII throughout.
    std::str::from_utf8(&buf[..end]).unwrap_or_default()
}

/// `#microsoft.graph.<type>` of a view.
fn odata_type(shape: &EntityView) -> String {
    format!("#{}", shape.qualified_type())
}

impl Serialize for EntityJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(context) = self.context {
            m.serialize_entry("@odata.context", context)?;
        }
        m.serialize_entry("@odata.type", self.odata_type)?;
        m.serialize_entry(
            "@odata.etag",
            etag_in(self.conn.record.version, &mut [0; 28]),
        )?;
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
            Source::Key => s.serialize_str(
                conn.record
                    .id
                    .hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            ),
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
        odata_type: &odata_type(shape),
        conn,
        select,
        context: Some(&context),
    };
    EntityResponse {
        body: SerializedJson::sized(status, &json, ENTITY_BYTES),
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
    let odata_type = odata_type(shape);
    let page = PageJson {
        context: context_url(shape, base, select, false),
        count: listing.count,
        items: listing
            .items
            .iter()
            .map(|conn| EntityJson {
                shape,
                odata_type: &odata_type,
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
        body: SerializedJson::sized(
            StatusCode::OK,
            &page,
            PAGE_BYTES + ENTITY_BYTES * listing.items.len(),
        ),
        max_page_size_applied: q.max_page_size_applied,
    }
}

/// `@odata.nextLink`: the same options, with the paging folded into `$skiptoken`.
fn next_link(shape: &EntityView, base: &str, q: &CollectionQuery, token: SkipToken) -> String {
    format!("{base}/{}?{}", set_path(shape), q.next_link_query(&token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_written_as_the_record_formats_them() {
        for version in [0, 1, 42, i64::MAX, -1, i64::MIN] {
            assert_eq!(
                etag_in(version, &mut [0; 28]),
                format!("W/\"{version}\""),
                "{version}"
            );
        }
    }
}
