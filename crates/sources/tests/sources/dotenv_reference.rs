//! Our `.env` reader against python-dotenv itself: `data/dotenv_reference.json` holds 620 texts
//! (hand-written edge cases and random mixes of quotes, escapes, `#`, `${…}`, `export`, line
//! breaks) with what python-dotenv 1.2.2 read from each (written by `data/dotenv_reference.py`).
//! Every value and every unreadable line must match.

use smb_sources::dotenv;

#[test]
fn every_reference_text_reads_as_python_dotenv_reads_it() {
    let raw = include_str!("../data/dotenv_reference.json");
    let doc: serde_json::Value = serde_json::from_str(raw).expect("reference JSON");
    let cases = doc["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 620);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let want: Vec<(String, Option<String>)> = case["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|kv| {
                (
                    kv[0].as_str().expect("key").to_string(),
                    kv[1].as_str().map(str::to_string),
                )
            })
            .collect();
        let want_bad = case["bad_lines"].as_u64().expect("bad_lines") as usize;

        let decoded = dotenv::decode(text.as_bytes()).expect("decode");
        let (entries, errors) = dotenv::parse(&decoded);
        let mut resolved = dotenv::resolve(&entries, |_| None).into_iter();
        // A dict, as python-dotenv returns it: first position, last value.
        let mut got: Vec<(String, Option<String>)> = Vec::new();
        for e in &entries {
            let v = match &e.value {
                Some(_) => resolved.next().map(|(_, v, _)| v),
                None => None,
            };
            match got.iter_mut().find(|(k, _)| *k == e.key) {
                Some(slot) => slot.1 = v,
                None => got.push((e.key.clone(), v)),
            }
        }
        if got != want || errors.len() != want_bad {
            failures.push(format!(
                "{text:?}\n  python-dotenv: {want:?}, {want_bad} bad lines\n  ours:          {got:?}, {} bad lines",
                errors.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Awkward values: `$`, `${X}`, both quotes, `#`, `\`, spaces at either end, Cyrillic, empty,
/// line breaks, tabs.
const AWKWARD: &str = "[a-zA-Z0-9 $'\"#\\\\{}:=\\-_\n\r\tПрайсё₽]{0,32}";

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// `quote` is what every writer uses: it reads back identically, whatever follows it.
    #[test]
    fn a_quoted_value_reads_back(value in AWKWARD, next in AWKWARD) {
        let text = format!("K={}\nNEXT={}\n", dotenv::quote(&value), dotenv::quote(&next));
        let got: Vec<(String, String)> = dotenv::read(text.as_bytes(), |_| None)
            .expect("reads back")
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        proptest::prop_assert_eq!(got, vec![("K".to_string(), value), ("NEXT".to_string(), next)]);
    }
}
