//! What a notification is, and which engine events become one, at what level.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use smb_engine::ports::{EngineEvent, Outcome};

use crate::report::escape_html;
use crate::settings::NotifyLevel;

/// One thing to tell the admin and the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Stable snake_case name of the event (`target_disabled`, `account_stopped`, …): see WEBHOOK.md.
    pub kind: &'static str,
    pub level: NotifyLevel,
    /// One human sentence, in Russian, plain text.
    pub text: String,
    /// The event's data, for machines.
    pub fields: BTreeMap<String, Value>,
    pub timestamp: Timestamp,
    /// How many identical notifications were collapsed into this one since the last delivered.
    pub repeated: u64,
}

impl Notification {
    pub fn new(kind: &'static str, level: NotifyLevel, text: impl Into<String>) -> Notification {
        Notification {
            kind,
            level,
            text: text.into(),
            fields: BTreeMap::new(),
            timestamp: Timestamp::now(),
            repeated: 0,
        }
    }

    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Notification {
        self.fields.insert(name.to_owned(), value.into());
        self
    }

    pub fn at(mut self, timestamp: Timestamp) -> Notification {
        self.timestamp = timestamp;
        self
    }

    /// Two notifications with the same key are "the same event" for collapsing: the same kind,
    /// level and fields, except those that change every time for the same cause (a flood wait's
    /// length and end, a delivery's random_id and latency).
    pub fn collapse_key(&self) -> String {
        const VOLATILE: [&str; 4] = ["until", "seconds", "latency_ms", "random_id"];
        let mut key = format!("{}|{}", self.kind, self.level);
        for (name, value) in &self.fields {
            if !VOLATILE.contains(&name.as_str()) {
                key.push('|');
                key.push_str(name);
                key.push('=');
                key.push_str(&value.to_string());
            }
        }
        key
    }

    /// A message set could not be refreshed from its source (Google Sheet, CSV URL, file).
    pub fn message_set_update_failed(set: &str, error: &str) -> Notification {
        Notification::new(
            "message_set_update_failed",
            NotifyLevel::Warning,
            format!("Не удалось обновить набор сообщений «{set}»: {error}"),
        )
        .field("message_set", set)
        .field("error", error)
    }

    /// `sendmessagebot notify test`.
    pub fn test() -> Notification {
        Notification::new(
            "test",
            NotifyLevel::Info,
            "Тестовое уведомление SendMessageBot: канал уведомлений работает.",
        )
    }

    /// The webhook body (schema in WEBHOOK.md).
    pub fn to_json(&self) -> Value {
        json!({
            "schema": 1,
            "source": "sendmessagebot",
            "event": self.kind,
            "level": self.level.as_str(),
            "text": self.text,
            "message": self.text,
            "fields": self.fields,
            "timestamp": self.timestamp.to_string(),
            "repeated": self.repeated,
        })
    }

    /// The admin's Telegram message (HTML).
    pub fn to_telegram_html(&self) -> String {
        let icon = match self.level {
            NotifyLevel::Debug => "🔍",
            NotifyLevel::Info => "ℹ️",
            NotifyLevel::Warning => "⚠️",
            NotifyLevel::Error => "❌",
            NotifyLevel::Critical => "🚨",
        };
        let mut text = format!(
            "{icon} <b>{}</b> · {}\n{}",
            self.level,
            self.kind,
            escape_html(&self.text)
        );
        if self.repeated > 0 {
            text.push_str(&format!("\n<i>(повторялось ещё {} раз)</i>", self.repeated));
        }
        text
    }
}

