//! What every console handler can reach: the platform's ports, the checked
//! settings and the identity mode.

use std::sync::Arc;

use roster_core::{Clock, Timestamp};
use roster_engine::AlarmBoard;
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
    settings: ConsoleSettings,
    origin: String,
    mode: Mode,
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
        Ok(Self(Arc::new(Inner { directory, queue, clock, alarms, settings, origin, mode })))
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
