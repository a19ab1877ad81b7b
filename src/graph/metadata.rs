//! `GET /beta/$metadata`: the CSDL for the types this service serves, in the same
//! namespace and shape as Microsoft's beta schema (contained navigation from the
//! `deviceManagement` singleton through `virtualEndpoint`).

/// The CSDL document; `legacy` adds the deprecated settings type and set.
pub fn csdl(legacy: bool) -> String {
    let legacy_type = if legacy {
        r#"
      <EntityType Name="cloudPcExternalPartnerSetting" BaseType="graph.entity">
        <Property Name="enableConnection" Type="Edm.Boolean" Nullable="false" />
        <Property Name="lastSyncDateTime" Type="Edm.DateTimeOffset" />
        <Property Name="partnerId" Type="Edm.String" Nullable="false" />
        <Property Name="status" Type="graph.cloudPcExternalPartnerStatus" Nullable="false" />
        <Property Name="statusDetails" Type="Edm.String" />
      </EntityType>"#
    } else {
        ""
    };
    let legacy_nav = if legacy {
        r#"
        <NavigationProperty Name="externalPartnerSettings" Type="Collection(graph.cloudPcExternalPartnerSetting)" ContainsTarget="true" />"#
    } else {
        ""
    };
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="cloudPcExternalPartnerStatus">
        <Member Name="notAvailable" Value="0" />
        <Member Name="available" Value="1" />
        <Member Name="healthy" Value="2" />
        <Member Name="unhealthy" Value="3" />
        <Member Name="unknownFutureValue" Value="4" />
      </EnumType>
      <EntityType Name="entity" Abstract="true">
        <Key>
          <PropertyRef Name="id" />
        </Key>
        <Property Name="id" Type="Edm.String" Nullable="false" />
      </EntityType>
      <EntityType Name="cloudPcExternalPartner" BaseType="graph.entity">
        <Property Name="connectionStatus" Type="graph.cloudPcExternalPartnerStatus" Nullable="false" />
        <Property Name="enableConnection" Type="Edm.Boolean" Nullable="false" />
        <Property Name="lastSyncDateTime" Type="Edm.DateTimeOffset" />
        <Property Name="partnerId" Type="Edm.String" Nullable="false" />
        <Property Name="statusDetails" Type="Edm.String" />
      </EntityType>{legacy_type}
      <EntityType Name="virtualEndpoint" BaseType="graph.entity">
        <NavigationProperty Name="externalPartners" Type="Collection(graph.cloudPcExternalPartner)" ContainsTarget="true" />{legacy_nav}
      </EntityType>
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
