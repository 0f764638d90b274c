//! The `openidc` backend against a real OpenID provider: panva's certified `oidc-provider`
//! (npm, run by node from `server/tests/oidc/provider.mjs`), issuing JWT and opaque access
//! tokens through the client credentials grant, with and without scopes, short-lived ones,
//! tampered ones and revoked ones.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::test::TestRequest;
use odcs_common::config::{AuthBackend, ClientRule, Config};
use serde_json::json;

use crate::on_both_stores;
use crate::support::test_config;

const AUDIENCE: &str = "https://odcs.example.com";
const NEW_COMPOSE: &str = "https://pagure.io/odcs/new-compose";
const DELETE_COMPOSE: &str = "https://pagure.io/odcs/delete-compose";

/// The provider's issuer URL; one provider for the whole test binary, stopped when it exits
/// (its guard shell waits on a pipe only this process holds).
fn provider() -> &'static str {
    static ISSUER: OnceLock<String> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let modules = std::env::var_os("ODCS_OIDC_NODE_MODULES").map_or_else(
            || {
                PathBuf::from(std::env::var("HOME").unwrap_or_default())
                    .join(".cache/odcs-oidc/node_modules")
            },
            PathBuf::from,
        );
        assert!(
            modules.join("oidc-provider").is_dir(),
            "{} has no oidc-provider: run .ci/test once, or npm install oidc-provider@9 there",
            modules.display()
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc/provider.mjs");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let guard = format!(
            "node {} {port} {} >/dev/null 2>&1 & pid=$!; read _; kill $pid",
            script.display(),
            modules.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &guard])
            .stdin(Stdio::piped())
            .spawn()
            .expect("node runs");
        std::mem::forget(child.stdin.take());
        std::mem::forget(child);
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// A JWT access token for `client` with `scope`.
async fn token(client: &str, scope: &str) -> String {
    token_for(client, scope, AUDIENCE).await
}

/// An opaque access token for `client` with `scope` (same audience).
async fn opaque_token(client: &str, scope: &str) -> String {
    token_for(client, scope, &format!("{AUDIENCE}/opaque")).await
}

async fn token_for(client: &str, scope: &str, resource: &str) -> String {
    let body = openidconnect::reqwest::Client::new()
        .post(format!("{}/token", provider()))
        .basic_auth(client, Some("secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", resource),
        ])
        .send()
        .await
        .expect("token endpoint")
        .bytes()
        .await
        .expect("token body");
    let reply: serde_json::Value = serde_json::from_slice(&body).expect("token json");
    reply["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {reply}"))
        .to_owned()
}

fn oidc_config() -> Config {
    let mut config = test_config();
    config.auth.backend = AuthBackend::Openidc;
    config.auth.openidc_issuer = provider().to_owned();
    config.auth.openidc_audience = AUDIENCE.into();
    config.auth.openidc_leeway_seconds = 0;
    config.policy.allowed_clients.groups.insert(
        "releng".into(),
        ClientRule {
            source_types: Some(vec!["tag".into()]),
            ..ClientRule::default()
        },
    );
    config.policy.admins.users.push("odcs-client".into());
    config
}

fn create(token: Option<&str>) -> TestRequest {
    let req = TestRequest::post()
        .uri("/api/1/composes/")
        .set_payload(json!({"source": {"type": "tag", "source": "f40"}}).to_string());
    match token {
        Some(token) => req.insert_header(("Authorization", format!("Bearer {token}"))),
        None => req,
    }
}

on_both_stores!(
    tokens_with_their_scopes_act_for_their_user,
    oidc_config(),
    |app| {
        let about = app.get("/api/1/about/").await;
        assert_eq!(about.body["auth_backend"], "openidc");

        let good = token(
            "odcs-client",
            &format!("openid {NEW_COMPOSE} {DELETE_COMPOSE}"),
        )
        .await;
        let reply = app.send(create(Some(&good))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["owner"], "odcs-client");
        let id = reply.body["id"].as_i64().expect("id");

        // Reads need no token; writes without one are asked for it.
        assert_eq!(app.get(&format!("/api/1/composes/{id}")).await.status, 200);
        let reply = app.send(create(None)).await;
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply
                .headers
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap_or_default()),
            Some("Bearer realm=\"ODCS\"")
        );

        // A token without the action's scope is refused as the reference refuses it.
        let no_scope = token("odcs-client", "openid").await;
        let reply = app.send(create(Some(&no_scope))).await;
        assert_eq!(reply.status, 403);
        assert_eq!(
            reply.body["message"],
            "Request does not have required scope new-compose"
        );

        // The delete scope lets the admin cancel; the compose is waiting.
        let reply = app
            .send(
                TestRequest::delete()
                    .uri(&format!("/api/1/composes/{id}"))
                    .insert_header(("Authorization", format!("Bearer {no_scope}"))),
            )
            .await;
        assert_eq!(reply.status, 403, "{}", reply.text);
        let reply = app
            .send(
                TestRequest::delete()
                    .uri(&format!("/api/1/composes/{id}"))
                    .insert_header(("Authorization", format!("Bearer {good}"))),
            )
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
);

