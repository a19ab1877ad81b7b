//! The agent members: configureAgent, deployAgent, their results and reports, and the
//! partner's side of a deployment, end to end over HTTP.

use crate::common::*;
use cloudpc_partners::auth::TokenKind;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn setting() -> Value {
    json!({
        "agentUrl": "https://partner.example/dl/agent-setup.msi",
        "agentSha256": SHA,
        "installParameters": ["/quiet", "/norestart"],
        "autoDeploymentEnabled": true
    })
}

async fn post(s: &TestServer, path: &str, tok: &str, body: Value) -> reqwest::Response {
    s.post_json(path, tok, &body).await
}

/// A connection with a configured agent; returns its id and partner id.
async fn configured(s: &TestServer, tok: &str) -> (String, Uuid) {
    let partner = Uuid::new_v4();
    let id = s.create_id(tok, partner, true).await;
    let res = post(
        s,
        &format!("{SET}/{id}/configureAgent"),
        tok,
        json!({"agentSetting": setting()}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    (id, partner)
}

async fn deploy(s: &TestServer, tok: &str, id: &str, pcs: &[Uuid]) -> String {
    let res = post(
        s,
        &format!("{SET}/{id}/deployAgent"),
        tok,
        json!({"cloudPcIds": pcs}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/$metadata#Edm.String"));
    v["value"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn configure_then_read_the_setting_on_the_entity() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let (id, _) = configured(&s, &tok).await;
    let got = s.api(&tok).get(&id).await;
    assert_eq!(got["agentSetting"], setting());
    assert!(
        got["@odata.etag"] != json!("W/\"1\""),
        "configuring changes the entity"
    );
    let sel = s.api(&tok).list("$select=id,agentSetting").await;
    assert_eq!(
        sel["value"][0]["agentSetting"]["agentUrl"],
        setting()["agentUrl"]
    );
    assert!(sel["value"][0].get("partnerId").is_none());
    // The deprecated view predates the agent members.
    let legacy: Value = s
        .get(&format!("{SETTINGS}/{id}"), &tok)
        .await
        .json()
        .await
        .unwrap();
    assert!(legacy.get("agentSetting").is_none());
    // Another tenant cannot touch it.
    let res = post(
        &s,
        &format!("{SET}/{id}/configureAgent"),
        &s.admin(TENANT_B),
        json!({"agentSetting": setting()}),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    // A PATCH may send the setting back as read, but not change it: configureAgent does.
    let mut round_trip = got.clone();
    round_trip["enableConnection"] = json!(true);
    assert_eq!(
        s.patch_json(&format!("{SET}/{id}"), &tok, &round_trip)
            .await
            .status(),
        StatusCode::OK
    );
    let mut changed = got.clone();
    changed["agentSetting"]["agentUrl"] = json!("https://elsewhere.example/x.msi");
    let msg = error_message(
        s.patch_json(&format!("{SET}/{id}"), &tok, &changed).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("'agentSetting'"), "{msg}");
    // Reconfiguring replaces the setting.
    let mut other = setting();
    other["autoDeploymentEnabled"] = json!(false);
    other["installParameters"] = json!([]);
    let res = post(
        &s,
        &format!("{SET}/{id}/configureAgent"),
        &tok,
        json!({"agentSetting": other}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.api(&tok).get(&id).await["agentSetting"]["autoDeploymentEnabled"],
        false
    );
}

#[tokio::test]
async fn configure_checks_every_field_and_the_caller() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let id = s.create_id(&tok, Uuid::new_v4(), true).await;
    let path = format!("{SET}/{id}/configureAgent");
    let with = |field: &str, value: Value| {
        let mut v = setting();
        v[field] = value;
        json!({"agentSetting": v})
    };
    for (body, needle) in [
        (json!({}), "'agentSetting' is required"),
        (json!({"agentSetting": "x"}), "must be an object"),
        (
            json!({"agentSetting": setting(), "extra": 1}),
            "The parameter 'extra' is not a parameter of this action",
        ),
        (
            with("agentUrl", json!("http://partner.example/a.msi")),
            "https URL",
        ),
        (with("agentUrl", json!("not a url")), "not a URL"),
        (with("agentUrl", Value::Null), "agentUrl' is required"),
        (with("agentSha256", json!("abc")), "64 hexadecimal"),
        (with("installParameters", json!("one")), "array of strings"),
        (
            with("installParameters", json!([1])),
            "installParameters[0]",
        ),
        (with("autoDeploymentEnabled", json!("yes")), "true or false"),
        (
            with("colour", json!("red")),
            "'agentSetting.colour' is not understood",
        ),
    ] {
        let msg = error_message(
            post(&s, &path, &tok, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // Delegated only: an application token holding the permission is refused.
    let app = s.mint(
        TENANT_A,
        TokenKind::Application {
            roles: vec!["CloudPC.ReadWrite.All".into()],
        },
    );
    let msg = error_message(
        post(&s, &path, &app, json!({"agentSetting": setting()})).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    )
    .await;
    assert!(msg.contains("delegated"), "{msg}");
    let reader = s.reader(TENANT_A);
    assert_error(
        post(&s, &path, &reader, json!({"agentSetting": setting()})).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    )
    .await;
    assert_error(
        post(
            &s,
            &format!("{SET}/{}/configureAgent", Uuid::new_v4()),
            &tok,
            json!({"agentSetting": setting()}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    let res = s.get(&path, &tok).await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    // Nothing was stored by any refusal.
    assert_eq!(s.api(&tok).get(&id).await["agentSetting"], Value::Null);
}

#[tokio::test]
async fn deploy_needs_an_enabled_connection_with_an_agent() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let id = s.create_id(&tok, Uuid::new_v4(), true).await;
    let path = format!("{SET}/{id}/deployAgent");
    let one = json!({"cloudPcIds": [Uuid::new_v4()]});
    let msg = error_message(
        post(&s, &path, &tok, one.clone()).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("configureAgent first"), "{msg}");
    post(
        &s,
        &format!("{SET}/{id}/configureAgent"),
        &tok,
        json!({"agentSetting": setting()}),
    )
    .await;
    s.api(&tok).set_enabled(&id, false).await;
    let msg = error_message(
        post(&s, &path, &tok, one.clone()).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("disabled"), "{msg}");
    s.api(&tok).set_enabled(&id, true).await;
    let many: Vec<Uuid> = (0..51).map(|_| Uuid::new_v4()).collect();
    for (body, needle) in [
        (json!({}), "required"),
        (json!({"cloudPcIds": []}), "from 1 to 50"),
        (json!({"cloudPcIds": many}), "from 1 to 50"),
        (json!({"cloudPcIds": ["nope"]}), "cloudPcIds[0]"),
        (
            json!({"cloudPcIds": [Uuid::nil(), Uuid::nil()]}),
            "more than once",
        ),
    ] {
        let msg = error_message(
            post(&s, &path, &tok, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let app = s.mint(
        TENANT_A,
        TokenKind::Application {
            roles: vec!["CloudPC.ReadWrite.All".into()],
        },
    );
    assert_error(
        post(&s, &path, &app, one.clone()).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    )
    .await;
    let activity = deploy(&s, &tok, &id, &[Uuid::new_v4()]).await;
    assert!(Uuid::try_parse(&activity).is_ok());
}

#[tokio::test]
async fn results_are_read_in_every_form_clients_send() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let (id, _) = configured(&s, &tok).await;
    let (pc1, pc2) = (Uuid::new_v4(), Uuid::new_v4());
    let a1 = deploy(&s, &tok, &id, &[pc1, pc2]).await;
    let a2 = deploy(&s, &tok, &id, &[pc1]).await;
    let f = format!("{SET}/{id}/retrieveDeployAgentActionResults");
    let read = |path: String| {
        let s = &s;
        let tok = tok.clone();
        async move {
            let res = s.get(&path, &tok).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let all = read(format!("{f}(activityId='',cloudPcId='')")).await;
    assert_eq!(all["value"].as_array().unwrap().len(), 3);
    assert!(all["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("#Collection(microsoft.graph.cloudPcExternalPartnerActionResult)"));
    let first = &all["value"][0];
    assert_eq!(first["state"], "pending");
    assert_eq!(first["errorCode"], "none");
    assert_eq!(first["errorMessage"], Value::Null);
    assert!(first["startDateTime"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "activityId",
            "cloudPcId",
            "state",
            "startDateTime",
            "lastModifiedDateTime",
            "errorCode",
            "errorMessage"
        ]
    );

    let ids = |v: &Value| -> Vec<(String, String)> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["activityId"].as_str().unwrap().to_owned(),
                    r["cloudPcId"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // Microsoft's documented literal form.
    let v = read(format!("{f}(activityId='{a1}',cloudPcId='{pc2}')")).await;
    assert_eq!(ids(&v), [(a1.clone(), pc2.to_string())]);
    // OData parameter aliases.
    let v = read(format!("{f}(activityId=@a,cloudPcId=@c)?@a='{a2}'&@c=''")).await;
    assert_eq!(ids(&v), [(a2.clone(), pc1.to_string())]);
    // The TypeScript SDK's form, and the Python SDK's (no comma).
    let v = read(format!(
        "{f}(activityId='@activityId',cloudPcId='@cloudPcId')?activityId=&cloudPcId={pc1}"
    ))
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    let v = read(format!(
        "{f}(activityId='@activityId'cloudPcId='@cloudPcId')?activityId={a1}&cloudPcId="
    ))
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    // With the namespace, and percent-encoded as clients send it.
    let v = read(
        format!("{f}(activityId=%27{a1}%27,cloudPcId=%27%27)").replacen(
            "retrieveDeploy",
            "microsoft.graph.retrieveDeploy",
            1,
        ),
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 2);

    // Query options: $count, $filter, $select, and paging that keeps the call.
    let v = read(format!("{f}(activityId='',cloudPcId='')?$count=true&$filter=cloudPcId eq '{pc1}'&$select=activityId,state")).await;
    assert_eq!(v["@odata.count"], 2);
    assert!(v["value"][0].get("cloudPcId").is_none());
    let pages = s
        .pages(
            &format!("{f}(activityId=@a,cloudPcId=@c)?@a=''&@c=''&$top=2"),
            &tok,
        )
        .await;
    assert_eq!(
        pages
            .iter()
            .map(|p| p["value"].as_array().unwrap().len())
            .collect::<Vec<_>>(),
        [2, 1]
    );

    // Mistakes are 400s that say what is wrong; an unknown connection is a 404.
    let msg = error_message(
        s.get(&format!("{f}(colour='red')"), &tok).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("'colour'"), "{msg}");
    let msg = error_message(
        s.get(&format!("{f}()?$filter=nope eq 1"), &tok).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert!(msg.contains("nope"), "{msg}");
    assert_error(
        s.get(
            &format!("{SET}/{}/retrieveActionReports()", Uuid::new_v4()),
            &tok,
        )
        .await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    // Readers and app tokens may read.
    let app = s.mint(
        TENANT_A,
        TokenKind::Application {
            roles: vec!["CloudPC.Read.All".into()],
        },
    );
    assert_eq!(
        s.get(&format!("{f}()"), &app).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        s.get(&format!("{f}()"), &s.reader(TENANT_A)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn reports_record_who_did_what_newest_first() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let (id, _) = configured(&s, &tok).await;
    s.advance(chrono::Duration::minutes(1));
    let pc = Uuid::new_v4();
    let activity = deploy(&s, &tok, &id, &[pc]).await;
    for path in [
        format!("{SET}/{id}/retrieveActionReports"),
        format!("{SET}/{id}/retrieveActionReports()"),
    ] {
        let v: Value = s.get(&path, &tok).await.json().await.unwrap();
        let reports = v["value"].as_array().unwrap();
        assert_eq!(reports.len(), 2, "{v}");
        let (deployed, configured) = (&reports[0], &reports[1]);
        assert_eq!(deployed["actionType"], "deployAgent");
        assert_eq!(deployed["activityId"], activity.as_str());
        assert_eq!(deployed["cloudPcId"], pc.to_string());
        assert_eq!(deployed["agentName"], "agent-setup.msi");
        assert_eq!(configured["actionType"], "configureAgent");
        assert_eq!(configured["cloudPcId"], Value::Null);
        for r in reports {
            assert_eq!(r["authenticatedMethod"], "normalUser");
            assert!(r["authenticatedUserPrincipalName"]
                .as_str()
                .unwrap()
                .contains('@'));
            assert!(r["authenticatedAppId"].is_string());
            assert_eq!(r["agentSetting"]["agentSha256"], SHA);
            assert!(r["activityMessage"].as_str().unwrap().len() > 10);
        }
    }
    let v: Value = s.get(&format!("{SET}/{id}/retrieveActionReports?$filter=actionType eq 'configureAgent'&$count=true"), &tok).await.json().await.unwrap();
    assert_eq!(v["@odata.count"], 1);
}

#[tokio::test]
async fn the_partner_reports_progress_forward_only() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let (id, partner) = configured(&s, &tok).await;
    let (pc1, pc2) = (Uuid::new_v4(), Uuid::new_v4());
    let activity = deploy(&s, &tok, &id, &[pc1, pc2]).await;
    let cred = s.partner(TENANT_A, partner);

    let todo: Value = s
        .get("/partner/v1/deployments?state=pending", &cred)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(todo["value"].as_array().unwrap().len(), 2);
    assert_eq!(todo["value"][0]["activityId"], activity.as_str());
    // Pages keep every option the partner gave: the filter, $select and $count.
    let pages = s
        .pages(
            "/partner/v1/deployments?state=pending&$top=1&$select=cloudPcId&$count=true",
            &cred,
        )
        .await;
    assert_eq!(pages.len(), 2);
    for page in &pages {
        assert_eq!(page["@odata.count"], 2, "{page}");
        let row = &page["value"][0];
        assert!(
            row.get("cloudPcId").is_some() && row.get("state").is_none(),
            "{page}"
        );
    }

    let report = |results: Value| {
        let (s, cred, activity) = (&s, cred.clone(), activity.clone());
        async move {
            s.post_json(
                &format!("/partner/v1/deployments/{activity}/results"),
                &cred,
                &json!({"results": results}),
            )
            .await
        }
    };
    assert_eq!(
        report(
            json!([{"cloudPcId": pc1, "state": "running"}, {"cloudPcId": pc2, "state": "running"}])
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    s.advance(chrono::Duration::minutes(3));
    assert_eq!(
        report(json!([{"cloudPcId": pc1, "state": "succeeded"}, {"cloudPcId": pc2, "state": "failed", "errorCode": "checkDiskSpaceFailed", "errorMessage": "C: has 1 GB free"}])).await.status(),
        StatusCode::NO_CONTENT
    );
    // What the admin reads now.
    let v: Value = s.get(&format!("{SET}/{id}/retrieveDeployAgentActionResults(activityId='{activity}',cloudPcId='{pc2}')"), &tok).await.json().await.unwrap();
    let r = &v["value"][0];
    assert_eq!(r["state"], "failed");
    assert_eq!(r["errorCode"], "checkDiskSpaceFailed");
    assert_eq!(r["errorMessage"], "C: has 1 GB free");
    assert_ne!(r["startDateTime"], r["lastModifiedDateTime"]);
    assert_eq!(
        s.get("/partner/v1/deployments?state=pending", &cred)
            .await
            .json::<Value>()
            .await
            .unwrap()["value"],
        json!([])
    );

    // Backwards, or out of a finished state: 409, and nothing of the batch applies.
    let msg = error_message(
        report(json!([{"cloudPcId": pc1, "state": "running"}])).await,
        StatusCode::CONFLICT,
        "Conflict",
    )
    .await;
    assert!(
        msg.contains("'succeeded'") && msg.contains("'running'"),
        "{msg}"
    );
    // Reporting the state it is in again is accepted (a retried request).
    assert_eq!(
        report(json!([{"cloudPcId": pc1, "state": "succeeded"}]))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Unknown Cloud PC or activity: 404; bad bodies: 400.
    assert_error(
        report(json!([{"cloudPcId": Uuid::new_v4(), "state": "running"}])).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    let res = s
        .post_json(
            &format!("/partner/v1/deployments/{}/results", Uuid::new_v4()),
            &cred,
            &json!({"results": [{"cloudPcId": pc1, "state": "running"}]}),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    assert_error(
        report(json!([{"cloudPcId": pc1, "state": "exploded"}])).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;
    assert_error(
        s.get("/partner/v1/deployments?state=exploded", &cred).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    )
    .await;

    // Another partner, or an admin token, sees none of it.
    let stranger = s.partner(TENANT_A, Uuid::new_v4());
    assert_error(
        s.get("/partner/v1/deployments", &stranger).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    assert_error(
        s.get("/partner/v1/deployments", &tok).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    )
    .await;
    let res = s
        .request(Method::DELETE, "/partner/v1/deployments", &cred)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
}

#[tokio::test]
async fn deleting_a_connection_removes_its_deployments() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let (id, partner) = configured(&s, &tok).await;
    deploy(&s, &tok, &id, &[Uuid::new_v4()]).await;
    s.api(&tok).delete(&id).await;
    s.create(&tok, partner, true).await;
    let v: Value = s
        .get("/partner/v1/deployments", &s.partner(TENANT_A, partner))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"], json!([]));
}

#[tokio::test]
async fn metadata_declares_the_agent_members() {
    let s = test_server!();
    let csdl = s.text("/beta/$metadata").await;
    for needle in [
        r#"<Property Name="agentSetting" Type="graph.cloudPcExternalPartnerAgentSetting" />"#,
        r#"<ComplexType Name="cloudPcExternalPartnerAgentSetting">"#,
        r#"<ComplexType Name="cloudPcExternalPartnerActionResult">"#,
        r#"<ComplexType Name="cloudPcExternalPartnerActionReport">"#,
        r#"<EnumType Name="cloudPcExternalPartnerActionStatus">"#,
        r#"<EnumType Name="cloudPcExternalPartnerActionErrorCode">"#,
        r#"<Action Name="configureAgent" IsBound="true">"#,
        r#"<Action Name="deployAgent" IsBound="true">"#,
        r#"<Function Name="retrieveDeployAgentActionResults" IsBound="true">"#,
        r#"<Function Name="retrieveActionReports" IsBound="true">"#,
        r#"<ReturnType Type="Collection(graph.cloudPcExternalPartnerActionResult)" />"#,
    ] {
        assert!(csdl.contains(needle), "missing {needle}");
    }
}

/// `$metadata`'s facets are Microsoft's: enum values as Microsoft numbers them, and
/// `Nullable` as Microsoft declares each property.
#[tokio::test]
async fn metadata_facets_follow_microsofts_schema() {
    let s = test_server!();
    let csdl = s.text("/beta/$metadata").await;
    for needle in [
        r#"<Member Name="unknownFutureValue" Value="999" />"#,
        r#"<Property Name="installParameters" Type="Collection(Edm.String)" Nullable="false" />"#,
        r#"<Property Name="authenticatedAppId" Type="Edm.String" Nullable="false" />"#,
        r#"<Property Name="activityId" Type="Edm.String" />"#,
        r#"<Property Name="cloudPcId" Type="Edm.String" />"#,
        r#"<Property Name="startDateTime" Type="Edm.DateTimeOffset" />"#,
        r#"<Property Name="lastModifiedDateTime" Type="Edm.DateTimeOffset" />"#,
    ] {
        assert!(csdl.contains(needle), "missing {needle}\n{csdl}");
    }
    let status = csdl
        .split(r#"<EnumType Name="cloudPcExternalPartnerStatus">"#)
        .nth(1)
        .and_then(|rest| rest.split("</EnumType>").next())
        .unwrap();
    assert!(
        status.contains(r#"<Member Name="unhealthy" Value="3" />"#),
        "{status}"
    );
    assert!(status.contains(r#"Value="999""#), "{status}");
}

/// A stored string reads back as it was sent: a SHA-256 in upper case stays so.
#[tokio::test]
async fn an_agent_hash_reads_back_as_sent() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let id = s.create_id(&tok, Uuid::new_v4(), true).await;
    let upper = SHA.to_ascii_uppercase();
    let mut agent = setting();
    agent["agentSha256"] = json!(upper);
    let res = post(
        &s,
        &format!("{SET}/{id}/configureAgent"),
        &tok,
        json!({"agentSetting": agent}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let got = s.api(&tok).get(&id).await;
    assert_eq!(got["agentSetting"]["agentSha256"], upper);
}