/// The level an engine event is notified at. A flood wait is a WARNING only from
/// `flood_wait_threshold` up; shorter ones are routine (DEBUG).
pub fn event_level(event: &EngineEvent, flood_wait_threshold: Duration) -> NotifyLevel {
    match event {
        EngineEvent::Delivered { .. }
        | EngineEvent::CycleStarted { .. }
        | EngineEvent::ChatPaused { .. }
        | EngineEvent::ChatHeld { .. } => NotifyLevel::Debug,
        EngineEvent::Started { .. }
        | EngineEvent::Stopped
        | EngineEvent::CycleCompleted { .. }
        | EngineEvent::TargetEnabled { .. } => NotifyLevel::Info,
        EngineEvent::AccountPaused { seconds, .. } => {
            if Duration::from_secs(*seconds) >= flood_wait_threshold {
                NotifyLevel::Warning
            } else {
                NotifyLevel::Debug
            }
        }
        EngineEvent::TargetDisabled { .. }
        | EngineEvent::AccountRefusedHere { .. }
        | EngineEvent::ChatMigrated { .. }
        | EngineEvent::BadContent { .. }
        | EngineEvent::VariantRetired { .. }
        | EngineEvent::PostsRemoved { .. }
        | EngineEvent::ClockStepped { .. } => NotifyLevel::Warning,
        EngineEvent::StoreFailed { .. } => NotifyLevel::Error,
        EngineEvent::JournalDown { .. } => NotifyLevel::Critical,
        EngineEvent::JournalUp { .. } => NotifyLevel::Warning,
        EngineEvent::AccountStopped { .. } => NotifyLevel::Critical,
    }
}

