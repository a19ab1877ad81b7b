//! OData query options over HTTP: $filter, $select, $top, $skip, $skiptoken, $count, $orderby.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

async fn list(s: &TestServer, tok: &str, query: &str) -> Value {
    let res = s.get(&format!("{SET}?{query}"), tok).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

fn ids(v: &Value) -> Vec<String> {
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates `n` partners, every third one disabled; returns their ids in creation order.
async fn seed(s: &TestServer, tok: &str, n: usize) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for i in 0..n {
        let enabled = i % 3 != 2;
        let v = s.create(tok, Uuid::new_v4(), enabled).await;
        out.push((
            v["id"].as_str().unwrap().to_owned(),
            v["partnerId"].as_str().unwrap().to_owned(),
            enabled,
        ));
        // Distinct creation times keep the default order unambiguous.
        s.advance(chrono::Duration::milliseconds(5));
    }
    out
}

#[tokio::test]
async fn filter_on_each_property() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let rows = seed(&s, &tok, 6).await;
    let enabled: Vec<String> = rows.iter().filter(|r| r.2).map(|r| r.0.clone()).collect();
    let disabled: Vec<String> = rows.iter().filter(|r| !r.2).map(|r| r.0.clone()).collect();

    assert_eq!(
        ids(&list(&s, &tok, "$filter=enableConnection eq true").await),
        enabled
    );
    assert_eq!(
        ids(&list(&s, &tok, "$filter=enableConnection ne true").await),
        disabled
    );
    assert_eq!(
        ids(&list(&s, &tok, "$filter=not enableConnection").await),
        disabled
    );
    assert_eq!(
        ids(&list(&s, &tok, "$filter=connectionStatus eq 'notAvailable'").await),
        disabled
    );
    assert_eq!(
        ids(&list(
            &s,
            &tok,
            "$filter=connectionStatus eq microsoft.graph.cloudPcExternalPartnerStatus'available'"
        )
        .await),
        enabled
    );
    assert_eq!(
        ids(&list(
            &s,
            &tok,
            "$filter=connectionStatus in ('healthy','unhealthy')"
        )
        .await)
        .len(),
        0
    );
    assert_eq!(
        ids(&list(&s, &tok, &format!("$filter=id eq '{}'", rows[1].0)).await),
        [rows[1].0.clone()]
    );
    assert_eq!(
        ids(&list(&s, &tok, &format!("$filter=partnerId eq {}", rows[4].1)).await),
        [rows[4].0.clone()]
    );
    assert_eq!(
        ids(&list(
            &s,
            &tok,
            &format!("$filter=partnerId eq '{}'", rows[4].1.to_uppercase())
        )
        .await),
        [rows[4].0.clone()],
        "GUIDs compare case-insensitively"
    );
    assert_eq!(
        ids(&list(
            &s,
            &tok,
            &format!("$filter=partnerId in ('{}', '{}')", rows[0].1, rows[5].1)
        )
        .await),
        [rows[0].0.clone(), rows[5].0.clone()]
    );
    assert_eq!(
        ids(&list(&s, &tok, "$filter=lastSyncDateTime eq null").await).len(),
        6
    );
    assert_eq!(
        ids(&list(&s, &tok, "$filter=lastSyncDateTime ne null").await).len(),
        0
    );
    assert_eq!(
        ids(&list(&s, &tok, "$filter=lastSyncDateTime gt 2020-01-01T00:00:00Z").await).len(),
        0
    );
    assert_eq!(
        ids(&list(
            &s,
            &tok,
            "$filter=not (lastSyncDateTime gt 2020-01-01T00:00:00Z)"
        )
        .await)
        .len(),
        6
    );
    let q = format!(
        "$filter=(enableConnection eq false or id eq '{}') and not (id eq '{}')",
        rows[0].0, rows[2].0
    );
    assert_eq!(
        ids(&list(&s, &tok, &q).await),
        [rows[0].0.clone(), rows[5].0.clone()]
    );
    // Option names without '$', percent-encoded, any case.
    assert_eq!(
        ids(&list(&s, &tok, "filter=enableConnection%20eq%20false").await),
        disabled
    );
    assert_eq!(
        ids(&list(&s, &tok, "%24FILTER=enableConnection eq false").await),
        disabled
    );
}

