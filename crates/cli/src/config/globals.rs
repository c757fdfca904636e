//! The `[settings]` table and the seed's schedule variables: pacing, schedule and time zone,
//! resolved in order defaults < `[settings]` < `.env`/environment, then per broadcaster its own
//! table on top ([`apply_tunables`] with the broadcaster's prefix).

use std::time::Duration;

use jiff::tz::TimeZone;
use smb_domain::{Jitter, Pacing};
use toml::Spanned;

use super::ConfigError;
use super::duration::DurationValue;
use super::env::EnvVars;
use super::located::Ctx;
use super::schema::{GlobalSection, Tunables};

/// The resolved global values (after file and environment).
#[derive(Clone)]
pub(super) struct Globals {
    pub(super) pacing: Pacing,
    pub(super) scheduling: bool,
    pub(super) start_hour: u8,
    pub(super) quiet_enabled: bool,
    pub(super) quiet: (u8, u8),
    pub(super) tz: TimeZone,
    pub(super) disable_after_failures: u32,
}

pub(super) fn duration_at(
    ctx: &Ctx,
    v: &Spanned<DurationValue>,
    key: &str,
) -> Result<Duration, ConfigError> {
    v.get_ref().get().map_err(|m| ctx.at(v, key, m))
}

fn hour_at(ctx: &Ctx, v: &Spanned<u8>, key: &str) -> Result<u8, ConfigError> {
    if *v.get_ref() < 24 {
        Ok(*v.get_ref())
    } else {
        Err(ctx.at(v, key, "expected an hour from 0 to 23"))
    }
}

pub(super) fn tz_named(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name)
        .map_err(|_| format!("unknown time zone `{name}`; use an IANA name such as Europe/Moscow"))
}

pub(super) fn apply_tunables(
    ctx: &Ctx,
    t: &Tunables,
    prefix: &str,
    g: &mut Globals,
) -> Result<(), ConfigError> {
    let k = |name: &str| format!("{prefix}{name}");
    if let Some(v) = &t.delay_between_chats {
        g.pacing.delay_between_chats = duration_at(ctx, v, &k("delay_between_chats"))?;
    }
    if let Some(v) = &t.cycle_delay {
        g.pacing.cycle_delay = duration_at(ctx, v, &k("cycle_delay"))?;
    }
    if let Some(v) = t.max_retries {
        g.pacing.max_retries = v;
    }
    if let Some(v) = &t.retry_delay {
        g.pacing.retry_delay = duration_at(ctx, v, &k("retry_delay"))?;
    }
    if let Some(v) = &t.jitter {
        g.pacing.jitter = Jitter::parse(v.get_ref()).map_err(|m| ctx.at(v, k("jitter"), m))?;
    }
    if let Some(v) = t.enable_scheduling {
        g.scheduling = v;
    }
    if let Some(v) = &t.start_time_hour {
        g.start_hour = hour_at(ctx, v, &k("start_time_hour"))?;
    }
    if let Some(v) = t.enable_quiet_hours {
        g.quiet_enabled = v;
    }
    if let Some(v) = &t.quiet_hour_start {
        g.quiet.0 = hour_at(ctx, v, &k("quiet_hour_start"))?;
    }
    if let Some(v) = &t.quiet_hour_end {
        g.quiet.1 = hour_at(ctx, v, &k("quiet_hour_end"))?;
    }
    if let Some(v) = &t.timezone {
        g.tz = tz_named(v.get_ref()).map_err(|m| ctx.at(v, k("timezone"), m))?;
    }
    if let Some(v) = t.disable_after_failures {
        g.disable_after_failures = v;
    }
    Ok(())
}

pub(super) fn apply_env(env: &EnvVars, g: &mut Globals) -> Result<(), ConfigError> {
    if let Some(v) = env.duration("DELAY_BETWEEN_CHATS")? {
        g.pacing.delay_between_chats = v;
    }
    if let Some(v) = env.duration("CYCLE_DELAY")? {
        g.pacing.cycle_delay = v;
    }
    if let Some(v) = env.u32("MAX_RETRIES")? {
        g.pacing.max_retries = v;
    }
    if let Some(v) = env.u32("DISABLE_AFTER_FAILURES")? {
        g.disable_after_failures = v;
    }
    if let Some(v) = env.duration("RETRY_DELAY")? {
        g.pacing.retry_delay = v;
    }
    if let Some(v) = env.bool("ENABLE_SCHEDULING")? {
        g.scheduling = v;
    }
    if let Some(v) = env.hour("START_TIME_HOUR")? {
        g.start_hour = v;
    }
    if let Some(v) = env.bool("ENABLE_QUIET_HOURS")? {
        g.quiet_enabled = v;
    }
    if let Some(v) = env.hour("QUIET_HOUR_START")? {
        g.quiet.0 = v;
    }
    if let Some(v) = env.hour("QUIET_HOUR_END")? {
        g.quiet.1 = v;
    }
    if let Some((v, _)) = env.get("REPORTS_TIMEZONE") {
        g.tz = tz_named(v.trim()).map_err(|m| env.err("REPORTS_TIMEZONE", m))?;
    }
    Ok(())
}

/// `[settings]`, then the variables over it: the global values, and whether TEST_MODE is on
/// (`[settings] test_mode`, `TEST_MODE`, or `--test-mode`).
pub(super) fn section(
    ctx: &Ctx,
    settings: &GlobalSection,
    env: &EnvVars,
    cli_test_mode: bool,
) -> Result<(Globals, bool), ConfigError> {
    let mut g = Globals {
        pacing: Pacing::default(),
        scheduling: true,
        start_hour: 6,
        quiet_enabled: true,
        quiet: (0, 7),
        tz: tz_named("Europe/Moscow").unwrap_or(TimeZone::UTC),
        disable_after_failures: smb_engine::DEFAULT_DISABLE_AFTER_FAILURES,
    };
    apply_tunables(ctx, &settings.tunables(), "settings.", &mut g)?;
    apply_env(env, &mut g)?;
    let mut test_mode = settings.test_mode.unwrap_or(false);
    if let Some(v) = env.bool("TEST_MODE")? {
        test_mode = v;
    }
    Ok((g, test_mode || cli_test_mode))
}
