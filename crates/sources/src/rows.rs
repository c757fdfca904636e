//! The seed's sheet layout: A text, B status, C priority 1–10, D created, E updated; a header
//! row is detected and skipped, rows without text are skipped. Spreadsheet error values
//! (`#N/A`, `#ЗНАЧ!`, …) are refused with their cell; a sheet still calculating (`Loading...`)
//! is a transient failure.

use smb_domain::Message;

use crate::SourceError;

/// Priority of a row whose column C is empty (the middle of 1–10, as inline messages).
pub const DEFAULT_PRIORITY: u8 = 5;

/// One message as read from its source, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    /// The sheet row (1-based, as the sheet shows it) or, for a text file, the first line.
    pub row: usize,
    pub message: Message,
    /// Columns D and E as written in the sheet (shown by `sheets test`, not interpreted).
    pub created: Option<String>,
    pub updated: Option<String>,
}

/// Column B words that make a message active (compared case-insensitively); anything else
/// makes it inactive.
pub const ACTIVE_WORDS: &[&str] = &[
    "активно",
    "активен",
    "активна",
    "да",
    "yes",
    "true",
    "1",
    "on",
];

/// Column B words that plainly mean "inactive" (anything not in [`ACTIVE_WORDS`] is inactive;
/// these only help to tell a CSV's column separator).
const INACTIVE_WORDS: &[&str] = &[
    "неактивно",
    "неактивен",
    "неактивна",
    "нет",
    "no",
    "false",
    "0",
    "off",
    "выкл",
    "черновик",
];

/// What Google Sheets and Excel (English and Russian) show in a cell whose formula failed.
/// A cell reading exactly one of these (any case) is never a message, status or priority.
pub const ERROR_VALUES: &[&str] = &[
    "#N/A",
    "#REF!",
    "#VALUE!",
    "#DIV/0!",
    "#NAME?",
    "#NUM!",
    "#NULL!",
    "#ERROR!",
    "#SPILL!",
    "#CALC!",
    "#FIELD!",
    "#BLOCKED!",
    "#CONNECT!",
    "#BUSY!",
    "#UNKNOWN!",
    "#Н/Д",
    "#ЗНАЧ!",
    "#ССЫЛКА!",
    "#ДЕЛ/0!",
    "#ИМЯ?",
    "#ЧИСЛО!",
    "#ПУСТО!",
    "#ОШИБКА!",
    "#ПЕРЕНОС!",
    "#ВЫЧИСЛ!",
];

/// What a cell shows while the sheet is still calculating (an `IMPORTRANGE`, `GOOGLEFINANCE`
/// or add-on formula): the same fetch a little later gets the values.
pub const LOADING_VALUES: &[&str] = &[
    "Loading...",
    "Loading…",
    "Загрузка...",
    "Загрузка…",
    "#GETTING_DATA",
    "#ПОЛУЧЕНИЕ_ДАННЫХ",
];

/// A spreadsheet error or placeholder in `cell`: `Some(true)` still calculating, `Some(false)`
/// a failed formula.
pub fn placeholder(cell: &str) -> Option<bool> {
    let t = cell.trim();
    if !(t.starts_with('#') || t.ends_with('.') || t.ends_with('…')) {
        return None;
    }
    let is = |list: &[&str]| list.iter().any(|v| v.to_lowercase() == t.to_lowercase());
    if is(LOADING_VALUES) {
        Some(true)
    } else if is(ERROR_VALUES) {
        Some(false)
    } else {
        None
    }
}

/// Column A's header words: the seed's and what shops write over a list of texts (a row that
/// reads like this is never posted).
const HEADER_A: &[&str] = &[
    "сообщение",
    "сообщения",
    "текст",
    "тексты",
    "текст сообщения",
    "текст поста",
    "текст объявления",
    "текст рассылки",
    "сообщение для рассылки",
    "объявление",
    "объявления",
    "пост",
    "посты",
    "рассылка",
    "message",
    "messages",
    "message text",
    "text",
    "texts",
    "post",
    "posts",
    "post text",
];
const HEADER_B: &[&str] = &["статус", "status", "активно?", "active"];
const HEADER_C: &[&str] = &["приоритет", "priority"];

fn norm(cell: &str) -> String {
    cell.trim()
        .trim_end_matches([':', '*'])
        .trim()
        .to_lowercase()
}

/// Whether column B's value makes a message active.
pub fn is_active(status: &str) -> bool {
    let s = norm(status);
    ACTIVE_WORDS.contains(&s.as_str())
}

pub(crate) fn is_header(cells: &[String]) -> bool {
    let at = |i: usize| cells.get(i).map(|c| norm(c)).unwrap_or_default();
    HEADER_A.contains(&at(0).as_str())
        || HEADER_B.contains(&at(1).as_str())
        || HEADER_C.contains(&at(2).as_str())
}

