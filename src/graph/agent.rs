//! The agent members of `cloudPcExternalPartner`: the bound actions `configureAgent`
//! and `deployAgent`, and the bound functions `retrieveDeployAgentActionResults` and
//! `retrieveActionReports`.

use super::options::{NoOptions, View};
use crate::connections::agent::Actor;
use crate::connections::agent::{ResultScope, Rows};
use crate::edm::json::RowsPage;
use crate::edm::EntityView;
use crate::http::body::JsonObject;
use crate::http::error::InView;
use crate::http::extract::{
    DelegatedReadWrite, GraphCaller, Key, Read, ServiceOrigin, ServiceRoot,
};
use crate::http::respond::{Collection, GraphJson};
use crate::http::ApiError;
use crate::json::Fields;
use crate::model::agent::{parse_cloud_pc_ids, AgentSetting};
use crate::model::schema::AGENT_SETTING_PROPERTY;
use crate::model::schema::{ACTION_REPORTS, ACTION_RESULTS};
use crate::odata::{query, CollectionQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use serde_json::json;

fn actor(caller: &crate::auth::Caller) -> Actor {
    Actor {
        app_id: caller.app_id.clone(),
        app_name: caller.identity.app_name.clone(),
        user_principal_name: caller.identity.user_principal_name.clone(),
        delegated: matches!(caller.kind, crate::auth::CallerKind::Delegated { .. }),
        guest: caller.identity.guest,
    }
}

/// The end of an action's body: any property but its parameters is refused.
fn parameters_only(params: Fields) -> Result<(), ApiError> {
    params
        .finish_with(|name, known| {
            format!(
                "The parameter {name} is not a parameter of this action; it takes {}.",
                known.join(", ")
            )
        })
        .map_err(ApiError::BadRequest)
}

/// A parameter's message, as Graph words it.
fn bad_parameter(why: String) -> ApiError {
    ApiError::BadRequest(format!("The parameter {why}"))
}

/// `POST …/externalPartners/{id}/configureAgent`
pub async fn configure_agent(
    caller: GraphCaller<DelegatedReadWrite>,
    View(entity): View,
    _: NoOptions,
    Key(id): Key,
    State(app): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    let mut params = Fields::new(&body);
    let given = params.value(AGENT_SETTING_PROPERTY).ok_or_else(|| {
        bad_parameter(params.missing(
            AGENT_SETTING_PROPERTY,
            "{\"agentSetting\": {\"agentUrl\": \"https://…\", \"agentSha256\": \"<64 hex digits>\", \"installParameters\": [], \"autoDeploymentEnabled\": false}}",
        ))
    })?;
    let setting = AgentSetting::parse(given).map_err(bad_parameter)?;
    parameters_only(params)?;
    app.connections
        .configure_agent(caller.tenant(), id, &setting, &actor(&caller))
        .await
        .in_view(entity)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/externalPartners/{id}/deployAgent`: `{"value": "<activity id>"}`.
pub async fn deploy_agent(
    caller: GraphCaller<DelegatedReadWrite>,
    View(entity): View,
    _: NoOptions,
    Key(id): Key,
    ServiceRoot(root): ServiceRoot,
    State(app): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<GraphJson, ApiError> {
    let mut params = Fields::new(&body);
    let cloud_pcs = parse_cloud_pc_ids(&mut params).map_err(bad_parameter)?;
    parameters_only(params)?;
    let activity = app
        .connections
        .deploy_agent(caller.tenant(), id, &cloud_pcs, &actor(&caller))
        .await
        .in_view(entity)?;
    Ok(GraphJson(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{root}/$metadata#Edm.String"),
            "value": activity.to_string(),
        }),
    ))
}

/// `GET …/externalPartners/{id}/{function}`: the two bound functions.
pub async fn call_function(
    caller: GraphCaller<Read>,
    View(entity): View,
    Path((id, call)): Path<(String, String)>,
    origin: ServiceOrigin,
    uri: Uri,
    State(app): State<AppState>,
) -> Result<Collection, ApiError> {
    let function = FunctionCall::parse(&call, uri.query())?;
    let id = uuid::Uuid::try_parse(&id).map_err(|_| ApiError::NotFound(entity.no_such(&id)))?;
    let (view, q, rows) = match function {
        FunctionCall::ActionResults(scope) => {
            let q = query::parse_collection(uri.query(), &ACTION_RESULTS, None)?;
            let rows = app
                .connections
                .action_results(caller.tenant(), id, &scope, &q)
                .await
                .in_view(entity)?;
            (&ACTION_RESULTS, q, rows)
        }
        FunctionCall::ActionReports => {
            let q = query::parse_collection(uri.query(), &ACTION_REPORTS, None)?;
            let rows = app
                .connections
                .action_reports(caller.tenant(), id, &q)
                .await
                .in_view(entity)?;
            (&ACTION_REPORTS, q, rows)
        }
    };
    Ok(function_collection(view, &origin, &uri, &q, &rows))
}

/// A bound function and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FunctionCall {
    ActionResults(ResultScope),
    ActionReports,
}

impl FunctionCall {
    /// Reads the function segment in every form clients send: Microsoft's documented
    /// literal `f(activityId='…',cloudPcId='…')`, OData parameter aliases
    /// `f(activityId=@a,cloudPcId=@c)?@a='…'`, the TypeScript SDK's
    /// `f(activityId='@activityId',cloudPcId='@cloudPcId')?activityId=…` and the
    /// Python SDK's same form without the comma; with or without the
    /// `microsoft.graph.` prefix and, for a function without parameters, `()`.
    fn parse(segment: &str, query: Option<&str>) -> Result<Self, ApiError> {
        let unknown =
            || ApiError::BadRequest(format!("Resource not found for the segment '{segment}'."));
        let bare = segment.strip_prefix("microsoft.graph.").unwrap_or(segment);
        let (name, args) = match bare.split_once('(') {
            Some((name, rest)) => (
                name,
                rest.strip_suffix(')').ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "The function call '{segment}' has no closing parenthesis."
                    ))
                })?,
            ),
            None => (bare, ""),
        };
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let lookup = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        match name {
            "retrieveActionReports" if args.trim().is_empty() => Ok(FunctionCall::ActionReports),
            "retrieveActionReports" => Err(ApiError::BadRequest(
                "retrieveActionReports takes no parameters.".into(),
            )),
            "retrieveDeployAgentActionResults" => {
                let mut scope = ResultScope::default();
                for (param, raw) in arguments(args)? {
                    // `@name` (quoted or not) refers to a query parameter: an OData
                    // alias `@name`, or, as Microsoft's SDKs send it, `name`.
                    let value = match raw.strip_prefix('@') {
                        Some(alias) => lookup(&format!("@{alias}"))
                            .map(|v| unquote(&v))
                            .or_else(|| lookup(alias))
                            .unwrap_or_default(),
                        None => raw,
                    };
                    let value = (!value.is_empty()).then_some(value);
                    match param.as_str() {
                        "activityId" => scope.activity_id = value,
                        "cloudPcId" => scope.cloud_pc_id = value,
                        other => {
                            return Err(ApiError::BadRequest(format!(
                                "retrieveDeployAgentActionResults has no parameter '{other}'; it takes activityId and cloudPcId."
                            )))
                        }
                    }
                }
                Ok(FunctionCall::ActionResults(scope))
            }
            _ => Err(unknown()),
        }
    }
}

/// `name=value` pairs of a function call, separated by commas (or, as one SDK sends
/// them, by nothing); values are `'quoted'` (with `''` for a quote) or `@alias`.
fn arguments(args: &str) -> Result<Vec<(String, String)>, ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("The function parameters '{args}' {why}."));
    let mut out = Vec::new();
    let mut rest = args.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| bad("must be written name='value'"))?;
        let name = name.trim().to_owned();
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if quoted[i + 1..].starts_with('\'') {
                        value.push('\'');
                        chars.next();
                        continue;
                    }
                    end = Some(i + 1);
                    break;
                }
                value.push(c);
            }
            let end = end.ok_or_else(|| bad("have a string that is not closed"))?;
            (value, &quoted[end..])
        } else {
            let end = after.find([',', ' ']).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        out.push((name, value));
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    v.strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .map_or_else(|| v.to_owned(), |v| v.replace("''", "'"))
}

/// A page of a function's collection, with `@odata.nextLink` that repeats the call:
/// its parameter aliases (`@a=…`) and options, with the position folded into
/// `$skiptoken`.
fn function_collection(
    view: &EntityView,
    origin: &ServiceOrigin,
    uri: &Uri,
    q: &CollectionQuery,
    rows: &Rows,
) -> Collection {
    let aliases: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k.starts_with('@'))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let keep: Vec<(&str, &str)> = aliases
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let page = RowsPage {
        view,
        rows: &rows.items,
        select: q.select.as_deref(),
        context: Some(format!(
            "{}/$metadata#Collection({})",
            origin.graph_root(),
            view.qualified_type()
        )),
        count: rows.count,
        next_link: q
            .next_token(None)
            .filter(|_| rows.more)
            .map(|token| q.next_link(&format!("{}{}", origin.0, uri.path()), &keep, &token)),
    };
    Collection {
        body: crate::http::respond::SerializedJson::of(
            axum::http::StatusCode::OK,
            &page.into_json(),
        ),
        max_page_size_applied: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(segment: &str, query: Option<&str>) -> ResultScope {
        match FunctionCall::parse(segment, query).unwrap() {
            FunctionCall::ActionResults(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn some(a: &str, c: &str) -> ResultScope {
        ResultScope {
            activity_id: (!a.is_empty()).then(|| a.to_owned()),
            cloud_pc_id: (!c.is_empty()).then(|| c.to_owned()),
        }
    }

    #[test]
    fn every_form_of_the_results_function_is_read() {
        let f = "retrieveDeployAgentActionResults";
        assert_eq!(
            scope(&format!("{f}(activityId='a1',cloudPcId='c1')"), None),
            some("a1", "c1")
        );
        assert_eq!(
            scope(
                &format!("microsoft.graph.{f}(activityId='a1',cloudPcId='')"),
                None
            ),
            some("a1", "")
        );
        assert_eq!(
            scope(
                &format!("{f}(activityId=@a,cloudPcId=@c)"),
                Some("@a='a2'&@c='c2'")
            ),
            some("a2", "c2")
        );
        assert_eq!(
            scope(
                &format!("{f}(activityId='@activityId',cloudPcId='@cloudPcId')"),
                Some("activityId=a3&cloudPcId=c3")
            ),
            some("a3", "c3")
        );
        assert_eq!(
            scope(
                &format!("{f}(activityId='@activityId'cloudPcId='@cloudPcId')"),
                Some("activityId=a4&cloudPcId=")
            ),
            some("a4", "")
        );
        assert_eq!(
            scope(&format!("{f}(activityId='it''s',cloudPcId='')"), None),
            some("it's", "")
        );
        assert_eq!(scope(&format!("{f}()"), None), some("", ""));
    }

    #[test]
    fn reports_function_and_mistakes() {
        for s in [
            "retrieveActionReports",
            "retrieveActionReports()",
            "microsoft.graph.retrieveActionReports()",
        ] {
            assert_eq!(
                FunctionCall::parse(s, None).unwrap(),
                FunctionCall::ActionReports
            );
        }
        let err = |s: &str| FunctionCall::parse(s, None).unwrap_err().to_string();
        assert!(err("retrieveActionReports(x='1')").contains("no parameters"));
        assert!(err("retrieveDeployAgentActionResults(colour='red')").contains("'colour'"));
        assert!(
            err("retrieveDeployAgentActionResults(activityId='a").contains("closing parenthesis")
        );
        assert!(err("retrieveDeployAgentActionResults(activityId='a)").contains("not closed"));
        assert!(err("somethingElse()").contains("Resource not found for the segment"));
    }
}
