//! The command line's layer of the settings: flags (and, through clap, the
//! same `ROSTER_*` variables [`roster_app::settings::env`] reads) laid over
//! the environment, over the TOML file (`--config`), over the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use roster_app::Role;
pub use roster_app::settings::{MetricsFormat, QueueBackend, Settings, StoreBackend};
use roster_core::secret::Secret;

pub fn resolve_worker(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut s = layered(global, args)?;
    s.worker_listen = args.listen.unwrap_or(s.worker_listen);
    s.listen = s.worker_listen;
    s.jobs = Some(s.jobs.unwrap_or(true));
    s.validate_for(Role::Worker)?;
    Ok(s)
}

/// Lays flags and environment over the file (if any) over the defaults.
pub fn resolve(global: &GlobalArgs, serve: &ServeArgs) -> anyhow::Result<Settings> {
    let s = layered(global, serve)?;
    s.validate()?;
    Ok(s)
}

fn layered(global: &GlobalArgs, serve: &ServeArgs) -> anyhow::Result<Settings> {
    // The environment is read here as a function reads it; clap has
    // read the same variables into the flags, which win.
    let mut s = Settings::load(global.config.as_deref(), &|name| std::env::var(name).ok())?;
    if let Some(v) = &global.data_dir {
        s.data_dir = v.clone();
    }
    if let Some(v) = global.store {
        s.store = v;
    }
    if global.database_url.is_some() {
        s.database_url = global.database_url.clone();
    }
    if let Some(v) = global.database_pool_size {
        s.database_pool_size = v;
    }
    if let Some(v) = global.database_statement_timeout_secs {
        s.database_statement_timeout_secs = v;
    }
    macro_rules! overlay {
        ($($field:ident),*) => { $( if let Some(v) = serve.$field { s.$field = v; } )* };
    }
    overlay!(
        listen,
        lease_ttl_secs,
        body_limit,
        upload_limit,
        workers,
        batch_size,
        visibility_timeout_secs,
        max_receive_count,
        max_queue_depth,
        queue,
        metrics_format,
        rate_limit_per_sec,
        request_timeout_secs,
        upload_timeout_secs,
        max_streaming_uploads,
        max_streaming_uploads_per_tenant,
        upload_idle_secs,
        max_body_bytes_in_flight
    );
    macro_rules! overlay_option {
        ($($field:ident),*) => { $( if serve.$field.is_some() { s.$field = serve.$field.clone(); } )* };
    }
    overlay_option!(
        sqs_queue_url,
        sqs_dlq_url,
        sqs_endpoint_url,
        aws_region,
        tls_cert,
        tls_key,
        metrics_token,
        client_ip_header
    );
    s.allow_insecure_http |= serve.allow_insecure_http;
    if serve.jobs.is_some() {
        s.jobs = serve.jobs;
    }
    Ok(s)
}

/// Where the directory is: the flags of the commands that open it (`serve`,
/// `tenants create`, `operators`, `migrate`); client commands take a
/// server URL instead and do not list these.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Data directory (SQLite queue and directory) [default: ./roster-data].
    #[arg(long, global = true, env = "ROSTER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Which directory: `sqlite` (the data directory's file) or `postgres`
    /// (a database many nodes share) [default: sqlite].
    #[arg(long, global = true, env = "ROSTER_STORE", value_enum)]
    pub store: Option<StoreBackend>,
    /// PostgreSQL URL (libpq's form: `sslmode`, `sslrootcert`, a unix-socket
    /// `host`); prefer the environment or the file to the command line for
    /// one with a password.
    #[arg(long, global = true, env = "ROSTER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// PostgreSQL: most connections this process holds [default: 10; a
    /// Lambda consumer wants 1–2].
    #[arg(long, global = true, env = "ROSTER_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<u32>,
    /// PostgreSQL: seconds a statement may run before the server cancels it
    /// [default: 30].
    #[arg(long, global = true, env = "ROSTER_DATABASE_STATEMENT_TIMEOUT_SECS")]
    pub database_statement_timeout_secs: Option<u64>,
}

impl GlobalArgs {
    /// The data directory the settings name (for commands that open it
    /// directly).
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        Ok(resolve(self, &ServeArgs::default())?.data_dir)
    }
}

