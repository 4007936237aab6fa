use clap::Subcommand;
use serde_json::Value;

use crate::client::{Client, ServerArgs};
use crate::output::{OutputArgs, Table};

#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// Lists people, ordered by external id; the filters must all match.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        filter: PeopleFilterArgs,
        /// How many at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Shows one person as JSON.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The person's external id (as the HR system sends it).
        external_id: String,
        /// Include every version.
        #[arg(long)]
        history: bool,
    },
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct PeopleFilterArgs {
    /// Only people with this status.
    #[arg(long, value_parser = ["pending", "active", "inactive"])]
    pub status: Option<String>,
    /// Only people who belong to this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only people of this department (exact match).
    #[arg(long)]
    pub department: Option<String>,
    /// Only the person with this e-mail address (any case).
    #[arg(long)]
    pub email: Option<String>,
    /// Only people changed at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub updated_since: Option<String>,
}

impl PeopleFilterArgs {
    fn query(&self) -> String {
        query(&[
            ("status", &self.status),
            ("source", &self.source),
            ("department", &self.department),
            ("email", &self.email),
            ("updatedSince", &self.updated_since),
        ])
    }
}

/// `?a=1&b=2` of the parameters given (percent-encoded); empty if none.
pub fn query(params: &[(&str, &Option<String>)]) -> String {
    let parts: Vec<String> =
        params.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencode(v)))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

pub async fn run(cmd: PeopleCommand) -> anyhow::Result<()> {
    match cmd {
        PeopleCommand::Ls { server, filter, limit, out } => {
            let client = Client::new(&server)?;
            let items = client.list(&format!("/v1/people{}", filter.query()), limit).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&["EXTERNAL ID", "NAME", "DEPARTMENT", "STATUS", "SOURCE", "VERSION"])
                .numeric(&[5]);
            for p in &items {
                table.row([
                    text(&p["externalId"]),
                    display_name(p),
                    text(&p["department"]),
                    text(&p["status"]),
                    text(&p["source"]),
                    p["version"].to_string(),
                ]);
            }
            table.print();
            eprintln!("{} people", items.len());
        }
        PeopleCommand::Show { server, external_id, history } => {
            let client = Client::new(&server)?;
            let path = format!(
                "/v1/people/{}{}",
                urlencode(&external_id),
                if history { "?history=true" } else { "" }
            );
            println!("{}", serde_json::to_string_pretty(&client.get_json(&path).await?)?);
        }
    }
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_owned()
}

fn display_name(p: &Value) -> String {
    if let Some(d) = p["displayName"].as_str() {
        return d.to_owned();
    }
    let given = p["name"]["givenName"].as_str().unwrap_or("");
    let family = p["name"]["familyName"].as_str().unwrap_or("");
    let full = format!("{given} {family}").trim().to_owned();
    if full.is_empty() { "-".into() } else { full }
}

/// Percent-encodes a path or query component.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
