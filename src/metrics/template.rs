//! Kayenta's custom filter templates (`QueryConfigUtils.expandCustomFilter`): choosing a metric's template,
//! binding the scope's values to variables, and expanding `${var}` with the semantics of Apache commons-text
//! `StringSubstitutor` as Kayenta configures it — `${var:-default}`, `$${var}` for a literal `${var}`,
//! variables inside substituted values resolved in turn, and an undefined variable an error.
//!
//! Unlike Kayenta, expansion remembers which characters came from the template and which from a value, so
//! that the query language ([`Lexer`]) can decide how each value may appear where it lands — escaped inside
//! a string literal, or limited to a safe token outside one — and a value can never change the query's
//! structure.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::SourceError;

/// The template fields of every query config.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemplateFields {
    #[serde(default)]
    custom_inline_template: Option<String>,
    /// The name of an entry of the canary config's `templates`.
    #[serde(default)]
    custom_filter_template: Option<String>,
    /// Deprecated; any non-null value is rejected, as Kayenta does.
    #[serde(default)]
    custom_filter: Option<serde_json::Value>,
}

impl TemplateFields {
    /// The template the query config selects (its inline template, else its named one), with Kayenta's
    /// Orca escape `$\{` undone; `None` without one.
    pub(crate) fn select(
        &self,
        metric: &str,
        templates: &BTreeMap<String, String>,
    ) -> Result<Option<String>, SourceError> {
        if self.custom_filter.is_some() {
            return Err(SourceError::config(
                metric,
                "CanaryMetricSetQueryConfig.customFilter is deprecated, use \
                 CanaryMetricSetQueryConfig.customInlineTemplate instead.",
            ));
        }
        let non_empty = |field: &Option<String>| field.clone().filter(|text| !text.is_empty());
        if let Some(inline) = non_empty(&self.custom_inline_template) {
            return Ok(Some(unescape(&inline)));
        }
        let Some(name) = non_empty(&self.custom_filter_template) else {
            return Ok(None);
        };
        if templates.is_empty() {
            return Err(SourceError::config(
                metric,
                format!(
                    "Custom filter template '{name}' was referenced, but no templates were defined."
                ),
            ));
        }
        match templates.get(&name) {
            Some(template) => Ok(Some(unescape(template))),
            None => Err(SourceError::config(
                metric,
                format!("Custom filter template '{name}' was not found."),
            )),
        }
    }
}

/// Undoes the escape Kayenta applies so that Orca does not evaluate `${…}` (`$\{` → `${`).
fn unescape(template: &str) -> String {
    template.replace("$\\{", "${")
}

/// The template variables: the scope's `base` attributes that are non-empty, in order (a later one replaces
/// an earlier one of the same name), then all extended scope params.
pub(crate) fn bindings<'a>(
    base: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
    extended: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut bindings: BTreeMap<String, String> = base
        .into_iter()
        .filter_map(|(name, value)| {
            value
                .filter(|value| !value.is_empty())
                .map(|value| (name.to_string(), value.to_string()))
        })
        .collect();
    bindings.extend(
        extended
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    bindings
}

/// A stretch of an expanded template.
#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    /// Text written in the template (defaults included).
    Template(String),
    /// A variable's value, as substituted.
    Value { variable: String, text: String },
}

/// An expanded template, piece by piece.
#[derive(Debug)]
pub(crate) struct Expansion {
    template: String,
    pieces: Vec<Piece>,
}

/// How a query language reads template text and embeds values.
pub(crate) trait Lexer {
    /// Reads template text, following where it leaves the reader (e.g. inside a string literal).
    fn read(&mut self, text: &str);
    /// `value` as it must be written where the template text read so far ends — escaped for a string
    /// literal, say — or why it cannot be written there.
    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String>;
}

impl Expansion {
    /// Expands `template` with `bindings` for `metric`. An undefined variable or a cycle is a config error
    /// with Kayenta's message, followed by what went wrong and what to do.
    pub(crate) fn new(
        metric: &str,
        template: &str,
        bindings: &BTreeMap<String, String>,
    ) -> Result<Expansion, SourceError> {
        let mut substitutor = Substitutor {
            bindings,
            buffer: template.chars().map(|c| (c, None)).collect(),
            occurrences: Vec::new(),
        };
        let mut prior = vec![template.to_string()];
        let length = template.chars().count();
        substitutor
            .substitute(0, length, &mut prior)
            .map_err(|problem| {
                let problem = problem.describe(bindings);
                let message =
                    format!("Problem evaluating custom filter template: {template}: {problem}");
                SourceError::config(metric, message)
            })?;
        Ok(Expansion {
            template: template.to_string(),
            pieces: substitutor.pieces(),
        })
    }

