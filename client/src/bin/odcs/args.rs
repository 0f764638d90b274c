//! The command line, with the reference `odcs` CLI's sub-commands and options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Request and follow composes on an ODCS server.
#[derive(Debug, Parser)]
#[command(
    name = "odcs",
    version,
    about,
    after_help = "Configuration: docs/cli.md (profiles in \
~/.config/odcs/client.toml; ODCS_SERVER, ODCS_TOKEN, ODCS_PROFILE). Exit codes: 0 done, 1 compose \
failed, 2 invalid usage, 3 timed out, 4 server or connection error."
)]
pub struct Cli {
    /// ODCS server URL (overrides the profile and ODCS_SERVER).
    #[arg(long, global = true, env = "ODCS_SERVER")]
    pub server: Option<String>,
    /// Profile of the configuration file to use.
    #[arg(
        long,
        short = 'e',
        visible_alias = "env",
        global = true,
        env = "ODCS_PROFILE"
    )]
    pub profile: Option<String>,
    /// Use the `stage` profile (as the reference's --staging).
    #[arg(long, global = true)]
    pub staging: bool,
    /// Configuration file (default ~/.config/odcs/client.toml).
    #[arg(long, global = true, env = "ODCS_CLIENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// OpenID Connect access token, or the path of a file holding one.
    #[arg(long, global = true, env = "ODCS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file with a client certificate and key.
    #[arg(long, global = true)]
    pub cert: Option<PathBuf>,
    /// OpenID provider (issuer URL) to get access tokens from with the client credentials in
    /// OIDC_CLIENT_ID and OIDC_CLIENT_SECRET.
    #[arg(long, global = true, env = "ODCS_ID_PROVIDER")]
    pub id_provider: Option<String>,
    /// Scopes to ask the OpenID provider for (space separated; default openid and the ODCS
    /// new-compose, renew-compose and delete-compose scopes).
    #[arg(long, global = true)]
    pub oidc_scopes: Option<String>,
    /// Public client id of the browser login at the OpenID provider (the reference's
    /// `oidc_authz_code_client_id`).
    #[arg(long, global = true, env = "ODCS_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// Log in in a browser now if no valid token is cached (without a terminal too).
    #[arg(long, global = true)]
    pub oidc_login: bool,
    /// Resource indicator (RFC 8707) to ask the OpenID provider's tokens for.
    #[arg(long, global = true)]
    pub oidc_resource: Option<String>,
    /// Log in with Kerberos (SPNEGO), from the ticket cache (`kinit`) or `--keytab`.
    #[arg(long, global = true)]
    pub kerberos: bool,
    /// Keytab to log in from with Kerberos (for robots; implies --kerberos).
    #[arg(long, global = true, env = "ODCS_KEYTAB")]
    pub keytab: Option<PathBuf>,
    /// Kerberos principal to log in as (default: the ticket cache's, or the keytab's first).
    #[arg(long, global = true, env = "ODCS_PRINCIPAL")]
    pub principal: Option<String>,
    /// PEM file of a CA to trust besides the public ones (a private server certificate).
    #[arg(long, global = true)]
    pub ca_cert: Option<PathBuf>,
    /// AMQP broker to wait on state-change messages from when the server has no event stream
    /// (or with --wait-via bus).
    #[arg(long, global = true, env = "ODCS_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<String>,
    /// What wakes a wait: the server's events when offered, else the bus when configured, else
    /// polling (auto); or only one of them.
    #[arg(long, global = true, env = "ODCS_WAIT_VIA", value_enum, default_value_t = WaitVia::Auto)]
    pub wait_via: WaitVia,
    /// Do not wait for the compose to finish.
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// The create's Idempotency-Key (default: a new one per invocation). A job that runs the
    /// same command again after a lost answer passes the same key to get the same compose.
    #[arg(long, global = true, env = "ODCS_IDEMPOTENCY_KEY")]
    pub idempotency_key: Option<String>,
    /// Print the compose log while waiting.
    #[arg(long, global = true)]
    pub watch: bool,
    /// Seconds to wait for a compose before giving up.
    #[arg(long, global = true, default_value_t = 3600)]
    pub timeout: u64,
    /// Print the server's JSON (indented, keys sorted) instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Say what the client does (requests, messages).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Accepted for scripts written for the reference CLI; does nothing.
    #[arg(long, global = true, hide = true)]
    pub redhat: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Low-level create, as the reference CLI's deprecated `create` (use the create-* commands).
    Create {
        /// tag, module, raw_config, pulp or build.
        #[arg(value_parser = ["tag", "module", "raw_config", "pulp", "build"])]
        source_type: String,
        /// The source: a tag, space-separated modules or content sets, `name#commit`.
        source: String,
        /// Packages to include.
        packages: Vec<String>,
        /// Signing key (repeatable; "none" allows unsigned packages).
        #[arg(long = "sigkey")]
        sigkeys: Vec<String>,
        /// Koji event.
        #[arg(long)]
        koji_event: Option<i64>,
        #[command(flatten)]
        modules: ModuleOptions,
        /// Label of the compose.
        #[arg(long)]
        label: Option<String>,
        /// Compose type.
        #[arg(long)]
        compose_type: Option<String>,
        #[command(flatten)]
        common: CommonOptions,
    },
    /// Create a compose from a Koji tag.
    CreateTag {
        /// Koji tag.
        tag: String,
        /// Packages to include (all in the tag when none).
        packages: Vec<String>,
        #[command(flatten)]
        koji: KojiOptions,
        #[command(flatten)]
        modules: ModuleOptions,
        /// Build to add to the tag's (repeatable).
        #[arg(long = "build")]
        builds: Vec<String>,
        #[command(flatten)]
        common: CommonOptions,
    },
    /// Create a compose from modules.
    CreateModule {
        /// Modules as N:S, N:S:V or N:S:V:C.
        modules: Vec<String>,
        /// Base module the modules build-require.
        #[arg(long)]
        base_module_br_name: Option<String>,
        /// Stream of that base module.
        #[arg(long)]
        base_module_br_stream: Option<String>,
        /// Highest stream version of the base module (el8.3.1 is 80301).
        #[arg(long)]
        base_module_br_stream_version_lte: Option<i64>,
        /// Lowest stream version of the base module.
        #[arg(long)]
        base_module_br_stream_version_gte: Option<i64>,
        #[command(flatten)]
        module_options: ModuleOptions,
        /// Signing key (repeatable; "none" allows unsigned packages).
        #[arg(long = "sigkey")]
        sigkeys: Vec<String>,
        #[command(flatten)]
        common: CommonOptions,
    },
    /// Create a compose from Pulp content sets.
    CreatePulp {
        /// Content sets.
        #[arg(required = true)]
        content_sets: Vec<String>,
        #[command(flatten)]
        common: CommonOptions,
    },
    /// Create a compose from a Pungi configuration the server knows.
    CreateRawConfig {
        /// Configuration name, as defined on the server.
        raw_config_name: String,
        /// Commit or branch to take it from.
        raw_config_commit: String,
        /// Signing key (repeatable; "none" allows unsigned packages).
        #[arg(long = "sigkey")]
        sigkeys: Vec<String>,
        /// Label of the compose.
        #[arg(long)]
        label: Option<String>,
        /// Allow a compose without a label.
        #[arg(long)]
        no_label: bool,
        /// Compose type (test, nightly, production, ...).
        #[arg(long)]
        compose_type: Option<String>,
        /// Koji event to build at.
        #[arg(long)]
        koji_event: Option<i64>,
        /// Build to include (repeatable).
        #[arg(long = "build")]
        builds: Vec<String>,
        #[command(flatten)]
        common: CommonOptions,
    },
    /// Create a compose from Koji builds.
    CreateBuild {
        /// Build NVRs.
        #[arg(required = true, value_name = "NVR")]
        builds: Vec<String>,
        /// Signing key (repeatable; "none" allows unsigned packages).
        #[arg(long = "sigkey")]
        sigkeys: Vec<String>,
        #[command(flatten)]
        common: CommonOptions,
    },
    /// Create a compose from a repository on the server (`repo` source).
    CreateRepo {
        /// The repository's directory on the server.
        path: String,
        /// Packages to include (all when none).
        packages: Vec<String>,
        /// Signing key (repeatable; "none" allows unsigned packages).
        #[arg(long = "sigkey")]
        sigkeys: Vec<String>,
        #[command(flatten)]
        common: CommonOptions,
    },
    /// Wait for a compose to finish.
    Wait {
        /// Compose id.
        compose_id: odcs_client::ComposeId,
    },
    /// Show a compose.
    Get {
        /// Compose id.
        compose_id: odcs_client::ComposeId,
    },
    /// Extend a compose's life, or regenerate an expired or failed one.
    Renew {
        /// Compose id.
        compose_id: odcs_client::ComposeId,
        /// New label of a regenerated compose.
        #[arg(long)]
        label: Option<String>,
        /// Seconds to extend the compose's life by.
        #[arg(long)]
        seconds_to_live: Option<i64>,
    },
    /// Cancel a waiting compose or expire a finished one.
    Delete {
        /// Compose id.
        compose_id: odcs_client::ComposeId,
    },
    /// Show what the server says about itself.
    About,
    /// List composes.
    List {
        /// Only this owner's.
        #[arg(long)]
        owner: Option<String>,
        /// Only this source type (tag, module, repo, ...).
        #[arg(long)]
        source_type: Option<String>,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Only this state (wait, generating, done, removed, failed).
        #[arg(long)]
        state: Option<String>,
        /// Only this label.
        #[arg(long)]
        label: Option<String>,
        /// Only this compose type.
        #[arg(long)]
        compose_type: Option<String>,
        /// Sort key (`-` prefixed for descending); default newest first.
        #[arg(long)]
        order_by: Option<String>,
        /// Page, from 1.
        #[arg(long)]
        page: Option<u32>,
        /// Composes per page.
        #[arg(long)]
        per_page: Option<u32>,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Options of Koji tag composes.
#[derive(Debug, Args)]
pub struct KojiOptions {
    /// Signing key (repeatable, in order of preference; "none" allows unsigned packages).
    #[arg(long = "sigkey")]
    pub sigkeys: Vec<String>,
    /// Koji event to read the tag at.
    #[arg(long)]
    pub koji_event: Option<i64>,
}

/// Options of composes that may hold modules.
#[derive(Debug, Args)]
pub struct ModuleOptions {
    /// Koji tag with module builds (repeatable).
    #[arg(long = "modular-tag")]
    pub modular_tags: Vec<String>,
    /// Git repository with module defaults.
    #[arg(long, requires = "module_defaults_commit")]
    pub module_defaults_url: Option<String>,
    /// Commit or branch of the module defaults.
    #[arg(long, requires = "module_defaults_url")]
    pub module_defaults_commit: Option<String>,
    /// Scratch module N:S:V:C (repeatable).
    #[arg(long = "scratch-module")]
    pub scratch_modules: Vec<String>,
}

/// Options every create command takes.
#[derive(Debug, Args)]
pub struct CommonOptions {
    /// Flag such as no_deps or check_deps (repeatable).
    #[arg(long = "flag")]
    pub flags: Vec<String>,
    /// Arch to build for (repeatable).
    #[arg(long = "arch")]
    pub arches: Vec<String>,
    /// Result besides the repository, e.g. iso (repeatable).
    #[arg(long = "result")]
    pub results: Vec<String>,
    /// Repository that satisfies dependencies without entering the compose (repeatable).
    #[arg(long = "lookaside-repo")]
    pub lookaside_repos: Vec<String>,
    /// Server-side target directory name.
    #[arg(long)]
    pub target_dir: Option<String>,
    /// Seconds the compose should live.
    #[arg(long)]
    pub seconds_to_live: Option<i64>,
    /// Arch that gets multilib packages (repeatable).
    #[arg(long = "multilib-arch")]
    pub multilib_arches: Vec<String>,
    /// Multilib method: runtime, devel or all (repeatable).
    #[arg(long = "multilib-method")]
    pub multilib_methods: Vec<String>,
}

/// `--wait-via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WaitVia {
    /// Events, else the bus, else polling.
    Auto,
    /// The server's event stream (polling a server without one).
    Events,
    /// The broker's state-change messages.
    Bus,
    /// Polling, as the reference client does.
    Poll,
}

impl From<WaitVia> for odcs_client::wait::WaitVia {
    fn from(via: WaitVia) -> Self {
        match via {
            WaitVia::Auto => odcs_client::wait::WaitVia::Auto,
            WaitVia::Events => odcs_client::wait::WaitVia::Events,
            WaitVia::Bus => odcs_client::wait::WaitVia::Bus,
            WaitVia::Poll => odcs_client::wait::WaitVia::Polling,
        }
    }
}
