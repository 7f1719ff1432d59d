//! InfluxQL as Kayenta's InfluxDB source writes it (`InfluxDbQueryBuilder`): the time filter, the scope
//! filter `name = 'value'` made from a `name:value` scope, the query built from a measurement and fields, a
//! `customInlineTemplate` with its `${timeFilter}`, `${scope}` and `${step}` placeholders, and Kayenta's
//! blocklist of statements.
//!
//! Unlike Kayenta, the scope's value is escaped inside its string literal (`\'`, `\\`) and its name is
//! written as a double-quoted identifier when it is not a plain one (or is a keyword), so that a scope can
//! never change the query's structure.

use std::borrow::Cow;

/// What Kayenta refuses in a template or a query (`"Query type not allowed."`), case-sensitive, even inside
/// a quoted value.
const BLOCKLIST: [&str; 16] = [
    "SHOW CONTINUOUS QUERIES",
    "SHOW DATABASES",
    "SHOW DIAGNOSTICS",
    "SHOW FIELD",
    "SHOW TAG",
    "SHOW USERS",
    "SHOW GRANTS",
    "SHOW MEASUREMENT",
    "SHOW QUERIES",
    "SHOW RETENTION POLICIES",
    "SHOW SERIES",
    "SHOW SHARD",
    "SHOW STATS",
    "SHOW SUBSCRIPTIONS",
    ";",
    "--",
];

/// InfluxQL's keywords (influxql `scanner`/`token.go`), which cannot be bare identifiers.
const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CREATE",
    "CONTINUOUS",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FALSE",
    "FIELD",
    "FOR",
    "FROM",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "PASSWORD",
    "POLICY",
    "POLICIES",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHARD",
    "SHARDS",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "TRUE",
    "USER",
    "USERS",
    "VALUES",
    "WHERE",
    "WITH",
    "WRITE",
    "SHOW",
];

/// The text between the quotes of an InfluxQL string (`'`) or quoted identifier (`"`) that reads back as
/// `value`: `\`, the quote and a newline escaped (InfluxQL's scanner reads `\\`, `\'`, `\"` and `\n`).
pub(crate) fn escape(value: &str, quote: char) -> Cow<'_, str> {
    if !value.contains(['\\', '\n', quote]) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            c if c == quote => {
                escaped.push('\\');
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// `name` as an identifier: as it is when InfluxQL reads it bare (a letter or `_`, then letters, digits and
/// `_`, not a keyword), else double-quoted.
pub(crate) fn identifier(name: &str) -> Cow<'_, str> {
    let mut chars = name.chars();
    let bare = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name));
    match bare {
        true => Cow::Borrowed(name),
        false => Cow::Owned(format!("\"{}\"", escape(name, '"'))),
    }
}

/// Kayenta's time filter: `time >= '<start>' AND time < '<end>'`, RFC 3339.
pub(crate) fn time_filter(start: jiff::Timestamp, end: jiff::Timestamp) -> String {
    format!("time >= '{start}' AND time < '{end}'")
}

/// The message for a scope that is not `name:value`.
fn scope_format(scope: &str) -> String {
    format!(
        "Scope expected in the format of 'name:value'. e.g. autoscaling_group:myapp-prod-v002, \
         received: {scope}"
    )
}

/// The filter of a `name:value` scope, `name = 'value'`, or Kayenta's error for another shape (no `:`,
/// more than one, or an empty name).
pub(crate) fn scope_filter(scope: &str) -> Result<String, String> {
    let mut parts = scope.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(value), None) if !name.is_empty() => {
            Ok(format!("{} = '{}'", identifier(name), escape(value, '\'')))
        }
        _ => Err(scope_format(scope)),
    }
}

/// Refuses text holding a blocklisted statement or comment, as Kayenta does.
pub(crate) fn check_allowed(text: &str) -> Result<(), String> {
    match BLOCKLIST.iter().find(|blocked| text.contains(*blocked)) {
        Some(blocked) => Err(format!(
            "Query type not allowed. (it holds `{blocked}`; a canary query is one SELECT, without \
             `;`, `--` or SHOW statements)"
        )),
        None => Ok(()),
    }
}