#[tokio::test]
async fn select_limits_properties_and_context() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let created = s.create(&tok, Uuid::new_v4(), true).await;
    let v = list(&s, &tok, "$select=partnerId,id").await;
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/externalPartners(id,partnerId)"));
    let item = v["value"][0].as_object().unwrap();
    let keys: Vec<&str> = item.keys().map(String::as_str).collect();
    assert_eq!(keys, ["@odata.type", "@odata.etag", "id", "partnerId"]);

    let id = created["id"].as_str().unwrap();
    let res = s
        .get(
            &format!("{SET}/{id}?$select=connectionStatus,statusDetails"),
            &tok,
        )
        .await;
    let one: Value = res.json().await.unwrap();
    assert!(one["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/externalPartners(connectionStatus,statusDetails)/$entity"));
    assert_eq!(one["connectionStatus"], "available");
    assert!(one.get("id").is_none());

    let res = s
        .get(&format!("{SETTINGS}/{id}?$select=status"), &tok)
        .await;
    let one: Value = res.json().await.unwrap();
    assert_eq!(one["status"], "available");
}

#[tokio::test]
async fn top_skip_and_count() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let rows = seed(&s, &tok, 7).await;
    let all: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    // $top is the page size: the first page holds 3, and a nextLink (keeping $top)
    // leads on to the rest.
    let v = list(&s, &tok, "$top=3").await;
    assert_eq!(ids(&v), all[..3]);
    let next = v["@odata.nextLink"].as_str().expect("more pages follow");
    assert!(next.contains("$top=3"), "{next}");
    let pages = s.pages(&format!("{SET}?$top=3"), &tok).await;
    assert_eq!(
        pages.iter().map(|p| ids(p).len()).collect::<Vec<_>>(),
        [3, 3, 1]
    );
    assert_eq!(pages.iter().flat_map(ids).collect::<Vec<_>>(), all);
    assert_eq!(ids(&list(&s, &tok, "$skip=5").await), all[5..]);
    assert_eq!(ids(&list(&s, &tok, "$skip=2&$top=2").await), all[2..4]);
    // $skip is a one-off offset: the pages after it continue from there.
    let seen: Vec<String> = s
        .pages(&format!("{SET}?$skip=2&$top=2"), &tok)
        .await
        .iter()
        .flat_map(ids)
        .collect();
    assert_eq!(seen, all[2..]);
    let none = list(&s, &tok, "$top=0").await;
    assert_eq!(ids(&none).len(), 0);
    assert!(none.get("@odata.nextLink").is_none());
    let v = list(
        &s,
        &tok,
        "$top=2&$count=true&$filter=enableConnection eq true",
    )
    .await;
    assert_eq!(v["@odata.count"], 5);
    assert_eq!(ids(&v).len(), 2);
    let v = list(&s, &tok, "$count=false").await;
    assert!(v.get("@odata.count").is_none());
}