    /// The expanded text, as Kayenta would produce it.
    pub(crate) fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Template(text) | Piece::Value { text, .. } => text.as_str(),
            })
            .collect()
    }

    /// The first value (variable and text) that makes up part of the expansion's first `length` characters.
    pub(crate) fn value_within(&self, length: usize) -> Option<(&str, &str)> {
        let mut offset = 0;
        for piece in &self.pieces {
            if offset >= length {
                break;
            }
            match piece {
                Piece::Template(text) => offset += text.chars().count(),
                Piece::Value { variable, text } => return Some((variable, text)),
            }
        }
        None
    }

    /// The query text: template text as written, each value as `lexer` embeds it where it lands.
    pub(crate) fn render(
        &self,
        metric: &str,
        mut lexer: impl Lexer,
    ) -> Result<String, SourceError> {
        let mut query = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Template(text) => {
                    lexer.read(text);
                    query.push_str(text);
                }
                Piece::Value { variable, text } => match lexer.embed(text) {
                    Ok(embedded) => query.push_str(&embedded),
                    Err(reason) => {
                        return Err(rejected(
                            metric,
                            variable,
                            text,
                            &reason,
                            Some(&self.template),
                        ));
                    }
                },
            }
        }
        Ok(query)
    }
}

/// The error for a value that cannot go into a query.
pub(crate) fn rejected(
    metric: &str,
    variable: &str,
    value: &str,
    reason: &str,
    template: Option<&str>,
) -> SourceError {
    const SHOWN: usize = 80;
    let shown: String = value.chars().take(SHOWN).collect();
    let ellipsis = if value.chars().count() > SHOWN {
        "…"
    } else {
        ""
    };
    let template = template
        .map(|template| format!(" Template: {template}"))
        .unwrap_or_default();
    SourceError::config(
        metric,
        format!(
            "the value of ${{{variable}}} ({shown:?}{ellipsis}) cannot be put into the query: \
             {reason}.{template}"
        ),
    )
}

/// Why a template cannot be expanded.
enum Problem {
    /// This variable has neither a value nor a default.
    Undefined(String),
    /// commons-text's message for a variable whose value refers back to it.
    Cycle(String),
}

impl Problem {
    /// What went wrong and what to do.
    fn describe(self, bindings: &BTreeMap<String, String>) -> String {
        match self {
            Problem::Undefined(variable) => {
                let defined: Vec<&str> = bindings.keys().map(String::as_str).collect();
                format!(
                    "variable '{variable}' is not defined (defined: {}). Add '{variable}' to the \
                     scope's extendedScopeParams, or give it a default in the template: \
                     ${{{variable}:-value}}",
                    defined.join(", ")
                )
            }
            Problem::Cycle(message) => message,
        }
    }
}

/// A character, and the value it came from: an index into [`Substitutor::occurrences`], `None` for the
/// template.
type Marked = (char, Option<usize>);

/// commons-text `StringSubstitutor.substitute`, ported to a buffer of [`Marked`] characters.
struct Substitutor<'b> {
    bindings: &'b BTreeMap<String, String>,
    buffer: Vec<Marked>,
    /// The variable of each substituted value, in order.
    occurrences: Vec<String>,
}

