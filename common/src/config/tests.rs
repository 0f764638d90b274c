use super::*;
fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_need_no_file() {
    let config = Config::load(None, env(&[])).expect("defaults are valid");
    assert_eq!(config.auth.backend, AuthBackend::Noauth);
    assert!(config.storage.database_url.starts_with("sqlite:"));
    assert_eq!(config.policy.seconds_to_live, 86400);
}

#[test]
fn environment_overrides_each_kind_of_key() {
    let config = Config::load(
        None,
        env(&[
            ("ODCS_SECONDS_TO_LIVE", "60"),
            ("ODCS_ARCHES", "x86_64, aarch64"),
            ("ODCS_SIGKEYS", r#"["ABC", ""]"#),
            ("ODCS_AUTH_STRIP_REALM", "false"),
            ("ODCS_DATABASE_URL", "postgres://db/odcs"),
            (
                "ODCS_ADMINS",
                r#"{"users": ["root"], "groups": ["releng"]}"#,
            ),
            ("UNRELATED", "x"),
        ]),
    )
    .expect("valid overrides");
    assert_eq!(config.policy.seconds_to_live, 60);
    assert_eq!(config.policy.arches, ["x86_64", "aarch64"]);
    assert_eq!(config.policy.sigkeys, ["ABC", ""]);
    assert!(!config.auth.strip_realm);
    assert_eq!(config.storage.database_url, "postgres://db/odcs");
    assert!(config.policy.admins.contains("root", &[]));
    assert!(config.policy.admins.contains("x", &["releng".into()]));
}

#[test]
fn bad_values_name_their_key() {
    let err =
        Config::load(None, env(&[("ODCS_SECONDS_TO_LIVE", "soon")])).expect_err("not a number");
    assert!(err.to_string().contains("ODCS_SECONDS_TO_LIVE"), "{err}");

    let err = Config::load(None, env(&[("ODCS_MAX_SECONDS_TO_LIVE", "10")]))
        .expect_err("max below default");
    assert!(err.to_string().contains("max_seconds_to_live"), "{err}");

    let err = Config::load(None, env(&[("ODCS_ALLOWED_FLAGS", "no_deps,bogus")]))
        .expect_err("unknown flag");
    assert!(err.to_string().contains("allowed_flags"), "{err}");

    let err = Config::load(None, env(&[("ODCS_AUTH_BACKEND", "ssl")]))
        .expect_err("ssl without client certificates");
    assert!(err.to_string().contains("tls_client_ca"), "{err}");
    let err = Config::load(None, env(&[("ODCS_TLS_CLIENT_CA", "/etc/ca.pem")]))
        .expect_err("client CA without HTTPS");
    assert!(err.to_string().contains("tls_client_ca"), "{err}");
    let err = Config::load(None, env(&[("ODCS_TLS_CERT", "/etc/cert.pem")]))
        .expect_err("certificate without key");
    assert!(err.to_string().contains("tls_key"), "{err}");
    let err = Config::load(None, env(&[("ODCS_AUTH_BACKEND", "proxy")]))
        .expect_err("proxy without proxies");
    assert!(err.to_string().contains("auth_trusted_proxies"), "{err}");
}

#[test]
fn env_example_lists_every_key_with_a_valid_default() {
    let text = include_str!("../../../.env.example");
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter(|l| l.starts_with(ENV_PREFIX) && !l.starts_with("ODCS_CONFIG="))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let defaults = match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        other => panic!("defaults must be a table: {other:?}"),
    };
    for key in defaults.keys() {
        let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
        assert!(
            pairs.iter().any(|(k, _)| *k == var),
            "{var} missing from .env.example"
        );
    }
    let loaded = Config::load(None, pairs).expect(".env.example values load");
    assert_eq!(loaded, Config::default(), ".env.example shows the defaults");
}

