//! Dashboard labels in English and Russian. The language comes from `?lang=` (remembered in a
//! cookie), else from `LANG` at start.

use crate::settings::Lang;

macro_rules! labels {
    ($($field:ident: $en:literal, $ru:literal;)*) => {
        /// Every label of the dashboard.
        #[derive(Debug)]
        pub struct Labels { $(pub $field: &'static str,)* }
        pub static EN: Labels = Labels { $($field: $en,)* };
        pub static RU: Labels = Labels { $($field: $ru,)* };
    };
}

labels! {
    title: "SendMessageBot", "SendMessageBot";
    overview: "Overview", "Обзор";
    broadcasters: "Broadcasters", "Рассыльщики";
    targets: "Targets", "Чаты";
    deliveries: "Deliveries", "Доставки";
    message_sets: "Message sets", "Наборы сообщений";
    accounts: "Accounts", "Аккаунты";
    api_docs: "API", "API";
    sent: "sent", "отправлено";
    failed: "failed", "ошибок";
    deferred: "deferred", "отложено";
    pending: "pending", "в процессе";
    send_rate: "Sends per minute, last 24 h", "Отправок в минуту, последние 24 ч";
    paused_accounts: "Paused and stopped accounts", "Аккаунты на паузе и остановленные";
    recent_errors: "Recent errors", "Последние ошибки";
    nothing: "nothing", "нет";
    name: "Name", "Имя";
    account: "Account", "Аккаунт";
    state: "State", "Состояние";
    cycle: "Cycle", "Цикл";
    progress: "Progress", "Прогресс";
    actions: "Actions", "Действия";
    pause: "Pause", "Пауза";
    resume: "Resume", "Продолжить";
    start: "Start", "Запустить";
    stop: "Stop", "Остановить";
    test_send: "Test send", "Тестовая отправка";
    target: "Target", "Чат";
    lists: "Lists", "Списки";
    status: "Status", "Статус";
    reason: "Reason", "Причина";
    recheck: "Re-check", "Перепроверка";
    refused_accounts: "Refused for one account", "Отказ одному аккаунту";
    posts_removed: "Our posts are being removed", "Наши посты удаляют";
    removed_by_admins: "removed by admins (in a row / in all)", "удалено админами (подряд / всего)";
    enable: "Enable", "Включить";
    disable: "Disable", "Отключить";
    add_target: "Add a target to a list", "Добавить чат в список";
    add: "Add", "Добавить";
    list: "List", "Список";
    broadcaster: "Broadcaster", "Рассыльщик";
    outcome: "Outcome", "Результат";
    from: "From", "С";
    to: "To", "По";
    any: "any", "все";
    filter: "Filter", "Показать";
    export_csv: "Export CSV", "Выгрузить CSV";
    export_json: "Export JSON", "Выгрузить JSON";
    prev: "Newer", "Новее";
    next: "Older", "Старше";
    page: "page", "страница";
    of: "of", "из";
    time: "Time", "Время";
    error: "Error", "Ошибка";
    message: "Message", "Сообщение";
    version: "Version", "Версия";
    versions: "Versions", "Версии";
    summary: "Changes", "Изменения";
    source: "Source", "Источник";
    restore: "Restore", "Восстановить";
    update_from_source: "Update from source", "Обновить из источника";
    configured: "from the configuration", "из конфигурации";
    texts: "Texts", "Тексты";
    inactive: "inactive", "неактивно";
    variants: "A/B variants", "A/B-варианты";
    median_reach: "Median reach (posts read)", "Медиана охвата (прочитано постов)";
    no_variants: "No message set has A/B variants (texts with variant = \"A\").", "Ни в одном наборе нет A/B-вариантов (текстов с variant = \"A\").";
    compared_on: "compared on", "сравнение по";
    variant: "Variant", "Вариант";
    posts: "Posts", "Постов";
    measured: "Measured", "Измерено";
    views: "Views: mean [95 %] (median)", "Просмотры: среднее [95 %] (медиана)";
    reactions: "Reactions", "Реакции";
    replies: "Replies", "Ответы";
    ab_verdict: "Verdict (Welch's t-test, 5 % level)", "Вывод (t-тест Уэлча, уровень 5 %)";
    authorized: "Logged in", "Авторизован";
    paused_until: "Paused until", "Пауза до";
    stopped_reason: "Stopped", "Остановлен";
    last_error: "Last error", "Последняя ошибка";
    flood_waits: "Flood waits", "Флуд-паузы";
    yes: "yes", "да";
    no: "no", "нет";
    unknown: "unknown", "неизвестно";
    login: "Log in", "Вход";
    token: "Token (WEB_TOKEN)", "Токен (WEB_TOKEN)";
    login_hint: "Changes need the token set in WEB_TOKEN.", "Для изменений нужен токен из WEB_TOKEN.";
    wrong_token: "Wrong token.", "Неверный токен.";
    live: "live", "онлайн";
    running: "running", "работает";
    paused: "paused", "на паузе";
    stopped: "stopped", "остановлен";
    done: "done", "завершён";
    active: "active", "активен";
    disabled: "disabled", "отключён";
    remaining: "left", "осталось";
    need_login: "Log in to make changes", "Войдите, чтобы вносить изменения";
    check: "Target check", "Проверка чатов";
    check_hint: "Asks Telegram about every chat of the running broadcasters, as each account sees it, without posting: member, may write, may send media, slow mode, forum topic.", "Спрашивает Telegram о каждом чате запущенных рассыльщиков — так, как его видит аккаунт, — ничего не отправляя: участник ли, можно ли писать и слать медиа, медленный режим, тема форума.";
    run_check: "Run the check", "Проверить";
    checking: "Checking", "Идёт проверка";
    checked_at: "Last check", "Последняя проверка";
    not_checked_yet: "Not checked yet.", "Проверки ещё не было.";
    member: "Member", "Участник";
    write: "Write", "Писать";
    media: "Media", "Медиа";
    slow_mode: "Slow mode", "Медленный режим";
    forum_topic: "Forum / topic", "Форум / тема";
    chat_title: "Title", "Название";
    last_posted: "Last post", "Последний пост";
    verdict: "Verdict", "Итог";
    never: "never", "никогда";
    off: "off", "выкл.";
    general: "General", "General (общая тема)";
    topic_open: "topic open", "тема открыта";
    topic_closed: "topic closed", "тема закрыта";
    topic_missing: "topic missing", "темы нет";
    not_a_forum: "not a forum", "не форум";
    ok: "ok", "можно";
    warning: "ok, but", "можно, но";
    blocked: "blocked", "нельзя";
    unchecked: "not checked", "не проверено";
    was: "was", "было";
    held: "Held back by the chat's rules now", "Сейчас придержано правилами чата";
    rule: "Rule", "Правило";
    next_allowed: "Next allowed", "Можно снова";
    cannot_post: "cannot be posted to", "нельзя отправить";
    journal_down: "Sending is stopped for every account: the delivery journal does not take writes. It resumes by itself once a write succeeds again. Cause", "Отправка остановлена для всех аккаунтов: журнал доставок не принимает записи. Она возобновится сама, когда запись снова удастся. Причина";
}

/// The labels of `lang`.
pub fn labels(lang: Lang) -> &'static Labels {
    match lang {
        Lang::En => &EN,
        Lang::Ru => &RU,
    }
}

impl Labels {
    /// A topic state (`open`, `closed`, `missing`, `not_a_forum`) or a check verdict (`ok`,
    /// `warning`, `blocked`, `unchecked`) in words.
    pub fn check_word(&self, word: &str) -> &'static str {
        match word {
            "open" => self.topic_open,
            "closed" => self.topic_closed,
            "missing" => self.topic_missing,
            "not_a_forum" => self.not_a_forum,
            "ok" => self.ok,
            "warning" => self.warning,
            "blocked" => self.blocked,
            _ => self.unchecked,
        }
    }

    /// A broadcaster's or target's state word (`stopped: REASON` keeps its reason).
    pub fn state(&self, state: &str) -> String {
        let (word, rest) = state
            .split_once(": ")
            .map_or((state, None), |(w, r)| (w, Some(r)));
        let w = match word {
            "running" => self.running,
            "paused" => self.paused,
            "stopped" => self.stopped,
            "done" => self.done,
            "active" => self.active,
            "disabled" => self.disabled,
            "sent" => self.sent,
            "failed" => self.failed,
            "deferred" => self.deferred,
            "pending" => self.pending,
            other => return other.to_string(),
        };
        match rest {
            Some(r) => format!("{w}: {r}"),
            None => w.to_string(),
        }
    }
}
