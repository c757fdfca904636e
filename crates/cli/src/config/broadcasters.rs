//! `[broadcasters.NAME]`: an account, a target list (its test list under TEST_MODE), a message
//! set, and the global tunables overridden for this broadcaster. Every name it refers to must
//! be declared; a schedule that never opens is refused.

use std::collections::BTreeMap;

use smb_domain::{QuietHours, Schedule, TargetRef};
use smb_engine::planner::{BroadcasterSpec, Content};
use toml::Spanned;

use super::globals::{Globals, apply_tunables};
use super::located::Ctx;
use super::messages::Sets;
use super::schema::{AccountSection, BroadcasterSection};
use super::{BroadcasterInfo, ConfigError, Overrides};

/// What a broadcaster refers to, declared elsewhere in the file.
pub(super) struct Declared<'a> {
    pub(super) accounts: &'a BTreeMap<String, AccountSection>,
    pub(super) target_lists: &'a BTreeMap<String, Vec<TargetRef>>,
    pub(super) sets: &'a Sets,
}

/// The enabled broadcasters, by name.
pub(super) fn section(
    ctx: &Ctx,
    sections: &BTreeMap<String, BroadcasterSection>,
    declared: &Declared,
    g: &Globals,
    test_mode: bool,
    cli: &Overrides,
) -> Result<Vec<BroadcasterInfo>, ConfigError> {
    sections
        .iter()
        .filter(|(_, b)| b.enabled)
        .map(|(name, b)| one(ctx, name, b, declared, g, test_mode, cli))
        .collect()
}

fn one(
    ctx: &Ctx,
    bname: &str,
    b: &BroadcasterSection,
    declared: &Declared,
    g: &Globals,
    test_mode: bool,
    cli: &Overrides,
) -> Result<BroadcasterInfo, ConfigError> {
    let key = |k: &str| format!("broadcasters.{bname}.{k}");
    let account = b.account.get_ref();
    if !declared.accounts.contains_key(account) {
        return Err(ctx.at(
            &b.account,
            key("account"),
            format!("unknown account `{account}`; declare it as [accounts.{account}]"),
        ));
    }
    let list_ref = if test_mode {
        b.test_targets.as_ref().ok_or_else(|| {
            ctx.at(
                &b.targets,
                key("test_targets"),
                "TEST_MODE is on but this broadcaster has no `test_targets` list; add one",
            )
        })?
    } else {
        &b.targets
    };
    for l in std::iter::once(&b.targets).chain(b.test_targets.iter()) {
        known_list(ctx, declared, l, &key("targets"))?;
    }
    let Some((set, content)) = declared.sets.get(b.messages.get_ref()) else {
        let known: Vec<&str> = declared.sets.keys().map(String::as_str).collect();
        return Err(ctx.at(
            &b.messages,
            key("messages"),
            format!(
                "unknown message set `{}` (known: {}); declare it as [messages.{}]",
                b.messages.get_ref(),
                known.join(", "),
                b.messages.get_ref()
            ),
        ));
    };
    let mut backup_accounts = Vec::new();
    if let Some(list) = &b.backup_accounts {
        for name in list.get_ref() {
            if !declared.accounts.contains_key(name) {
                return Err(ctx.at(
                    list,
                    key("backup_accounts"),
                    format!("unknown account `{name}`; declare it as [accounts.{name}]"),
                ));
            }
            if name == account {
                return Err(ctx.at(
                    list,
                    key("backup_accounts"),
                    format!(
                        "`{name}` is this broadcaster's own account; a backup is another account — remove `{name}` from backup_accounts"
                    ),
                ));
            }
            if backup_accounts.contains(name) {
                return Err(ctx.at(
                    list,
                    key("backup_accounts"),
                    format!("`{name}` is listed twice; list each backup account once"),
                ));
            }
            backup_accounts.push(name.clone());
        }
    }
    let mut local = g.clone();
    apply_tunables(ctx, &b.tunables(), &key(""), &mut local)?;
    let schedule = schedule(ctx, bname, &local, cli)?;
    let targets = declared
        .target_lists
        .get(list_ref.get_ref())
        .cloned()
        .unwrap_or_default();
    Ok(BroadcasterInfo {
        spec: BroadcasterSpec {
            name: bname.to_owned(),
            account: account.clone(),
            targets,
            messages: set.clone(),
            rotation: b.rotation.unwrap_or_default(),
            pacing: local.pacing,
            schedule,
            content: Content {
                text_without_media: b.send_text_without_media.unwrap_or(false),
                disable_after_failures: local.disable_after_failures,
                post_mode: b.post_mode.unwrap_or_default(),
                pin: b.pin.unwrap_or(false),
                on_update: b.on_update.unwrap_or_default(),
                removed_posts_flag: b
                    .removed_posts_flag
                    .unwrap_or(smb_engine::DEFAULT_REMOVED_POSTS_FLAG),
                disable_when_removed: b.disable_when_removed.unwrap_or(false),
                ..content.clone()
            },
        },
        target_list: list_ref.get_ref().clone(),
        test_list: b.test_targets.as_ref().map(|t| t.get_ref().clone()),
        prod_list: b.targets.get_ref().clone(),
        backup_accounts,
    })
}

