//! Where a value lands in PromQL, and how it may be written there, so that no value changes a query's
//! structure:
//!
//! - inside a `"…"` or `'…'` string literal, any value, escaped (backslash, the quote, control characters);
//! - inside a `` `…` `` raw string, any value without a backtick (raw strings have no escapes);
//! - anywhere else (including comments), only a single name, number or duration: letters, digits, `_`, `:`
//!   and `.`, after at most one leading `-` — and no leading `-` right after an operand (`x ${v}` with
//!   `-1` would subtract);
//! - where a matcher starts inside a `{…}` matcher list (right after the `{` or a `,`), also a value that is
//!   completely a comma-separated list of label matchers `name op "string"` ([`is_matcher_list`]), as in
//!   `x{${scope}}` with `rollouts_pod_template_hash="6d4f5c9b8"`: it adds matchers and nothing else.

use std::borrow::Cow;

use super::template::Lexer;

/// Where the template text read so far leaves a PromQL reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum PromqlLexer {
    /// Outside strings and comments.
    #[default]
    Code,
    /// Outside strings and comments, after an operand (a name, number, string or closing bracket, then
    /// perhaps spaces), where a `-` is a subtraction.
    Operand,
    /// After `#`, up to the end of the line.
    Comment,
    /// Inside a `{…}` matcher list, outside strings; `separator` right after the `{` or a `,` (and perhaps
    /// spaces), where a matcher starts.
    Braces { separator: bool },
    /// Inside a string quoted with `quote`; `escaped` right after a backslash; `braces` when the string is
    /// inside a matcher list.
    Quoted {
        quote: char,
        escaped: bool,
        braces: bool,
    },
}

impl Lexer for PromqlLexer {
    fn read(&mut self, text: &str) {
        for c in text.chars() {
            *self = match (*self, c) {
                (PromqlLexer::Code | PromqlLexer::Operand, '"' | '\'' | '`') => {
                    PromqlLexer::Quoted {
                        quote: c,
                        escaped: false,
                        braces: false,
                    }
                }
                (PromqlLexer::Braces { .. }, '"' | '\'' | '`') => PromqlLexer::Quoted {
                    quote: c,
                    escaped: false,
                    braces: true,
                },
                (PromqlLexer::Code | PromqlLexer::Operand, '{') => {
                    PromqlLexer::Braces { separator: true }
                }
                (PromqlLexer::Braces { .. }, '}') => PromqlLexer::Operand,
                (PromqlLexer::Braces { .. }, ',') => PromqlLexer::Braces { separator: true },
                (PromqlLexer::Braces { separator }, c) if c.is_whitespace() => {
                    PromqlLexer::Braces { separator }
                }
                // A comment inside braces forgets them: the safe assumption (only single tokens after it).
                (PromqlLexer::Code | PromqlLexer::Operand | PromqlLexer::Braces { .. }, '#') => {
                    PromqlLexer::Comment
                }
                (PromqlLexer::Braces { .. }, _) => PromqlLexer::Braces { separator: false },
                (PromqlLexer::Code | PromqlLexer::Operand, c) if is_operand_end(c) => {
                    PromqlLexer::Operand
                }
                (PromqlLexer::Operand, c) if c.is_whitespace() => PromqlLexer::Operand,
                (PromqlLexer::Operand, _) => PromqlLexer::Code,
                // Whatever preceded the comment may be an operand: the safe assumption.
                (PromqlLexer::Comment, '\n') => PromqlLexer::Operand,
                (
                    PromqlLexer::Quoted {
                        quote,
                        escaped: true,
                        braces,
                    },
                    _,
                ) => PromqlLexer::Quoted {
                    quote,
                    escaped: false,
                    braces,
                },
                (
                    PromqlLexer::Quoted {
                        quote,
                        escaped: false,
                        braces,
                    },
                    '\\',
                ) if quote != '`' => PromqlLexer::Quoted {
                    quote,
                    escaped: true,
                    braces,
                },
                (
                    PromqlLexer::Quoted {
                        quote,
                        escaped: false,
                        braces,
                    },
                    _,
                ) if c == quote => {
                    if braces {
                        PromqlLexer::Braces { separator: false }
                    } else {
                        PromqlLexer::Operand
                    }
                }
                (state, _) => state,
            };
        }
    }

    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String> {
        match *self {
            PromqlLexer::Operand if is_token(value) && value.starts_with('-') => Err(
                "it lands right after an operand in the template, where its leading '-' would \
                 subtract; put an operator or a parenthesis before the placeholder"
                    .to_string(),
            ),
            PromqlLexer::Braces { separator: true } if is_matcher_list(value) => {
                Ok(Cow::Borrowed(value))
            }
            PromqlLexer::Code
            | PromqlLexer::Operand
            | PromqlLexer::Comment
            | PromqlLexer::Braces { .. } => {
                if is_token(value) {
                    Ok(Cow::Borrowed(value))
                } else {
                    Err(
                        "it lands outside a string literal, where only a single name, number \
                         or duration may go (letters, digits, '_', ':' and '.', after at most one \
                         leading '-'). Quote the placeholder in the template, e.g. \
                         app=\"${scope}\", to use any value"
                            .to_string(),
                    )
                }
            }
            PromqlLexer::Quoted { escaped: true, .. } => Err(
                "it follows a backslash inside a string literal in the template; remove the \
                     backslash"
                    .to_string(),
            ),
            PromqlLexer::Quoted { quote: '`', .. } if value.contains('`') => Err(
                "it lands inside a `…` raw string, which cannot hold a backtick; quote the \
                     placeholder with \" in the template instead"
                    .to_string(),
            ),
            PromqlLexer::Quoted { quote: '`', .. } => Ok(Cow::Borrowed(value)),
            PromqlLexer::Quoted { quote, .. } => Ok(escape(value, quote)),
        }
    }
}

