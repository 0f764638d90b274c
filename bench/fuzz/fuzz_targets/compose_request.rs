//! The compose request parser: any JSON body is turned into a compose spec or refused with a
//! message, and a spec that resolves survives the trip to its wire form and back.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use odcs_common::config::Config;
use odcs_common::request::{ComposeRequest, RenewRequest};

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut config = Config::default();
        config.policy.allowed_source_types = ["tag", "module", "build", "pungi_compose", "repo", "raw_config", "pulp"]
            .into_iter()
            .map(String::from)
            .collect();
        config
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = RenewRequest::from_json(Some(&body));
    let Ok(request) = ComposeRequest::from_json(&body) else {
        return;
    };
    let wire = request.to_json();
    let again = ComposeRequest::from_json(&wire).expect("a request's own wire form parses");
    assert_eq!(again.to_json(), wire, "the wire form is stable");
    let _ = request.resolve(config());
});
