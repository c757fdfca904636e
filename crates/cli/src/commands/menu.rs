//! `menu` (and `sendmessagebot` with no command on a terminal): the original's `python run.py`,
//! fourteen numbered items, each running the same code as its subcommand (the item builds the
//! subcommand's command line and dispatches it). Arrow keys or the item's number, then Enter;
//! Esc leaves. Russian when the locale (LC_ALL, LC_MESSAGES, LANG) starts with `ru`.
//!
//! The mode — real Telegram or the sandbox — is chosen once: `menu --sandbox` or
//! `SMB_SANDBOX=1`; every item then uses it (the sandbox database, daemon and ledger).

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use inquire::{Confirm, CustomType, InquireError, Select, Text};

use crate::Cli;
use crate::config::Overrides;
use crate::context;
use crate::daemon::control::{self, Cmd};
use crate::daemon::{DaemonPaths, detach};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Every item works on the sandbox (simulated Telegram, data/sandbox/).
    #[arg(long, env = "SMB_SANDBOX")]
    pub sandbox: bool,
}

/// A terminal to draw the menu on and read keys from.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Russian or English, from the locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    pub fn from_env() -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        if locale.to_ascii_lowercase().starts_with("ru") {
            Lang::Ru
        } else {
            Lang::En
        }
    }

    fn t(self, en: &'static str, ru: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Ru => ru,
        }
    }
}

/// The seed's fourteen items, in its order, plus 0 to leave.
const ITEMS: [(&str, &str); 15] = [
    (
        "Start the full system (in the background)",
        "Запуск полной системы (в фоне)",
    ),
    (
        "Start in test mode (test target lists)",
        "Запуск тестовой версии (тестовые чаты)",
    ),
    ("Show statistics", "Просмотр статистики"),
    ("Stop the system", "Остановка системы"),
    (
        "Restart (reload configuration and messages)",
        "Перезапуск системы (с обновлением конфигурации и сообщений)",
    ),
    (
        "Switch target lists (prod / test)",
        "Переключение между чатами (prod / test)",
    ),
    (
        "Migrate old files (Python version)",
        "Миграция старых файлов (Python-версия)",
    ),
    ("Test Google Sheets", "Тест Google Sheets"),
    (
        "Update messages (one set)",
        "Обновление сообщений (один набор)",
    ),
    ("Manage reports", "Управление отчётами"),
    (
        "Test broadcasters (one message to each test list)",
        "Тест броудкастеров (одно сообщение в тестовые чаты)",
    ),
    ("Update all messages", "Обновление всех сообщений"),
    (
        "Accounts (list, log in, log out, check)",
        "Настройка аккаунтов (список, вход, выход, проверка)",
    ),
    (
        "Night test (ignore quiet hours, one cycle)",
        "Ночное тестирование (без тихого часа, один цикл)",
    ),
    ("Exit", "Выход"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    number: usize,
    label: String,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>2}. {}", self.number, self.label)
    }
}

/// What quits a console menu by habit: `q` (and `й`, the same key on a Russian layout),
/// `quit`, `exit`, `выход`. Typed, they show only the Exit item.
const QUIT_WORDS: &[&str] = &["q", "й", "quit", "exit", "выход", "в"];

/// Typing digits picks the item with that number; a quit word shows only Exit; other text of
/// two or more letters filters by substring (one letter matches nothing else: `q` must never
/// land on an item that sends, such as "Night test (ignore quiet hours…)").
fn score(input: &str, item: &Item, shown: &str, _idx: usize) -> Option<i64> {
    let input = input.trim();
    if input.is_empty() {
        return Some(0);
    }
    if input.bytes().all(|b| b.is_ascii_digit()) {
        return (input.parse::<usize>().ok() == Some(item.number)).then_some(100);
    }
    let lower = input.to_lowercase();
    if QUIT_WORDS.contains(&lower.as_str()) {
        return (item.number == 0).then_some(100);
    }
    if input.chars().count() < 2 {
        return None;
    }
    shown
        .to_lowercase()
        .contains(&input.to_lowercase())
        .then_some(1)
}

fn items(lang: Lang) -> Vec<Item> {
    ITEMS
        .iter()
        .enumerate()
        .map(|(i, (en, ru))| Item {
            number: if i == 14 { 0 } else { i + 1 },
            label: lang.t(en, ru).to_owned(),
        })
        .collect()
}

