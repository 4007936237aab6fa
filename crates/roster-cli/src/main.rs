//! `roster`: run the platform, administer tenants, push feeds, read the directory.

use clap::{CommandFactory, Parser, Subcommand};
use roster_app::Role;
use roster_cli::commands::{
    alarms, dlq, endpoints, events, feeds, keys, operators, people, push, serve, sources, tenants, whoami,
};
use roster_cli::config::{self, GlobalArgs, ServeArgs};

#[derive(Debug, Parser)]
#[command(name = "roster", version, about = "HR and user-data feed integration platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `roster serve`: where the data is (as every command that opens the
/// directory takes it) and the server's own flags.
#[derive(Debug, clap::Args)]
struct Serve {
    #[command(flatten)]
    directory: GlobalArgs,
    #[command(flatten)]
    args: ServeArgs,
}

/// `roster operators`: works on the directory itself.
#[derive(Debug, clap::Args)]
struct Operators {
    #[command(flatten)]
    directory: GlobalArgs,
    #[command(subcommand)]
    command: operators::OperatorsCommand,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole platform in this process: HTTP API and consumer workers.
    Serve(Box<Serve>),
    /// Runs a worker node: consumer workers, scheduler, alarm evaluator and
    /// outbox dispatcher, with no public API — only /healthz, /readyz and
    /// /metrics on its --listen address [default: 127.0.0.1:9090].
    Worker(Box<Serve>),
    /// Manages tenants (opens the data directory directly).
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// Sends a feed file (JSON, CSV or SCIM BulkRequest) to a running Roster.
    Push(push::PushArgs),
    /// Configures a tenant's sources: validation mode and deletion threshold.
    #[command(subcommand)]
    Sources(sources::SourcesCommand),
    /// Shows and stores the CSV mapping profile of a source.
    #[command(subcommand)]
    Mappings(sources::MappingsCommand),
    /// Reads people from a running Roster.
    #[command(subcommand)]
    People(people::PeopleCommand),
    /// Reads feeds of a running Roster; approves or rejects halted snapshots.
    #[command(subcommand)]
    Feeds(feeds::FeedsCommand),
    /// Reads the lifecycle events of a running Roster (joiners, movers, leavers).
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Inspects, redrives and purges the dead-letter queue of a running Roster.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Creates, lists and revokes operator keys (cross-tenant administration); works on the data directory.
    Operators(Operators),
    /// Registers, lists and disables webhook endpoints for lifecycle events; their dead letters (needs an admin key).
    #[command(subcommand)]
    Endpoints(endpoints::EndpointsCommand),
    /// Creates, lists and revokes a tenant's API keys (needs an admin key).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Reads a tenant's audit log of administrative actions (needs an admin key).
    #[command(subcommand)]
    Audit(keys::AuditCommand),
    /// Shows the alarms of a running Roster (needs an operator key).
    #[command(subcommand)]
    Alarms(alarms::AlarmsCommand),
    /// Brings the directory's schema to this build's (a deploy step; `serve`
    /// and the admin commands also do it when they start).
    Migrate(GlobalArgs),
    /// Shows the tenant, key, scopes and expiry of the credential in use.
    Whoami(whoami::WhoamiArgs),
    /// Prints a shell completion script: `roster completions bash > /etc/bash_completion.d/roster`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Measures the platform against raw SQLite on this machine (see BENCHMARKS.md).
    Bench(roster_cli::bench::BenchArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(serve) => {
            roster_app::telemetry::init(serve.args.log_level.as_deref().unwrap_or("info"))?;
            // A panic's message may quote request data: only its location is logged.
            roster_server::panic::install_hook();
            serve::run(config::resolve(&serve.directory, &serve.args)?, Role::Serve).await
        }
        Command::Worker(worker) => {
            roster_app::telemetry::init(worker.args.log_level.as_deref().unwrap_or("info"))?;
            roster_server::panic::install_hook();
            serve::run(config::resolve_worker(&worker.directory, &worker.args)?, Role::Worker).await
        }
        command => {
            roster_app::telemetry::init("warn")?;
            match command {
                Command::Tenants(cmd) => tenants::run(cmd).await,
                Command::Push(args) => {
                    let code = push::run(args).await?;
                    if code != push::exit::OK {
                        std::process::exit(code.into());
                    }
                    Ok(())
                }
                Command::Sources(cmd) => sources::run(cmd).await,
                Command::Mappings(cmd) => sources::run_mappings(cmd).await,
                Command::People(cmd) => people::run(cmd).await,
                Command::Feeds(cmd) => feeds::run(cmd).await,
                Command::Events(cmd) => events::run(cmd).await,
                Command::Dlq(cmd) => dlq::run(cmd).await,
                Command::Alarms(cmd) => alarms::run(cmd).await,
                Command::Keys(cmd) => keys::run(cmd).await,
                Command::Endpoints(cmd) => endpoints::run(cmd).await,
                Command::Operators(o) => operators::run(&o.directory, o.command).await,
                Command::Audit(cmd) => keys::run_audit(cmd).await,
                Command::Bench(args) => roster_cli::bench::run(args).await,
                Command::Migrate(directory) => {
                    let settings = config::resolve(&directory, &ServeArgs::default())?;
                    println!("{}", roster_app::migrate(&settings).await?);
                    Ok(())
                }
                Command::Whoami(args) => whoami::run(args).await,
                Command::Completions { shell } => {
                    clap_complete::generate(shell, &mut Cli::command(), "roster", &mut std::io::stdout());
                    Ok(())
                }
                Command::Serve(_) | Command::Worker(_) => unreachable!("handled above"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The directory's flags (`--data-dir`, `--config`, `--store`,
    /// `--database-url`) belong to the commands that open it; a client
    /// command, talking to a server, does not list them.
    #[test]
    fn only_the_commands_that_open_the_directory_take_its_flags() {
        const DIRECTORY: [&str; 4] = ["data_dir", "config", "store", "database_url"];
        fn find<'a>(cmd: &'a clap::Command, path: &[&str]) -> &'a clap::Command {
            path.iter().fold(cmd, |c, name| c.find_subcommand(name).unwrap_or_else(|| panic!("no {name}")))
        }
        let root = Cli::command();
        let takes = |path: &[&str]| {
            let cmd = find(&root, path);
            DIRECTORY.iter().filter(|id| cmd.get_arguments().any(|a| a.get_id() == **id)).count()
        };
        for path in [&["serve"][..], &["worker"], &["tenants", "create"], &["operators"], &["migrate"]] {
            assert_eq!(takes(path), 4, "{path:?} opens the directory");
        }
        for path in [
            &["people", "ls"][..],
            &["push"],
            &["tenants", "ls"],
            &["feeds", "ls"],
            &["whoami"],
            &["dlq", "ls"],
        ] {
            assert_eq!(takes(path), 0, "{path:?} is a client command");
        }
        // Where users put them: after the subcommand, also under `operators`.
        Cli::try_parse_from(["roster", "operators", "create", "ops", "--data-dir", "/tmp/x"])
            .expect("parses");
        Cli::try_parse_from(["roster", "serve", "--data-dir", "/tmp/x", "--listen", "127.0.0.1:0"])
            .expect("parses");
        assert!(Cli::try_parse_from(["roster", "people", "ls", "--data-dir", "/tmp/x"]).is_err());
    }

    /// Every subcommand says what it does and every argument what it takes:
    /// `roster X --help` is the reference a newcomer reads.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "roster", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    /// Every command that lists (its help says "Lists") takes `--json`, so a
    /// script never has to parse a table.
    #[test]
    fn every_list_takes_json() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                let lists = sub.get_about().is_some_and(|a| a.to_string().starts_with("Lists"));
                if lists && !sub.get_arguments().any(|a| a.get_long() == Some("json")) {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "roster", &mut missing);
        assert!(missing.is_empty(), "lists without --json: {missing:#?}");
    }
}
