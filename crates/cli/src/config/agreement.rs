//! The settings table of `tests/settings_cases` against the parser: the table names every key
//! the configuration's structs accept and every variable of `sections::ENV_SECTIONS` (derived
//! from the code, so a new setting fails here until it has a case), and for each one a bad
//! value is refused by [`super::parse`] — the function `run`, its reload and `check` all call —
//! with a message naming it, and a good value is accepted. `tests/check_agrees.rs` runs the
//! same table through the binary's `check` and `run`.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;

use super::schema::{
    AccountSection, BroadcasterSection, DatabaseSection, FileConfig, GlobalSection, MessageItem,
    MessageSection, SandboxSection,
};
use super::{EnvVars, Overrides, parse};

#[path = "../../tests/settings_cases/mod.rs"]
mod cases;

use cases::{BASE_TOML, ENV_CASES, TOML_CASES, toml_with};

/// The fields a struct with `deny_unknown_fields` accepts, read from serde's own refusal of an
/// unknown one ("unknown field `x`, expected one of `a`, `b`").
fn fields_of<T: DeserializeOwned>() -> BTreeSet<String> {
    let err = match toml::from_str::<T>("zz_not_a_field = 1") {
        Ok(_) => panic!("an unknown field was accepted"),
        Err(e) => e.message().to_owned(),
    };
    let expected = err
        .split_once("expected")
        .map_or_else(|| panic!("no field list in {err:?}"), |(_, rest)| rest);
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn load(toml: &str, env: &[(&str, &str)]) -> Result<super::Settings, String> {
    parse(
        "sendmessagebot.toml",
        toml,
        &EnvVars::from_pairs(env),
        &Overrides::default(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn the_table_names_every_key_of_the_configuration() {
    let tables: [(&str, BTreeSet<String>); 8] = [
        ("settings", fields_of::<GlobalSection>()),
        ("database", fields_of::<DatabaseSection>()),
        ("sandbox", fields_of::<SandboxSection>()),
        ("sandbox.faults", fields_of::<smb_telegram::FaultRule>()),
        ("accounts", fields_of::<AccountSection>()),
        ("messages", fields_of::<MessageSection>()),
        // `variant` labels only make sense on two or more items of one slot, so no one-line
        // change of the base file's lone item is "good"; `tests/cli/config_errors.rs` holds
        // its refusals (a label on a lone item, a bad label, mixed priorities).
        ("messages.items", {
            let mut keys = fields_of::<MessageItem>();
            keys.remove("variant");
            keys
        }),
        ("broadcasters", fields_of::<BroadcasterSection>()),
    ];
    // The top level: one table per kind above, and [targets] (list names are free; their
    // entries are checked by the `targets` case).
    let mut top: BTreeSet<String> = tables
        .iter()
        .filter(|(t, _)| !t.contains('.'))
        .map(|(t, _)| (*t).to_owned())
        .collect();
    top.insert("targets".into());
    assert_eq!(fields_of::<FileConfig>(), top);
    for (table, keys) in &tables {
        let cased: BTreeSet<String> = TOML_CASES
            .iter()
            .filter(|c| c.table == *table)
            .map(|c| c.key.to_owned())
            .collect();
        assert_eq!(&cased, keys, "the cases of [{table}] against its struct");
    }
}

#[test]
fn the_table_names_every_variable() {
    let listed: BTreeSet<&str> = crate::sections::ENV_SECTIONS
        .iter()
        .flat_map(|(_, vars)| vars.iter().copied())
        .collect();
    let cased: BTreeSet<&str> = ENV_CASES.iter().map(|c| c.name).collect();
    assert_eq!(cased, listed);
    assert_eq!(cased.len(), ENV_CASES.len(), "a variable has two cases");
    for c in ENV_CASES {
        assert!(
            c.bad.is_some() || !c.free.is_empty(),
            "{}: a bad value or why there is none",
            c.name
        );
    }
}

#[test]
fn the_base_configuration_loads() {
    let s = load(BASE_TOML, &[]).expect("BASE_TOML");
    assert_eq!(s.broadcasters.len(), 1);
}

#[test]
fn every_bad_value_is_refused_naming_its_setting_and_every_good_one_is_accepted() {
    for c in ENV_CASES {
        let mut env: Vec<(&str, &str)> = c.with.to_vec();
        env.push((c.name, c.good));
        if let Err(e) = load(BASE_TOML, &env) {
            panic!("{}={:?} is refused: {e}", c.name, c.good);
        }
        let Some(bad) = c.bad else { continue };
        env.pop();
        env.push((c.name, bad));
        match load(BASE_TOML, &env) {
            Ok(_) => panic!("{}={bad:?} is accepted", c.name),
            Err(e) => assert!(e.contains(c.name), "{}={bad:?}: {e}", c.name),
        }
    }
    for c in TOML_CASES {
        let good = toml_with(c.table, c.key, c.good);
        if let Err(e) = load(&good, &[]) {
            panic!(
                "[{}] {} = {} is refused: {e}\n{good}",
                c.table, c.key, c.good
            );
        }
        let bad = toml_with(c.table, c.key, c.bad);
        let line = bad
            .lines()
            .position(|l| l == format!("{} = {}", c.key, c.bad))
            .map(|i| i + 1)
            .expect("the line");
        match load(&bad, &[]) {
            Ok(_) => panic!("[{}] {} = {} is accepted", c.table, c.key, c.bad),
            Err(e) => assert!(
                e.contains(c.key) || e.contains(&format!("sendmessagebot.toml:{line}")),
                "[{}] {} = {}: {e}",
                c.table,
                c.key,
                c.bad
            ),
        }
    }
}