/// Kayenta's query without a template: `SELECT <fields> FROM <measurement> WHERE <time filter>`, then
/// ` AND <scope filter>` when there is a scope. The fields and the measurement are written as the config
/// gives them (they may be expressions such as `mean(value)` or `"cpu"."load"`); fields default to
/// `*::field`.
pub(crate) fn select(
    measurement: &str,
    fields: &[String],
    time_filter: &str,
    scope_filter: Option<&str>,
) -> String {
    let fields = match fields.is_empty() {
        true => "*::field".to_string(),
        false => fields.join(", "),
    };
    let mut query = format!("SELECT {fields} FROM {measurement} WHERE {time_filter}");
    if let Some(scope_filter) = scope_filter {
        query.push_str(" AND ");
        query.push_str(scope_filter);
    }
    query
}

/// A `customInlineTemplate` with its placeholders replaced: `${timeFilter}` and `${scope}` (both required)
/// and the optional `${step}`, written plain or as Kayenta's escaped `$\{…}`.
pub(crate) fn expand_template(
    template: &str,
    time_filter: &str,
    scope_filter: Option<&str>,
    step: &str,
) -> Result<String, String> {
    let template = template.replace("$\\{", "${");
    check_allowed(&template)?;
    for required in ["timeFilter", "scope"] {
        if !template.contains(&format!("${{{required}}}")) {
            return Err(format!("${{{required}}} is required in query"));
        }
    }
    let Some(scope_filter) = scope_filter else {
        return Err(
            "the template has ${scope}, but the scope is empty; give a scope of the form \
                    name:value (e.g. server:myapp-prod-v002)"
                .to_string(),
        );
    };
    // One pass, so that no replacement is read again as a placeholder.
    let mut query = String::with_capacity(template.len() + time_filter.len() + 64);
    let mut rest = template.as_str();
    while let Some(at) = rest.find("${") {
        query.push_str(&rest[..at]);
        let after = &rest[at..];
        let replaced = [
            ("${timeFilter}", time_filter),
            ("${scope}", scope_filter),
            ("${step}", step),
        ]
        .into_iter()
        .find(|(placeholder, _)| after.starts_with(placeholder));
        match replaced {
            Some((placeholder, text)) => {
                query.push_str(text);
                rest = &after[placeholder.len()..];
            }
            None => {
                query.push_str("${");
                rest = &after[2..];
            }
        }
    }
    query.push_str(rest);
    check_allowed(&query)?;
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "2010-01-01T12:00:00Z";
    const END: &str = "2010-01-01T12:01:40Z";

    fn filter() -> String {
        time_filter(START.parse().unwrap(), END.parse().unwrap())
    }

    /// Kayenta's `InfluxdbQueryBuilderTest`.
    #[test]
    fn queries_are_built_as_kayentas_tests_expect() {
        let fields = ["external".to_string(), "internal".to_string()];
        assert_eq!(
            select("temperature", &fields, &filter(), None),
            "SELECT external, internal FROM temperature WHERE time >= '2010-01-01T12:00:00Z' AND \
             time < '2010-01-01T12:01:40Z'"
        );
        let scope = scope_filter("server:myapp-prod-v002").unwrap();
        assert_eq!(
            select("temperature", &fields, &filter(), Some(&scope)),
            "SELECT external, internal FROM temperature WHERE time >= '2010-01-01T12:00:00Z' AND \
             time < '2010-01-01T12:01:40Z' AND server = 'myapp-prod-v002'"
        );
        assert_eq!(
            select("temperature", &[], &filter(), Some(&scope)),
            "SELECT *::field FROM temperature WHERE time >= '2010-01-01T12:00:00Z' AND time < \
             '2010-01-01T12:01:40Z' AND server = 'myapp-prod-v002'"
        );
        let template = "SELECT count FROM measurement WHERE label1 = 'value1' AND $\\{timeFilter} AND $\\{scope}";
        assert_eq!(
            expand_template(template, &filter(), Some(&scope), "60s").unwrap(),
            "SELECT count FROM measurement WHERE label1 = 'value1' AND time >= \
             '2010-01-01T12:00:00Z' AND time < '2010-01-01T12:01:40Z' AND server = \
             'myapp-prod-v002'"
        );
        // The plain placeholders, and ${step}.
        assert_eq!(
            expand_template(
                "SELECT mean(v) FROM m WHERE ${timeFilter} AND ${scope} GROUP BY time(${step})",
                "T",
                Some("S"),
                "60s"
            )
            .unwrap(),
            "SELECT mean(v) FROM m WHERE T AND S GROUP BY time(60s)"
        );
    }

    #[test]
    fn kayentas_refusals() {
        assert_eq!(
            scope_filter("server='myapp-prod-v002'").unwrap_err(),
            "Scope expected in the format of 'name:value'. e.g. autoscaling_group:myapp-prod-v002, \
             received: server='myapp-prod-v002'"
        );
        assert!(scope_filter("a:b:c").is_err());
        assert!(scope_filter(":b").is_err());
        let scope = scope_filter("server:x").unwrap();
        for template in [
            "SELECT v FROM m WHERE ${timeFilter} AND ${scope}; DROP DATABASE metrics",
            "SELECT v FROM m WHERE ${timeFilter} AND ${scope}; SHOW SERIES",
            "SELECT v FROM m WHERE ${timeFilter} AND ${scope} or 1=1--",
        ] {
            let error = expand_template(template, &filter(), Some(&scope), "60s").unwrap_err();
            assert!(error.starts_with("Query type not allowed."), "{error}");
        }
        assert_eq!(
            expand_template("SELECT v FROM m WHERE ${scope}", "T", Some("S"), "1s").unwrap_err(),
            "${timeFilter} is required in query"
        );
        assert_eq!(
            expand_template("SELECT v FROM m WHERE ${timeFilter}", "T", Some("S"), "1s")
                .unwrap_err(),
            "${scope} is required in query"
        );
        // Even inside a quoted value, as Kayenta.
        let scope = scope_filter("server:a;b").unwrap();
        assert!(
            expand_template(
                "SELECT v FROM m WHERE ${timeFilter} AND ${scope}",
                "T",
                Some(&scope),
                "1s"
            )
            .is_err()
        );
    }

    #[test]
    fn scope_values_and_names_are_quoted() {
        assert_eq!(
            scope_filter("server:it's \\ here").unwrap(),
            r"server = 'it\'s \\ here'"
        );
        assert_eq!(scope_filter("app-name:x").unwrap(), r#""app-name" = 'x'"#);
        assert_eq!(scope_filter("name:x").unwrap(), r#""name" = 'x'"#);
        assert_eq!(scope_filter("a\"b:x").unwrap(), r#""a\"b" = 'x'"#);
        assert_eq!(identifier("host_1"), "host_1");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// InfluxQL's scanner for a quoted string or identifier (`scanString`/`scanDelimited` of influxql's
    /// `scanner.go`): reads from just after the opening `quote`; the text it stands for and what follows
    /// the closing quote, or `None` when the literal is bad (a bad escape, a newline, no end).
    fn scan_quoted(text: &str, quote: char) -> Option<(String, &str)> {
        let mut value = String::new();
        let mut chars = text.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                c if c == quote => return Some((value, &text[at + 1..])),
                '\n' => return None,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    '\'' => value.push('\''),
                    _ => return None,
                },
                c => value.push(c),
            }
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The scope's value always reads back whole as one string literal, and whatever follows the filter
        /// is the query's own text: the scope never changes the query's structure.
        #[test]
        fn a_scope_value_stays_inside_its_string_literal(
            name in prop_oneof!["[a-z_][a-z0-9_]{0,8}", "[^:]{1,10}"],
            value in prop_oneof![any::<String>(), "[a-z' \\\\\"()=;-]{0,12}"]
                .prop_filter("one colon", |v| !v.contains(':')),
        ) {
            let filter = scope_filter(&format!("{name}:{value}")).unwrap();
            let query = format!("SELECT v FROM m WHERE {filter} AND time > 0");
            let after_where = query.strip_prefix("SELECT v FROM m WHERE ").unwrap();
            // The name: bare as given, or one quoted identifier reading back as the name.
            let rest = match after_where.strip_prefix('"') {
                Some(quoted) => {
                    let (read, rest) = scan_quoted(quoted, '"').expect("a valid identifier");
                    prop_assert_eq!(&read, &name);
                    rest
                }
                None => {
                    prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    after_where.strip_prefix(name.as_str()).unwrap()
                }
            };
            let literal = rest.strip_prefix(" = '").unwrap();
            let (read, rest) = scan_quoted(literal, '\'').expect("a valid string literal");
            prop_assert_eq!(read, value);
            prop_assert_eq!(rest, " AND time > 0");
        }

        /// A template's placeholders are replaced once: a scope that looks like a placeholder stays text.
        #[test]
        fn replacements_are_never_expanded_again(value in "[a-z${}\\\\]{0,12}") {
            let filter = scope_filter(&format!("tag:{value}")).unwrap();
            let query = expand_template(
                "SELECT v FROM m WHERE ${timeFilter} AND ${scope} GROUP BY time(${step})",
                "T",
                Some(&filter),
                "60s",
            ).unwrap();
            prop_assert_eq!(query, format!("SELECT v FROM m WHERE T AND {filter} GROUP BY time(60s)"));
        }
    }
}
