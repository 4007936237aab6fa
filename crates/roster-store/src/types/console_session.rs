//! Sessions of the admin console: who signed in, kept server-side and found
//! by the hash of the cookie's secret (like an API key), never by the secret.

use roster_core::Timestamp;

/// A session to store at sign-in.
#[derive(Clone, PartialEq, Eq)]
pub struct NewConsoleSession {
    /// SHA-256 of the cookie's secret.
    pub hash: [u8; 32],
    /// The identity provider's subject (`sub`).
    pub subject: String,
    /// What the console shows for the person (e-mail or name).
    pub display_name: String,
    /// The provider's groups at sign-in; the console maps them to roles on
    /// every request, so a changed mapping holds at once.
    pub groups: Vec<String>,
    pub created_at: Timestamp,
    /// The absolute timeout: the session ends then, however active.
    pub expires_at: Timestamp,
}

/// A stored session, as a use finds it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub subject: String,
    pub display_name: String,
    pub groups: Vec<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

// Personal data (name, groups) stays out of logs: Debug shows the times only.
impl std::fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConsoleSession")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
