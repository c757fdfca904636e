//! Secrets inside text that is echoed back in errors: the password of a URL
//! (`postgres://user:PASSWORD@host/db`) and the `secret=` parameter of an MTProxy link
//! (`t.me/proxy?server=…&secret=…`). SECURITY.md: errors never show a secret.

/// `text` with every URL password and every `secret=` or `password=` query value replaced by
/// `***`.
///
/// `postgres://u:pw@h/db` → `postgres://u:***@h/db`;
/// `https://t.me/proxy?server=1.2.3.4&port=443&secret=ee00` → `…&secret=***`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // URL passwords: `://user:password@`, the user part without `/`, `@` or spaces.
    while let Some(i) = rest.find("://") {
        let after = i + 3;
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace() || c == '`' || c == '"')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            out.push_str(&authority[..=colon]);
            out.push_str("***");
            out.push_str(&authority[at..]);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    mask_param(&mask_param(&out, "secret="), "password=")
}

/// Every `NAME=value` of a query string (`?` or `&` before it) with its value as `***`.
fn mask_param(text: &str, name: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    let mut search = 0;
    while let Some(i) = lower[search..].find(name).map(|i| i + search) {
        let starts_param = i > 0 && matches!(lower.as_bytes()[i - 1], b'?' | b'&');
        let value_from = i + name.len();
        search = value_from;
        if !starts_param {
            continue;
        }
        let value_end = text[value_from..]
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || c == '`' || c == '"')
            .map_or(text.len(), |e| value_from + e);
        out.push_str(&text[from..value_from]);
        out.push_str("***");
        from = value_end;
        search = value_end;
    }
    out.push_str(&text[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_given_as_a_query_parameter_is_masked() {
        assert_eq!(
            redact("postgres://shop@127.0.0.1/smb?sslmode=require&password=Other55 refused"),
            "postgres://shop@127.0.0.1/smb?sslmode=require&password=*** refused"
        );
    }

    #[test]
    fn f6_url_passwords_and_proxy_secrets_are_masked() {
        assert_eq!(
            redact("DATABASE_URL=postgres://u:SECRETPW@localhost/db: not a SQLite URL"),
            "DATABASE_URL=postgres://u:***@localhost/db: not a SQLite URL"
        );
        assert_eq!(
            redact(
                "`https://t.me/proxy?server=1.2.3.4&port=443&secret=SECRETVAL` is an MTProto proxy"
            ),
            "`https://t.me/proxy?server=1.2.3.4&port=443&secret=***` is an MTProto proxy"
        );
        assert_eq!(
            redact("tg://proxy?Secret=AB&server=x"),
            "tg://proxy?Secret=***&server=x"
        );
        // Nothing secret: unchanged.
        for plain in [
            "sqlite://data/sendmessagebot.db",
            "https://t.me/shop_name/5",
            "user@example.com: a@b",
            "mysecret=1",
        ] {
            assert_eq!(redact(plain), plain);
        }
    }
}