on_both_stores!(
    bad_and_expired_tokens_get_401_saying_why,
    oidc_config(),
    |app| {
        let good = token("odcs-client", NEW_COMPOSE).await;
        let mut tampered = good.clone();
        let last = tampered.pop().expect("char");
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let (header, _) = good.split_once('.').expect("jwt");
        let forged_claims = base64_url(
        &json!({"iss": provider(), "aud": AUDIENCE, "sub": "odcs-client", "exp": 4_000_000_000_i64,
                "scope": NEW_COMPOSE})
        .to_string(),
    );
        let signature = good.rsplit_once('.').expect("jwt").1;
        let forged = format!("{header}.{forged_claims}.{signature}");
        for bad in ["garbage", tampered.as_str(), forged.as_str()] {
            let reply = app.send(create(Some(bad))).await;
            assert_eq!(reply.status, 401, "{bad}: {}", reply.text);
            let challenge = reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        }

        let short = token("odcs-short", NEW_COMPOSE).await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let reply = app.send(create(Some(&short))).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body["message"], "OIDC token has expired");
    }
);

on_both_stores!(
    groups_come_from_the_token_and_required_scopes_apply,
    {
        let mut config = oidc_config();
        config.policy.admins.users.clear();
        config.auth.openidc_required_scopes = vec!["openid".into()];
        config
    },
    |app| {
        // odcs-client is in releng (the token's groups claim), whose rule allows tag composes.
        let member = token("odcs-client", &format!("openid {NEW_COMPOSE}")).await;
        assert_eq!(app.send(create(Some(&member))).await.status, 200);
        // odcs-stranger is in no group and has no rule. (Not odcs-short: its one-second
        // token can expire before a slow request is checked, and that is a 401.)
        let stranger = token("odcs-stranger", &format!("openid {NEW_COMPOSE}")).await;
        let reply = app.send(create(Some(&stranger))).await;
        assert_eq!(reply.status, 403);
        assert_eq!(
            reply.body["message"],
            "User odcs-stranger is not in role allowed_clients."
        );
        let without_openid = token("odcs-client", NEW_COMPOSE).await;
        let reply = app.send(create(Some(&without_openid))).await;
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.body["message"],
            "Required OIDC scope openid not present."
        );
    }
);

/// Revokes `token` at the provider, as its client would (RFC 7009).
async fn revoke(client: &str, token: &str) {
    let status = openidconnect::reqwest::Client::new()
        .post(format!("{}/token/revocation", provider()))
        .basic_auth(client, Some("secret"))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .expect("revocation endpoint")
        .status();
    assert!(status.is_success(), "revocation: {status}");
}

on_both_stores!(
    opaque_tokens_are_introspected_and_revoked_ones_refused,
    {
        let mut config = oidc_config();
        config.auth.openidc_client_id = "odcs-server".into();
        config.auth.openidc_client_secret = "secret".into();
        config.auth.openidc_introspection_cache_seconds = 0;
        config.policy.admins.users.clear();
        config
    },
    |app| {
        // The introspection answer carries the user, the scopes and the groups claim
        // (odcs-client is in releng, whose rule allows tag composes).
        let opaque = opaque_token("odcs-client", NEW_COMPOSE).await;
        assert_eq!(opaque.split('.').count(), 1, "not opaque: {opaque}");
        let reply = app.send(create(Some(&opaque))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["owner"], "odcs-client");

        let no_scope = opaque_token("odcs-client", "openid").await;
        assert_eq!(app.send(create(Some(&no_scope))).await.status, 403);

        // Once revoked, the provider says the token is inactive and the server believes it.
        revoke("odcs-client", &opaque).await;
        let reply = app.send(create(Some(&opaque))).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert_eq!(
            reply.body["message"],
            "Invalid OIDC token: the provider says it is not active (revoked or expired)"
        );
        let reply = app.send(create(Some("made-up-opaque-token"))).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
);

on_both_stores!(
    opaque_tokens_need_the_servers_client_credentials,
    oidc_config(),
    |app| {
        let opaque = opaque_token("odcs-client", NEW_COMPOSE).await;
        let reply = app.send(create(Some(&opaque))).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("auth_openidc_client_id"),
            "{}",
            reply.text
        );
    }
);

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
