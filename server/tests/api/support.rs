//! Test harness: a fresh database per test (PostgreSQL or SQLite) and the app in-process.

use std::net::SocketAddr;
use std::path::PathBuf;

use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use actix_web::test::{self, TestRequest};
use actix_web::App;
use diesel::connection::SimpleConnection;
use odcs_common::compose::ComposeId;
use odcs_common::config::Config;
use odcs_common::db::{pool, DbConnection};
use serde_json::Value;

pub use odcs_common::db::testing::{Store, TestDb};

/// A configuration for tests: everything default but paths that name nothing real.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.storage.target_dir = PathBuf::from("/srv/odcs");
    config.storage.target_dir_url = "http://odcs.example.com/composes".into();
    config
}

/// The app under test, over its own database.
pub struct TestApp {
    pub state: odcs_server::state::AppState,
    pub db: TestDb,
}

/// A response, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    pub fn new(store: Store, config: Config) -> TestApp {
        let db = TestDb::new(store);
        let mut config = config;
        config.storage.database_url = db.url.clone();
        config.storage.database_pool_size = 4;
        let pool = odcs_server::open_store(&config).expect("open and migrate the store");
        let state = odcs_server::app_state(config, pool).expect("state");
        TestApp { state, db }
    }

    /// A raw connection to the test database, for arranging rows directly.
    pub fn conn(&self) -> pool::PooledConnection {
        self.state.pool.get().expect("connection")
    }

    pub async fn send(&self, req: TestRequest) -> Reply {
        let app = test::init_service(
            App::new().configure(odcs_server::configure_app(self.state.clone())),
        )
        .await;
        let response: ServiceResponse = test::call_service(&app, req.to_request()).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = test::read_body(response).await;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn request(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let mut req = TestRequest::default().method(method).uri(uri);
        if let Some(body) = body {
            req = req.set_payload(body.to_string());
        }
        self.send(req).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.request(Method::POST, uri, Some(body)).await
    }

    /// Creates a compose and returns its JSON, failing the test unless the server said 200.
    pub async fn create(&self, body: Value) -> Value {
        let reply = self.post("/api/1/composes/", body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body
    }

    /// Sets columns of compose `id` with raw SQL, to arrange states the API cannot reach yet.
    /// Like a worker's change, it reaches a compose the server keeps in memory through the
    /// database's change notice, so this waits until the server has heard it.
    pub fn set(&self, id: i64, assignments: &str) {
        let compose = ComposeId(i32::try_from(id).expect("compose id"));
        // With the change feed up, pages, totals and composes are kept until a notice says
        // otherwise: wait for this change's, as a test reading right after must see it.
        let listening = self.state.composes.is_listening();
        let heard = self.state.composes.changes_seen(&compose);
        let mut conn = self.conn();
        let conn: &mut DbConnection = &mut conn;
        conn.batch_execute(&format!(
            "UPDATE composes SET {assignments} WHERE id = {id}"
        ))
        .expect("arrange compose");
        if listening {
            self.await_notice(compose, heard);
        }
    }

    /// Waits until the server's list pages have heard of a change after `heard` changes.
    pub fn await_page_notice(&self, heard: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.state.pages.changes_heard() == heard {
            assert!(
                std::time::Instant::now() < deadline,
                "no change notice for the list pages within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Waits until the server has heard a change notice for `id` after `heard` changes.
    pub fn await_notice(&self, id: ComposeId, heard: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.state.composes.changes_seen(&id) == heard {
            assert!(
                std::time::Instant::now() < deadline,
                "no change notice for compose {id} within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Waits until the server's change feed listens (or fails the test after 10 s).
    pub fn await_feed(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.state.composes.is_listening() {
            assert!(
                std::time::Instant::now() < deadline,
                "the change feed did not listen within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// How many composes are stored.
    pub async fn count(&self) -> i64 {
        self.get("/api/1/composes/?per_page=1").await.body["meta"]["total"]
            .as_i64()
            .expect("total")
    }
}

/// A request from a trusted proxy on behalf of `user` in `groups`.
pub fn as_user(req: TestRequest, user: &str, groups: &str) -> TestRequest {
    let proxy: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    req.peer_addr(proxy)
        .insert_header(("X-Remote-User", user))
        .insert_header(("X-Remote-Groups", groups))
}

/// Declares one async test per store, running `$body` with a `TestApp` over that store.
#[macro_export]
macro_rules! on_both_stores {
    ($name:ident, $config:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn postgres() {
                let $app = $crate::support::TestApp::new($crate::support::Store::Postgres, $config);
                $body
            }

            #[actix_web::test]
            async fn sqlite() {
                let $app = $crate::support::TestApp::new($crate::support::Store::Sqlite, $config);
                $body
            }
        }
    };
}
