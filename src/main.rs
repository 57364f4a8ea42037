//! `crm`: one binary for every role. This file is the CLI and the wiring; the
//! work lives in the library crates.

mod roles;

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use crm_domain::auth::{TokenScope, hash_password};
use crm_domain::email::normalize_email;
use crm_domain::ids::{RoleId, TokenId};
use crm_runtime::Config;
use crm_runtime::config::LogFormat;
use crm_store::{NewUser, StoreError};
use crm_tools::{bench, simulate};

#[derive(Parser)]
#[command(
    name = "crm",
    version,
    about = "CRM automation platform: intake, pipeline, inbox, broadcasts"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// API, workers and scheduler in one process (the default).
    Serve,
    /// HTTP only: webhooks, intake, JSON API, event stream (scale-out).
    Api,
    /// Job workers only (scale-out).
    Worker,
    /// Cron table only; several replicas elect one leader (scale-out).
    Scheduler,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage dashboard users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Play Meta locally: a Graph API stand-in and signed webhooks at a target.
    Simulate(simulate::SimulateArgs),
    /// Measure intake, drain and end-to-end latency against baselines.
    Bench(bench::BenchArgs),
    /// A baseline server for `crm bench`, in a process of its own.
    #[command(hide = true)]
    BenchBaseline(bench::BaselineArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        email: String,
        /// A role id: admin, manager, sales, operations, or one an admin made.
        #[arg(long, default_value = "sales")]
        role: String,
        /// The user's name as colleagues see it.
        #[arg(long)]
        name: Option<String>,
    },
    /// Disable a user: their sessions end and their tokens stop working at once.
    Disable { email: String },
    /// Print a one-time link that lets the user set a new password (valid 24 hours).
    Reset { email: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (only the token, on stdout).
    Create {
        name: String,
        /// Owner of the token (it acts with the user's role); without it, a
        /// service token.
        #[arg(long)]
        user: Option<String>,
        /// `full` (the role's permissions), `intake` (post leads only: what a
        /// web form or partner embeds) or `metrics` (scrape /metrics only).
        #[arg(long, default_value = "full")]
        scope: String,
    },
    /// List tokens (never the tokens themselves), newest first.
    List,
    /// Revoke a token by its id (from `crm token list`).
    Revoke { id: String },
}