#[tokio::test]
async fn paging_follows_next_links_to_the_end() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let rows = seed(&s, &tok, 230).await;
    let expected: Vec<String> = rows.iter().filter(|r| r.2).map(|r| r.0.clone()).collect();
    assert_eq!(expected.len(), 154);

    let pages = s
        .pages(
            &format!("{SET}?$filter=enableConnection eq true&$count=true&$select=id"),
            &tok,
        )
        .await;
    assert_eq!(pages.len(), 2);
    let mut seen = Vec::new();
    for v in &pages {
        assert_eq!(v["@odata.count"], 154);
        assert!(ids(v).len() <= 100);
        seen.extend(ids(v));
        if let Some(next) = v["@odata.nextLink"].as_str() {
            assert!(next.starts_with(&s.origin));
            assert!(next.contains("$skiptoken="));
            assert!(next.contains("$filter=enableConnection+eq+true"));
        }
    }
    assert_eq!(seen, expected);

    // $top is the page size, up to 999: pages of 150 until the rows run out.
    let pages = s.pages(&format!("{SET}?$top=150"), &tok).await;
    assert_eq!(
        pages.iter().map(|p| ids(p).len()).collect::<Vec<_>>(),
        [150, 80]
    );
    let seen: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(seen, rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>());
    let one = list(&s, &tok, "$top=999").await;
    assert_eq!(ids(&one).len(), 230);
    assert!(one.get("@odata.nextLink").is_none());

    // Prefer: odata.maxpagesize sets the page size too, and says it applied.
    let res = s
        .request(reqwest::Method::GET, SET, &tok)
        .header("Prefer", "odata.maxpagesize=40")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["preference-applied"], "odata.maxpagesize=40");
    let v: Value = res.json().await.unwrap();
    assert_eq!(ids(&v).len(), 40);
    // Its nextLink pages on with the same size, header or not.
    let next = v["@odata.nextLink"].as_str().unwrap().to_owned();
    let v = s.api(&tok).follow(&next).await;
    assert_eq!(
        ids(&v),
        rows.iter()
            .skip(40)
            .take(40)
            .map(|r| r.0.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn tampered_or_foreign_skiptoken_is_rejected() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    seed(&s, &tok, 101).await;
    let v = list(
        &s,
        &tok,
        "$filter=enableConnection eq true or enableConnection eq false",
    )
    .await;
    let next = v["@odata.nextLink"].as_str().unwrap();
    let token = next.split("$skiptoken=").nth(1).unwrap();

    let mut forged = token.to_owned().into_bytes();
    forged[2] = if forged[2] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let res = s.get(&format!("{SET}?$filter=enableConnection eq true or enableConnection eq false&$skiptoken={forged}"), &tok).await;
    let msg = error_message(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    assert!(msg.contains("$skiptoken"), "{msg}");

    // A genuine token replayed against another query.
    let res = s.get(&format!("{SET}?$skiptoken={token}"), &tok).await;
    let msg = error_message(res, StatusCode::BAD_REQUEST, "BadRequest").await;
    assert!(msg.contains("different $filter"), "{msg}");
}

#[tokio::test]
async fn orderby_sorts_with_id_tiebreak() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let rows = seed(&s, &tok, 9).await;
    let mut by_partner: Vec<(String, String)> =
        rows.iter().map(|r| (r.1.clone(), r.0.clone())).collect();
    by_partner.sort();
    let v = list(&s, &tok, "$orderby=partnerId").await;
    assert_eq!(
        ids(&v),
        by_partner.iter().map(|p| p.1.clone()).collect::<Vec<_>>()
    );
    let v = list(&s, &tok, "$orderby=partnerId desc").await;
    assert_eq!(
        ids(&v),
        by_partner
            .iter()
            .rev()
            .map(|p| p.1.clone())
            .collect::<Vec<_>>()
    );

    // Enum order: notAvailable before available; ties keep creation order.
    let v = list(&s, &tok, "$orderby=connectionStatus,id desc").await;
    let statuses: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["connectionStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "notAvailable").count(), 3);
    assert!(statuses[..3].iter().all(|s| *s == "notAvailable"));
    let v = list(&s, &tok, "$orderby=enableConnection desc,lastSyncDateTime").await;
    assert_eq!(v["value"][0]["enableConnection"], true);
    assert_eq!(v["value"][8]["enableConnection"], false);
}

#[tokio::test]
async fn bad_query_options_are_400_with_a_pointed_message() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let id = s.create_id(&tok, Uuid::new_v4(), true).await;
    let cases: Vec<(String, &str)> = vec![
        (format!("{SET}?$filter=nope eq 1"), "Could not find a property named 'nope'"),
        (format!("{SET}?$filter=enableConnection eq"), "position"),
        (format!("{SET}?$filter=enableConnection eq 'x'"), "incompatible types"),
        (format!("{SET}?$filter=connectionStatus eq 'sleepy'"), "not a member"),
        (format!("{SET}?$filter=startswith(partnerId,'a')"), "not supported"),
        (format!("{SET}?$filter=statusDetails eq 'x'"), "does not support filtering"),
        (format!("{SET}?$filter="), "empty"),
        (format!("{SET}?$select=colour"), "Parsing OData Select and Expand failed: Could not find a property named 'colour' on type 'microsoft.graph.cloudPcExternalPartner'."),
        (format!("{SET}?$select=connectionStatus&x=1&$select=id"), "more than once"),
        (format!("{SET}?$top=-1"), "$top"),
        (format!("{SET}?$top=1000"), "0 to 999"),
        (format!("{SET}?$top=abc"), "$top"),
        (format!("{SET}?$skip=1.5"), "$skip"),
        (format!("{SET}?$skip=10001"), "follow @odata.nextLink"),
        (format!("{SET}?$skip=99999999999999999999999"), "$skip"),
        (format!("{SET}?$count=maybe"), "$count"),
        (format!("{SET}?$orderby=partnerId up"), "not a direction"),
        (format!("{SET}?$orderby=ghost"), "Could not find a property named 'ghost'"),
        (format!("{SET}?$expand=*"), "'$expand' is not supported"),
        (format!("{SET}?$search=abc"), "'$search' is not supported"),
        (format!("{SET}?$frobnicate=1"), "'$frobnicate' is not supported"),
        (format!("{SET}?$skiptoken=garbage"), "$skiptoken is not valid"),
        (format!("{SET}/{id}?$top=1"), "only $select"),
        (format!("{SET}/{id}?$filter=enableConnection"), "only $select"),
        (format!("{SET}/{id}?$select=nope"), "Could not find a property named 'nope'"),
        (format!("{SET}/$count?$top=1"), "only $filter"),
        (format!("{SET}/$count?$filter=(("), "position"),
        (format!("{SETTINGS}?$filter=connectionStatus eq 'healthy'"), "cloudPcExternalPartnerSetting"),
    ];
    for (path, needle) in cases {
        let msg = error_message(
            s.get(&path, &tok).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
        assert!(msg.contains(needle), "{path}: {msg}");
    }
}

/// Next links page by keys: deleting the rows already seen does not make the next
/// page skip rows (an offset would now point past them), and a row created meanwhile
/// that sorts before the position does not repeat one.
#[tokio::test]
async fn next_links_hold_their_place_as_rows_come_and_go() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    let api = s.api(&tok);
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(s.create_id(&tok, Uuid::new_v4(), true).await);
        s.advance(chrono::Duration::seconds(1));
    }
    let first = list(&s, &tok, "$top=3").await;
    let seen: Vec<&str> = first["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        ids[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    for id in &ids[..3] {
        api.delete(id).await;
    }
    let next = api.follow(first["@odata.nextLink"].as_str().unwrap()).await;
    let rest: Vec<&str> = next["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rest,
        ids[3..].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // Sorted by partnerId descending: a new partner that sorts before the cursor
    // does not push a seen row onto the next page.
    let first = list(&s, &tok, "$orderby=partnerId%20desc&$top=2").await;
    let seen: Vec<String> = first["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    s.create_id(&tok, Uuid::from_u128(u128::MAX), true).await;
    let next = api.follow(first["@odata.nextLink"].as_str().unwrap()).await;
    let later: Vec<String> = next["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(later.len(), 1, "{next}");
    assert!(!seen.contains(&later[0]));
}

/// Walks ordered by `connectionStatus` (computed from the clock), with rows created
/// and deleted between pages and the clock moving on (healthy connections turn
/// unhealthy): every connection that existed throughout is visited exactly once, in
/// the walk's one order, for page sizes and both directions.
#[tokio::test]
async fn status_ordered_walks_visit_each_connection_once_under_writes() {
    let s = test_server!();
    let tok = s.admin(TENANT_A);
    // 40 connections: disabled, never heard from, healthy.
    let mut stable = Vec::new();
    for i in 0..40 {
        let partner_id = Uuid::new_v4();
        let id = s.create_id(&tok, partner_id, i % 4 != 0).await;
        if i % 4 == 1 || i % 4 == 2 {
            s.heartbeat(&s.partner(TENANT_A, partner_id)).await;
        }
        stable.push(id);
        s.advance(chrono::Duration::milliseconds(5));
    }
    let mut walks = 0;
    for (top, dir) in [(1, "asc"), (3, "desc"), (7, "asc"), (16, "desc")] {
        let tok = s.admin(TENANT_A);
        let mut seen: Vec<String> = Vec::new();
        let mut churn: Vec<String> = Vec::new();
        let mut pages = 0;
        let mut page = list(
            &s,
            &tok,
            &format!("$orderby=connectionStatus {dir}&$top={top}"),
        )
        .await;
        loop {
            seen.extend(ids(&page));
            // The clock moves on by hours over a walk: a token minted now.
            let tok = s.admin(TENANT_A);
            // Writes between pages: on every third, one created (it may land ahead
            // of the walk), an earlier one of those deleted; and the clock on by 4
            // minutes (heartbeats time out after 5).
            pages += 1;
            if pages % 3 == 0 {
                churn.push(s.create_id(&tok, Uuid::new_v4(), true).await);
            }
            if churn.len() > 1 {
                let gone = churn.remove(0);
                let res = s
                    .request(reqwest::Method::DELETE, &format!("{SET}/{gone}"), &tok)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::NO_CONTENT);
            }
            s.advance(chrono::Duration::minutes(4));
            let Some(next) = page["@odata.nextLink"].as_str() else {
                break;
            };
            assert!(pages < 200, "walk {walks} does not end");
            page = s.api(&tok).follow(next).await;
        }
        walks += 1;
        for id in &stable {
            let times = seen.iter().filter(|s| *s == id).count();
            assert_eq!(
                times, 1,
                "walk {walks} ($top={top} {dir}): {id} seen {times} times"
            );
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "walk {walks}: a row seen twice");
        // Clean up for the next walk: what this one created.
        let tok = s.admin(TENANT_A);
        for id in churn {
            s.request(reqwest::Method::DELETE, &format!("{SET}/{id}"), &tok)
                .send()
                .await
                .unwrap();
        }
    }
}
