//! Tenants as apps name them: by GUID, or by a verified-domain-style name
//! (`contoso.onmicrosoft.com`). The stand-in has no directory of domains, so a name
//! maps to one stable GUID: the RFC 4122 name-based (version 5) UUID of the name in
//! lower case, in the DNS namespace. The same name always lands in the same tenant,
//! and anyone can work the GUID out (Python: `uuid.uuid5(uuid.NAMESPACE_DNS, name)`).

use uuid::Uuid;

/// How a tenant segment of an authority URL reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantName {
    /// A tenant: given by GUID, or by a name mapped to one.
    Tenant(Uuid),
    /// `common`, `organizations` or `consumers`: no single tenant.
    Multi(&'static str),
}

/// Reads a tenant segment; `None` when it is neither a GUID nor a domain name.
pub fn parse_tenant(raw: &str) -> Option<TenantName> {
    let raw = raw.trim();
    if let Ok(id) = Uuid::try_parse(raw) {
        return Some(TenantName::Tenant(id));
    }
    let lower = raw.to_ascii_lowercase();
    for multi in ["common", "organizations", "consumers"] {
        if lower == multi {
            return Some(TenantName::Multi(multi));
        }
    }
    is_domain(&lower).then(|| TenantName::Tenant(tenant_for_domain(&lower)))
}

/// The GUID a domain name stands for.
pub fn tenant_for_domain(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_DNS, name.to_ascii_lowercase().as_bytes())
}

/// A domain name with at least two labels, such as `contoso.onmicrosoft.com`.
fn is_domain(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `--tenant` of the `token` command: a GUID or a domain name.
pub fn parse_tenant_flag(raw: &str) -> Result<Uuid, String> {
    match parse_tenant(raw) {
        Some(TenantName::Tenant(id)) => Ok(id),
        Some(TenantName::Multi(m)) => Err(format!(
            "'{m}' names no single tenant; give a tenant GUID or a domain such as contoso.onmicrosoft.com"
        )),
        None => Err(format!(
            "'{raw}' is neither a tenant GUID nor a domain such as contoso.onmicrosoft.com"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_one_stable_guid() {
        let id = Uuid::parse_str("0b5c4a2e-6f1d-4e0a-9d6b-1f2e3d4c5b6a").unwrap();
        assert_eq!(parse_tenant(&id.to_string()), Some(TenantName::Tenant(id)));
        let a = parse_tenant("contoso.onmicrosoft.com");
        assert_eq!(a, parse_tenant("Contoso.OnMicrosoft.com"));
        // What Python's uuid.uuid5(uuid.NAMESPACE_DNS, "contoso.onmicrosoft.com") gives.
        let python = Uuid::parse_str("2b6d8627-79bd-5737-b194-7ee60e2c6ffc").unwrap();
        assert_eq!(a, Some(TenantName::Tenant(python)));
        assert_ne!(a, parse_tenant("fabrikam.onmicrosoft.com"));
        assert_eq!(parse_tenant("common"), Some(TenantName::Multi("common")));
        assert_eq!(
            parse_tenant("Organizations"),
            Some(TenantName::Multi("organizations"))
        );
        for bad in ["", "contoso", "a..b", "a b.c", "x/y.z"] {
            assert_eq!(parse_tenant(bad), None, "{bad}");
        }
        assert!(parse_tenant_flag("common")
            .unwrap_err()
            .contains("no single tenant"));
    }
}
