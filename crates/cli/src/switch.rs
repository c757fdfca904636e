//! The seed's switch_targets: applies the operator's stored choice of target list (prod or
//! test, per broadcaster or for all; `targets switch`) to the configured broadcasters.
//!
//! Precedence: `--test-mode` on the command line (every broadcaster on its test list) >
//! the stored switch > `TEST_MODE` / `test_mode` of the configuration.

use smb_store::{TargetMode, TargetSwitches};

use crate::config::{BroadcasterInfo, Settings};

/// Which list `b` posts to now.
pub fn mode_of(b: &BroadcasterInfo) -> TargetMode {
    if b.test_list.as_deref() == Some(b.target_list.as_str()) && b.target_list != b.prod_list {
        TargetMode::Test
    } else {
        TargetMode::Prod
    }
}

/// Points each broadcaster at the list its switch names; returns a warning per switch that
/// cannot apply (a broadcaster switched to test without a `test_targets` list).
pub fn apply(settings: &mut Settings, switches: &TargetSwitches) -> Vec<String> {
    let mut warnings = Vec::new();
    for b in &mut settings.broadcasters {
        let Some(mode) = switches.mode_of(&b.spec.name) else {
            continue;
        };
        let list = match (mode, &b.test_list) {
            (TargetMode::Prod, _) => b.prod_list.clone(),
            (TargetMode::Test, Some(t)) => t.clone(),
            (TargetMode::Test, None) => {
                warnings.push(format!(
                    "broadcaster {} is switched to test but has no `test_targets` list; it stays on {} \
                     (add test_targets = \"test\" to [broadcasters.{}])",
                    b.spec.name, b.target_list, b.spec.name
                ));
                continue;
            }
        };
        if let Some(targets) = settings.target_lists.get(&list) {
            b.spec.targets = targets.clone();
            b.target_list = list;
        }
    }
    warnings
}

/// Reads the stored switches and applies them unless `--test-mode` forces the test lists.
pub async fn apply_stored(
    settings: &mut Settings,
    store: &dyn smb_store::Journal,
    forced_test: bool,
) -> anyhow::Result<()> {
    if forced_test {
        return Ok(());
    }
    let switches = store.target_switches().await?;
    for w in apply(settings, &switches) {
        tracing::warn!("{w}");
        eprintln!("warning: {w}");
    }
    Ok(())
}