impl Substitutor<'_> {
    const ESCAPE: char = '$';

    fn is_prefix(&self, pos: usize, end: usize) -> bool {
        pos + 1 < end && self.buffer[pos].0 == '$' && self.buffer[pos + 1].0 == '{'
    }

    /// Substitutes the variables in `buffer[offset..offset + length]`; returns how much longer it got.
    fn substitute(
        &mut self,
        offset: usize,
        length: usize,
        prior: &mut Vec<String>,
    ) -> Result<isize, Problem> {
        let mut length_change: isize = 0;
        let mut end = offset + length;
        let mut pos = offset;
        let mut escape_at = None;
        while pos < end {
            if !self.is_prefix(pos, end) {
                pos += 1;
                continue;
            }
            if pos > offset && self.buffer[pos - 1].0 == Self::ESCAPE {
                escape_at = Some(pos - 1);
            }
            let start = pos;
            pos += 2;
            while pos < end {
                if self.buffer[pos].0 != '}' {
                    pos += 1;
                    continue;
                }
                if let Some(escape) = escape_at.take() {
                    // `$${var}`: drop the escape and read on after `${`, leaving the variable as text.
                    self.buffer.remove(escape);
                    length_change -= 1;
                    end -= 1;
                    pos = start + 1;
                    break;
                }
                let expression = &self.buffer[start + 2..pos];
                let variable_end = pos + 1;
                pos = variable_end;
                let (name, default) = split_default(expression);
                let name: String = name.iter().map(|(c, _)| c).collect();
                if prior.contains(&name) {
                    return Err(Problem::Cycle(format!(
                        "Infinite loop in property interpolation of {}: {}",
                        prior[0],
                        prior[1..].join("->")
                    )));
                }
                let value: Vec<Marked> = match (self.bindings.get(&name), default) {
                    (Some(value), _) => {
                        self.occurrences.push(name.clone());
                        let occurrence = Some(self.occurrences.len() - 1);
                        value.chars().map(|c| (c, occurrence)).collect()
                    }
                    (None, Some(default)) => default.to_vec(),
                    (None, None) => return Err(Problem::Undefined(name)),
                };
                prior.push(name);
                let value_length = value.len();
                self.buffer.splice(start..variable_end, value);
                let change = self.substitute(start, value_length, prior)? + value_length as isize
                    - (variable_end - start) as isize;
                pos = pos.saturating_add_signed(change);
                end = end.saturating_add_signed(change);
                length_change += change;
                prior.pop();
                break;
            }
        }
        Ok(length_change)
    }

    /// The buffer as pieces: runs of template text and of each value.
    fn pieces(&self) -> Vec<Piece> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut run: Option<(Option<usize>, String)> = None;
        for &(c, origin) in &self.buffer {
            match &mut run {
                Some((current, text)) if *current == origin => text.push(c),
                _ => {
                    pieces.extend(run.take().map(|(origin, text)| self.piece(origin, text)));
                    run = Some((origin, c.to_string()));
                }
            }
        }
        pieces.extend(run.map(|(origin, text)| self.piece(origin, text)));
        pieces
    }

    fn piece(&self, origin: Option<usize>, text: String) -> Piece {
        match origin {
            None => Piece::Template(text),
            Some(occurrence) => Piece::Value {
                variable: self.occurrences[occurrence].clone(),
                text,
            },
        }
    }
}