#[test]
fn every_section_key_is_a_top_level_key() {
    let keys = Config::keys();
    for key in [
        "listen",
        "database_url",
        "messaging_topic",
        "max_attempts",
        "koji_hub_url",
        "auth_backend",
        "allowed_clients",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
    let config = Config::load(
        None,
        env(&[
            ("ODCS_KOJI_HUB_URL", "https://koji/kojihub"),
            ("ODCS_MAX_ATTEMPTS", "5"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.koji.hub_url, "https://koji/kojihub");
    assert_eq!(config.workers.max_attempts, 5);
}

#[test]
fn file_keys_are_checked() {
    let dir = std::env::temp_dir().join(format!("odcs-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("odcs.toml");
    std::fs::write(&path, "target_dirr = \"/srv\"\n").expect("write");
    let err = Config::load(Some(&path), env(&[])).expect_err("typo");
    assert!(err.to_string().contains("target_dirr"), "{err}");

    std::fs::write(
        &path,
        r#"
auth_backend = "proxy"
auth_trusted_proxies = ["10.0.0.1"]
target_dir = "/srv/odcs"
[extra_target_dirs]
private = "/srv/private"
[raw_config_urls.pungi_cfg]
url = "https://git.example.com/cfg.git"
config_filename = "pungi.conf"
max_seconds_to_live = 604800
[allowed_clients.users.alice]
source_types = ["tag", "repo"]
"#,
    )
    .expect("write");
    let config = Config::load(Some(&path), env(&[])).expect("valid file");
    assert_eq!(config.auth.backend, AuthBackend::Proxy);
    assert_eq!(
        config.storage.target_dir_name(Some("/srv/private")),
        "private"
    );
    assert_eq!(config.storage.target_dir_name(Some("/srv/odcs")), "default");
    assert_eq!(
        config.storage.target_dir_name(Some("/elsewhere")),
        "unknown"
    );
    assert_eq!(config.policy.lifetimes(Some("pungi_cfg")), (86400, 604800));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn messaging_backends_are_checked_and_the_reference_names_work() {
    let config = Config::load(
        None,
        env(&[
            ("ODCS_MESSAGING_BACKEND", "rhmsg"),
            (
                "ODCS_MESSAGING_BROKER_URLS",
                r#"["amqps://umb-1.example.com:5671","amqps://umb-2.example.com:5671"]"#,
            ),
            ("ODCS_MESSAGING_TOPIC_PREFIX", "VirtualTopic.eng."),
        ]),
    )
    .expect("the reference's rhmsg is AMQP 1.0");
    assert_eq!(config.messaging.backend, MessagingBackend::Amqp1);
    assert!(config.messaging.publishes(), "a bus without amqp_url");
    assert_eq!(
        config
            .messaging
            .address_of("VirtualTopic.eng.odcs.state.change"),
        "topic://VirtualTopic.eng.odcs.state.change"
    );
    let stomp = Config::load(
        None,
        env(&[
            ("ODCS_MESSAGING_BACKEND", "stomp"),
            ("ODCS_MESSAGING_BROKER_URLS", r#"["stomp+ssl://umb:61612"]"#),
        ]),
    )
    .expect("stomp");
    assert_eq!(stomp.messaging.address_of("t"), "/topic/t");

    let refused = |pairs: &[(&str, &str)], key: &str| {
        let err = Config::load(None, env(pairs)).expect_err("refused");
        assert!(err.to_string().contains(key), "{err}");
    };
    refused(&[("ODCS_MESSAGING_BACKEND", "kafka")], "kafka");
    refused(
        &[("ODCS_MESSAGING_BACKEND", "amqp1")],
        "messaging_broker_urls",
    );
    refused(
        &[
            ("ODCS_MESSAGING_BACKEND", "stomp"),
            ("ODCS_MESSAGING_BROKER_URLS", r#"["amqp://broker"]"#),
        ],
        "messaging_broker_urls",
    );
    refused(
        &[
            ("ODCS_MESSAGING_BACKEND", "amqp1"),
            ("ODCS_MESSAGING_BROKER_URLS", r#"["amqp://broker"]"#),
            ("ODCS_MESSAGING_ADDRESS", "topic://fixed"),
        ],
        "messaging_address",
    );
    refused(
        &[("ODCS_MESSAGING_CERT_FILE", "/etc/odcs/msg.crt")],
        "messaging_cert_file",
    );
}
