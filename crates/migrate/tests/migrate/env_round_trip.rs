//! What `migrate` writes into `.env` reads back identically with our reader (the one every
//! `.env` writer and python-dotenv agree on, `smb_sources::dotenv`).

use smb_sources::dotenv;

/// Awkward values: `$`, `${X}`, both quotes, `#`, `\`, spaces at either end, Cyrillic, empty,
/// line breaks, tabs.
const AWKWARD: &str = "[a-zA-Z0-9 $'\"#\\\\{}:=\\-_\n\r\tПрайсё₽]{0,32}";

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// `migrate` writes the original's variables through `render_env`.
    #[test]
    fn what_migrate_writes_reads_back(a in AWKWARD, b in AWKWARD) {
        let imp = smb_migrate::LegacyImport {
            env: vec![("WEBHOOK_SECRET".into(), a.clone()), ("SESSION_PASSPHRASE".into(), b.clone())],
            ..Default::default()
        };
        let text = imp.render_env("now");
        let got: Vec<(String, String)> = dotenv::read(text.as_bytes(), |_| None)
            .expect("reads back")
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        proptest::prop_assert_eq!(
            got,
            vec![("WEBHOOK_SECRET".to_string(), a), ("SESSION_PASSPHRASE".to_string(), b)]
        );
    }
}