/// `name:-default` → (`name`, `default`); a `${` before any `:-` means there is no default.
fn split_default(expression: &[Marked]) -> (&[Marked], Option<&[Marked]>) {
    for i in 0..expression.len() {
        let next = expression.get(i + 1).map(|(c, _)| *c);
        match (expression[i].0, next) {
            ('$', Some('{')) => break,
            (':', Some('-')) => return (&expression[..i], Some(&expression[i + 2..])),
            _ => {}
        }
    }
    (expression, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expand(template: &str, bindings: &[(&str, &str)]) -> Result<String, String> {
        Expansion::new("m", template, &vars(bindings))
            .map(|e| e.text())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn substitutes_variables() {
        let bindings = [("scope", "myapp-canary"), ("env", "prod")];
        assert_eq!(
            expand(r#"app="${scope}",env="${env}""#, &bindings).unwrap(),
            r#"app="myapp-canary",env="prod""#
        );
        assert_eq!(
            expand("${scope}${scope}", &bindings).unwrap(),
            "myapp-canarymyapp-canary"
        );
        assert_eq!(expand("no variables", &bindings).unwrap(), "no variables");
        assert_eq!(expand("", &bindings).unwrap(), "");
    }

    #[test]
    fn defaults_apply_only_to_undefined_variables() {
        assert_eq!(expand("${env:-staging}", &[]).unwrap(), "staging");
        assert_eq!(
            expand("${env:-staging}", &[("env", "prod")]).unwrap(),
            "prod"
        );
        assert_eq!(expand("${env:-}", &[]).unwrap(), "");
        // A variable ends at the first `}`, so a default cannot hold a variable (as in commons-text).
        assert_eq!(
            expand("${env:-${scope}}", &[("scope", "s")]).unwrap(),
            "${scope}"
        );
        assert_eq!(expand("${a:-x:-y}", &[]).unwrap(), "x:-y");
    }

    #[test]
    fn a_doubled_dollar_escapes_a_variable() {
        assert_eq!(expand("$${scope}", &[("scope", "s")]).unwrap(), "${scope}");
        assert_eq!(
            expand("$${undefined} ${scope}", &[("scope", "s")]).unwrap(),
            "${undefined} s"
        );
        assert_eq!(
            expand("$$${scope}", &[("scope", "s")]).unwrap(),
            "$${scope}"
        );
        assert_eq!(
            expand("cost: $5 ${scope}", &[("scope", "s")]).unwrap(),
            "cost: $5 s"
        );
        assert_eq!(expand("$${open", &[]).unwrap(), "$${open");
    }

    #[test]
    fn variables_in_values_are_resolved() {
        assert_eq!(
            expand("${a}", &[("a", "<${b}>"), ("b", "B")]).unwrap(),
            "<B>"
        );
        let cycle = expand("x ${a}", &[("a", "${b}"), ("b", "${a}")]).unwrap_err();
        assert_eq!(
            cycle,
            "metric 'm': Problem evaluating custom filter template: x ${a}: Infinite loop in \
             property interpolation of x ${a}: a->b"
        );
    }

    #[test]
    fn an_undefined_variable_is_named_with_the_metric_and_the_remedy() {
        let error = expand(
            r#"app="${scope}",env="${env}""#,
            &[("scope", "s"), ("location", "l")],
        )
        .unwrap_err();
        assert_eq!(
            error,
            concat!(
                r#"metric 'm': Problem evaluating custom filter template: "#,
                r#"app="${scope}",env="${env}": variable 'env' is not defined "#,
                "(defined: location, scope). Add 'env' to the scope's extendedScopeParams, ",
                "or give it a default in the template: ${env:-value}"
            )
        );
        assert!(
            expand("${}", &[])
                .unwrap_err()
                .contains("variable '' is not defined")
        );
        // An unclosed variable is text.
        assert_eq!(expand("${scope", &[]).unwrap(), "${scope");
    }

    #[test]
    fn pieces_remember_where_each_character_came_from() {
        let expansion =
            Expansion::new("m", "a=${x:-d},b=${y}", &vars(&[("y", "Y${x:-z}")])).unwrap();
        assert_eq!(
            expansion.pieces,
            [
                Piece::Template("a=d,b=".into()),
                Piece::Value {
                    variable: "y".into(),
                    text: "Yz".into()
                },
            ]
        );
        assert_eq!(expansion.value_within(6), None);
        assert_eq!(expansion.value_within(7), Some(("y", "Yz")));
    }

    #[test]
    fn the_template_is_chosen_as_kayenta_does() {
        let fields =
            |json: serde_json::Value| serde_json::from_value::<TemplateFields>(json).unwrap();
        let templates = vars(&[("t", "app=\"$\\{scope}\"")]);
        assert_eq!(
            fields(serde_json::json!({}))
                .select("m", &templates)
                .unwrap(),
            None
        );
        assert_eq!(
            fields(serde_json::json!({"customInlineTemplate": "x", "customFilterTemplate": "t"}))
                .select("m", &templates)
                .unwrap(),
            Some("x".into())
        );
        assert_eq!(
            fields(serde_json::json!({"customInlineTemplate": "", "customFilterTemplate": "t"}))
                .select("m", &templates)
                .unwrap(),
            Some("app=\"${scope}\"".into())
        );
        let error = |json, templates: &BTreeMap<String, String>| {
            fields(json).select("m", templates).unwrap_err().to_string()
        };
        assert_eq!(
            error(serde_json::json!({"customFilterTemplate": "u"}), &templates),
            "metric 'm': Custom filter template 'u' was not found."
        );
        assert_eq!(
            error(
                serde_json::json!({"customFilterTemplate": "u"}),
                &BTreeMap::new()
            ),
            "metric 'm': Custom filter template 'u' was referenced, but no templates were defined."
        );
        assert_eq!(
            error(
                serde_json::json!({"customFilter": "", "customInlineTemplate": "x"}),
                &templates
            ),
            "metric 'm': CanaryMetricSetQueryConfig.customFilter is deprecated, use \
             CanaryMetricSetQueryConfig.customInlineTemplate instead."
        );
        assert_eq!(
            fields(serde_json::json!({"customFilter": null}))
                .select("m", &templates)
                .unwrap(),
            None
        );
    }

    #[test]
    fn bindings_skip_empty_attributes_and_extended_params_win() {
        let extended = vars(&[("env", "prod"), ("scope", "override")]);
        let bindings = bindings(
            [
                ("scope", Some("s")),
                ("location", Some("")),
                ("project", None),
            ],
            &extended,
        );
        assert_eq!(bindings, vars(&[("env", "prod"), ("scope", "override")]));
        let later_wins = super::bindings(
            [("resourceType", Some("a")), ("resourceType", Some("b"))],
            &BTreeMap::new(),
        );
        assert_eq!(later_wins, vars(&[("resourceType", "b")]));
    }
}
