//! `GET /beta/$metadata`: the CSDL for the types this service serves, generated from
//! the entity description, in the same namespace and shape as Microsoft's beta schema
//! (contained navigation from the `deviceManagement` singleton through `virtualEndpoint`).

use crate::edm::{csdl, EntityView};
use crate::model::schema::CATALOG;

/// The CSDL document of the catalog; `legacy` adds the deprecated views' types and
/// sets.
pub fn csdl(legacy: bool) -> String {
    let views: Vec<&EntityView> = CATALOG.sets(legacy).map(|s| s.view).collect();
    let types: String = views.iter().map(|v| csdl::entity_type(v)).collect();
    let navigation: String = views
        .iter()
        .map(|v| {
            format!(
                "        <NavigationProperty Name=\"{}\" Type=\"Collection(graph.{})\" ContainsTarget=\"true\" />\n",
                v.set_name, v.type_name
            )
        })
        .collect();
    let enums: String = CATALOG.enums.iter().map(|e| csdl::enum_type(e)).collect();
    let complex: String = CATALOG
        .complex_types
        .iter()
        .map(|c| csdl::complex_type(c))
        .chain(
            CATALOG
                .row_views
                .iter()
                .map(|v| csdl::complex_type_of(v.entity)),
        )
        .collect();
    let operations: String = CATALOG
        .operations
        .iter()
        .map(|op| csdl::operation(op, CATALOG.bound_to.type_name))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
{enums}      <EntityType Name="entity" Abstract="true">
        <Key>
          <PropertyRef Name="id" />
        </Key>
        <Property Name="id" Type="Edm.String" Nullable="false" />
      </EntityType>
{complex}{types}{operations}      <EntityType Name="virtualEndpoint" BaseType="graph.entity">
{navigation}      </EntityType>
      <EntityType Name="deviceManagement" BaseType="graph.entity">
        <NavigationProperty Name="virtualEndpoint" Type="graph.virtualEndpoint" ContainsTarget="true" />
      </EntityType>
      <EntityContainer Name="GraphService">
        <Singleton Name="deviceManagement" Type="microsoft.graph.deviceManagement" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"#
    )
}