/// Flags of `roster serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "ROSTER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Largest request body in bytes [default: 33554432 (32 MiB)].
    #[arg(long, env = "ROSTER_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Largest streamed CSV upload in bytes [default: 4294967296 (4 GiB)].
    #[arg(long, env = "ROSTER_UPLOAD_LIMIT")]
    pub upload_limit: Option<u64>,
    /// Consumer workers [default: 2].
    #[arg(long, env = "ROSTER_WORKERS")]
    pub workers: Option<usize>,
    /// Run the once-per-cluster jobs (scheduler, alarms, outbox dispatcher)
    /// under their leases: `true` or `false` [default: when --workers > 0;
    /// always on `roster worker`].
    #[arg(long, env = "ROSTER_JOBS")]
    pub jobs: Option<bool>,
    /// Seconds a node's lease on such a job lasts unrenewed [default: 30].
    #[arg(long, env = "ROSTER_LEASE_TTL_SECS")]
    pub lease_ttl_secs: Option<u64>,
    /// Messages per consumer batch [default: 1000].
    #[arg(long, env = "ROSTER_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// Visibility timeout of received messages, seconds [default: 30].
    #[arg(long, env = "ROSTER_VISIBILITY_TIMEOUT_SECS")]
    pub visibility_timeout_secs: Option<u64>,
    /// Receives before a failing message is dead-lettered [default: 5].
    #[arg(long, env = "ROSTER_MAX_RECEIVE_COUNT")]
    pub max_receive_count: Option<u32>,
    /// Ingest answers 429 while the queue holds more than this [default: 1000000].
    #[arg(long, env = "ROSTER_MAX_QUEUE_DEPTH")]
    pub max_queue_depth: Option<u64>,
    /// Queue backend [default: sqlite].
    #[arg(long, env = "ROSTER_QUEUE", value_enum)]
    pub queue: Option<QueueBackend>,
    /// URL of the SQS FIFO queue (with --queue sqs).
    #[arg(long, env = "ROSTER_SQS_QUEUE_URL")]
    pub sqs_queue_url: Option<String>,
    /// URL of the SQS FIFO dead-letter queue (with --queue sqs).
    #[arg(long, env = "ROSTER_SQS_DLQ_URL")]
    pub sqs_dlq_url: Option<String>,
    /// SQS endpoint override, e.g. a VPC endpoint or a local emulator.
    #[arg(long, env = "ROSTER_SQS_ENDPOINT_URL")]
    pub sqs_endpoint_url: Option<String>,
    /// AWS region [default: from the AWS configuration chain].
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// PEM certificate chain; with --tls-key the server speaks HTTPS only.
    #[arg(long, env = "ROSTER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ROSTER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Requests per second per credential; 0: no limit [default: 50].
    #[arg(long, env = "ROSTER_RATE_LIMIT_PER_SEC")]
    pub rate_limit_per_sec: Option<f64>,
    /// Seconds an ordinary request may take [default: 60].
    #[arg(long, env = "ROSTER_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Seconds an upload to /integrations/hr-feed may take [default: 14400].
    #[arg(long, env = "ROSTER_UPLOAD_TIMEOUT_SECS")]
    pub upload_timeout_secs: Option<u64>,
    /// CSV uploads streaming at once on this node; more is 503 [default: 16].
    #[arg(long, env = "ROSTER_MAX_STREAMING_UPLOADS")]
    pub max_streaming_uploads: Option<usize>,
    /// CSV uploads one tenant may stream at once; more is 429 [default: 4].
    #[arg(long, env = "ROSTER_MAX_STREAMING_UPLOADS_PER_TENANT")]
    pub max_streaming_uploads_per_tenant: Option<usize>,
    /// Seconds a streamed upload may send nothing before it fails [default: 60].
    #[arg(long, env = "ROSTER_UPLOAD_IDLE_SECS")]
    pub upload_idle_secs: Option<u64>,
    /// Bytes of request bodies read whole held at once; more is 503
    /// [default: 268435456 (256 MiB)].
    #[arg(long, env = "ROSTER_MAX_BODY_BYTES_IN_FLIGHT")]
    pub max_body_bytes_in_flight: Option<u64>,
    /// A header whose last address is the client's, as the load balancer in
    /// front appends it (e.g. x-forwarded-for behind an ALB); only behind a
    /// proxy that always sets it [default: the peer's address].
    #[arg(long, env = "ROSTER_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// How metrics leave the process: prometheus (/metrics) or emf
    /// (CloudWatch Embedded Metric Format on stdout) [default: prometheus].
    #[arg(long, env = "ROSTER_METRICS_FORMAT", value_enum)]
    pub metrics_format: Option<MetricsFormat>,
    /// Bearer token Prometheus sends to /metrics (better in the environment
    /// or the config file than on a command line).
    #[arg(long, env = "ROSTER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// Allow plain HTTP on a non-loopback address (e.g. behind a TLS-terminating
    /// load balancer).
    #[arg(long, env = "ROSTER_ALLOW_INSECURE_HTTP")]
    pub allow_insecure_http: bool,
    /// Log level or filter, e.g. `debug` or `info,roster_engine=debug`
    /// [default: info]; `RUST_LOG`, when set, wins.
    #[arg(long)]
    pub log_level: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_a_flag_reads_a_function_reads_too() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Both {
            #[command(flatten)]
            global: GlobalArgs,
            #[command(flatten)]
            serve: ServeArgs,
        }
        let command = Both::command();
        let names: Vec<String> = command
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        assert!(names.len() > 30, "{names:?}");
        for name in names {
            assert!(
                roster_app::settings::env::NAMES.contains(&name.as_str()),
                "{name} is a flag's variable that roster_app::settings::env does not read"
            );
        }
    }

    #[test]
    fn the_postgres_store_comes_from_the_file_or_the_flags_and_its_url_stays_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            "store = \"postgres\"\ndatabase_url = \"postgres://roster:file-pw-123@db/roster\"\ndatabase_pool_size = 3\ndatabase_statement_timeout_secs = 5\n",
        )
        .unwrap();
        let global = GlobalArgs { config: Some(file), ..GlobalArgs::default() };
        let s = resolve(&global, &ServeArgs::default()).unwrap();
        assert_eq!(s.store, StoreBackend::Postgres);
        assert_eq!(s.database_pool_size, 3);
        assert_eq!(s.database_statement_timeout_secs, 5);
        assert_eq!(s.database_url.as_ref().unwrap().expose(), "postgres://roster:file-pw-123@db/roster");
        assert!(!format!("{s:?}").contains("file-pw-123"), "the password is in Debug");

        let flag = GlobalArgs {
            store: Some(StoreBackend::Postgres),
            database_url: Some(Secret::new("postgres://roster:flag-pw-456@db/roster")),
            ..GlobalArgs::default()
        };
        assert!(!format!("{flag:?}").contains("flag-pw-456"));
        let s = resolve(&flag, &ServeArgs::default()).unwrap();
        assert_eq!(s.database_url.unwrap().expose(), "postgres://roster:flag-pw-456@db/roster");

        let sized =
            GlobalArgs { database_pool_size: Some(2), database_statement_timeout_secs: Some(5), ..flag };
        let s = resolve(&sized, &ServeArgs::default()).unwrap();
        assert_eq!(
            (s.database_pool_size, s.database_statement_timeout_secs),
            (2, 5),
            "ROSTER_DATABASE_POOL_SIZE"
        );

        let no_url = GlobalArgs { store: Some(StoreBackend::Postgres), ..GlobalArgs::default() };
        let e = resolve(&no_url, &ServeArgs::default()).unwrap_err();
        assert!(e.to_string().contains("needs database_url"), "{e}");
        assert_eq!(Settings::default().store, StoreBackend::Sqlite, "SQLite stays the default");
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\nworkers = 4\ndata_dir = \"/from/file\"\n")
            .unwrap();
        let global = GlobalArgs { data_dir: None, config: Some(file.clone()), ..GlobalArgs::default() };
        let serve = ServeArgs {
            workers: Some(8),
            client_ip_header: Some("x-forwarded-for".into()),
            metrics_format: Some(MetricsFormat::Emf),
            ..Default::default()
        };
        let s = resolve(&global, &serve).unwrap();
        assert_eq!(s.listen.port(), 9999);
        assert_eq!(s.workers, 8);
        assert_eq!(s.client_ip_header.as_deref(), Some("x-forwarded-for"), "ROSTER_CLIENT_IP_HEADER on ECS");
        assert_eq!(s.metrics_format, MetricsFormat::Emf);
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.body_limit, Settings::default().body_limit);

        let global =
            GlobalArgs { data_dir: Some("/from/flag".into()), config: Some(file), ..GlobalArgs::default() };
        assert_eq!(resolve(&global, &serve).unwrap().data_dir, PathBuf::from("/from/flag"));
    }

    #[test]
    fn jwt_issuers_come_from_the_file_with_documented_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            r#"
