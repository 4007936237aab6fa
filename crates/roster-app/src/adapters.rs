//! The adapters the settings pick — the only `match` on backends.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use roster_core::{Clock, SystemClock};
use roster_queue::{Queue, SqliteQueue, SqliteQueueConfig, SqsConfig, SqsQueue};
use roster_store::{Directory, RateBuckets};
use roster_store_postgres::PgDirectory;
use roster_store_sqlite::SqliteDirectory;

use crate::settings::{QueueBackend, Settings, StoreBackend};

/// The adapters chosen by the settings: the queue (embedded SQLite or Amazon
/// SQS) and the directory (embedded SQLite or PostgreSQL), with the clock.
#[derive(Clone)]
pub struct Adapters {
    pub queue: Arc<dyn Queue>,
    pub directory: Arc<dyn Directory>,
    /// The cluster's shared rate buckets: a PostgreSQL directory's.
    pub shared_limits: Option<Arc<dyn RateBuckets>>,
    pub clock: Arc<dyn Clock>,
}

impl Adapters {
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let queue: Arc<dyn Queue> = match settings.queue {
            QueueBackend::Sqlite => {
                create_data_dir(settings)?;
                let mut qc = SqliteQueueConfig::new(settings.data_dir.join("queue.db"));
                qc.max_receive_count = settings.max_receive_count;
                qc.clock = Arc::clone(&clock);
                Arc::new(SqliteQueue::open(qc).context("opening the queue")?)
            }
            QueueBackend::Sqs => Arc::new(open_sqs(settings).await?),
        };
        let (directory, shared_limits) = open_directory_and_limits(settings).await?;
        Ok(Self { queue, directory, shared_limits, clock })
    }
}

/// The SQS queue and dead-letter queue the settings name.
pub async fn open_sqs(settings: &Settings) -> anyhow::Result<SqsQueue> {
    let (Some(queue_url), Some(dlq_url)) = (&settings.sqs_queue_url, &settings.sqs_dlq_url) else {
        anyhow::bail!("queue = \"sqs\" needs sqs_queue_url and sqs_dlq_url");
    };
    Ok(SqsQueue::connect(SqsConfig {
        queue_url: queue_url.clone(),
        dead_letter_queue_url: dlq_url.clone(),
        endpoint_url: settings.sqs_endpoint_url.clone(),
        region: settings.aws_region.clone(),
    })
    .await)
}

fn create_data_dir(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))
}

/// The directory for an admin command run beside a server: refuses a data
/// directory that does not exist unless `init`, since a mistyped
/// `--data-dir` would otherwise make a new, empty directory whose tenants
/// and keys the running server never sees. (A PostgreSQL directory is named
/// by its URL: nothing is made by mistake.)
pub async fn open_admin_directory(settings: &Settings, init: bool) -> anyhow::Result<Arc<dyn Directory>> {
    let dir = &settings.data_dir;
    if settings.store == StoreBackend::Sqlite && !init && !dir.is_dir() {
        anyhow::bail!(
            "the data directory {} does not exist: name the server's with --data-dir (or ROSTER_DATA_DIR), or pass --init to start a new one",
            dir.display()
        );
    }
    open_directory(settings).await
}

/// The directory the settings name. PostgreSQL's schema is brought to this
/// build's first (under an advisory lock: nodes starting at once apply each
/// migration once); a database newer than this build is refused.
pub async fn open_directory(settings: &Settings) -> anyhow::Result<Arc<dyn Directory>> {
    Ok(open_directory_and_limits(settings).await?.0)
}

/// The PostgreSQL URL with its password, wherever the settings keep it.
async fn postgres_url(settings: &Settings) -> anyhow::Result<roster_core::secret::Secret> {
    match &settings.database_password_secret_arn {
        Some(arn) => {
            let password = crate::secrets::database_password(settings, arn).await?;
            Settings { database_password: Some(password), ..settings.clone() }.postgres_url()
        }
        None => settings.postgres_url(),
    }
}

/// The directory, and its rate buckets when it is shared by a cluster.
async fn open_directory_and_limits(
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn Directory>, Option<Arc<dyn RateBuckets>>)> {
    match settings.store {
        StoreBackend::Sqlite => {
            create_data_dir(settings)?;
            let path = settings.data_dir.join("directory.db");
            Ok((Arc::new(SqliteDirectory::open(&path).context("opening the directory")?), None))
        }
        StoreBackend::Postgres => {
            let url = postgres_url(settings).await?;
            let url = url.expose();
            PgDirectory::migrate(url).await.context("migrating the PostgreSQL directory")?;
            let timeout = Duration::from_secs(settings.database_statement_timeout_secs);
            let directory = PgDirectory::connect_with(url, settings.database_pool_size, timeout)
                .await
                .context("connecting to the PostgreSQL directory")?;
            let directory = Arc::new(directory);
            Ok((directory.clone(), Some(directory)))
        }
    }
}

/// `roster migrate`: brings the directory's schema to this build's and
/// says from which version (a deploy step, before the nodes start).
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    match settings.store {
        StoreBackend::Sqlite => {
            // Opening the file migrates it.
            open_directory(settings).await?;
            Ok(format!("the SQLite directory in {} is migrated", settings.data_dir.display()))
        }
        StoreBackend::Postgres => {
            let before = PgDirectory::migrate(postgres_url(settings).await?.expose())
                .await
                .context("migrating the PostgreSQL directory")?;
            let now = roster_store_postgres::SCHEMA_VERSION;
            Ok(if before >= now {
                format!("the PostgreSQL directory's schema is at version {before}: nothing to do")
            } else {
                format!("the PostgreSQL directory's schema went from version {before} to {now}")
            })
        }
    }
}