fn cell(cells: &[String], i: usize) -> Option<&str> {
    cells.get(i).map(|c| c.trim()).filter(|c| !c.is_empty())
}

fn parse_priority(raw: &str) -> Option<u8> {
    let t = raw.trim().replace(',', ".");
    let v: f64 = t.parse().ok()?;
    (v.fract() == 0.0 && (1.0..=10.0).contains(&v)).then_some(v as u8)
}

/// Whether column B's value reads like a status (active or plainly inactive), and column C's
/// like a priority: what tells a CSV's separator when there is no header.
pub(crate) fn looks_like_status_or_priority(cells: &[String]) -> usize {
    let b = cells.get(1).map(|c| norm(c)).unwrap_or_default();
    let status = !b.is_empty()
        && (ACTIVE_WORDS.contains(&b.as_str()) || INACTIVE_WORDS.contains(&b.as_str()));
    let priority = cells.get(2).and_then(|c| parse_priority(c)).is_some();
    usize::from(status) + usize::from(priority)
}

/// What [`read_grid`] tells the operator besides the rows.
pub const NOTE_NO_STATUS: &str =
    "no status in column B: every row is active (the rule for a plain list of texts)";

/// [`read_grid`] without its notes.
pub fn rows_from_grid(
    origin: &str,
    first_row: usize,
    grid: &[Vec<String>],
) -> Result<Vec<SheetRow>, SourceError> {
    read_grid(origin, first_row, grid).map(|(rows, _)| rows)
}

/// Reads a grid of cells whose first row is sheet row `first_row`. When no row has a status
/// in column B at all (a plain list of texts), every message is active, and the notes say so
/// ([`NOTE_NO_STATUS`]). A spreadsheet error in columns A–C is [`SourceError::Row`] naming the
/// cell; a cell still calculating is [`SourceError::Calculating`] (transient).
pub fn read_grid(
    origin: &str,
    first_row: usize,
    grid: &[Vec<String>],
) -> Result<(Vec<SheetRow>, Vec<String>), SourceError> {
    let mut out = Vec::new();
    let mut seen_first = false;
    let mut has_status_column = false;
    for (i, cells) in grid.iter().enumerate() {
        let row = first_row + i;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if !seen_first {
            seen_first = true;
            if is_header(cells) {
                continue;
            }
        }
        for (col, name) in ["A", "B", "C"].into_iter().enumerate() {
            let Some(value) = cells.get(col) else { break };
            match placeholder(value) {
                None => {}
                Some(true) => {
                    return Err(SourceError::Calculating {
                        origin: origin.to_string(),
                        cell: format!("{name}{row}"),
                        value: value.trim().to_string(),
                    });
                }
                Some(false) => {
                    return Err(SourceError::Row {
                        origin: origin.to_string(),
                        location: format!("row {row}, column {name}"),
                        message: format!(
                            "cell {name}{row} holds the spreadsheet error `{}` (its formula failed), not a {}: fix the formula or clear the cell",
                            value.trim(),
                            ["message", "status", "priority"][col]
                        ),
                    });
                }
            }
        }
        let Some(text) = cell(cells, 0) else { continue };
        let status = cell(cells, 1);
        has_status_column |= status.is_some();
        let priority = match cell(cells, 2) {
            None => DEFAULT_PRIORITY,
            Some(p) => parse_priority(p).ok_or_else(|| SourceError::Row {
                origin: origin.to_string(),
                location: format!("row {row}"),
                message: format!("priority `{p}` in cell C{row} is not a whole number from 1 to 10: fix the cell or clear it (5)"),
            })?,
        };
        out.push(SheetRow {
            row,
            // Multi-line cells exported as CSV keep Windows line ends; Telegram wants `\n`.
            message: Message {
                text: text.replace("\r\n", "\n"),
                active: status.is_some_and(is_active),
                priority,
                variant: None,
            },
            created: cell(cells, 3).map(str::to_string),
            updated: cell(cells, 4).map(str::to_string),
        });
    }
    let mut notes = Vec::new();
    if !has_status_column {
        for r in &mut out {
            r.message.active = true;
        }
        if !out.is_empty() {
            notes.push(NOTE_NO_STATUS.to_string());
        }
    }
    Ok((out, notes))
}