[[jwt_issuers]]
issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
audiences = ["3n4b5urk1ft4fl3mg5e62d9ado"]
required_token_use = "access"
clients = { "3n4b5urk1ft4fl3mg5e62d9ado" = "acme" }
"#,
        )
        .unwrap();
        let s = Settings::from_file(&file).unwrap();
        s.validate().unwrap();
        let issuer = &s.jwt_issuers[0];
        assert_eq!(issuer.clients["3n4b5urk1ft4fl3mg5e62d9ado"], "acme");
        assert_eq!(issuer.required_token_use.as_deref(), Some("access"));
        assert_eq!(
            (issuer.jwks_url.as_deref(), issuer.leeway_secs, issuer.jwks_refetch_secs),
            (None, 60, 60)
        );
        assert_eq!(issuer.scope_map["roster/ingest"], "ingest");

        std::fs::write(
            &file,
            "[[jwt_issuers]]\nissuer = \"https://id.example.com\"\naudiences = [\"roster\"]\n\
             clients = { c1 = \"acme\" }\nscope_map = { \"roster.write\" = \"write\" }\n",
        )
        .unwrap();
        let global = GlobalArgs { data_dir: None, config: Some(file), ..GlobalArgs::default() };
        let err = format!("{:#}", resolve(&global, &ServeArgs::default()).unwrap_err());
        assert!(
            err.contains("jwt_issuers[0] (https://id.example.com): scope_map: `write` is not a scope"),
            "{err}"
        );
    }

    #[test]
    fn resource_bounds_have_documented_defaults_and_are_checked_at_start() {
        let d = Settings::default();
        assert_eq!((d.max_streaming_uploads, d.max_streaming_uploads_per_tenant), (16, 4));
        assert_eq!((d.upload_idle_secs, d.max_streamed_records), (60, 3_000_000));
        assert_eq!(
            (d.max_body_bytes_in_flight, d.max_body_bytes_in_flight_per_tenant),
            (256 << 20, 64 << 20)
        );
        d.validate().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "max_streaming_uploads = 2\nupload_idle_secs = 5\nmax_streamed_records = 10\n")
            .unwrap();
        let s = Settings::from_file(&file).unwrap();
        assert_eq!((s.max_streaming_uploads, s.upload_idle_secs, s.max_streamed_records), (2, 5, 10));
        let global = GlobalArgs { data_dir: None, config: Some(file), ..GlobalArgs::default() };
        let serve = ServeArgs { max_streaming_uploads: Some(8), ..Default::default() };
        let s = resolve(&global, &serve).unwrap();
        assert_eq!((s.max_streaming_uploads, s.upload_idle_secs), (8, 5), "the flag wins over the file");

        let share_below_a_body =
            Settings { max_body_bytes_in_flight_per_tenant: 1024, ..Settings::default() };
        let err = format!("{:#}", share_below_a_body.validate().unwrap_err());
        assert!(err.contains("must be at least body_limit"), "{err}");
        let no_uploads = Settings { max_streaming_uploads: 0, ..Settings::default() };
        assert!(no_uploads.validate().is_err());
    }

    #[test]
    fn a_bad_alarm_rule_is_a_start_up_error_naming_rule_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            "[[alarms]]\nname = \"slow\"\nmetric = \"oldest_message_age\"\ncomparison = \">\"\nthreshold = 60\n",
        )
        .unwrap();
        let global = GlobalArgs { data_dir: None, config: Some(file), ..GlobalArgs::default() };
        let err = resolve(&global, &ServeArgs::default()).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("alarm rule `slow`: metric: unknown metric `oldest_message_age`"), "{text}");
    }
}