/// Stderr through `redact::scrub`: whatever a log line holds, phone numbers,
/// e-mail addresses and tokens leave the process masked.
struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(crm_domain::redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CRM_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,apalis=warn,apalis_core=warn,apalis_sqlite=warn,apalis_redis=warn,lapin=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| ScrubbedStderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "crm: configuration error: {}",
                crm_domain::util::error_chain(&e)
            );
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crm: cannot start runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, naming what failed (URLs are masked where they are built).
            eprintln!("crm: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => roles::serve(config).await,
        Command::Api => roles::api(config).await,
        Command::Worker => roles::worker(config).await,
        Command::Scheduler => roles::scheduler(config).await,
        Command::Migrate => {
            let store = roles::open_store(&config).await?;
            let applied = store.migrate().await.context("migrations failed")?;
            eprintln!(
                "migrations applied: {applied:?} (database {})",
                crm_domain::util::mask_url(&config.database_url)
            );
            Ok(())
        }
        Command::User {
            command: UserCommand::Create { email, role, name },
        } => {
            let email = normalize_email(&email)
                .with_context(|| format!("{email:?} is not a valid e-mail address"))?;
            // The old closed set's `agent` is the seeded sales role.
            let role = RoleId::new(match role.trim().to_ascii_lowercase().as_str() {
                "agent" => "sales".to_string(),
                other => other.to_string(),
            });
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                bail!(
                    "no password on stdin (e.g. `echo 'a long passphrase' | crm user create {email} --role admin`)"
                );
            }
            crm_domain::password::check(&password, &[&email, name.as_deref().unwrap_or_default()])
                .context("password refused")?;
            let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
            let store = roles::open_store(&config).await?;
            store.migrate().await?;
            let id = store
                .create_user(NewUser {
                    email: &email,
                    name: name.as_deref(),
                    password_hash: &hash,
                    role: &role,
                    must_change_password: false,
                })
                .await?;
            eprintln!("user {email} created with role {role} (id {id})");
            Ok(())
        }
        Command::User {
            command: UserCommand::Reset { email },
        } => {
            let email = normalize_email(&email)
                .with_context(|| format!("{email:?} is not a valid e-mail address"))?;
            let store = roles::open_store(&config).await?;
            store.migrate().await?;
            let (id, _) = store
                .user_by_email(&email)
                .await
                .with_context(|| format!("no active user {email}"))?;
            let secret = store.issue_password_reset(&id, 24 * 3_600_000).await?;
            store
                .audit(
                    &crm_domain::audit::AuditRecord::new(
                        crm_domain::audit::AuditAction::PasswordResetIssued,
                        "cli",
                    )
                    .target(format!("user:{id}")),
                )
                .await?;
            println!("{}/reset/{secret}", config.dashboard_url());
            Ok(())
        }
        Command::User {
            command: UserCommand::Disable { email },
        } => {
            let email = normalize_email(&email)
                .with_context(|| format!("{email:?} is not a valid e-mail address"))?;
            let store = roles::open_store(&config).await?;
            store.migrate().await?;
            match store.disable_user(&email).await {
                Ok(true) => eprintln!("user {email} disabled; their tokens no longer work"),
                Ok(false) => eprintln!("user {email} was already disabled"),
                Err(StoreError::NotFound) => bail!("no user {email}"),
                Err(e) => return Err(e.into()),
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { name, user, scope },
        } => {
            let scope = TokenScope::parse(&scope)
                .with_context(|| format!("unknown scope {scope:?} (full, intake, metrics)"))?;
            let store = roles::open_store(&config).await?;
            store.migrate().await?;
            let owner = match user {
                Some(u) => {
                    let email = normalize_email(&u)
                        .with_context(|| format!("{u:?} is not a valid e-mail address"))?;
                    let (id, _) = store
                        .user_by_email(&email)
                        .await
                        .with_context(|| format!("no active user {email}"))?;
                    Some(id)
                }
                None => None,
            };
            let (_, token) = store.create_token(&name, owner.as_ref(), scope).await?;
            println!("{token}");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::List,
        } => {
            let store = roles::open_store(&config).await?;
            store.migrate().await?;
            println!(
                "{:<26}  {:<8}  {:<8}  {:<24}  {:<8}  NAME",
                "ID", "SCOPE", "ROLE", "USER", "STATE"
            );
            for t in store.list_tokens(None).await? {
                println!(
                    "{:<26}  {:<8}  {:<8}  {:<24}  {:<8}  {}",
                    t.id,
                    t.scope.as_str(),
                    t.role.as_str(),
                    t.user_email.as_deref().unwrap_or("(service)"),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    t.name
                );
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { id },
        } => {
            let store = roles::open_store(&config).await?;
            store.migrate().await?;
            match store.revoke_token(&TokenId::new(id.trim()), None).await {
                Ok(true) => eprintln!("token {id} revoked"),
                Ok(false) => eprintln!("token {id} was already revoked"),
                Err(StoreError::NotFound) => bail!("no token {id}"),
                Err(e) => return Err(e.into()),
            }
            Ok(())
        }
        Command::Simulate(args) => {
            let secret = config.meta_app_secret.as_ref().map(|s| s.expose());
            simulate::run(args, secret).await
        }
        Command::Bench(args) => {
            let exe = std::env::current_exe().context("locating the crm binary to bench")?;
            bench::run(args, &exe).await
        }
        Command::BenchBaseline(args) => bench::serve_baseline(args, &config.bind).await,
    }
}
