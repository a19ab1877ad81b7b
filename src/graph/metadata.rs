//! `GET /beta/$metadata`: the CSDL for the types this service serves, generated from
//! the entity description, in the same namespace and shape as Microsoft's beta schema
//! (contained navigation from the `deviceManagement` singleton through `virtualEndpoint`).

use crate::edm::{csdl, EntityView};
use crate::model::schema::{
    ACTION_REPORT, ACTION_RESULT, AGENT_SETTING, ENUMS, PARTNERS, PARTNER_OPERATIONS, SETTINGS,
};

/// The CSDL document; `legacy` adds the deprecated settings type and set.
pub fn csdl(legacy: bool) -> String {
    let views: &[&EntityView] = if legacy {
        &[&PARTNERS, &SETTINGS]
    } else {
        &[&PARTNERS]
    };
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
    let enums: String = ENUMS.iter().map(|e| csdl::enum_type(e)).collect();
    let complex = [
        csdl::complex_type(&AGENT_SETTING),
        csdl::complex_type_of(&ACTION_RESULT),
        csdl::complex_type_of(&ACTION_REPORT),
    ]
    .concat();
    let operations: String = PARTNER_OPERATIONS
        .iter()
        .map(|op| csdl::operation(op, PARTNERS.type_name))
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