/// Whether `c` can end an operand: a name's or number's character, a closing bracket.
fn is_operand_end(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | ')' | ']' | '}')
}

/// A single name, number or duration: letters, digits, `_`, `:` and `.`, after at most one leading `-`.
fn is_token(value: &str) -> bool {
    let body = value.strip_prefix('-').unwrap_or(value);
    body.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.'))
}

/// Whether `value` is, completely, a comma-separated list of Prometheus label matchers `name op "string"`:
/// `name` per Prometheus's grammar (`[a-zA-Z_][a-zA-Z0-9_]*`), `op` one of `=`, `!=`, `=~`, `!~`, the
/// string in `"…"` or `'…'` with only PromQL's escapes (or a `` `…` `` raw string), spaces around each
/// part, and at most one trailing comma. Such a value stands where a matcher list stands without changing
/// the query's structure.
pub(crate) fn is_matcher_list(value: &str) -> bool {
    let mut rest = value.trim_start();
    let mut matchers = 0;
    loop {
        if rest.is_empty() {
            return matchers > 0;
        }
        // The name.
        let name_length = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        if name_length == 0 {
            return false;
        }
        rest = rest[name_length..].trim_start();
        // The operator.
        let Some(op) = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
        else {
            return false;
        };
        rest = rest[op.len()..].trim_start();
        // The string.
        let Some(length) = string_length(rest) else {
            return false;
        };
        rest = rest[length..].trim_start();
        matchers += 1;
        match rest.strip_prefix(',') {
            Some(after) => rest = after.trim_start(),
            None => return rest.is_empty(),
        }
    }
}

