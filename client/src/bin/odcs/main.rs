//! `odcs`: request composes, follow them and manage them from a terminal or a script, with the
//! reference CLI's sub-commands and options.

mod args;
mod config;
mod output;

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use odcs_client::oidc::OidcLogin;
use odcs_client::spec::{
    BaseModuleBounds, BuildSource, ComposeSource, ModularInputs, ModuleDefaults, ModuleRef,
    ModuleSource, PulpSource, RawConfigSource, RepoSource, TagSource, WordList,
};
use odcs_client::wait::{wait_for_compose, BrokerSettings, WaitOptions};
use odcs_client::{
    Auth, Client, ClientError, ComposeFilter, ComposeId, ComposeJson, ComposeRequest,
};
use odcs_common::compose::{ComposeFlag, ComposeResult, ComposeType, MultilibMethod};

use args::{Cli, Command, CommonOptions};

/// Exit codes (docs/cli.md).
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_TIMEOUT: u8 = 3;
const EXIT_SERVER: u8 = 4;

/// Why the command did not succeed, and the exit code that says so.
struct Failure {
    code: u8,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let code = match e {
            ClientError::Timeout { .. } => EXIT_TIMEOUT,
            ClientError::Config(_) => EXIT_USAGE,
            _ => EXIT_SERVER,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn usage(message: String) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("odcs: {}", first_line(&e.to_string()));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "odcs", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let Some(keytab) = &cli.keytab {
        odcs_client::kerberos::use_client_keytab(keytab);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("odcs: cannot start: {e}");
            return ExitCode::from(EXIT_SERVER);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("odcs: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The first line of clap's error, without its `error: ` prefix: one line, as every other
/// error the command prints.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// Everything resolved from flags, environment and the configuration file.
struct Settings {
    client: Client,
    broker: Option<BrokerSettings>,
}

/// The scopes asked for when none are configured: what every ODCS action needs.
const DEFAULT_OIDC_SCOPES: [&str; 4] = [
    "openid",
    "https://pagure.io/odcs/new-compose",
    "https://pagure.io/odcs/renew-compose",
    "https://pagure.io/odcs/delete-compose",
];

/// An access token from the OpenID provider: by the client credentials grant when
/// OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set (the reference CLI's variables), else by the
/// browser login when a public client id is configured (unless NO_OIDC_AUTHZ_CODE=1, as in the
/// reference) — interactively only from a terminal or with --oidc-login.
async fn oidc_token(cli: &Cli, profile: &config::Profile) -> Result<Option<String>, Failure> {
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (client_id, client_secret) =
        match (variable("OIDC_CLIENT_ID"), variable("OIDC_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => (id, Some(secret)),
            _ if variable("NO_OIDC_AUTHZ_CODE").as_deref() == Some("1") => return Ok(None),
            _ => match cli
                .oidc_client_id
                .clone()
                .or(profile.oidc_authz_code_client_id.clone())
            {
                Some(id) => (id, None),
                None => return Ok(None),
            },
        };
    let issuer = cli
        .id_provider
        .clone()
        .or(profile.id_provider.clone())
        .ok_or_else(|| {
            usage(
                "an OpenID client is configured but no provider: pass --id-provider or set \
                 id_provider in the profile"
                    .into(),
            )
        })?;
    let scopes = match (&cli.oidc_scopes, &profile.oidc_scopes) {
        (Some(s), _) => s.split_whitespace().map(str::to_owned).collect(),
        (None, Some(s)) => s.clone(),
        (None, None) => DEFAULT_OIDC_SCOPES.map(str::to_owned).to_vec(),
    };
    let login = OidcLogin {
        issuer,
        client_id,
        client_secret,
        scopes,
        resource: cli.oidc_resource.clone().or(profile.oidc_resource.clone()),
    };
    let cache = config::cache_dir()
        .ok_or_else(|| usage("no HOME or XDG_CACHE_HOME to cache access tokens in".into()))?;
    let interactive = cli.oidc_login || std::io::stdin().is_terminal();
    Ok(Some(login.access_token(&cache, interactive).await?))
}

async fn settings(cli: &Cli) -> Result<Settings, Failure> {
    let file = config::load(cli.config.as_deref()).map_err(usage)?;
    let name = if cli.staging {
        Some("stage")
    } else {
        cli.profile.as_deref()
    };
    let profile = file.profile(name).map_err(usage)?;
    let server = cli
        .server
        .clone()
        .or(profile.server.clone())
        .ok_or_else(|| {
            usage("no server: pass --server, set ODCS_SERVER or add a profile (docs/cli.md)".into())
        })?;
    let token = match (&cli.token, &profile.token, &profile.token_file) {
        (Some(t), _, _) => Some(token_value(t)?),
        (None, Some(t), _) => Some(t.clone()),
        (None, None, Some(file)) => Some(read_token(file)?),
        (None, None, None) => oidc_token(cli, &profile).await?,
    };
    let kerberos = cli.kerberos || cli.keytab.is_some() || profile.kerberos;
    let auth = match (token, cli.cert.clone().or(profile.cert.clone())) {
        (Some(token), _) => Auth::Bearer(token),
        (None, _) if kerberos => Auth::Kerberos {
            principal: cli.principal.clone(),
        },
        (None, Some(cert)) => Auth::Certificate(cert),
        (None, None) => Auth::None,
    };
    let ca = cli.ca_cert.clone().or(profile.ca_cert.clone());
    let client = Client::new(&server, auth, ca.as_deref(), Duration::from_secs(60))?;
    let broker = cli
        .amqp_url
        .clone()
        .or(profile.amqp_url.clone())
        .map(|url| BrokerSettings {
            url,
            exchange: profile
                .amqp_exchange
                .clone()
                .unwrap_or_else(|| "amq.topic".into()),
            topic: profile
                .amqp_topic
                .clone()
                .unwrap_or_else(|| "odcs.state.change".into()),
        });
    Ok(Settings { client, broker })
}

/// A token given on the command line: the token itself, or a file holding it.
fn token_value(text: &str) -> Result<String, Failure> {
    let path = Path::new(text);
    if path.is_file() {
        read_token(path)
    } else {
        Ok(text.to_owned())
    }
}

fn read_token(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_owned())
        .map_err(|e| usage(format!("token file {}: {e}", path.display())))
}

/// `--sigkey none` means unsigned, as in the reference CLI.
fn sigkeys(keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| {
            if k == "none" {
                String::new()
            } else {
                k.clone()
            }
        })
        .collect()
}

/// Names of `T` read, and the names this client does not know: those are sent as they are, for
/// the server to judge (a newer server may know them).
fn known<T: std::str::FromStr>(names: &[String]) -> (Vec<T>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match name.parse() {
            Ok(value) => known.push(value),
            Err(_) => unknown.push(name.clone()),
        }
    }
    (known, unknown)
}

/// A compose request as the command line describes it: the typed request, plus names (flags,
/// results, multilib methods, a compose type) this client does not know, passed through.
struct CliRequest {
    request: ComposeRequest,
    passed_through: Vec<(&'static str, Vec<String>)>,
}

impl CliRequest {
    /// The request body.
    fn to_json(&self) -> serde_json::Value {
        let mut body = self.request.to_json();
        for (key, names) in &self.passed_through {
            if names.is_empty() {
                continue;
            }
            if *key == "compose_type" {
                body[*key] = serde_json::json!(names[0]);
                continue;
            }
            let mut list = body[*key].as_array().cloned().unwrap_or_default();
            list.extend(names.iter().map(|n| serde_json::json!(n)));
            body[*key] = serde_json::Value::Array(list);
        }
        body
    }
}

fn request(source: ComposeSource, keys: &[String], common: &CommonOptions) -> CliRequest {
    let mut request = ComposeRequest::new(source);
    if !keys.is_empty() {
        request.sigkeys = Some(sigkeys(keys));
    }
    if !common.arches.is_empty() {
        request.arches = Some(common.arches.clone());
    }
    let (flags, unknown_flags) = known::<ComposeFlag>(&common.flags);
    let (results, unknown_results) = known::<ComposeResult>(&common.results);
    let (methods, unknown_methods) = known::<MultilibMethod>(&common.multilib_methods);
    let options = &mut request.options;
    options.flags = flags.into_iter().collect();
    options.results = results
        .into_iter()
        .chain([ComposeResult::Repository])
        .collect();
    options.multilib_method = methods.into_iter().collect();
    options.lookaside_repos = common.lookaside_repos.clone();
    options.multilib_arches = common.multilib_arches.clone();
    request.target_dir = common.target_dir.clone();
    request.seconds_to_live = common.seconds_to_live;
    CliRequest {
        request,
        passed_through: vec![
            ("flags", unknown_flags),
            ("results", unknown_results),
            ("multilib_method", unknown_methods),
        ],
    }
}

impl CliRequest {
    /// Sets the compose type, passing a name this client does not know through.
    fn compose_type(&mut self, name: Option<&str>) {
        match name.map(|n| n.parse::<ComposeType>()) {
            None => {}
            Some(Ok(compose_type)) => self.request.compose_type = Some(compose_type),
            Some(Err(_)) => self.passed_through.push((
                "compose_type",
                name.into_iter().map(str::to_owned).collect(),
            )),
        }
    }
}

/// The body the deprecated `create` sends: the reference's `new_compose` fields as given.
fn low_level_body(command: &Command) -> serde_json::Value {
    use serde_json::json;
    let Command::Create {
        source_type,
        source,
        packages,
        sigkeys: keys,
        koji_event,
        modules,
        label,
        compose_type,
        common,
    } = command
    else {
        return json!({});
    };
    let mut src = json!({"source": source, "type": source_type});
    let mut set = |key: &str, list: &[String]| {
        if !list.is_empty() {
            src[key] = json!(list);
        }
    };
    set("packages", packages);
    set("sigkeys", &sigkeys(keys));
    set("modular_koji_tags", &modules.modular_tags);
    set("scratch_modules", &modules.scratch_modules);
    if let Some(event) = koji_event {
        src["koji_event"] = json!(event);
    }
    if let (Some(url), Some(commit)) = (
        &modules.module_defaults_url,
        &modules.module_defaults_commit,
    ) {
        src["module_defaults_url"] = json!(url);
        src["module_defaults_commit"] = json!(commit);
    }
    let empty = ComposeSource::Build(BuildSource {
        builds: WordList::NONE,
        scratch_build_tasks: WordList::NONE,
    });
    let mut body = request(empty, &[], common).to_json();
    body["source"] = src;
    if let Some(label) = label {
        body["label"] = json!(label);
    }
    if let Some(kind) = compose_type {
        body["compose_type"] = json!(kind);
    }
    body
}

/// A list option: given when it has items (as the reference CLI sends only what is set).
fn listed(items: &[String]) -> WordList {
    if items.is_empty() {
        WordList::NONE
    } else {
        WordList::new(items.to_vec())
    }
}

/// The modular inputs of the module options.
fn modular(options: &args::ModuleOptions) -> ModularInputs {
    ModularInputs {
        koji_tags: listed(&options.modular_tags),
        defaults: match (
            &options.module_defaults_url,
            &options.module_defaults_commit,
        ) {
            (Some(url), Some(commit)) => Some(ModuleDefaults {
                url: url.clone(),
                commit: commit.clone(),
            }),
            _ => None,
        },
        scratch_modules: listed(&options.scratch_modules),
    }
}

/// The compose request a create command describes, if it is one.
fn create_request(command: &Command) -> Result<Option<CliRequest>, Failure> {
    Ok(Some(match command {
        Command::CreateTag {
            tag,
            packages,
            koji,
            modules,
            builds,
            common,
        } => {
            let source = ComposeSource::Tag(TagSource {
                tags: vec![tag.clone()],
                koji_event: koji.koji_event,
                builds: listed(builds),
                modular: modular(modules),
                modules: WordList::NONE,
                scratch_build_tasks: WordList::NONE,
            });
            let mut r = request(source, &koji.sigkeys, common);
            r.request.options.packages = listed(packages);
            r
        }
        Command::CreateModule {
            modules,
            base_module_br_name,
            base_module_br_stream,
            base_module_br_stream_version_lte,
            base_module_br_stream_version_gte,
            module_options,
            sigkeys,
            common,
        } => {
            if modules.is_empty() && module_options.scratch_modules.is_empty() {
                return Err(usage("give a module or --scratch-module".into()));
            }
            let modules = modules
                .iter()
                .map(|m| m.parse::<ModuleRef>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| usage(e.to_string()))?;
            request(
                ComposeSource::Module(ModuleSource {
                    modules,
                    modular: modular(module_options),
                    base_module: BaseModuleBounds {
                        name: base_module_br_name.clone(),
                        stream: base_module_br_stream.clone(),
                        stream_version_lte: *base_module_br_stream_version_lte,
                        stream_version_gte: *base_module_br_stream_version_gte,
                    },
                }),
                sigkeys,
                common,
            )
        }
        Command::CreatePulp {
            content_sets,
            common,
        } => request(
            ComposeSource::Pulp(PulpSource {
                content_sets: content_sets.clone(),
            }),
            &[],
            common,
        ),
        Command::CreateRawConfig {
            raw_config_name,
            raw_config_commit,
            sigkeys,
            label,
            no_label,
            compose_type,
            koji_event,
            builds,
            common,
        } => {
            let mut r = request(
                ComposeSource::RawConfig(RawConfigSource {
                    name: raw_config_name.clone(),
                    commit: raw_config_commit.clone(),
                    koji_event: *koji_event,
                    builds: listed(builds),
                    modules: WordList::NONE,
                }),
                sigkeys,
                common,
            );
            r.request.options.label = label.clone();
            r.compose_type(compose_type.as_deref());
            if *no_label {
                let flags = &mut r.request.options.flags;
                *flags = flags.with(ComposeFlag::NoLabel);
            }
            r
        }
        Command::CreateBuild {
            builds,
            sigkeys,
            common,
        } => request(
            ComposeSource::Build(BuildSource {
                builds: listed(builds),
                scratch_build_tasks: WordList::NONE,
            }),
            sigkeys,
            common,
        ),
        Command::CreateRepo {
            path,
            packages,
            sigkeys,
            common,
        } => {
            let source = ComposeSource::Repo(RepoSource {
                path: path.clone(),
                revision: None,
            });
            let mut r = request(source, sigkeys, common);
            r.request.options.packages = listed(packages);
            r
        }
        _ => return Ok(None),
    }))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let settings = settings(&cli).await?;
    let client = &settings.client;
    if cli.verbose {
        eprintln!("odcs: server {}", client.server());
    }
    let body = match &cli.command {
        Command::Create { .. } => {
            eprintln!("odcs: create is deprecated; use the create-* commands");
            Some(low_level_body(&cli.command))
        }
        other => create_request(other)?.map(|r| r.to_json()),
    };
    if let Some(body) = body {
        let key = cli
            .idempotency_key
            .clone()
            .unwrap_or_else(odcs_client::new_idempotency_key);
        let answer = client.create_raw(&body, &key).await?;
        let compose: ComposeJson = serde_json::from_value(answer.clone()).map_err(|e| Failure {
            code: EXIT_SERVER,
            message: format!("unexpected answer to the compose request: {e}"),
        })?;
        if cli.no_wait {
            show_compose(&compose, cli.json);
            return Ok(());
        }
        return wait_and_show(&cli, &settings, compose.id).await;
    }
    match &cli.command {
        Command::Wait { compose_id } => wait_and_show(&cli, &settings, *compose_id).await,
        Command::Get { compose_id } => {
            show_compose(&client.get(*compose_id).await?, cli.json);
            Ok(())
        }
        Command::Renew {
            compose_id,
            label,
            seconds_to_live,
        } => {
            let compose = client
                .renew(*compose_id, *seconds_to_live, label.as_deref())
                .await?;
            if cli.no_wait || !compose.is_pending() {
                show_compose(&compose, cli.json);
                return Ok(());
            }
            wait_and_show(&cli, &settings, compose.id).await
        }
        Command::Delete { compose_id } => {
            let answer = client.delete(*compose_id).await?;
            if cli.json {
                output::print_json(&answer);
            } else {
                println!(
                    "{}",
                    answer["message"]
                        .as_str()
                        .unwrap_or("The compose was deleted")
                );
            }
            Ok(())
        }
        Command::About => {
            output::print_json(&client.about().await?);
            Ok(())
        }
        Command::List {
            owner,
            source_type,
            source,
            state,
            label,
            compose_type,
            order_by,
            page,
            per_page,
        } => {
            let mut filter = ComposeFilter {
                order_by: order_by.clone(),
                page: *page,
                per_page: *per_page,
                ..ComposeFilter::default()
            };
            for (key, value) in [
                ("owner", owner),
                ("source_type", source_type),
                ("source", source),
                ("state", state),
                ("label", label),
                ("compose_type", compose_type),
            ] {
                if let Some(value) = value {
                    filter.fields.insert(key.into(), value.clone());
                }
            }
            let page = client.find(&filter).await?;
            if cli.json {
                output::print_json(&serde_json::to_value(&page).unwrap_or_default());
            } else {
                output::print_table(&page);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Prints a compose: its JSON with `--json` (every field the server sent is kept), else a
/// summary.
fn show_compose(compose: &ComposeJson, json: bool) {
    if json {
        output::print_json(&serde_json::to_value(compose).unwrap_or_default());
    } else {
        output::print_summary(compose);
    }
}

/// Waits for compose `id`, prints it, and turns a failed compose into exit code 1.
async fn wait_and_show(cli: &Cli, settings: &Settings, id: ComposeId) -> Result<(), Failure> {
    let options = WaitOptions {
        via: cli.wait_via.into(),
        timeout: Duration::from_secs(cli.timeout),
        watch_log: cli.watch,
        broker: settings.broker.clone(),
    };
    let terminal = std::io::stderr().is_terminal();
    let mut progress =
        output::WaitProgress::new(id, terminal && !cli.quiet, cli.quiet, cli.verbose);
    let outcome = wait_for_compose(&settings.client, id, &options, &mut progress).await;
    progress.finish();
    let compose = outcome?;
    show_compose(&compose, cli.json);
    if compose.state_name == "done" {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_FAILED,
            message: format!(
                "compose {id} {}: {}",
                compose.state_name,
                compose.state_reason.as_deref().unwrap_or("no reason given")
            ),
        })
    }
}