/// The notification for an engine event, at `level` (from [`event_level`]).
/// Times in the texts are local to `tz` (the fields stay UTC).
pub fn from_event(
    event: &EngineEvent,
    level: NotifyLevel,
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Notification {
    let n = match event {
        EngineEvent::Started { broadcasters, accounts } => Notification::new(
            "daemon_started",
            level,
            format!("Демон запущен: рассылок {broadcasters}, аккаунтов {accounts}."),
        )
        .field("broadcasters", *broadcasters as u64)
        .field("accounts", *accounts as u64),
        EngineEvent::Stopped => Notification::new("daemon_stopped", level, "Демон остановлен."),
        EngineEvent::CycleStarted { broadcaster, cycle, targets } => Notification::new(
            "cycle_started",
            level,
            format!("Рассылка «{broadcaster}»: начат цикл {cycle}, чатов {targets}."),
        )
        .field("broadcaster", broadcaster.as_str())
        .field("cycle", *cycle)
        .field("targets", *targets as u64),
        EngineEvent::CycleCompleted { broadcaster, cycle, sent, failed } => Notification::new(
            "cycle_completed",
            level,
            format!(
                "Рассылка «{broadcaster}»: цикл {cycle} завершён, отправлено {sent}, ошибок {failed}."
            ),
        )
        .field("broadcaster", broadcaster.as_str())
        .field("cycle", *cycle)
        .field("sent", *sent)
        .field("failed", *failed),
        EngineEvent::Delivered { broadcaster, account, target, random_id, outcome, latency } => {
            let mut n = Notification::new(
                "delivery",
                level,
                format!(
                    "Рассылка «{broadcaster}», аккаунт {account}, чат {target}: {}.",
                    outcome.status()
                ),
            )
            .field("broadcaster", broadcaster.as_str())
            .field("account", account.as_str())
            .field("target", target.as_str())
            .field("random_id", *random_id)
            .field("outcome", outcome.status().as_str())
            .field("latency_ms", latency.as_millis() as u64);
            if let Outcome::Failed { class, code, .. } | Outcome::Deferred { class, code, .. } =
                outcome
            {
                n = n.field("class", class.as_str()).field("code", code.as_str());
            }
            n
        }
        EngineEvent::AccountPaused { account, until, seconds, code } => Notification::new(
            "account_paused",
            level,
            format!(
                "Аккаунт {account}: Telegram требует паузу {seconds} с ({code}), отправка возобновится в {until}."
            ),
        )
        .field("account", account.as_str())
        .field("seconds", *seconds)
        .field("code", code.as_str())
        .field("until", until.to_string()),
        EngineEvent::ChatHeld { target, reason, until, .. } => Notification::new(
            "chat_held",
            level,
            format!(
                "Чат {target} пропущен по его правилам: {}.",
                reason.words(smb_domain::Lang::Ru, &jiff::tz::TimeZone::UTC)
            ),
        )
        .field("target", target.as_str())
        .field("until", until.to_string()),
        EngineEvent::ChatPaused { account, target, until, seconds } => Notification::new(
            "chat_paused",
            level,
            format!("Аккаунт {account}, чат {target}: медленный режим, пауза {seconds} с."),
        )
        .field("account", account.as_str())
        .field("target", target.as_str())
        .field("seconds", *seconds)
        .field("until", until.to_string()),
        EngineEvent::AccountStopped { account, reason } => Notification::new(
            "account_stopped",
            level,
            format!(
                "Аккаунт {account} остановлен: {reason}. Его рассылки не идут; проверьте аккаунт и войдите заново (`sendmessagebot accounts login {account}`)."
            ),
        )
        .field("account", account.as_str())
        .field("reason", reason.to_string()),
        EngineEvent::TargetDisabled { target, reason } => Notification::new(
            "target_disabled",
            level,
            format!("Чат {target} отключён: {reason}."),
        )
        .field("target", target.as_str())
        .field("reason", reason.as_str()),
        EngineEvent::TargetEnabled { target } => Notification::new(
            "target_enabled",
            level,
            format!("Чат {target} снова включён. / The chat {target} is on again."),
        )
        .field("target", target.as_str()),
        EngineEvent::AccountRefusedHere {
            account,
            target,
            reason,
            code,
            until,
        } => {
            // Local time with the zone (QA F2: it was raw UTC with nanoseconds); the Russian
            // half says the reason in Russian, from Telegram's code.
            let at = smb_domain::local_minute(*until, tz);
            let ru = smb_domain::account_refusal_words(code, reason, smb_domain::Lang::Ru);
            Notification::new(
                "account_refused_here",
                level,
                format!(
                    "Аккаунт {account} не может писать в {target}: {ru}. Остальные аккаунты пишут туда дальше; {account} пропускает этот чат до {at}. / Account {account} may not post in {target}: {reason}. The other accounts go on; {account} skips it until {at}."
                ),
            )
            .field("account", account.as_str())
            .field("target", target.as_str())
            .field("reason", reason.as_str())
            .field("code", code.as_str())
            .field("until", smb_domain::rfc3339_seconds(*until))
        }
        EngineEvent::ChatMigrated { account, target, new_id } => Notification::new(
            "chat_migrated",
            level,
            format!(
                "Группа {target} преобразована в супергруппу {new_id}: посты идут туда (аккаунт {account}). Замените {target} на {new_id} в конфигурации; статистика старого id считается под новым. / The group {target} was upgraded to the supergroup {new_id}: posts go there now. Replace {target} with {new_id} in the configuration."
            ),
        )
        .field("account", account.as_str())
        .field("target", target.as_str())
        .field("new_id", *new_id),
        EngineEvent::VariantRetired {
            set,
            winner,
            loser,
            p_value,
            version,
        } => Notification::new(
            "variant_retired",
            level,
            format!(
                "A/B-тест набора «{set}»: вариант {winner} лучше {loser} (p = {p_value:.4}); вариант {loser} выключен, версия {version}. / A/B test of set `{set}`: variant {winner} beats {loser} (p = {p_value:.4}); {loser} is now inactive (version {version}; `messages history {set}` / `messages restore` undo it)."
            ),
        )
        .field("set", set.as_str())
        .field("winner", winner.as_str())
        .field("loser", loser.as_str())
        .field("p_value", *p_value)
        .field("version", *version),
        EngineEvent::PostsRemoved {
            broadcaster,
            target,
            removed_in_row,
            disabled,
        } => {
            let (ru, en) = if *disabled {
                (
                    " Чат отключён (disable_when_removed = true); включите его, когда договоритесь с админами.",
                    " The chat was disabled (disable_when_removed = true); enable it once the admins agree.",
                )
            } else {
                (
                    " Решите, оставить ли чат в списке.",
                    " Decide whether to keep the chat in the list.",
                )
            };
            Notification::new(
                "posts_removed",
                level,
                format!(
                    "Рассылка «{broadcaster}»: админы чата {target} удаляют наши посты ({removed_in_row} подряд).{ru} / Broadcaster `{broadcaster}`: the admins of {target} are removing our posts ({removed_in_row} in a row).{en}"
                ),
            )
            .field("broadcaster", broadcaster.as_str())
            .field("target", target.as_str())
            .field("removed_in_row", u64::from(*removed_in_row))
            .field("disabled", *disabled)
        }
        EngineEvent::BadContent { broadcaster, code } => Notification::new(
            "bad_content",
            level,
            format!("Рассылка «{broadcaster}»: Telegram отклонил текст сообщения ({code})."),
        )
        .field("broadcaster", broadcaster.as_str())
        .field("code", code.as_str()),
        EngineEvent::StoreFailed { detail } => Notification::new(
            "store_failed",
            level,
            format!("Ошибка базы данных: {detail}."),
        )
        .field("detail", detail.as_str()),
        EngineEvent::JournalDown { detail } => Notification::new(
            "journal_down",
            level,
            format!(
                "Журнал доставок не принимает записи ({detail}). Отправка остановлена для всех аккаунтов и возобновится сама, когда запись снова удастся."
            ),
        )
        .field("detail", detail.as_str()),
        EngineEvent::JournalUp { down_for } => Notification::new(
            "journal_up",
            level,
            format!(
                "Журнал доставок снова принимает записи (перерыв {} с); отправка возобновлена.",
                down_for.as_secs()
            ),
        )
        .field("down_for_s", down_for.as_secs()),
        EngineEvent::ClockStepped { seconds } => Notification::new(
            "clock_stepped",
            level,
            format!(
                "Системные часы {} на {} с. Паузы между отправками отсчитываются по монотонным часам и не изменились; расписание (тихие часы, начало дня, отчёты) идёт по новому времени.",
                if *seconds < 0 { "переведены назад" } else { "переведены вперёд" },
                seconds.unsigned_abs()
            ),
        )
        .field("seconds", *seconds),
    };
    n.at(now)
}

#[cfg(test)]
mod refused_here_tests {
    use super::*;

    /// QA F2: the re-check was raw UTC with nanoseconds inside the sentence, and the Russian
    /// half embedded the English reason.
    #[test]
    fn a_refusal_for_one_account_says_the_recheck_in_local_time_and_russian_in_russian() {
        let event = EngineEvent::AccountRefusedHere {
            account: "acc1".into(),
            target: "@shared".into(),
            reason: "CHAT_WRITE_FORBIDDEN: the account may not post here (restricted, banned, not a member or no rights)".into(),
            code: "CHAT_WRITE_FORBIDDEN".into(),
            until: "2026-12-01T16:36:00.123456789Z".parse().unwrap(),
        };
        let tz = jiff::tz::TimeZone::get("Europe/Moscow").unwrap();
        let n = from_event(&event, NotifyLevel::Warning, Timestamp::UNIX_EPOCH, &tz);
        assert!(n.text.contains("до 2026-12-01 19:36 MSK"), "{}", n.text);
        assert!(!n.text.contains("16:36:00"), "{}", n.text);
        let (ru, en) = n.text.split_once(" / ").unwrap();
        assert!(!ru.contains("may not post"), "{ru}");
        assert!(ru.contains("аккаунту нельзя писать здесь"), "{ru}");
        assert!(en.contains("may not post here"), "{en}");
        assert_eq!(n.fields["until"], json!("2026-12-01T16:36:00Z"));
        assert_eq!(n.fields["code"], json!("CHAT_WRITE_FORBIDDEN"));
    }
}