/// What a prompt said: an answer, or the operator backed out (Esc / Ctrl-C).
fn answered<T>(r: Result<T, InquireError>) -> anyhow::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(InquireError::OperationCanceled | InquireError::OperationInterrupted) => Ok(None),
        // The terminal went away (end of input, a closed pseudo-terminal) after the menu was
        // shown: leave the menu saying so, not as if there never was a terminal.
        Err(InquireError::NotTTY | InquireError::IO(_)) => {
            eprintln!("end of input: leaving the menu");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

struct Menu<'a> {
    cli: &'a Cli,
    lang: Lang,
    sandbox: bool,
}

impl Menu<'_> {
    fn t(&self, en: &'static str, ru: &'static str) -> &'static str {
        self.lang.t(en, ru)
    }

    /// `--config C --env-file E` as this menu was started with.
    fn global_args(&self) -> Vec<OsString> {
        vec![
            "--config".into(),
            self.cli.config.clone().into(),
            "--env-file".into(),
            self.cli.env_file.clone().into(),
        ]
    }

    /// Runs a subcommand exactly as `sendmessagebot ARGS` would, in this process.
    async fn dispatch(&self, args: &[&str]) -> anyhow::Result<ExitCode> {
        let mut argv: Vec<OsString> = vec!["sendmessagebot".into()];
        argv.extend(self.global_args());
        argv.extend(args.iter().map(OsString::from));
        let cli = Cli::try_parse_from(argv)?;
        Box::pin(super::dispatch(cli)).await
    }

    fn with_sandbox<'b>(&self, mut args: Vec<&'b str>) -> Vec<&'b str> {
        if self.sandbox {
            args.push("--sandbox");
        }
        args
    }

    fn paths(&self) -> anyhow::Result<DaemonPaths> {
        crate::daemon::client_paths(self.cli, self.sandbox)
    }

    async fn daemon_line(&self) -> String {
        let Ok(paths) = self.paths() else {
            return String::new();
        };
        match control::request(&paths.socket, Cmd::Status).await {
            Ok(v) => format!("{} {}", self.t("running, pid", "работает, pid"), v["pid"]),
            Err(_) => self.t("not running", "не запущен").to_owned(),
        }
    }

    async fn start(&self, test_mode: bool) -> anyhow::Result<()> {
        let paths = self.paths()?;
        if let Ok(v) = control::request(&paths.socket, Cmd::Status).await {
            outln!(
                "{} {}",
                self.t("already running: pid", "уже работает: pid"),
                v["pid"]
            )?;
            return Ok(());
        }
        let mut argv = self.global_args();
        argv.push("run".into());
        if self.sandbox {
            argv.push("--sandbox".into());
        }
        if test_mode {
            argv.push("--test-mode".into());
        }
        let pid = detach::spawn(&paths, &argv, None).await?;
        outln!(
            "{} {pid} ({} {})",
            self.t("started in the background: pid", "запущено в фоне: pid"),
            self.t("output:", "вывод:"),
            paths.output.display()
        )?;
        Ok(())
    }

    async fn restart(&self) -> anyhow::Result<()> {
        let paths = self.paths()?;
        if control::request(&paths.socket, Cmd::Status).await.is_err() {
            outln!(
                "{}",
                self.t(
                    "not running; item 1 starts it",
                    "не запущен; пункт 1 запускает его"
                )
            )?;
            return Ok(());
        }
        let settings = context::settings(self.cli, &Overrides::default(), true)?;
        if !settings.message_sources.is_empty() {
            self.dispatch(&self.with_sandbox(vec!["messages", "update"]))
                .await?;
        }
        self.dispatch(&self.with_sandbox(vec!["reload"])).await?;
        Ok(())
    }

    async fn switch(&self) -> anyhow::Result<()> {
        let settings = context::settings(self.cli, &Overrides::default(), true)?;
        let all = self.t("all broadcasters", "все броудкастеры").to_owned();
        let mut names = vec![all.clone()];
        names.extend(settings.broadcasters.iter().map(|b| b.spec.name.clone()));
        let Some(who) = answered(
            Select::new(self.t("Which broadcaster?", "Какой броудкастер?"), names).prompt(),
        )?
        else {
            return Ok(());
        };
        let modes = vec!["test", "prod"];
        let Some(mode) =
            answered(Select::new(self.t("Which list?", "Какой список?"), modes).prompt())?
        else {
            return Ok(());
        };
        let mut args = vec!["targets", "switch", mode];
        if who != all {
            args.push("--broadcaster");
            args.push(&who);
        }
        self.dispatch(&self.with_sandbox(args)).await?;
        Ok(())
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let Some(dir) = answered(
            Text::new(self.t("Directory of the Python version:", "Папка Python-версии:"))
                .with_default(".")
                .prompt(),
        )?
        else {
            return Ok(());
        };
        self.dispatch(&["migrate", &dir, "--dry-run"]).await?;
        if answered(
            Confirm::new(self.t("Write these files?", "Записать эти файлы?"))
                .with_default(false)
                .prompt(),
        )? == Some(true)
        {
            self.dispatch(&["migrate", &dir]).await?;
        }
        Ok(())
    }

    async fn update_one(&self) -> anyhow::Result<()> {
        let settings = context::settings(self.cli, &Overrides::default(), true)?;
        let sets: Vec<String> = settings.message_sources.keys().cloned().collect();
        if sets.is_empty() {
            // The command says how to give a set a source.
            self.dispatch(&self.with_sandbox(vec!["messages", "update"]))
                .await?;
            return Ok(());
        }
        let Some(set) = answered(
            Select::new(self.t("Which message set?", "Какой набор сообщений?"), sets).prompt(),
        )?
        else {
            return Ok(());
        };
        self.dispatch(&self.with_sandbox(vec!["messages", "update", "--type", &set]))
            .await?;
        Ok(())
    }

    async fn reports(&self) -> anyhow::Result<()> {
        let choices = vec![
            self.t("Show the settings", "Показать настройки"),
            self.t("Switch reports on", "Включить отчёты"),
            self.t("Switch reports off", "Выключить отчёты"),
            self.t("Set the interval", "Задать интервал"),
            self.t("Set the channel", "Задать канал"),
            self.t("Preview the report", "Предпросмотр отчёта"),
            self.t("Send the report now", "Отправить отчёт сейчас"),
        ];
        let Some(choice) =
            answered(Select::new(self.t("Reports:", "Отчёты:"), choices.clone()).prompt())?
        else {
            return Ok(());
        };
        let i = choices.iter().position(|c| *c == choice).unwrap_or(0);
        match i {
            1 => self.dispatch(&["report", "settings", "--enable"]).await?,
            2 => self.dispatch(&["report", "settings", "--disable"]).await?,
            3 => {
                let Some(h) = answered(
                    CustomType::<u32>::new(self.t(
                        "Hours between reports (1–744):",
                        "Часов между отчётами (1–744):",
                    ))
                    .with_default(12)
                    .prompt(),
                )?
                else {
                    return Ok(());
                };
                self.dispatch(&["report", "settings", "--interval", &h.to_string()])
                    .await?
            }
            4 => {
                let Some(c) = answered(
                    Text::new(self.t(
                        "Channel id (-100…) or @username:",
                        "Id канала (-100…) или @имя:",
                    ))
                    .prompt(),
                )?
                else {
                    return Ok(());
                };
                self.dispatch(&["report", "settings", "--channel", &c])
                    .await?
            }
            5 => {
                self.dispatch(&self.with_sandbox(vec!["report", "preview"]))
                    .await?
            }
            6 => {
                self.dispatch(&self.with_sandbox(vec!["report", "send"]))
                    .await?
            }
            _ => self.dispatch(&["report", "settings"]).await?,
        };
        Ok(())
    }

    async fn accounts(&self) -> anyhow::Result<()> {
        let choices = vec![
            self.t("List accounts", "Список аккаунтов"),
            self.t("Log in", "Войти"),
            self.t("Log out", "Выйти"),
            self.t("Check with Telegram", "Проверить в Telegram"),
        ];
        let Some(choice) =
            answered(Select::new(self.t("Accounts:", "Аккаунты:"), choices.clone()).prompt())?
        else {
            return Ok(());
        };
        let i = choices.iter().position(|c| *c == choice).unwrap_or(0);
        if i == 0 {
            self.dispatch(&["accounts", "list"]).await?;
            return Ok(());
        }
        if i == 3 {
            self.dispatch(&["accounts", "check"]).await?;
            return Ok(());
        }
        let settings = context::settings(self.cli, &Overrides::default(), true)?;
        let names: Vec<String> = settings
            .account_info
            .iter()
            .map(|a| a.name.clone())
            .collect();
        let Some(name) =
            answered(Select::new(self.t("Which account?", "Какой аккаунт?"), names).prompt())?
        else {
            return Ok(());
        };
        if i == 1 {
            self.dispatch(&["accounts", "login", &name]).await?;
        } else if answered(
            Confirm::new(self.t("Log out and delete the session?", "Выйти и удалить сессию?"))
                .with_default(false)
                .prompt(),
        )? == Some(true)
        {
            self.dispatch(&["accounts", "logout", &name]).await?;
        }
        Ok(())
    }

    /// One cycle on the test lists, quiet hours ignored, in the foreground (Ctrl-C stops it).
    async fn night_test(&self) -> anyhow::Result<()> {
        let exe = std::env::current_exe()?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(self.global_args()).args([
            "run",
            "--once",
            "--test-mode",
            "--ignore-quiet-hours",
            "--no-metrics",
        ]);
        if self.sandbox {
            cmd.arg("--sandbox");
        }
        let status = cmd.status().await?;
        outln!(
            "{} ({status})",
            self.t("night test finished", "ночной тест завершён")
        )?;
        Ok(())
    }

    async fn item(&self, number: usize) -> anyhow::Result<()> {
        match number {
            1 => self.start(false).await,
            2 => self.start(true).await,
            3 => self
                .dispatch(&self.with_sandbox(vec!["stats"]))
                .await
                .map(drop),
            4 => self
                .dispatch(&self.with_sandbox(vec!["stop"]))
                .await
                .map(drop),
            5 => self.restart().await,
            6 => self.switch().await,
            7 => self.migrate().await,
            8 => self.dispatch(&["sheets", "test"]).await.map(drop),
            9 => self.update_one().await,
            10 => self.reports().await,
            11 => self
                .dispatch(&self.with_sandbox(vec!["broadcasters", "test"]))
                .await
                .map(drop),
            12 => self
                .dispatch(&self.with_sandbox(vec!["messages", "update"]))
                .await
                .map(drop),
            13 => self.accounts().await,
            14 => self.night_test().await,
            _ => Ok(()),
        }
    }
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    if !interactive() {
        anyhow::bail!("the menu needs a terminal; run `sendmessagebot --help` for the commands");
    }
    let sandbox = args.sandbox
        || std::env::var("SMB_SANDBOX")
            .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "no" | "off"));
    let lang = Lang::from_env();
    crate::hint::set_sandbox(sandbox);
    inquire::set_global_render_config(
        inquire::ui::RenderConfig::default().with_canceled_prompt_indicator(
            inquire::ui::Styled::new(lang.t("<canceled>", "<отменено>")),
        ),
    );
    let menu = Menu { cli, lang, sandbox };
    // One logger for every item (each command's own init then keeps it), quiet on the console.
    let _log = match context::settings(cli, &Overrides::default(), true) {
        Ok(s) => context::init_logging(&s, false).ok(),
        Err(_) => None,
    };
    let all = items(lang);
    loop {
        outln!()?;
        outln!(
            "SendMessageBot — {} · {}: {}",
            if sandbox {
                lang.t("sandbox", "песочница")
            } else {
                "Telegram"
            },
            lang.t("daemon", "демон"),
            menu.daemon_line().await
        )?;
        let scorer = &score;
        let picked = Select::new(
            lang.t(
                "Choose an item (number or arrows, Enter):",
                "Выберите пункт (номер или стрелки, Enter):",
            ),
            all.clone(),
        )
        .with_page_size(15)
        .with_scorer(scorer)
        .with_help_message(lang.t(
            "↑↓ move, digits pick, Enter runs, Esc leaves",
            "↑↓ выбор, цифры — номер, Enter — выполнить, Esc — выход",
        ))
        .prompt();
        let Some(item) = answered(picked)? else { break };
        if item.number == 0 {
            break;
        }
        outln!("— {item}")?;
        if let Err(e) = menu.item(item.number).await {
            outln!("{}: {e:#}", lang.t("error", "ошибка"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_pick_exactly_one_item_and_text_filters() {
        let all = items(Lang::En);
        let hits = |input: &str| -> Vec<usize> {
            all.iter()
                .filter(|i| score(input, i, &i.to_string(), 0).is_some())
                .map(|i| i.number)
                .collect()
        };
        assert_eq!(hits("1"), vec![1]);
        assert_eq!(hits("14"), vec![14]);
        assert_eq!(hits("0"), vec![0]);
        assert_eq!(hits("stat"), vec![3]);
        assert_eq!(hits("").len(), 15);
        assert_eq!(items(Lang::Ru)[2].label, "Просмотр статистики");
    }

    /// QA finding 4: `q` + Enter selected "14. Night test (ignore quiet hours…)".
    #[test]
    fn f4_quit_words_show_only_exit_and_one_letter_never_picks_a_sending_item() {
        for lang in [Lang::En, Lang::Ru] {
            let all = items(lang);
            let hits = |input: &str| -> Vec<usize> {
                all.iter()
                    .filter(|i| score(input, i, &i.to_string(), 0).is_some())
                    .map(|i| i.number)
                    .collect()
            };
            for quit in ["q", "Q", "й", "quit", "exit", "выход", " q "] {
                assert_eq!(hits(quit), vec![0], "{quit:?}");
            }
            for letter in ["t", "n", "s", "a", "x", "т", "н"] {
                assert_eq!(hits(letter), Vec::<usize>::new(), "{letter:?}");
            }
        }
    }
}
