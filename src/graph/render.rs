//! JSON representations exactly as the seed pages show them, for either view.

use crate::connections::{Connection, Listing};
use crate::edm::json::{Form, ScalarJson};
use crate::edm::{Derived, Source};
use crate::http::respond::{Collection, EntityResponse, SerializedJson};
use crate::json::JsonOut;
use crate::odata::{CollectionQuery, EntityView, Property, SkipToken};
use axum::http::StatusCode;

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

/// One entity as JSON, written straight from the record (no `Value` tree):
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

/// `#microsoft.graph.<type>` of a view.
fn odata_type(shape: &EntityView) -> String {
    format!("#{}", shape.qualified_type())
}

impl EntityJson<'_> {
    fn write(&self, out: &mut JsonOut) -> Result<(), serde_json::Error> {
        let mut m = out.object();
        if let Some(context) = self.context {
            m.key("@odata.context").string(context);
        }
        m.key("@odata.type").string(self.odata_type);
        // `W/"<version>"`, as the record's ETag is.
        let etag = m.key("@odata.etag");
        etag.raw(r#""W/\""#);
        etag.int(self.conn.record.version);
        etag.raw(r#"\"""#);
        let mut put = |p: Property| write_property(m.key(self.shape.name(p)), p, self.conn);
        match self.select {
            Some(chosen) => chosen.iter().copied().try_for_each(&mut put)?,
            None => self.shape.properties().try_for_each(&mut put)?,
        }
        m.end();
        Ok(())
    }
}

/// One property's value.
fn write_property(
    out: &mut JsonOut,
    p: Property,
    conn: &Connection,
) -> Result<(), serde_json::Error> {
    match p.source {
        Source::Key => out.string(
            conn.record
                .id
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        ),
        Source::Column(_) => match ScalarJson(conn.record.values.get(p.name), &p.edm).form() {
            Form::Null => out.null(),
            Form::Bool(b) => out.bool(b),
            Form::Int(n) => out.int(n),
            Form::Str(t) => out.string(&t),
            Form::Json(v) => out.value(v)?,
        },
        Source::Derived(Derived::Status) => out.string(conn.health.status.as_str()),
        Source::Derived(Derived::StatusDetails) => out.string(&conn.health.details),
    }
    Ok(())
}

/// A page: `@odata.context`, `@odata.count`, `value`, `@odata.nextLink`.
struct PageJson<'a> {
    shape: &'a EntityView,
    context: String,
    count: Option<u64>,
    /// `#microsoft.graph.<type>`, made once for all the items.
    odata_type: String,
    items: &'a [Connection],
    select: Option<&'a [Property]>,
    next_link: Option<String>,
}

impl PageJson<'_> {
    fn write(&self, out: &mut JsonOut) -> Result<(), serde_json::Error> {
        let mut m = out.object();
        m.key("@odata.context").string(&self.context);
        if let Some(n) = self.count {
            m.key("@odata.count").int(n);
        }
        let mut items = m.key("value").array();
        for conn in self.items {
            let item = EntityJson {
                shape: self.shape,
                odata_type: &self.odata_type,
                conn,
                select: self.select,
                context: None,
            };
            item.write(items.item())?;
        }
        items.end();
        if let Some(link) = &self.next_link {
            m.key("@odata.nextLink").string(link);
        }
        m.end();
        Ok(())
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
        body: SerializedJson::written(status, ENTITY_BYTES, |out| json.write(out)),
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
        shape,
        context: context_url(shape, base, select, false),
        count: listing.count,
        odata_type: odata_type(shape),
        items: &listing.items,
        select,
        // The token (and its checksum) only when there is a page after this one.
        next_link: listing
            .more
            .then(|| q.next_token(listing.next_after.clone()))
            .flatten()
            .map(|token| next_link(shape, base, q, token)),
    };
    Collection {
        body: SerializedJson::written(
            StatusCode::OK,
            PAGE_BYTES + ENTITY_BYTES * listing.items.len(),
            |out| page.write(out),
        ),
        max_page_size_applied: q.max_page_size_applied,
    }
}

/// `@odata.nextLink`: the same options, with the paging folded into `$skiptoken`.
fn next_link(shape: &EntityView, base: &str, q: &CollectionQuery, token: SkipToken) -> String {
    q.next_link(&format!("{base}/{}", set_path(shape)), &[], &token)
}