fn known_list(
    ctx: &Ctx,
    declared: &Declared,
    list: &Spanned<String>,
    key: &str,
) -> Result<(), ConfigError> {
    if declared.target_lists.contains_key(list.get_ref()) {
        return Ok(());
    }
    let known: Vec<&str> = declared.target_lists.keys().map(String::as_str).collect();
    Err(ctx.at(
        list,
        key,
        format!(
            "unknown target list `{}` (known: {}); declare it under [targets]",
            list.get_ref(),
            known.join(", ")
        ),
    ))
}

/// The broadcaster's schedule (none with `--ignore-quiet-hours`); one that leaves no hour to
/// send in is refused.
fn schedule(
    ctx: &Ctx,
    bname: &str,
    local: &Globals,
    cli: &Overrides,
) -> Result<Schedule, ConfigError> {
    if cli.ignore_quiet_hours {
        return Ok(Schedule {
            tz: local.tz.clone(),
            start_hour: None,
            quiet: None,
        });
    }
    let (start, end) = local.quiet;
    let schedule = Schedule {
        tz: local.tz.clone(),
        start_hour: local.scheduling.then_some(local.start_hour),
        quiet: (local.quiet_enabled && start != end).then_some(QuietHours { start, end }),
    };
    if schedule.never_allows() {
        return Err(ctx.key(
            format!("broadcasters.{bname}"),
            format!(
                "start hour {} and quiet hours {start}–{end} leave no hour to send in; change START_TIME_HOUR or QUIET_HOUR_START/END",
                local.start_hour
            ),
        ));
    }
    Ok(schedule)
}

/// The warning `check` gives (and `run` logs) for a broadcaster with `on_update = "edit"`:
/// read and validated, but editing this cycle's posts when a new version arrives is not built
/// yet, so a new version applies from the next cycle (as `on_update = "next"`). `post_mode`
/// and `pin` are carried out (the follow-up journal, docs/posts.md). `None` otherwise.
pub fn on_update_pending(spec: &BroadcasterSpec) -> Option<String> {
    if spec.content.on_update == smb_domain::OnUpdate::Next {
        return None;
    }
    Some(format!(
        "broadcaster {}: on_update = \"{}\" is not carried out yet: a new message-set version applies from the next cycle, as on_update = \"next\"",
        spec.name, spec.content.on_update
    ))
}

#[cfg(test)]
mod post_mode_tests {
    use super::super::{EnvVars, Overrides, parse};
    use smb_domain::{OnUpdate, PostMode};

    fn config(extra: &str) -> String {
        format!(
            "[accounts.acc1]\n[targets]\nt = [\"@shop_chat\"]\n[messages.m]\ntexts = [\"hi\"]\n\
             [broadcasters.a]\naccount = \"acc1\"\ntargets = \"t\"\nmessages = \"m\"\n\
             [broadcasters.b]\naccount = \"acc1\"\ntargets = \"t\"\nmessages = \"m\"\n{extra}"
        )
    }

    fn load(extra: &str) -> Result<super::super::Settings, String> {
        parse(
            "sendmessagebot.toml",
            &config(extra),
            &EnvVars::from_pairs(&[]),
            &Overrides::default(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn post_mode_pin_and_on_update_reach_the_broadcaster_and_default_to_todays_behaviour() {
        let s = load("post_mode = \"replace\"\npin = true\non_update = \"edit\"\n").expect("valid");
        let got: Vec<_> = s
            .broadcasters
            .iter()
            .map(|b| {
                let c = &b.spec.content;
                (b.spec.name.as_str(), c.post_mode, c.pin, c.on_update)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", PostMode::New, false, OnUpdate::Next),
                ("b", PostMode::Replace, true, OnUpdate::Edit),
            ]
        );
        assert_eq!(super::on_update_pending(&s.broadcasters[0].spec), None);
        let w = super::on_update_pending(&s.broadcasters[1].spec).expect("a warning");
        assert!(
            w.contains("broadcaster b")
                && w.contains("on_update = \"edit\" is not carried out yet")
                && !w.contains("post_mode"),
            "{w}"
        );
        // post_mode and pin are carried out: no warning for them.
        let s = load("post_mode = \"edit\"\npin = true\n").expect("valid");
        assert_eq!(s.broadcasters[1].spec.content.post_mode, PostMode::Edit);
        assert_eq!(super::on_update_pending(&s.broadcasters[1].spec), None);
    }

    #[test]
    fn a_wrong_word_is_named_with_its_file_line_and_the_accepted_words() {
        // Line 14 of the file: the key after the 13 lines of `config`.
        let err = load("post_mode = \"delete\"\n").unwrap_err();
        assert!(
            err.contains("sendmessagebot.toml:14")
                && err.contains("delete")
                && err.contains("new")
                && err.contains("replace")
                && err.contains("edit"),
            "{err}"
        );
        let err = load("on_update = \"now\"\n").unwrap_err();
        assert!(
            err.contains("sendmessagebot.toml:14") && err.contains("next"),
            "{err}"
        );
        let err = load("pin = \"yes\"\n").unwrap_err();
        assert!(
            err.contains("sendmessagebot.toml:14") && err.contains("pin"),
            "{err}"
        );
    }
}
