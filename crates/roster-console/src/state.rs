//! What every console handler can reach: the platform's ports, the checked
//! settings and the identity mode.

use std::sync::Arc;

use roster_core::{Clock, Timestamp};
use roster_engine::{AlarmBoard, Ingest};
use roster_queue::Queue;
use roster_store::Directory;

use crate::identity::alb::AlbVerifier;
use crate::identity::oidc::Oidc;
use crate::settings::{ConsoleSettings, SettingsError};

/// How people are signed in.
// Built once per process and held in an Arc: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Mode {
    Oidc(Oidc),
    Alb(AlbVerifier),
}

struct Inner {
    directory: Arc<dyn Directory>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    alarms: Option<AlarmBoard>,
    /// The same ingest as the API's: uploads and mapping previews go
    /// through it. `None`: those pages say the node cannot take uploads.
    ingest: Option<Arc<Ingest>>,
    upload_limits: UploadLimits,
    /// The API's budgets of uploads and bodies held at once, shared: what
    /// the console's uploads hold counts against the same shares.
    budgets: Option<roster_server::Budgets>,
    endpoints: EndpointPolicy,
    /// The configured alarm rules: on a node that evaluates none, the
    /// overview shows what the cluster's evaluator recorded for them.
    alarm_rules: Arc<[roster_core::alarm::AlarmRule]>,
    settings: ConsoleSettings,
    origin: String,
    mode: Mode,
}

/// The API's limits, which uploads through the console keep too.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// A file read whole (JSON, SCIM, a strict source's CSV): `body_limit`.
    pub body: usize,
    /// A streamed CSV: `upload_limit`.
    pub upload: u64,
    /// Longest pause between two chunks of a streamed file:
    /// `upload_idle_timeout`.
    pub idle: std::time::Duration,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            body: 32 * 1024 * 1024,
            upload: 4 * 1024 * 1024 * 1024,
            idle: std::time::Duration::from_secs(60),
        }
    }
}

/// The API's `[outbox] allow_insecure_endpoints` and
/// `allow_private_endpoints`; both off by default.
#[derive(Debug, Clone, Copy, Default)]
pub struct EndpointPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
}

/// Cheap to clone: one `Arc`.
#[derive(Clone)]
pub struct ConsoleState(Arc<Inner>);

impl ConsoleState {
    /// Checks the settings (as at the server's start) and builds the state.
    pub fn new(
        settings: ConsoleSettings,
        directory: Arc<dyn Directory>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        alarms: Option<AlarmBoard>,
    ) -> Result<Self, SettingsError> {
        settings.validate()?;
        let http = roster_server::auth::jwt::jwks_http_client().map_err(|e| SettingsError(e.to_string()))?;
        let mode = match (&settings.alb, settings.oidc()?) {
            (Some(alb), _) => Mode::Alb(AlbVerifier::new(alb, http).map_err(SettingsError)?),
            (None, Some(oidc)) => Mode::Oidc(Oidc::new(oidc, http)),
            (None, None) => return Err(SettingsError("no identity mode".into())),
        };
        let origin = settings.origin()?;
        Ok(Self(Arc::new(Inner {
            directory,
            queue,
            clock,
            alarms,
            ingest: None,
            upload_limits: UploadLimits::default(),
            budgets: None,
            endpoints: EndpointPolicy::default(),
            alarm_rules: Arc::new([]),
            settings,
            origin,
            mode,
        })))
    }

    /// Lets the console take uploads and preview mappings through `ingest`,
    /// within the API's limits. Call before the state is shared.
    pub fn with_ingest(mut self, ingest: Arc<Ingest>, limits: UploadLimits) -> Self {
        let inner = Arc::get_mut(&mut self.0).expect("with_ingest before the state is cloned");
        inner.ingest = Some(ingest);
        inner.upload_limits = limits;
        self
    }

    /// Uploads take their place in the API's `budgets` (a streamed CSV one
    /// of the tenant's streaming uploads, a file read whole its bytes), so
    /// the console and the API together keep the tenant's share. Without
    /// this, console uploads are bounded only by their size limits.
    pub fn with_budgets(mut self, budgets: roster_server::Budgets) -> Self {
        Arc::get_mut(&mut self.0).expect("with_budgets before the state is cloned").budgets = Some(budgets);
        self
    }

    pub fn budgets(&self) -> Option<&roster_server::Budgets> {
        self.0.budgets.as_ref()
    }

    /// Which webhook URLs the console accepts: the API's `[outbox]` rules.
    pub fn with_endpoint_policy(mut self, policy: EndpointPolicy) -> Self {
        Arc::get_mut(&mut self.0).expect("with_endpoint_policy before the state is cloned").endpoints =
            policy;
        self
    }

    /// The configured `[[alarms]]`, for a node without an evaluator.
    pub fn with_alarm_rules(mut self, rules: Arc<[roster_core::alarm::AlarmRule]>) -> Self {
        Arc::get_mut(&mut self.0).expect("with_alarm_rules before the state is cloned").alarm_rules = rules;
        self
    }

    pub fn alarm_rules(&self) -> &[roster_core::alarm::AlarmRule] {
        &self.0.alarm_rules
    }

    pub fn endpoint_policy(&self) -> EndpointPolicy {
        self.0.endpoints
    }

    pub fn ingest(&self) -> Option<&Ingest> {
        self.0.ingest.as_deref()
    }

    pub fn upload_limits(&self) -> UploadLimits {
        self.0.upload_limits
    }

    pub fn directory(&self) -> &dyn Directory {
        self.0.directory.as_ref()
    }

    pub fn queue(&self) -> &dyn Queue {
        self.0.queue.as_ref()
    }

    pub fn alarms(&self) -> Option<&AlarmBoard> {
        self.0.alarms.as_ref()
    }

    pub fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    pub fn settings(&self) -> &ConsoleSettings {
        &self.0.settings
    }

    /// `scheme://host[:port]` of the console, as browsers send it in `Origin`.
    pub fn origin(&self) -> &str {
        &self.0.origin
    }

    pub fn mode(&self) -> &Mode {
        &self.0.mode
    }
}
