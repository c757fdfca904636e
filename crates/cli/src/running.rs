//! The running state: the configuration plus what the store adds to it — the stored versions
//! of message sets, the target lists chosen by `targets switch`, the targets added from the
//! dashboard or the API. Every command that plans or sends (`run`, a reload, `run --dry-run`,
//! `stats`, `broadcasters test`, `broadcasters list`) and the dashboard's catalog start from
//! [`load`], so they all see what the daemon sends.

use std::time::Duration;

use jiff::Timestamp;
use smb_engine::planner::{Planner, PlannerSettings};

use crate::config::Settings;

/// The settings as the daemon runs them, and the stored versions it applied.
#[derive(Debug, Clone)]
pub struct Running {
    /// The configuration with the store's additions applied.
    pub settings: Settings,
    /// `(set, version)` of every message set whose stored version replaced the configured texts.
    pub versions: Vec<(String, i64)>,
}

/// Applies, in this order, the newest stored version of each message set, the stored target
/// switches (not with `forced_test`, which is `run --test-mode`: every broadcaster already on
/// its test list) and the targets added at run time, to `settings`.
///
/// Errors: the store cannot be read. A switch that cannot apply is a warning on stderr and in
/// the log; an added target whose list is no longer configured is a warning in the log.
pub async fn load(
    mut settings: Settings,
    store: &dyn smb_store::Journal,
    forced_test: bool,
) -> anyhow::Result<Running> {
    let versions = crate::commands::messages::use_stored_versions(&mut settings, store).await?;
    crate::switch::apply_stored(&mut settings, store, forced_test).await?;
    crate::web::merge_added_targets(&mut settings, store).await?;
    Ok(Running { settings, versions })
}

impl Running {
    /// A planner for these settings (`once`: `run --once` and the dry run), not yet restored
    /// from the journal.
    pub fn planner(&self, once: bool, now: Timestamp) -> anyhow::Result<Planner> {
        planner_for(&self.settings, once, now)
    }

    /// The planner of `run --dry-run`: one cycle of each broadcaster, each starting when the
    /// daemon would start it (after `cycle_delay` from a completed cycle), not at once.
    pub fn plan_planner(&self, now: Timestamp) -> anyhow::Result<Planner> {
        planner_with(&self.settings, true, true, now)
    }
}

/// A planner for `settings` as they are (a reload checks the new configuration with it before
/// the store's additions are applied). A random seed for new random ids; jitter and random rotation
/// come from the broadcasters' names, so the dry run, `stats` and the daemon agree.
/// The chats' rules and the broadcasters' backup accounts are set here, so every command that
/// plans (stats, the dashboard, a test send) holds them as the daemon does.
pub fn planner_for(settings: &Settings, once: bool, now: Timestamp) -> anyhow::Result<Planner> {
    planner_with(settings, once, false, now)
}

fn planner_with(
    settings: &Settings,
    once: bool,
    once_after_cycle_delay: bool,
    now: Timestamp,
) -> anyhow::Result<Planner> {
    let mut planner = Planner::new(
        settings.accounts.clone(),
        settings
            .broadcasters
            .iter()
            .map(|b| b.spec.clone())
            .collect(),
        PlannerSettings {
            once,
            seed: rand::random(),
            recheck_after: Duration::from_secs(24 * 3600),
            once_after_cycle_delay,
        },
        now,
    )?;
    planner.set_chats(smb_engine::ChatSetup {
        rules: settings.chat_rules.clone(),
        backups: settings
            .broadcasters
            .iter()
            .map(|b| (b.spec.name.clone(), b.backup_accounts.clone()))
            .collect(),
        backup_after: settings.backup_after,
    })?;
    Ok(planner)
}