/// The length of the PromQL string literal `text` starts with, if it starts with a complete one.
fn string_length(text: &str) -> Option<usize> {
    let quote = text
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        if quote == '`' {
            if c == '`' {
                return Some(i + 1);
            }
            continue;
        }
        if escaped {
            // PromQL's (Go's) escapes: single-character ones, octal, \x, \u, \U.
            if !matches!(
                c,
                'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' | '"' | '\'' | '0'
                    ..='7' | 'x' | 'u' | 'U'
            ) {
                return None;
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '\n' {
            return None;
        } else if c == quote {
            return Some(i + c.len_utf8());
        }
    }
    None
}

/// `value` escaped for a PromQL string literal quoted with `quote` (`"` or `'`).
pub(crate) fn escape(value: &str, quote: char) -> Cow<'_, str> {
    if !value
        .chars()
        .any(|c| c == '\\' || c == quote || c.is_control())
    {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c == quote => {
                escaped.push('\\');
                escaped.push(c);
            }
            c if c.is_control() => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_after(text: &str) -> PromqlLexer {
        let mut lexer = PromqlLexer::default();
        lexer.read(text);
        lexer
    }

    #[test]
    fn follows_strings_comments_and_escapes() {
        assert_eq!(
            state_after(r#"up{app=""#),
            PromqlLexer::Quoted {
                quote: '"',
                escaped: false,
                braces: true
            }
        );
        assert_eq!(state_after(r#"up{app="x"}"#), PromqlLexer::Operand);
        assert_eq!(state_after(r#"up{app="x"} > "#), PromqlLexer::Code);
        assert_eq!(state_after("rate(x[5m])  "), PromqlLexer::Operand);
        assert_eq!(
            state_after(r#"up{app="a\"b"#),
            PromqlLexer::Quoted {
                quote: '"',
                escaped: false,
                braces: true
            }
        );
        assert_eq!(
            state_after(r#"up{app="a\"#),
            PromqlLexer::Quoted {
                quote: '"',
                escaped: true,
                braces: true
            }
        );
        assert_eq!(
            state_after(r#"up{app='it"s"#),
            PromqlLexer::Quoted {
                quote: '\'',
                escaped: false,
                braces: true
            }
        );
        assert_eq!(
            state_after(r"up{app=`a\"),
            PromqlLexer::Quoted {
                quote: '`',
                escaped: false,
                braces: true
            }
        );
        assert_eq!(
            state_after(r"up{app=`a\`"),
            PromqlLexer::Braces { separator: false }
        );
        assert_eq!(state_after(r"up{app=`a\`}"), PromqlLexer::Operand);
        assert_eq!(state_after("up # a \"comment"), PromqlLexer::Comment);
        assert_eq!(state_after("up # a \"comment\nsum("), PromqlLexer::Code);
        assert_eq!(state_after("up # a \"comment\n"), PromqlLexer::Operand);
        assert_eq!(state_after("up{a=\"#\"} "), PromqlLexer::Operand);
    }

    #[test]
    fn a_label_matcher_list_may_stand_where_matchers_stand() {
        let start = state_after("sum(rate(x{");
        assert_eq!(start, PromqlLexer::Braces { separator: true });
        for ok in [
            r#"rollouts_pod_template_hash="6d4f5c9b8""#,
            r#"app="checkout", pod=~"checkout-.*""#,
            r#"a!="x\"y", b!~'z'"#,
            "a=`raw\\`",
            "token",
        ] {
            assert_eq!(start.embed(ok).unwrap(), ok);
        }
        assert_eq!(
            state_after(r#"x{app="a", "#),
            PromqlLexer::Braces { separator: true }
        );
        for refused in [
            r#"a="x"} or vector(1) or x{b="y""#,
            r#"a="x" or b="y""#,
            r#"a="x"#,
            r#"1a="x""#,
            r#"a=="x""#,
            r#"a="\q""#,
            r#"a="x",,b="y""#,
            "",
            " ",
        ] {
            assert!(
                start.embed(refused).is_err() || refused.is_empty(),
                "{refused:?} was accepted"
            );
        }
        // Only where a matcher starts: not after a name inside the braces, nor outside braces.
        let inside = state_after("x{app=");
        assert!(inside.embed(r#"a="b""#).is_err());
        assert!(PromqlLexer::Code.embed(r#"a="b""#).is_err());
        assert!(state_after("sum by (a, ").embed(r#"a="b""#).is_err());
        assert!(state_after("x{a=\"}\"} + y{").embed(r#"a="b""#).is_ok());
    }

    #[test]
    fn values_in_string_literals_are_escaped() {
        let injection = r#"app"} or vector(1) or x{a=""#;
        let double = PromqlLexer::Quoted {
            quote: '"',
            escaped: false,
            braces: false,
        };
        assert_eq!(
            double.embed(injection).unwrap(),
            r#"app\"} or vector(1) or x{a=\""#
        );
        assert_eq!(double.embed("it's").unwrap(), "it's");
        assert_eq!(double.embed("a\\b\nc\u{7}").unwrap(), "a\\\\b\\nc\\u0007");
        let single = PromqlLexer::Quoted {
            quote: '\'',
            escaped: false,
            braces: false,
        };
        assert_eq!(single.embed("it's \"x\"").unwrap(), "it\\'s \"x\"");
        let raw = PromqlLexer::Quoted {
            quote: '`',
            escaped: false,
            braces: false,
        };
        assert_eq!(raw.embed("a\\b\"c").unwrap(), "a\\b\"c");
        assert!(
            raw.embed("a`b")
                .unwrap_err()
                .contains("cannot hold a backtick")
        );
        let escaped = PromqlLexer::Quoted {
            quote: '"',
            escaped: true,
            braces: false,
        };
        assert!(
            escaped
                .embed("x")
                .unwrap_err()
                .contains("follows a backslash")
        );
    }

    #[test]
    fn values_outside_literals_must_be_single_tokens() {
        for ok in [
            "",
            "http_requests_total",
            "job:rate5m",
            "5m",
            "0.95",
            "-1",
            "1e3",
            "NaN",
        ] {
            assert_eq!(PromqlLexer::Code.embed(ok).unwrap(), ok);
        }
        for bad in [
            "up or vector(1)",
            "a-b",
            "--1",
            "x}",
            "a b",
            "\"",
            "1\n# x",
            "up[5m]",
            "a,b",
            "a=b",
        ] {
            let error = PromqlLexer::Code.embed(bad).unwrap_err();
            assert!(error.contains("outside a string literal"), "{bad}: {error}");
            assert!(PromqlLexer::Comment.embed(bad).is_err(), "{bad}");
        }
        // After an operand, a leading '-' would subtract.
        assert_eq!(PromqlLexer::Operand.embed("5m").unwrap(), "5m");
        let error = PromqlLexer::Operand.embed("-1").unwrap_err();
        assert!(error.contains("would subtract"), "{error}");
        let mut lexer = PromqlLexer::default();
        lexer.read("up > ");
        assert_eq!(lexer.embed("-1").unwrap(), "-1");
    }
}

#[cfg(test)]
pub(crate) mod properties {
    use super::*;
    use proptest::prelude::*;

    /// PromQL's reading of a string literal's body (as the Go parser's `strconv.Unquote` reads it, for the
    /// escapes [`escape`] writes).
    fn unescape(body: &str) -> String {
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }

    /// Code after an operand or not: the same place in the query's structure.
    pub(crate) fn code(lexer: PromqlLexer) -> PromqlLexer {
        match lexer {
            PromqlLexer::Operand => PromqlLexer::Code,
            other => other,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn escaped_values_round_trip_and_stay_inside_their_literal(
            value in any::<String>(),
            quote in prop_oneof![Just('"'), Just('\'')],
            prefix in "[a-z{=\"' ]{0,6}",
        ) {
            let escaped = escape(&value, quote);
            prop_assert_eq!(unescape(&escaped), value.clone());
            // Read inside a literal, the escaped value ends inside it, not after a backslash.
            let inside = PromqlLexer::Quoted { quote, escaped: false, braces: false };
            let mut lexer = inside;
            lexer.read(&escaped);
            prop_assert_eq!(lexer, inside);
            // The same through a template: `prefix` then an opened literal.
            let mut lexer = PromqlLexer::default();
            lexer.read(&prefix);
            lexer.read(&quote.to_string());
            if let Ok(embedded) = lexer.embed(&value) {
                let before = lexer;
                lexer.read(&embedded);
                prop_assert_eq!(lexer, before);
            }
        }

        #[test]
        fn values_outside_literals_are_single_tokens(value in any::<String>()) {
            for lexer in [PromqlLexer::Code, PromqlLexer::Operand, PromqlLexer::Comment] {
                if let Ok(embedded) = lexer.embed(&value) {
                    prop_assert_eq!(embedded.as_ref(), value.as_str());
                    let mut after = lexer;
                    after.read(&embedded);
                    prop_assert_eq!(code(after), code(lexer));
                    if lexer == PromqlLexer::Operand {
                        prop_assert!(!value.starts_with('-'));
                    }
                    let structure = "\"'`#{}()[],=!~+*/^<> \n";
                    prop_assert!(!value.contains(|c: char| structure.contains(c)), "{:?}", value);
                }
            }
        }

        /// A value accepted where a matcher list starts is a matcher list: it ends outside any string,
        /// inside the braces, at a matcher's end, and it re-parses as such.
        #[test]
        fn values_in_matcher_lists_keep_the_query_a_matcher_list(
            value in prop_oneof![
                any::<String>(),
                "[ ]?[a-zA-Z_][a-zA-Z0-9_]{0,4}[ ]?(=|!=|=~|!~)[ ]?\"([a-z\\\\\"{},=]|\\\\[nt\"]){0,6}\"( ?, ?[a-z_]{1,3}=\"[a-z}{,]{0,3}\"){0,2},?",
                "[a-z=!~\"'`{},\\\\ ]{0,16}",
            ],
            prefix in prop_oneof![Just("up{"), Just("up{a=\"x\", "), Just("sum(rate(x{ ")],
        ) {
            let mut lexer = PromqlLexer::default();
            lexer.read(prefix);
            prop_assert_eq!(lexer, PromqlLexer::Braces { separator: true });
            if let Ok(embedded) = lexer.embed(&value) {
                prop_assert_eq!(embedded.as_ref(), value.as_str());
                let mut after = lexer;
                after.read(&embedded);
                prop_assert!(matches!(after, PromqlLexer::Braces { .. }), "{:?} leaves {:?}", value, after);
                prop_assert!(is_token(&value) || is_matcher_list(&value));
                if !is_token(&value) {
                    // The whole selector's matchers are still one matcher list.
                    let body = format!("{}{}", &prefix[prefix.find('{').unwrap() + 1..], value);
                    let body = body.trim().trim_end_matches(',');
                    prop_assert!(is_matcher_list(body), "{:?}", body);
                    after.read("}");
                    prop_assert_eq!(after, PromqlLexer::Operand);
                }
            }
        }

        #[test]
        fn raw_strings_take_values_as_they_are(value in any::<String>()) {
            let raw = PromqlLexer::Quoted { quote: '`', escaped: false, braces: false };
            match raw.embed(&value) {
                Ok(embedded) => {
                    prop_assert_eq!(embedded.as_ref(), value.as_str());
                    let mut after = raw;
                    after.read(&embedded);
                    prop_assert_eq!(after, raw);
                }
                Err(_) => prop_assert!(value.contains('`')),
            }
        }
    }
}