/// A text file: messages separated by a line `---`; every message active, priority 5.
pub fn rows_from_text(text: &str) -> Vec<SheetRow> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start = 1;
    let mut flush = |lines: &mut Vec<&str>, start: usize| {
        let body = lines.join("\n");
        let body = body.trim();
        if !body.is_empty() {
            let skipped = lines.iter().take_while(|l| l.trim().is_empty()).count();
            out.push(SheetRow {
                row: start + skipped,
                message: Message::new(body),
                created: None,
                updated: None,
            });
        }
        lines.clear();
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim() == "---" {
            flush(&mut current, start);
            start = i + 2;
        } else {
            current.push(line.trim_end_matches('\r'));
        }
    }
    flush(&mut current, start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn header_status_priority_and_empty_rows() {
        let g = grid(&[
            &[
                "Сообщение",
                "Статус",
                "Приоритет",
                "Дата создания",
                "Дата обновления",
            ],
            &["Прайс 1", "активно", "7", "2025-01-01"],
            &[],
            &["", "активно", "9"],
            &["Прайс 2", "неактивно", ""],
            &["Прайс 3", "YES", "10", "", "2025-02-01"],
            &["Прайс 4", "Активен"],
        ]);
        let rows = rows_from_grid("sheet", 1, &g).unwrap();
        let got: Vec<(usize, &str, bool, u8)> = rows
            .iter()
            .map(|r| {
                (
                    r.row,
                    r.message.text.as_str(),
                    r.message.active,
                    r.message.priority,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, "Прайс 1", true, 7),
                (5, "Прайс 2", false, 5),
                (6, "Прайс 3", true, 10),
                (7, "Прайс 4", true, 5)
            ]
        );
        assert_eq!(rows[0].created.as_deref(), Some("2025-01-01"));
        assert_eq!(rows[2].updated.as_deref(), Some("2025-02-01"));
    }

    #[test]
    fn headers_shops_write_over_a_plain_list_are_headers() {
        for h in [
            "Тексты",
            "Текст поста",
            "Объявление",
            "Message Text",
            "Texts",
            "ПОСТ:",
        ] {
            assert!(is_header(&[h.to_string()]), "{h}");
        }
        assert!(!is_header(&["Прайс 1 — 71 000 ₽".to_string()]));
    }

    #[test]
    fn no_header_and_no_status_column_means_all_active() {
        let rows = rows_from_grid("s", 3, &grid(&[&["a"], &["b", "", "2"]])).unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.row, r.message.active))
                .collect::<Vec<_>>(),
            [(3, true), (4, true)]
        );
    }

    #[test]
    fn a_bad_priority_names_the_cell() {
        let err = rows_from_grid("Google Sheet X", 1, &grid(&[&["a", "да", "высокий"]]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Google Sheet X: row 1") && err.contains("C1"),
            "{err}"
        );
        assert!(rows_from_grid("s", 1, &grid(&[&["a", "да", "11"]])).is_err());
        assert!(rows_from_grid("s", 1, &grid(&[&["a", "да", "7.0"]])).is_ok());
    }

    #[test]
    fn spreadsheet_errors_and_loading_placeholders() {
        for v in [
            "#N/A",
            " #n/a ",
            "#REF!",
            "#DIV/0!",
            "#NAME?",
            "#Н/Д",
            "#ЗНАЧ!",
            "#ССЫЛКА!",
            "#ДЕЛ/0!",
            "#ИМЯ?",
            "#ЧИСЛО!",
            "#ПУСТО!",
            "#SPILL!",
            "#CALC!",
            "#ERROR!",
            "#NULL!",
            "#NUM!",
            "#VALUE!",
        ] {
            assert_eq!(placeholder(v), Some(false), "{v}");
        }
        for v in ["Loading...", "loading…", "Загрузка...", "#GETTING_DATA"] {
            assert_eq!(placeholder(v), Some(true), "{v}");
        }
        for v in ["#1 в продажах", "Скидки...", "N/A", "#хэштег", ""] {
            assert_eq!(placeholder(v), None, "{v}");
        }
        // The header row is a header even when a later row is broken; the broken one is named.
        let err = rows_from_grid(
            "Google Sheet X",
            1,
            &grid(&[&["Сообщение", "Статус"], &["ok", "да"], &["", "#REF!"]]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("row 3, column B") && err.contains("B3"),
            "{err}"
        );
    }

    #[test]
    fn the_no_status_rule_is_a_note() {
        let (_, notes) = read_grid("s", 1, &grid(&[&["a"], &["b"]])).unwrap();
        assert_eq!(notes, [NOTE_NO_STATUS]);
        let (_, notes) = read_grid("s", 1, &grid(&[&["a", "нет"], &["b"]])).unwrap();
        assert!(notes.is_empty());
    }

    #[test]
    fn status_words() {
        for w in ["активно", "АКТИВЕН", "да", "Yes", "TRUE", "1", "on", " on "] {
            assert!(is_active(w), "{w}");
        }
        for w in ["неактивно", "нет", "no", "0", "", "off", "черновик"] {
            assert!(!is_active(w), "{w}");
        }
    }

    #[test]
    fn text_files_split_on_dashes() {
        let rows = rows_from_text("\u{feff}first\nmessage\r\n---\n\n  \n---\n\nsecond\n---");
        assert_eq!(
            rows.iter()
                .map(|r| (r.row, r.message.text.as_str()))
                .collect::<Vec<_>>(),
            [(1, "first\nmessage"), (8, "second")]
        );
    }
}
